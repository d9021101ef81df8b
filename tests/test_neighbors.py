"""Public embedding-space checks (cleanframe.neighbors) on every frame type, against cleanlab's
Datalab / OutOfDistribution from raw features, and on bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from cleanframe import ValidationError
from cleanframe import neighbors as nb
from cleanframe.scoring.neighbors import knn as _knn

from .conftest import to_pandas

D = 12
EMB = [f"emb_{i}" for i in range(D)]


def make_data(n=300, *, seed=0, d=D):
    """Clustered embeddings with exact and near duplicates and a few far rows, a label column
    with a rare class, and pred_probs."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(4, d)) * 3
    X = centers[rng.integers(0, 4, n)] + rng.normal(size=(n, d))
    X[5] = X[3]
    X[min(40, n - 5)] = X[20 % n] + 1e-3
    X[-4:] = rng.normal(size=(4, d)) * 10
    labels = np.where(rng.random(n) < 0.015, "rare", np.where(rng.random(n) < 0.5, "a", "b"))
    P = rng.dirichlet(np.full(3, 0.5), n)
    df = pd.DataFrame(X, columns=[f"emb_{i}" for i in range(d)])
    df["y"] = labels
    for j, c in enumerate(["a", "b", "rare"]):
        df[f"p_{c}"] = P[:, j]
    return df, X


def jaccard(a, b):
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = (a | b).sum()
    return 1.0 if union == 0 else (a & b).sum() / union


