"""Label-issue functions on every frame type: rows, index, dtypes, column specs, classes, tables.

The pandas frame with default dtypes is the reference; every other frame type (pandas with Arrow
dtypes, polars, polars LazyFrame) must give the same results (see ``test_parity``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import cleanframe
from cleanframe.label_issues import RESULT_COLUMNS

from .conftest import FRAME_TYPES, collect, label_frame, make_frame, synthetic, to_pandas

CLASSES = ["cat", "dog", "emu"]
PROBS = [f"p_{c}" for c in CLASSES]


def data(n=120, *, seed=3, index=None) -> pd.DataFrame:
    labels, p = synthetic(n, 3, seed=seed, noise=0.25)
    df = label_frame(labels, p, CLASSES)
    if index is not None:
        df.index = index
    return df


def dtype_of(frame, column):
    if isinstance(frame, pl.LazyFrame):
        return frame.collect_schema()[column]
    if isinstance(frame, pl.DataFrame):
        return frame.schema[column]
    return frame[column].dtype


def reference(df: pd.DataFrame, **kwargs) -> pd.DataFrame:
    kwargs.setdefault("label", "y")
    kwargs.setdefault("pred_probs", "p_*")
    return df.reset_index(drop=True).cl.find_label_issues(**kwargs)


def assert_same_results(out, ref: pd.DataFrame, columns=RESULT_COLUMNS) -> None:
    """Row-level results equal by position (scores exactly, classes by value)."""
    got = to_pandas(collect(out)).reset_index(drop=True)
    for col in columns:
        if col == "predicted_label":
            assert got[col].astype(str).tolist() == ref[col].astype(str).tolist()
        elif col == "is_issue":
            assert got[col].astype(bool).tolist() == ref[col].astype(bool).tolist()
        else:
            np.testing.assert_allclose(
                got[col].astype(float), ref[col].astype(float), rtol=0, atol=1e-12
            )


def class_table(table) -> pd.DataFrame:
    """A K×K class table as pandas, rows and columns labelled by class name."""
    table = to_pandas(collect(table))
    if "given_label" in table.columns:
        table = table.set_index("given_label")
        table.columns.name = "true_label"
    return table


# ------------------------------------------------------------------------------------------
# rows, order, index, result columns
# ------------------------------------------------------------------------------------------
INDEXES = {
    "default": None,
    "string": pd.Index([f"r{i}" for i in range(120)]),
    "shuffled int": pd.Index(np.random.default_rng(0).permutation(120) + 1000),
}


@pytest.mark.parametrize("index", list(INDEXES))
def test_same_rows_order_and_index(constructor, index):
    df = data(index=INDEXES[index])
    frame = constructor(df)
    out = frame.cl.find_label_issues(label="y", pred_probs="p_*")
    assert type(out) is type(frame)  # LazyFrame in, LazyFrame out
    got = to_pandas(collect(out))
    assert list(got.columns) == list(df.columns) + list(RESULT_COLUMNS)
    assert len(got) == len(df)
    if constructor.kind.startswith("pandas"):
        assert got.index.equals(df.index)
    # input columns untouched and in order
    pd.testing.assert_frame_equal(
        got[df.columns].reset_index(drop=True).astype({"y": str}),
        df.reset_index(drop=True).astype({"y": str}),
        check_dtype=False,
    )
    assert_same_results(out, reference(df))


def test_duplicate_and_multi_index_kept(constructor_indexed):
    df = data(index=pd.Index([0, 1, 1] * 40))
    out = constructor_indexed(df).cl.find_label_issues(label="y", pred_probs="p_*")
    assert out.index.equals(df.index)
    assert_same_results(out, reference(df))
    df.index = pd.MultiIndex.from_arrays([np.arange(120) // 3, np.arange(120) % 3])
    out = constructor_indexed(df).cl.find_label_issues(label="y", pred_probs="p_*")
    assert out.index.equals(df.index)
    assert_same_results(out, reference(df))


def test_result_dtypes(constructor):
    frame = constructor(data())
    out = collect(frame.cl.find_label_issues(label="y", pred_probs="p_*"))
    if isinstance(out, pl.DataFrame):
        assert out.schema["label_score"] == pl.Float64
        assert out.schema["is_issue"] == pl.Boolean
    else:
        assert out["label_score"].dtype == np.float64
        assert out["is_issue"].dtype == bool
    assert dtype_of(out, "predicted_label") == dtype_of(frame, "y")
    scores = to_pandas(out)["label_score"]
    assert scores.between(0, 1).all()


def test_label_quality_scores_adds_only_label_score(constructor):
    df = data()
    out = to_pandas(collect(constructor(df).cl.label_quality_scores(label="y", pred_probs="p_*")))
    assert list(out.columns) == list(df.columns) + ["label_score"]
    np.testing.assert_allclose(out["label_score"], reference(df)["label_score"])
    # self-confidence: the probability of the given label
    given = df[PROBS].to_numpy()[np.arange(len(df)), pd.Index(CLASSES).get_indexer(df["y"])]
    np.testing.assert_allclose(out["label_score"], given)


def test_float32_probabilities_give_float32_scores(constructor):
    df = data().astype({c: np.float32 for c in PROBS})
    out = to_pandas(collect(constructor(df).cl.find_label_issues(label="y", pred_probs="p_*")))
    np.testing.assert_allclose(out["label_score"], reference(df)["label_score"], rtol=1e-6)


# ------------------------------------------------------------------------------------------
# predicted_label in the label's own dtype
# ------------------------------------------------------------------------------------------
def _labels_and_probs(n=90, k=3, seed=5):
    return synthetic(n, k, seed=seed, noise=0.3)


def test_predicted_label_for_string_labels(constructor):
    frame = constructor(data())
    out = collect(frame.cl.find_label_issues(label="y", pred_probs="p_*"))
    pred = to_pandas(out)["predicted_label"]
    want = np.array(CLASSES)[data()[PROBS].to_numpy().argmax(axis=1)]
    assert pred.tolist() == want.tolist()
    assert dtype_of(out, "predicted_label") == dtype_of(frame, "y")


@pytest.mark.parametrize("int_dtype", ["int64", "int32", "uint8"])
def test_predicted_label_for_integer_labels_by_column_order(constructor, int_dtype):
    labels, p = _labels_and_probs()
    df = pd.DataFrame({"y": labels.astype(int_dtype), "a": p[:, 0], "b": p[:, 1], "c": p[:, 2]})
    frame = constructor(df)
    out = collect(frame.cl.find_label_issues(label="y", pred_probs=["a", "b", "c"]))
    assert dtype_of(out, "predicted_label") == dtype_of(frame, "y")
    assert to_pandas(out)["predicted_label"].tolist() == p.argmax(axis=1).tolist()
    # the integer classes name the table rows and columns
    cj = class_table(frame.cl.confident_joint(label="y", pred_probs=["a", "b", "c"]))
    assert cj.index.tolist() == ["0", "1", "2"] and cj.columns.tolist() == ["0", "1", "2"]


def test_nullable_and_float_integer_labels(constructor):
    labels, p = _labels_and_probs()
    cols = {"a": p[:, 0], "b": p[:, 1], "c": p[:, 2]}
    for y in (pd.array(labels, dtype="Int64"), labels.astype(float)):
        frame = constructor(pd.DataFrame({"y": y, **cols}))
        out = collect(frame.cl.find_label_issues(label="y", pred_probs=["a", "b", "c"]))
        assert dtype_of(out, "predicted_label") == dtype_of(frame, "y")
        assert to_pandas(out)["predicted_label"].astype(int).tolist() == p.argmax(axis=1).tolist()


def test_integer_labels_matched_by_column_suffix(constructor):
    """Labels 1..3 with columns p_1..p_3 listed out of order: names decide, not positions."""
    labels, p = _labels_and_probs()
    df = pd.DataFrame({"y": labels + 1, "p_1": p[:, 0], "p_2": p[:, 1], "p_3": p[:, 2]})
    frame = constructor(df)
    a = collect(frame.cl.find_label_issues(label="y", pred_probs=["p_3", "p_1", "p_2"]))
    b = collect(frame.cl.find_label_issues(label="y", pred_probs="p_*"))
    assert to_pandas(a)["predicted_label"].tolist() == (p.argmax(axis=1) + 1).tolist()
    assert_same_results(a, to_pandas(b))


def test_predicted_label_for_boolean_labels(constructor):
    labels, p = synthetic(80, 2, seed=2, noise=0.3)
    df = pd.DataFrame({"y": labels == 1, "p_False": p[:, 0], "p_True": p[:, 1]})
    frame = constructor(df)
    out = collect(frame.cl.find_label_issues(label="y", pred_probs="p_*"))
    assert dtype_of(out, "predicted_label") == dtype_of(frame, "y")
    assert (
        to_pandas(out)["predicted_label"].astype(bool).tolist() == (p.argmax(axis=1) == 1).tolist()
    )
    # booleans with unnamed columns: False, True by column order
    plain = constructor(df.rename(columns={"p_False": "a", "p_True": "b"}))
    assert_same_results(
        plain.cl.find_label_issues(label="y", pred_probs=["a", "b"]), to_pandas(out)
    )


def test_pandas_category_with_unused_category_that_has_a_column(constructor):
    labels, p = _labels_and_probs()
    used = np.array(["cat", "dog"])[labels % 2]  # 'emu' never occurs
    y = pd.Categorical(used, categories=["emu", "dog", "cat"])
    df = pd.DataFrame({"y": y, "p_cat": p[:, 0], "p_dog": p[:, 1], "p_emu": p[:, 2]})
    frame = constructor(df)
    out = collect(frame.cl.find_label_issues(label="y", pred_probs="p_*"))
    assert dtype_of(out, "predicted_label") == dtype_of(frame, "y")
    pred = to_pandas(out)["predicted_label"].astype(str)
    assert pred.tolist() == np.array(["cat", "dog", "emu"])[p.argmax(axis=1)].tolist()
    cj = class_table(frame.cl.confident_joint(label="y", pred_probs="p_*"))
    if constructor.kind.startswith("pandas"):
        # class order = the category order, the unused category included (its row is empty)
        assert cj.index.tolist() == ["emu", "dog", "cat"]
        assert isinstance(to_pandas(out)["predicted_label"].dtype, pd.CategoricalDtype)
        assert list(to_pandas(out)["predicted_label"].cat.categories) == ["emu", "dog", "cat"]
    assert sorted(cj.index) == ["cat", "dog", "emu"]
    assert cj.loc["emu"].sum() == 0


def test_pandas_category_with_unused_category_without_a_column(constructor):
    labels, p = synthetic(90, 2, seed=6, noise=0.3)
    y = pd.Categorical(np.array(["cat", "dog"])[labels], categories=["fox", "dog", "cat"])
    df = pd.DataFrame({"y": y, "p_cat": p[:, 0], "p_dog": p[:, 1]})
    frame = constructor(df)
    out = collect(frame.cl.find_label_issues(label="y", pred_probs="p_*"))
    assert dtype_of(out, "predicted_label") == dtype_of(frame, "y")
    assert (
        to_pandas(out)["predicted_label"].astype(str).tolist()
        == np.array(["cat", "dog"])[p.argmax(axis=1)].tolist()
    )
    cj = class_table(frame.cl.confident_joint(label="y", pred_probs="p_*"))
    if constructor.kind.startswith("pandas"):
        assert cj.index.tolist() == ["dog", "cat"]  # category order, 'fox' (no column) left out
    assert sorted(cj.index) == ["cat", "dog"]


def test_polars_enum_labels(constructor_polars):
    labels, p = _labels_and_probs()
    enum = pl.Enum(["emu", "dog", "cat", "fox"])  # 'fox' has no column and no rows
    df = pd.DataFrame(
        {
            "y": np.array(["cat", "dog", "emu"])[labels],
            "p_cat": p[:, 0],
            "p_dog": p[:, 1],
            "p_emu": p[:, 2],
        }
    )
    frame = constructor_polars(df).with_columns(pl.col("y").cast(enum))
    out = collect(frame.cl.find_label_issues(label="y", pred_probs="p_*"))
    assert out.schema["predicted_label"] == enum
    assert (
        out["predicted_label"].cast(pl.String).to_list()
        == np.array(CLASSES)[p.argmax(axis=1)].tolist()
    )
    # class order in tables = the Enum's order
    cj = class_table(frame.cl.confident_joint(label="y", pred_probs="p_*"))
    assert cj.index.tolist() == ["emu", "dog", "cat"] == cj.columns.tolist()
    joint = class_table(frame.cl.health_summary(label="y", pred_probs="p_*").joint)
    assert joint.index.tolist() == ["emu", "dog", "cat"]
    assert_same_results(out, reference(df))


# ------------------------------------------------------------------------------------------
# column-spec forms
# ------------------------------------------------------------------------------------------
def _array_frames(constructor, y, m: np.ndarray) -> dict:
    """Every form of one array column that the constructor's frame type has, by name."""
    rows = [list(r) for r in m]
    if constructor.kind == "pandas":
        return {"object arrays": pd.DataFrame({"y": y, "pp": list(m)})}
    if constructor.kind == "pandas_arrow":
        y = pd.Series(y).convert_dtypes(dtype_backend="pyarrow")
        return {
            f"ArrowDtype {name}": pd.DataFrame(
                {"y": y, "pp": pd.Series(rows, dtype=pd.ArrowDtype(t))}
            )
            for name, t in [
                ("list", pa.list_(pa.float64())),
                ("fixed_size_list", pa.list_(pa.float64(), m.shape[1])),
            ]
        }
    forms = {"Array": pl.DataFrame({"y": y, "pp": m}), "List": pl.DataFrame({"y": y, "pp": rows})}
    if constructor.kind == "polars_lazy":
        forms = {name: frame.lazy() for name, frame in forms.items()}
    return forms


