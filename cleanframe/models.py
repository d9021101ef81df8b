"""Models in the loop: out-of-sample pred_probs by cross-validation, and ``CleanLearning``.

* :func:`cross_val_pred_probs` -- stratified K-fold out-of-sample class probabilities for a frame,
  with any scikit-learn classifier; the default model takes numeric, categorical and missing values
  as they are. The result is the frame plus one ``p_<class>`` column per class, ready for
  ``find_label_issues(label=..., pred_probs="p_*")``.
* :class:`CleanLearning` -- the scikit-learn-style wrapper of confident learning (Northcutt et al.,
  JAIR 2021): find label issues by cross-validation, fit the model on the rows that remain,
  ``predict`` / ``predict_proba`` / ``score``. It dispatches on the wrapped estimator: a regressor
  (``sklearn.base.is_regressor``) gets the regression procedure (out-of-fold residuals, a search
  over the fraction of rows to drop, epistemic + aleatoric uncertainty), anything else the
  classification one. One class keeps the FAQ's ``CleanLearning(LinearRegression(), ...)`` working.

The confident-learning math comes from :mod:`cleanframe.scoring.classification.count`, ``.filter`` and ``.rank``;
the regression scores from :mod:`cleanframe.scoring.regression.outre`. scikit-learn is imported only
when a function here runs.

Results use cleanframe's column names (``label_score``, ``is_issue``, ``given_label``,
``predicted_label``) with class values in the labels' own dtype, never integer codes.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._progress import progress as _progress
from .errors import ValidationError

__all__ = ["CleanLearning", "cross_val_pred_probs"]

#: Defaults CleanLearning passes to ``filter.find_label_issues`` (cleanlab's, and Datalab's).
DEFAULT_FIND_LABEL_ISSUES_KWARGS = {"min_examples_per_class": 10}
_UNSUPPORTED_FIND_KWARGS = ("return_indices_ranked_by", "multi_label")
#: Largest number of categories the default model's native categorical support takes.
_MAX_CATEGORIES = 255


# ------------------------------------------------------------------------------------------
# array helpers (X may be numpy, scipy.sparse, pandas or polars)
# ------------------------------------------------------------------------------------------
def _module_root(obj) -> str:
    return type(obj).__module__.split(".", 1)[0]


def _materialize(X):
    """A LazyFrame is collected; a list becomes an array; anything else is returned as is."""
    root = _module_root(X)
    if root == "polars":
        import polars as pl

        if isinstance(X, pl.LazyFrame):
            return X.collect()
        return X
    if root == "scipy" and getattr(X, "format", None) not in ("csr", "csc"):
        return X.tocsr()  # row indexing needs CSR/CSC
    if root in ("pandas", "numpy", "scipy") or hasattr(X, "shape"):
        return X
    return np.asarray(X)


def _num_rows(X) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _take(X, rows: np.ndarray):
    """Rows of X by position, in X's own type."""
    root = _module_root(X)
    if root == "pandas":
        return X.iloc[rows]
    if root == "polars":
        return X[np.asarray(rows, dtype=np.int64)]
    return X[rows]


def _append_row(X, extra, row: int):
    """X with row ``row`` of ``extra`` appended (same type)."""
    root = _module_root(X)
    if root == "pandas":
        import pandas as pd

        return pd.concat([X, extra.iloc[[row]]])
    if root == "polars":
        import polars as pl

        return pl.concat([X, extra[[row]]])
    if root == "scipy":
        import scipy.sparse as sp

        return sp.vstack([X, extra[[row]]], format=X.format)
    return np.concatenate([X, extra[[row]]])


def _name(y, default: str = "y") -> str:
    name = getattr(y, "name", None)
    return str(name) if name not in (None, "") else default


def _values_1d(y) -> np.ndarray:
    """A 1-D numpy view/copy of labels given as a list, array, pandas or polars Series/frame."""
    root = _module_root(y)
    if root == "pandas":
        import pandas as pd

        if isinstance(y, pd.DataFrame):
            if y.shape[1] != 1:
                raise ValidationError(None, "one_column", "y must be one column")
            y = y.iloc[:, 0]
        if isinstance(y.dtype, pd.CategoricalDtype):
            return y.astype(object).to_numpy(dtype=object, na_value=None)
        if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
            if pd.api.types.is_integer_dtype(y.dtype) and not y.hasnans:
                return y.to_numpy(dtype=np.int64)
            return y.to_numpy(dtype=np.float64, na_value=np.nan)
        return y.to_numpy(dtype=object, na_value=None)
    if root == "polars":
        import polars as pl

        if isinstance(y, (pl.DataFrame, pl.LazyFrame)):
            y = _materialize(y)
            if y.width != 1:
                raise ValidationError(None, "one_column", "y must be one column")
            y = y.to_series()
        if y.dtype.is_numeric() and y.null_count() == 0:
            return y.to_numpy()
        if y.dtype.is_numeric():
            return y.cast(pl.Float64).to_numpy()
        return np.asarray(y.to_list(), dtype=object)
    out = np.asarray(y)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 1:
        raise ValidationError(None, "one_dimensional", f"y must be 1-D, got shape {out.shape}")
    return out


def _category_order(y) -> list | None:
    """Declared category order of a pandas ``category`` / polars ``Enum`` labels, else None."""
    root = _module_root(y)
    if root == "pandas":
        import pandas as pd

        if isinstance(getattr(y, "dtype", None), pd.CategoricalDtype):
            return list(y.cat.categories)
    if root == "polars":
        import polars as pl

        if isinstance(getattr(y, "dtype", None), pl.Enum):
            return y.dtype.categories.to_list()
    return None


