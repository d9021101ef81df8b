"""The checks of the audit (Datalab's), each one registered function on validated inputs.

The six default checks run in this order: ``null``, ``label``, ``outlier``, ``near_duplicate``,
``non_iid``, ``class_imbalance``; each is the array path of its public function, so a check
gives what that function gives with the same arguments. Three more run when ``checks=`` names
them: ``underperforming_group`` (clusters of the kNN graph, or ``group=``, whose label quality
is far below the rest), ``data_valuation`` (KNN-Shapley) and ``identifier_column`` (an integer
feature column of consecutive values). Each check returns the per-row numbers it used
(``evidence``) and one sentence per flagged row built from them (``reasons``).
"""

from __future__ import annotations

from inspect import Parameter, signature

import numpy as np

from ..label_issues import label_issue_arrays
from ..neighbors import (
    NonIIDResult,
    build_graph,
    non_iid_arrays,
    null_arrays,
    pred_probs_outlier_arrays,
)
from ..scoring.classification.count import (
    calibrate_confident_joint,
    compute_confident_joint,
    get_confident_thresholds,
    off_diagonal_estimate,
)
from ..scoring.neighbors import outlier as _outlier
from ..scoring.neighbors.datalab_checks import CLASS_IMBALANCE_THRESHOLD, missing_rows
from ..scoring.neighbors.datalab_checks import class_imbalance as _class_imbalance
from ..scoring.neighbors.duplicates import NEAR_DUPLICATE_THRESHOLD, near_duplicates
from ..scoring.neighbors.groups import (
    MIN_CLUSTER_SAMPLES,
    UNDERPERFORMING_GROUP_THRESHOLD,
    dbscan_clusters,
    underperforming_groups,
)
from ..scoring.neighbors.identifier import is_identifier_column
from ..scoring.neighbors.valuation import DATA_VALUATION_THRESHOLD, knn_shapley
from ..scoring.parallel import row_reduce
from .registry import AuditInputs, CheckResult, reasons, register, required, row_reasons

__all__ = [
    "null",
    "label",
    "outlier",
    "near_duplicate",
    "non_iid",
    "class_imbalance",
    "underperforming_group",
    "data_valuation",
    "identifier_column",
]

#: The non-IID check's significance threshold (that of :func:`cleanframe.non_iid`).
NON_IID_SIGNIFICANCE = 0.05

#: The regression label check's flag rule: ``label_score < threshold * median(label_score)``.
REGRESSION_THRESHOLD = 0.05

#: The arguments of :func:`cleanframe.find_label_issues` that ``audit(label_kwargs=...)`` passes
#: to the label check, with their defaults (the same as ``find_label_issues``' own).
LABEL_KWARGS = {
    name: p.default
    for name, p in signature(label_issue_arrays).parameters.items()
    if p.kind is Parameter.KEYWORD_ONLY
}

#: The label check's parameters in a regression audit.
REGRESSION_LABEL_KWARGS = {"threshold": REGRESSION_THRESHOLD, "method": "outre", "exact": None}


def _g(x: float) -> str:
    """A number for a sentence: 3 significant digits."""
    return f"{x:.3g}"


def _distance(metric: str | None) -> str:
    """``"cosine distance"``, or ``"distance"`` for a graph of unknown metric."""
    return f"{metric} distance" if metric else "distance"


def _class(name: str) -> str:
    return f'"{name}"'


@register("null", needs=["features"])
def null(inputs: AuditInputs) -> CheckResult:
    """:func:`cleanframe.find_null_issues`."""
    X = required(inputs.features, "features")
    # the rows with a missing value, value by value; every other row scores 1, unflagged
    missing_values = missing_rows(X) if inputs.missing is None else inputs.missing
    rows = np.flatnonzero(missing_values) if X.shape[1] else np.arange(len(X))
    scores, flags = np.ones(len(X)), np.zeros(len(X), dtype=bool)
    missing = np.zeros(len(X), dtype=np.int64)
    if len(rows):
        scores[rows], flags[rows] = null_arrays(X[rows])
        missing[rows] = np.isnan(X[rows]).sum(axis=1)
    d = X.shape[1]
    return CheckResult(
        flags,
        scores,
        evidence={"missing_values": missing, "feature_values": np.full(len(X), d)},
        reasons=reasons(flags, lambda i: f"null: all {d} feature values are missing"),
    )


