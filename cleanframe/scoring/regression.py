"""Label quality for a numeric target: residual and OUTRE scores (numpy only).

``labels`` are the given targets and ``predictions`` out-of-sample model predictions, both 1-D float
arrays of length N. Kernels never modify their inputs.

OUTRE (the default of cleanlab 2.9's ``regression.rank.get_label_quality_scores``) treats every row
as a 2-D point ``(z_y, 5 * z_r)`` -- the standardised label and five times the standardised residual
-- and scores it by its mean Euclidean distance to its ``k = ceil(N / 2)`` nearest points (itself
included, at distance 0), ``score = exp(-avg / median(avg))``. The reference asks a nearest-neighbour
index for ``N / 2`` neighbours of every row, which materialises an ``N x N/2`` distance array (40 GB
at N = 100,000). :func:`outre_mean_knn_distance` computes the same means exactly -- every one of
the ``k`` smallest distances enters the sum, nothing is approximated -- in blocks of query rows, so
memory stays ``O(N * block)``. See ``docs`` in :func:`outre_mean_knn_distance` for the cost.
"""

from __future__ import annotations

import math

import numpy as np

from ._util import TINY_VALUE

__all__ = [
    "METHODS",
    "find_issues_from_scores",
    "get_label_quality_scores",
    "outre_features",
    "outre_mean_knn_distance",
    "uncertainty_scores",
]

METHODS = ("outre", "residual")

# Constants of the reference's outlier transform (cleanlab 2.9 ``outlier``): the distance scale is
# floored at 100 machine epsilons and at 1e-6, and rows closer than sqrt(100 eps) to their
# neighbours get a score of exactly 1 (its Euclidean "precision fix").
_EPS = np.finfo(np.float64).eps
_SCALE_FLOOR = 100 * _EPS
_SCALE_FLOOR_TRANSFORM = 1e-6
_EUCLIDEAN_TOLERANCE = math.sqrt(100 * _EPS)

# Distances held in memory at once by the OUTRE kernel (float64 elements, about 32 MB).
_BLOCK_ELEMENTS = 1 << 22


def _as_float_vector(values, name: str) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64)
    if out.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {out.shape}.")
    return out


def outre_features(
    labels: np.ndarray, predictions: np.ndarray, *, residual_scale: float = 5.0
) -> np.ndarray:
    """The (N, 2) points OUTRE scores: standardised label and scaled standardised residual.

    Parameters
    ----------
    labels, predictions : float ndarray (N,)
    residual_scale : float
        Weight of the residual axis relative to the label axis (5 in the reference).

    Returns
    -------
    float ndarray (N, 2), a new array.

    Examples
    --------
    >>> import numpy as np
    >>> outre_features(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])).round(3)
    array([[-1.225, -3.536],
           [ 0.   , -3.536],
           [ 1.225,  7.071]])
    """
    y = _as_float_vector(labels, "labels")
    residual = _as_float_vector(predictions, "predictions") - y
    z_y = (y - y.mean()) / (y.std() + TINY_VALUE)
    z_r = residual_scale * ((residual - residual.mean()) / (residual.std() + TINY_VALUE))
    return np.column_stack([z_y, z_r])


