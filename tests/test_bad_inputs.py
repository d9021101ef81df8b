"""Every bad input of DESIGN.md ("Bad input"), on every frame type, through the public API.

Each case must raise :class:`cleanframe.ValidationError` (a ``ValueError``) whose message names
the column, and — where a row is at fault — shows that row by its index label (pandas) or row
number (polars) in the message and in ``failure_cases``. Rounding noise within the documented
tolerance is accepted, and nothing the caller passed is modified.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import cleanframe
from cleanframe import ValidationError
from cleanframe._inputs.rules import PROBABILITY_TOLERANCE

from .conftest import collect, label_frame, synthetic, to_pandas

CLASSES = ["cat", "dog", "emu"]
PROBS = ["p_cat", "p_dog", "p_emu"]
BAD = 7  # the row position at fault in row-level cases ('r7' in pandas)

#: Every public method that validates label + pred_probs (dataset-level ones included).
METHODS = (
    "find_label_issues",
    "label_quality_scores",
    "health_summary",
    "confident_joint",
    "num_label_issues",
    "overlapping_classes",
    "merge_rare_classes",
)
ROW_LEVEL = ("find_label_issues", "label_quality_scores")


def base_frame(n: int = 40) -> pd.DataFrame:
    labels, p = synthetic(n, 3, seed=1)
    df = label_frame(labels, p, CLASSES)
    df.index = pd.Index([f"r{i}" for i in range(n)])
    return df


def call(df, method: str, **kwargs):
    """Run ``df.cl.<method>`` and force any lazy result, so every check has run."""
    out = getattr(df.cl, method)(**kwargs)
    if isinstance(out, pl.LazyFrame):
        out = out.collect()
    return out


def row_label(constructor, position: int = BAD):
    """How a frame type names a row in errors: pandas index labels, polars row numbers."""
    return f"r{position}" if constructor.kind.startswith("pandas") else position


def assert_names_row(err: ValidationError, constructor, position: int = BAD) -> None:
    label = row_label(constructor, position)
    assert label in [row for row, _ in err.failure_cases], err.failure_cases
    assert f"row {label!r}" in str(err)


# ------------------------------------------------------------------------------------------
# column specs that point nowhere
# ------------------------------------------------------------------------------------------
SPEC_CASES = {
    "missing label column": (dict(label="z", pred_probs="p_*"), "'z'"),
    "missing pred_probs column (list)": (
        dict(label="y", pred_probs=["p_cat", "p_dog", "p_fox"]),
        "'p_fox'",
    ),
    "missing pred_probs column (dict)": (
        dict(label="y", pred_probs={"cat": "p_cat", "dog": "p_dog", "emu": "p_fox"}),
        "'p_fox'",
    ),
    "glob matching nothing": (dict(label="y", pred_probs="q_*"), re.escape("'q_*'")),
    "label column inside pred_probs": (dict(label="y", pred_probs=["y", "p_cat", "p_dog"]), "'y'"),
    "one pred_probs column (list)": (dict(label="y", pred_probs=["p_cat"]), "pred_probs"),
    "one pred_probs column (glob)": (dict(label="y", pred_probs="p_c*"), re.escape("'p_c*'")),
    "one pred_probs column (dict)": (dict(label="y", pred_probs={"cat": "p_cat"}), "pred_probs"),
    "classes= of the wrong length": (
        dict(label="y", pred_probs="p_*", classes=["cat", "dog"]),
        r"'p_\*'.*classes= has 2 entries but pred_probs has 3 columns",
    ),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(SPEC_CASES))
def test_bad_column_spec(constructor, method, case):
    kwargs, match = SPEC_CASES[case]
    df = constructor(base_frame())
    with pytest.raises(ValidationError, match=match) as info:
        call(df, method, **kwargs)
    assert isinstance(info.value, ValueError)
    assert info.value.rule in {"column_exists", "spec", "at_least_2_classes", "classes"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(label=["y"], pred_probs="p_*"), r"label= must be one column name"),
        (dict(label="y", pred_probs=3), r"pred_probs= must be a list of column names"),
        (dict(label="y", pred_probs=[]), r"pred_probs= is an empty list"),
        (
            dict(label="y", pred_probs="p_*", num_to_remove_per_class={"fox": 1}),
            r"num_to_remove_per_class names an unknown class 'fox'",
        ),
        (
            dict(label="y", pred_probs="p_*", num_to_remove_per_class=[1, 2]),
            r"num_to_remove_per_class must hold one value per class \(3\)",
        ),
        (
            dict(label="y", pred_probs="p_*", confident_joint=np.eye(2)),
            r"confident_joint must be 3",
        ),
    ],
    ids=[
        "label list",
        "pred_probs int",
        "pred_probs empty",
        "per-class unknown",
        "per-class length",
        "confident_joint shape",
    ],
)
def test_bad_arguments(constructor, kwargs, match):
    with pytest.raises(ValidationError, match=match):
        call(constructor(base_frame()), "find_label_issues", **kwargs)


def test_label_column_matched_by_the_glob(constructor):
    data = base_frame().rename(columns={"y": "p_y"})
    with pytest.raises(ValidationError, match="'p_y'.*also listed in pred_probs="):
        call(constructor(data), "find_label_issues", label="p_y", pred_probs="p_*")


def test_column_listed_twice(constructor):
    with pytest.raises(ValidationError, match="'p_cat'.*duplicate.*twice"):
        call(
            constructor(base_frame()),
            "find_label_issues",
            label="y",
            pred_probs=["p_cat", "p_cat", "p_dog"],
        )


# ------------------------------------------------------------------------------------------
# duplicated column names (pandas frames only: polars does not allow them)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("column", ["y", "p_dog"])
def test_duplicated_column_name_says_duplicate(constructor_indexed, method, column):
    """A column the call reads appears twice in the frame: an error that says "duplicate" and
    names the column, whether it is the label or a pred_probs column a glob matched."""
    data = base_frame()
    data = pd.concat([data, data[[column]]], axis=1)
    for spec in ("p_*", ["p_cat", "p_dog", "p_emu"]):
        with pytest.raises(ValidationError, match="duplicate") as info:
            call(constructor_indexed(data), method, label="y", pred_probs=spec)
        assert info.value.column == column and info.value.rule == "unique"
        assert "2 columns named" in str(info.value)


def test_duplicated_column_the_call_does_not_read_is_fine(constructor_indexed):
    data = base_frame().assign(note="x")
    data = pd.concat([data, data[["note"]]], axis=1)
    out = call(constructor_indexed(data), "find_label_issues", label="y", pred_probs="p_*")
    assert len(out) == len(data)


@pytest.mark.parametrize("features", [["f0", "f1"], "f*"], ids=["list", "glob"])
def test_duplicated_feature_column_says_duplicate(constructor_indexed, features):
    from cleanframe.models import cross_val_pred_probs

    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.normal(size=(30, 2)), columns=["f0", "f1"]).assign(y=["a", "b"] * 15)
    frame = constructor_indexed(pd.concat([data, data[["f0"]]], axis=1))
    calls = [
        lambda: cleanframe.find_outliers(frame, features=features),
        lambda: cleanframe.find_near_duplicates(frame, features=features),
        lambda: cross_val_pred_probs(frame, label="y", features=features, cv=2, progress=False),
    ]
    for fn in calls:
        with pytest.raises(ValidationError, match="duplicate") as info:
            fn()
        assert info.value.column == "f0" and info.value.rule == "unique"


def test_null_in_nullable_integer_labels(constructor):
    labels, p = synthetic(40, 3, seed=1)
    data = pd.DataFrame(
        {"y": pd.array(labels, dtype="Int64"), "a": p[:, 0], "b": p[:, 1], "c": p[:, 2]}
    )
    data.index = base_frame().index
    data.iloc[BAD, 0] = pd.NA
    with pytest.raises(ValidationError, match="'y'.*null") as info:
        call(constructor(data), "find_label_issues", label="y", pred_probs=["a", "b", "c"])
    assert_names_row(info.value, constructor)


def test_integer_label_without_a_column(constructor):
    labels, p = synthetic(40, 3, seed=1)
    data = pd.DataFrame({"y": labels, "p_0": p[:, 0], "p_1": p[:, 1], "p_2": p[:, 2]})
    data.iloc[BAD, 0] = 3
    with pytest.raises(ValidationError, match="'y'.*not classes") as info:
        call(constructor(data), "find_label_issues", label="y", pred_probs="p_*")
    assert info.value.failure_cases == [(BAD, 3)]


@pytest.mark.parametrize("method", METHODS)
def test_missing_column_message_lists_the_frame_columns(constructor, method):
    with pytest.raises(ValidationError, match=r"'z'.*label=.*'p_cat'") as info:
        call(constructor(base_frame()), method, label="z", pred_probs="p_*")
    assert info.value.column == "z" and info.value.rule == "column_exists"


# ------------------------------------------------------------------------------------------
# bad values in one row
# ------------------------------------------------------------------------------------------
def _set(column, value):
    def mutate(df):
        df = df.copy()
        if column == "y" and value is None:
            df["y"] = df["y"].astype(object)
        df.iloc[BAD, df.columns.get_loc(column)] = value
        return df

    return mutate


VALUE_CASES = {
    "null label": (_set("y", None), "'y'", "not_null"),
    "label that is not a known class": (_set("y", "fox"), "'y'", "known_class"),
    "NaN probability": (_set("p_dog", np.nan), "'p_dog'", "finite"),
    "inf probability": (_set("p_dog", np.inf), "'p_dog'", "finite"),
    "-inf probability": (_set("p_dog", -np.inf), "'p_dog'", "finite"),
    "negative probability": (_set("p_dog", -0.2), "'p_dog'", "in_range"),
    "probability above 1": (_set("p_dog", 1.5), "'p_dog'", "in_range"),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(VALUE_CASES))
def test_bad_value_names_column_and_row(constructor, method, case):
    mutate, match, rule = VALUE_CASES[case]
    df = constructor(mutate(base_frame()))
    with pytest.raises(ValidationError, match=match) as info:
        call(df, method, label="y", pred_probs="p_*")
    err = info.value
    assert err.rule == rule
    assert err.column == match.strip("'")
    assert err.num_failures == 1
    assert_names_row(err, constructor)


@pytest.mark.parametrize("value", [-0.2, 1.5, np.inf])
def test_failure_cases_hold_the_offending_values(constructor, value):
    df = constructor(_set("p_dog", value)(base_frame()))
    with pytest.raises(ValidationError) as info:
        call(df, "find_label_issues", label="y", pred_probs="p_*")
    assert info.value.failure_cases == [(row_label(constructor), value)]


def test_null_probability(constructor):
    data = base_frame()
    data["p_dog"] = data["p_dog"].astype(object)
    data.iloc[BAD, data.columns.get_loc("p_dog")] = None
    data["p_dog"] = pd.to_numeric(
        data["p_dog"]
    )  # float with a missing value (null in Arrow/polars)
    with pytest.raises(ValidationError, match="'p_dog'") as info:
        call(constructor(data), "find_label_issues", label="y", pred_probs="p_*")
    assert_names_row(info.value, constructor)


def test_public_function_and_accessor_raise_the_same_error(constructor):
    df = constructor(_set("y", "fox")(base_frame()))
    with pytest.raises(ValidationError) as by_function:
        cleanframe.find_label_issues(df, label="y", pred_probs="p_*")
    with pytest.raises(ValidationError) as by_accessor:
        df.cl.find_label_issues(label="y", pred_probs="p_*")
    assert str(by_function.value) == str(by_accessor.value)
    assert by_function.value.failure_cases == by_accessor.value.failure_cases


def test_validation_error_pickles(constructor):
    import pickle

    with pytest.raises(ValidationError) as info:
        call(
            constructor(_set("p_dog", 1.5)(base_frame())),
            "find_label_issues",
            label="y",
            pred_probs="p_*",
        )
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.failure_cases == info.value.failure_cases
    assert (again.column, again.rule, again.num_failures) == ("p_dog", "in_range", 1)


@pytest.mark.parametrize("method", METHODS)
def test_unknown_label_message_shows_the_value_and_the_classes(constructor, method):
    df = constructor(_set("y", "fox")(base_frame()))
    with pytest.raises(ValidationError, match=r"'y'.*not classes \['cat', 'dog', 'emu'\]") as info:
        call(df, method, label="y", pred_probs="p_*")
    assert info.value.failure_cases == [(row_label(constructor), "fox")]


@pytest.mark.parametrize("method", METHODS)
def test_rows_not_summing_to_one(constructor, method):
    data = base_frame()
    data.iloc[BAD, 1:] = data.iloc[BAD, 1:] * 0.5  # in range, but the row sums to 0.5
    df = constructor(data)
    with pytest.raises(ValidationError, match=r"'p_\*'.*sum to 1.*logits") as info:
        call(df, method, label="y", pred_probs="p_*")
    assert info.value.rule == "row_sums_to_1"
    assert_names_row(info.value, constructor)
    # the same through a list of columns names the spec parameter
    with pytest.raises(ValidationError, match="pred_probs.*sum to 1"):
        call(df, method, label="y", pred_probs=PROBS)


@pytest.mark.parametrize("method", METHODS)
def test_logits_instead_of_probabilities(constructor, method):
    data = base_frame()
    data[PROBS] = np.log(data[PROBS].to_numpy())  # logits: negative, rows do not sum to 1
    with pytest.raises(ValidationError, match="'p_cat'.*>= 0") as info:
        call(constructor(data), method, label="y", pred_probs="p_*")
    assert info.value.num_failures == len(data)
    assert_names_row(info.value, constructor, 0)


@pytest.mark.parametrize("method", METHODS)
def test_empty_frame(constructor, method):
    with pytest.raises(ValidationError, match="no rows") as info:
        call(constructor(base_frame().iloc[:0]), method, label="y", pred_probs="p_*")
    assert info.value.rule == "not_empty"


@pytest.mark.parametrize("method", METHODS)
def test_non_numeric_pred_probs_column(constructor, method):
    data = base_frame()
    data["p_dog"] = data["p_dog"].astype(str)
    with pytest.raises(ValidationError, match="'p_dog'.*numeric"):
        call(constructor(data), method, label="y", pred_probs="p_*")


@pytest.mark.parametrize("method", METHODS)
def test_ambiguous_class_mapping_says_how_to_pass_classes(constructor, method):
    data = base_frame().rename(columns=dict(zip(PROBS, ["a1", "b2", "c3"])))
    with pytest.raises(ValidationError, match=r"'y'.*pass classes=\[") as info:
        call(constructor(data), method, label="y", pred_probs=["a1", "b2", "c3"])
    assert "'a1'" in str(info.value)
    # ... and doing what it says works
    out = call(constructor(data), method, label="y", pred_probs=["a1", "b2", "c3"], classes=CLASSES)
    assert out is not None


def test_array_column_without_classes_is_ambiguous_for_string_labels(constructor):
    data = base_frame()
    data = pd.DataFrame({"y": data["y"], "pp": list(data[PROBS].to_numpy())}, index=data.index)
    with pytest.raises(ValidationError, match="'y'.*classes="):
        call(constructor(data), "find_label_issues", label="y", pred_probs="pp")


@pytest.mark.parametrize("method", METHODS)
def test_ragged_array_column(constructor, method):
    data = base_frame()
    rows = list(data[PROBS].to_numpy())
    rows[BAD] = rows[BAD][:2] / rows[BAD][:2].sum()
    data = pd.DataFrame({"y": data["y"], "pp": rows}, index=data.index)
    with pytest.raises(ValidationError, match="'pp'.*same length") as info:
        call(constructor(data), method, label="y", pred_probs="pp", classes=CLASSES)
    assert info.value.rule == "fixed_length"
    assert_names_row(info.value, constructor)


@pytest.mark.parametrize("method", METHODS)
def test_null_array_in_array_column(constructor, method):
    data = base_frame()
    rows = list(data[PROBS].to_numpy())
    rows[BAD] = None
    data = pd.DataFrame({"y": data["y"], "pp": rows}, index=data.index)
    with pytest.raises(ValidationError, match="'pp'.*null") as info:
        call(constructor(data), method, label="y", pred_probs="pp", classes=CLASSES)
    assert_names_row(info.value, constructor)


def test_many_offending_rows_are_counted_and_truncated(constructor):
    data = base_frame()
    data["y"] = data["y"].astype(object)
    data.iloc[::2, 0] = None  # 20 null labels
    with pytest.raises(ValidationError, match=r"(?s)'y'.*\(20 in all\).*and 15 more") as info:
        call(constructor(data), "find_label_issues", label="y", pred_probs="p_*")
    assert info.value.num_failures == 20
    assert [r for r, _ in info.value.failure_cases] == [
        row_label(constructor, i) for i in range(0, 10, 2)
    ]


# ------------------------------------------------------------------------------------------
# result columns that already exist
# ------------------------------------------------------------------------------------------
CLASH = {
    "find_label_issues": ("label_score", "is_issue", "predicted_label"),
    "label_quality_scores": ("label_score",),
}


@pytest.mark.parametrize(("method", "column"), [(m, c) for m, cols in CLASH.items() for c in cols])
def test_result_column_clash_needs_overwrite(constructor, method, column):
    data = base_frame().assign(**{column: "old"})
    df = constructor(data)
    with pytest.raises(ValidationError, match=f"'{column}'.*overwrite=True") as info:
        call(df, method, label="y", pred_probs="p_*")
    assert info.value.rule == "no_overwrite"
    out = to_pandas(call(df, method, label="y", pred_probs="p_*", overwrite=True))
    expected = to_pandas(call(constructor(base_frame()), method, label="y", pred_probs="p_*"))
    assert set(out.columns) == set(expected.columns)
    # the replaced column keeps its place; the other result columns come after the input's
    assert list(out.columns) == list(data.columns) + [c for c in CLASH[method] if c != column]
    assert (out[column] != "old").all()
    pd.testing.assert_series_equal(out[column], expected[column], check_index=False)
    assert len(out) == len(data)


# ------------------------------------------------------------------------------------------
# rounding noise within the documented tolerance
# ------------------------------------------------------------------------------------------
def test_documented_tolerance():
    assert PROBABILITY_TOLERANCE == 1e-4


@pytest.mark.parametrize("method", METHODS)
def test_rounding_noise_within_tolerance_is_accepted(constructor, method):
    data = base_frame()
    # a float16-style 1.00001 (row sums to 1.00001), and rows summing to 1 +- 5e-5
    data.iloc[3, 1:] = [1.00001, 0.0, 0.0]
    data.iloc[4, 1:] = data.iloc[4, 1:] * (1 + 5e-5)
    data.iloc[5, 1:] = data.iloc[5, 1:] * (1 - 5e-5)
    clean = data.copy()
    clean.iloc[3, 1:] = [1.0, 0.0, 0.0]
    clean.iloc[4:6, 1:] = (
        clean.iloc[4:6, 1:].to_numpy() / clean.iloc[4:6, 1:].sum(axis=1).to_numpy()[:, None]
    )
    got = call(constructor(data), method, label="y", pred_probs="p_*")
    want = call(constructor(clean), method, label="y", pred_probs="p_*")
    if method in ROW_LEVEL:
        got, want = to_pandas(got), to_pandas(want)
        # renormalized: the same scores as on the clean data, all within [0, 1]
        np.testing.assert_allclose(got["label_score"], want["label_score"], rtol=0, atol=1e-12)
        assert got["label_score"].between(0, 1).all()
        assert got.loc[got.index[3], "label_score"] <= 1.0
        # the returned frame keeps the caller's values
        assert got.iloc[3][PROBS].tolist() == [1.00001, 0.0, 0.0]
    elif method == "num_label_issues":
        assert got == want


@pytest.mark.parametrize("noise", [1e-3, -1e-3])
def test_rounding_noise_beyond_tolerance_is_rejected(constructor, noise):
    data = base_frame()
    data.iloc[BAD, 1:] = data.iloc[BAD, 1:] * (1 + noise)
    with pytest.raises(ValidationError, match=r"'p_\*'.*sum to 1") as info:
        call(constructor(data), "find_label_issues", label="y", pred_probs="p_*")
    assert_names_row(info.value, constructor)


def test_value_just_above_one_beyond_tolerance_is_rejected(constructor):
    data = base_frame()
    data.iloc[BAD, 1:] = [1.001, 0.0, 0.0]
    with pytest.raises(ValidationError, match="'p_cat'.*<= 1") as info:
        call(constructor(data), "find_label_issues", label="y", pred_probs="p_*")
    assert_names_row(info.value, constructor)


def _imdb():
    return cleanframe.datasets.load_label_errors("imdb")


def test_imdb_bundled_data_is_accepted(constructor):
    data = _imdb()
    probs = data.columns[1:]
    assert data[probs].to_numpy().max() > 1.0  # float16 rounding noise: up to 1.00001
    assert data[probs].to_numpy().max() <= 1 + PROBABILITY_TOLERANCE
    out = to_pandas(call(constructor(data), "find_label_issues", label="label", pred_probs="p_*"))
    assert out["label_score"].between(0, 1).all()
    assert 0 < out["is_issue"].sum() < len(out)


def _as_float16(constructor, data: pd.DataFrame):
    """The data with its probability columns stored as float16 in the frame type's own way."""
    probs = [c for c in data.columns if c.startswith("p_")]
    if constructor.kind == "pandas":
        return data.astype({c: np.float16 for c in probs})
    if constructor.kind == "pandas_arrow":
        return constructor(data).astype({c: pd.ArrowDtype(pa.float16()) for c in probs})
    frame = constructor(data)
    return frame.with_columns(pl.col(probs).cast(pl.Float16))


