"""The polars engine: eager DataFrames and LazyFrames."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ._base import (
    Engine,
    Factorized,
    LazyList,
    ListColumn,
    PanderaChecks,
    float_dtype,
    sorted_runs,
    stack_columns,
)
from ._strings import short_string_codes

__all__ = [
    "PANDERA_CHECKS",
    "LazyPolarsFrame",
    "PolarsChecks",
    "PolarsFrame",
    "adapt",
    "adapt_column",
    "from_columns",
    "is_frame",
]


def is_frame(obj: Any) -> bool:
    return isinstance(obj, (pl.DataFrame, pl.LazyFrame))


def from_columns(columns: dict) -> pl.DataFrame:
    return pl.DataFrame(columns)


def read_file(path) -> pl.DataFrame:
    if str(path).lower().endswith(".csv"):
        return pl.read_csv(path)
    return pl.read_parquet(path)


def adapt(obj: Any) -> PolarsFrame | None:
    """The engine for a polars DataFrame or LazyFrame, else None."""
    if isinstance(obj, pl.LazyFrame):
        return LazyPolarsFrame(obj)
    if isinstance(obj, pl.DataFrame):
        return PolarsFrame(obj)
    return None


def adapt_column(obj: Any) -> PolarsFrame | None:
    """A polars Series (or a one-column frame) as a one-column frame, else None."""
    if isinstance(obj, pl.Series):
        return PolarsFrame(obj.to_frame(obj.name or "y"))
    return adapt(obj)


def _polars_kind(dtype) -> str:
    if isinstance(dtype, (pl.Enum, pl.Categorical)) or dtype == pl.Categorical:
        return "categorical"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "float"
    if dtype == pl.String:
        return "string"
    return "other"


def _arrow_factorize(s: pl.Series) -> tuple[np.ndarray, pl.Series] | None:
    """``(codes, uniques)`` of a String or Categorical Series by Arrow's hash encoding of the
    column's own buffers (zero-copy string views; a Categorical's physical codes re-encoded),
    uniques in order of first appearance, codes int64 with -1 = null. ``None`` when this
    polars/pyarrow pair cannot do it (the caller falls back to polars' own unique + replace)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    level = getattr(pl, "CompatLevel", None)
    try:
        arr = s.to_arrow(compat_level=level.newest()) if level is not None else s.to_arrow()
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if isinstance(arr, pa.DictionaryArray):  # a Categorical: re-encode its physical codes
            enc = pc.dictionary_encode(arr.indices)
            values = arr.dictionary.take(enc.dictionary)
        elif (fast := short_string_codes(arr)) is not None:  # short labels: compiled hash loop
            codes, first = fast
            return codes, s.gather(first).cast(pl.String)
        else:
            enc = pc.dictionary_encode(arr)
            values = enc.dictionary
        indices = pc.fill_null(enc.indices, -1) if enc.indices.null_count else enc.indices
        codes = indices.to_numpy(zero_copy_only=False).astype(np.int64)
        uniques = pl.Series(s.name, values).cast(pl.String)
    except (pa.ArrowException, TypeError, ValueError):  # pragma: no cover - old pyarrow/polars
        return None
    return codes, uniques


class PolarsFrame(Engine):
    kind = "polars"
    pandera_backend = "polars"
    #: Global position of the first row (a batch of a streamed LazyFrame), for row labels.
    row_offset = 0

    def __init__(self, df):
        self.native = df

    def row_labels(self, positions):
        return [int(p) + self.row_offset for p in np.asarray(positions).ravel()]

    @property
    def columns(self):
        return list(self.native.columns)

    @property
    def height(self):
        return self.native.height

    def _data(self, columns):
        return self.native

    def _series(self, name):
        return self._data([name]).get_column(name)

    def column(self, name):
        s = self._series(name)
        kind = _polars_kind(s.dtype)
        if kind in ("integer", "boolean") and s.null_count() == 0:
            return s.to_numpy()
        if kind in ("integer", "float"):
            return s.cast(pl.Float64).to_numpy()
        return np.asarray(s.to_list(), dtype=object)

    def factorize(self, name):
        s = self._series(name)
        kind = _polars_kind(s.dtype)
        categories = None
        if isinstance(s.dtype, pl.Enum):
            categories = s.dtype.categories.to_list()
            codes = s.to_physical().fill_null(-1).cast(pl.Int64).to_numpy()
            present = np.unique(codes[codes >= 0])
            return Factorized(codes, [categories[i] for i in present], categories, kind)
        fast = _arrow_factorize(s) if kind in ("string", "categorical") else None
        if fast is not None:
            codes, uniques = fast
            if kind == "categorical":
                return Factorized(codes, uniques.to_list(), None, "string")
            return Factorized(codes, uniques.to_list(), None, kind, values=uniques)
        if kind == "categorical":
            s = s.cast(pl.String)
        uniques = s.drop_nulls().unique(maintain_order=True)
        codes = (
            s.replace_strict(
                uniques, pl.int_range(len(uniques), eager=True), return_dtype=pl.Int64, default=-1
            )
            .fill_null(-1)
            .to_numpy()
        )
        if kind == "categorical":
            return Factorized(codes, uniques.to_list(), None, "string")
        return Factorized(codes, uniques.to_list(), None, kind, values=uniques)

    def factorize_sorted(self, name):
        s = self._series(name)
        if not s.dtype.is_integer() or s.null_count() or not len(s):
            return None
        runs = sorted_runs(s.to_numpy())
        if runs is None:
            return None
        uniques = s.gather(runs[1])
        lazy = LazyList(uniques.to_list, len(uniques))
        return Factorized(runs[0], lazy, None, "integer", values=uniques)

    def non_numeric(self, columns):
        schema = self.native.collect_schema()
        return [(c, str(schema[c])) for c in columns if not _numeric_dtype(schema[c])]

    def matrix(self, columns):
        data = self._data(columns).select(list(columns))
        dtypes = [
            np.dtype("float32") if dtype in (pl.Float32, pl.Float16) else np.dtype("float64")
            for dtype in data.schema.values()
        ]
        target = float_dtype(dtypes)
        cast = pl.Float32 if target == np.float32 else pl.Float64
        arrays = [data.get_column(c).cast(cast).to_numpy() for c in columns]
        return stack_columns(arrays, target)

    def float_columns(self, columns):
        # Float32/Float64 columns of one dtype without nulls: their Arrow buffers, zero-copy
        data = self._data(columns)
        schema = data.schema
        dtypes = {schema[c] for c in columns}
        if len(dtypes) != 1 or dtypes.pop() not in (pl.Float32, pl.Float64):
            return None
        arrays = []
        for c in columns:
            s = data.get_column(c)
            if s.null_count():
                return None
            a = s.to_numpy()
            if a.ndim != 1 or not a.flags.c_contiguous:
                return None
            arrays.append(a)
        return arrays

    def is_array_column(self, name):
        dtype = self._data([name]).schema[name]
        return isinstance(dtype, (pl.Array, pl.List))

    def array_rows(self, name):
        s = self._series(name)
        if isinstance(s.dtype, pl.Array) and s.null_count() == 0 and s.dtype.inner.is_numeric():
            out = s.to_numpy()
            return np.ascontiguousarray(out.astype(float_dtype([out.dtype]), copy=False))
        # np.fromiter keeps a 1-D object array (np.asarray would make equal-length rows 2-D)
        return np.fromiter(
            (None if v is None else np.asarray(v) for v in s.to_list()), dtype=object, count=len(s)
        )

    def array_batch(self, name, start, stop):
        from ._base import dense_rows

        s = self._series(name).slice(start, stop - start)
        inner = s.dtype
        while isinstance(inner, pl.Array):
            inner = inner.inner
        if isinstance(s.dtype, pl.Array) and inner.is_numeric() and s.null_count() == 0:
            return s.to_numpy()
        return dense_rows(s.to_list())

    def list_column(self, name):
        if not isinstance(self.native.collect_schema()[name], (pl.Array, pl.List)):
            return None  # from the schema: a LazyFrame collects nothing
        s = self._series(name)
        arrow = s.to_arrow()
        lengths = s.list.len() if isinstance(s.dtype, pl.List) else s.arr.len()
        lengths = lengths.fill_null(0).cast(pl.Int64).to_numpy()
        offsets = np.zeros(len(s) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        items = pl.Series("items", arrow.flatten(), dtype=s.dtype.inner)
        return ListColumn(
            offsets,
            PolarsFrame(items.to_frame()).factorize("items"),
            np.flatnonzero(s.is_null().to_numpy()),
            np.empty(0, dtype=np.int64),
        )

    def list_values(self, label, values, offsets, codes):
        import pyarrow as pa

        dtype = self.native.collect_schema()[label]
        inner = dtype.inner if isinstance(dtype, (pl.Array, pl.List)) else None
        flat = pl.Series("items", list(values), dtype=inner).gather(
            np.asarray(codes, dtype=np.int64)
        )
        lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), flat.to_arrow())
        out = pl.Series(label, lists)
        return out.cast(pl.List(inner)) if inner is not None else out

    def _storage_dtype(self, name):
        schema = self.__dict__.get("_storage_schema")
        if schema is None:  # one schema for all the columns of a call (building one costs)
            schema = self._storage_schema = self.native.collect_schema()
        dtype = schema[name]
        if isinstance(dtype, (pl.Array, pl.List)):
            dtype = dtype.inner
        floats = {pl.Float16: np.float16, pl.Float32: np.float32, pl.Float64: np.float64}
        return np.dtype(floats[dtype]) if dtype in floats else None

    def class_values(self, label, classes, codes):
        dtype = self._data([label]).schema[label]
        classes = classes if isinstance(classes, pl.Series) else list(classes)
        return pl.Series(label, classes, dtype=dtype).gather(np.asarray(codes, dtype=np.int64))

    def _to_series(self, name, values):
        if isinstance(values, pl.Series):
            return values.alias(name)
        return pl.Series(name, values)

    def attach(self, columns, *, overwrite=False):
        return self.native.with_columns([self._to_series(n, v) for n, v in columns.items()])

    def table(self, columns, *, index=None):
        return pl.DataFrame({n: self._to_series(n, v) for n, v in columns.items()})

    def square_table(self, names, matrix, *, rows, columns):
        table = {rows: pl.Series(rows, list(names), dtype=pl.String)}
        table.update({n: matrix[:, i] for i, n in enumerate(names)})
        return self.table(table)

    def _label_dtype(self, label):
        return self.native.collect_schema()[label]

    def relabel(self, label, new_classes, codes):
        codes = np.asarray(codes, dtype=np.int64)
        if isinstance(self._label_dtype(label), pl.Enum):
            names = [str(v) for v in new_classes]
            return pl.Series(label, names, dtype=pl.Enum(names)).gather(codes)
        return pl.Series(label, list(new_classes)).gather(codes)

    def with_nulls(self, values, null):
        return pl.Series(values=np.asarray(values, dtype=np.float64)).scatter(
            np.flatnonzero(null), None
        )

    def drop(self, columns):
        return self.native.drop(list(columns))

    def take(self, positions):
        return self.native[np.asarray(positions, dtype=np.int64)]

    def to_pandas(self):
        return self.native.to_pandas()

    def _head(self, rows):
        return self.native.head(rows)

    def to_text(self, rows=10):
        return str(self._head(rows))

    def to_html(self, rows=10):
        return self._head(rows)._repr_html_()

    def pandera_failures(self, schema, columns):
        import pandera.polars as pa

        data = self._data(list(columns)).select(list(columns))
        try:
            schema.validate(data, lazy=True)
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases.to_pandas()
            cases = cases[cases["column"].isin(list(columns))]
            out = []
            # pandera.polars reports values as strings and rows as positions: read the real values
            for column, index in zip(cases["column"], cases["index"]):
                position = None if index is None or index != index else int(index)
                value = None if position is None else data.get_column(column)[position]
                out.append(
                    (column, None if position is None else position + self.row_offset, value)
                )
            return out
        return None