def _label_evidence(c, flags: np.ndarray, thresholds: np.ndarray) -> tuple[dict, np.ndarray]:
    """Given vs suggested class with their probabilities and the given class's confident
    ``thresholds`` (the per-class mean probability of the class over its rows), and the reason
    of each flagged row (built from Python values: the classes' names and thresholds are
    formatted once)."""
    n = len(c.labels)
    rows = np.arange(n)
    P = c.pred_probs
    suggested = row_reduce(P, "argmax")
    thresholds = np.asarray(thresholds, dtype=np.float64)
    names = np.asarray(c.classes.names, dtype=object)
    evidence = {
        "given": names[c.labels],
        "suggested": names[suggested],
        "p_given": P[rows, c.labels].astype(np.float64),
        "p_suggested": P[rows, suggested].astype(np.float64),
        "threshold_given": thresholds[c.labels],
    }
    why = np.full(n, None, dtype=object)
    positions = np.flatnonzero(flags)
    quoted = [_class(name) for name in names]
    cuts = [(t, _g(t)) for t in thresholds.tolist()]
    for i, given, says, p_given, p_says in zip(
        positions.tolist(),
        c.labels[positions].tolist(),
        suggested[positions].tolist(),
        evidence["p_given"][positions].tolist(),
        evidence["p_suggested"][positions].tolist(),
    ):
        t, cut = cuts[given]
        where = "below" if p_given < t else "at or above"
        if says == given:  # the numbers as _g formats them (.3g), inline
            why[i] = (
                f"label: given {quoted[given]}, which the model also ranks first "
                f"({p_given:.3g}), {where} its confident threshold {cut}"
            )
        else:
            why[i] = (
                f"label: given {quoted[given]}, the model says {quoted[says]} ({p_says:.3g}); "
                f"{quoted[given]} gets {p_given:.3g}, {where} its confident threshold {cut}"
            )
    return evidence, why


def _regression_label(inputs: AuditInputs, **kwargs) -> CheckResult:
    from ..regression import _scores
    from ..scoring.regression.outre import find_issues_from_scores

    y, pred = required(inputs.regression, "regression")
    options = {**REGRESSION_LABEL_KWARGS, **kwargs}
    threshold = float(options["threshold"])
    scores = _scores(y, pred, options["method"], options["exact"], threshold)
    flags = find_issues_from_scores(scores, threshold=threshold)
    median = float(np.median(scores))
    cut = threshold * median
    evidence = {"given": y, "predicted": pred, "score": scores}

    def sentence(i: int) -> str:
        return (
            f"label: given {_g(y[i])}, predicted {_g(pred[i])}; score {_g(scores[i])} below "
            f"{_g(threshold)} x the median score {_g(median)} = {_g(cut)}"
        )

    note = (
        f"regression: {options['method']} scores of the target against predictions=, flagged "
        f"below {threshold} x median(label_score) = {cut:.4g}"
    )
    return CheckResult(
        flags, scores, note=note, evidence=evidence, reasons=reasons(flags, sentence)
    )