def datalab(df, X, issue_types, pred_probs=None):
    pytest.importorskip("datasets")  # cleanlab's Datalab needs it (a dev dependency)
    from cleanlab import Datalab

    lab = Datalab(df[["y"]], label_name="y", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(features=X, pred_probs=pred_probs, issue_types=issue_types)
    return lab


# ------------------------------------------------------------------------------------------
# every frame type gives the same result, input untouched, index kept
# ------------------------------------------------------------------------------------------
def test_results_equal_across_frame_types(constructor):
    data, _ = make_data()
    data.index = pd.RangeIndex(100, 100 + len(data))
    if constructor.kind != "pandas":
        data = data.reset_index(drop=True)
    frame = constructor(data)
    before = to_pandas(frame).copy()
    ref = data.copy()

    out = to_pandas(nb.find_outliers(frame, features="emb_*"))
    exp = nb.find_outliers(ref, features="emb_*")
    np.testing.assert_allclose(
        out["outlier_score"].to_numpy(float), exp["outlier_score"].to_numpy(float)
    )
    np.testing.assert_array_equal(
        out["is_outlier"].to_numpy(bool), exp["is_outlier"].to_numpy(bool)
    )
    if constructor.kind == "pandas":
        assert out.index.equals(data.index)

    dup = to_pandas(nb.find_near_duplicates(frame, features=EMB))
    exp = nb.find_near_duplicates(ref, features=EMB)
    for col in ("near_duplicate_score", "is_near_duplicate", "near_duplicate_set"):
        np.testing.assert_array_equal(dup[col].to_numpy(), exp[col].to_numpy())

    res = nb.non_iid(frame, features="emb_*")
    assert res.p_value == nb.non_iid(ref, features="emb_*").p_value
    assert type(res.rows) is type(frame)

    imb = to_pandas(nb.class_imbalance(frame, label="y"))
    np.testing.assert_array_equal(
        imb["is_class_imbalance_issue"].to_numpy(bool), (data["y"] == "rare").to_numpy()
    )

    ood = to_pandas(nb.find_outliers(frame, pred_probs="p_*", label="y"))
    exp = nb.find_outliers(ref, pred_probs="p_*", label="y")
    np.testing.assert_allclose(
        ood["outlier_score"].to_numpy(float), exp["outlier_score"].to_numpy(float)
    )

    pd.testing.assert_frame_equal(to_pandas(frame), before)  # input not modified


def test_result_types_and_new_columns(constructor):
    data, _ = make_data(n=80)
    frame = constructor(data)
    out = nb.find_near_duplicates(frame, features="emb_*")
    assert type(out) is type(frame)
    cols = (
        list(out.collect_schema().names()) if isinstance(out, pl.LazyFrame) else list(out.columns)
    )
    assert cols[-3:] == ["near_duplicate_score", "is_near_duplicate", "near_duplicate_set"]
    got = to_pandas(out)
    assert got["near_duplicate_set"].dtype == np.int64
    assert ((got["near_duplicate_set"] >= 0) == got["is_near_duplicate"]).all()


def test_array_column_equals_column_list():
    data, X = make_data()
    as_list = nb.find_outliers(data, features=EMB)
    pandas_arrays = data.drop(columns=EMB).assign(embedding=list(X))
    polars_array = pl.from_pandas(data.drop(columns=EMB)).with_columns(
        pl.Series("embedding", X, dtype=pl.Array(pl.Float64, D))
    )
    for frame in (pandas_arrays, polars_array, polars_array.lazy()):
        got = to_pandas(nb.find_outliers(frame, features="embedding"))
        np.testing.assert_allclose(
            got["outlier_score"].to_numpy(float), as_list["outlier_score"].to_numpy(float)
        )


def test_float32_embeddings_work():
    data, X = make_data()
    f32 = pl.from_pandas(data).with_columns(pl.col(EMB).cast(pl.Float32))
    got = to_pandas(nb.find_outliers(f32, features=EMB))
    ref = nb.find_outliers(data, features=EMB)
    assert spearmanr(got["outlier_score"], ref["outlier_score"]).statistic > 0.9999


# ------------------------------------------------------------------------------------------
# one graph, reused
# ------------------------------------------------------------------------------------------
def test_graph_reuse_gives_the_same_results(constructor):
    data, _ = make_data()
    frame = constructor(data)
    g = nb.knn_graph(frame, features="emb_*")
    a = to_pandas(nb.find_outliers(frame, features="emb_*"))
    b = to_pandas(nb.find_outliers(frame, knn_graph=g))
    pd.testing.assert_frame_equal(a, b)
    c, g2 = nb.find_near_duplicates(frame, features="emb_*", return_knn_graph=True)
    np.testing.assert_array_equal(g2.indices, g.indices)
    pd.testing.assert_frame_equal(
        to_pandas(c), to_pandas(nb.find_near_duplicates(frame, knn_graph=g))
    )
    assert nb.non_iid(frame, knn_graph=g).p_value == nb.non_iid(frame, features="emb_*").p_value
    # a cleanlab-style CSR graph is accepted too
    csr = nb.find_outliers(frame, knn_graph=g.to_csr(), metric="cosine")
    pd.testing.assert_frame_equal(b, to_pandas(csr))


def test_larger_graph_k_parameter(constructor):
    data, _ = make_data()
    frame = constructor(data)
    g = nb.knn_graph(frame, features="emb_*", k=20)
    a = to_pandas(nb.find_outliers(frame, knn_graph=g, k=10))
    b = to_pandas(nb.find_outliers(frame, features="emb_*", k=10))
    np.testing.assert_allclose(a["outlier_score"], b["outlier_score"])
    a = to_pandas(nb.find_near_duplicates(frame, knn_graph=g, k=3))
    b = to_pandas(nb.find_near_duplicates(frame, features="emb_*", k=3))
    np.testing.assert_array_equal(a["near_duplicate_set"], b["near_duplicate_set"])


def test_array_paths_are_the_public_functions():
    """The array-level paths (shared with the audit) give the public functions' columns."""
    data, X = make_data()
    g = nb.knn_graph(data, features="emb_*")
    np.testing.assert_array_equal(g.indices, nb.build_graph(X).indices)
    scores, flags = nb.outlier_arrays(g)
    out = nb.find_outliers(data, knn_graph=g)
    np.testing.assert_array_equal(scores, out["outlier_score"])
    np.testing.assert_array_equal(flags, out["is_outlier"])
    scores, flags, sets = nb.near_duplicate_arrays(g)
    out = nb.find_near_duplicates(data, knn_graph=g)
    np.testing.assert_array_equal(sets, out["near_duplicate_set"])
    scores, flags, p_value, _, note = nb.non_iid_arrays(g)
    assert p_value == nb.non_iid(data, knn_graph=g).p_value and note is None
    scores, flags = nb.class_imbalance_arrays(np.array([0] * 98 + [1, 1]), 2)
    assert flags.sum() == 2 and scores.min() == 0.02
    scores, flags = nb.null_arrays(np.array([[1.0, np.nan], [np.nan, np.nan]]))
    assert scores.tolist() == [0.5, 0.0] and flags.tolist() == [False, True]


# ------------------------------------------------------------------------------------------
# parity with cleanlab from raw features (cleanlab builds its own graph)
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_raw_feature_parity_with_datalab():
    data, X = make_data(n=600, seed=3)
    lab = datalab(
        data, X, {"outlier": {}, "near_duplicate": {}, "non_iid": {}, "class_imbalance": {}}
    )
    ref = lab.get_issues()
    out = nb.find_outliers(data, features="emb_*")
    dup = nb.find_near_duplicates(data, features="emb_*")
    res = nb.non_iid(data, features="emb_*")
    imb = nb.class_imbalance(data, label="y")
    assert spearmanr(out["outlier_score"], ref["outlier_score"]).statistic >= 0.999
    assert jaccard(out["is_outlier"], ref["is_outlier_issue"]) >= 0.99
    assert spearmanr(dup["near_duplicate_score"], ref["near_duplicate_score"]).statistic >= 0.999
    assert jaccard(dup["is_near_duplicate"], ref["is_near_duplicate_issue"]) >= 0.99
    ref_sets = lab.get_info("near_duplicate")["near_duplicate_sets"]
    for i in np.flatnonzero(dup["is_near_duplicate"]):
        members = set(np.flatnonzero(dup["near_duplicate_set"] == dup["near_duplicate_set"][i])) - {
            i
        }
        assert set(ref_sets[i]) <= members
    assert abs(res.p_value - lab.get_info("non_iid")["p-value"]) <= 0.02
    np.testing.assert_allclose(imb["class_imbalance_score"], ref["class_imbalance_score"])
    np.testing.assert_array_equal(imb["is_class_imbalance_issue"], ref["is_class_imbalance_issue"])


def test_pred_probs_outliers_match_datalab():
    data, X = make_data(seed=4)
    P = data[["p_a", "p_b", "p_rare"]].to_numpy()
    lab = datalab(data, None, {"outlier": {}}, pred_probs=P)
    ref = lab.get_issues("outlier")
    out = nb.find_outliers(data, pred_probs="p_*", label="y")
    np.testing.assert_allclose(out["outlier_score"], ref["outlier_score"], rtol=1e-12)
    np.testing.assert_array_equal(out["is_outlier"], ref["is_outlier_issue"])


def test_null_issues_match_datalab():
    data, X = make_data(n=60)
    Xn = X[:, :4].copy()
    Xn[np.random.default_rng(0).random(Xn.shape) < 0.3] = np.nan
    Xn[2] = np.nan
    frame = pd.DataFrame(Xn, columns=list("abcd")).assign(y=data["y"])
    lab = datalab(frame, Xn, {"null": {}})
    ref = lab.get_issues("null")
    for f in (
        frame,
        pl.from_pandas(frame, nan_to_null=True),
        pl.from_pandas(frame, nan_to_null=True).lazy(),
    ):
        got = to_pandas(nb.find_null_issues(f, features=list("abcd")))
        np.testing.assert_allclose(got["null_score"], ref["null_score"])
        np.testing.assert_array_equal(got["is_null_issue"], ref["is_null_issue"])


def test_outlier_detector_matches_out_of_distribution():
    from cleanlab.outlier import OutOfDistribution

    train, Xtr = make_data(n=300, seed=5)
    test, Xte = make_data(n=60, seed=6)
    ood = OutOfDistribution()
    ref_fit = ood.fit_score(features=Xtr, verbose=False)
    ref_test = ood.score(features=Xte)
    det = nb.OutlierDetector()
    fit = det.fit_score(train, features="emb_*")
    np.testing.assert_allclose(fit["outlier_score"], ref_fit, rtol=1e-12)
    for frame in (test, pl.from_pandas(test)):
        got = to_pandas(det.score(frame))
        np.testing.assert_allclose(got["outlier_score"], ref_test, rtol=1e-12)
    # pred_probs: thresholds learnt on train, reused on test
    ood_p = OutOfDistribution()
    labels_tr = pd.Categorical(train["y"], categories=["a", "b", "rare"]).codes
    Ptr = train[["p_a", "p_b", "p_rare"]].to_numpy()
    Pte = test[["p_a", "p_b", "p_rare"]].to_numpy()
    ref_fit = ood_p.fit_score(pred_probs=Ptr, labels=labels_tr, verbose=False)
    det_p = nb.OutlierDetector().fit(train, pred_probs="p_*", label="y")
    np.testing.assert_allclose(det_p.fit_scores_, ref_fit, rtol=1e-12)
    np.testing.assert_allclose(
        det_p.score(test)["outlier_score"], ood_p.score(pred_probs=Pte), rtol=1e-12
    )


def test_outlier_detector_flags_far_new_rows(constructor):
    train, _ = make_data(n=300, seed=7)
    far = train.head(3).copy()
    far[EMB] = -50.0 * np.abs(far[EMB].to_numpy())
    det = nb.OutlierDetector(metric="euclidean").fit(constructor(train), features="emb_*")
    got = to_pandas(det.score(constructor(pd.concat([train.iloc[10:13], far], ignore_index=True))))
    assert got["is_outlier"].tolist() == [False, False, False, True, True, True]
    # a reference row scored as new data finds itself at distance 0: it looks less atypical
    same = to_pandas(det.score(constructor(train.iloc[[30, 31]].reset_index(drop=True))))
    assert (same["outlier_score"].to_numpy() > det.fit_scores_[[30, 31]]).all()
    with pytest.raises(ValidationError, match="same_width"):
        det.score(constructor(train.drop(columns="emb_11")))
    with pytest.raises(ValidationError, match="one_source"):
        nb.OutlierDetector().fit(constructor(train), features="emb_*", pred_probs="p_*")
    with pytest.raises(ValidationError, match="k=300"):
        nb.OutlierDetector(k=300).fit(constructor(train), features="emb_*")


def test_non_iid_flags_drift_and_explains(constructor):
    rng = np.random.default_rng(0)
    n = 400
    t = np.linspace(0, 3, n)[:, None]
    drift = pd.DataFrame(rng.normal(size=(n, 6)) * 0.3 + t, columns=list("abcdef"))
    res = nb.non_iid(constructor(drift), features=list("abcdef"))
    assert res.is_non_iid and res.p_value < 0.05
    assert to_pandas(res.rows)["is_non_iid_issue"].sum() == 1
    assert "NOT IID" in res.explain() and "p_value" in repr(res)
    shuffled = drift.sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert not nb.non_iid(constructor(shuffled), features=list("abcdef")).is_non_iid
    # pred_probs as the embedding when no features are given
    data, _ = make_data()
    res = nb.non_iid(constructor(data), pred_probs="p_*", k=4)
    assert 0 <= res.p_value <= 1 and res.knn_graph.k == 4
    with pytest.raises(ValidationError, match="non_iid needs at least 2 rows"):
        nb.non_iid(constructor(data.head(1)), pred_probs="p_*")
    with pytest.raises(ValidationError, match="k_less_than_rows"):
        nb.non_iid(constructor(data), pred_probs="p_*", k=len(data))


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(st.integers(12, 60), st.integers(0, 1000))
def test_row_order_invariance_and_ranges(n, seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 5)) + 1, columns=list("abcde"))
    perm = rng.permutation(n)
    a = nb.find_outliers(df, features=list("abcde"))
    b = nb.find_outliers(df.iloc[perm], features=list("abcde"))
    np.testing.assert_allclose(a["outlier_score"].loc[b.index], b["outlier_score"], rtol=1e-9)
    assert a["outlier_score"].between(0, 1).all()
    d = nb.find_near_duplicates(df, features=list("abcde"))
    assert d["near_duplicate_score"].between(0, 1).all()


