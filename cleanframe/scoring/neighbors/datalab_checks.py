"""Datalab's class_imbalance and null checks (numpy only)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "CLASS_IMBALANCE_THRESHOLD",
    "class_imbalance",
    "missing_rows",
    "nonfinite_sum_rows",
    "null_scores",
]

CLASS_IMBALANCE_THRESHOLD = 0.1


def class_imbalance(
    labels: np.ndarray, num_classes: int, *, threshold: float = CLASS_IMBALANCE_THRESHOLD
) -> dict:
    """The rarest class and whether it is too rare.

    The classes are those that occur, as in Datalab (whose classes are the label values
    present): a class without rows (an unused category) is neither the rarest class nor counted.
    Of the ``K`` classes that occur, the rarest ``c`` (ties → the smallest code) has frequency
    ``f``. Its rows score ``f``, every other row 1. Its rows are flagged when ``f < threshold / K``.

    Parameters
    ----------
    labels : ndarray of int (N,)
        Class codes ``0..num_classes-1``. Not modified.
    num_classes : int
    threshold : float

    Returns
    -------
    dict with ``scores``, ``is_issue``, ``rarest_class`` (code), ``frequency``,
    ``is_imbalanced``.

    Examples
    --------
    >>> r = class_imbalance(np.array([0] * 98 + [1, 1]), 2, threshold=0.1)
    >>> r["rarest_class"], r["frequency"], int(r["is_issue"].sum())
    (1, 0.02, 2)
    >>> class_imbalance(np.array([0] * 98 + [2, 2]), 3, threshold=0.1)["rarest_class"]
    2
    """
    labels = np.asarray(labels)
    n = len(labels)
    counts = np.bincount(labels, minlength=num_classes)
    present = np.flatnonzero(counts)
    freq = counts / n
    rarest = int(present[np.argmin(freq[present])])
    scores = np.where(labels == rarest, freq[rarest], 1.0)
    imbalanced = bool(freq[rarest] < threshold * (1 / len(present)))
    is_issue = (labels == rarest) if imbalanced else np.zeros(n, dtype=bool)
    return {
        "scores": scores.astype(np.float64),
        "is_issue": is_issue,
        "rarest_class": rarest,
        "frequency": float(freq[rarest]),
        "is_imbalanced": imbalanced,
    }


def null_scores(is_null: np.ndarray) -> dict:
    """Datalab's null check from a boolean (N, D) matrix of missing feature values.

    Score = fraction of non-null values in the row; flagged when every value is null.

    Examples
    --------
    >>> r = null_scores(np.array([[False, False], [True, False], [True, True]]))
    >>> r["scores"].tolist(), r["is_issue"].tolist()
    ([1.0, 0.5, 0.0], [False, False, True])
    """
    is_null = np.asarray(is_null, dtype=bool)
    cols = is_null.shape[1]
    non_null = cols - is_null.sum(axis=1)
    return {
        "scores": non_null / cols,
        "is_issue": non_null == 0,
        "column_null_fraction": is_null.mean(axis=0),
    }


def nonfinite_sum_rows(X: np.ndarray) -> np.ndarray:
    """Positions of the rows of ``X`` whose sum is not finite: every row that holds a NaN or an
    infinity is among them (both carry through a sum), and so, rarely, is a row of finite
    values whose partial sums overflow. One pass over ``X``, no temporary of its size.

    Examples
    --------
    >>> nonfinite_sum_rows(np.array([[1.0, np.nan], [1e308, 1e308], [1.0, 2.0]])).tolist()
    [0, 1]
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return np.flatnonzero(~np.isfinite(np.asarray(X).sum(axis=1)))


def missing_rows(X: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
    """Rows of the feature matrix ``X`` (no infinities: NaN where missing) that miss a value,
    boolean (N,). Only the rows whose sum is not finite (:func:`nonfinite_sum_rows`, or the
    ``candidates`` already found) are looked at value by value.

    Examples
    --------
    >>> missing_rows(np.array([[1.0, np.nan], [1e308, 1e308], [1.0, 2.0]])).tolist()
    [True, False, False]
    """
    if candidates is None:
        candidates = nonfinite_sum_rows(X)
    out = np.zeros(len(X), dtype=bool)
    if len(candidates):
        out[candidates] = np.isnan(X[candidates]).any(axis=1)
    return out
