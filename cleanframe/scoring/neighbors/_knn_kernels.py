"""Compiled passes of the cluster join's search (:class:`.knn._ClusterJoin`).

The search computes, cell by cell, the float32 keys between the rows that probe the cell and
the cell's rows (one BLAS product, which releases the GIL). :func:`cell_candidates` then reads
that block once and keeps, for each probing row, its k best entries at most the row's bound
(ties by row index) and, for the symmetric search, for each of the cell's rows its k best
entries among the probing rows (the members' side); :func:`merge_candidates` merges a round's
candidates into each row's k best. Both are numba loops without the GIL, so the cells run on
both cores of a thread pool with no per-cell numpy bookkeeping.

The order is the numpy merges' exactly: by key, ``-0.0`` before ``0.0`` (the keys' bit order),
then by row index (an empty place, index -1, last). Keeping a row's k best of a block is
lossless for the merge (what is beyond them cannot enter the row's k best), so the graph is the
numpy path's, entry for entry.

The build's other compiled passes: each row's nearest cells (:func:`nearest_cells`, by centroid
key or by distance to the cells' boundary), a round's probes grouped by cell (a counting sort,
:func:`group_by_cell`), k-means' per-cell sums (:func:`scatter_rows`) and the exact-duplicate row
hashes (:func:`row_hashes`); each gives its numpy counterpart's result bit for bit.

numba is imported (and the loops compiled, cached on disk) on first use only.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from ..parallel import _workers, parallel_for

__all__ = [
    "cell_candidates",
    "gather",
    "group_by_cell",
    "merge_candidates",
    "nearest_cells",
    "probe_bits",
    "row_hashes",
    "scatter_rows",
    "select",
    "warm",
]


def _before_py(ka, ia, kb, ib):
    """Whether entry (key ka, index ia) comes before (kb, ib)."""
    if ka < kb:
        return True
    if ka > kb:
        return False
    if ka == 0.0:  # -0.0 sorts before 0.0, as the keys' bit order the numpy merges use
        na = math.copysign(1.0, ka) < 0.0
        nb = math.copysign(1.0, kb) < 0.0
        if na != nb:
            return na
    if ia < 0:
        return False
    if ib < 0:
        return True
    return ia < ib


def _insert_py(keys, idx, row, key, j):
    """Insert (key, j) into the sorted k-list ``keys[row]`` / ``idx[row]`` when it comes before
    the last entry (which drops out)."""
    k = keys.shape[1]
    if not _before(key, j, keys[row, k - 1], idx[row, k - 1]):
        return
    p = k - 1
    while p > 0 and _before(key, j, keys[row, p - 1], idx[row, p - 1]):
        keys[row, p] = keys[row, p - 1]
        idx[row, p] = idx[row, p - 1]
        p -= 1
    keys[row, p] = key
    idx[row, p] = j


def _probes_py(bits, row, cell):
    return (bits[row, cell >> 6] >> np.uint64(cell & 63)) & np.uint64(1) != np.uint64(0)


def _probe_bits_py(cells, nlist):
    """Bit set (rows × ceil(nlist / 64) words) of the cells each row probes."""
    n, p = cells.shape
    bits = np.zeros((n, (nlist + 63) // 64), dtype=np.uint64)
    for i in range(n):
        for t in range(p):
            c = np.int64(cells[i, t])
            if c >= 0:  # -1: no cell (a row with fewer probes)
                bits[i, c >> 6] |= np.uint64(1) << np.uint64(c & 63)
    return bits


def _nearest_cells_py(ck, p, delta, out, inv):
    """Each row's ``p`` smallest centroid keys of ``ck`` (rows x cells, float32) as cell numbers
    in ``out``, ordered by (key, cell) — a stable argsort's first ``p`` (``-0.0`` equal to
    ``0.0``) — keeping only the cells whose key is at most the row's smallest plus ``delta``
    (float32; inf: all), -1 in the places left. ``inv`` (cells x cells, float32; empty: not
    used): keep instead the cells whose key gap to the row's nearest cell ``c0`` (its first
    smallest key) times ``inv[c0, c]`` is at most ``delta`` — the row's distance to the
    boundary between the two cells (:meth:`.knn._ClusterJoin.boundary_factors`); the ``p``
    nearest of those by key."""
    b, nlist = ck.shape
    keys = np.empty(p, dtype=np.float32)
    scaled = inv.shape[0] > 0
    for i in range(b):
        low = ck[i, 0]
        c0 = 0
        for c in range(1, nlist):
            if ck[i, c] < low:
                low = ck[i, c]
                c0 = c
        lim = low + delta
        count = 0
        for c in range(nlist):
            s = ck[i, c]
            if scaled:
                if (s - low) * inv[c0, c] > delta:
                    continue
            elif s > lim:
                continue
            if count == p and not s < keys[p - 1]:
                continue
            q = count if count < p else p - 1
            while q > 0 and s < keys[q - 1]:
                if q < p:
                    keys[q] = keys[q - 1]
                    out[i, q] = out[i, q - 1]
                q -= 1
            keys[q] = s
            out[i, q] = c
            if count < p:
                count += 1
        for t in range(count, p):
            out[i, t] = -1


def _gather_py(Y, rows):
    """``Y[rows]`` (a copy, without the GIL)."""
    d = Y.shape[1]
    out = np.empty((len(rows), d), dtype=Y.dtype)
    for i in range(len(rows)):
        src = rows[i]
        for t in range(d):  # element by element: faster than a slice copy per row
            out[i, t] = Y[src, t]
    return out


def _cell_candidates_py(D, sq, rsq, r, me, members, bound, k, self_query, back, assign, bits):
    """Candidates of one block of products ``D`` (the probing rows ``r`` by the cell's
    ``members``), as ``(rows, indices, keys)``.

    The keys are :func:`.knn._keys`' in the same float32 operations: ``-D`` (cosine, ``sq``
    empty) or ``sq - 2 D`` (euclidean, ``sq`` the members' squared norms). Forward: each row
    ``r[i]`` (its indexed row ``me[i]``, excluded from its own neighbours in a self-search) gets
    its k best members whose key is at most ``bound[r[i]]``. ``back``: each member gets its k best
    probing rows whose key is at most the member's bound, unless the member probes the row's cell
    itself (``bits``; then it meets the row there) or is the row; that key is the member's own
    to the row: ``-D`` (cosine) or ``rsq[me[i]] - 2 D`` (euclidean, ``rsq`` every indexed row's
    squared norm; empty when not ``back``)."""
    b, m = D.shape
    inf = np.float32(np.inf)
    two = np.float32(-2.0)
    euclidean = len(sq) > 0
    fk = np.full((b, k), inf, dtype=np.float32)
    fi = np.full((b, k), -1, dtype=np.int64)
    nb = m if back else 0
    bk = np.full((nb, k), inf, dtype=np.float32)
    bi = np.full((nb, k), -1, dtype=np.int64)
    # each member's bound, lowered to its current k-th candidate as the pass goes on
    blim = np.empty(nb, dtype=np.float32)
    for j in range(nb):
        blim[j] = bound[members[j]]
    row = np.empty(m, dtype=np.float32)
    # the members' keys to the row (euclidean: on the row's squared norm, not the member's)
    back_row = np.empty(m if back and euclidean else 0, dtype=np.float32)
    for i in range(b):
        ri = r[i]
        mi = me[i]
        lim = bound[ri]
        cell_i = assign[mi] if back else 0
        if euclidean:
            for j in range(m):
                row[j] = sq[j] + two * D[i, j]
            if back:
                own = rsq[mi]
                for j in range(m):
                    back_row[j] = own + two * D[i, j]
        else:
            for j in range(m):
                row[j] = -D[i, j]
        keys_back = back_row if euclidean else row
        # most rows of a block have no entry that can enter either side: one vectorised test
        # per side
        hit = False
        for j in range(m):
            hit |= row[j] <= lim
        hit_back = False
        for j in range(nb):
            hit_back |= keys_back[j] <= blim[j]
        if hit:
            for j in range(m):
                s = row[j]
                if s <= lim:
                    mj = members[j]
                    if s <= bound[ri] and not (self_query and mj == mi):
                        _insert(fk, fi, i, s, mj)
                        if fi[i, k - 1] >= 0:
                            lim = min(lim, fk[i, k - 1])
        if hit_back:
            for j in range(m):
                s = keys_back[j]
                if s <= blim[j]:
                    mj = members[j]
                    if s <= bound[mj] and mj != mi and not _probes(bits, mj, cell_i):
                        _insert(bk, bi, j, s, ri)
                        if bi[j, k - 1] >= 0:
                            blim[j] = min(blim[j], bk[j, k - 1])
    total = 0
    for i in range(b):
        for t in range(k):
            if fi[i, t] >= 0:
                total += 1
    for j in range(nb):
        for t in range(k):
            if bi[j, t] >= 0:
                total += 1
    rows = np.empty(total, dtype=np.int64)
    idx = np.empty(total, dtype=np.int64)
    keys = np.empty(total, dtype=np.float32)
    e = 0
    for i in range(b):
        for t in range(k):
            if fi[i, t] >= 0:
                rows[e], idx[e], keys[e] = r[i], fi[i, t], fk[i, t]
                e += 1
    for j in range(nb):
        for t in range(k):
            if bi[j, t] >= 0:
                rows[e], idx[e], keys[e] = members[j], bi[j, t], bk[j, t]
                e += 1
    return rows, idx, keys


def _select_py(D, sq, k, exclude):
    """Each row's k smallest keys of a block of products ``D`` (keys as in
    :func:`_cell_candidates_py`), as ``(columns, keys)`` ordered by (key, column) — a stable
    argsort's first k (``-0.0`` equal to ``0.0``: keys are returned with ``0.0``); the column
    ``exclude[i]`` (a row itself; -1: none) is left out."""
    b, n = D.shape
    inf = np.float32(np.inf)
    two = np.float32(-2.0)
    zero = np.float32(0.0)
    euclidean = len(sq) > 0
    keys = np.full((b, k), inf, dtype=np.float32)
    idx = np.full((b, k), -1, dtype=np.int64)
    for i in range(b):
        lim = inf
        skip = exclude[i]
        count = 0
        for start in range(0, n, _SELECT_RUN):
            stop = min(n, start + _SELECT_RUN)
            if count >= k:  # most runs hold no key under the row's k-th: one vectorised test
                hit = False
                if euclidean:
                    for j in range(start, stop):
                        hit |= sq[j] + two * D[i, j] <= lim
                else:
                    for j in range(start, stop):
                        hit |= -D[i, j] <= lim
                if not hit:
                    continue
            for j in range(start, stop):
                s = (sq[j] + two * D[i, j] if euclidean else -D[i, j]) + zero
                if (s <= lim or count < k) and j != skip:
                    _insert(keys, idx, i, s, j)
                    count += 1
                    if count >= k:
                        lim = keys[i, k - 1]
    return idx, keys


#: Keys per run of :func:`_select_py`'s test for a run with no key under a row's k-th.
_SELECT_RUN = 64


def _scatter_rows_py(sums, assign, X):
    """``sums[assign[i]] += X[i]`` in float64, row after row: per cell, the rows' running sum
    in row order, as ``np.add.at`` adds them."""
    d = X.shape[1]
    for i in range(len(assign)):
        c = assign[i]
        for t in range(d):
            sums[c, t] += np.float64(X[i, t])


def _group_by_cell_py(probe, width, nlist):
    """A counting sort of the probes (cell numbers, -1 first) by cell, stable: ``(rows,
    cuts)`` as :func:`.knn._group_by_cell` makes them with ``np.argsort``."""
    starts = np.zeros(nlist + 2, dtype=np.int64)
    for e in range(len(probe)):
        starts[probe[e] + 2] += 1
    for c in range(1, nlist + 2):
        starts[c] += starts[c - 1]
    cuts = starts[1:].copy()  # cuts[c]: where cell c's rows start (after the -1 entries)
    rows = np.empty(len(probe), dtype=np.int64)
    for e in range(len(probe)):
        slot = probe[e] + 1
        rows[starts[slot]] = e // width
        starts[slot] += 1
    return rows, cuts


def _row_hashes_py(words, mult, out):
    """``out[i]``: the sum of ``(w ^ (w >> 29)) * mult[t]`` over the words ``w`` of row i
    (uint64, wrapping), as :func:`.knn._row_hashes` computes it with numpy."""
    shift = np.uint64(29)
    for i in range(words.shape[0]):
        h = np.uint64(0)
        for t in range(words.shape[1]):
            w = words[i, t]
            h += (w ^ (w >> shift)) * mult[t]
        out[i] = h


def _merge_candidates_py(best_key, best_idx, rows, idx, keys, lo, hi):
    """Merge the candidate entries (row, index, key) of the rows ``lo <= row < hi`` into each
    row's sorted k best, in place, in entry order."""
    for e in range(len(rows)):
        r = rows[e]
        if lo <= r < hi:
            _insert(best_key, best_idx, r, keys[e], idx[e])


