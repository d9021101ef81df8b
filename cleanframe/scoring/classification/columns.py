"""pred_probs as K column arrays, read blockwise across columns by fused numba loops.

A pandas frame keeps its float columns as rows of one 2-D block and polars as one Arrow buffer
per column: :class:`ProbColumns` holds those 1-D arrays as they are (no row-major copy). The hot
loops read them a block of rows at a time across all columns (a tile that stays in cache), so
each full read of pred_probs goes through memory once:

- :meth:`ProbColumns.row_stats`: one light read for the given label's probability, the float64
  row sum and the range of all values (the validation gate and the self-confidence score; the
  loop is :mod:`.gate`'s), and on first use a second read for the first argmax, the largest
  probability among the other classes and whether the label wins the argmax once boosted by
  1e-6 (the predicted label, the normalized margin, the ``prediction agrees`` test);
- :func:`scan` (one read): what the row stats lack of those, each row's confidently estimated
  class (-1 = none, as :func:`.count.confident_guesses`) and the per-pair histogram of the
  negative keys ``p[k] - p[j]`` (:func:`pair_histogram`), in any combination;
- :func:`top_candidates` (one read): per (given, other) class pair the ``m`` largest margins and
  per class the ``m`` lowest self-confidences, ties by row position (the mergeable candidates of
  :mod:`.passes`).

Per-row values kept from an earlier read of the same rows (:meth:`RowStats.known`) stand in for
those reads: :meth:`ProbColumns.set_row_stats`, and :meth:`ProbColumns.rows_only` for rows whose
columns are not read at all.

numba is imported (and the loops compiled, cached on disk) on first use only.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import numpy as np

from .._common import FLOATING_POINT_COMPARISON

__all__ = [
    "ProbColumns",
    "RowStats",
    "as_columns",
    "confident_guess",
    "scan",
    "sort_cut",
    "top_candidates",
]

#: Rows per tile of the fused loops: the per-row accumulators of a tile stay in L2 while the
#: K column slices stream through (measured: 16384 reads at numpy's column-reduction speed,
#: 256 at half of it).
TILE = 16384


class RowStats:
    """Per-row results of the fused reads (see :meth:`ProbColumns.row_stats`).

    ``own`` (p[i, y_i]), ``sums`` (float64 row sums), ``low`` / ``high`` (range of all values,
    NaN ignored) and ``finite`` (every row sum finite, so every value is) come from one light
    read; ``argmax`` (first maximum, int64), ``other`` (max over j != y_i) and ``agrees``
    (:func:`.count.prediction_agrees_with_label` of every row: the label is the first argmax
    once it gets +1e-6) from a second read, made on first use only (or with the confident guess,
    see :func:`scan`). Stats built by :meth:`known` hold values kept from an earlier read of the
    same rows and never read columns.
    """

    def __init__(self, cols, labels, own, sums, low, high, finite) -> None:
        # the columns without their row-stats cache: no reference cycle, so a batch's buffers
        # are freed as soon as the caller drops them
        self._cols = None if cols is None else cols.reader()
        self._labels = labels
        self.own = own
        self.sums = sums
        self.low = low
        self.high = high
        self.finite = finite
        self._rank: tuple | None = None
        #: the second largest value of each row (the largest again on a tie), from the rank
        #: read of the columns (``None`` until then, and for :meth:`known` stats)
        self.second: np.ndarray | None = None
        #: an upper bound of each row's second largest value (any float dtype, at or above it),
        #: kept from an earlier read (:meth:`known`): with the ranks it decides the confident
        #: class of nearly every row without reading the columns (see :func:`scan`)
        self.second_bound: np.ndarray | None = None

    @classmethod
    def known(cls, labels, own, argmax, other, agrees, second_bound=None) -> RowStats:
        """Stats of rows whose values were computed before (a streamed pass kept them): nothing
        is read; the gate's fields say "valid" (the rows passed it when they were read)."""
        stats = cls(None, labels, own, None, 0.0, 1.0, True)
        stats._rank = (argmax, other, agrees)
        stats.second_bound = second_bound
        return stats

    def _ranks(self) -> tuple:
        if self._rank is None:
            if self._cols is None:
                raise ValueError("these row stats have no columns to read")
            scan(self._cols, self._labels, self)
        assert self._rank is not None
        return self._rank

    @property
    def argmax(self) -> np.ndarray:
        return self._ranks()[0]

    @property
    def other(self) -> np.ndarray:
        return self._ranks()[1]

    @property
    def agrees(self) -> np.ndarray:
        return self._ranks()[2]


