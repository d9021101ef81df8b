"""Inputs of the embedding-space checks: ``features=`` as an embedding, ``k``, ``metric``,
``knn_graph=``, and which source (features or pred_probs) a call reads.

Every rule is stated here once, for every public function that searches neighbours:

- a neighbour graph needs at least 2 rows (``at_least_2_rows``) and at least one value per row
  (``not_empty``);
- ``k`` lies in ``[1, N)`` (``k_less_than_rows``) and, for a given graph, within the neighbours
  it stores (``enough_neighbours``);
- ``metric`` is one of :data:`~cleanframe.scoring.neighbors.knn.METRICS` (``metric``);
- ``knn_graph=`` is a :class:`~cleanframe.scoring.neighbors.knn.KnnGraph` or a scipy CSR matrix
  (``type``, ``format``) with one row per row of the frame (``same_rows``);
- a call reads either features (or a graph) or pred_probs (``one_source``); the pred_probs
  outlier path adjusts by class thresholds, which needs labels (``label_required``);
- feature values may be any finite numbers (the search rescales them exactly), but euclidean
  distances between rows must fit float64 (``distance_range``);
- feature columns whose scales differ by orders of magnitude get a
  :class:`~cleanframe.scoring.neighbors.scales.FeatureScaleWarning` (a warning, not an error);
  ``standardize=True`` gives every column mean 0 and standard deviation 1 instead;
- the audit leaves rows with missing feature values out of its neighbour checks
  (:func:`resolve_audit_embedding`);
- ``knn=``, a user's scikit-learn ``NearestNeighbors``, scores ``features=`` only, and was
  fitted on as many values per row (:func:`resolve_knn`).

The kernels in :mod:`cleanframe.scoring.neighbors` keep cheap ``ValueError`` asserts for direct
callers; a user's bad value is reported here, as a ``ValidationError``.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from types import FrameType
from typing import Any

import numpy as np

from .._engines import Engine
from ..errors import ValidationError
from ..scoring.neighbors.datalab_checks import missing_rows
from ..scoring.neighbors.knn import METRICS, KnnGraph, default_metric
from ..scoring.neighbors.scales import (
    SCALE_SPREAD_WARNING,
    FeatureScaleWarning,
    Standardizer,
    column_scales,
    max_abs,
    pow2_scale,
)
from .classes import ClassSet
from .columns import spec_name
from .features import resolve_checked_features, resolve_features, resolve_named_features
from .probabilities import resolve_classification, resolve_pred_probs

__all__ = [
    "check_embedding",
    "check_k",
    "check_metric",
    "one_source",
    "prepare_embedding",
    "resolve_audit_embedding",
    "resolve_embedding",
    "resolve_scaled_embedding",
    "resolve_knn",
    "resolve_knn_graph",
    "knn_metric",
    "resolve_ood_pred_probs",
    "resolve_pred_probs_embedding",
    "resolve_query_features",
]


def check_k(k: int | None, n: int, spec: Any) -> None:
    """``k`` neighbours among ``n`` rows: at least 1 and less than ``n`` (None: the default)."""
    if k is not None and not 1 <= int(k) < n:
        raise ValidationError(
            spec_name(spec),
            "k_less_than_rows",
            f"k={k} must be at least 1 and less than the number of rows ({n})",
        )


def check_metric(metric: str | None, spec: Any) -> None:
    """``metric`` is one the neighbour search knows (None: the default for the data)."""
    if metric is not None and metric not in METRICS:
        raise ValidationError(
            spec_name(spec), "metric", f"metric must be one of {METRICS}, not {metric!r}"
        )


def check_embedding(
    X: np.ndarray,
    spec: Any,
    *,
    k: int | None = None,
    metric: str | None = None,
    too_few: str | None = None,
) -> np.ndarray:
    """``X`` (rows of ``spec``) is searchable: 2+ rows, 1+ value per row, ``k`` and ``metric``
    valid for it. ``too_few`` replaces the message of the 2-rows rule. Returns ``X``."""
    n = len(X)
    if n < 2:
        message = too_few or f"a neighbour graph needs at least 2 rows, the frame has {n}"
        raise ValidationError(spec_name(spec), "at_least_2_rows", message)
    if X.shape[1] == 0:
        raise ValidationError(spec_name(spec), "not_empty", "features= selects no values")
    check_k(k, n, spec)
    check_metric(metric, spec)
    return X


def warn(message: str, category: type[Warning]) -> None:
    """Issue a warning attributed to the caller's line: the first frame outside cleanframe."""
    frame: FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("cleanframe."):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def prepare_embedding(
    X: np.ndarray,
    names: Sequence[str],
    spec: Any,
    *,
    metric: str | None = None,
    standardize: bool = False,
) -> tuple[np.ndarray, Standardizer | None]:
    """A checked feature matrix as the neighbour search will see it, and the
    :class:`Standardizer` that made it (None unless ``standardize``).

    ``standardize=True``: every column gets mean 0 and standard deviation 1. Otherwise a
    :class:`FeatureScaleWarning` when the columns' scales (root-mean-square for cosine, standard
    deviation for euclidean: what sets a column's weight in the distance) differ by a factor of
    :data:`SCALE_SPREAD_WARNING` or more. Euclidean distances must fit float64
    (``distance_range``); cosine distances always do.
    """
    metric = metric or default_metric(X.shape[1])
    scaler = None
    if standardize:
        scaler = Standardizer.fit(X)
        X = scaler.transform(X)
    if metric == "euclidean":
        _check_distance_range(X, names)
    if scaler is None:
        _warn_scales(X, names, metric)
    return X, scaler