def test_one_array_column_gives_identical_results(constructor):
    df = data()
    for form, frame in _array_frames(constructor, df["y"].tolist(), df[PROBS].to_numpy()).items():
        out = frame.cl.find_label_issues(label="y", pred_probs="pp", classes=CLASSES)
        assert type(out) is type(frame), form
        assert_same_results(out, reference(df))
        cj = class_table(frame.cl.confident_joint(label="y", pred_probs="pp", classes=CLASSES))
        pd.testing.assert_frame_equal(
            cj,
            class_table(df.cl.confident_joint(label="y", pred_probs="p_*")),
            check_dtype=False,
            check_names=False,
            obj=form,
        )


@pytest.mark.parametrize(
    "spec",
    [
        "p_*",
        PROBS,
        ["p_emu", "p_cat", "p_dog"],  # any order: names decide
        {"cat": "p_cat", "dog": "p_dog", "emu": "p_emu"},
        {"emu": "p_emu", "dog": "p_dog", "cat": "p_cat"},
    ],
    ids=["glob", "list", "list reordered", "dict", "dict reordered"],
)
def test_column_spec_forms_give_identical_results(constructor, spec):
    df = data()
    out = constructor(df).cl.find_label_issues(label="y", pred_probs=spec)
    assert_same_results(out, reference(df))
    assert constructor(df).cl.num_label_issues(
        label="y", pred_probs=spec
    ) == df.cl.num_label_issues(label="y", pred_probs="p_*")