class ProbColumns:
    """``(N, K)`` probabilities held as K 1-D arrays of one float dtype (views, not copies).

    Supports what the kernels need from a matrix: ``shape``, ``dtype``, ``len()``, row gathers
    (:meth:`take`), row slices (``cols[a:b]``, views) and :meth:`to_array` (a C-ordered copy).
    """

    def __init__(self, columns) -> None:
        cols = [np.asarray(c) for c in columns]
        if not cols:
            raise ValueError("no columns")
        self.dtype = cols[0].dtype
        self.columns: list | None = cols
        self.shape = (len(cols[0]), len(cols))
        self._row_stats: tuple | None = None
        self._typed: tuple | None = None

    @classmethod
    def rows_only(cls, labels: np.ndarray, stats: RowStats, num_classes: int) -> ProbColumns:
        """Rows whose per-row values (``stats``, see :meth:`RowStats.known`) are all a pass
        needs, without their columns: what reads only ``row_stats`` works (the kept flags, the
        self-confidence and normalized-margin scores, the predicted class); a read of the
        values raises ``ValueError``."""
        out = cls.__new__(cls)
        out.dtype = stats.own.dtype
        out.columns = None
        out.shape = (len(stats.own), int(num_classes))
        out._row_stats = (labels, stats)
        out._typed = None
        return out

    def set_row_stats(self, labels: np.ndarray, stats: RowStats) -> None:
        """Use ``stats`` (values kept from an earlier read of these rows) as the row stats of
        ``labels``: the light read and the rank read are not made again."""
        self._row_stats = (labels, stats)

    def reader(self) -> ProbColumns:
        """The same columns without the row-stats cache (shares the typed list)."""
        out = ProbColumns.__new__(ProbColumns)
        out.dtype, out.columns, out.shape = self.dtype, self._need(), self.shape
        out._row_stats = None
        out._typed = self._typed
        return out

    def _need(self) -> list:
        if self.columns is None:
            raise ValueError("the probability columns of these rows were not read")
        return self.columns

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def ndim(self) -> int:
        return 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, item):
        if isinstance(item, slice):
            return ProbColumns([c[item] for c in self._need()])
        return self.take(np.atleast_1d(np.asarray(item)))

    def take(self, rows) -> np.ndarray:
        """Rows ``rows`` as a C-ordered ``(len(rows), K)`` array."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        for j, c in enumerate(self._need()):
            out[:, j] = c[rows]
        return out

    def column(self, j: int) -> np.ndarray:
        return self._need()[j]

    def run_rows(self, fn, rows: tuple) -> None:
        """``fn(typed columns, *row slices)`` over ranges of rows, on a thread per core for large
        data (the numba loops release the GIL): ``rows`` are per-row arrays (inputs and
        outputs), sliced like the columns, so each range reads and writes its own rows only."""
        from ..parallel import _workers, parallel_for

        n, k = self.shape
        workers = _workers() if n * k >= 1 << 22 else 1
        if workers < 2:
            fn(self.typed(), *rows)
            return
        step = -(-n // workers)
        bounds = [(a, min(n, a + step)) for a in range(0, n, step)]

        def part(bound):
            a, b = bound
            piece = self[a:b]  # held while the loop reads its columns' addresses
            fn(piece.typed(), *(r[a:b] for r in rows))
            del piece

        parallel_for(part, bounds)

    def to_array(self) -> np.ndarray:
        """A C-ordered ``(N, K)`` copy (for the rare paths that need a matrix)."""
        out = np.empty(self.shape, dtype=self.dtype)
        step = max(1, (1 << 20) // max(1, self.shape[1]))
        for start in range(0, self.shape[0], step):
            stop = min(self.shape[0], start + step)
            for j, c in enumerate(self._need()):
                out[start:stop, j] = c[start:stop]
        return out

    def __array__(self, dtype=None, copy=None):
        out = self.to_array()
        return out if dtype is None else out.astype(dtype)

    def typed(self) -> np.ndarray:
        """The columns as the loops take them: their addresses (int64, built once; see
        :mod:`._address`), valid while this object lives (a column that is not C-contiguous
        is read from a contiguous copy held here)."""
        if self._typed is None:
            from ._address import addresses

            self._typed = addresses(self._need())
        return self._typed[0]

    def row_stats(self, labels: np.ndarray) -> RowStats:
        """The fused reads' per-row results (cached per labels array)."""
        if self._row_stats is not None and self._row_stats[0] is labels:
            return self._row_stats[1]
        n = self.shape[0]
        own = np.empty(n, dtype=self.dtype)
        sums = np.empty(n, dtype=np.float64)
        rng = np.array([np.inf, -np.inf])
        codes = np.asarray(labels, dtype=np.int64)
        ranges: list = []

        def value_stats(cols, codes_, own_, sums_):
            part = np.array([np.inf, -np.inf])
            _kernels()["value_stats"](cols, codes_, own_, sums_, part)
            ranges.append(part)

        self.run_rows(value_stats, (codes, own, sums))
        if ranges:
            rng = np.array([min(r[0] for r in ranges), max(r[1] for r in ranges)])
        finite = bool(np.isfinite(sums).all()) if n else True
        stats = RowStats(self, labels, own, sums, float(rng[0]), float(rng[1]), finite)
        self._row_stats = (labels, stats)
        return stats


def as_columns(pred_probs) -> ProbColumns | None:
    """``pred_probs`` if it is a :class:`ProbColumns`, else ``None``."""
    return pred_probs if isinstance(pred_probs, ProbColumns) else None


