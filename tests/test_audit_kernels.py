"""The audit's compiled loops and shortcuts give exactly what their definitions give.

- the underperforming-group clusters: scikit-learn's DBSCAN on the graph as a sparse
  precomputed matrix (the reference) against the compiled search on the graph's arrays, on
  random graphs with ties, zero distances, asymmetric neighbourhoods, and graphs that
  scikit-learn reads differently (a row listing itself or a neighbour twice);
- the non-IID statistic, p-value and row scores: the numpy definitions (written out below, as
  they were before the loops were compiled) against the compiled loops, bit for bit;
- the rows with a missing feature value, and the engine's stacking of columns that are one
  2-D block in memory, against the plain numpy computation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanframe._engines import _base, adapt
from cleanframe.scoring.neighbors import groups, knn, noniid
from cleanframe.scoring.neighbors.datalab_checks import missing_rows

from .conftest import examples


# ------------------------------------------------------------------------------------------
# DBSCAN on the graph
# ------------------------------------------------------------------------------------------
def sklearn_dbscan(indices, distances, eps, min_samples):
    """scikit-learn's DBSCAN on the graph as a CSR matrix (the module's fallback, the
    reference here)."""
    return groups._sklearn_dbscan(
        np.asarray(indices), np.asarray(distances), eps=eps, min_samples=min_samples
    )


def random_graph(rng, n, k, *, levels=None):
    """k distinct other rows per row; distances from a few levels (ties, zeros) or uniform."""
    idx = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        idx[i] = rng.choice(np.delete(np.arange(n), i), k, replace=False)
    if levels is None:
        dist = rng.random((n, k))
    else:
        dist = rng.choice(np.asarray(levels, dtype=np.float64), size=(n, k))
    return idx, np.sort(dist, axis=1)


@settings(max_examples=examples(40), deadline=None)
@given(
    n=st.integers(2, 60),
    k=st.integers(1, 8),
    eps=st.sampled_from([0.05, 0.2, 0.5, 0.9]),
    min_samples=st.integers(1, 9),
    ties=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_dbscan_equals_sklearn_on_random_graphs(n, k, eps, min_samples, ties, seed):
    k = min(k, n - 1)
    rng = np.random.default_rng(seed)
    idx, dist = random_graph(rng, n, k, levels=[0.0, 0.2, 0.5, 0.9] if ties else None)
    got = groups.dbscan_clusters(idx, dist, eps=eps, min_samples=min_samples)
    expected = sklearn_dbscan(idx, dist, eps, min_samples)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_dbscan_equals_sklearn_on_a_larger_clustered_graph():
    """Clusters that touch through border rows: which cluster a border row joins depends on
    the search order, which must be scikit-learn's."""
    rng = np.random.default_rng(5)
    centers = rng.normal(size=(12, 4)) * 2
    X = centers[rng.integers(0, 12, 3000)] + rng.normal(size=(3000, 4)) * 0.6
    g = knn.build_knn_graph(X, k=8, metric="euclidean")
    for eps, min_samples in [(0.3, 5), (0.5, 9), (0.8, 3), (0.2, 2)]:
        got = groups.dbscan_clusters(g.indices, g.distances, eps=eps, min_samples=min_samples)
        np.testing.assert_array_equal(got, sklearn_dbscan(g.indices, g.distances, eps, min_samples))
        assert got.max() > 0  # several clusters, so the test can tell orders apart


@pytest.mark.parametrize("case", ["self", "twice", "nan"])
def test_dbscan_graphs_sklearn_reads_differently_go_to_sklearn(case):
    rng = np.random.default_rng(1)
    idx, dist = random_graph(rng, 40, 4, levels=[0.0, 0.1, 0.3])
    if case == "self":  # a row listing itself (scikit-learn keeps its stored distance)
        idx[3, 0] = 3
        dist[3, 0] = 0.9
    elif case == "twice":  # a neighbour listed twice (scikit-learn sums the entries)
        idx[5, 1] = idx[5, 0]
        dist[5, :2] = 0.3
    else:
        dist[7, 2] = np.nan
    assert not groups._plain_graph(idx, dist)
    if case == "nan":
        with pytest.raises(ValueError):
            groups.dbscan_clusters(idx, dist, eps=0.2, min_samples=3)
        return
    got = groups.dbscan_clusters(idx, dist, eps=0.2, min_samples=3)
    np.testing.assert_array_equal(got, sklearn_dbscan(idx, dist, 0.2, 3))