class LazyPolarsFrame(PolarsFrame):
    """A LazyFrame: reads collect only the requested columns (once per call)."""

    kind = "lazy"

    def __init__(self, lf):
        self.native = lf
        self._collected = None
        self._height = None

    @property
    def columns(self):
        return list(self.native.collect_schema().names())

    @property
    def height(self):
        if self._height is None:
            self._height = self.native.select(pl.len()).collect().item()
        return self._height

    def eager(self):
        return PolarsFrame(self.native.collect())

    # streamed: batches through polars' streaming engine (see _engines/polars_stream.py)
    batched = True
    batches_in_process = True

    def distinct_rows(self, key, columns):
        from . import polars_stream

        return polars_stream.distinct_rows(self, key, columns)

    def first_rows(self, n, columns):
        return PolarsFrame(self.native.select(list(columns)).head(n).collect())

    def list_column(self, name):
        if not isinstance(self.native.collect_schema()[name], (pl.Array, pl.List)):
            return None  # told by the schema: no need to collect the column
        return super().list_column(name)

    def reduce_batches(self, columns, func, merge, *, progress=None):
        from . import polars_stream

        return polars_stream.reduce_batches(self, columns, func, merge, progress=progress)

    def attach_batches(self, columns, func, template, *, overwrite=False):
        from . import polars_stream

        return polars_stream.attach_batches(self, columns, func, template, overwrite=overwrite)

    def _data(self, columns):
        have = set(self._collected.columns) if self._collected is not None else set()
        missing = [c for c in columns if c not in have]
        if missing:
            part = self.native.select(missing).collect()
            self._collected = part if self._collected is None else self._collected.hstack(part)
            self._height = self._collected.height
        return self._collected

    def is_array_column(self, name):
        return isinstance(self.native.collect_schema()[name], (pl.Array, pl.List))

    def array_batch(self, name, start, stop):
        if self._collected is not None and name in self._collected.columns:
            return super().array_batch(name, start, stop)
        # only these rows: a scanned file is read batch by batch (images: memory of one batch)
        part = self.native.slice(start, stop - start).select(name).collect()
        return PolarsFrame(part).array_batch(name, 0, part.height)

    def class_values(self, label, classes, codes):
        dtype = self.native.collect_schema()[label]
        classes = classes if isinstance(classes, pl.Series) else list(classes)
        return pl.Series(label, classes, dtype=dtype).gather(np.asarray(codes, dtype=np.int64))

    def attach(self, columns, *, overwrite=False):
        new = pl.DataFrame([self._to_series(n, v) for n, v in columns.items()]).lazy()
        names = self.columns
        base = (
            self.native.drop([n for n in columns if n in set(names)]) if overwrite else self.native
        )
        out = pl.concat([base, new], how="horizontal")
        # replaced columns keep their place, new ones go last (as DataFrame.with_columns does)
        return out.select(names + [n for n in columns if n not in set(names)])

    def table(self, columns, *, index=None):
        return super().table(columns).lazy()

    def take(self, positions):
        return self.native.collect()[np.asarray(positions, dtype=np.int64)].lazy()

    def to_pandas(self):
        return self.native.collect().to_pandas()

    def _head(self, rows):
        return self.native.head(rows).collect()


