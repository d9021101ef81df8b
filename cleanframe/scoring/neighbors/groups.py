"""Underperforming groups: clusters of the kNN graph (or given groups) whose mean label quality
is far below the others' (numpy; scikit-learn's DBSCAN imported when clustering).

Rows are grouped by DBSCAN on the kNN graph as a sparse precomputed distance matrix (each row's
stored neighbours are its only candidates; ``eps=0.5``, ``min_samples=5`` by default, as
cleanlab's Datalab), or by the caller's group ids. Rows in no cluster (``-1``) and clusters of
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
    distance matrix (stored distances of 0 kept).

    Examples
    --------
    >>> idx = np.array([[1], [0], [3], [2]])
    >>> dbscan_clusters(idx, np.array([[0.1], [0.1], [0.2], [0.2]]), min_samples=2).tolist()
    [0, 0, 1, 1]
    """
    from scipy.sparse import csr_matrix
    from sklearn.cluster import DBSCAN

    n, k = indices.shape
    graph = csr_matrix(
        (
            np.asarray(distances, dtype=np.float64).ravel().copy(),
            np.asarray(indices, dtype=np.int64).ravel().copy(),
            np.arange(0, n * k + 1, k),
        ),
        shape=(n, n),
    )
    return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(graph)


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
    for c in kept:
        rows = cluster_ids == c
        cluster_performance = own[rows].mean()
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