def _warn_scales(X: np.ndarray, names: Sequence[str], metric: str) -> None:
    if X.shape[1] < 2:
        return
    if metric == "cosine" and _rms_spread_surely_below_warning(X):
        return
    scales = column_scales(X, metric)
    live = np.flatnonzero(scales > 0)
    if len(live) < 2:
        return
    hi, lo = live[np.argmax(scales[live])], live[np.argmin(scales[live])]
    with np.errstate(over="ignore"):
        ratio = scales[hi] / scales[lo]
    if ratio < SCALE_SPREAD_WARNING:
        return
    what = "root-mean-square" if metric == "cosine" else "standard deviation"
    warn(
        f"the feature columns' scales differ by a factor of "
        f"{f'{ratio:,.0f}' if ratio < 1e6 else f'{ratio:.2g}'} ({what}, which sets a "
        f"column's weight in {metric} distances: {names[hi]!r} {scales[hi]:.3g}, "
        f"{names[lo]!r} {scales[lo]:.3g}), so the largest columns decide the neighbours. "
        f"Pass standardize=True to give every column mean 0 and standard deviation 1, or "
        f"rescale the columns.",
        FeatureScaleWarning,
    )


def _rms_spread_surely_below_warning(X: np.ndarray) -> bool:
    """Whether the columns' root-mean-squares (the cosine scales of :func:`column_scales`)
    surely differ by less than :data:`SCALE_SPREAD_WARNING`, from the columns' largest absolute
    values ``M`` alone: a column's RMS lies between ``M / sqrt(N)`` and ``M`` (0 exactly when
    ``M`` is), so the spread of the RMS is at most ``sqrt(N)`` times the spread of the non-zero
    ``M``. ``column_scales`` computes the RMS within ``N`` roundings (relative 1e-10 at the
    sizes where the bound can hold, ``N < 10**6``), far inside the margin of 1e-6. When this is
    True the warning cannot fire and the scales need not be computed (one pass over ``X``
    instead of three)."""
    M = max_abs(X, axis=0)
    live = M[M > 0]
    if len(live) < 2:
        return True
    with np.errstate(over="ignore"):
        bound = np.sqrt(len(X)) * (live.max() / live.min())
    return bool(bound * (1 + 1e-6) < SCALE_SPREAD_WARNING)


def _check_distance_range(X: np.ndarray, names: Sequence[str]) -> None:
    """Euclidean distances between rows fit float64: ``sqrt(sum of squared column ranges)``,
    computed on a power-of-two scale, stays below the largest float64."""
    if not len(X):
        return
    p = float(pow2_scale(max_abs(X)))
    ranges = X.max(axis=0) / p - X.min(axis=0) / p
    with np.errstate(over="ignore"):
        if np.sqrt(np.sum(ranges**2)) <= np.finfo(np.float64).max / p:
            return
    j = int(np.argmax(ranges))
    raise ValidationError(
        names[j],
        "distance_range",
        f"values from {X[:, j].min():.3g} to {X[:, j].max():.3g}: euclidean distances between "
        f"rows would exceed the largest float64 ({np.finfo(np.float64).max:.3g}); rescale the "
        f"column, pass standardize=True, or use metric='cosine'",
    )


def resolve_scaled_embedding(
    fr: Engine,
    features: Any,
    *,
    k: int | None = None,
    metric: str | None = None,
    or_graph: bool = False,
    standardize: bool = False,
) -> tuple[np.ndarray, Standardizer | None]:
    """``features=`` as a finite (N, D) matrix to build a neighbour graph from, with ``k`` and
    ``metric`` checked against it, prepared by :func:`prepare_embedding`; and the
    :class:`Standardizer` (None unless ``standardize``). ``or_graph``: the call also accepts
    ``knn_graph=`` (the message for a missing ``features=`` says so)."""
    if or_graph and features is None:
        raise ValidationError(None, "required", "pass features= (embedding columns) or knn_graph=")
    X, names = resolve_named_features(fr, features)
    check_embedding(X, features, k=k, metric=metric)
    return prepare_embedding(X, names, features, metric=metric, standardize=standardize)


