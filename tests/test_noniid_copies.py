"""The non-IID test on data with many exact copies: parity with Datalab on its own graph, the
re-draw of the neighbours that ties among copies chose on cleanframe's graphs (issue 13).

A row whose k nearest neighbours include some but not all of a group of exact copies (all at one
distance from it) lists the copies its graph's tie order chose: sklearn's brute-force search
(Datalab) keeps those ``np.argpartition`` leaves in front, cleanframe's search the first by row
position. cleanframe re-draws them among the copies on the graphs it builds, so the result does
not depend on that choice; a graph from elsewhere is used as given.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cleanframe
from cleanframe import neighbors as nb
from cleanframe.scoring.neighbors import knn, noniid

from .conftest import examples, to_pandas

D = 8
EMB = [f"emb_{i}" for i in range(D)]


def copies_frame(*, seed: int = 0, drift: bool = False) -> pd.DataFrame:
    """~560 rows: 300 clustered rows, 60 of them with 1-8 exact copies each (groups of at most
    9 rows, so no row has only copies as neighbours), shuffled (or drifting with row order)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(6, D)) * 3
    base = centers[rng.integers(0, 6, 300)] + rng.normal(size=(300, D))
    extra = np.repeat(rng.choice(300, 60, replace=False), rng.integers(1, 9, 60))
    X = np.concatenate([base, base[extra]])
    X = X[rng.permutation(len(X))]
    if drift:
        X = X[np.argsort(X[:, 0] + 0.5 * rng.normal(size=len(X)), kind="stable")]
    return pd.DataFrame(X, columns=EMB)