def test_integer_labels_with_array_column_by_column_order(constructor):
    labels, p = _labels_and_probs()
    for form, frame in _array_frames(constructor, labels, p).items():
        out = collect(frame.cl.find_label_issues(label="y", pred_probs="pp"))
        assert to_pandas(out)["predicted_label"].tolist() == p.argmax(axis=1).tolist(), form
        assert dtype_of(out, "predicted_label") == dtype_of(frame, "y"), form


# ------------------------------------------------------------------------------------------
# classes: explicit, inferred, and their order in tables
# ------------------------------------------------------------------------------------------
def test_classes_argument_for_unnamed_columns(constructor):
    df = data()
    renamed = df.rename(columns=dict(zip(PROBS, ["m0", "m1", "m2"])))
    out = constructor(renamed).cl.find_label_issues(label="y", pred_probs="m*", classes=CLASSES)
    assert_same_results(out, reference(df))


def test_classes_argument_overrides_column_names(constructor):
    """classes= maps columns to classes by position, even against the column names."""
    df = data()
    swapped = ["dog", "cat", "emu"]  # p_cat holds dog's probabilities, and vice versa
    out = constructor(df).cl.find_label_issues(label="y", pred_probs=PROBS, classes=swapped)
    other = df.rename(columns={"p_cat": "p_dog", "p_dog": "p_cat"})
    assert_same_results(out, reference(other))


