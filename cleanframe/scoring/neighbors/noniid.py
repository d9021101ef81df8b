"""Non-IID test on a kNN graph, as Datalab's non_iid check defines it.

If rows were shuffled (IID), the index gap ``|i - j|`` between a row and its neighbours would be
distributed like the gap between two random rows: ``P(gap = d) = (N - d) / (N (N - 1) / 2)``.
Data that drifts with row order has neighbours close in index, so small gaps are too common.

- dataset level: a Kolmogorov–Smirnov statistic between the observed gaps and that background,
  compared with the statistics of ``num_permutations`` random relabellings of the rows. The
  p-value integrates a Gaussian KDE of the permutation statistics from the observed value up.
  The permutations come from numpy's legacy ``RandomState(seed)``, the generator cleanlab seeds
  with ``np.random.seed(0)``, so p-values match cleanlab's exactly (the global RNG is untouched).
- row level: ``1 + tanh(-a / max(i, N - i))`` where ``a`` is the area between the CDF of the row's
  own gaps and the CDF of the gaps a row at position ``i`` would have under IID.
- flagged: only the lowest-scoring row, and only when the p-value is below the significance
  threshold.

Rows whose neighbours were chosen by ties (every one of the ``k`` at distance 0: more exact
duplicates than neighbours, a constant feature, parallel rows under cosine) say nothing about the
row order: among equal distances the graph takes the lowest row positions, so their gaps measure
that rule, not the data, and shuffled data with many duplicates would look non-IID. Given the
graph's distances, :func:`non_iid` leaves those rows out of the statistic (observed and permuted)
and gives them the neutral score 1; when every row is tied (constant or identical features) the
test cannot be done: the p-value and statistic are NaN and no row is flagged. Without distances
every row counts, as in cleanlab.

Gap histograms use ``bincount`` instead of sorting, so memory stays O(N·k) at any size.
"""

from __future__ import annotations

import numpy as np

__all__ = ["non_iid_statistic", "non_iid_p_value", "non_iid_scores", "non_iid", "tied_rows"]

#: A cosine distance at most this small counts as 0 (rounding of parallel rows; the outlier
#: check's tolerance for cosine).
COSINE_TIE = 100 * np.finfo(np.float64).epsneg


def _background_cdf(n: int) -> np.ndarray:
    background = (n - np.arange(1, n)) / (n * (n - 1) / 2)
    return np.cumsum(background)


def _ks_from_gaps(gaps: np.ndarray, n: int, background_cdf: np.ndarray) -> float:
    """max |empirical CDF - background CDF| over the sorted gaps plus a final N-1 sentinel.

    The empirical CDF at sorted position j is ``j / m`` (m = number of gaps); the extreme of
    |j/m - B(v)| over a run of equal gaps v is at one end of the run, so a histogram suffices.
    """
    m = gaps.size
    counts = np.bincount(gaps.ravel(), minlength=n)
    values = np.flatnonzero(counts)
    c = counts[values]
    first = np.cumsum(c) - c  # sorted position of each value's first occurrence
    last = first + c - 1
    # gap 0 (a row listed as its own neighbour) reads B[-1], as indexing B[gap - 1] does
    b = background_cdf[values - 1]
    stat = max(np.abs(first / m - b).max(), np.abs(last / m - b).max())
    # the sentinel N-1 at position m
    return float(max(stat, abs(1.0 - background_cdf[n - 2])))


def non_iid_statistic(indices: np.ndarray) -> float:
    """KS statistic of the observed neighbour index gaps against the IID background."""
    idx = np.asarray(indices)
    n = len(idx)
    gaps = np.abs(np.arange(n)[:, None] - idx)
    return _ks_from_gaps(gaps, n, _background_cdf(n))


def tied_rows(distances: np.ndarray, metric: str | None = None) -> np.ndarray:
    """Rows whose neighbours all lie at distance 0 (within rounding for cosine), so that ties,
    broken by row position, chose them. Boolean (N,).

    Examples
    --------
    >>> tied_rows(np.array([[0.0, 0.0], [0.0, 0.5], [0.0, 0.0]])).tolist()
    [True, False, True]
    """
    dist = np.asarray(distances)
    return dist[:, -1] <= (COSINE_TIE if metric == "cosine" else 0.0)


