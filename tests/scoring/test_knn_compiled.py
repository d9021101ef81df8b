"""The cluster join's compiled search gives exactly the numpy reference path's neighbours.

The compiled path (numba loops over each cell's block of keys, no GIL held) keeps each row's k
best of a block and merges them; the numpy path keeps every entry under the row's bound and
sorts. Both order by (float32 key with -0.0 before 0.0, row index), so the neighbours and their
keys must be equal bit for bit: on random data with ties (values rounded to integers, so many
equal keys), duplicate rows, zero rows (cosine keys of -0.0 and 0.0), for one-sided and
symmetric searches, subsets of rows, every probe count and new query rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanframe.scoring.neighbors import knn

from ..conftest import examples


def _both(monkeypatch, search):
    monkeypatch.setattr(knn, "_COMPILED_MIN_PAIRS", 0)
    out = []
    for compiled in (False, True):
        monkeypatch.setattr(knn, "_COMPILED_SEARCH", compiled)
        out.append(search())
    return out


def _data(seed, n, d, ties, copies, zeros):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if ties:
        X = np.round(X)  # few distinct values: many equal keys
    if copies:
        X[rng.integers(0, n, n // 4)] = X[rng.integers(0, n, n // 4)]
    if zeros:
        X[rng.integers(0, n, max(1, n // 20))] = 0.0
    return X


@settings(max_examples=examples(60), deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(40, 700),
    d=st.integers(2, 12),
    ties=st.booleans(),
    copies=st.booleans(),
    zeros=st.booleans(),
    metric=st.sampled_from(["cosine", "euclidean"]),
    k=st.integers(1, 15),
    probe_share=st.floats(0.0, 1.0),
    symmetric=st.booleans(),
    subset=st.booleans(),
    delta=st.one_of(st.none(), st.floats(0.0, 2.0)),
    boundary=st.booleans(),
)
def test_compiled_search_equals_the_numpy_path(
    seed, n, d, ties, copies, zeros, metric, k, probe_share, symmetric, subset, delta, boundary
):
    """... also with probes per row by radius (``delta``: each row's cells within delta of
    its nearest one's key, at most nprobe, so rows probe different numbers of cells; with
    ``boundary``, the cells whose boundary with its nearest one is within delta of the row)."""
    X = _data(seed, n, d, ties, copies, zeros)
    frame = knn.euclidean_frame(X) if metric == "euclidean" else None
    cj = knn._ClusterJoin(knn.search_rows(X, metric, frame), metric, seed=seed % 7)
    nprobe = max(1, min(cj.nlist, int(round(probe_share * cj.nlist))))
    k = min(k, n - 1)
    rows = (
        np.sort(np.random.default_rng(seed).choice(n, max(1, n // 5), replace=False))
        if subset
        else None
    )
    with pytest.MonkeyPatch.context() as mp:
        (i0, k0), (i1, k1) = _both(
            mp,
            lambda: cj.search(
                None,
                k,
                nprobe,
                rows=rows,
                symmetric=symmetric,
                return_keys=True,
                delta=delta,
                boundary=boundary,
            ),
        )
        np.testing.assert_array_equal(i1, i0)
        np.testing.assert_array_equal(k1.view(np.int32), k0.view(np.int32))  # -0.0 too
        Q = cj.Y[np.random.default_rng(seed + 1).integers(0, n, 25)]
        q0, q1 = _both(mp, lambda: cj.search(Q, k, nprobe, delta=delta, boundary=boundary))
        np.testing.assert_array_equal(q1, q0)


def test_compiled_graph_equals_the_numpy_graph_on_copies_and_a_tail(monkeypatch):
    """The whole approximate build (calibrated probes, symmetric search, the far rows searched
    exactly by the cluster join) gives the same graph either way, on data with groups of exact
    and near copies; and the symmetric search's candidates are offered once (no row twice)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2500, 24))
    X[1:400:3] = X[0]  # a large group of exact copies
    X[400:700] = X[700:1000] + 1e-7 * rng.normal(size=(300, 24))  # near copies
    X[-30:] *= 40.0  # far rows: searched exactly afterwards
    graphs = []
    monkeypatch.setattr(knn, "_COMPILED_MIN_PAIRS", 0)
    for compiled in (False, True):
        monkeypatch.setattr(knn, "_COMPILED_SEARCH", compiled)
        index = knn.KnnIndex(X, approximate=True)
        assert not index.exact_for(10)
        graphs.append(index.self_graph(10))
    np.testing.assert_array_equal(graphs[1][0], graphs[0][0])
    np.testing.assert_array_equal(graphs[1][1], graphs[0][1])
    assert all(len(set(row)) == 10 for row in graphs[1][0])


