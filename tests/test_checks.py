"""find_issues / audit: every check the columns allow, sharing one kNN graph; the registry."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import cleanframe
from cleanframe import ValidationError
from cleanframe import neighbors as nb
from cleanframe.checks import CHECKS, CheckResult, register, unregister

from .conftest import label_frame, synthetic, to_pandas


@pytest.fixture(scope="module")
def data():
    labels, p = synthetic(400, 3, seed=3)
    df = label_frame(labels, p, ["ant", "bee", "cow"])
    rng = np.random.default_rng(1)
    centers = np.abs(rng.normal(size=(3, 6))) * 5  # three tight clusters in the positive orthant
    emb = centers[labels] + 0.2 * rng.normal(size=(400, 6))
    emb[5] = -centers[0]  # an outlier (cosine: the opposite direction)
    emb[7] = emb[8]  # exact duplicates
    for i in range(6):
        df[f"emb_{i}"] = emb[:, i]
    return df


def columns(frame) -> list:
    return list(to_pandas(frame).columns)


def test_all_checks_run_and_match_the_single_checks(data, constructor):
    frame = constructor(data)
    before = to_pandas(frame).copy()
    out = to_pandas(
        frame.cl.find_issues(label="y", pred_probs="p_*", features="emb_*", progress=False)
    )
    defaults = [name for name, check in CHECKS.items() if check.default]
    assert defaults == ["null", "label", "outlier", "near_duplicate", "non_iid", "class_imbalance"]
    for check in CHECKS:
        if check not in defaults:
            assert f"is_{check}_issue" not in out
            continue
        assert f"is_{check}_issue" in out and f"{check}_score" in out
        assert out[f"{check}_score"].between(0, 1).all()
    flags = np.column_stack([out[f"is_{c}_issue"] for c in defaults])
    np.testing.assert_array_equal(out["is_issue"], flags.any(axis=1))
    # the label check flags what find_label_issues flags with its own defaults
    single = data.cl.find_label_issues(label="y", pred_probs="p_*")
    np.testing.assert_array_equal(out["is_label_issue"], single["is_issue"])
    np.testing.assert_allclose(out["label_score"], single["label_score"])
    assert out.loc[5, "is_outlier_issue"]
    assert out.loc[7, "is_near_duplicate_issue"] and out.loc[8, "is_near_duplicate_issue"]
    # same rows, same order, input untouched
    assert list(out.columns[: len(data.columns)]) == list(data.columns)
    assert len(out) == len(data)
    pd.testing.assert_frame_equal(to_pandas(frame), before)


def test_each_check_equals_its_public_function(data):
    report = cleanframe.audit(data, label="y", pred_probs="p_*", features="emb_*", progress=False)
    out = report.issues
    graph = report.details["knn_graph"]
    singles = {
        "null": (nb.find_null_issues(data, features="emb_*"), "null_score", "is_null_issue"),
        "outlier": (nb.find_outliers(data, knn_graph=graph), "outlier_score", "is_outlier"),
        "near_duplicate": (
            nb.find_near_duplicates(data, knn_graph=graph),
            "near_duplicate_score",
            "is_near_duplicate",
        ),
        "non_iid": (nb.non_iid(data, knn_graph=graph).rows, "non_iid_score", "is_non_iid_issue"),
        "class_imbalance": (
            nb.class_imbalance(data, label="y"),
            "class_imbalance_score",
            "is_class_imbalance_issue",
        ),
    }
    for check, (single, score, flag) in singles.items():
        np.testing.assert_array_equal(out[f"{check}_score"], single[score])
        np.testing.assert_array_equal(out[f"is_{check}_issue"], single[flag])
    np.testing.assert_array_equal(graph.indices, nb.knn_graph(data, features="emb_*").indices)
    res = report.details["non_iid"]
    assert res.p_value == nb.non_iid(data, knn_graph=graph).p_value
    assert "non_iid_score" in res.rows and res.knn_graph is graph
    summary = to_pandas(report.summary).set_index("issue_type")
    assert summary.loc["non_iid", "score"] == res.p_value
    assert summary.loc["outlier", "num_issues"] == out["is_outlier_issue"].sum()
    # without features, outliers come from pred_probs (adjusted by the labels), as find_outliers
    report = cleanframe.audit(data, label="y", pred_probs="p_*")
    single = nb.find_outliers(data, pred_probs="p_*", label="y")
    np.testing.assert_array_equal(report.issues["outlier_score"], single["outlier_score"])
    assert "knn_graph" not in report.details


def test_checks_follow_the_columns_given(data, constructor):
    frame = constructor(data)
    report = frame.cl.audit(label="y", pred_probs="p_*")
    assert report.checks == ["label", "outlier", "non_iid", "class_imbalance"]
    report = frame.cl.audit(features="emb_*", progress=False)
    assert report.checks == ["null", "outlier", "near_duplicate", "non_iid"]
    assert type(report.issues) is type(frame) and type(report.summary) is type(frame)
    summary = to_pandas(report.summary)
    assert list(summary["issue_type"]) == report.checks
    assert "Audit" in repr(report) and "<table" in report._repr_html_()
    only = frame.cl.audit(label="y", pred_probs="p_*", checks=["label"])
    assert only.checks == ["label"] and "is_outlier_issue" not in columns(only.issues)
    # the outlier check on pred_probs needs the labels too: with pred_probs alone it does not run
    assert frame.cl.audit(pred_probs="p_*").checks == ["non_iid"]


def test_graph_and_k_are_shared(data):
    graph = nb.knn_graph(data, features="emb_*", k=15)
    report = cleanframe.audit(data, label="y", knn_graph=graph)
    assert report.checks == ["outlier", "near_duplicate", "non_iid", "class_imbalance"]
    assert report.details["knn_graph"] is graph
    report = cleanframe.audit(data, features="emb_*", k=5, progress=False)
    assert report.details["knn_graph"].k == 5
    # without features, non_iid searches the pred_probs with the same k
    report = cleanframe.audit(data, label="y", pred_probs="p_*", k=5)
    assert report.details["non_iid"].knn_graph.k == 5
    # one array column: no null check (a null array is rejected by the feature check itself)
    arrays = data.drop(columns=[f"emb_{i}" for i in range(6)]).assign(
        emb=list(data[[f"emb_{i}" for i in range(6)]].to_numpy())
    )
    report = cleanframe.audit(arrays, features="emb", progress=False)
    assert report.checks == ["outlier", "near_duplicate", "non_iid"]
    with pytest.raises(ValidationError, match="null"):
        cleanframe.audit(arrays, features="emb", checks=["null"])


def test_bad_audit_requests(data, constructor):
    frame = constructor(data)
    with pytest.raises(ValidationError, match="no check"):
        frame.cl.audit()
    with pytest.raises(ValidationError, match="unknown checks"):
        frame.cl.audit(label="y", checks=["spelling"])
    with pytest.raises(ValidationError, match="near_duplicate"):
        frame.cl.audit(label="y", pred_probs="p_*", checks=["near_duplicate"])
    with pytest.raises(ValidationError, match="is_issue"):
        constructor(data.assign(is_issue=False)).cl.find_issues(label="y", pred_probs="p_*")
    with pytest.raises(ValidationError, match="k=400"):
        frame.cl.audit(features="emb_*", k=400)
    with pytest.raises(ValidationError, match="knn_graph"):
        frame.cl.audit(label="y", knn_graph=nb.knn_graph(data.head(50), features="emb_*"))
    before = to_pandas(frame).copy()
    frame.cl.find_issues(label="y", pred_probs="p_*")
    pd.testing.assert_frame_equal(to_pandas(frame), before)


def test_the_registry_holds_the_checks_with_their_needs():
    assert list(CHECKS) == [
        "null",
        "label",
        "outlier",
        "near_duplicate",
        "non_iid",
        "class_imbalance",
        "underperforming_group",
        "data_valuation",
        "identifier_column",
    ]
    needs = {
        name: [sorted(alternative) for alternative in check.needs] for name, check in CHECKS.items()
    }
    assert needs == {
        "null": [["features"]],
        "label": [["classification"], ["regression"]],
        "outlier": [["graph"], ["classification"]],
        "near_duplicate": [["graph"]],
        "non_iid": [["graph"], ["pred_probs"]],
        "class_imbalance": [["labels"]],
        "underperforming_group": [["classification", "groups"], ["classification", "graph"]],
        "data_valuation": [["graph", "labels"]],
        "identifier_column": [["feature_columns"]],
    }
    assert {name for name, check in CHECKS.items() if not check.default} == {
        "underperforming_group",
        "data_valuation",
        "identifier_column",
    }
    assert {name for name, check in CHECKS.items() if check.tasks == {"classification"}} == {
        "class_imbalance",
        "underperforming_group",
    }
    assert CHECKS["outlier"].params == ["k", "t", "threshold"]
    with pytest.raises(TypeError):
        CHECKS["spelling"] = CHECKS["null"]  # a read-only view: register() adds checks
    with pytest.raises(ValueError, match="already registered"):
        register("null", needs=["features"])(lambda inputs: None)
    with pytest.raises(ValueError, match="needs="):
        register("spelling", needs=["words"])


def test_a_registered_check_runs_in_the_audit(data, constructor):
    seen = {}

    @register("low_first_feature", needs=[("labels", "graph")])
    def low_first_feature(inputs):
        seen["inputs"] = inputs
        scores = np.linspace(0, 1, inputs.graph.n)
        return CheckResult(
            flags=scores < 0.1, scores=scores, score=0.5, details={"n": inputs.graph.n}
        )

    try:
        assert list(CHECKS)[-1] == "low_first_feature"
        report = constructor(data).cl.audit(
            label="y",
            features="emb_*",
            checks=["low_first_feature", "class_imbalance"],
            progress=False,
        )
        assert report.checks == ["class_imbalance", "low_first_feature"]  # registry order
        out = to_pandas(report.issues)
        np.testing.assert_array_equal(out["low_first_feature_score"], np.linspace(0, 1, len(data)))
        assert out["is_low_first_feature_issue"].sum() == (np.linspace(0, 1, len(data)) < 0.1).sum()
        assert report.details["low_first_feature"] == {"n": len(data)}
        summary = to_pandas(report.summary).set_index("issue_type")
        assert summary.loc["low_first_feature", "score"] == 0.5
        # inputs no selected check needs are not resolved
        assert seen["inputs"].classification is None and seen["inputs"].features is None
        # every check the inputs allow runs by default, the new one included; not without a graph
        assert (
            "low_first_feature"
            in constructor(data).cl.audit(label="y", features="emb_*", progress=False).checks
        )
        assert "low_first_feature" not in cleanframe.audit(data, label="y", pred_probs="p_*").checks
    finally:
        unregister("low_first_feature")
    assert "low_first_feature" not in CHECKS


def test_a_registered_check_may_give_its_reasons_as_a_list(data):
    """``CheckResult.reasons`` from a user's check as a plain list (or a Series) reaches
    ``issue_reason`` row by row, as an array does."""

    @register("every_third_row", needs=[("labels", "graph")])
    def every_third_row(inputs):
        n = inputs.graph.n
        flags = np.arange(n) % 3 == 0
        reasons = [f"every_third_row: row {i}" if f else None for i, f in enumerate(flags)]
        return CheckResult(flags=flags, scores=np.where(flags, 0.0, 1.0), reasons=reasons)

    try:
        report = cleanframe.audit(
            data, label="y", features="emb_*", checks=["every_third_row"], progress=False
        )
        reasons = [
            r if isinstance(r, str) else None for r in to_pandas(report.issues)["issue_reason"]
        ]
        assert reasons == [
            f"every_third_row: row {i}" if i % 3 == 0 else None for i in range(len(data))
        ]
    finally:
        unregister("every_third_row")


def test_label_check_agrees_with_find_label_issues_for_many_small_classes(constructor):
    """With many classes of a few rows each, Datalab's min_examples_per_class=10 flags nothing;
    the audit flags what find_label_issues flags, and label_kwargs= passes its arguments on."""
    labels, p = synthetic(600, 120, seed=5, noise=0.3)  # about 5 rows per class
    df = label_frame(labels, p, [f"c{i:03d}" for i in range(120)])
    single = df.cl.find_label_issues(label="y", pred_probs="p_*")
    assert single["is_issue"].sum() > 20
    report = constructor(df).cl.audit(label="y", pred_probs="p_*", checks=["label"])
    out = to_pandas(report.issues)
    np.testing.assert_array_equal(out["is_label_issue"], single["is_issue"])
    np.testing.assert_allclose(out["label_score"], single["label_score"])
    # the report names the arguments, and says what its score counts
    estimated = df.cl.num_label_issues(label="y", pred_probs="p_*")
    text = " ".join(repr(report).split())
    assert "find_label_issues(filter_by='prune_by_noise_rate', min_examples_per_class=1)" in text
    assert f"1 - {estimated}/600, where {estimated} = num_label_issues()" in text
    assert report.notes["label"] in " ".join(report._repr_html_().replace("&#x27;", "'").split())
    summary = to_pandas(report.summary).set_index("issue_type")
    assert summary.loc["label", "score"] == pytest.approx(1 - estimated / 600)

    datalab = constructor(df).cl.audit(
        label="y", pred_probs="p_*", label_kwargs={"min_examples_per_class": 10}
    )
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", min_examples_per_class=10)
    assert not expected["is_issue"].any()
    np.testing.assert_array_equal(to_pandas(datalab.issues)["is_label_issue"], expected["is_issue"])
    assert "min_examples_per_class=10" in datalab.notes["label"]
    both = cleanframe.audit(df, label="y", pred_probs="p_*", label_kwargs={"filter_by": "both"})
    assert "filter_by='both'" in both.notes["label"]
    np.testing.assert_array_equal(
        both.issues["is_label_issue"],
        df.cl.find_label_issues(label="y", pred_probs="p_*", filter_by="both")["is_issue"],
    )
    with pytest.raises(ValidationError, match="label_kwargs.*'threshold'"):
        cleanframe.audit(df, label="y", pred_probs="p_*", label_kwargs={"threshold": 0.5})


def test_headline_counts_rows_and_issues(data):
    report = cleanframe.audit(data, label="y", pred_probs="p_*", features="emb_*", progress=False)
    out = report.issues
    rows = int(out["is_issue"].sum())
    issues = sum(int(out[f"is_{c}_issue"].sum()) for c in report.checks)
    assert issues > rows  # some rows are flagged by two checks
    assert report.rows_with_issues == rows
    headline = f"Audit: {rows} rows with issues ({issues} issues over {len(report.checks)} checks)"
    assert repr(report).splitlines()[0] == headline
    assert f"<h4>{headline}</h4>" in report._repr_html_()


@pytest.mark.parametrize(
    ("kwargs", "ran", "skipped"),
    [
        (
            dict(label="y", pred_probs="p_*", features="emb_*"),
            ["null", "class_imbalance"],
            ["label", "outlier", "near_duplicate", "non_iid"],
        ),
        (
            dict(label="y", pred_probs="p_*"),
            ["class_imbalance"],
            ["label", "outlier", "non_iid"],
        ),
        (dict(features="emb_*"), ["null"], ["outlier", "near_duplicate", "non_iid"]),
        (dict(features="emb_*", checks=["non_iid"]), [], ["non_iid"]),
    ],
    ids=["all", "label and pred_probs", "features", "non_iid only"],
)
def test_one_row_skips_the_checks_it_cannot_run(data, constructor, kwargs, ran, skipped):
    frame = constructor(data.head(1))
    report = frame.cl.audit(progress=False, **kwargs)
    assert report.checks == ran
    assert list(report.skipped) == skipped
    assert "needs at least 2 rows, the frame has 1" in repr(report)
    for name in skipped:
        assert f"{name}: skipped, " in repr(report)
    out = to_pandas(report.issues)
    assert len(out) == 1 and not out["is_issue"].any()
    assert [c for c in out.columns if c.startswith("is_")] == [
        *(f"is_{c}_issue" for c in ran),
        "is_issue",
    ]
    assert repr(report).startswith(f"Audit: 0 rows with issues (0 issues over {len(ran)} check")
    # two rows are enough for every check; an empty frame is still an error
    assert "non_iid" in constructor(data.head(2)).cl.audit(progress=False, **kwargs).checks
    with pytest.raises(ValidationError, match="no rows"):
        constructor(data.head(0)).cl.audit(progress=False, **kwargs)


# ------------------------------------------------------------------------------------------
# missing feature values, degenerate non-IID input, columns on different scales (issue 15)
# ------------------------------------------------------------------------------------------
def test_missing_feature_values_are_reported_and_the_other_checks_run(data, constructor):
    """As Datalab: the null check reports the rows with NaN / null features, the neighbour
    checks run on the other rows (whose results are those of an audit without the incomplete
    rows), and the incomplete rows get score 1, not flagged."""
    emb = [f"emb_{i}" for i in range(6)]
    holey = data.copy()
    holey.loc[[11, 12], "emb_2"] = np.nan
    holey.loc[30, emb] = np.nan
    missing = holey[emb].isna().any(axis=1).to_numpy()
    report = constructor(holey).cl.audit(
        label="y", pred_probs="p_*", features="emb_*", progress=False
    )
    out = to_pandas(report.issues)
    assert report.checks == [
        "null",
        "label",
        "outlier",
        "near_duplicate",
        "non_iid",
        "class_imbalance",
    ]
    assert out["is_null_issue"].tolist() == [i == 30 for i in range(len(out))]
    np.testing.assert_allclose(out.loc[[11, 30], "null_score"], [5 / 6, 0.0])
    complete = to_pandas(
        cleanframe.audit(
            data[~missing], label="y", pred_probs="p_*", features="emb_*", progress=False
        ).issues
    )
    for check in ("outlier", "near_duplicate", "non_iid"):
        flag, score = f"is_{check}_issue", f"{check}_score"
        assert (out.loc[missing, score] == 1.0).all() and not out.loc[missing, flag].any()
        np.testing.assert_allclose(out.loc[~missing, score], complete[score], rtol=1e-12)
        np.testing.assert_array_equal(out.loc[~missing, flag], complete[flag])
        assert "3 rows with missing feature values left out" in report.notes[check]
    assert out.loc[5, "is_outlier_issue"]  # the neighbour checks still find what they find
    # the label checks do not read the features: every row
    np.testing.assert_array_equal(
        out["label_score"],
        to_pandas(cleanframe.audit(data, label="y", pred_probs="p_*").issues)["label_score"],
    )
    assert report.details["knn_graph"].n == len(data) - 3
    assert "left out" in repr(report)
    # the single-check functions still require finite features
    with pytest.raises(ValidationError, match="emb_2"):
        nb.find_outliers(constructor(holey), features="emb_*")


def test_too_few_complete_rows_is_an_error_that_says_why(data):
    emb = [f"emb_{i}" for i in range(6)]
    holey = data.head(5).copy()
    holey.loc[1:, "emb_0"] = np.nan
    with pytest.raises(ValidationError, match="4 of the 5 rows miss some"):
        cleanframe.audit(holey, features=emb, progress=False)


def test_audit_reports_a_non_iid_test_that_cannot_be_done(constructor):
    df = pd.DataFrame({"a": [1.0] * 50, "b": [2.0] * 50, "y": ["u", "v"] * 25})
    with pytest.warns(nb.NonIIDTestWarning):
        report = constructor(df).cl.audit(label="y", features=["a", "b"], progress=False)
    summary = to_pandas(report.summary).set_index("issue_type")
    assert np.isnan(summary.loc["non_iid", "score"])
    assert summary.loc["non_iid", "num_issues"] == 0
    assert "cannot be done" in report.notes["non_iid"] and "cannot be done" in repr(report)
    assert not report.details["non_iid"].testable


def test_audit_standardize(constructor):
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True)
    df = wine.data.assign(y=wine.target)
    columns = list(wine.data.columns)
    with pytest.warns(nb.FeatureScaleWarning, match="proline"):
        raw = cleanframe.audit(constructor(df), label="y", features=columns, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nb.FeatureScaleWarning)
        report = cleanframe.audit(
            constructor(df), label="y", features=columns, standardize=True, progress=False
        )
    out = to_pandas(report.issues)
    single = to_pandas(nb.find_outliers(df, features=columns, standardize=True))
    np.testing.assert_array_equal(out["is_outlier_issue"], single["is_outlier"])
    assert out["is_outlier_issue"].sum() < to_pandas(raw.issues)["is_outlier_issue"].sum()