def test_imdb_cast_to_float16_is_accepted(constructor):
    data = _imdb()
    reference = data.cl.find_label_issues(label="label", pred_probs="p_*")
    half = _as_float16(constructor, data)
    # float16 rows are further from summing to 1 than the float64 tolerance
    dev = np.abs(to_pandas(half)[data.columns[1:]].astype(np.float64).sum(axis=1) - 1).max()
    assert dev > PROBABILITY_TOLERANCE
    out = to_pandas(call(half, "find_label_issues", label="label", pred_probs="p_*"))
    assert out["label_score"].between(0, 1).all()
    np.testing.assert_allclose(out["label_score"], reference["label_score"], atol=2e-3)
    flips = (out["is_issue"].to_numpy() != reference["is_issue"].to_numpy()).sum()
    assert flips <= 0.01 * reference["is_issue"].sum()
    summary = call(half, "health_summary", label="label", pred_probs="p_*")
    assert 0 < summary.overall_label_health_score < 1


def test_float16_noise_beyond_float16_precision_is_rejected(constructor):
    data = base_frame()
    data.iloc[BAD, 1:] = data.iloc[BAD, 1:] * 1.01
    half = _as_float16(constructor, data)
    with pytest.raises(ValidationError, match=r"'p_\*'.*sum to 1") as info:
        call(half, "find_label_issues", label="y", pred_probs="p_*")
    assert_names_row(info.value, constructor)