@cache
def _kernels() -> dict:
    import numba

    jit = numba.njit(cache=True, nogil=True)
    inline = numba.njit(cache=True, nogil=True, inline="always")
    globals()["_before"] = inline(_before_py)
    globals()["_probes"] = inline(_probes_py)
    globals()["_insert"] = jit(_insert_py)
    return {
        "bits": jit(_probe_bits_py),
        "cells": jit(_nearest_cells_py),
        "cell": jit(_cell_candidates_py),
        "gather": jit(_gather_py),
        "select": jit(_select_py),
        "merge": jit(_merge_candidates_py),
        "scatter": jit(_scatter_rows_py),
        "hashes": jit(_row_hashes_py),
        "group": jit(_group_by_cell_py),
    }


@cache
def warm() -> None:
    """Load (or compile) the kernels for the searches' argument types in the calling thread,
    once per process: the searches call them first from a thread pool, and numba's first-call
    set-up is not safe in two threads at once."""
    f32, i64 = np.float32, np.int64
    D = np.zeros((2, 2), dtype=f32)
    idx = np.arange(2, dtype=i64)
    bound = np.full(2, np.inf, dtype=f32)
    bits = probe_bits(np.zeros((2, 1), dtype=np.int16), 2)
    for sq in (None, np.zeros(2, dtype=f32)):
        cell_candidates(
            D,
            sq,
            idx,
            idx,
            idx,
            bound,
            1,
            self_query=True,
            back=True,
            assign=idx,
            bits=bits,
            rsq=sq,
        )
        select(D, sq, 1, idx)
    gather(D, idx)
    # merge_candidates' first call can be on two pool threads (by ranges of rows)
    merge_candidates(
        np.full((2, 1), np.inf, dtype=f32), np.full((2, 1), -1, dtype=i64), idx, idx, D[0]
    )
    for dtype in (np.int16, np.int32):
        for inv in (None, np.ones((2, 2), dtype=f32)):
            nearest_cells(D, 1, np.inf, np.empty((2, 1), dtype=dtype), inv)
        group_by_cell(np.zeros(2, dtype=dtype), 1, 2)
    # the graph's other compiled passes (main thread only), so that a warmed-up process pays
    # no loading in them either
    scatter_rows(np.zeros((2, 2)), idx, D)
    words = np.zeros((2, 2), dtype=np.uint64)
    row_hashes(words, np.ones(2, dtype=np.uint64), np.zeros(2, dtype=np.uint64))