def _numeric_dtype(dtype) -> bool:
    """Numbers (booleans are not): the columns :meth:`PolarsFrame.matrix` reads."""
    return dtype.is_numeric()


def _verdict(data, ok: bool):
    """A check's verdict on the whole column or frame, as pandera.polars can report it: ``True``,
    or ``False`` for every row (pandera's lazy report cannot combine a scalar ``False`` with
    other failure cases), or a scalar ``False`` when there are no rows."""
    if ok:
        return True
    if data.lazyframe.select(pl.len()).collect().item() == 0:
        return False
    return data.lazyframe.select(pl.repeat(False, pl.len()).alias("verdict"))


def _float_items(name: str, dtype) -> pl.Expr | None:
    """Column ``name`` (an Array or List of numbers) as a List of float64, else ``None``."""
    if not isinstance(dtype, (pl.Array, pl.List)) or not _numeric_dtype(dtype.inner):
        return None
    return pl.col(name).cast(pl.List(pl.Float64))


class PolarsChecks(PanderaChecks):
    """pandera.polars checks: polars expressions on the LazyFrame pandera passes (``PolarsData``),
    so they run wherever pandera runs them, without leaving polars."""

    @staticmethod
    def _check(fn, check):
        import pandera.polars as pa

        return pa.Check(fn, **check)

    @staticmethod
    def _dtype(data):
        return data.lazyframe.collect_schema()[data.key]

    def numeric(self, **check):
        return self._check(lambda data: _verdict(data, _numeric_dtype(self._dtype(data))), check)

    def finite(self, **check):
        def finite(data):
            if not _numeric_dtype(self._dtype(data)):
                return True
            return data.lazyframe.select(pl.col(data.key).cast(pl.Float64).is_finite())

        return self._check(finite, check)

    def between(self, low, high, **check):
        def between(data):
            if not _numeric_dtype(self._dtype(data)):
                return True
            return data.lazyframe.select(pl.col(data.key).cast(pl.Float64).is_between(low, high))

        return self._check(between, check)

    def row_sums(self, select, tolerance, **check):
        def row_sums(data):
            schema = data.lazyframe.collect_schema()
            columns = select(list(schema.names()))
            if not columns or not all(_numeric_dtype(schema[c]) for c in columns):
                return True
            tol = tolerance(LazyPolarsFrame(data.lazyframe).storage_eps(columns))
            total = pl.sum_horizontal([pl.col(c).cast(pl.Float64) for c in columns])
            return data.lazyframe.select(((total - 1.0).abs() <= tol).alias("row_sums"))

        return self._check(row_sums, check)

    def frame_columns(self, test, **check):
        def frame_columns(data):
            return _verdict(data, bool(test(data.lazyframe.collect_schema().names())))

        return self._check(frame_columns, check)

    def not_empty(self, **check):
        return self._check(lambda data: data.lazyframe.select(pl.len()).collect().item() > 0, check)

    def distinct_at_least(self, minimum, **check):
        def distinct_at_least(data):
            values = data.lazyframe.select(pl.col(data.key).drop_nulls().n_unique())
            return _verdict(data, values.collect().item() >= minimum)

        return self._check(distinct_at_least, check)

    def array_length(self, length, **check):
        def array_length(data):
            items = _float_items(data.key, self._dtype(data))
            if items is None:
                return True  # not numbers: array_values reports it
            lengths = items.list.len()
            want = lengths.drop_nulls().mode().min() if length is None else length
            return data.lazyframe.select(lengths == want)

        return self._check(array_length, check)

    def array_values(self, *, finite=False, low=None, high=None, **check):
        def array_values(data):
            items = _float_items(data.key, self._dtype(data))
            if items is None:
                return _verdict(data, False)
            ok = ~items.list.eval(pl.element().is_null()).list.any()
            if finite:
                ok = ok & items.list.eval(pl.element().is_finite()).list.all()
            if low is not None:
                ok = ok & (items.list.min() >= low).fill_null(True)
            if high is not None:
                ok = ok & (items.list.max() <= high).fill_null(True)
            return data.lazyframe.select(ok.alias(data.key))

        return self._check(array_values, check)

    def array_sums(self, tolerance, **check):
        def array_sums(data):
            items = _float_items(data.key, self._dtype(data))
            if items is None:
                return True
            tol = tolerance(LazyPolarsFrame(data.lazyframe).storage_eps([data.key]))
            return data.lazyframe.select((items.list.sum() - 1.0).abs() <= tol)

        return self._check(array_sums, check)


#: The pandera checks of this engine (see :func:`cleanframe._engines.pandera_checks`).
PANDERA_CHECKS = PolarsChecks()
