"""Confident learning counts: per-class thresholds, the confident joint and noise estimates.

Orientation: ``confident_joint[i, j]`` counts rows with *given* label ``i`` whose estimated *true*
label is ``j`` (Northcutt, Jiang & Chuang, "Confident Learning", JAIR 2021).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._common import (
    CLIPPING_LOWER_BOUND,
    CONFIDENT_THRESHOLDS_LOWER_BOUND,
    FLOATING_POINT_COMPARISON,
    TINY_VALUE,
    class_rows,
    round_preserving_row_totals,
    self_confidence,
    value_counts,
)
from ..parallel import for_each_block

#: Lower bound of the prior after the fixed-point iterations (the reference's; 1e-6 before them).
CONVERGED_PY_LOWER_BOUND = 1e-5
#: The ways :func:`num_label_issues` counts.
ESTIMATION_METHODS = ("off_diagonal", "off_diagonal_calibrated", "off_diagonal_custom")

__all__ = [
    "ESTIMATION_METHODS",
    "get_confident_thresholds",
    "confident_guesses",
    "compute_confident_joint",
    "calibrate_confident_joint",
    "estimate_joint",
    "num_label_issues",
    "off_diagonal_estimate",
    "prediction_agrees_with_label",
    "estimate_latent",
    "estimate_py_and_noise_matrices_from_probabilities",
]


def get_confident_thresholds(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Per-class threshold: the mean predicted probability of class k over rows labelled k.

    A class with no rows gets 2.0, a threshold no probability reaches. Thresholds are clipped
    below at 2e-6.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8]])
    >>> get_confident_thresholds(np.array([0, 0, 1]), p)
    array([0.8, 0.8])
    """
    num_classes = pred_probs.shape[1]
    own = self_confidence(labels, pred_probs)
    # np.mean over each class's rows in row order: the same pairwise summation and dtype as the
    # reference's per-class mean, so thresholds are bit-identical. Like the reference, they keep
    # pred_probs' float dtype (e.g. float32) when every class has rows, float64 otherwise.
    means = [np.mean(own[rows]) if len(rows) else 2.0 for rows in class_rows(labels, num_classes)]
    thresholds = np.array(means)
    return np.maximum(thresholds, thresholds.dtype.type(CONFIDENT_THRESHOLDS_LOWER_BOUND))


def confident_cut(thresholds: np.ndarray, dtype) -> np.ndarray:
    """The values ``p >= cut`` tests for "class k is confident" (threshold less 1e-6).

    For float32 probabilities and float64 thresholds the cut is the smallest float32 at or above
    it, so that the test can run in float32 with the same outcome.
    """
    thresholds = np.asarray(thresholds)
    if thresholds.dtype.kind != "f":
        thresholds = thresholds.astype(np.float64)
    cut = thresholds - thresholds.dtype.type(FLOATING_POINT_COMPARISON)
    if np.dtype(dtype) == np.float32 and cut.dtype == np.float64:
        # the same test in float32 arithmetic: p >= cut  <=>  p >= (smallest float32 >= cut)
        cut32 = cut.astype(np.float32)
        cut = np.where(cut32 < cut, np.nextafter(cut32, np.float32(np.inf)), cut32).astype(
            np.float32
        )
    return cut


