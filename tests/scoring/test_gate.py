"""The light read of pred_probs columns (scoring/classification/gate.py): each row's given-label
probability and float64 sum and the range of all values, equal to numpy on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba.typed import List

from cleanframe.scoring.classification import gate


def typed(p: np.ndarray) -> List:
    fortran = np.asfortranarray(p)
    out = List()
    for j in range(p.shape[1]):
        out.append(fortran[:, j])
    return out


def run(p: np.ndarray, labels: np.ndarray):
    n = len(labels)
    own = np.full(n, -7, dtype=p.dtype)
    sums = np.full(n, -7.0)
    rng = np.array([np.inf, -np.inf])
    gate.value_stats(typed(p), labels.astype(np.int64), own, sums, rng)
    return own, sums, rng


def check(p: np.ndarray, labels: np.ndarray) -> None:
    own, sums, rng = run(p, labels)
    n = len(labels)
    np.testing.assert_array_equal(own, p[np.arange(n), labels])
    want = p.astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(sums, want, rtol=0, atol=1e-12 * p.shape[1])
    if n:
        assert rng.tolist() == [float(p.min()), float(p.max())]
    else:
        assert rng.tolist() == [np.inf, -np.inf]


@given(
    n=st.integers(0, 40),
    k=st.integers(1, 27),  # every remainder of the groups of eight after the first column
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_equals_numpy(n, k, dtype, seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, 0.3), n).astype(dtype) if n else np.zeros((0, k), dtype)
    p[rng.random((n, k)) < 0.1] *= -1  # negative values: the range must see them
    labels = rng.integers(0, k, n)
    check(p, labels)


@pytest.mark.parametrize("n", [gate.ROWS - 1, gate.ROWS, 2 * gate.ROWS + 5])
def test_rows_across_tiles(n):
    rng = np.random.default_rng(n)
    k = 19
    p = rng.dirichlet(np.full(k, 0.5), n).astype(np.float32)
    p[n - 1, 3] = 1.5  # the largest value in the last tile's last row
    p[gate.ROWS // 2, 17] = -0.25  # the smallest in the first tile, in a tail column
    labels = rng.integers(0, k, n)
    check(p, labels)


def test_equals_the_column_by_column_loop():
    """Same outputs as the one-column-per-sweep loop of columns.py: own and range bit for bit."""
    from cleanframe.scoring.classification.columns import ProbColumns

    rng = np.random.default_rng(3)
    n, k = 3 * gate.ROWS + 11, 100
    p = rng.dirichlet(np.full(k, 0.2), n).astype(np.float32)
    labels = rng.integers(0, k, n)
    stats = ProbColumns([np.ascontiguousarray(p[:, j]) for j in range(k)]).row_stats(labels)
    own, sums, rng_ = run(p, labels)
    np.testing.assert_array_equal(own, stats.own)
    assert rng_.tolist() == [stats.low, stats.high]
    np.testing.assert_allclose(sums, stats.sums, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_value_makes_its_row_sum_non_finite(bad):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(12), 30)
    p[17, 9] = bad
    _, sums, _ = run(p, rng.integers(0, 12, 30))
    assert not np.isfinite(sums[17])
    assert np.isfinite(np.delete(sums, 17)).all()