def test_dbscan_invalid_parameters_raise_sklearns_error():
    idx, dist = random_graph(np.random.default_rng(2), 10, 3)
    for eps, min_samples in [(0.0, 5), (-1.0, 5), (0.5, 0)]:
        with pytest.raises(ValueError):
            groups.dbscan_clusters(idx, dist, eps=eps, min_samples=min_samples)


def test_dbscan_python_loop_is_the_compiled_one():
    rng = np.random.default_rng(3)
    idx, dist = random_graph(rng, 200, 5, levels=[0.0, 0.3, 0.6])
    within = dist <= 0.5
    core = within.sum(axis=1) + 1 >= 4
    a = np.full(200, -1, dtype=np.intp)
    b = np.full(200, -1, dtype=np.intp)
    groups._dbscan_py(idx, within, core, a)
    groups._compiled()(idx, within, core, b)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, sklearn_dbscan(idx, dist, 0.5, 4))


# ------------------------------------------------------------------------------------------
# non-IID: the numpy definitions
# ------------------------------------------------------------------------------------------
def reference_p_value(indices, *, num_permutations=25, seed=0, rows=None):
    from scipy.stats import gaussian_kde

    idx = np.asarray(indices)
    n = len(idx)
    keep = np.arange(n) if rows is None else np.flatnonzero(rows)
    if not len(keep):
        return float("nan"), float("nan")
    bg = noniid._background_cdf(n)
    kept = idx[keep]
    observed = noniid._ks_from_gaps(np.abs(keep[:, None] - kept), n, bg)
    rng = np.random.RandomState(seed)
    stats = np.empty(num_permutations)
    for p in range(num_permutations):
        perm = rng.permutation(n)
        stats[p] = noniid._ks_from_gaps(np.abs(perm[keep, None] - perm[kept]), n, bg)
    if np.ptp(stats) == 0:
        return (1.0 if observed <= stats[0] else 0.0), observed
    return float(gaussian_kde(stats).integrate_box(observed, 100)), observed