# ------------------------------------------------------------------------------------------
# bad input and edge cases
# ------------------------------------------------------------------------------------------
def test_nan_embeddings_are_rejected_naming_the_column(constructor):
    data, _ = make_data(n=50)
    data.loc[7, "emb_3"] = np.nan
    with pytest.raises(ValidationError, match="emb_3"):
        nb.find_outliers(constructor(data), features="emb_*")


def test_ragged_array_column_is_rejected():
    data, X = make_data(n=30)
    rows = [x if i != 4 else x[:-1] for i, x in enumerate(X)]
    frame = data.drop(columns=EMB).assign(embedding=rows)
    with pytest.raises(ValidationError, match="embedding"):
        nb.find_near_duplicates(frame, features="embedding")
    with pytest.raises(ValidationError, match="embedding"):
        nb.knn_graph(
            pl.DataFrame({"embedding": [[1.0, 2.0], [1.0], [3.0, 4.0]]}), features="embedding"
        )


def test_one_row_and_bad_k(constructor):
    one = constructor(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    with pytest.raises(ValidationError, match="'a, b'.*at_least_2_rows"):
        nb.find_outliers(one, features=["a", "b"])
    data, _ = make_data(n=20)
    frame = constructor(data)
    with pytest.raises(ValidationError, match="emb_.*k_less_than_rows"):
        nb.find_outliers(frame, features="emb_*", k=20)
    with pytest.raises(ValidationError, match="emb_.*k_less_than_rows"):
        nb.find_near_duplicates(frame, features="emb_*", k=0)
    with pytest.raises(ValidationError, match="emb_.*rule: metric"):
        nb.knn_graph(frame, features="emb_*", metric="manhattan")
    with pytest.raises(ValidationError, match="no rows"):
        nb.knn_graph(constructor(data.head(0)), features="emb_*")
    # with a given graph, k is checked against the neighbours it stores (by the input layer)
    g = nb.knn_graph(frame, features="emb_*", k=5)
    with pytest.raises(ValidationError, match="enough_neighbours"):
        nb.find_outliers(frame, knn_graph=g, k=6)
    with pytest.raises(ValidationError, match="knn_graph.*k=0"):
        nb.find_near_duplicates(frame, knn_graph=g, k=0)


def test_all_identical_rows(constructor):
    frame = constructor(
        pd.DataFrame({"a": [1.0] * 12, "b": [2.0] * 12, "c": [0.5] * 12, "d": [3.0] * 12})
    )
    out = to_pandas(nb.find_outliers(frame, features=list("abcd")))
    assert (out["outlier_score"] == 1.0).all() and not out["is_outlier"].any()
    dup = to_pandas(nb.find_near_duplicates(frame, features=list("abcd")))
    assert dup["is_near_duplicate"].all() and (dup["near_duplicate_set"] == 0).all()
    assert (dup["near_duplicate_score"] == 0).all()


def test_missing_columns_and_wrong_sources(constructor):
    data, _ = make_data(n=40)
    frame = constructor(data)
    with pytest.raises(ValidationError, match="nope"):
        nb.find_outliers(frame, features=["emb_0", "nope"])
    with pytest.raises(ValidationError, match="features.*one_source"):
        nb.find_outliers(frame, features="emb_*", pred_probs="p_*")
    with pytest.raises(ValidationError, match="one_source"):
        nb.find_outliers(frame)
    with pytest.raises(ValidationError, match="label.*label_required"):
        nb.find_outliers(frame, pred_probs="p_*")
    with pytest.raises(ValidationError, match="features= .embedding columns. or knn_graph="):
        nb.find_near_duplicates(frame)
    with pytest.raises(ValidationError, match="knn_graph.*same_rows"):
        g = nb.knn_graph(constructor(data.head(30)), features="emb_*")
        nb.find_outliers(frame, knn_graph=g)
    with pytest.raises(ValidationError, match="knn_graph.*rule: type"):
        nb.find_near_duplicates(frame, knn_graph=np.zeros((40, 10)))
    ragged = nb.knn_graph(data, features="emb_*").to_csr().tolil()  # scipy may write to it
    ragged[0, 0] = 1.0  # one row with one more neighbour
    with pytest.raises(ValidationError, match="knn_graph.*rule: format"):
        nb.non_iid(frame, knn_graph=ragged.tocsr())
    with pytest.raises(ValidationError, match="y"):
        nb.class_imbalance(constructor(data.assign(y=[None] + list(data["y"][1:]))), label="y")
    with pytest.raises(ValidationError, match="emb_0"):
        nb.find_null_issues(constructor(data.assign(emb_0=np.inf)), features="emb_*")


def test_result_column_clash_needs_overwrite(constructor):
    data, _ = make_data(n=40)
    data["outlier_score"] = 0.0
    frame = constructor(data)
    with pytest.raises(ValidationError, match="outlier_score"):
        nb.find_outliers(frame, features="emb_*")
    out = to_pandas(nb.find_outliers(frame, features="emb_*", overwrite=True))
    assert out["outlier_score"].between(0, 1).all() and (out["outlier_score"] > 0).any()


@pytest.mark.skipif(not _knn.faiss_available(), reason="faiss not installed")
def test_approximate_search_warns_and_agrees():
    data, _ = make_data(n=2500, seed=8)
    with pytest.warns(
        _knn.ApproximateNeighborsWarning,
        match=r"estimated recall@10 = (0\.99\d|1\.000).*approximate=False",
    ):
        a = nb.find_outliers(data, features="emb_*", approximate=True, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exact search: no warning
        b = nb.find_outliers(data, features="emb_*")
    assert spearmanr(a["outlier_score"], b["outlier_score"]).statistic > 0.999
    # the far rows are searched exactly: the same rows are flagged
    assert jaccard(a["is_outlier"], b["is_outlier"]) == 1.0


def test_audit_report_shows_the_estimated_recall():
    import cleanframe

    data, _ = make_data(n=2500, seed=8)
    with pytest.warns(_knn.ApproximateNeighborsWarning):
        graph = nb.knn_graph(data, features="emb_*", approximate=True, progress=False)
    recall = graph.estimated_recall
    assert recall >= 0.99
    report = cleanframe.audit(data, features="emb_*", knn_graph=graph)
    assert report.estimated_recall == recall
    note = f"kNN graph: approximate search, estimated recall@10 {recall:.3f}"
    assert note in " ".join(repr(report).split()) and note in report._repr_html_()
    assert "below" not in repr(report)
    # a graph whose sample says it missed neighbours: the report says so, with the remedy
    rows, exact = graph.recall_check
    poor = _knn.KnnGraph(
        graph.indices, graph.distances, graph.metric, True, True, (rows, exact * 0.9)
    )
    assert poor.estimated_recall < 0.99
    low = cleanframe.audit(data, features="emb_*", knn_graph=poor)
    assert "below 0.99" in " ".join(repr(low).split())  # the notes are wrapped at 100 columns
    assert "approximate=False" in low._repr_html_()
    # an exact graph: recall 1.0, no note
    exact_report = cleanframe.audit(data.iloc[:300], features="emb_*")
    assert exact_report.estimated_recall == 1.0 and "kNN graph" not in repr(exact_report)


def test_progress_false_prints_nothing(capsys, constructor):
    data, _ = make_data(n=100)
    nb.find_outliers(constructor(data), features="emb_*", progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# ------------------------------------------------------------------------------------------
# feature values at any scale; columns on different scales (issue 15, items 2, 9, 15)
# ------------------------------------------------------------------------------------------
def wine_features() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).data


@pytest.mark.parametrize("factor", [1e39, 1e300, 1e-44, 1e-300])
def test_values_beyond_float32_give_the_neighbours_of_the_unscaled_values(constructor, factor):
    """Values beyond float32's range (or below it) give the unscaled values' neighbours, on
    every call and every frame type: no garbage indices, no run-to-run differences."""
    data, X = make_data(n=120)
    scaled = data.copy()
    scaled[EMB] = X * factor
    base = nb.knn_graph(data, features=EMB)
    frame = constructor(scaled)
    graphs = [nb.knn_graph(frame, features="emb_*") for _ in range(2)]
    for g in graphs:
        np.testing.assert_array_equal(g.indices, base.indices)
        np.testing.assert_allclose(g.distances, base.distances, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(graphs[0].distances, graphs[1].distances)
    # euclidean outlier scores keep cleanlab's absolute tolerances (distances below ~1e-6 all
    # score 1), so only cosine scores are the same at tiny scales
    for metric in ("euclidean", "cosine") if factor > 1 else ("cosine",):
        a = nb.find_outliers(data, features=EMB, metric=metric)
        b = to_pandas(nb.find_outliers(frame, features="emb_*", metric=metric))
        np.testing.assert_array_equal(a["is_outlier"], b["is_outlier"])
        np.testing.assert_allclose(a["outlier_score"], b["outlier_score"], rtol=1e-9)
    p_values = {nb.non_iid(frame, features="emb_*").p_value for _ in range(2)}
    assert p_values == {nb.non_iid(data, features=EMB).p_value}


def test_euclidean_distances_beyond_float64_are_rejected_naming_the_column(constructor):
    df = pd.DataFrame({"a": [-1.5e308, 0.0, 1.5e308, 1.0], "b": [0.0, 1.0, 2.0, 3.0]})
    with pytest.raises(ValidationError, match=r"'a'.*distance_range"):
        nb.knn_graph(constructor(df), features=["a", "b"], k=2)
    # cosine distances always fit; standardised columns too
    with pytest.warns(nb.FeatureScaleWarning, match="5.7e.307"):
        assert nb.knn_graph(constructor(df), features=["a", "b"], k=2, metric="cosine").k == 2
    g = nb.knn_graph(constructor(df), features=["a", "b"], k=2, standardize=True)
    assert np.isfinite(g.distances).all()


@pytest.mark.parametrize("factor", [1e-300, 1e-44, 1e300])
def test_cosine_results_on_wine_do_not_depend_on_the_scale(constructor, factor):
    """scikit-learn's wine data times 1e-300 or 1e300 (still representable): the same outliers
    and near-duplicate sets as the data itself, scores equal to rounding."""
    X = wine_features()
    columns = list(X.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nb.FeatureScaleWarning)
        o = nb.find_outliers(X, features=columns)
        d = nb.find_near_duplicates(X, features=columns)
        frame = constructor(X * factor)
        os = to_pandas(nb.find_outliers(frame, features=columns))
        ds = to_pandas(nb.find_near_duplicates(frame, features=columns))
    assert o["is_outlier"].sum() > 0 and d["is_near_duplicate"].sum() > 0
    np.testing.assert_array_equal(os["is_outlier"], o["is_outlier"])
    np.testing.assert_array_equal(ds["near_duplicate_set"], d["near_duplicate_set"])
    np.testing.assert_allclose(os["outlier_score"], o["outlier_score"], rtol=1e-9)
    np.testing.assert_allclose(ds["near_duplicate_score"], d["near_duplicate_score"], atol=1e-9)


def test_columns_on_different_scales_warn_and_standardize_fixes_them(constructor):
    """wine: proline in the hundreds, hue near 1 — a warning that names them; with
    standardize=True the graph is that of z-scored columns, and no warning."""
    from sklearn.preprocessing import StandardScaler

    import cleanframe

    assert cleanframe.FeatureScaleWarning is nb.FeatureScaleWarning
    assert cleanframe.NonIIDTestWarning is nb.NonIIDTestWarning
    X = wine_features()
    columns = list(X.columns)
    frame = constructor(X)
    with pytest.warns(nb.FeatureScaleWarning, match="proline.*standardize=True") as caught:
        nb.knn_graph(frame, features=columns)
    assert caught[0].filename == __file__  # attributed to the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error", nb.FeatureScaleWarning)
        g = nb.knn_graph(frame, features=columns, standardize=True)
        Z = pd.DataFrame(StandardScaler().fit_transform(X), columns=columns)
        expected = nb.knn_graph(Z, features=columns)
        np.testing.assert_array_equal(g.indices, expected.indices)
        np.testing.assert_allclose(g.distances, expected.distances, rtol=1e-9, atol=1e-12)
        out = to_pandas(nb.find_outliers(frame, features=columns, standardize=True))
        dup = to_pandas(nb.find_near_duplicates(frame, features=columns, standardize=True))
        res = nb.non_iid(frame, features=columns, standardize=True)
    with pytest.warns(nb.FeatureScaleWarning):
        raw = to_pandas(nb.find_outliers(frame, features=columns))
    # unscaled, proline decides: ~10% of the wines look like outliers; standardised, few do
    assert raw["is_outlier"].mean() > 0.08 and out["is_outlier"].mean() < 0.03
    assert not dup["is_near_duplicate"].any()
    assert res.p_value < 0.05  # wine's rows are sorted by class
    # similar scales: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", nb.FeatureScaleWarning)
        data, _ = make_data(n=60)
        nb.knn_graph(constructor(data), features="emb_*")


def test_outlier_detector_standardizes_new_rows_with_the_reference_rows(constructor):
    X = wine_features()
    columns = list(X.columns)
    train, new = X.iloc[:150], X.iloc[150:].reset_index(drop=True)
    det = nb.OutlierDetector(standardize=True).fit(constructor(train), features=columns)
    got = to_pandas(det.score(constructor(new)))
    mean, std = train.mean(), train.std(ddof=0)
    plain = nb.OutlierDetector().fit((train - mean) / std, features=columns)
    expected = to_pandas(plain.score((new - mean) / std))
    np.testing.assert_allclose(got["outlier_score"], expected["outlier_score"], rtol=1e-9)
    np.testing.assert_array_equal(got["is_outlier"], expected["is_outlier"])
    with pytest.raises(ValidationError, match="overflow"):
        det.score(constructor(pd.DataFrame(np.full((1, len(columns)), 1e308), columns=columns)))


# ------------------------------------------------------------------------------------------
# non-IID on degenerate input (issue 15, item 11)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "values",
    [
        {"a": [1.0] * 50, "b": [2.0] * 50},  # 50 identical rows
        {"a": [3.0] * 80},  # one constant feature
        {"a": [0.0, 1.0] * 40},  # two values, each far more often than k
    ],
)
def test_non_iid_on_constant_features_says_the_test_cannot_be_done(constructor, values):
    df = pd.DataFrame(values)
    for data in (df, df.sample(frac=1.0, random_state=0)):
        with pytest.warns(nb.NonIIDTestWarning, match="cannot be done") as caught:
            res = nb.non_iid(constructor(data), features=list(df.columns))
        assert caught[0].filename == __file__
        assert np.isnan(res.p_value) and np.isnan(res.statistic)
        assert not res.is_non_iid and not res.testable
        assert "cannot be done" in repr(res) and "not done" in res.explain()
        assert "NOT IID" not in res.explain()
        rows = to_pandas(res.rows)
        assert (rows["non_iid_score"] == 1.0).all() and not rows["is_non_iid_issue"].any()


def test_non_iid_leaves_out_rows_whose_neighbours_are_ties():
    """Shuffled rows, 30% of them one repeated value: the repeated rows' neighbours are chosen
    by row position, so they are left out. The p-values are those of IID data again (they were
    all 0: "NOT IID" on every seed); drift with the same duplicates is still found."""
    p_values = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(500, 3))
        repeated = rng.random(500) < 0.3
        X[repeated] = X[np.flatnonzero(repeated)[0]]
        df = pd.DataFrame(X, columns=list("abc"))
        res = nb.non_iid(df, features=list("abc"))
        assert res.testable and f"{repeated.sum()} of 500 rows left out" in res.note
        assert (res.rows.loc[repeated, "non_iid_score"] == 1.0).all()
        p_values.append(res.p_value)
        drifting = df.assign(a=df["a"] + np.linspace(0, 6, 500))
        assert nb.non_iid(drifting, features=list("abc")).p_value < 0.01
    assert sum(p < 0.05 for p in p_values) <= 1 and np.median(p_values) > 0.3


def _column_scales_reference(X, metric):
    """The definition: each block of rows converted to float64 and scaled into a new array."""
    from cleanframe.scoring.neighbors.scales import _BLOCK_ROWS, max_abs, pow2_scale

    n, d = X.shape
    p = pow2_scale(max_abs(X, axis=0))
    center = np.zeros(d)
    if metric != "cosine":
        for start in range(0, n, _BLOCK_ROWS):
            center += (np.asarray(X[start : start + _BLOCK_ROWS], dtype=np.float64) / p).sum(0)
        center /= n
    squares = np.zeros(d)
    for start in range(0, n, _BLOCK_ROWS):
        Z = np.asarray(X[start : start + _BLOCK_ROWS], dtype=np.float64) / p - center
        squares += np.einsum("ij,ij->j", Z, Z)
    return np.sqrt(squares / n) * p


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_column_scales_reuse_one_buffer_and_equal_the_definition(metric, dtype, order):
    from cleanframe.scoring.neighbors.scales import _BLOCK_ROWS, column_scales

    rng = np.random.default_rng(3)
    n = 2 * _BLOCK_ROWS + 17  # two full blocks and a short one, read through one buffer
    big = 1e30 if dtype is np.float32 else 1e300  # tiny, unit, wide, huge, constant columns
    X = rng.normal(size=(n, 5)) * np.array([1 / big, 1.0, 3e5, big, 0.0]) + [0, 7, 0, 0, 2]
    if dtype is np.int64:
        X = (X[:, 1:4] / np.array([1.0, 1e-3, 1e295])).round()
    X = np.asarray(X.astype(dtype), order=order)
    before = X.copy()
    np.testing.assert_array_equal(column_scales(X, metric), _column_scales_reference(X, metric))
    np.testing.assert_array_equal(X, before)
    one = X[:1]
    np.testing.assert_array_equal(column_scales(one, metric), _column_scales_reference(one, metric))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 400),
    d=st.integers(2, 6),
    exponents=st.lists(st.integers(-300, 300), min_size=6, max_size=6),
    zeros=st.integers(0, 2),
    seed=st.integers(0, 2**31 - 1),
)
def test_the_rms_shortcut_never_skips_a_scale_warning(n, d, exponents, zeros, seed):
    # the cosine scale warning is skipped from the columns' largest values only when the
    # scales themselves are below the warning's spread
    from cleanframe._inputs.neighbors import _rms_spread_surely_below_warning
    from cleanframe.scoring.neighbors.scales import SCALE_SPREAD_WARNING, column_scales

    rng = np.random.default_rng(seed)
    spread = np.array([10.0 ** (e % 4) if seed % 2 else 10.0**e for e in exponents[:d]])
    X = rng.standard_t(2, size=(n, d)) * spread
    X[:, :zeros] = 0.0
    X[rng.random((n, d)) < 0.3] = 0.0  # sparse columns: RMS far below the largest value
    scales = column_scales(X, "cosine")
    live = scales[scales > 0]
    if _rms_spread_surely_below_warning(X):
        assert len(live) < 2 or live.max() / live.min() < SCALE_SPREAD_WARNING