def resolve_embedding(
    fr: Engine,
    features: Any,
    *,
    k: int | None = None,
    metric: str | None = None,
    or_graph: bool = False,
    standardize: bool = False,
) -> np.ndarray:
    """The matrix of :func:`resolve_scaled_embedding`."""
    return resolve_scaled_embedding(
        fr, features, k=k, metric=metric, or_graph=or_graph, standardize=standardize
    )[0]


def resolve_audit_embedding(
    fr: Engine, features: Any, *, k: int | None = None, standardize: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The audit's features: ``(values, complete, embedding)`` — every row's values with NaN
    where missing, the mask of rows with no missing value, and those rows' embedding (checked
    and prepared as :func:`resolve_embedding`) for the neighbour checks. Infinities are an
    error; so are fewer than 2 complete rows."""
    X, names, suspect = resolve_checked_features(fr, features, allow_missing=True)
    complete = ~missing_rows(X, suspect)
    missing = len(X) - int(complete.sum())
    too_few = (
        f"the neighbour checks need at least 2 rows without missing feature values; "
        f"{missing} of the {len(X)} rows miss some"
        if missing
        else None
    )
    # every row complete: the values themselves (the search and the checks do not modify them)
    embedding = check_embedding(X if not missing else X[complete], features, k=k, too_few=too_few)
    embedding, _ = prepare_embedding(embedding, names, features, standardize=standardize)
    return X, complete, embedding


def resolve_pred_probs_embedding(
    fr: Engine,
    pred_probs: Any,
    *,
    k: int | None = None,
    metric: str | None = None,
    resolved: np.ndarray | None = None,
) -> np.ndarray:
    """pred_probs used as the embedding (the non-IID check without features), checked as one.
    ``resolved``: the matrix already resolved (with the labels) for the same spec."""
    P = resolve_pred_probs(fr, pred_probs)[0] if resolved is None else resolved
    return check_embedding(
        P, pred_probs, k=k, metric=metric, too_few="non_iid needs at least 2 rows"
    )


def resolve_query_features(
    fr: Engine, features: Any, *, width: int, scaler: Standardizer | None = None
) -> np.ndarray:
    """``features=`` of new rows scored against an index built on ``width`` values per row,
    standardised by the reference rows' ``scaler`` when there is one."""
    X = resolve_features(fr, features)
    if X.shape[1] != width:
        raise ValidationError(
            spec_name(features),
            "same_width",
            f"features have {X.shape[1]} values per row, the detector was fit on {width}",
        )
    if scaler is None:
        return X
    Z = scaler.transform(X)
    bad = np.flatnonzero(~np.isfinite(Z).all(axis=1))
    if len(bad):
        raise ValidationError(
            spec_name(features),
            "finite",
            "standardised with the reference rows' means and standard deviations, these rows "
            "overflow float64 (largest absolute value shown)",
            list(zip(fr.row_labels(bad[:5]), max_abs(X[bad[:5]], axis=1).tolist())),
            num_failures=len(bad),
        )
    return Z


def resolve_knn_graph(
    fr: Engine, knn_graph: Any, *, k: int | None = None, metric: str | None = None
) -> KnnGraph:
    """A caller's graph (a KnnGraph, or a scipy CSR matrix in cleanlab's format read with
    ``metric``), checked against the frame and against the ``k`` the call will use."""
    if not isinstance(knn_graph, KnnGraph):
        from scipy.sparse import issparse

        if not issparse(knn_graph):
            raise ValidationError(
                "knn_graph",
                "type",
                f"knn_graph= must be a KnnGraph (from cleanframe.knn_graph) or a scipy CSR "
                f"matrix, not {type(knn_graph).__name__}",
            )
        try:
            knn_graph = KnnGraph.from_csr(knn_graph, metric=metric)
        except ValueError as error:
            raise ValidationError(
                "knn_graph", "format", f"knn_graph= is not a kNN graph: {error}"
            ) from error
    if knn_graph.n != fr.height:
        raise ValidationError(
            "knn_graph",
            "same_rows",
            f"knn_graph= has {knn_graph.n} rows but the frame has {fr.height}; a graph can "
            f"only be reused on the frame it was built from",
        )
    if k is not None and k > knn_graph.k:
        raise ValidationError(
            "knn_graph",
            "enough_neighbours",
            f"k={k} but knn_graph= stores only {knn_graph.k} neighbours per row",
        )
    check_k(k, knn_graph.n, "knn_graph")
    return knn_graph


