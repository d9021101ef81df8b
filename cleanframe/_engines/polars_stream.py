"""A LazyFrame read in batches through polars' streaming engine.

The label-issue drivers make two kinds of pass over a LazyFrame, and neither collects the
probability columns whole:

- :func:`reduce_batches`: ``LazyFrame.collect_batches(engine="streaming")`` of the needed columns;
  each batch becomes a :class:`~cleanframe._engines.polars.PolarsFrame` whose row labels are
  global positions, its statistics are computed on a small thread pool (the kernels release
  the GIL: a core per batch while polars decodes the next ones) and merged in row order.
- :func:`attach_batches`: the result stays a LazyFrame. A row index is added, and one elementwise
  ``map_batches`` over a struct of (row index, needed columns) computes the result columns of each
  batch the engine hands it (global positions come from the row index), so the result can be
  ``sink_parquet``-ed with the input streamed again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl

from ..scoring.parallel import _workers
from .polars import LazyPolarsFrame, PolarsFrame

__all__ = ["attach_batches", "batch_rows", "distinct_rows", "reduce_batches"]

#: Bytes of the needed columns per streamed batch, counted at 8 bytes a value (float32 columns
#: take half; 32 MiB is 41,000 rows of 100 columns), and the fewest rows in a batch. Larger
#: batches mean fewer merges and less per-batch work, smaller ones less memory in flight
#: (measured at 5M x 100, load 11-14, after the per-batch costs were cut: 32 MiB 8.8-9.8
#: CPU-s and 1.08 GiB peak, 64 MiB 9.4-9.6 CPU-s and 1.14-1.17 GiB, 128 MiB 9.6 CPU-s and
#: 1.30 GiB; before them 256 MiB was the fastest).
BATCH_BYTES = 1 << 25
MIN_BATCH_ROWS = 4096
#: Batches whose statistics are computed at the same time (at most; one per core).
MAX_THREADS = 4

_ROW = "__cleanframe_row__"
_OUT = "__cleanframe_out__"


def batch_rows(lf: pl.LazyFrame, columns: Sequence[str]) -> int:
    """Rows per batch so that ``columns`` take about :data:`BATCH_BYTES`."""
    schema = lf.collect_schema()
    width = 0
    for c in columns:
        dtype = schema[c]
        if isinstance(dtype, pl.Array):
            width += 8 * int(np.prod(dtype.shape))
        elif isinstance(dtype, pl.List):
            width += 64
        else:
            width += 8
    return max(MIN_BATCH_ROWS, BATCH_BYTES // max(width, 1))


def _batch(df: pl.DataFrame, offset: int) -> PolarsFrame:
    fr = PolarsFrame(df)
    fr.row_offset = offset
    return fr


def _pieces(df: pl.DataFrame) -> list[tuple[int, pl.DataFrame]]:
    """A streamed batch as ``(first row, slice)`` pieces in which every column is one chunk
    (the batch cut at the union of its columns' chunk boundaries), so that the columns reach
    numpy without a copy: a batch of the streaming engine often spans two row groups of a
    Parquet file, and one array of it would be a copy of the whole batch."""
    if df.n_chunks("all") == [1] * df.width:
        return [(0, df)]
    cuts = {0, df.height}
    for s in df.get_columns():
        cuts.update(np.cumsum(s.chunk_lengths()).tolist())
    bounds = sorted(cuts)
    return [(a, df.slice(a, b - a)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def distinct_rows(fr: LazyPolarsFrame, key: str, columns: Sequence[str]) -> PolarsFrame:
    schema = fr.native.collect_schema()
    others = [c for c in columns if c != key]
    arrays = [c for c in others if isinstance(schema[c], (pl.Array, pl.List))]
    data = (
        fr.native.select([key, *arrays])
        .unique(subset=[key], keep="first", maintain_order=True)
        .collect(engine="streaming")
    )
    # the other columns: names and dtypes only (nothing of them is read)
    data = data.with_columns(
        [pl.lit(None, dtype=schema[c]).alias(c) for c in others if c not in arrays]
    )
    return PolarsFrame(data.select([key, *others]))


def reduce_batches(
    fr: LazyPolarsFrame,
    columns: Sequence[str],
    func: Callable[[Any, int], Any],
    merge: Callable[[Any, Any], Any],
    *,
    progress: Callable[[int], None] | None = None,
) -> Any:
    lf = fr.native.select(list(columns))
    # merged as a binary tree in row order (a stack of partial results, one per level, like a
    # binary counter): a merge that cuts to the best rows then costs about the rows merged,
    # not (the rows kept so far) x (the number of batches) as a running fold would
    stack: list[tuple[int, Any]] = []

    def push(part: Any) -> None:
        level = 0
        while stack and stack[-1][0] == level:
            _, left = stack.pop()
            level, part = level + 1, merge(left, part)
        stack.append((level, part))

    # the first batch in this thread (whatever the kernels set up on first use is then ready),
    # the others on a pool; results are taken (and merged) in row order, so an error is the
    # one of the first bad batch, as in a sequential read
    threads = _threads()
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    running: deque[tuple[Future, int]] = deque()
    offset = 0
    done = 0
    batches = lf.collect_batches(
        chunk_size=batch_rows(fr.native, columns), maintain_order=True, engine="streaming"
    )
    try:
        for df in batches:
            if df.height == 0:
                continue
            for a, piece in _pieces(df):
                batch = _batch(piece, offset + a)
                end = offset + a + piece.height
                if pool is None or (offset == 0 and a == 0):
                    push(func(batch, offset + a))
                    done = end
                    if progress is not None:
                        progress(end)
                    continue
                running.append((pool.submit(func, batch, offset + a), end))
                while len(running) > threads:
                    done = _take(running, push, progress, done)
            offset += df.height
        while running:
            done = _take(running, push, progress, done)
    finally:
        for future, _ in running:
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=True)
    out = None
    for _, part in stack:  # oldest (leftmost rows) first
        out = part if out is None else merge(out, part)
    return out


def _threads() -> int:
    return min(MAX_THREADS, _workers())  # the cores this process may use (at least 1)


def _take(running: deque, push: Callable[[Any], None], progress, done: int) -> int:
    """Merge the oldest running batch's result (waiting for it); report the rows done."""
    future, end = running.popleft()
    push(future.result())
    if progress is not None and end > done:
        progress(end)
    return max(done, end)


def _series(name: str, values: Any, dtype) -> pl.Series:
    if isinstance(values, pl.Series):
        values = values.alias(name)
        return values if dtype is None else values.cast(dtype)
    return pl.Series(name, values, dtype=dtype)


def attach_batches(
    fr: LazyPolarsFrame,
    columns: Sequence[str],
    func: Callable[[Any, int], dict],
    template: dict,
    *,
    overwrite: bool = False,
) -> pl.LazyFrame:
    schema = fr.native.collect_schema()
    names = list(schema.names())
    dtypes = {n: _series(n, v, None).dtype for n, v in template.items()}
    needed = list(dict.fromkeys(columns))
    struct = pl.Struct(dtypes)

    def run(s: pl.Series) -> pl.Series:
        df = s.struct.unnest()
        rows = df.get_column(_ROW).to_numpy()
        data = df.drop(_ROW)
        parts = []
        # a batch is normally one run of consecutive rows; split it where it is not
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = np.concatenate([[0], breaks]).astype(np.int64)
        stops = np.concatenate([breaks, [len(rows)]]).astype(np.int64)
        for a, b in zip(starts.tolist(), stops.tolist()):
            if b <= a:
                continue
            offset = int(rows[a])
            cols = func(_batch(data.slice(a, b - a), offset), offset)
            parts.append(pl.DataFrame([_series(n, cols[n], dtypes[n]) for n in dtypes]))
        if not parts:
            return pl.Series(_OUT, [], dtype=struct)
        return pl.concat(parts).to_struct(_OUT)

    out = fr.native.with_row_index(_ROW).with_columns(
        pl.struct([_ROW, *needed])
        .map_batches(run, return_dtype=struct, is_elementwise=True)
        .alias(_OUT)
    )
    replaced = [n for n in dtypes if n in set(names)]
    if overwrite and replaced:
        out = out.drop(replaced)
    out = out.drop(_ROW).unnest(_OUT)
    # replaced columns keep their place, new ones go last (as DataFrame.with_columns does)
    return out.select(names + [n for n in dtypes if n not in set(names)])


# -- files: what the command line streams --------------------------------------------------
PARQUET = (".parquet", ".pq")
CSV = (".csv",)


def scan(path) -> pl.LazyFrame:
    """A Parquet or CSV file, or a directory of them (in name order), as a LazyFrame; an
    ``OSError`` / ``ValueError`` when it cannot be read (its schema is read now)."""
    from pathlib import Path

    p = Path(path)
    files = (
        sorted(f for f in p.iterdir() if f.suffix.lower() in PARQUET + CSV) if p.is_dir() else [p]
    )
    if not files:
        raise ValueError(f"{p}: no .parquet or .csv files in this directory")
    kinds = {f.suffix.lower() in CSV for f in files}
    if len(kinds) > 1:
        raise ValueError(f"{p}: holds both .csv and .parquet files; pass one kind")
    names = [str(f) for f in files]
    try:
        lf = pl.scan_csv(names) if kinds.pop() else pl.scan_parquet(names)
        lf.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise ValueError(str(exc).strip().splitlines()[0]) from None
    return lf


def height(lf: pl.LazyFrame) -> int:
    return int(lf.select(pl.len()).collect().item())


def sink(lf: pl.LazyFrame, path) -> None:
    """Stream ``lf`` into a ``.csv`` or ``.parquet`` file."""
    if str(path).lower().endswith(CSV):
        lf.sink_csv(path)
    else:
        lf.sink_parquet(path)


def issue_summary(lf: pl.LazyFrame, label: str, top: int):
    """From a result with ``is_issue`` and ``label_score``: ``(rows and flagged rows per label
    value as text, the ``top`` flagged rows with the lowest label_score)`` as pandas frames,
    computed in one streamed query; the top rows are indexed by row number (ties by row)."""
    counts = lf.group_by(pl.col(label).cast(pl.String)).agg(
        rows=pl.len(), flagged=pl.col("is_issue").sum().cast(pl.Int64)
    )
    worst = (
        lf.with_row_index(_ROW)
        .filter(pl.col("is_issue"))
        .select(_ROW, label, "predicted_label", "label_score")
        .sort(["label_score", _ROW])
        .head(top)
    )
    table, rows = pl.collect_all([counts, worst], engine="streaming")
    table = table.to_pandas().set_index(label).rename_axis(label)
    rows = rows.to_pandas().set_index(_ROW).rename_axis(None)
    return table, rows