def _null_mask(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype == object:
        return np.fromiter(
            (v is None or (isinstance(v, float) and math.isnan(v)) for v in values),
            dtype=bool,
            count=len(values),
        )
    return np.zeros(len(values), dtype=bool)


def _raise_rows(column: str, rule: str, message: str, bad: np.ndarray, values, labels=None):
    rows = labels if labels is not None else bad
    raise ValidationError(
        column,
        rule,
        message,
        [(int(r) if labels is None else r, values[b]) for r, b in zip(rows[:5], bad[:5])],
        num_failures=len(bad),
    )


def _row_labels(X, positions: np.ndarray) -> list:
    if _module_root(X) == "pandas":
        return X.index[positions].tolist()
    return [int(p) for p in positions]


def _encode_labels(y, X=None):
    """(codes, classes) for classification labels; classes in the labels' own values.

    Class order: a categorical's declared order (categories without rows are kept), else sorted
    values. Null labels are a :class:`ValidationError` naming the label column.
    """
    column = _name(y)
    values = _values_1d(y)
    if len(values) == 0:
        raise ValidationError(column, "not_empty", "there are no labels")
    bad = np.flatnonzero(_null_mask(values))
    if len(bad):
        _raise_rows(column, "not_null", "labels must not be null", bad, values,
                    _row_labels(X, bad[:5]) if X is not None else None)
    order = _category_order(y)
    if order is not None:
        classes = np.asarray(order, dtype=object)
        lookup = {v: i for i, v in enumerate(order)}
        codes = np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))
        return codes, classes
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError:  # mixed types: order by (type name, value)
        uniq = sorted(set(values.tolist()), key=lambda v: (type(v).__name__, v))
        lookup = {v: i for i, v in enumerate(uniq)}
        classes = np.asarray(uniq, dtype=object)
        codes = np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))
    return codes.astype(np.int64).ravel(), classes


def _check_target(y, X=None) -> np.ndarray:
    """A numeric regression target as float64; NaN/inf/null are a ValidationError."""
    column = _name(y)
    values = _values_1d(y)
    try:
        target = values.astype(np.float64)
    except (TypeError, ValueError):
        raise ValidationError(column, "numeric", f"a regression target must be numeric, found {values.dtype}") from None
    bad = np.flatnonzero(~np.isfinite(target))
    if len(bad):
        _raise_rows(column, "finite", "regression targets must be finite (no NaN, no inf, no null)",
                    bad, values, _row_labels(X, bad[:5]) if X is not None else None)
    return target


def _check_lengths(X, y_len: int, column: str) -> None:
    n = _num_rows(X)
    if n != y_len:
        raise ValidationError(column, "same_length", f"X has {n} rows but there are {y_len} labels")


def _check_class_sizes(codes, classes, cv_n_folds, column, X=None, row_labels=None):
    """Every class present needs at least ``cv_n_folds`` rows for stratified K-fold.

    ``row_labels`` (positions -> labels for messages) defaults to X's index, else positions.
    """
    counts = np.bincount(codes, minlength=len(classes))
    small = [c for c in np.flatnonzero(counts) if counts[c] < cv_n_folds]
    if small:
        c = small[0]
        rows = np.flatnonzero(codes == c)
        raise ValidationError(
            column,
            "min_class_size",
            f"class {classes[c]!r} has {counts[c]} row(s), fewer than the {cv_n_folds} "
            f"cross-validation folds; lower cv / cv_n_folds, drop or merge the class, or pass "
            f"pred_probs computed another way",
            [(r, classes[c]) for r in (row_labels(rows[:5]) if row_labels is not None
                                       else _row_labels(X, rows[:5]) if X is not None
                                       else rows[:5].tolist())],
            num_failures=len(rows),
        )


# ------------------------------------------------------------------------------------------
# cross-validation (classification)
# ------------------------------------------------------------------------------------------
def _fit_error(exc: Exception, feature_names: Sequence[str] | None, X) -> ValidationError | None:
    """Turn a model's complaint about non-numeric or missing feature values into a ValidationError."""
    text = str(exc)
    lowered = text.lower()
    if "could not convert" in lowered or "string" in lowered and "float" in lowered:
        rule, what = "numeric", "non-numeric values the model cannot handle"
    elif "nan" in lowered or "missing values" in lowered or "infinity" in lowered:
        rule, what = "finite", "missing values the model cannot handle"
    else:
        return None
    if _module_root(X) not in ("pandas", "polars") or not feature_names:
        return None
    column = _offending_column(X, rule)
    if column is None:
        return None
    hint = (
        "encode them first (e.g. a Pipeline with OneHotEncoder / SimpleImputer) or use a model "
        "that takes them natively, such as HistGradientBoostingClassifier (the default of "
        "cross_val_pred_probs)"
    )
    return ValidationError(column, rule, f"the features hold {what}: {text.splitlines()[0]}; {hint}")


def _offending_column(X, rule) -> str | None:
    if _module_root(X) == "pandas":
        import pandas as pd

        for name in X.columns:
            s = X[name]
            if rule == "numeric" and not pd.api.types.is_numeric_dtype(s.dtype):
                return str(name)
            if rule == "finite" and s.isna().any():
                return str(name)
    else:
        for name, dtype in X.schema.items():
            s = X.get_column(name)
            if rule == "numeric" and not dtype.is_numeric():
                return name
            if rule == "finite" and (s.null_count() or (dtype.is_float() and s.is_nan().any())):
                return name
    return None


def _splits(cv, seed, X, codes):
    from sklearn.model_selection import StratifiedKFold

    if isinstance(cv, (int, np.integer)):
        if cv < 2:
            raise ValueError(f"cv must be at least 2, got {cv}")
        splitter = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(codes)), codes))
    return list(cv.split(X, codes))


