"""``cleanframe.schema(...)``: the input contract as a pandera schema, in agreement with the gate.

The numpy gate (what the methods run) and the pandera schema are two statements of the same
rules, built from the same column specs and constants (``cleanframe/_inputs/rules.py``). The
property test generates small frames with every kind of bad value the rules name, and near-misses
the tolerances must let through, and checks that a method rejects a frame exactly when the schema
does, on every frame type.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandera.config import config_context
from pandera.errors import SchemaError, SchemaErrors

import cleanframe
from cleanframe import ValidationError
from cleanframe._inputs.columns import glob_columns, glob_regex
from cleanframe._inputs.rules import PROBABILITY_MAX, PROBABILITY_TOLERANCE

from .conftest import FRAME_TYPES, collect, make_frame

# pandera prints failing float16 columns, and pandas' float16 repr warns of an overflowing cast
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")

NAMES = ["cat", "dog", "emu", "fox"]

#: What happens to one row's probabilities (most rows are left alone).
ROW_CASES = (
    ["ok"] * 8
    + ["nan", "inf", "-inf", "negative", "tiny_negative", "above_1", "tiny_above_1", "at_max"]
    + ["scaled", "noise_within", "noise_beyond", "boundary_sum"]
)
#: What happens to one row's label.
LABEL_CASES = ["class"] * 6 + ["null", "unknown"]


def _perturb(p: np.ndarray, case: str, j: int, scale: float) -> np.ndarray:
    """Row ``p`` (sums to 1) changed as ``case`` says, at column ``j``."""
    p = p.copy()
    other = (j + 1) % len(p)
    if case == "nan":
        p[j] = np.nan
    elif case in ("inf", "-inf"):
        p[j] = float(case)
    elif case == "negative":
        p[j] = -0.01
    elif case == "tiny_negative":  # within the tolerance; the row still sums to 1
        p[other] += p[j] + 5e-5
        p[j] = -5e-5
    elif case == "above_1":
        p[:] = 0.0
        p[j] = 1.5
    elif case == "tiny_above_1":  # float16-style 1.00005, within the tolerance
        p[:] = 0.0
        p[j] = 1.00005
    elif case == "at_max":  # exactly the largest accepted value (in float64)
        p[:] = 0.0
        p[j] = PROBABILITY_MAX
    elif case == "scaled":  # logits / scores: rows far from summing to 1
        p *= scale
    elif case == "noise_within":
        p *= 1 + 5e-5 * np.sign(scale - 1)
    elif case == "noise_beyond":  # beyond 1e-4, within float16's 2**-10
        p *= 1 + 3e-4 * np.sign(scale - 1)
    elif case == "boundary_sum":  # a row sum 1 + 1e-4 (up to rounding), in range
        p[:] = 0.0
        p[j], p[other] = 0.5 + PROBABILITY_TOLERANCE, 0.5
    return p


def typed_frame(kind: str, data: pd.DataFrame, storage: str):
    """``data`` as frame type ``kind`` with its ``p_*`` columns stored as ``storage`` (a numpy
    float name) in that frame type's own way (pandas with Arrow dtypes would widen float16)."""
    probs = [c for c in data.columns if c.startswith("p_")]
    if kind == "pandas":
        return data.astype({c: storage for c in probs})
    frame = make_frame(kind, data)
    if kind == "pandas_arrow":
        dtype = pd.ArrowDtype(pa.from_numpy_dtype(np.dtype(storage)))
        return frame.astype({c: dtype for c in probs})
    dtype = {"float64": pl.Float64, "float32": pl.Float32, "float16": pl.Float16}[storage]
    return frame.with_columns(pl.col(probs).cast(dtype))


