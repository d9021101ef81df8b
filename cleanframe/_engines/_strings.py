"""Factorizing a column of short strings straight from its Arrow buffers, by a compiled hash loop.

Class labels are short strings ("cat", "class_007") with few distinct values. A string of at
most 12 bytes fits in two 64-bit words: the Arrow string-view layout (polars' String) already
stores it so (4 bytes of length, then the bytes inline, zero-padded), and offsets-based Arrow
strings (pandas' ``str`` / ``string[pyarrow]``) are packed into the same two words. One pass
hashes the two words per row into an open-addressing table: about 3 ns a row instead of Arrow's
~12 ns for general strings (``pyarrow.compute.dictionary_encode``).

:func:`short_string_codes` returns ``None`` whenever the fast path does not apply (a longer
string, more than :data:`MAX_UNIQUES` distinct values, another layout): the engines then use
their general factorize. numba is imported (and the loops compiled, cached on disk) on first
use only.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

__all__ = ["MAX_UNIQUES", "short_string_codes"]

#: At most this many distinct values on the fast path (labels, not identifiers).
MAX_UNIQUES = 1 << 14
#: Shorter columns take the general path: the compiled loop saves ~10 ns a row, less than
#: loading it (numba and its cache) costs a process whose data is small.
MIN_ROWS = 1 << 16
#: Table sizes tried in turn, each at most a quarter full: a small table stays in L1 (a label
#: column's ~100 values), a larger one is used only when the values outgrow the smaller.
_SLOTS = (1 << 10, 1 << 13, 1 << 16)
_LONGEST = 12  # bytes that fit inline in a string view


def _slot_py(a, b, keys_a, keys_b, slot_code):
    mask = np.uint64(len(slot_code) - 1)
    h = (a * np.uint64(0x9E3779B97F4A7C15)) ^ (b * np.uint64(0xC2B2AE3D27D4EB4F))
    s = (h >> np.uint64(40)) & mask
    while True:
        if slot_code[s] < 0 or (keys_a[s] == a and keys_b[s] == b):
            return s
        s = (s + np.uint64(1)) & mask


def _code_py(a, b, i, keys_a, keys_b, slot_code, first, count):
    """The code of key (a, b) at row i, inserting it when new; -1 when the table is full."""
    s = _slot(a, b, keys_a, keys_b, slot_code)
    c = slot_code[s]
    if c >= 0:
        return c
    if count[0] >= len(slot_code) // 4:
        return -1
    c = count[0]
    slot_code[s] = c
    keys_a[s] = a
    keys_b[s] = b
    first[c] = i
    count[0] = c + 1
    return c


def _views_py(words, valid, has_nulls, codes, first, keys_a, keys_b, slot_code, count):
    """Codes of string views ``words`` (n x 2 uint64): 1, or 0 when a string is longer than 12
    bytes, 2 when the table is too small for the distinct values."""
    low32 = np.uint64(0xFFFFFFFF)
    for i in range(len(codes)):
        if has_nulls and not valid[i]:
            codes[i] = -1
            continue
        a = words[i, 0]
        b = words[i, 1]
        n = a & low32
        if n > np.uint64(_LONGEST):
            return 0
        if n < np.uint64(4):  # inline bytes 4 .. 4 + n of the first word; the rest is padding
            a = a & ((np.uint64(1) << (np.uint64(32) + np.uint64(8) * n)) - np.uint64(1))
            b = np.uint64(0)
        elif n < np.uint64(_LONGEST):
            b = b & ((np.uint64(1) << (np.uint64(8) * (n - np.uint64(4)))) - np.uint64(1))
        c = _code(a, b, i, keys_a, keys_b, slot_code, first, count)
        if c < 0:
            return 2
        codes[i] = c
    return 1


def _offsets_py(offsets, data, valid, has_nulls, codes, first, keys_a, keys_b, slot_code, count):
    """Codes of offsets-based strings, each packed into the two words of its string view."""
    for i in range(len(codes)):
        if has_nulls and not valid[i]:
            codes[i] = -1
            continue
        start = offsets[i]
        n = offsets[i + 1] - start
        if n > _LONGEST:
            return 0
        a = np.uint64(n)
        b = np.uint64(0)
        for j in range(n):
            byte = np.uint64(data[start + j])
            if j < 4:
                a = a | (byte << np.uint64(32 + 8 * j))
            else:
                b = b | (byte << np.uint64(8 * (j - 4)))
        c = _code(a, b, i, keys_a, keys_b, slot_code, first, count)
        if c < 0:
            return 2
        codes[i] = c
    return 1


_slot = _slot_py
_code = _code_py


@cache
def _kernels() -> dict:
    import numba

    inline = numba.njit(cache=True, nogil=True, inline="always")
    globals()["_slot"] = inline(_slot_py)
    globals()["_code"] = inline(_code_py)
    jit = numba.njit(cache=True, nogil=True)
    return {"views": jit(_views_py), "offsets": jit(_offsets_py)}


def short_string_codes(arr: Any, *, views: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """``(codes, first_rows)`` of a pyarrow string array (``string_view``, ``large_string`` or
    ``string``; a ChunkedArray is combined) of at least :data:`MIN_ROWS` rows: int64 codes in
    order of first appearance (-1 = null) and the row of each code's first appearance; ``None``
    when the fast path does not apply (see the module docstring). Offsets-based strings are
    cast to views first (``views=False``: read by the offsets loop, as with pyarrow < 16)."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    n = len(arr)
    kind = arr.type
    if n < MIN_ROWS:
        return None
    if not (
        pa.types.is_string_view(kind) or pa.types.is_large_string(kind) or pa.types.is_string(kind)
    ):
        return None
    if views and not pa.types.is_string_view(kind):
        try:  # Arrow's cast to views (~2 ns a row) and the views loop beat the offsets loop
            arr = arr.cast(pa.string_view())
            kind = arr.type
        except (pa.ArrowException, AttributeError):  # pragma: no cover - pyarrow < 16
            pass
    has_nulls = arr.null_count > 0
    valid = arr.is_valid().to_numpy(zero_copy_only=False) if has_nulls else np.ones(1, dtype=bool)
    buffers = arr.buffers()
    inputs: tuple
    if pa.types.is_string_view(kind):
        if buffers[1] is None:
            return None
        words = np.frombuffer(buffers[1], dtype=np.uint64).reshape(-1, 2)[arr.offset :][:n]
        loop, inputs = _kernels()["views"], (words,)
    else:
        width = np.int64 if pa.types.is_large_string(kind) else np.int32
        offsets = np.frombuffer(buffers[1], dtype=width)[arr.offset : arr.offset + n + 1]
        data = (
            np.frombuffer(buffers[2], dtype=np.uint8)
            if buffers[2] is not None
            else np.zeros(0, np.uint8)
        )
        loop, inputs = _kernels()["offsets"], (offsets.astype(np.int64, copy=False), data)
    codes = np.empty(n, dtype=np.int64)
    for slots in _SLOTS:
        first = np.empty(slots // 4, dtype=np.int64)
        keys_a = np.zeros(slots, dtype=np.uint64)
        keys_b = np.zeros(slots, dtype=np.uint64)
        slot_code = np.full(slots, -1, dtype=np.int64)
        count = np.zeros(1, dtype=np.int64)
        status = loop(*inputs, valid, has_nulls, codes, first, keys_a, keys_b, slot_code, count)
        if status != 2:
            break
    if status != 1:
        return None
    return codes, first[: int(count[0])].copy()
