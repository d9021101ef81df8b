"""A LazyFrame read in batches through polars' streaming engine.

The label-issue drivers make two kinds of pass over a LazyFrame, and neither collects the
probability columns whole:

- :func:`reduce_batches`: ``LazyFrame.collect_batches(engine="streaming")`` of the needed columns;
  each batch becomes a :class:`~cleanframe._engines.polars.PolarsFrame` whose row labels are
  global positions, and the per-batch results (small statistics) are merged in row order.
- :func:`attach_batches`: the result stays a LazyFrame. A row index is added, and one elementwise
  ``map_batches`` over a struct of (row index, needed columns) computes the result columns of each
  batch the engine hands it (global positions come from the row index), so the result can be
  ``sink_parquet``-ed with the input streamed again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from .polars import LazyPolarsFrame, PolarsFrame

__all__ = ["attach_batches", "batch_rows", "distinct_rows", "reduce_batches"]

#: Bytes of the needed columns per streamed batch (about), and the fewest rows in a batch.
BATCH_BYTES = 1 << 26
MIN_BATCH_ROWS = 4096

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


def distinct_rows(fr: LazyPolarsFrame, key: str, columns: Sequence[str]) -> PolarsFrame:
    cols = [key] + [c for c in columns if c != key]
    data = (
        fr.native.select(cols)
        .unique(subset=[key], keep="first", maintain_order=True)
        .collect(engine="streaming")
    )
    return PolarsFrame(data)


def reduce_batches(
    fr: LazyPolarsFrame,
    columns: Sequence[str],
    func: Callable[[Any, int], Any],
    merge: Callable[[Any, Any], Any],
    *,
    progress: Callable[[int], None] | None = None,
) -> Any:
    lf = fr.native.select(list(columns))
    out = None
    offset = 0
    batches = lf.collect_batches(
        chunk_size=batch_rows(fr.native, columns), maintain_order=True, engine="streaming"
    )
    for df in batches:
        if df.height == 0:
            continue
        part = func(_batch(df, offset), offset)
        out = part if out is None else merge(out, part)
        offset += df.height
        if progress is not None:
            progress(offset)
    return out


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