@settings(max_examples=examples(25), deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(60, 500),
    k=st.integers(1, 12),
    symmetric=st.booleans(),
    compiled=st.booleans(),
)
def test_search_does_not_depend_on_its_rounds(seed, n, k, symmetric, compiled):
    """The cells are visited in rounds, each keeping only keys at most a row's k-th key so far;
    a key equal to it can still enter by its lower index. So the neighbours and keys are each
    row's k best compared rows by (key, index) whatever the rounds: one cell rank per round
    gives the default rounds' graph, bit for bit. The rows are 24 directions whose unit vectors
    (entries 0, ±1/2, ±1) make every key exact in float32 whatever the product's blocking, so
    equal keys are exactly equal (and there are many)."""
    rng = np.random.default_rng(seed)
    signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * 4)).reshape(4, -1).T  # 16 x (±1, ±1, ±1, ±1)
    directions = np.r_[signs, np.eye(4), -np.eye(4)]
    X = directions[rng.integers(0, len(directions), n)] * rng.integers(1, 4, (n, 1))
    cj = knn._ClusterJoin(knn.search_rows(X, "cosine", None), "cosine", seed=seed % 5)
    k = min(k, n - 1)
    nprobe = max(1, cj.nlist // 2)
    out = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(knn, "_COMPILED_MIN_PAIRS", 0)
        mp.setattr(knn, "_COMPILED_SEARCH", compiled)
        for entries in (knn._ROUND_ENTRIES, n):  # n: rounds of one cell rank each
            mp.setattr(knn, "_ROUND_ENTRIES", entries)
            out.append(cj.search(None, k, nprobe, symmetric=symmetric, return_keys=True))
    np.testing.assert_array_equal(out[1][0], out[0][0])
    np.testing.assert_array_equal(out[1][1].view(np.int32), out[0][1].view(np.int32))


@settings(max_examples=examples(30), deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    k=st.integers(1, 12),
    waves=st.integers(1, 4),
)
def test_compiled_merge_orders_as_the_numpy_merge(seed, n, k, waves):
    """Merging candidates into each row's k best: the same order as the numpy merge, keys by
    their bits (-0.0 before 0.0, which the search's keys can hold), then index; waves of
    candidates merged one after the other, each (row, index) pair offered once."""
    from cleanframe.scoring.neighbors._knn_kernels import merge_candidates

    rng = np.random.default_rng(seed)
    values = np.array([-0.0, 0.0, -1.0, 1.0, 0.5, np.float32(1e-30)], dtype=np.float32)
    pairs = rng.permutation(n * 60)[: rng.integers(1, n * 60)]  # distinct (row, index)
    rows, idx = pairs // 60, pairs % 60
    keys = values[rng.integers(0, len(values), len(pairs))]
    parts = np.array_split(rng.permutation(len(pairs)), waves)
    best = [(np.full((n, k), np.inf, np.float32), np.full((n, k), -1, np.int64)) for _ in range(2)]
    for part in parts:
        knn._merge_best(*best[0], rows[part], idx[part], keys[part])
        merge_candidates(*best[1], rows[part], idx[part], keys[part])
    np.testing.assert_array_equal(best[1][1], best[0][1])
    np.testing.assert_array_equal(best[1][0].view(np.int32), best[0][0].view(np.int32))


@pytest.mark.parametrize("parts", [2, 3])
def test_compiled_merge_by_row_ranges_equals_one_pass(monkeypatch, parts):
    """Many candidates are merged by ranges of rows on the thread pool: the same k best, entry
    for entry, as one pass over them all (ties of key and -0.0 / 0.0 included)."""
    from cleanframe.scoring.neighbors import _knn_kernels

    rng = np.random.default_rng(parts)
    n, k, m = 3001, 7, 200_000
    values = np.array([-0.0, 0.0, -1.0, 1.0, 0.5], dtype=np.float32)
    pairs = rng.permutation(n * 400)[:m]  # distinct (row, index)
    rows, idx = pairs // 400, pairs % 400
    keys = np.where(
        rng.random(m) < 0.5,
        values[rng.integers(0, len(values), m)],
        rng.normal(size=m).astype(np.float32),
    ).astype(np.float32)
    best = []
    for threshold, cores in ((m + 1, 1), (1, parts)):
        monkeypatch.setattr(_knn_kernels, "_PARALLEL_MERGE", threshold)
        monkeypatch.setattr(_knn_kernels, "_workers", lambda cores=cores: cores)
        key, ix = np.full((n, k), np.inf, np.float32), np.full((n, k), -1, np.int64)
        for part in np.array_split(np.arange(m), 3):
            _knn_kernels.merge_candidates(key, ix, rows[part], idx[part], keys[part])
        best.append((key, ix))
    np.testing.assert_array_equal(best[1][1], best[0][1])
    np.testing.assert_array_equal(best[1][0].view(np.int32), best[0][0].view(np.int32))
    assert (best[0][1] >= 0).all()


@settings(max_examples=examples(40), deadline=None, derandomize=True)
@given(
    b=st.integers(1, 30),
    n=st.integers(2, 400),
    k=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
    ties=st.booleans(),
    euclidean=st.booleans(),
    exclude=st.booleans(),
)
def test_compiled_select_equals_a_stable_argsort(b, n, k, seed, ties, euclidean, exclude):
    """The exact search's compiled selection: each row's first k of a stable argsort of its
    keys (-0.0 equal to 0.0, as numpy sorts them), its own column left out; the keys are those
    of ``_keys``."""
    from cleanframe.scoring.neighbors._knn_kernels import select

    rng = np.random.default_rng(seed)
    Q, Y = (
        (rng.integers(-1, 2, (m, 6)) if ties else rng.normal(size=(m, 6))).astype(np.float32)
        for m in (b, n)
    )
    sq = np.einsum("ij,ij->i", Y, Y) if euclidean else None
    own = rng.integers(-1, n, b) if exclude else np.full(b, -1)
    k = min(k, n - 1)
    S = knn._keys(Q, Y, "euclidean" if euclidean else "cosine", sq)
    S[np.flatnonzero(own >= 0), own[own >= 0]] = np.inf
    expected = np.argsort(S, axis=1, kind="stable")[:, :k]
    idx, keys = select(Q @ Y.T, sq, k, own)
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_array_equal(keys, np.take_along_axis(S, expected, axis=1))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_compiled_exact_search_equals_the_numpy_path(monkeypatch, metric):
    """The exact search by blocks (on every core) gives the numpy path's neighbours, on rows
    with copies and ties, for the self-graph and for new query rows."""
    X = _data(11, 1500, 5, ties=True, copies=True, zeros=True)
    Q = _data(12, 300, 5, ties=True, copies=False, zeros=True)
    monkeypatch.setattr(knn, "_BLOCK_CELLS", 1 << 14)  # several blocks, run in parallel
    (g0, q0), (g1, q1) = _both(
        monkeypatch,
        lambda: (
            knn.exact_knn(X, 12, metric=metric),
            knn.exact_knn(X, 7, metric=metric, queries=Q),
        ),
    )
    for a, b in ((g0, g1), (q0, q1)):
        np.testing.assert_array_equal(b[0], a[0])
        np.testing.assert_array_equal(b[1], a[1])


_CELL_CASES = dict(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 30),
    nlist=st.integers(1, 70),
    p_share=st.floats(0.0, 1.0),
    ties=st.booleans(),
)


