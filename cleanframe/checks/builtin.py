"""The six checks of the audit (Datalab's), each one registered function on validated inputs.

They run in this order: ``null``, ``label``, ``outlier``, ``near_duplicate``, ``non_iid``,
``class_imbalance``. Each is the array path of its public function, so a check gives what that
function gives with the same arguments.
"""

from __future__ import annotations

from inspect import Parameter, signature

from ..label_issues import label_issue_arrays
from ..neighbors import (
    NonIIDResult,
    build_graph,
    class_imbalance_arrays,
    near_duplicate_arrays,
    non_iid_arrays,
    null_arrays,
    outlier_arrays,
    pred_probs_outlier_arrays,
)
from ..scoring.classification.count import num_label_issues
from .registry import AuditInputs, CheckResult, register, required

__all__ = ["null", "label", "outlier", "near_duplicate", "non_iid", "class_imbalance"]

#: The non-IID check's significance threshold (that of :func:`cleanframe.non_iid`).
NON_IID_SIGNIFICANCE = 0.05

#: The arguments of :func:`cleanframe.find_label_issues` that ``audit(label_kwargs=...)`` passes
#: to the label check, with their defaults (the same as ``find_label_issues``' own).
LABEL_KWARGS = {
    name: p.default
    for name, p in signature(label_issue_arrays).parameters.items()
    if p.kind is Parameter.KEYWORD_ONLY
}


@register("null", needs=["features"])
def null(inputs: AuditInputs) -> CheckResult:
    """:func:`cleanframe.find_null_issues`."""
    scores, flags = null_arrays(required(inputs.features, "features"))
    return CheckResult(flags, scores)


@register("label", needs=["classification"])
def label(inputs: AuditInputs) -> CheckResult:
    """:func:`cleanframe.find_label_issues` with its defaults, so that both flag the same rows,
    or with the audit's ``label_kwargs=`` (Datalab and ``CleanLearning`` use
    ``min_examples_per_class=10``, which flags nothing in classes of 10 rows or fewer). The
    summary score is the label health score, 1 - num_label_issues / N; the report's note names
    the arguments and says that this estimate is not the number of flagged rows."""
    c = required(inputs.classification, "classification")
    kwargs = dict(inputs.label_kwargs)
    flags, scores = label_issue_arrays(c, **kwargs)
    n, estimated = len(c.labels), num_label_issues(c.labels, c.pred_probs)
    shown = {
        name: kwargs.get(name, default)
        for name, default in LABEL_KWARGS.items()
        if name in kwargs or name in ("filter_by", "min_examples_per_class")
    }
    arguments = ", ".join(f"{name}={value!r}" for name, value in shown.items())
    note = (
        f"flagged by find_label_issues({arguments}), set with label_kwargs=; score = label "
        f"health = 1 - {estimated:,}/{n:,}, where {estimated:,} = num_label_issues() is an "
        f"estimate, not the number of flagged rows (they differ by design)"
    )
    return CheckResult(flags, scores, score=1.0 - estimated / n, note=note)


@register("outlier", needs=["graph", "classification"])
def outlier(inputs: AuditInputs) -> CheckResult:
    """:func:`cleanframe.find_outliers` on the graph, else on pred_probs (labels adjust them)."""
    if inputs.graph is not None:
        scores, flags = outlier_arrays(inputs.graph)
    else:
        c = required(inputs.classification, "classification")
        scores, flags = pred_probs_outlier_arrays(c.pred_probs, c.labels)
    return CheckResult(flags, scores)


@register("near_duplicate", needs=["graph"])
def near_duplicate(inputs: AuditInputs) -> CheckResult:
    """:func:`cleanframe.find_near_duplicates` on the graph."""
    scores, flags, _ = near_duplicate_arrays(required(inputs.graph, "graph"))
    return CheckResult(flags, scores)


@register("non_iid", needs=["graph", "pred_probs"])
def non_iid(inputs: AuditInputs) -> CheckResult:
    """:func:`cleanframe.non_iid` on the graph, else on a graph of the pred_probs; the summary
    score is the p-value (NaN when the test cannot be done, which the note says) and the details
    the :class:`~cleanframe.NonIIDResult`."""
    graph = inputs.graph
    if graph is None:
        P = required(inputs.pred_probs, "pred_probs")
        graph = build_graph(P, k=inputs.k, progress=inputs.progress)
    scores, flags, p_value, statistic, note = non_iid_arrays(
        graph, significance_threshold=NON_IID_SIGNIFICANCE
    )
    return CheckResult(
        flags,
        scores,
        score=p_value,
        details=lambda rows: NonIIDResult.of(
            p_value, statistic, NON_IID_SIGNIFICANCE, rows, graph, note=note
        ),
        note=note,
    )


@register("class_imbalance", needs=["labels"])
def class_imbalance(inputs: AuditInputs) -> CheckResult:
    """:func:`cleanframe.class_imbalance`."""
    labels, classes = required(inputs.labels, "labels"), required(inputs.classes, "labels")
    scores, flags = class_imbalance_arrays(labels, len(classes))
    return CheckResult(flags, scores)
