"""The complete audit: a reason for every flagged row, the checks Datalab has beyond the six
(parity with cleanlab's Datalab on the same inputs), per-check parameters, the regression task,
the report (text, HTML, standalone file), save/load."""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cleanframe
from cleanframe import ValidationError
from cleanframe import neighbors as nb
from cleanframe.checks import CHECKS
from cleanframe.scoring.neighbors import noniid
from cleanframe.scoring.neighbors.knn import KnnGraph

from .conftest import to_pandas

D = 8
EMB = [f"emb_{i}" for i in range(D)]
CLASSES = ["ant", "bee", "cow"]


def make_data(n: int = 600, *, seed: int = 0) -> pd.DataFrame:
    """Six clusters of embeddings, labels by cluster with a little noise; the model is poor on
    cluster 2 (an underperforming group), a few far rows, exact and near duplicates."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 6, n)
    centers = rng.normal(size=(6, D)) * 4
    X = centers[cluster] + rng.normal(size=(n, D))
    X[5] = X[3]
    X[40] = X[20] + 1e-4
    X[-3:] = rng.normal(size=(3, D)) * 15
    y = cluster % 3
    noisy = rng.random(n) < 0.08
    y = np.where(noisy, rng.integers(0, 3, n), y)
    P = rng.dirichlet(np.full(3, 0.4), n) * 0.3
    P[np.arange(n), cluster % 3] += 0.7
    bad = cluster == 2
    P[bad] = rng.dirichlet(np.full(3, 0.4), bad.sum()) * 0.1
    P[bad, (y[bad] + 1) % 3] += 0.9
    df = pd.DataFrame(X, columns=EMB)
    df.insert(0, "id", np.arange(100, 100 + n))
    df["y"] = np.asarray(CLASSES, dtype=object)[y]
    for j, c in enumerate(CLASSES):
        df[f"p_{c}"] = P[:, j]
    df["cluster"] = cluster
    return df


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return make_data()


def datalab(df: pd.DataFrame, issue_types: dict | None, *, features=True, pred_probs=True):
    pytest.importorskip("datasets")  # cleanlab's Datalab needs it (a dev dependency)
    from cleanlab import Datalab

    lab = Datalab(df[["y"]], label_name="y", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(
            features=df[EMB].to_numpy() if features else None,
            pred_probs=df[[f"p_{c}" for c in CLASSES]].to_numpy() if pred_probs else None,
            issue_types=copy.deepcopy(issue_types),  # Datalab adds its inputs to the dict
        )
    return lab


ALL = {
    "null": {},
    "label": {},
    "outlier": {},
    "near_duplicate": {},
    "non_iid": {},
    "class_imbalance": {},
    "underperforming_group": {},
    "data_valuation": {},
}


# ------------------------------------------------------------------------------------------
# issue_reason and explain
# ------------------------------------------------------------------------------------------
def test_every_flagged_row_has_a_reason_from_the_checks_numbers(data, constructor):
    frame = constructor(data)
    report = frame.cl.audit(
        label="y", pred_probs="p_*", features="emb_*", checks=ALL, progress=False
    )
    out = to_pandas(report.issues)
    assert out["issue_reason"].notna().tolist() == out["is_issue"].tolist()
    for i in np.flatnonzero(out["is_issue"]):
        parts = out["issue_reason"].iloc[i].split(" | ")
        flagged = [c for c in report.checks if out[f"is_{c}_issue"].iloc[i]]
        assert [p.split(":")[0] for p in parts] == flagged
    P = data[[f"p_{c}" for c in CLASSES]].to_numpy()
    codes = data["y"].map({c: j for j, c in enumerate(CLASSES)}).to_numpy()
    thresholds = [P[codes == j, j].mean() for j in range(3)]
    for i in np.flatnonzero(out["is_label_issue"])[:20]:
        reason = out["issue_reason"].iloc[i].split(" | ")[0]
        given, top = codes[i], int(P[i].argmax())
        expected = f'label: given "{CLASSES[given]}"'
        assert reason.startswith(expected)
        if top != given:
            assert f'the model says "{CLASSES[top]}" ({P[i, top]:.3g})' in reason
        assert f'"{CLASSES[given]}" gets {P[i, given]:.3g}' in reason or top == given
        where = "below" if P[i, given] < thresholds[given] else "at or above"
        assert reason.endswith(f"{where} its confident threshold {thresholds[given]:.3g}")
    # near duplicates name the nearest row (by position) and its distance
    graph = report.details["knn_graph"]
    for i in (3, 5, 20, 40):
        assert out["is_near_duplicate_issue"].iloc[i]
        reason = next(p for p in out["issue_reason"].iloc[i].split(" | ") if "near_dup" in p)
        j = int(graph.indices[i, 0])
        assert reason.startswith(f"near_duplicate: of row {j} (cosine distance ")
    assert report.evidence["near_duplicate"]["nearest_row"][5] == 3
    # outliers: mean distance vs the typical (median) one and the cut
    avg = graph.distances.mean(axis=1)
    for i in np.flatnonzero(out["is_outlier_issue"]):
        reason = next(p for p in out["issue_reason"].iloc[i].split(" | ") if "outlier" in p)
        assert f"nearest neighbours {avg[i]:.3g} (typical {np.median(avg):.3g}" in reason
    assert set(np.flatnonzero(out["is_outlier_issue"])) >= {597, 598, 599}
    # every engine gives the same sentences
    pd_out = to_pandas(
        cleanframe.audit(
            data, label="y", pred_probs="p_*", features="emb_*", checks=ALL, progress=False
        ).issues
    )
    assert out["issue_reason"].fillna("").tolist() == pd_out["issue_reason"].fillna("").tolist()


def test_explain_gives_every_checks_evidence(data, constructor):
    report = constructor(data).cl.audit(
        label="y", pred_probs="p_*", features="emb_*", progress=False
    )
    out = to_pandas(report.issues)
    row = int(np.flatnonzero(out["is_label_issue"] & out["is_near_duplicate_issue"])[0])
    table = to_pandas(report.explain(row))
    assert table["check"].tolist() == report.checks
    for _, r in table.iterrows():
        assert r["flagged"] == out[f"is_{r['check']}_issue"].iloc[row]
        assert r["score"] == out[f"{r['check']}_score"].iloc[row]
        assert (r["reason"] is not None and not pd.isna(r["reason"])) == r["flagged"]
        if r["flagged"]:
            assert r["reason"] in out["issue_reason"].iloc[row]
    label = table.set_index("check").loc["label", "evidence"]
    assert label.startswith(f"given='{data['y'].iloc[row]}', suggested=")
    assert table.set_index("check").loc["near_duplicate", "evidence"].startswith("nearest_row=")
    clean = int(np.flatnonzero(~out["is_issue"])[0])
    assert not to_pandas(report.explain(clean))["flagged"].any()
    assert (
        to_pandas(report.explain(-1))["score"].tolist()
        == to_pandas(report.explain(len(data) - 1))["score"].tolist()
    )
    for bad in (len(data), 1.5, "3", True):
        with pytest.raises(IndexError, match="position"):
            report.explain(bad)


def test_rows_left_out_of_the_graph_get_no_reason_and_positions_stay_right(data):
    holey = data.copy()
    holey.loc[0, "emb_1"] = np.nan  # row 0 leaves the graph: graph positions shift by one
    report = cleanframe.audit(holey, features="emb_*", progress=False)
    out = report.issues
    reason = out["issue_reason"].iloc[5]
    assert reason.startswith("near_duplicate: of row 3 ")
    assert np.isnan(report.evidence["outlier"]["mean_distance"][0])
    assert report.evidence["near_duplicate"]["nearest_row"][0] is None or np.isnan(
        report.evidence["near_duplicate"]["nearest_row"][0]
    )


# ------------------------------------------------------------------------------------------
# the checks beyond the six, and per-check parameters: parity with Datalab
# ------------------------------------------------------------------------------------------
def datalab_graph(lab) -> KnnGraph:
    """Datalab's stored kNN graph, its rows' neighbours in its own order (``KnnGraph.from_csr``
    would order tied neighbours by row, and KNN-Shapley reads the order)."""
    csr = lab.get_info("statistics")["weighted_knn_graph"]
    n = csr.shape[0]
    return KnnGraph(csr.indices.reshape(n, -1), csr.data.reshape(n, -1), "cosine")


ORDER_SENSITIVE = ("non_iid", "data_valuation")  # read the order of tied neighbours


def assert_checks_equal(out, expected, checks, *, graph_rows=None):
    for check in checks:
        flag, score = f"is_{check}_issue", f"{check}_score"
        rows = np.ones(len(out), bool)
        if graph_rows is not None and check in ORDER_SENSITIVE:
            rows = graph_rows
        np.testing.assert_array_equal(out[flag][rows], expected[flag][rows], err_msg=check)
        np.testing.assert_allclose(
            out[score][rows], expected[score][rows], rtol=1e-9, atol=1e-12, err_msg=check
        )


@pytest.mark.parametrize("graph", ["datalab's graph", "own graph"])
def test_every_check_equals_datalabs_on_the_same_inputs(data, graph):
    lab = datalab(data, ALL)
    expected = lab.get_issues()
    theirs = datalab_graph(lab)
    report = cleanframe.audit(
        data,
        label="y",
        pred_probs="p_*",
        features="emb_*",
        knn_graph=theirs if graph == "datalab's graph" else None,
        checks=ALL,
        label_kwargs={"min_examples_per_class": 10},
        progress=False,
    )
    out = to_pandas(report.issues)
    assert report.checks == list(ALL)
    same = None
    if graph == "own graph":
        # the exact search breaks ties between equidistant neighbours (rows 3 and 5 are exact
        # copies) by row order, sklearn by its own: the checks that read the neighbours' order
        # are compared on the rows whose neighbour lists are the same, and that no such list
        # holds (KNN-Shapley values a row from the lists it is in)
        ours = report.details["knn_graph"].indices
        differ = (ours != theirs.indices).any(axis=1)
        assert differ.sum() <= 5
        same = ~differ
        same[np.unique(np.concatenate([ours[differ].ravel(), theirs.indices[differ].ravel()]))] = (
            False
        )
        # non_iid re-draws the neighbours that ties among exact copies chose (on the graphs
        # cleanframe builds): on every row it equals the test on Datalab's graph with the same
        # re-draw, whichever copies each graph listed
        redrawn = noniid.non_iid(
            theirs.indices, distances=theirs.distances, metric="cosine", redraw=True
        )
        assert redrawn["redrawn"].any()
        np.testing.assert_array_equal(out["non_iid_score"], redrawn["scores"])
        np.testing.assert_array_equal(out["is_non_iid_issue"], redrawn["is_issue"])
        assert report.details["non_iid"].p_value == redrawn["p_value"]
    checked = [c for c in ALL if same is None or c != "non_iid"]
    assert_checks_equal(out, expected, checked, graph_rows=same)
    summary = to_pandas(report.summary).set_index("issue_type")
    theirs_summary = lab.get_issue_summary().set_index("issue_type")
    for check in ALL:
        if same is not None and check in ORDER_SENSITIVE:
            continue  # compared above on the rows the ties do not reach
        assert summary.loc[check, "num_issues"] == theirs_summary.loc[check, "num_issues"]
        rel = 1e-9
        assert summary.loc[check, "score"] == pytest.approx(
            theirs_summary.loc[check, "score"], rel=rel
        ), check
    assert out["is_underperforming_group_issue"].sum() > 50  # the poor cluster is found
    assert (data.loc[out["is_underperforming_group_issue"], "cluster"] == 2).all()
    assert out["is_data_valuation_issue"].any()


def test_underperforming_group_from_a_group_column_equals_datalabs_cluster_ids(data, constructor):
    lab = datalab(data, {"underperforming_group": {"cluster_ids": data["cluster"].to_numpy()}})
    expected = lab.get_issues()
    report = constructor(data).cl.audit(
        label="y", pred_probs="p_*", group="cluster", checks=["underperforming_group"]
    )
    out = to_pandas(report.issues)
    np.testing.assert_array_equal(
        out["is_underperforming_group_issue"], expected["is_underperforming_group_issue"]
    )
    np.testing.assert_allclose(
        out["underperforming_group_score"], expected["underperforming_group_score"], rtol=1e-12
    )
    assert (data.loc[out["is_underperforming_group_issue"], "cluster"] == 2).all()
    reason = out.loc[out["is_underperforming_group_issue"], "issue_reason"].iloc[0]
    assert reason.startswith("underperforming_group: in group 2 (")
    assert "group=" in report.notes["underperforming_group"]
    # groups as strings: sorted values give the ids; a null row belongs to no group
    named = data.assign(cluster=data["cluster"].map(lambda c: f"g{c}").astype(object))
    named.loc[0, "cluster"] = None
    again = to_pandas(
        cleanframe.audit(
            named, label="y", pred_probs="p_*", group="cluster", checks=["underperforming_group"]
        ).issues
    )
    assert again["is_underperforming_group_issue"].sum() == (
        out["is_underperforming_group_issue"].sum() - bool(out["is_underperforming_group_issue"][0])
    )
    with pytest.raises(ValidationError, match="group"):
        cleanframe.audit(
            data, label="y", pred_probs="p_*", group="nope", checks=["underperforming_group"]
        )


def test_no_group_big_enough_flags_nothing_and_says_so(data):
    report = cleanframe.audit(
        data, label="y", pred_probs="p_*", group="id", checks=["underperforming_group"]
    )
    out = report.issues
    assert not out["is_underperforming_group_issue"].any()
    assert (out["underperforming_group_score"] == 1).all()
    assert "no group of at least 5 rows" in report.notes["underperforming_group"]


@pytest.mark.parametrize(
    "params",
    [
        {"outlier": {"threshold": 0.2, "k": 5}, "near_duplicate": {"threshold": 0.3}},
        {"data_valuation": {"k": 5, "threshold": 0.499}, "class_imbalance": {"threshold": 0.5}},
        {"underperforming_group": {"threshold": 0.04, "min_cluster_samples": 20, "eps": 2.0}},
        {"non_iid": {"num_permutations": 10, "significance_threshold": 0.5}},
    ],
    ids=["outlier+near_duplicate", "valuation+imbalance", "group", "non_iid"],
)
def test_per_check_parameters_equal_datalabs(data, params):
    lab = datalab(data, params)
    expected = lab.get_issues()
    report = cleanframe.audit(
        data,
        label="y",
        pred_probs="p_*",
        features="emb_*",
        knn_graph=datalab_graph(lab),
        checks=params,
        progress=False,
    )
    out = to_pandas(report.issues)
    assert report.checks == [c for c in CHECKS if c in params]
    assert_checks_equal(out, expected, params)
    # the parameters change the result
    default = to_pandas(
        cleanframe.audit(
            data,
            label="y",
            pred_probs="p_*",
            knn_graph=datalab_graph(lab),
            checks=list(params),
            progress=False,
        ).issues
    )
    assert any(
        not out[f"{c}_score"].equals(default[f"{c}_score"])
        or not out[f"is_{c}_issue"].equals(default[f"is_{c}_issue"])
        for c in params
    )


def test_label_parameters_through_checks_and_bad_parameters(data):
    via_checks = cleanframe.audit(
        data, label="y", pred_probs="p_*", checks={"label": {"filter_by": "both"}}
    )
    single = data.cl.find_label_issues(label="y", pred_probs="p_*", filter_by="both")
    np.testing.assert_array_equal(via_checks.issues["is_label_issue"], single["is_issue"])
    assert "filter_by='both'" in via_checks.notes["label"]
    with pytest.raises(ValidationError, match=r'checks\["outlier"\].*\[.k., .t., .threshold.\]'):
        cleanframe.audit(data, features="emb_*", checks={"outlier": {"cut": 1}}, progress=False)
    with pytest.raises(ValidationError, match="unknown checks"):
        cleanframe.audit(data, features="emb_*", checks={"outliers": {}}, progress=False)
    with pytest.raises(ValidationError, match="dict of keyword"):
        cleanframe.audit(data, features="emb_*", checks={"outlier": 0.2}, progress=False)
    with pytest.raises(ValidationError, match="list of names"):
        cleanframe.audit(data, features="emb_*", checks="outlier", progress=False)
    for check, params, match in [
        ("outlier", {"threshold": 1.5}, r'\["threshold"\] must be a number in \[0.0, 1.0\]'),
        ("outlier", {"t": 0}, "t"),
        ("outlier", {"k": 11}, "holds 10 neighbours"),
        ("near_duplicate", {"threshold": -1}, "threshold"),
        ("non_iid", {"num_permutations": 0}, "integer"),
        ("data_valuation", {"k": 2.5}, "integer"),
        ("underperforming_group", {"eps": float("nan")}, "eps"),
        ("class_imbalance", {"threshold": "0.1"}, "threshold"),
    ]:
        with pytest.raises(ValidationError, match=match):
            cleanframe.audit(
                data,
                label="y",
                pred_probs="p_*",
                features="emb_*",
                checks={check: params},
                progress=False,
            )


def test_identifier_column_equals_datalabs(data):
    pytest.importorskip("datasets")
    from cleanlab import Datalab
    from cleanlab.datalab.internal.issue_manager.identifier_column import (
        IdentifierColumnIssueManager,
    )

    frame = data.assign(flag=np.arange(len(data)) % 2, shifted=np.arange(len(data))[::-1] * 2)
    columns = ["id", *EMB, "flag", "shifted"]
    manager = IdentifierColumnIssueManager(Datalab(frame[["y"]], label_name="y", verbosity=0))
    manager.find_issues(features=frame[columns])
    report = cleanframe.audit(frame, features=columns, checks=["identifier_column"])
    found = report.details["identifier_column"]["identifier_columns"]
    assert found == [columns[i] for i in manager.info["identifier_columns"]] == ["id", "flag"]
    summary = to_pandas(report.summary).set_index("issue_type")
    assert summary.loc["identifier_column", "score"] == manager.summary["score"][0] == 0.0
    assert not report.issues["is_identifier_column_issue"].any()
    assert "['id', 'flag']" in report.notes["identifier_column"]
    clean = cleanframe.audit(frame, features=EMB, checks=["identifier_column"])
    assert to_pandas(clean.summary)["score"].tolist() == [1.0]


def test_the_new_checks_run_only_when_asked(data, constructor):
    report = constructor(data).cl.audit(
        label="y", pred_probs="p_*", features="emb_*", progress=False
    )
    assert report.checks == [
        "null",
        "label",
        "outlier",
        "near_duplicate",
        "non_iid",
        "class_imbalance",
    ]
    assert report.available == ["underperforming_group", "data_valuation", "identifier_column"]
    assert "when asked (checks=): ['underperforming_group'" in " ".join(repr(report).split())
    with pytest.raises(ValidationError, match="underperforming_group"):
        cleanframe.audit(data, label="y", features="emb_*", checks=["underperforming_group"])
    with pytest.raises(ValidationError, match="data_valuation"):
        cleanframe.audit(data, pred_probs="p_*", features="emb_*", checks=["data_valuation"])


# ------------------------------------------------------------------------------------------
# the regression task
# ------------------------------------------------------------------------------------------
def regression_data(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = X @ rng.normal(size=6) + 0.1 * rng.normal(size=n)
    pred = y + 0.2 * rng.normal(size=n)
    y[[3, 7]] += 8  # two wrong targets
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    df["price"], df["pred"] = y, pred
    return df


def test_regression_audit_equals_datalabs_regression_task(constructor):
    pytest.importorskip("datasets")
    from cleanlab import Datalab

    df = regression_data()
    X = df[[f"f{i}" for i in range(6)]].to_numpy()
    lab = Datalab(df[["price"]], label_name="price", task="regression", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(features=X, pred_probs=df["pred"].to_numpy())
    expected = lab.get_issues()
    report = constructor(df).cl.audit(
        label="price", predictions="pred", features="f*", progress=False
    )
    out = to_pandas(report.issues)
    assert report.task == "regression"
    assert report.checks == ["null", "label", "outlier", "near_duplicate", "non_iid"]
    assert_checks_equal(out, expected, report.checks)
    assert out.index[out["is_label_issue"]].tolist() == [3, 7]
    reason = out["issue_reason"][3]
    assert reason.startswith(f"label: given {df['price'][3]:.3g}, predicted {df['pred'][3]:.3g}")
    # checks that do not apply are not run, and the report says why
    assert report.skipped == {
        "class_imbalance": "it applies to classification only, the task is regression"
    }
    assert "class_imbalance: skipped, it applies to classification only" in repr(report)
    with pytest.raises(ValidationError, match="do not apply"):
        cleanframe.audit(df, label="price", predictions="pred", checks=["class_imbalance"])
    # the same label check as regression.find_label_issues, and its parameters
    single = cleanframe.regression.find_label_issues(df, label="price", predictions="pred")
    np.testing.assert_array_equal(out["label_score"], single["label_score"])
    loose = cleanframe.audit(
        df, label="price", predictions="pred", checks={"label": {"threshold": 0.5}}
    )
    wide = cleanframe.regression.find_label_issues(
        df, label="price", predictions="pred", threshold=0.5
    )
    np.testing.assert_array_equal(loose.issues["is_label_issue"], wide["is_issue"])
    assert "0.5 x median" in loose.notes["label"]


def test_regression_data_valuation_equals_datalabs():
    pytest.importorskip("datasets")
    from cleanlab import Datalab

    df = regression_data()
    df["price"] = df["price"].round(0)  # equal targets among neighbours
    lab = Datalab(df[["price"]], label_name="price", task="regression", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(
            features=df[[f"f{i}" for i in range(6)]].to_numpy(),
            issue_types={"data_valuation": {}},
        )
    report = cleanframe.audit(
        df, label="price", predictions="pred", features="f*", checks=["data_valuation"]
    )
    assert_checks_equal(to_pandas(report.issues), lab.get_issues(), ["data_valuation"])


def test_bad_regression_requests():
    df = regression_data(50)
    with pytest.raises(ValidationError, match="not both"):
        cleanframe.audit(df, label="price", predictions="pred", pred_probs="f*")
    with pytest.raises(ValidationError, match="needs label="):
        cleanframe.audit(df, predictions="pred", features="f*")
    with pytest.raises(ValidationError, match="label_kwargs.*filter_by"):
        cleanframe.audit(df, label="price", predictions="pred", label_kwargs={"filter_by": "x"})
    with pytest.raises(ValidationError, match="nope"):
        cleanframe.audit(df, label="price", predictions="nope")


# ------------------------------------------------------------------------------------------
# the report: text, notebook HTML, standalone HTML, save / load
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report(data):
    return cleanframe.audit(
        data, label="y", pred_probs="p_*", features="emb_*", checks=ALL, progress=False
    )


def test_report_text_explains_each_check_and_shows_the_worst_rows(report, data):
    text = repr(report)
    out = to_pandas(report.issues)
    for check in report.checks:
        count = int(out[f"is_{check}_issue"].sum())
        header = f"-- {check}: {count:,} row{'' if count == 1 else 's'} flagged --"
        assert header in text
        # the count agrees with the summary table and the per-row column
        summary = to_pandas(report.summary).set_index("issue_type")
        assert summary.loc[check, "num_issues"] == count
    assert "Review the worst rows first" in text  # what to do about label issues
    worst = report.worst_rows("label")
    assert list(worst.columns) == ["y", "id", "cluster", "label_score", "reason"]
    flagged = out[out["is_label_issue"]].sort_values("label_score", kind="stable")
    assert worst.index.tolist() == flagged.index[:5].tolist()
    assert worst["reason"].str.startswith("label: given").all()
    assert str(worst.index[0]) in text.split("-- label:")[1]
    with pytest.raises(KeyError, match="did not run"):
        report.worst_rows("spelling")


def test_report_html_and_standalone_file(report, tmp_path):
    html = report._repr_html_()
    for check in report.checks:
        assert f'<h5 id="check-{check}">{check}: ' in html
    assert "<table" in html and html.count("data:image/png") == 4  # the plots too
    path = tmp_path / "audit.html"
    page = report.to_html(path)
    assert path.read_text(encoding="utf-8") == page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    titles = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert titles == [
        "Scores per check",
        "Label issues per class",
        "Confident joint",
        "Outliers and near duplicates",
    ]
    assert page.count("data:image/png;base64,") == 4
    assert "Review the worst rows first" in page


def test_report_names_an_approximate_graph_and_its_recall(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nb.ApproximateNeighborsWarning)
        graph = nb.knn_graph(data, features="emb_*", approximate=True, progress=False)
    report = cleanframe.audit(data, label="y", knn_graph=graph, progress=False)
    if graph.approximate:
        assert f"estimated recall@{graph.k}" in repr(report)
        assert f"estimated recall@{graph.k}" in report.to_html()


def test_save_and_load_without_recomputing(report, tmp_path):
    folder = report.save(tmp_path / "audit")
    assert sorted(p.name for p in folder.iterdir()) == [
        "audit.json",
        "evidence.parquet",
        "issues.parquet",
        "knn_graph.parquet",
    ]
    again = cleanframe.Audit.load(folder)
    pd.testing.assert_frame_equal(to_pandas(again.issues), to_pandas(report.issues))
    pd.testing.assert_frame_equal(to_pandas(again.summary), to_pandas(report.summary))
    assert repr(again) == repr(report)
    assert again.checks == report.checks and again.notes == report.notes
    np.testing.assert_array_equal(
        again.details["knn_graph"].indices, report.details["knn_graph"].indices
    )
    np.testing.assert_array_equal(
        again.details["label"]["confident_joint"], report.details["label"]["confident_joint"]
    )
    assert again.details["non_iid"]["p_value"] == report.details["non_iid"].p_value
    for check, numbers in report.evidence.items():
        for name, values in numbers.items():
            assert list(again.evidence[check][name]) == list(values), (check, name)
    pd.testing.assert_frame_equal(to_pandas(again.explain(5)), to_pandas(report.explain(5)))
    assert again.to_html().count("data:image/png") == 4
    with pytest.raises(FileNotFoundError, match="audit.json"):
        cleanframe.Audit.load(tmp_path)


def test_every_frame_type_saves_and_loads(tmp_path, constructor, data):
    small = constructor(data).cl.audit(label="y", pred_probs="p_*", checks=["label"])
    reopened = cleanframe.Audit.load(small.save(tmp_path / constructor.kind))
    assert "knn_graph" not in reopened.details
    assert (
        reopened.issues["is_label_issue"].tolist()
        == to_pandas(small.issues)["is_label_issue"].tolist()
    )


# ------------------------------------------------------------------------------------------
# invariants
# ------------------------------------------------------------------------------------------
@settings(deadline=None, max_examples=15)
@given(
    n=st.integers(8, 60),
    seed=st.integers(0, 2**16),
    duplicates=st.integers(0, 4),
)
def test_reasons_are_given_exactly_for_the_flags(n, seed, duplicates):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:duplicates] = X[n - duplicates :] if duplicates else X[:0]
    P = rng.dirichlet(np.ones(3), n)
    df = pd.DataFrame(X, columns=[f"e{i}" for i in range(4)])
    df["y"] = np.asarray(CLASSES, dtype=object)[rng.integers(0, 3, n)]
    df["y"] = df["y"].where(np.arange(n) >= 3, pd.Series(CLASSES)[np.arange(n) % 3].to_numpy())
    for j, c in enumerate(CLASSES):
        df[f"p_{c}"] = P[:, j]
    checks = {**ALL, "data_valuation": {"k": 3}}
    report = cleanframe.audit(
        df, label="y", pred_probs="p_*", features="e*", k=3, checks=checks, progress=False
    )
    out = report.issues
    assert out["issue_reason"].notna().tolist() == out["is_issue"].tolist()
    for i in range(n):
        flagged = [c for c in report.checks if out[f"is_{c}_issue"].iloc[i]]
        text = out["issue_reason"].iloc[i]
        named = [] if not isinstance(text, str) else [p.split(":")[0] for p in text.split(" | ")]
        assert named == flagged
    summary = to_pandas(report.summary).set_index("issue_type")["num_issues"]
    assert summary.to_dict() == {c: int(out[f"is_{c}_issue"].sum()) for c in report.checks}