def confident_guesses(pred_probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The estimated true label of each row, or -1 when no class is confident.

    A class is confident for a row when its probability reaches the class threshold (less 1e-6).
    One confident class is the guess; with several, the row's overall argmax is (first maximum).
    """
    n, k = pred_probs.shape
    cut = confident_cut(thresholds, pred_probs.dtype)
    out = np.empty(n, dtype=np.int64)
    count_dtype = np.uint16 if k < 2**16 else np.int64

    def guess_block(block):
        p = pred_probs[block]
        confident = p >= cut
        n_conf = confident.view(np.uint8).sum(axis=1, dtype=count_dtype)
        guess = confident.argmax(axis=1)
        several = np.flatnonzero(n_conf > 1)
        if len(several):
            guess[several] = p[several].argmax(axis=1)
        guess[n_conf == 0] = -1
        out[block] = guess

    for_each_block(guess_block, n, k)
    return out


def compute_confident_joint(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    thresholds: np.ndarray | None = None,
    calibrate: bool = True,
    return_indices_of_off_diagonals: bool = False,
):
    """K×K counts of (given label, confidently estimated true label).

    Every diagonal entry is raised to at least 1; with ``calibrate`` the rows are rescaled to the
    class counts and the total to N (see :func:`calibrate_confident_joint`).

    Returns
    -------
    confident_joint : int ndarray (K, K)
    indices : int ndarray, only with ``return_indices_of_off_diagonals``
        Ascending positions of the confident rows whose guess differs from the given label.
    """
    num_classes = pred_probs.shape[1]
    if thresholds is None:
        thresholds = get_confident_thresholds(labels, pred_probs)
    guesses = confident_guesses(pred_probs, thresholds)
    valid = guesses >= 0
    cells = labels[valid].astype(np.int64) * num_classes + guesses[valid]
    joint = np.bincount(cells, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )
    np.fill_diagonal(joint, np.maximum(np.diagonal(joint), 1))
    if calibrate:
        joint = calibrate_confident_joint(joint, labels)
    if return_indices_of_off_diagonals:
        return joint, np.flatnonzero(valid & (guesses != labels))
    return joint


def calibrate_confident_joint(
    confident_joint: np.ndarray,
    labels: np.ndarray | None,
    *,
    class_counts: np.ndarray | None = None,
) -> np.ndarray:
    """Rescale each row to its class count and the whole to N, rounding with row totals kept.

    ``class_counts`` (rows per class) replaces ``labels`` when given.
    """
    joint = np.asarray(confident_joint, dtype=np.float64)
    if class_counts is None:
        counts = value_counts(np.asarray(labels), joint.shape[0])
    else:
        counts = np.asarray(class_counts)
    row_sums = np.clip(joint.sum(axis=1), TINY_VALUE, None)
    calibrated = joint / row_sums[:, None] * counts[:, None]
    calibrated = calibrated / np.sum(calibrated) * counts.sum()
    return round_preserving_row_totals(calibrated)


def estimate_joint(
    labels: np.ndarray | None,
    pred_probs: np.ndarray | None,
    *,
    confident_joint: np.ndarray | None = None,
) -> np.ndarray:
    """Joint distribution P(given label, true label) as a K×K float matrix summing to 1."""
    if confident_joint is None:
        if labels is None or pred_probs is None:
            raise ValueError("Pass labels and pred_probs, or a confident_joint.")
        cj = compute_confident_joint(labels, pred_probs, calibrate=True)
    elif labels is not None:
        cj = calibrate_confident_joint(confident_joint, labels)
    else:
        cj = np.asarray(confident_joint)
    return cj / np.clip(cj.sum(), TINY_VALUE, None)


def prediction_agrees_with_label(
    labels: np.ndarray, pred_probs: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """For the given row positions: is the argmax the given label once it gets +1e-6?

    Equivalent to adding 1e-6 (in ``pred_probs``' dtype) to the given label's probability and
    taking the first maximum, without copying ``pred_probs``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return np.zeros(0, dtype=bool)
    p = pred_probs[rows]
    y = labels[rows]
    boosted = (p[np.arange(len(rows)), y] + p.dtype.type(FLOATING_POINT_COMPARISON)).astype(p.dtype)
    p = p.copy()
    p[np.arange(len(rows)), y] = boosted
    return p.argmax(axis=1) == y


def off_diagonal_estimate(labels: np.ndarray, pred_probs: np.ndarray, indices: np.ndarray) -> int:
    """:func:`num_label_issues`' ``off_diagonal`` estimate from the uncalibrated confident
    joint's off-diagonal rows ``indices``: those rows less the ones whose prediction agrees
    with the label (:func:`prediction_agrees_with_label`)."""
    return int(len(indices) - prediction_agrees_with_label(labels, pred_probs, indices).sum())


def num_label_issues(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    confident_joint: np.ndarray | None = None,
    estimation_method: str = "off_diagonal",
) -> int:
    """Estimated number of label issues.

    ``off_diagonal`` (default): off-diagonal rows of the uncalibrated confident joint, less those
    whose prediction (with +1e-6 on the given label) agrees with the label. A supplied
    ``confident_joint`` is ignored with a warning. ``off_diagonal_calibrated``: rint((1 - trace of
    the calibrated joint) * N). ``off_diagonal_custom``: the same from the supplied joint.
    """
    n = len(labels)
    if estimation_method == "off_diagonal":
        if confident_joint is not None:
            warnings.warn(
                "confident_joint is ignored by estimation_method='off_diagonal'; "
                "use 'off_diagonal_custom' to count from it.",
                UserWarning,
                stacklevel=2,
            )
        _, indices = compute_confident_joint(
            labels, pred_probs, calibrate=False, return_indices_of_off_diagonals=True
        )
        return off_diagonal_estimate(labels, pred_probs, indices)
    if estimation_method == "off_diagonal_calibrated":
        joint = estimate_joint(labels, pred_probs)
    elif estimation_method == "off_diagonal_custom":
        if confident_joint is None:
            raise ValueError("estimation_method='off_diagonal_custom' needs a confident_joint.")
        joint = estimate_joint(labels, pred_probs, confident_joint=confident_joint)
    else:
        raise ValueError(
            f"estimation_method must be 'off_diagonal', 'off_diagonal_calibrated' or "
            f"'off_diagonal_custom', not {estimation_method!r}."
        )
    return int(np.rint((1.0 - np.trace(joint)) * n))


def _clip_noise_rates(matrix: np.ndarray) -> np.ndarray:
    """Off-diagonals clipped to [0, 0.9999], diagonal kept, columns renormalised to sum 1."""
    diag = np.diagonal(matrix).copy()
    out = np.clip(matrix, 0.0, 0.9999)
    np.fill_diagonal(out, diag)
    return out / np.clip(out.sum(axis=0), TINY_VALUE, None)


def _py_from(py_method, ps, noise_matrix, inverse_noise_matrix, confident_joint):
    if py_method == "cnt":
        # a class no row is confidently counted into has an empty noise-matrix diagonal: floor
        # the denominator (as the reference does), so its prior becomes the clip floor, not NaN
        diag = np.clip(np.diagonal(noise_matrix), TINY_VALUE, None)
        py = np.diagonal(inverse_noise_matrix) / diag * ps
    elif py_method == "eqn":
        py = np.linalg.inv(noise_matrix).dot(ps)
    elif py_method == "marginal":
        py = confident_joint.sum(axis=0) / float(confident_joint.sum())
    elif py_method == "marginal_ps":
        py = np.dot(inverse_noise_matrix, ps)
    else:
        raise ValueError(
            f"py_method must be 'cnt', 'eqn', 'marginal' or 'marginal_ps', not {py_method!r}."
        )
    py = np.clip(py, CLIPPING_LOWER_BOUND, 1.0)
    return py / py.sum()


def estimate_latent(
    confident_joint: np.ndarray,
    labels: np.ndarray,
    *,
    py_method: str = "cnt",
    converge_latent_estimates: bool = False,
):
    """Latent prior and noise matrices from a confident joint.

    Returns
    -------
    py : (K,) estimated prior of the true labels
    noise_matrix : (K, K) P(given = i | true = j)
    inverse_noise_matrix : (K, K) P(true = i | given = j)
    """
    cj = np.asarray(confident_joint, dtype=np.float64)
    num_classes = cj.shape[0]
    ps = value_counts(labels, num_classes) / float(len(labels))
    noise_matrix = cj / np.clip(cj.sum(axis=0), TINY_VALUE, None)
    inverse_noise_matrix = cj.T / np.clip(cj.sum(axis=1), TINY_VALUE, None)
    py = _py_from(py_method, ps, noise_matrix, inverse_noise_matrix, cj)
    noise_matrix = _clip_noise_rates(noise_matrix)
    inverse_noise_matrix = _clip_noise_rates(inverse_noise_matrix)
    if converge_latent_estimates:
        py, noise_matrix, inverse_noise_matrix = _converge_estimates(
            ps, py, noise_matrix, inverse_noise_matrix
        )
        py = np.clip(py, CONVERGED_PY_LOWER_BOUND, 1.0)
        py = py / py.sum()
        noise_matrix = _clip_noise_rates(noise_matrix)
        inverse_noise_matrix = _clip_noise_rates(inverse_noise_matrix)
    return py, noise_matrix, inverse_noise_matrix


def _converge_estimates(ps, py, noise_matrix, inverse_noise_matrix, *, outer=3, inner=5):
    """Fixed-point iterations: the inverse and py from the noise matrix, then the noise matrix."""
    for _ in range(outer):
        for _ in range(inner):
            inverse_noise_matrix = _inverse_from(ps, py, noise_matrix)
            py = _py_from("cnt", ps, noise_matrix, inverse_noise_matrix, None)
        noise_matrix = _noise_from(ps, py, inverse_noise_matrix)
    return py, noise_matrix, inverse_noise_matrix


def _inverse_from(ps, py, noise_matrix):
    joint = noise_matrix * py
    return _clip_noise_rates(joint.T / np.clip(ps, TINY_VALUE, None))


def _noise_from(ps, py, inverse_noise_matrix):
    joint = (inverse_noise_matrix * ps).T
    return _clip_noise_rates(joint / np.clip(py, TINY_VALUE, None))


def estimate_py_and_noise_matrices_from_probabilities(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    thresholds: np.ndarray | None = None,
    converge_latent_estimates: bool = True,
    py_method: str = "cnt",
    calibrate: bool = True,
):
    """``(py, noise_matrix, inverse_noise_matrix, confident_joint)`` from predicted
    probabilities."""
    cj = compute_confident_joint(labels, pred_probs, thresholds=thresholds, calibrate=calibrate)
    py, nm, inv = estimate_latent(
        cj, labels, py_method=py_method, converge_latent_estimates=converge_latent_estimates
    )
    return py, nm, inv, cj