@pytest.mark.parametrize(
    ("columns", "spec"),
    [
        (["p_cat", "p_dog", "p_emu"], "p_*"),
        (["prob_cat", "prob_dog", "prob_emu"], ["prob_cat", "prob_dog", "prob_emu"]),
        (["prob_cat", "prob_dog", "prob_emu"], "prob_*"),
        (["cat_prob", "dog_prob", "emu_prob"], "*_prob"),
        (["cat", "dog", "emu"], ["cat", "dog", "emu"]),
        (["score.cat", "score.dog", "score.emu"], ["score.emu", "score.cat", "score.dog"]),
    ],
    ids=[
        "glob suffix",
        "list prefix",
        "glob prefix",
        "glob ends",
        "bare names",
        "dotted reordered",
    ],
)
def test_class_inference_from_column_names(constructor, columns, spec):
    df = data()
    renamed = df.rename(columns=dict(zip(PROBS, columns)))
    out = constructor(renamed).cl.find_label_issues(label="y", pred_probs=spec)
    assert_same_results(out, reference(df))


def test_class_without_rows_but_with_a_column_is_fine(constructor):
    df = data()
    df["y"] = df["y"].replace({"emu": "dog"})  # no row is labelled emu
    out = collect(constructor(df).cl.find_label_issues(label="y", pred_probs="p_*"))
    pred = to_pandas(out)["predicted_label"].astype(str)
    assert "emu" in set(pred)  # the model still predicts it
    cj = class_table(constructor(df).cl.confident_joint(label="y", pred_probs="p_*"))
    assert cj.index.tolist() == CLASSES and cj.loc["emu"].sum() == 0


