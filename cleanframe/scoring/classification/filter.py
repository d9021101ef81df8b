"""Which rows are mislabeled: confident learning's seven ``filter_by`` rules.

Ties are broken deterministically (stable order, then row position) where the reference
implementation uses an unstable sort; see ``docs``: results equal cleanlab's except where tied
scores straddle a cut-off.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._common import (
    class_rows,
    round_preserving_row_totals,
    select_extreme,
    self_confidence,
    value_counts,
)
from ..parallel import parallel_for, row_reduce
from .argmax import ARGMAX_CONFUSION, argmax_confident_joint
from .count import compute_confident_joint, num_label_issues, prediction_agrees_with_label
from .rank import get_label_quality_scores

__all__ = ["FILTER_BY", "find_label_issues", "find_predicted_neq_given", "prune_count_matrix"]

FILTER_BY = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
)


def find_predicted_neq_given(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Rows whose argmax (first maximum) differs from the given label."""
    return row_reduce(pred_probs, "argmax") != labels


def prune_count_matrix(
    confident_joint: np.ndarray,
    labels: np.ndarray,
    *,
    min_examples_per_class: int = 1,
    frac_noise: float = 1.0,
    num_to_remove_per_class=None,
    class_counts: np.ndarray | None = None,
) -> np.ndarray:
    """Counts to prune, rows = true class, columns = given class.

    From the transposed confident joint: raise each diagonal to ``min_examples_per_class``, take
    the increase evenly from the column's non-zero off-diagonals, scale the off-diagonals by
    ``frac_noise`` (truncating), and round with row totals kept. ``num_to_remove_per_class``
    rebuilds the matrix so that class k loses that many rows (``class_counts``, the rows per
    class, replaces ``labels`` when given, e.g. from merged batch statistics).
    """
    matrix = np.asarray(confident_joint, dtype=np.float64).T
    num_classes = matrix.shape[0]
    diag = np.diagonal(matrix)
    new_diag = np.maximum(diag, min_examples_per_class)
    increase = new_diag - diag
    per_col = np.maximum(np.count_nonzero(matrix, axis=0) - 1.0, 1.0)
    kept = matrix - increase / per_col
    kept[kept < 0] = 0
    np.fill_diagonal(kept, new_diag)
    reduced = kept * frac_noise
    np.fill_diagonal(reduced, np.diagonal(kept))
    # the mass taken from each column's off-diagonals moves to that column's diagonal; truncate
    np.fill_diagonal(reduced, np.diagonal(kept) + np.sum(kept - reduced, axis=0))
    result = round_preserving_row_totals(reduced.astype(np.int64))
    if num_to_remove_per_class is not None:
        counts = value_counts(labels, num_classes) if class_counts is None else class_counts
        remove = np.asarray(num_to_remove_per_class, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            # divides element [i, j] by the sum of row j (the reference's broadcasting)
            psy = result / np.sum(result, axis=1)
            noise_per_row = psy.sum(axis=1) - np.diagonal(psy)
            scaled = (psy.T * remove / noise_per_row).T
        scaled = np.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0)
        np.fill_diagonal(scaled, counts - remove)
        result = round_preserving_row_totals(scaled)
    return result


def _warn_small(k: int, min_examples_per_class: int) -> None:
    warnings.warn(
        f"May not flag all label issues in class {k}: it has at most "
        f"min_examples_per_class={min_examples_per_class} rows.",
        UserWarning,
        stacklevel=3,
    )


def _prune_by_noise_rate(labels, pred_probs, prune_counts, rows_by_class, min_examples_per_class):
    """For each given class k and other class j, flag the ``prune_counts[j, k]`` rows of class k
    with the largest margin ``p[:, j] - p[:, k]`` (ties by row position)."""
    mask = np.zeros(len(labels), dtype=bool)
    # Only rows whose given class is not their maximum have a positive margin towards any class.
    leaning = self_confidence(labels, pred_probs) < row_reduce(pred_probs, "max")
    work = []
    for k, rows in enumerate(rows_by_class):
        wanted = prune_counts[:, k].copy()
        wanted[k] = 0
        if not wanted.any():
            continue
        if len(rows) <= max(min_examples_per_class, 1):
            _warn_small(k, min_examples_per_class)
            continue
        work.append((k, rows, wanted))

    def prune_class(item):  # classes own disjoint rows, so threads write disjoint mask entries
        k, rows, wanted = item
        others = np.flatnonzero(wanted > 0)
        cand = rows[leaning[rows]]
        sub = pred_probs[cand]
        margins = np.ascontiguousarray(sub[:, others].T) - sub[:, k]
        for margin, j in zip(margins, others):
            m = int(wanted[j])
            # when at least m margins are positive, the m largest are among them (ties by
            # position are kept: cand is in row order); otherwise rank the whole class
            positive = np.flatnonzero(margin > 0)
            if len(positive) >= m:
                mask[cand[positive[select_extreme(margin[positive], m, largest=True)]]] = True
            else:
                full = pred_probs[rows, j] - pred_probs[rows, k]
                mask[rows[select_extreme(full, m, largest=True)]] = True

    parallel_for(prune_class, work, parallel=pred_probs.size >= 1 << 22)
    return mask


def _prune_by_class(labels, pred_probs, prune_counts, rows_by_class, min_examples_per_class):
    mask = np.zeros(len(labels), dtype=bool)
    for k, rows in enumerate(rows_by_class):
        n_issues = len(rows) - int(prune_counts[k, k])
        if n_issues <= 0:
            continue
        if len(rows) <= max(min_examples_per_class, 1):
            _warn_small(k, min_examples_per_class)
            continue
        mask[rows[select_extreme(pred_probs[rows, k], n_issues, largest=False)]] = True
    return mask


