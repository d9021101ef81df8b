"""Embedding-space checks: outliers, near duplicates, non-IID data, class imbalance, nulls.

Every function takes the frame first and keyword-only arguments after it, accepts a pandas
DataFrame, a polars DataFrame or a polars LazyFrame, returns results in the caller's frame type and
never modifies its input.

One nearest-neighbour graph serves every check that needs it. Build it once with
:func:`knn_graph` and pass it as ``knn_graph=`` to several calls (or ask a call for the graph it
built with ``return_knn_graph=True``). Up to 20,000 rows the search is exact (blocked float32
matrix products); above that it is approximate — each row compared with the rows of its nearest
k-means cells, as many cells (or, per row, the cells within a radius of its nearest) as a seeded
sample shows are needed for recall@k 0.999 against exact search, the rows far from their
neighbours searched exactly — and a warning says so, with the
graph's estimated recall (``KnnGraph.estimated_recall``, from an exact search of another sample;
the warning says when it is below 0.99). ``approximate=False`` forces exact search;
``approximate="faiss"`` uses faiss' IVF index.
Distances are cosine for more than 3 feature columns and euclidean otherwise, as in cleanlab;
identical rows are made each other's nearest neighbours at distance 0 (cleanlab's exact-duplicate
correction).

Feature values may be any finite numbers: the search rescales rows by powers of two, so values
such as 1e300 or 1e-300 find the neighbours the same values at ordinary scale find, and cosine
results do not depend on the scale at all. What does change the results is columns on different
scales (one column in the thousands, another near 1): the largest columns decide the distances.
A :class:`FeatureScaleWarning` says so when the columns' scales differ by a factor of 1,000 or
more, and ``standardize=True`` (on :func:`knn_graph`, the checks and :func:`cleanframe.audit`)
gives every feature column mean 0 and standard deviation 1 before the search. (Euclidean outlier
scores keep cleanlab's absolute tolerances: when the distances are all below about 1e-6, every
row scores 1. Cosine scores, and standardised features, do not depend on the scale.)

Each check has an array path (``outlier_arrays``, ``near_duplicate_arrays``, ``non_iid_arrays``,
``class_imbalance_arrays``, ``null_arrays``) from inputs the input layer validated to the result
arrays; the functions here and :func:`cleanframe.audit` share it.

Engine support: pandas, polars and polars LazyFrame (a LazyFrame collects only the columns the call
reads; row-level results come back as a LazyFrame). Eager only: the neighbour search needs all
rows in memory.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._engines import adapt
from ._inputs import resolve_labels, resolve_pred_probs
from ._inputs.arguments import at_least
from ._inputs.columns import check_result_columns
from ._inputs.features import resolve_features
from ._inputs.neighbors import (
    knn_metric,
    one_source,
    resolve_embedding,
    resolve_knn,
    resolve_knn_graph,
    resolve_ood_pred_probs,
    resolve_pred_probs_embedding,
    resolve_query_features,
    resolve_scaled_embedding,
    warn,
)
from ._progress import progress_callback
from ._typing import ColumnSpec, FrameT
from .scoring.neighbors import knn as _knn
from .scoring.neighbors import outlier as _outlier
from .scoring.neighbors.datalab_checks import CLASS_IMBALANCE_THRESHOLD, null_scores
from .scoring.neighbors.datalab_checks import class_imbalance as _class_imbalance
from .scoring.neighbors.duplicates import NEAR_DUPLICATE_THRESHOLD, near_duplicates
from .scoring.neighbors.knn import ApproximateNeighborsWarning, KnnGraph
from .scoring.neighbors.noniid import non_iid as _non_iid
from .scoring.neighbors.scales import FeatureScaleWarning

__all__ = [
    "ApproximateNeighborsWarning",
    "FeatureScaleWarning",
    "NonIIDTestWarning",
    "KnnGraph",
    "knn_graph",
    "find_outliers",
    "find_near_duplicates",
    "non_iid",
    "NonIIDResult",
    "class_imbalance",
    "find_null_issues",
    "OutlierDetector",
]


class NonIIDTestWarning(UserWarning):
    """The non-IID test cannot be done on this data (every row's neighbours are tied at
    distance 0: constant or identical features); its p-value is NaN."""


# ------------------------------------------------------------------------------------------
# the array paths: validated arrays (or a KnnGraph) → result arrays, shared with the audit
# ------------------------------------------------------------------------------------------
def build_graph(
    X: np.ndarray,
    *,
    k: int | None = None,
    metric: str | None = None,
    approximate: bool | str | None = None,
    seed: int = 0,
    progress: bool = True,
    correct_exact_duplicates: bool = True,
) -> KnnGraph:
    """The kNN graph of a feature matrix whose ``k`` and ``metric`` the input layer checked."""
    return _knn.build_knn_graph(
        X,
        k=k,
        metric=metric,
        approximate=approximate,
        seed=seed,
        progress=progress_callback(progress),
        correct_exact_duplicates=correct_exact_duplicates,
    )


def outlier_arrays(
    graph: KnnGraph, *, k: int | None = None, t: float = 1, threshold: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(outlier_score, is_outlier)`` from a graph (Datalab's rule; ``k``: the first ``k``
    neighbours, default all stored ones)."""
    scores, avg, _ = _outlier.knn_outlier_scores(
        graph.distances, k=k if k is not None else graph.k, t=t, metric=graph.metric
    )
    cut = _outlier.distance_issue_threshold(
        avg, _outlier.FEATURE_THRESHOLD if threshold is None else threshold
    )
    return scores, avg > cut