@st.composite
def label_frames(draw) -> tuple[pd.DataFrame, str]:
    """A small pandas frame (a label column ``y``, pred_probs columns ``p_*``) and the float
    type to store the probabilities in."""
    k = draw(st.integers(2, 4))
    n = draw(st.integers(0, 7))
    kind = draw(st.sampled_from(["string", "category", "integer"]))
    storage = draw(st.sampled_from(["float64", "float32", "float16"]))
    rows = draw(st.lists(st.sampled_from(ROW_CASES), min_size=n, max_size=n))
    label_cases = draw(st.lists(st.sampled_from(LABEL_CASES), min_size=n, max_size=n))
    scale = draw(st.sampled_from([0.5, 0.99, 1.01, 2.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))

    P = rng.dirichlet(np.ones(k), n) if n else np.empty((0, k))
    P = np.array([_perturb(P[i], case, i % k, scale) for i, case in enumerate(rows)]).reshape(n, k)
    codes = rng.integers(0, k, n)
    names = NAMES[:k] if kind != "integer" else list(range(k))
    unknown = "zzz" if kind != "integer" else k
    labels = [
        None if case == "null" else unknown if case == "unknown" else names[c]
        for case, c in zip(label_cases, codes)
    ]
    if kind == "string":
        y = pd.Series(labels, dtype=object)
    elif kind == "category":
        categories = names + ([unknown] if unknown in labels else [])
        y = pd.Series(pd.Categorical(labels, categories=categories))
    else:
        y = pd.Series(pd.array(labels, dtype="Int64"))
    data = pd.DataFrame({"y": y})
    for j, name in enumerate(names):
        data[f"p_{name}"] = P[:, j]
    return data, storage


def _method_rejects(frame) -> bool:
    try:
        collect(cleanframe.find_label_issues(frame, label="y", pred_probs="p_*"))
    except ValidationError:
        return True
    return False


def _schema_rejects(frame, **specs) -> bool:
    """Whether the schema built for ``frame`` rejects it (a spec error while building it counts:
    the methods raise the same error)."""
    try:
        contract = cleanframe.schema(frame, **specs)
    except ValidationError:
        return True
    try:
        contract.validate(collect(frame), lazy=True)  # a LazyFrame's values: once collected
    except (SchemaError, SchemaErrors):
        return True
    return False


# ------------------------------------------------------------------------------------------
# (a) the gate and the schema accept and reject the same frames
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", FRAME_TYPES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated=label_frames())
def test_gate_and_schema_agree(kind, generated):
    data, storage = generated
    frame = typed_frame(kind, data, storage)
    rejected = _method_rejects(frame)
    assert _schema_rejects(frame, label="y", pred_probs="p_*") == rejected, (storage, data)


@pytest.mark.parametrize("kind", FRAME_TYPES)
@pytest.mark.parametrize(
    "case",
    [
        "ok",
        "nan",
        "inf",
        "negative",
        "tiny_negative",
        "above_1",
        "tiny_above_1",
        "at_max",
        "scaled",
        "noise_within",
        "noise_beyond",
        "boundary_sum",
    ],
)
@pytest.mark.parametrize("storage", ["float64", "float32", "float16"])
def test_gate_and_schema_agree_on_each_case(kind, case, storage):
    """Every row case on its own (the property test mixes them), each storage type."""
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(3), 6)
    P[2] = _perturb(P[2], case, 1, 2.0)
    data = pd.DataFrame({"y": ["cat", "dog", "emu", "cat", "dog", "emu"]})
    for j, name in enumerate(NAMES[:3]):
        data[f"p_{name}"] = P[:, j]
    frame = typed_frame(kind, data, storage)
    assert _schema_rejects(frame, label="y", pred_probs="p_*") == _method_rejects(frame)


def test_float32_bounds_are_judged_in_float64(constructor):
    """A float32 1.0001 is above 1 + 1e-4 (float32 comparisons would round the bound to it)."""
    data = pd.DataFrame({"y": ["a", "b"], "p_a": [1.0001, 0.0], "p_b": [0.0, 1.0]})
    frame = typed_frame(constructor.kind, data, "float32")
    with pytest.raises(ValidationError, match="'p_a'.*<= 1") as info:
        cleanframe.find_label_issues(frame, label="y", pred_probs="p_*")
    assert info.value.rule == "in_range" and info.value.num_failures == 1
    assert _schema_rejects(frame, label="y", pred_probs="p_*")


# ------------------------------------------------------------------------------------------
# the schema's reports and its parts
# ------------------------------------------------------------------------------------------
def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "y": ["cat", "dog", "cat", "dog"],
            "p_cat": [0.9, 0.2, 0.6, 0.3],
            "p_dog": [0.1, 0.8, 0.4, 0.7],
            "e_0": [0.1, 0.2, 0.3, 0.4],
            "e_1": [1.0, 2.0, 3.0, 4.0],
        }
    )