def reference_scores(indices):
    idx = np.asarray(indices)
    n, k = idx.shape
    i = np.arange(n)
    gaps = np.sort(np.abs(i[:, None] - idx), axis=1)
    s = np.hstack([gaps, np.full((n, 1), n - 1)]).astype(np.int64)
    dd = np.where(i > (n - 1) // 2, np.abs(i - (n - 1)), i)[:, None]
    prev = np.zeros_like(s)
    prev[:, 1:] = s[:, :-1]
    diffs = s - prev
    area_begin = dd**2 / (n - 1)
    length = n - 2 * dd - 1
    area_middle = 0.5 * (2 * dd / (n - 1) + 1) * length
    begin = s <= dd
    end = s > (n - dd - 1)
    middle_set = ~begin & ~end
    bg = np.zeros(s.shape)
    bg = np.where(begin, s**2 / (n - 1), bg)
    bg = np.where(middle_set, area_begin + 0.5 * ((s + 3 * dd) * (s - dd) / (n - 1)), bg)
    bg = np.where(end, area_begin + area_middle + (s - (n - dd - 1) * 1.0), bg)
    bg_prev = np.zeros_like(bg)
    bg_prev[:, 1:] = bg[:, :-1]
    fg_cdf = np.arange(k + 1) / k
    area = np.abs(fg_cdf[None, :] * diffs - (bg - bg_prev)).sum(axis=1)
    return np.tanh(-area / np.maximum(i, n - i)) + 1


def graph_indices(rng, n, k, kind):
    if kind == "drift":
        return np.array([[(i + d + 1) % n for d in range(k)] for i in range(n)])
    if kind == "self":  # rows listed as their own neighbour (gap 0)
        idx = np.stack([rng.choice(n, k, replace=False) for _ in range(n)])
        idx[:, 0] = np.arange(n)
        return idx
    return np.stack([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])


@settings(max_examples=examples(60), deadline=None)
@given(
    n=st.integers(2, 400),
    k=st.integers(1, 12),
    kind=st.sampled_from(["random", "drift", "self"]),
    subset=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_non_iid_compiled_equals_the_numpy_definition(n, k, kind, subset, seed):
    k = min(k, n - 1)
    rng = np.random.default_rng(seed)
    idx = graph_indices(rng, n, k, kind)
    rows = rng.random(n) < 0.7 if subset else None
    assert noniid.non_iid_p_value(idx, rows=rows, seed=seed % 1000) == pytest.approx(
        reference_p_value(idx, rows=rows, seed=seed % 1000), rel=0, abs=0, nan_ok=True
    )
    np.testing.assert_array_equal(noniid.non_iid_scores(idx), reference_scores(idx))


def test_non_iid_compiled_equals_the_numpy_definition_on_a_real_graph():
    rng = np.random.default_rng(4)
    X = np.cumsum(rng.normal(size=(6000, 6)), axis=0) * 0.05 + rng.normal(size=(6000, 6))
    g = knn.build_knn_graph(X, k=10, metric="euclidean")
    p, stat = noniid.non_iid_p_value(g.indices)
    assert (p, stat) == reference_p_value(g.indices)
    np.testing.assert_array_equal(noniid.non_iid_scores(g.indices), reference_scores(g.indices))
    python = np.empty((6000, 11))
    noniid._score_terms_py(g.indices.astype(np.int64), python)
    compiled = np.empty((6000, 11))
    noniid._compiled()["score_terms"](g.indices.astype(np.int64), compiled)
    np.testing.assert_array_equal(python, compiled)


@pytest.mark.parametrize("kind", ["random", "drift", "self"])
def test_non_iid_statistic_is_the_same_on_int32_and_int64_positions(kind):
    # the test passes int32 positions whenever the gap counts fit (int64 beyond 2**31 gaps)
    rng = np.random.default_rng(9)
    n, k = 500, 6
    idx = graph_indices(rng, n, k, kind)
    gap_ks, bg = noniid._compiled()["gap_ks"], noniid._background_cdf(n)
    rows = np.flatnonzero(rng.random(n) < 0.8)
    for perm in (np.arange(n), rng.permutation(n)):
        wide, narrow = (
            gap_ks(perm.astype(t), rows.astype(t), idx[rows].astype(t), n, bg)
            for t in (np.int64, np.int32)
        )
        assert wide == narrow == noniid._gap_ks_py(perm, rows, idx[rows], n, bg)


# ------------------------------------------------------------------------------------------
# missing values and the stacked feature columns
# ------------------------------------------------------------------------------------------
@settings(max_examples=examples(60), deadline=None)
@given(
    n=st.integers(0, 30),
    d=st.integers(1, 12),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**31 - 1),
)
def test_missing_rows_are_the_rows_with_a_nan(n, d, dtype, seed):
    rng = np.random.default_rng(seed)
    big = np.finfo(dtype).max
    X = rng.choice(np.array([0.0, 1.0, -2.5, big, -big, np.nan], dtype=dtype), size=(n, d))
    np.testing.assert_array_equal(missing_rows(X), np.isnan(X).any(axis=1))


def test_missing_rows_sees_a_nan_behind_cancelling_infinite_sums():
    big = np.finfo(np.float64).max
    row = [big] * 4 + [-big] * 4  # pairwise sums: inf + -inf = NaN
    X = np.array([row + [1.0], row + [np.nan]])
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(X.sum(axis=1)).all()  # both rows are candidates
    assert missing_rows(X).tolist() == [False, True]


def column_by_column(arrays, dtype):
    out = np.empty((len(arrays[0]), len(arrays)), dtype=dtype)
    for i, a in enumerate(arrays):
        out[:, i] = a
    return out


@pytest.mark.parametrize(
    "layout", ["block", "fortran", "some columns", "every other", "reversed", "float32"]
)
def test_stacked_columns_of_one_block_equal_a_column_by_column_copy(layout):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(5000, 40))
    if layout == "float32":
        X = X.astype(np.float32)
    base = np.asfortranarray(X) if layout == "fortran" else X
    arrays = [base[:, j] for j in range(40)]
    if layout == "some columns":
        arrays = arrays[5:30]
    elif layout == "every other":
        arrays = arrays[::2]
    elif layout == "reversed":
        arrays = arrays[::-1]
    assert _base._one_block(arrays) is not None
    out = _base.stack_columns(arrays, X.dtype)
    assert out.flags.c_contiguous and out.flags.writeable and out.dtype == X.dtype
    np.testing.assert_array_equal(out, column_by_column(arrays, X.dtype))
    assert np.shares_memory(out, X) is False


