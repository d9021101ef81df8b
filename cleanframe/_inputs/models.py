"""Inputs of the models: ``X`` and ``y``, the feature table, issues given back, regression targets.

The rules for :mod:`cleanframe.models` (cross-validated pred_probs and ``CleanLearning``) and for
the regression functions, each written once:

- ``y`` is one column: a list, a 1-D array (or one column of a 2-D one), a Series or a
  one-column frame of any engine; classification labels are present (not empty, not null) and
  become codes plus classes in the labels' own values; a regression target is numeric and finite;
  either has one value per row of ``X`` (:func:`resolve_class_labels`,
  :func:`resolve_regression_target`);
- with K-fold cross-validation every class present needs at least K rows
  (:func:`check_class_sizes`), and there must be enough rows for the folds
  (:func:`check_fold_rows`);
- the feature table of :func:`cleanframe.models.cross_val_pred_probs`: numeric, boolean and
  categorical columns, at most :data:`MAX_CATEGORIES` categories per column for the default model
  (:func:`resolve_cv_features`);
- issues given back to ``fit``, ``pred_probs`` and ``uncertainty`` given to ``CleanLearning``;
- a model's complaint about non-numeric or missing values in a frame ``X`` becomes an error that
  names the column (:func:`raise_for_model_error`);
- the frame-level regression functions: a numeric target and a predictions column
  (:func:`resolve_regression_columns`).

``X`` itself reaches this module as rows (:func:`cleanframe._engines.adapt_rows`: a frame's
engine, or :class:`~cleanframe._engines.arrays.ArrayRows` for arrays), which give the row labels
that error messages show: a pandas index, else row positions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._engines import ArrayRows, Engine, adapt, adapt_column, adapt_rows, is_frame, model_frame
from ..errors import ValidationError
from .classes import check_classes_occur
from .columns import array_matrix, resolve_columns
from .features import resolve_numeric
from .rules import PROBABILITY_TOLERANCE

__all__ = [
    "MAX_CATEGORIES",
    "Rows",
    "Target",
    "check_class_sizes",
    "check_fold_rows",
    "check_rows_per_class",
    "check_validation_func",
    "flatten_rows",
    "resolve_noise_matrix",
    "check_rows_after_dropping",
    "check_same_length",
    "raise_for_model_error",
    "read_y",
    "resolve_class_labels",
    "resolve_cv_features",
    "resolve_issue_mask",
    "resolve_model_pred_probs",
    "resolve_regression_columns",
    "resolve_regression_target",
    "pred_probs_width",
    "resolve_rows",
    "resolve_uncertainty",
    "resolve_uncertainty_column",
]

#: A model's ``X``, as :func:`cleanframe._engines.adapt_rows` gives it.
Rows = Engine | ArrayRows

#: Largest number of categories the default model's native categorical support takes.
MAX_CATEGORIES = 255

_SHOWN = 5


# ------------------------------------------------------------------------------------------
# y
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A model's ``y`` as one 1-D numpy array.

    ``name`` names it in messages (the Series' or column's name, else ``"y"``); ``values`` holds
    strings as objects and nulls as None / NaN; ``categories`` is the declared category order of
    a pandas ``category`` / polars ``Enum`` column (unused categories included), else ``None``.
    """

    name: str
    values: np.ndarray
    categories: list | None = None


def _name(name: Any) -> str:
    return str(name) if name is not None and str(name) != "" else "y"


def read_y(y: Any, *, categories: bool = False) -> Target:
    """``y`` as a :class:`Target` (``categories=True`` also reads a categorical's order)."""
    column = adapt_column(y)
    if column is None:  # a list or an array
        values = np.asarray(y)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise ValidationError(
                None, "one_dimensional", f"y must be 1-D, got shape {values.shape}"
            )
        return Target(_name(getattr(y, "name", None)), values)
    if column.width != 1:
        raise ValidationError(None, "one_column", "y must be one column")
    key = column.columns[0]
    order = column.factorize(key).categories if categories else None
    return Target(_name(key), column.column(key), order)