@pytest.mark.parametrize(
    ("kwargs", "order"),
    [
        (dict(pred_probs="p_*"), ["cat", "dog", "emu"]),  # column order
        (dict(pred_probs=["p_emu", "p_cat", "p_dog"]), ["emu", "cat", "dog"]),  # column order
        (dict(pred_probs={"dog": "p_dog", "emu": "p_emu", "cat": "p_cat"}), ["dog", "emu", "cat"]),
        (
            dict(pred_probs=["p_emu", "p_cat", "p_dog"], classes=["emu", "cat", "dog"]),
            ["emu", "cat", "dog"],
        ),
    ],
    ids=["glob", "list", "dict", "classes="],
)
def test_class_order_in_tables(constructor, kwargs, order):
    frame = constructor(data())
    cj = class_table(frame.cl.confident_joint(label="y", **kwargs))
    assert cj.index.tolist() == order and cj.columns.tolist() == order
    summary = frame.cl.health_summary(label="y", **kwargs)
    joint = class_table(summary.joint)
    assert joint.index.tolist() == order
    # the same numbers whatever the order
    ref = class_table(data().cl.confident_joint(label="y", pred_probs="p_*"))
    pd.testing.assert_frame_equal(
        cj.loc[CLASSES, CLASSES], ref, check_dtype=False, check_names=False
    )


def test_class_order_of_pandas_category(constructor_indexed):
    df = data()
    df["y"] = pd.Categorical(df["y"], categories=["emu", "cat", "dog"])
    frame = constructor_indexed(df)
    cj = frame.cl.confident_joint(label="y", pred_probs="p_*")
    assert cj.index.tolist() == ["emu", "cat", "dog"] == cj.columns.tolist()
    joint = frame.cl.health_summary(label="y", pred_probs="p_*").joint
    assert joint.index.tolist() == ["emu", "cat", "dog"]


# ------------------------------------------------------------------------------------------
# pandas == polars == LazyFrame for every method (pandera's tests/narwhals/test_parity.py)
# ------------------------------------------------------------------------------------------
def _normal(result):
    """Any result as comparable plain data."""
    if isinstance(result, (int, float, np.integer, np.floating)):
        return ("scalar", float(result))
    if isinstance(result, cleanframe.HealthSummary):
        return (
            "summary",
            round(result.overall_label_health_score, 12),
            result.num_examples,
            result.num_label_issues,
            _normal(result.classes_by_label_quality),
            _normal(result.overlapping_classes),
            _normal(result.joint),
        )
    if isinstance(result, cleanframe.MergedClasses):
        return ("merged", result.mapping, result.pred_probs, result.classes, _normal(result.frame))
    frame = to_pandas(collect(result))
    if "given_label" in frame.columns or frame.index.name == "given_label":
        frame = class_table(frame)
    frame = frame.reset_index(drop=frame.index.name is None)
    out = []  # a list, so that the column order is compared too
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_float_dtype(values.dtype):
            out.append((str(col), np.round(values.to_numpy(dtype=float), 12).tolist()))
        else:
            out.append((str(col), values.astype(str).tolist()))
    return ("frame", out)


PARITY_CALLS = {
    "find_label_issues": dict(),
    "find_label_issues both": dict(filter_by="both", rank_by="normalized_margin"),
    "find_label_issues predicted_neq_given": dict(filter_by="predicted_neq_given"),
    "label_quality_scores": dict(method="confidence_weighted_entropy"),
    "num_label_issues": dict(),
    "confident_joint": dict(),
    "health_summary": dict(),
    "overlapping_classes": dict(),
    "rank_classes_by_label_quality": dict(),
    "overall_label_health_score": dict(),
    "merge_rare_classes": dict(count_threshold=30),
}


