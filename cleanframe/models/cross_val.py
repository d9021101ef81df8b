"""Out-of-sample predicted probabilities by cross-validation, and the fold runner of the models.

:func:`cross_val_pred_probs` is the frame-level helper: stratified K-fold out-of-sample class
probabilities for a frame, with any scikit-learn classifier; the default model takes numeric,
categorical and missing values as they are. The result is the frame plus one ``p_<class>``
column per class, ready for ``find_label_issues(label=..., pred_probs="p_*")``.

:func:`cv_pred_probs` (the same on rows and label codes) and :func:`run_folds` (fit a clone of
the model on each training fold, in order or in joblib workers) are what ``CleanLearning`` uses
too. Rows are taken with the engine vocabulary (:func:`cleanframe._engines.adapt_rows`), so X
keeps its own type: a pandas or polars frame, a numpy array or a scipy.sparse matrix.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._engines import adapt, adapt_rows
from .._inputs import resolve_labels
from .._inputs.arguments import at_least
from .._inputs.classes import check_classes_occur
from .._inputs.columns import check_result_columns
from .._inputs.models import Rows, check_class_sizes, raise_for_model_error, resolve_cv_features
from .._progress import progress

__all__ = ["cross_val_pred_probs", "cv_pred_probs", "fit_predict", "fresh_copy", "run_folds"]


def _splits(cv: Any, seed: int, rows: Rows, codes: np.ndarray) -> list:
    from sklearn.model_selection import StratifiedKFold

    if isinstance(cv, (int, np.integer)):
        at_least(cv, 2, "cv")
        splitter = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(codes)), codes))
    return list(cv.split(rows.native, codes))


def fresh_copy(model):
    """An unfitted copy of ``model``: ``sklearn.base.clone`` for a scikit-learn estimator (an
    object with ``get_params``), else a deep copy, so that a duck-typed model with only ``fit``,
    ``predict`` and ``predict_proba`` works too."""
    from sklearn.base import clone

    return clone(model, safe=False)


def fit_predict(model, X_train, y_train, predict_on, fit_kwargs, method):
    """Fit a fresh clone of ``model`` and return its ``method`` output on each of ``predict_on``,
    plus the classes the fitted model saw (``None`` for a regressor).

    Module-level so that joblib can run it in worker processes. A model's complaint about
    non-numeric or missing feature values becomes a ValidationError naming the column.
    """
    fitted = fresh_copy(model)
    try:
        fitted.fit(X_train, y_train, **(fit_kwargs or {}))
        outputs = [np.asarray(getattr(fitted, method)(X), dtype=np.float64) for X in predict_on]
    except (ValueError, TypeError) as exc:
        raise_for_model_error(exc, X_train)
        raise
    seen = getattr(fitted, "classes_", None)
    return outputs, (None if seen is None else np.asarray(seen))


def run_folds(
    tasks: Iterable[tuple],
    n_tasks: int,
    n_jobs: int | None,
    *,
    show_progress: bool = False,
    desc: str = "cross-validation",
) -> list:
    """Run :func:`fit_predict` for each argument tuple of the iterable ``tasks``: in order, or
    in ``n_jobs`` joblib workers. Tasks are built lazily, so one fold's training copy exists at a
    time when running in order. The folds are drawn before, so results do not depend on
    ``n_jobs``.
    """
    if n_jobs in (None, 1) or n_tasks < 2:
        bar = progress(tasks, total=n_tasks, desc=desc, enable=show_progress)
        return [fit_predict(*t) for t in bar]
    from joblib import Parallel, delayed

    return list(Parallel(n_jobs=n_jobs)(delayed(fit_predict)(*t) for t in tasks))


def cv_pred_probs(
    rows: Rows,
    codes: np.ndarray,
    num_classes: int,
    model,
    *,
    cv: Any = 5,
    seed: int = 0,
    fit_kwargs: dict | None = None,
    show_progress: bool = False,
    n_jobs: int | None = None,
    desc: str = "cross-validation",
    validation_func=None,
) -> np.ndarray:
    """Out-of-fold class probabilities (N, K) for labels coded 0..K-1.

    A training fold that lacks a class borrows the first holdout row of that class (cleanlab's
    rule); that row's holdout prediction becomes a one-hot on its given label (with a warning).
    ``validation_func(X_holdout, y_holdout)`` (codes) returns extra ``fit`` keyword arguments
    for each fold's model, e.g. an early-stopping validation set (the reference's option).
    """
    n = len(codes)
    pred_probs = np.zeros((n, num_classes), dtype=np.float64)
    folds = [
        (np.asarray(train), np.asarray(holdout))
        for train, holdout in _splits(cv, seed, rows, codes)
    ]
    present = set(np.unique(codes).tolist())
    borrowed_by_fold: list[dict[int, int]] = []

    def tasks():
        for train, holdout in folds:
            borrowed: dict[int, int] = {}  # class -> position in the holdout fold
            missing = sorted(present - set(np.unique(codes[train]).tolist()))
            if missing:
                warnings.warn(
                    f"training folds lack classes {missing}; one holdout row of each is copied "
                    f"into training and its out-of-fold prediction set to its given label",
                    UserWarning,
                    stacklevel=4,
                )
                for c in missing:
                    borrowed[c] = int(np.flatnonzero(codes[holdout] == c)[0])
            borrowed_by_fold.append(borrowed)
            training = np.concatenate([train, holdout[list(borrowed.values())]]).astype(np.int64)
            held = rows.take(holdout)
            kwargs = dict(fit_kwargs or {})
            if validation_func is not None:
                kwargs.update(validation_func(held, codes[holdout]))
            yield (model, rows.take(training), codes[training], [held], kwargs, "predict_proba")

    results = run_folds(tasks(), len(folds), n_jobs, show_progress=show_progress, desc=desc)
    for (_, holdout), borrowed, ((probs,), seen) in zip(folds, borrowed_by_fold, results):
        seen = np.arange(probs.shape[1]) if seen is None else seen.astype(np.int64)
        block = np.zeros((len(holdout), num_classes), dtype=np.float64)
        block[:, seen] = probs
        for c, pos in borrowed.items():
            block[pos] = 0.0
            block[pos, c] = 1.0
        pred_probs[holdout] = block
    return pred_probs


def _default_classifier(seed: int, categorical: list[bool]):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        categorical_features=np.asarray(categorical, dtype=bool) if any(categorical) else None,
        random_state=seed,
    )


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

    Notes
    -----
    Where it runs: pandas, polars and polars LazyFrame (the label and feature columns are
    collected once; the result comes back as a LazyFrame).

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
    fr = adapt(df)
    codes, classes = resolve_labels(fr, label)
    check_classes_occur(label, codes, classes.values)
    X, categorical = resolve_cv_features(fr, features, label=label, for_default=model is None)
    if isinstance(cv, (int, np.integer)):
        check_class_sizes(
            codes, np.asarray(classes.values, dtype=object), int(cv), label, fr.row_labels
        )
    if model is None:
        model = _default_classifier(seed, categorical)
    new_names = [f"{prefix}{name}" for name in classes.names]
    check_result_columns(fr, new_names, overwrite=overwrite)
    P = cv_pred_probs(
        adapt_rows(X),
        codes,
        len(classes),
        model,
        cv=cv,
        seed=seed,
        show_progress=progress,
        n_jobs=n_jobs,
    )
    return fr.attach({name: P[:, i] for i, name in enumerate(new_names)}, overwrite=overwrite)