def null_mask(values: np.ndarray) -> np.ndarray:
    """Which values are null: NaN in a float array, None or NaN in an object array."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype == object:
        return np.fromiter(
            (v is None or (isinstance(v, float) and math.isnan(v)) for v in values),
            dtype=bool,
            count=len(values),
        )
    return np.zeros(len(values), dtype=bool)


def _raise_rows(name: str, rule: str, message: str, bad: np.ndarray, values, rows: Rows):
    shown = bad[:_SHOWN]
    raise ValidationError(
        name,
        rule,
        message,
        list(zip(rows.row_labels(shown), values[shown])),
        num_failures=len(bad),
    )


def check_same_length(rows: Rows, n_labels: int, name: str) -> None:
    """``X`` and ``y`` have the same number of rows."""
    n = rows.height
    if n != n_labels:
        raise ValidationError(
            name, "same_length", f"X has {n} rows but there are {n_labels} labels"
        )


def resolve_class_labels(
    y: Any, rows: Rows, *, num_columns: int | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Classification labels → ``(codes, classes, name)``, classes in the labels' own values.

    Class order: a categorical's declared order (categories without rows are kept), else the
    sorted values (values of mixed types: by type name, then value). Integer labels ``0..K-1``
    with ``num_columns`` = K columns of given ``pred_probs`` are the column positions (classes
    without rows included), as the reference reads them. The labels must not be empty nor null,
    there must be one per row of ``X`` (``rows``), and at least two classes must occur.
    """
    target = read_y(y, categories=True)
    name, values = target.name, target.values
    if len(values) == 0:
        raise ValidationError(name, "not_empty", "there are no labels")
    check_same_length(rows, len(values), name)
    bad = np.flatnonzero(null_mask(values))
    if len(bad):
        _raise_rows(name, "not_null", "labels must not be null", bad, values, rows)
    if target.categories is not None:
        classes = np.asarray(target.categories, dtype=object)
        lookup = {v: i for i, v in enumerate(target.categories)}
        codes = np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))
    elif (
        num_columns is not None
        and values.dtype.kind in "iu"
        and values.min() >= 0
        and values.max() < num_columns
    ):
        classes, codes = np.arange(num_columns, dtype=values.dtype), values.astype(np.int64)
    else:
        try:
            classes, codes = np.unique(values, return_inverse=True)
        except TypeError:  # mixed types: order by (type name, value)
            uniq = sorted(set(values.tolist()), key=lambda v: (type(v).__name__, v))
            lookup = {v: i for i, v in enumerate(uniq)}
            classes = np.asarray(uniq, dtype=object)
            codes = np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))
        codes = codes.astype(np.int64).ravel()
    check_classes_occur(name, codes, classes)
    return codes, classes, name


def resolve_rows(X: Any, y: Any, *, optional: bool = False) -> Rows:
    """A model's ``X`` as rows (:func:`cleanframe._engines.adapt_rows`).

    ``X=None`` is allowed (``optional``) where nothing needs features -- finding classification
    label issues from given ``pred_probs`` -- and stands for rows without columns, one per label.
    """
    if X is not None:
        return adapt_rows(X)
    if not optional:
        raise ValidationError(
            None,
            "required",
            "X is required: the model is trained on it (only the classification "
            "find_label_issues with pred_probs= given works without X)",
        )
    return ArrayRows(np.empty((len(read_y(y).values), 0)))


def pred_probs_width(pred_probs: Any) -> int | None:
    """The number of columns of given ``pred_probs`` (``None`` when absent or not 2-D)."""
    shape: tuple[int, ...] = np.shape(pred_probs) if pred_probs is not None else ()
    return int(shape[1]) if len(shape) == 2 else None


def resolve_regression_target(
    y: Any, rows: Rows, *, name: str | None = None
) -> tuple[np.ndarray, str]:
    """A regression target → ``(float64 values, name)``: numeric, one per row of ``X``, and
    finite (NaN, inf and null are errors naming the first offending rows). ``name``: what the
    messages call an unnamed vector (default ``y``), e.g. ``predictions`` or ``residual``."""
    target = read_y(y)
    values = target.values
    name = name if name is not None and target.name == "y" else target.name
    try:
        out = values.astype(np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            name, "numeric", f"a regression target must be numeric, found {values.dtype}"
        ) from None
    check_same_length(rows, len(out), name)
    bad = np.flatnonzero(~np.isfinite(out))
    if len(bad):
        _raise_rows(
            name,
            "finite",
            "regression targets must be finite (no NaN, no inf, no null)",
            bad,
            values,
            rows,
        )
    return out, name