def _failures(contract, frame) -> set[tuple]:
    """``{(column, check, row)}`` of a lazy validation (column-level failures only)."""
    try:
        contract.validate(collect(frame), lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
        cases = cases.to_pandas() if isinstance(cases, pl.DataFrame) else cases
        cases = cases[cases["schema_context"] == "Column"]
        return {
            (c, k, None if i is None or i != i else int(i) if not isinstance(i, str) else i)
            for c, k, i in zip(cases["column"], cases["check"], cases["index"])
        }
    return set()


def test_reports_name_column_rule_and_row(constructor_indexed):
    data = _frame()
    data.index = [f"r{i}" for i in range(len(data))]
    bad = data.copy()
    bad["y"] = bad["y"].astype(object)
    bad.loc["r1", "y"] = "fox"
    bad.loc["r2", "y"] = None
    bad.loc["r3", ["p_cat", "p_dog"]] = [1.5, -0.5]
    contract = cleanframe.schema(constructor_indexed(data), label="y", pred_probs="p_*")
    assert _failures(contract, constructor_indexed(bad)) == {
        ("y", "isin(['cat', 'dog'])", "r1"),
        ("y", "not_nullable", "r2"),
        ("p_cat", "in_range", "r3"),
        ("p_dog", "in_range", "r3"),
    }


def test_row_sums_and_float16_tolerance(constructor):
    data = _frame()
    data.loc[1, ["p_cat", "p_dog"]] = [0.2, 0.8 + 5e-4]  # off by 5e-4: float16 precision allows it
    for storage, rejected in (("float64", True), ("float16", False)):
        frame = typed_frame(constructor.kind, data, storage)
        assert _schema_rejects(frame, label="y", pred_probs="p_*") is rejected
        assert _method_rejects(frame) is rejected


def test_row_sums_check_names_the_rows():
    data = _frame()
    data.loc[2, "p_cat"] = 0.1
    contract = cleanframe.schema(data, label="y", pred_probs="p_*")
    with pytest.raises(SchemaErrors) as info:
        contract.validate(data, lazy=True)
    cases = info.value.failure_cases
    assert set(cases[cases["check"] == "row_sums_to_1"]["index"]) == {2}


def test_schema_columns_follow_the_spec(constructor):
    frame = constructor(_frame())
    contract = cleanframe.schema(frame, label="y", pred_probs="p_*", features="e_*")
    assert list(contract.columns) == ["y", "p_cat", "p_dog", "e_0", "e_1"]
    assert contract.columns["p_dog"].description == "pred_probs of class 'dog'"
    # a dict spec names the classes; the columns keep the class order
    contract = cleanframe.schema(frame, label="y", pred_probs={"dog": "p_dog", "cat": "p_cat"})
    assert list(contract.columns) == ["y", "p_dog", "p_cat"]
    # the backend follows the frame
    module = "pandera.api.polars" if constructor.kind.startswith("polars") else "pandera.api.pandas"
    assert type(contract).__module__.startswith(module)


def test_features_must_be_finite_numbers(constructor):
    data = _frame()
    contract = cleanframe.schema(constructor(data), features=["e_0", "e_1"])
    bad = data.astype({"e_1": float})
    bad.loc[2, "e_1"] = np.inf
    bad.loc[3, "e_0"] = np.nan
    found = _failures(contract, constructor(bad))
    assert {(c, k) for c, k, _ in found} == {("e_1", "finite"), ("e_0", "not_nullable")}
    assert _failures(contract, constructor(data.assign(e_0=["a", "b", "c", "d"])))
    assert (
        cleanframe.schema(constructor(data), features="e_*").validate(collect(constructor(data)))
        is not None
    )


def test_array_columns(constructor):
    data = _frame()
    rows = list(data[["p_cat", "p_dog"]].to_numpy())
    frame = constructor(pd.DataFrame({"y": data["y"], "pp": rows}))
    contract = cleanframe.schema(frame, label="y", pred_probs="pp", classes=["cat", "dog"])
    contract.validate(collect(frame))
    for bad_row in ([0.5, 0.6], [1.5, -0.5], [np.inf, 0.0], [0.2, 0.3, 0.5]):
        bad = list(rows)
        bad[2] = np.array(bad_row)
        frame = constructor(pd.DataFrame({"y": data["y"], "pp": bad}))
        assert _schema_rejects(frame, label="y", pred_probs="pp", classes=["cat", "dog"])
        assert _method_rejects_with(frame, pred_probs="pp", classes=["cat", "dog"])


def _method_rejects_with(frame, **kwargs) -> bool:
    try:
        collect(cleanframe.find_label_issues(frame, label="y", **kwargs))
    except ValidationError:
        return True
    return False


@pytest.mark.parametrize(
    "labels",
    [
        pl.Series(["b", "a", "b", "a"], dtype=pl.Enum(["b", "a"])),
        pl.Series([True, False, True, False]),
        pl.Series([1, 0, 1, 0], dtype=pl.UInt8),
    ],
    ids=["enum", "boolean", "uint8"],
)
def test_label_dtypes_keep_their_domain(labels):
    """The classes checked by ``isin`` are written in the label column's own type."""
    frame = pl.DataFrame({"y": labels, "p_0": [0.2, 0.7, 0.1, 0.6], "p_1": [0.8, 0.3, 0.9, 0.4]})
    contract = cleanframe.schema(frame, label="y", pred_probs=["p_0", "p_1"], classes=labels[:2])
    assert contract.validate(frame).shape == frame.shape
    assert not _method_rejects_with(frame, pred_probs=["p_0", "p_1"], classes=labels[:2])


def test_nan_in_a_polars_float_column_is_one_failure():
    """NaN (not null) in polars fails pandera's not_nullable and the finite check: one row."""
    frame = pl.DataFrame(
        {"y": ["a", "b", "a"], "p_a": [0.5, float("nan"), 0.2], "p_b": [0.5, 0.5, 0.8]}
    )
    with pytest.raises(ValidationError, match="'p_a'.*finite") as info:
        cleanframe.find_label_issues(frame, label="y", pred_probs="p_*")
    assert info.value.num_failures == 1 and info.value.failure_cases[0][0] == 1


# ------------------------------------------------------------------------------------------
# (b) without a frame: globs become regex columns
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["pandas", "polars"])
def test_schema_without_a_frame(backend):
    contract = cleanframe.schema(
        label="y", pred_probs="p_*", classes=["cat", "dog"], backend=backend
    )
    assert contract.columns[glob_regex("p_*")].regex
    build = (lambda d: d) if backend == "pandas" else pl.from_pandas
    good = _frame()
    assert contract.validate(build(good)).shape == good.shape
    for bad in (
        good.assign(y=["cat", "dog", "fox", "cat"]),  # not a class
        good.assign(p_cat=[0.9, 0.2, 0.6, 0.35]),  # a row sums to 1.05
        good.assign(p_cat=[0.9, 0.2, np.nan, 0.3]),  # null / NaN
        good.assign(p_emu=0.0),  # three columns for two classes
        good.drop(columns="p_dog").assign(p_cat=1.0),  # one column
        good.drop(columns=["p_cat", "p_dog"]),  # none
        good.iloc[:0],  # no rows
    ):
        with pytest.raises((SchemaError, SchemaErrors)):
            contract.validate(build(bad), lazy=True)


