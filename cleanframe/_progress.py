"""Progress display for long work: tqdm when it is installed, silence otherwise."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str | None = None,
    enable: bool = True,
) -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar when ``enable`` and tqdm is importable."""
    if enable:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is in the extras
            pass
        else:
            yield from tqdm(iterable, total=total, desc=desc, leave=False)
            return
    yield from iterable


def progress_callback(enable: bool = True):
    """What the scoring kernels take as ``progress=``: :func:`progress` when ``enable``, else
    ``None`` (kernels import no display code; they call ``progress(iterable, total=, desc=)``)."""
    if not enable:
        return None

    def bar(iterable, *, total=None, desc=None):
        return progress(iterable, total=total, desc=desc)

    return bar