def test_parity():
    """One test, every method: the four frame types give the same answers."""
    labels, p = synthetic(300, 4, seed=11, noise=0.25)
    names = ["ant", "bee", "cow", "doe"]
    df = label_frame(labels, p, names)
    df.loc[df.index[:285], "y"] = df["y"].iloc[:285].replace({"doe": "cow"})  # make 'doe' rare
    assert (df["y"] == "doe").sum() < 30
    for call, extra in PARITY_CALLS.items():
        method = call.split()[0]
        results = {}
        for kind in FRAME_TYPES:
            frame = make_frame(kind, df)
            result = getattr(frame.cl, method)(label="y", pred_probs="p_*", **extra)
            if isinstance(frame, pl.LazyFrame) and not isinstance(result, (int, float)):
                table = result.frame if isinstance(result, cleanframe.MergedClasses) else result
                if not isinstance(result, cleanframe.HealthSummary):
                    assert isinstance(table, pl.LazyFrame), (call, type(table))
            results[kind] = _normal(result)
        for kind in FRAME_TYPES[1:]:
            assert results[kind] == results["pandas"], (call, kind)
    # and the ensemble of two models
    df2 = df.assign(**{f"q_{c}": df[f"p_{c}"] ** 2 for c in names})
    df2[[f"q_{c}" for c in names]] = df2[[f"q_{c}" for c in names]].div(
        df2[[f"q_{c}" for c in names]].sum(axis=1), axis=0
    )
    ensemble = {
        kind: _normal(
            cleanframe.ensemble_label_quality_scores(
                make_frame(kind, df2), label="y", pred_probs=["p_*", "q_*"]
            )
        )
        for kind in FRAME_TYPES
    }
    assert all(ensemble[k] == ensemble["pandas"] for k in FRAME_TYPES)


def test_per_class_arguments_by_class_name(constructor):
    frame = constructor(data())
    by_name = collect(
        frame.cl.find_label_issues(
            label="y",
            pred_probs="p_*",
            filter_by="prune_by_class",
            num_to_remove_per_class={"dog": 1, "cat": 2, "emu": 0},
        )
    )
    flagged = to_pandas(by_name).query("is_issue")["y"].astype(str).value_counts().to_dict()
    assert flagged == {"cat": 2, "dog": 1}
    by_order = frame.cl.find_label_issues(
        label="y", pred_probs="p_*", filter_by="prune_by_class", num_to_remove_per_class=[2, 1, 0]
    )
    assert_same_results(by_order, to_pandas(by_name))
    # a confident joint table from confident_joint() can be passed back in
    cj = collect(frame.cl.confident_joint(label="y", pred_probs="p_*"))
    again = frame.cl.find_label_issues(label="y", pred_probs="p_*", confident_joint=cj)
    assert_same_results(again, reference(data()))


def test_results_and_tables_in_the_callers_frame_type(constructor):
    """LazyFrame in, LazyFrame out; and so for every frame type."""
    frame = constructor(data())
    for method in (
        "find_label_issues",
        "label_quality_scores",
        "confident_joint",
        "overlapping_classes",
        "rank_classes_by_label_quality",
    ):
        assert type(getattr(frame.cl, method)(label="y", pred_probs="p_*")) is type(frame), method
    summary = frame.cl.health_summary(label="y", pred_probs="p_*")
    for table in (summary.classes_by_label_quality, summary.overlapping_classes, summary.joint):
        assert type(table) is type(frame)
    # 'dog' (39 rows) and 'emu' (36) are rare, 'cat' (45) is kept: two classes remain
    merged = frame.cl.merge_rare_classes(label="y", pred_probs="p_*", count_threshold=40)
    assert type(merged.frame) is type(frame)
    assert merged.classes == ["cat", "other"]


def test_lazyframe_collects_only_the_columns_it_needs():
    """Another column that fails to compute is never collected, and the result stays lazy."""
    lf = pl.from_pandas(data()).lazy().with_columns(broken=pl.lit("not a number").str.to_integer())
    with pytest.raises(pl.exceptions.ComputeError):
        lf.collect()
    assert lf.cl.num_label_issues(label="y", pred_probs="p_*") == data().cl.num_label_issues(
        label="y", pred_probs="p_*"
    )
    out = lf.cl.find_label_issues(label="y", pred_probs="p_*")
    assert isinstance(out, pl.LazyFrame)
    assert_same_results(out.drop("broken"), reference(data()))
    class_table(lf.cl.confident_joint(label="y", pred_probs="p_*"))