def user_knn_scores(
    knn: Any, X: np.ndarray, k: int, *, t: float = 1, scaling: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(scores, avg, scaling)`` of the rows ``X`` from a user's fitted ``NearestNeighbors``
    (the reference's ``OutOfDistribution`` with ``knn``): its ``kneighbors(X)`` -- a row of the
    data it was fitted on finds itself at distance 0 --, the first ``k`` distances averaged, no
    exact-duplicate correction; the precision snap follows the metric (Minkowski ``p``: rows
    with average distance below ``(100 eps)^(1/p)`` score 1)."""
    distances = np.asarray(knn.kneighbors(X, return_distance=True)[0], dtype=np.float64)
    metric, p = knn_metric(knn)
    scores, avg, scale = _outlier.knn_outlier_scores(
        distances[:, :k], t=t, scaling=scaling, metric=metric
    )
    if p is not None:
        scores = np.where(avg < (100 * np.finfo(np.float64).eps) ** (1 / p), 1.0, scores)
    return scores, avg, scale


def pred_probs_outlier_arrays(
    pred_probs: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    threshold: float | None = None,
    method: str = "entropy",
    adjust_pred_probs: bool = True,
    M: int = 100,
    gamma: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """``(outlier_score, is_outlier)`` from checked pred_probs (and label codes when adjusting),
    as cleanlab's OutOfDistribution."""
    scores, _ = _outlier.ood_pred_probs_scores(
        pred_probs,
        labels=labels,
        adjust_pred_probs=adjust_pred_probs,
        method=method,
        M=M,
        gamma=gamma,
    )
    cut = _outlier.pred_probs_issue_threshold(
        scores, _outlier.PRED_PROBS_THRESHOLD if threshold is None else threshold
    )
    return scores, scores < cut


def near_duplicate_arrays(
    graph: KnnGraph, *, k: int | None = None, threshold: float = NEAR_DUPLICATE_THRESHOLD
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(near_duplicate_score, is_near_duplicate, near_duplicate_set)`` from a graph (its
    first ``k`` neighbours, default all)."""
    use = graph.head(k) if k is not None else graph
    r = near_duplicates(use.indices, use.distances, threshold=threshold)
    return r["scores"], r["is_issue"], r["set_ids"]


def non_iid_arrays(
    graph: KnnGraph,
    *,
    num_permutations: int = 25,
    seed: int | None = 0,
    significance_threshold: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, float, float, str | None]:
    """``(non_iid_score, is_non_iid_issue, p_value, statistic, note)`` from a graph's
    neighbours. Rows whose neighbours are all tied at distance 0 are left out of the test (the
    note says how many); when that is every row, the test cannot be done: the p-value is NaN,
    the note says why and a :class:`NonIIDTestWarning` is issued. On a graph cleanframe built
    (its ties broken by row position), neighbours that ties among exact copies chose are
    re-drawn among the copies; a graph from elsewhere (a CSR matrix, a hand-made KnnGraph) is
    used as given."""
    r = _non_iid(
        graph.indices,
        distances=graph.distances,
        metric=graph.metric,
        num_permutations=num_permutations,
        seed=seed,
        significance_threshold=significance_threshold,
        redraw=graph.exact_duplicates_corrected,
    )
    left_out = int((~r["tested"]).sum())
    note = None
    if left_out == graph.n:
        note = (
            f"the test cannot be done: every row's {graph.k} nearest neighbours lie at distance "
            f"0 (constant or identical features), so the row order, not the data, chose them"
        )
        warn(f"non-IID test: {note}; p_value is NaN", NonIIDTestWarning)
    elif left_out:
        note = (
            f"{left_out} of {graph.n} rows left out of the test: their {graph.k} nearest "
            f"neighbours all lie at distance 0 (duplicates), so the row order chose them"
        )
    return r["scores"], r["is_issue"], float(r["p_value"]), float(r["statistic"]), note


def class_imbalance_arrays(
    labels: np.ndarray, num_classes: int, *, threshold: float = CLASS_IMBALANCE_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """``(class_imbalance_score, is_class_imbalance_issue)`` from label codes."""
    r = _class_imbalance(labels, num_classes, threshold=threshold)
    return r["scores"], r["is_issue"]


def null_arrays(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(null_score, is_null_issue)`` from a feature matrix with NaN for missing values."""
    r = null_scores(np.isnan(X))
    return r["scores"], r["is_issue"]


def _graph_for(
    fr, *, features, knn_graph, k, metric, approximate, seed, progress, standardize
) -> KnnGraph:
    """The caller's graph (checked against the frame) or one built from ``features``."""
    if knn_graph is not None:
        return resolve_knn_graph(fr, knn_graph, k=k, metric=metric)
    X = resolve_embedding(fr, features, k=k, metric=metric, or_graph=True, standardize=standardize)
    return build_graph(X, k=k, metric=metric, approximate=approximate, seed=seed, progress=progress)


def _maybe_with_graph(result, graph, return_knn_graph):
    return (result, graph) if return_knn_graph else result


# ------------------------------------------------------------------------------------------
# the graph
# ------------------------------------------------------------------------------------------
def knn_graph(
    df: Any,
    *,
    features: ColumnSpec,
    k: int | None = None,
    metric: str | None = None,
    approximate: bool | str | None = None,
    correct_exact_duplicates: bool = True,
    standardize: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> KnnGraph:
    """The k-nearest-neighbour graph of the frame's rows, to reuse across checks.

    This function does not modify ``df``.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    features : list, str
        Embedding columns: a list of numeric columns, a glob such as ``"emb_*"``, or the name of
        one column holding a fixed-length array per row.
    k : int, optional
        Neighbours per row (default ``min(10, N - 1)``). Build with the largest ``k`` any later
        check needs.
    metric : {"cosine", "euclidean"}, optional
        Default: cosine for more than 3 feature columns, else euclidean.
    approximate : bool or "faiss", optional
        Default: exact up to 20,000 rows, approximate above (cleanframe's k-means cluster join,
        calibrated for recall@k 0.999; ``"faiss"`` for faiss' IVF index, if installed).
    correct_exact_duplicates : bool
        Make identical rows each other's nearest neighbours at distance 0 (as cleanlab).
    standardize : bool
        Give every feature column mean 0 and standard deviation 1 before the search (for
        tabular columns in different units). Without it, columns whose scales differ by a
        factor of 1,000 or more give a :class:`FeatureScaleWarning`.
    seed : int
        Seed of the approximate index's training.
    progress : bool
        Show progress bars on long searches.

    Returns
    -------
    KnnGraph
        ``indices`` and ``distances`` (N × k, nearest first, the row itself excluded),
        ``metric``, ``k``, ``approximate`` and ``estimated_recall`` (1.0 for an exact search);
        ``to_csr()`` gives cleanlab's sparse format.

    Examples
    --------
    >>> import pandas as pd
    >>> import cleanframe
    >>> df = pd.DataFrame({"x": [0.0, 0.1, 0.2, 5.0], "y": [0.0, 0.0, 0.0, 0.0]})
    >>> g = cleanframe.knn_graph(df, features=["x", "y"], k=2)
    >>> g
    KnnGraph(n=4, k=2, metric='euclidean', exact)
    >>> g.indices.tolist()
    [[1, 2], [0, 2], [1, 0], [2, 1]]
    """
    fr = adapt(df)
    X = resolve_embedding(fr, features, k=k, metric=metric, standardize=standardize)
    return build_graph(
        X,
        k=k,
        metric=metric,
        approximate=approximate,
        seed=seed,
        progress=progress,
        correct_exact_duplicates=correct_exact_duplicates,
    )


# ------------------------------------------------------------------------------------------
# outliers
# ------------------------------------------------------------------------------------------
OUTLIER_COLUMNS = ("outlier_score", "is_outlier")


def find_outliers(
    df: FrameT,
    *,
    features: ColumnSpec | None = None,
    pred_probs: ColumnSpec | None = None,
    label: str | None = None,
    classes: Sequence | None = None,
    knn_graph: KnnGraph | None = None,
    knn: Any = None,
    k: int | None = None,
    t: float = 1,
    threshold: float | None = None,
    metric: str | None = None,
    approximate: bool | str | None = None,
    standardize: bool = False,
    method: str = "entropy",
    adjust_pred_probs: bool = True,
    M: int = 100,
    gamma: float = 0.1,
    seed: int = 0,
    progress: bool = True,
    overwrite: bool = False,
    return_knn_graph: bool = False,
) -> FrameT:
    """Flag atypical rows, from embeddings (kNN distances) or from predicted probabilities.

    Returns the input's rows, in order and with their index, plus two columns:

    - ``outlier_score`` in [0, 1], lower = more atypical;
    - ``is_outlier``: flagged by Datalab's rule.

    From ``features`` / ``knn_graph`` (Datalab's outlier check): with ``avg`` each row's mean
    distance to its ``k`` neighbours, score = ``exp(-t · avg / median(avg))`` (1 for rows at
    distance ≈ 0), flagged when ``avg > Q3 + (1/threshold - 1) · IQR`` (threshold 0.37037, about
    Q3 + 1.7·IQR).

    From ``pred_probs`` (cleanlab's OutOfDistribution; needs ``label`` when
    ``adjust_pred_probs``): ``method`` "entropy" (1 − normalized entropy of the threshold-adjusted
    probabilities), "least_confidence" or "gen"; flagged when the score is below
    ``threshold · median(score)`` (threshold 0.13).

    To score new data against a reference set, use :class:`OutlierDetector`.
    This function does not modify ``df``.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    features : list or str, optional
        Embedding columns (list, glob such as ``"emb_*"``, or one array column).
    pred_probs : list, str or dict, optional
        Predicted probability columns (instead of features).
    label : str, optional
        Label column (pred_probs path, for the class-threshold adjustment).
    classes : sequence, optional
        Class of each pred_probs column, when it cannot be inferred.
    knn_graph : KnnGraph, optional
        A graph from :func:`knn_graph` on this frame (then ``features`` is not read).
    knn : sklearn.neighbors.NearestNeighbors, optional
        Your own neighbour index, as cleanlab's ``OutOfDistribution(params={"knn": ...})``:
        each row of ``features`` is scored by ``knn.kneighbors`` (a fitted index; an unfitted
        one is fitted on a copy with ``features``). A row of the data the index was fitted on
        finds itself at distance 0, and no exact-duplicate correction is made (as cleanlab).
        Its metric is the index's own.
    k : int, optional
        Neighbours averaged. Default: 10 when the graph is built here (``min(10, N-1)``), all
        stored neighbours of a given ``knn_graph`` (as Datalab), ``knn.n_neighbors`` with
        ``knn=`` (a larger ``k`` is lowered to it with a warning, as cleanlab).
    t : float
        Sharpness of the distance-to-score transform.
    threshold : float, optional
        Datalab's threshold (0.37037 for features, 0.13 for pred_probs).
    metric : {"cosine", "euclidean"}, optional
        Distance for a graph built here.
    approximate : bool, optional
        Approximate search (see :func:`knn_graph`).
    standardize : bool
        Give every feature column mean 0 and standard deviation 1 before building the graph
        (see :func:`knn_graph`); not used with ``knn_graph=`` or ``pred_probs=``.
    method, adjust_pred_probs, M, gamma
        pred_probs path options, as cleanlab's OutOfDistribution.
    seed : int
        Seed of the approximate index.
    progress : bool
        Progress bars on long searches.
    overwrite : bool
        Replace existing result columns instead of raising.
    return_knn_graph : bool
        Also return the graph used: ``(frame, KnnGraph)`` (None on the pred_probs path).

    Returns
    -------
    Same type as ``df``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import cleanframe
    >>> rng = np.random.default_rng(0)
    >>> emb = 3.0 + rng.normal(size=(200, 8))       # embeddings pointing one way...
    >>> emb[0] = -3.0 + rng.normal(size=8)          # ...and one pointing the other way
    >>> df = pd.DataFrame(emb, columns=[f"emb_{i}" for i in range(8)])
    >>> out = cleanframe.find_outliers(df, features="emb_*")
    >>> int(out["outlier_score"].idxmin())
    0
    """
    fr = adapt(df)
    if knn is not None:
        X, nn, k_used = resolve_knn(
            knn, fr, features, k=k, pred_probs=pred_probs, knn_graph=knn_graph
        )
        check_result_columns(fr, list(OUTLIER_COLUMNS), overwrite=overwrite)
        scores, avg, _ = user_knn_scores(nn, X, k_used, t=t)
        cut = _outlier.distance_issue_threshold(
            avg, _outlier.FEATURE_THRESHOLD if threshold is None else threshold
        )
        out = fr.attach({"outlier_score": scores, "is_outlier": avg > cut}, overwrite=overwrite)
        return _maybe_with_graph(out, None, return_knn_graph)
    source = one_source(features, pred_probs, knn_graph=knn_graph)
    check_result_columns(fr, list(OUTLIER_COLUMNS), overwrite=overwrite)
    graph = None
    if source == "pred_probs":
        P, codes, _ = resolve_ood_pred_probs(
            fr,
            pred_probs=pred_probs,
            label=label,
            classes=classes,
            adjust_pred_probs=adjust_pred_probs,
        )
        scores, flags = pred_probs_outlier_arrays(
            P,
            codes,
            threshold=threshold,
            method=method,
            adjust_pred_probs=adjust_pred_probs,
            M=M,
            gamma=gamma,
        )
    else:
        graph = _graph_for(
            fr,
            features=features,
            knn_graph=knn_graph,
            k=k,
            metric=metric,
            approximate=approximate,
            seed=seed,
            progress=progress,
            standardize=standardize,
        )
        scores, flags = outlier_arrays(graph, k=k, t=t, threshold=threshold)
    out = fr.attach({"outlier_score": scores, "is_outlier": flags}, overwrite=overwrite)
    return _maybe_with_graph(out, graph, return_knn_graph)


class OutlierDetector:
    """Fit on reference rows, then score new rows against them (cleanlab's OutOfDistribution).

    From features: the reference rows are indexed; a new row's score is
    ``exp(-t · avg / scale)`` where ``avg`` is its mean distance to its ``k`` nearest reference
    rows (a new row identical to a reference row is at distance 0) and ``scale`` the median
    average distance of the reference rows to each other. A new row is flagged when ``avg``
    exceeds the reference rows' cut-off ``Q3 + (1/threshold - 1)·IQR``.

    From pred_probs: ``fit`` stores the per-class thresholds (from ``label``) and the cut-off
    ``threshold · median`` of the reference scores; ``score`` reuses both.

    Parameters
    ----------
    k : int, optional
        Neighbours (default ``min(10, N - 1)`` of the reference rows; ``knn.n_neighbors`` with
        ``knn=``).
    knn : sklearn.neighbors.NearestNeighbors, optional
        Your own index of the reference rows (cleanlab's ``params={"knn": ...}``): ``fit``
        scores the reference rows with ``knn.kneighbors`` (each finds itself at distance 0, as
        in cleanlab) and stores the scale; ``score`` queries the same index with the new rows.
        An unfitted index is fitted on a copy with the reference rows. ``metric``,
        ``approximate``, ``standardize`` do not apply.
    t : float
    threshold : float, optional
        As in :func:`find_outliers`.
    metric, approximate, seed, progress
        Neighbour search options (see :func:`knn_graph`).
    standardize : bool
        Give every feature column mean 0 and standard deviation 1, with the reference rows'
        means and standard deviations (new rows are scaled with the same ones).
    method, adjust_pred_probs, M, gamma
        pred_probs options (see :func:`find_outliers`).

    Attributes (after ``fit``)
    --------------------------
    source_ : "features" or "pred_probs"
    scaling_factor_ : float (features)
    issue_threshold_ : float
        Average-distance cut-off (features) or score cut-off (pred_probs).
    confident_thresholds_ : ndarray (pred_probs, when adjusted)
    fit_scores_ : ndarray
        Scores of the reference rows (with the exact-duplicate correction, as cleanlab).
    scaler_ : Standardizer or None (features)
        The reference rows' column means and standard deviations (``standardize=True``).
    index_ : the neighbour index of the reference rows (features)
        Built once in ``fit``; ``score`` queries it for new rows (no rebuild).
    knn_graph_ : KnnGraph or None (features)
        The reference rows' graph (each row's own neighbours, exact duplicates corrected), to
        reuse as ``knn_graph=`` in :func:`find_outliers`, :func:`find_near_duplicates` or
        :func:`non_iid` on the same rows; None with ``knn=``.
    knn_ : NearestNeighbors or None
        The index queried with ``knn=`` (yours, or a fitted copy of it).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from cleanframe import OutlierDetector
    >>> rng = np.random.default_rng(0)
    >>> train = pd.DataFrame(rng.normal(size=(300, 5)), columns=list("abcde"))
    >>> rows = np.vstack([rng.normal(size=(2, 5)), np.full((1, 5), 8.0)])
    >>> new = pd.DataFrame(rows, columns=list("abcde"))
    >>> det = OutlierDetector(metric="euclidean").fit(train, features=list("abcde"))
    >>> det.score(new)["is_outlier"].tolist()
    [False, False, True]
    """

    def __init__(
        self,
        *,
        k: int | None = None,
        knn: Any = None,
        t: float = 1,
        threshold: float | None = None,
        metric: str | None = None,
        approximate: bool | str | None = None,
        standardize: bool = False,
        method: str = "entropy",
        adjust_pred_probs: bool = True,
        M: int = 100,
        gamma: float = 0.1,
        seed: int = 0,
        progress: bool = True,
    ):
        self.k, self.t, self.threshold = k, t, threshold
        self.knn = knn
        self.standardize = standardize
        self.metric, self.approximate, self.seed, self.progress = (
            metric,
            approximate,
            seed,
            progress,
        )
        self.method, self.adjust_pred_probs, self.M, self.gamma = (
            method,
            adjust_pred_probs,
            M,
            gamma,
        )
        self.source_: str | None = None

    def __repr__(self) -> str:
        state = f"fitted on {self.source_}" if self.source_ else "not fitted"
        return f"OutlierDetector(k={self.k}, t={self.t}, {state})"

    def fit(
        self,
        df: Any,
        *,
        features: ColumnSpec | None = None,
        pred_probs: ColumnSpec | None = None,
        label: str | None = None,
        classes: Sequence | None = None,
    ) -> OutlierDetector:
        """Fit on the reference rows of ``df`` (not modified). Returns ``self``."""
        fr = adapt(df)
        self.knn_, self.knn_graph_ = None, None
        if self.knn is not None:
            X, nn, k = resolve_knn(self.knn, fr, features, k=self.k, pred_probs=pred_probs)
            scores, avg, scale = user_knn_scores(nn, X, k, t=self.t)
            self.knn_, self.k_, self.metric_ = nn, k, knn_metric(nn)[0]
            self.scaling_factor_, self._fit_avg, self.scaler_ = scale, avg, None
            self.issue_threshold_ = _outlier.distance_issue_threshold(
                avg, _outlier.FEATURE_THRESHOLD if self.threshold is None else self.threshold
            )
            self.features_spec_, self.n_features_ = features, X.shape[1]
            self.source_ = "features"
        elif one_source(features, pred_probs, fit=True) == "features":
            X, self.scaler_ = resolve_scaled_embedding(
                fr, features, k=self.k, metric=self.metric, standardize=self.standardize
            )
            k = _knn.resolve_k(len(X), self.k)
            index = _knn.KnnIndex(
                X,
                metric=self.metric,
                approximate=self.approximate,
                seed=self.seed,
                progress=progress_callback(self.progress),
            )
            graph = _knn.build_knn_graph(X, k=k, index=index)
            scores, avg, scale = _outlier.knn_outlier_scores(
                graph.distances, t=self.t, metric=index.metric
            )
            self.index_, self.k_, self.metric_ = index, k, index.metric
            self.knn_graph_ = graph
            self.scaling_factor_ = scale
            self._fit_avg = avg
            self.issue_threshold_ = _outlier.distance_issue_threshold(
                avg, _outlier.FEATURE_THRESHOLD if self.threshold is None else self.threshold
            )
            self.features_spec_, self.n_features_ = features, X.shape[1]
            self.source_ = "features"
        else:
            P, codes, cs = resolve_ood_pred_probs(
                fr,
                pred_probs=pred_probs,
                label=label,
                classes=classes,
                adjust_pred_probs=self.adjust_pred_probs,
            )
            scores, thresholds = _outlier.ood_pred_probs_scores(
                P,
                labels=codes,
                adjust_pred_probs=self.adjust_pred_probs,
                method=self.method,
                M=self.M,
                gamma=self.gamma,
            )
            self.confident_thresholds_ = thresholds
            self.issue_threshold_ = _outlier.pred_probs_issue_threshold(
                scores, _outlier.PRED_PROBS_THRESHOLD if self.threshold is None else self.threshold
            )
            self.pred_probs_spec_, self.classes_ = pred_probs, list(cs.values)
            self.source_ = "pred_probs"
        self.fit_scores_ = scores
        return self

    def score(self, df: FrameT, *, overwrite: bool = False) -> FrameT:
        """``outlier_score`` and ``is_outlier`` of the rows of ``df`` (read with the column spec
        given to ``fit``) against the reference rows. ``df`` is not modified."""
        if self.source_ is None:
            raise ValueError("OutlierDetector is not fitted; call fit() first")
        fr = adapt(df)
        check_result_columns(fr, list(OUTLIER_COLUMNS), overwrite=overwrite)
        if self.source_ == "features":
            X = resolve_query_features(
                fr, self.features_spec_, width=self.n_features_, scaler=self.scaler_
            )
            if self.knn_ is not None:
                scores, avg, _ = user_knn_scores(
                    self.knn_, X, self.k_, t=self.t, scaling=self.scaling_factor_
                )
            else:
                _, dist = self.index_.query(X, self.k_)
                scores, avg, _ = _outlier.knn_outlier_scores(
                    dist, t=self.t, scaling=self.scaling_factor_, metric=self.metric_
                )
            flags = avg > self.issue_threshold_
        else:
            P, _ = resolve_pred_probs(fr, self.pred_probs_spec_, classes=self.classes_)
            scores, _ = _outlier.ood_pred_probs_scores(
                P,
                confident_thresholds=self.confident_thresholds_,
                adjust_pred_probs=self.adjust_pred_probs,
                method=self.method,
                M=self.M,
                gamma=self.gamma,
            )
            flags = scores < self.issue_threshold_
        return fr.attach({"outlier_score": scores, "is_outlier": flags}, overwrite=overwrite)

    def fit_score(
        self,
        df: FrameT,
        *,
        features: ColumnSpec | None = None,
        pred_probs: ColumnSpec | None = None,
        label: str | None = None,
        classes: Sequence | None = None,
        overwrite: bool = False,
    ) -> FrameT:
        """Fit on ``df`` and return its own scores (each row excluded from its own neighbours,
        exact duplicates corrected — as :func:`find_outliers`)."""
        fr = adapt(df)
        check_result_columns(fr, list(OUTLIER_COLUMNS), overwrite=overwrite)
        self.fit(df, features=features, pred_probs=pred_probs, label=label, classes=classes)
        scores = self.fit_scores_
        if self.source_ == "features":
            flags = self._fit_avg > self.issue_threshold_
        else:
            flags = scores < self.issue_threshold_
        return fr.attach({"outlier_score": scores, "is_outlier": flags}, overwrite=overwrite)


# ------------------------------------------------------------------------------------------
# near duplicates
# ------------------------------------------------------------------------------------------
NEAR_DUPLICATE_COLUMNS = ("near_duplicate_score", "is_near_duplicate", "near_duplicate_set")


def find_near_duplicates(
    df: FrameT,
    *,
    features: ColumnSpec | None = None,
    knn_graph: KnnGraph | None = None,
    k: int | None = None,
    threshold: float = 0.13,
    metric: str | None = None,
    approximate: bool | str | None = None,
    standardize: bool = False,
    seed: int = 0,
    progress: bool = True,
    overwrite: bool = False,
    return_knn_graph: bool = False,
) -> FrameT:
    """Flag rows that (nearly) duplicate other rows, and group them into sets.

    Returns the input's rows, in order and with their index, plus three columns:

    - ``near_duplicate_score`` in [0, 1]: ``1 - exp(-d1 / m)`` with ``d1`` the distance to the
      nearest other row and ``m`` the median of ``d1``; 0 for an exact duplicate. Lower = more
      duplicated.
    - ``is_near_duplicate``: the row has a neighbour closer than ``threshold · m`` (or is such a
      neighbour of another row) — Datalab's near_duplicate rule.
    - ``near_duplicate_set``: an integer id shared by each connected group of near duplicates,
      numbered 0, 1, ... in order of the group's first row; **-1 for rows in no set** (an int64
      column, no nulls).

    This function does not modify ``df``.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    features : list or str, optional
        Embedding columns (list, glob, or one array column).
    knn_graph : KnnGraph, optional
        A graph from :func:`knn_graph` on this frame (then ``features`` is not read).
    k : int, optional
        Neighbours searched per row when the graph is built here (default ``min(10, N-1)``);
        a set can only link rows that appear in each other's k nearest.
    threshold : float
        Relative radius (Datalab's 0.13).
    metric, approximate, seed, progress
        Neighbour search options (see :func:`knn_graph`).
    standardize : bool
        Give every feature column mean 0 and standard deviation 1 before building the graph
        (see :func:`knn_graph`); not used with ``knn_graph=`` or ``pred_probs=``.
    overwrite : bool
        Replace existing result columns instead of raising.
    return_knn_graph : bool
        Also return the graph used: ``(frame, KnnGraph)``.

    Returns
    -------
    Same type as ``df``.

    Examples
    --------
    >>> import pandas as pd
    >>> import cleanframe
    >>> df = pd.DataFrame({"x": [0.0, 0.0, 3.0, 3.001, 7.0, 11.0, 15.0, 19.0], "y": [1.0] * 8})
    >>> out = cleanframe.find_near_duplicates(df, features=["x", "y"], k=2)
    >>> out["near_duplicate_set"].tolist()
    [0, 0, 1, 1, -1, -1, -1, -1]
    """
    fr = adapt(df)
    check_result_columns(fr, list(NEAR_DUPLICATE_COLUMNS), overwrite=overwrite)
    graph = _graph_for(
        fr,
        features=features,
        knn_graph=knn_graph,
        k=k,
        metric=metric,
        approximate=approximate,
        seed=seed,
        progress=progress,
        standardize=standardize,
    )
    scores, flags, sets = near_duplicate_arrays(graph, k=k, threshold=threshold)
    out = fr.attach(
        {"near_duplicate_score": scores, "is_near_duplicate": flags, "near_duplicate_set": sets},
        overwrite=overwrite,
    )
    return _maybe_with_graph(out, graph, return_knn_graph)


# ------------------------------------------------------------------------------------------
# non-IID
# ------------------------------------------------------------------------------------------
NON_IID_COLUMNS = ("non_iid_score", "is_non_iid_issue")


@dataclass(frozen=True, eq=False)
class NonIIDResult:
    """Result of :func:`non_iid`.

    Attributes
    ----------
    p_value : float
        Probability, under shuffled (IID) row order, of neighbours at least this unusually close
        in row position. Small (< ``significance_threshold``) = the data is not IID: its row order
        carries information (drift, sorting, sessions...). NaN when the test cannot be done
        (see ``note``).
    statistic : float
        The Kolmogorov–Smirnov statistic behind the p-value (NaN when the test cannot be done).
    is_non_iid : bool
        ``p_value < significance_threshold`` (False when the test cannot be done).
    significance_threshold : float
    rows : frame
        The input's rows plus ``non_iid_score`` (lower = the row's neighbours are unusually near
        it in row order) and ``is_non_iid_issue`` (only the lowest-scoring row, and only when
        ``is_non_iid``). Rows left out of the test score 1.
    knn_graph : KnnGraph
        The graph used.
    note : str or None
        Why the test cannot be done (every row's neighbours lie at distance 0: constant or
        identical features), or how many rows it left out (rows with more exact duplicates than
        neighbours, whose neighbours the row order chose); None when every row was tested.
    testable : bool
        Whether the test could be done (``p_value`` is a number).
    """

    p_value: float
    statistic: float
    is_non_iid: bool
    significance_threshold: float
    rows: Any
    knn_graph: KnnGraph
    note: str | None = None

    @classmethod
    def of(
        cls,
        p_value: float,
        statistic: float,
        significance_threshold: float,
        rows: Any,
        knn_graph: KnnGraph,
        *,
        note: str | None = None,
    ) -> NonIIDResult:
        """The result of a test with this p-value at this significance threshold."""
        return cls(
            p_value,
            statistic,
            bool(p_value < significance_threshold),
            significance_threshold,
            rows,
            knn_graph,
            note,
        )

    @property
    def testable(self) -> bool:
        """Whether the test could be done (``p_value`` is a number, not NaN)."""
        return not np.isnan(self.p_value)

    def explain(self) -> str:
        """A plain-language reading of the result."""
        if not self.testable:
            return f"non-IID test: not done -- {self.note}. Nothing is flagged."
        verdict = (
            "NOT IID: rows that are close in the embedding space sit unusually close in row order "
            "(drift, sorted data, or grouped collection). Shuffle before splitting train/test, "
            "and look at the lowest non_iid_score rows."
            if self.is_non_iid
            else "consistent with IID: the row order does not predict neighbours in the "
            "embedding space."
        )
        note = f" ({self.note}.)" if self.note else ""
        return (
            f"non-IID test: p-value = {self.p_value:.4g} "
            f"(threshold {self.significance_threshold:g}, KS statistic {self.statistic:.4g}) "
            f"-> {verdict}{note}"
        )

    def __repr__(self) -> str:
        note = f", note={self.note!r}" if self.note else ""
        return (
            f"NonIIDResult(p_value={self.p_value:.4g}, is_non_iid={self.is_non_iid}, "
            f"n={self.knn_graph.n}{note})"
        )

    def _repr_html_(self) -> str:
        return f"<p><b>NonIIDResult</b>: {html.escape(self.explain())}</p>"


def non_iid(
    df: Any,
    *,
    features: ColumnSpec | None = None,
    pred_probs: ColumnSpec | None = None,
    knn_graph: KnnGraph | None = None,
    k: int | None = None,
    num_permutations: int = 25,
    seed: int | None = 0,
    significance_threshold: float = 0.05,
    metric: str | None = None,
    approximate: bool | str | None = None,
    standardize: bool = False,
    progress: bool = True,
    overwrite: bool = False,
) -> NonIIDResult:
    """Test whether the row order carries information (data not independent and identically
    distributed), as Datalab's non_iid check.

    A row's neighbours in the embedding space should be anywhere in the frame if rows are IID.
    The test compares the distribution of row-position gaps between rows and their neighbours with
    the gaps of random pairs (a Kolmogorov–Smirnov statistic), against ``num_permutations``
    random shuffles. The permutations are those cleanlab draws (numpy ``RandomState(seed)``), so
    with the same graph the p-value equals cleanlab's.

    Rows whose ``k`` neighbours all lie at distance 0 (more exact duplicates than neighbours)
    had their neighbours chosen by row position, not by the data: they are left out of the test
    and score 1 (``note`` says how many; cleanlab counts them, which makes shuffled data with
    many duplicates look non-IID). When that is every row — constant or identical features —
    the test cannot be done: ``p_value`` is NaN, nothing is flagged, ``note`` and ``explain()``
    say why, and a :class:`NonIIDTestWarning` is issued. Where a row's neighbours include some
    but not all of a group of exact copies (equidistant, so the graph's tie order chose them),
    cleanframe's graphs took the first copies by row position; those neighbours are re-drawn
    among the copies (seeded by ``seed``), so the test does not read the row order from the
    graph's tie-breaking. A graph not built by cleanframe is used as given.

    This function does not modify ``df``.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    features : list or str, optional
        Embedding columns.
    pred_probs : list, str or dict, optional
        Used as the embedding when no features or graph are given (as Datalab).
    knn_graph : KnnGraph, optional
        A graph from :func:`knn_graph` on this frame (all its neighbours are used).
    k : int, optional
        Neighbours for a graph built here (default ``min(10, N-1)``).
    num_permutations : int
    seed : int or None
        Seed of the permutations (None: not reproducible).
    significance_threshold : float
    metric, approximate, progress
        Neighbour search options (see :func:`knn_graph`).
    standardize : bool
        Give every feature column mean 0 and standard deviation 1 before building the graph
        (see :func:`knn_graph`); not used with ``knn_graph=`` or ``pred_probs=``.
    overwrite : bool
        Replace existing result columns instead of raising.

    Returns
    -------
    NonIIDResult
        ``p_value``, ``is_non_iid``, ``explain()``, and ``rows`` (the caller's frame type) with
        ``non_iid_score`` and ``is_non_iid_issue``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import cleanframe
    >>> t = np.linspace(0, 1, 300)                      # embeddings drift with row order
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"a": t + 0.01 * rng.normal(size=300), "b": 0.01 * rng.normal(size=300)})
    >>> res = cleanframe.non_iid(df, features=["a", "b"])
    >>> res.is_non_iid
    True
    """
    fr = adapt(df)
    check_result_columns(fr, list(NON_IID_COLUMNS), overwrite=overwrite)
    at_least(num_permutations, 1, "num_permutations")
    if knn_graph is None and features is None and pred_probs is not None:
        P = resolve_pred_probs_embedding(fr, pred_probs, k=k, metric=metric)
        graph = build_graph(P, k=k, metric=metric, approximate=approximate, progress=progress)
    else:
        graph = _graph_for(
            fr,
            features=features,
            knn_graph=knn_graph,
            k=k,
            metric=metric,
            approximate=approximate,
            seed=0,
            progress=progress,
            standardize=standardize,
        )
    scores, flags, p_value, statistic, note = non_iid_arrays(
        graph,
        num_permutations=num_permutations,
        seed=seed,
        significance_threshold=significance_threshold,
    )
    rows = fr.attach({"non_iid_score": scores, "is_non_iid_issue": flags}, overwrite=overwrite)
    return NonIIDResult.of(p_value, statistic, significance_threshold, rows, graph, note=note)


# ------------------------------------------------------------------------------------------
# class imbalance and nulls
# ------------------------------------------------------------------------------------------
def class_imbalance(
    df: FrameT,
    *,
    label: str,
    classes: Sequence | None = None,
    threshold: float = 0.1,
    overwrite: bool = False,
) -> FrameT:
    """Flag the rows of the rarest class when it is too rare (Datalab's class_imbalance check).

    With K classes that occur in the column and the rarest of them ``c`` at frequency ``f``
    (ties: the first class in class order — sorted values, or a categorical's own order), rows of
    ``c`` get ``class_imbalance_score = f`` and every other row 1; rows of ``c`` are flagged
    (``is_class_imbalance_issue``) when ``f < threshold / K``. As in Datalab, whose classes are
    the label values present, a class without rows (an unused category of a categorical or
    ``Enum``, or a class listed in ``classes=`` that does not occur) is not counted.

    This function does not modify ``df``.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    label : str
        The label column.
    classes : sequence, optional
        Class order (default: a categorical's categories, else the sorted label values).
    threshold : float
    overwrite : bool

    Returns
    -------
    Same type as ``df``.

    Examples
    --------
    >>> import pandas as pd
    >>> from cleanframe.neighbors import class_imbalance
    >>> df = pd.DataFrame({"y": ["cat"] * 98 + ["dog"] * 2})
    >>> out = class_imbalance(df, label="y")
    >>> int(out["is_class_imbalance_issue"].sum()), float(out["class_imbalance_score"].min())
    (2, 0.02)
    """
    fr = adapt(df)
    check_result_columns(
        fr, ["class_imbalance_score", "is_class_imbalance_issue"], overwrite=overwrite
    )
    codes, cs = resolve_labels(fr, label, classes=classes)
    scores, flags = class_imbalance_arrays(codes, len(cs), threshold=threshold)
    return fr.attach(
        {"class_imbalance_score": scores, "is_class_imbalance_issue": flags}, overwrite=overwrite
    )


def find_null_issues(df: FrameT, *, features: ColumnSpec, overwrite: bool = False) -> FrameT:
    """Rows with missing feature values (Datalab's null check).

    ``null_score`` = fraction of the row's feature values that are present (lower = more
    missing); ``is_null_issue`` = every feature value is missing. Nulls and NaN both count as
    missing. (In one array column, a null array is an error; NaN elements count.)

    This function does not modify ``df``.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    features : list or str
        Feature columns (list, glob, or one array column).
    overwrite : bool

    Returns
    -------
    Same type as ``df``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from cleanframe.neighbors import find_null_issues
    >>> df = pd.DataFrame({"a": [1.0, np.nan, np.nan], "b": [2.0, 3.0, np.nan]})
    >>> find_null_issues(df, features=["a", "b"])["null_score"].tolist()
    [1.0, 0.5, 0.0]
    """
    fr = adapt(df)
    check_result_columns(fr, ["null_score", "is_null_issue"], overwrite=overwrite)
    scores, flags = null_arrays(resolve_features(fr, features, allow_missing=True))
    return fr.attach({"null_score": scores, "is_null_issue": flags}, overwrite=overwrite)
