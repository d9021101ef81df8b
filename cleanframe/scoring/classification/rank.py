"""Label quality scores: a float in [0, 1] per row, lower = more likely mislabeled."""

from __future__ import annotations

import warnings

import numpy as np

from .._common import CLIPPING_LOWER_BOUND, self_confidence, stable_argsort
from ..parallel import row_blocks

__all__ = [
    "ENSEMBLE_WEIGHTINGS",
    "RANK_METHODS",
    "get_label_quality_scores",
    "get_self_confidence_for_each_label",
    "get_normalized_margin_for_each_label",
    "get_confidence_weighted_entropy_for_each_label",
    "get_normalized_entropy",
    "subtract_confident_thresholds",
    "get_label_quality_ensemble_scores",
    "order_label_issues",
    "find_top_issues",
]

RANK_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
ENSEMBLE_WEIGHTINGS = ("uniform", "accuracy", "log_loss_search", "custom")


def get_self_confidence_for_each_label(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """``pred_probs[i, labels[i]]``."""
    return self_confidence(labels, pred_probs)


def get_normalized_margin_for_each_label(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """``(p[y] - max_{k != y} p[k] + 1) / 2``, computed blockwise without an N×(K-1) copy."""
    n, k = pred_probs.shape
    out = np.empty(n, dtype=pred_probs.dtype if pred_probs.dtype.kind == "f" else np.float64)
    if k == 1:
        out[:] = (self_confidence(labels, pred_probs) + 1) / 2
        return out
    for block in row_blocks(n, k):
        p = pred_probs[block]
        own = p[np.arange(len(p)), labels[block]]
        top2 = np.partition(p, k - 2, axis=1)[:, k - 2 :]
        other = np.where(own == top2[:, 1], top2[:, 0], top2[:, 1])
        out[block] = (own - other + 1) / 2
    return out


def get_normalized_entropy(pred_probs: np.ndarray) -> np.ndarray:
    """Entropy of each row divided by log(K), with 0 log 0 = 0."""
    from scipy.special import xlogy

    n, k = pred_probs.shape
    out = np.empty(n, dtype=np.float64)
    for block in row_blocks(n, k):
        out[block] = -np.sum(xlogy(pred_probs[block], pred_probs[block]), axis=1)
    return out / np.log(k)


def get_confidence_weighted_entropy_for_each_label(
    labels: np.ndarray, pred_probs: np.ndarray
) -> np.ndarray:
    """``log(1 + x) / max(x, 1e-6)`` with ``x = normalized entropy / max(p[y], 1e-6)``.

    Note (as in the reference): a one-hot prediction gives x = 0 and therefore score 0.
    """
    own = np.clip(self_confidence(labels, pred_probs), CLIPPING_LOWER_BOUND, None)
    x = get_normalized_entropy(pred_probs) / own
    return np.log(x + 1) / np.clip(x, CLIPPING_LOWER_BOUND, None)


def subtract_confident_thresholds(pred_probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``p - t + max(t)``, rows renormalised (a new array)."""
    adjusted = pred_probs - thresholds
    adjusted += thresholds.max()
    adjusted /= adjusted.sum(axis=1, keepdims=True)
    return adjusted


_SCORERS = {
    "self_confidence": get_self_confidence_for_each_label,
    "normalized_margin": get_normalized_margin_for_each_label,
    "confidence_weighted_entropy": get_confidence_weighted_entropy_for_each_label,
}


def get_label_quality_scores(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    method: str = "self_confidence",
    adjust_pred_probs: bool = False,
    confident_thresholds: np.ndarray | None = None,
) -> np.ndarray:
    """Label quality score of every row (higher = cleaner).

    Parameters
    ----------
    method : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
    adjust_pred_probs : bool
        Subtract the per-class confident thresholds before scoring (not with the entropy method).
    confident_thresholds : ndarray (K,), optional
        The thresholds ``adjust_pred_probs`` subtracts, when already known (e.g. merged over
        batches); computed from ``labels`` and ``pred_probs`` otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.4, 0.6]])
    >>> get_label_quality_scores(np.array([0, 0]), p)
    array([0.9, 0.4])
    """
    if method not in _SCORERS:
        raise ValueError(f"method must be one of {RANK_METHODS}, not {method!r}.")
    if adjust_pred_probs:
        if method == "confidence_weighted_entropy":
            raise ValueError(
                "adjust_pred_probs=True cannot be used with method='confidence_weighted_entropy'."
            )
        thresholds = confident_thresholds
        if thresholds is None:
            from .count import get_confident_thresholds

            thresholds = get_confident_thresholds(labels, pred_probs)
        return _SCORERS[method](labels, subtract_confident_thresholds(pred_probs, thresholds))
    return _SCORERS[method](labels, pred_probs)


def get_label_quality_ensemble_scores(
    labels: np.ndarray,
    pred_probs_list,
    *,
    method: str = "self_confidence",
    adjust_pred_probs: bool = False,
    weight_ensemble_members_by: str = "accuracy",
    custom_weights=None,
    log_loss_search_T_values=(1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 200),
) -> np.ndarray:
    """Weighted average of each model's label quality scores.

    ``weight_ensemble_members_by``: ``uniform``, ``accuracy`` (argmax accuracy, normalised),
    ``log_loss_search`` (w ∝ exp(-T·logloss) for the T whose weighted pred_probs has the lowest
    log-loss) or ``custom`` (``custom_weights``, used as given).
    """
    pred_probs_list = list(pred_probs_list)
    if custom_weights is not None and weight_ensemble_members_by != "custom":
        raise ValueError("custom_weights is given but weight_ensemble_members_by is not 'custom'.")
    if len(pred_probs_list) == 1:
        warnings.warn(
            "pred_probs_list holds one model; the ensemble score is that model's score.",
            UserWarning,
            stacklevel=2,
        )
    scores = np.vstack(
        [
            get_label_quality_scores(labels, p, method=method, adjust_pred_probs=adjust_pred_probs)
            for p in pred_probs_list
        ]
    )
    m = len(pred_probs_list)
    if weight_ensemble_members_by == "uniform":
        weights = np.full(m, 1.0 / m)
    elif weight_ensemble_members_by == "accuracy":
        acc = np.array([np.mean(p.argmax(axis=1) == labels) for p in pred_probs_list])
        weights = acc / acc.sum()
    elif weight_ensemble_members_by == "log_loss_search":
        weights = _log_loss_search_weights(labels, pred_probs_list, log_loss_search_T_values)
    elif weight_ensemble_members_by == "custom":
        if custom_weights is None or len(custom_weights) != m:
            raise ValueError("custom_weights must hold one weight per model.")
        weights = np.asarray(custom_weights, dtype=np.float64)
    else:
        raise ValueError(
            "weight_ensemble_members_by must be 'uniform', 'accuracy', 'log_loss_search' or "
            f"'custom', not {weight_ensemble_members_by!r}."
        )
    return (weights[:, None] * scores).sum(axis=0)


def _log_loss(labels, pred_probs):
    p = np.clip(pred_probs, CLIPPING_LOWER_BOUND, None)
    p = p / p.sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(labels)), labels]))


def _log_loss_search_weights(labels, pred_probs_list, t_values):
    losses = np.array([_log_loss(labels, p) for p in pred_probs_list])
    best, best_loss = None, np.inf
    for t in t_values:
        w = np.exp(-t * losses)
        w = w / w.sum()
        loss = _log_loss(labels, sum(wi * p for wi, p in zip(w, pred_probs_list)))
        if loss < best_loss:
            best, best_loss = w, loss
    return best


def order_label_issues(
    label_issues_mask: np.ndarray,
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    rank_by: str = "self_confidence",
    rank_by_kwargs: dict | None = None,
) -> np.ndarray:
    """Positions of the flagged rows, worst score first (ties by position)."""
    flagged = np.flatnonzero(label_issues_mask)
    scores = get_label_quality_scores(labels, pred_probs, method=rank_by, **(rank_by_kwargs or {}))
    return flagged[stable_argsort(scores[flagged])]


def find_top_issues(quality_scores: np.ndarray, *, top: int = 10) -> np.ndarray:
    """Positions of the ``top`` lowest scores, worst first (ties by position)."""
    return stable_argsort(np.asarray(quality_scores))[:top]