@register("label", needs=["classification", "regression"])
def label(inputs: AuditInputs) -> CheckResult:
    """:func:`cleanframe.find_label_issues` with its defaults, so that both flag the same rows,
    or with the audit's ``label_kwargs=`` (Datalab and ``CleanLearning`` use
    ``min_examples_per_class=10``, which flags nothing in classes of 10 rows or fewer). The
    summary score is the label health score, 1 - num_label_issues / N; the report's note names
    the arguments and says that this estimate is not the number of flagged rows. In a
    regression audit (``predictions=``): :func:`cleanframe.regression.find_label_issues` (OUTRE,
    flagged below 0.05 x the median score, as Datalab)."""
    if inputs.task == "regression":
        return _regression_label(inputs, **inputs.label_kwargs)
    if inputs.task == "multilabel":  # a list column of tags: one-vs-rest, as Datalab
        from ..multilabel import audit_label_check

        r = audit_label_check(inputs.classification, **inputs.label_kwargs)
        return CheckResult(
            r["flags"], r["scores"], score=r["score"], note=r["note"], details=r["details"]
        )
    c = required(inputs.classification, "classification")
    kwargs = dict(inputs.label_kwargs)
    flags, scores = label_issue_arrays(c, **kwargs)
    n = len(c.labels)
    # the confident joint once: num_label_issues' estimate (its off-diagonal rows less those the
    # prediction agrees with), the calibrated joint and the evidence's thresholds
    thresholds = get_confident_thresholds(c.labels, c.pred_probs)
    raw_joint, off_diagonal = compute_confident_joint(
        c.labels,
        c.pred_probs,
        thresholds=thresholds,
        calibrate=False,
        return_indices_of_off_diagonals=True,
    )
    estimated = off_diagonal_estimate(c.labels, c.pred_probs, off_diagonal)
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
    evidence, why = _label_evidence(c, flags, thresholds)
    joint = calibrate_confident_joint(raw_joint, c.labels)
    return CheckResult(
        flags,
        scores,
        score=1.0 - estimated / n,
        note=note,
        details={"confident_joint": np.asarray(joint), "classes": list(c.classes.names)},
        evidence=evidence,
        reasons=why,
    )


@register("outlier", needs=["graph", "classification"])
def outlier(
    inputs: AuditInputs, *, k: int | None = None, t: float = 1, threshold: float | None = None
) -> CheckResult:
    """:func:`cleanframe.find_outliers` on the graph (``k``: its first ``k`` neighbours, ``t``,
    ``threshold`` as Datalab's), else on pred_probs (labels adjust them)."""
    graph = inputs.graph
    if graph is not None:
        use = graph.k if k is None else k
        scores, avg, _ = _outlier.knn_outlier_scores(
            graph.distances, k=use, t=t, metric=graph.metric
        )
        cut = _outlier.distance_issue_threshold(
            avg, _outlier.FEATURE_THRESHOLD if threshold is None else threshold
        )
        flags = avg > cut
        typical = float(np.median(avg))
        head = f"outlier: mean {_distance(graph.metric)} to its {use} nearest neighbours "
        tail = f" (typical {_g(typical)}, flagged above {_g(cut)})"

        def sentence(mean: float) -> str:
            return f"{head}{_g(mean)}{tail}"

        evidence = {"mean_distance": avg, "typical_distance": np.full(len(avg), typical)}
        return CheckResult(
            flags, scores, evidence=evidence, reasons=row_reasons(flags, sentence, avg)
        )
    c = required(inputs.classification, "classification")
    scores, flags = pred_probs_outlier_arrays(c.pred_probs, c.labels, threshold=threshold)
    median = float(np.median(scores))
    factor = _outlier.PRED_PROBS_THRESHOLD if threshold is None else threshold
    tail = (
        f" (entropy of the label-adjusted pred_probs), below {_g(factor)} x the median {_g(median)}"
    )

    def pp_sentence(score: float) -> str:
        return f"outlier: its predicted probabilities score {_g(score)}{tail}"

    return CheckResult(
        flags,
        scores,
        evidence={"ood_score": scores, "median_score": np.full(len(scores), median)},
        reasons=row_reasons(flags, pp_sentence, scores),
    )


@register("near_duplicate", needs=["graph"])
def near_duplicate(
    inputs: AuditInputs, *, k: int | None = None, threshold: float = NEAR_DUPLICATE_THRESHOLD
) -> CheckResult:
    """:func:`cleanframe.find_near_duplicates` on the graph (``k``, ``threshold`` as
    Datalab's)."""
    graph = required(inputs.graph, "graph")
    use = graph.head(k) if k is not None else graph
    r = near_duplicates(use.indices, use.distances, threshold=threshold)
    flags = r["is_issue"]
    nearest = inputs.frame_positions(use.indices[:, 0])
    distance = use.distances[:, 0]
    radius = float(r["radius"])
    what, tail = _distance(use.metric), f", near duplicates lie within {radius:.2g})"

    def sentence(row: int, gap: float) -> str:
        return f"near_duplicate: of row {row} ({what} {gap:.2g}{tail}"

    evidence = {
        "nearest_row": nearest,
        "distance": np.asarray(distance, dtype=np.float64),
        "set": np.asarray(r["set_ids"]),
    }
    why = row_reasons(flags, sentence, nearest, distance)
    return CheckResult(flags, r["scores"], evidence=evidence, reasons=why)