def find_label_issues(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class=None,
    min_examples_per_class: int = 1,
    confident_joint: np.ndarray | None = None,
    return_indices_ranked_by: str | None = None,
    rank_by_kwargs: dict | None = None,
) -> np.ndarray:
    """Boolean mask of likely label issues (or ranked indices with ``return_indices_ranked_by``).

    Parameters
    ----------
    labels : int ndarray (N,)
        Given labels, codes ``0..K-1``.
    pred_probs : float ndarray (N, K)
        Out-of-sample predicted probabilities.
    filter_by : str
        One of :data:`FILTER_BY`. ``prune_by_noise_rate`` (default) flags, for each off-diagonal
        cell of the prune-count matrix, the rows with the largest margin toward the other class;
        ``prune_by_class`` the rows with the lowest self-confidence per class; ``both`` the
        intersection; ``confident_learning`` the off-diagonals of the confident joint;
        ``predicted_neq_given`` argmax != label; ``low_self_confidence`` /
        ``low_normalized_margin`` the ``num_label_issues`` lowest-scoring rows. Also
        ``"argmax_confusion"`` (:mod:`.argmax`): ``prune_by_noise_rate`` on the calibrated
        confusion matrix of the argmax predictions, which replaces ``confident_joint``.
    frac_noise : float
        Fraction of the estimated issues to flag (``prune_*`` and ``both`` only).
    num_to_remove_per_class : sequence of int, optional
        Exact number of rows to flag per class (``prune_*`` and ``both`` only).
    min_examples_per_class : int
        Classes with at most this many rows are never pruned.
    confident_joint : int ndarray (K, K), optional
        Reused as is by the ``prune_*`` rules; ``confident_learning`` ignores it.
    return_indices_ranked_by : str, optional
        ``"self_confidence"``, ``"normalized_margin"`` or ``"confidence_weighted_entropy"``:
        return flagged positions sorted by that score (worst first, ties by position).
    """
    if filter_by == ARGMAX_CONFUSION:  # prune_by_noise_rate on the argmax confusion matrix
        confident_joint = argmax_confident_joint(np.asarray(labels), pred_probs)
        filter_by = "prune_by_noise_rate"
    if filter_by not in FILTER_BY:
        raise ValueError(f"filter_by must be one of {FILTER_BY}, not {filter_by!r}.")
    labels = np.asarray(labels)
    num_classes = pred_probs.shape[1]
    prunes = filter_by in ("prune_by_noise_rate", "prune_by_class", "both")
    if not prunes and (frac_noise != 1.0 or num_to_remove_per_class is not None):
        warnings.warn(
            f"frac_noise and num_to_remove_per_class only apply to the prune_* filters and "
            f"'both', not filter_by={filter_by!r}.",
            UserWarning,
            stacklevel=2,
        )
        if num_to_remove_per_class is not None:
            raise ValueError(
                f"num_to_remove_per_class cannot be used with filter_by={filter_by!r}; use "
                f"'prune_by_class', 'prune_by_noise_rate' or 'both'."
            )
    if filter_by == "confident_learning" and confident_joint is not None:
        warnings.warn(
            "confident_joint is ignored by filter_by='confident_learning'.",
            UserWarning,
            stacklevel=2,
        )
        confident_joint = None

    if filter_by in ("low_self_confidence", "low_normalized_margin"):
        n_issues = num_label_issues(labels, pred_probs)
        method = "self_confidence" if filter_by == "low_self_confidence" else "normalized_margin"
        scores = get_label_quality_scores(labels, pred_probs, method=method)
        mask = np.zeros(len(labels), dtype=bool)
        mask[select_extreme(scores, n_issues, largest=False)] = True
    elif filter_by == "predicted_neq_given":
        mask = find_predicted_neq_given(labels, pred_probs)
    elif filter_by == "confident_learning":
        _, indices = compute_confident_joint(
            labels, pred_probs, calibrate=True, return_indices_of_off_diagonals=True
        )
        mask = np.zeros(len(labels), dtype=bool)
        mask[indices] = True
    else:
        if confident_joint is None:
            confident_joint = compute_confident_joint(labels, pred_probs, calibrate=True)
        counts = prune_count_matrix(
            confident_joint,
            labels,
            min_examples_per_class=min_examples_per_class,
            frac_noise=frac_noise,
            num_to_remove_per_class=num_to_remove_per_class,
        )
        rows_by_class = class_rows(labels, num_classes)
        args = (labels, pred_probs, counts, rows_by_class, min_examples_per_class)
        if filter_by == "prune_by_noise_rate":
            mask = _prune_by_noise_rate(*args)
        elif filter_by == "prune_by_class":
            mask = _prune_by_class(*args)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                by_class = _prune_by_class(*args)
            mask = _prune_by_noise_rate(*args) & by_class

    if filter_by not in ("low_self_confidence", "low_normalized_margin"):
        flagged = np.flatnonzero(mask)
        mask[flagged[prediction_agrees_with_label(labels, pred_probs, flagged)]] = False

    if return_indices_ranked_by is None:
        return mask
    scores = get_label_quality_scores(
        labels, pred_probs, method=return_indices_ranked_by, **(rank_by_kwargs or {})
    )
    flagged = np.flatnonzero(mask)
    return flagged[np.argsort(scores[flagged], kind="stable")]