# ------------------------------------------------------------------------------------------
# nothing the caller passed is modified
# ------------------------------------------------------------------------------------------
def snapshot(df):
    """A deep, engine-independent copy of a frame's contents (arrays inside cells too)."""
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if isinstance(df, pl.DataFrame):
        return ("polars", dict(df.schema), df.to_dict(as_series=False))
    cells = {
        c: [
            np.asarray(v).tolist() if isinstance(v, (np.ndarray, list)) else v
            for v in df[c].tolist()
        ]
        for c in df.columns
    }
    return ("pandas", df.dtypes.astype(str).tolist(), df.index.tolist(), cells)


def _noisy_frame() -> pd.DataFrame:
    """Valid data whose probabilities need clipping and renormalizing (the in-place risk)."""
    data = base_frame()
    data.iloc[3, 1:] = [1.00001, 0.0, 0.0]
    data.iloc[4, 1:] = data.iloc[4, 1:] * (1 + 5e-5)
    return data


@pytest.mark.parametrize("method", METHODS)
def test_input_frame_is_not_modified(constructor, method):
    df = constructor(_noisy_frame())
    before = snapshot(df)
    call(df, method, label="y", pred_probs="p_*")
    call(df, method, label="y", pred_probs=PROBS)
    call(df, method, label="y", pred_probs=dict(zip(CLASSES, PROBS)))
    assert snapshot(df) == before


