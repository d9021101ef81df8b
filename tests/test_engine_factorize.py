"""Engine.factorize on every label storage: codes (-1 = null) and the distinct values in order of
first appearance, the same from pandas (object, str, Arrow, category) and polars (String,
Categorical, Enum, chunked), for any values and nulls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cleanframe._engines import _strings, adapt

VALUES = st.lists(
    st.one_of(
        st.none(),
        st.sampled_from(
            ["a", "b", "é", "", "c" * 13, "class_007", "B", "abcd", "abcdefghijkl", "ab\x00"]
        ),
    ),
    max_size=30,
)


def frames(values: list) -> dict:
    strings = [v for v in values if v is not None]
    out = {
        "pandas object": pd.DataFrame({"y": pd.Series(values, dtype=object)}),
        "pandas str": pd.DataFrame({"y": pd.Series(values, dtype="string")}),
        "pandas arrow": pd.DataFrame({"y": pd.Series(values, dtype="string[pyarrow]")}),
        "pandas ArrowDtype large_string": pd.DataFrame(
            {"y": pd.Series(values, dtype=pd.ArrowDtype(pa.large_string()))}
        ),
        "pandas python strings": pd.DataFrame({"y": pd.Series(values, dtype="string[python]")}),
        "polars String": pl.DataFrame({"y": pl.Series(values, dtype=pl.String)}),
        "polars Categorical": pl.DataFrame({"y": pl.Series(values, dtype=pl.Categorical)}),
    }
    if len(values) > 1:  # two chunks
        half = len(values) // 2
        out["polars String chunked"] = pl.concat(
            [
                pl.DataFrame({"y": pl.Series(values[:half], dtype=pl.String)}),
                pl.DataFrame({"y": pl.Series(values[half:], dtype=pl.String)}),
            ],
            rechunk=False,
        )
    # a slice: the Arrow arrays start at an offset into their buffers
    out["polars String sliced"] = pl.DataFrame(
        {"y": pl.Series([None, "zz", *values], dtype=pl.String)}
    ).slice(2)
    out["pandas arrow sliced"] = pd.DataFrame(
        {"y": pd.Series([None, "zz", *values], dtype="string[pyarrow]").iloc[2:]}
    )
    if strings:
        out["pandas category"] = pd.DataFrame({"y": pd.Categorical(values)})
        enum = pl.Enum(sorted(set(strings)))
        out["polars Enum"] = pl.DataFrame({"y": pl.Series(values, dtype=enum)})
    return out


def expected(values: list) -> tuple[list, list]:
    uniques = list(dict.fromkeys(v for v in values if v is not None))
    codes = [-1 if v is None else uniques.index(v) for v in values]
    return codes, uniques


@pytest.fixture(params=["general", "compiled"], scope="module")
def short_string_path(request):
    """Both factorize paths of short strings: the compiled loop also below its row threshold."""
    saved = _strings.MIN_ROWS
    _strings.MIN_ROWS = 0 if request.param == "compiled" else saved
    yield request.param
    _strings.MIN_ROWS = saved


@given(values=VALUES)
def test_codes_and_uniques_in_order_of_first_appearance(short_string_path, values):
    codes, uniques = expected(values)
    for name, df in frames(values).items():
        fact = adapt(df).factorize("y")
        assert fact.codes.dtype == np.int64, name
        if fact.categories is not None:  # declared order: codes into the categories
            assert [None if c < 0 else fact.categories[c] for c in fact.codes] == values, name
            assert sorted(fact.uniques) == sorted(uniques), name
            continue
        assert fact.codes.tolist() == codes, name
        assert list(fact.uniques) == uniques, name
        if fact.values is not None:
            assert list(fact.values) == uniques, name


@pytest.mark.parametrize("dtype", [pl.String, pl.Categorical])
def test_polars_string_kinds(dtype):
    df = pl.DataFrame({"y": pl.Series(["x", None, "w", "x"], dtype=dtype)})
    fact = adapt(df).factorize("y")
    assert fact.kind == "string"
    assert fact.codes.tolist() == [0, -1, 1, 0]
    if dtype == pl.String:  # the engine's own array, for results in the label's dtype
        assert isinstance(fact.values, pl.Series)
        assert fact.values.dtype == pl.String
    else:
        assert fact.values is None


def test_polars_lazy_frame_reads_the_label_column():
    lf = pl.LazyFrame({"y": ["b", "a", "b"], "p": [0.1, 0.2, 0.3]})
    fact = adapt(lf).factorize("y")
    assert fact.codes.tolist() == [0, 1, 0]
    assert fact.uniques == ["b", "a"]


def test_pandas_float_columns_are_read_only_views_of_the_frame():
    """The probability columns reach the kernels as the frame's own storage (no copy), and
    nothing can write through them into the caller's frame."""
    p = np.random.default_rng(0).dirichlet(np.ones(3), 50).astype(np.float32)
    df = pd.DataFrame({"y": ["a"] * 50, "p_a": p[:, 0], "p_b": p[:, 1], "p_c": p[:, 2]})
    arrays = adapt(df).float_columns(["p_c", "p_a"])
    assert arrays is not None
    assert [a.flags.writeable for a in arrays] == [False, False]
    assert np.shares_memory(arrays[0], df["p_c"].to_numpy())
    np.testing.assert_array_equal(arrays[1], p[:, 0])
    with pytest.raises(ValueError):
        arrays[0][0] = 1.0
    mixed = df.astype({"p_b": np.float64})
    assert adapt(mixed).float_columns(["p_a", "p_b"]) is None  # two dtypes: no column views