def scan(
    cols: ProbColumns,
    labels: np.ndarray,
    stats: RowStats,
    cut: np.ndarray | None = None,
    *,
    hist: bool = False,
    floor: float = 0.0,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """One read of the columns for what ``stats`` lacks and the caller asks: the ranks of
    ``stats`` (argmax, other, agrees) when it has none yet, the confident guess of every row
    when ``cut`` is given (as :func:`confident_guess`), the per-pair key histogram when
    ``hist`` (as :func:`pair_histogram`). Returns ``(guess or None, histogram or None)``; rows
    are split over a thread per core for large data (each range keeps its own histogram,
    added at the end). ``floor`` > 0 (a power of two): the histogram counts only the keys at
    or below ``-floor`` (see :func:`first_read_floor`); the bins of the keys above it stay 0."""
    n, k = cols.shape
    _check_own(cols, stats.own)
    do_rank = stats._rank is None
    do_guess = cut is not None
    if do_guess and not do_rank and not hist and stats.second_bound is not None:
        # the guesses alone, of rows whose ranks and second_bound were kept: a few rows read
        return _guess_from_ranks(cols, stats, np.asarray(cut, dtype=cols.dtype)), None
    if do_rank:
        argmax = np.empty(n, dtype=np.int64)
        other = np.empty(n, dtype=cols.dtype)
        agrees = np.empty(n, dtype=np.bool_)
        second = np.empty(n, dtype=cols.dtype)
    else:
        argmax, other, agrees = stats._rank  # type: ignore[misc]
        second = np.empty(0, dtype=cols.dtype)
    guess = np.empty(n if do_guess else 0, dtype=np.int64)
    cut_ = np.asarray(cut if do_guess else np.zeros(k), dtype=cols.dtype)
    eps = np.array([FLOATING_POINT_COMPARISON, floor], dtype=cols.dtype)
    labels = np.asarray(labels, dtype=np.int64)
    hists: list = []
    kernel = _kernels()["scan"]

    def part(c, lab, own, am, ot, ag, g, s2):
        h = np.zeros(k * k * NEG_BINS if hist else 0, dtype=np.int32)
        kernel(c, lab, own, cut_, eps, do_rank, do_guess, hist, _M0, _MAGS, am, ot, ag, g, h, s2)
        hists.append(h)

    rows = (labels, stats.own, argmax, other, agrees, guess, second)
    cols.run_rows(part, rows)
    if do_rank:
        stats._rank = (argmax, other, agrees)
        stats.second = second
    counts = None
    if hist:
        # int32 per range (fewer cache lines while counting) and per batch (no widening copy
        # per batch: merges add in int64, see passes.JointStats.merge)
        total = hists[0] if len(hists) == 1 else np.add.reduce(hists, dtype=np.int64)
        counts = np.asarray(total).reshape(k, k, NEG_BINS)
    return (guess if do_guess else None), counts


def _guess_from_ranks(cols: ProbColumns, stats: RowStats, cut: np.ndarray) -> np.ndarray:
    """The confident guesses of :func:`scan` from the kept ranks and ``second_bound``, equal
    to the read's: a row whose largest value reaches its first argmax's cut has that argmax
    (the only class at its cut, or the argmax of several); a row whose largest value does not
    and whose second largest (at most ``second_bound``, and the largest of every other class)
    is below every cut has none (-1); the other rows (on the issue's hard shape, 0.05% of a
    41,943-row batch at 20M x 100, 0.5% at 200k x 100) are read and tested class by class as
    the loop does."""
    argmax, other, _ = stats._ranks()
    am = np.asarray(argmax, dtype=np.int64)
    top = np.maximum(stats.own, other)  # the row's largest value: p[argmax]
    guess = np.where(top >= cut[am], am, -1)
    assert stats.second_bound is not None
    bound = np.asarray(stats.second_bound).astype(cut.dtype)
    open_ = np.flatnonzero((guess < 0) & (bound >= cut.min()))
    if len(open_):
        hits = cols.take(open_) >= cut
        count = hits.sum(axis=1)
        first = hits.argmax(axis=1)
        guess[open_] = np.where(count == 0, -1, np.where(count == 1, first, am[open_]))
    return guess


def _check_own(cols: ProbColumns, own: np.ndarray) -> None:
    """The loops view the columns by address with ``own``'s dtype and length: they must match."""
    if own.dtype != cols.dtype or len(own) != cols.shape[0]:
        raise ValueError("the per-row values do not match the columns' dtype or length")


def confident_guess(cols: ProbColumns, cut: np.ndarray, stats: RowStats) -> np.ndarray:
    """Each row's confident class: the only class with ``p >= cut``, the argmax when several
    are, -1 when none (``cut`` in the columns' dtype, as :func:`.count.confident_guesses`).

    When ``stats`` has no ranks yet, they are computed in the same read.
    """
    guess, _ = scan(cols, stats._labels, stats, cut)
    assert guess is not None
    return guess


def top_candidates(
    cols: ProbColumns,
    labels: np.ndarray,
    own: np.ndarray,
    other: np.ndarray,
    offset: int,
    pair_slot: np.ndarray,
    class_slot: np.ndarray,
    limits: np.ndarray,
    cutoff: np.ndarray | None = None,
    room: int = 0,
    *,
    ordered: bool = True,
):
    """The candidates of one batch: ``(slots, keys, positions)``.

    ``pair_slot[k, j]`` is the slot of pair (given k, other j) or -1; ``class_slot[k]`` the slot
    of class k's lowest self-confidences or -1; ``limits[slot]`` how many rows a slot keeps. The
    key of a pair is ``p[k] - p[j]`` (smaller = larger margin), of a class ``p[k]``; ties go to
    the earlier row. The result is sorted by (slot, key, position). ``cutoff[k, j]`` (optional,
    float64): no row of pair (k, j) with a larger key can be among the pair's global best, so
    such keys are skipped (see :func:`pair_histogram`). ``room`` (with a finite ``cutoff`` for
    every pair): how many keys of all rows are at or below their pair's cut-off
    (:func:`cutoff_room`); then every such key of the batch is appended to flat arrays and
    sorted once (sequential writes instead of heap pushes spread over every pair's heap),
    falling back to the heaps if the room is ever exceeded. ``ordered=False``: the appended
    keys are returned as they were appended (each slot's keys in position order, neither
    sorted by key nor cut; :func:`sort_cut` orders and cuts them later, e.g. once for all the
    batches of a pass).
    """
    if cutoff is not None and room > 0:
        out = _appended_candidates(
            cols, labels, own, other, offset, pair_slot, class_slot, limits, cutoff, room, ordered
        )
        if out is not None:
            return out
    used = np.unique(np.concatenate([pair_slot[pair_slot >= 0], class_slot[class_slot >= 0]]))
    scanned = _candidate_scan(
        cols, labels, own, other, pair_slot, class_slot, limits, cutoff, used, 0
    )
    assert scanned is not None  # nothing is appended, so no room can run out
    (slots, keys, pos), _ = scanned
    return slots, keys, pos + int(offset)


def _candidate_scan(cols, labels, own, other, pair_slot, class_slot, limits, cutoff, used, room):
    """One run of the compiled candidates scan over a batch: a bounded heap per slot in
    ``used`` (at most its limit, or the batch's rows), and with ``room`` > 0 every pair key at
    or below its cut-off appended to flat arrays of that size instead. Returns ``(heaps,
    appended)``, each ``(slots, keys, positions)`` with positions in the batch (the heaps'
    sorted by (slot, key, position), the appended in scan order), or None if the appended
    keys exceeded ``room``."""
    n = cols.shape[0]
    _check_own(cols, own)
    cap = np.zeros(len(limits), dtype=np.int64)
    cap[used] = np.minimum(limits[used], n)
    starts = np.concatenate([[0], np.cumsum(cap)])
    keys = np.empty(int(starts[-1]), dtype=cols.dtype)
    pos = np.empty(int(starts[-1]), dtype=np.int64)
    sizes = np.zeros(len(limits), dtype=np.int64)
    a_slot = np.empty(room, dtype=np.int32)
    a_key = np.empty(room, dtype=cols.dtype)
    a_pos = np.empty(room, dtype=np.int64)
    state = np.zeros(2, dtype=np.int64)  # appended, overflowed
    _kernels()["top_candidates"](
        cols.typed(),
        np.asarray(labels, dtype=np.int64),
        own,
        other,
        np.ascontiguousarray(pair_slot, dtype=np.int64),
        np.ascontiguousarray(class_slot, dtype=np.int64),
        np.ascontiguousarray(
            np.zeros(pair_slot.shape) if cutoff is None else cutoff, dtype=np.float64
        ),
        cutoff is not None,
        starts,
        cap,
        keys,
        pos,
        sizes,
        room > 0,
        a_slot,
        a_key,
        a_pos,
        state,
    )
    if state[1]:
        return None
    counts = sizes[used]
    total = int(counts.sum())
    before = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    take = np.repeat(starts[used] - before, counts) + np.arange(total, dtype=np.int64)
    heaps = (np.repeat(used, counts).astype(np.int32), keys[take], pos[take])
    m = int(state[0])
    return heaps, (a_slot[:m], a_key[:m], a_pos[:m])


def _appended_candidates(
    cols, labels, own, other, offset, pair_slot, class_slot, limits, cutoff, room, ordered=True
):
    """:func:`top_candidates` with every key at or below its pair's cut-off appended, then
    (``ordered``) sorted by (slot, key, position) and cut to the limits; ``None`` if ``room``
    was too small. Unordered, the entries are copies (not views of the ``room``-sized buffers).
    """
    n = cols.shape[0]
    room = int(min(room, n * max(cols.shape[1] - 1, 1)))
    used = np.unique(class_slot[class_slot >= 0])
    scanned = _candidate_scan(
        cols, labels, own, other, pair_slot, class_slot, limits, cutoff, used, room
    )
    if scanned is None:
        return None
    (h_slot, h_key, h_pos), (a_slot, a_key, a_pos) = scanned
    slots_ = np.concatenate([a_slot, h_slot])
    keys_ = np.concatenate([a_key, h_key])
    pos_ = np.concatenate([a_pos, h_pos])
    if not ordered:
        pos_ += int(offset)
        return slots_, keys_, pos_
    order = _by_slot_key(slots_, keys_)  # then by position
    s = slots_[order]
    first = np.searchsorted(s, s, side="left")
    keep = order[(np.arange(len(s)) - first) < limits[s]]
    return slots_[keep], keys_[keep], pos_[keep] + int(offset)


def _by_slot_key(slots: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The order of the entries by (slot, key, position): a stable sort, so the entries of a
    slot that tie on their key keep their appended order, which is the order of their positions
    (each pair's keys are appended tile by tile, row by row), as a three-key lexsort orders them.
    float32 keys are sorted as one packed int64 per entry (:func:`_slot_key_bits`, half the time
    of a lexsort); float64 keys by a lexsort, since their bits do not fit beside the slot."""
    if keys.dtype == np.float32:
        return np.argsort(_slot_key_bits(slots, keys), kind="stable")
    return np.lexsort((keys, slots))


def _slot_key_bits(slots: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """One int64 per entry ordered as (slot, key) for float32 keys: the slot in the high 32
    bits, the key's bits made order-preserving in the low 32 (-0.0 counted as 0.0)."""
    bits = (np.asarray(keys, dtype=np.float32) + np.float32(0)).view(np.uint32).astype(np.int64)
    negative = bits >= 1 << 31
    ordered = np.where(negative, (1 << 32) - 1 - bits, bits + (1 << 31))
    return (np.asarray(slots, dtype=np.int64) << 32) | ordered


def cutoff_room(hist: np.ndarray, cutoff: np.ndarray, quota: np.ndarray) -> int:
    """How many keys of all rows are at or below their pair's cut-off, over the pairs with a
    quota (the room :func:`top_candidates` appends into); 0 when a pair has no finite cut-off."""
    pairs = quota > 0
    if not pairs.any() or not np.isfinite(cutoff[pairs]).all():
        return 0
    cum = np.cumsum(hist, axis=2)  # [j, y, bin]
    y, j = np.nonzero(pairs)
    return int(cum[j, y, _quota_bins(hist, quota)[y, j]].sum())


#: Per-pair key histograms: log-scale bins on |key| (4 per octave from 2 ** -16 to 1, from the
#: float64 bit pattern, so exact and monotone), mirrored for negative keys.
_M0 = int(np.float64(2.0**-16).view(np.int64)) >> 50
_MAGS = 65  # magnitude classes 0 (|key| < 2 ** -16) .. 64; 65 and above lumped (|key| >= 1)
HIST_BINS = 2 * (_MAGS + 1)
#: The bins of the negative keys (0 .. _MAGS), the only ones the histograms count.
NEG_BINS = _MAGS + 1
#: Histograms are kept only while their K * K * NEG_BINS counters stay this small (K <= 356).
HIST_MAX_CELLS = 1 << 23


#: Rows of a streamed call whose first read counts every negative key (see
#: :func:`first_read_floor`): with fewer rows a class has few rows with large margins, and
#: its pairs' quotas can lie above the floor.
FLOOR_FROM_ROW = 1 << 21


def first_read_floor(num_classes: int, offset: int) -> float:
    """The floor of the first read's histogram of a streamed call (:func:`scan`) for a batch
    whose first row is ``offset``: from row :data:`FLOOR_FROM_ROW` on and with K >= 32
    classes the largest power of two at most 1/K, else 0 (every negative key is counted).

    Only the keys ``p[y] - p[j]`` at or below ``-floor`` (a bin edge) are counted: the
    quotas' cut-offs lie far below it (on the issue's hard shape at 1M x 100, floor 2 ** -7,
    every pair's quota is reached by |key| >= 0.054, while the keys above -2 ** -7 are 58%
    of the negative ones, whose counting is most of that read's loop). A pair whose quota
    the counted keys do not reach gets no cut-off (+inf): the flags are exact either way,
    since counts below the true ones (here: of the rows read with a floor) only loosen a
    pair's cut-off, and a batch whose keys exceed the room is scanned into the heaps)."""
    if num_classes < 32 or offset < FLOOR_FROM_ROW:
        return 0.0
    return 2.0 ** -int(np.ceil(np.log2(num_classes)))


def key_bins(keys: np.ndarray) -> np.ndarray:
    """The histogram bin of each key ``p[k] - p[j]`` (monotone in the key, exact)."""
    keys = np.asarray(keys, dtype=np.float64)
    mag = (np.abs(keys).view(np.int64) >> 50) - _M0 + 1
    mag = np.clip(mag, 0, _MAGS)
    return np.where(keys < 0, _MAGS - mag, _MAGS + 1 + mag).astype(np.int64)


def _bin_upper(b: int) -> float:
    """A key at or above every key of bin ``b``."""
    if b >= _MAGS + 1:
        q = b - _MAGS - 1
        if q >= _MAGS:
            return float("inf")
        return float(np.int64((_M0 + q) << 50).view(np.float64))
    q = _MAGS - b
    if q == 0:
        return 0.0
    return -float(np.int64((_M0 + q - 1) << 50).view(np.float64))


def pair_histogram(cols: ProbColumns, labels: np.ndarray, own: np.ndarray) -> np.ndarray:
    """``(K, K, NEG_BINS)`` counts ``[j, k, bin]`` (int32 or int64): per (other class j,
    given class k), the rows of class k by the bin of their key ``p[k] - p[j]`` (as
    :func:`key_bins`), for the negative keys only (``p[j] > p[k]``: the bins below
    NEG_BINS). Mergeable by addition;
    :func:`cutoffs` turns it into per-pair key cut-offs: a pair whose quota the negative keys
    do not reach gets no cut-off (+inf). The selected rows of a pair are about the rows given k
    that the model confidently puts in j, whose keys are nearly all negative (on the issue's
    hard shape at 1M x 100 every one of the 9,900 pairs' quotas lies among its negative keys,
    which are 14% of the values), and counting only them costs a seventh of the increments.
    (:func:`scan` counts it in the same read as the confident guess.)"""
    stats = RowStats(None, labels, own, None, 0.0, 1.0, True)
    stats._rank = (np.empty(0, np.int64), np.empty(0, own.dtype), np.empty(0, np.bool_))
    _, counts = scan(cols, labels, stats, hist=True)
    assert counts is not None
    return counts


def pair_histogram_dense(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """:func:`pair_histogram` of a row-major matrix (numpy)."""
    n, k = pred_probs.shape
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.zeros(k * k * NEG_BINS, dtype=np.int64)
    for a in range(0, n, TILE):  # blocks of rows: temporaries of one block
        lab = labels[a : a + TILE]
        block = np.asarray(pred_probs[a : a + TILE])
        own = block[np.arange(len(lab)), lab]
        keys = own[:, None] - block
        cells = (np.arange(k) * k + lab[:, None]) * NEG_BINS + key_bins(keys)
        counts += np.bincount(cells[keys < 0], minlength=k * k * NEG_BINS)
    return counts.reshape(k, k, NEG_BINS)


def cutoffs(hist: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Per pair (k, j) with ``quota[k, j] > 0``, a key ``T`` such that every row among the
    pair's ``quota`` best (smallest keys) has key <= T: the upper edge of the bin where the
    cumulative count reaches the quota (+inf when it never does)."""
    k = hist.shape[0]
    out = np.full((k, k), np.inf)
    b = _quota_bins(hist, quota)  # [y, j]
    uppers = np.array([_bin_upper(i) for i in range(hist.shape[2])] + [np.inf])
    pairs = quota > 0
    out[pairs] = uppers[b[pairs]]
    return out


def _quota_bins(hist: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """``[y, j]``: the first bin where pair (y, j)'s cumulative count reaches its quota
    (``hist.shape[2]`` when it never does)."""
    cum = np.cumsum(hist, axis=2)  # [j, y, bin]
    return (cum < quota.T[:, :, None]).sum(axis=2).T


# ------------------------------------------------------------------------------------------
# the numba loops (compiled on first use)
# ------------------------------------------------------------------------------------------
def _scan_py(
    cols,
    labels,
    own,
    cut,
    eps,
    do_rank,
    do_guess,
    do_hist,
    m0,
    mags,
    argmax,
    other,
    agrees,
    guess,
    hist,
    second,
):
    """One tiled read of the columns (each column tile is read once, by up to three simple
    loops while it is in cache): with ``do_rank`` each row's first argmax, its largest other
    probability, its second largest value (``second``) and whether the label wins the argmax
    once it gets ``eps``; with ``do_guess``
    the confident class (the count of classes at or above ``cut``, the first of them, the
    argmax when several); with ``do_hist`` the negative keys ``p[y] - p[j]`` of the (row, class)
    pairs added to ``hist[(j * K + y) * bins + bin]`` (with ``eps[1]`` > 0 only the keys at or
    below ``-eps[1]``)."""
    n = len(own)
    k = len(cols)
    nb = mags + 1  # the negative keys' bins only
    tile = TILE
    e = eps[0]
    floor = eps[1]
    neg = -np.inf
    mx1 = np.empty(tile, dtype=own.dtype)  # the largest value
    mx2 = np.empty(tile, dtype=own.dtype)  # the second largest (equal to mx1 on a tie)
    am = np.zeros(tile, dtype=np.int32)
    cnt = np.zeros(tile, dtype=np.int32)
    first = np.zeros(tile, dtype=np.int32)
    neg_at = np.empty(tile, dtype=np.int32)
    buf = np.empty(1, dtype=np.float64)
    bits = buf.view(np.int64)
    for start in range(0, n, tile):
        stop = min(n, start + tile)
        m = stop - start
        lab = labels[start:stop]
        o = own[start:stop]
        for i in range(m):
            mx1[i] = neg
            mx2[i] = neg
            am[i] = 0
            cnt[i] = 0
            first[i] = k
        for j in range(k):
            c = _column(cols, j, own)[start:stop]
            jj = np.int32(j)
            if do_rank:
                for i in range(m):
                    v = c[i]
                    a = mx1[i]
                    am[i] = jj if v > a else am[i]
                    mx2[i] = max(mx2[i], min(v, a))
                    mx1[i] = max(a, v)
            if do_guess:
                t = cut[j]
                for i in range(m):
                    hit = c[i] >= t
                    cnt[i] += 1 if hit else 0
                    first[i] = min(first[i], jj if hit else k)
            if do_hist:  # negative keys only (p[j] > p[y]: about one value in seven)
                base = j * k
                hits = 0
                if floor > 0:  # the keys at or below -floor only
                    for i in range(m):
                        neg_at[hits] = i
                        hits += 1 if c[i] - o[i] >= floor else 0
                else:
                    for i in range(m):  # branch-free: the rows with a negative key, in order
                        neg_at[hits] = i
                        hits += 1 if o[i] < c[i] else 0
                for t in range(hits):
                    i = neg_at[t]
                    buf[0] = np.float64(c[i] - o[i])
                    mag = min(max((bits[0] >> 50) - m0 + 1, 0), mags)
                    hist[(base + lab[i]) * nb + mags - mag] += 1
        for i in range(m):
            r = start + i
            if do_rank:
                argmax[r] = am[i]
                second[r] = mx2[i]
                v = o[i]
                best = mx2[i] if v == mx1[i] else mx1[i]  # the largest of the other classes
                other[r] = best
                boosted = v + e
                if boosted != best:
                    agrees[r] = boosted > best
                else:  # a tie: the label wins if it comes before the first other class at best
                    y = lab[i]
                    w = k
                    for j in range(k):
                        if j != y and _column(cols, j, own)[r] == best:
                            w = j
                            break
                    agrees[r] = y < w
            if do_guess:
                if cnt[i] == 0:
                    guess[r] = -1
                elif cnt[i] == 1:
                    guess[r] = first[i]
                elif do_rank:
                    guess[r] = am[i]
                else:
                    guess[r] = argmax[r]


def _push_py(keys, pos, base, size, cap, key, p):
    """Bounded max-heap on (key, pos) at keys[base:base+cap]: keep the cap smallest."""
    if size < cap:
        i = size
        keys[base + i] = key
        pos[base + i] = p
        while i > 0:
            parent = (i - 1) // 2
            a = base + parent
            b = base + i
            if keys[a] < keys[b] or (keys[a] == keys[b] and pos[a] < pos[b]):
                keys[a], keys[b] = keys[b], keys[a]
                pos[a], pos[b] = pos[b], pos[a]
                i = parent
            else:
                break
        return size + 1
    root = base
    if key > keys[root] or (key == keys[root] and p > pos[root]):
        return size
    keys[root] = key
    pos[root] = p
    _sift_down(keys, pos, base, size)
    return size


def _sift_down_py(keys, pos, base, size):
    """Move the root of the max-heap on (key, pos) at keys[base:base+size] down to its place."""
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        big = left
        right = left + 1
        if right < size:
            a = base + right
            b = base + left
            if keys[a] > keys[b] or (keys[a] == keys[b] and pos[a] > pos[b]):
                big = right
        a = base + big
        b = base + i
        if keys[a] > keys[b] or (keys[a] == keys[b] and pos[a] > pos[b]):
            keys[a], keys[b] = keys[b], keys[a]
            pos[a], pos[b] = pos[b], pos[a]
            i = big
        else:
            break


def _top_candidates_py(
    cols,
    labels,
    own,
    other,
    pair_slot,
    class_slot,
    cutoff,
    use_cut,
    starts,
    cap,
    keys,
    pos,
    sizes,
    append,
    a_slot,
    a_key,
    a_pos,
    state,
):
    n = len(labels)
    k = len(cols)
    tile = TILE
    zero = keys.dtype.type(0)
    # a new row must beat the worst kept (key, position) of its pair: +inf until the heap is
    # full; only keys equal to it go on to compare positions
    # with ``use_cut``, a row whose key is above its pair's global cut-off cannot be selected
    worst = np.full((k, k), np.inf, dtype=np.float64)
    for y in range(k):
        for j in range(k):
            if pair_slot[y, j] < 0 or (cap[pair_slot[y, j]] == 0 and not append):
                worst[y, j] = -np.inf  # no such pair: nothing enters
            elif use_cut:
                worst[y, j] = cutoff[y, j]
    # phase 1: the negative keys (positive margins: p[j] > p[y]), or with ``use_cut`` the keys
    # at or below each pair's cut-off, per tile of rows: a row's keys are all at or above
    # own - other (its largest other probability), so only the rows where that bound is at or
    # below the loosest bound of their class's pairs are scanned (few: the selected rows have
    # the largest margins), column by column; each value is tested against its own pair's
    # current bound (a copy of column j of ``worst``, in L1)
    wmax = np.empty(k, dtype=np.float64)
    wcol = np.empty(k, dtype=np.float64)
    act = np.empty(tile, dtype=np.int64)
    for start in range(0, n, tile):
        stop = min(n, start + tile)
        o = own[start:stop]
        ot = other[start:stop]
        lab = labels[start:stop]
        for y in range(k):  # bounds only tighten during the scan: these stay valid
            w = -np.inf
            for j in range(k):
                w = max(w, worst[y, j])
            wmax[y] = w if use_cut else min(w, 0.0)
        hits = 0
        for i in range(stop - start):  # branch-free: the rows that may hold a candidate
            act[hits] = i
            lb = o[i] - ot[i]
            hits += 1 if (lb <= wmax[lab[i]] and (use_cut or lb < zero)) else 0
        if hits == 0:
            continue
        for j in range(k):
            c = _column(cols, j, own)[start:stop]
            for y in range(k):
                wcol[y] = worst[y, j]
            for t in range(hits):
                i = act[t]
                key = o[i] - c[i]
                y = lab[i]
                if key <= wcol[y] and (use_cut or key < zero):
                    s = pair_slot[y, j]
                    r = start + i
                    if append:  # every key at or below the cut-off, in (column, row) order
                        w = state[0]
                        if w < len(a_slot):
                            a_slot[w] = s
                            a_key[w] = key
                            a_pos[w] = r
                            state[0] = w + 1
                        else:
                            state[1] = 1
                        continue
                    size = _push(keys, pos, starts[s], sizes[s], cap[s], key, r)
                    sizes[s] = size
                    if size == cap[s]:
                        worst[y, j] = keys[starts[s]]
                        wcol[y] = worst[y, j]
    # phase 2: the keys >= 0, only for the pairs whose heap is not yet full of negative keys
    ptr = np.zeros(k + 1, dtype=np.int64)
    need = np.empty(k * k, dtype=np.int64)
    count = 0
    for y in range(k):
        for j in range(k):
            s = pair_slot[y, j]
            if use_cut:  # phase 1 saw every key at or below the cut-off
                continue
            if s >= 0 and not (sizes[s] == cap[s] and keys[starts[s]] < zero):
                need[count] = j
                count += 1
        ptr[y + 1] = count
    if count:
        for r in range(n):
            y = labels[r]
            for t in range(ptr[y], ptr[y + 1]):
                j = need[t]
                key = own[r] - _column(cols, j, own)[r]
                if key < zero or key > worst[y, j]:
                    continue
                s = pair_slot[y, j]
                size = _push(keys, pos, starts[s], sizes[s], cap[s], key, r)
                sizes[s] = size
                if size == cap[s]:
                    worst[y, j] = keys[starts[s]]
    worst_class = np.full(k, np.inf, dtype=keys.dtype)
    for r in range(n):
        y = labels[r]
        s = class_slot[y]
        if s >= 0 and own[r] <= worst_class[y]:
            size = _push(keys, pos, starts[s], sizes[s], cap[s], own[r], r)
            sizes[s] = size
            if size == cap[s]:
                worst_class[y] = keys[starts[s]]
    # each slot's heap in ascending (key, position) order: sorted runs that merge linearly
    for s in range(len(sizes)):
        if sizes[s] > 1:
            _heap_sort(keys, pos, starts[s], sizes[s])


def _heap_sort_py(keys, pos, base, size):
    """Sort the max-heap on (key, pos) at keys[base:base+size] into ascending order."""
    for end in range(size - 1, 0, -1):
        a = base
        b = base + end
        keys[a], keys[b] = keys[b], keys[a]
        pos[a], pos[b] = pos[b], pos[a]
        _sift_down(keys, pos, base, end)


def _sort_cut_py(limits, slots, keys, pos, lo, hi, out_s, out_k, out_p):
    """Order the entries of slots ``lo .. hi - 1`` by (slot, key, position) and keep the first
    ``limits[slot]`` of each slot (written to ``out_*``; returns how many): a counting sort by
    slot that moves the keys and positions (so each slot's entries are then read from one
    contiguous run), then each slot's entries by (key, position), whatever order they came in.
    """
    n = len(slots)
    num = len(limits)
    start = np.zeros(num + 1, dtype=np.int64)
    for i in range(n):
        s = slots[i]
        if lo <= s < hi:
            start[s + 1] += 1
    for s in range(num):
        start[s + 1] += start[s]
    fill = start[:-1].copy()
    gk = np.empty(start[num], dtype=keys.dtype)
    gp = np.empty(start[num], dtype=np.int64)
    for i in range(n):
        s = slots[i]
        if lo <= s < hi:
            f = fill[s]
            gk[f] = keys[i]
            gp[f] = pos[i]
            fill[s] = f + 1
    w = 0
    small = np.empty(16, dtype=np.int64)
    for s in range(lo, hi):
        a = start[s]
        b = start[s + 1]
        m = min(b - a, limits[s])
        if m <= 0:
            continue
        sk = gk[a:b]
        sp = gp[a:b]
        if b - a <= 16:  # insertion sort on (key, position)
            idx = small[: b - a]
            for t in range(b - a):
                cur = t
                u = t - 1
                while u >= 0:
                    prev = idx[u]
                    if sk[prev] < sk[cur] or (sk[prev] == sk[cur] and sp[prev] < sp[cur]):
                        break
                    idx[u + 1] = prev
                    u -= 1
                idx[u + 1] = cur
        else:  # by position (runs in row order already are), then stably by key
            ascending = True
            for t in range(1, b - a):
                if sp[t] < sp[t - 1]:
                    ascending = False
                    break
            by_pos = np.arange(b - a) if ascending else np.argsort(sp, kind="mergesort")
            if sk.itemsize == 4:  # float32: one sort of (order-preserving key bits, rank)
                bits = (sk + sk.dtype.type(0)).view(np.uint32)  # -0.0 counted as 0.0
                packed = np.empty(b - a, dtype=np.uint64)
                sign = np.uint64(1 << 31)
                for t in range(b - a):
                    v = np.uint64(bits[by_pos[t]])
                    v = (v ^ np.uint64(0xFFFFFFFF)) if v >= sign else v | sign
                    packed[t] = (v << np.uint64(32)) | np.uint64(t)
                packed.sort()
                idx = np.empty(b - a, dtype=np.int64)
                for t in range(b - a):
                    idx[t] = by_pos[np.int64(packed[t] & np.uint64(0xFFFFFFFF))]
            else:
                idx = by_pos[np.argsort(sk[by_pos], kind="mergesort")]
        for t in range(m):
            i = idx[t]
            out_s[w] = s
            out_k[w] = sk[i]
            out_p[w] = sp[i]
            w += 1
    return w


#: Entries from which :func:`sort_cut` splits its slots over a thread per core.
SORT_SPLIT = 1 << 20


def sort_cut(limits, runs: list) -> tuple:
    """``(slots, keys, positions)`` of the entries of ``runs`` (a list of such triples, in any
    order), sorted by (slot, key, position) and cut to the first ``limits[slot]`` of each slot:
    what sorting the union and cutting it keeps, in one
    linear pass and small per-slot sorts."""
    runs = [r for r in runs if len(r[0])]
    if not runs:
        return (
            np.empty(0, dtype=np.int32),
            np.empty(0, dtype=np.float64),
            np.empty(0, dtype=np.int64),
        )
    from ..parallel import _workers, parallel_for

    slots = np.concatenate([np.asarray(r[0], dtype=np.int32) for r in runs])
    keys = np.concatenate([r[1] for r in runs])
    pos = np.concatenate([np.asarray(r[2], dtype=np.int64) for r in runs])
    limits = np.asarray(limits, dtype=np.int64)
    n, num = len(slots), len(limits)
    workers = _workers() if n >= SORT_SPLIT else 1
    bounds = [(0, num)]
    if workers > 1:  # ranges of slots with about as many entries each, on a thread each
        seen = np.cumsum(np.bincount(slots, minlength=num))
        cuts = np.searchsorted(seen, [n * i // workers for i in range(1, workers)], "right")
        bounds = [(int(a), int(b)) for a, b in zip([0, *cuts], [*cuts, num]) if b > a]
    parts: dict = {}

    def part(bound):
        lo, hi = bound
        out_s = np.empty(n, dtype=np.int32)
        out_k = np.empty(n, dtype=keys.dtype)
        out_p = np.empty(n, dtype=np.int64)
        w = _kernels()["sort_cut"](limits, slots, keys, pos, lo, hi, out_s, out_k, out_p)
        parts[lo] = (out_s[:w], out_k[:w], out_p[:w])

    parallel_for(part, bounds, parallel=len(bounds) > 1)
    done = [parts[a] for a, _ in bounds]
    # one array each, copied (a cut list much shorter than its buffers does not hold them)
    return tuple(np.concatenate([d[i] for d in done]) for i in range(3))


#: The heap helpers the loops call: the compiled functions once :func:`_kernels` ran.
_sift_down = _sift_down_py
_push = _push_py
_heap_sort = _heap_sort_py
_column: Any = None  # ``_address.column`` once compiled


def _kernels() -> dict:
    """The compiled loops (numba imported, the loops compiled or loaded from the disk cache,
    on first use; one thread builds them while others wait)."""
    with _KERNELS_LOCK:
        return _built()


_KERNELS_LOCK = threading.Lock()


def warm() -> None:
    """Import numba and set up its compiler's tables (about 1 CPU-s in a fresh process) so
    that a first call's loops start sooner: a caller runs this on a thread while it does other
    work (e.g. plans a streamed query)."""
    # imports first, under no lock of ours: importing a module that makes numba dispatchers
    # takes numba's compiler lock (holding it here while another thread imports one of them
    # would deadlock on the import lock)
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target

    from . import _address, gate  # noqa: F401

    _kernels()
    # numba changes its tables only under its compiler lock (another thread may be loading
    # cached code meanwhile)
    with global_compiler_lock:
        cpu_target.typing_context.refresh()
        cpu_target.target_context.refresh()


@cache
def _built() -> dict:
    import numba

    from ._address import column
    from .gate import _compiled as _gate_value_stats

    globals()["_column"] = column
    jit = numba.njit(cache=True, nogil=True)
    globals()["_sift_down"] = numba.njit(cache=True, nogil=True)(_sift_down_py)
    globals()["_push"] = numba.njit(cache=True, nogil=True, inline="always")(_push_py)
    globals()["_heap_sort"] = numba.njit(cache=True, nogil=True)(_heap_sort_py)
    return {
        "value_stats": _gate_value_stats(),
        "scan": jit(_scan_py),
        "top_candidates": jit(_top_candidates_py),
        "sort_cut": jit(_sort_cut_py),
    }
