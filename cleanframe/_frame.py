"""One adapter per frame engine: read columns as numpy, attach results in the caller's type.

``adapt(df)`` is created per call and holds no derived state beyond what that call collected
(a LazyFrame collects only the columns the call asks for, once). Engines are imported only when
the caller's frame belongs to them.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import ValidationError

__all__ = ["adapt", "FrameAdapter", "Factorized"]


class Factorized:
    """A column as integer codes (-1 = null) plus its distinct values.

    ``uniques`` are the distinct non-null values in order of first appearance (Python objects);
    ``categories`` is the declared category order of a pandas ``category`` / polars ``Enum``
    column (unused categories included), else ``None``; ``kind`` is one of ``"string"``,
    ``"integer"``, ``"boolean"``, ``"float"``, ``"categorical"``, ``"other"``.
    """

    __slots__ = ("codes", "uniques", "categories", "kind")

    def __init__(self, codes, uniques, categories, kind):
        self.codes = codes
        self.uniques = uniques
        self.categories = categories
        self.kind = kind


def adapt(df: Any) -> "FrameAdapter":
    """The adapter for a pandas DataFrame, polars DataFrame or polars LazyFrame."""
    root = type(df).__module__.split(".", 1)[0]
    if root == "pandas":
        import pandas as pd

        if isinstance(df, pd.DataFrame):
            return PandasFrame(df)
    elif root == "polars":
        import polars as pl

        if isinstance(df, pl.LazyFrame):
            return LazyPolarsFrame(df)
        if isinstance(df, pl.DataFrame):
            return PolarsFrame(df)
    raise TypeError(
        f"cleanframe works on a pandas DataFrame, a polars DataFrame or a polars LazyFrame, "
        f"not {type(df).__module__}.{type(df).__qualname__}."
    )


def _float_dtype(dtypes: Sequence[np.dtype]) -> np.dtype:
    """float32 when every column is float32 or narrower, else float64."""
    if dtypes and all(np.dtype(d).kind == "f" and np.dtype(d).itemsize <= 4 for d in dtypes):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def stack_columns(arrays: Sequence[np.ndarray], dtype) -> np.ndarray:
    """Columns → a C-ordered (N, K) array, copied in row tiles.

    A plain column-by-column (or transposing) copy touches a new cache line for every element;
    copying tiles of a few thousand rows at a time is 5-10x faster for wide frames.
    """
    from .scoring.parallel import parallel_for

    n = len(arrays[0]) if arrays else 0
    out = np.empty((n, len(arrays)), dtype=dtype)
    step = max(2048, (1 << 20) // max(1, len(arrays)))

    def copy_tile(start):
        stop = min(n, start + step)
        for i, column in enumerate(arrays):
            out[start:stop, i] = column[start:stop]

    parallel_for(copy_tile, range(0, n, step), parallel=out.size >= 1 << 22)
    return out


class FrameAdapter:
    """Engine-neutral access to a frame. Subclasses implement the engine-specific parts."""

    kind: str = ""
    native: Any

    # -- reading --------------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        raise NotImplementedError

    @property
    def height(self) -> int:
        raise NotImplementedError

    def require(self, columns: Sequence[str], *, param: str | None = None) -> None:
        """Raise a :class:`ValidationError` naming any column that is not in the frame."""
        present = set(self.columns)
        for name in columns:
            if name not in present:
                hint = f" (passed as {param}=)" if param else ""
                raise ValidationError(
                    name,
                    "column_exists",
                    f"no such column{hint}; the frame has {_list_names(self.columns)}",
                )

    def column(self, name: str) -> np.ndarray:
        """One column as a 1-D numpy array (strings as objects, nulls as None/NaN)."""
        raise NotImplementedError

    def factorize(self, name: str) -> Factorized:
        raise NotImplementedError

    def matrix(self, columns: Sequence[str]) -> np.ndarray:
        """Numeric columns as a C-ordered 2-D float array (float32 if all are float32/16)."""
        raise NotImplementedError

    def array_column(self, name: str) -> np.ndarray:
        """One column holding a fixed-length list/array per row, as a 2-D float array."""
        raise NotImplementedError

    def is_array_column(self, name: str) -> bool:
        raise NotImplementedError

    def row_labels(self, positions) -> list:
        """Index labels (pandas) or row numbers (polars) of row positions, for messages."""
        return [int(p) for p in np.asarray(positions).ravel()]

    def storage_eps(self, columns: Sequence[str]) -> float:
        """Machine epsilon of the coarsest float storage among ``columns`` (array columns: their
        items), 0.0 when none is a float: float16 data cannot sum to 1 more closely than this."""
        eps = [np.finfo(d).eps for d in map(self._storage_dtype, columns) if d is not None and d.kind == "f"]
        return float(max(eps, default=0.0))

    def _storage_dtype(self, name: str):
        raise NotImplementedError

    # -- writing --------------------------------------------------------------------------
    def check_new_columns(self, names: Sequence[str], *, overwrite: bool) -> None:
        """Refuse to overwrite existing columns unless ``overwrite``."""
        if overwrite:
            return
        clash = [n for n in names if n in set(self.columns)]
        if clash:
            raise ValidationError(
                clash[0],
                "no_overwrite",
                f"the result column {clash[0]!r} already exists in the frame; rename it or pass "
                f"overwrite=True to replace it",
            )

    def class_values(self, label: str, classes: Sequence[Any], codes: np.ndarray):
        """A native column of class values in the dtype of column ``label`` from codes."""
        raise NotImplementedError

    def attach(self, columns: dict, *, overwrite: bool = False):
        """The caller's frame with ``columns`` added (same rows, order and index)."""
        raise NotImplementedError

    def table(self, columns: dict, *, index=None):
        """A new small frame of the caller's library (e.g. a per-class table)."""
        raise NotImplementedError