def non_iid_p_value(
    indices: np.ndarray,
    *,
    num_permutations: int = 25,
    seed: int | None = 0,
    rows: np.ndarray | None = None,
) -> tuple[float, float]:
    """(p-value, observed statistic) of the permutation test.

    ``seed=None`` draws from fresh OS entropy (not reproducible). ``rows``: a boolean mask of
    the rows whose gaps make the statistic (default all); none → ``(nan, nan)``.
    """
    from scipy.stats import gaussian_kde

    idx = np.asarray(indices)
    n = len(idx)
    keep = np.arange(n) if rows is None else np.flatnonzero(rows)
    if not len(keep):
        return float("nan"), float("nan")
    bg = _background_cdf(n)
    kept = idx[keep]
    observed = _ks_from_gaps(np.abs(keep[:, None] - kept), n, bg)
    rng = np.random.RandomState(seed)
    stats = np.empty(num_permutations)
    for p in range(num_permutations):
        perm = rng.permutation(n)
        stats[p] = _ks_from_gaps(np.abs(perm[keep, None] - perm[kept]), n, bg)
    if np.ptp(stats) == 0:  # a KDE of identical values is singular
        return (1.0 if observed <= stats[0] else 0.0), observed
    p_value = float(gaussian_kde(stats).integrate_box(observed, 100))
    return p_value, observed


def non_iid_scores(indices: np.ndarray) -> np.ndarray:
    """Per-row non-IID score in (0, 1]; lower = the row's neighbours are unusually close in
    index to it."""
    idx = np.asarray(indices)
    n, k = idx.shape
    out = np.empty(n, dtype=np.float64)
    middle = (n - 1) // 2
    step = max(1, (1 << 20) // (k + 1))
    fg_cdf = np.arange(k + 1) / k
    for start in range(0, n, step):
        stop = min(n, start + step)
        i = np.arange(start, stop)
        gaps = np.sort(np.abs(i[:, None] - idx[start:stop]), axis=1)
        s = np.hstack([gaps, np.full((stop - start, 1), n - 1)]).astype(np.int64)
        dd = np.where(i > middle, np.abs(i - (n - 1)), i)[:, None]  # min(i, N-1-i)
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
        area = np.abs(fg_cdf[None, :] * diffs - (bg - bg_prev)).sum(axis=1)
        normalizer = np.maximum(i, n - i)
        out[start:stop] = np.tanh(-area / normalizer) + 1
    return out


def non_iid(
    indices: np.ndarray,
    *,
    distances: np.ndarray | None = None,
    metric: str | None = None,
    num_permutations: int = 25,
    seed: int | None = 0,
    significance_threshold: float = 0.05,
) -> dict:
    """Datalab's non_iid check on a kNN graph's ``indices`` (N, k).

    With the graph's ``distances`` (and ``metric``), rows whose neighbours were chosen by ties
    (:func:`tied_rows`) are left out of the test and score 1; when no row is left, the test
    cannot be done (p-value and statistic NaN, nothing flagged).

    Returns
    -------
    dict with ``scores`` (N,), ``is_issue`` (N,) bool (at most one row), ``p_value``,
    ``statistic`` and ``tested`` (N,) bool, the rows the test used.

    Examples
    --------
    >>> n = 200
    >>> idx = np.array([[(i + d) % n for d in (1, 2, -1, -2)] for i in range(n)])  # drifting data
    >>> r = non_iid(idx)
    >>> r["p_value"] < 0.05, int(r["is_issue"].sum())
    (True, 1)
    """
    idx = np.asarray(indices)
    n = len(idx)
    tested = np.ones(n, dtype=bool) if distances is None else ~tied_rows(distances, metric)
    p_value, statistic = non_iid_p_value(
        idx, num_permutations=num_permutations, seed=seed, rows=tested
    )
    scores = np.ones(n) if not tested.any() else non_iid_scores(idx)
    scores[~tested] = 1.0
    is_issue = np.zeros(n, dtype=bool)
    if p_value < significance_threshold:  # False for NaN
        candidates = np.flatnonzero(tested)
        is_issue[candidates[int(np.argmin(scores[candidates]))]] = True
    return {
        "scores": scores,
        "is_issue": is_issue,
        "p_value": p_value,
        "statistic": statistic,
        "tested": tested,
    }
