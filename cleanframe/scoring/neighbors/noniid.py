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

Neighbours chosen among exact copies say nothing about the row order either: every copy is at
the same distance from the row, so the search's tie order picked the listed ones. Given the
graph's distances, :func:`non_iid`

- leaves out of the statistic (observed and permuted) the rows whose ``k`` neighbours all lie at
  distance 0 (more exact duplicates than neighbours, a constant feature, parallel rows under
  cosine): any choice of their neighbours is one among copies; they get the neutral score 1.
  When every row is such a row (constant or identical features) the test cannot be done: the
  p-value and statistic are NaN and no row is flagged;
- with ``redraw=True`` (which cleanframe passes for the graphs it builds: its search breaks ties
  by row index, which reads as a row-order signal and made shuffled data with many copies look
  non-IID) finds the groups of exact copies from the graph itself (rows joined by a neighbour at
  distance 0, :func:`copy_groups`) and, where a row lists only some members of a group, draws
  that many members of the group at random instead (seeded; the same draw for every graph that
  holds the same neighbours up to the choice among copies, :func:`redraw_copies`). Datalab's
  sklearn search lists the copies in the order ``np.argpartition`` leaves equal values, which
  depends on every distance in the row: not row order, and not reproducible without the whole
  distance matrix.

Without distances every row counts, and without ``redraw`` the neighbours are used as given, as
in cleanlab: a graph from Datalab gives Datalab's results (up to the rows left out, which only
exist when a group of copies is larger than ``k``).

Gap histograms are counts per gap instead of a sort, so memory stays O(N·k) at any size. The
statistic of each permutation and the per-row terms of the scores are compiled loops (numba,
imported on first use) that give the numpy definitions' numbers exactly: the same float64
operations in the same order (the per-row sums and the ``tanh`` stay numpy's).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache

import numpy as np

from ..parallel import _workers

__all__ = [
    "non_iid_statistic",
    "non_iid_p_value",
    "non_iid_scores",
    "non_iid",
    "tied_rows",
    "copy_groups",
    "redraw_copies",
]

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


def _gap_ks_py(
    perm: np.ndarray, rows: np.ndarray, idx: np.ndarray, n: int, background_cdf: np.ndarray
) -> float:
    """:func:`_ks_from_gaps` of the gaps ``|perm[rows[r]] - perm[idx[r, j]]|`` without
    building them: one pass counts the gaps, one walks the counts (the same float64
    operations as the numpy version, so the same value). The counts take ``perm``'s integer
    type (int32 when every count fits: half the memory the random reads touch)."""
    counts = np.zeros(n, dtype=perm.dtype)
    m, k = idx.shape
    for r in range(m):
        a = perm[rows[r]]
        for j in range(k):
            counts[abs(a - perm[idx[r, j]])] += 1
    total = m * k
    stat = 0.0
    position = 0
    for v in range(n):
        c = counts[v]
        if c == 0:
            continue
        # gap 0 (a row listed as its own neighbour) reads B[-1], as indexing B[gap - 1] does
        b = background_cdf[v - 1] if v > 0 else background_cdf[n - 2]
        first = abs(position / total - b)
        last = abs((position + c - 1) / total - b)
        if first > stat:
            stat = first
        if last > stat:
            stat = last
        position += c
    # the sentinel N-1 at position m
    sentinel = abs(1.0 - background_cdf[n - 2])
    return sentinel if sentinel > stat else stat


def _score_terms_py(idx: np.ndarray, out: np.ndarray) -> None:
    """Per row ``i`` of ``idx`` (N, k), the k + 1 terms whose sum is the area of
    :func:`non_iid_scores`, into ``out`` (N, k + 1): the same float64 operations as the numpy
    definition, element by element."""
    n, k = idx.shape
    middle = (n - 1) // 2
    gaps = np.empty(k + 1, dtype=np.int64)
    for i in range(n):
        for j in range(k):  # insertion sort of the k gaps (3x faster than a sort call)
            g = abs(i - idx[i, j])
            b = j - 1
            while b >= 0 and gaps[b] > g:
                gaps[b + 1] = gaps[b]
                b -= 1
            gaps[b + 1] = g
        gaps[k] = n - 1
        dd = abs(i - (n - 1)) if i > middle else i  # min(i, N-1-i)
        area_begin = (dd * dd) / (n - 1)
        length = n - 2 * dd - 1
        area_middle = 0.5 * (2 * dd / (n - 1) + 1) * length
        previous_gap = 0
        previous_bg = 0.0
        for j in range(k + 1):
            s = gaps[j]
            if s <= dd:
                bg = (s * s) / (n - 1)
            elif s > (n - dd - 1):
                bg = area_begin + area_middle + (s - (n - dd - 1) * 1.0)
            else:
                bg = area_begin + 0.5 * ((s + 3 * dd) * (s - dd) / (n - 1))
            out[i, j] = abs((j / k) * (s - previous_gap) - (bg - previous_bg))
            previous_gap = s
            previous_bg = bg


class _Workers:
    """Calls run on one worker thread while the caller goes on (inline with a single core); at
    most a few calls wait at a time, so few drawn permutations are held. Leaving the ``with``
    block waits for every call and raises the first error."""

    def __init__(self, pending: int = 4):
        self._pool = None if _workers() < 2 else ThreadPoolExecutor(1)
        self._pending = pending
        self._futures: list[Future] = []

    def submit(self, fn, *args) -> Future:
        if self._pool is None:
            done: Future = Future()
            done.set_result(fn(*args))
            return done
        future = self._pool.submit(fn, *args)
        self._futures.append(future)
        while len(self._futures) > self._pending:
            self._futures.pop(0).result()
        return future

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc) -> None:
        try:
            for future in self._futures:
                future.result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


