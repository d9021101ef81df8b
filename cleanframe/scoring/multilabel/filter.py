"""Which (row, class) labels are likely wrong: confident learning one-vs-rest.

For every class k at once: the binary problem "row carries k" with probabilities
``[1 - p_k, p_k]``; per-class thresholds, the (K, 2, 2) confident joint, the prune counts and the
seven ``filter_by`` rules, then the "prediction agrees with the given label" veto. A row is an
issue when any of its classes is. The O(N·K) work is done on class-major (K, N) matrices; only
the 2×2 count matrices and the final top-m selections run per class.

Ties are broken deterministically (stable order, then row position), where the reference uses
numpy's unstable sort.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np

from .._common import (
    FLOATING_POINT_COMPARISON,
    TINY_VALUE,
    round_preserving_row_totals,
    select_extreme,
)
from ..classification.filter import FILTER_BY, prune_count_matrix
from .rank import binary_thresholds, class_label_quality_scores, exponential_moving_average

__all__ = [
    "FILTER_BY",
    "Problems",
    "confident_joint",
    "find_label_issues",
    "find_label_issues_per_class",
]


class Problems:
    """The K binary problems of one call, class-major: ``labels_t`` (K, N) bool, ``probs_t``
    (K, N) the probabilities, ``comp_t`` = 1 - ``probs_t``. Build it once and pass it as
    ``problems=`` to the scoring and filtering functions of one call."""

    def __init__(self, labels: np.ndarray, pred_probs: np.ndarray):
        self.labels_t = np.ascontiguousarray(np.asarray(labels, dtype=bool).T)
        self.probs_t = np.ascontiguousarray(np.asarray(pred_probs, dtype=np.float64).T)
        self.comp_t = 1 - self.probs_t
        self.k, self.n = self.probs_t.shape
        self.counts = np.stack(
            [self.n - self.labels_t.sum(axis=1), self.labels_t.sum(axis=1)], axis=1
        )
        self._guess: np.ndarray | None = None

    def guesses(self) -> np.ndarray:
        """(K, N) confidently estimated binary label (1 carries, 0 not, -1 neither)."""
        if self._guess is not None:
            return self._guess
        t = binary_thresholds(self.labels_t, self.probs_t, self.comp_t)
        cut = np.ascontiguousarray(t - FLOATING_POINT_COMPARISON)
        guess = np.empty((self.k, self.n), dtype=np.int8)
        if guess.size:
            _kernels()["guesses"](self.probs_t, self.comp_t, cut, guess)
        self._guess = guess
        return guess

    def joint(self) -> np.ndarray:
        """(K, 2, 2) uncalibrated confident joints (diagonals at least 1)."""
        # one small bincount per class of the cell code 3 * given + (guess + 1)
        cell = self.labels_t.view(np.int8) * np.int8(3) + (self.guesses() + np.int8(1))
        counts = np.stack([np.bincount(row, minlength=6) for row in cell])
        cj = np.empty((self.k, 2, 2), dtype=np.int64)
        cj[:, 0, :] = counts[:, 1:3]
        cj[:, 1, :] = counts[:, 4:6]
        cj[:, 0, 0] = np.maximum(cj[:, 0, 0], 1)
        cj[:, 1, 1] = np.maximum(cj[:, 1, 1], 1)
        return cj

    def calibrated_joint(self) -> np.ndarray:
        """(K, 2, 2): each class's joint rescaled to its counts, rounded with row totals kept."""
        cj = self.joint().astype(np.float64)
        out = np.empty((self.k, 2, 2), dtype=np.int64)
        for j in range(self.k):  # 2×2 arithmetic in the reference's order
            counts = self.counts[j]
            row_sums = np.clip(cj[j].sum(axis=1), TINY_VALUE, None)
            cal = cj[j] / row_sums[:, None] * counts[:, None]
            cal = cal / np.sum(cal) * counts.sum()
            out[j] = round_preserving_row_totals(cal)
        return out

    def off_diagonal(self) -> np.ndarray:
        """(K, N): confidently guessed and the guess differs from the given label."""
        g = self.guesses()
        return (g >= 0) & (g != self.labels_t)

    def veto(self, mask_t: np.ndarray) -> np.ndarray:
        """Un-flag labels whose prediction, with +1e-6 on the given label, is the given label
        (computed on the flagged cells only)."""
        out = np.array(mask_t, dtype=bool, copy=True)
        flat = out.reshape(-1)
        cells = np.flatnonzero(flat)
        y = self.labels_t.reshape(-1)[cells]
        p = self.probs_t.reshape(-1)[cells]
        c = self.comp_t.reshape(-1)[cells]
        eps = FLOATING_POINT_COMPARISON
        agrees = np.where(y, p + eps > c, c + eps >= p)
        flat[cells[agrees]] = False
        return out


