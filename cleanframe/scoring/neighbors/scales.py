"""Feature scales: exact power-of-two rescaling, column scales, standardisation.

The neighbour search multiplies float32 matrices, but feature values may be any finite float64
(``1e300``, ``1e-300``): cast as they are, they overflow to inf or underflow to 0 and the search
returns garbage. Multiplying by a power of two changes only a float's exponent, so it is exact
(short of the subnormal range) and keeps every comparison between distances. The search therefore
works on rescaled rows, and every distance it reports is computed from the original values in
float64, per pair, on a common power-of-two scale:

- cosine: each row divided by a power of two near its largest absolute value, then made unit
  length — cosine distances do not depend on a row's scale at all;
- euclidean: the rows shifted by the column means and divided by one power of two near the
  largest absolute value (one scale for all rows; euclidean distances do not depend on a shift,
  and the float32 products lose less precision on centred rows).

Column scales (:func:`column_scales`) say how much each column weighs in a distance: its
root-mean-square for cosine, its standard deviation for euclidean. :class:`Standardizer` gives
every column mean 0 and standard deviation 1, without overflow at any finite value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "SCALE_SPREAD_WARNING",
    "FeatureScaleWarning",
    "Standardizer",
    "column_scales",
    "euclidean_frame",
    "max_abs",
    "pow2_scale",
    "search_rows",
]

#: Column scales whose largest / smallest ratio reaches this are worth a warning (3 orders).
SCALE_SPREAD_WARNING = 1000.0
#: Rows per block when rows are prepared for the search (bounds the float64 temporaries).
_BLOCK_ROWS = 1 << 14
#: Rows reduced side by side by :func:`max_abs` per column.
_COLUMN_GROUP = 16


class FeatureScaleWarning(UserWarning):
    """The feature columns' scales differ by orders of magnitude: the largest columns decide the
    distances (pass ``standardize=True``, or rescale the columns)."""


def pow2_scale(m) -> np.ndarray:
    """The power of two ``s`` with ``m / s`` in ``[1, 2)`` for each finite ``m > 0`` (1 for 0).

    Examples
    --------
    >>> pow2_scale(np.array([0.0, 1.0, 3.0, 1e-300, 1.7e308])).tolist()[:3]
    [1.0, 1.0, 2.0]
    >>> bool(np.isfinite(pow2_scale(1.7e308)))
    True
    """
    m = np.asarray(m, dtype=np.float64)
    _, e = np.frexp(m)
    return np.where(m > 0, np.ldexp(1.0, e - 1), 1.0)


def max_abs(X: np.ndarray, axis=None):
    """Largest absolute value (of the whole array, or along ``axis``); 0 for an empty array.
    Without a temporary copy of ``X``."""
    X = np.asarray(X)
    if X.size == 0:
        return 0.0 if axis is None else np.zeros(np.delete(X.shape, axis))
    if axis == 0 and X.ndim == 2 and X.flags.c_contiguous and len(X) >= 2 * _COLUMN_GROUP:
        # per column of a C-ordered matrix: reduce groups of rows laid side by side (one
        # numpy step per group instead of per row, ~1.6x faster); max and min are exact, so
        # the same values
        n, d = X.shape
        m = n - n % _COLUMN_GROUP
        wide = X[:m].reshape(m // _COLUMN_GROUP, _COLUMN_GROUP * d)
        hi = wide.max(axis=0).reshape(_COLUMN_GROUP, d).max(axis=0)
        lo = wide.min(axis=0).reshape(_COLUMN_GROUP, d).min(axis=0)
        if m < n:
            hi, lo = np.maximum(hi, X[m:].max(axis=0)), np.minimum(lo, X[m:].min(axis=0))
        return np.maximum(np.abs(hi), np.abs(lo))
    return np.maximum(np.abs(X.max(axis=axis)), np.abs(X.min(axis=axis)))


@dataclass(frozen=True)
class EuclideanFrame:
    """A shift and a power-of-two scale common to every row: ``(x / scale - shift)``."""

    scale: float
    shift: np.ndarray

    def apply(self, X: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Rows mapped into the frame, as a new C-ordered array of ``dtype``."""
        X = np.asarray(X)
        out = np.empty(X.shape, dtype=dtype)
        for start in range(0, len(X), _BLOCK_ROWS):
            block = np.asarray(X[start : start + _BLOCK_ROWS], dtype=np.float64) / self.scale
            block -= self.shift
            out[start : start + _BLOCK_ROWS] = block
        return out


def euclidean_frame(X: np.ndarray, *, scale: float | None = None) -> EuclideanFrame:
    """The frame of ``X``'s rows: one power of two near the largest absolute value (or
    ``scale``) and the column means on that scale."""
    X = np.asarray(X)
    s = float(pow2_scale(max_abs(X))) if scale is None else float(scale)
    shift = np.zeros(X.shape[1], dtype=np.float64)
    for start in range(0, len(X), _BLOCK_ROWS):
        shift += (np.asarray(X[start : start + _BLOCK_ROWS], dtype=np.float64) / s).sum(axis=0)
    return EuclideanFrame(s, shift / max(len(X), 1))