def _array_frames(constructor, labels: np.ndarray, matrix: np.ndarray) -> list:
    """``matrix`` as one array column in frames of the constructor's type; for polars also an
    Array column built straight from ``matrix`` (maybe zero-copy)."""
    frames = [constructor(pd.DataFrame({"y": labels, "pp": list(matrix)}))]
    if constructor.kind.startswith("polars"):
        array = pl.DataFrame({"y": labels.tolist(), "pp": matrix})
        frames.append(array.lazy() if constructor.kind == "polars_lazy" else array)
    return frames


@pytest.mark.parametrize("method", METHODS)
def test_input_array_column_and_numpy_source_are_not_modified(constructor, method):
    data = _noisy_frame()
    labels = data["y"].to_numpy()
    matrix = np.ascontiguousarray(data[PROBS].to_numpy())
    kept = matrix.copy()
    from_matrix = pd.DataFrame(matrix, columns=PROBS)  # its block may be a view of `matrix`
    from_matrix.insert(0, "y", labels)
    if constructor.kind != "pandas":  # (the pandas constructor copies: keep the view)
        from_matrix = constructor(from_matrix)
    before_matrix = snapshot(from_matrix)
    call(from_matrix, method, label="y", pred_probs="p_*")
    assert snapshot(from_matrix) == before_matrix
    for df in _array_frames(constructor, labels, matrix):
        before = snapshot(df)
        if method == "merge_rare_classes":
            with pytest.raises(ValidationError, match="'y'.*separate columns"):
                call(df, method, label="y", pred_probs="pp", classes=CLASSES)
        else:
            call(df, method, label="y", pred_probs="pp", classes=CLASSES)
        assert snapshot(df) == before
    np.testing.assert_array_equal(matrix, kept)