def _cell_keys(seed, rows, nlist, p_share, ties):
    """Random centroid keys (rows x cells, float32; ``ties``: many equal keys and -0.0) and a
    number of cells to keep."""
    rng = np.random.default_rng(seed)
    ck = rng.normal(size=(rows, nlist)).astype(np.float32)
    if ties:
        ck = np.round(ck).astype(np.float32)  # many equal keys
        ck[rng.random(ck.shape) < 0.2] = -0.0
    return rng, ck, max(1, min(nlist, int(round(p_share * nlist))))


@settings(max_examples=examples(40), deadline=None, derandomize=True)
@given(
    **_CELL_CASES,
    delta=st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 3.0])),
)
def test_compiled_nearest_cells_equal_the_numpy_ones(seed, rows, nlist, p_share, ties, delta):
    """Each row's p nearest cells (by centroid key, ties by cell number, -0.0 equal to 0.0),
    only those within ``delta`` of the nearest one's key (-1 in the places left): the compiled
    pass gives the stable argsort's cells exactly."""
    from cleanframe.scoring.neighbors._knn_kernels import nearest_cells

    rng, ck, p = _cell_keys(seed, rows, nlist, p_share, ties)
    expected = np.argsort(ck, axis=1, kind="stable")[:, :p]
    if delta is not None:
        keys = np.take_along_axis(ck, expected, axis=1)
        expected = np.where(keys <= keys[:, :1] + np.float32(delta), expected, -1)
    out = np.empty((rows, p), dtype=np.int16)
    nearest_cells(ck, p, np.inf if delta is None else delta, out)
    np.testing.assert_array_equal(out, expected)
    assert (out[:, 0] >= 0).all()  # the nearest cell is always probed