# ------------------------------------------------------------------------------------------
# cross-validation
# ------------------------------------------------------------------------------------------
def check_class_sizes(
    codes: np.ndarray,
    classes: np.ndarray,
    n_folds: int,
    name: str,
    row_labels: Callable[[np.ndarray], list],
) -> None:
    """Every class present needs at least ``n_folds`` rows for stratified K-fold.

    ``row_labels`` turns row positions into the labels that the message shows.
    """
    counts = np.bincount(codes, minlength=len(classes))
    small = [c for c in np.flatnonzero(counts) if counts[c] < n_folds]
    if not small:
        return
    c = int(small[0])
    rows = np.flatnonzero(codes == c)
    raise ValidationError(
        name,
        "min_class_size",
        f"class {classes[c]!r} has {counts[c]} row(s), fewer than the {n_folds} "
        f"cross-validation folds; lower cv / cv_n_folds, drop or merge the class, or pass "
        f"pred_probs computed another way",
        [(r, classes[c]) for r in row_labels(rows[:_SHOWN])],
        num_failures=len(rows),
    )


def check_rows_per_class(n_rows: int, n_classes: int, n_folds: int) -> None:
    """CleanLearning's cross-validation needs at least ``n_folds`` rows per class on average
    (the reference's rule). A class with fewer rows than folds is fine: a training fold that
    lacks it borrows one of its rows (:func:`cleanframe.models.cross_val.cv_pred_probs`)."""
    if n_rows < n_classes * n_folds:
        raise ValidationError(
            None,
            "min_rows",
            f"{n_rows} rows for {n_classes} classes are too few for {n_folds}-fold "
            f"cross-validation (it needs at least cv_n_folds rows per class on average); "
            f"lower cv_n_folds (e.g. to 2 or 3) or pass pred_probs computed another way",
        )


def check_validation_func(validation_func: Any) -> None:
    """``validation_func`` is None or a callable ``(X_val, y_val) -> dict`` of fit keywords."""
    if validation_func is not None and not callable(validation_func):
        raise ValidationError(
            "validation_func",
            "callable",
            f"validation_func must be a function (X_val, y_val) -> dict of keyword arguments "
            f"for model.fit, not {type(validation_func).__name__}",
        )


def check_fold_rows(n_rows: int, n_folds: int) -> None:
    """Enough rows (those not left out by the regression search) for ``n_folds`` folds."""
    if n_rows < n_folds:
        raise ValidationError(
            None,
            "min_rows",
            f"{n_rows} rows are too few for {n_folds}-fold cross-validation; lower "
            f"cv_n_folds or the search range",
        )


def check_rows_after_dropping(n_kept: int, n_folds: int) -> None:
    """Enough rows left for ``n_folds`` folds after dropping the one fraction searched."""
    if n_kept < n_folds:
        raise ValidationError(None, "min_rows", "too few rows for cross-validation after dropping")


# ------------------------------------------------------------------------------------------
# features
# ------------------------------------------------------------------------------------------
def resolve_cv_features(
    fr: Engine, features: Any, *, label: str, for_default: bool
) -> tuple[Any, list[bool]]:
    """The model input of ``cross_val_pred_probs``: ``(X, categorical mask)``.

    One array column gives its float matrix. Separate columns (a list or a glob, not including
    the label) give, for the default model, a float matrix with categorical columns as codes
    (NaN = missing; at most :data:`MAX_CATEGORIES` categories), and for a user model a pandas
    DataFrame with the original names, numeric columns as float and the others as ``category``.
    """
    sel = resolve_columns(fr, features, param="features", allow_dict=False)
    if sel.array_column is not None:
        X = array_matrix(fr, sel.array_column)
        return X, [False] * X.shape[1]
    listed = list(sel.columns or [])
    columns = [c for c in listed if c != label]
    if len(columns) != len(listed):
        raise ValidationError(label, "spec", "the label column is also listed in features=")
    numbers: dict[str, np.ndarray] = {}
    categorical: dict[str, Any] = {}
    for name in columns:
        fact = fr.factorize(name)
        if fact.kind in ("integer", "float"):
            numbers[name] = fr.column(name).astype(np.float64)
        elif fact.kind == "boolean":
            known = fact.codes >= 0
            col = np.where(known, 0.0, np.nan)
            col[known] = np.asarray(fact.uniques, dtype=bool)[fact.codes[known]]
            numbers[name] = col
        else:
            n_cat = len(fact.categories if fact.categories is not None else fact.uniques)
            if for_default and n_cat > MAX_CATEGORIES:
                raise ValidationError(
                    name,
                    "max_categories",
                    f"the default model takes at most {MAX_CATEGORIES} categories per feature, "
                    f"this column has {n_cat}; encode it or pass model=",
                )
            categorical[name] = fact
    mask = [name in categorical for name in columns]
    if not for_default:
        return model_frame({c: categorical.get(c, numbers.get(c)) for c in columns}), mask
    if not columns:
        return np.empty((fr.height, 0)), mask
    codes = {
        c: np.where(f.codes < 0, np.nan, f.codes.astype(np.float64)) for c, f in categorical.items()
    }
    return np.column_stack([codes[c] if c in codes else numbers[c] for c in columns]), mask