@pytest.mark.parametrize("backend", ["pandas", "polars"])
def test_schema_without_a_frame_agrees_with_the_frame_schema(backend):
    """The same verdicts as the schema built from a frame, on the cases of the property test."""
    contract = cleanframe.schema(label="y", pred_probs="p_*", classes=NAMES[:3], backend=backend)
    for case in ROW_CASES[7:]:
        P = np.random.default_rng(1).dirichlet(np.ones(3), 5)
        P[3] = _perturb(P[3], case, 0, 2.0)
        data = pd.DataFrame({"y": ["cat", "dog", "emu", "cat", "dog"]})
        for j, name in enumerate(NAMES[:3]):
            data[f"p_{name}"] = P[:, j]
        frame = make_frame(backend, data)
        try:
            contract.validate(frame, lazy=True)
            rejected = False
        except (SchemaError, SchemaErrors):
            rejected = True
        assert rejected == _method_rejects(frame), case


def test_list_and_dict_specs_without_a_frame():
    good = _frame()
    contract = cleanframe.schema(label="y", pred_probs={"cat": "p_cat", "dog": "p_dog"})
    contract.validate(good)
    with pytest.raises(SchemaError, match="isin"):
        contract.validate(good.assign(y=["cat", "dog", "fox", "cat"]))
    # a list without classes= checks the values, not the label's classes
    contract = cleanframe.schema(label="y", pred_probs=["p_cat", "p_dog"])
    contract.validate(good.assign(y=["cat", "dog", "fox", "cat"]))
    with pytest.raises(SchemaError, match="p_dog"):
        contract.validate(good.drop(columns="p_dog"))


@pytest.mark.parametrize(
    "pattern", ["p_*", "p?*", "p[_-]*", "p[!_]*", "*]*", "*.*", "p *", "p_[a-d]*", "*$*", "p["]
)
def test_glob_regex_matches_what_the_glob_matches(pattern):
    names = ["p_cat", "p-x", "p.y", "p y", "q_1", "p_[1]", "a]b", "P_cat", "p_", "p$1", "p["]
    regex = glob_regex(pattern)
    want = glob_columns(pattern, names)
    assert [n for n in names if pd.Series([n]).str.match(regex).item()] == want  # pandera.pandas
    assert pl.DataFrame({n: [0] for n in names}).select(pl.col(regex)).columns == want  # polars