def one_source(features: Any, pred_probs: Any, *, knn_graph: Any = None, fit: bool = False) -> str:
    """Which source a call reads, ``"features"`` (or ``knn_graph=``) or ``"pred_probs"``:
    exactly one of them must be given."""
    has_features = features is not None or knn_graph is not None
    if has_features == (pred_probs is not None):
        message = (
            "pass either features= or pred_probs= to fit"
            if fit
            else "pass either features= (or knn_graph=) or pred_probs=, not both and not neither"
        )
        raise ValidationError(None, "one_source", message)
    return "features" if has_features else "pred_probs"


def resolve_ood_pred_probs(
    fr: Engine,
    *,
    pred_probs: Any,
    label: str | None,
    classes: Sequence | None,
    adjust_pred_probs: bool,
) -> tuple[np.ndarray, np.ndarray | None, ClassSet]:
    """The pred_probs outlier path's inputs: ``(pred_probs, label codes or None, classes)``.
    Adjusting by class thresholds needs the labels."""
    if not adjust_pred_probs:
        P, cs = resolve_pred_probs(fr, pred_probs, classes=classes)
        return P, None, cs
    if label is None:
        raise ValidationError(
            spec_name(pred_probs),
            "label_required",
            "the pred_probs path adjusts probabilities by class thresholds, which needs "
            "label=; pass label= or adjust_pred_probs=False",
        )
    c = resolve_classification(fr, label=label, pred_probs=pred_probs, classes=classes)
    return c.pred_probs, c.labels, c.classes


# ------------------------------------------------------------------------------------------
# a user's scikit-learn NearestNeighbors (knn=)
# ------------------------------------------------------------------------------------------
def _is_fitted(knn: Any) -> bool:
    return hasattr(knn, "n_samples_fit_") or hasattr(knn, "_fit_X")


def knn_metric(knn: Any) -> tuple[str | None, float | None]:
    """The metric name of a NearestNeighbors (a callable's ``__name__``) and its Minkowski
    ``p`` (None for other metrics): what sets the precision snap of the outlier scores."""
    metric = getattr(knn, "effective_metric_", None) or getattr(knn, "metric", None)
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", None)
    p = getattr(knn, "p", None) if name == "minkowski" else None
    if name == "minkowski" and p == 2:
        return "euclidean", None
    return name, p


def resolve_knn(
    knn: Any,
    fr: Engine,
    features: Any,
    *,
    k: int | None,
    pred_probs: Any = None,
    knn_graph: Any = None,
) -> tuple[np.ndarray, Any, int]:
    """A user's scikit-learn ``NearestNeighbors`` (``knn=``, as the reference's
    ``OutOfDistribution(params={"knn": ...})``) and the rows to score with it:
    ``(features, fitted knn, k)``.

    Rules: ``knn=`` goes with ``features=`` (not ``pred_probs=`` nor ``knn_graph=``); it has
    ``kneighbors`` and ``n_neighbors`` (``type``); a fitted one was fitted on as many values per
    row as the features have (``same_width``); an unfitted one is fitted on these features -- a
    copy, the caller's object stays as it is. ``k`` (default ``n_neighbors``) is at least 1; a
    ``k`` above ``n_neighbors`` is lowered to it with a warning, as the reference does."""
    if knn_graph is not None:
        raise ValidationError(
            "knn", "one_source", "pass knn= (a NearestNeighbors) or knn_graph=, not both"
        )
    if pred_probs is not None or features is None:
        raise ValidationError(
            "knn",
            "one_source",
            "knn= (a fitted scikit-learn NearestNeighbors) scores features=: pass features=, "
            "not pred_probs=",
        )
    if not callable(getattr(knn, "kneighbors", None)) or not hasattr(knn, "n_neighbors"):
        raise ValidationError(
            "knn",
            "type",
            f"knn= must be a scikit-learn NearestNeighbors (with kneighbors and n_neighbors), "
            f"not {type(knn).__name__}",
        )
    X = resolve_features(fr, features)
    if _is_fitted(knn):
        width = getattr(knn, "n_features_in_", X.shape[1])
        if width != X.shape[1]:
            raise ValidationError(
                spec_name(features),
                "same_width",
                f"features have {X.shape[1]} values per row, knn= was fitted on {width}",
            )
    else:
        from sklearn.base import clone

        if len(X) < 2:
            raise ValidationError(
                spec_name(features), "at_least_2_rows", "fitting knn= needs at least 2 rows"
            )
        knn = clone(knn).fit(X)
    stored = int(knn.n_neighbors)
    if k is None:
        k = stored
    elif int(k) < 1:
        raise ValidationError("knn", "k_less_than_rows", f"k={k} must be at least 1")
    elif int(k) > stored:
        warn(
            f"k={k} is more than the n_neighbors={stored} of knn=; k={stored} is used (as "
            f"cleanlab does)",
            UserWarning,
        )
        k = stored
    return X, knn, int(k)