def outre_mean_knn_distance(
    points: np.ndarray, k: int, *, block_elements: int = _BLOCK_ELEMENTS
) -> np.ndarray:
    """Mean Euclidean distance from each point to its ``k`` nearest points (itself included).

    Exact: for each block of query rows the squared distances to all N points are formed once,
    ``ndarray.partition`` moves the ``k`` smallest to the front (no full sort), and their square
    roots are summed. Ties at the k-th distance do not matter (equal distances, equal sums).
    Time is ``O(N^2)`` arithmetic (every pair distance is evaluated once per query), memory is
    ``O(block_elements)`` -- there is no ``N x k`` neighbour array. A sub-quadratic *exact*
    method does not exist in general for sums of Euclidean distances (they have no decomposable
    aggregate a tree node could store), so the saving is memory and constant factors.

    Parameters
    ----------
    points : float ndarray (N, d)
    k : int, 1 <= k <= N
    block_elements : int
        Distances held in memory at once.

    Returns
    -------
    float ndarray (N,)

    Examples
    --------
    >>> import numpy as np
    >>> outre_mean_knn_distance(np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]]), 2)
    array([2.5, 2.5, 2.5])
    """
    pts = np.asarray(points, dtype=np.float64)
    n = pts.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}.")
    cols = np.ascontiguousarray(pts.T)  # (d, N): one contiguous row per coordinate
    out = np.empty(n, dtype=np.float64)
    step = max(1, int(block_elements // max(n, 1)))
    buf = np.empty((step, n), dtype=np.float64)
    tmp = np.empty((step, n), dtype=np.float64)
    for start in range(0, n, step):
        stop = min(n, start + step)
        b = stop - start
        d2, t = buf[:b], tmp[:b]
        for axis in range(cols.shape[0]):
            np.subtract(cols[axis][None, :], cols[axis][start:stop, None], out=t)
            np.square(t, out=t)
            if axis == 0:
                d2[...] = t
            else:
                d2 += t
        if k < n:
            d2.partition(k - 1, axis=1)
        near = d2[:, :k]
        np.sqrt(near, out=near)
        out[start:stop] = near.sum(axis=1)
    out /= k
    return out


def _distances_to_scores(avg: np.ndarray) -> np.ndarray:
    """exp(-avg / scale) with the reference's floors and its Euclidean precision fix."""
    scale = max(float(np.median(avg)), _SCALE_FLOOR)
    scores = np.exp(-avg / max(scale, _SCALE_FLOOR_TRANSFORM))
    scores[avg < _EUCLIDEAN_TOLERANCE] = 1.0
    return scores


def get_label_quality_scores(
    labels: np.ndarray,
    predictions: np.ndarray,
    *,
    method: str = "outre",
    residual_scale: float = 5.0,
    frac_neighbors: float = 0.5,
) -> np.ndarray:
    """Label quality score of each row of a regression dataset, in [0, 1], lower = worse.

    Parameters
    ----------
    labels : float ndarray (N,)
        Given targets (no NaN).
    predictions : float ndarray (N,)
        Out-of-sample predictions of the target (no NaN).
    method : {"outre", "residual"}
        ``outre`` (default): kNN outlier score of ``(z_y, residual_scale * z_residual)`` with
        ``ceil(frac_neighbors * N)`` neighbours; ``residual``: ``exp(-|prediction - label|)``.
    residual_scale, frac_neighbors : float
        OUTRE's knobs (reference defaults 5 and 0.5).

    Returns
    -------
    float ndarray (N,), a new array; the inputs are not modified.

    Examples
    --------
    >>> import numpy as np
    >>> get_label_quality_scores(np.array([1, 2, 3, 4]), np.array([2, 2, 5, 4.1])).round(5)
    array([0.21624, 0.62586, 0.20275, 0.62586])
    >>> get_label_quality_scores(np.array([1.0, 2.0]), np.array([1.0, 3.0]), method="residual")
    array([1.        , 0.36787944])
    """
    y = _as_float_vector(labels, "labels")
    pred = _as_float_vector(predictions, "predictions")
    if y.shape != pred.shape:
        raise ValueError(f"labels and predictions differ in length: {len(y)} vs {len(pred)}.")
    if method == "residual":
        return np.exp(-np.abs(pred - y))
    if method != "outre":
        raise ValueError(f"method must be one of {METHODS}, not {method!r}.")
    if len(y) == 0:
        return np.empty(0, dtype=np.float64)
    points = outre_features(y, pred, residual_scale=residual_scale)
    k = math.ceil(frac_neighbors * len(y))
    return _distances_to_scores(outre_mean_knn_distance(points, max(1, min(k, len(y)))))


def find_issues_from_scores(scores: np.ndarray, *, threshold: float = 0.05) -> np.ndarray:
    """Datalab's rule for the predictions path: ``score < threshold * median(score)``.

    Examples
    --------
    >>> import numpy as np
    >>> find_issues_from_scores(np.array([0.5, 0.6, 0.01, 0.7]))
    array([False, False,  True, False])
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0:
        return np.zeros(0, dtype=bool)
    return scores < threshold * np.median(scores)


def uncertainty_scores(
    labels: np.ndarray, predictions: np.ndarray, uncertainty: np.ndarray | float
) -> np.ndarray:
    """Regression CleanLearning's score: exp(-r / median(r)), r = |residual| / uncertainty.

    Examples
    --------
    >>> import numpy as np
    >>> uncertainty_scores(np.array([0.0, 0.0, 0.0]), np.array([1.0, 2.0, 4.0]), 1.0).round(4)
    array([0.6065, 0.3679, 0.1353])
    """
    y = _as_float_vector(labels, "labels")
    residual = _as_float_vector(predictions, "predictions") - y
    adjusted = np.abs(residual / (np.asarray(uncertainty, dtype=np.float64) + TINY_VALUE))
    return np.exp(-adjusted / max(float(np.median(adjusted)), TINY_VALUE))