@register("non_iid", needs=["graph", "pred_probs"])
def non_iid(
    inputs: AuditInputs,
    *,
    num_permutations: int = 25,
    seed: int | None = 0,
    significance_threshold: float = NON_IID_SIGNIFICANCE,
) -> CheckResult:
    """:func:`cleanframe.non_iid` on the graph, else on a graph of the pred_probs; the summary
    score is the p-value (NaN when the test cannot be done, which the note says) and the details
    the :class:`~cleanframe.NonIIDResult`."""
    graph = inputs.graph
    if graph is None:
        P = required(inputs.pred_probs, "pred_probs")
        graph = build_graph(P, k=inputs.k, progress=inputs.progress)
    scores, flags, p_value, statistic, note = non_iid_arrays(
        graph,
        num_permutations=num_permutations,
        seed=seed,
        significance_threshold=significance_threshold,
    )

    def sentence(i: int) -> str:
        return (
            f"non_iid: the row order is not random (p-value {p_value:.2g} < "
            f"{significance_threshold}); the positions of this row's neighbours in the row "
            f"order are the least like random ones (score {_g(scores[i])}, the lowest)"
        )

    return CheckResult(
        flags,
        scores,
        score=p_value,
        details=lambda rows: NonIIDResult.of(
            p_value, statistic, significance_threshold, rows, graph, note=note
        ),
        note=note,
        evidence={"score": scores},
        reasons=reasons(flags, sentence),
    )


@register("class_imbalance", needs=["labels"], tasks=["classification"])
def class_imbalance(
    inputs: AuditInputs, *, threshold: float = CLASS_IMBALANCE_THRESHOLD
) -> CheckResult:
    """:func:`cleanframe.class_imbalance`; the summary score is the rarest class's frequency
    (Datalab's)."""
    labels, classes = required(inputs.labels, "labels"), required(inputs.classes, "labels")
    r = _class_imbalance(labels, len(classes), threshold=threshold)
    present = int((np.bincount(labels, minlength=len(classes)) > 0).sum())
    name = classes.names[r["rarest_class"]]
    cut = threshold / present

    text = (
        f"class_imbalance: class {_class(name)} has {r['frequency']:.2%} of the rows, below "
        f"{threshold} / {present} classes = {cut:.2%}"
    )

    def sentence(i: int) -> str:
        return text

    return CheckResult(
        r["is_issue"],
        r["scores"],
        score=r["frequency"],
        evidence={
            "class_frequency": np.bincount(labels, minlength=len(classes))[labels] / len(labels)
        },
        reasons=reasons(r["is_issue"], sentence),
    )


