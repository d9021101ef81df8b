"""The Dask engine: a ``dask.dataframe.DataFrame`` read partition by partition.

Each partition is a pandas DataFrame and runs the pandas engine
(:class:`~cleanframe._engines.pandas.PandasFrame`), on whichever worker holds it. The label-issue
drivers use three operations:

- :meth:`DaskFrame.reduce_batches`: one ``dask.delayed`` call per partition computes that
  partition's statistics on its worker, and a binary tree of ``dask.delayed`` merges combines them
  (in row order) — only the merged statistics travel to the caller, never a probability column;
- :meth:`DaskFrame.attach_batches`: ``map_partitions`` adds the result columns to every partition,
  so the result is a Dask DataFrame (nothing is computed until the caller computes it);
- :meth:`DaskFrame.distinct_rows`: the first row of each label value (small), for the classes.

Between the statistics passes of one call the partitions are *held*: the columns the call reads
are persisted once in the workers' memory (``dask.persist``; Dask spills them to disk under
memory pressure) when they fit half of the cluster's memory limit (a quarter of this machine's
memory on a local scheduler; ``dask.config.set({"cleanframe.hold": True | False | "auto"})``
overrides). Each partition is then read and decoded once per call instead of once per pass, the
driver keeps its resolved columns and per-row results with it (:attr:`_Partition.memo`), and the
partition lengths (hence every row's global position) are known as plain numbers, so the passes
have no cross-partition dependency. The partitions are held from the call's first read (the
first row of each label value, for the classes), so each partition is read once per call. They
are released when the statistics passes end (when :meth:`DaskFrame.attach_batches` builds the
lazy result) and in any case when the call ends, on error too (:meth:`DaskFrame.end_call`: their
futures are released, so a kept traceback does not pin them on the workers). A held partition
counts its columns' bytes for Dask (``sizeof``), so work stealing does not move it as if it were
small.

Reading: the call's columns of a plain ``dd.read_parquet`` (Dask's default reader) are read with
one pandas block per column (``arrow_to_pandas={"split_blocks": True}``: no copy of all float
columns into one 2-D block), with the same files, row groups and order (the read's plan is
checked equal); any other frame is read as it is.

Global row positions (for the deterministic tie rule): from the held partitions' lengths; without
holding, from the lengths computed once up front. The lazy result uses them when the frame's own
partitions are those the statistics read (checked per partition when computed); otherwise (Dask's
optimizer fused the files of a projected ``read_parquet`` differently) from a lazy cumulative sum
in the same graph as the partitions they number. Errors raised inside a partition are the input
layer's ``ValidationError`` (it pickles), naming rows by the partition's index labels, or by
global position when every partition has its own RangeIndex from 0.

This module imports dask; it is imported only when a Dask frame arrives.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from ._base import Engine
from .pandas import PandasFrame

__all__ = ["DaskFrame", "adapt", "adapt_column", "is_frame"]


def is_frame(obj: Any) -> bool:
    return isinstance(obj, dd.DataFrame)


def adapt(obj: Any) -> DaskFrame | None:
    """The engine for a Dask DataFrame, else None."""
    return DaskFrame(obj) if isinstance(obj, dd.DataFrame) else None


def adapt_column(obj: Any) -> Engine | None:
    """A Dask frame as a frame; a Dask Series is not supported as a column (``None``)."""
    return adapt(obj)


def _unsupported(what: str):
    raise NotImplementedError(
        f"{what} is not available on a Dask DataFrame: on Dask, cleanframe runs "
        "find_label_issues, label_quality_scores, num_label_issues, health_summary, "
        "confident_joint, rank_classes_by_label_quality, overlapping_classes and "
        "overall_label_health_score (call .compute() first for the other methods)"
    )


class _Partition(PandasFrame):
    """One partition. Its rows are named by their index labels, unless the index is a
    ``RangeIndex`` from 0 in every partition (``dd.read_parquet`` without an index): such labels
    repeat across partitions, so rows are named by global position instead."""

    def __init__(self, df, offset: int):
        super().__init__(df)
        self._memo: dict = {}
        self.locate(offset)

    def locate(self, offset: int) -> None:
        """Set the global position of the partition's first row."""
        index = self.native.index
        self.start = offset
        self.row_offset = (
            offset
            if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
            else None
        )

    @property
    def memo(self) -> dict:
        """Kept with the partition while it is held between passes (see the module docstring)."""
        return self._memo

    def __sizeof__(self) -> int:
        # what Dask's scheduler and memory manager count for a held partition (``sizeof``):
        # its columns' bytes, so that moving it to another worker is costed as what it is (a
        # few bytes would let work stealing move whole partitions) and spilling sees the memory
        return int(self.native.memory_usage(index=True, deep=False).sum()) + object.__sizeof__(self)

    def __getstate__(self):  # the memo is a cache: not moved between workers or spilled
        state = self.__dict__.copy()
        state["_memo"] = {}
        return state

    def row_labels(self, positions):
        if self.row_offset is None:
            return super().row_labels(positions)
        return [int(p) + self.row_offset for p in np.asarray(positions).ravel()]

    def pandera_failures(self, schema, columns):
        out = super().pandera_failures(schema, columns)
        if out is None or self.row_offset is None:
            return out
        # a RangeIndex from 0: the label is the position in the partition
        return [(c, None if r is None else int(r) + self.row_offset, v) for c, r, v in out]


