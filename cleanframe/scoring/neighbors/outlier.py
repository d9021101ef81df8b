"""Outlier scores: from a kNN graph (average distance to the neighbours) or from pred_probs
(out-of-distribution scores), as cleanlab 2.9's ``OutOfDistribution`` and Datalab's outlier check
define them. Scores lie in [0, 1]; lower = more atypical.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..parallel import row_blocks

__all__ = [
    "FEATURE_THRESHOLD",
    "PRED_PROBS_THRESHOLD",
    "OOD_METHODS",
    "scaling_factor",
    "transform_distances_to_scores",
    "correct_precision_errors",
    "knn_outlier_scores",
    "distance_issue_threshold",
    "ood_pred_probs_scores",
    "pred_probs_issue_threshold",
]

#: Datalab's default ``threshold`` for the features path: flag avg distance > Q3 + (1/t - 1)·IQR.
FEATURE_THRESHOLD = 0.37037
#: Datalab's default ``threshold`` for the pred_probs path: flag score < t · median(score).
PRED_PROBS_THRESHOLD = 0.13
OOD_METHODS = ("entropy", "least_confidence", "gen")
_EPSILON = 1e-6


def scaling_factor(avg_distances: np.ndarray) -> float:
    """``max(median(avg), 100·eps)``: the distance scale stored at fit time."""
    return float(max(np.median(avg_distances), 100 * np.finfo(np.float64).eps))


def transform_distances_to_scores(
    avg_distances: np.ndarray, t: float, scaling: float
) -> np.ndarray:
    """``exp(-t · avg / max(scaling, 1e-6))`` (a new array)."""
    return np.exp(-t * np.asarray(avg_distances, dtype=np.float64) / max(scaling, _EPSILON))


def correct_precision_errors(
    scores: np.ndarray, avg_distances: np.ndarray, metric: str | None
) -> np.ndarray:
    """Scores of rows whose average distance is below the metric's rounding level set to 1.

    The level is ``100·epsneg`` for cosine and ``sqrt(100·eps)`` for euclidean; other metrics
    (or none) are left alone. Returns a new array.
    """
    if metric == "cosine":
        tol = 100 * np.finfo(np.float64).epsneg
    elif metric == "euclidean":
        tol = np.sqrt(100 * np.finfo(np.float64).eps)
    else:
        return np.array(scores, dtype=np.float64)
    return np.where(np.asarray(avg_distances) < tol, 1.0, scores)


def knn_outlier_scores(
    distances: np.ndarray,
    *,
    k: int | None = None,
    t: float = 1,
    scaling: float | None = None,
    metric: str | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Outlier score of each row from its neighbour distances.

    Parameters
    ----------
    distances : ndarray (N, k_stored)
        Distances to each row's neighbours, ascending. Not modified.
    k : int, optional
        Use the first ``k`` neighbours (default: all stored ones, as Datalab does).
    t : float
        Sharpness of the transform ``exp(-t · avg / scaling)``.
    scaling : float, optional
        The distance scale; default the median average distance (fit on these rows).
    metric : str, optional
        ``"cosine"`` / ``"euclidean"`` enable the precision snap (score 1 at distance ≈ 0).

    Returns
    -------
    scores : ndarray (N,)
    avg_distances : ndarray (N,)
    scaling : float

    Examples
    --------
    >>> d = np.array([[1.0, 1.0], [1.0, 3.0], [0.0, 0.0]])
    >>> s, avg, scale = knn_outlier_scores(d, metric="euclidean")
    >>> np.round(s, 4).tolist(), scale
    ([0.3679, 0.1353, 1.0], 1.0)
    """
    distances = np.asarray(distances, dtype=np.float64)
    if k is not None:
        if not 1 <= k <= distances.shape[1]:
            raise ValueError(f"k must be between 1 and {distances.shape[1]}, got {k}")
        distances = distances[:, :k]
    avg = distances.mean(axis=1)
    if scaling is None:
        scaling = scaling_factor(avg)
    scores = transform_distances_to_scores(avg, t, scaling)
    return correct_precision_errors(scores, avg, metric), avg, float(scaling)


