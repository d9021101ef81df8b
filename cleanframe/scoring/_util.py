"""Small numpy helpers shared by the scoring kernels."""

from __future__ import annotations

import os

import numpy as np

# Tolerances of the reference implementation (cleanlab 2.9), kept for parity.
FLOATING_POINT_COMPARISON = 1e-6
CLIPPING_LOWER_BOUND = 1e-6
CONFIDENT_THRESHOLDS_LOWER_BOUND = 2e-6
TINY_VALUE = 1e-100

# Rows per block when a kernel streams over pred_probs (keeps temporaries in cache).
BLOCK_ELEMENTS = 1 << 20


def row_blocks(n_rows: int, n_cols: int):
    """Yield ``slice`` objects that cover ``range(n_rows)`` in cache-friendly blocks."""
    step = max(1, BLOCK_ELEMENTS // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def _workers() -> int:
    try:
        return min(8, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return min(8, os.cpu_count() or 1)


def parallel_for(fn, items, *, parallel: bool = True) -> None:
    """Call ``fn(item)`` for every item, on a thread pool when there are several cores.

    numpy releases the GIL inside its loops, so blockwise kernels whose blocks write disjoint
    parts of preallocated outputs run in parallel; results do not depend on the schedule.
    """
    items = list(items)
    workers = _workers() if parallel else 1
    if workers < 2 or len(items) < 2:
        for item in items:
            fn(item)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        for _ in pool.map(fn, items):
            pass


def for_each_block(fn, n_rows: int, n_cols: int, *, min_elements: int = 1 << 22) -> None:
    """``fn(row_slice)`` over :func:`row_blocks`, in parallel for large arrays."""
    parallel_for(fn, row_blocks(n_rows, n_cols), parallel=n_rows * n_cols >= min_elements)


def row_reduce(pred_probs: np.ndarray, method: str) -> np.ndarray:
    """``pred_probs.<method>(axis=1)`` (``"max"`` or ``"argmax"``), blockwise and in parallel."""
    dtype = np.int64 if method == "argmax" else pred_probs.dtype
    out = np.empty(len(pred_probs), dtype=dtype)

    def reduce_block(block):
        out[block] = getattr(pred_probs[block], method)(axis=1)

    for_each_block(reduce_block, *pred_probs.shape)
    return out


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
    return np.vstack([round_preserving_sum(row) for row in matrix]) if len(matrix) else matrix.astype(np.int64)


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