def _on_partition(func, part: pd.DataFrame, offset: int):
    if len(part) == 0:
        return None
    return func(_Partition(part, offset), offset)


def _merge(merge, a, b):
    if a is None:
        return b
    if b is None:
        return a
    return merge(a, b)


def _length(part: pd.DataFrame) -> pd.Series:
    return pd.Series([len(part)], dtype="int64")


def _offsets_of(data):
    """The global position of each partition's first row, as a lazy one-row-per-partition
    Series partitioned like ``data`` (computed with whatever reads ``data``'s partitions: the
    partitions of one collection are what gets numbered, however the optimizer groups files)."""
    lengths = data.map_partitions(_length, meta=pd.Series(dtype="int64"))
    return lengths.cumsum() - lengths


def _attach_partition(part: pd.DataFrame, offset: pd.Series, func, template, overwrite):
    start = int(offset.iloc[0])
    fr = _Partition(part, start)
    if len(part) == 0:
        return fr.attach({n: _empty(v) for n, v in template.items()}, overwrite=overwrite)
    return fr.attach(func(fr, start), overwrite=overwrite)


def _hold_partition(part: pd.DataFrame) -> _Partition:
    _warm_kernels()
    return _Partition(part, 0)


_warming: list = []


def _warm_kernels() -> None:
    """Once per process (a worker's first held partition): import numba and the kernels'
    module on a thread while the partitions are read, instead of in the first pass's first
    task. Imports only: Python's import lock serialises them with any other thread's use, where
    setting up numba's compiler tables beside a thread that loads a kernel is not safe."""
    if _warming:
        return
    import threading

    _warming.append(threading.Thread(target=_import_kernels, name="cleanframe-warm", daemon=True))
    _warming[0].start()


def _import_kernels() -> None:
    import numba  # noqa: F401

    from ..scoring.classification import columns  # noqa: F401


def _held_length(part: _Partition) -> int:
    return part.height


def _on_held(func, part: _Partition, start: int):
    if part.height == 0:
        return None
    part.locate(start)
    return func(part, start)


def _on_read(func, part: pd.DataFrame, offset: int):
    return _on_partition(func, part, offset)


def _head(part: _Partition, n: int) -> pd.DataFrame:
    return part.native.iloc[:n]


def _position_frame(bounds: tuple[int, int]) -> pd.DataFrame:
    start, length = bounds
    return pd.DataFrame({"start": [start], "length": [length]}, dtype="int64")