def _guesses_py(probs_t, comp_t, cut, out):
    """Per cell: 1 when only p clears its threshold, 0 when only 1 - p does, the argmax of
    [1 - p, p] (first maximum) when both do, -1 when neither (one fused pass)."""
    k, n = probs_t.shape
    for j in range(k):
        c0 = cut[j, 0]
        c1 = cut[j, 1]
        for i in range(n):
            p = probs_t[j, i]
            c = comp_t[j, i]
            conf0 = c >= c0
            conf1 = p >= c1
            if conf0 and conf1:
                out[j, i] = 1 if p > c else 0
            elif conf0:
                out[j, i] = 0
            elif conf1:
                out[j, i] = 1
            else:
                out[j, i] = -1


@cache
def _kernels() -> dict:
    import numba

    return {"guesses": numba.njit(cache=True, nogil=True)(_guesses_py)}


def _warn_small(k: int, min_examples_per_class: int) -> None:
    warnings.warn(
        f"May not flag all label issues of class {k}: one of its two sides has at most "
        f"min_examples_per_class={min_examples_per_class} rows.",
        UserWarning,
        stacklevel=4,
    )


def _prune(pb: Problems, counts, filter_by, min_examples_per_class):
    """(K, N) masks of the prune_* rules (and 'both') from per-class prune counts."""
    out = np.zeros((pb.k, pb.n), dtype=bool)
    floor = max(min_examples_per_class, 1)
    for j in range(pb.k):
        y = pb.labels_t[j]
        p = pb.probs_t[j]
        c = pb.comp_t[j]
        noise = np.zeros(pb.n, dtype=bool)
        by_class = np.zeros(pb.n, dtype=bool)
        for given in (0, 1):
            other = 1 - given
            side = ~y if given == 0 else y
            rows: np.ndarray | None = None  # the side's rows, gathered only when needed
            small = int(pb.counts[j][given]) <= floor
            if filter_by in ("prune_by_noise_rate", "both"):
                m = int(counts[j][other, given])
                if m > 0 and small:
                    _warn_small(j, min_examples_per_class)
                elif m > 0:
                    # margin towards the other side: p - (1 - p) for rows without the class;
                    # it is > 0 exactly where p > 1 - p (the few rows leaning away), so those
                    # are found on the whole column and only they are gathered
                    leaning = np.flatnonzero(side & ((p > c) if given == 0 else (c > p)))
                    if len(leaning) >= m:
                        lp, lc = p[leaning], c[leaning]
                        margin = (lp - lc) if given == 0 else (lc - lp)
                        noise[leaning[select_extreme(margin, m, largest=True)]] = True
                    else:
                        rows = np.flatnonzero(side)
                        margin = (p[rows] - c[rows]) if given == 0 else (c[rows] - p[rows])
                        noise[rows[select_extreme(margin, m, largest=True)]] = True
            if filter_by in ("prune_by_class", "both"):
                if rows is None:
                    rows = np.flatnonzero(side)
                n_issues = len(rows) - int(counts[j][given, given])
                if n_issues > 0 and small:
                    if filter_by == "prune_by_class":
                        _warn_small(j, min_examples_per_class)
                elif n_issues > 0:
                    own = c[rows] if given == 0 else p[rows]
                    by_class[rows[select_extreme(own, n_issues, largest=False)]] = True
        if filter_by == "prune_by_noise_rate":
            out[j] = noise
        elif filter_by == "prune_by_class":
            out[j] = by_class
        else:
            out[j] = noise & by_class
    return out