_ENCODE_HINT = (
    "encode them first (e.g. a Pipeline with OneHotEncoder / SimpleImputer) or use a model "
    "that takes them natively, such as HistGradientBoostingClassifier (the default of "
    "cross_val_pred_probs)"
)


def raise_for_model_error(exc: Exception, X: Any) -> None:
    """Raise a :class:`ValidationError` naming the column when ``exc``, a model's error while
    fitting on the frame ``X``, is about non-numeric or missing values; return otherwise (the
    caller re-raises ``exc``)."""
    text = str(exc)
    lowered = text.lower()
    if "could not convert" in lowered or ("string" in lowered and "float" in lowered):
        rule, what = "numeric", "non-numeric values the model cannot handle"
    elif "nan" in lowered or "missing values" in lowered or "infinity" in lowered:
        rule, what = "finite", "missing or infinite values the model cannot handle"
    else:
        return
    if not is_frame(X):
        return
    fr = adapt(X)
    for name in fr.columns:
        values = fr.column(name)
        if rule == "numeric":
            offending = values.dtype.kind not in "biuf"
        else:
            infinite = values.dtype.kind == "f" and bool(np.isinf(values).any())
            offending = infinite or bool(null_mask(values).any())
        if offending:
            raise ValidationError(
                str(name), rule, f"the features hold {what}: {text.splitlines()[0]}; {_ENCODE_HINT}"
            ) from exc


# ------------------------------------------------------------------------------------------
# arguments of CleanLearning
# ------------------------------------------------------------------------------------------
def resolve_model_pred_probs(pred_probs: Any, n: int, classes: np.ndarray) -> np.ndarray:
    """Out-of-sample ``pred_probs`` given to ``CleanLearning``: (N, K) in ``classes`` order."""
    out = np.asarray(pred_probs, dtype=np.float64)
    if out.shape != (n, len(classes)):
        raise ValidationError(
            "pred_probs",
            "shape",
            f"pred_probs must have shape ({n}, {len(classes)}) -- one column per "
            f"class in classes_ order {list(classes)[:10]} -- not {out.shape}",
        )
    return out


def resolve_noise_matrix(matrix: Any, num_classes: int, name: str) -> np.ndarray | None:
    """A known ``noise_matrix`` / ``inverse_noise_matrix`` given to ``CleanLearning``: K×K
    conditional probabilities (finite, in [0, 1], each column summing to 1 within
    :data:`~cleanframe._inputs.rules.PROBABILITY_TOLERANCE`) whose trace exceeds 1 (the
    reference's rule: with a trace of 1 or less, the labels carry no signal)."""
    if matrix is None:
        return None
    out = np.array(matrix, dtype=np.float64)  # a copy: the caller's matrix is kept as given
    if out.shape != (num_classes, num_classes):
        raise ValidationError(
            name,
            "shape",
            f"{name} must be {num_classes}×{num_classes} (one row and column per class, in "
            f"classes_ order), not {out.shape}",
        )
    if not np.isfinite(out).all() or (out < 0).any() or (out > 1).any():
        raise ValidationError(name, "in_range", f"{name} must hold probabilities in [0, 1]")
    sums = out.sum(axis=0)
    bad = np.flatnonzero(np.abs(sums - 1) > PROBABILITY_TOLERANCE)
    if len(bad):
        raise ValidationError(
            name,
            "columns_sum_to_1",
            f"each column of {name} is a conditional distribution and must sum to 1",
            [(int(j), float(sums[j])) for j in bad[:_SHOWN]],
            num_failures=len(bad),
        )
    trace = float(np.trace(out))
    if trace <= 1:
        raise ValidationError(
            name, "trace", f"the trace of {name} is {trace:.2f}; it must exceed 1"
        )
    return out


