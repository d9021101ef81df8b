"""Dataset-level health from the joint distribution of given and true labels (numpy only)."""

from __future__ import annotations

import numpy as np

from .count import estimate_joint, num_label_issues

__all__ = [
    "class_label_quality",
    "overlapping_class_pairs",
    "overall_label_health_score",
]


def _joint_and_n(labels, pred_probs, joint, confident_joint, num_examples=None):
    if joint is None:
        joint = estimate_joint(labels, pred_probs, confident_joint=confident_joint)
    if num_examples is not None:
        n = int(num_examples)
    elif labels is not None:
        n = len(labels)
    elif confident_joint is not None:
        n = int(np.sum(confident_joint))
    else:
        raise ValueError("Pass labels or confident_joint so that the number of rows is known.")
    return np.asarray(joint, dtype=np.float64), n


def class_label_quality(
    labels=None, pred_probs=None, *, joint=None, confident_joint=None, num_examples=None
) -> dict:
    """Per-class issue counts and noise rates, in class order (not sorted).

    ``num_examples`` (N) replaces ``labels`` for the counts when given with ``joint``.

    Returns a dict of arrays: ``label_issues``, ``inverse_label_issues``, ``label_noise``,
    ``inverse_label_noise``, ``label_quality_score`` (= 1 - label_noise).
    """
    joint, n = _joint_and_n(labels, pred_probs, joint, confident_joint, num_examples)
    diag = np.diagonal(joint)
    rows, cols = joint.sum(axis=1), joint.sum(axis=0)
    label_noise = (rows - diag) / np.clip(rows, 1e-6, None)
    return {
        "label_issues": np.round(n * (rows - diag)).astype(np.int64),
        "inverse_label_issues": np.round(n * (cols - diag)).astype(np.int64),
        "label_noise": label_noise,
        "inverse_label_noise": (cols - diag) / np.clip(cols, 1e-6, None),
        "label_quality_score": 1.0 - label_noise,
    }


def overlapping_class_pairs(
    labels=None,
    pred_probs=None,
    *,
    joint=None,
    confident_joint=None,
    asymmetric: bool = False,
    num_examples=None,
) -> dict:
    """Pairs of classes that the labels confuse, most overlapping first (ties by class order).

    Symmetric (default): one row per pair a < b with joint probability ``J[a,b] + J[b,a]``;
    asymmetric: every off-diagonal cell.
    """
    joint, n = _joint_and_n(labels, pred_probs, joint, confident_joint, num_examples)
    k = joint.shape[0]
    a, b = np.nonzero(~np.eye(k, dtype=bool)) if asymmetric else np.triu_indices(k, 1)
    prob = joint[a, b] if asymmetric else joint[a, b] + joint[b, a]
    order = np.argsort(-prob, kind="stable")
    return {
        "class_a": a[order],
        "class_b": b[order],
        "num_overlapping_examples": np.round(n * prob[order]).astype(np.int64),
        "joint_probability": prob[order],
    }


def overall_label_health_score(labels=None, pred_probs=None, *, joint=None, confident_joint=None):
    """1 - (estimated number of issues) / N when labels and pred_probs are given, else trace(J)."""
    if labels is not None and pred_probs is not None:
        return 1.0 - num_label_issues(labels, pred_probs) / len(labels)
    joint, _ = _joint_and_n(labels, pred_probs, joint, confident_joint)
    return float(np.trace(joint))
