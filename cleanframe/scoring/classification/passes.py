"""Confident learning as mergeable passes over row batches: exact out of core and distributed.

Every ``filter_by`` rule, the label quality scores, ``num_label_issues`` and the statistics of
the health summary are computed from a few passes over batches of rows. A batch is
``(labels, pred_probs, offset)``: int class codes ``(n,)``, the probabilities ``(n, K)`` and the
global position of its first row. ``pred_probs`` is a float matrix (any memory order; the numpy
reference path) or a :class:`~.columns.ProbColumns` (K column arrays, e.g. a frame's own
buffers: the fused numba loops, the fast path; ``ProbColumns.row_stats`` is computed once per
object and shared by the passes and :func:`flags` that get the same object). Batches may come
in any order and be empty; their rows together are rows ``0..N-1``. Results equal the
in-memory kernels
(:mod:`.filter`, :mod:`.count`, :mod:`.rank`) row for row, whatever the batching: the in-memory
call is the same code with one batch.

The protocol
------------
A *job* says which passes it needs, one after the other::

    job = LabelIssueJob(num_classes, filter_by="prune_by_noise_rate", rank_by="self_confidence")
    while (p := job.next_pass()) is not None:          # at most three statistics passes
        stats = [p(labels, pred_probs, offset) for labels, pred_probs, offset in batches]
        job.add(merge_all(p, stats))                   # any grouping/order of merges
    plan = job.plan()                                  # small, picklable
    for labels, pred_probs, offset in batches:         # the row-map pass
        mask, scores = flags(labels, pred_probs, offset, plan)

- ``p`` is a :class:`Pass`: picklable (send it to workers), ``p(labels, pred_probs, offset)``
  returns that pass's statistics for one batch; ``p.empty()`` is the merge identity.
- Statistics (:class:`ClassStats`, :class:`JointStats`, :class:`CandidateStats`) have
  ``a.merge(b)``: associative and commutative, the merged result does not depend on the order
  or grouping of the merges. They are picklable.
- :func:`flags` is row-local given the plan: ``mask`` (bool ``(n,)``; ``None`` for a scores-only
  job) and ``scores`` (``(n,)``, the ``rank_by`` score; ``None`` with ``rank_by=None``).

The passes, and what they hold:

1. ``"classes"`` (:class:`ClassStats`): rows per class and each row's self-confidence
   ``p[i, y_i]`` (one float per row, 1/K of pred_probs): the per-class thresholds are numpy's own
   ``np.mean`` of each class's values in global row order, so they are bit-identical to the
   in-memory (and the reference's) thresholds. (An exact-sum statistic would be smaller but
   rounds differently from numpy's pairwise float32 mean, and the threshold decides ties.)
2. ``"joint"`` (:class:`JointStats`): the uncalibrated confident joint (K×K counts) and the
   ``off_diagonal`` count of :func:`~.count.num_label_issues`; for the pair rules over more than
   one batch also per-pair histograms of the keys ``p[k] - p[j]`` (exact log-scale bins,
   mergeable by addition), from which each pair's quota gives a key cut-off that its selected
   rows cannot exceed, so a batch of pass 3 only keeps rows at or below it (the candidates
   are then about the flagged rows, not rows × K). One batch of all rows skips them.
3. ``"candidates"`` (:class:`CandidateStats`): per group, the ``m`` best rows seen, with global
   positions. Groups: each (given class k, other class j) pair of ``prune_by_noise_rate`` /
   ``both`` (largest margin ``p[j] - p[k]``), each class of ``prune_by_class`` / ``both``
   (lowest ``p[k]``), and the whole data for the ``low_*`` rules (lowest score). Ties are broken
   by global row position (the earliest row wins), as the in-memory kernel does. After the merge
   the kept rows are exactly the flagged rows, so the plan holds their positions. A batch's
   candidates are kept as they were found (runs), a merge joins the runs, and the merged lists
   are sorted by (group, key, position) and cut once, when they are read (or when they grow to
   twice the limits plus 2^20 entries), so a pass sorts each candidate once, not once per batch
   and merge level.

Which passes a job runs: ``predicted_neq_given`` none (pass 1 only with
``adjust_pred_probs``), ``confident_learning`` pass 1, the ``prune_*``/``both`` rules 1-3 (1 and
3 when a ``confident_joint`` is given), the ``low_*`` rules 1-3.

Other jobs: :class:`LabelIssueJob` with ``filter_by=None`` gives scores only (label quality
scores); :class:`CountJob` runs passes 1-2 and gives thresholds, the confident joint,
``num_label_issues`` and the health-summary tables (:meth:`CountJob.result`).

Drivers: :func:`run` (sequential, from a factory of fresh batch iterators),
:func:`run_counts`, :func:`array_batches` (one matrix in row blocks).

Warnings (small classes, ignored options) are emitted by ``job.plan()`` / the job constructor,
once, as the in-memory kernel does; invalid option combinations raise ``ValueError`` at
construction.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np

from .._common import (
    CONFIDENT_THRESHOLDS_LOWER_BOUND,
    class_rows,
    self_confidence,
    value_counts,
)
from ..parallel import _workers, parallel_for, row_reduce
from .columns import (
    HIST_MAX_CELLS,
    NEG_BINS,
    ProbColumns,
    confident_guess,
    cutoff_room,
    cutoffs,
    first_read_floor,
    pair_histogram_dense,
    scan,
    sort_cut,
    top_candidates,
)
from .count import (
    ESTIMATION_METHODS,
    calibrate_confident_joint,
    confident_cut,
    confident_guesses,
    prediction_agrees_with_label,
)
from .dataset import class_label_quality, overlapping_class_pairs
from .filter import FILTER_BY, _warn_small, prune_count_matrix
from .rank import RANK_METHODS, get_label_quality_scores

__all__ = [
    "Batch",
    "CandidateStats",
    "ClassStats",
    "CountJob",
    "CountResult",
    "FlagPlan",
    "JointStats",
    "LabelIssueJob",
    "Pass",
    "array_batches",
    "flags",
    "merge_all",
    "needs_values",
    "predicted_class",
    "run",
    "run_counts",
]

PRUNE = ("prune_by_noise_rate", "prune_by_class", "both")
LOW = ("low_self_confidence", "low_normalized_margin")

#: ``(labels, pred_probs, offset)``: class codes (n,), probabilities (n, K), global first row.
Batch = tuple[np.ndarray, np.ndarray, int]


# ------------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------------
@dataclass
class ClassStats:
    """Pass 1: rows per class and the self-confidences, kept per batch with its offset.

    ``chunks`` holds ``(offset, values, bounds)`` per batch: the batch's self-confidences
    grouped by class (row order kept within a class) and the class boundaries in ``values``.
    """

    counts: np.ndarray
    chunks: tuple = ()
    cached: np.ndarray | None = None  # the thresholds, once the values are dropped
    hist: np.ndarray | None = None  # the per-pair key histogram, when the pass counts it

    def merge(self, other: ClassStats) -> ClassStats:
        counts = self.counts + other.counts
        # a bin counts rows: int32 holds the sum while the rows do (half the bytes to add)
        narrow = int(counts.sum()) < 2**31
        hist = _add(self.hist, other.hist, np.int32 if narrow else np.int64)
        return ClassStats(counts, self.chunks + other.chunks, None, hist)

    def compact(self) -> ClassStats:
        """The same statistics with the thresholds computed and the values dropped (a job
        keeps them so: 4 bytes a row less while its later passes run)."""
        return ClassStats(self.counts, (), self.thresholds(), self.hist)

    @property
    def num_examples(self) -> int:
        return int(self.counts.sum())

    def thresholds(self) -> np.ndarray:
        """Per-class confident thresholds, equal to :func:`~.count.get_confident_thresholds`."""
        if self.cached is not None:
            return self.cached
        chunks = sorted((c for c in self.chunks if len(c[1])), key=lambda c: c[0])
        means: list[Any] = []
        for k, count in enumerate(self.counts):
            if not count:
                means.append(2.0)
                continue
            parts = [values[bounds[k] : bounds[k + 1]] for _, values, bounds in chunks]
            means.append(np.mean(np.concatenate(parts)))
        thresholds = np.array(means)
        return np.maximum(thresholds, thresholds.dtype.type(CONFIDENT_THRESHOLDS_LOWER_BOUND))


@dataclass
class JointStats:
    """Pass 2: the uncalibrated confident joint (no diagonal floor) and the ``off_diagonal``
    issue count (confident off-diagonal rows whose prediction does not agree with the label);
    for the pair rules, ``hist``: per (given, other) class pair the rows by bin of their key
    (:func:`~.columns.pair_histogram`), which bounds each pair's cut before the candidates pass.
    """

    cells: np.ndarray
    off_diagonal: int = 0
    hist: np.ndarray | None = None
    #: with a speculative candidates context (two reads, see :class:`LabelIssueJob`): the
    #: candidates under bounds of the quotas, collected in the same read
    candidates: CandidateStats | None = None

    def merge(self, other: JointStats) -> JointStats:
        cands = self.candidates
        if cands is None or other.candidates is None:
            cands = cands if other.candidates is None else other.candidates
        else:
            cands = cands.merge(other.candidates)
        return JointStats(
            self.cells + other.cells,
            self.off_diagonal + other.off_diagonal,
            _add(self.hist, other.hist),
            cands,
        )

    def confident_joint(self, class_counts: np.ndarray, *, calibrate: bool = True) -> np.ndarray:
        """As :func:`~.count.compute_confident_joint` (diagonal raised to at least 1)."""
        joint = self.cells.copy()
        np.fill_diagonal(joint, np.maximum(np.diagonal(joint), 1))
        if calibrate:
            joint = calibrate_confident_joint(joint, None, class_counts=class_counts)
        return joint


class CandidateStats:
    """Pass 3: per *slot* (group), the ``limits[slot]`` best rows seen.

    Flat arrays ``slots`` (int32), ``keys``, ``positions`` (global rows), sorted by (slot, key,
    position): smaller key = better, ties by position (the earlier row is better). Slots of K
    classes: ``k * (K + 1) + j`` for the pair (given k, other j) of ``prune_by_noise_rate``
    (key ``p[k] - p[j]``, i.e. the largest margin first), ``k * (K + 1) + K`` for class k of
    ``prune_by_class`` (key ``p[k]``), ``K * (K + 1)`` for the ``low_*`` rules (key: the score).

    Built from arrays already sorted and cut, or lazily from ``runs``: entries of batches in
    any order, not yet sorted nor cut. A merge joins the two sides' runs and the arrays are
    made (:func:`~.columns.sort_cut`: one linear pass and small per-slot sorts) when first
    read, or as soon as the runs hold many more entries than the limits keep (bounded memory).
    The result does not depend on the order or grouping of the merges.
    """

    def __init__(
        self,
        limits: np.ndarray,
        slots: np.ndarray | None = None,
        keys: np.ndarray | None = None,
        positions: np.ndarray | None = None,
        *,
        runs: list | None = None,
    ) -> None:
        self.limits = limits
        self._runs: list = []
        self._flat: tuple | None = None
        if runs is not None:
            self._runs = [r for r in runs if len(r[0])]
            if self.size > self._cap():
                self._sorted()
        else:
            self._flat = (
                np.empty(0, dtype=np.int32) if slots is None else slots,
                np.empty(0, dtype=np.float64) if keys is None else keys,
                np.empty(0, dtype=np.int64) if positions is None else positions,
            )

    @property
    def size(self) -> int:
        """Entries held (before the cut, while they are runs)."""
        if self._flat is not None:
            return len(self._flat[0])
        return sum(len(r[0]) for r in self._runs)

    def _cap(self) -> int:
        return 2 * int(np.asarray(self.limits, dtype=np.int64).sum()) + (1 << 20)

    def _sorted(self) -> tuple:
        if self._flat is None:
            self._flat = sort_cut(self.limits, self._runs)
            self._runs = []
        return self._flat

    def _pieces(self) -> list:
        return list(self._runs) if self._flat is None else [self._flat]

    @property
    def slots(self) -> np.ndarray:
        return self._sorted()[0]

    @property
    def keys(self) -> np.ndarray:
        return self._sorted()[1]

    @property
    def positions(self) -> np.ndarray:
        return self._sorted()[2]

    def merge(self, other: CandidateStats) -> CandidateStats:
        if not other.size:
            return self
        if not self.size:
            return other
        return CandidateStats(self.limits, runs=self._pieces() + other._pieces())

    def kept(self, kind: str) -> np.ndarray:
        """Sorted unique global positions kept in the slots of ``kind``: ``"pair"``,
        ``"class"`` or ``"low"``."""
        width = len(self.limits) - 1  # K * (K + 1)
        k1 = _num_classes_of(width) + 1
        if kind == "low":
            sel = self.slots == width
        elif kind == "class":
            sel = (self.slots < width) & (self.slots % k1 == k1 - 1)
        else:
            sel = (self.slots < width) & (self.slots % k1 != k1 - 1)
        chosen = self.positions[sel]
        if not len(chosen):
            return np.empty(0, dtype=np.int64)
        seen = np.zeros(int(chosen.max()) + 1, dtype=bool)  # unique, without sorting
        seen[chosen] = True
        return np.flatnonzero(seen).astype(np.int64)


def _add(a: np.ndarray | None, b: np.ndarray | None, dtype=np.int64) -> np.ndarray | None:
    """The sum of two histograms (either may be missing; a batch's may be int32)."""
    if a is None or b is None:
        return a if b is None else b
    return np.add(a, b, dtype=dtype)


def _num_classes_of(width: int) -> int:
    """K from K * (K + 1)."""
    k = int(np.sqrt(width))
    while k * (k + 1) < width:
        k += 1
    return k


def _cut(limits, slots, keys, positions) -> CandidateStats:
    """Keep the ``limits[slot]`` smallest (key, position) per slot; sorted by (slot, key,
    position)."""
    order = np.lexsort((positions, keys, slots))
    s = slots[order]
    start = np.searchsorted(s, s, side="left")
    keep = order[(np.arange(len(s)) - start) < limits[s]]
    return CandidateStats(limits, slots[keep].astype(np.int32), keys[keep], positions[keep])


def _kept_runs(stats: CandidateStats, limits: np.ndarray) -> tuple:
    """``(slots, keys, positions)`` of ``stats`` cut to the first ``limits[slot]`` of each
    slot (the lists are sorted by (slot, key, position): no sort)."""
    s = stats.slots
    first = np.searchsorted(s, s, side="left")
    keep = (np.arange(len(s)) - first) < limits[s]
    return s[keep], stats.keys[keep], stats.positions[keep]


def _select(keys: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Mask (G, n): in each row g of ``keys`` (columns in position order), the ``limits[g]``
    smallest (key, column) pairs."""
    g_count, n = keys.shape
    mask = np.zeros((g_count, n), dtype=bool)
    limits = np.asarray(limits, dtype=np.int64)
    mask[limits >= n] = True
    part = np.flatnonzero((limits < n) & (limits > 0))
    if len(part):
        sub = keys[part]
        m = limits[part]
        cut = np.partition(sub, np.unique(m - 1), axis=1)[np.arange(len(part)), m - 1]
        less = sub < cut[:, None]
        tie = sub == cut[:, None]
        need = m - less.sum(axis=1)
        tie &= np.cumsum(tie, axis=1) <= need[:, None]
        mask[part] = less | tie
    return mask


# ------------------------------------------------------------------------------------------
# passes
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pass:
    """One statistics pass: ``p(labels, pred_probs, offset) -> stats`` for one batch.

    ``name`` is ``"classes"``, ``"joint"`` or ``"candidates"``; ``context`` what the pass needs
    from the earlier ones (thresholds, the candidate limits). Picklable.
    """

    name: str
    num_classes: int
    context: Any = None

    def __call__(self, labels: np.ndarray, pred_probs: np.ndarray, offset: int):
        labels = np.asarray(labels)
        if self.name == "classes":
            return _class_stats(
                labels, pred_probs, int(offset), self.num_classes, bool(self.context)
            )
        if self.name == "joint":
            return _joint_stats(labels, pred_probs, int(offset), self.num_classes, self.context)
        return _candidate_stats(labels, pred_probs, int(offset), self.num_classes, self.context)

    def empty(self):
        """The merge identity of this pass's statistics (the stats of no rows)."""
        k = self.num_classes
        if self.name == "classes":
            return ClassStats(np.zeros(k, dtype=np.int64))
        if self.name == "joint":
            return JointStats(np.zeros((k, k), dtype=np.int64))
        return CandidateStats(self.context.limits)


def merge_all(p: Pass, stats: Iterable) -> Any:
    """Merge the statistics of one pass over any number of batches (none gives ``p.empty()``)."""
    return reduce(lambda a, b: a.merge(b), stats, p.empty())


def _class_stats(labels, pred_probs, offset, num_classes, pair_hist=False) -> ClassStats:
    """Pass 1 of one batch; with ``pair_hist`` also the per-pair key histogram (the keys do
    not depend on the thresholds), counted in the read that finds each row's ranks."""
    counts = value_counts(labels, num_classes).astype(np.int64)
    if not len(labels):
        return ClassStats(counts)
    own = _own(labels, pred_probs)
    order = np.argsort(labels.astype(np.int16 if num_classes < 2**15 else np.int64), kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    hist = None
    if pair_hist and isinstance(pred_probs, ProbColumns):
        stats = pred_probs.row_stats(labels)
        floor = first_read_floor(num_classes, offset)
        _, hist = scan(pred_probs, labels, stats, hist=True, floor=floor)
    elif pair_hist:
        hist = pair_histogram_dense(labels, np.asarray(pred_probs))
    return ClassStats(counts, ((offset, own[order], bounds),), None, hist)


@dataclass(frozen=True)
class _JointContext:
    thresholds: np.ndarray
    off_diagonal: bool
    pair_hist: bool = False
    num_rows: int = 0  # a batch of all the rows (in memory) needs no histogram
    candidates: _CandidateContext | None = None  # speculative candidates in the same read


def _joint_stats(labels, pred_probs, offset, num_classes, ctx: _JointContext) -> JointStats:
    k = num_classes
    if not len(labels):
        cands = None if ctx.candidates is None else CandidateStats(ctx.candidates.limits)
        return JointStats(np.zeros((k, k), dtype=np.int64), candidates=cands)
    want_hist = ctx.pair_hist and len(labels) < ctx.num_rows
    hist = None
    if isinstance(pred_probs, ProbColumns):
        # the confident guesses and the key histogram from one read of the columns
        cut = confident_cut(ctx.thresholds, pred_probs.dtype)
        guesses, hist = scan(pred_probs, labels, pred_probs.row_stats(labels), cut, hist=want_hist)
        assert guesses is not None
    else:
        guesses = confident_guesses(pred_probs, ctx.thresholds)
        if want_hist:
            hist = pair_histogram_dense(labels, np.asarray(pred_probs))
    valid = guesses >= 0
    cells = labels[valid].astype(np.int64) * k + guesses[valid]
    joint = np.bincount(cells, minlength=k * k).reshape(k, k).astype(np.int64)
    off = 0
    if ctx.off_diagonal:
        rows = np.flatnonzero(valid & (guesses != labels))
        off = int(len(rows) - _agrees(labels, pred_probs, rows).sum())
    cands = None
    if ctx.candidates is not None:  # after the guesses: their read found the ranks it uses
        cands = _candidate_stats(labels, pred_probs, offset, num_classes, ctx.candidates)
    return JointStats(joint, off, hist, cands)


@dataclass(frozen=True)
class _CandidateContext:
    limits: np.ndarray  # per slot (see CandidateStats)
    pairs: dict  # class k -> (other classes j, as int array)
    by_class: tuple  # classes k with a prune_by_class limit
    low_method: str | None  # "self_confidence" / "normalized_margin" for the low_* rules
    cutoff: np.ndarray | None = None  # per pair (k, j): keys above it cannot be selected
    room: int = 0  # keys of all rows at or below their pair's cut-off (0: unknown)


def _candidate_stats(labels, pred_probs, offset, num_classes, ctx: _CandidateContext):
    limits = ctx.limits
    k1 = num_classes + 1
    if not len(labels):
        return CandidateStats(limits)
    slots, keys, positions = [], [], []
    if ctx.low_method is not None:
        scores = _scores(labels, pred_probs, ctx.low_method, False, None)
        slot = num_classes * k1
        chosen = np.flatnonzero(_select(scores[None, :], limits[slot : slot + 1])[0])
        slots.append(np.full(len(chosen), slot, dtype=np.int32))
        keys.append(scores[chosen])
        positions.append(offset + chosen.astype(np.int64))
    if (ctx.pairs or ctx.by_class) and isinstance(pred_probs, ProbColumns):
        pair_slot = np.full((num_classes, num_classes), -1, dtype=np.int64)
        for k, others in ctx.pairs.items():
            pair_slot[k, others] = k * k1 + others
        class_slot = np.full(num_classes, -1, dtype=np.int64)
        by_class = np.asarray(ctx.by_class, dtype=np.int64)
        class_slot[by_class] = by_class * k1 + num_classes
        stats = pred_probs.row_stats(labels)
        n, k = pred_probs.shape
        workers = _workers() if n * k >= 1 << 22 else 1
        step = -(-n // workers)
        bounds = [(a, min(n, a + step)) for a in range(0, n, step)]
        found: dict = {}

        def scan(bound):  # each row range keeps its own best rows per slot (numba: no GIL)
            a, b = bound
            found[a] = top_candidates(
                pred_probs if len(bounds) == 1 else pred_probs[a:b],
                labels[a:b],
                stats.own[a:b],
                stats.other[a:b],
                offset + a,
                pair_slot,
                class_slot,
                limits,
                ctx.cutoff,
                ctx.room,
                ordered=False,
            )

        parallel_for(scan, bounds, parallel=len(bounds) > 1)
        # the ranges' candidates (and the low_* rows) as runs: sorted and cut once, when the
        # merged statistics of the pass are read (see CandidateStats)
        runs = [found[a] for a, _ in bounds]
        runs += [(a, b, c) for a, b, c in zip(slots, keys, positions)]
        return CandidateStats(limits, runs=runs)
    elif ctx.pairs or ctx.by_class:
        for k, rows in enumerate(class_rows(labels, num_classes)):
            others = ctx.pairs.get(k)
            if not len(rows) or (others is None and k not in ctx.by_class):
                continue
            sub = pred_probs[rows]
            own = sub[:, k]
            blocks = []
            if others is not None:
                # the reference's margin p[j] - p[k] in pred_probs' dtype; key = -margin
                blocks.append(own[None, :] - np.ascontiguousarray(sub[:, others].T))
            cols = list(others) if others is not None else []
            if k in ctx.by_class:
                blocks.append(own[None, :])
                cols.append(num_classes)
            key_matrix = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
            slot_ids = (k * k1 + np.asarray(cols, dtype=np.int64)).astype(np.int32)
            g, c = np.nonzero(_select(key_matrix, limits[slot_ids]))
            slots.append(slot_ids[g])
            keys.append(key_matrix[g, c])
            positions.append(offset + rows[c].astype(np.int64))
    if not slots:
        return CandidateStats(limits)
    slots_, keys_, positions_ = (np.concatenate(a) for a in (slots, keys, positions))
    return _cut(limits, slots_, keys_, positions_)


# ------------------------------------------------------------------------------------------
# the plan and the row-map pass
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlagPlan:
    """Everything :func:`flags` needs; small and picklable.

    ``rule``: ``None`` (scores only), ``"positions"`` (flag ``positions``, sorted global rows),
    ``"predicted_neq_given"`` or ``"confident_learning"`` (row-local, with ``thresholds``).
    ``drop_agreeing``: unflag rows whose prediction agrees with the label (all rules but
    ``low_*``). ``rank_by`` / ``adjust_pred_probs`` / ``score_thresholds``: the score.
    """

    num_classes: int
    rule: str | None
    positions: np.ndarray | None
    thresholds: np.ndarray | None
    drop_agreeing: bool
    rank_by: str | None
    adjust_pred_probs: bool
    score_thresholds: np.ndarray | None


def flags(
    labels: np.ndarray, pred_probs: np.ndarray, offset: int, plan: FlagPlan
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The row-map pass: ``(is_issue, label_score)`` of one batch (either may be ``None``)."""
    labels = np.asarray(labels)
    n = len(labels)
    mask = None
    if plan.rule == "positions":
        assert plan.positions is not None
        lo, hi = np.searchsorted(plan.positions, [offset, offset + n])
        mask = np.zeros(n, dtype=bool)
        mask[plan.positions[lo:hi] - offset] = True
    elif plan.rule == "predicted_neq_given":
        mask = _argmax(labels, pred_probs) != labels if n else np.zeros(0, dtype=bool)
    elif plan.rule == "confident_learning":
        assert plan.thresholds is not None
        guesses = _guesses(labels, pred_probs, plan.thresholds)
        mask = (guesses >= 0) & (guesses != labels)
    if mask is not None and plan.drop_agreeing:
        flagged = np.flatnonzero(mask)
        mask[flagged[_agrees(labels, pred_probs, flagged)]] = False
    scores = None
    if plan.rank_by is not None:
        scores = _scores(
            labels, pred_probs, plan.rank_by, plan.adjust_pred_probs, plan.score_thresholds
        )
    return mask, scores


#: Scores that the row stats of columns give without reading the rows again.
_ROW_SCORES = ("self_confidence", "normalized_margin")


def needs_values(plan: FlagPlan) -> bool:
    """Whether :func:`flags` of ``plan`` reads the probabilities of a batch beyond the per-row
    values of :class:`~.columns.RowStats` (own probability, argmax, largest other, agreement):
    the confident-learning rule and the scores other than self-confidence / normalized margin
    (or adjusted) do; the kept positions, ``predicted_neq_given`` and those two scores do not."""
    if plan.rule == "confident_learning":
        return True
    return plan.rank_by is not None and (plan.adjust_pred_probs or plan.rank_by not in _ROW_SCORES)


# ------------------------------------------------------------------------------------------
# per-row values, from a matrix or from columns (one fused read, cached on the columns)
# ------------------------------------------------------------------------------------------
def _own(labels, pred_probs) -> np.ndarray:
    if isinstance(pred_probs, ProbColumns):
        return pred_probs.row_stats(labels).own
    return self_confidence(labels, pred_probs)


def predicted_class(labels, pred_probs) -> np.ndarray:
    """The model's class of each row (first argmax, int64), from the columns' fused read when
    ``pred_probs`` is a :class:`~.columns.ProbColumns`."""
    return _argmax(labels, pred_probs)


def _argmax(labels, pred_probs) -> np.ndarray:
    """First argmax of each row."""
    if isinstance(pred_probs, ProbColumns):
        return pred_probs.row_stats(labels).argmax
    return row_reduce(pred_probs, "argmax")


def _agrees(labels, pred_probs, rows) -> np.ndarray:
    """:func:`~.count.prediction_agrees_with_label` for rows ``rows``: from the row stats of
    columns (computed for every row in the read that finds the argmax)."""
    if not isinstance(pred_probs, ProbColumns) or not len(rows):
        return prediction_agrees_with_label(labels, pred_probs, rows)
    return pred_probs.row_stats(labels).agrees[rows]


def _guesses(labels, pred_probs, thresholds) -> np.ndarray:
    if isinstance(pred_probs, ProbColumns):
        cut = confident_cut(thresholds, pred_probs.dtype)
        return confident_guess(pred_probs, cut, pred_probs.row_stats(labels))
    return confident_guesses(pred_probs, thresholds)


#: Rows per block when a score needs the rows of a column batch as a matrix.
_SCORE_ROWS = 1 << 14


def _scores(labels, pred_probs, method, adjust, thresholds) -> np.ndarray:
    """The ``method`` label quality score of every row of the batch."""
    if isinstance(pred_probs, ProbColumns):
        if not adjust and method == "self_confidence":
            return pred_probs.row_stats(labels).own.copy()
        if not adjust and method == "normalized_margin":
            stats = pred_probs.row_stats(labels)
            return (stats.own - stats.other + 1) / 2
        n = len(labels)
        parts = [
            _scores(
                labels[a : a + _SCORE_ROWS],
                pred_probs.take(np.arange(a, min(n, a + _SCORE_ROWS))),
                method,
                adjust,
                thresholds,
            )
            for a in range(0, n, _SCORE_ROWS)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)
    return get_label_quality_scores(
        labels,
        pred_probs,
        method=method,
        adjust_pred_probs=adjust,
        confident_thresholds=thresholds,
    )


# ------------------------------------------------------------------------------------------
# jobs
# ------------------------------------------------------------------------------------------
class _Job:
    """A sequence of statistics passes, each built from the merged statistics of the earlier."""

    steps: tuple[str, ...] = ()

    def __init__(self, num_classes: int) -> None:
        self.num_classes = int(num_classes)
        self.stats: dict[str, Any] = {}
        self._pending: Pass | None = None
        self._rows: Callable[[], Iterable[tuple]] | None = None

    def set_rows(self, blocks: Callable[[], Iterable[tuple]]) -> None:
        """Give the job pass 1's per-row values: ``blocks()`` yields ``(labels, own, argmax,
        other, second)`` per block of rows (any blocking; ``second`` at or above each row's
        second largest value). Call after pass 1 was added; a job that can use them (see
        :class:`LabelIssueJob`'s ``two_reads``) reads them before its next pass."""
        self._rows = blocks

    def next_pass(self) -> Pass | None:
        """The next pass to run over all batches, or ``None`` when the statistics are complete.

        The same :class:`Pass` is returned until :meth:`add` receives its merged statistics.
        """
        for name in self.steps:
            if name not in self.stats:
                if self._pending is None or self._pending.name != name:
                    self._pending = Pass(name, self.num_classes, self._context(name))
                return self._pending
        return None

    def add(self, stats) -> None:
        """Give the job the merged statistics of the pass :meth:`next_pass` returned."""
        p = self.next_pass()
        if p is None:
            raise ValueError("every pass of this job has its statistics already")
        expected = {"classes": ClassStats, "joint": JointStats, "candidates": CandidateStats}
        if not isinstance(stats, expected[p.name]):
            raise TypeError(f"expected the merged statistics of pass {p.name!r}")
        self.stats[p.name] = stats.compact() if isinstance(stats, ClassStats) else stats

    def _context(self, name: str) -> Any:
        if name == "joint":
            return _JointContext(self.thresholds(), off_diagonal=True)
        return None

    def thresholds(self) -> np.ndarray:
        return self.stats["classes"].thresholds()

    def class_counts(self) -> np.ndarray:
        return self.stats["classes"].counts


def guess_bounds(labels, own, argmax, other, second, cut) -> tuple:
    """Counts from per-row values of pass 1 that bound the confident joint before it is read
    (mergeable by addition; see :func:`quota_bounds`): ``decided`` (K, K), the rows whose
    confident class is known, by (given class, that class): a row whose largest value reaches
    its argmax class's cut has the argmax as its confident class (alone or as the argmax of
    several), and a row whose largest value is below its argmax's cut and whose second
    largest (``second``, any float dtype at or above the true value) is below every cut has
    none; ``ranks`` (K, K + 1), the other (undecided) rows by given class and by how many
    classes' cuts (sorted) their second largest value reaches; ``argmax`` (K, K), the
    undecided rows by (given class, argmax), which can be their class when several are
    confident."""
    k = len(cut)
    labels = np.asarray(labels, dtype=np.int64)
    argmax = np.asarray(argmax, dtype=np.int64)
    top = np.maximum(own, other)
    decided = top >= cut[argmax]
    cells = labels[decided] * k + argmax[decided]
    known = np.bincount(cells, minlength=k * k).reshape(k, k)
    open_ = np.flatnonzero(~decided & (np.asarray(second, dtype=cut.dtype) >= cut.min()))
    lab = labels[open_]
    reach = np.searchsorted(np.sort(cut), np.asarray(second[open_], dtype=cut.dtype), "right")
    ranks = np.bincount(lab * (k + 1) + reach, minlength=k * (k + 1)).reshape(k, k + 1)
    at_max = np.bincount(lab * k + argmax[open_], minlength=k * k).reshape(k, k)
    return known, ranks, at_max


def quota_bounds(bounds: tuple, cut: np.ndarray, counts: np.ndarray, frac_noise: float):
    """Upper bounds (K, K) ``[given k, other j]`` of the ``prune_by_noise_rate`` quotas
    (``prune_count_matrix`` of the calibrated confident joint, transposed) from the summed
    :func:`guess_bounds` of all rows: cell (k, j) of the joint is at least ``decided[k, j]``
    and at most that plus the undecided rows of class k that can have j as their class, and
    the calibrated cell ``count_k * cell / row sum`` grows with the cell, the rest of the row
    at least its decided part (the diagonal at least 1). Rounding adds at most one."""
    known, ranks, at_max = bounds
    k = len(cut)
    order = np.argsort(cut, kind="stable")
    reach = np.cumsum(ranks[:, ::-1], axis=1)[:, ::-1]  # [k, r]: rows reaching >= r cuts
    possible = np.zeros((k, k), dtype=np.int64)
    possible[:, order] = reach[:, 1:]
    possible += at_max
    floor = known.astype(np.float64)
    np.fill_diagonal(floor, np.maximum(np.diagonal(floor), 1))
    high = floor + possible
    rest = floor.sum(axis=1)[:, None] - floor
    share = np.asarray(counts, dtype=np.float64)[:, None] * high / np.maximum(rest + high, 1)
    quota = np.ceil(share * (1 + 1e-9) * max(float(frac_noise), 1.0)).astype(np.int64) + 1
    quota[high == 0] = 0
    np.fill_diagonal(quota, 0)
    return quota


class LabelIssueJob(_Job):
    """``find_label_issues`` (and/or label quality scores) as passes; see the module docstring.

    Parameters are those of :func:`~.filter.find_label_issues` (same warnings and
    ``ValueError``\\ s), plus ``rank_by`` / ``rank_by_kwargs`` for the scores (``rank_by=None``:
    no scores). ``filter_by=None``: scores only (``flags`` returns ``mask=None``).

    ``two_reads`` (for data read from storage, where each pass is a read): the pair rules
    count the key histograms in pass 1 (the keys do not depend on the thresholds), and when
    the driver gives the per-row values of pass 1 (:meth:`set_rows`), ``prune_by_noise_rate``
    collects its candidates in the joint pass under upper bounds of the quotas
    (:func:`quota_bounds`); once the joint is known, each pair keeps its exact quota of them.
    A pair whose exact quota exceeds its bound (not expected: the bounds hold for the
    default ``min_examples_per_class`` / ``frac_noise`` rules) gets a third pass of its own,
    so the result is the same either way.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        filter_by: str | None = "prune_by_noise_rate",
        frac_noise: float = 1.0,
        num_to_remove_per_class=None,
        min_examples_per_class: int = 1,
        confident_joint: np.ndarray | None = None,
        rank_by: str | None = "self_confidence",
        rank_by_kwargs: dict | None = None,
        two_reads: bool = False,
    ) -> None:
        super().__init__(num_classes)
        if filter_by is not None and filter_by not in FILTER_BY:
            raise ValueError(f"filter_by must be one of {FILTER_BY}, not {filter_by!r}.")
        if rank_by is not None and rank_by not in RANK_METHODS:
            raise ValueError(f"method must be one of {RANK_METHODS}, not {rank_by!r}.")
        options = dict(rank_by_kwargs or {})
        self.adjust = bool(options.pop("adjust_pred_probs", False))
        if options:
            raise ValueError(f"unknown rank_by_kwargs {sorted(options)}")
        if self.adjust and rank_by == "confidence_weighted_entropy":
            raise ValueError(
                "adjust_pred_probs=True cannot be used with method='confidence_weighted_entropy'."
            )
        prunes = filter_by in PRUNE
        if filter_by is not None and not prunes:
            if frac_noise != 1.0 or num_to_remove_per_class is not None:
                warnings.warn(
                    f"frac_noise and num_to_remove_per_class only apply to the prune_* filters "
                    f"and 'both', not filter_by={filter_by!r}.",
                    UserWarning,
                    stacklevel=2,
                )
                if num_to_remove_per_class is not None:
                    raise ValueError(
                        f"num_to_remove_per_class cannot be used with filter_by={filter_by!r}; "
                        f"use 'prune_by_class', 'prune_by_noise_rate' or 'both'."
                    )
        if filter_by == "confident_learning" and confident_joint is not None:
            warnings.warn(
                "confident_joint is ignored by filter_by='confident_learning'.",
                UserWarning,
                stacklevel=2,
            )
            confident_joint = None
        if not prunes:
            confident_joint = None
        self.filter_by = filter_by
        self.frac_noise = frac_noise
        self.num_to_remove_per_class = num_to_remove_per_class
        self.min_examples_per_class = min_examples_per_class
        self.given_joint = None if confident_joint is None else np.asarray(confident_joint)
        self.rank_by = rank_by
        steps = []
        if (
            prunes
            or filter_by in LOW
            or filter_by == "confident_learning"
            or (self.adjust and rank_by is not None)
        ):
            steps.append("classes")
        if filter_by in LOW or (prunes and self.given_joint is None):
            steps.append("joint")
        if prunes or filter_by in LOW:
            steps.append("candidates")
        self.steps = tuple(steps)
        self._prune_counts: np.ndarray | None = None
        pair_rule = filter_by in ("prune_by_noise_rate", "both")
        self.hist_first = (
            two_reads and pair_rule and self.num_classes**2 * NEG_BINS <= HIST_MAX_CELLS
        )
        #: whether the joint pass may collect the candidates (given the rows, see set_rows)
        self.speculates = (
            self.hist_first
            and filter_by == "prune_by_noise_rate"
            and self.given_joint is None
            and num_to_remove_per_class is None
        )
        self._exact: _CandidateContext | None = None  # the exact context, once settled
        self._settled: CandidateStats | None = None  # the pairs settled by the joint pass
        self._rest: _CandidateContext | None = None  # the pairs a third pass must read

    def row_map_reads_values(self) -> bool:
        """Whether :func:`flags` of this job's plan reads probabilities beyond the per-row
        values of the row stats (see :func:`needs_values`), known before any pass."""
        if self.filter_by == "confident_learning":
            return True
        return self.rank_by is not None and (self.adjust or self.rank_by not in _ROW_SCORES)

    # -- contexts -------------------------------------------------------------------------
    def _context(self, name: str) -> Any:
        if name == "classes":
            return self.hist_first or None
        if name == "joint":
            return _JointContext(
                self.thresholds(),
                off_diagonal=self.filter_by in LOW,
                pair_hist=self.filter_by in ("prune_by_noise_rate", "both")
                and self.num_classes**2 * NEG_BINS <= HIST_MAX_CELLS
                and self._pair_hist() is None,
                num_rows=int(self.class_counts().sum()),
                candidates=self._speculative_context(),
            )
        if name == "candidates":
            return self._rest if self._rest is not None else self._candidate_context()
        return None

    def _pair_hist(self) -> np.ndarray | None:
        """The per-pair key histogram: pass 1's (``two_reads``) or the joint pass's."""
        for name in ("classes", "joint"):
            stats = self.stats.get(name)
            if stats is not None and stats.hist is not None:
                return stats.hist
        return None

    def _speculative_context(self) -> _CandidateContext | None:
        """The candidates context of the joint pass: each pair's quota replaced by its upper
        bound (:func:`quota_bounds`) and the cut-offs taken at it; ``None`` when the job does
        not speculate or has no rows, histogram or rows to flag."""
        hist = self._pair_hist()
        if not self.speculates or self._rows is None or hist is None:
            return None
        counts = self.class_counts()
        if not counts.any():
            return None
        dtype = None
        total: list | None = None
        for labels, own, argmax, other, second in self._rows():
            if dtype is None:
                dtype = own.dtype
                cut = confident_cut(self.thresholds(), dtype)
            part = guess_bounds(labels, own, argmax, other, second, cut)
            total = list(part) if total is None else [a + b for a, b in zip(total, part)]
        self._rows = None
        if total is None:
            return None
        quota = quota_bounds(tuple(total), cut, counts, self.frac_noise)
        small = max(self.min_examples_per_class, 1)
        quota[counts <= small] = 0  # skipped by the exact context too
        return self._pairs_context(quota, hist)

    def _pairs_context(self, quota: np.ndarray, hist: np.ndarray | None) -> _CandidateContext:
        """The candidates context of the pairs with ``quota[k, j] > 0`` (no class slots)."""
        k1 = self.num_classes + 1
        limits = np.zeros(self.num_classes * k1 + 1, dtype=np.int64)
        pairs = {}
        for k in np.flatnonzero(quota.any(axis=1)):
            others = np.flatnonzero(quota[k] > 0)
            pairs[int(k)] = others
            limits[k * k1 + others] = quota[k, others]
        cutoff = None
        room = 0
        if pairs and hist is not None:
            cutoff = cutoffs(hist, quota)
            room = cutoff_room(hist, cutoff, quota)
        return _CandidateContext(limits, pairs, (), None, cutoff, room)

    def add(self, stats) -> None:
        """Give the job the merged statistics of the pass :meth:`next_pass` returned."""
        pending = self.next_pass()
        name = None if pending is None else pending.name
        if name == "candidates" and self._settled is not None:
            assert self._exact is not None and isinstance(stats, CandidateStats)
            limits = self._exact.limits
            stats = CandidateStats(limits, stats.slots, stats.keys, stats.positions)
            stats = CandidateStats(limits, *_kept_runs(self._settled, limits)).merge(stats)
            self._settled = None
        super().add(stats)
        if name == "joint" and stats.candidates is not None:
            self._settle(stats.candidates)

    def _settle(self, collected: CandidateStats) -> None:
        """After a speculative joint pass: each pair's exact quota from the collected
        candidates where it is within the bound the pass used (the collected rows hold every
        row the pair can flag), the other pairs left to a third pass (:attr:`_rest`)."""
        joint = self.stats["joint"]
        self.stats["joint"] = JointStats(joint.cells, joint.off_diagonal, joint.hist)
        exact = self._exact = self._candidate_context()
        width = self.num_classes * (self.num_classes + 1)
        over = np.flatnonzero(exact.limits[:width] > collected.limits[:width])
        settled = exact.limits.copy()
        settled[over] = 0  # those pairs come from the third pass alone
        kept = CandidateStats(exact.limits, *_kept_runs(collected, settled))
        if not len(over):
            self.stats["candidates"] = kept
            return
        self._settled = kept
        k1 = self.num_classes + 1
        quota = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        quota[over // k1, over % k1] = exact.limits[over]
        self._rest = self._pairs_context(quota, self._pair_hist())

    def prune_counts(self) -> np.ndarray:
        """The prune-count matrix (rows = true class, columns = given class)."""
        if self._prune_counts is None:
            counts = self.class_counts()
            if self.given_joint is not None:
                cj = self.given_joint
            else:
                cj = self.stats["joint"].confident_joint(counts, calibrate=True)
            self._prune_counts = prune_count_matrix(
                cj,
                None,  # type: ignore[arg-type]
                min_examples_per_class=self.min_examples_per_class,
                frac_noise=self.frac_noise,
                num_to_remove_per_class=self.num_to_remove_per_class,
                class_counts=counts,
            )
        return self._prune_counts

    def _candidate_context(self) -> _CandidateContext:
        k1 = self.num_classes + 1
        limits = np.zeros(self.num_classes * k1 + 1, dtype=np.int64)
        pairs: dict = {}
        by_class: list[int] = []
        if self.filter_by in LOW:
            limits[-1] = self.stats["joint"].off_diagonal
            method = (
                "self_confidence"
                if self.filter_by == "low_self_confidence"
                else ("normalized_margin")
            )
            return _CandidateContext(limits, pairs, (), method)
        if not self.class_counts().any():  # no rows at all: nothing to flag
            return _CandidateContext(limits, pairs, (), None)
        prune_counts = self.prune_counts()
        counts = self.class_counts()
        small = max(self.min_examples_per_class, 1)
        if self.filter_by in ("prune_by_noise_rate", "both"):
            for k in range(self.num_classes):
                wanted = prune_counts[:, k].copy()
                wanted[k] = 0
                if not wanted.any():
                    continue
                if counts[k] <= small:
                    _warn_small(k, self.min_examples_per_class)
                    continue
                others = np.flatnonzero(wanted > 0)
                pairs[k] = others
                limits[k * k1 + others] = wanted[others]
        if self.filter_by in ("prune_by_class", "both"):
            for k in range(self.num_classes):
                n_issues = int(counts[k]) - int(prune_counts[k, k])
                if n_issues <= 0:
                    continue
                if counts[k] <= small:
                    if self.filter_by == "prune_by_class":
                        _warn_small(k, self.min_examples_per_class)
                    continue
                by_class.append(k)
                limits[k * k1 + self.num_classes] = n_issues
        cutoff = None
        room = 0
        hist = self._pair_hist()
        if pairs and hist is not None:
            quota = limits[: self.num_classes * k1].reshape(self.num_classes, k1)[:, :-1]
            cutoff = cutoffs(hist, quota)
            room = cutoff_room(hist, cutoff, quota)
        return _CandidateContext(limits, pairs, tuple(by_class), None, cutoff, room)

    # -- the plan -------------------------------------------------------------------------
    def plan(self) -> FlagPlan:
        """The plan of the row-map pass (after every statistics pass was added)."""
        if self.next_pass() is not None:
            raise ValueError("the job still needs statistics passes (see next_pass())")
        rule: str | None = None
        positions = None
        thresholds = None
        if self.filter_by in PRUNE or self.filter_by in LOW:
            rule = "positions"
            cand = self.stats["candidates"]
            if self.filter_by == "prune_by_noise_rate":
                positions = cand.kept("pair")
            elif self.filter_by == "prune_by_class":
                positions = cand.kept("class")
            elif self.filter_by == "both":
                positions = np.intersect1d(cand.kept("pair"), cand.kept("class"))
            else:
                positions = cand.kept("low")
        elif self.filter_by == "confident_learning":
            rule = "confident_learning"
            thresholds = self.thresholds()
        elif self.filter_by == "predicted_neq_given":
            rule = "predicted_neq_given"
        score_thresholds = self.thresholds() if self.adjust and self.rank_by is not None else None
        return FlagPlan(
            num_classes=self.num_classes,
            rule=rule,
            positions=positions,
            thresholds=thresholds,
            drop_agreeing=self.filter_by is not None and self.filter_by not in LOW,
            rank_by=self.rank_by,
            adjust_pred_probs=self.adjust,
            score_thresholds=score_thresholds,
        )


@dataclass
class CountResult:
    """Dataset-level statistics from merged passes 1-2 (see :class:`CountJob`)."""

    class_counts: np.ndarray
    thresholds: np.ndarray
    joint_stats: JointStats

    @property
    def num_examples(self) -> int:
        return int(self.class_counts.sum())

    def confident_joint(self, *, calibrate: bool = True) -> np.ndarray:
        """As :func:`~.count.compute_confident_joint`."""
        return self.joint_stats.confident_joint(self.class_counts, calibrate=calibrate)

    def joint(self, confident_joint: np.ndarray | None = None) -> np.ndarray:
        """As :func:`~.count.estimate_joint` (from the data, or calibrating a given joint)."""
        if confident_joint is None:
            cj = self.confident_joint(calibrate=True)
        else:
            cj = calibrate_confident_joint(confident_joint, None, class_counts=self.class_counts)
        return cj / np.clip(cj.sum(), 1e-100, None)

    def num_label_issues(
        self, *, estimation_method: str = "off_diagonal", confident_joint=None
    ) -> int:
        """As :func:`~.count.num_label_issues` (same warning and errors)."""
        if estimation_method == "off_diagonal":
            if confident_joint is not None:
                warnings.warn(
                    "confident_joint is ignored by estimation_method='off_diagonal'; "
                    "use 'off_diagonal_custom' to count from it.",
                    UserWarning,
                    stacklevel=2,
                )
            return int(self.joint_stats.off_diagonal)
        if estimation_method == "off_diagonal_calibrated":
            joint = self.joint()
        elif estimation_method == "off_diagonal_custom":
            if confident_joint is None:
                raise ValueError("estimation_method='off_diagonal_custom' needs a confident_joint.")
            joint = self.joint(np.asarray(confident_joint))
        else:
            raise ValueError(f"estimation_method must be one of {ESTIMATION_METHODS}.")
        return int(np.rint((1.0 - np.trace(joint)) * self.num_examples))

    def health(self, *, asymmetric: bool = False) -> dict:
        """The health summary's numbers: ``overall_label_health_score``, ``num_examples``,
        ``num_label_issues``, ``joint``, ``class_counts``, ``class_quality`` (dict of per-class
        arrays, class order, as :func:`~.dataset.class_label_quality`) and ``overlaps`` (as
        :func:`~.dataset.overlapping_class_pairs`)."""
        joint = self.joint()
        n = self.num_examples
        issues = self.num_label_issues()
        return {
            "overall_label_health_score": 1.0 - issues / n if n else float("nan"),
            "num_examples": n,
            "num_label_issues": issues,
            "joint": joint,
            "class_counts": self.class_counts,
            "class_quality": class_label_quality(joint=joint, num_examples=n),
            "overlaps": overlapping_class_pairs(joint=joint, asymmetric=asymmetric, num_examples=n),
        }


class CountJob(_Job):
    """Passes 1-2: thresholds, confident joint, ``num_label_issues`` and health statistics."""

    steps = ("classes", "joint")

    def row_map_reads_values(self) -> bool:
        """No row map (see :meth:`LabelIssueJob.row_map_reads_values`)."""
        return False

    def result(self) -> CountResult:
        if self.next_pass() is not None:
            raise ValueError("the job still needs statistics passes (see next_pass())")
        return CountResult(self.class_counts(), self.thresholds(), self.stats["joint"])


# ------------------------------------------------------------------------------------------
# sequential drivers
# ------------------------------------------------------------------------------------------
BatchesFactory = Callable[[], Iterable[Batch]]


def _run_passes(job: _Job, batches_factory: BatchesFactory) -> None:
    while (p := job.next_pass()) is not None:
        job.add(merge_all(p, (p(lab, prob, off) for lab, prob, off in batches_factory())))


def run(
    batches_factory: BatchesFactory, num_classes: int, **options: Any
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Run a :class:`LabelIssueJob` (``options`` are its keywords) over the batches of
    ``batches_factory()`` (called once per pass, each time a fresh iterator) and return the
    whole ``(is_issue, label_score)`` arrays in global row order."""
    job = LabelIssueJob(num_classes, **options)
    _run_passes(job, batches_factory)
    plan = job.plan()
    parts = []
    for labels, pred_probs, offset in batches_factory():
        parts.append((int(offset), *flags(labels, pred_probs, offset, plan)))
    parts.sort(key=lambda t: t[0])
    mask = np.concatenate([m for _, m, _ in parts]) if plan.rule is not None and parts else None
    if plan.rule is not None and mask is None:
        mask = np.zeros(0, dtype=bool)
    scores = np.concatenate([s for _, _, s in parts]) if plan.rank_by and parts else None
    return mask, scores


def run_counts(batches_factory: BatchesFactory, num_classes: int) -> CountResult:
    """Run a :class:`CountJob` over the batches and return its :class:`CountResult`."""
    job = CountJob(num_classes)
    _run_passes(job, batches_factory)
    return job.result()


def array_batches(
    labels: np.ndarray, pred_probs: np.ndarray, *, rows: int | None = None
) -> BatchesFactory:
    """A batches factory over in-memory arrays: one batch, or blocks of ``rows`` rows."""
    n = len(labels)
    step = n if not rows else int(rows)

    def factory() -> Iterator[Batch]:
        if n == 0 or step >= n:
            yield labels, pred_probs, 0
            return
        for start in range(0, n, step):
            yield labels[start : start + step], pred_probs[start : start + step], start

    return factory
