"""pred_probs → a checked probability matrix in class order (the numpy gate).

Values are checked once, here, by a vectorised numpy gate (fast enough for 10⁸ cells). When it
finds a problem, the report is produced by the pandera schema generated from the same spec
(see :mod:`cleanframe._inputs.schema`), so the error carries pandera-style failure cases: the
column, the rule and the first offending rows.

Probabilities within :data:`~cleanframe._inputs.rules.PROBABILITY_TOLERANCE` of the valid range,
or whose rows sum to 1 within it, are accepted (float16 storage, softmax rounding): values are
clipped to [0, 1] and rows off by more than ``RENORMALIZE_ABOVE`` are rescaled to sum to 1, in a
copy. Columns stored as float16 cannot sum to 1 more closely than their precision, so for them the
row-sum tolerance is float16's epsilon (2**-10, about 9.8e-4) instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._engines import Engine
from ..errors import ValidationError
from ..scoring.classification.columns import ProbColumns
from ..scoring.parallel import for_each_block
from .classes import (
    ClassificationSpec,
    ClassSet,
    check_classes_occur,
    classification_spec,
    label_codes,
    pred_probs_classes,
)
from .columns import (
    Selection,
    check_not_empty,
    resolve_columns,
    selection_matrix,
)
from .rules import (
    PROBABILITY_MAX,
    PROBABILITY_MIN,
    PROBABILITY_TOLERANCE,
    RENORMALIZE_ABOVE,
    row_sum_tolerance,
)
from .schema import pandera_failure_report

__all__ = [
    "Classification",
    "ClassificationSpec",
    "check_probabilities",
    "classification_spec",
    "pred_probs_classes",
    "raise_cells",
    "resolve_classification",
    "resolve_classification_columns",
    "resolve_ensemble",
    "resolve_pred_probs",
    "require_separate_columns",
]


@dataclass
class Classification:
    """Labels as codes, pred_probs in class order, and the classes."""

    label: str
    labels: np.ndarray
    pred_probs: np.ndarray
    classes: ClassSet
    pred_probs_columns: list | None


def check_probabilities(fr: Engine, P: np.ndarray, sel: Selection, columns: list | None):
    """Check a pred_probs matrix; return it, or a cleaned copy when rounding noise was fixed."""

    tol = PROBABILITY_TOLERANCE
    n = len(P)
    # one blockwise pass: finiteness, range and row sums, without N×K temporaries
    finite = np.ones(n, dtype=bool)
    sums = np.empty(n, dtype=np.float64)
    extremes = {}

    def check_block(block):
        part = P[block]
        finite[block] = np.isfinite(part).all(axis=1)
        sums[block] = part.sum(axis=1, dtype=np.float64)
        if part.size:
            extremes[block.start] = (float(part.min()), float(part.max()))

    for_each_block(check_block, *P.shape)
    lo = min([0.0] + [v[0] for v in extremes.values()])
    hi = max([0.0] + [v[1] for v in extremes.values()])
    if not finite.all():
        raise_cells(
            fr, P, sel, columns, ~finite, "finite", "probabilities must be finite (no NaN, no inf)"
        )
    for outside, bound in ((lo < PROBABILITY_MIN, ">= 0"), (hi > PROBABILITY_MAX, "<= 1")):
        if outside:
            rows = _out_of_range(P).any(axis=1)
            message = f"probabilities must be {bound} (tolerance {tol:g})"
            raise_cells(fr, P, sel, columns, rows, "in_range", message)
    dev = np.abs(sums - 1.0)
    sum_tol = row_sum_tolerance(fr.storage_eps(columns or [sel.array_column]))  # float16 storage
    if n and dev.max() > sum_tol:
        bad = np.flatnonzero(dev > sum_tol)
        raise ValidationError(
            sel.label,
            "row_sums_to_1",
            f"each row of pred_probs must sum to 1 (tolerance {sum_tol:g}); did you pass logits or "
            f"scores instead of probabilities?",
            [(r, f"sum={sums[b]:.6g}") for r, b in zip(fr.row_labels(bad[:5]), bad[:5])],
            num_failures=len(bad),
        )
    if lo < 0 or hi > 1:
        P = np.clip(P, 0, 1)
        sums = P.sum(axis=1, dtype=np.float64)
        dev = np.abs(sums - 1.0)
    fix = dev > RENORMALIZE_ABOVE
    if fix.any():
        P = P.copy() if not P.flags.owndata or not P.flags.writeable else P
        P[fix] = P[fix] / sums[fix, None].astype(P.dtype)
    return P


def raise_cells(fr, P, sel, columns, bad_rows, rule, message, *, probabilities=True):
    """Raise for the offending cells. The pandera report (probability schema) is used only for
    probability matrices (``probabilities=True``); other matrices report the numpy findings."""
    rows = np.flatnonzero(bad_rows)
    first = rows[0]
    col_idx = int(np.flatnonzero(_bad_in_row(P[first], rule))[0]) if columns else None
    column = columns[col_idx] if columns else sel.label
    report = None
    if columns and probabilities:
        report = pandera_failure_report(fr, columns, rule)
    if report:
        column, cases, total = report
        raise ValidationError(column, rule, message, cases, num_failures=total)
    cases = [
        (r, P[b].tolist() if not columns else float(P[b, col_idx]))
        for r, b in zip(fr.row_labels(rows[:5]), rows[:5])
    ]
    raise ValidationError(column, rule, message, cases, num_failures=len(rows))


def _bad_in_row(row, rule):
    if rule == "finite":
        return ~np.isfinite(row)
    if rule == "not_infinite":
        return np.isinf(row)
    return _out_of_range(row)


def _out_of_range(values: np.ndarray) -> np.ndarray:
    """Cells outside [PROBABILITY_MIN, PROBABILITY_MAX], compared in float64 as the gate decides
    (float32 would round the bounds: a stored float32 1.0001 is above 1 + 1e-4)."""
    wide = values.astype(np.float64, copy=False)
    return (wide < PROBABILITY_MIN) | (wide > PROBABILITY_MAX)


def resolve_classification(
    fr: Engine,
    *,
    label: str,
    pred_probs: Any,
    classes: Sequence | None = None,
) -> Classification:
    """Labels + pred_probs + classes for a classification call, all checked."""
    check_not_empty(fr)
    spec = classification_spec(fr, label=label, pred_probs=pred_probs, classes=classes)
    codes = label_codes(fr, label, spec.labels, spec.classes)
    check_classes_occur(label, codes, spec.classes.values)
    P = check_probabilities(fr, spec.matrix(fr), spec.selection, spec.columns)
    return Classification(label, codes, P, spec.classes, spec.columns)


def resolve_classification_columns(
    fr: Engine,
    *,
    label: str,
    pred_probs: Any,
    classes: Sequence | None = None,
) -> Classification:
    """As :func:`resolve_classification`, but pred_probs stays in the frame's column buffers.

    When the frame holds the pred_probs columns as float columns of one dtype, ``pred_probs``
    is a :class:`~cleanframe.scoring.classification.columns.ProbColumns` (no row-major copy)
    and the value gate is fused into the kernels' first read of the columns
    (:func:`check_probability_columns`); otherwise this is :func:`resolve_classification`.
    Only the label-issue kernels (:mod:`cleanframe.scoring.classification.passes`) take it.
    """
    check_not_empty(fr)
    spec = classification_spec(fr, label=label, pred_probs=pred_probs, classes=classes)
    codes = label_codes(fr, label, spec.labels, spec.classes)
    check_classes_occur(label, codes, spec.classes.values)
    arrays = None
    if spec.array is None and spec.columns and not fr.non_numeric(spec.columns):
        arrays = fr.float_columns(spec.columns)
    if arrays is None:
        P: Any = check_probabilities(fr, spec.matrix(fr), spec.selection, spec.columns)
    else:
        P = check_probability_columns(fr, ProbColumns(arrays), codes, spec.selection, spec.columns)
    return Classification(label, codes, P, spec.classes, spec.columns)


def check_probability_columns(
    fr: Engine, cols: ProbColumns, labels: np.ndarray, sel: Selection, columns: list | None
):
    """The gate of :func:`check_probabilities` on columns, from the one fused read that the
    label-issue kernels make anyway (range, finiteness and row sums, per row).

    Columns that pass unchanged are returned as they are; anything to report or to fix (values
    just outside [0, 1], rows to renormalise) goes through :func:`check_probabilities` on a
    matrix, so errors and fixes are exactly those of the matrix path.
    """
    stats = cols.row_stats(labels)
    n = len(labels)
    sum_tol = row_sum_tolerance(fr.storage_eps(columns or [sel.array_column]))
    # the fused sums add in another order than numpy's: leave a margin, decide exactly below
    slack = 1 - 1e-9
    dev = np.abs(stats.sums - 1.0).max() if n else 0.0
    clean = (
        stats.finite
        and stats.low >= 0
        and stats.high <= 1
        and dev <= min(sum_tol, RENORMALIZE_ABOVE) * slack
    )
    if clean:
        return cols
    return check_probabilities(fr, cols.to_array(), sel, columns)


def resolve_pred_probs(fr: Engine, pred_probs: Any, *, classes: Sequence | None = None):
    """pred_probs without labels: ``(matrix, ClassSet)``; classes from ``classes=`` or the spec."""
    check_not_empty(fr)
    sel = resolve_columns(fr, pred_probs, param="pred_probs")
    P = selection_matrix(fr, sel)
    values = pred_probs_classes(sel, P.shape[1], classes)
    return check_probabilities(fr, P, sel, sel.columns), values


def resolve_ensemble(
    fr: Engine, *, label: str, pred_probs: Any, classes: Sequence | None = None
) -> list[Classification]:
    """Labels + one pred_probs matrix per model (``pred_probs`` is a list of specs), same
    classes."""
    if (
        isinstance(pred_probs, (str, Mapping))
        or not isinstance(pred_probs, Sequence)
        or len(pred_probs) < 1
    ):
        raise ValidationError(
            None, "spec", "pred_probs= must be a list of pred_probs specs, one per model"
        )
    parts = [
        resolve_classification(fr, label=label, pred_probs=p, classes=classes) for p in pred_probs
    ]
    first = parts[0]
    for other in parts[1:]:
        if other.classes.values != first.classes.values:
            raise ValidationError(
                None,
                "classes",
                f"the models' classes differ: {first.classes.names} vs {other.classes.names}",
            )
    return parts


def require_separate_columns(c: Classification, what: str) -> list:
    """The pred_probs columns of ``c``; an error when they came as one array column."""
    if c.pred_probs_columns is None:
        raise ValidationError(
            c.label, "spec", f"{what} needs pred_probs as separate columns (a list, glob or dict)"
        )
    return list(c.pred_probs_columns)