def test_input_not_modified_by_rejected_calls(constructor):
    data = _set("p_dog", np.nan)(base_frame())
    df = constructor(data)
    before = snapshot(df)
    with pytest.raises(ValidationError):
        call(df, "find_label_issues", label="y", pred_probs="p_*")
    assert repr(snapshot(df)) == repr(before)  # repr: NaN != NaN


def test_overwrite_does_not_modify_input(constructor):
    df = constructor(base_frame().assign(label_score=0.5))
    before = snapshot(df)
    call(df, "find_label_issues", label="y", pred_probs="p_*", overwrite=True)
    assert snapshot(df) == before


# ------------------------------------------------------------------------------------------
# fewer than two classes occur in the label column
# ------------------------------------------------------------------------------------------
ONE_CLASS_LABELS = {
    "strings": lambda df: df.assign(y="dog"),
    "categorical with unused categories": lambda df: df.assign(
        y=pd.Categorical(["dog"] * len(df), categories=CLASSES)
    ),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("labels", list(ONE_CLASS_LABELS))
def test_one_class_in_the_label_column_is_an_error(constructor, method, labels):
    """One class and pred_probs for three: no label can be doubted, so rather than report a
    clean column (0 issues, health 1.0) every label method refuses it, naming the column."""
    data = ONE_CLASS_LABELS[labels](base_frame())
    with pytest.raises(ValidationError, match="at least 2 classes") as info:
        call(constructor(data), method, label="y", pred_probs="p_*")
    assert info.value.column == "y" and info.value.rule == "at_least_2_classes"
    assert "'dog'" in str(info.value)


def test_one_class_is_an_error_for_the_other_label_functions(constructor):
    frame = constructor(base_frame().assign(y="dog"))
    calls = [
        lambda: cleanframe.ensemble_label_quality_scores(
            frame, label="y", pred_probs=["p_*", "p_*"]
        ),
        lambda: cleanframe.rank_classes_by_label_quality(frame, label="y", pred_probs="p_*"),
        lambda: cleanframe.overall_label_health_score(frame, label="y", pred_probs="p_*"),
        lambda: cleanframe.audit(frame, label="y", pred_probs="p_*"),
    ]
    for fn in calls:
        with pytest.raises(ValidationError, match="at least 2 classes") as info:
            fn()
        assert info.value.column == "y"


def test_two_classes_of_three_are_enough(constructor):
    data = base_frame()
    data["y"] = np.where(data["y"] == "emu", "dog", data["y"])
    out = to_pandas(call(constructor(data), "find_label_issues", label="y", pred_probs="p_*"))
    assert len(out) == len(data)


def test_merging_every_class_is_an_error(constructor):
    with pytest.raises(ValidationError, match="count_threshold=100.*one class") as info:
        call(
            constructor(base_frame()),
            "merge_rare_classes",
            label="y",
            pred_probs="p_*",
            count_threshold=100,
        )
    assert info.value.column == "y" and info.value.rule == "at_least_2_classes"


# ------------------------------------------------------------------------------------------
# messages that list what would have been valid
# ------------------------------------------------------------------------------------------
def test_glob_matching_nothing_lists_the_closest_columns_first(constructor):
    """A wide frame whose pred_probs columns come last: the message is cut ("…") but shows the
    columns closest to the glob (here those sharing its prefix) first."""
    data = base_frame()
    wide = pd.concat(
        [pd.DataFrame({f"feature_{i:02d}": 0.5 for i in range(30)}, index=data.index), data],
        axis=1,
    )
    for glob in ("P_*", "p-*", "prob_*"):
        with pytest.raises(ValidationError, match="matches no column") as info:
            call(constructor(wide), "find_label_issues", label="y", pred_probs=glob)
        text = str(info.value)
        assert "…" in text and "34 columns" in text
        shown = re.findall(r"'([^']*)'", text.split("first: ")[1])
        assert shown[:3] == ["p_cat", "p_dog", "p_emu"], shown


def test_missing_column_in_a_wide_frame_lists_the_closest_first(constructor):
    data = base_frame()
    wide = pd.concat(
        [pd.DataFrame({f"feature_{i:02d}": 0.5 for i in range(30)}, index=data.index), data],
        axis=1,
    )
    with pytest.raises(ValidationError, match="no such column") as info:
        call(constructor(wide), "find_label_issues", label="Y", pred_probs="p_*")
    assert "first: ['y'," in str(info.value) and "…" in str(info.value)


#: (function, the mistyped argument, the choice the message suggests or None)
CHOICE_TYPOS = [
    ("find_label_issues", {"filter_by": "prune_by_nosie_rate"}, "prune_by_noise_rate"),
    ("find_label_issues", {"filter_by": "bogus"}, None),
    ("find_label_issues", {"rank_by": "margin"}, "normalized_margin"),
    ("label_quality_scores", {"method": "self_confidense"}, "self_confidence"),
    ("num_label_issues", {"estimation_method": "calibrated"}, "off_diagonal_calibrated"),
]


@pytest.mark.parametrize(("function", "kwargs", "meant"), CHOICE_TYPOS)
def test_choice_typos_list_the_valid_choices(constructor, function, kwargs, meant):
    ((name, value),) = kwargs.items()
    frame = constructor(base_frame())
    with pytest.raises(ValidationError, match=f"{name}= must be one of") as info:
        collect(getattr(cleanframe, function)(frame, label="y", pred_probs="p_*", **kwargs))
    text = str(info.value)
    assert info.value.rule == name and repr(value) in text
    allowed = {
        "filter_by": ["prune_by_noise_rate", "confident_learning", "low_self_confidence"],
        "rank_by": ["self_confidence", "normalized_margin", "confidence_weighted_entropy"],
        "method": ["self_confidence", "normalized_margin", "confidence_weighted_entropy"],
        "estimation_method": ["off_diagonal", "off_diagonal_calibrated", "off_diagonal_custom"],
    }[name]
    assert all(repr(a) in text for a in allowed)
    assert (f"did you mean {meant!r}?" in text) if meant else ("did you mean" not in text)


def test_choice_typos_in_the_other_functions(constructor):
    frame = constructor(base_frame().assign(t=np.arange(40.0), pred=np.arange(40.0) + 0.5))
    cases = [
        (
            lambda: cleanframe.ensemble_label_quality_scores(
                frame, label="y", pred_probs=["p_*"], weight_ensemble_members_by="acuracy"
            ),
            "weight_ensemble_members_by",
            "accuracy",
        ),
        (
            lambda: cleanframe.ensemble_label_quality_scores(
                frame, label="y", pred_probs=["p_*"], method="entropy"
            ),
            "method",
            "confidence_weighted_entropy",
        ),
        (
            lambda: collect(
                cleanframe.label_quality_scores(
                    frame, label="t", predictions="pred", method="outer"
                )
            ),
            "method",
            "outre",
        ),
    ]
    for fn, name, meant in cases:
        with pytest.raises(ValidationError, match=f"{name}= must be one of") as info:
            fn()
        assert f"did you mean {meant!r}?" in str(info.value)
