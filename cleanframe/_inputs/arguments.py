"""Arguments that are not columns: per-class values, K×K matrices, choices among names."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._engines import adapt, is_frame
from ..errors import ValidationError
from .classes import ClassSet
from .columns import numeric_matrix

__all__ = ["per_class", "class_matrix", "choice"]


def per_class(value: Any, classes: ClassSet, what: str) -> np.ndarray | None:
    """A per-class argument given as a sequence in class order or a dict ``{class: value}``."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        lookup = classes.index()
        out = np.zeros(len(classes), dtype=np.int64)
        for name, v in value.items():
            i = lookup.get(name, lookup.get(str(name)))
            if i is None:
                raise ValidationError(
                    None, "known_class", f"{what} names an unknown class {name!r}"
                )
            out[i] = v
        return out
    out = np.asarray(value)
    if out.shape != (len(classes),):
        raise ValidationError(
            None, "shape", f"{what} must hold one value per class ({len(classes)}), got {out.shape}"
        )
    return out


def class_matrix(value: Any, classes: ClassSet, what: str) -> np.ndarray | None:
    """A K×K argument (e.g. ``confident_joint=``) as an array, or a table of any engine whose
    class-named columns hold it (as :func:`cleanframe.confident_joint` returns it)."""
    if value is None:
        return None
    if is_frame(value):
        fr = adapt(value)
        value = numeric_matrix(fr, [c for c in fr.columns if c in set(classes.names)])
    value = np.asarray(value)
    k = len(classes)
    if value.shape != (k, k):
        raise ValidationError(
            None, "shape", f"{what} must be {k}×{k} (one row and column per class)"
        )
    return value


def choice(value: Any, allowed: Sequence[Any], what: str) -> Any:
    """``value`` if it is one of ``allowed``, else a ValidationError (rule ``what``, the
    argument's name) that lists the valid choices and, for a typo, the closest one."""
    try:
        known = bool(value in allowed)
    except (TypeError, ValueError):  # an array: no single truth value
        known = False
    if not known:
        names = [str(a) for a in allowed]
        text = str(value).lower()
        close = [n for n in names if text and text in n.lower()]  # a part of one name
        if len(close) != 1:
            close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValidationError(
            None, what, f"{what}= must be one of {list(allowed)}, not {value!r}{hint}"
        )
    return value
