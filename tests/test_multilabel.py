"""Multi-label label issues: parity with cleanlab's multilabel_classification, every frame type,
the label forms (list column, Arrow list, integer positions, one-hot), bad inputs, properties."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cleanframe
from cleanframe import multilabel
from cleanframe.errors import ValidationError
from cleanframe.scoring.multilabel import filter as ml_filter
from cleanframe.scoring.multilabel import rank as ml_rank

from .conftest import HYPOTHESIS_SETTINGS, collect, to_pandas

cl_filter = pytest.importorskip("cleanlab.multilabel_classification.filter")
cl_rank = pytest.importorskip("cleanlab.multilabel_classification.rank")
cl_dataset = pytest.importorskip("cleanlab.multilabel_classification.dataset")

CLASSES = ["news", "sport", "tech", "arts", "food"]


def synthetic(n=300, k=5, *, seed=0, flip=0.06):
    """Tags and continuous per-class probabilities (beta draws: no tied scores)."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n, k)) < 0.3
    p = np.where(truth, rng.beta(5, 2, (n, k)), rng.beta(2, 5, (n, k)))
    tags = truth ^ (rng.random((n, k)) < flip)
    tags[:k] = False
    tags[np.arange(k), np.arange(k)] = True  # every class carried by some row
    return tags, p


def frame(tags, p, names=CLASSES):
    k = p.shape[1]
    names = names[:k]
    df = pd.DataFrame({"tags": [[names[j] for j in np.flatnonzero(row)] for row in tags]})
    for j, name in enumerate(names):
        df[f"p_{name}"] = p[:, j]
    return df


def lists(tags):
    return [list(np.flatnonzero(row)) for row in tags]


PRUNE = ("prune_by_noise_rate", "prune_by_class", "both")


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("filter_by", ml_filter.FILTER_BY)
def test_find_label_issues_matches_cleanlab(filter_by, seed):
    tags, p = synthetic(seed=seed)
    options = [{}, {"min_examples_per_class": 40}]
    if filter_by in PRUNE:
        options += [{"frac_noise": 0.5}, {"num_to_remove_per_class": [3, 0, 5, 1, 2]}]
    df = frame(tags, p)
    for kw in options:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = cl_filter.find_label_issues(lists(tags), p, filter_by=filter_by, n_jobs=1, **kw)
            per_class = cl_filter.find_multilabel_issues_per_class(
                lists(tags), p, filter_by=filter_by, n_jobs=1, **kw
            )
            out = df.cl.find_label_issues(label="tags", pred_probs="p_*", filter_by=filter_by, **kw)
            mine = df.cl.class_label_issues(
                label="tags", pred_probs="p_*", filter_by=filter_by, **kw
            )
        assert np.array_equal(out["is_issue"].to_numpy(), ref), kw
        got = np.column_stack([mine[f"is_issue_{c}"].to_numpy() for c in CLASSES])
        assert np.array_equal(got, per_class), kw


def test_find_label_issues_flags_something_and_ranks_like_cleanlab():
    tags, p = synthetic(seed=3)
    ranked = cl_filter.find_label_issues(
        lists(tags), p, return_indices_ranked_by="normalized_margin"
    )
    out = frame(tags, p).cl.find_label_issues(
        label="tags", pred_probs="p_*", rank_by="normalized_margin"
    )
    assert 5 < out["is_issue"].sum() < len(out)
    flagged = out[out["is_issue"]].sort_values("label_score", kind="stable")
    assert flagged.index.tolist() == ranked.tolist()