@pytest.mark.parametrize("fallback", ["repeated column names", "no _get_column_array"])
def test_pandas_float_columns_read_through_series_are_read_only_too(monkeypatch, fallback):
    """Where the columns are read through ``Series.to_numpy`` (another column's name repeats, or
    pandas lacks ``_get_column_array``), they are read-only views of the frame as well, also
    with pandas 2's ``to_numpy`` (no copy-on-write: a writable view of the frame's data)."""
    p = np.random.default_rng(0).dirichlet(np.ones(3), 50)
    df = pd.DataFrame({"y": ["a"] * 50, "p_a": p[:, 0], "p_b": p[:, 1], "p_c": p[:, 2]})
    if fallback == "repeated column names":
        df.insert(1, "note", 1.0, allow_duplicates=True)
        df.insert(2, "note", 2.0, allow_duplicates=True)
        assert not df.columns.is_unique
    else:
        monkeypatch.delattr(pd.DataFrame, "_get_column_array")
    monkeypatch.setattr(pd.Series, "to_numpy", lambda self, *a, **k: self._values)
    stored = df["p_c"]._values
    assert stored.flags.writeable  # what the fallback reads could write into df
    arrays = adapt(df).float_columns(["p_c", "p_a"])
    assert arrays is not None
    assert [a.flags.writeable for a in arrays] == [False, False]
    assert np.shares_memory(arrays[0], stored)
    np.testing.assert_array_equal(arrays[1], p[:, 0])
    with pytest.raises(ValueError):
        arrays[0][0] = 1.0
    assert df["p_c"].tolist() == p[:, 2].tolist()


@pytest.mark.parametrize("distinct", [1, 300, 5000, 20000])
def test_many_distinct_values_and_long_strings(distinct):
    """Past the first table sizes of the compiled short-string loop, past its limit of distinct
    values (general path) and with one long string among short ones (general path)."""
    rng = np.random.default_rng(distinct)
    values = [f"v{i}" for i in rng.integers(0, distinct, _strings.MIN_ROWS + 10)]
    values[7] = None
    cases = [values, [*values[:100], "a string longer than twelve bytes", *values[100:]]]
    for vals in cases:
        codes, uniques = expected_fast(vals)
        for name, df in {
            "pandas str": pd.DataFrame({"y": pd.Series(vals, dtype="str")}),
            "polars String": pl.DataFrame({"y": pl.Series(vals, dtype=pl.String)}),
        }.items():
            fact = adapt(df).factorize("y")
            assert np.array_equal(fact.codes, codes), name
            assert list(fact.uniques) == uniques, name


def expected_fast(values: list) -> tuple[np.ndarray, list]:
    uniques: dict = {}
    codes = np.array(
        [-1 if v is None else uniques.setdefault(v, len(uniques)) for v in values], dtype=np.int64
    )
    return codes, list(uniques)


@pytest.mark.parametrize("views", [True, False])
@pytest.mark.parametrize("kind", ["string", "large_string", "string_view"])
def test_short_string_loops_on_every_arrow_layout(kind, views):
    """Both compiled loops (string views; offsets, used when pyarrow cannot cast to views) on
    each Arrow string layout, with nulls, an offset into the buffers and the 0/3/4/11/12-byte
    edges of the inline layout."""
    values = ["", "abc", "abcd", "abcdefghijk", "abcdefghijkl", None, "é", "abc", "", None] * 3
    arr = pa.array(["pad", *values], type=getattr(pa, kind)())[1:]
    empty = arr[len(arr) :]  # no rows, with an offset into the buffers
    saved = _strings.MIN_ROWS
    _strings.MIN_ROWS = 0
    try:
        got = _strings.short_string_codes(arr, views=views)
        got_empty = _strings.short_string_codes(empty, views=views)
    finally:
        _strings.MIN_ROWS = saved
    assert got is not None
    codes, first = got
    want_codes, want_uniques = expected_fast(values)
    assert np.array_equal(codes, want_codes)
    assert [values[i] for i in first] == want_uniques
    assert got_empty is not None
    assert [(a.dtype, len(a)) for a in got_empty] == [(np.int64, 0), (np.int64, 0)]


def test_pandas_arrow_float_columns_are_read_without_a_copy():
    """Arrow-backed float columns (``dtype_backend="pyarrow"``) reach the kernels as read-only
    views of their Arrow buffers; a null means no column views (the matrix path reports it)."""
    p = np.random.default_rng(1).dirichlet(np.ones(3), 40).astype(np.float32)
    df = pd.DataFrame({"p_a": p[:, 0], "p_b": p[:, 1], "p_c": p[:, 2]}).convert_dtypes(
        dtype_backend="pyarrow"
    )
    arrays = adapt(df).float_columns(["p_b", "p_c"])
    assert arrays is not None
    assert [a.dtype for a in arrays] == [np.float32, np.float32]
    assert not arrays[0].flags.writeable
    buffer = df["p_b"].array.__arrow_array__().chunk(0).buffers()[1]
    assert arrays[0].ctypes.data == buffer.address  # the Arrow buffer itself
    np.testing.assert_array_equal(arrays[1], p[:, 2])
    two_chunks = pd.concat([df.iloc[:10], df.iloc[10:]])
    np.testing.assert_array_equal(adapt(two_chunks).float_columns(["p_a"])[0], p[:, 0])
    with_null = df.copy()
    with_null.loc[3, "p_a"] = None
    assert adapt(with_null).float_columns(["p_a", "p_b"]) is None
