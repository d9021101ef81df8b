"""Nearest-neighbour graphs: exact blocked search, an optional approximate index, and the
exact-duplicate correction.

One graph (:class:`KnnGraph`: ``indices`` and ``distances`` of shape ``(N, k)``, rows sorted by
distance, self excluded) feeds every embedding-space check (outliers, near duplicates, non-IID).

Exact search multiplies blocks of rows by the whole matrix (float32 BLAS; rows normalised for the
cosine metric), keeps each row's candidates with a cheap upper bound on its k-th distance, and
selects the k nearest exactly among them. The selected pairs' distances are then recomputed in
float64, so reported distances do not carry float32 rounding; ties are broken by row index.

For large inputs (above :data:`APPROXIMATE_ABOVE` rows) the search is approximate and says so
with an :class:`ApproximateNeighborsWarning`: an inverted file of k-means cells searched cell by
cell with one matrix product each (:class:`_ClusterJoin`, numpy + BLAS; from
:data:`_COMPILED_MIN_PAIRS` (query, row) pairs on, each cell's selection is a compiled numba pass
without the GIL, so the cells run on every core: :mod:`._knn_kernels`; below it, numpy).
Each row is compared with the rows of its ``nprobe`` nearest cells and, in a self-graph, with
the rows whose ``nprobe`` nearest cells include its own (every key computed serves both rows of
the pair), and ``nprobe`` is calibrated on the data: the exact neighbours of a seeded sample of
rows give the recall of every ``nprobe`` and the smallest reaching recall@k
:data:`TARGET_RECALL` is used (exact search instead when that would compare each row with more
than half of the rows); or, when it compares fewer rows for at least that sample recall, each row
probes the cells within a calibrated radius (few cells for a row inside a cell, more for a row
between cells): by centroid key against its nearest one's, or by the row's distance to the
boundary between its nearest cell and the other (the key gap over the centroids' distance;
:attr:`_ClusterJoin.boundary_factors`), whichever compares fewer rows. Rows far from their
neighbours, where an inverted file misses most and which the outlier check flags, are then
searched exactly. Every
approximate graph carries an estimated recall (:attr:`KnnGraph.estimated_recall`: an exact
search of another seeded sample), shown in its repr and in the warning, which says so when it is
below :data:`RECALL_WARNING`. faiss' IVF-Flat index is available as ``approximate="faiss"``. The
choice was made by measurement against exact search, faiss (IVF, HNSW and brute force) and
hnswlib on data shaped like real embeddings (``benchmarks/embedding_shapes.py``); see
``benchmarks/RESULTS_neighbors.md``.

Metric defaults follow cleanlab 2.9: ``"cosine"`` when there are more than 3 feature columns,
``"euclidean"`` otherwise.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._common import tracked
from ..parallel import _workers, parallel_for
from .scales import EuclideanFrame, euclidean_frame, max_abs, pow2_scale, search_rows

__all__ = [
    "DEFAULT_K",
    "HIGH_DIMENSION_CUTOFF",
    "APPROXIMATE_ABOVE",
    "METRICS",
    "ApproximateNeighborsWarning",
    "KnnGraph",
    "KnnIndex",
    "default_metric",
    "resolve_k",
    "build_knn_graph",
    "exact_knn",
    "exact_duplicate_sets",
    "correct_exact_duplicates",
]

#: Neighbours per row unless the caller asks otherwise (cleanlab's default).
DEFAULT_K = 10
#: More feature columns than this → cosine distance by default.
HIGH_DIMENSION_CUTOFF = 3
#: Above this many rows the search is approximate by default.
APPROXIMATE_ABOVE = 20_000
METRICS = ("cosine", "euclidean")
#: Exact euclidean search in at most this many dimensions uses a KD-tree instead of BLAS blocks.
KDTREE_MAX_DIM = 8
#: Inverted lists probed per query by faiss' IVF index (``approximate="faiss"``).
IVF_NPROBE = 16
#: Cluster join: about this many · sqrt(N) k-means cells.
CLUSTER_JOIN_LISTS = 2.0
#: The cluster join probes, per row, the fewest nearest cells whose recall@k on the exact
#: neighbours of a calibration sample reaches this.
TARGET_RECALL = 0.999
#: An approximate graph whose estimated recall@k is below this says so in its warning.
RECALL_WARNING = 0.99
#: Rows of each seeded sample searched exactly: one to calibrate the probes, another (disjoint)
#: to estimate the recall of the finished graph.
RECALL_SAMPLE = 512
#: At most this share of the rows (the farthest from their neighbours) is searched again
#: exactly after an approximate search (see ``KnnIndex._exact_tail``).
EXACT_TAIL_MAX = 0.1
#: When the calibrated probes would compare each row with more than this share of all rows, the
#: search is exact instead (as fast, and no approximation).
EXHAUSTIVE_ABOVE = 0.5
#: Extra candidates fetched by the KD-tree and IVF searches, so boundary ties go to lower indices.
_TIE_MARGIN = 4
#: Cells of one block of the distance matrix (rows × N); 2**22 float32 = 16 MB.
_BLOCK_CELLS = 1 << 22
#: (row, cell) pairs handled in one round of the cluster join's search.
_ROUND_ENTRIES = 1 << 24
#: The searches run their selections and merges as compiled loops (numba, no GIL held: the
#: blocks and cells run on every core); False: the numpy reference path (the same neighbours;
#: tests compare the two).
_COMPILED_SEARCH = True
#: ... for searches of at least this many (query, row) pairs (below it, loading numba costs
#: more than it saves).
_COMPILED_MIN_PAIRS = 1 << 24
#: A round of the cluster join's search runs its cells on the thread pool from this many
#: (row, cell) probes on (each costs a product of the row with the cell's rows).
_PARALLEL_MIN_PROBES = 1 << 12
#: A bound that keeps every finite key and never a row's own entry (key inf).
_FLOAT32_MAX = np.finfo(np.float32).max
#: Euclidean queries this many times beyond the indexed rows' scale are searched on their own.
_FAR_QUERIES = 2.0**60


class ApproximateNeighborsWarning(UserWarning):
    """The neighbour graph comes from an approximate index, not an exact search."""


@dataclass(frozen=True, eq=False)
class KnnGraph:
    """A k-nearest-neighbour graph of N rows.

    Attributes
    ----------
    indices : ndarray of int64, shape (N, k)
        Row positions of each row's neighbours, nearest first (the row itself excluded).
    distances : ndarray of float64, shape (N, k)
        The matching distances, ascending along each row.
    metric : str
        ``"cosine"`` or ``"euclidean"`` (or the name the caller gave for a foreign graph).
    approximate : bool
        Whether an approximate index produced the graph.
    exact_duplicates_corrected : bool
        Whether the exact-duplicate correction (cleanlab's) was applied.
    recall_check : (rows, exact_distances), optional
        For an approximate graph: a seeded random sample of rows and, for each, the distances
        of its exact k nearest neighbours (ascending), from an exact search of those rows; it
        gives :attr:`estimated_recall`.
    """

    indices: np.ndarray
    distances: np.ndarray
    metric: str | None
    approximate: bool = False
    exact_duplicates_corrected: bool = False
    recall_check: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self):
        indices = np.asarray(self.indices)
        distances = np.asarray(self.distances, dtype=np.float64)
        if indices.ndim != 2 or indices.shape != distances.shape:
            raise ValueError(
                f"indices and distances must be 2-D arrays of one shape, got {indices.shape} "
                f"and {distances.shape}"
            )
        if indices.dtype.kind not in "iu":
            raise ValueError(f"indices must be integers, got {indices.dtype}")
        n = indices.shape[0]
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise ValueError(f"indices must lie in [0, {n}) (one row per indexed row)")
        if not np.isfinite(distances).all() or (distances < 0).any():
            raise ValueError("distances must be finite and non-negative")
        for name, value in (
            ("indices", indices.astype(np.int64, copy=False)),
            ("distances", distances),
        ):
            view = value.view()  # read-only view; the caller's own array keeps its flags
            view.setflags(write=False)
            object.__setattr__(self, name, view)
        if self.recall_check is not None:
            rows = np.asarray(self.recall_check[0], dtype=np.int64)
            exact = np.asarray(self.recall_check[1], dtype=np.float64)
            if exact.shape != (len(rows), indices.shape[1]) or (
                len(rows) and (rows.min() < 0 or rows.max() >= n)
            ):
                raise ValueError(
                    "recall_check must be (rows, exact distances) with one row of k distances "
                    "per sampled row"
                )
            object.__setattr__(self, "recall_check", (rows, exact))

    @property
    def estimated_recall(self) -> float | None:
        """recall@k against exact search: 1.0 for a graph from an exact search (or given from
        outside and not marked approximate); for an approximate graph, the share of the sampled
        rows' k neighbours that are at most as far as the exact k-th neighbour (ties count as
        found), over the seeded random sample of :attr:`recall_check` (512 rows by default,
        standard error about 0.002 near 0.99); None for an approximate graph without a check."""
        if not self.approximate:
            return 1.0
        if self.recall_check is None:
            return None
        rows, exact = self.recall_check
        if not len(rows):
            return None
        kth = exact[:, -1:]
        return float((self.distances[rows] <= kth * (1 + 1e-12)).mean())

    @property
    def n(self) -> int:
        """Number of rows."""
        return self.indices.shape[0]

    @property
    def k(self) -> int:
        """Neighbours stored per row."""
        return self.indices.shape[1]

    def head(self, k: int) -> KnnGraph:
        """The graph restricted to each row's first ``k`` neighbours."""
        if not 1 <= k <= self.k:
            raise ValueError(f"k must be between 1 and {self.k}, got {k}")
        if k == self.k:
            return self
        check = self.recall_check
        return KnnGraph(
            self.indices[:, :k],
            self.distances[:, :k],
            self.metric,
            self.approximate,
            self.exact_duplicates_corrected,
            None if check is None else (check[0], check[1][:, :k]),
        )

    def to_csr(self):
        """The graph as a scipy CSR matrix (N × N, distances as data), cleanlab's format.

        The matrix owns writeable copies of the arrays (scipy sorts and sums in place)."""
        from scipy.sparse import csr_matrix

        n, k = self.indices.shape
        indptr = np.arange(0, n * k + 1, k)
        data = np.array(self.distances.ravel(), copy=True)
        return csr_matrix((data, np.array(self.indices.ravel(), copy=True), indptr), shape=(n, n))

    @classmethod
    def from_csr(cls, graph, *, metric: str | None = None) -> KnnGraph:
        """A graph from a CSR matrix with the same number of stored neighbours on every row
        (e.g. cleanlab's ``weighted_knn_graph``); each row is sorted by distance."""
        graph = graph.tocsr()
        n = graph.shape[0]
        counts = np.diff(graph.indptr)
        if (
            graph.shape[0] != graph.shape[1]
            or n == 0
            or (counts != counts[0]).any()
            or counts[0] == 0
        ):
            raise ValueError(
                "a kNN graph needs N × N shape and the same number (>= 1) of neighbours per row"
            )
        k = int(counts[0])
        idx = graph.indices.reshape(n, k).astype(np.int64)
        dist = np.asarray(graph.data, dtype=np.float64).reshape(n, k)
        order = _row_order(dist, idx)
        rows = np.arange(n)[:, None]
        return cls(idx[rows, order], dist[rows, order], metric)

    def __repr__(self) -> str:
        kind = "exact"
        if self.approximate:
            recall = self.estimated_recall
            kind = "approximate" + (
                "" if recall is None else f", estimated recall@{self.k} {recall:.3f}"
            )
        return f"KnnGraph(n={self.n}, k={self.k}, metric={self.metric!r}, {kind})"