@pytest.mark.parametrize("method", ml_rank.RANK_METHODS)
@pytest.mark.parametrize("adjust", [False, True])
@pytest.mark.parametrize(
    "aggregator",
    [
        {"method": "exponential_moving_average", "alpha": 0.8},
        {"method": "exponential_moving_average", "alpha": None},
        {"method": "exponential_moving_average", "alpha": 0.3},
        {"method": "softmin", "temperature": 0.1},
        {"method": "softmin", "temperature": 2.0},
    ],
)
def test_label_quality_scores_match_cleanlab(method, adjust, aggregator):
    if adjust and method == "confidence_weighted_entropy":
        pytest.skip("not defined (a ValidationError, tested below)")
    tags, p = synthetic(seed=4)
    ref = cl_rank.get_label_quality_scores(
        lists(tags), p, method=method, adjust_pred_probs=adjust, aggregator_kwargs=aggregator
    )
    kw = {k: v for k, v in aggregator.items() if k != "method"}
    out = frame(tags, p).cl.label_quality_scores(
        label="tags",
        pred_probs="p_*",
        method=method,
        adjust_pred_probs=adjust,
        aggregator=aggregator["method"],
        **kw,
    )
    np.testing.assert_allclose(out["label_score"].to_numpy(), ref, rtol=1e-12, atol=1e-14)
    per_class = cl_rank.get_label_quality_scores_per_class(
        lists(tags), p, method=method, adjust_pred_probs=adjust
    )
    mine = frame(tags, p).cl.class_label_issues(
        label="tags", pred_probs="p_*", method=method, adjust_pred_probs=adjust
    )
    got = np.column_stack([mine[f"label_score_{c}"].to_numpy() for c in CLASSES])
    np.testing.assert_allclose(got, per_class, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", [0, 5])
def test_health_summary_matches_cleanlab(seed):
    tags, p = synthetic(seed=seed)
    ref = cl_dataset.multilabel_health_summary(lists(tags), p, class_names=CLASSES, verbose=False)
    summary = frame(tags, p).cl.health_summary(label="tags", pred_probs="p_*")
    assert summary.overall_label_health_score == pytest.approx(
        ref["overall_multilabel_health_score"], abs=1e-12
    )
    classes = summary.classes_by_label_quality.set_index("class").loc[CLASSES]
    want = ref["classes_by_multilabel_quality"].set_index("Class Name").loc[CLASSES]
    n = len(tags)
    # cleanlab floors noise * N for the counts; cleanframe keeps the exact count
    assert classes["label_issues"].tolist() == [round(v * n) for v in want["Label Noise"]]
    assert classes["inverse_label_issues"].tolist() == [
        round(v * n) for v in want["Inverse Label Noise"]
    ]
    np.testing.assert_allclose(classes["label_noise"], want["Label Noise"])
    np.testing.assert_allclose(classes["label_quality_score"], want["Label Quality Score"])
    qualities = summary.classes_by_label_quality["label_quality_score"].to_numpy()
    assert (np.diff(qualities) >= 0).all()
    common = summary.common_label_issues
    ref_common = ref["common_multilabel_issues"]
    key = ["class", "in_given_label", "num_examples"]
    mine = sorted(map(tuple, common[key].to_numpy().tolist()))
    theirs = sorted(
        map(tuple, ref_common[["Class Name", "In Given Label", "Num Examples"]].values.tolist())
    )
    assert mine == theirs
    assert (np.diff(common["issue_probability"].to_numpy()) <= 0).all()
    assert "overall label health score" in repr(summary)
    assert "<h4>" in summary._repr_html_()


def test_dispatch_from_label_issues_functions():
    tags, p = synthetic(seed=2)
    df = frame(tags, p)
    direct = multilabel.find_label_issues(df, label="tags", pred_probs="p_*")
    routed = cleanframe.find_label_issues(df, label="tags", pred_probs="p_*")
    pd.testing.assert_frame_equal(direct, routed)
    assert cleanframe.overall_label_health_score(
        df, label="tags", pred_probs="p_*"
    ) == multilabel.overall_label_health_score(df, label="tags", pred_probs="p_*")
    table = cleanframe.rank_classes_by_label_quality(df, label="tags", pred_probs="p_*")
    assert list(table.columns)[:3] == ["class", "num_examples", "label_issues"]
    with pytest.raises(TypeError, match="predictions"):
        cleanframe.find_label_issues(df, label="tags", pred_probs="p_*", predictions="p_news")
    with pytest.raises(TypeError):
        cleanframe.find_label_issues(df, label="tags", pred_probs="p_*", no_such_option=1)
    # single-label calls are untouched
    single = pd.DataFrame({"y": ["a", "b", "a"], "p_a": [0.9, 0.2, 0.3], "p_b": [0.1, 0.8, 0.7]})
    assert "predicted_label" in single.cl.find_label_issues(label="y", pred_probs="p_*")


def test_frame_types_agree(constructor):
    tags, p = synthetic(seed=6)
    base = frame(tags, p)
    df = constructor(base)
    result = df.cl.find_label_issues(label="tags", pred_probs="p_*")
    assert type(result) is type(df)  # the caller's frame type (a LazyFrame stays lazy)
    out = to_pandas(collect(result))
    ref = multilabel.find_label_issues(base, label="tags", pred_probs="p_*")
    np.testing.assert_array_equal(out["is_issue"].to_numpy(), ref["is_issue"].to_numpy())
    np.testing.assert_allclose(out["label_score"].to_numpy(), ref["label_score"].to_numpy())
    assert [list(v) for v in out["suggested_tags"]] == [list(v) for v in ref["suggested_tags"]]
    assert set(out["suggested_tags"][0]) <= set(CLASSES)
    per = to_pandas(collect(df.cl.class_label_issues(label="tags", pred_probs="p_*")))
    assert per.filter(like="is_issue_").any(axis=1).tolist() == ref["is_issue"].tolist()
    summary = df.cl.health_summary(label="tags", pred_probs="p_*")
    table = to_pandas(collect(summary.classes_by_label_quality))
    assert sorted(table["class"]) == sorted(CLASSES)
    # the input is not modified
    pd.testing.assert_frame_equal(to_pandas(collect(df)), to_pandas(collect(constructor(base))))


def test_suggested_tags_keep_the_label_dtype():
    df = pl.DataFrame(
        {
            "tags": [["a"], ["a", "b"], []],
            "p_a": [0.9, 0.8, 0.6],
            "p_b": [0.2, 0.9, 0.1],
        },
        schema_overrides={"tags": pl.List(pl.Enum(["a", "b"]))},
    )
    out = df.cl.find_label_issues(label="tags", pred_probs="p_*")
    assert out.schema["suggested_tags"] == pl.List(pl.Enum(["a", "b"]))
    assert out["suggested_tags"].to_list() == [["a"], ["a", "b"], ["a"]]
    ints = pd.DataFrame({"tags": [[0], [0, 1], []], "p_0": [0.9, 0.8, 0.6], "p_1": [0.2, 0.9, 0.1]})
    assert ints.cl.find_label_issues(label="tags", pred_probs="p_*")["suggested_tags"].tolist() == [
        [0],
        [0, 1],
        [0],
    ]


def test_label_forms_agree():
    tags, p = synthetic(seed=7)
    named = frame(tags, p)
    ref = multilabel.find_label_issues(named, label="tags", pred_probs="p_*")
    # integer positions (cleanlab's List[List[int]]) with columns that name no class
    positions = pd.DataFrame({"tags": lists(tags)})
    for j in range(p.shape[1]):
        positions[f"model_{chr(97 + j)}"] = p[:, j]
    out = positions.cl.find_label_issues(
        label="tags", pred_probs=[f"model_{chr(97 + j)}" for j in range(5)], multi_label=True
    )
    assert out["is_issue"].tolist() == ref["is_issue"].tolist()
    # one-hot columns (a glob of booleans)
    onehot = named.drop(columns="tags")
    for j, c in enumerate(CLASSES):
        onehot[f"y_{c}"] = tags[:, j]
    out = onehot.cl.find_label_issues(label="y_*", pred_probs="p_*")
    assert out["is_issue"].tolist() == ref["is_issue"].tolist()
    assert out["suggested_tags"].tolist() == ref["suggested_tags"].tolist()
    # one array column of probabilities, classes given
    arrays = pd.DataFrame({"tags": named["tags"], "probs": list(p)})
    out = arrays.cl.find_label_issues(label="tags", pred_probs="probs", classes=CLASSES)
    assert out["is_issue"].tolist() == ref["is_issue"].tolist()
    # tuples and numpy arrays as rows of an object column
    tuples = named.assign(tags=[tuple(t) for t in named["tags"]])
    assert multilabel.find_label_issues(tuples, label="tags", pred_probs="p_*")[
        "is_issue"
    ].tolist() == (ref["is_issue"].tolist())


def test_rows_need_not_sum_to_one_and_rounding_is_clipped():
    df = pd.DataFrame(
        {"tags": [["a"], ["a", "b"], [], ["b"]], "p_a": [0.9, 1.00005, 0.2, 0.1], "p_b": [0.9] * 4}
    )
    out = df.cl.label_quality_scores(label="tags", pred_probs="p_*")
    assert out["label_score"].between(0, 1).all()


BAD = [
    (pd.DataFrame({"tags": [["a"], ["c"]], "p_a": [0.9, 0.8], "p_b": [0.1, 0.9]}), "known_class"),
    (pd.DataFrame({"tags": [["a"], "b"], "p_a": [0.9, 0.8], "p_b": [0.1, 0.9]}), "list_rows"),
    (pd.DataFrame({"tags": ["a", ["b"]], "p_a": [0.9, 0.8], "p_b": [0.1, 0.9]}), "list_rows"),
    (pd.DataFrame({"tags": [["a"], None], "p_a": [0.9, 0.8], "p_b": [0.1, 0.9]}), "not_null"),
    (pd.DataFrame({"tags": [["a"], ["b"]], "p_a": [0.9, 1.5], "p_b": [0.1, 0.9]}), "in_range"),
    (pd.DataFrame({"tags": [["a"], ["b"]], "p_a": [0.9, -0.2], "p_b": [0.1, 0.9]}), "in_range"),
    (pd.DataFrame({"tags": [["a"], ["b"]], "p_a": [0.9, np.nan], "p_b": [0.1, 0.9]}), "finite"),
    (pd.DataFrame({"tags": [[5], [0]], "p_a": [0.9, 0.8], "p_b": [0.1, 0.9]}), "known_class"),
    (pd.DataFrame({"tags": [["a", None]], "p_a": [0.9], "p_b": [0.1]}), "not_null"),
]


@pytest.mark.parametrize("df,rule", BAD)
def test_bad_inputs_name_the_column_and_rule(df, rule):
    with pytest.raises(ValidationError) as err:
        multilabel.find_label_issues(df, label="tags", pred_probs="p_*", multi_label=True)
    assert err.value.rule == rule
    assert err.value.column in ("tags", "p_a")


def test_bad_inputs_polars_and_arguments():
    df = pl.DataFrame({"tags": [["a"], ["zzz"]], "p_a": [0.9, 0.8], "p_b": [0.1, 0.9]})
    with pytest.raises(ValidationError, match="zzz"):
        df.cl.find_label_issues(label="tags", pred_probs="p_*")
    good = frame(*synthetic(n=60, seed=1))
    for kw, rule in [
        ({"aggregator": "mean"}, "aggregator"),
        ({"alpha": 1.5}, "alpha"),
        ({"aggregator": "softmin", "temperature": -1}, "temperature"),
        ({"aggregator": "softmin", "alpha": 0.5}, "alpha"),
        ({"temperature": 0.5}, "temperature"),
        ({"filter_by": "prune"}, "filter_by"),
        ({"num_to_remove_per_class": [1, 2]}, "shape"),
        ({"num_to_remove_per_class": [1, 2, -1, 0, 0]}, "num_to_remove_per_class"),
        ({"confident_joint": np.ones((5, 3, 2))}, "confident_joint"),
        (
            {"filter_by": "confident_learning", "num_to_remove_per_class": [1] * 5},
            "num_to_remove_per_class",
        ),
        (
            {"rank_by": "confidence_weighted_entropy", "rank_by_kwargs": {"adjust_pred_probs": 1}},
            "adjust_pred_probs",
        ),
    ]:
        with pytest.raises(ValidationError) as err:
            good.cl.find_label_issues(label="tags", pred_probs="p_*", **kw)
        assert err.value.rule == rule, kw
    onehot = pd.DataFrame({"y_a": [1, 2], "y_b": [0, 1], "p_a": [0.9, 0.8], "p_b": [0.1, 0.9]})
    with pytest.raises(ValidationError) as err:
        onehot.cl.find_label_issues(label=["y_a", "y_b"], pred_probs="p_*")
    assert err.value.rule == "one_hot" and err.value.column == "y_a"


def test_confident_joint_is_reused_and_a_square_one_ignored():
    tags, p = synthetic(seed=8)
    df = frame(tags, p)
    cj = ml_filter.confident_joint(tags, p)
    from cleanlab.count import compute_confident_joint

    ref = compute_confident_joint(lists(tags), p, multi_label=True)
    np.testing.assert_array_equal(cj, ref)
    a = df.cl.find_label_issues(label="tags", pred_probs="p_*", confident_joint=cj)
    b = df.cl.find_label_issues(label="tags", pred_probs="p_*")
    assert a["is_issue"].tolist() == b["is_issue"].tolist()
    with pytest.warns(UserWarning, match="ignored"):
        df.cl.find_label_issues(label="tags", pred_probs="p_*", confident_joint=np.ones((5, 5)))


@st.composite
def multilabel_problems(draw):
    n = draw(st.integers(6, 60))
    k = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    tags = rng.random((n, k)) < draw(st.floats(0.05, 0.9))
    p = rng.random((n, k))
    return tags, p


@HYPOTHESIS_SETTINGS
@given(
    problem=multilabel_problems(),
    aggregator=st.sampled_from(["exponential_moving_average", "softmin"]),
)
def test_properties(problem, aggregator):
    tags, p = problem
    df = frame(tags, p, names=[f"c{j}" for j in range(p.shape[1])])
    before = df.copy()
    out = df.cl.find_label_issues(label="tags", pred_probs="p_*", aggregator=aggregator)
    pd.testing.assert_frame_equal(df, before)  # input unchanged
    scores = out["label_score"].to_numpy()
    assert ((scores >= 0) & (scores <= 1 + 1e-12)).all()
    # a row is an issue exactly when one of its classes is
    per = df.cl.class_label_issues(label="tags", pred_probs="p_*")
    assert per.filter(like="is_issue_").any(axis=1).tolist() == out["is_issue"].tolist()
    # the row order does not change any row's score (scores are per row, thresholds global)
    perm = np.random.default_rng(0).permutation(len(df))
    shuffled = df.iloc[perm].cl.label_quality_scores(
        label="tags", pred_probs="p_*", aggregator=aggregator
    )
    np.testing.assert_allclose(shuffled["label_score"].to_numpy(), scores[perm], atol=1e-12)
    # the EMA with alpha=1 is the minimum of the class scores
    low = ml_rank.exponential_moving_average(ml_rank.class_label_quality_scores(tags, p), alpha=1.0)
    np.testing.assert_allclose(low, ml_rank.class_label_quality_scores(tags, p).min(axis=1))
    # polars agrees with pandas
    pl_out = pl.from_pandas(df).cl.find_label_issues(
        label="tags", pred_probs="p_*", aggregator=aggregator
    )
    assert pl_out["is_issue"].to_list() == out["is_issue"].tolist()


def newsgroup_tags():
    """Real data as multi-label: the 20 Newsgroups test set (real out-of-sample pred_probs and
    labels, shipped in cleanframe.datasets) with each newsgroup's name split into tags
    (``comp.sys.mac.hardware`` → comp, sys, mac, hardware) and P(tag) = the summed probability of
    the newsgroups carrying it. A mislabeled post gets wrong tags."""
    df = cleanframe.datasets.load_label_errors("20news")
    groups = [c[2:] for c in df.columns if c.startswith("p_")]
    tags = sorted({t for g in groups for t in g.split(".")})
    carries = np.array([[t in g.split(".") for t in tags] for g in groups], dtype=float)
    p = np.clip(df[[f"p_{g}" for g in groups]].to_numpy(dtype=np.float64) @ carries, 0.0, 1.0)
    out = pd.DataFrame({"tags": [g.split(".") for g in df["label"]]})
    for j, t in enumerate(tags):
        out[f"p_{t}"] = p[:, j]
    return out, tags, [[tags.index(t) for t in g.split(".")] for g in df["label"]], p


def test_real_newsgroup_tags_match_cleanlab():
    df, tags, codes, p = newsgroup_tags()
    ref = cl_filter.find_label_issues(codes, p, n_jobs=1)
    out = pl.from_pandas(df).cl.find_label_issues(label="tags", pred_probs="p_*")
    assert 100 < ref.sum() < 300
    np.testing.assert_array_equal(out["is_issue"].to_numpy(), ref)
    np.testing.assert_allclose(
        out["label_score"].to_numpy(), cl_rank.get_label_quality_scores(codes, p), atol=1e-12
    )
    # the wrong tags point at the label errors of the original single-label task
    single = cleanframe.datasets.load_label_errors("20news").cl.find_label_issues(
        label="label", pred_probs="p_*"
    )
    both = (out["is_issue"].to_numpy() & single["is_issue"].to_numpy()).sum()
    assert both > 0.5 * single["is_issue"].sum()


def test_audit_runs_the_multilabel_task_like_datalab(constructor):
    datalab = pytest.importorskip("cleanlab.datalab.datalab")
    tags, p = synthetic(seed=9)
    rng = np.random.default_rng(9)
    emb = rng.normal(size=(len(tags), 4))
    base = frame(tags, p)
    for j in range(emb.shape[1]):
        base[f"emb_{j}"] = emb[:, j]
    lab = datalab.Datalab(
        data={"tags": lists(tags)}, label_name="tags", task="multilabel", verbosity=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(pred_probs=p, features=emb, issue_types={"label": {}})
    ref = lab.get_issues("label")
    report = constructor(base).cl.audit(
        label="tags", pred_probs="p_*", features="emb_*", progress=False
    )
    assert report.checks == ["null", "label", "outlier", "near_duplicate", "non_iid"]
    assert "class_imbalance" in report.skipped
    issues = to_pandas(collect(report.issues))
    np.testing.assert_array_equal(issues["is_label_issue"].to_numpy(), ref["is_label_issue"])
    np.testing.assert_allclose(issues["label_score"].to_numpy(), ref["label_score"], atol=1e-12)
    summary = to_pandas(collect(report.summary)).set_index("issue_type")
    assert summary.loc["label", "score"] == pytest.approx(
        lab.get_issue_summary("label")["score"].iloc[0], abs=1e-12
    )
    # without features the pred_probs-only outlier check does not apply (as Datalab)
    report = base.cl.audit(label="tags", pred_probs="p_*", progress=False)
    assert "outlier" in report.skipped and "label" in report.checks