def _fit_predict(model, X_train, y_train, predict_on, fit_kwargs, method):
    """Fit a fresh clone of ``model`` and return its ``method`` output on each of ``predict_on``.

    Module-level so that joblib can run it in worker processes. A model's complaint about
    non-numeric or missing feature values becomes a ValidationError naming the column.
    """
    from sklearn.base import clone

    fitted = clone(model)
    try:
        fitted.fit(X_train, y_train, **(fit_kwargs or {}))
        outputs = [np.asarray(getattr(fitted, method)(X), dtype=np.float64) for X in predict_on]
    except (ValueError, TypeError) as exc:
        columns = getattr(X_train, "columns", None)
        err = _fit_error(exc, list(columns) if columns is not None else None, X_train)
        if err is None:
            raise
        raise err from exc
    seen = getattr(fitted, "classes_", None)
    return outputs, (None if seen is None else np.asarray(seen))


def _run_folds(tasks, n_tasks, n_jobs, *, show_progress=False, desc="cross-validation"):
    """Run ``_fit_predict`` for each argument tuple of the iterable ``tasks``: in order, or in
    ``n_jobs`` joblib workers. Tasks are built lazily, so one fold's training copy exists at a time
    when running in order. The folds are drawn before, so results do not depend on ``n_jobs``.
    """
    if n_jobs in (None, 1) or n_tasks < 2:
        return [_fit_predict(*t) for t in _progress(tasks, total=n_tasks, desc=desc,
                                                    enable=show_progress)]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs)(delayed(_fit_predict)(*t) for t in tasks)


def _cv_pred_probs(X, codes, num_classes, model, *, cv=5, seed=0, fit_kwargs=None,
                   show_progress=False, n_jobs=None, desc="cross-validation"):
    """Out-of-fold class probabilities (N, K) for labels coded 0..K-1.

    A training fold that lacks a class borrows the first holdout row of that class (cleanlab's
    rule); that row's holdout prediction becomes a one-hot on its given label (with a warning).
    """
    n = len(codes)
    pred_probs = np.zeros((n, num_classes), dtype=np.float64)
    folds = [(np.asarray(train), np.asarray(holdout)) for train, holdout in _splits(cv, seed, X, codes)]
    present = set(np.unique(codes).tolist())
    borrowed_by_fold: list = []

    def tasks():
        for train, holdout in folds:
            X_train, y_train = _take(X, train), codes[train]
            X_hold = _take(X, holdout)
            borrowed = {}
            missing = sorted(present - set(np.unique(y_train).tolist()))
            if missing:
                warnings.warn(
                    f"training folds lack classes {missing}; one holdout row of each is copied "
                    f"into training and its out-of-fold prediction set to its given label",
                    UserWarning,
                    stacklevel=4,
                )
                for c in missing:
                    pos = int(np.flatnonzero(codes[holdout] == c)[0])
                    X_train = _append_row(X_train, X_hold, pos)
                    y_train = np.append(y_train, c)
                    borrowed[c] = pos
            borrowed_by_fold.append(borrowed)
            yield model, X_train, y_train, [X_hold], fit_kwargs, "predict_proba"

    results = _run_folds(tasks(), len(folds), n_jobs, show_progress=show_progress, desc=desc)
    for (_, holdout), borrowed, ((probs,), seen) in zip(folds, borrowed_by_fold, results):
        seen = np.arange(probs.shape[1]) if seen is None else seen.astype(np.int64)
        block = np.zeros((len(holdout), num_classes), dtype=np.float64)
        block[:, seen] = probs
        for c, pos in borrowed.items():
            block[pos] = 0.0
            block[pos, c] = 1.0
        pred_probs[holdout] = block
    return pred_probs


def _default_classifier(seed, categorical):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        categorical_features=np.asarray(categorical, dtype=bool) if any(categorical) else None,
        random_state=seed,
    )


def _feature_table(fr, columns: Sequence[str], *, for_default: bool):
    """Model input for ``columns``.

    For the default model: a float matrix with categorical columns as codes (NaN = missing) and a
    boolean mask of the categorical columns. For a user model: a pandas DataFrame with the
    original names, numeric columns as float and the others as ``category``.
    """
    codes_cols, mask = [], []
    for name in columns:
        fact = fr.factorize(name)
        if fact.kind in ("integer", "float"):
            codes_cols.append(fr.column(name).astype(np.float64))
            mask.append(False)
        elif fact.kind == "boolean":
            col = np.where(fact.codes < 0, np.nan, 0.0)
            col[fact.codes >= 0] = np.asarray(fact.uniques, dtype=bool)[fact.codes[fact.codes >= 0]]
            codes_cols.append(col)
            mask.append(False)
        else:
            n_cat = len(fact.categories if fact.categories is not None else fact.uniques)
            if for_default and n_cat > _MAX_CATEGORIES:
                raise ValidationError(
                    name, "max_categories",
                    f"the default model takes at most {_MAX_CATEGORIES} categories per feature, "
                    f"this column has {n_cat}; encode it or pass model=",
                )
            codes_cols.append(np.where(fact.codes < 0, np.nan, fact.codes.astype(np.float64)))
            mask.append(True)
    if for_default:
        X = np.column_stack(codes_cols) if codes_cols else np.empty((fr.height, 0))
        return X, mask
    import pandas as pd

    data = {}
    for name, col, is_cat in zip(columns, codes_cols, mask):
        if is_cat:
            fact = fr.factorize(name)
            cats = fact.categories if fact.categories is not None else fact.uniques
            data[name] = pd.Categorical.from_codes(fact.codes, categories=pd.Index(cats, dtype=object))
        else:
            data[name] = col
    return pd.DataFrame(data), mask


