"""Embedding-space kernels (cleanframe.scoring.neighbors.knn / outlier / duplicates / noniid /
datalab_checks) against cleanlab 2.9, given the same neighbour graph, plus properties.

cleanlab is imported only here, as the reference.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from benchmarks.embedding_shapes import make_shape
from cleanframe.scoring.neighbors import datalab_checks, duplicates, knn, noniid, outlier, scales

cl_knn = pytest.importorskip("cleanlab.internal.neighbor.knn_graph")
cl_outlier = pytest.importorskip("cleanlab.outlier")


def _readonly(*arrays):
    for a in arrays:
        a.setflags(write=False)
    return arrays


def make_embeddings(n=400, d=12, *, seed=0, drift=False):
    """Clustered embeddings with exact duplicates (one group larger than k), a near duplicate
    and a few far rows."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(5, d)) * 3
    X = centers[rng.integers(0, 5, n)] + rng.normal(size=(n, d))
    if n >= 120:
        X[5] = X[3]
        X[7] = X[3]
        X[60:75] = X[59]  # 16 identical rows: more than k + 1
        X[100] = X[50] + 1e-4
    X[-3:] = rng.normal(size=(3, d)) * 12
    if drift:
        X += np.linspace(0, 4, n)[:, None]
    return X


def cleanlab_graph(X, k=10, metric=None):
    graph, _ = cl_knn.create_knn_graph_and_index(X, n_neighbors=k, metric=metric)
    return graph


def datalab_issues(graph, labels, metric, issue_types):
    pytest.importorskip("datasets")  # cleanlab's Datalab needs it (a dev dependency)
    from cleanlab import Datalab

    lab = Datalab(pd.DataFrame({"y": labels}), label_name="y", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(
            knn_graph=graph,
            issue_types={t: {"metric": metric, **kw} for t, kw in issue_types.items()},
        )
    return lab


# ------------------------------------------------------------------------------------------
# the graph
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric,d", [("cosine", 12), ("euclidean", 3), ("euclidean", 12)])
def test_exact_graph_matches_cleanlab(metric, d):
    X = make_embeddings(d=d)
    (X,) = _readonly(X)
    ours = knn.build_knn_graph(X, metric=metric)
    ref = cleanlab_graph(X, metric=metric)
    n = len(X)
    ref_idx, ref_dist = ref.indices.reshape(n, -1), ref.data.reshape(n, -1)
    np.testing.assert_allclose(ours.distances, ref_dist, atol=1e-12)
    # neighbour sets equal except where distances tie: rows next to identical rows (a group
    # member at the k-th place ties with the other members; cleanlab keeps an arbitrary one)
    same = np.array([set(a) == set(b) for a, b in zip(ours.indices, ref_idx)])
    dup_members = np.concatenate(knn.exact_duplicate_sets(X))
    tied = np.isin(ref_idx, dup_members).any(axis=1) | np.isin(np.arange(n), dup_members)
    assert same[~tied].all()
    assert same.mean() > 0.95


def test_default_metric_and_k():
    assert knn.default_metric(3) == "euclidean" and knn.default_metric(4) == "cosine"
    X = np.random.default_rng(0).normal(size=(6, 5))
    g = knn.build_knn_graph(X)
    assert (g.k, g.metric) == (5, "cosine")
    with pytest.raises(ValueError, match="k=6"):
        knn.build_knn_graph(X, k=6)


def test_graph_is_read_only_and_csr_round_trip():
    X = make_embeddings(n=120)
    g = knn.build_knn_graph(X, k=5)
    assert not g.indices.flags.writeable and not g.distances.flags.writeable
    back = knn.KnnGraph.from_csr(g.to_csr(), metric=g.metric)
    np.testing.assert_array_equal(back.indices, g.indices)
    np.testing.assert_array_equal(back.distances, g.distances)
    assert g.head(2).k == 2


@pytest.mark.parametrize("k", [1, 3, 10])
def test_duplicate_correction_matches_cleanlab(k):
    X = make_embeddings(n=300)
    idx, dist = knn.exact_knn(X, k, metric="cosine")
    ref_d, ref_i = cl_knn.correct_knn_distances_and_indices(X, dist.copy(), idx.copy())
    sets = knn.exact_duplicate_sets(X)
    _readonly(idx, dist)
    d, i = knn.correct_exact_duplicates_(dist, idx, sets)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(d, ref_d)


def test_exact_duplicate_sets_match_numpy_unique():
    rng = np.random.default_rng(3)
    X = rng.integers(0, 3, size=(500, 3)).astype(np.float32)
    X[0] = [-0.0, 1, 2]
    X[1] = [0.0, 1, 2]
    ours = knn.exact_duplicate_sets(X)
    _, inv, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    ref = sorted((np.flatnonzero(inv == u) for u in np.flatnonzero(counts > 1)), key=lambda a: a[0])
    assert [a.tolist() for a in ours] == [a.tolist() for a in ref]


def test_exact_search_equals_brute_force_on_queries():
    rng = np.random.default_rng(1)
    X, Q = rng.normal(size=(700, 20)), rng.normal(size=(40, 20))
    idx, dist = knn.exact_knn(X, 7, metric="cosine", queries=Q)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    full = 1 - Qn @ Xn.T
    ref = np.argsort(full, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(dist, np.take_along_axis(full, ref, axis=1), atol=1e-12)


@pytest.mark.parametrize("backend", [True, "faiss"])
def test_approximate_index_recall_and_warning(backend):
    if backend == "faiss" and not knn.faiss_available():
        pytest.skip("faiss not installed")
    X = make_embeddings(n=3000, d=16, seed=2)
    with pytest.warns(knn.ApproximateNeighborsWarning, match="estimated recall@10 = "):
        approx = knn.build_knn_graph(X, approximate=backend, progress=False)
    exact = knn.build_knn_graph(X, approximate=False)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx.indices, exact.indices)])
    assert recall > (0.99 if backend is True else 0.9)
    assert approx.approximate and not exact.approximate
    # distances are real distances of the neighbours returned, ascending, self excluded
    assert (np.diff(approx.distances, axis=1) >= 0).all()
    assert (approx.indices != np.arange(len(X))[:, None]).all()
    same = np.array([set(a) == set(b) for a, b in zip(approx.indices, exact.indices)])
    np.testing.assert_allclose(approx.distances[same], exact.distances[same], atol=1e-12)


