"""Label issues on frames read in batches: a polars LazyFrame (streaming) and a Dask DataFrame.

The public functions of :mod:`cleanframe.label_issues` hand a batched engine (``fr.batched``)
here. Each call is a few passes of the mergeable kernels
(:mod:`cleanframe.scoring.classification.passes`) over the engine's batches:

1. once: the specs and classes from the schema and the first row of each label value
   (:func:`cleanframe._inputs.batches.batch_spec`);
2. the statistics passes the job needs (at most three): every batch is validated by the input
   layer and reduced to small statistics (:meth:`Engine.reduce_batches`: polars'
   ``collect_batches`` in this process, or ``dask.delayed`` per partition merged in a tree), and
   the merged statistics give a small plan;
3. row-level results are a row map of each batch given the plan (:meth:`Engine.attach_batches`):
   a LazyFrame / a Dask DataFrame, computed when the caller collects, sinks or computes it.

The results equal the in-memory call row for row: the same kernels with the same deterministic
tie rule (global row position), whatever the batching.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ._engines import Engine
from ._inputs.arguments import choice, class_matrix, filter_choice, per_class, rank_options
from ._inputs.batches import BatchSpec, batch_spec, checked_columns, resolve_batch
from ._inputs.columns import check_result_columns
from .scoring.classification import count as _count
from .scoring.classification import filter as _filter
from .scoring.classification import passes as _passes
from .scoring.classification import rank as _rank
from .scoring.classification.argmax import ARGMAX_CONFUSION
from .scoring.classification.columns import ProbColumns, RowStats, warm

__all__ = [
    "counts",
    "find_label_issues",
    "health_summary",
    "label_quality_scores",
    "num_label_issues",
]

Progress = Callable[[int], None]


class _Kept:
    """Per-row values of a call's first read of the rows (engines whose batches run in this
    process: a streamed LazyFrame), so later passes need not check the rows again nor read
    them for what a row already gave: the label codes, the self-confidence, the first argmax,
    the largest other probability, whether the prediction agrees with the label and the second
    largest value rounded up to float16 (for the job's bounds of the confident joint, see
    :meth:`~.scoring.classification.passes.LabelIssueJob.set_rows`, and the joint pass's
    confident guesses: only the rows those values leave undecided are read for them; 15 bytes
    a row with float32 probabilities). A pass that needs the probabilities still reads them
    (the candidates); the row map of the flags and of the
    self-confidence / normalized-margin scores reads the label column only. Filled by the
    first pass (:meth:`record`), then :meth:`finish`; any batch not held as float columns
    leaves it unused."""

    def __init__(self, num_classes: int) -> None:
        self.parts: dict[int, tuple] = {}
        self.code_dtype = np.int16 if num_classes < 2**15 else np.int32
        self.usable = True
        self.ready = False
        self.starts = np.zeros(0, dtype=np.int64)
        self.blocks: list[tuple] = []

    def record(self, offset: int, codes: np.ndarray, P: Any) -> None:
        if not self.usable or self.ready:
            return
        if not isinstance(P, ProbColumns):
            self.usable = False
            self.parts.clear()
            return
        stats = P.row_stats(codes)
        agrees = stats.agrees  # the rank read of the row stats, once, while the batch is here
        self.parts[int(offset)] = (
            codes.astype(self.code_dtype),
            stats.own,
            stats.argmax.astype(self.code_dtype),
            stats.other,
            agrees,
            _float16_up(stats.second, len(codes)),
        )

    def finish(self) -> None:
        if not self.usable or self.ready:
            return
        offsets = sorted(self.parts)
        expected = 0
        for a in offsets:  # the batches must tile the rows 0..N-1
            if a != expected:
                self.usable = False
                self.parts.clear()
                return
            expected += len(self.parts[a][0])
        self.blocks = [self.parts.pop(a) for a in offsets]
        self.starts = np.array(offsets + [expected], dtype=np.int64)
        self.ready = bool(self.blocks)
        self.usable = self.ready

    def rows(self, offset: int, n: int) -> tuple[np.ndarray, RowStats]:
        """``(label codes, row stats)`` of rows ``offset .. offset + n - 1`` (views of the kept
        blocks, joined where the rows span several)."""
        first = int(np.searchsorted(self.starts, offset, side="right")) - 1
        last = int(np.searchsorted(self.starts, offset + n, side="left"))
        pieces = []
        for b in range(first, max(last, first + 1)):
            lo = max(offset, int(self.starts[b])) - int(self.starts[b])
            hi = min(offset + n, int(self.starts[b + 1])) - int(self.starts[b])
            pieces.append(tuple(a[lo:hi] for a in self.blocks[b]))
        if len(pieces) == 1:
            codes, own, argmax, other, agrees, second = pieces[0]
        else:
            codes, own, argmax, other, agrees, second = (
                np.concatenate([p[i] for p in pieces]) for i in range(6)
            )
        codes = codes.astype(np.int64)
        return codes, RowStats.known(
            codes, own, argmax.astype(np.int64), other, agrees, second_bound=second
        )

    def row_blocks(self):
        """``(labels, own, argmax, other, second)`` of each kept block, in row order (what
        :meth:`~.scoring.classification.passes.LabelIssueJob.set_rows` takes)."""
        for codes, own, argmax, other, _, second in self.blocks:
            yield codes, own, argmax, other, second


def _float16_up(values: Any, n: int) -> np.ndarray:
    """``values`` as float16, each rounded up (at or above the value: a bound stays one);
    ``n`` times +inf when the values are unknown."""
    if values is None:
        return np.full(n, np.inf, dtype=np.float16)
    out = np.asarray(values).astype(np.float16)
    low = out.astype(values.dtype) < values
    out[low] = np.nextafter(out[low], np.float16(np.inf))
    return out


def _read(batch: Engine, offset: int, spec: BatchSpec, kept: _Kept | None):
    """``(label codes, pred_probs, fresh)`` of a batch: from the kept per-row values and the
    batch's columns (not checked again) once ``kept`` is ready, else checked by the input layer
    (``fresh``: the caller records it in ``kept`` after its pass, whose read of the columns
    then also gives the per-row values)."""
    if kept is not None and kept.ready:
        cols = checked_columns(batch, spec)
        if cols is not None:
            codes, stats = kept.rows(offset, batch.height)
            cols.set_row_stats(codes, stats)
            return codes, cols, False
    codes, P = _resolved(batch, spec)
    return codes, P, kept is not None


class _Stats:
    """One statistics pass over one batch (picklable: it runs on Dask workers)."""

    def __init__(self, spec: BatchSpec, p: _passes.Pass, kept: _Kept | None = None):
        self.spec = spec
        self.p = p
        self.kept = kept

    def __call__(self, batch: Engine, offset: int):
        codes, P, fresh = _read(batch, offset, self.spec, self.kept)
        out = self.p(codes, P, offset)
        if fresh and self.kept is not None:
            self.kept.record(offset, codes, P)
        del codes, P
        _release()
        return out


def _resolved(batch: Engine, spec: BatchSpec):
    """:func:`resolve_batch`, kept in ``batch.memo``: where the engine holds its batches between
    passes (Dask partitions in the workers' memory), later passes reuse the codes and the
    probability columns with their per-row results (read and checked once)."""
    memo = batch.memo
    out = memo.get("resolved")
    if out is None:
        out = memo["resolved"] = resolve_batch(batch, spec)
    return out


def _release() -> None:
    """Free the batch just read: the kernels' column reader and its cached per-row results refer
    to each other (a cycle that holds the batch's buffers until the cyclic garbage collector
    runs, which few Python allocations rarely trigger); collecting the young generations after
    each batch keeps one batch in memory instead of a pass's worth."""
    gc.collect(1)


def _merge(a, b):
    return a.merge(b)


_warming: list[threading.Thread] = []


def _warm(fr: Engine) -> None:
    """Where batches run in this process, import numba and set up the kernels on a thread once
    per process, while the call plans its query and reads the label values (a first call
    would otherwise wait about 1 CPU-s for them at its first batch)."""
    if fr.batches_in_process and not _warming:
        thread = threading.Thread(target=warm, name="cleanframe-warm", daemon=True)
        _warming.append(thread)
        thread.start()


class _Rows:
    """The row map: the result columns of one batch given the plan (picklable). With ``kept``
    (ready, and a plan that needs no probability but the kept per-row values), a batch needs
    only the label column (:attr:`columns`)."""

    def __init__(
        self,
        spec: BatchSpec,
        plan: _passes.FlagPlan,
        *,
        issues: bool,
        kept: _Kept | None = None,
    ):
        self.spec = spec
        self.plan = plan
        self.issues = issues
        usable = kept is not None and kept.ready and not _passes.needs_values(plan)
        self.kept = kept if usable else None

    @property
    def columns(self) -> list[str]:
        """The columns a batch of the row map must hold."""
        return [self.spec.label] if self.kept is not None else self.spec.needed

    def __call__(self, batch: Engine, offset: int) -> dict:
        if self.kept is not None:
            codes, stats = self.kept.rows(offset, batch.height)
            P: Any = ProbColumns.rows_only(codes, stats, len(self.spec.classes))
        else:  # a batch held since the statistics passes reuses its checked columns and stats
            codes, P = _resolved(batch, self.spec)
        mask, scores = _passes.flags(codes, P, offset, self.plan)
        if not self.issues:
            del codes, P
            _release()
            return {"label_score": scores}
        predicted = _passes.predicted_class(codes, P)
        del codes, P
        _release()
        return {
            "label_score": scores,
            "is_issue": mask,
            "predicted_label": batch.class_values(
                self.spec.label, self.spec.classes.values, predicted
            ),
        }


class _Check:
    """A pass that only validates a batch (picklable)."""

    def __init__(self, spec: BatchSpec, kept: _Kept | None = None):
        self.spec = spec
        self.kept = kept

    def __call__(self, batch: Engine, offset: int) -> int:
        codes, P, fresh = _read(batch, offset, self.spec, self.kept)
        if fresh and self.kept is not None:
            self.kept.record(offset, codes, P)
        del codes, P
        _release()
        return batch.height


def _add(a: int, b: int) -> int:
    return a + b


class _Counted:
    """The row map, calling ``progress(rows done)`` after each batch (the batches of a
    LazyFrame's row map run in this process, in polars' threads)."""

    def __init__(self, rows: _Rows, progress: Progress):
        self.rows = rows
        self.progress = progress
        self.done = 0
        self.lock = threading.Lock()

    def __call__(self, batch: Engine, offset: int) -> dict:
        out = self.rows(batch, offset)
        with self.lock:
            self.done += batch.height
            done = self.done
        self.progress(done)
        return out


def _row_map(rows: _Rows, progress: Progress | None):
    return rows if progress is None else _Counted(rows, progress)


def _template(fr: Engine, spec: BatchSpec, rows: _Rows) -> dict:
    """The result columns with no rows, in their dtypes: the row map of the first row (valid,
    since every row passed the statistics passes), cut to zero rows."""
    first = fr.first_rows(1, rows.columns)
    return {name: values[:0] for name, values in rows(first, 0).items()}


class _Confusion:
    """Counts of (given class, argmax class) of one batch, K x K (picklable)."""

    def __init__(self, spec: BatchSpec):
        self.spec = spec

    def __call__(self, batch: Engine, offset: int) -> np.ndarray:
        codes, P = _resolved(batch, self.spec)
        k = len(self.spec.classes)
        cells = codes.astype(np.int64) * k + _passes.predicted_class(codes, P)
        del P
        _release()
        return np.bincount(cells, minlength=k * k).reshape(k, k)


def _argmax_confusion(fr: Engine, spec: BatchSpec, progress: Progress | None) -> np.ndarray:
    """The calibrated confusion matrix of the argmax predictions (as
    :func:`~cleanframe.scoring.classification.argmax.confusion_joint`), from one pass."""
    counts = fr.reduce_batches(spec.needed, _Confusion(spec), _add, progress=progress)
    k = len(spec.classes)
    counts = np.zeros((k, k), dtype=np.int64) if counts is None else counts
    return _count.calibrate_confident_joint(counts, None, class_counts=counts.sum(axis=1))


def _one_call(func):
    """``func(fr, ...)`` followed by ``fr.end_call()``, whether it returns or raises: what the
    engine held between the passes is released when the call ends (a lazy result does not need
    it), not when the garbage collector frees the engine or a kept traceback."""

    @functools.wraps(func)
    def call(fr: Engine, *args, **kwargs):
        try:
            return func(fr, *args, **kwargs)
        finally:
            fr.end_call()

    return call


def _run_job(fr: Engine, spec: BatchSpec, job, progress: Progress | None) -> _Kept | None:
    """The job's statistics passes; a job without any still reads the frame once, to validate
    every row now rather than when the lazy result is computed. Where the engine runs batches
    in this process, the first pass keeps the per-row values (:class:`_Kept`, returned)."""
    # kept only where a later pass or the row map uses them
    useful = len(job.steps) > 1 or not job.row_map_reads_values()
    kept = _Kept(len(spec.classes)) if fr.batches_in_process and useful else None
    passes = 0
    while (p := job.next_pass()) is not None:
        stats = fr.reduce_batches(spec.needed, _Stats(spec, p, kept), _merge, progress=progress)
        job.add(p.empty() if stats is None else stats)
        passes += 1
        if kept is not None and not kept.ready:
            kept.finish()
            if kept.ready:
                job.set_rows(kept.row_blocks)
    if not passes:
        fr.reduce_batches(spec.needed, _Check(spec, kept), _add, progress=progress)
        if kept is not None:
            kept.finish()
    for thread in _warming:  # done long since (the first batch waited for it): no thread left
        thread.join()
    return kept


@_one_call
def find_label_issues(
    fr: Engine,
    *,
    label: str,
    pred_probs: Any,
    classes: Sequence | None = None,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class: Sequence[int] | Mapping[Any, int] | None = None,
    min_examples_per_class: int = 1,
    confident_joint: Any = None,
    rank_by: str = "self_confidence",
    rank_by_kwargs: Mapping | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
):
    """:func:`cleanframe.find_label_issues` on a batched frame (same arguments); ``progress``
    is called with the rows done (so far in the current pass) after each batch of each pass that
    runs in this process, the lazy row map included."""
    _warm(fr)
    check_result_columns(fr, ("label_score", "is_issue", "predicted_label"), overwrite=overwrite)
    spec = batch_spec(fr, label=label, pred_probs=pred_probs, classes=classes)
    filter_choice(filter_by, (*_filter.FILTER_BY, ARGMAX_CONFUSION), num_to_remove_per_class)
    choice(rank_by, _rank.RANK_METHODS, "rank_by")
    options = rank_options(rank_by, rank_by_kwargs)
    joint = class_matrix(confident_joint, spec.classes, "confident_joint")
    if filter_by == ARGMAX_CONFUSION:  # prune_by_noise_rate on the argmax confusion matrix
        joint = _argmax_confusion(fr, spec, progress)
        filter_by = "prune_by_noise_rate"
    job = _passes.LabelIssueJob(
        len(spec.classes),
        filter_by=filter_by,
        frac_noise=frac_noise,
        num_to_remove_per_class=per_class(
            num_to_remove_per_class, spec.classes, "num_to_remove_per_class"
        ),
        min_examples_per_class=min_examples_per_class,
        confident_joint=joint,
        rank_by=rank_by,
        rank_by_kwargs=options,
        two_reads=fr.batches_in_process,
    )
    kept = _run_job(fr, spec, job, progress)
    rows = _Rows(spec, job.plan(), issues=True, kept=kept)
    return fr.attach_batches(
        rows.columns, _row_map(rows, progress), _template(fr, spec, rows), overwrite=overwrite
    )


@_one_call
def label_quality_scores(
    fr: Engine,
    *,
    label: str,
    pred_probs: Any,
    classes: Sequence | None = None,
    method: str = "self_confidence",
    adjust_pred_probs: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
):
    """:func:`cleanframe.label_quality_scores` on a batched frame (``method`` checked by the
    caller)."""
    _warm(fr)
    check_result_columns(fr, ["label_score"], overwrite=overwrite)
    spec = batch_spec(fr, label=label, pred_probs=pred_probs, classes=classes)
    job = _passes.LabelIssueJob(
        len(spec.classes),
        filter_by=None,
        rank_by=method,
        rank_by_kwargs={"adjust_pred_probs": adjust_pred_probs},
    )
    kept = _run_job(fr, spec, job, progress)
    rows = _Rows(spec, job.plan(), issues=False, kept=kept)
    return fr.attach_batches(
        rows.columns, _row_map(rows, progress), _template(fr, spec, rows), overwrite=overwrite
    )


@_one_call
def _counts(fr, label, pred_probs, classes, progress) -> tuple[BatchSpec, Any]:
    _warm(fr)
    spec = batch_spec(fr, label=label, pred_probs=pred_probs, classes=classes)
    job = _passes.CountJob(len(spec.classes))
    _run_job(fr, spec, job, progress)
    return spec, job.result()


def counts(
    fr: Engine,
    *,
    label: str,
    pred_probs: Any,
    classes: Sequence | None = None,
    progress: Progress | None = None,
) -> tuple[BatchSpec, Any]:
    """``(spec, CountResult)`` of a batched frame: passes 1-2 (thresholds, confident joint,
    ``num_label_issues`` and the health statistics; see
    :class:`~cleanframe.scoring.classification.passes.CountJob`), for the dataset-level calls."""
    return _counts(fr, label, pred_probs, classes, progress)


def num_label_issues(
    fr: Engine,
    *,
    label: str,
    pred_probs: Any,
    classes: Sequence | None = None,
    estimation_method: str = "off_diagonal",
    confident_joint: Any = None,
    progress: Progress | None = None,
) -> int:
    """:func:`cleanframe.num_label_issues` on a batched frame."""
    choice(estimation_method, _count.ESTIMATION_METHODS, "estimation_method")
    spec, result = _counts(fr, label, pred_probs, classes, progress)
    return result.num_label_issues(
        estimation_method=estimation_method,
        confident_joint=class_matrix(confident_joint, spec.classes, "confident_joint"),
    )


def health_summary(
    fr: Engine,
    *,
    label: str,
    pred_probs: Any,
    classes: Sequence | None = None,
    asymmetric: bool = False,
    progress: Progress | None = None,
) -> dict:
    """The fields of :class:`cleanframe.HealthSummary` for a batched frame (its tables built as
    :func:`cleanframe.health_summary` builds them, in the engine's small-table type)."""
    spec, result = _counts(fr, label, pred_probs, classes, progress)
    h = result.health(asymmetric=asymmetric)
    names = np.array(spec.classes.names, dtype=object)
    q = h["class_quality"]
    order = np.argsort(q["label_quality_score"], kind="stable")
    classes_table = fr.table(
        {
            "class": names[order],
            "num_examples": np.asarray(h["class_counts"])[order],
            "label_issues": q["label_issues"][order],
            "inverse_label_issues": q["inverse_label_issues"][order],
            "label_noise": q["label_noise"][order],
            "inverse_label_noise": q["inverse_label_noise"][order],
            "label_quality_score": q["label_quality_score"][order],
        }
    )
    pairs = h["overlaps"]
    overlap_table = fr.table(
        {
            "class_a": names[pairs["class_a"]],
            "class_b": names[pairs["class_b"]],
            "num_overlapping_examples": pairs["num_overlapping_examples"],
            "joint_probability": pairs["joint_probability"],
        }
    )
    return {
        "overall_label_health_score": h["overall_label_health_score"],
        "num_examples": h["num_examples"],
        "num_label_issues": h["num_label_issues"],
        "classes_by_label_quality": classes_table,
        "overlapping_classes": overlap_table,
        "joint": fr.square_table(
            spec.classes.names, h["joint"], rows="given_label", columns="true_label"
        ),
    }
