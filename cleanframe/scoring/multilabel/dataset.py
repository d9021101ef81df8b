"""Dataset-level multi-label health: per-class issue counts and the overall score."""

from __future__ import annotations

import numpy as np

from .filter import find_label_issues_per_class

__all__ = ["class_issue_counts", "overall_health_score"]


def class_issue_counts(
    labels: np.ndarray, pred_probs: np.ndarray, *, confident_joint=None, per_class=None
) -> dict[str, np.ndarray]:
    """Per class: ``label_issues`` (rows that carry the class but should not: in the given
    label, not in the suggested one) and ``inverse_label_issues`` (rows that should carry it but
    do not), from the default per-class rule (prune_by_noise_rate); the noise rates are these
    counts over N, and ``label_quality_score`` = 1 - ``label_noise``."""
    if per_class is None:
        per_class = find_label_issues_per_class(labels, pred_probs, confident_joint=confident_joint)
    y = np.asarray(labels, dtype=bool)
    n = len(y)
    given = np.count_nonzero(per_class & y, axis=0)
    inverse = np.count_nonzero(per_class & ~y, axis=0)
    noise = given / n
    return {
        "num_examples": np.count_nonzero(y, axis=0),
        "label_issues": given,
        "inverse_label_issues": inverse,
        "label_noise": noise,
        "inverse_label_noise": inverse / n,
        "label_quality_score": 1 - noise,
    }


def overall_health_score(row_mask: np.ndarray) -> float:
    """1 - (rows flagged by the default rule) / N."""
    return 1.0 - float(np.count_nonzero(row_mask)) / len(row_mask)