def _list_names(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}]"


# ------------------------------------------------------------------------------------------
# pandas
# ------------------------------------------------------------------------------------------
class PandasFrame(FrameAdapter):
    kind = "pandas"

    def __init__(self, df):
        self.native = df

    @property
    def columns(self) -> list[str]:
        return [c for c in self.native.columns]

    @property
    def height(self) -> int:
        return len(self.native)

    def _series(self, name):
        return self.native[name]

    def column(self, name):
        s = self._series(name)
        import pandas as pd

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

    def factorize(self, name):
        import pandas as pd

        s = self._series(name)
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.cat.categories
            codes = s.cat.codes.to_numpy(dtype=np.int64)
            present = np.unique(codes[codes >= 0])
            return Factorized(codes, [cats[i] for i in present], list(cats), "categorical")
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
        return Factorized(np.asarray(codes, dtype=np.int64), uniques.tolist(), None, kind)

    def matrix(self, columns):
        import pandas as pd

        series = [self.native[c] for c in columns]
        dtypes = []
        for name, dtype in zip(columns, (s.dtype for s in series)):
            if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
                raise ValidationError(
                    name, "numeric", f"expected a numeric column, found dtype {dtype}"
                )
            dtypes.append(getattr(dtype, "numpy_dtype", dtype))
        target = _float_dtype(dtypes)
        # numpy-backed float columns are read as views (no copy, no NA scan); extension and Arrow
        # dtypes are converted with NA -> NaN
        arrays = [
            s.to_numpy() if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f"
            else s.to_numpy(dtype=target, na_value=np.nan)
            for s in series
        ]
        return stack_columns(arrays, target)

    def is_array_column(self, name):
        import pandas as pd

        s = self._series(name)
        if isinstance(s.dtype, pd.ArrowDtype):
            import pyarrow as pa

            t = s.dtype.pyarrow_dtype
            return pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t)
        if s.dtype == object and len(s):
            valid = np.flatnonzero(s.notna().to_numpy())  # positions: the index may hold any labels
            first = s.iloc[valid[0]] if len(valid) else None
            return isinstance(first, (list, tuple, np.ndarray))
        return False

    def array_column(self, name):
        return _stack_rows(name, self._series(name).to_numpy(dtype=object, na_value=None), self)

    def _storage_dtype(self, name):
        import pandas as pd

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
        return np.dtype(getattr(s.dtype, "numpy_dtype", s.dtype)) if s.dtype.kind in "fiub" else None

    def row_labels(self, positions):
        return self.native.index[np.asarray(positions, dtype=np.int64).ravel()].tolist()

    def class_values(self, label, classes, codes):
        import pandas as pd

        dtype = self._series(label).dtype
        if isinstance(dtype, pd.CategoricalDtype):
            index = pd.CategoricalIndex(classes, dtype=dtype)
            return pd.Categorical.from_codes(dtype.categories.get_indexer(index)[codes], dtype=dtype)
        values = pd.array(list(classes), dtype=dtype)
        return values.take(np.asarray(codes, dtype=np.int64))

    def attach(self, columns, *, overwrite=False):
        import pandas as pd

        self.check_new_columns(list(columns), overwrite=overwrite)
        index = self.native.index
        new = {
            name: values if isinstance(values, pd.Series) else pd.Series(values, index=index, copy=False)
            for name, values in columns.items()
        }
        return self.native.assign(**new)

    def table(self, columns, *, index=None):
        import pandas as pd

        return pd.DataFrame(columns, index=index)