def confident_joint(labels: np.ndarray, pred_probs: np.ndarray, *, calibrate: bool = True):
    """(K, 2, 2) per-class confident joints: ``[k, given, estimated]`` with 0 = not carrying k,
    1 = carrying k (cleanlab's ``compute_confident_joint(..., multi_label=True)``)."""
    pb = Problems(labels, pred_probs)
    return pb.calibrated_joint() if calibrate else pb.joint()


def find_label_issues_per_class(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class=None,
    min_examples_per_class: int = 1,
    confident_joint: np.ndarray | None = None,
    problems: Problems | None = None,
) -> np.ndarray:
    """(N, K) boolean: class k of row i is likely mislabeled (present but should not be, or
    absent but should be). The ``low_*`` rules are row-level: see :func:`find_label_issues`."""
    if filter_by not in FILTER_BY:
        raise ValueError(f"filter_by must be one of {FILTER_BY}, not {filter_by!r}.")
    pb = problems if problems is not None else Problems(labels, pred_probs)
    if filter_by in ("predicted_neq_given", "low_self_confidence", "low_normalized_margin"):
        # per class (the reference's binary problems): argmax of [1 - p, p] != given
        mask_t = (pb.probs_t > pb.comp_t) != pb.labels_t
        if filter_by != "predicted_neq_given":  # each class's binary low_* rule, no veto
            return np.ascontiguousarray(_binary_low(pb, filter_by).T)
    elif filter_by == "confident_learning":
        if confident_joint is not None:
            warnings.warn(
                "confident_joint is ignored by filter_by='confident_learning'.",
                UserWarning,
                stacklevel=2,
            )
        mask_t = pb.off_diagonal()
    else:
        cj = confident_joint if confident_joint is not None else pb.calibrated_joint()
        counts = []
        for j in range(pb.k):
            remove = None
            if num_to_remove_per_class is not None:
                remove = [int(num_to_remove_per_class[j]), 0]
            counts.append(
                prune_count_matrix(
                    cj[j],
                    pb.labels_t[j].view(np.uint8),
                    min_examples_per_class=min_examples_per_class,
                    frac_noise=frac_noise,
                    num_to_remove_per_class=remove,
                )
            )
        mask_t = _prune(pb, counts, filter_by, min_examples_per_class)
    return np.ascontiguousarray(pb.veto(mask_t).T)


def _binary_low(pb: Problems, filter_by: str) -> np.ndarray:
    """Each class's binary ``low_*`` rule: its off-diagonal count of lowest binary scores."""
    n_issues = np.count_nonzero(pb.veto(pb.off_diagonal()), axis=1)
    method = "self_confidence" if filter_by == "low_self_confidence" else "normalized_margin"
    scores_t = class_label_quality_scores(pb.labels_t.T, pb.probs_t.T, method=method).T
    out = np.zeros((pb.k, pb.n), dtype=bool)
    for j in range(pb.k):
        out[j, select_extreme(scores_t[j], int(n_issues[j]), largest=False)] = True
    return out


def find_label_issues(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class=None,
    min_examples_per_class: int = 1,
    confident_joint: np.ndarray | None = None,
    problems: Problems | None = None,
) -> np.ndarray:
    """(N,) boolean: the row has a likely label issue in at least one class.

    ``low_self_confidence`` / ``low_normalized_margin`` (as the reference): the number of rows
    that ``confident_learning`` flags, taken as the rows with the lowest default multi-label
    score (self-confidence, exponential moving average with alpha 0.8) — the same rows for both
    rules. Every other rule: any class flagged by :func:`find_label_issues_per_class`.
    """
    if filter_by in ("low_self_confidence", "low_normalized_margin"):
        pb = problems if problems is not None else Problems(labels, pred_probs)
        n_issues = int(np.count_nonzero(pb.veto(pb.off_diagonal()).any(axis=0)))
        scores = exponential_moving_average(
            class_label_quality_scores(labels, pred_probs, problems=pb), alpha=0.8
        )
        mask = np.zeros(pb.n, dtype=bool)
        mask[select_extreme(scores, n_issues, largest=False)] = True
        return mask
    per_class = find_label_issues_per_class(
        labels,
        pred_probs,
        filter_by=filter_by,
        frac_noise=frac_noise,
        num_to_remove_per_class=num_to_remove_per_class,
        min_examples_per_class=min_examples_per_class,
        confident_joint=confident_joint,
        problems=problems,
    )
    return np.asarray(per_class.any(axis=1))