# ------------------------------------------------------------------------------------------
# (c) the accessor forwards
# ------------------------------------------------------------------------------------------
def test_accessor_forwards(constructor):
    data = _frame()
    frame = constructor(data)
    by_accessor = frame.cl.schema(label="y", pred_probs="p_*")
    by_function = cleanframe.schema(frame, label="y", pred_probs="p_*")
    assert type(by_accessor) is type(by_function)
    assert list(by_accessor.columns) == list(by_function.columns)
    bad = constructor(data.assign(y=["cat", "dog", "fox", "cat"], p_cat=[0.9, 0.2, 0.6, 0.35]))
    assert _failures(by_accessor, bad) == _failures(by_function, bad) != set()
    assert _failures(by_accessor, frame) == _failures(by_function, frame) == set()


def test_lazy_frame_validates_columns_only_until_collected():
    data = _frame().assign(p_cat=[0.9, 0.2, 0.6, 1.5])
    lf = pl.from_pandas(data).lazy()
    contract = lf.cl.schema(label="y", pred_probs="p_*")
    assert isinstance(contract.validate(lf), pl.LazyFrame)  # schema-level checks only
    with pytest.raises(SchemaError, match="p_cat"):
        contract.validate(lf.collect())
    with pytest.raises(SchemaError, match="p_cat"):
        contract.validate(lf.drop("p_cat"))  # a missing column is found without collecting
    with config_context(validation_depth="SCHEMA_AND_DATA"):  # or when pandera is asked to
        with pytest.raises(SchemaError, match="in_range"):
            contract.validate(lf)


# ------------------------------------------------------------------------------------------
# (d) bad keyword combinations
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, r"at least one of label=, pred_probs= and features="),
        ({"classes": ["a", "b"]}, r"classes= names the classes of label= or pred_probs="),
        ({"label": ["y"], "pred_probs": "p_*"}, r"label= must be one column name"),
        ({"label": "y", "pred_probs": "p_*", "backend": "dask"}, r"backend= must be one of"),
        ({"label": "y", "pred_probs": 3}, r"pred_probs= must be a list of column names"),
        ({"label": "y", "pred_probs": []}, r"pred_probs= is an empty list"),
        ({"label": "y", "pred_probs": ["p_a", "p_a"]}, r"'p_a'.*twice"),
        ({"label": "y", "pred_probs": ["p_a"]}, r"at least two class columns"),
        ({"label": "y", "pred_probs": ["y", "p_a"]}, r"'y'.*also listed in pred_probs="),
        ({"label": "y", "pred_probs": ["p_a", "p_b"], "classes": ["a"]}, r"classes= has 1 entries"),
        ({"label": "y", "pred_probs": ["p_a", "p_b"], "classes": ["a", "a"]}, r"not distinct"),
        ({"features": {"a": "e_0"}}, r"features= takes a list, a glob or one column name"),
        ({"pred_probs": ["p_a", "p_b"], "features": ["p_a"]}, r"'p_a'.*features="),
    ],
)
def test_bad_keywords_without_a_frame(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        cleanframe.schema(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"label": "z", "pred_probs": "p_*"}, r"'z'.*no such column.*label="),
        ({"label": "y", "pred_probs": "q_*"}, r"'q_\*'.*matches no column"),
        ({"label": "y", "pred_probs": "p_*", "classes": ["cat"]}, r"classes= has 1 entries"),
        ({"label": "y", "pred_probs": ["e_0", "e_1"]}, r"'y'.*pass classes="),
        ({"features": "e_0"}, r"'e_0'.*fixed-length array"),
    ],
)
def test_bad_keywords_with_a_frame_raise_the_methods_errors(constructor, kwargs, match):
    with pytest.raises(ValidationError, match=match):
        cleanframe.schema(constructor(_frame()), **kwargs)


def test_backend_must_match_the_frame(constructor):
    other = "pandas" if constructor.kind.startswith("polars") else "polars"
    with pytest.raises(ValidationError, match=rf"backend='{other}' does not match the frame"):
        cleanframe.schema(constructor(_frame()), label="y", pred_probs="p_*", backend=other)


def test_frame_first():
    with pytest.raises(TypeError, match=r"schema\(label='y', pred_probs='p_\*'\)"):
        cleanframe.schema("y", pred_probs="p_*")
    with pytest.raises(TypeError, match="pandas DataFrame"):
        cleanframe.schema(np.zeros((2, 2)), label="y")


def test_schema_does_not_import_pandera_until_called():
    import subprocess
    import sys

    code = (
        "import sys, cleanframe\n"
        "assert 'pandera' not in sys.modules\n"
        "cleanframe.schema(label='y', pred_probs='p_*')\n"
        "assert 'pandera' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