# the pure-Python versions until the kernels are compiled (they call each other by these names)
_before, _probes, _insert = _before_py, _probes_py, _insert_py


def probe_bits(cells: np.ndarray, nlist: int) -> np.ndarray:
    """Bit set of the cells each row probes (row i's bit c: row i probes cell c)."""
    return _kernels()["bits"](np.ascontiguousarray(cells), int(nlist))


def nearest_cells(
    ck: np.ndarray, p: int, delta: float, out: np.ndarray, inv: np.ndarray | None = None
) -> None:
    """See :func:`_nearest_cells_py` (``out``: rows x p, int16 or int32, filled in place;
    ``inv`` None: the key gap itself)."""
    _kernels()["cells"](ck, int(p), np.float32(delta), out, _NO_FACTORS if inv is None else inv)


def gather(Y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``Y[rows]`` for a C-contiguous 2-D ``Y`` (compiled, without the GIL)."""
    return _kernels()["gather"](Y, rows)


def cell_candidates(D, sq, r, me, members, bound, k, *, self_query, back, assign, bits, rsq=None):
    """See :func:`_cell_candidates_py`; ``sq`` (the members' squared norms) and ``rsq`` (every
    indexed row's, for the members' side) None for cosine keys; ``bits`` is :func:`probe_bits`
    of the probed cells (any 2-D uint64 array when ``back`` is False)."""
    return _kernels()["cell"](
        D,
        _NO_NORMS if sq is None else sq,
        _NO_NORMS if rsq is None else rsq,
        r,
        me,
        members,
        bound,
        int(k),
        bool(self_query),
        bool(back),
        assign,
        bits,
    )


_NO_NORMS = np.empty(0, dtype=np.float32)
_NO_FACTORS = np.empty((0, 0), dtype=np.float32)


def select(D, sq, k, exclude):
    """See :func:`_select_py`; ``sq`` None for cosine keys."""
    return _kernels()["select"](D, _NO_NORMS if sq is None else sq, int(k), exclude)


def scatter_rows(sums: np.ndarray, assign: np.ndarray, X: np.ndarray) -> None:
    """See :func:`_scatter_rows_py` (``sums`` float64, filled in place)."""
    _kernels()["scatter"](sums, assign, X)


def group_by_cell(probe: np.ndarray, width: int, nlist: int) -> tuple[np.ndarray, np.ndarray]:
    """See :func:`_group_by_cell_py`."""
    return _kernels()["group"](probe, int(width), int(nlist))


def row_hashes(words: np.ndarray, mult: np.ndarray, out: np.ndarray) -> None:
    """See :func:`_row_hashes_py` (``out``: uint64, filled in place)."""
    _kernels()["hashes"](words, mult, out)


def merge_candidates(best_key, best_idx, rows, idx, keys) -> None:
    """Merge (row, index, key) candidates into the sorted k-best arrays, in place; many
    candidates: by ranges of rows on every core (each range's rows get their entries in entry
    order, so the result does not depend on the schedule)."""
    merge, n = _kernels()["merge"], len(best_key)
    parts = _workers() if len(rows) >= _PARALLEL_MERGE else 1
    edges = [n * t // parts for t in range(parts + 1)]
    parallel_for(
        lambda t: merge(best_key, best_idx, rows, idx, keys, edges[t], edges[t + 1]),
        range(parts),
    )


#: Candidates from which :func:`merge_candidates` runs on every core.
_PARALLEL_MERGE = 1 << 16
