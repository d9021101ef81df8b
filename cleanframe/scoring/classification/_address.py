"""Columns by address for the numba loops: a column is read as ``column(addresses, j, like)``,
a 1-D view of ``len(like)`` values of ``like``'s dtype at ``addresses[j]``, so the loops take the
K columns as one int64 array (no numba typed list: building one costs a compile of the list's
methods in every process, about 1.5 CPU-s, and a Python append per column per batch).

Imported (with numba) by the loops' compile functions only; the caller keeps the columns alive
and C-contiguous while a loop runs (:meth:`~.columns.ProbColumns.addresses`).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

__all__ = ["addresses", "column"]


@intrinsic
def _pointer_like(typingctx, address, like):
    """A pointer to ``like``'s dtype at the integer ``address``."""
    ptr = types.CPointer(like.dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptr))

    return ptr(address, like), codegen


@numba.njit(nogil=True, inline="always")
def column(addrs, j, like):
    """Column ``j``: ``len(like)`` values at ``addrs[j]``, of ``like``'s dtype."""
    return numba.carray(_pointer_like(addrs[j], like), len(like))  # type: ignore[call-arg]


def addresses(columns) -> tuple[np.ndarray, list]:
    """``(int64 addresses, the arrays)`` of 1-D columns of one dtype, each made C-contiguous
    (a copy only where it is not); keep the arrays while a loop reads the addresses."""
    arrays = [c if c.flags.c_contiguous else np.ascontiguousarray(c) for c in columns]
    if arrays and any(a.dtype != arrays[0].dtype or a.shape != arrays[0].shape for a in arrays):
        raise ValueError("columns of one dtype and one length are needed")
    addrs = np.array([a.__array_interface__["data"][0] for a in arrays], dtype=np.int64)
    return addrs, arrays