def test_approximate_queries_find_exact_copies_and_keep_the_recall():
    X = make_embeddings(n=2000, d=16, seed=3)
    index = knn.KnnIndex(X, approximate=True, progress=False)
    assert not index.exact_for(3)
    idx, dist = index.query(X[:50], 3)
    np.testing.assert_array_equal(X[idx[:, 0]], X[:50])  # itself, or an identical row
    assert (idx[:, 0] <= np.arange(50)).all()  # ties go to the lower row index
    assert (dist[:, 0] < 1e-12).all()
    # new rows near the indexed ones: the calibrated probes keep the recall for queries too;
    # rows far from every indexed row (what an outlier detector scores) are searched exactly
    rng = np.random.default_rng(0)
    near = X[:300] + 0.3 * rng.normal(size=(300, X.shape[1]))
    far = 12 * rng.normal(size=(20, X.shape[1]))
    _, approx = index.query(np.vstack([near, far]), 10)
    _, exact = knn.exact_knn(X, 10, metric=index.metric, queries=np.vstack([near, far]))
    assert (approx[:300] <= exact[:300, -1:] * (1 + 1e-12)).mean() >= 0.99
    np.testing.assert_allclose(approx[300:], exact[300:], rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------
# the approximate index on embedding-like data (benchmarks/embedding_shapes.py, small)
# ------------------------------------------------------------------------------------------
# (n, d) per shape: small enough for a fast test, large enough that the calibrated cluster join
# searches approximately (the test asserts it did)
HARD_SHAPES = dict.fromkeys(
    ["clusters", "manifold", "zipf", "near_duplicates", "digits"], (3000, 128)
)


def _true_recall(approx: knn.KnnGraph, exact: knn.KnnGraph) -> float:
    """Share of the approximate neighbours at most as far as the exact k-th (ties found)."""
    return float((approx.distances <= exact.distances[:, -1:] * (1 + 1e-12)).mean())


@pytest.mark.parametrize("shape", list(HARD_SHAPES))
def test_default_approximate_index_keeps_the_neighbours(shape):
    """recall@10 >= 0.99 against exact search on every benchmark shape (the index before the
    calibrated cluster join had 0.53 on the manifold at 50,000 rows), and the graph's estimated
    recall within 0.01 of the true one."""
    n, d = HARD_SHAPES[shape]
    X = make_shape(shape, n, d, seed=1)
    with pytest.warns(knn.ApproximateNeighborsWarning, match="estimated recall@10"):
        approx = knn.build_knn_graph(X, approximate=True)
    exact = knn.build_knn_graph(X, approximate=False)
    assert approx.approximate  # the approximate path ran (no exhaustive fallback)
    recall = _true_recall(approx, exact)
    assert recall >= 0.99
    assert abs(approx.estimated_recall - recall) <= 0.01
    assert exact.estimated_recall == 1.0


def test_symmetric_search_finds_exactly_the_pairs_either_row_probes():
    """The self-graph's symmetric search: row i is compared with row j when j's cell is among
    i's nprobe nearest or i's cell among j's; so its k best are the k nearest of exactly those
    rows (no pair missed, none extra, none twice), which is what the calibration assumes, and
    it needs fewer probes than searching new rows for the same recall."""
    X = make_shape("manifold", 3000, 128, seed=5)
    index = knn.KnnIndex(X, approximate=True)
    cj = index._ivf
    k, p = 10, 4
    found = cj.search(None, k, p, symmetric=True)
    order = np.argsort(cj._centroid_keys(cj.Y), axis=1, kind="stable")
    rank = np.argsort(order, axis=1)  # rank[i, c]: place of cell c among row i's nearest
    probes = rank[:, cj.assign] < p  # probes[i, j]: i probes j's cell
    reach = (probes | probes.T) & ~np.eye(len(X), dtype=bool)
    keys = -(cj.Y @ cj.Y.T)
    expected = np.array(
        [
            np.flatnonzero(reach[i])[np.argsort(keys[i, reach[i]], kind="stable")[:k]]
            for i in range(len(X))
        ]
    )
    assert (found >= 0).all()
    assert all(len(set(row)) == k for row in found)  # no row twice
    # the same rows (float32 keys of one pair may differ in the last bit between products)
    same = np.mean([set(a) == set(b) for a, b in zip(found, expected)])
    assert same >= 0.999
    assert reach[np.arange(len(X))[:, None], found].all()  # only pairs either row probes
    sample = index._samples()[0]
    assert cj.calibrate(k, sample, symmetric=True)[0] < cj.calibrate(k, sample)[0]


def test_approximate_outlier_flags_equal_the_exact_ones_on_a_manifold():
    """The far rows (what the outlier check reads) are searched exactly: the flags are equal,
    not just close; the scores follow the exact ones."""
    from scipy.stats import spearmanr

    X = make_shape("manifold", 3000, 128, seed=2)
    with pytest.warns(knn.ApproximateNeighborsWarning):
        approx = knn.build_knn_graph(X, approximate=True)
    exact = knn.build_knn_graph(X, approximate=False)
    (a_scores, a_flags), (e_scores, e_flags) = (_outliers(approx), _outliers(exact))
    assert e_flags.sum() > 0
    np.testing.assert_array_equal(a_flags, e_flags)
    assert spearmanr(a_scores, e_scores).statistic > 0.999


def _outliers(graph):
    scores, avg, _ = outlier.knn_outlier_scores(graph.distances, metric="cosine")
    return scores, avg > outlier.distance_issue_threshold(avg)


def test_approximate_graph_is_deterministic():
    X = make_shape("zipf", *HARD_SHAPES["zipf"], seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", knn.ApproximateNeighborsWarning)
        a = knn.build_knn_graph(X, approximate=True)
        b = knn.build_knn_graph(X, approximate=True)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)
    assert a.estimated_recall == b.estimated_recall


def test_estimated_recall_in_repr_and_a_low_recall_warns(monkeypatch):
    X = make_shape("manifold", 3000, 128, seed=4)
    monkeypatch.setattr(knn, "TARGET_RECALL", 0.6)  # too few probes, on purpose
    with pytest.warns(knn.ApproximateNeighborsWarning, match="below 0.99") as record:
        low = knn.build_knn_graph(X, approximate=True)
    exact = knn.build_knn_graph(X, approximate=False)
    assert len(record) == 1
    estimate = low.estimated_recall
    assert estimate < 0.99
    assert f"estimated recall@10 = {estimate:.3f}" in str(record[0].message)
    assert abs(estimate - _true_recall(low, exact)) <= 0.02
    assert f"approximate, estimated recall@10 {estimate:.3f}" in repr(low)
    assert "exact" in repr(exact) and "recall" not in repr(exact)
    # head(k) re-estimates recall@k from the same sample; the duplicate correction keeps it
    head = low.head(5)
    assert head.estimated_recall is not None and "recall@5" in repr(head)
    assert knn.correct_exact_duplicates(X, low).estimated_recall == estimate


def test_isotropic_noise_falls_back_to_exact_search():
    """No structure for an inverted file to use: the calibrated probes would cover most rows,
    so the search is exact, says so, and warns about nothing."""
    X = np.random.default_rng(5).normal(size=(2000, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("error", knn.ApproximateNeighborsWarning)
        graph = knn.build_knn_graph(X, approximate=True)
    exact = knn.build_knn_graph(X, approximate=False)
    assert not graph.approximate and graph.estimated_recall == 1.0
    np.testing.assert_array_equal(graph.indices, exact.indices)


# ------------------------------------------------------------------------------------------
# outliers
# ------------------------------------------------------------------------------------------
def test_outlier_scores_match_datalab_given_the_same_graph():
    X = make_embeddings()
    g = cleanlab_graph(X)
    lab = datalab_issues(
        g, np.zeros(len(X), int) + (np.arange(len(X)) % 2), "cosine", {"outlier": {}}
    )
    ref = lab.get_issues("outlier")
    graph = knn.KnnGraph.from_csr(g, metric="cosine")
    scores, avg, scale = outlier.knn_outlier_scores(graph.distances, metric="cosine")
    np.testing.assert_allclose(scores, ref["outlier_score"], rtol=1e-12, atol=1e-15)
    flags = avg > outlier.distance_issue_threshold(avg)
    np.testing.assert_array_equal(flags, ref["is_outlier_issue"])
    assert flags[-3:].all()
    assert scale == pytest.approx(lab.get_info("outlier")["scaling_factor"])


def test_ood_features_fit_and_score_match_cleanlab():
    X = make_embeddings(n=300)
    Xtest = make_embeddings(n=50, seed=9)
    ood = cl_outlier.OutOfDistribution()
    ref_fit = ood.fit_score(features=X, verbose=False)
    ref_test = ood.score(features=Xtest)
    index = knn.KnnIndex(X)
    g = knn.build_knn_graph(X, index=index)
    s, _, scale = outlier.knn_outlier_scores(g.distances, metric=g.metric)
    np.testing.assert_allclose(s, ref_fit, rtol=1e-12)
    _, dist = index.query(Xtest, 10)
    s_test, _, _ = outlier.knn_outlier_scores(dist, scaling=scale, metric=g.metric)
    np.testing.assert_allclose(s_test, ref_test, rtol=1e-12)


@pytest.mark.parametrize("method", ["entropy", "least_confidence", "gen"])
@pytest.mark.parametrize("adjust", [True, False])
def test_ood_pred_probs_match_cleanlab(method, adjust):
    rng = np.random.default_rng(4)
    n, k = 300, 4
    P = rng.dirichlet(np.full(k, 0.4), n)
    labels = rng.integers(0, k, n)
    _readonly(P, labels)
    params = {"method": method, "adjust_pred_probs": adjust, "M": k}
    ood = cl_outlier.OutOfDistribution(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ood.fit_score(pred_probs=P, labels=labels if adjust else None, verbose=False)
    ours, thr = outlier.ood_pred_probs_scores(
        P, labels=labels, adjust_pred_probs=adjust, method=method, M=k
    )
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)
    if adjust:
        P2 = rng.dirichlet(np.full(k, 0.4), 40)
        ref2 = ood.score(pred_probs=P2)
        ours2, _ = outlier.ood_pred_probs_scores(P2, confident_thresholds=thr, method=method, M=k)
        np.testing.assert_allclose(ours2, ref2, rtol=1e-12, atol=1e-14)


def test_pred_probs_outlier_flags_match_datalab():
    pytest.importorskip("datasets")  # cleanlab's Datalab needs it (a dev dependency)
    from cleanlab import Datalab

    rng = np.random.default_rng(5)
    n, k = 300, 3
    P = rng.dirichlet(np.full(k, 0.3), n)
    P[:5] = 1 / k  # maximally uncertain rows
    labels = rng.integers(0, k, n)
    lab = Datalab(pd.DataFrame({"y": labels}), label_name="y", verbosity=0)
    lab.find_issues(pred_probs=P, issue_types={"outlier": {}})
    ref = lab.get_issues("outlier")
    scores, _ = outlier.ood_pred_probs_scores(P, labels=labels)
    flags = scores < outlier.pred_probs_issue_threshold(scores)
    np.testing.assert_allclose(scores, ref["outlier_score"], rtol=1e-12)
    np.testing.assert_array_equal(flags, ref["is_outlier_issue"])


# ------------------------------------------------------------------------------------------
# near duplicates, non-IID, class imbalance, null
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("threshold", [0.13, 0.5])
def test_near_duplicates_match_datalab(threshold):
    X = make_embeddings()
    g = cleanlab_graph(X)
    lab = datalab_issues(
        g, np.arange(len(X)) % 2, "cosine", {"near_duplicate": {"threshold": threshold}}
    )
    ref = lab.get_issues("near_duplicate")
    graph = knn.KnnGraph.from_csr(g, metric="cosine")
    r = duplicates.near_duplicates(graph.indices, graph.distances, threshold=threshold)
    np.testing.assert_allclose(r["scores"], ref["near_duplicate_score"], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(r["is_issue"], ref["is_near_duplicate_issue"])
    A = r["adjacency"]
    for i, ref_set in enumerate(ref["near_duplicate_sets"]):
        assert A.indices[A.indptr[i] : A.indptr[i + 1]].tolist() == list(ref_set)
    # set ids: a connected group shares one id; members of the 16-row group share theirs
    ids = r["set_ids"]
    assert len(set(ids[59:75])) == 1 and ids[59] >= 0
    assert ids[3] == ids[5] == ids[7] != ids[59]


@pytest.mark.parametrize("drift", [False, True])
def test_non_iid_matches_datalab_exactly(drift):
    X = make_embeddings(n=300, drift=drift)
    if not drift:  # the identical rows sit next to each other in row order: shuffle them apart
        X = X[np.random.default_rng(1).permutation(len(X))]
    g = cleanlab_graph(X)
    lab = datalab_issues(g, np.arange(len(X)) % 2, "cosine", {"non_iid": {}})
    ref = lab.get_issues("non_iid")
    graph = knn.KnnGraph.from_csr(g, metric="cosine")
    state = np.random.get_state()[1].copy()
    r = noniid.non_iid(graph.indices)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global RNG untouched
    assert r["p_value"] == pytest.approx(lab.get_info("non_iid")["p-value"], rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(r["scores"], ref["non_iid_score"], rtol=1e-12)
    np.testing.assert_array_equal(r["is_issue"], ref["is_non_iid_issue"])
    assert (r["p_value"] < 0.05) == drift


def test_non_iid_statistic_equals_sorting_definition():
    rng = np.random.default_rng(0)
    n = 150
    idx = rng.integers(0, n, size=(n, 4))
    gaps = np.sort(np.abs(np.arange(n)[:, None] - idx).ravel())
    s = np.hstack([gaps, [n - 1]])
    bg = np.cumsum((n - np.arange(1, n)) / (n * (n - 1) / 2))
    ref = np.max(np.abs(np.arange(len(s)) / (len(s) - 1) - bg[s - 1]))
    assert noniid.non_iid_statistic(idx) == pytest.approx(ref, abs=1e-15)


def test_class_imbalance_matches_datalab():
    pytest.importorskip("datasets")  # cleanlab's Datalab needs it (a dev dependency)
    from cleanlab import Datalab

    labels = np.array([0] * 180 + [1] * 115 + [2] * 5)
    lab = Datalab(pd.DataFrame({"y": labels}), label_name="y", verbosity=0)
    lab.find_issues(issue_types={"class_imbalance": {}})
    ref = lab.get_issues("class_imbalance")
    r = datalab_checks.class_imbalance(labels, 3)
    np.testing.assert_allclose(r["scores"], ref["class_imbalance_score"])
    np.testing.assert_array_equal(r["is_issue"], ref["is_class_imbalance_issue"])
    assert r["is_issue"].sum() == 5
    balanced = datalab_checks.class_imbalance(np.array([0, 1] * 50), 2)
    assert not balanced["is_issue"].any() and balanced["rarest_class"] == 0


def test_null_scores_match_datalab():
    pytest.importorskip("datasets")  # cleanlab's Datalab needs it (a dev dependency)
    from cleanlab import Datalab

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[7] = np.nan
    lab = Datalab(pd.DataFrame({"y": np.arange(60) % 2}), label_name="y", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(features=X, issue_types={"null": {}})
    ref = lab.get_issues("null")
    r = datalab_checks.null_scores(np.isnan(X))
    np.testing.assert_allclose(r["scores"], ref["null_score"])
    np.testing.assert_array_equal(r["is_issue"], ref["is_null_issue"])


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------
finite = st.floats(-100, 100, allow_nan=False, allow_subnormal=False, width=32)


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(3, 40), st.integers(1, 6)), elements=finite),
    st.sampled_from(["cosine", "euclidean"]),
)
def test_graph_and_scores_properties(X, metric):
    X.setflags(write=False)
    g = knn.build_knn_graph(X, metric=metric)
    n = len(X)
    assert g.indices.shape == (n, min(10, n - 1))
    assert (g.indices != np.arange(n)[:, None]).all()  # never its own neighbour
    assert (np.diff(g.distances, axis=1) >= 0).all()
    s, avg, _ = outlier.knn_outlier_scores(g.distances, metric=metric)
    assert ((s >= 0) & (s <= 1)).all()
    r = duplicates.near_duplicates(g.indices, g.distances)
    assert ((r["scores"] >= 0) & (r["scores"] <= 1)).all()
    A = r["adjacency"]
    assert (A != A.T).nnz == 0  # symmetric relation
    assert (r["is_issue"] == (r["set_ids"] >= 0)).all()
    ni = noniid.non_iid_scores(g.indices)
    assert ((ni >= 0) & (ni <= 1)).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(4, 30), st.integers(0, 10_000))
def test_outlier_scores_invariant_to_row_order(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    perm = rng.permutation(n)
    g1 = knn.build_knn_graph(X)
    g2 = knn.build_knn_graph(X[perm])
    s1, _, _ = outlier.knn_outlier_scores(g1.distances, metric="cosine")
    s2, _, _ = outlier.knn_outlier_scores(g2.distances, metric="cosine")
    np.testing.assert_allclose(s1[perm], s2, rtol=1e-9)


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 30), st.integers(1, 8))
def test_identical_rows_score_one_and_are_all_duplicates(n, d):
    X = np.ones((n, d))
    g = knn.build_knn_graph(X)
    assert (g.distances == 0).all()
    s, _, _ = outlier.knn_outlier_scores(g.distances, metric=g.metric)
    assert (s == 1).all()
    r = duplicates.near_duplicates(g.indices, g.distances)
    assert r["is_issue"].all() and (r["set_ids"] == 0).all()


@pytest.mark.parametrize("module", [knn, outlier, duplicates, noniid, datalab_checks, scales])
def test_kernel_docstring_examples(module):
    import doctest

    result = doctest.testmod(
        module, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0 and result.failed == 0


def test_knn_graph_does_not_touch_the_callers_arrays():
    idx = np.array([[1], [0], [1]])
    dist = np.array([[0.5], [0.5], [1.0]])
    g = knn.KnnGraph(idx, dist, "euclidean")
    assert idx.flags.writeable and dist.flags.writeable
    assert not g.indices.flags.writeable and not g.distances.flags.writeable
    with pytest.raises(ValueError, match="indices"):
        knn.KnnGraph(np.array([[3], [0], [1]]), dist, "euclidean")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 30),
    st.integers(12, 2500),
    st.integers(1, 11),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_select_equals_stable_argsort(b, n, k, seed, ties):
    rng = np.random.default_rng(seed)
    S = (rng.integers(0, 3, (b, n)) if ties else rng.normal(size=(b, n))).astype(np.float32)
    S.setflags(write=False)
    np.testing.assert_array_equal(knn._select(S, k), np.argsort(S, axis=1, kind="stable")[:, :k])


def test_many_identical_rows_stay_fast_and_correct():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 8))
    X[:1000] = X[0]
    g = knn.build_knn_graph(X)
    assert (g.distances[:1000] == 0).all()
    assert set(g.indices[5]) <= set(range(1000)) and 5 not in g.indices[5]


