"""The engine layer: one private module per frame library, behind one protocol.

``adapt(frame)`` returns the :class:`~cleanframe._engines._base.Engine` for a pandas DataFrame,
a polars DataFrame, a polars LazyFrame or a Dask DataFrame. Engine modules are imported only when
a frame of their library arrives, so ``import cleanframe`` loads no engine it does not need.

Adding an engine is one module that defines ``adapt(obj)``, ``adapt_column(obj)`` and
``is_frame(obj)`` (each answering ``None`` / ``False`` for objects of other libraries) plus one
line in :data:`ENGINES`. Nothing outside this package asks which engine it holds.

A model's ``X`` may also be a numpy array or a scipy.sparse matrix, which is not a frame:
:func:`adapt_rows` wraps those in :class:`~cleanframe._engines.arrays.ArrayRows`, which takes
rows and builds result tables with the same method names as the engines.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._base import Engine, Factorized, PanderaChecks
from .arrays import ArrayRows

__all__ = [
    "ENGINES",
    "ArrayRows",
    "Engine",
    "Factorized",
    "PanderaChecks",
    "adapt",
    "adapt_column",
    "adapt_rows",
    "is_frame",
    "model_frame",
    "new_frame",
    "pandera_checks",
    "read_file",
    "to_html",
    "to_pandas",
    "to_text",
]

#: Top-level package of a frame's type → the engine module that handles it.
ENGINES: dict[str, str] = {
    "pandas": "cleanframe._engines.pandas",
    "polars": "cleanframe._engines.polars",
    "dask": "cleanframe._engines.dask",
}


def _engine_module(obj: Any):
    root = type(obj).__module__.split(".", 1)[0]
    name = ENGINES.get(root)
    return importlib.import_module(name) if name is not None else None


def is_frame(obj: Any) -> bool:
    """Whether ``obj`` is a frame of a supported engine."""
    module = _engine_module(obj)
    return module is not None and module.is_frame(obj)


def adapt(obj: Any) -> Engine:
    """The engine for a supported frame; a ``TypeError`` naming the supported types otherwise."""
    module = _engine_module(obj)
    engine = module.adapt(obj) if module is not None else None
    if engine is None:
        raise TypeError(
            f"cleanframe works on a pandas DataFrame, a polars DataFrame, a polars LazyFrame or "
            f"(label issues) a Dask DataFrame, "
            f"not {type(obj).__module__}.{type(obj).__qualname__}."
        )
    return engine


def adapt_column(obj: Any) -> Engine | None:
    """A Series (or a one-column frame) of a supported engine as a one-column frame; ``None``
    for anything else (lists, numpy arrays: the caller treats those as plain arrays)."""
    module = _engine_module(obj)
    return module.adapt_column(obj) if module is not None else None


def adapt_rows(obj: Any) -> Engine | ArrayRows:
    """A model's ``X`` as rows in memory: the engine of a frame (a LazyFrame collected once),
    else :class:`~cleanframe._engines.arrays.ArrayRows` for a numpy array, a scipy.sparse
    matrix or an array-like. Both take rows, tell row labels and build result tables."""
    if is_frame(obj):
        return adapt(obj).eager()
    return ArrayRows(obj)


def model_frame(columns: dict):
    """A pandas DataFrame for a scikit-learn model, whatever the caller's engine: 1-D arrays as
    they are, :class:`Factorized` columns as ``category`` columns."""
    return importlib.import_module(ENGINES["pandas"]).model_frame(columns)


def new_frame(columns: dict, *, engine: str = "pandas"):
    """A new frame of the named engine (``"pandas"`` or ``"polars"``) from 1-D columns."""
    name = ENGINES.get(engine)
    if name is None:
        raise ValueError(f"engine must be one of {sorted(ENGINES)}, not {engine!r}")
    return importlib.import_module(name).from_columns(columns)


def pandera_checks(backend: str) -> PanderaChecks:
    """The pandera checks of the engine whose frames pandera's ``backend`` validates (an
    engine's :attr:`~Engine.pandera_backend`: ``"pandas"`` or ``"polars"``)."""
    name = ENGINES.get(backend)
    if name is None:
        raise ValueError(f"backend must be one of {sorted(ENGINES)}, not {backend!r}")
    return importlib.import_module(name).PANDERA_CHECKS


def read_file(path, *, engine: str = "pandas"):
    """A CSV (``.csv``) or Parquet file as a frame of the named engine."""
    name = ENGINES.get(engine)
    if name is None:
        raise ValueError(f"engine must be one of {sorted(ENGINES)}, not {engine!r}")
    return importlib.import_module(name).read_file(path)


def to_pandas(table: Any):
    """A frame of any supported engine as a pandas DataFrame (for reprs and HTML reports)."""
    return adapt(table).to_pandas()


def to_text(table: Any, rows: int = 10) -> str:
    """The first ``rows`` rows of a frame of any supported engine, as its library prints them."""
    return adapt(table).to_text(rows)


def to_html(table: Any, rows: int = 10) -> str:
    """The first ``rows`` rows of a frame of any supported engine, as its notebook HTML."""
    return adapt(table).to_html(rows)
