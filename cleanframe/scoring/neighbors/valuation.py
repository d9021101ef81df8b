"""Data valuation: KNN-Shapley values from a kNN graph (numpy only, O(N k)).

The value of a row is its average contribution, over the rows whose ``k`` nearest neighbours it
is among, to a k-nearest-neighbour classifier that predicts each row's label from its
neighbours (Jia et al. 2019, "Efficient task-specific data valuation for nearest neighbor
algorithms", eqs. 18-19, with the dataset as its own test set and K* = K). For a row α with
neighbours ``n_0..n_{k-1}`` (nearest first) and ``m_j = [label(n_j) == label(α)]`` the
recursion ``s_{k-1} = 0``, ``s_j = s_{j+1} + m_j - m_{j+1}`` telescopes to
``s_j = m_j - m_{k-1}``; the value of row ``i`` is ``sum s / (N k)`` over the ``(α, j)`` with
``n_j = i``, reported as ``0.5 (value + 1)`` in [0, 1] (cleanlab's Datalab calibration: 0.5 is
"no effect", lower = harmful).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DATA_VALUATION_THRESHOLD", "knn_shapley"]

#: Rows whose score is below this are flagged (Datalab's default).
DATA_VALUATION_THRESHOLD = 0.5


def knn_shapley(indices: np.ndarray, labels: np.ndarray, *, k: int | None = None) -> dict:
    """KNN-Shapley scores of every row.

    Parameters
    ----------
    indices : ndarray of int (N, >= k)
        Each row's neighbours, nearest first (the row itself excluded). Not modified.
    labels : ndarray (N,)
        Label codes (or values compared with ``==``).
    k : int, optional
        Neighbours used (default: all columns of ``indices``).

    Returns
    -------
    dict with ``scores`` (N,) in [0, 1], ``value`` (N,) the raw mean contribution,
    ``neighbour_of`` (N,) how many rows have the row among their ``k`` neighbours, and
    ``same_label_of`` (N,) how many of those share its label.

    Examples
    --------
    >>> idx = np.array([[1, 2, 3, 4], [0, 2, 3, 4], [3, 1, 4, 0], [2, 4, 1, 0], [3, 2, 1, 0]])
    >>> knn_shapley(idx, np.array([0, 1, 0, 1, 0]), k=4)["scores"].round(3).tolist()
    [0.5, 0.45, 0.5, 0.45, 0.5]
    """
    indices = np.asarray(indices)
    labels = np.asarray(labels)
    n = len(labels)
    k = indices.shape[1] if k is None else int(k)
    idx = indices[:, :k]
    match = (labels[idx] == labels[:, None]).astype(np.float64)
    contribution = (match - match[:, k - 1 : k]) / k
    flat = idx.ravel()
    # summed row after row (bincount adds in input order), then / N: the reference's arithmetic
    # (a mean over axis 0), so values of exactly "no effect" stay 0.5 or fall just below alike
    value = np.bincount(flat, weights=contribution.ravel(), minlength=n) / n
    return {
        "scores": 0.5 * (value + 1.0),
        "value": value,
        "neighbour_of": np.bincount(flat, minlength=n),
        "same_label_of": np.bincount(flat, weights=match.ravel(), minlength=n).astype(np.int64),
    }