def _stack_rows(name, values: np.ndarray, frame: FrameAdapter) -> np.ndarray:
    """Rows of lists/arrays → a 2-D float array; ragged or null rows are errors."""
    lengths = np.fromiter(
        (-1 if v is None else len(v) for v in values), dtype=np.int64, count=len(values)
    )
    if (lengths < 0).any():
        bad = np.flatnonzero(lengths < 0)
        raise ValidationError(
            name, "not_null", "null arrays", list(zip(frame.row_labels(bad[:5]), [None] * 5)),
            num_failures=len(bad),
        )
    if len(values) and (lengths != lengths[0]).any():
        width = np.bincount(lengths).argmax()
        bad = np.flatnonzero(lengths != width)
        raise ValidationError(
            name,
            "fixed_length",
            f"every row must hold an array of the same length (most have {width})",
            [(r, f"length {lengths[b]}") for r, b in zip(frame.row_labels(bad[:5]), bad[:5])],
            num_failures=len(bad),
        )
    if not len(values):
        return np.empty((0, 0))
    try:
        out = np.vstack([np.asarray(v) for v in values])
    except (TypeError, ValueError) as exc:  # pragma: no cover - odd objects
        raise ValidationError(name, "numeric", f"arrays are not numeric: {exc}") from None
    if out.dtype.kind not in "fiu":
        raise ValidationError(name, "numeric", f"arrays must be numeric, found {out.dtype}")
    return out.astype(_float_dtype([out.dtype]), copy=False)


# ------------------------------------------------------------------------------------------
# polars
# ------------------------------------------------------------------------------------------
def _polars_kind(dtype) -> str:
    import polars as pl

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