def _positions(lengths: list[int]):
    """One row per partition, ``(start, length)``, as a Dask DataFrame of as many partitions
    (zipped with the frame's partitions by ``map_partitions``; it reads nothing)."""
    return dd.from_map(
        _position_frame,
        list(zip(_offsets(lengths), lengths)),
        meta=pd.DataFrame({"start": [], "length": []}, dtype="int64"),
        enforce_metadata=False,
    )


def _attach_known(part: pd.DataFrame, bounds: pd.DataFrame, func, template, overwrite):
    start, length = (int(v) for v in bounds.iloc[0])
    if len(part) != length:  # never number rows by other partitions' lengths
        raise RuntimeError(
            f"a partition of the Dask frame has {len(part)} rows where the statistics passes "
            f"read {length}: the frame's partitions changed between the passes and the result"
        )
    fr = _Partition(part, start)
    if len(part) == 0:
        return fr.attach({n: _empty(v) for n, v in template.items()}, overwrite=overwrite)
    return fr.attach(func(fr, start), overwrite=overwrite)


def _held_rows(func, part: _Partition, start: int, template) -> pd.DataFrame:
    """The result columns of a held partition (its resolved columns and row stats reused), as
    a frame with the partition's index and only those columns."""
    index_only = _Partition(part.native[[]], start)
    if part.height == 0:
        return index_only.attach({n: _empty(v) for n, v in template.items()})
    part.locate(start)
    return index_only.attach(func(part, start))


def _same(value):
    return value


def _shared(func):
    """``func`` as one task of the graph: sent to each worker once, not pickled into every
    partition's task (the row map's plan holds every flagged row's position: 46 MB at 20M
    rows)."""
    return dask.delayed(_same, pure=False)(func)


def _offsets(lengths) -> list[int]:
    return [int(x) for x in np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)[:-1]])]


def _tree(level: list, merge):
    """Merge delayed values pairwise in row order (a binary tree of ``dask.delayed`` calls,
    run where their inputs are)."""
    join = dask.delayed(_merge, pure=False)
    while len(level) > 1:
        nxt = [join(merge, a, b) for a, b in zip(level[0::2], level[1::2])]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0] if level else None


#: Hold the partitions in memory between passes when they take at most this share of the
#: cluster's memory limit (distributed) ...
HOLD_SHARE = 0.5
#: ... or of this machine's physical memory (a local scheduler: the data is in this process).
HOLD_SHARE_LOCAL = 0.25


def _memory_budget() -> float:
    """Bytes the held partitions may take: a share of the distributed workers' memory limits
    when the current scheduler is a ``distributed.Client``, else of this machine's memory."""
    client = _client()
    if client is not None:
        workers = client.scheduler_info().get("workers", {}).values()
        limits = [w.get("memory_limit") or 0 for w in workers]
        if limits and all(limits):
            return HOLD_SHARE * float(sum(limits))
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no sysconf
        return 0.0
    return HOLD_SHARE_LOCAL * float(total)


def _client():
    """The ``distributed.Client`` that runs ``dask.compute`` now, else None (distributed is
    not imported here: a client exists only if the caller imported it)."""
    import sys

    distributed = sys.modules.get("distributed")
    client = getattr(dask.base.get_scheduler(), "__self__", None)
    if distributed is not None and isinstance(client, distributed.Client):
        return client
    return None


