"""Underperforming groups: clusters of the kNN graph (or given groups) whose mean label quality
is far below the others' (numpy; scikit-learn's DBSCAN imported when clustering).

Rows are grouped by DBSCAN on the kNN graph as a sparse precomputed distance matrix (each row's
stored neighbours are its only candidates; ``eps=0.5``, ``min_samples=5`` by default, as
cleanlab's Datalab), or by the caller's group ids. The clustering is scikit-learn's DBSCAN
(``metric="precomputed"`` on the graph as a CSR matrix) computed directly on the graph's
``(N, k)`` arrays: a row's neighbourhood is itself and its stored neighbours within ``eps``, a
row with at least ``min_samples`` of them is a core row, and clusters grow by a depth-first
search from each unlabelled core row in row order, as scikit-learn's ``dbscan_inner`` (a
compiled loop, numba, imported on first use; the same labels). Graphs that scikit-learn
would treat differently (a row listing itself or a neighbour twice, non-finite distances) and
invalid parameters go to scikit-learn itself. Rows in no cluster (``-1``) and clusters of
fewer than ``min_cluster_samples`` rows are left out. A cluster's performance is the mean
self-confidence (predicted probability of the given label) of its rows; ``mean`` is that over
all rows of the kept clusters. Each kept cluster whose performance is below ``mean`` scores
``performance / mean`` on all its rows; every other row scores 1. The worst cluster is chosen
as Datalab chooses it: clusters in order of id, a cluster replaces the current worst when its
*raw* performance is below the current worst *ratio* (starting at 1); its rows are flagged when
its ratio is below ``threshold``. The dataset-level score is that worst ratio (1 when no cluster
is below the mean).
"""

from __future__ import annotations

from functools import cache
from numbers import Integral, Real

import numpy as np

__all__ = [
    "MIN_CLUSTER_SAMPLES",
    "UNDERPERFORMING_GROUP_THRESHOLD",
    "dbscan_clusters",
    "underperforming_groups",
]

UNDERPERFORMING_GROUP_THRESHOLD = 0.1
MIN_CLUSTER_SAMPLES = 5


def dbscan_clusters(
    indices: np.ndarray, distances: np.ndarray, *, eps: float = 0.5, min_samples: int = 5
) -> np.ndarray:
    """DBSCAN cluster ids (``-1`` = noise) of the rows of a kNN graph, as a sparse precomputed
    distance matrix (stored distances of 0 kept): scikit-learn's labels (see the module
    docstring).

    Examples
    --------
    >>> idx = np.array([[1], [0], [3], [2]])
    >>> dbscan_clusters(idx, np.array([[0.1], [0.1], [0.2], [0.2]]), min_samples=2).tolist()
    [0, 0, 1, 1]
    """
    idx = np.asarray(indices)
    dist = np.asarray(distances)
    n = len(idx)
    if not _plain_graph(idx, dist) or not _plain_parameters(eps, min_samples):
        return _sklearn_dbscan(idx, dist, eps=eps, min_samples=min_samples)
    within = dist <= eps
    # a row is its own neighbour (scikit-learn adds the diagonal as an explicit 0)
    core = within.sum(axis=1) + 1 >= min_samples
    labels = np.full(n, -1, dtype=np.intp)
    _compiled()(np.ascontiguousarray(idx, dtype=np.int64), within, core, labels)
    return labels


def _plain_graph(idx: np.ndarray, dist: np.ndarray) -> bool:
    """The graph is one that scikit-learn's DBSCAN reads as :func:`dbscan_clusters` does: 2-D,
    integer positions in range, no row listing itself or a neighbour twice, finite distances
    (anything else goes to scikit-learn, which sums repeated entries or raises)."""
    if idx.ndim != 2 or idx.shape != dist.shape or idx.dtype.kind not in "iu":
        return False
    n, k = idx.shape
    if not n or not k:
        return False
    if idx.min() < 0 or idx.max() >= n or not np.isfinite(dist).all():
        return False
    if (idx == np.arange(n)[:, None]).any():
        return False
    ordered = np.sort(idx, axis=1)
    return not (ordered[:, 1:] == ordered[:, :-1]).any()


def _plain_parameters(eps: object, min_samples: object) -> bool:
    """Parameters scikit-learn accepts (``eps > 0``, integer ``min_samples >= 1``); others go
    to scikit-learn, which raises its own error."""
    return (
        isinstance(eps, Real)
        and not isinstance(eps, bool)
        and float(eps) > 0
        and isinstance(min_samples, Integral)
        and not isinstance(min_samples, bool)
        and int(min_samples) >= 1
    )


def _sklearn_dbscan(
    idx: np.ndarray, dist: np.ndarray, *, eps: float, min_samples: int
) -> np.ndarray:
    """scikit-learn's DBSCAN on the graph as a CSR matrix."""
    from scipy.sparse import csr_matrix
    from sklearn.cluster import DBSCAN

    n, k = idx.shape
    graph = csr_matrix(
        (
            np.asarray(dist, dtype=np.float64).ravel().copy(),
            np.asarray(idx, dtype=np.int64).ravel().copy(),
            np.arange(0, n * k + 1, k),
        ),
        shape=(n, n),
    )
    return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(graph)


