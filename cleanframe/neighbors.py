"""Embedding-space checks: outliers, near duplicates, non-IID data, class imbalance, nulls.

Every function takes the frame first and keyword-only arguments after it, accepts a pandas
DataFrame, a polars DataFrame or a polars LazyFrame, returns results in the caller's frame type and
never modifies its input.

One nearest-neighbour graph serves every check that needs it. Build it once with
:func:`knn_graph` and pass it as ``knn_graph=`` to several calls (or ask a call for the graph it
built with ``return_knn_graph=True``). Up to 20,000 rows the search is exact (blocked float32
matrix products); above that it is approximate — k-means cells searched by matrix products among
their nearest cells, recall@10 about 0.99 on clustered embeddings — and a warning says so
(``approximate=False`` forces exact search; ``approximate="faiss"`` uses faiss' IVF index). Distances are cosine for more than 3 feature columns
and euclidean otherwise, as in cleanlab; identical rows are made each other's nearest neighbours
at distance 0 (cleanlab's exact-duplicate correction).

Engine support: pandas, polars and polars LazyFrame (a LazyFrame collects only the columns the call
reads; row-level results come back as a LazyFrame). Eager only: the neighbour search needs all
rows in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ._engines import adapt
from ._progress import progress_callback
from ._inputs import resolve_classification, resolve_features, resolve_labels, resolve_pred_probs
from ._typing import FrameT
from .errors import ValidationError
from .scoring.neighbors import knn as _knn
from .scoring.neighbors import outlier as _outlier
from .scoring.neighbors.knn import ApproximateNeighborsWarning, KnnGraph

__all__ = [
    "ApproximateNeighborsWarning",
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


def _spec_name(spec: Any) -> str | None:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, (list, tuple)) and spec:
        return ", ".join(map(str, spec[:3])) + (", ..." if len(spec) > 3 else "")
    return None


def _features(fr, features) -> np.ndarray:
    X = resolve_features(fr, features)
    if len(X) < 2:
        raise ValidationError(
            _spec_name(features), "at_least_2_rows",
            f"a neighbour graph needs at least 2 rows, the frame has {len(X)}",
        )
    if X.shape[1] == 0:
        raise ValidationError(_spec_name(features), "not_empty", "features= selects no values")
    return X


def _check_k(k, n, spec) -> None:
    if k is not None and not 1 <= int(k) < n:
        raise ValidationError(
            _spec_name(spec), "k_less_than_rows",
            f"k={k} must be at least 1 and less than the number of rows ({n})",
        )


def _check_metric(metric, spec) -> None:
    if metric is not None and metric not in _knn.METRICS:
        raise ValidationError(_spec_name(spec), "metric", f"metric must be one of {_knn.METRICS}, not {metric!r}")


def _build_graph(X, *, features, k, metric, approximate, seed, progress, correct_exact_duplicates=True):
    _check_k(k, len(X), features)
    _check_metric(metric, features)
    return _knn.build_knn_graph(
        X, k=k, metric=metric, approximate=approximate, seed=seed, progress=progress_callback(progress),
        correct_exact_duplicates=correct_exact_duplicates,
    )


def _graph_for(fr, *, features, knn_graph, k, metric, approximate, seed, progress) -> KnnGraph:
    """The caller's graph (checked against the frame) or one built from ``features``."""
    if knn_graph is not None:
        if not isinstance(knn_graph, KnnGraph):
            if hasattr(knn_graph, "tocsr"):
                knn_graph = KnnGraph.from_csr(knn_graph, metric=metric)
            else:
                raise ValidationError(
                    "knn_graph", "type",
                    f"knn_graph= must be a KnnGraph (from cleanframe.knn_graph) or a scipy CSR "
                    f"matrix, not {type(knn_graph).__name__}",
                )
        if knn_graph.n != fr.height:
            raise ValidationError(
                "knn_graph", "same_rows",
                f"knn_graph= has {knn_graph.n} rows but the frame has {fr.height}; a graph can "
                f"only be reused on the frame it was built from",
            )
        if k is not None and k > knn_graph.k:
            raise ValidationError(
                "knn_graph", "enough_neighbours",
                f"k={k} but knn_graph= stores only {knn_graph.k} neighbours per row",
            )
        return knn_graph
    if features is None:
        raise ValidationError(None, "required", "pass features= (embedding columns) or knn_graph=")
    X = _features(fr, features)
    return _build_graph(X, features=features, k=k, metric=metric, approximate=approximate,
                        seed=seed, progress=progress)


