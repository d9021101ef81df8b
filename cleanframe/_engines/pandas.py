"""The pandas engine (numpy, extension and Arrow dtypes)."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pandas as pd

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
    "PandasChecks",
    "PandasFrame",
    "adapt",
    "adapt_column",
    "from_columns",
    "is_frame",
    "model_frame",
]


def is_frame(obj: Any) -> bool:
    return isinstance(obj, pd.DataFrame)


def from_columns(columns: dict) -> pd.DataFrame:
    return pd.DataFrame(columns)


def model_frame(columns: dict) -> pd.DataFrame:
    """A pandas DataFrame for a scikit-learn model: 1-D arrays as they are, :class:`Factorized`
    columns as ``category`` columns (code -1 = missing; the declared categories, else the
    values in order of first appearance)."""
    data = {}
    for name, column in columns.items():
        if isinstance(column, Factorized):
            cats = column.categories if column.categories is not None else column.uniques
            categories = pd.Index(cats, dtype=object)
            column = pd.Categorical.from_codes(column.codes, categories=categories)
        data[name] = column
    return pd.DataFrame(data)


def read_file(path) -> pd.DataFrame:
    if str(path).lower().endswith(".csv"):
        return pd.read_csv(path)
    return pd.read_parquet(path)


def adapt(obj: Any) -> PandasFrame | None:
    """The engine for a pandas DataFrame, else None."""
    return PandasFrame(obj) if isinstance(obj, pd.DataFrame) else None


def adapt_column(obj: Any) -> PandasFrame | None:
    """A pandas Series (or a one-column DataFrame) as a one-column frame, else None."""
    if isinstance(obj, pd.Series):
        name = obj.name if obj.name is not None else "y"
        return PandasFrame(obj.to_frame(name=name))
    return adapt(obj)


def _arrow_string_codes(s: pd.Series) -> tuple[np.ndarray, pd.Index] | None:
    """``(codes, uniques)`` of an Arrow-backed string Series (pandas' ``str`` and
    ``string[pyarrow]``, ``ArrowDtype`` strings) from its Arrow buffers by
    :func:`._strings.short_string_codes`, as ``pd.factorize`` gives them; ``None`` when that
    does not apply."""
    dtype = s.dtype
    arrow = (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow") or (
        isinstance(dtype, pd.ArrowDtype) and dtype.kind in "OU"
    )
    if not arrow or not hasattr(s.array, "__arrow_array__"):
        return None
    fast = short_string_codes(s.array.__arrow_array__())
    if fast is None:
        return None
    codes, first = fast
    return codes, pd.Index(s.array.take(first))


class PandasFrame(Engine):
    kind = "pandas"
    pandera_backend = "pandas"

    def __init__(self, df):
        self.native = df

    @property
    def columns(self) -> list[str]:
        return self.native.columns.tolist()  # not an iteration of an Arrow-backed Index

    @property
    def height(self) -> int:
        return len(self.native)

    def _series(self, name):
        return self.native[name]

    def column(self, name):
        s = self._series(name)
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
            return s.to_numpy(dtype=object, na_value=None)
        if pd.api.types.is_string_dtype(s.dtype):
            return s.to_numpy(dtype=object, na_value=None)
        if pd.api.types.is_bool_dtype(s.dtype) and not s.hasnans:
            return s.to_numpy(dtype=bool)
        if pd.api.types.is_integer_dtype(s.dtype) and not s.hasnans:
            return s.to_numpy(dtype=np.int64)
        if pd.api.types.is_numeric_dtype(s.dtype):
            return s.to_numpy(dtype=np.float64, na_value=np.nan)
        return s.to_numpy(dtype=object, na_value=None)

    def factorize_sorted(self, name):
        s = self._series(name)
        if not (isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu") or not len(s):
            return None
        runs = sorted_runs(s.to_numpy())
        if runs is None:
            return None
        uniques = pd.Index(s.to_numpy()[runs[1]])
        lazy = LazyList(uniques.tolist, len(uniques))
        return Factorized(runs[0], lazy, None, "integer", values=uniques)

    def factorize(self, name):
        s = self._series(name)
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.cat.categories
            codes = s.cat.codes.to_numpy(dtype=np.int64)
            present = np.unique(codes[codes >= 0])
            return Factorized(codes, [cats[i] for i in present], list(cats), "categorical")
        fast = _arrow_string_codes(s)
        if fast is not None:  # short labels in Arrow storage: compiled hash loop
            codes, uniques = fast
        else:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
        dtype = s.dtype
        if pd.api.types.is_bool_dtype(dtype):
            kind = "boolean"
        elif pd.api.types.is_integer_dtype(dtype):
            kind = "integer"
        elif pd.api.types.is_float_dtype(dtype):
            kind = "float"
        elif pd.api.types.is_string_dtype(dtype):
            kind = "string"
        else:
            kind = "other"
        return Factorized(
            np.asarray(codes, dtype=np.int64), uniques.tolist(), None, kind, values=uniques
        )

    def _dtypes(self) -> dict | None:
        """Column name -> dtype, read once per call (not a Series per column); ``None`` when
        column names repeat."""
        dtypes = self.__dict__.get("_dtype_map")
        if dtypes is None and self.native.columns.is_unique:
            dtypes = self._dtype_map = dict(zip(self.native.columns, self.native.dtypes))
        return dtypes

    def non_numeric(self, columns):
        dtypes = self._dtypes()
        found = [(c, dtypes[c] if dtypes is not None else self.native[c].dtype) for c in columns]
        return [(c, str(dtype)) for c, dtype in found if not _numeric_dtype(dtype)]

    def matrix(self, columns):
        series = [self.native[c] for c in columns]
        dtypes = [getattr(s.dtype, "numpy_dtype", s.dtype) for s in series]
        target = float_dtype(dtypes)
        # numpy-backed float columns are read as views (no copy, no NA scan); extension and Arrow
        # dtypes are converted with NA -> NaN
        arrays = [
            s.to_numpy()
            if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f"
            else s.to_numpy(dtype=target, na_value=np.nan)
            for s in series
        ]
        return stack_columns(arrays, target)

    def float_columns(self, columns):
        # numpy float columns of one dtype: views of the rows of pandas' 2-D float block
        known = self._dtypes()
        if known is None:
            dtypes = {self.native[c].dtype for c in columns}
        else:
            dtypes = {known[c] for c in columns}
        if len(dtypes) != 1:
            return None
        (dtype,) = dtypes
        if isinstance(dtype, pd.ArrowDtype):  # e.g. dtype_backend="pyarrow": the Arrow buffers
            return self._arrow_float_columns(columns, dtype)
        if not isinstance(dtype, np.dtype) or dtype not in (np.float32, np.float64):
            return None
        arrays = self._numpy_columns(columns)
        if not all(a.ndim == 1 and a.flags.c_contiguous for a in arrays):
            return None
        return arrays

    def _arrow_float_columns(self, columns, dtype) -> list[np.ndarray] | None:
        """Arrow float32/float64 columns without nulls as read-only numpy views of their
        buffers (a column of several chunks is combined into one, a column-major copy)."""
        import pyarrow as pa

        if dtype.pyarrow_dtype not in (pa.float32(), pa.float64()):
            return None
        arrays = []
        for c in columns:
            chunked = self.native[c].array.__arrow_array__()
            if chunked.null_count:
                return None
            one = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
            arrays.append(one.to_numpy(zero_copy_only=True))
        return arrays

    def _numpy_columns(self, columns) -> list[np.ndarray]:
        """The stored arrays of numpy-dtype ``columns``, read-only views, without building a
        Series per column (pandas' ``_get_column_array`` when it has it: ~25x cheaper at K =
        100; else ``Series.to_numpy``, a writable view of the frame's data without
        copy-on-write, as in pandas 2)."""
        native = self.native
        get = getattr(native, "_get_column_array", None)
        arrays = None
        if get is not None and native.columns.is_unique:
            arrays = [get(int(i)) for i in native.columns.get_indexer(columns)]
        if arrays is None or not all(isinstance(a, np.ndarray) for a in arrays):
            arrays = [native[c].to_numpy() for c in columns]
        views = [a.view() for a in arrays]
        for v in views:
            v.flags.writeable = False
        return views

    def is_array_column(self, name):
        s = self._series(name)
        if isinstance(s.dtype, pd.ArrowDtype):
            import pyarrow as pa

            t = s.dtype.pyarrow_dtype
            return (
                pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t)
            )
        if s.dtype == object and len(s):
            valid = np.flatnonzero(s.notna().to_numpy())  # positions: the index may hold any labels
            first = s.iloc[valid[0]] if len(valid) else None
            return isinstance(first, (list, tuple, np.ndarray))
        return False

    def array_rows(self, name):
        return self._series(name).to_numpy(dtype=object, na_value=None)

    def array_batch(self, name, start, stop):
        from ._base import dense_rows

        rows = self._series(name).iloc[start:stop].to_numpy(dtype=object)
        return dense_rows(None if _is_null_row(v) else v for v in rows)

    def _storage_dtype(self, name):
        dtypes = self._dtypes()
        dtype = dtypes[name] if dtypes is not None else None
        if isinstance(dtype, np.dtype) and dtype.kind != "O":  # numpy storage: its dtype
            return dtype if dtype.kind in "fiub" else None
        s = self._series(name)
        if isinstance(s.dtype, pd.ArrowDtype):
            t = s.dtype.pyarrow_dtype
            t = getattr(t, "value_type", t)  # list types: their items
            try:
                return np.dtype(t.to_pandas_dtype())
            except (NotImplementedError, TypeError):
                return None
        if s.dtype == object:
            valid = np.flatnonzero(s.notna().to_numpy())
            return np.asarray(s.iloc[valid[0]]).dtype if len(valid) else None
        return (
            np.dtype(getattr(s.dtype, "numpy_dtype", s.dtype)) if s.dtype.kind in "fiub" else None
        )

    def list_column(self, name):
        s = self._series(name)
        arrow = isinstance(s.dtype, pd.ArrowDtype) and self.is_array_column(name)
        if not arrow and s.dtype != object:
            return None
        if not arrow and pd.api.types.infer_dtype(s, skipna=True) not in ("mixed", "empty"):
            return None  # strings, numbers, ...: no row holds a list (a fast C scan)
        rows = s.to_numpy(dtype=object, na_value=None)
        lists = _lists_or_none(rows)
        if lists is not None:  # lists / tuples and nulls only (the usual object column): in C
            lengths, null_mask, items = lists
            null = np.flatnonzero(null_mask).tolist()
            scalar: list[int] = []
        else:
            lengths, null, scalar, items = _list_rows(rows)
        if len(scalar) == len(rows) - len(null):  # no row holds a list: not a list column
            return None
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = pd.Series(items, dtype=object)
        codes, uniques = pd.factorize(flat, use_na_sentinel=True)
        uniq = [u.item() if isinstance(u, np.generic) else u for u in uniques]
        return ListColumn(
            offsets,
            Factorized(codes.astype(np.int64), uniq, None, _python_kind(uniq)),
            np.asarray(null, dtype=np.int64),
            np.asarray(scalar, dtype=np.int64),
        )

    def list_values(self, label, values, offsets, codes):
        dtype = self._series(label).dtype
        flat = np.empty(len(values), dtype=object)
        flat[:] = list(values)
        items = flat[np.asarray(codes, dtype=np.int64)].tolist()
        bounds = np.asarray(offsets, dtype=np.int64).tolist()
        if isinstance(dtype, pd.ArrowDtype):
            import pyarrow as pa

            inner = getattr(dtype.pyarrow_dtype, "value_type", None)
            if inner is not None:  # offsets + values straight into an Arrow list array
                arr = pa.LargeListArray.from_arrays(
                    pa.array(bounds, pa.int64()), pa.array(items, type=inner)
                ).cast(pa.list_(inner))
                return pd.Series(
                    pd.arrays.ArrowExtensionArray(arr), index=self.native.index, copy=False
                )
        # one Python list per row: slices of one list of the items, made with the cyclic
        # garbage collector paused (new lists hold only the items, no cycle; otherwise
        # collections triggered by the allocations walk every live container, most of the time)
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            lists = [items[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        finally:
            if was_enabled:
                gc.enable()
        out = np.empty(len(lists), dtype=object)
        out[:] = lists
        return pd.Series(out, index=self.native.index, dtype=object)

    def row_labels(self, positions):
        return self.native.index[np.asarray(positions, dtype=np.int64).ravel()].tolist()

    def class_values(self, label, classes, codes):
        dtype = self._series(label).dtype
        if isinstance(dtype, pd.CategoricalDtype):
            index = pd.CategoricalIndex(classes, dtype=dtype)
            return pd.Categorical.from_codes(
                dtype.categories.get_indexer(index)[codes], dtype=dtype
            )
        if not isinstance(classes, pd.Index):  # an Index: Factorized.values, no list
            classes = list(classes)
        values = pd.array(classes, dtype=dtype)
        return values.take(np.asarray(codes, dtype=np.int64))

    def attach(self, columns, *, overwrite=False):
        index = self.native.index
        new = {
            name: values
            if isinstance(values, pd.Series)
            else pd.Series(values, index=index, copy=False)
            for name, values in columns.items()
        }
        return self.native.assign(**new)

    def table(self, columns, *, index=None):
        return pd.DataFrame(columns, index=index)

    def row_table(self, columns):
        return pd.DataFrame(columns, index=self.native.index)

    def square_table(self, names, matrix, *, rows, columns):
        return pd.DataFrame(
            matrix,
            index=pd.Index(list(names), name=rows),
            columns=pd.Index(list(names), name=columns),
        )

    def relabel(self, label, new_classes, codes):
        dtype = self.native[label].dtype
        codes = np.asarray(codes, dtype=np.int64)
        if isinstance(dtype, pd.CategoricalDtype):
            return pd.Categorical.from_codes(codes, categories=list(new_classes))
        return pd.array(list(new_classes), dtype=None).take(codes)

    def with_nulls(self, values, null):
        return np.where(null, np.nan, values)  # NaN is pandas' null for floats

    def drop(self, columns):
        return self.native.drop(columns=list(columns))

    def take(self, positions):
        return self.native.iloc[np.asarray(positions, dtype=np.int64)]

    def to_pandas(self):
        return self.native

    def to_text(self, rows=10):
        return self.native.head(rows).to_string()

    def to_html(self, rows=10):
        return self.native.head(rows)._repr_html_()

    def pandera_failures(self, schema, columns):
        import pandera.pandas as pa

        try:
            # pandera prints the failing series; pandas' float16 repr overflows a cast (a warning)
            with np.errstate(over="ignore"):
                schema.validate(self.native[list(columns)], lazy=True)
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases
            cases = cases[cases["column"].isin(list(columns))]
            # pandera reports index labels for pandas, as the error messages do
            return list(zip(cases["column"], cases["index"], cases["failure_case"]))
        return None


def _python_kind(values) -> str:
    """The :class:`Factorized` kind of Python values (items of an object column)."""
    kinds = {
        "boolean"
        if isinstance(v, (bool, np.bool_))
        else "integer"
        if isinstance(v, (int, np.integer))
        else "float"
        if isinstance(v, (float, np.floating))
        else "string"
        if isinstance(v, str)
        else "other"
        for v in values
    }
    return kinds.pop() if len(kinds) == 1 else ("string" if not kinds else "other")


def _numeric_dtype(dtype) -> bool:
    """Numbers, not booleans: the columns :meth:`PandasFrame.matrix` reads."""
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _floats(s: pd.Series) -> np.ndarray:
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def _row_arrays(s: pd.Series):
    """``(position, items as float64 or None when not a 1-D array of numbers)`` per non-null row."""
    for i, v in enumerate(s.to_numpy(dtype=object, na_value=None)):
        if v is not None:
            a = np.asarray(v)
            yield i, (a.astype(np.float64) if a.ndim == 1 and a.dtype.kind in "fiu" else None)


def _is_null_row(value) -> bool:
    """A missing array cell (None, NaN, pd.NA) rather than an array or list."""
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


class PandasChecks(PanderaChecks):
    """pandera.pandas checks: operations on the pandas Series / DataFrame pandera passes."""

    @staticmethod
    def _check(fn, check):
        import pandera.pandas as pa

        return pa.Check(fn, **check)

    @staticmethod
    def _rows(s: pd.Series, ok: np.ndarray) -> pd.Series:
        return pd.Series(ok, index=s.index, dtype=bool)

    def numeric(self, **check):
        return self._check(lambda s: _numeric_dtype(s.dtype), check)

    def finite(self, **check):
        def finite(s):
            return self._rows(s, np.isfinite(_floats(s))) if _numeric_dtype(s.dtype) else True

        return self._check(finite, check)

    def between(self, low, high, **check):
        def between(s):
            if not _numeric_dtype(s.dtype):
                return True
            values = _floats(s)
            return self._rows(s, (values >= low) & (values <= high))

        return self._check(between, check)

    def row_sums(self, select, tolerance, **check):
        def row_sums(df):
            columns = select(list(df.columns))
            if not columns or not all(_numeric_dtype(df[c].dtype) for c in columns):
                return True
            tol = tolerance(PandasFrame(df).storage_eps(columns))
            sums = np.column_stack([_floats(df[c]) for c in columns]).sum(axis=1)
            return self._rows(df, np.abs(sums - 1.0) <= tol)

        return self._check(row_sums, check)

    def frame_columns(self, test, **check):
        return self._check(lambda df: bool(test(list(df.columns))), check)

    def not_empty(self, **check):
        return self._check(lambda df: len(df) > 0, check)

    def distinct_at_least(self, minimum, **check):
        return self._check(lambda s: bool(s.nunique(dropna=True) >= minimum), check)

    def array_length(self, length, **check):
        def array_length(s):
            lengths = np.full(len(s), -1, dtype=np.int64)
            for i, items in _row_arrays(s):
                lengths[i] = -1 if items is None else len(items)
            known = lengths[lengths >= 0]
            want = length
            if want is None:  # the most common length, as the engine reads array columns
                want = np.bincount(known).argmax() if len(known) else 0
            return self._rows(s, (lengths == want) | (lengths < 0))  # not numbers: array_values

        return self._check(array_length, check)

    def array_values(self, *, finite=False, low=None, high=None, **check):
        def array_values(s):
            ok = np.ones(len(s), dtype=bool)
            for i, items in _row_arrays(s):
                ok[i] = items is not None and not (
                    (finite and not np.isfinite(items).all())
                    or (low is not None and (items < low).any())
                    or (high is not None and (items > high).any())
                )
            return self._rows(s, ok)

        return self._check(array_values, check)

    def array_sums(self, tolerance, **check):
        def array_sums(s):
            tol = tolerance(PandasFrame(s.to_frame()).storage_eps([s.name]))
            ok = np.ones(len(s), dtype=bool)
            for i, items in _row_arrays(s):
                ok[i] = items is None or abs(items.sum() - 1.0) <= tol
            return self._rows(s, ok)

        return self._check(array_sums, check)


#: The pandera checks of this engine (see :func:`cleanframe._engines.pandera_checks`).
PANDERA_CHECKS = PandasChecks()


def _lists_or_none(rows: np.ndarray):
    """``(lengths, null mask, items)`` of an object column whose rows are all lists, tuples or
    None (read in C: ``map`` and ``itertools.chain``), else ``None`` (other rows: see
    :func:`_list_rows`)."""
    from itertools import chain

    types = set(map(type, rows))
    if not types <= {list, tuple, type(None)}:
        return None
    null = np.zeros(len(rows), dtype=bool)
    if type(None) in types:
        null = np.fromiter(map(_is_none, rows), dtype=bool, count=len(rows))
        rows = rows[~null]
    lengths = np.zeros(len(null), dtype=np.int64)
    lengths[~null] = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    return lengths, null, list(chain.from_iterable(rows))


def _is_none(v) -> bool:
    return v is None


def _list_rows(rows: np.ndarray):
    """``(lengths, null rows, scalar rows, items)`` of an object column, row by row (rows of
    numpy arrays, NaN nulls, scalars)."""
    lengths = np.zeros(len(rows), dtype=np.int64)
    null: list[int] = []
    scalar: list[int] = []
    items: list[Any] = []
    for i, v in enumerate(rows):
        if isinstance(v, (list, tuple, np.ndarray)):
            lengths[i] = len(v)
            items.extend(v.tolist() if isinstance(v, np.ndarray) else v)
        elif v is None or (isinstance(v, float) and v != v):
            null.append(i)
        else:
            scalar.append(i)
    return lengths, null, scalar, items