class _Held:
    """The persisted partitions of one call's columns, with their lengths, offsets and (on a
    distributed cluster) the worker that holds each: the tasks on a held partition are meant
    to run there, so no partition moves between workers (a preference: if that worker is gone,
    Dask recomputes the partition elsewhere, and its memo is simply rebuilt)."""

    def __init__(self, parts: list):
        self.parts = parts
        self.workers: list = [None] * len(parts)
        client = _client()
        if client is not None:
            from distributed import futures_of, wait

            futures = futures_of(parts)
            wait(futures)
            where = client.who_has(futures)
            self.workers = [list(where.get(p.key, ())) or None for p in parts]
        size = dask.delayed(_held_length, pure=False)
        self.lengths = [int(x) for x in dask.compute(*self.each(size))]
        self.offsets = _offsets(self.lengths)

    def release(self) -> None:
        """Release the held partitions (see :meth:`DaskFrame._release`)."""
        parts, self.parts = self.parts, []
        if _client() is not None:
            from distributed import futures_of

            for future in futures_of(parts):
                future.release()
            return
        for part in parts:  # computed in this process: a persisted Delayed holds the value
            for value in part.dask.values():
                if isinstance(value, _Partition):
                    value.memo.clear()

    def each(self, task, *args) -> list:
        """``task(part, *args_i)`` per held partition, on the worker that holds it."""
        out = []
        for i, (part, workers) in enumerate(zip(self.parts, self.workers)):
            extra = [a[i] for a in args]
            if workers is None:
                out.append(task(part, *extra))
                continue
            with dask.annotate(workers=workers, allow_other_workers=True):
                out.append(task(part, *extra))
        return out


def _distinct(part: pd.DataFrame, key: str) -> pd.DataFrame:
    return part.drop_duplicates(subset=[key], keep="first")


def _distinct_held(part: _Partition, key: str, columns: list[str]) -> pd.DataFrame:
    return _distinct(part.native[columns], key)


def _one_block_per_column(data):
    """``data`` read with one pandas block per column when it is a column selection of a
    plain ``dd.read_parquet`` (Dask's default reader): Arrow's conversion to pandas then hands
    over each column's buffer instead of copying all the float columns into one 2-D block (a
    copy of the whole partition, and twice its memory while it runs). Values, dtypes, index and
    the partitions (files, row groups, their order) are the same: the read's plan is checked
    equal, else ``data`` is returned unchanged, as it is for any other expression."""
    try:
        from dask.dataframe.dask_expr import new_collection
        from dask.dataframe.dask_expr._expr import Projection
        from dask.dataframe.dask_expr.io.parquet import ReadParquetFSSpec
    except ImportError:  # pragma: no cover - another dask layout
        return data
    expr = data.expr
    read = expr
    while type(read) is Projection:
        read = read.frame
    if type(read) is not ReadParquetFSSpec:
        return data
    kwargs = dict(read.operand("kwargs") or {})
    convert = dict(kwargs.get("arrow_to_pandas") or {})
    if "split_blocks" in convert:  # the caller chose
        return data
    kwargs["arrow_to_pandas"] = {**convert, "split_blocks": True}
    try:
        # planned again (the plan cached with the read holds its conversion options)
        split = read.substitute_parameters({"kwargs": kwargs, "_dataset_info_cache": None})
        same = split._plan["parts"] == read._plan["parts"] and (
            split._divisions() == read._divisions()
        )
    except Exception:  # pragma: no cover - planning failed: keep the caller's read
        return data
    return new_collection(expr.substitute(read, split)) if same else data