def test_stacked_columns_not_one_block_take_the_column_path():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=1000), rng.normal(size=1000)
    # separate arrays may or may not lie at one offset: either way the stack is the columns
    np.testing.assert_array_equal(_base.stack_columns([a, b], np.float64), np.c_[a, b])
    X = rng.normal(size=(1000, 3))
    assert _base._one_block([X[:, 0], X[:, 0]]) is None  # a column twice
    assert _base._one_block([X[:, 0], X[:, 1], X[:, 1]]) is None
    assert _base._one_block([X[:, 0], X[:, 1].astype(np.float32)]) is None
    np.testing.assert_array_equal(
        _base.stack_columns([X[:, 0], X[:, 0], a], np.float64), np.c_[X[:, 0], X[:, 0], a]
    )


def test_columns_of_separate_buffers_at_one_spacing_are_not_one_block():
    """Separate buffers that happen to lie at one spacing (small Arrow buffers of a polars frame
    often do) are not one block: the strided view would span memory between them that no array
    owns, where numpy's copy can place its output and then recurse on the apparent overlap until
    the thread's stack overflows (a test worker died that way in about 1 run in 10)."""
    memory = np.arange(4000, dtype=np.float64)
    raw = memoryview(memory.view(np.uint8))
    # each column its own array (its base a memoryview, not one numpy array), 1000 values apart
    columns = [np.frombuffer(raw[i * 8000 : i * 8000 + 32], dtype=np.float64) for i in range(3)]
    assert [c.__array_interface__["data"][0] for c in columns] == [
        columns[0].__array_interface__["data"][0] + i * 8000 for i in range(3)
    ]
    assert _base._one_block(columns) is None
    np.testing.assert_array_equal(_base.stack_columns(columns, np.float64), np.c_[tuple(columns)])
    # the same memory through one numpy array is one block: its span is that array's own
    X = memory.reshape(4, 1000)
    assert _base._one_block([X[i, :4] for i in range(3)]) is not None
    assert _base._one_block([X[0, :4], columns[1]]) is None  # one owner each


def test_polars_columns_cast_apart_are_not_one_block():
    """Two columns of a polars frame cast to Float32 are two separate buffers, whose addresses
    are often one spacing apart by chance (hundreds of MB): the column path. Columns that are
    slices of one buffer with no gaps (a frame made from pandas' 2-D block) stay one block."""
    import polars as pl

    for seed in range(20):
        values = np.random.default_rng(seed).random((5, 2))
        frame = pl.DataFrame({"a": values[:, 0], "b": values[:, 1]})
        cast = frame.with_columns(pl.all().cast(pl.Float32))
        arrays = [cast.get_column(c).to_numpy() for c in cast.columns]
        assert _base._one_block(arrays) is None
        np.testing.assert_array_equal(_base.stack_columns(arrays, np.float32), cast.to_numpy())
    packed = pl.from_pandas(pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=list("abc")))
    arrays = [packed.get_column(c).to_numpy() for c in packed.columns]
    assert _base._one_block(arrays) is not None
    np.testing.assert_array_equal(_base.stack_columns(arrays, np.float64), packed.to_numpy())


def test_pandas_frame_from_an_array_gives_its_values():
    """A frame built from an (N, K) array stores its columns as one block."""
    X = np.random.default_rng(8).normal(size=(3000, 16))
    df = pd.DataFrame(X, columns=[f"e{j}" for j in range(16)])
    df["y"] = 1
    m = adapt(df).matrix([f"e{j}" for j in (3, 4, 5, 6)])
    np.testing.assert_array_equal(m, X[:, 3:7])
    m[0, 0] = 99.0  # a copy: the frame is not modified
    assert df["e3"].iloc[0] == X[0, 3]


@pytest.mark.parametrize("cores", [1, 2])
def test_non_iid_is_the_same_on_one_core_and_with_worker_threads(cores, monkeypatch):
    """The permutation statistics and the row scores run on worker threads when there are
    several cores, inline on one: the same numbers either way."""
    rng = np.random.default_rng(9)
    idx = graph_indices(rng, 3000, 10, "random")
    idx[:40] = graph_indices(rng, 40, 10, "drift")[:, :10] % 3000  # a little order signal
    dist = np.sort(rng.choice([0.0, 0.1, 0.4], size=idx.shape), axis=1)
    dist[100:120] = 0.0  # rows whose neighbours are all copies: left out of the test
    monkeypatch.setattr(noniid, "_workers", lambda: cores)
    got = noniid.non_iid(idx, distances=dist, redraw=True, seed=3)
    redrawn = noniid.redraw_copies(idx, noniid.copy_groups(dist, idx), seed=3)[0]
    assert got["redrawn"].any() and not got["tested"].all()
    expected = reference_p_value(redrawn, rows=got["tested"], seed=3)
    assert (got["p_value"], got["statistic"]) == expected
    scores = reference_scores(redrawn)
    scores[~got["tested"]] = 1.0
    np.testing.assert_array_equal(got["scores"], scores)