@settings(max_examples=examples(40), deadline=None, derandomize=True)
@given(
    **_CELL_CASES,
    equal=st.booleans(),
    delta=st.sampled_from([0.0, 0.3, 1.0, 3.0]),
)
def test_compiled_nearest_cells_by_boundary_equal_the_numpy_ones(
    seed, rows, nlist, p_share, ties, equal, delta
):
    """Cells by the distance to the boundary with the row's nearest cell (the key gap to its
    first smallest key times a factor per pair of cells; equal centroids: the largest float32,
    whose products may overflow): each row's p nearest by (key, cell) of the cells within
    ``delta`` — not the p nearest cells filtered — -1 in the places left."""
    from cleanframe.scoring.neighbors._knn_kernels import nearest_cells

    rng, ck, p = _cell_keys(seed, rows, nlist, p_share, ties)
    inv = rng.uniform(0.05, 3.0, (nlist, nlist)).astype(np.float32)
    if equal:
        inv[rng.random(inv.shape) < 0.2] = np.finfo(np.float32).max
    with np.errstate(over="ignore"):
        gap = (ck - ck.min(axis=1, keepdims=True)) * inv[ck.argmin(axis=1)]
    within = gap <= np.float32(delta)
    expected = np.argsort(np.where(within, ck, np.inf), axis=1, kind="stable")[:, :p]
    expected = np.where(np.take_along_axis(within, expected, axis=1), expected, -1)
    out = np.empty((rows, p), dtype=np.int16)
    nearest_cells(ck, p, delta, out, inv)
    np.testing.assert_array_equal(out, expected)
    assert (out[:, 0] >= 0).all()


def test_compiled_graph_by_boundary_equals_the_numpy_graph(monkeypatch):
    """The whole approximate build on data whose calibration takes the probes by the distance
    to the boundary between cells (a 3,000-row manifold) gives the same graph either way."""
    from benchmarks.embedding_shapes import make_shape

    X = make_shape("manifold", 3000, 32, seed=1)
    graphs = []
    monkeypatch.setattr(knn, "_COMPILED_MIN_PAIRS", 0)
    for compiled in (False, True):
        monkeypatch.setattr(knn, "_COMPILED_SEARCH", compiled)
        index = knn.KnnIndex(X, approximate=True)
        assert index._probes(10)[2]  # the boundary plan
        graphs.append(index.self_graph(10))
    np.testing.assert_array_equal(graphs[1][0], graphs[0][0])
    np.testing.assert_array_equal(graphs[1][1], graphs[0][1])


