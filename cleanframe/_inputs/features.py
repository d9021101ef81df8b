"""Features and numeric columns → checked float matrices and vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._engines import Engine
from ..errors import ValidationError
from ..scoring.neighbors.datalab_checks import nonfinite_sum_rows
from .columns import (
    _GLOB_CHARS,
    check_not_empty,
    numeric_matrix,
    require_columns,
    resolve_columns,
    selection_matrix,
)
from .probabilities import raise_cells

__all__ = [
    "names_one_column",
    "resolve_checked_features",
    "resolve_features",
    "resolve_named_features",
    "resolve_numeric",
]


def names_one_column(spec: Any) -> bool:
    """Whether a ``features=`` spec names one array column (a string that is not a glob),
    rather than separate columns (a list or a glob)."""
    return isinstance(spec, str) and not _GLOB_CHARS & set(spec)


def resolve_features(fr: Engine, features: Any, *, allow_missing: bool = False) -> np.ndarray:
    """Numeric feature matrix (N, D) from a list / glob / array-column spec; NaN/inf rejected.

    With ``allow_missing=True`` nulls/NaN are kept (as NaN) and only infinities are rejected
    (for checks that count missing values).
    """
    return resolve_named_features(fr, features, allow_missing=allow_missing)[0]


def resolve_named_features(
    fr: Engine, features: Any, *, allow_missing: bool = False
) -> tuple[np.ndarray, list[str]]:
    """:func:`resolve_features` and a name for each column of the matrix, for messages: the
    column names, or ``"emb[3]"`` for element 3 of the array column ``emb``."""
    X, names, _ = resolve_checked_features(fr, features, allow_missing=allow_missing)
    return X, names


def resolve_checked_features(
    fr: Engine, features: Any, *, allow_missing: bool = False
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """:func:`resolve_named_features` and the positions of the rows that can hold a NaN
    (:func:`~cleanframe.scoring.neighbors.datalab_checks.nonfinite_sum_rows`), found while
    checking the matrix (pass them to ``missing_rows``)."""
    check_not_empty(fr)
    sel = resolve_columns(fr, features, param="features", allow_dict=False)
    X = selection_matrix(fr, sel)
    # only the rows whose sum is not finite can hold a NaN or an infinity: look at their values
    suspect = nonfinite_sum_rows(X)
    ok = np.ones(len(X), dtype=bool)
    if len(suspect):
        values = X[suspect]
        ok[suspect] = (~np.isinf(values) if allow_missing else np.isfinite(values)).all(axis=1)
    if not ok.all():
        what = (
            "features must not be infinite"
            if allow_missing
            else "features must be finite (no NaN, no inf)"
        )
        rule = "not_infinite" if allow_missing else "finite"
        raise_cells(fr, X, sel, sel.columns, ~ok, rule, what, probabilities=False)
    if sel.columns is not None:
        names = [str(c) for c in sel.columns]
    else:
        names = [f"{sel.array_column}[{i}]" for i in range(X.shape[1])]
    return X, names, suspect


def resolve_numeric(fr: Engine, column: Any, *, param: str) -> np.ndarray:
    """One numeric column (e.g. a regression target or predictions) as float64, all finite.

    The column must exist and be numeric; nulls, NaN and infinities are a ValidationError that
    names the column, the rule ``finite`` and the first offending rows.
    """
    check_not_empty(fr)
    if not isinstance(column, str):
        raise ValidationError(None, "spec", f"{param}= must be one column name, not {column!r}")
    require_columns(fr, [column], param=param)
    values = numeric_matrix(fr, [column])[:, 0].astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise ValidationError(
            column,
            "finite",
            f"{param} values must be finite numbers (no null, NaN or inf)",
            list(zip(fr.row_labels(bad[:5]), values[bad[:5]].tolist())),
            num_failures=len(bad),
        )
    return values
