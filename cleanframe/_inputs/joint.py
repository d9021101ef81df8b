"""A given confident joint as the only input of the dataset-level functions.

``health_summary``, ``rank_classes_by_label_quality``, ``overlapping_classes`` and
``overall_label_health_score`` work from a label column and pred_probs, or -- as the reference's
``cleanlab.dataset`` functions -- from a confident joint alone (``confident_joint=``, with
``num_examples=``), when the rows are not at hand. The rules, stated once:

- the joint is either the table :func:`cleanframe.confident_joint` returns (any engine: class
  names from its columns, rows in the same order -- ``given_label`` as pandas' index or polars'
  first column), or a K×K array with ``classes=`` naming its classes (default ``0..K-1``);
- it holds finite, non-negative counts (``non_negative``), not all zero (``not_empty``), and is
  K×K with K ≥ 2 (``shape``);
- ``num_examples`` (default: the joint's total, as the reference's overlap and overall-score
  functions) is a positive integer (``positive_integer``);
- label / pred_probs and ``confident_joint=`` are not mixed (``one_source``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._engines import Engine, adapt, is_frame, new_frame
from ..errors import ValidationError
from .classes import ClassSet
from .columns import numeric_matrix

__all__ = ["JointInputs", "require_rows", "resolve_joint", "uses_joint"]

_ROWS = "given_label"


@dataclass(frozen=True)
class JointInputs:
    """What the dataset functions need from a given confident joint.

    ``fr`` builds the result tables (the caller's frame type: the frame passed, else the joint
    table's, else pandas); ``joint`` sums to 1; ``counts`` are the rows per given class
    (``round(num_examples · row sums)``).
    """

    fr: Engine
    classes: ClassSet
    joint: np.ndarray
    num_examples: int
    counts: np.ndarray


def _from_table(table: Any) -> tuple[list, np.ndarray]:
    fr = adapt(table)
    names = [c for c in fr.columns if c != _ROWS]
    matrix = numeric_matrix(fr, names).astype(np.float64)
    rows = (
        [str(v) for v in fr.column(_ROWS)]
        if _ROWS in fr.columns
        else [str(v) for v in fr.row_labels(np.arange(fr.height))]
    )
    if len(rows) == len(names) and rows != [str(n) for n in names]:
        raise ValidationError(
            "confident_joint",
            "same_classes",
            f"the confident joint's rows {rows[:5]} are not its columns {names[:5]} in the same "
            f"order",
        )
    return names, matrix


def uses_joint(label: Any, pred_probs: Any, confident_joint: Any, num_examples: Any) -> bool:
    """Whether a dataset-level call reads a given confident joint (``confident_joint=`` or
    ``num_examples=`` passed, or neither label nor pred_probs): then :func:`resolve_joint`
    checks the rest."""
    return (
        confident_joint is not None
        or num_examples is not None
        or (label is None and pred_probs is None)
    )


def require_rows(label: Any, pred_probs: Any) -> tuple[str, Any]:
    """The rows path needs both ``label=`` and ``pred_probs=``."""
    if label is None or pred_probs is None:
        missing = "label=" if label is None else "pred_probs="
        raise ValidationError(
            None,
            "required",
            f"{missing} is missing: pass label= and pred_probs=, or confident_joint= (with "
            f"num_examples=)",
        )
    return label, pred_probs


def resolve_joint(
    df: Any,
    *,
    label: Any,
    pred_probs: Any,
    confident_joint: Any,
    classes: Sequence | None,
    num_examples: Any,
) -> JointInputs:
    """A given confident joint → :class:`JointInputs` (see the module's rules)."""
    if label is not None or pred_probs is not None:
        raise ValidationError(
            "confident_joint",
            "one_source",
            "pass label= and pred_probs=, or confident_joint= (with num_examples=), not both "
            "(with the rows at hand the joint and N come from them)",
        )
    if confident_joint is None:
        raise ValidationError(
            None,
            "required",
            "pass label= and pred_probs=, or confident_joint= (with num_examples=)",
        )
    if is_frame(confident_joint):
        names, matrix = _from_table(confident_joint)
        if classes is not None:
            names = list(classes)
    else:
        matrix = np.asarray(confident_joint)
        if matrix.dtype.kind not in "biuf":
            raise ValidationError(
                "confident_joint",
                "numeric",
                f"confident_joint must hold counts, not {matrix.dtype}",
            )
        matrix = matrix.astype(np.float64)
        names = list(classes) if classes is not None else list(range(len(matrix)))
    k = len(names)
    if matrix.ndim != 2 or matrix.shape != (k, k) or k < 2:
        raise ValidationError(
            "confident_joint",
            "shape",
            f"confident_joint must be K×K with K >= 2 (one row and column per class, "
            f"{k} classes named), not {matrix.shape}",
        )
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise ValidationError(
            "confident_joint", "non_negative", "confident_joint must hold finite counts >= 0"
        )
    total = float(matrix.sum())
    if total <= 0:
        raise ValidationError("confident_joint", "not_empty", "confident_joint is all zeros")
    if num_examples is None:
        n = int(round(total))
    else:
        value = np.asarray(num_examples)
        if value.ndim or value.dtype.kind not in "iu" or int(value) < 1:
            raise ValidationError(
                "num_examples",
                "positive_integer",
                f"num_examples must be a positive integer, not {num_examples!r}",
            )
        n = int(value)
    joint = matrix / total
    counts = np.round(n * joint.sum(axis=1)).astype(np.int64)
    if df is not None:
        fr = adapt(df)
    elif is_frame(confident_joint):
        fr = adapt(confident_joint)
    else:
        fr = adapt(new_frame({}))
    return JointInputs(fr, ClassSet(tuple(names)), joint, n, counts)