def _dbscan_py(
    indices: np.ndarray, within: np.ndarray, core: np.ndarray, labels: np.ndarray
) -> None:
    """scikit-learn's ``dbscan_inner`` on the graph's arrays: from each unlabelled core row in
    row order, a depth-first search labels every unlabelled row it reaches through core rows
    (a non-core row is labelled but not expanded). ``labels`` (all -1) is filled in place."""
    n, k = indices.shape
    stack = np.empty(n * k + 1, dtype=np.int64)  # each row is expanded at most once
    cluster = 0
    for seed in range(n):
        if labels[seed] != -1 or not core[seed]:
            continue
        top = 0
        i = seed
        while True:
            if labels[i] == -1:
                labels[i] = cluster
                if core[i]:
                    for j in range(k):
                        if within[i, j]:
                            v = indices[i, j]
                            if labels[v] == -1:
                                stack[top] = v
                                top += 1
            if top == 0:
                break
            top -= 1
            i = stack[top]
        cluster += 1


@cache
def _compiled():
    import numba

    return numba.njit(cache=True, nogil=True)(_dbscan_py)


def underperforming_groups(
    cluster_ids: np.ndarray,
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    threshold: float = UNDERPERFORMING_GROUP_THRESHOLD,
    min_cluster_samples: int = MIN_CLUSTER_SAMPLES,
) -> dict:
    """Scores and flags of the underperforming group check.

    Parameters
    ----------
    cluster_ids : ndarray of int (N,)
        ``-1`` for rows in no cluster. Not modified.
    labels : ndarray of int (N,)
    pred_probs : ndarray (N, K)
    threshold, min_cluster_samples : see the module docstring.

    Returns
    -------
    dict with ``scores``, ``is_issue``, ``score`` (the worst ratio), ``worst_cluster`` (id, or
    None when no cluster is flagged), ``lowest_cluster`` (the cluster the worst ratio belongs to,
    flagged or not), ``clusters`` (the kept ids), ``performance`` (id → mean
    self-confidence), ``mean_performance`` (NaN when no cluster is kept) and ``sizes`` (id →
    rows).

    Examples
    --------
    >>> ids = np.array([0] * 5 + [1] * 5)
    >>> P = np.array([[0.9, 0.1]] * 5 + [[0.95, 0.05]] * 5)
    >>> r = underperforming_groups(ids, np.array([0] * 5 + [1] * 5), P)
    >>> r["lowest_cluster"], round(r["score"], 4), r["worst_cluster"], int(r["is_issue"].sum())
    (1, 0.1053, None, 0)
    """
    cluster_ids = np.asarray(cluster_ids, dtype=np.int64)
    n = len(cluster_ids)
    own = np.asarray(pred_probs)[np.arange(n), np.asarray(labels)]
    member = cluster_ids >= 0
    sizes_all = np.bincount(cluster_ids[member]) if member.any() else np.zeros(0, dtype=np.int64)
    kept = np.flatnonzero(sizes_all >= min_cluster_samples)
    scores = np.ones(n, dtype=np.float64)
    performance: dict[int, float] = {}
    out: dict = {
        "scores": scores,
        "is_issue": np.zeros(n, dtype=bool),
        "score": 1.0,
        "worst_cluster": None,
        "lowest_cluster": None,
        "clusters": kept,
        "performance": performance,
        "mean_performance": float("nan"),
        "sizes": {int(c): int(sizes_all[c]) for c in kept},
    }
    if not len(kept):
        return out
    in_kept = np.isin(cluster_ids, kept)
    mean = own[in_kept].mean()
    worst_ratio, worst = 1.0, None
    # each cluster's rows in row order, by one stable sort (not one pass over N per cluster):
    # the same values in the same order, so the same means
    order = np.argsort(cluster_ids, kind="stable")
    starts = np.searchsorted(cluster_ids[order], kept)
    ordered_own = own[order]
    for c, start in zip(kept.tolist(), starts.tolist()):
        stop = start + int(sizes_all[c])
        rows = order[start:stop]
        cluster_performance = ordered_own[start:stop].mean()
        performance[int(c)] = float(cluster_performance)
        if cluster_performance < mean:
            ratio = cluster_performance / mean
            scores[rows] = ratio
            if (
                cluster_performance < worst_ratio
            ):  # raw performance against the worst ratio (Datalab)
                worst_ratio, worst = float(ratio), int(c)
    out["mean_performance"] = float(mean)
    out["score"] = float(worst_ratio)
    out["lowest_cluster"] = worst
    if worst is not None and worst_ratio < threshold:
        out["worst_cluster"] = worst
        out["is_issue"] = cluster_ids == worst
    return out
