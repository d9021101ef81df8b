"""Multi-label label quality: per-class binary scores and their aggregation per row.

Class k of row i is scored as a binary label (carries k or not) with probabilities
``[1 - p_ik, p_ik]`` by the single-label methods (self-confidence, normalised margin,
confidence-weighted entropy, optionally on threshold-adjusted probabilities); the K scores of a
row are aggregated by an exponential moving average over the scores sorted from best to worst
(so the worst classes weigh most) or by a softmin.
"""

from __future__ import annotations

import numpy as np

from .._common import CLIPPING_LOWER_BOUND, CONFIDENT_THRESHOLDS_LOWER_BOUND

__all__ = [
    "RANK_METHODS",
    "binary_thresholds",
    "class_label_quality_scores",
    "exponential_moving_average",
    "softmin",
    "label_quality_scores",
]

RANK_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
#: Softmax temperatures below this are raised to it (the reference's EPSILON).
_MIN_TEMPERATURE = 1e-6


def binary_thresholds(labels_t: np.ndarray, probs_t: np.ndarray, comp_t: np.ndarray) -> np.ndarray:
    """(K, 2) confident thresholds of the K binary problems: column 0 the mean of ``1 - p_k``
    over rows without k, column 1 the mean of ``p_k`` over rows with k (2.0 when there are no
    such rows), clipped below at 2e-6. Arguments are class-major (K, N)."""
    k = labels_t.shape[0]
    out = np.empty((k, 2), dtype=np.float64)
    for j in range(k):  # np.mean of each gathered column: the reference's summation order
        y = labels_t[j]
        has = probs_t[j][y]
        hasnt = comp_t[j][~y]
        out[j, 0] = np.mean(hasnt) if len(hasnt) else 2.0
        out[j, 1] = np.mean(has) if len(has) else 2.0
    return np.maximum(out, CONFIDENT_THRESHOLDS_LOWER_BOUND)


def _adjusted(labels_t, probs_t, comp_t):
    """Probabilities less each binary problem's thresholds plus their max, renormalised."""
    t = binary_thresholds(labels_t, probs_t, comp_t)
    top = t.max(axis=1)[:, None]
    a0 = comp_t - t[:, :1]
    a0 += top
    a1 = probs_t - t[:, 1:]
    a1 += top
    total = a0 + a1
    return a1 / total, a0 / total


def class_label_quality_scores(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    method: str = "self_confidence",
    adjust_pred_probs: bool = False,
    problems=None,
) -> np.ndarray:
    """(N, K) label quality of each (row, class) binary label, in [0, 1], lower = worse.

    ``problems``: the call's class-major arrays (``filter.Problems``), to reuse them."""
    scores_t = _class_scores_t(
        labels, pred_probs, method=method, adjust_pred_probs=adjust_pred_probs, problems=problems
    )
    return np.ascontiguousarray(scores_t.T)


def _class_scores_t(labels, pred_probs, *, method, adjust_pred_probs, problems):
    """:func:`class_label_quality_scores` class-major: a (K, N) array."""
    if method not in RANK_METHODS:
        raise ValueError(f"method must be one of {RANK_METHODS}, not {method!r}.")
    if adjust_pred_probs and method == "confidence_weighted_entropy":
        raise ValueError("adjust_pred_probs=True cannot be used with confidence_weighted_entropy.")
    if problems is not None:
        labels_t, probs_t, comp_t = problems.labels_t, problems.probs_t, problems.comp_t
    else:
        labels_t = np.ascontiguousarray(np.asarray(labels, dtype=bool).T)
        probs_t = np.ascontiguousarray(np.asarray(pred_probs, dtype=np.float64).T)
        comp_t = 1 - probs_t
    if adjust_pred_probs:
        probs_t, comp_t = _adjusted(labels_t, probs_t, comp_t)
    own = np.where(labels_t, probs_t, comp_t)
    if method == "self_confidence":
        return own
    if method == "normalized_margin":
        other = np.where(labels_t, comp_t, probs_t)
        return (own - other + 1) / 2
    from scipy.special import xlogy

    entropy = -(xlogy(comp_t, comp_t) + xlogy(probs_t, probs_t)) / np.log(2)
    x = entropy / np.clip(own, CLIPPING_LOWER_BOUND, None)
    return np.log(x + 1) / np.clip(x, CLIPPING_LOWER_BOUND, None)


def exponential_moving_average(scores: np.ndarray, *, alpha: float | None = 0.8) -> np.ndarray:
    """Each row's scores sorted from highest to lowest, folded as ``ema = alpha * s + (1 - alpha)
    * ema`` starting from the highest: the lowest scores weigh most. ``alpha=None``: 2/(K+1)."""
    k = scores.shape[1]
    if alpha is None:
        alpha = float(2 / (k + 1))
    ordered = np.sort(scores, axis=1)[:, ::-1].T
    ema = ordered[0]
    for s in ordered[1:]:
        ema = alpha * s + (1 - alpha) * ema
    return np.array(ema, dtype=np.float64)


def _ema_class_major(scores_t: np.ndarray, alpha: float | None) -> np.ndarray:
    """:func:`exponential_moving_average` of the (N, K) transpose of class-major ``scores_t``
    (K, N): sorted along the class axis and folded over contiguous (N,) rows (the same
    operations in the same order, equal results, without a transposed copy and strided
    reads)."""
    k = scores_t.shape[0]
    if alpha is None:
        alpha = float(2 / (k + 1))
    ordered = np.sort(scores_t, axis=0)[::-1]
    ema = ordered[0]
    for s in ordered[1:]:
        ema = alpha * s + (1 - alpha) * ema
    return np.array(ema, dtype=np.float64)


def softmin(scores: np.ndarray, *, temperature: float = 0.1) -> np.ndarray:
    """``sum_k s_k * softmax((1 - s) / temperature)_k`` per row (a smooth minimum)."""
    x = (1 - scores) / max(temperature, _MIN_TEMPERATURE)
    x = x - np.max(x, axis=1, keepdims=True)
    w = np.exp(x)
    w = w / np.sum(w, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", scores, w)


def label_quality_scores(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    method: str = "self_confidence",
    adjust_pred_probs: bool = False,
    aggregator: str = "exponential_moving_average",
    alpha: float | None = 0.8,
    temperature: float = 0.1,
    problems=None,
) -> np.ndarray:
    """One label quality score per row in [0, 1]: the per-class scores aggregated."""
    scores_t = _class_scores_t(
        labels, pred_probs, method=method, adjust_pred_probs=adjust_pred_probs, problems=problems
    )
    if aggregator == "exponential_moving_average":
        return _ema_class_major(scores_t, alpha)
    per_class = np.ascontiguousarray(scores_t.T)
    if aggregator == "softmin":
        return softmin(per_class, temperature=temperature)
    raise ValueError(f"unknown aggregator {aggregator!r}")