def distance_issue_threshold(
    avg_distances: np.ndarray, threshold: float = FEATURE_THRESHOLD
) -> float:
    """Average distance above which a row is an outlier: ``Q3 + (1/threshold - 1) · IQR``.

    ``threshold`` is in [0, 1]; 0 flags nothing (an infinite cut-off).
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number between 0 and 1, got {threshold}")
    q1, q3 = np.percentile(avg_distances, [25, 75])
    scale = 1 / threshold - 1 if threshold != 0 else np.inf
    return float(q3 + scale * (q3 - q1))


def pred_probs_issue_threshold(
    scores: np.ndarray, threshold: float = PRED_PROBS_THRESHOLD
) -> float:
    """Score below which a row is an outlier on the pred_probs path: ``threshold · median``."""
    if threshold < 0:
        raise ValueError(f"threshold must be non-negative, got {threshold}")
    return float(threshold * np.median(scores))


def _softmax_rows(x: np.ndarray) -> np.ndarray:
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def ood_pred_probs_scores(
    pred_probs: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    confident_thresholds: np.ndarray | None = None,
    adjust_pred_probs: bool = True,
    method: str = "entropy",
    M: int = 100,
    gamma: float = 0.1,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Out-of-distribution scores from predicted probabilities (cleanlab's OutOfDistribution).

    Parameters
    ----------
    pred_probs : ndarray (N, K)
        Not modified.
    labels : ndarray of int (N,), optional
        Needed to compute the class thresholds when ``adjust_pred_probs`` and no
        ``confident_thresholds`` are given.
    confident_thresholds : ndarray (K,), optional
        Thresholds from a previous fit.
    adjust_pred_probs : bool
        Subtract the class thresholds and renormalise before scoring.
    method : {"entropy", "least_confidence", "gen"}
        ``1 - normalized entropy``, ``max p``, or GEN on the softmax of ``p``.
    M, gamma : GEN's number of top classes and exponent.

    Returns
    -------
    scores : ndarray (N,)
    confident_thresholds : ndarray (K,) or None
        The thresholds used (None when ``adjust_pred_probs`` is False).

    Examples
    --------
    >>> p = np.array([[0.9, 0.1], [0.5, 0.5]])
    >>> s, _ = ood_pred_probs_scores(p, adjust_pred_probs=False)
    >>> np.round(s, 4).tolist()
    [0.531, 0.0]
    """
    if method not in OOD_METHODS:
        raise ValueError(f"method must be one of {OOD_METHODS}, not {method!r}")
    P = np.asarray(pred_probs)
    if adjust_pred_probs:
        if confident_thresholds is None:
            if labels is None:
                raise ValueError(
                    "adjust_pred_probs=True needs labels (or fitted confident_thresholds)"
                )
            from ..classification.count import get_confident_thresholds

            confident_thresholds = get_confident_thresholds(np.asarray(labels), P)
        confident_thresholds = np.asarray(confident_thresholds, dtype=np.float64)
        from ..classification.rank import subtract_confident_thresholds

        P = subtract_confident_thresholds(P, confident_thresholds)
    else:
        confident_thresholds = None
    n, k = P.shape
    if method == "entropy":
        from ..classification.rank import get_normalized_entropy

        if (P < 0).any() or (P > 1).any():
            raise ValueError("probabilities must lie in [0, 1] for the entropy score")
        return 1.0 - get_normalized_entropy(P), confident_thresholds
    if method == "least_confidence":
        return P.max(axis=1).astype(np.float64), confident_thresholds
    if k < M:
        warnings.warn(
            f"GEN is meant for at least M={M} classes; this data has {k}. Adjust M.",
            UserWarning,
            stacklevel=2,
        )
    out = np.empty(n, dtype=np.float64)
    for block in row_blocks(n, k):
        q = np.sort(_softmax_rows(P[block]), axis=1)[:, -M:]
        out[block] = 1 - np.sum(q**gamma * (1 - q) ** gamma, axis=1) / M
    return out, confident_thresholds
