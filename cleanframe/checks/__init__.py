"""All the checks the given columns allow, in one call (the counterpart of cleanlab's Datalab).

``find_issues`` returns the input's rows with, for each check that ran, ``is_<type>_issue`` and
``<type>_score`` (lower = worse), plus ``is_issue`` = any. ``audit`` returns the same frame inside
an :class:`Audit` with a per-check summary table and a readable report.

Which checks run (as Datalab decides from its inputs), in this order:

| check | needs |
|---|---|
| ``null`` | ``features`` as separate columns |
| ``label`` | ``label`` and ``pred_probs`` |
| ``outlier`` | ``features`` / ``knn_graph``, else ``label`` and ``pred_probs`` |
| ``near_duplicate`` | ``features`` / ``knn_graph`` |
| ``non_iid`` | ``features`` / ``knn_graph``, else ``pred_probs`` |
| ``class_imbalance`` | ``label`` (classification only) |

and, when ``checks=`` names them (Datalab does not run them by default either, except the
underperforming group):

| check | needs |
|---|---|
| ``underperforming_group`` | ``label``, ``pred_probs``, ``group=`` or ``features`` |
| ``data_valuation`` | ``label`` and ``features`` / ``knn_graph`` |
| ``identifier_column`` | ``features`` as separate columns |

With ``predictions=`` (a numeric ``label``'s out-of-sample predictions) the audit is a regression
audit: the label check scores the target as :func:`cleanframe.regression.find_label_issues`
does, and the classification-only checks (``class_imbalance``, ``underperforming_group``) do not
run (the report says so).

Every flagged row gets an ``issue_reason``: one sentence per check that flagged it, from the
numbers that check used (``Audit.explain(row)`` shows them all).

The inputs are resolved and validated once (labels with pred_probs, the features, one kNN graph
shared by every check that needs it); each check turns them into arrays, and the result columns
are attached once. The checks are a registry (:data:`CHECKS`, :mod:`cleanframe.checks.registry`):
a new check is one function registered with :func:`register` and the inputs it needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._engines import Engine, adapt
from .._inputs import resolve_classification, resolve_labels
from .._inputs.checks import (
    audit_task,
    check_keywords,
    check_parameters,
    check_requests,
    given_inputs,
    resolve_feature_columns,
    resolve_groups,
    select_checks,
    spec_columns,
    usable_inputs,
)
from .._inputs.columns import check_not_empty, check_result_columns
from .._inputs.features import resolve_checked_features
from .._inputs.models import resolve_regression_columns
from .._inputs.multilabel import is_multilabel, resolve_multilabel
from .._inputs.neighbors import (
    resolve_audit_embedding,
    resolve_knn_graph,
    resolve_pred_probs_embedding,
)
from .._typing import ColumnSpec, FrameT
from ..neighbors import build_graph
from ..scoring.neighbors.datalab_checks import missing_rows
from . import builtin  # registers the checks
from .registry import CHECKS, AuditInputs, Check, CheckResult, reasons, register, unregister
from .report import REASON_SEPARATOR, Audit

__all__ = [
    "CHECKS",
    "Audit",
    "AuditInputs",
    "Check",
    "CheckResult",
    "audit",
    "find_issues",
    "reasons",
    "register",
    "unregister",
]


def _resolve(
    fr: Engine,
    needs: set,
    *,
    label: Any,
    pred_probs: Any,
    features: Any,
    knn_graph: Any,
    classes: Sequence | None,
    k: int | None,
    progress: bool,
    label_kwargs: dict,
    standardize: bool = False,
    task: str = "classification",
    predictions: Any = None,
    group: Any = None,
) -> AuditInputs:
    """Resolve and validate, once, each input that a check to run needs; build the graph (of
    the rows without missing feature values)."""
    graph = graph_rows = values = X = c = labels = cs = P = groups = regression = None
    missing = None
    columns = None
    if "graph" in needs:
        if knn_graph is not None:
            graph = resolve_knn_graph(fr, knn_graph)
        else:
            values, complete, embedding = resolve_audit_embedding(
                fr, features, k=k, standardize=standardize
            )
            graph = build_graph(embedding, k=k, progress=progress)
            graph_rows = None if complete.all() else complete
            missing = ~complete
    if "features" in needs:  # the values, with NaN where missing
        if values is None:
            values, _, suspect = resolve_checked_features(fr, features, allow_missing=True)
            missing = missing_rows(values, suspect)
        X = values
    if "classification" in needs and task != "multilabel":
        c = resolve_classification(fr, label=label, pred_probs=pred_probs, classes=classes)
    elif "classification" in needs:  # a list column of tags: the label check reads it
        c = resolve_multilabel(fr, label=label, pred_probs=pred_probs, classes=classes)  # type: ignore[assignment]
    if "pred_probs" in needs:
        P = resolve_pred_probs_embedding(
            fr, pred_probs, k=k, resolved=c.pred_probs if c is not None else None
        )
    if "regression" in needs:
        regression = resolve_regression_columns(fr, label=label, predictions=predictions)
    if "labels" in needs and regression is None:
        labels, cs = resolve_labels(fr, label, classes=classes)
    if "groups" in needs:
        groups = resolve_groups(fr, group)[0]
    if "feature_columns" in needs:
        columns = resolve_feature_columns(fr, features)
    return AuditInputs(
        fr,
        c,
        labels,
        cs,
        P,
        X,
        graph,
        k,
        progress,
        label_kwargs,
        graph_rows,
        task=task,
        groups=groups,
        regression=regression,
        feature_columns=columns,
        missing=missing,
    )


def _on_every_row(result: CheckResult, rows: np.ndarray) -> CheckResult:
    """A graph check's result on the graph's ``rows`` spread over the frame: the other rows
    (with missing feature values) score 1 and are not flagged; the note says so."""
    flags = np.zeros(len(rows), dtype=bool)
    scores = np.ones(len(rows), dtype=np.float64)
    flags[rows] = np.asarray(result.flags, dtype=bool)
    scores[rows] = np.asarray(result.scores, dtype=np.float64)
    why = None
    if result.reasons is not None:
        why = np.full(len(rows), None, dtype=object)
        why[rows] = result.reasons
    evidence = None
    if result.evidence is not None:
        evidence = {}
        for name, values in result.evidence.items():
            values = np.asarray(values)
            if len(values) == len(rows):  # already on every row
                evidence[name] = values
                continue
            spread = np.full(len(rows), None if values.dtype.kind in "OUS" else np.nan)
            spread = spread.astype(object if values.dtype.kind in "OUS" else np.float64)
            spread[rows] = values
            evidence[name] = spread
    missing = len(rows) - int(rows.sum())
    note = (
        f"{missing:,} row{'' if missing == 1 else 's'} with missing feature values left out "
        f"(score 1, not flagged)"
    )
    return CheckResult(
        flags,
        scores,
        score=float(np.mean(result.scores)) if result.score is None else result.score,
        details=result.details,
        note=note if result.note is None else f"{note}; {result.note}",
        evidence=evidence,
        reasons=why,
    )


def audit(
    df: Any,
    *,
    label: str | None = None,
    pred_probs: ColumnSpec | None = None,
    features: ColumnSpec | None = None,
    knn_graph: Any = None,
    classes: Sequence | None = None,
    checks: Sequence[str] | Mapping[str, Mapping[str, Any] | None] | None = None,
    k: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    label_kwargs: Mapping[str, Any] | None = None,
    standardize: bool = False,
    predictions: str | None = None,
    group: str | None = None,
) -> Audit:
    """Run every check the given columns allow; see the module docstring for which.

    A check that the frame has too few rows for (a neighbour graph needs 2 rows, labels with
    pred_probs 2 classes) is skipped, and the report says why (``Audit.skipped``).

    Missing feature values (null or NaN) do not stop the audit, as in cleanlab's Datalab: the
    null check reports the rows that have them, and the neighbour checks (outlier,
    near_duplicate, non_iid) run on the other rows, with the rows that miss values given the
    neutral result (score 1, not flagged) and the report's notes saying how many. The kNN graph
    in ``Audit.details["knn_graph"]`` then holds only the rows without missing values.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    label, pred_probs, features, classes
        Column specs as everywhere in cleanframe.
    knn_graph : KnnGraph, optional
        A precomputed graph from :func:`cleanframe.knn_graph` on this frame.
    checks : sequence of str or dict, optional
        Run only these (a subset of :data:`CHECKS`; the default runs every default check the
        inputs allow); an impossible one is an error. A dict maps each check to run to its
        parameters, e.g. ``{"outlier": {"threshold": 0.2}, "data_valuation": {}}`` (each
        check's keyword-only parameters in :mod:`cleanframe.checks.builtin`; for ``label``,
        those of ``label_kwargs=``).
    k : int, optional
        Neighbours for the kNN checks (default 10).
    progress : bool
        Progress bars on long searches.
    overwrite : bool
        Replace existing result columns instead of raising.
    label_kwargs : dict, optional
        Arguments of :func:`cleanframe.find_label_issues` for the label check (``filter_by``,
        ``min_examples_per_class``, ``frac_noise``, ...). By default the label check flags
        the rows ``find_label_issues`` flags with its defaults; cleanlab's Datalab and
        ``CleanLearning`` use ``{"min_examples_per_class": 10}``. The report names them.
    standardize : bool
        Give every feature column mean 0 and standard deviation 1 before the neighbour search
        (see :func:`cleanframe.knn_graph`; for tabular columns in different units).
    predictions : str, optional
        A column of out-of-sample predictions of a numeric ``label``: a regression audit.
    group : str, optional
        A column of group ids for the ``underperforming_group`` check (instead of clusters of
        the kNN graph); null rows belong to no group.

    Returns
    -------
    Audit
        ``issues`` holds the input's rows plus, per check that ran, ``is_<check>_issue`` and
        ``<check>_score``, then ``is_issue`` and ``issue_reason`` (one sentence per check that
        flagged the row, joined by ``" | "``; null for rows no check flagged).

    Runs on pandas, polars and polars LazyFrame (collected once: the checks need every row);
    the input is not modified.

    Examples
    --------
    >>> import cleanframe
    >>> df = cleanframe.datasets.load_label_errors("20news")
    >>> report = cleanframe.audit(df, label="label", pred_probs="p_*")
    >>> report.checks
    ['label', 'outlier', 'non_iid', 'class_imbalance']
    >>> int(report.issues["is_label_issue"].sum())
    95
    """
    fr = adapt(df)
    task = audit_task(label=label, pred_probs=pred_probs, predictions=predictions)
    if task == "classification" and label is not None and is_multilabel(fr, label):
        task = "multilabel"
    label_params = list(
        builtin.REGRESSION_LABEL_KWARGS if task == "regression" else builtin.LABEL_KWARGS
    )
    label_options = check_keywords(label_kwargs, label_params, "label_kwargs")
    params = {name: check.params for name, check in CHECKS.items()}
    params["label"] = label_params
    requested, options = check_requests(checks, params)
    label_options.update(options.pop("label", {}))
    given = given_inputs(
        label=label,
        pred_probs=pred_probs,
        features=features,
        knn_graph=knn_graph,
        predictions=predictions,
        group=group,
    )
    check_not_empty(fr)
    usable, too_short = usable_inputs(given, fr.height)
    applies = {name for name, check in CHECKS.items() if task in check.tasks}
    chosen = {
        name: need
        for name, check in CHECKS.items()
        if name in applies and (need := check.choose(usable))
    }
    cannot = {  # given the inputs, but too few rows for them
        name: "; ".join(too_short[i] for i in sorted(need) if i in too_short)
        for name, check in CHECKS.items()
        if name in applies and name not in chosen and (need := check.choose(given))
    }
    if task == "multilabel" and "graph" not in chosen.get("outlier", {"graph"}):
        del chosen["outlier"]  # Datalab's multi-label outlier check needs features / a graph
        cannot["outlier"] = "a multi-label label needs features= or knn_graph= for it"
    not_applicable = {  # given the inputs, but not for this task
        name: f"it applies to {', '.join(sorted(check.tasks))} only, the task is {task}"
        for name, check in CHECKS.items()
        if name not in applies and check.choose(given)
    }
    defaults = [name for name, check in CHECKS.items() if check.default]
    selected = select_checks(requested, list(CHECKS), chosen, cannot, defaults, not_applicable)
    run = [name for name in selected if name in chosen]
    skipped = {name: cannot[name] for name in selected if name not in chosen}
    available = []  # not run by default, but the inputs allow them
    if requested is None:
        skipped.update({n: why for n, why in not_applicable.items() if n in defaults})
        available = [n for n in chosen if n not in defaults]
    names = [column for name in run for column in CHECKS[name].columns]
    names += ["is_issue", "issue_reason"]
    check_result_columns(fr, names, overwrite=overwrite)
    inputs = _resolve(
        fr,
        set().union(*(chosen[name] for name in run)),
        label=label,
        pred_probs=pred_probs,
        features=features,
        knn_graph=knn_graph,
        classes=classes,
        k=k,
        progress=progress,
        label_kwargs=label_options,
        standardize=standardize,
        task=task,
        predictions=predictions,
        group=group,
    )
    graph_k = inputs.graph.k if inputs.graph is not None else None
    for name in run:
        check_parameters(name, options.get(name, {}), graph_k=graph_k)
    results = {name: CHECKS[name].run(inputs, **options.get(name, {})) for name in run}
    if inputs.graph_rows is not None:  # graph checks ran on the rows without missing values
        for name in run:
            if "graph" in chosen[name]:
                results[name] = _on_every_row(results[name], inputs.graph_rows)

    new: dict = {}
    for name, result in results.items():
        flag_column, score_column = CHECKS[name].columns
        new[flag_column] = np.asarray(result.flags, dtype=bool)
        new[score_column] = np.asarray(result.scores, dtype=np.float64)
    flags = [new[CHECKS[name].columns[0]] for name in run]
    new["is_issue"] = np.logical_or.reduce(flags) if flags else np.zeros(fr.height, dtype=bool)
    new["issue_reason"] = _issue_reasons(results, fr.height)
    issues = fr.attach(new, overwrite=overwrite)
    summary = fr.table(
        {
            "issue_type": np.asarray(run, dtype=object),
            "num_issues": np.asarray(
                [int(new[CHECKS[name].columns[0]].sum()) for name in run], dtype=np.int64
            ),
            "score": np.asarray(
                [
                    float(np.mean(new[CHECKS[name].columns[1]]) if r.score is None else r.score)
                    for name, r in results.items()
                ],
                dtype=np.float64,
            ),
        }
    )
    notes = {name: r.note for name, r in results.items() if r.note is not None}
    details = {
        name: r.details(issues) if callable(r.details) else r.details
        for name, r in results.items()
        if r.details is not None
    }
    if inputs.graph is not None:
        details["knn_graph"] = inputs.graph
    evidence = {name: dict(r.evidence) for name, r in results.items() if r.evidence is not None}
    return Audit(
        issues=issues,
        summary=summary,
        checks=run,
        details=details,
        rows_with_issues=int(new["is_issue"].sum()),
        notes=notes,
        skipped=skipped,
        task=task,
        available=available,
        evidence=evidence,
        columns=list(fr.columns),
        label=label,
        input_columns=spec_columns(
            fr, features=features, pred_probs=pred_probs, predictions=predictions
        ),
    )


def _issue_reasons(results: Mapping[str, CheckResult], n: int) -> np.ndarray:
    """Per row, the reasons of the checks that flagged it, in check order, joined by " | " (None
    for rows no check flagged). A flagged row of a check without reasons gets its name."""
    out = np.full(n, None, dtype=object)
    for name, r in results.items():
        positions = np.flatnonzero(np.asarray(r.flags, dtype=bool))
        whys = (
            [None] * len(positions)
            if r.reasons is None
            else np.asarray(r.reasons, dtype=object)[positions].tolist()
        )
        for position, why, before in zip(positions.tolist(), whys, out[positions].tolist()):
            text = why if why else f"{name}: flagged"
            out[position] = text if before is None else f"{before}{REASON_SEPARATOR}{text}"
    return out


def find_issues(df: FrameT, **kwargs: Any) -> FrameT:
    """The rows of :func:`audit` (same arguments): ``is_<check>_issue``, ``<check>_score`` for
    each check that the given columns allow, and ``is_issue`` = any. Does not modify ``df``.

    Examples
    --------
    >>> import cleanframe
    >>> df = cleanframe.datasets.load_label_errors("mnist")
    >>> out = df.cl.find_issues(label="label", pred_probs="p_*")
    >>> [c for c in out.columns if c.startswith("is_")]  # doctest: +NORMALIZE_WHITESPACE
    ['is_label_issue', 'is_outlier_issue', 'is_non_iid_issue',
     'is_class_imbalance_issue', 'is_issue']
    """
    return audit(df, **kwargs).issues