def _maybe_with_graph(result, graph, return_knn_graph):
    return (result, graph) if return_knn_graph else result


# ------------------------------------------------------------------------------------------
# the graph
# ------------------------------------------------------------------------------------------
def knn_graph(
    df: Any,
    *,
    features: Any,
    k: int | None = None,
    metric: str | None = None,
    approximate: bool | str | None = None,
    correct_exact_duplicates: bool = True,
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
        Default: exact up to 20,000 rows, approximate above (cleanframe's k-means cluster join;
        ``"faiss"`` for faiss' IVF index, if installed).
    correct_exact_duplicates : bool
        Make identical rows each other's nearest neighbours at distance 0 (as cleanlab).
    seed : int
        Seed of the approximate index's training.
    progress : bool
        Show progress bars on long searches.

    Returns
    -------
    KnnGraph
        ``indices`` and ``distances`` (N × k, nearest first, the row itself excluded),
        ``metric``, ``k``; ``to_csr()`` gives cleanlab's sparse format.

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
    X = _features(fr, features)
    return _build_graph(X, features=features, k=k, metric=metric, approximate=approximate,
                        seed=seed, progress=progress, correct_exact_duplicates=correct_exact_duplicates)


# ------------------------------------------------------------------------------------------
# outliers
# ------------------------------------------------------------------------------------------
OUTLIER_COLUMNS = ("outlier_score", "is_outlier")


def find_outliers(
    df: FrameT,
    *,
    features: Any = None,
    pred_probs: Any = None,
    label: str | None = None,
    classes: Sequence | None = None,
    knn_graph: KnnGraph | None = None,
    k: int | None = None,
    t: float = 1,
    threshold: float | None = None,
    metric: str | None = None,
    approximate: bool | str | None = None,
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
    k : int, optional
        Neighbours averaged. Default: 10 when the graph is built here (``min(10, N-1)``), all
        stored neighbours of a given ``knn_graph`` (as Datalab).
    t : float
        Sharpness of the distance-to-score transform.
    threshold : float, optional
        Datalab's threshold (0.37037 for features, 0.13 for pred_probs).
    metric : {"cosine", "euclidean"}, optional
        Distance for a graph built here.
    approximate : bool, optional
        Approximate search (see :func:`knn_graph`).
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
    if (features is None and knn_graph is None) == (pred_probs is None):
        raise ValidationError(
            None, "one_source",
            "pass either features= (or knn_graph=) or pred_probs=, not both and not neither",
        )
    fr.check_new_columns(list(OUTLIER_COLUMNS), overwrite=overwrite)
    graph = None
    if pred_probs is not None:
        scores, flags = _pred_probs_outliers(
            fr, pred_probs=pred_probs, label=label, classes=classes, threshold=threshold,
            method=method, adjust_pred_probs=adjust_pred_probs, M=M, gamma=gamma,
        )
    else:
        graph = _graph_for(fr, features=features, knn_graph=knn_graph, k=k, metric=metric,
                           approximate=approximate, seed=seed, progress=progress)
        use_k = k if k is not None else graph.k
        scores, avg, _ = _outlier.knn_outlier_scores(graph.distances, k=use_k, t=t, metric=graph.metric)
        cut = _outlier.distance_issue_threshold(
            avg, _outlier.FEATURE_THRESHOLD if threshold is None else threshold)
        flags = avg > cut
    out = fr.attach({"outlier_score": scores, "is_outlier": flags}, overwrite=overwrite)
    return _maybe_with_graph(out, graph, return_knn_graph)


def _read_pred_probs(fr, *, pred_probs, label, classes, adjust_pred_probs):
    """(pred_probs matrix, label codes or None, ClassSet); labels are required when adjusting."""
    if not adjust_pred_probs:
        P, cs = resolve_pred_probs(fr, pred_probs, classes=classes)
        return P, None, cs
    if label is None:
        raise ValidationError(
            _spec_name(pred_probs), "label_required",
            "the pred_probs path adjusts probabilities by class thresholds, which needs "
            "label=; pass label= or adjust_pred_probs=False",
        )
    c = resolve_classification(fr, label=label, pred_probs=pred_probs, classes=classes)
    return c.pred_probs, c.labels, c.classes


def _pred_probs_outliers(fr, *, pred_probs, label, classes, threshold, method, adjust_pred_probs, M, gamma):
    P, codes, _ = _read_pred_probs(fr, pred_probs=pred_probs, label=label, classes=classes,
                                   adjust_pred_probs=adjust_pred_probs)
    scores, _ = _outlier.ood_pred_probs_scores(
        P, labels=codes, adjust_pred_probs=adjust_pred_probs, method=method, M=M, gamma=gamma)
    cut = _outlier.pred_probs_issue_threshold(
        scores, _outlier.PRED_PROBS_THRESHOLD if threshold is None else threshold)
    return scores, scores < cut


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
        Neighbours (default ``min(10, N - 1)`` of the reference rows).
    t : float
    threshold : float, optional
        As in :func:`find_outliers`.
    metric, approximate, seed, progress
        Neighbour search options (see :func:`knn_graph`).
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

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from cleanframe import OutlierDetector
    >>> rng = np.random.default_rng(0)
    >>> train = pd.DataFrame(rng.normal(size=(300, 5)), columns=list("abcde"))
    >>> new = pd.DataFrame(np.vstack([rng.normal(size=(2, 5)), np.full((1, 5), 8.0)]), columns=list("abcde"))
    >>> det = OutlierDetector(metric="euclidean").fit(train, features=list("abcde"))
    >>> det.score(new)["is_outlier"].tolist()
    [False, False, True]
    """

    def __init__(
        self,
        *,
        k: int | None = None,
        t: float = 1,
        threshold: float | None = None,
        metric: str | None = None,
        approximate: bool | str | None = None,
        method: str = "entropy",
        adjust_pred_probs: bool = True,
        M: int = 100,
        gamma: float = 0.1,
        seed: int = 0,
        progress: bool = True,
    ):
        self.k, self.t, self.threshold = k, t, threshold
        self.metric, self.approximate, self.seed, self.progress = metric, approximate, seed, progress
        self.method, self.adjust_pred_probs, self.M, self.gamma = method, adjust_pred_probs, M, gamma
        self.source_ = None

    def __repr__(self) -> str:
        state = f"fitted on {self.source_}" if self.source_ else "not fitted"
        return f"OutlierDetector(k={self.k}, t={self.t}, {state})"

    def fit(self, df: Any, *, features: Any = None, pred_probs: Any = None, label: str | None = None,
            classes: Sequence | None = None) -> "OutlierDetector":
        """Fit on the reference rows of ``df`` (not modified). Returns ``self``."""
        fr = adapt(df)
        if (features is None) == (pred_probs is None):
            raise ValidationError(None, "one_source", "pass either features= or pred_probs= to fit")
        if features is not None:
            X = _features(fr, features)
            _check_k(self.k, len(X), features)
            _check_metric(self.metric, features)
            k = _knn.resolve_k(len(X), self.k)
            index = _knn.KnnIndex(X, metric=self.metric, approximate=self.approximate,
                                  seed=self.seed, progress=progress_callback(self.progress))
            graph = _knn.build_knn_graph(X, k=k, index=index)
            scores, avg, scale = _outlier.knn_outlier_scores(graph.distances, t=self.t, metric=index.metric)
            self.index_, self.k_, self.metric_ = index, k, index.metric
            self.scaling_factor_ = scale
            self._fit_avg = avg
            self.issue_threshold_ = _outlier.distance_issue_threshold(
                avg, _outlier.FEATURE_THRESHOLD if self.threshold is None else self.threshold)
            self.features_spec_, self.n_features_ = features, X.shape[1]
            self.source_ = "features"
        else:
            P, codes, cs = _read_pred_probs(fr, pred_probs=pred_probs, label=label, classes=classes,
                                            adjust_pred_probs=self.adjust_pred_probs)
            scores, thresholds = _outlier.ood_pred_probs_scores(
                P, labels=codes, adjust_pred_probs=self.adjust_pred_probs, method=self.method,
                M=self.M, gamma=self.gamma)
            self.confident_thresholds_ = thresholds
            self.issue_threshold_ = _outlier.pred_probs_issue_threshold(
                scores, _outlier.PRED_PROBS_THRESHOLD if self.threshold is None else self.threshold)
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
        fr.check_new_columns(list(OUTLIER_COLUMNS), overwrite=overwrite)
        if self.source_ == "features":
            X = resolve_features(fr, self.features_spec_)
            if X.shape[1] != self.n_features_:
                raise ValidationError(
                    _spec_name(self.features_spec_), "same_width",
                    f"features have {X.shape[1]} values per row, the detector was fit on {self.n_features_}")
            _, dist = self.index_.query(X, self.k_)
            scores, avg, _ = _outlier.knn_outlier_scores(
                dist, t=self.t, scaling=self.scaling_factor_, metric=self.metric_)
            flags = avg > self.issue_threshold_
        else:
            P, _ = resolve_pred_probs(fr, self.pred_probs_spec_, classes=self.classes_)
            scores, _ = _outlier.ood_pred_probs_scores(
                P, confident_thresholds=self.confident_thresholds_,
                adjust_pred_probs=self.adjust_pred_probs, method=self.method, M=self.M, gamma=self.gamma)
            flags = scores < self.issue_threshold_
        return fr.attach({"outlier_score": scores, "is_outlier": flags}, overwrite=overwrite)

    def fit_score(self, df: FrameT, *, features: Any = None, pred_probs: Any = None,
                  label: str | None = None, classes: Sequence | None = None,
                  overwrite: bool = False) -> FrameT:
        """Fit on ``df`` and return its own scores (each row excluded from its own neighbours,
        exact duplicates corrected — as :func:`find_outliers`)."""
        fr = adapt(df)
        fr.check_new_columns(list(OUTLIER_COLUMNS), overwrite=overwrite)
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
    features: Any = None,
    knn_graph: KnnGraph | None = None,
    k: int | None = None,
    threshold: float = 0.13,
    metric: str | None = None,
    approximate: bool | str | None = None,
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
    from .scoring.neighbors.duplicates import near_duplicates

    fr = adapt(df)
    fr.check_new_columns(list(NEAR_DUPLICATE_COLUMNS), overwrite=overwrite)
    graph = _graph_for(fr, features=features, knn_graph=knn_graph, k=k, metric=metric,
                       approximate=approximate, seed=seed, progress=progress)
    use = graph.head(k) if k is not None else graph
    r = near_duplicates(use.indices, use.distances, threshold=threshold)
    out = fr.attach({
        "near_duplicate_score": r["scores"],
        "is_near_duplicate": r["is_issue"],
        "near_duplicate_set": r["set_ids"],
    }, overwrite=overwrite)
    return _maybe_with_graph(out, graph, return_knn_graph)


# ------------------------------------------------------------------------------------------
# non-IID
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NonIIDResult:
    """Result of :func:`non_iid`.

    Attributes
    ----------
    p_value : float
        Probability, under shuffled (IID) row order, of neighbours at least this unusually close
        in row position. Small (< ``significance_threshold``) = the data is not IID: its row order
        carries information (drift, sorting, sessions...).
    statistic : float
        The Kolmogorov–Smirnov statistic behind the p-value.
    is_non_iid : bool
        ``p_value < significance_threshold``.
    significance_threshold : float
    rows : frame
        The input's rows plus ``non_iid_score`` (lower = the row's neighbours are unusually near
        it in row order) and ``is_non_iid_issue`` (only the lowest-scoring row, and only when
        ``is_non_iid``).
    knn_graph : KnnGraph
        The graph used.
    """

    p_value: float
    statistic: float
    is_non_iid: bool
    significance_threshold: float
    rows: Any
    knn_graph: KnnGraph

    def explain(self) -> str:
        """A plain-language reading of the result."""
        verdict = (
            "NOT IID: rows that are close in the embedding space sit unusually close in row order "
            "(drift, sorted data, or grouped collection). Shuffle before splitting train/test, "
            "and look at the lowest non_iid_score rows."
            if self.is_non_iid
            else "consistent with IID: the row order does not predict neighbours in the embedding space."
        )
        return (
            f"non-IID test: p-value = {self.p_value:.4g} "
            f"(threshold {self.significance_threshold:g}, KS statistic {self.statistic:.4g}) -> {verdict}"
        )

    def __repr__(self) -> str:
        return f"NonIIDResult(p_value={self.p_value:.4g}, is_non_iid={self.is_non_iid}, n={self.knn_graph.n})"

    def _repr_html_(self) -> str:
        import html

        return f"<p><b>NonIIDResult</b>: {html.escape(self.explain())}</p>"


def non_iid(
    df: Any,
    *,
    features: Any = None,
    pred_probs: Any = None,
    knn_graph: KnnGraph | None = None,
    k: int | None = None,
    num_permutations: int = 25,
    seed: int | None = 0,
    significance_threshold: float = 0.05,
    metric: str | None = None,
    approximate: bool | str | None = None,
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
    from .scoring.neighbors.noniid import non_iid as _non_iid

    fr = adapt(df)
    fr.check_new_columns(["non_iid_score", "is_non_iid_issue"], overwrite=overwrite)
    if knn_graph is None and features is None and pred_probs is not None:
        P, _ = resolve_pred_probs(fr, pred_probs)
        if len(P) < 2:
            raise ValidationError(_spec_name(pred_probs), "at_least_2_rows", "non_iid needs at least 2 rows")
        graph = _build_graph(P, features=pred_probs, k=k, metric=metric, approximate=approximate,
                             seed=0, progress=progress)
    else:
        graph = _graph_for(fr, features=features, knn_graph=knn_graph, k=k, metric=metric,
                           approximate=approximate, seed=0, progress=progress)
    r = _non_iid(graph.indices, num_permutations=num_permutations, seed=seed,
                 significance_threshold=significance_threshold)
    rows = fr.attach({"non_iid_score": r["scores"], "is_non_iid_issue": r["is_issue"]}, overwrite=overwrite)
    return NonIIDResult(
        p_value=r["p_value"], statistic=r["statistic"],
        is_non_iid=bool(r["p_value"] < significance_threshold),
        significance_threshold=significance_threshold, rows=rows, knn_graph=graph,
    )


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

    With K classes and the rarest class ``c`` at frequency ``f`` (ties: the first class in class
    order — sorted values, or a categorical's own order), rows of ``c`` get
    ``class_imbalance_score = f`` and every other row 1; rows of ``c`` are flagged
    (``is_class_imbalance_issue``) when ``f < threshold / K``. Classes listed in ``classes=`` but
    absent from the column count as frequency 0.

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
    from .scoring.neighbors.datalab_checks import class_imbalance as _imbalance

    fr = adapt(df)
    fr.check_new_columns(["class_imbalance_score", "is_class_imbalance_issue"], overwrite=overwrite)
    codes, cs = resolve_labels(fr, label, classes=classes)
    r = _imbalance(codes, len(cs), threshold=threshold)
    return fr.attach({"class_imbalance_score": r["scores"], "is_class_imbalance_issue": r["is_issue"]},
                     overwrite=overwrite)


def find_null_issues(df: FrameT, *, features: Any, overwrite: bool = False) -> FrameT:
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
    from .scoring.neighbors.datalab_checks import null_scores

    fr = adapt(df)
    fr.check_new_columns(["null_score", "is_null_issue"], overwrite=overwrite)
    X = resolve_features(fr, features, allow_missing=True)
    r = null_scores(np.isnan(X))
    return fr.attach({"null_score": r["scores"], "is_null_issue": r["is_issue"]}, overwrite=overwrite)