def test_low_dimensional_euclidean_stays_exact_at_any_size():
    import warnings as _w

    X = np.random.default_rng(0).normal(size=(25_000, 3))
    with _w.catch_warnings():
        _w.simplefilter("error")  # no approximate-search warning
        g = knn.build_knn_graph(X, k=3)
    assert not g.approximate and g.metric == "euclidean"
    from scipy.spatial import cKDTree

    d, _ = cKDTree(X).query(X[:100], k=4)
    np.testing.assert_allclose(g.distances[:100], d[:, 1:], atol=1e-12)


# ------------------------------------------------------------------------------------------
# feature values at any finite scale (issue 15, items 2 and 9)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "metric,d,approximate",
    [
        ("cosine", 12, False),
        ("cosine", 12, True),
        ("euclidean", 12, False),  # BLAS blocks
        ("euclidean", 12, True),
        ("euclidean", 3, False),  # KD-tree
    ],
)
def test_the_graph_does_not_depend_on_the_scale_of_the_values(metric, d, approximate):
    """Values beyond float32's range (1e39, 1e300) or below it (1e-44, 1e-300) give the same
    neighbours as the unscaled values, and distances scaled with them (cosine: equal)."""
    X = make_embeddings(600, d, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", knn.ApproximateNeighborsWarning)
        base = knn.build_knn_graph(X, metric=metric, approximate=approximate)
        for factor in (2.0**-1000, 2.0**140, 1e39, 1e300, 1e-44, 1e-300):
            g = knn.build_knn_graph(*_readonly(X * factor), metric=metric, approximate=approximate)
            np.testing.assert_array_equal(g.indices, base.indices, err_msg=str(factor))
            unit = factor if metric == "euclidean" else 1.0
            np.testing.assert_allclose(g.distances / unit, base.distances, rtol=1e-12, atol=1e-14)
            again = knn.build_knn_graph(X * factor, metric=metric, approximate=approximate)
            np.testing.assert_array_equal(again.indices, g.indices)  # the same on every run
            np.testing.assert_array_equal(again.distances, g.distances)


def test_cosine_rows_of_very_different_magnitudes_are_searched_exactly():
    """Rows from 1e-300 to 1e300 in one matrix: the cosine neighbours and distances of a float64
    brute-force search on each row's own scale (a cosine distance ignores a row's scale)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6)) * 10.0 ** rng.integers(-300, 300, size=(300, 1))
    U = X / np.abs(X).max(axis=1, keepdims=True)
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    D = np.clip(1 - U @ U.T, 0, 2)
    np.fill_diagonal(D, np.inf)
    g = knn.build_knn_graph(X, metric="cosine", k=5)
    np.testing.assert_array_equal(g.indices, np.argsort(D, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(g.distances, np.sort(D, axis=1)[:, :5], rtol=1e-9, atol=1e-12)


def test_queries_far_beyond_the_indexed_rows():
    """A query at 1e300 against rows near 1: the other queries keep their neighbours, and the
    far one gets finite distances."""
    X = np.random.default_rng(0).normal(size=(500, 12))
    for d in (12, 4):  # BLAS blocks, KD-tree
        index = knn.KnnIndex(X[:, :d], metric="euclidean")
        near_idx, near_dist = index.query(X[:3, :d], 3)
        idx, dist = index.query(np.vstack([X[:3, :d], np.full((1, d), 1e300)]), 3)
        np.testing.assert_array_equal(idx[:3], near_idx)
        np.testing.assert_array_equal(dist[:3], near_dist)
        assert np.isfinite(dist).all() and (dist[3] > 1e299).all()


def test_scales_kernel():
    X = np.array([[1.0, 1e300, 5.0], [3.0, 3e300, 5.0], [5.0, -4e300, 5.0]])
    np.testing.assert_allclose(
        scales.column_scales(X, "euclidean")[:2],
        [np.std([1, 3, 5]), np.std([1, 3, -4]) * 1e300],
    )
    np.testing.assert_allclose(scales.column_scales(X, "cosine")[2], 5.0)
    s = scales.Standardizer.fit(X)
    Z = s.transform(X)
    np.testing.assert_allclose(Z[:, :2].mean(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose(Z[:, :2].std(axis=0), 1)
    assert (Z[:, 2] == 0).all()  # a constant column maps to exactly 0
    assert s.transform(np.array([[1.0, 0.0, 6.0]]))[0, 2] > 0  # a new value keeps its offset
    for m in (0.0, 5e-324, 1e-300, 1.0, 3.0, 1.7e308):
        p = scales.pow2_scale(m)
        assert np.isfinite(p) and (m == 0 or 1 <= m / p < 2)


def test_search_by_radius_finds_exactly_the_pairs_either_row_probes():
    """Probes per row by radius: row i probes the cells whose centroid key is at most its
    nearest cell's plus delta (at most nprobe of them); the symmetric search's k best of row i
    are the k nearest of exactly the rows j where i probes j's cell or j probes i's — what
    :meth:`calibrate_radius` assumes — and the calibrated radius reaches the target recall on
    its sample, which a smaller one does not."""
    _check_radius_search(boundary=False)


def test_search_by_boundary_finds_exactly_the_pairs_either_row_probes():
    """The same with the radius on each row's distance to the boundary between its nearest
    cell and another (for cosine keys of unit rows, the key gap over the centroids' distance);
    the factors are checked in float64."""
    _check_radius_search(boundary=True)


def _check_radius_search(boundary):
    X = make_shape("manifold", 3000, 128, seed=5)
    index = knn.KnnIndex(X, approximate=True)
    cj = index._ivf
    k, cap = 10, 12
    sample = index._samples()[0]
    delta = cj.calibrate_radius(k, sample, symmetric=True, boundary=boundary)[0]
    found = cj.search(None, k, cap, symmetric=True, delta=delta, boundary=boundary)
    if boundary:
        C = cj.centroids.astype(np.float64)
        sep = np.linalg.norm(C[:, None, :] - C[None, :, :], axis=2)
        off = ~np.eye(len(C), dtype=bool)
        np.testing.assert_allclose(cj.boundary_factors[off], 1 / sep[off], rtol=1e-5)

    def within(ck, d):  # within[i, c]: row i's test for cell c, in the search's float32
        low = ck.min(axis=1, keepdims=True)
        if not boundary:
            return ck <= low + np.float32(d)
        return (ck - low) * cj.boundary_factors[ck.argmin(axis=1)] <= np.float32(d)

    ck = cj._centroid_keys(cj.Y)
    masked = np.where(within(ck, delta), ck, np.inf)
    order = np.argsort(masked, axis=1, kind="stable")
    rank = np.argsort(order, axis=1)
    probes_cell = np.isfinite(masked) & (rank < cap)  # probes_cell[i, c]: i probes cell c
    probes = probes_cell[:, cj.assign]  # probes[i, j]: i probes j's cell
    assert 1 < probes_cell.sum(axis=1).mean() < cap  # rows probe different numbers of cells
    reach = (probes | probes.T) & ~np.eye(len(X), dtype=bool)
    Y64 = cj.Y.astype(np.float64)
    keys = -(Y64 @ Y64.T)
    assert (found >= 0).all()
    assert all(len(set(row)) == k for row in found)  # no row twice
    assert reach[np.arange(len(X))[:, None], found].all()  # only pairs either row probes
    # and the k nearest of them on every row: the same k key values (the search's float32
    # blocked products may order two rows whose keys differ by rounding either way)
    for i in range(len(X)):
        best = np.sort(keys[i, reach[i]])[:k]
        np.testing.assert_allclose(np.sort(keys[i, found[i]]), best, rtol=0, atol=1e-5)
    # the calibration: the smallest radius reaching the target on its sample
    a, nb, near_rows = cj._sample_neighbours(k, sample)

    def recall(d):
        ck_i, ck_j = cj._centroid_keys(cj.Y[sample]), cj._centroid_keys(cj.Y[nb])
        hit = (
            within(ck_i, d)[a, cj.assign[nb]]
            | within(ck_j, d)[np.arange(len(nb)), cj.assign[sample[a]]]
        )
        got = np.bincount(a, weights=hit, minlength=len(sample))
        return (np.minimum(got, k)[near_rows] / k).mean()

    assert recall(delta) >= knn.TARGET_RECALL
    assert recall(np.nextafter(np.float32(delta), np.float32(0)) * 0.999) < knn.TARGET_RECALL


def test_data_the_fixed_probes_would_search_exactly_stays_exact():
    """Isotropic noise at 22,000 x 48: the fixed probes would compare 51% of the rows, so the
    search is exact; the radius would compare 46% and must not make it approximate."""
    X = np.random.default_rng(0).standard_normal((22_000, 48)).astype(np.float32)
    index = knn.KnnIndex(X, approximate=True)
    _, _, scanned = index._ivf.calibrate(10, index._samples()[0], symmetric=True)
    assert scanned > knn.EXHAUSTIVE_ABOVE
    assert index.exact_for(10)
    assert index._probes(10) is None