def flatten_rows(rows: Rows) -> Rows:
    """An array ``X`` of more than 2 dimensions (e.g. N×28×28 images) as N×(28·28) rows, for
    the default model (the reference flattens it only then); other ``X`` unchanged."""
    native = rows.native
    if isinstance(rows, ArrayRows) and isinstance(native, np.ndarray) and native.ndim > 2:
        return ArrayRows(native.reshape(len(native), -1))
    return rows


def resolve_uncertainty(uncertainty: Any, n: int) -> np.ndarray:
    """A given regression uncertainty: one number for all rows, or one per row."""
    out = np.asarray(uncertainty, dtype=np.float64)
    if out.ndim and len(out) != n:
        raise ValidationError(
            "uncertainty", "same_length", "uncertainty must have one value per row"
        )
    return out


def resolve_issue_mask(label_issues: Any, n: int) -> np.ndarray:
    """Issues given to ``fit`` → a boolean mask of the ``n`` rows.

    A frame of any engine with an ``is_issue`` column (cleanlab's ``is_label_issue`` too), a
    boolean mask, or unique integer positions.
    """
    column = "label_issues"
    if is_frame(label_issues):
        fr = adapt(label_issues)
        names = [c for c in ("is_issue", "is_label_issue") if c in fr.columns]
        if not names:
            raise ValidationError(
                column,
                "column_exists",
                "a label_issues frame needs an 'is_issue' column (as returned by "
                "find_label_issues)",
            )
        mask = np.asarray(fr.column(names[0]), dtype=bool)
    else:
        given = np.asarray(label_issues)
        if given.dtype == bool:
            mask = given
        elif given.dtype.kind in "iu":
            if len(np.unique(given)) != len(given):
                raise ValidationError(column, "unique", "issue positions must be unique")
            mask = np.zeros(n, dtype=bool)
            mask[given] = True
        else:
            raise ValidationError(
                column,
                "dtype",
                f"label_issues must be a frame, a boolean mask or integer positions, not "
                f"{given.dtype}",
            )
    if len(mask) != n:
        raise ValidationError(
            column, "same_length", f"label_issues has {len(mask)} rows, X has {n}"
        )
    return mask


# ------------------------------------------------------------------------------------------
# the frame-level regression functions
# ------------------------------------------------------------------------------------------
def resolve_uncertainty_column(fr: Engine, uncertainty: Any) -> np.ndarray | float | None:
    """``uncertainty=`` of the frame-level regression functions: a column name (finite values
    >= 0, one per row) or one number >= 0 for every row; None when absent."""
    if uncertainty is None:
        return None
    if isinstance(uncertainty, str):
        values = resolve_numeric(fr, uncertainty, param="uncertainty")
        bad = np.flatnonzero(values < 0)
        if len(bad):
            raise ValidationError(
                uncertainty,
                "non_negative",
                "uncertainty values must be >= 0 (a standard deviation)",
                list(zip(fr.row_labels(bad[:_SHOWN]), values[bad[:_SHOWN]].tolist())),
                num_failures=len(bad),
            )
        return values
    number = np.asarray(uncertainty)
    if number.ndim or number.dtype.kind not in "iuf" or not np.isfinite(number) or number < 0:
        raise ValidationError(
            "uncertainty",
            "spec",
            f"uncertainty= must be a column name or one finite number >= 0, not {uncertainty!r}",
        )
    return float(number)


def resolve_regression_columns(
    fr: Engine, *, label: Any, predictions: Any
) -> tuple[np.ndarray, np.ndarray]:
    """A numeric target column and a predictions column → two finite float64 vectors."""
    if label == predictions:
        raise ValidationError(label, "spec", "label= and predictions= name the same column")
    y = resolve_numeric(fr, label, param="label")
    return y, resolve_numeric(fr, predictions, param="predictions")