def test_the_rms_shortcut_is_tight_and_the_warning_still_fires_beyond_it():
    # one value in a column of zeros (RMS = M / sqrt(N)) beside a constant column (RMS = M):
    # the scales' spread is exactly the bound sqrt(N) x spread of M
    from cleanframe._inputs.neighbors import _rms_spread_surely_below_warning, prepare_embedding
    from cleanframe.scoring.neighbors.scales import FeatureScaleWarning

    n = 400  # sqrt(N) = 20
    for constant, warns in ((49.9, False), (50.0, True)):  # spread 998, then 1000
        X = np.zeros((n, 2))
        X[0, 0] = 1.0
        X[:, 1] = constant
        assert _rms_spread_surely_below_warning(X) is not warns
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            prepare_embedding(X, ["a", "b"], "f*", metric="cosine")
        assert [w.category for w in caught] == ([FeatureScaleWarning] if warns else [])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 100),
    d=st.integers(1, 9),
    dtype=st.sampled_from([np.float64, np.float32, np.int64]),
    nans=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_max_abs_per_column_equals_the_definition(n, d, dtype, nans, seed):
    # C-ordered matrices of 32+ rows take the grouped reduction
    from cleanframe.scoring.neighbors.scales import max_abs

    rng = np.random.default_rng(seed)
    X = (rng.standard_t(2, size=(n, d)) * 1e3).astype(dtype)
    if nans and dtype is not np.int64:
        X[rng.random((n, d)) < 0.05] = np.nan
    X[rng.random((n, d)) < 0.1] = 0  # zeros (and -0.0 after a sign flip)
    if dtype is not np.int64:
        X[rng.random((n, d)) < 0.1] *= -1
    expected = np.maximum(np.abs(X.max(axis=0)), np.abs(X.min(axis=0)))
    np.testing.assert_array_equal(max_abs(X, axis=0), expected)
    np.testing.assert_array_equal(max_abs(np.asfortranarray(X), axis=0), expected)