class PolarsFrame(FrameAdapter):
    kind = "polars"

    def __init__(self, df):
        self.native = df

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
            return s.cast(_pl().Float64).to_numpy()
        return np.asarray(s.to_list(), dtype=object)

    def factorize(self, name):
        pl = _pl()
        s = self._series(name)
        kind = _polars_kind(s.dtype)
        categories = None
        if isinstance(s.dtype, pl.Enum):
            categories = s.dtype.categories.to_list()
            codes = s.to_physical().fill_null(-1).cast(pl.Int64).to_numpy()
            present = np.unique(codes[codes >= 0])
            return Factorized(codes, [categories[i] for i in present], categories, kind)
        if kind == "categorical":
            s = s.cast(pl.String)
        uniques = s.drop_nulls().unique(maintain_order=True)
        codes = (
            s.replace_strict(uniques, pl.int_range(len(uniques), eager=True), return_dtype=pl.Int64, default=-1)
            .fill_null(-1)
            .to_numpy()
        )
        return Factorized(codes, uniques.to_list(), None, "string" if kind == "categorical" else kind)

    def matrix(self, columns):
        pl = _pl()
        data = self._data(columns).select(list(columns))
        dtypes = []
        for name, dtype in data.schema.items():
            if not dtype.is_numeric():
                raise ValidationError(name, "numeric", f"expected a numeric column, found dtype {dtype}")
            dtypes.append(np.dtype("float32") if dtype in (pl.Float32, pl.Float16) else np.dtype("float64"))
        target = _float_dtype(dtypes)
        cast = pl.Float32 if target == np.float32 else pl.Float64
        arrays = [data.get_column(c).cast(cast).to_numpy() for c in columns]
        return stack_columns(arrays, target)

    def is_array_column(self, name):
        pl = _pl()
        dtype = self._data([name]).schema[name]
        return isinstance(dtype, (pl.Array, pl.List))

    def array_column(self, name):
        pl = _pl()
        s = self._series(name)
        if isinstance(s.dtype, pl.Array) and s.null_count() == 0:
            inner = s.dtype.inner
            if not inner.is_numeric():
                raise ValidationError(name, "numeric", f"arrays must be numeric, found {inner}")
            out = s.to_numpy()
            return np.ascontiguousarray(out.astype(_float_dtype([out.dtype]), copy=False))
        # np.fromiter keeps a 1-D object array (np.asarray would make equal-length rows 2-D)
        rows = np.fromiter(
            (None if v is None else np.asarray(v) for v in s.to_list()), dtype=object, count=len(s)
        )
        return _stack_rows(name, rows, self)

    def _storage_dtype(self, name):
        pl = _pl()
        dtype = self.native.collect_schema()[name]
        if isinstance(dtype, (pl.Array, pl.List)):
            dtype = dtype.inner
        floats = {pl.Float16: np.float16, pl.Float32: np.float32, pl.Float64: np.float64}
        return np.dtype(floats[dtype]) if dtype in floats else None

    def class_values(self, label, classes, codes):
        pl = _pl()
        dtype = self._data([label]).schema[label]
        return pl.Series(label, list(classes), dtype=dtype).gather(np.asarray(codes, dtype=np.int64))

    def _to_series(self, name, values):
        pl = _pl()
        if isinstance(values, pl.Series):
            return values.alias(name)
        return pl.Series(name, values)

    def attach(self, columns, *, overwrite=False):
        self.check_new_columns(list(columns), overwrite=overwrite)
        return self.native.with_columns([self._to_series(n, v) for n, v in columns.items()])

    def table(self, columns, *, index=None):
        pl = _pl()
        return pl.DataFrame({n: self._to_series(n, v) for n, v in columns.items()})


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
            self._height = self.native.select(_pl().len()).collect().item()
        return self._height

    def _data(self, columns):
        have = set(self._collected.columns) if self._collected is not None else set()
        missing = [c for c in columns if c not in have]
        if missing:
            part = self.native.select(missing).collect()
            self._collected = part if self._collected is None else self._collected.hstack(part)
            self._height = self._collected.height
        return self._collected

    def is_array_column(self, name):
        pl = _pl()
        return isinstance(self.native.collect_schema()[name], (pl.Array, pl.List))

    def class_values(self, label, classes, codes):
        pl = _pl()
        dtype = self.native.collect_schema()[label]
        return pl.Series(label, list(classes), dtype=dtype).gather(np.asarray(codes, dtype=np.int64))

    def attach(self, columns, *, overwrite=False):
        pl = _pl()
        self.check_new_columns(list(columns), overwrite=overwrite)
        new = pl.DataFrame([self._to_series(n, v) for n, v in columns.items()]).lazy()
        names = self.columns
        base = self.native.drop([n for n in columns if n in set(names)]) if overwrite else self.native
        out = pl.concat([base, new], how="horizontal")
        # replaced columns keep their place, new ones go last (as DataFrame.with_columns does)
        return out.select(names + [n for n in columns if n not in set(names)])

    def table(self, columns, *, index=None):
        return super().table(columns).lazy()


def _pl():
    import polars as pl

    return pl
