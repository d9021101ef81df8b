"""Blockwise loops over large arrays, on a small thread pool.

numpy releases the GIL inside its loops, so blocks that write disjoint slices of preallocated
outputs run in parallel and the result does not depend on the schedule. Used by the kernels and
by the layers above them (tiled column copies, the probability checks).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["BLOCK_ELEMENTS", "row_blocks", "parallel_for", "for_each_block", "row_reduce"]

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