@settings(max_examples=examples(30), deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    cells=st.integers(1, 40),
    zeros=st.booleans(),
)
def test_compiled_scatter_equals_the_numpy_sums(seed, n, cells, zeros):
    """k-means' per-cell sums of rows (float64): the compiled pass gives the numpy path's sums
    bit for bit (the same additions in the same order; -0.0 rows too)."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, 7)) * 10.0 ** rng.integers(-8, 9, (n, 1))).astype(np.float32)
    if zeros:
        X[rng.random(X.shape) < 0.3] = -0.0
    assign = rng.integers(0, cells, n)
    sums = [np.zeros((cells, 7)) for _ in range(2)]
    knn._scatter_add(sums[0], assign, X)
    knn._scatter_add(sums[1], assign, X, compiled=True)
    np.testing.assert_array_equal(sums[1].view(np.int64), sums[0].view(np.int64))


@pytest.mark.parametrize("shape", [(1, 1), (9, 3), (500, 17), (2000, 128)])
def test_compiled_row_hashes_equal_the_numpy_ones(shape):
    """The exact-duplicate search's row hashes (uint64 sums that wrap): the compiled pass gives
    numpy's exactly, so the same rows meet in the same runs."""
    rng = np.random.default_rng(shape[0])
    words = rng.integers(0, 2**64 - 1, size=shape, dtype=np.uint64, endpoint=True)
    words[: shape[0] // 2] = words[shape[0] // 2 : 2 * (shape[0] // 2)]  # equal rows
    expected = knn._row_hashes(words)
    np.testing.assert_array_equal(knn._row_hashes(words, compiled=True), expected)
    half = shape[0] // 2
    assert (expected[:half] == expected[half : 2 * half]).all()
    assert len(np.unique(expected[half:])) == shape[0] - half  # distinct rows, distinct hashes


@settings(max_examples=examples(30), deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(0, 300),
    width=st.integers(1, 9),
    nlist=st.integers(1, 60),
    int32=st.booleans(),
)
def test_compiled_grouping_by_cell_equals_a_stable_argsort(seed, rows, width, nlist, int32):
    """A round's probes grouped by cell (row order within a cell, -1 entries first): the
    compiled counting sort gives the stable argsort's rows and cuts."""
    rng = np.random.default_rng(seed)
    probe = rng.integers(-1, nlist, rows * width).astype(np.int32 if int32 else np.int16)
    expected = knn._group_by_cell(probe, width, nlist)
    got = knn._group_by_cell(probe, width, nlist, compiled=True)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_far_rows_near_groups_of_near_copies_get_the_exact_searchs_neighbours(monkeypatch):
    """The far rows that the approximate build searches exactly afterwards (the tail: mean
    distance to their k approximate neighbours above Q3 + 1·IQR) get ``approximate=False``'s
    neighbours and distances bit for bit, also when their nearest rows are a group of near
    copies (25 copies of one point jittered by about 1e-7 relative) that float32 keys cannot
    tell apart: which copies a row keeps depends on how its keys were rounded, so the tail must
    be searched with the exact search's own products (a search over the cells within reach
    computes them by other shapes and keeps other copies)."""
    from benchmarks.embedding_shapes import make_shape

    # A shortcut for the far rows once applied only from 2^25 (row, row) pairs: from any size.
    monkeypatch.setattr(knn, "_PRUNED_TAIL_MIN_PAIRS", 0, raising=False)
    rng = np.random.default_rng(0)
    X = make_shape("clusters", 3000, 32, seed=0).astype(np.float64)
    far, copies = [], []
    for _ in range(40):
        base = X[rng.integers(len(X))] * 3 + rng.normal(size=32) * 5
        far.append(base + rng.normal(size=32) * 3)
        copies.append(base + rng.normal(size=(25, 32)) * 1e-7 * np.abs(base).max())
    X = np.vstack([X, *copies, far])
    far_rows = np.arange(len(X) - 40, len(X))
    before = {}
    exact_tail = knn.KnnIndex._exact_tail

    def spy(self, idx, dist, k, Q=None, Q_raw=None):
        before["dist"] = dist.copy()
        return exact_tail(self, idx, dist, k, Q, Q_raw)

    monkeypatch.setattr(knn.KnnIndex, "_exact_tail", spy)
    k = 10
    index = knn.KnnIndex(X, metric="euclidean", approximate=True)
    assert not index.exact_for(k)
    idx, dist = index.self_graph(k)
    avg = before["dist"][:, :k].mean(axis=1)
    q1, q3 = np.percentile(avg, [25, 75])
    tail = np.flatnonzero(avg > q3 + (q3 - q1))
    assert np.isin(far_rows, tail).all() and len(tail) < knn.EXACT_TAIL_MAX * len(X)
    exact = knn.KnnIndex(X, metric="euclidean", approximate=False)
    expected_idx, expected_dist = exact.self_graph(k)
    assert np.isin(expected_idx[far_rows], np.arange(3000, 4000)).all()  # their copies
    np.testing.assert_array_equal(idx[tail], expected_idx[tail])
    np.testing.assert_array_equal(dist[tail].view(np.int64), expected_dist[tail].view(np.int64))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_boundary_factors_by_blocks_of_cells_equal_the_formula_on_all_cells(metric):
    """The factors per pair of cells, computed by blocks of 512 cells (three blocks here, the
    last one partial, equal centroids in different blocks), are the float32 values of the
    formula on all cells at once, bit for bit: 1 / |c_a - c_b| (cosine) or 1 / (2 |c_a - c_b|)
    (euclidean) in float64, and the largest finite float32 for equal centroids and on the
    diagonal (whose squared distance from norms and products is rounding noise)."""
    from cleanframe.scoring.neighbors import knn

    rng = np.random.default_rng(0)
    C = rng.normal(size=(1300, 48)).astype(np.float32)
    if metric == "cosine":
        C /= np.linalg.norm(C, axis=1, keepdims=True)
    C[7] = C[900]
    C[1299] = C[100]
    join = knn._ClusterJoin.__new__(knn._ClusterJoin)
    join.centroids, join.metric = C, metric
    got = join.boundary_factors
    C64 = C.astype(np.float64)
    norms = np.einsum("ij,ij->i", C64, C64)
    sq = norms[:, None] + norms[None, :] - 2.0 * (C64 @ C64.T)
    equal = (C[:, None, :] == C[None, :, :]).all(axis=2)
    sq[equal] = 0.0
    sep = np.sqrt(np.maximum(sq, 0.0)) * (1.0 if metric == "cosine" else 2.0)
    big = np.finfo(np.float32).max
    with np.errstate(divide="ignore"):
        expected = np.minimum(1.0 / sep, float(big)).astype(np.float32)
    assert got.dtype == np.float32 and got.shape == (1300, 1300)
    np.testing.assert_array_equal(got.view(np.int32), expected.view(np.int32))
    assert got[7, 900] == got[900, 7] == got[1299, 100] == big
    assert (np.diagonal(got) == big).all()
    np.testing.assert_allclose(
        got[5, 1200],
        1 / np.linalg.norm(C64[5] - C64[1200]) / (1 if metric == "cosine" else 2),
        rtol=1e-6,
    )


@pytest.mark.parametrize("compiled", [False, True])
def test_symmetric_euclidean_search_gives_each_row_its_own_keys(monkeypatch, compiled):
    """In the symmetric search a key computed for (row, member) also offers the row to the
    member; for euclidean keys (|y|^2 - 2 q.y, on the candidate's squared norm) the member's key
    to the row is on the row's squared norm, not the member's. On rows of quarters (every key
    exact in float32) each returned key is the row's own key to that neighbour."""
    rng = np.random.default_rng(0)
    Y = (rng.integers(0, 3, (400, 5)) / 4 - 0.25).astype(np.float32)
    cj = knn._ClusterJoin(Y, "euclidean", seed=1)
    monkeypatch.setattr(knn, "_COMPILED_MIN_PAIRS", 0)
    monkeypatch.setattr(knn, "_COMPILED_SEARCH", compiled)
    idx, keys = cj.search(None, 40, cj.nlist // 2, return_keys=True, symmetric=True)
    true = knn._keys(Y, Y, "euclidean", cj.sq)
    found = idx >= 0
    assert found.all()
    np.testing.assert_array_equal(keys, np.take_along_axis(true, idx, axis=1))


def test_approximate_euclidean_graph_finds_the_neighbours():
    """The approximate euclidean graph of clustered rows (rows of one cluster at different
    distances from the origin, so squared norms differ) has the exact graph's neighbours
    (recall@10 0.49-0.54 when the members' side used the member's squared norm)."""
    rng = np.random.default_rng(0)
    n, d, k = 20_000, 16, 10
    X = rng.normal(size=(40, d))[rng.integers(0, 40, n)] * 4
    X += rng.normal(size=(n, d)) * rng.uniform(0.2, 0.6, (n, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", knn.ApproximateNeighborsWarning)
        approx = knn.build_knn_graph(X, k=k, metric="euclidean", approximate=True)
    exact = knn.build_knn_graph(X, k=k, metric="euclidean", approximate=False)
    assert approx.approximate
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(approx.indices, exact.indices)])
    assert recall >= 0.99
    assert approx.estimated_recall >= 0.99


def _exact_rows(metric, n, rng):
    """Rows whose float32 search keys are exact (so equal keys are exactly equal whatever the
    products' blocking): cosine — 24 directions with entries 0, ±1/2, ±1 (and zero rows);
    euclidean — a grid of quarters (the search rows as given, see ``_search_rows``)."""
    if metric == "cosine":
        signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * 4)).reshape(4, -1).T
        directions = np.r_[signs, np.eye(4), -np.eye(4), np.zeros((1, 4))]
        X = directions[rng.integers(0, len(directions), n)] * rng.integers(1, 4, (n, 1))
        return knn.search_rows(X, metric, None)
    return (rng.integers(0, 3, (n, 5)) / 4 - 0.25).astype(np.float32)