def test_worker_errors_reach_the_caller(monkeypatch):
    monkeypatch.setattr(noniid, "_workers", lambda: 2)

    def fail(_):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        with noniid._Workers() as workers:
            for i in range(10):
                workers.submit(fail, i)


# ------------------------------------------------------------------------------------------
# the label check's reasons and health score
# ------------------------------------------------------------------------------------------
def reference_label_sentence(labels, P, names, thresholds, i):
    """The label check's sentence for row ``i``, written out per row from numpy values (as the
    check built it before it formatted each class once)."""
    given, top = labels[i], int(np.argmax(P[i]))
    p_given, t = np.float64(P[i, given]), np.float64(thresholds[given])
    where = "below" if p_given < t else "at or above"
    if top == given:
        return (
            f'label: given "{names[given]}", which the model also ranks first ({p_given:.3g}), '
            f"{where} its confident threshold {t:.3g}"
        )
    return (
        f'label: given "{names[given]}", the model says "{names[top]}" '
        f'({np.float64(P[i, top]):.3g}); "{names[given]}" gets {p_given:.3g}, {where} its '
        f"confident threshold {t:.3g}"
    )


@settings(max_examples=examples(40), deadline=None)
@given(
    n=st.integers(1, 80),
    k=st.integers(2, 5),
    dtype=st.sampled_from([np.float64, np.float32]),
    names=st.sampled_from(["text", "int", "mixed"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_label_reasons_equal_the_per_row_sentences(n, k, dtype, names, seed):
    from types import SimpleNamespace

    from cleanframe.checks.builtin import _label_evidence
    from cleanframe.scoring.classification.count import get_confident_thresholds

    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(k, 0.5), n).astype(dtype)
    P[: n // 3] = np.round(P[: n // 3], 1)  # ties: the first maximum is the suggested class
    labels = rng.integers(0, k, n)
    classes = {
        "text": [f"c{j}" for j in range(k)],
        "int": list(range(10, 10 + k)),
        "mixed": [f"c{j}" if j % 2 else j for j in range(k)],
    }[names]
    c = SimpleNamespace(labels=labels, pred_probs=P, classes=SimpleNamespace(names=classes))
    thresholds = get_confident_thresholds(labels, P)
    flags = rng.random(n) < 0.6
    evidence, why = _label_evidence(c, flags, thresholds)
    expected = [
        reference_label_sentence(labels, P, classes, thresholds, i) if flags[i] else None
        for i in range(n)
    ]
    assert why.tolist() == expected
    np.testing.assert_array_equal(evidence["suggested"], np.asarray(classes, object)[P.argmax(1)])
    np.testing.assert_array_equal(evidence["threshold_given"], thresholds[labels])


def test_label_check_score_and_joint_equal_num_label_issues_and_the_confident_joint():
    import cleanframe
    from cleanframe.scoring.classification.count import (
        compute_confident_joint,
        num_label_issues,
    )

    rng = np.random.default_rng(5)
    n, k = 3000, 4
    P = rng.dirichlet(np.full(k, 0.3), n).astype(np.float32)
    labels = np.where(rng.random(n) < 0.2, rng.integers(0, k, n), P.argmax(1))
    df = pd.DataFrame(P, columns=[f"p_{j}" for j in range(k)])
    df["y"] = labels
    report = cleanframe.audit(df, label="y", pred_probs="p_*", checks=["label"])
    expected = num_label_issues(labels, P)
    score = float(report.summary["score"].iloc[0])
    assert score == 1.0 - expected / n
    assert f"1 - {expected:,}/{n:,}" in report.notes["label"]
    np.testing.assert_array_equal(
        report.details["label"]["confident_joint"], compute_confident_joint(labels, P)
    )


@settings(max_examples=examples(60), deadline=None)
@given(
    n=st.integers(1, 30),
    d=st.integers(1, 6),
    dtype=st.sampled_from([np.float64, np.float32]),
    allow_missing=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_feature_check_looks_only_at_rows_whose_sum_is_not_finite(n, d, dtype, allow_missing, seed):
    # the rows a non-finite row sum points at are exactly the rows checked value by value: the
    # verdict is the elementwise one, overflowing sums of finite values included
    from cleanframe import ValidationError
    from cleanframe._inputs.features import resolve_checked_features

    rng = np.random.default_rng(seed)
    big = np.finfo(dtype).max
    pool = np.array([0.0, 1.0, -2.5, big, -big, np.nan, np.inf, -np.inf], dtype=dtype)
    X = rng.choice(pool, size=(n, d), p=[0.3, 0.2, 0.1, 0.15, 0.15, 0.04, 0.03, 0.03])
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(d)])
    bad = (np.isinf(X) if allow_missing else ~np.isfinite(X)).any(axis=1)
    if bad.any():
        with pytest.raises(ValidationError) as error:
            resolve_checked_features(adapt(df), "f*", allow_missing=allow_missing)
        assert error.value.num_failures == int(bad.sum())
        assert [row for row, _ in error.value.failure_cases] == np.flatnonzero(bad)[:5].tolist()
        return
    values, names, suspect = resolve_checked_features(adapt(df), "f*", allow_missing=True)
    np.testing.assert_array_equal(values, X)
    assert names == list(df.columns)
    assert set(np.flatnonzero(np.isnan(X).any(axis=1))) <= set(suspect.tolist())
    np.testing.assert_array_equal(missing_rows(values, suspect), np.isnan(X).any(axis=1))


@settings(max_examples=examples(40), deadline=None)
@given(
    n=st.integers(0, 40),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**31 - 1),
)
def test_row_reasons_format_python_values_as_the_numpy_ones(n, dtype, seed):
    # the checks' sentences read Python scalars (row_reasons) where they read numpy scalars
    from cleanframe.checks.registry import reasons, row_reasons

    rng = np.random.default_rng(seed)
    pool = np.array([0.0, -0.0, 1e-300, 123456.789, -2.5e-7, 1 / 3, np.nan, np.inf], dtype=dtype)
    values = rng.choice(pool, n) * rng.choice(np.array([1.0, 1e5, 1e-5], dtype=dtype), n)
    rows = rng.integers(-(2**40), 2**40, n)
    flags = rng.random(n) < 0.5

    def sentence(row, value):
        return f"of row {row} ({value:.2g}; {value:.3g}, {value:.6g}, {value:.2%})"

    expected = reasons(flags, lambda i: sentence(rows[i], values[i]))
    assert row_reasons(flags, sentence, rows, values).tolist() == expected.tolist()


def underperforming_reference(cluster_ids, labels, pred_probs, threshold, min_cluster_samples):
    """The per-cluster loop as it was: one mask over every row per cluster."""
    n = len(cluster_ids)
    own = pred_probs[np.arange(n), labels]
    member = cluster_ids >= 0
    sizes = np.bincount(cluster_ids[member]) if member.any() else np.zeros(0, dtype=np.int64)
    kept = np.flatnonzero(sizes >= min_cluster_samples)
    scores, performance, worst_ratio, worst = np.ones(n), {}, 1.0, None
    if not len(kept):
        return scores, performance, worst_ratio, worst
    mean = own[np.isin(cluster_ids, kept)].mean()
    for c in kept:
        rows = cluster_ids == c
        p = own[rows].mean()
        performance[int(c)] = float(p)
        if p < mean:
            scores[rows] = p / mean
            if p < worst_ratio:
                worst_ratio, worst = float(p / mean), int(c)
    return scores, performance, worst_ratio, worst


@settings(max_examples=examples(60), deadline=None)
@given(
    n=st.integers(1, 300),
    clusters=st.integers(1, 40),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**31 - 1),
)
def test_underperforming_groups_equal_the_per_cluster_loop(n, clusters, dtype, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(-1, clusters, n)
    labels = rng.integers(0, 3, n)
    P = rng.dirichlet(np.full(3, 0.3), n).astype(dtype)
    r = groups.underperforming_groups(ids, labels, P, threshold=0.9, min_cluster_samples=3)
    scores, performance, worst_ratio, worst = underperforming_reference(ids, labels, P, 0.9, 3)
    np.testing.assert_array_equal(r["scores"], scores)
    assert r["performance"] == performance
    assert (r["score"], r["lowest_cluster"]) == (worst_ratio, worst)
