"""The engine protocol: what every frame engine implements, and what engines share.

An engine wraps one frame of one library for one call: it reads columns as numpy arrays, tells
row labels for error messages, and writes results back in the caller's type. It holds no state
beyond what that call collected (a LazyFrame collects only the columns the call asks for, once),
and it knows no scoring or validation rule: the input layer decides what is valid, the engine only
reports what is there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..scoring.parallel import parallel_for

__all__ = [
    "Engine",
    "Factorized",
    "ListColumn",
    "PanderaChecks",
    "float_dtype",
    "stack_columns",
    "list_names",
]


class Factorized:
    """A column as integer codes (-1 = null) plus its distinct values.

    ``uniques`` are the distinct non-null values in order of first appearance (Python objects);
    ``categories`` is the declared category order of a pandas ``category`` / polars ``Enum``
    column (unused categories included), else ``None``; ``kind`` is one of ``"string"``,
    ``"integer"``, ``"boolean"``, ``"float"``, ``"categorical"``, ``"other"``. ``values``: the
    same ``uniques`` as the engine's own array (pandas ``Index``, polars ``Series``, accepted by
    ``class_values``) when it has one (not for categorical columns), else ``None``.
    """

    __slots__ = ("codes", "uniques", "categories", "kind", "values")

    def __init__(self, codes, uniques, categories, kind, values=None):
        self.codes = codes
        self.uniques = uniques
        self.categories = categories
        self.kind = kind
        self.values = values


class ListColumn:
    """A column holding a list of values per row (e.g. multi-label tags), flattened.

    ``offsets`` (int64, N+1): row i's items are ``items.codes[offsets[i]:offsets[i + 1]]``;
    ``items`` the flattened items factorized (:class:`Factorized`, codes -1 = null item);
    ``null_rows`` positions of null rows; ``scalar_rows`` positions of rows holding a scalar
    instead of a list (a pandas object column can mix them; their items are not in ``items``).
    """

    __slots__ = ("offsets", "items", "null_rows", "scalar_rows")

    def __init__(self, offsets, items, null_rows, scalar_rows):
        self.offsets = offsets
        self.items = items
        self.null_rows = null_rows
        self.scalar_rows = scalar_rows


class LazyList(Sequence):
    """A list of Python values made on first use by ``convert()`` (e.g. an Index's ``tolist``):
    the ``uniques`` of a :class:`Factorized` that the caller may read only for its length."""

    __slots__ = ("_convert", "_size", "_values")

    def __init__(self, convert: Callable[[], list], size: int):
        self._convert = convert
        self._size = size
        self._values: list | None = None

    def _list(self) -> list:
        if self._values is None:
            self._values = self._convert()
        return self._values

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, i):
        return self._list()[i]

    def __iter__(self):
        return iter(self._list())

    def __eq__(self, other) -> bool:
        return list(self) == (list(other) if isinstance(other, LazyList) else other)

    __hash__ = None  # type: ignore[assignment]  # a list: unhashable

    def __repr__(self) -> str:
        return repr(self._list())


def sorted_runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(run number of each position, first position of each run) of a non-empty 1-D array
    whose values never decrease; ``None`` when some value decreases."""
    if not bool(np.all(values[1:] >= values[:-1])):
        return None
    change = values[1:] != values[:-1]
    codes = np.empty(len(values), dtype=np.int64)
    codes[0] = 0
    codes[1:] = change
    np.cumsum(codes, out=codes)  # in place on int64 (a bool input is cast element by element)
    return codes, np.flatnonzero(np.concatenate(([True], change)))


def float_dtype(dtypes: Sequence[np.dtype]) -> np.dtype:
    """float32 when every column is float32 or narrower, else float64."""
    if dtypes and all(np.dtype(d).kind == "f" and np.dtype(d).itemsize <= 4 for d in dtypes):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def stack_columns(arrays: Sequence[np.ndarray], dtype) -> np.ndarray:
    """Columns → a C-ordered (N, K) array, copied in row tiles.

    A plain column-by-column (or transposing) copy touches a new cache line for every element;
    copying tiles of a few thousand rows at a time is 5-10x faster for wide frames. Columns that
    are the rows (or columns) of one 2-D array, as pandas stores the columns of a frame built
    from an (N, K) array, are copied as one strided (N, K) view of it: numpy's blocked copy,
    another 3x faster than a column at a time.
    """
    n = len(arrays[0]) if arrays else 0
    out = np.empty((n, len(arrays)), dtype=dtype)
    step = max(2048, (1 << 20) // max(1, len(arrays)))
    block = _one_block(arrays)

    def copy_tile(start):
        stop = min(n, start + step)
        if block is not None:
            out[start:stop] = block[start:stop]
            return
        for i, column in enumerate(arrays):
            out[start:stop, i] = column[start:stop]

    parallel_for(copy_tile, range(0, n, step), parallel=out.size >= 1 << 22)
    return out


def _span(a: np.ndarray) -> tuple[int, int]:
    """The first byte of ``a``'s memory and the byte after its last (any strides)."""
    low = high = a.__array_interface__["data"][0]
    for size, stride in zip(a.shape, a.strides):
        reach = (size - 1) * stride if size else 0
        low, high = (low + reach, high) if reach < 0 else (low, high + reach)
    return low, high + a.itemsize


def _owner(a: np.ndarray) -> np.ndarray:
    """The array at the end of ``a``'s chain of numpy bases (the one that holds its memory)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _one_block(arrays: Sequence[np.ndarray]) -> np.ndarray | None:
    """The 1-D ``arrays`` as one read-only (N, K) view when they are the rows or columns of one
    2-D array: one length, dtype and stride, each starting the same number of bytes after the
    previous (so every element of the view is an element of its column), and every byte of the
    view's span either an element of the view (columns packed with no gaps, as in a polars
    frame made from an array) or memory of the one array they are all views of; else None.

    The last rule matters: columns of separate buffers that happen to lie at one spacing (small
    Arrow buffers of a polars frame often do) make a view whose span covers memory between
    them that no array owns. numpy's copy checks a destination against the source's span, and
    a fresh output (or each temporary it makes for an overlap) can be allocated inside it; the
    copy then recursed until the thread's stack overflowed (a silent crash, ~1 run in 10)."""
    if len(arrays) < 2 or not all(isinstance(a, np.ndarray) for a in arrays):
        return None
    first = arrays[0]
    if first.ndim != 1 or len(first) < 2:
        return None
    n, dtype, stride = len(first), first.dtype, first.strides[0]
    start = first.__array_interface__["data"][0]
    offset = arrays[1].__array_interface__["data"][0] - start
    if offset == 0:
        return None
    for i, a in enumerate(arrays):
        if (
            a.ndim != 1
            or len(a) != n
            or a.dtype != dtype
            or a.strides[0] != stride
            or a.__array_interface__["data"][0] != start + i * offset
        ):
            return None
    view = np.lib.stride_tricks.as_strided(
        first, shape=(n, len(arrays)), strides=(stride, offset), writeable=False
    )
    low, high = _span(view)
    if high - low == view.size * view.itemsize:  # no gaps: the span is the columns' own
        return view
    owner = _owner(first)
    if any(_owner(a) is not owner for a in arrays[1:]):
        return None
    own_low, own_high = _span(owner)
    return view if own_low <= low and high <= own_high else None


class Engine:
    """One frame of one library, for one call. Subclasses implement the engine-specific parts.

    Reading: :attr:`columns`, :attr:`height`, :attr:`width`, :meth:`column`,
    :meth:`factorize` (also the group-by of long layouts: group codes), :meth:`matrix`,
    :meth:`array_column`, :meth:`is_array_column`, :meth:`storage_eps`, :meth:`row_labels`,
    :meth:`take`, :meth:`eager`.
    Writing: :meth:`attach`, :meth:`class_values`, :meth:`relabel`, :meth:`with_nulls`,
    :meth:`drop`, :meth:`table`, :meth:`row_table`, :meth:`square_table`.
    Validation support: :attr:`pandera_backend` and :meth:`pandera_failures` run a pandera
    schema (built by the input layer) on the engine's data and return its failure cases.
    """

    #: Short engine name, for messages and tests only: code outside this package never branches
    #: on it.
    kind: str = ""
    #: Which pandera flavour validates this engine's frames ("pandas" or "polars").
    pandera_backend: str = "pandas"
    native: Any

    # -- reading --------------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        raise NotImplementedError

    @property
    def height(self) -> int:
        raise NotImplementedError

    @property
    def width(self) -> int:
        """The number of columns."""
        return len(self.columns)

    def eager(self) -> Engine:
        """This frame with its rows in memory: the engine itself, or for a lazy frame the
        engine of its collected data (collected once, e.g. for a model to train on)."""
        return self

    # -- batches (out of core: a LazyFrame on polars' streaming engine, Dask partitions) -----
    #: Whether the label-issue calls read this frame in batches (``True``: a LazyFrame, a Dask
    #: DataFrame) instead of as one array in memory. An eager engine is its own single batch.
    batched: bool = False
    #: Whether :meth:`reduce_batches` and :meth:`attach_batches` call ``func`` in this process
    #: (a LazyFrame: yes; Dask workers: no), so that a driver may keep small per-row values of
    #: one pass for the next ones instead of reading the rows again.
    batches_in_process: bool = False

    def distinct_rows(self, key: str, columns: Sequence[str]) -> Engine:
        """An eager engine with one row per distinct value of ``key`` (a null key counts as a
        value), in order of first appearance, and ``columns``: for an array column the values of
        that first row (its width is read from them), for other columns only their names and
        dtypes (values unspecified), so that only ``key`` is read for them."""
        return self

    def first_rows(self, n: int, columns: Sequence[str]) -> Engine:
        """An eager engine holding ``columns`` of the first ``n`` rows (or more: an eager engine
        is its own answer)."""
        return self

    def reduce_batches(
        self,
        columns: Sequence[str],
        func: Callable[[Engine, int], Any],
        merge: Callable[[Any, Any], Any],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        """``func(batch, offset)`` on each non-empty batch of rows (``columns`` only; ``offset``
        = the global position of the batch's first row), merged with ``merge(a, b)`` in row
        order; ``None`` when there are no rows. ``progress(rows done)`` after each batch where
        the batches run in this process."""
        if self.height == 0:
            return None
        out = func(self, 0)
        if progress is not None:
            progress(self.height)
        return out

    @property
    def memo(self) -> dict:
        """Values a driver keeps for this batch between the passes of one call (e.g. the
        resolved label codes and probability columns with their per-row results). An engine
        that holds its batches in memory between passes (Dask, when the partitions fit the
        cluster's memory) gives the same dict for the same batch in every pass; by default it
        is a fresh dict, so nothing is kept."""
        return {}

    def end_call(self) -> None:
        """The call that used this engine is over (returned or raised): release what the
        engine holds for it between passes (Dask: the partitions held in the workers' memory),
        even while the call's error, with its traceback, is kept. By default nothing."""

    def attach_batches(
        self,
        columns: Sequence[str],
        func: Callable[[Engine, int], dict],
        template: dict,
        *,
        overwrite: bool = False,
    ):
        """The caller's frame with the columns ``func(batch, offset)`` returns for each batch of
        rows (a batch holds at least ``columns``), computed lazily for a lazy frame.
        ``template`` holds the same columns with no rows (their dtypes)."""
        return self.attach(func(self, 0), overwrite=overwrite)

    def column(self, name: str) -> np.ndarray:
        """One column as a 1-D numpy array (strings as objects, nulls as None/NaN)."""
        raise NotImplementedError

    def factorize(self, name: str) -> Factorized:
        raise NotImplementedError

    def factorize_sorted(self, name: str) -> Factorized | None:
        """:meth:`factorize` of a null-free integer column whose values never decrease (a frame
        sorted by it) without hashing: its runs of equal values numbered in order (``uniques``
        a :class:`LazyList`, converted to Python ints when first read). ``None`` for any other
        column (then call :meth:`factorize`)."""
        return None

    def non_numeric(self, columns: Sequence[str]) -> list[tuple[str, str]]:
        """``(column, dtype)`` of each of ``columns`` that :meth:`matrix` cannot read as numbers
        (booleans, strings, ...); the input layer reports them."""
        raise NotImplementedError

    def matrix(self, columns: Sequence[str]) -> np.ndarray:
        """Numeric columns (checked by the caller) as a C-ordered 2-D float array (float32 if
        all are float32/16)."""
        raise NotImplementedError

    def float_columns(self, columns: Sequence[str]) -> list[np.ndarray] | None:
        """``columns`` as 1-D C-contiguous numpy arrays of one float dtype (float32 or float64),
        read without a row-major copy (views of the frame's buffers where it holds them so), or
        ``None`` when they cannot be read so (nulls, other or mixed dtypes): then use
        :meth:`matrix`."""
        return None

    def array_rows(self, name: str) -> np.ndarray:
        """One column holding a list/array per row: a 2-D array when the engine stores it as one
        (numeric, fixed length, no nulls), else a 1-D object array of the rows' arrays (``None``
        for a null row). The input layer checks and stacks the second form."""
        raise NotImplementedError

    def is_array_column(self, name: str) -> bool:
        raise NotImplementedError

    def array_batch(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of a column holding an n-dimensional array per row (an image mask,
        a stack of probability maps): an ``(n, *shape)`` numeric array when the engine stores the
        rows as nested fixed-size arrays without null rows, else a 1-D object array of the rows
        as numpy arrays (``None`` for a null row; nested lists stacked where they are regular).
        The input layer checks the shapes and values."""
        raise NotImplementedError

    def list_column(self, name: str) -> ListColumn | None:
        """Column ``name`` as a :class:`ListColumn` when it holds lists (polars ``List`` /
        ``Array``, Arrow list types, a pandas object column with a list, tuple or array in some
        row), else ``None``."""
        raise NotImplementedError

    def list_values(self, label: str, values: Sequence[Any], offsets: np.ndarray, codes):
        """A native list column: row i holds ``values[codes[offsets[i]:offsets[i + 1]]]``, with
        items in the dtype of column ``label``'s items (polars ``List`` of that dtype, a pandas
        Arrow list for an Arrow label, else a pandas object column of Python lists)."""
        raise NotImplementedError

    def row_labels(self, positions) -> list:
        """Index labels (pandas) or row numbers (polars) of row positions, for messages."""
        return [int(p) for p in np.asarray(positions).ravel()]

    def storage_eps(self, columns: Sequence[str]) -> float:
        """Machine epsilon of the coarsest float storage among ``columns`` (array columns: their
        items), 0.0 when none is a float: float16 data cannot sum to 1 more closely than this."""
        eps = [
            np.finfo(d).eps
            for d in map(self._storage_dtype, columns)
            if d is not None and d.kind == "f"
        ]
        return float(max(eps, default=0.0))

    def _storage_dtype(self, name: str):
        raise NotImplementedError

    # -- writing --------------------------------------------------------------------------
    def class_values(self, label: str, classes: Sequence[Any], codes: np.ndarray):
        """A native column of class values in the dtype of column ``label`` from codes."""
        raise NotImplementedError

    def attach(self, columns: dict, *, overwrite: bool = False):
        """The caller's frame with ``columns`` added (same rows, order and index)."""
        raise NotImplementedError

    def table(self, columns: dict, *, index=None):
        """A new small frame of the caller's library (e.g. a per-class table)."""
        raise NotImplementedError

    def row_table(self, columns: dict):
        """A new frame of the caller's library holding ``columns`` (one value per row of this
        frame), with this frame's row labels (pandas: its index)."""
        return self.table(columns)

    def square_table(self, names: Sequence[str], matrix: np.ndarray, *, rows: str, columns: str):
        """A K×K table labelled by ``names`` on both axes (e.g. a confident joint).

        pandas: rows in an index named ``rows``, the column axis named ``columns``; polars: a
        first column ``rows`` holding the names (polars has no index).
        """
        raise NotImplementedError

    def relabel(self, label: str, new_classes: Sequence[Any], codes: np.ndarray):
        """A native column of ``new_classes[codes]``, in the dtype family of column ``label``
        (a categorical stays a categorical with ``new_classes`` as its categories)."""
        raise NotImplementedError

    def with_nulls(self, values: np.ndarray, null: np.ndarray):
        """A native float column of ``values`` with nulls where ``null`` (pandas: NaN, its null
        for floats; polars: a real null, distinct from NaN)."""
        raise NotImplementedError

    def drop(self, columns: Sequence[str]):
        """The native frame (or the frame ``frame``) without ``columns``."""
        raise NotImplementedError

    def take(self, positions: np.ndarray):
        """The native frame's rows at ``positions`` (in that order), in the caller's type."""
        raise NotImplementedError

    def to_pandas(self):
        """The frame as a pandas DataFrame (for display: reprs, HTML reports)."""
        raise NotImplementedError

    def to_text(self, rows: int = 10) -> str:
        """The first ``rows`` rows as the library itself prints them (for reprs)."""
        raise NotImplementedError

    def to_html(self, rows: int = 10) -> str:
        """The first ``rows`` rows as the library's own notebook HTML."""
        raise NotImplementedError

    # -- validation support ----------------------------------------------------------------
    def pandera_failures(self, schema, columns: Sequence[str]) -> list[tuple[str, Any, Any]] | None:
        """Run a pandera ``schema`` of :attr:`pandera_backend` on ``columns``.

        Returns ``None`` when the data passes, else the failure cases as ``(column, row label,
        value)`` for the failing columns (row labels as :meth:`row_labels` gives them).
        """
        raise NotImplementedError


def dense_rows(rows) -> np.ndarray:
    """Rows (lists, arrays, arrays of arrays, ``None``) as a 1-D object array of numpy arrays,
    nested levels stacked into one array where they are regular (else left as they are)."""

    def dense(v):
        a = np.asarray(v) if not isinstance(v, np.ndarray) else v
        if a.dtype == object and a.ndim == 1 and len(a):
            try:
                return np.stack([dense(x) for x in a])
            except (ValueError, TypeError):
                return a
        return a

    return np.fromiter((None if v is None else dense(v) for v in rows), dtype=object)


def list_names(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}]"


class PanderaChecks:
    """pandera checks written in one engine's own operations, for the input layer's schemas.

    The input layer states each rule (the columns, bounds and tolerances, and the name and
    message, passed on to ``pandera.Check`` as ``**check``) and builds the schema; an engine's
    checks evaluate the rule on that engine's data. Values are widened to float64 before they
    are compared, as the numpy gate does. Column checks return one boolean per row, so pandera
    reports the failing rows; nulls are left to the column's ``nullable=False``. A check on a
    column of the wrong type passes and leaves the report to :meth:`numeric`.
    """

    def numeric(self, **check: Any) -> Any:
        """The column holds numbers (not booleans, not strings): the rule of
        :meth:`Engine.matrix`."""
        raise NotImplementedError

    def finite(self, **check: Any) -> Any:
        """Each value is finite (no NaN, no inf)."""
        raise NotImplementedError

    def between(self, low: float, high: float, **check: Any) -> Any:
        """Each value lies in ``[low, high]``."""
        raise NotImplementedError

    def row_sums(
        self, select: Callable[[list], list], tolerance: Callable[[float], float], **check: Any
    ) -> Any:
        """A frame check: the columns that ``select(frame's column names)`` picks sum to 1 in each
        row, within ``tolerance(storage epsilon of those columns)`` (see
        :meth:`Engine.storage_eps`)."""
        raise NotImplementedError

    def frame_columns(self, test: Callable[[list], bool], **check: Any) -> Any:
        """A frame check: ``test(frame's column names)`` holds."""
        raise NotImplementedError

    def not_empty(self, **check: Any) -> Any:
        """A frame check: the frame has rows."""
        raise NotImplementedError

    def distinct_at_least(self, minimum: int, **check: Any) -> Any:
        """A verdict on the whole column: it holds at least ``minimum`` distinct non-null
        values."""
        raise NotImplementedError

    def array_length(self, length: int | None, **check: Any) -> Any:
        """Each row's array has ``length`` items (``None``: as many as most rows have)."""
        raise NotImplementedError

    def array_values(
        self,
        *,
        finite: bool = False,
        low: float | None = None,
        high: float | None = None,
        **check: Any,
    ) -> Any:
        """Each row's array holds numbers, all finite (``finite``) / within ``[low, high]``."""
        raise NotImplementedError

    def array_sums(self, tolerance: Callable[[float], float], **check: Any) -> Any:
        """Each row's array sums to 1 within ``tolerance(storage epsilon of its items)``."""
        raise NotImplementedError