@cache
def _compiled() -> dict:
    import numba

    jit = numba.njit(cache=True, nogil=True)
    return {"gap_ks": jit(_gap_ks_py), "score_terms": jit(_score_terms_py)}


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


def copy_groups(
    distances: np.ndarray, indices: np.ndarray, metric: str | None = None
) -> np.ndarray:
    """Groups of exact copies as the graph shows them: rows joined, directly or through other
    rows, by a neighbour at distance 0 (within rounding for cosine). A group id per row, ``-1``
    for a row in no group. Ids are numbered in order of each group's first row.

    cleanlab's exact-duplicate correction (applied to cleanframe's graphs and Datalab's) lists
    every copy's other copies first at distance 0, so a group is exactly a set of identical rows.

    Examples
    --------
    >>> idx = np.array([[2, 1], [0, 2], [0, 1], [1, 0]])
    >>> dist = np.array([[0.0, 0.3], [0.3, 0.4], [0.0, 0.3], [0.4, 0.5]])
    >>> copy_groups(dist, idx).tolist()
    [0, -1, 0, -1]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    idx = np.asarray(indices)
    n = len(idx)
    tol = COSINE_TIE if metric == "cosine" else 0.0
    rows, slots = np.nonzero(np.asarray(distances) <= tol)
    cols = idx[rows, slots]
    groups = np.full(n, -1, dtype=np.int64)
    keep = cols != rows  # a row listed as its own neighbour joins nothing
    if not keep.any():
        return groups
    A = coo_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n, n))
    _, labels = connected_components(A, directed=True, connection="weak")
    member = np.bincount(labels)[labels] > 1
    # ids in order of each group's first row (labels of one component are all equal)
    _, ids = np.unique(labels[member], return_inverse=True)
    _, first = np.unique(ids, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    groups[member] = rank[ids]
    return groups


def redraw_copies(
    indices: np.ndarray, groups: np.ndarray, *, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Re-draw the neighbours that ties among exact copies chose.

    Where row ``i`` lists ``c`` members of a group of copies it is not in, and the group has
    more than ``c`` members, those ``c`` slots get ``c`` distinct members of the group drawn
    uniformly at random (numpy ``default_rng(seed)``; the global RNG is untouched). Returns
    ``(indices, redrawn)``: a new (N, k) array and the boolean (N,) mask of the rows changed.

    Examples
    --------
    >>> groups = np.array([-1, 0, 0, 0, -1])           # rows 1-3 are copies of each other
    >>> idx = np.array([[1, 4], [2, 3], [1, 3], [1, 2], [0, 1]])
    >>> new, redrawn = redraw_copies(idx, groups)
    >>> redrawn.tolist()                                # rows 0 and 4 list one copy of three
    [True, False, False, False, True]
    >>> bool(np.isin(new[[0, 4]], [1, 2, 3]).sum(axis=1).tolist() == [1, 1])
    True
    """
    idx = np.array(indices, copy=True)
    groups = np.asarray(groups)
    n = len(idx)
    redrawn = np.zeros(n, dtype=bool)
    if n == 0 or groups.max(initial=-1) < 0:
        return idx, redrawn
    G = groups[idx]
    rows, slots = np.nonzero((G >= 0) & (G != groups[:, None]))
    if not len(rows):
        return idx, redrawn
    g = G[rows, slots]
    n_groups = int(groups.max()) + 1
    size = np.bincount(groups[groups >= 0], minlength=n_groups)
    members = np.argsort(np.where(groups >= 0, groups, n_groups), kind="stable")
    start = np.concatenate([[0], np.cumsum(size)])
    key = rows.astype(np.int64) * n_groups + g
    # by (row, group), then slot: np.nonzero lists each row's slots in order, so a stable sort
    # by (row, group) alone keeps them in order (what a lexsort by slot too gives, ~50x faster)
    order = np.argsort(key, kind="stable")
    key, rows, slots, g = key[order], rows[order], slots[order], g[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    count = np.diff(np.r_[first, len(key)])
    pair_g = g[first]
    chosen_by_ties = count < size[pair_g]
    if not chosen_by_ties.any():
        return idx, redrawn
    # c distinct members of each pair's group: Floyd's sampling, all pairs at once (draw i
    # takes t in [0, s - c + i]; a t already taken gives s - c + i instead)
    rng = np.random.default_rng(seed)
    pairs = np.flatnonzero(chosen_by_ties)
    c, s = count[pairs], size[pair_g[pairs]]
    cmax = int(c.max())
    drawn = np.full((len(pairs), cmax), -1, dtype=np.int64)
    for i in range(cmax):
        act = np.flatnonzero(c > i)
        top = s[act] - c[act] + i
        t = np.minimum((rng.random(len(act)) * (top + 1)).astype(np.int64), top)
        taken = (drawn[act, :i] == t[:, None]).any(axis=1)
        drawn[act, i] = np.where(taken, top, t)
    take = np.arange(cmax)[None, :] < c[:, None]
    at = (first[pairs][:, None] + np.arange(cmax)[None, :])[take]
    idx[rows[at], slots[at]] = members[(start[pair_g[pairs]][:, None] + drawn)[take]]
    redrawn[rows[first[pairs]]] = True
    return idx, redrawn


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
    gap_ks = _compiled()["gap_ks"]
    # positions, neighbours and counts as int32 when the gap count fits (exact either way)
    ints = np.int32 if idx.size < 2**31 - 1 else np.int64
    kept = np.ascontiguousarray(idx[keep], dtype=ints)
    keep = keep.astype(ints, copy=False)
    rng = np.random.RandomState(seed)
    stats = np.empty(num_permutations)

    def statistic(p: int, perm: np.ndarray) -> None:
        stats[p] = gap_ks(perm, keep, kept, n, bg)

    # each statistic on a worker thread (the compiled loop releases the GIL) while this thread
    # draws the next permutation: the draws stay in order, so the statistics are the same
    with _Workers() as workers:
        observed_done = workers.submit(gap_ks, np.arange(n, dtype=ints), keep, kept, n, bg)
        for p in range(num_permutations):
            workers.submit(statistic, p, rng.permutation(n).astype(ints))
        observed = observed_done.result()
    if np.ptp(stats) == 0:  # a KDE of identical values is singular
        return (1.0 if observed <= stats[0] else 0.0), observed
    p_value = float(gaussian_kde(stats).integrate_box(observed, 100))
    return p_value, observed


def non_iid_scores(indices: np.ndarray) -> np.ndarray:
    """Per-row non-IID score in (0, 1]; lower = the row's neighbours are unusually close in
    index to it.

    Row ``i`` at distance ``d = min(i, N-1-i)`` from the nearer end: its sorted gaps ``s_j`` to
    its neighbours plus the sentinel ``N - 1``; the IID background's cumulative area up to a gap
    ``s`` is ``B(s) = s²/(N-1)`` for ``s <= d``, ``d²/(N-1) + (s + 3d)(s - d)/(2(N-1))`` up to
    ``N-1-d``, and ``d²/(N-1) + (2d/(N-1) + 1)(N-2d-1)/2 + (s - (N-1-d))`` beyond; the area
    between the CDFs is ``a = Σ_j |j/k · (s_j - s_{j-1}) - (B(s_j) - B(s_{j-1}))|`` and the score
    ``1 + tanh(-a / max(i, N - i))``.

    Examples
    --------
    >>> idx = np.array([[1, 2], [0, 2], [1, 0], [2, 1]])
    >>> non_iid_scores(idx).round(4).tolist()
    [0.9169, 0.8349, 0.6785, 0.8893]
    """
    idx = np.ascontiguousarray(indices, dtype=np.int64)
    n, k = idx.shape
    terms = np.empty((n, k + 1), dtype=np.float64)
    _compiled()["score_terms"](idx, terms)
    area = terms.sum(axis=1)
    normalizer = np.maximum(np.arange(n), n - np.arange(n))
    return np.tanh(-area / normalizer) + 1


def non_iid(
    indices: np.ndarray,
    *,
    distances: np.ndarray | None = None,
    metric: str | None = None,
    num_permutations: int = 25,
    seed: int | None = 0,
    significance_threshold: float = 0.05,
    redraw: bool = False,
) -> dict:
    """Datalab's non_iid check on a kNN graph's ``indices`` (N, k).

    With the graph's ``distances`` (and ``metric``), rows whose neighbours all lie at distance 0
    (:func:`tied_rows`) are left out of the test and score 1; when no row is left, the test
    cannot be done (p-value and statistic NaN, nothing flagged). With ``redraw`` as well (for a
    graph whose ties were broken by row position, as cleanframe's search breaks them), the
    neighbours that ties among exact copies chose are re-drawn among the copies
    (:func:`redraw_copies`, seeded by ``seed``); without it the neighbours are used as given
    (a graph from Datalab gives Datalab's results).

    Returns
    -------
    dict with ``scores`` (N,), ``is_issue`` (N,) bool (at most one row), ``p_value``,
    ``statistic``, ``tested`` (N,) bool, the rows the test used, and ``redrawn`` (N,) bool, the
    rows whose neighbours among copies were re-drawn.

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
    redrawn = np.zeros(n, dtype=bool)
    if distances is None:
        tested = np.ones(n, dtype=bool)
    else:
        tested = ~tied_rows(distances, metric)
        if redraw:
            idx, redrawn = redraw_copies(idx, copy_groups(distances, idx, metric), seed=seed)
    with _Workers() as workers:  # the row scores while the permutation test runs
        scores_done = workers.submit(non_iid_scores, idx) if tested.any() else None
        p_value, statistic = non_iid_p_value(
            idx, num_permutations=num_permutations, seed=seed, rows=tested
        )
        scores = np.ones(n) if scores_done is None else scores_done.result()
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
        "redrawn": redrawn,
    }