class DaskFrame(Engine):
    """A Dask DataFrame (see the module docstring). Reading whole columns is not supported:
    the label-issue calls read it through :meth:`reduce_batches` and :meth:`attach_batches`."""

    kind = "dask"
    batched = True

    def __init__(self, ddf):
        self.native = ddf
        self._height: int | None = None
        self._held: dict[tuple, _Held] = {}
        self._lengths: dict[tuple, list[int]] = {}

    @property
    def columns(self) -> list[str]:
        return list(self.native.columns)

    @property
    def height(self) -> int:
        if self._height is None:
            first = self.native.columns[:1]
            data = self.native[list(first)] if len(first) else self.native
            # Dask's own length: from the Parquet metadata where it can, else one column read
            self._height = int(len(data))
        return self._height

    @property
    def _meta(self) -> PandasFrame:
        return PandasFrame(self.native._meta)

    def distinct_rows(self, key, columns):
        meta = self.native._meta
        others = [c for c in columns if c != key]
        arrays = [c for c in others if self._meta.is_array_column(c) or meta[c].dtype == object]
        cols = [key, *arrays]
        # the label-issue calls read ``key`` and ``columns`` in their passes next: when those
        # are to be held, they are held now and the distinct rows come from that one read
        held = self._hold([key, *others])
        if held is not None:
            task = dask.delayed(_distinct_held, pure=False)
            frames = list(dask.compute(*held.each(lambda part: task(part, key, cols))))
        else:
            parts = self._data(cols).map_partitions(_distinct, key, meta=meta[cols])
            (frames,) = dask.compute(parts.to_delayed())
        data = pd.concat(frames) if frames else meta[cols]
        data = data.drop_duplicates(subset=[key], keep="first").reset_index(drop=True)
        # the other columns: names and dtypes only (nothing of them is read)
        empty = {c: meta[c].reindex(data.index) for c in others if c not in arrays}
        if empty:
            data = pd.concat([data, pd.DataFrame(empty, index=data.index)], axis=1)
        return PandasFrame(data[[key, *others]])

    def first_rows(self, n, columns):
        held = self._held.get(tuple(columns))
        if held is not None:
            heads = held.each(lambda part, n_: dask.delayed(_head)(part, n_), [n] * len(held.parts))
            for head, length in zip(heads, held.lengths):
                if length:
                    (rows,) = dask.compute(head)
                    return PandasFrame(rows)
        data = self._data(columns)
        for i in range(data.npartitions):
            part = data.get_partition(i).compute()
            if len(part):
                return PandasFrame(part.iloc[:n])
        return PandasFrame(data._meta)

    # -- holding the partitions between passes ----------------------------------------------
    def _should_hold(self, columns) -> bool:
        setting = dask.config.get("cleanframe.hold", "auto")
        if setting is True or setting is False:
            return setting
        meta = self.native._meta
        width = sum(
            meta[c].dtype.itemsize if isinstance(meta[c].dtype, np.dtype) else 16 for c in columns
        )
        return self.height * max(width, 1) <= _memory_budget()

    def _hold(self, columns) -> _Held | None:
        """The call's columns persisted in the workers' memory, once per call (None when they
        should not be held)."""
        key = tuple(columns)
        if key in self._held:
            return self._held[key]
        if not self._should_hold(columns):
            return None
        hold = dask.delayed(_hold_partition, pure=False)
        parts = [hold(p) for p in self._data(columns).to_delayed()]
        held = self._held[key] = _Held(list(dask.persist(*parts)))
        self._lengths[key] = held.lengths
        return held

    def _release(self) -> None:
        """Drop the held partitions: on a distributed cluster their futures are released now
        (the workers free them once no task still to run needs them), even where something
        else still refers to them, e.g. the traceback of an error raised in a pass; on a local
        scheduler their memos (the per-row results) are cleared."""
        for held in self._held.values():
            held.release()
        self._held.clear()

    def end_call(self) -> None:
        self._release()
        self._lengths.clear()

    def _data(self, columns):
        """The frame's ``columns``, read as :func:`_one_block_per_column` reads them."""
        return _one_block_per_column(self.native[list(columns)])

    def _known_lengths(self, columns) -> list[int]:
        """The lengths of the partitions of ``columns``, computed once per call (one read of
        them, when they are not held)."""
        key = tuple(columns)
        if key not in self._lengths:
            data = self._data(columns)
            size = dask.delayed(len, pure=False)
            self._lengths[key] = [int(x) for x in dask.compute(*map(size, data.to_delayed()))]
        return self._lengths[key]

    def reduce_batches(self, columns, func, merge, *, progress=None):
        held = self._hold(columns)
        shared = _shared(func)
        if held is not None:
            on = dask.delayed(_on_held, pure=False)
            level = held.each(lambda part, start: on(shared, part, start), held.offsets)
        else:
            data = self._data(columns)
            offsets = _offsets(self._known_lengths(columns))
            on = dask.delayed(_on_read, pure=False)
            level = [on(shared, p, o) for p, o in zip(data.to_delayed(), offsets)]
        root = _tree(level, merge)
        if root is None:
            return None
        (out,) = dask.compute(root)
        if progress is not None:
            progress(self.height)
        return out

    def attach_batches(self, columns, func, template, *, overwrite=False):
        meta = self._meta.attach({n: _empty(v) for n, v in template.items()}, overwrite=overwrite)
        held = self._held.get(tuple(columns))
        clash = set(template) & set(self.native.columns)
        if held is not None and len(held.parts) == self.native.npartitions and not clash:
            # the result columns now, from the held partitions (no second read of their
            # probabilities), kept on the workers (a few bytes a row) while the lazy result
            # lives, and placed beside the frame's own partitions: a selection of result
            # columns only reads none of the frame's columns
            rows = dask.delayed(_held_rows, pure=False)
            shared = _shared(func)
            results = held.each(
                lambda part, start: rows(shared, part, start, template), held.offsets
            )
            results = list(dask.persist(*results))
            self._release()
            known = self.native.known_divisions
            small = dd.from_delayed(
                results,
                meta=meta[list(template)],
                divisions=self.native.divisions if known else None,
                verify_meta=False,
            )
            with warnings.catch_warnings():  # the partitions are aligned: the same rows
                warnings.simplefilter("ignore", UserWarning)
                return dd.concat([self.native, small], axis=1, ignore_unknown_divisions=True)
        self._release()  # the statistics passes are done
        known = self._lengths.get(tuple(columns))
        if known is not None and len(known) == self.native.npartitions:
            # the frame's own partitions are those the statistics read: plain offsets
            return self.native.map_partitions(
                _attach_known,
                _positions(known),
                func,
                template,
                overwrite,
                meta=meta,
                align_dataframes=False,
                enforce_metadata=False,
            )
        return self.native.map_partitions(
            _attach_partition,
            _offsets_of(self.native),
            func,
            template,
            overwrite,
            meta=meta,
            align_dataframes=False,
        )

    def class_values(self, label, classes, codes):
        return self._meta.class_values(label, classes, codes)

    def _storage_dtype(self, name):
        return self._meta._storage_dtype(name)

    def is_array_column(self, name):
        return self._meta.is_array_column(name)

    def list_column(self, name):
        if self._meta.is_array_column(name):  # an Arrow list dtype: multi-label tags
            _unsupported("a column of lists")
        return None  # an object column's rows are not known from the meta: not a list column

    def table(self, columns, *, index=None):
        """Small result tables (per class, per class pair) are pandas DataFrames."""
        return pd.DataFrame(columns, index=index)

    def square_table(self, names, matrix, *, rows, columns):
        return self._meta.square_table(names, matrix, rows=rows, columns=columns)

    def to_pandas(self):
        return self.native.compute()

    def to_text(self, rows=10):
        return self.native.head(rows).to_string()

    def to_html(self, rows=10):
        return self.native.head(rows).to_html()

    # reading whole columns: not on Dask
    def column(self, name):
        _unsupported("reading a whole column")

    def factorize(self, name):
        _unsupported("reading a whole column")

    def matrix(self, columns):
        _unsupported("reading whole columns")

    def non_numeric(self, columns):
        return self._meta.non_numeric(columns)

    def array_rows(self, name):
        _unsupported("reading a whole column")

    def eager(self):
        _unsupported("this method")

    def take(self, positions):
        _unsupported("taking rows by position")


def _empty(values) -> Any:
    """A zero-row column of the dtype of ``values``."""
    if isinstance(values, np.ndarray):
        return values[:0]
    return values[:0]