def cross_val_pred_probs(
    df,
    *,
    label: str,
    features: Any,
    model=None,
    cv: Any = 5,
    seed: int = 0,
    prefix: str = "p_",
    progress: bool = True,
    n_jobs: int | None = None,
    overwrite: bool = False,
):
    """Out-of-sample predicted probabilities by stratified K-fold cross-validation.

    Each row's probabilities come from a model that did not see the row, so they can go straight
    into ``find_label_issues``. The input frame is not modified.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    label : str
        The label column (strings, integers, booleans or categoricals).
    features : list of str or glob
        Feature columns. Numeric, string, categorical and boolean columns, with missing values,
        are fine for the default model.
    model : scikit-learn classifier, optional
        Anything with ``fit`` / ``predict_proba`` that ``sklearn.base.clone`` can copy. It gets the
        features as a pandas DataFrame (numeric columns as float, the others as ``category``) and
        the labels as codes ``0..K-1``. Default: ``HistGradientBoostingClassifier`` with native
        categorical support, ``random_state=seed``.
    cv : int or scikit-learn splitter
        Number of folds (``StratifiedKFold(cv, shuffle=True, random_state=seed)``) or a splitter
        object with ``split(X, y)``. With an int, every class needs at least ``cv`` rows.
    seed : int
        Seeds the folds and the default model.
    prefix : str
        New columns are named ``prefix + class`` (e.g. ``p_setosa``).
    progress : bool
        Show a progress bar over the folds (tqdm, when installed; not with ``n_jobs``).
    n_jobs : int, optional
        Fit the folds in this many joblib worker processes; results do not depend on it.
    overwrite : bool
        Replace existing columns with the same names instead of raising.

    Returns
    -------
    Same type as ``df``: its rows, order and index plus one float column per class, in class
    order (the label's category order, else sorted label values).

    Examples
    --------
    >>> import pandas as pd
    >>> import cleanframe.models as cm
    >>> df = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.9, 1.0, 1.1] * 2,
    ...                    "y": ["a", "a", "a", "b", "b", "b"] * 2})
    >>> out = cm.cross_val_pred_probs(df, label="y", features=["x"], cv=2, progress=False)
    >>> list(out.columns)
    ['x', 'y', 'p_a', 'p_b']
    >>> bool(((out.p_a + out.p_b - 1).abs() < 1e-9).all())
    True
    """
    from ._engines import adapt
    from ._inputs import resolve_columns, resolve_labels

    fr = adapt(df)
    codes, classes = resolve_labels(fr, label)
    sel = resolve_columns(fr, features, param="features", allow_dict=False)
    if sel.columns is None:
        columns = None
        X = fr.array_column(sel.array_column)
        mask = [False] * X.shape[1]
    else:
        columns = [c for c in sel.columns if c != label]
        if len(columns) != len(sel.columns):
            raise ValidationError(label, "spec", "the label column is also listed in features=")
        X, mask = _feature_table(fr, columns, for_default=model is None)
    if isinstance(cv, (int, np.integer)):
        _check_class_sizes(codes, np.asarray(classes.values, dtype=object), int(cv), label,
                           row_labels=fr.row_labels)
    if model is None:
        model = _default_classifier(seed, mask)
    new_names = [f"{prefix}{name}" for name in classes.names]
    fr.check_new_columns(new_names, overwrite=overwrite)
    P = _cv_pred_probs(X, codes, len(classes), model, cv=cv, seed=seed, show_progress=progress,
                       n_jobs=n_jobs)
    return fr.attach({name: P[:, i] for i, name in enumerate(new_names)}, overwrite=overwrite)


# ------------------------------------------------------------------------------------------
# CleanLearning
# ------------------------------------------------------------------------------------------
def _fit_accepts(estimator, name: str) -> bool:
    try:
        return name in inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False


def _issues_frame(X, columns: dict):
    """A results frame: polars for polars X, else pandas with X's index (RangeIndex for arrays)."""
    if _module_root(X) == "polars":
        import polars as pl

        return pl.DataFrame({k: pl.Series(k, v) for k, v in columns.items()})
    import pandas as pd

    index = X.index if _module_root(X) == "pandas" else None
    return pd.DataFrame(columns, index=index)


def _frame_column(frame, name) -> np.ndarray | None:
    if frame is None:
        return None
    if _module_root(frame) == "polars":
        return frame.get_column(name).to_numpy() if name in frame.columns else None
    return frame[name].to_numpy() if name in frame.columns else None