def _compared_best(cj, Qs, k, cells, *, self_ids, reverse):
    """The definition: each query row's k best compared rows by (key bits, row index) — the
    rows of the cells it probes, and (``reverse``, the symmetric self-search) the rows that
    probe its cell at rank >= 1 when it does not probe theirs; never itself."""
    S = knn._keys(Qs, cj.Y, cj.metric, cj.sq)
    nq = len(Qs)
    compared = np.zeros(S.shape, dtype=bool)
    for q in range(nq):
        for c in cells[q]:
            if c >= 0:
                compared[q, cj.members[c]] = True
    if reverse:
        for q in range(nq):
            for c in cells[q, 1:]:
                if c >= 0:
                    for m in cj.members[c]:
                        if m != q and not (cells[m] == cj.assign[q]).any():
                            compared[m, q] = True
    if self_ids is not None:
        compared[np.arange(nq), self_ids] = False
    idx = np.full((nq, k), -1, dtype=np.int64)
    keys = np.full((nq, k), np.inf, dtype=np.float32)
    for q in range(nq):
        j = np.flatnonzero(compared[q])
        best = np.lexsort((j, knn._sortable(S[q, j])))[:k]
        idx[q, : len(best)], keys[q, : len(best)] = j[best], S[q, j[best]]
    return idx, keys