def _row_order(dist: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Per-row order by (distance, index)."""
    first = np.argsort(idx, axis=1, kind="stable")
    rows = np.arange(len(dist))[:, None]
    second = np.argsort(dist[rows, first], axis=1, kind="stable")
    return first[rows, second]


def default_metric(n_features: int) -> str:
    """cleanlab's default: cosine for more than 3 features, else euclidean."""
    return "cosine" if n_features > HIGH_DIMENSION_CUTOFF else "euclidean"


def resolve_k(n_rows: int, k: int | None) -> int:
    """``k`` or the default ``min(10, N - 1)``; ``k >= N`` is an error (as in cleanlab)."""
    if n_rows < 2:
        raise ValueError(f"a neighbour graph needs at least 2 rows, got {n_rows}")
    if k is None:
        return min(DEFAULT_K, n_rows - 1)
    k = int(k)
    if k < 1 or k >= n_rows:
        raise ValueError(f"k={k} must be at least 1 and less than the number of rows N={n_rows}")
    return k


def _check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    return metric


# ------------------------------------------------------------------------------------------
# exact search
# ------------------------------------------------------------------------------------------
def _prepared(X: np.ndarray, metric: str, frame: EuclideanFrame | None = None) -> np.ndarray:
    """float32 rows for the search, a copy: cosine — unit-normalised (zero rows stay zero);
    euclidean — shifted and scaled by a power of two into ``frame`` (default: ``X``'s own), so
    that any finite float64 values fit float32 without changing which rows are nearest
    (:mod:`.scales`)."""
    return search_rows(X, metric, frame)


def _keys(Qb: np.ndarray, Yc: np.ndarray, metric: str, sq: np.ndarray | None) -> np.ndarray:
    """Distance keys of a block (smaller = nearer): ``-cos`` or ``|y|^2 - 2 q.y``. float32."""
    S = Qb @ Yc.T
    if metric == "cosine":
        np.negative(S, out=S)
    elif sq is None:
        raise ValueError("euclidean keys need the squared norms of the indexed rows")
    else:
        S *= -2.0
        S += sq[None, :]
    return S


def _select(S: np.ndarray, k: int) -> np.ndarray:
    """Column positions of the k smallest keys of each row, ordered by (key, column).

    An evenly spread subset of columns gives an upper bound on each row's k-th key (a k-th
    smallest of a subset); the few entries strictly under it are sorted, and entries equal to it
    fill the remaining places in column order — so large groups of tied keys (identical rows)
    cost no sorting.
    """
    b, n = S.shape
    m = min(n, max(4 * k + 32, 1024))
    probe = np.unique(np.linspace(0, n - 1, m).astype(np.int64))
    bound = np.partition(S[:, probe], k - 1, axis=1)[:, k - 1]
    S = np.ascontiguousarray(S)
    flat = np.flatnonzero(S < bound[:, None])  # several times faster than 2-D nonzero
    rows, cols = np.divmod(flat, n)
    order = np.lexsort((cols, S.ravel()[flat], rows))
    rows, cols = rows[order], cols[order]
    counts = np.bincount(rows, minlength=b)
    take = np.minimum(counts, k)
    out = np.empty((b, k), dtype=np.int64)
    starts = np.cumsum(counts) - counts
    r = np.repeat(np.arange(b), take)
    pos = np.arange(take.sum()) - np.repeat(np.cumsum(take) - take, take)
    out[r, pos] = cols[starts[r] + pos]
    need = k - take
    filled = take.copy()
    tie_rows = np.flatnonzero(need > 0)
    chunk = max(4 * k, 1024)
    for c0 in range(0, n, chunk):  # scan for ties chunk by chunk, only while rows still need them
        if not len(tie_rows):
            break
        er, ec = np.nonzero(S[tie_rows, c0 : c0 + chunk] == bound[tie_rows, None])
        ecounts = np.bincount(er, minlength=len(tie_rows))
        rank = np.arange(len(er)) - (np.cumsum(ecounts) - ecounts)[er]
        keep = rank < need[tie_rows][er]
        rr = tie_rows[er[keep]]
        out[rr, filled[rr] + rank[keep]] = ec[keep] + c0
        got = np.minimum(ecounts, need[tie_rows])
        filled[tie_rows] += got
        need[tie_rows] -= got
        tie_rows = tie_rows[need[tie_rows] > 0]
    return out


def _blockwise(fn, n: int, step: int) -> None:
    """``fn(rows)`` for the row slices ``[0, step), [step, 2 step), ...`` of ``n`` rows, on every
    core (BLAS on one thread each; every block writes its own rows, so the schedule changes
    nothing)."""
    blocks = [slice(start, start + step) for start in range(0, n, step)]
    with _single_threaded_blas():
        parallel_for(fn, blocks, parallel=len(blocks) > 1)


def _compiled(pairs: int) -> bool:
    """Whether a search of ``pairs`` (query, row) pairs runs the compiled loops."""
    return _COMPILED_SEARCH and pairs >= _COMPILED_MIN_PAIRS


def _search_blocks(
    Q,
    Y,
    k,
    *,
    metric,
    exclude_offset=None,
    progress=None,
    desc=None,
    exclude=None,
    sq=None,
    return_keys=False,
):
    """Exact k nearest rows of ``Y`` for every row of ``Q`` (indices, int64), by blocks of rows
    (one product each, the blocks on every core). Row i of Q leaves out row
    ``i + exclude_offset`` of Y (or ``exclude[i]``). ``sq``: Y's squared norms (euclidean; made
    here when None). ``return_keys``: also the float32 keys, ``(indices, keys)``."""
    n_q, n = len(Q), len(Y)
    if metric == "euclidean" and sq is None:
        sq = np.einsum("ij,ij->i", Y, Y)
    rows_per_block = max(1, min(n_q, _BLOCK_CELLS // max(n, 1)))
    out_idx = np.empty((n_q, k), dtype=np.int64)
    out_keys = np.empty((n_q, k), dtype=np.float32)
    compiled = _compiled(n_q * n)
    if compiled:
        from ._knn_kernels import warm

        warm()  # here, not in the pool's threads
    if exclude_offset is not None:
        exclude = np.arange(n_q, dtype=np.int64) + exclude_offset
    elif exclude is None:
        exclude = np.full(n_q, -1, dtype=np.int64)

    def one_block(start):
        stop = min(n_q, start + rows_per_block)
        out_idx[start:stop], out_keys[start:stop] = _block_select(
            Q[start:stop], Y, k, metric, sq, exclude[start:stop], compiled
        )

    starts = list(range(0, n_q, rows_per_block))
    group = 8  # blocks run in parallel in groups, so that a progress bar moves
    groups = [starts[i : i + group] for i in range(0, len(starts), group)]
    with _single_threaded_blas():
        for g in tracked(progress, groups, total=len(groups), desc=desc):
            parallel_for(one_block, g, parallel=n_q * n > _BLOCK_CELLS)
    return (out_idx, out_keys) if return_keys else out_idx


def _block_select(Qb, Y, k, metric, sq, exclude, compiled):
    """One block of the exact search: the k nearest rows of Y of each row of Qb (leaving out
    the column ``exclude[i]``, -1: none), ``(indices, keys)`` by (key, index); ``compiled``:
    by the compiled loop (else numpy)."""
    if compiled:
        from ._knn_kernels import select

        return select(Qb @ Y.T, sq, k, exclude)
    S = _keys(Qb, Y, metric, sq)
    own = np.flatnonzero(exclude >= 0)
    S[own, exclude[own]] = np.inf
    sel = _select(S, k)
    return sel, np.take_along_axis(S, sel, axis=1)


# ------------------------------------------------------------------------------------------
# approximate search: cluster join (numpy + BLAS)
# ------------------------------------------------------------------------------------------
def _one_blas_thread(method):
    """Run ``method`` with BLAS on one thread: the cluster join's products are small or
    medium-sized, and it runs the cells on a thread pool itself; a multi-threaded BLAS on them
    spins its threads, which on a busy machine costs more CPU time than it saves wall time
    (the whole 50,000-row build: 4.2-4.3 CPU-s instead of 5.0-5.3 at load 9)."""

    @functools.wraps(method)
    def run(*args, **kwargs):
        with _single_threaded_blas():
            return method(*args, **kwargs)

    return run


class _ClusterJoin:
    """Approximate kNN by an inverted file, searched cell by cell, with calibrated probing.

    Build: seeded k-means cuts the rows into ``nlist`` (about :data:`CLUSTER_JOIN_LISTS` · √N)
    cells. Search with ``nprobe``: every query row is compared with the rows of its ``nprobe``
    nearest cells (by centroid), as in faiss' IndexIVFFlat, but the work is organised by cell —
    for each cell, one matrix product of all the query rows that probe it by the cell's rows —
    so it is dense BLAS work. The cells are visited in rounds of increasing centroid rank (the
    nearest cell first, then the next 3, 12, 48, … cells); after each round every row keeps its
    ``k`` best candidates (ties by row index), and later rounds only keep entries at most the
    row's current k-th key (an equal key can still enter by its index, so the result is each
    row's k best compared rows by (key, index) whatever the rounds, for the keys computed; the
    rounds decide which rows share a product, and BLAS may round a product of 1-3 rows
    differently in the last float32 bit, which the float64 re-ranking then absorbs). In the
    self-graph of all rows the search is symmetric: each key also serves the member's side of
    the pair, so a row also gets the rows that probe its cell (about half the probes for the
    same recall on embedding-like data).

    Calibration (:meth:`calibrate`): for a seeded sample of rows the exact neighbours are found
    by one exact search of the sample; a row's search with ``nprobe`` cells finds exactly those
    of its true neighbours whose cell is among its ``nprobe`` nearest (or, symmetric, whose
    ``nprobe`` nearest include the row's cell), so the recall of every
    ``nprobe`` on the sample follows from the centroid ranks alone, and the smallest ``nprobe``
    whose sample recall reaches :data:`TARGET_RECALL` is taken (on the sample rows that are not
    far from their neighbours: the far rows are searched exactly afterwards).
    """

    @_one_blas_thread
    def __init__(self, Y: np.ndarray, metric: str, *, seed: int = 0, progress=None):
        n = len(Y)
        self.metric, self.progress, self.seed = metric, progress, seed
        self.nlist = max(1, min(n // 8, int(round(CLUSTER_JOIN_LISTS * math.sqrt(n)))))
        self.Y = Y
        self.sq = np.einsum("ij,ij->i", Y, Y) if metric == "euclidean" else None
        self.centroids = self._kmeans(Y, self.nlist, seed)
        self.assign = self._nearest_centroid(Y)
        order = np.argsort(self.assign, kind="stable")
        self.sizes = np.bincount(self.assign, minlength=self.nlist)
        self.members = np.split(order, np.cumsum(self.sizes)[:-1])
        self.position = np.empty(n, dtype=np.int64)  # each row's place in its cell's members
        for m in self.members:
            self.position[m] = np.arange(len(m))
        self._calibrated: dict[tuple[int, bool], tuple[int, float, float]] = {}
        self._calibrated_radius: dict[tuple, tuple[float, int, float, float]] = {}
        self._sample_exact: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _cell_rows(self, c: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The rows of cell ``c`` (a view of the rows sorted by cell) and their squared norms
        (euclidean; None for cosine)."""
        rows, sq, cuts = self._by_cell
        start, stop = cuts[c], cuts[c + 1]
        return rows[start:stop], None if sq is None else sq[start:stop]

    @functools.cached_property
    def _by_cell(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The rows sorted by cell (a copy made on first use), their squared norms and each
        cell's start in them."""
        order = np.concatenate(self.members)
        sq = None if self.sq is None else self.sq[order]
        return self.Y[order], sq, np.r_[0, np.cumsum(self.sizes)]

    @property
    def _csq(self):
        return (
            np.einsum("ij,ij->i", self.centroids, self.centroids)
            if self.metric == "euclidean"
            else None
        )

    def _centroid_keys(self, X: np.ndarray) -> np.ndarray:
        return _keys(X, self.centroids, self.metric, self._csq)

    def _centroid_blocks(self, fn, n: int) -> None:
        """``fn(rows)`` for blocks of ``n`` rows (slices) whose keys to every centroid fill at
        most one block of the distance matrix, on every core (each block writes its own rows);
        as many blocks as a multiple of the cores, of equal size, so that no core waits on
        another's last block."""
        step = max(1, _BLOCK_CELLS // max(1, len(self.centroids)))
        blocks = -(-n // step)
        if blocks > 1:
            cores = _workers()
            blocks = -(-blocks // cores) * cores
        _blockwise(fn, n, max(1, -(-n // max(1, blocks))))

    def _nearest_centroid(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(len(X), dtype=np.int64)

        def block(rows):
            out[rows] = self._centroid_keys(X[rows]).argmin(axis=1)

        self._centroid_blocks(block, len(X))
        return out

    @functools.cached_property
    def boundary_factors(self) -> np.ndarray:
        """float32 (cells × cells): ``f[a, b]`` turns a row's centroid-key gap between cells
        ``b`` and ``a`` (its nearest) into its distance to the hyperplane halfway between the
        two centroids — ``1 / |c_a - c_b|`` for cosine keys (unit rows and centroids),
        ``1 / (2 |c_a - c_b|)`` for euclidean ones. A row of cell ``b`` lies beyond that
        hyperplane, so it is at least that far from the row: unlike the key gap, this measure
        does not favour cells whose centroid is far away (the largest finite float32 for equal
        centroids, the diagonal included: found by their values, since the squared distance
        from norms and products is rounding noise for them). Computed in float64 by blocks of
        cells (the float64 temporaries stay small at any number of cells)."""
        C = self.centroids.astype(np.float64)
        norms = np.einsum("ij,ij->i", C, C)
        same = np.unique(self.centroids, axis=0, return_inverse=True)[1].reshape(-1)
        out = np.empty((len(C), len(C)), dtype=np.float32)
        big = float(np.finfo(np.float32).max)
        for start in range(0, len(C), 512):
            part = slice(start, start + 512)
            sq = norms[part, None] + norms[None, :] - 2.0 * (C[part] @ C.T)
            sq[same[part, None] == same[None, :]] = 0.0
            sep = np.sqrt(np.maximum(sq, 0.0)) * (1.0 if self.metric == "cosine" else 2.0)
            with np.errstate(divide="ignore"):
                out[part] = np.minimum(1.0 / sep, big)
        return out

    def _gaps(self, ck: np.ndarray, boundary: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(values, low)`` of a block of centroid keys, such that a row probes cell ``c`` with
        radius ``delta`` when ``values[i, c] <= low[i] + delta`` (float32): the keys and each
        row's smallest; ``boundary``: the distances to the boundary with the row's nearest cell
        (its first smallest key) and zeros (:attr:`boundary_factors`)."""
        low = ck.min(axis=1)
        if not boundary:
            return ck, low
        values = (ck - low[:, None]) * self.boundary_factors[ck.argmin(axis=1)]
        return values, np.zeros(len(ck), dtype=np.float32)

    def _nearest_cells(
        self,
        X: np.ndarray,
        p: int,
        delta: float | None = None,
        *,
        compiled: bool = False,
        boundary: bool = False,
    ) -> np.ndarray:
        """The ``p`` nearest cells of each row of X, nearest first (ties by cell number); int16
        (or int32 beyond 32,767 cells), as this array is N × p. ``delta``: only the cells whose
        centroid key is at most the row's nearest one's plus ``delta`` (float32), -1 in the
        places left (the nearest cell is always kept); with ``boundary``, only the cells whose
        boundary with the row's nearest cell is within ``delta`` of the row (the ``p`` nearest of
        those; :attr:`boundary_factors`). ``compiled``: one compiled pass per row
        (:func:`._knn_kernels.nearest_cells`) instead of a sort; the same cells."""
        out = np.empty((len(X), p), dtype=np.int16 if self.nlist < 2**15 else np.int32)
        limit = np.float32(np.inf if delta is None else delta)
        boundary = boundary and delta is not None
        factors = self.boundary_factors if boundary else None
        if compiled:
            from ._knn_kernels import nearest_cells

        def block(rows):
            ck = self._centroid_keys(X[rows])
            if compiled:
                nearest_cells(ck, p, limit, out[rows], factors)
                return
            if boundary:
                values, low = self._gaps(ck, True)
                ck = np.where(values <= low[:, None] + limit, ck, np.inf)  # the others last
            top = np.argsort(ck, axis=1, kind="stable")[:, :p]
            if delta is not None:
                keys = np.take_along_axis(ck, top, axis=1)
                within = np.isfinite(keys) if boundary else keys <= keys[:, :1] + limit
                top = np.where(within, top, -1)
            out[rows] = top

        self._centroid_blocks(block, len(X))
        return out

    def _kmeans(self, Y, nlist, seed, iterations=8, per_list=32):
        rng = np.random.default_rng(seed)
        n = len(Y)
        sample = (
            Y
            if n <= per_list * nlist
            else Y[np.sort(rng.choice(n, per_list * nlist, replace=False))]
        )
        self.centroids = sample[np.sort(rng.choice(len(sample), nlist, replace=False))].copy()
        for _ in range(iterations):
            assign = self._nearest_centroid(sample)
            sums = np.zeros_like(self.centroids, dtype=np.float64)
            _scatter_add(sums, assign, sample, compiled=_compiled(n * n))
            counts = np.bincount(assign, minlength=nlist)
            empty = counts == 0
            new = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
            new[empty] = self.centroids[empty]
            if self.metric == "cosine":
                norms = np.linalg.norm(new, axis=1, keepdims=True)
                new /= np.where(norms > 0, norms, 1)
            self.centroids = new
        return self.centroids

    def _cell_rank(self, rows: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """The rank of ``cell[i]`` among the cells ordered by nearness to the indexed row
        ``rows[i]`` (0 = its nearest; ties by cell number, as :meth:`_nearest_cells`)."""
        out = np.empty(len(rows), dtype=np.int64)
        numbers = np.arange(self.nlist)

        def block(part):
            ck = self._centroid_keys(self.Y[rows[part]])
            c = cell[part]
            own = ck[np.arange(len(c)), c][:, None]
            out[part] = (ck < own).sum(axis=1) + (
                (ck == own) & (numbers[None, :] < c[:, None])
            ).sum(axis=1)

        self._centroid_blocks(block, len(rows))
        return out

    def _exact_keys(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, keys)`` of the exact k nearest other rows of the indexed ``rows``, by
        blocks of rows against all rows (a few hundred rows: cheaper than a search cell by
        cell, whose bookkeeping is per cell)."""
        return _search_blocks(
            self.Y[rows], self.Y, k, metric=self.metric, exclude=rows, sq=self.sq, return_keys=True
        )

    @_one_blas_thread
    def calibrate(
        self, k: int, sample: np.ndarray, *, symmetric: bool = False
    ) -> tuple[int, float, float]:
        """``(nprobe, sample recall, scanned fraction)`` for searches of ``k`` neighbours: the
        smallest ``nprobe`` whose recall@k on the exact neighbours of the ``sample`` rows
        reaches :data:`TARGET_RECALL` (every cell when none does); the scanned fraction is the
        mean share of all rows a query row is compared with. The sample's far rows (mean
        distance to their k neighbours above Q3 + 1·IQR), which the index searches exactly
        afterwards, do not count: a few isolated rows would otherwise set the probes of all.
        ``symmetric``: for the self-graph's symmetric search (:meth:`search`), where row i
        finds neighbour j when j's cell is among i's ``nprobe`` nearest *or* i's cell among
        j's; otherwise (queries) only the first. Cached per ``(k, symmetric)``."""
        if (k, symmetric) in self._calibrated:
            return self._calibrated[k, symmetric]
        m, n = len(sample), len(self.Y)
        a, nb, near = self._sample_neighbours(k, sample)
        found_at = self._cell_rank(sample[a], self.assign[nb])  # i probes j's cell
        if symmetric:  # ... or j probes i's cell
            found_at = np.minimum(found_at, self._cell_rank(nb, self.assign[sample[a]]))
        hits = np.zeros((m, self.nlist), dtype=np.int64)  # true neighbours per cell rank
        np.add.at(hits, (a, found_at), 1)
        curve = (np.minimum(np.cumsum(hits[near], axis=1), k) / k).mean(axis=0)
        reached = np.flatnonzero(curve >= TARGET_RECALL - 1e-12)
        nprobe = int(reached[0]) + 1 if len(reached) else self.nlist
        cells = self._nearest_cells(self.Y[sample], nprobe)
        scanned = float(self.sizes[cells].sum(axis=1).mean() / n)
        self._calibrated[k, symmetric] = (nprobe, float(curve[nprobe - 1]), scanned)
        return self._calibrated[k, symmetric]

    def _sample_neighbours(self, k: int, sample: np.ndarray):
        """``(a, nb, near)`` of the calibration ``sample``'s exact k nearest neighbours: the
        pairs (sample position ``a``, row ``nb``; every row at least as near as the k-th one,
        ties beyond :data:`_TIE_MARGIN` counted as missed) and which sample rows are not far
        from their neighbours (mean distance at most Q3 + 1·IQR: the far rows are searched
        exactly afterwards, :meth:`KnnIndex._exact_tail`, so the probes are calibrated on the
        others)."""
        wide = min(len(self.Y) - 1, k + _TIE_MARGIN)
        if k not in self._sample_exact:
            self._sample_exact[k] = self._exact_keys(sample, wide)
        idx, keys = self._sample_exact[k]
        within = (keys <= keys[:, k - 1 : k]) & (idx >= 0)
        a, b = np.nonzero(within)
        if self.metric == "cosine":
            dist = 1.0 + keys[:, :k].astype(np.float64)
        else:
            sq = self.sq[sample][:, None] if self.sq is not None else 0.0
            dist = np.sqrt(np.maximum(keys[:, :k].astype(np.float64) + sq, 0.0))
        avg = dist.mean(axis=1)
        q1, q3 = np.percentile(avg, [25, 75])
        return a, idx[a, b], avg <= q3 + (q3 - q1)

    @_one_blas_thread
    def calibrate_radius(
        self,
        k: int,
        sample: np.ndarray,
        *,
        symmetric: bool = False,
        target: float | None = None,
        boundary: bool = False,
    ) -> tuple[float, int, float, float]:
        """``(delta, cap, sample recall, scanned fraction)`` of probes chosen per row by a
        radius: a row probes the cells whose centroid key is at most its nearest cell's plus
        ``delta`` (at most ``cap`` of them), so a row whose neighbours lie in its own cell
        probes few cells and a row between cells more. ``delta`` is the smallest reaching
        recall@k ``target`` (default :data:`TARGET_RECALL`) on the ``sample``'s exact
        neighbours (its near rows, as :meth:`calibrate`; ``symmetric``: either row of a pair
        probing the other's cell finds it), ``cap`` twice the most cells any sampled row or
        neighbour probes (or every cell). ``boundary``: the radius is on each row's distance to
        the boundary between its nearest cell and the other (:attr:`boundary_factors`), not on
        the key gap. Cached per ``(k, symmetric, target, boundary)``."""
        target = TARGET_RECALL if target is None else target
        cache = (k, symmetric, target, boundary)
        if cache in self._calibrated_radius:
            return self._calibrated_radius[cache]
        m, n = len(sample), len(self.Y)
        a, nb, near = self._sample_neighbours(k, sample)
        ck_i, min_i = self._gaps(self._centroid_keys(self.Y[sample]), boundary)
        key_ij = ck_i[a, self.assign[nb]]  # i probes j's cell ...
        sides = [(key_ij, min_i[a], ck_i, min_i)]
        if symmetric:  # ... or j probes i's cell
            ck_j, min_j = self._gaps(self._centroid_keys(self.Y[nb]), boundary)
            sides.append((ck_j[np.arange(len(nb)), self.assign[sample[a]]], min_j, ck_j, min_j))

        def found(delta):
            d = np.float32(delta)
            hit = np.zeros(len(a), dtype=bool)
            for key, low, _, _ in sides:
                hit |= key <= low + d  # the float32 test of the search (_nearest_cells)
            got = np.bincount(a, weights=hit, minlength=m)
            return float((np.minimum(got, k)[near] / k).mean())

        gaps = np.unique(np.concatenate([(key - low).astype(np.float64) for key, low, *_ in sides]))
        gaps = np.unique(np.r_[0.0, np.maximum(gaps, 0.0)])
        lo, hi = 0, len(gaps) - 1  # the smallest gap reaching the target (recall grows with it)
        if found(gaps[hi]) < target - 1e-12:
            lo = hi
        while lo < hi:
            mid = (lo + hi) // 2
            if found(gaps[mid]) >= target - 1e-12:
                hi = mid
            else:
                lo = mid + 1
        delta = float(gaps[lo])
        d = np.float32(delta)
        most = max(int((ck <= low[:, None] + d).sum(axis=1).max()) for _, _, ck, low in sides)
        cap = min(self.nlist, 2 * most)
        probed = ck_i <= min_i[:, None] + d
        scanned = float((probed * self.sizes[None, :]).sum(axis=1).mean() / n)
        self._calibrated_radius[cache] = (delta, cap, found(delta), scanned)
        return self._calibrated_radius[cache]

    @_one_blas_thread
    def search(
        self,
        Q: np.ndarray | None,
        k: int,
        nprobe: int,
        rows: np.ndarray | None = None,
        *,
        return_keys: bool = False,
        symmetric: bool = False,
        delta: float | None = None,
        boundary: bool = False,
    ):
        """k nearest indexed rows of each row of Q among its ``nprobe`` nearest cells; Q None:
        of the indexed ``rows`` (default all), each excluding itself. -1 where fewer than k
        rows were compared. With ``nprobe = nlist`` the search is exact (an exact search that
        reads the rows once, cell by cell: fast for a subset of rows). ``return_keys``: also
        the float32 keys (smaller = nearer), ``(indices, keys)``.

        ``symmetric`` (the self-graph of all rows): every key computed serves both rows of the
        pair, so row j also gets the rows i that probe j's cell — each row is compared with the
        rows of its ``nprobe`` nearest cells *and* with the rows whose ``nprobe`` nearest cells
        include its own (each pair offered once: to j only when j does not probe i's cell).

        ``delta`` (:meth:`calibrate_radius`): each row probes only those of its ``nprobe``
        nearest cells whose centroid key is at most its nearest cell's plus ``delta`` (with
        ``boundary``: whose boundary with its nearest cell is within ``delta`` of the row, as
        :meth:`calibrate_radius` with ``boundary``)."""
        self_query = Q is None
        reverse = symmetric and Q is None and rows is None and nprobe > 1
        ids = None
        if Q is None:
            ids = None if rows is None else np.asarray(rows, dtype=np.int64)
            Qs = self.Y if ids is None else self.Y[ids]
        else:
            Qs = Q
        nq = len(Qs)
        best_key = np.full((nq, k), np.inf, dtype=np.float32)
        best_idx = np.full((nq, k), -1, dtype=np.int64)
        compiled = _compiled(nq * len(self.Y))
        if compiled:
            from ._knn_kernels import cell_candidates, gather, merge_candidates, probe_bits, warm

            warm()
        cells = self._nearest_cells(Qs, nprobe, delta, compiled=compiled, boundary=boundary)
        counts = None if delta is None else (cells >= 0).sum(axis=1)  # cells probed per row
        if compiled:
            bits = probe_bits(cells, self.nlist) if reverse else np.zeros((1, 1), dtype=np.uint64)
            _ = self._by_cell  # made here, not by the first cells at once
        # rounds of cell ranks [0, 1), [1, 4), [4, 16), ... (fewer, larger products than
        # doubling: measured faster); a round holds at most _ROUND_ENTRIES
        # (row, cell) pairs, so its bookkeeping stays small at any N
        width = max(1, _ROUND_ENTRIES // max(1, nq))
        edges = [0, 1]
        while edges[-1] < nprobe:
            edges.append(min(nprobe, 4 * edges[-1], edges[-1] + width))
        rounds = list(zip(edges[:-1], edges[1:]))
        for lo, hi in tracked(
            self.progress,
            rounds,
            total=len(rounds),
            desc="approximate kNN search",
            enable=nq > 50_000,
        ):
            bound = best_key[:, -1].copy()  # inf while a row has fewer than k candidates
            active = None if counts is None else np.flatnonzero(counts > lo)  # rows in the round
            if active is not None and not len(active):
                break
            probe = (cells[:, lo:hi] if active is None else cells[active, lo:hi]).ravel()
            probing, cuts = _group_by_cell(probe, hi - lo, self.nlist, compiled=compiled)
            if active is not None:
                probing = active[probing]
            # one rank per round: each row is in one cell, which merges into the row's best
            # directly; wider rounds collect the candidates and merge them after the round
            direct = hi - lo == 1
            # rank 0 is each row's own cell, which every row probes: no members' side
            back_pass = reverse and lo > 0
            found: list = [None] * self.nlist

            def one_cell(
                c,
                bound=bound,
                probing=probing,
                cuts=cuts,
                found=found,
                direct=direct,
                back_pass=back_pass,
            ):
                r_all, members = probing[cuts[c] : cuts[c + 1]], self.members[c]
                if not len(r_all) or not len(members):
                    return
                Yc = self.Y[members]
                sq = self.sq[members] if self.sq is not None else None
                parts = []
                step = max(1, _BLOCK_CELLS // len(members))
                for start in range(0, len(r_all), step):
                    r = r_all[start : start + step]
                    if back_pass and sq is not None:  # euclidean: the members' side has its own
                        assert self.sq is not None  # keys, on the rows' squared norms
                        D = Qs[r] @ Yc.T
                        D *= -2.0
                        S, S_back = D + sq[None, :], D + self.sq[r][:, None]
                    else:
                        S = S_back = _keys(Qs[r], Yc, self.metric, sq)
                    if self_query:
                        me = r if ids is None else ids[r]
                        own = np.flatnonzero(self.assign[me] == c)
                        S[own, self.position[me[own]]] = np.inf
                    limit = np.minimum(bound[r], _FLOAT32_MAX)  # never the row itself (inf)
                    if direct and len(members) > k:  # only this block's k nearest can enter
                        limit = np.minimum(limit, np.partition(S, k - 1, axis=1)[:, k - 1])
                    # a key equal to the row's k-th can still enter it (by index): kept, so the
                    # result does not depend on the rounds (for the same keys)
                    hit = S <= limit[:, None]
                    if direct:
                        _merge_rows(best_key, best_idx, r, S, hit, members)
                    else:
                        flat = np.flatnonzero(hit)
                        i, j = np.divmod(flat, len(members))
                        parts.append((r[i], members[j], S.ravel()[flat]))
                    if back_pass:
                        # the members' side: rows r under a member's k-th key, unless the
                        # member probes r's cell itself (then it meets r there)
                        # (each member's own key to the row: S_back)
                        limit_back = np.minimum(bound[members], _FLOAT32_MAX)
                        flat = np.flatnonzero(S_back <= limit_back)
                        i, j = np.divmod(flat, len(members))
                        ri, mj = r[i], members[j]
                        back = (cells[mj] == self.assign[ri][:, None]).any(axis=1) | (ri == mj)
                        keep = np.flatnonzero(~back)
                        parts.append((mj[keep], ri[keep], S_back.ravel()[flat[keep]]))
                if parts:
                    found[c] = tuple(np.concatenate(p) for p in zip(*parts))

            def one_cell_compiled(
                c, bound=bound, probing=probing, cuts=cuts, found=found, back_pass=back_pass
            ):
                # the same candidates as one_cell, from one compiled pass over each block of
                # keys (no GIL held: the cells run on every core)
                r_all, members = probing[cuts[c] : cuts[c + 1]], self.members[c]
                if not len(r_all) or not len(members):
                    return
                Yc, sq = self._cell_rows(c)
                parts = []
                step = max(1, _BLOCK_CELLS // len(members))
                for start in range(0, len(r_all), step):
                    r = r_all[start : start + step]
                    parts.append(
                        cell_candidates(
                            gather(Qs, r) @ Yc.T,
                            sq,
                            r,
                            r if ids is None else ids[r],
                            members,
                            bound,
                            k,
                            self_query=self_query,
                            back=back_pass,
                            assign=self.assign,
                            bits=bits,
                            rsq=self.sq if back_pass else None,
                        )
                    )
                found[c] = parts[0] if len(parts) == 1 else tuple(map(np.concatenate, zip(*parts)))

            with _single_threaded_blas():
                parallel_for(
                    one_cell_compiled if compiled else one_cell,
                    range(self.nlist),
                    parallel=nq * (hi - lo) >= _PARALLEL_MIN_PROBES,
                )
            got = [f for f in found if f is not None]
            if got:
                r_got, idx, keys = (np.concatenate(p) for p in zip(*got))
                if compiled:
                    merge_candidates(best_key, best_idx, r_got, idx, keys)
                else:
                    _merge_best(best_key, best_idx, r_got, idx, keys)
        return (best_idx, best_key) if return_keys else best_idx


def _group_by_cell(
    probe: np.ndarray, width: int, nlist: int, *, compiled: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cuts)`` of a round's probes (``probe``: rows × ``width`` cell numbers,
    flattened; -1: none): the probing rows grouped by cell, in row order within a cell (a
    stable sort), cell ``c``'s at ``rows[cuts[c]:cuts[c + 1]]`` (the -1 entries first, before
    ``cuts[0]``). ``compiled``: by a compiled counting sort (the same arrays)."""
    if compiled:
        from ._knn_kernels import group_by_cell

        return group_by_cell(probe, width, nlist)
    order = np.argsort(probe, kind="stable")  # -1 (no cell) first, then by cell
    cuts = np.searchsorted(probe[order], np.arange(nlist + 1))
    return (order // width).astype(np.int64), cuts


def _merge_rows(best_key, best_idx, r, S, hit, members) -> None:
    """Merge one block of keys ``S`` (rows ``r`` by the cell's ``members``; the entries that can
    enter a row's k best marked in ``hit``) into those rows' k best, in place, ordered by
    (key, index)."""
    h = np.flatnonzero(hit.any(axis=1))
    if not len(h):
        return
    rows, k = r[h], best_key.shape[1]
    hr, hc = np.nonzero(hit[h])  # grouped by row, in member order
    counts = np.bincount(hr, minlength=len(h))
    pos = np.arange(len(hr)) - np.repeat(np.cumsum(counts) - counts, counts)
    width = int(counts.max())
    keys = np.full((len(h), k + width), np.inf, dtype=np.float32)
    idx = np.full((len(h), k + width), -1, dtype=np.int64)
    keys[:, :k], idx[:, :k] = best_key[rows], best_idx[rows]
    keys[hr, k + pos] = S[h[hr], hc]
    idx[hr, k + pos] = members[hc]
    # (key, index) as one int64: the key's order-preserving bits, then the index (< 2**31)
    comp = (_sortable(keys) << 31) | np.where(idx < 0, (1 << 31) - 1, idx)
    top = np.argpartition(comp, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(top, np.argsort(np.take_along_axis(comp, top, axis=1), axis=1), 1)
    best_key[rows] = np.take_along_axis(keys, top, axis=1)
    best_idx[rows] = np.take_along_axis(idx, top, axis=1)


def _single_threaded_blas():
    """A context in which BLAS runs on one thread (the cells run on a thread pool instead: many
    small products on multi-threaded BLAS thrash a busy machine)."""
    controller = _blas_controller()
    if controller is None:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller():
    """threadpoolctl's view of the loaded thread pools, made once: finding the libraries costs
    ~2 ms, more than a small search block, and a graph build sets the limit ~50 times."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


def _sortable(keys: np.ndarray) -> np.ndarray:
    """float32 keys as int64 in [0, 2**32) with the same order (for a single-key sort)."""
    bits = np.ascontiguousarray(keys, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, bits ^ 0x7FFFFFFF, bits) + (1 << 31)


def _merge_best(best_key, best_idx, rows, idx, keys) -> None:
    """Merge candidate entries (row, index, key) into each row's k best, in place: ordered by
    (key, index), as the exact search orders them (empty places, index -1, sort last)."""
    n, k = best_key.shape
    touched = np.flatnonzero(np.bincount(rows, minlength=n))
    R = np.concatenate([np.repeat(touched, k), rows])
    K = np.concatenate([best_key[touched].ravel(), keys])
    J = np.concatenate([best_idx[touched].ravel(), idx])
    comp = (R << 32) | _sortable(K)
    o = np.argsort(comp)  # (row, key) as one int64: one vectorised sort, unstable ...
    c = comp[o]
    tied = np.flatnonzero(c[1:] == c[:-1])
    if len(tied):  # ... so equal (row, key) runs are put in index order (-1 last) here
        at = np.unique(np.concatenate([tied, tied + 1]))
        order = np.lexsort((np.where(J[o[at]] < 0, n, J[o[at]]), c[at]))
        o[at] = o[at][order]
    R, K, J = R[o], K[o], J[o]
    first = np.r_[0, np.flatnonzero(R[1:] != R[:-1]) + 1]  # start of each row's run
    pos = np.arange(len(R)) - np.repeat(first, np.diff(np.r_[first, len(R)]))
    keep = pos < k
    best_key[R[keep], pos[keep]] = K[keep]
    best_idx[R[keep], pos[keep]] = J[keep]


def _scatter_add(
    sums: np.ndarray, assign: np.ndarray, X: np.ndarray, *, compiled: bool = False
) -> None:
    """sums[assign[i]] += X[i] in float64, row after row in row order (``np.add.at``);
    ``compiled``: one compiled pass over the rows, the same sums bit for bit
    (:func:`._knn_kernels.scatter_rows`)."""
    if compiled:
        from ._knn_kernels import scatter_rows

        scatter_rows(sums, assign, X)
    else:
        np.add.at(sums, assign, np.asarray(X, dtype=np.float64))


def _scaled_norms(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's power-of-two scale (:func:`pow2_scale` of its largest value) and the norm of
    the row divided by it (float64, without overflow or underflow)."""
    scale = pow2_scale(max_abs(A, axis=1))
    norms = np.empty(len(A), dtype=np.float64)

    def block(rows):
        a = np.asarray(A[rows], dtype=np.float64) / scale[rows, None]
        norms[rows] = np.sqrt(np.einsum("ij,ij->i", a, a))

    _blockwise(block, len(A), max(1, (1 << 20) // max(1, A.shape[1])))
    return scale, norms


def _cosine_refine(Xq: np.ndarray, X: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """float64 cosine distances of the chosen pairs (zero rows: distance 1), each row on its
    own power-of-two scale; the rows' scales and norms computed once, not per pair."""
    xs, xn = _scaled_norms(X)
    qs, qn = (xs, xn) if Xq is X else _scaled_norms(Xq)
    n, k = indices.shape
    dist = np.empty((n, k), dtype=np.float64)

    def block(rows):
        nb = indices[rows]
        q = np.asarray(Xq[rows], dtype=np.float64) / qs[rows, None]
        y = np.asarray(X[nb], dtype=np.float64)
        y /= xs[nb][:, :, None]
        dots = np.einsum("id,ijd->ij", q, y)
        denom = qn[rows, None] * xn[nb]
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where(denom > 0, dots / np.where(denom > 0, denom, 1.0), 0.0)
        dist[rows] = np.clip(1.0 - cos, 0.0, 2.0)

    _blockwise(block, n, max(1, (1 << 20) // max(1, k * X.shape[1])))
    return dist


def _refine(Xq: np.ndarray, X: np.ndarray, indices: np.ndarray, metric: str):
    """float64 distances of the chosen pairs, rows re-sorted by (distance, index).

    Each pair is computed on a power-of-two scale (each row's own for cosine, one per query row
    and its neighbours for euclidean), exactly and without overflow or underflow."""
    n, k = indices.shape
    if metric == "cosine":
        dist = _cosine_refine(Xq, X, indices)
    else:
        dist = np.empty((n, k), dtype=np.float64)

        def block(rows):
            q = np.asarray(Xq[rows], dtype=np.float64)
            nb = np.asarray(X[indices[rows]], dtype=np.float64)  # (b, k, D)
            s = pow2_scale(np.maximum(max_abs(q, axis=1), max_abs(nb, axis=(1, 2))))
            q, nb = q / s[:, None], nb / s[:, None, None]
            diff = nb - q[:, None, :]
            with np.errstate(over="ignore"):  # beyond float64: inf (the input layer rejects it)
                dist[rows] = np.sqrt(np.einsum("ijd,ijd->ij", diff, diff)) * s[:, None]

        _blockwise(block, n, max(1, (1 << 20) // max(1, k * X.shape[1])))
    order = _row_order(dist, indices)
    rows = np.arange(n)[:, None]
    return indices[rows, order], dist[rows, order]


def exact_knn(
    features: np.ndarray,
    k: int,
    *,
    metric: str,
    queries: np.ndarray | None = None,
    progress=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by blocked matrix products.

    Parameters
    ----------
    features : ndarray (N, D)
        The indexed rows. Not modified.
    k : int
        Neighbours per row.
    metric : {"cosine", "euclidean"}
    queries : ndarray (M, D), optional
        Rows to search for. When omitted, every indexed row is searched for and excluded from
        its own neighbours.
    progress : callable, optional
        ``progress(iterable, total=, desc=)`` wraps long loops (e.g. a tqdm bar); None: silent.

    Returns
    -------
    indices : ndarray of int64 (M, k)
    distances : ndarray of float64 (M, k)
        Sorted by (distance, index) along each row.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    >>> idx, dist = exact_knn(X, 1, metric="euclidean")
    >>> idx.ravel().tolist(), dist.ravel().tolist()
    ([1, 0, 1], [1.0, 1.0, 2.0])
    """
    index = KnnIndex(features, metric=_check_metric(metric), approximate=False, progress=progress)
    if queries is None:
        if k >= len(index):
            raise ValueError(f"k={k} must be less than the number of rows {len(index)}")
        return index.self_graph(k)
    return index.query(queries, k)


# ------------------------------------------------------------------------------------------
# approximate search (faiss IVF)
# ------------------------------------------------------------------------------------------
def faiss_available() -> bool:
    """Whether the optional faiss package can be imported."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _ivf_parameters(n: int) -> tuple[int, int]:
    """(nlist, nprobe) for n indexed rows: about 4·sqrt(N) lists, :data:`IVF_NPROBE` probed."""
    nlist = max(16, min(65536, int(4 * math.sqrt(n))))
    nprobe = min(nlist, IVF_NPROBE)
    return nlist, nprobe


class _FaissIVF:
    """An IVF-Flat faiss index over float32 rows (inner product for cosine, L2 otherwise)."""

    def __init__(self, Y: np.ndarray, metric: str, *, seed: int = 0, progress=None):
        import faiss

        n, d = Y.shape
        self.nlist, self.nprobe = _ivf_parameters(n)
        measure = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
        quantizer = faiss.IndexFlatIP(d) if metric == "cosine" else faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, self.nlist, measure)
        index.cp.seed = int(seed)
        index.cp.niter = 10
        n_train = min(n, 40 * self.nlist)
        rng = np.random.default_rng(seed)
        train = Y if n_train == n else Y[np.sort(rng.choice(n, n_train, replace=False))]
        index.train(train)
        index.add(Y)
        index.nprobe = self.nprobe
        self._quantizer = quantizer  # keep it alive alongside the index
        self.index = index
        self.progress = progress

    def search(self, Q: np.ndarray, k: int) -> np.ndarray:
        out = np.empty((len(Q), k), dtype=np.int64)
        step = 16384
        starts = range(0, len(Q), step)
        for start in tracked(
            self.progress,
            starts,
            total=len(starts),
            desc="approximate kNN search",
            enable=len(starts) > 2,
        ):
            _, idx = self.index.search(Q[start : start + step], k)
            out[start : start + step] = idx
        return out


def _drop_self(idx: np.ndarray, k: int) -> np.ndarray:
    """From k+1 candidates per row (row i searched for itself), drop i (or the last one)."""
    n = len(idx)
    is_self = idx == np.arange(n)[:, None]
    has = is_self.any(axis=1)
    drop = np.where(has, is_self.argmax(axis=1), k)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(n), drop] = False
    return idx[keep].reshape(n, k)


def _repair_missing(idx, Y, Q, k, metric, self_query):
    """Rows for which the index returned fewer than k neighbours (-1): search them exactly."""
    bad = np.flatnonzero((idx < 0).any(axis=1))
    if len(bad):
        fixed = _search_blocks(
            Q[bad], Y, idx.shape[1], metric=metric, exclude_offset=None, progress=None, desc=None
        )
        idx = idx.copy()
        idx[bad] = fixed
    return idx


# ------------------------------------------------------------------------------------------
# the graph
# ------------------------------------------------------------------------------------------
class KnnIndex:
    """Indexed rows that can be searched for new rows (``fit`` once, ``query`` many times).

    Parameters
    ----------
    features : ndarray (N, D)
        Not modified (a float32 copy is kept for the search, and the original for distances).
    metric : {"cosine", "euclidean"}, optional
        Default: cleanlab's choice from the number of columns.
    approximate : bool or "faiss", optional
        True: cleanframe's approximate index (k-means cluster join, numpy only, its probes
        calibrated on a sample for recall@k >= :data:`TARGET_RECALL`; exact search when that
        would compare each row with more than half of the rows); "faiss": faiss' IVF-Flat index
        (needs faiss); False: exact. Default: approximate when N > :data:`APPROXIMATE_ABOVE`,
        except for euclidean data with at most :data:`KDTREE_MAX_DIM` columns (exact KD-tree
        search).
    seed : int
        Seed of the index training and of the recall samples (approximate search only).
    progress : callable, optional
        ``progress(iterable, total=, desc=)`` wraps long loops (e.g. a tqdm bar); None: silent.

    :func:`build_knn_graph` warns (:class:`ApproximateNeighborsWarning`) when the graph it
    builds is approximate, with the graph's estimated recall.
    """

    def __init__(self, features, *, metric=None, approximate=None, seed=0, progress=None):
        X = np.asarray(features)
        if X.ndim != 2:
            raise ValueError(f"features must be a 2-D array, got shape {X.shape}")
        self.features = X
        self.metric = _check_metric(metric or default_metric(X.shape[1]))
        n = len(X)
        if approximate is None:  # low-dimensional euclidean data: an exact KD-tree is fast at any N
            kd_tree = self.metric == "euclidean" and X.shape[1] <= KDTREE_MAX_DIM
            approximate = n > APPROXIMATE_ABOVE and not kd_tree
        if approximate not in (True, False, "faiss"):
            raise ValueError(
                f"approximate must be None, True, False or 'faiss', not {approximate!r}"
            )
        if approximate == "faiss" and not faiss_available():
            raise ImportError(
                "approximate='faiss' needs the faiss package (pip install faiss-cpu); "
                "approximate=True uses cleanframe's own index"
            )
        self.backend = (
            "faiss" if approximate == "faiss" else ("cluster_join" if approximate else "exact")
        )
        self.approximate = self.backend != "exact"
        self.progress = progress
        self.seed = seed
        self._tree = None
        self._frame = euclidean_frame(X) if self.metric == "euclidean" else None
        self._Y = _prepared(X, self.metric, self._frame)
        self._ivf: _FaissIVF | _ClusterJoin | None = None
        if self.backend == "faiss":
            self._ivf = _FaissIVF(self._Y, self.metric, seed=seed, progress=progress)
        elif self.backend == "cluster_join":
            self._ivf = _ClusterJoin(self._Y, self.metric, seed=seed, progress=progress)

    def __len__(self) -> int:
        return len(self.features)

    # -- approximate search: probes, exactness, recall -------------------------------------
    def _samples(self) -> tuple[np.ndarray, np.ndarray]:
        """Two disjoint seeded random samples of rows (sorted): calibration, recall check."""
        n = len(self.features)
        perm = np.random.default_rng([self.seed, 0x7EC411]).permutation(n)
        m = min(RECALL_SAMPLE, max(1, n // 2))
        return np.sort(perm[m : 2 * m]), np.sort(perm[:m])

    def _plan(
        self, k: int, *, queries: bool = False
    ) -> tuple[int, float | None, float, float, bool]:
        """The cluster join's calibrated probes for k neighbours (of the self-graph's symmetric
        search, or of new ``queries``): ``(nprobe, delta, sample recall, scanned fraction,
        boundary)`` of whichever calibration compares each row with fewer rows — the same
        ``nprobe`` nearest cells for every row (:meth:`_ClusterJoin.calibrate`; ``delta``
        None), or the cells within a radius of each row's nearest, by centroid key gap or by
        the row's distance to the boundary between the cells (``boundary``;
        :meth:`_ClusterJoin.calibrate_radius`; at most ``nprobe``), each calibrated for at
        least the sample recall the first reaches (so the radius costs no recall on the
        sample). When the fixed probes would compare more than ``EXHAUSTIVE_ABOVE`` of the rows,
        their plan (searched exactly): a radius that compares a little less does not make data
        that is searched exactly approximate."""
        assert isinstance(self._ivf, _ClusterJoin)
        sample = self._samples()[0]
        nprobe, recall, scanned = self._ivf.calibrate(k, sample, symmetric=not queries)
        best = (nprobe, None, recall, scanned, False)
        if nprobe >= self._ivf.nlist or scanned > EXHAUSTIVE_ABOVE:
            return best
        for boundary in (False, True):
            delta, cap, r_recall, r_scanned = self._ivf.calibrate_radius(
                k,
                sample,
                symmetric=not queries,
                target=max(TARGET_RECALL, recall),
                boundary=boundary,
            )
            if r_scanned < best[3]:
                best = (cap, delta, r_recall, r_scanned, boundary)
        return best

    def _probes(self, k: int, *, queries: bool = False) -> tuple[int, float | None, bool] | None:
        """``(nprobe, delta, boundary)`` of :meth:`_plan`; None: search exactly."""
        assert isinstance(self._ivf, _ClusterJoin)
        nprobe, delta, _, scanned, boundary = self._plan(k, queries=queries)
        exhaustive = delta is None and nprobe >= self._ivf.nlist
        return None if scanned > EXHAUSTIVE_ABOVE or exhaustive else (nprobe, delta, boundary)

    def exact_for(self, k: int, *, queries: bool = False) -> bool:
        """Whether a search for k neighbours (the self-graph, or new ``queries``) is exact (an
        exact index, or a cluster join whose calibrated probes would cover most rows, so that
        it searches exactly instead)."""
        if self.backend == "cluster_join":
            return self._probes(k, queries=queries) is None
        return not self.approximate

    def describe(self, k: int) -> str:
        """What the search for k neighbours does, in words (for the approximation warning)."""
        if self.backend == "faiss":
            assert isinstance(self._ivf, _FaissIVF)
            return f"faiss IVF-Flat, nlist={self._ivf.nlist}, nprobe={self._ivf.nprobe}"
        if self.backend == "cluster_join" and not self.exact_for(k):
            assert isinstance(self._ivf, _ClusterJoin)
            nprobe, delta, recall, scanned, boundary = self._plan(k)
            cells = (
                f"its {nprobe} nearest cells"
                if delta is None
                else f"the cells whose boundary with its nearest one is within {delta:.3g} of "
                f"it (at most {nprobe})"
                if boundary
                else f"the cells within {delta:.3g} of its nearest one's centroid key (at most "
                f"{nprobe})"
            )
            return (
                f"k-means cluster join: {self._ivf.nlist} cells, each row compared with the rows "
                f"of {cells} ({scanned:.1%} of the rows on average) and with the rows "
                f"that probe its cell, probes calibrated for recall@{k} >= {TARGET_RECALL} on "
                f"{len(self._samples()[0])} sampled rows; rows far from their neighbours "
                "searched exactly"
            )
        return "exact search"

    def _exact_rows(self, rows: np.ndarray, k: int, *, blocks: bool = False) -> np.ndarray:
        """Exact k nearest other indexed rows of the indexed ``rows`` (float32 candidates).

        A cluster join probes every cell (exact, and it reads the rows once, cell by cell);
        ``blocks=True`` or another index: the exact search's own kernel (blocks of rows by all
        rows), whose float32 keys — and so its choice among near copies that float32 cannot
        tell apart — are those of ``approximate=False``."""
        if isinstance(self._ivf, _ClusterJoin) and not blocks:
            return self._ivf.search(None, k, self._ivf.nlist, rows=rows)
        sq = self._ivf.sq if isinstance(self._ivf, _ClusterJoin) else None
        return _search_blocks(self._Y[rows], self._Y, k, metric=self.metric, exclude=rows, sq=sq)

    def _exact_tail(self, idx: np.ndarray, dist: np.ndarray, k: int, Q=None, Q_raw=None):
        """The graph with its far rows searched exactly: rows whose mean distance to their k
        approximate neighbours exceeds Q3 + 1·IQR of all rows' — the farthest first, at most as
        many as cost what the approximate search with the same ``nprobe`` for every row would
        cost (:meth:`_ClusterJoin.calibrate`'s share of rows each row is compared with, times
        the rows searched; twice the probed share for the self-graph's symmetric search, whose
        every key serves both rows; a search with probes per row by radius compares fewer, but
        its far rows need the same budget) and at most :data:`EXACT_TAIL_MAX` of them. An
        inverted file misses most where a row's neighbours are far and spread over many cells,
        and those rows are the ones the outlier check (Q3 + 1.7·IQR by default) flags: searched
        exactly, its flags do not depend on the approximation. ``Q`` / ``Q_raw``: query rows
        (prepared / as given); None: the self-graph."""
        n = len(idx)
        if isinstance(self._ivf, _ClusterJoin):
            scanned = self._ivf.calibrate(k, self._samples()[0], symmetric=Q is None)[2]
            scanned *= 2 if Q is None else 1
        else:
            assert isinstance(self._ivf, _FaissIVF)
            scanned = self._ivf.nprobe / self._ivf.nlist
        limit = int(min(EXACT_TAIL_MAX * n, max(1000, scanned * n)))
        avg = dist[:, :k].mean(axis=1)
        q1, q3 = np.percentile(avg, [25, 75])
        tail = np.flatnonzero(avg > q3 + (q3 - q1))
        if len(tail) > limit:
            tail = np.sort(np.argsort(-avg, kind="stable")[:limit])
        if len(tail):
            idx, dist = idx.copy(), dist.copy()
            if Q is None:
                found = self._exact_rows(tail, idx.shape[1], blocks=True)
                rows = self.features[tail]
            else:
                found = (
                    self._ivf.search(Q[tail], idx.shape[1], self._ivf.nlist)
                    if isinstance(self._ivf, _ClusterJoin)
                    else _search_blocks(
                        Q[tail],
                        self._Y,
                        idx.shape[1],
                        metric=self.metric,
                        exclude_offset=None,
                        progress=None,
                        desc=None,
                    )
                )
                rows = np.asarray(Q_raw)[tail]
            idx[tail], dist[tail] = _refine(rows, self.features, found, self.metric)
        return idx, dist

    @_one_blas_thread
    def recall_check(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, exact distances)``: a seeded random sample of rows (disjoint from the
        calibration sample) and the distances of each one's k nearest other rows by the exact
        search (``approximate=False``: the same float32 candidates, re-ranked in float64)."""
        rows = self._samples()[1]
        wide = min(len(self._Y) - 1, k + _TIE_MARGIN)
        idx = self._exact_rows(rows, wide, blocks=True)
        _, dist = _refine(self.features[rows], self.features, idx, self.metric)
        return rows, dist[:, :k]

    def _search(self, Q_raw, k, self_query):
        if not self_query and self._frame is not None:
            far = max_abs(Q_raw, axis=1) > self._frame.scale * _FAR_QUERIES
            if far.any():
                return self._far_search(np.asarray(Q_raw), k, far)
        if (
            not self.approximate
            and self.metric == "euclidean"
            and self.features.shape[1] <= KDTREE_MAX_DIM
        ):
            return self._kdtree_search(Q_raw, k, self_query)
        Q = self._Y if self_query else _prepared(Q_raw, self.metric, self._frame)
        if self.approximate and not self.exact_for(k, queries=not self_query):
            wide = min(len(self._Y) - (1 if self_query else 0), k + _TIE_MARGIN)
            kk = wide + 1 if self_query else wide
            if isinstance(self._ivf, _ClusterJoin):  # searches its own rows without copies
                probes = self._probes(k, queries=not self_query)
                assert probes is not None  # not exact_for(k)
                idx = self._ivf.search(
                    None if self_query else Q,
                    wide,
                    probes[0],
                    symmetric=self_query,
                    delta=probes[1],
                    boundary=probes[2],
                )
                bad = np.flatnonzero((idx < 0).any(axis=1))  # fewer than `wide` rows compared
                if len(bad):
                    idx[bad] = (
                        self._exact_rows(bad, wide)
                        if self_query
                        else _search_blocks(
                            Q[bad],
                            self._Y,
                            wide,
                            metric=self.metric,
                            exclude_offset=None,
                            progress=None,
                            desc=None,
                        )
                    )
            else:
                assert self._ivf is not None  # built whenever the search is approximate
                idx = self._ivf.search(Q, kk)
                idx = _repair_missing(idx, self._Y, Q, kk, self.metric, self_query)
                if self_query:
                    idx = _drop_self(idx, wide)
            idx, dist = _refine(
                self.features if self_query else Q_raw, self.features, idx, self.metric
            )
            idx, dist = (
                self._exact_tail(idx, dist, k)
                if self_query
                else self._exact_tail(idx, dist, k, Q, Q_raw)
            )
            return idx[:, :k], dist[:, :k]
        else:
            # a few extra float32 candidates, re-ranked in float64: neighbours closer than the
            # float32 keys resolve are ordered exactly (and the same at any scale)
            wide = min(len(self._Y) - (1 if self_query else 0), k + _TIE_MARGIN)
            big = len(Q) * len(self._Y) > 64 * _BLOCK_CELLS
            idx = _search_blocks(
                Q,
                self._Y,
                wide,
                metric=self.metric,
                exclude_offset=0 if self_query else None,
                progress=self.progress if big else None,
                desc="exact kNN search",
            )
        idx, dist = _refine(self.features if self_query else Q_raw, self.features, idx, self.metric)
        return idx[:, :k], dist[:, :k]

    def _far_search(self, Q_raw, k, far):
        """Euclidean queries ``far`` beyond the indexed rows' range are searched exactly, with
        the indexed rows, in a frame on those queries' scale; the other queries as usual."""
        idx = np.empty((len(Q_raw), k), dtype=np.int64)
        dist = np.empty((len(Q_raw), k), dtype=np.float64)
        if not far.all():
            idx[~far], dist[~far] = self._search(Q_raw[~far], k, False)
        frame = euclidean_frame(self.features, scale=float(pow2_scale(max_abs(Q_raw[far]))))
        found = _search_blocks(
            _prepared(Q_raw[far], self.metric, frame),
            _prepared(self.features, self.metric, frame),
            k,
            metric=self.metric,
            exclude_offset=None,
            progress=None,
            desc=None,
        )
        idx[far], dist[far] = _refine(Q_raw[far], self.features, found, self.metric)
        return idx, dist

    def _kdtree_search(self, Q_raw, k, self_query):
        from scipy.spatial import cKDTree

        assert self._frame is not None  # euclidean
        scale = self._frame.scale  # a power of two: exact, and no overflow in the tree
        if self._tree is None:
            self._tree = cKDTree(np.asarray(self.features, dtype=np.float64) / scale)
        Q = self.features if self_query else Q_raw
        n = len(self.features)
        # a few extra candidates so that ties at the k-th distance go to the lower row index
        wide = min(n - (1 if self_query else 0), k + _TIE_MARGIN)
        kk = wide + 1 if self_query else wide
        _, idx = self._tree.query(np.asarray(Q, dtype=np.float64) / scale, k=kk, workers=-1)
        idx = np.asarray(idx, dtype=np.int64).reshape(len(Q), kk)
        if self_query:
            idx = _drop_self(idx, wide)
        idx, dist = _refine(Q, self.features, idx, self.metric)
        return idx[:, :k], dist[:, :k]

    def self_graph(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each indexed row's k nearest other rows: (indices, distances)."""
        return self._search(None, k, True)

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest indexed rows of each query row (a query equal to an indexed row finds it
        at distance 0): (indices, distances)."""
        Q = np.asarray(queries)
        if Q.ndim != 2 or Q.shape[1] != self.features.shape[1]:
            raise ValueError(
                f"queries must have {self.features.shape[1]} columns, got shape {Q.shape}"
            )
        if k > len(self):
            raise ValueError(f"k={k} is larger than the number of indexed rows {len(self)}")
        return self._search(Q, k, False)


def build_knn_graph(
    features: np.ndarray,
    *,
    k: int | None = None,
    metric: str | None = None,
    approximate: bool | str | None = None,
    correct_exact_duplicates: bool = True,
    seed: int = 0,
    progress=None,
    index: KnnIndex | None = None,
) -> KnnGraph:
    """The k-nearest-neighbour graph of the rows of ``features`` (self excluded).

    Parameters
    ----------
    features : ndarray (N, D)
        Finite numbers. Not modified.
    k : int, optional
        Neighbours per row; default ``min(10, N - 1)``.
    metric : {"cosine", "euclidean"}, optional
        Default: cosine when D > 3, else euclidean (as cleanlab).
    approximate : bool or "faiss", optional
        Default: approximate above :data:`APPROXIMATE_ABOVE` rows (see :class:`KnnIndex`).
    correct_exact_duplicates : bool
        Apply cleanlab's exact-duplicate correction (identical rows become each other's nearest
        neighbours at distance 0).
    seed : int
        Seed of the approximate index.
    progress : callable, optional
        ``progress(iterable, total=, desc=)`` wraps long loops (e.g. a tqdm bar); None: silent.
    index : KnnIndex, optional
        A prebuilt index over the same rows (used instead of building one).

    Returns
    -------
    KnnGraph

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [5.0, 0.0]])
    >>> g = build_knn_graph(X, k=1)
    >>> g.indices.ravel().tolist(), g.distances.ravel().tolist()
    ([1, 0, 0, 2], [0.0, 0.0, 1.0, 4.0])
    """
    X = np.asarray(features)
    k = resolve_k(len(X), k)
    if index is None:
        index = KnnIndex(X, metric=metric, approximate=approximate, seed=seed, progress=progress)
    idx, dist = index.self_graph(k)
    approximate_graph = not index.exact_for(k)
    if correct_exact_duplicates:
        sets = exact_duplicate_sets(X)
        if sets:
            dist, idx = correct_exact_duplicates_(dist, idx, sets)
    graph = KnnGraph(
        idx,
        dist,
        index.metric,
        approximate_graph,
        correct_exact_duplicates,
        index.recall_check(k) if approximate_graph else None,
    )
    if approximate_graph:
        recall = graph.estimated_recall
        assert recall is not None  # the graph carries its recall check
        low = recall < RECALL_WARNING
        warnings.warn(
            f"kNN graph: {len(X):,} rows, so the neighbour search is approximate "
            f"({index.describe(k)}); estimated recall@{k} = {recall:.3f} (an exact search of "
            f"{len(graph.recall_check[0]) if graph.recall_check else 0} other sampled rows)"
            + (
                f", below {RECALL_WARNING}: neighbours, and the scores built on them, may "
                "differ noticeably from an exact search"
                if low
                else ""
            )
            + ". Pass approximate=False for exact search.",
            ApproximateNeighborsWarning,
            stacklevel=2,
        )
    return graph


# ------------------------------------------------------------------------------------------
# exact duplicates
# ------------------------------------------------------------------------------------------
def exact_duplicate_sets(features: np.ndarray) -> list[np.ndarray]:
    """Groups (of two or more) of identical rows, each sorted, ordered by first member.

    Rows are compared by value (``-0.0`` equals ``0.0``). Runs in O(N·D + N log N): an integer
    hash of each row's bytes, a sort, and a byte-exact check within equal hashes.

    Examples
    --------
    >>> X = np.array([[1, 2], [3, 4], [1, 2], [5, 6], [3, 4]])
    >>> [s.tolist() for s in exact_duplicate_sets(X)]
    [[0, 2], [1, 4]]
    """
    X = np.asarray(features)
    n = len(X)
    if n < 2:
        return []
    X = X.reshape(n, -1)
    if X.dtype.kind == "f":
        negzero = (X == 0) & np.signbit(X)
        if negzero.any():
            X = np.where(negzero, 0.0, X).astype(X.dtype)
    X = np.ascontiguousarray(X)
    row_bytes = X.dtype.itemsize * X.shape[1]
    raw = X.view(np.uint8).reshape(n, row_bytes)
    pad = (-row_bytes) % 8
    if pad:
        raw = np.concatenate([raw, np.zeros((n, pad), dtype=np.uint8)], axis=1)
    words = raw.view(np.uint64)  # (n, w)
    h = _row_hashes(words, compiled=_compiled(words.size * _HASH_PAIRS_PER_WORD))
    order = np.argsort(h, kind="stable")
    hs = h[order]
    same_next = hs[1:] == hs[:-1]
    if not same_next.any():
        return []
    # runs of equal hashes; inside a run, split by exact byte equality
    groups: list[np.ndarray] = []
    starts = np.flatnonzero(np.r_[True, ~same_next])
    ends = np.r_[starts[1:], n]
    multi = (ends - starts) > 1
    for s, e in zip(starts[multi], ends[multi]):
        members = np.sort(order[s:e])
        rows = X[members]
        _, inverse = np.unique(
            rows.view(np.dtype((np.void, row_bytes))).ravel(), return_inverse=True
        )
        for u in np.unique(inverse):
            group = members[inverse == u]
            if len(group) > 1:
                groups.append(group)
    groups.sort(key=lambda g: g[0])
    return groups


#: A row hash of ``w`` words costs about as much as this many (query, row) pairs of the search
#: per word, for the choice of the compiled pass (:func:`_compiled`).
_HASH_PAIRS_PER_WORD = 4


def _row_hashes(words: np.ndarray, *, compiled: bool = False) -> np.ndarray:
    """A seeded integer hash of each row of 64-bit ``words`` (uint64, wrapping): the sum of
    ``(w ^ (w >> 29)) * m`` over the row's words, with one odd multiplier ``m`` per column;
    ``compiled``: by one compiled pass over the rows (the same hashes, as integer sums do not
    depend on their order; :func:`._knn_kernels.row_hashes`)."""
    n = len(words)
    rng = np.random.default_rng(0x5EED)
    mult = rng.integers(1, 2**63, size=words.shape[1], dtype=np.uint64) | np.uint64(1)
    h = np.zeros(n, dtype=np.uint64)
    if compiled:
        from ._knn_kernels import row_hashes

        row_hashes(words, mult, h)
        return h
    step = max(1, (1 << 22) // max(1, words.shape[1]))
    with np.errstate(over="ignore"):
        for start in range(0, n, step):
            w = words[start : start + step]
            mixed = (w ^ (w >> np.uint64(29))) * mult
            h[start : start + step] = mixed.sum(axis=1, dtype=np.uint64)
    return h


def correct_exact_duplicates_(
    distances: np.ndarray, indices: np.ndarray, duplicate_sets: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's exact-duplicate correction of a kNN graph (new arrays; inputs untouched).

    For a group of ``s`` identical rows and ``k`` neighbours per row, with ``q = min(s - 1, k)``:

    - each of the group's first ``q + 1`` rows gets the other ones among those ``q + 1`` rows
      (sorted by index) as its first ``q`` neighbours, at distance 0;
    - when ``s > k`` every row of the group has only duplicates as neighbours (distance 0), and the
      rows after the first ``k + 1`` get the group's first ``k`` rows;
    - otherwise each row keeps ``k - q`` of its other neighbours, those outside the group first, in
      their original order, after the duplicates.
    """
    dist = np.array(distances, dtype=np.float64, copy=True)
    idx = np.array(indices, dtype=np.int64, copy=True)
    k = idx.shape[1]
    for members in duplicate_sets:
        members = np.asarray(members, dtype=np.int64)
        s = len(members)
        q = min(s - 1, k)
        head = members[: q + 1]
        # row i of `others` = head without head[i] (already sorted)
        others = np.broadcast_to(head, (q + 1, q + 1))[~np.eye(q + 1, dtype=bool)].reshape(q + 1, q)
        if s >= k + 1:
            idx[head] = others
            idx[members[k + 1 :]] = members[:k]
            dist[members] = 0.0
        else:
            rows_idx = idx[members]
            rows_dist = dist[members]
            in_group = np.isin(rows_idx, members)
            keep = np.argsort(in_group, axis=1, kind="stable")[:, : k - q]
            r = np.arange(s)[:, None]
            idx[members, q:] = rows_idx[r, keep]
            dist[members, q:] = rows_dist[r, keep]
            idx[members, :q] = others
            dist[members, :q] = 0.0
    return dist, idx


def correct_exact_duplicates(features: np.ndarray, graph: KnnGraph) -> KnnGraph:
    """``graph`` with cleanlab's exact-duplicate correction applied (a new graph)."""
    sets = exact_duplicate_sets(features)
    dist, idx = (
        correct_exact_duplicates_(graph.distances, graph.indices, sets)
        if sets
        else (graph.distances, graph.indices)
    )
    return KnnGraph(idx, dist, graph.metric, graph.approximate, True, graph.recall_check)