# ------------------------------------------------------------------------------------------
# dataset-level results
# ------------------------------------------------------------------------------------------
def test_health_summary_repr_and_html(constructor):
    frame = constructor(data())
    summary = frame.cl.health_summary(label="y", pred_probs="p_*")
    score = f"{summary.overall_label_health_score:.4f}"
    issues = frame.cl.num_label_issues(label="y", pred_probs="p_*")
    assert summary.num_label_issues == issues and summary.num_examples == 120
    assert summary.overall_label_health_score == pytest.approx(1 - issues / 120)
    text, html = repr(summary), summary._repr_html_()
    for shown in (text, html):
        assert score in shown
        assert f"{issues} of 120" in shown
        for name in CLASSES:
            assert name in shown
    assert html.lstrip().startswith("<") and "<table" in html
    # the count differs from find_label_issues' by design: both reprs say so and name the
    # parameters behind each number
    flagged = int(to_pandas(frame.cl.find_label_issues(label="y", pred_probs="p_*")).is_issue.sum())
    assert flagged != issues
    for shown in (" ".join(text.split()), html.replace("&#x27;", "'")):
        assert "num_label_issues(estimation_method='off_diagonal')" in shown
        assert "find_label_issues flags rows by its filter_by= rule" in shown
        assert "'prune_by_noise_rate'" in shown
    quality = to_pandas(collect(summary.classes_by_label_quality))
    assert sorted(quality["class"]) == CLASSES
    assert quality["label_quality_score"].is_monotonic_increasing  # worst first
    assert quality["num_examples"].sum() == 120


def test_confident_joint_is_labelled_by_class_names(constructor):
    df = data()
    cj = class_table(constructor(df).cl.confident_joint(label="y", pred_probs="p_*"))
    assert cj.index.tolist() == CLASSES and cj.columns.tolist() == CLASSES
    # rows are given labels: each row sums to that class's count (calibrated)
    counts = df["y"].value_counts()
    np.testing.assert_allclose(cj.sum(axis=1).to_numpy(), counts[CLASSES].to_numpy())
    from cleanframe.scoring.classification import count

    codes = pd.Index(CLASSES).get_indexer(df["y"])
    np.testing.assert_array_equal(
        cj.to_numpy(), count.compute_confident_joint(codes, df[PROBS].to_numpy())
    )


def test_overlapping_classes_names_classes(constructor):
    table = to_pandas(
        collect(constructor(data()).cl.overlapping_classes(label="y", pred_probs="p_*"))
    )
    assert list(table.columns) == [
        "class_a",
        "class_b",
        "num_overlapping_examples",
        "joint_probability",
    ]
    assert set(table["class_a"]) | set(table["class_b"]) <= set(CLASSES)
    assert table["joint_probability"].is_monotonic_decreasing


# ------------------------------------------------------------------------------------------
# merge_rare_classes
# ------------------------------------------------------------------------------------------
def _rare_data():
    labels, p = synthetic(200, 5, seed=4, noise=0.2)
    names = ["ant", "bee", "cow", "doe", "elk"]
    df = label_frame(labels, p, names)
    df.loc[df.index[:190], "y"] = df["y"].iloc[:190].replace({"doe": "ant", "elk": "bee"})
    return df, names


def test_merge_rare_classes_round_trip(constructor):
    df, names = _rare_data()
    counts = df["y"].value_counts()
    rare = sorted(c for c in names if counts.get(c, 0) < 10)
    assert rare == ["doe", "elk"]
    merged = constructor(df).cl.merge_rare_classes(label="y", pred_probs="p_*", count_threshold=10)
    assert type(merged.frame) is type(constructor(df))
    assert merged.classes == ["ant", "bee", "cow", "other"]
    assert merged.pred_probs == ["p_ant", "p_bee", "p_cow", "p_other"]
    assert merged.mapping == {
        "ant": "ant",
        "bee": "bee",
        "cow": "cow",
        "doe": "other",
        "elk": "other",
    }
    assert sorted(merged.original_classes("other")) == rare
    out = to_pandas(collect(merged.frame))
    # every row's new label is the mapping of its old label; probabilities summed
    assert out["y"].astype(str).tolist() == [merged.mapping[v] for v in df["y"]]
    np.testing.assert_allclose(out["p_other"], df["p_doe"] + df["p_elk"])
    assert "p_doe" not in out.columns and "p_elk" not in out.columns
    # the merged frame runs through find_label_issues
    issues = to_pandas(
        collect(merged.frame.cl.find_label_issues(label="y", pred_probs=merged.pred_probs))
    )
    assert set(issues["predicted_label"].astype(str)) <= set(merged.classes)
    again = merged.frame.cl.find_label_issues(
        label="y", pred_probs=merged.pred_probs, classes=merged.classes
    )
    assert_same_results(again, issues)


