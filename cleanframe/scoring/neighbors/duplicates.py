"""Near duplicates from a kNN graph, as Datalab's near_duplicate check defines them.

- score of a row: ``1 - exp(-d1 / m)`` with ``d1`` its distance to its nearest neighbour and
  ``m = max(median(d1), 1e-6)``; exactly 0 when ``d1`` is 0 (``np.isclose``). Lower = more
  duplicated.
- near-duplicate pairs: a row and each of its stored neighbours closer than ``threshold · m``,
  made symmetric. A row is a near duplicate when it has at least one such pair.
- sets: the connected groups of those pairs, numbered 0, 1, ... in order of their first row
  (``-1`` for rows in no set).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "NEAR_DUPLICATE_THRESHOLD",
    "near_duplicate_scores",
    "near_duplicate_pairs",
    "near_duplicate_set_ids",
    "near_duplicates",
]

NEAR_DUPLICATE_THRESHOLD = 0.13
_EPSILON = 1e-6


def near_duplicate_scores(nn_distances: np.ndarray) -> tuple[np.ndarray, float]:
    """Scores from each row's distance to its nearest neighbour, and the median used.

    Examples
    --------
    >>> s, m = near_duplicate_scores(np.array([0.0, 1.0, 2.0]))
    >>> np.round(s, 4).tolist(), m
    ([0.0, 0.6321, 0.8647], 1.0)
    """
    d = np.asarray(nn_distances, dtype=np.float64)
    median = float(max(np.median(d), _EPSILON))
    scores = 1 - np.exp(-d / median)
    scores[np.isclose(d, 0)] = 0.0
    return scores, median


def near_duplicate_pairs(indices: np.ndarray, distances: np.ndarray, radius: float):
    """The symmetric near-duplicate relation as a CSR adjacency (scipy), no self loops.

    Row ``i`` lists its own neighbours within ``radius`` (in graph order) followed by the rows
    that have ``i`` within radius but that ``i`` does not list (ascending), which is how
    Datalab's per-row ``near_duplicate_sets`` are built.
    """
    from scipy.sparse import csr_matrix

    n = len(indices)
    mask = np.asarray(distances) < radius
    rows = np.repeat(np.arange(n), mask.sum(axis=1))
    cols = np.asarray(indices)[mask]
    keep = rows != cols
    rows, cols = rows[keep], cols[keep]
    # forward edges (i -> j, in graph order) then reverse edges j -> i missing from j's own list
    fwd = rows.astype(np.int64) * n + cols
    rev = cols.astype(np.int64) * n + rows
    fwd_sorted = np.sort(fwd)
    pos = np.searchsorted(fwd_sorted, rev)
    present = (pos < len(fwd_sorted)) & (fwd_sorted[np.minimum(pos, len(fwd_sorted) - 1)] == rev)
    extra = np.unique(rev[~present])
    all_rows = np.concatenate([rows, extra // n])
    all_cols = np.concatenate([cols, extra % n])
    # order: by row, own neighbours first (graph order), then added ones (ascending)
    tag = np.concatenate([np.zeros(len(rows), np.int8), np.ones(len(extra), np.int8)])
    seq = np.arange(len(all_rows))
    order = np.lexsort((seq, tag, all_rows))
    all_rows, all_cols = all_rows[order], all_cols[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(all_rows, minlength=n), out=indptr[1:])
    return csr_matrix((np.ones(len(all_cols), dtype=np.int8), all_cols, indptr), shape=(n, n))


def near_duplicate_set_ids(adjacency) -> np.ndarray:
    """Connected groups of a symmetric adjacency: ids 0, 1, ... by first row; -1 if alone."""
    from scipy.sparse.csgraph import connected_components

    n = adjacency.shape[0]
    _, labels = connected_components(adjacency, directed=False)
    in_set = np.diff(adjacency.indptr) > 0
    ids = np.full(n, -1, dtype=np.int64)
    if in_set.any():
        comp = labels[in_set]
        # renumber by first appearance (row order)
        uniq, first = np.unique(comp, return_index=True)
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
        ids[in_set] = rank[np.searchsorted(uniq, comp)]
    return ids


def near_duplicates(
    indices: np.ndarray, distances: np.ndarray, *, threshold: float = NEAR_DUPLICATE_THRESHOLD
) -> dict:
    """Datalab's near_duplicate check on a kNN graph.

    Parameters
    ----------
    indices, distances : ndarray (N, k)
        A kNN graph, rows sorted by distance. Not modified.
    threshold : float
        Pairs closer than ``threshold · median nearest-neighbour distance`` are near duplicates
        (negative values are treated as 0).

    Returns
    -------
    dict with ``scores`` (N,), ``is_issue`` (N,) bool, ``set_ids`` (N,) int (-1 = none),
    ``adjacency`` (CSR, per-row near-duplicate lists), ``median`` and ``radius``.

    Examples
    --------
    >>> idx = np.array([[1], [0], [1], [2]])
    >>> dist = np.array([[0.0], [0.0], [1.0], [1.0]])
    >>> r = near_duplicates(idx, dist)
    >>> r["is_issue"].tolist(), r["set_ids"].tolist()
    ([True, True, False, False], [0, 0, -1, -1])
    """
    distances = np.asarray(distances, dtype=np.float64)
    threshold = max(0.0, float(threshold))
    scores, median = near_duplicate_scores(distances[:, 0])
    radius = threshold * median
    adjacency = near_duplicate_pairs(indices, distances, radius)
    set_ids = near_duplicate_set_ids(adjacency)
    return {
        "scores": scores,
        "is_issue": set_ids >= 0,
        "set_ids": set_ids,
        "adjacency": adjacency,
        "median": median,
        "radius": radius,
    }
