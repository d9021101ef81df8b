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

Global row positions (for the deterministic tie rule) come from the partition lengths, computed
in the same graph as the partitions they number (a lazy cumulative sum), so that they hold however
Dask's optimizer groups the files of a projected ``read_parquet``. Errors raised inside a
partition are the input layer's ``ValidationError`` (it pickles), naming rows by the partition's
index labels, or by global position when every partition has its own RangeIndex from 0.

This module imports dask; it is imported only when a Dask frame arrives.
"""

from __future__ import annotations

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
        "find_label_issues, label_quality_scores, num_label_issues and health_summary "
        "(call .compute() first for the other methods)"
    )


class _Partition(PandasFrame):
    """One partition. Its rows are named by their index labels, unless the index is a
    ``RangeIndex`` from 0 in every partition (``dd.read_parquet`` without an index): such labels
    repeat across partitions, so rows are named by global position instead."""

    def __init__(self, df, offset: int):
        super().__init__(df)
        index = df.index
        self.row_offset = (
            offset
            if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
            else None
        )

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


def _stats_partition(part: pd.DataFrame, offset: pd.Series, func) -> pd.Series:
    out = pd.Series([None], dtype=object)
    out.iloc[0] = _on_partition(func, part, int(offset.iloc[0]))
    return out


def _only(stats: pd.Series):
    return stats.iloc[0]


def _attach_partition(part: pd.DataFrame, offset: pd.Series, func, template, overwrite):
    start = int(offset.iloc[0])
    fr = _Partition(part, start)
    if len(part) == 0:
        return fr.attach({n: _empty(v) for n, v in template.items()}, overwrite=overwrite)
    return fr.attach(func(fr, start), overwrite=overwrite)


def _distinct(part: pd.DataFrame, key: str) -> pd.DataFrame:
    return part.drop_duplicates(subset=[key], keep="first")


class DaskFrame(Engine):
    """A Dask DataFrame (see the module docstring). Reading whole columns is not supported:
    the label-issue calls read it through :meth:`reduce_batches` and :meth:`attach_batches`."""

    kind = "dask"
    batched = True

    def __init__(self, ddf):
        self.native = ddf
        self._height: int | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.native.columns)

    @property
    def height(self) -> int:
        if self._height is None:
            first = self.native.columns[:1]
            data = self.native[list(first)] if len(first) else self.native
            self._height = int(data.map_partitions(len).compute().sum())
        return self._height

    @property
    def _meta(self) -> PandasFrame:
        return PandasFrame(self.native._meta)

    def distinct_rows(self, key, columns):
        meta = self.native._meta
        others = [c for c in columns if c != key]
        arrays = [c for c in others if self._meta.is_array_column(c) or meta[c].dtype == object]
        cols = [key, *arrays]
        parts = self.native[cols].map_partitions(_distinct, key, meta=meta[cols])
        (frames,) = dask.compute(parts.to_delayed())
        data = pd.concat(frames) if frames else meta[cols]
        data = data.drop_duplicates(subset=[key], keep="first").reset_index(drop=True)
        # the other columns: names and dtypes only (nothing of them is read)
        empty = {c: meta[c].reindex(data.index) for c in others if c not in arrays}
        data = data.assign(**empty)
        return PandasFrame(data[[key, *others]])

    def first_rows(self, n, columns):
        data = self.native[list(columns)]
        for i in range(data.npartitions):
            part = data.get_partition(i).compute()
            if len(part):
                return PandasFrame(part.iloc[:n])
        return PandasFrame(data._meta)

    def reduce_batches(self, columns, func, merge, *, progress=None):
        data = self.native[list(columns)]
        stats = data.map_partitions(
            _stats_partition,
            _offsets_of(data),
            func,
            meta=pd.Series(dtype=object),
            align_dataframes=False,
        )
        take = dask.delayed(_only, pure=True)
        join = dask.delayed(_merge, pure=False)
        level = [take(p) for p in stats.to_delayed()]
        while len(level) > 1:
            nxt = [join(merge, a, b) for a, b in zip(level[0::2], level[1::2])]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        if not level:
            return None
        (out,) = dask.compute(level[0])
        if progress is not None:
            progress(self.height)
        return out

    def attach_batches(self, columns, func, template, *, overwrite=False):
        meta = self._meta.attach({n: _empty(v) for n, v in template.items()}, overwrite=overwrite)
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