def datalab_non_iid(df: pd.DataFrame):
    pytest.importorskip("datasets")  # cleanlab's Datalab needs it (a dev dependency)
    from cleanlab import Datalab

    lab = Datalab(pd.DataFrame({"y": np.arange(len(df)) % 2}), label_name="y", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(features=df[EMB].to_numpy(), issue_types={"non_iid": {}})
    return lab


@pytest.fixture(scope="module", params=[False, True], ids=["shuffled", "drifting"])
def case(request):
    df = copies_frame(drift=request.param)
    lab = datalab_non_iid(df)
    return request.param, df, lab


def test_datalabs_graph_gives_datalabs_results_with_many_copies(case, constructor):
    """Datalab's graph (a CSR matrix, or the audit's knn_graph=) is used as given: p-value,
    scores and the flag equal Datalab's, although re-drawing its copies would change them."""
    drift, df, lab = case
    csr = lab.get_info("statistics")["weighted_knn_graph"]
    ref = lab.get_issues("non_iid")
    p_ref = lab.get_info("non_iid")["p-value"]
    res = nb.non_iid(constructor(df), knn_graph=csr.copy(), metric="cosine")
    rows = to_pandas(res.rows)
    assert res.p_value == pytest.approx(p_ref, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(rows["non_iid_score"], ref["non_iid_score"], rtol=1e-12)
    np.testing.assert_array_equal(rows["is_non_iid_issue"], ref["is_non_iid_issue"])
    assert (p_ref < 0.05) == drift
    report = cleanframe.audit(
        constructor(df), features=EMB, knn_graph=csr.copy(), checks=["non_iid"], progress=False
    )
    assert report.details["non_iid"].p_value == res.p_value
    np.testing.assert_array_equal(to_pandas(report.issues)["non_iid_score"], rows["non_iid_score"])
    # the data really has rows whose listed copies ties chose (the case the rule is about)
    graph = knn.KnnGraph.from_csr(csr, metric="cosine")
    redrawn = noniid.non_iid(graph.indices, distances=graph.distances, metric="cosine", redraw=True)
    assert redrawn["redrawn"].sum() >= 20 and redrawn["tested"].all()
    assert not np.array_equal(redrawn["scores"], ref["non_iid_score"].to_numpy())


def test_own_graph_result_does_not_depend_on_which_copies_it_listed(case):
    """cleanframe's graph lists the first copies by row position, Datalab's those argpartition
    left in front; after the re-draw both give the same p-value, scores and flag."""
    drift, df, lab = case
    theirs = knn.KnnGraph.from_csr(
        lab.get_info("statistics")["weighted_knn_graph"], metric="cosine"
    )
    res = nb.non_iid(df, features=EMB)
    ours = res.knn_graph
    differ = [set(a) != set(b) for a, b in zip(ours.indices, theirs.indices)]
    assert sum(differ) >= 5  # the two searches chose different copies on some rows
    expected = noniid.non_iid(
        theirs.indices, distances=theirs.distances, metric="cosine", redraw=True
    )
    rows = to_pandas(res.rows)
    assert res.p_value == expected["p_value"]
    np.testing.assert_array_equal(rows["non_iid_score"], expected["scores"])
    np.testing.assert_array_equal(rows["is_non_iid_issue"], expected["is_issue"])
    assert res.is_non_iid == drift
    # the audit's check is the public function
    report = cleanframe.audit(df, features=EMB, checks=["non_iid"], progress=False)
    assert report.details["non_iid"].p_value == res.p_value


def test_copy_groups_are_the_exact_duplicate_sets():
    df = copies_frame(seed=3)
    X = df.to_numpy()
    graph = knn.build_knn_graph(X, k=10)
    groups = noniid.copy_groups(graph.distances, graph.indices, graph.metric)
    sets = knn.exact_duplicate_sets(X)
    assert len(sets) == 60
    expected = np.full(len(X), -1)
    for g, members in enumerate(sets):  # ordered by first member, as copy_groups numbers them
        expected[members] = g
    np.testing.assert_array_equal(groups, expected)


@settings(max_examples=examples(60), deadline=None)
@given(
    sizes=st.lists(st.integers(2, 7), min_size=1, max_size=5),
    singles=st.integers(12, 40),
    seed=st.integers(0, 2**32 - 1),
    order_seed=st.integers(0, 2**32 - 1),
)
def test_redraw_only_swaps_copies_and_ignores_which_were_listed(sizes, singles, seed, order_seed):
    """On any graph: the re-draw changes a row's neighbours only among the members of a group
    of copies it lists in part, keeps how many of each group it lists, never lists a row
    twice, and gives the same neighbour sets whichever members the graph listed."""
    rng = np.random.default_rng(seed)
    n = sum(sizes) + singles
    k = 5
    order = np.random.default_rng(order_seed).permutation(n)  # copies anywhere in row order
    groups = np.full(n, -1)
    start = 0
    for g, size in enumerate(sizes):
        groups[order[start : start + size]] = g
        start += size
    # a graph: each row lists k other rows (its own copies first), drawn at random
    idx = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        own = np.flatnonzero((groups == groups[i]) & (groups >= 0) & (np.arange(n) != i))[:k]
        rest = rng.permutation(np.setdiff1d(np.arange(n), np.r_[own, i]))[: k - len(own)]
        idx[i] = np.r_[own, rest]
    new, redrawn = noniid.redraw_copies(idx, groups, seed=7)
    # swap the listed members of a partly listed group for other members: same result
    other = idx.copy()
    for i in range(n):
        for g in np.unique(groups[idx[i]]):
            if g < 0 or g == groups[i]:
                continue
            slots = np.flatnonzero(groups[idx[i]] == g)
            members = np.flatnonzero(groups == g)
            other[i, slots] = rng.permutation(members)[: len(slots)]
    again, redrawn_again = noniid.redraw_copies(other, groups, seed=7)
    np.testing.assert_array_equal(np.sort(new, axis=1), np.sort(again, axis=1))
    np.testing.assert_array_equal(redrawn, redrawn_again)
    for i in range(n):
        assert len(set(new[i])) == k and i not in new[i]
        changed = new[i] != idx[i]
        assert (groups[new[i]] == groups[idx[i]]).all()  # same group in each slot
        assert (groups[idx[i][changed]] >= 0).all() and (groups[idx[i][changed]] != groups[i]).all()
        if changed.any():
            assert redrawn[i]
        whole = all(
            (groups[idx[i]] == g).sum() == (groups == g).sum()
            for g in np.unique(groups[idx[i]])
            if g >= 0 and g != groups[i]
        )
        if whole:
            assert not redrawn[i] and not changed.any()


def test_redraw_is_seeded_and_leaves_the_global_rng_alone():
    df = copies_frame(seed=1)
    graph = knn.build_knn_graph(df.to_numpy(), k=10)
    state = np.random.get_state()[1].copy()
    a = noniid.non_iid(graph.indices, distances=graph.distances, metric="cosine", redraw=True)
    b = noniid.non_iid(graph.indices, distances=graph.distances, metric="cosine", redraw=True)
    c = noniid.non_iid(
        graph.indices, distances=graph.distances, metric="cosine", redraw=True, seed=5
    )
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    assert a["p_value"] == b["p_value"] and np.array_equal(a["scores"], b["scores"])
    assert a["redrawn"].any() and not np.array_equal(a["scores"], c["scores"])
    plain = noniid.non_iid(graph.indices, distances=graph.distances, metric="cosine")
    assert not plain["redrawn"].any()


def test_the_example_in_differences():
    """docs/DIFFERENCES.md, "Non-IID test: neighbours chosen among exact copies"."""
    from cleanlab.internal.neighbor.knn_graph import create_knn_graph_and_index

    X = np.random.default_rng(0).normal(size=(40, 4))
    X[[5, 17, 23, 31]] = X[1]
    df = pd.DataFrame(X, columns=list("abcd"))
    graph = nb.knn_graph(df, features=list("abcd"), k=3)
    assert graph.indices[[9, 16]].tolist() == [[4, 11, 1], [11, 0, 1]]
    theirs, _ = create_knn_graph_and_index(X, n_neighbors=3, metric="cosine")
    listed = theirs.indices.reshape(40, 3)[[9, 16]]
    # sklearn lists one of the copies too, whichever np.argpartition left in front (5 for row 16
    # with numpy 2.4 on x86; it depends on numpy's build)
    assert listed[:, :2].tolist() == [[4, 11], [11, 0]] and set(listed[:, 2]) <= {1, 5, 17, 23, 31}
    groups = noniid.copy_groups(graph.distances, graph.indices, graph.metric)
    drawn, redrawn = noniid.redraw_copies(graph.indices, groups)
    assert drawn[[9, 16]].tolist() == [[4, 11, 23], [11, 0, 1]]
    assert set(np.flatnonzero(groups >= 0)) == {1, 5, 17, 23, 31}
    assert redrawn[[9, 16]].all()
    # the five copies' own neighbours are all copies: left out of the test
    res = noniid.non_iid(graph.indices, distances=graph.distances, metric=graph.metric, redraw=True)
    assert np.flatnonzero(~res["tested"]).tolist() == [1, 5, 17, 23, 31]