def search_rows(
    X: np.ndarray, metric: str, frame: EuclideanFrame | None = None, dtype=np.float32
) -> np.ndarray:
    """Rows ready for the float32 search, a new C-ordered array (``X`` is not modified).

    cosine: each row divided by a power of two near its largest absolute value, then by its norm
    (zero rows stay zero); euclidean: mapped into ``frame`` (default: the frame of ``X``).
    Every value of the result is finite, whatever finite values ``X`` holds.
    """
    X = np.asarray(X)
    if metric != "cosine":
        return (frame or euclidean_frame(X)).apply(X, dtype)
    out = np.empty(X.shape, dtype=dtype)
    for start in range(0, len(X), _BLOCK_ROWS):
        block = np.asarray(X[start : start + _BLOCK_ROWS])
        if block.dtype.kind != "f":
            block = block.astype(np.float64)
        s = pow2_scale(max_abs(block, axis=1)) if block.shape[1] else np.ones(len(block))
        Y = (block / s[:, None].astype(block.dtype)).astype(dtype)
        norms = np.sqrt(np.einsum("ij,ij->i", Y, Y, dtype=np.float64))
        norms[norms == 0] = 1.0
        Y /= norms[:, None].astype(dtype)
        out[start : start + _BLOCK_ROWS] = Y
    return out


def column_scales(X: np.ndarray, metric: str) -> np.ndarray:
    """How much each column of the finite matrix ``X`` weighs in a distance: its root-mean-square
    (cosine) or its standard deviation (euclidean), computed on a power-of-two scale per column
    (no overflow) and by blocks of rows (no copy of ``X``).

    Examples
    --------
    >>> X = np.array([[1.0, 1e300], [3.0, 3e300]])
    >>> column_scales(X, "euclidean").tolist()
    [1.0, 1e+300]
    """
    X = np.asarray(X)
    n, d = X.shape
    if not n:
        return np.zeros(d)
    p = pow2_scale(max_abs(X, axis=0))
    center = np.zeros(d)
    if metric != "cosine":  # two passes: the mean, then the spread around it
        for Z in _scaled_blocks(X, p):
            center += Z.sum(0)
        center /= n
    squares = np.zeros(d)
    for Z in _scaled_blocks(X, p):
        if metric != "cosine":
            Z -= center
        squares += np.einsum("ij,ij->j", Z, Z)
    return np.sqrt(squares / n) * p


def _scaled_blocks(X: np.ndarray, p: np.ndarray):
    """``X / p`` as float64 by blocks of :data:`_BLOCK_ROWS` rows. A C-ordered ``X`` (the
    stacked feature columns) is divided into one buffer reused for every block: a fresh
    temporary per block is a fresh mapping of memory, whose page faults cost more than the
    arithmetic. A block is valid until the next one is drawn."""
    buffer = None  # another layout: a block in the layout numpy gives it (the sums' order)
    if X.flags.c_contiguous:
        buffer = np.empty((min(len(X), _BLOCK_ROWS), X.shape[1]), dtype=np.float64)
    for start in range(0, len(X), _BLOCK_ROWS):
        block = X[start : start + _BLOCK_ROWS]
        if buffer is None:
            yield np.asarray(block, dtype=np.float64) / p
        else:
            yield np.divide(block, p, out=buffer[: len(block)])


@dataclass(frozen=True)
class Standardizer:
    """Per-column mean 0 and standard deviation 1, fitted on reference rows.

    ``transform(x) = (x / scale - mean) / std`` with ``scale`` a power of two per column (so no
    intermediate overflows at any finite value); a constant column becomes 0 (a
    new row's difference from that constant is kept, on the column's own scale).

    Examples
    --------
    >>> X = np.array([[1.0, 1e300], [3.0, 3e300], [5.0, 5e300]])
    >>> Standardizer.fit(X).transform(X).round(6).tolist()
    [[-1.224745, -1.224745], [0.0, 0.0], [1.224745, 1.224745]]
    """

    scale: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """Column scales, means and standard deviations of the (finite) rows of ``X``."""
        X = np.asarray(X, dtype=np.float64)
        if not len(X):
            return cls(np.ones(X.shape[1]), np.zeros(X.shape[1]), np.ones(X.shape[1]))
        scale = pow2_scale(max_abs(X, axis=0))
        Z = X / scale
        # a constant column: its value exactly (so it maps to exactly 0) and unit spread
        constant = Z.max(axis=0) == Z.min(axis=0)
        mean = np.where(constant, Z[0], Z.mean(axis=0))
        std = Z.std(axis=0)
        return cls(scale, mean, np.where(constant | (std == 0), 1.0, std))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardised rows (a new float64 array; ``X`` is not modified). Values far outside
        the fitted rows' range may overflow to inf (the input layer checks)."""
        with np.errstate(over="ignore"):
            Z = np.asarray(X, dtype=np.float64) / self.scale
            Z -= self.mean
            Z /= self.std
        return Z