class CleanLearning:
    """Train any scikit-learn model on data with noisy labels: find the issues, drop them, fit.

    Parameters
    ----------
    model : scikit-learn estimator, optional
        A classifier (``fit``, ``predict``, ``predict_proba``) or a regressor (``fit``,
        ``predict``; detected with ``sklearn.base.is_regressor``). Hyperparameter search objects
        such as ``GridSearchCV`` work too. Default: ``LogisticRegression()``.
    cv_n_folds : int
        Cross-validation folds for the out-of-sample predictions.
    seed : int
        Seeds every fold split (classification: ``StratifiedKFold(shuffle=True,
        random_state=seed)``; regression: one ``RandomState(seed)`` drawn from by each ``KFold``
        in turn). Unlike cleanlab, the global numpy RNG is never touched.
    converge_latent_estimates : bool
        Classification: iterate the noise-matrix estimates to a fixed point.
    find_label_issues_kwargs : dict, optional
        Classification: passed to ``scoring.classification.filter.find_label_issues`` on top of
        ``{"min_examples_per_class": 10}`` (e.g. ``filter_by``, ``frac_noise``).
    label_quality_scores_kwargs : dict, optional
        Classification: passed to ``scoring.classification.rank.get_label_quality_scores`` (e.g. ``method``).
    n_boot : int
        Regression: number of 2-fold cross-validation prediction sets whose spread estimates the
        epistemic uncertainty (0 turns it off).
    include_aleatoric_uncertainty : bool
        Regression: add the spread of cross-validated residual predictions to the uncertainty.
    n_jobs : int, optional
        Fit the cross-validation folds in this many joblib worker processes (``-1``: all cores).
        The folds are drawn first, so results do not depend on ``n_jobs``. Default: one at a time.
    verbose : bool
        Print what is happening and show progress bars over folds.

    Attributes
    ----------
    classes_ : ndarray
        Classification: class values in class order (the labels' own values).
    label_issues_ : DataFrame or None
        The last issues found (``label_score``, ``is_issue``, ``given_label``,
        ``predicted_label``), also returned by :meth:`get_label_issues`.
    confident_joint_, noise_matrix_, inverse_noise_matrix_, py_ : ndarray
        Classification noise estimates.
    k_ : float
        Regression: the fraction of rows flagged.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from cleanframe.models import CleanLearning
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = np.where(X[:, 0] > 0, "pos", "neg").astype(object)
    >>> y[:5] = np.where(y[:5] == "pos", "neg", "pos")  # five flipped labels
    >>> cl = CleanLearning(LogisticRegression())
    >>> issues = cl.find_label_issues(X, y)
    >>> sorted(np.flatnonzero(issues["is_issue"].to_numpy()).tolist())[:5]
    [0, 1, 2, 3, 4]
    >>> cl.fit(X, y, label_issues=issues).predict(X[:2]).tolist()
    ['pos', 'pos']
    """

    def __init__(
        self,
        model=None,
        *,
        cv_n_folds: int = 5,
        seed: int = 0,
        converge_latent_estimates: bool = False,
        find_label_issues_kwargs: dict | None = None,
        label_quality_scores_kwargs: dict | None = None,
        n_boot: int = 5,
        include_aleatoric_uncertainty: bool = True,
        n_jobs: int | None = None,
        verbose: bool = False,
    ):
        self.model = model
        self.cv_n_folds = cv_n_folds
        self.seed = seed
        self.converge_latent_estimates = converge_latent_estimates
        self.find_label_issues_kwargs = find_label_issues_kwargs
        self.label_quality_scores_kwargs = label_quality_scores_kwargs
        self.n_boot = n_boot
        self.include_aleatoric_uncertainty = include_aleatoric_uncertainty
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- scikit-learn estimator protocol ------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters (with ``model__*`` entries when ``deep``)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        params = {name: getattr(self, name) for name in names}
        if deep and self.model is not None and hasattr(self.model, "get_params"):
            params.update({f"model__{k}": v for k, v in self.model.get_params(deep=True).items()})
        return params

    def set_params(self, **params) -> CleanLearning:
        """Set constructor parameters; ``model__name`` reaches into the wrapped model."""
        nested: dict = {}
        valid = self.get_params(deep=False)
        for key, value in params.items():
            head, sep, tail = key.partition("__")
            if head not in valid:
                raise ValueError(f"Invalid parameter {head!r} for estimator {type(self).__name__}.")
            if sep:
                nested[tail] = value
            else:
                setattr(self, head, value)
        if nested:
            self.model.set_params(**nested)
        return self

    def __repr__(self) -> str:
        changed = []
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        for name, value in self.get_params(deep=False).items():
            if defaults.get(name) is not value and defaults.get(name) != value:
                changed.append(f"{name}={value!r}" if name != "model" else repr(value))
        return f"{type(self).__name__}({', '.join(changed)})"

    def _is_regression(self) -> bool:
        from sklearn.base import is_regressor

        return self.model is not None and is_regressor(self.model)

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags

        regression = self._is_regression()
        tags = Tags(
            estimator_type="regressor" if regression else "classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=None if regression else ClassifierTags(),
            regressor_tags=RegressorTags() if regression else None,
        )
        inner = getattr(self._model(), "__sklearn_tags__", None)
        if inner is not None:
            inner_tags = inner()
            tags.input_tags = inner_tags.input_tags
        return tags

    def _model(self):
        if self.model is not None:
            return self.model
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression()

    def _fitted_model(self):
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X, y) first."
            )
        return self.model_

    def _check_params(self) -> None:
        if int(self.cv_n_folds) < 2:
            raise ValueError(f"cv_n_folds must be at least 2, got {self.cv_n_folds}")
        if self.n_boot < 0:
            raise ValueError(f"n_boot cannot be negative, got {self.n_boot}")

    def _check_inputs(self, X, y, *, fitting: bool):
        """Generic scikit-learn input rules (y required, 2-D y column, continuous y, sizes)."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        shape = getattr(y, "shape", None)
        if shape is not None and len(shape) == 2 and shape[1] == 1 and _module_root(y) == "numpy":
            from sklearn.exceptions import DataConversionWarning

            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it is flattened.",
                DataConversionWarning,
                stacklevel=3,
            )
        for data in (X, y):
            if getattr(getattr(data, "dtype", None), "kind", "") == "c":
                raise ValueError("Complex data not supported.")
        n = _num_rows(X)
        if n < 2:
            raise ValueError(f"Found n_samples = {n}; cross-validation needs more than 1 sample.")
        if fitting:
            self.n_features_in_ = X.shape[1] if len(getattr(X, "shape", ())) == 2 else None
            if hasattr(X, "columns"):
                self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        if not self._is_regression():
            values = _values_1d(y)
            if values.dtype.kind == "f" and np.isfinite(values).all() and (
                values != np.round(values)
            ).any():
                raise ValueError(
                    "Unknown label type: continuous. CleanLearning with a classifier needs class "
                    "labels; wrap a regressor for a numeric target."
                )

    def _check_n_features(self, X) -> None:
        expected = getattr(self, "n_features_in_", None)
        shape = getattr(X, "shape", ())
        if expected is not None and len(shape) == 2 and shape[1] != expected:
            raise ValueError(
                f"X has {shape[1]} features, but {type(self).__name__} is expecting {expected} "
                f"features as input."
            )

    # -- public API --------------------------------------------------------------------------
    def find_label_issues(self, X, y, *, pred_probs=None, thresholds=None, model_kwargs=None,
                          uncertainty=None, coarse_search_range=(0.01, 0.05, 0.1, 0.15, 0.2),
                          fine_search_size: int = 3, save_space: bool = False):
        """Find the rows whose label looks wrong; X and y are not modified.

        Parameters
        ----------
        X : array-like, pandas or polars DataFrame, scipy sparse matrix
            Features, passed to the model as they are (row subsets keep X's type).
        y : array-like or Series
            Labels: class values of any type (classification) or a numeric target (regression).
        pred_probs : float ndarray (N, K), optional
            Classification: out-of-sample probabilities in class order (``classes_``); skips
            cross-validation.
        thresholds : float ndarray (K,), optional
            Classification: per-class confident thresholds.
        model_kwargs : dict, optional
            Extra keyword arguments for ``model.fit`` during cross-validation.
        uncertainty : float or ndarray (N,), optional
            Regression: use this instead of estimating epistemic + aleatoric uncertainty.
        coarse_search_range : sequence of float
            Regression: candidate fractions of rows to flag, refined by ``fine_search_size``
            points between the best coarse value and its neighbours.
        fine_search_size : int
        save_space : bool
            Do not keep the result on the estimator.

        Returns
        -------
        DataFrame (polars for polars X, else pandas with X's index) with ``label_score`` (in
        [0, 1], lower = worse), ``is_issue``, ``given_label`` and ``predicted_label`` (class
        values, or the out-of-fold prediction for regression).
        """
        self._check_params()
        X = _materialize(X)
        self._check_inputs(X, y, fitting=False)
        if self._is_regression():
            issues = self._find_regression_issues(
                X, y, uncertainty=uncertainty, coarse_search_range=coarse_search_range,
                fine_search_size=fine_search_size, model_kwargs=model_kwargs,
            )
        else:
            issues = self._find_classification_issues(
                X, y, pred_probs=pred_probs, thresholds=thresholds, model_kwargs=model_kwargs
            )
        if not save_space:
            self.label_issues_ = issues
        return issues

    def fit(self, X, y, *, label_issues=None, sample_weight=None, pred_probs=None,
            thresholds=None, find_label_issues_kwargs=None, model_kwargs=None,
            model_final_kwargs=None):
        """Find label issues (unless ``label_issues`` is given), drop them and fit the model.

        Parameters
        ----------
        X, y :
            As in :meth:`find_label_issues`.
        label_issues : DataFrame, bool mask or int positions, optional
            Issues found earlier -- possibly by another ``CleanLearning`` with a different model.
            A frame needs an ``is_issue`` column (cleanlab's ``is_label_issue`` is accepted too).
        sample_weight : ndarray (N,), optional
            Your own weights (rows dropped with the issues). Without them, a classifier whose
            ``fit`` takes ``sample_weight`` gets ``1 / max(noise_matrix[k, k], 1e-3)`` for class
            k, when a noise matrix was estimated (cleanlab's rule).
        pred_probs, thresholds :
            Passed to :meth:`find_label_issues` (classification).
        find_label_issues_kwargs : dict, optional
            Other keyword arguments of :meth:`find_label_issues`.
        model_kwargs, model_final_kwargs : dict, optional
            ``fit`` keyword arguments during cross-validation / for the final fit.

        Returns
        -------
        self
        """
        self._check_params()
        X = _materialize(X)
        self._check_inputs(X, y, fitting=True)
        model_final_kwargs = {**(model_kwargs or {}), **(model_final_kwargs or {})}
        if sample_weight is not None:
            if not _fit_accepts(self._model(), "sample_weight"):
                raise ValueError("sample_weight is given but the model's fit() does not accept it.")
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.shape != (_num_rows(X),):
                raise ValueError(
                    f"sample_weight must have shape ({_num_rows(X)},), not {sample_weight.shape}."
                )
        regression = self._is_regression()
        if regression:
            target = _check_target(y, X)
            _check_lengths(X, len(target), _name(y))
            given = target
        else:
            codes, classes = _encode_labels(y, X)
            _check_lengths(X, len(codes), _name(y))
        if label_issues is None:
            issues = self.find_label_issues(
                X, y, pred_probs=pred_probs, thresholds=thresholds, model_kwargs=model_kwargs,
                **(find_label_issues_kwargs or {}),
            )
        else:
            issues = label_issues
            if not regression:
                self.classes_ = classes
                if getattr(self, "noise_matrix_", None) is not None and (
                    len(self.noise_matrix_) != len(classes)
                ):
                    self.noise_matrix_ = None
        n = _num_rows(X)
        mask = self._issue_mask(issues, n, y)
        keep = np.flatnonzero(~mask)
        X_clean = _take(X, keep)
        model = self._new_model()
        if regression:
            y_clean = given[keep]
        else:
            y_clean = codes[keep]
        weights = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float64)[keep]
        elif (
            not regression
            and _fit_accepts(model, "sample_weight")
            and "sample_weight" not in model_final_kwargs
            and getattr(self, "noise_matrix_", None) is not None
        ):
            per_class = 1.0 / np.maximum(np.diagonal(self.noise_matrix_), 1e-3)
            weights = per_class[y_clean]
        if weights is not None:
            model_final_kwargs["sample_weight"] = weights
        self.sample_weight_ = weights
        if self.verbose:
            print(f"Dropping {int(mask.sum())} rows with label issues; fitting on {len(keep)} rows.")
        model.fit(X_clean, y_clean, **model_final_kwargs)
        self.model_ = model
        self.label_issues_mask_ = mask
        if label_issues is not None:
            self.label_issues_ = issues
        return self

    def predict(self, X):
        """Predictions of the model fitted on the clean rows (class values for classification)."""
        model = self._fitted_model()
        X = _materialize(X)
        self._check_n_features(X)
        out = model.predict(X)
        if self._is_regression():
            return out
        return self.classes_[np.asarray(out, dtype=np.int64)]

    @property
    def predict_proba(self):
        """Class probabilities (N, K) in the order of ``classes_`` (classification only)."""
        if self._is_regression():
            raise AttributeError("predict_proba is not available for a regression model.")
        return self._predict_proba

    def _predict_proba(self, X):
        model = self._fitted_model()
        X = _materialize(X)
        self._check_n_features(X)
        probs = np.asarray(model.predict_proba(X), dtype=np.float64)
        seen = np.asarray(getattr(model, "classes_", np.arange(probs.shape[1])), dtype=np.int64)
        if len(seen) == len(self.classes_) and (seen == np.arange(len(seen))).all():
            return probs
        out = np.zeros((probs.shape[0], len(self.classes_)))
        out[:, seen] = probs
        return out

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy (classification) or R² (regression) of the model fitted on the clean rows."""
        X = _materialize(X)
        if self._is_regression():
            from sklearn.metrics import r2_score

            return float(r2_score(_check_target(y, X), self.predict(X), sample_weight=sample_weight))
        truth = _values_1d(y)
        hits = np.asarray(self.predict(X) == truth, dtype=np.float64)
        return float(np.average(hits, weights=sample_weight))

    def get_label_issues(self):
        """The issues from the last :meth:`find_label_issues` / :meth:`fit` (None before)."""
        issues = getattr(self, "label_issues_", None)
        if issues is None:
            warnings.warn("No label issues yet: call find_label_issues() or fit() first.", UserWarning,
                          stacklevel=2)
        return issues

    def save_space(self) -> None:
        """Drop the stored issues and noise estimates (the fitted model stays)."""
        for name in ("label_issues_", "label_issues_mask_", "confident_joint_", "noise_matrix_",
                     "inverse_noise_matrix_", "py_", "sample_weight_"):
            if hasattr(self, name):
                setattr(self, name, None)

    # -- internals ---------------------------------------------------------------------------
    def _new_model(self):
        from sklearn.base import clone

        return clone(self._model())

    def _issue_mask(self, issues, n: int, y) -> np.ndarray:
        column = "label_issues"
        if hasattr(issues, "columns"):
            values = _frame_column(issues, "is_issue")
            if values is None:
                values = _frame_column(issues, "is_label_issue")
            if values is None:
                raise ValidationError(
                    column, "column_exists",
                    "a label_issues frame needs an 'is_issue' column (as returned by find_label_issues)",
                )
            mask = np.asarray(values, dtype=bool)
        else:
            arr = np.asarray(issues)
            if arr.dtype == bool:
                mask = arr
            elif arr.dtype.kind in "iu":
                if len(np.unique(arr)) != len(arr):
                    raise ValidationError(column, "unique", "issue positions must be unique")
                mask = np.zeros(n, dtype=bool)
                mask[arr] = True
            else:
                raise ValidationError(
                    column, "dtype",
                    f"label_issues must be a frame, a boolean mask or integer positions, not {arr.dtype}",
                )
        if len(mask) != n:
            raise ValidationError(column, "same_length", f"label_issues has {len(mask)} rows, X has {n}")
        return mask

    def _find_classification_issues(self, X, y, *, pred_probs, thresholds, model_kwargs):
        from .scoring.classification import count, rank
        from .scoring.classification import filter as cl_filter

        kwargs = {**DEFAULT_FIND_LABEL_ISSUES_KWARGS, **(self.find_label_issues_kwargs or {})}
        for bad in _UNSUPPORTED_FIND_KWARGS:
            if bad in kwargs:
                raise ValueError(f"find_label_issues_kwargs may not contain {bad!r} in CleanLearning.")
        codes, classes = _encode_labels(y, X)
        column = _name(y)
        _check_lengths(X, len(codes), column)
        self.classes_ = classes
        num_classes = len(classes)
        if pred_probs is None:
            _check_class_sizes(codes, classes, int(self.cv_n_folds), column, X)
            pred_probs = _cv_pred_probs(
                X, codes, num_classes, self._model(), cv=int(self.cv_n_folds), seed=self.seed,
                fit_kwargs=model_kwargs, show_progress=self.verbose, n_jobs=self.n_jobs,
            )
        else:
            pred_probs = np.asarray(pred_probs, dtype=np.float64)
            if pred_probs.shape != (len(codes), num_classes):
                raise ValidationError(
                    "pred_probs", "shape",
                    f"pred_probs must have shape ({len(codes)}, {num_classes}) -- one column per "
                    f"class in classes_ order {list(classes)[:10]} -- not {pred_probs.shape}",
                )
        if thresholds is not None:
            thresholds = np.asarray(thresholds, dtype=np.float64)
        cj = kwargs.get("confident_joint")
        if cj is None:
            cj = count.compute_confident_joint(codes, pred_probs, thresholds=thresholds)
        py, nm, inv = count.estimate_latent(
            cj, codes, converge_latent_estimates=self.converge_latent_estimates
        )
        self.confident_joint_, self.py_, self.noise_matrix_, self.inverse_noise_matrix_ = cj, py, nm, inv
        if kwargs.get("filter_by") != "confident_learning":
            kwargs["confident_joint"] = cj
        mask = cl_filter.find_label_issues(codes, pred_probs, **kwargs)
        scores = rank.get_label_quality_scores(codes, pred_probs, **(self.label_quality_scores_kwargs or {}))
        self.pred_probs_ = pred_probs
        return _issues_frame(X, {
            "label_score": scores,
            "is_issue": mask,
            "given_label": classes[codes],
            "predicted_label": classes[pred_probs.argmax(axis=1)],
        })

    # -- regression --------------------------------------------------------------------------
    def _cv_predict(self, X, y, rng, *, order=None, drop_frac=0.0, n_folds=None, fit_kwargs=None):
        """Out-of-fold predictions; with ``drop_frac`` the last ceil(frac*N) rows of ``order``
        are left out of training and predicted by the mean of the fold models."""
        from sklearn.model_selection import KFold

        n_folds = int(self.cv_n_folds if n_folds is None else n_folds)
        n = len(y)
        order = np.arange(n) if order is None else order
        dropped = np.empty(0, dtype=np.int64)
        if drop_frac > 0:
            n_drop = math.ceil(n * drop_frac)
            kept, dropped = order[: n - n_drop], order[n - n_drop :]
        else:
            kept = order
        if len(kept) < n_folds:
            raise ValidationError(
                None, "min_rows",
                f"{len(kept)} rows are too few for {n_folds}-fold cross-validation; lower "
                f"cv_n_folds or the search range",
            )
        predictions = np.zeros(n, dtype=np.float64)
        X_dropped = _take(X, dropped) if len(dropped) else None
        splits = list(KFold(n_splits=n_folds, shuffle=True, random_state=rng).split(kept))
        tasks = (
            (self._model(), _take(X, kept[train]), y[kept[train]],
             [_take(X, kept[holdout])] + ([X_dropped] if len(dropped) else []), fit_kwargs,
             "predict")
            for train, holdout in splits
        )
        dropped_sum = np.zeros(len(dropped), dtype=np.float64)
        for (_, holdout), (outputs, _) in zip(splits, _run_folds(tasks, len(splits), self.n_jobs)):
            predictions[kept[holdout]] = outputs[0]
            if len(dropped):
                dropped_sum += outputs[1]
        if len(dropped):
            predictions[dropped] = dropped_sum / n_folds
        return predictions

    def _r2_for(self, X, y, rng, order, frac, fit_kwargs):
        from sklearn.metrics import r2_score

        if math.floor(len(y) * (1 - frac)) < int(self.cv_n_folds):
            return -1e30
        return float(r2_score(y, self._cv_predict(X, y, rng, order=order, drop_frac=frac,
                                                  fit_kwargs=fit_kwargs)))

    def _best_fraction(self, X, y, rng, order, coarse, fine_size, fit_kwargs):
        """The flagged fraction with the best out-of-fold R² over a coarse then a fine grid."""
        coarse = sorted(float(c) for c in coarse)
        if not coarse:
            raise ValueError("coarse_search_range needs at least one value")
        if fine_size < 0:
            raise ValueError("fine_search_size must be at least 0")
        if len(coarse) == 1:
            if math.floor(len(y) * (1 - coarse[0])) < int(self.cv_n_folds):
                raise ValidationError(None, "min_rows", "too few rows for cross-validation after dropping")
            return coarse[0], self._r2_for(X, y, rng, order, coarse[0], fit_kwargs)
        r2_coarse = [self._r2_for(X, y, rng, order, k, fit_kwargs) for k in coarse]
        best = int(np.argmax(r2_coarse))
        if fine_size == 0:
            return coarse[best], r2_coarse[best]
        fine: list = []
        if best > 0:
            fine += list(np.linspace(coarse[best - 1], coarse[best], fine_size + 1, endpoint=False)[1:])
        if best < len(coarse) - 1:
            fine += list(np.linspace(coarse[best], coarse[best + 1], fine_size + 1, endpoint=False)[1:])
        r2_fine = [self._r2_for(X, y, rng, order, k, fit_kwargs) for k in fine]
        if not fine or max(r2_coarse) > max(r2_fine):
            return coarse[best], r2_coarse[best]
        i = int(np.argmax(r2_fine))
        return float(fine[i]), r2_fine[i]

    def _find_regression_issues(self, X, y, *, uncertainty, coarse_search_range, fine_search_size,
                                model_kwargs):
        from sklearn.metrics import r2_score

        from .scoring.regression.outre import uncertainty_scores

        target = _check_target(y, X)
        _check_lengths(X, len(target), _name(y))
        rng = np.random.RandomState(self.seed)
        initial = self._cv_predict(X, target, rng, fit_kwargs=model_kwargs)
        order = np.argsort(np.abs(initial - target), kind="stable")
        frac, r2 = self._best_fraction(X, target, rng, order, coarse_search_range,
                                       fine_search_size, model_kwargs)
        if r2_score(target, initial) >= r2:
            frac = 0.0
        self.k_ = frac
        predictions = self._cv_predict(X, target, rng, order=order, drop_frac=frac,
                                       fit_kwargs=model_kwargs)
        residual = predictions - target
        if uncertainty is None:
            uncertainty = self._epistemic(X, target, rng, predictions)
            if self.include_aleatoric_uncertainty:
                uncertainty = uncertainty + self._aleatoric(X, residual, rng)
        else:
            uncertainty = np.asarray(uncertainty, dtype=np.float64)
            if uncertainty.ndim and len(uncertainty) != len(target):
                raise ValidationError("uncertainty", "same_length", "uncertainty must have one value per row")
        scores = uncertainty_scores(target, predictions, uncertainty)
        mask = np.zeros(len(target), dtype=bool)
        mask[np.argsort(scores, kind="stable")[: math.ceil(len(target) * frac)]] = True
        return _issues_frame(X, {
            "label_score": scores,
            "is_issue": mask,
            "given_label": target,
            "predicted_label": predictions,
        })

    def _epistemic(self, X, y, rng, predictions):
        if self.n_boot == 0:
            return np.zeros(len(y))
        runs = [self._cv_predict(X, y, rng, n_folds=2) for _ in range(self.n_boot)]
        runs.append(predictions)
        return np.sqrt(np.var(np.column_stack(runs), axis=1))

    def _aleatoric(self, X, residual, rng) -> float:
        return float(np.sqrt(np.var(self._cv_predict(X, residual, rng))))