@settings(max_examples=examples(40), deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    metric=st.sampled_from(["cosine", "euclidean"]),
    n=st.integers(60, 300),
    k=st.sampled_from([1, 5, 40]),
    mode=st.sampled_from(["self", "symmetric", "rows", "query", "delta", "boundary", "symdelta"]),
    share=st.sampled_from([0.0, 0.5, 1.0]),
    one_rank_rounds=st.booleans(),
    compiled=st.booleans(),
)
def test_search_equals_its_definition(seed, metric, n, k, mode, share, one_rank_rounds, compiled):
    """The cluster join's result is each row's k best compared rows by (float32 key with -0.0
    before 0.0, row index), brute force over the pairs its probes compare, on exact keys: for
    self-searches (one-sided and symmetric), subsets of rows, new query rows and probes by
    radius (key gap and boundary), both paths, any rounds."""
    rng = np.random.default_rng(seed)
    Y = _exact_rows(metric, n, rng)
    cj = knn._ClusterJoin(Y, metric, seed=seed % 3)
    nprobe = max(1, min(cj.nlist, round(share * cj.nlist)))
    k = min(k, n - 1)
    Q = ids = None
    symmetric = mode in ("symmetric", "symdelta")
    delta = 0.3 if mode in ("delta", "boundary", "symdelta") else None
    if mode == "rows":
        ids = np.sort(rng.choice(n, n // 3, replace=False))
    elif mode == "query":
        Q = _exact_rows(metric, n // 2, rng)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(knn, "_COMPILED_MIN_PAIRS", 0)
        mp.setattr(knn, "_COMPILED_SEARCH", compiled)
        if one_rank_rounds:
            mp.setattr(knn, "_ROUND_ENTRIES", 1)
        idx, keys = cj.search(
            Q,
            k,
            nprobe,
            ids,
            return_keys=True,
            symmetric=symmetric,
            delta=delta,
            boundary=mode == "boundary",
        )
        Qs = Q if Q is not None else (cj.Y if ids is None else cj.Y[ids])
        cells = cj._nearest_cells(Qs, nprobe, delta, boundary=mode == "boundary")
    self_ids = None if Q is not None else (np.arange(n) if ids is None else ids)
    reverse = symmetric and Q is None and ids is None and nprobe > 1
    want_idx, want_keys = _compared_best(cj, Qs, k, cells, self_ids=self_ids, reverse=reverse)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(keys.view(np.int32), want_keys.view(np.int32))