@register(
    "underperforming_group",
    needs=[("classification", "groups"), ("classification", "graph")],
    default=False,
    tasks=["classification"],
)
def underperforming_group(
    inputs: AuditInputs,
    *,
    threshold: float = UNDERPERFORMING_GROUP_THRESHOLD,
    min_cluster_samples: int = MIN_CLUSTER_SAMPLES,
    eps: float = 0.5,
    min_samples: int = 5,
) -> CheckResult:
    """Datalab's underperforming group: clusters of the kNN graph (DBSCAN with ``eps``,
    ``min_samples`` on the graph as a sparse distance matrix) or the ``group=`` column; the rows
    of the cluster with the lowest mean self-confidence are flagged when it is below
    ``threshold`` x that of all clustered rows (see
    :mod:`cleanframe.scoring.neighbors.groups`). Score: the ratio of the row's cluster (1 when
    not below the mean); summary score: the worst ratio."""
    c = required(inputs.classification, "classification")
    n = len(c.labels)
    if inputs.groups is not None:
        ids = inputs.groups
        source = "group="
    else:
        graph = required(inputs.graph, "graph")
        on_graph = dbscan_clusters(graph.indices, graph.distances, eps=eps, min_samples=min_samples)
        ids = np.full(n, -1, dtype=np.int64)
        ids[inputs.frame_positions(np.arange(graph.n))] = on_graph
        source = f"DBSCAN(eps={eps}, min_samples={min_samples}) clusters of the kNN graph"
    r = underperforming_groups(
        ids, c.labels, c.pred_probs, threshold=threshold, min_cluster_samples=min_cluster_samples
    )
    perf = r["performance"]
    mean = r["mean_performance"]
    own = c.pred_probs[np.arange(n), c.labels].astype(np.float64)

    def sentence(i: int) -> str:
        g = int(ids[i])
        return (
            f"underperforming_group: in group {g} ({r['sizes'][g]:,} rows), whose mean "
            f"probability of the given label {_g(perf[g])} is {_g(perf[g] / mean)} of that of "
            f"all grouped rows ({_g(mean)}; flagged below {threshold})"
        )

    if not len(r["clusters"]):
        note = f"{source}: no group of at least {min_cluster_samples} rows, nothing to compare"
    else:
        note = (
            f"{source}: {len(r['clusters'])} group{'' if len(r['clusters']) == 1 else 's'} of at "
            f"least {min_cluster_samples} rows; "
            f"score = the lowest group's ratio to the mean ({r['score']:.3g}), flagged below "
            f"{threshold}"
        )
    return CheckResult(
        r["is_issue"],
        r["scores"],
        score=r["score"],
        note=note,
        details={"group": ids, "worst_group": r["worst_cluster"]},
        evidence={"group": ids, "self_confidence": own},
        reasons=reasons(r["is_issue"], sentence),
    )


@register("data_valuation", needs=[("labels", "graph")], default=False)
def data_valuation(
    inputs: AuditInputs, *, k: int | None = None, threshold: float = DATA_VALUATION_THRESHOLD
) -> CheckResult:
    """Datalab's data valuation: KNN-Shapley scores from the graph's first ``k`` neighbours
    (default all), flagged below ``threshold`` (see
    :mod:`cleanframe.scoring.neighbors.valuation`). In a regression audit the labels are the
    numeric target (neighbours "agree" when their targets are equal, as in Datalab)."""
    graph = required(inputs.graph, "graph")
    if inputs.regression is not None:
        labels = inputs.regression[0]
    else:
        labels = required(inputs.labels, "labels")
    if inputs.graph_rows is not None:
        labels = labels[inputs.graph_rows]
    use = graph.k if k is None else k
    r = knn_shapley(graph.indices, labels, k=use)
    scores = r["scores"]
    flags = scores < threshold

    def sentence(i: int) -> str:
        return (
            f"data_valuation: KNN-Shapley value {r['value'][i]:.2g} (score {scores[i]:.6g}, "
            f"flagged below {threshold}): it is among the {use} nearest neighbours of "
            f"{r['neighbour_of'][i]} rows, {r['same_label_of'][i]} of which share its label"
        )

    evidence = {
        "value": r["value"],
        "neighbour_of": r["neighbour_of"],
        "same_label_of": r["same_label_of"],
    }
    return CheckResult(flags, scores, evidence=evidence, reasons=reasons(flags, sentence))


@register("identifier_column", needs=["feature_columns"], default=False)
def identifier_column(inputs: AuditInputs) -> CheckResult:
    """Datalab's identifier column check: whether a feature column holds integers whose
    distinct values are consecutive (a row id, which a model should not learn from). No row is
    flagged; the summary score is 0 when such a column exists (1 otherwise), the note names
    them."""
    columns = required(inputs.feature_columns, "feature_columns")
    found = [name for name, values in columns.items() if is_identifier_column(values)]
    n = inputs.engine.height
    note = (
        f"identifier columns among the features: {found} (integers of consecutive values; "
        f"drop them from the features)"
        if found
        else "no feature column holds consecutive integers"
    )
    return CheckResult(
        np.zeros(n, dtype=bool),
        np.ones(n, dtype=np.float64),
        score=1.0 - float(bool(found)),
        note=note,
        details={"identifier_columns": found},
    )