def test_merge_rare_classes_integer_labels(constructor):
    labels, p = synthetic(150, 4, seed=8)
    labels[labels == 3] = 0
    labels[:3] = 3  # class 3 is rare
    df = pd.DataFrame({"y": labels, **{f"p_{i}": p[:, i] for i in range(4)}})
    merged = constructor(df).cl.merge_rare_classes(label="y", pred_probs="p_*", count_threshold=5)
    assert merged.classes == [0, 1, 2, 4] and merged.mapping[3] == 4
    out = to_pandas(collect(merged.frame))
    assert out["y"].tolist() == [merged.mapping[v] for v in labels]
    res = merged.frame.cl.find_label_issues(label="y", pred_probs=merged.pred_probs)
    assert len(to_pandas(collect(res))) == 150


def test_merge_rare_classes_nothing_rare_returns_input(constructor):
    frame = constructor(data())
    merged = frame.cl.merge_rare_classes(label="y", pred_probs="p_*", count_threshold=2)
    assert merged.frame is frame
    assert merged.mapping == {c: c for c in CLASSES} and merged.pred_probs == PROBS


# ------------------------------------------------------------------------------------------
# class_imbalance: the classes that occur, as Datalab
# ------------------------------------------------------------------------------------------
def _imbalanced_labels(seed=9) -> np.ndarray:
    """200 labels, 6 of them 'emu': 0.03 < 0.1 / 3, so the emu rows are flagged."""
    labels = np.array(["cat"] * 120 + ["dog"] * 74 + ["emu"] * 6, dtype=object)
    return np.random.default_rng(seed).permutation(labels)


def _datalab_class_imbalance(labels: np.ndarray) -> pd.DataFrame:
    pytest.importorskip("datasets")  # cleanlab's Datalab needs it (a dev dependency)
    import warnings

    from cleanlab import Datalab

    lab = Datalab(pd.DataFrame({"y": labels}), label_name="y", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(issue_types={"class_imbalance": {}})
    return lab.get_issues("class_imbalance")


def _imbalance_columns(out) -> pd.DataFrame:
    return to_pandas(out)[["class_imbalance_score", "is_class_imbalance_issue"]].reset_index(
        drop=True
    )


def test_class_imbalance_ignores_an_unused_category(constructor):
    """An unused category is not the rarest class (which would score every row 1.0 and flag
    nothing): the scores and flags are those of the plain labels, and Datalab's."""
    labels = _imbalanced_labels()
    ref = _datalab_class_imbalance(labels)
    categorical = pd.Categorical(labels, categories=["zebra", "cat", "dog", "emu"])
    for y in (labels, categorical):
        out = _imbalance_columns(
            cleanframe.class_imbalance(constructor(pd.DataFrame({"y": y})), label="y")
        )
        np.testing.assert_allclose(out["class_imbalance_score"], ref["class_imbalance_score"])
        np.testing.assert_array_equal(
            out["is_class_imbalance_issue"], ref["is_class_imbalance_issue"]
        )
    assert out["class_imbalance_score"].min() == pytest.approx((labels == "emu").mean())
    assert out["is_class_imbalance_issue"].to_numpy().tolist() == (labels == "emu").tolist()
    explicit = cleanframe.class_imbalance(
        constructor(pd.DataFrame({"y": labels})), label="y", classes=["cat", "dog", "emu", "fox"]
    )
    pd.testing.assert_frame_equal(_imbalance_columns(explicit), out)


def test_class_imbalance_ignores_an_unused_enum_value(constructor_polars):
    labels = _imbalanced_labels()
    enum = pl.Enum(["zebra", "cat", "dog", "emu"])
    frame = constructor_polars(pd.DataFrame({"y": labels})).with_columns(pl.col("y").cast(enum))
    out = _imbalance_columns(cleanframe.class_imbalance(frame, label="y"))
    ref = _datalab_class_imbalance(labels)
    np.testing.assert_allclose(out["class_imbalance_score"], ref["class_imbalance_score"])
    np.testing.assert_array_equal(out["is_class_imbalance_issue"], ref["is_class_imbalance_issue"])
    audit = cleanframe.audit(frame, label="y", checks=["class_imbalance"])
    np.testing.assert_allclose(
        to_pandas(audit.issues)["class_imbalance_score"],
        ref["class_imbalance_score"],
    )
