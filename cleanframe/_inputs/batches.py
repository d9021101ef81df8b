"""Labels + pred_probs of a frame read in batches (a streamed LazyFrame, Dask partitions).

The in-memory rules of :func:`~cleanframe._inputs.probabilities.resolve_classification`, split in
two so that no batch needs the others:

- :func:`batch_spec`, once per call, on the frame's schema and the first row of each distinct label
  value (:meth:`~cleanframe._engines.Engine.distinct_rows`: small): the columns, the classes and
  their order (inferred exactly as in memory, since the distinct values are the same), the rule
  that at least two classes occur, and that the frame is not empty;
- :func:`resolve_batch`, on each batch: label codes (not null, a known class) and the probability
  gate (finite, in range, rows sum to 1). A batch's engine names rows by global position (polars)
  or by index label (pandas partitions of a Dask frame), so an error is the one the in-memory call
  raises for the same row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._engines import Engine
from ..scoring.classification.columns import ProbColumns
from .classes import (
    ClassSet,
    check_classes_occur,
    check_label_nulls,
    class_code_map,
    classification_spec,
    label_codes,
    pred_probs_class_order,
)
from .columns import (
    Selection,
    array_matrix,
    check_not_empty,
    numeric_matrix,
    require_columns,
    resolve_columns,
)
from .probabilities import check_probabilities, check_probability_columns

__all__ = ["BatchSpec", "batch_spec", "checked_columns", "resolve_batch"]


@dataclass
class BatchSpec:
    """What every batch is read with: the label column, the pred_probs columns (or one array
    column and the column of each class in it), the classes and the selection (for reports)."""

    label: str
    classes: ClassSet
    selection: Selection
    columns: list | None
    array_column: str | None
    array_order: list | None
    #: the class code of each integer label value 0 .. len - 1 (-1: not a class), built on first
    #: use by :func:`_integer_codes`
    code_table: np.ndarray | None = None

    @property
    def needed(self) -> list[str]:
        """The columns a batch must hold."""
        probs = self.columns if self.columns is not None else [self.array_column]
        return [self.label] + [c for c in probs if c is not None and c != self.label]


def batch_spec(
    fr: Engine, *, label: str, pred_probs: Any, classes: Sequence | None = None
) -> BatchSpec:
    """Resolve the specs of a batched frame once (see the module docstring)."""
    check_not_empty(fr)
    if not isinstance(label, str):  # the label= rule of classification_spec, before any read
        classification_spec(fr, label=label, pred_probs=pred_probs, classes=classes)
    require_columns(fr, [label], param="label")
    sel = resolve_columns(fr, pred_probs, param="pred_probs")
    probs = sel.columns if sel.columns is not None else [sel.array_column]
    sample = fr.distinct_rows(label, [c for c in probs if c is not None])
    spec = classification_spec(
        sample, label=label, pred_probs=pred_probs, classes=classes, labels_not_null=False
    )
    order = None
    if spec.columns is None:
        width = spec.array.shape[1] if spec.array is not None else 0
        _, order = pred_probs_class_order(spec.labels, spec.selection, width, label, classes)
    source = spec.labels.categories if spec.labels.categories is not None else spec.labels.uniques
    codes = class_code_map(source, spec.classes)[:-1]
    if (codes >= 0).all():  # unknown values are reported by the batch that holds them, with rows
        present = class_code_map(spec.labels.uniques, spec.classes)[:-1]
        check_classes_occur(label, present[present >= 0], spec.classes.values)
    return BatchSpec(
        label,
        spec.classes,
        spec.selection,
        spec.columns,
        spec.selection.array_column,
        order,
    )


def resolve_batch(fr: Engine, spec: BatchSpec) -> tuple[np.ndarray, Any]:
    """``(label codes, checked pred_probs)`` of one batch (see the module docstring): pred_probs
    as the batch's own float columns (:class:`ProbColumns`, no row-major copy) where it holds
    them so, else as a checked matrix."""
    codes = _integer_codes(fr, spec)
    if codes is None:
        fact = fr.factorize(spec.label)
        check_label_nulls(fr, spec.label, fact)
        codes = label_codes(fr, spec.label, fact, spec.classes)
    if spec.columns is not None:
        arrays = None if fr.non_numeric(spec.columns) else fr.float_columns(spec.columns)
        if arrays is not None:  # the frame's own column buffers, gated in the kernels' read
            cols = ProbColumns(arrays)
            return codes, check_probability_columns(fr, cols, codes, spec.selection, spec.columns)
        P = numeric_matrix(fr, spec.columns)
    else:
        assert spec.array_column is not None
        P = array_matrix(fr, spec.array_column)
        if spec.array_order is not None and spec.array_order != list(range(P.shape[1])):
            P = P[:, spec.array_order]
    P = check_probabilities(fr, P, spec.selection, spec.columns)
    return codes, P


#: Integer label values below this are mapped to class codes by a table (:func:`_integer_codes`).
CODE_TABLE_MAX = 1 << 16


def _integer_codes(fr: Engine, spec: BatchSpec) -> np.ndarray | None:
    """The class codes of a batch's label column of integers without nulls, all in
    ``0 .. CODE_TABLE_MAX - 1`` and all classes, by a table lookup: the codes
    :func:`~.classes.label_codes` gives (the table is :func:`~.classes.class_code_map` of
    those integers), without factorizing every batch (a hash of the column and a few polars
    queries: ~0.13 CPU-s per 1M rows of a streamed call). ``None`` for any other column or
    value (a null, a negative, a large or an unknown value): the general path then gives the
    codes or the error that names the rows."""
    if fr.non_numeric([spec.label]):
        return None
    values = fr.column(spec.label)  # integers without nulls as integers, anything else not
    if values.dtype.kind not in "iu" or not len(values):
        return None
    hi = int(values.max())
    if int(values.min()) < 0 or hi >= CODE_TABLE_MAX:
        return None
    table = spec.code_table
    if table is None or len(table) <= hi:  # a few times per call at most (threads racing
        # here build the same table)
        size = max(1024, 1 << hi.bit_length())
        table = class_code_map(range(size), spec.classes)[:-1]
        spec.code_table = table
    codes = table[values]
    return None if (codes < 0).any() else codes


def checked_columns(fr: Engine, spec: BatchSpec) -> ProbColumns | None:
    """The pred_probs columns of a batch whose rows already passed :func:`resolve_batch` in an
    earlier pass of the same call (the same rows of the same frame), as the batch's own float
    columns, without checking them again; ``None`` where the batch does not hold them as float
    columns of one dtype (then :func:`resolve_batch` reads it)."""
    if spec.columns is None or fr.non_numeric(spec.columns):
        return None
    arrays = fr.float_columns(spec.columns)
    return None if arrays is None else ProbColumns(arrays)
