"""Small numpy helpers and the reference's tolerances, shared by the scoring kernels."""

from __future__ import annotations

import numpy as np

# Tolerances of the reference implementation (cleanlab 2.9), kept for parity.
FLOATING_POINT_COMPARISON = 1e-6
CLIPPING_LOWER_BOUND = 1e-6
CONFIDENT_THRESHOLDS_LOWER_BOUND = 2e-6
TINY_VALUE = 1e-100


def value_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Number of rows per class code, including classes with no rows."""
    return np.bincount(labels, minlength=num_classes)[:num_classes]


def round_preserving_sum(values: np.ndarray) -> np.ndarray:
    """Round floats to integers so that their total equals the rounded total.

    Rounds half to even, then moves units to (from) the entries with the largest (smallest)
    rounding residuals until the total matches (ties: see the comment below).
    """
    floats = np.asarray(values, dtype=np.float64)
    ints = np.round(floats)
    target = np.round(floats.sum())
    n = len(ints)
    while abs(target - ints.sum()) > 1e-6:
        diff = target - ints.sum()
        step = 1.0 if diff > 0 else -1.0
        m = int(min(abs(diff), n))
        # largest (step +1) or smallest (step -1) residuals first: a stable ascending order,
        # reversed for +1, so ties go to the last entry when adding and the first when removing
        order = np.argsort(floats - ints, kind="stable")
        if step > 0:
            order = order[::-1]
        ints[order[:m]] += step
    return ints.astype(np.int64)


def round_preserving_row_totals(matrix: np.ndarray) -> np.ndarray:
    """Apply :func:`round_preserving_sum` to each row of a matrix."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return (
        np.vstack([round_preserving_sum(row) for row in matrix])
        if len(matrix)
        else matrix.astype(np.int64)
    )


def select_extreme(values: np.ndarray, m: int, *, largest: bool) -> np.ndarray:
    """Positions of the ``m`` largest (or smallest) values, ties broken by position.

    Runs in O(n) with ``np.partition``; the result is sorted by position.
    """
    n = len(values)
    if m <= 0:
        return np.empty(0, dtype=np.int64)
    if m >= n:
        return np.arange(n)
    keyed = -values if largest else values
    cut = np.partition(keyed, m - 1)[m - 1]
    strictly = np.flatnonzero(keyed < cut)
    ties = np.flatnonzero(keyed == cut)[: m - len(strictly)]
    return np.sort(np.concatenate([strictly, ties]))


def stable_argsort(values: np.ndarray) -> np.ndarray:
    """Ascending order, ties broken by position."""
    return np.argsort(values, kind="stable")


def class_rows(labels: np.ndarray, num_classes: int) -> list[np.ndarray]:
    """Row positions of each class, ascending (one stable radix sort of the codes)."""
    codes = labels.astype(np.int16 if num_classes < 2**15 else np.int64, copy=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(value_counts(labels, num_classes))[:-1]
    return np.split(order, bounds)


def self_confidence(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """``pred_probs[i, labels[i]]`` for every row (a new array)."""
    return pred_probs[np.arange(len(labels)), labels]


def tracked(progress, iterable, *, total: int, desc: str | None, enable: bool = True):
    """``iterable`` wrapped by the caller's progress callback, when there is one and ``enable``.

    Kernels know no progress bar: the layer above passes ``progress(iterable, total=, desc=)``
    (anything not callable, e.g. ``None`` or ``False``, means no progress display).
    """
    if not enable or not callable(progress):
        return iterable
    return progress(iterable, total=total, desc=desc)
