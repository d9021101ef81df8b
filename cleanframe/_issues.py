"""Label issues of checked arrays: the argument rules, then the label-issue passes over one batch.

The one path from validated labels and pred_probs to ``(is_issue, label_score)``, shared by
:func:`cleanframe.label_issues.label_issue_arrays` (``find_label_issues`` and the audit's label
check) and :mod:`cleanframe.tokens` (the tokens in flattened order). The passes are those of
:mod:`cleanframe.scoring.classification.passes`, which the streamed and distributed paths
(:mod:`cleanframe._batched`) run over many batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from ._inputs import ClassSet
from ._inputs.arguments import choice, class_matrix, filter_choice, per_class, rank_options
from .scoring.classification import filter as _filter
from .scoring.classification import passes as _passes
from .scoring.classification import rank as _rank
from .scoring.classification.argmax import ARGMAX_CONFUSION, confusion_joint

__all__ = ["DEFAULTS", "FILTERS", "issue_arrays"]

#: The label-issue keyword defaults of every ``find_label_issues`` (table, tokens, multi-label,
#: streamed and Dask) and of the audit's label check: the one place they are written down (those
#: cleanlab's ``filter.find_label_issues`` shares have its values). The public signatures spell
#: them out for ``help()``; ``tests/test_issue_defaults.py`` checks every signature against this.
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "filter_by": "prune_by_noise_rate",
        "frac_noise": 1.0,
        "num_to_remove_per_class": None,
        "min_examples_per_class": 1,
        "confident_joint": None,
        "rank_by": "self_confidence",
        "rank_by_kwargs": None,
    }
)

#: Every ``filter_by`` of ``find_label_issues``: the reference's filters and the joint from the
#: argmax confusion matrix.
FILTERS = (*_filter.FILTER_BY, ARGMAX_CONFUSION)


def issue_arrays(
    labels: np.ndarray,
    pred_probs: Any,
    classes: ClassSet,
    *,
    filter_by: str,
    frac_noise: float,
    num_to_remove_per_class: Sequence[int] | Mapping[Any, int] | None,
    min_examples_per_class: int,
    confident_joint: Any,
    rank_by: str,
    rank_by_kwargs: Mapping | None,
    scores: bool = True,
    filters: Sequence[str] = FILTERS,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(is_issue, label_score)`` of checked ``labels`` (codes into ``classes``) and
    ``pred_probs`` (a matrix, or the frame's columns as
    :class:`~cleanframe.scoring.classification.columns.ProbColumns`), in their row order;
    ``label_score`` is ``None`` when ``scores=False`` (then ``rank_by`` is not used). Every
    label-issue keyword is passed (their defaults are :data:`DEFAULTS`, in the callers).

    The arguments are checked first, in this order: ``filter_by`` among ``filters`` (and
    ``num_to_remove_per_class`` only with a filter that prunes by counts), ``rank_by`` and
    ``rank_by_kwargs`` (with ``scores``), ``confident_joint`` (K x K, or a table with
    class-named columns), then ``num_to_remove_per_class`` per class."""
    filter_choice(filter_by, filters, num_to_remove_per_class)
    ranking: str | None = None
    if scores:
        ranking = choice(rank_by, _rank.RANK_METHODS, "rank_by")
        rank_by_kwargs = rank_options(rank_by, rank_by_kwargs)
    joint = class_matrix(confident_joint, classes, "confident_joint")
    if filter_by == ARGMAX_CONFUSION:  # prune_by_noise_rate on the argmax confusion matrix
        predicted = _passes.predicted_class(labels, pred_probs)
        joint = confusion_joint(labels, predicted, len(classes))
        filter_by = "prune_by_noise_rate"
    mask, label_score = _passes.run(
        _passes.array_batches(labels, pred_probs),
        len(classes),
        filter_by=filter_by,
        frac_noise=frac_noise,
        num_to_remove_per_class=per_class(
            num_to_remove_per_class, classes, "num_to_remove_per_class"
        ),
        min_examples_per_class=min_examples_per_class,
        confident_joint=joint,
        rank_by=ranking,
        rank_by_kwargs=rank_by_kwargs if scores else None,
    )
    assert mask is not None
    return mask, label_score
