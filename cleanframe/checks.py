"""All the checks the given columns allow, in one call (the counterpart of cleanlab's Datalab).

``find_issues`` returns the input's rows with, for each check that ran, ``is_<type>_issue`` and
``<type>_score`` (lower = worse), plus ``is_issue`` = any. ``audit`` returns the same frame inside
an :class:`Audit` with a per-check summary table and a readable report.

Which checks run (as Datalab decides from its inputs):

| check | needs |
|---|---|
| ``label`` | ``label`` and ``pred_probs`` |
| ``outlier`` | ``features`` / ``knn_graph``, else ``pred_probs`` (with ``label``) |
| ``near_duplicate`` | ``features`` / ``knn_graph`` |
| ``non_iid`` | ``features`` / ``knn_graph``, else ``pred_probs`` |
| ``class_imbalance`` | ``label`` |
| ``null`` | ``features`` as separate columns |

One kNN graph is built from ``features`` and shared by every check that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ._engines import adapt
from ._typing import FrameT
from .errors import ValidationError

__all__ = ["CHECKS", "Audit", "audit", "find_issues"]

CHECKS = ("null", "label", "outlier", "near_duplicate", "non_iid", "class_imbalance")


@dataclass
class Audit:
    """Result of :func:`audit`.

    Attributes
    ----------
    issues : frame (the caller's type)
        The input's rows plus ``is_<check>_issue`` / ``<check>_score`` per check and ``is_issue``.
    summary : frame
        One row per check: ``issue_type``, ``num_issues``, ``score`` (dataset-level, lower =
        worse: the mean row score, the label health score, or the non-IID p-value).
    checks : list of str
        The checks that ran, in order.
    details : dict
        Per-check extras (e.g. ``details["non_iid"]`` is the :class:`NonIIDResult`).
    """

    issues: Any
    summary: Any
    checks: list
    details: dict = field(default_factory=dict)

    def _summary_pandas(self):
        table = self.summary
        if hasattr(table, "collect"):
            table = table.collect()
        return table if hasattr(table, "iloc") else table.to_pandas()

    def __repr__(self) -> str:
        table = self._summary_pandas()
        total = int(table["num_issues"].sum())
        lines = [f"Audit: {len(self.checks)} checks, {total} issues found"]
        lines.append(table.to_string(index=False))
        lines.append("(score: lower = more severe; for non_iid it is the p-value)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        table = self._summary_pandas()
        return (
            f"<div><h4>Audit: {len(self.checks)} checks, {int(table['num_issues'].sum())} issues "
            f"found</h4>{table.to_html(index=False)}<p>score: lower = more severe; for non_iid it "
            f"is the p-value</p></div>"
        )


def _columns(result, names):
    fr = adapt(result)
    return [fr.column(n) for n in names]


def audit(
    df,
    *,
    label: str | None = None,
    pred_probs: Any = None,
    features: Any = None,
    knn_graph: Any = None,
    classes: Sequence | None = None,
    checks: Sequence[str] | None = None,
    k: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Audit:
    """Run every check the given columns allow; see the module docstring for which.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    label, pred_probs, features, classes
        Column specs as everywhere in cleanframe.
    knn_graph : KnnGraph, optional
        A precomputed graph from :func:`cleanframe.knn_graph` on this frame.
    checks : sequence of str, optional
        Run only these (a subset of :data:`CHECKS`); an impossible one is an error.
    k : int, optional
        Neighbours for the kNN checks (default 10).
    progress : bool
        Progress bars on long searches.
    overwrite : bool
        Replace existing result columns instead of raising.

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
    from . import neighbors
    from ._inputs import resolve_classification
    from .scoring.classification import dataset as _dataset
    from .scoring.classification import filter as _filter
    from .scoring.classification import rank as _rank

    fr = adapt(df)
    has_features = features is not None or knn_graph is not None
    possible = {
        "null": features is not None,
        "label": label is not None and pred_probs is not None,
        "outlier": has_features or pred_probs is not None,
        "near_duplicate": has_features,
        "non_iid": has_features or pred_probs is not None,
        "class_imbalance": label is not None,
    }
    if checks is None:
        run = [c for c in CHECKS if possible[c]]
    else:
        unknown = [c for c in checks if c not in CHECKS]
        if unknown:
            raise ValidationError(None, "checks", f"unknown checks {unknown}; choose from {list(CHECKS)}")
        missing = [c for c in checks if not possible[c]]
        if missing:
            raise ValidationError(None, "checks", f"checks {missing} need columns that were not given")
        run = [c for c in CHECKS if c in checks]
    if not run:
        raise ValidationError(None, "checks", "no check can run: pass label=, pred_probs= and/or features=")
    if "null" in run and isinstance(features, str) and not any(ch in features for ch in "*?["):
        run.remove("null")  # one array column: a null array is rejected by the feature check itself
    names = [n for c in run for n in (f"is_{c}_issue", f"{c}_score")] + ["is_issue"]
    fr.check_new_columns(names, overwrite=overwrite)

    graph = knn_graph
    if has_features and graph is None and {"outlier", "near_duplicate", "non_iid"} & set(run):
        graph = neighbors.knn_graph(df, features=features, k=k, progress=progress)
    n = fr.height
    new: dict = {}
    summary = {"issue_type": [], "num_issues": [], "score": []}
    details: dict = {}

    def record(check, flags, scores, dataset_score=None):
        flags = np.asarray(flags, dtype=bool)
        scores = np.asarray(scores, dtype=np.float64)
        new[f"is_{check}_issue"] = flags
        new[f"{check}_score"] = scores
        summary["issue_type"].append(check)
        summary["num_issues"].append(int(flags.sum()))
        summary["score"].append(float(np.mean(scores)) if dataset_score is None else float(dataset_score))

    for check in run:
        if check == "null":
            out = neighbors.find_null_issues(df, features=features, overwrite=True)
            scores, flags = _columns(out, ["null_score", "is_null_issue"])
            record(check, flags, scores)
        elif check == "label":
            # one resolution and validation of the columns for the flags, scores and health
            c = resolve_classification(fr, label=label, pred_probs=pred_probs, classes=classes)
            flags = _filter.find_label_issues(c.labels, c.pred_probs, min_examples_per_class=10)
            scores = _rank.get_label_quality_scores(c.labels, c.pred_probs)
            health = _dataset.overall_label_health_score(c.labels, c.pred_probs)
            record(check, flags, scores, health)
        elif check == "outlier":
            kw = dict(knn_graph=graph) if graph is not None else dict(pred_probs=pred_probs, label=label, classes=classes)
            out = neighbors.find_outliers(df, overwrite=True, progress=progress, **kw)
            scores, flags = _columns(out, ["outlier_score", "is_outlier"])
            record(check, flags, scores)
        elif check == "near_duplicate":
            out = neighbors.find_near_duplicates(df, knn_graph=graph, overwrite=True, progress=progress)
            scores, flags = _columns(out, ["near_duplicate_score", "is_near_duplicate"])
            record(check, flags, scores)
        elif check == "non_iid":
            kw = dict(knn_graph=graph) if graph is not None else dict(pred_probs=pred_probs)
            result = neighbors.non_iid(df, overwrite=True, progress=progress, **kw)
            scores, flags = _columns(result.rows, ["non_iid_score", "is_non_iid_issue"])
            record(check, flags, scores, result.p_value)
            details["non_iid"] = result
        elif check == "class_imbalance":
            out = neighbors.class_imbalance(df, label=label, classes=classes, overwrite=True)
            scores, flags = _columns(out, ["class_imbalance_score", "is_class_imbalance_issue"])
            record(check, flags, scores)
    any_issue = np.zeros(n, dtype=bool)
    for check in run:
        any_issue |= new[f"is_{check}_issue"]
    new["is_issue"] = any_issue
    if graph is not None:
        details["knn_graph"] = graph
    return Audit(
        issues=fr.attach(new, overwrite=overwrite),
        summary=fr.table({k_: np.asarray(v) for k_, v in summary.items()}),
        checks=run,
        details=details,
    )


def find_issues(df: FrameT, **kwargs: Any) -> FrameT:
    """The rows of :func:`audit` (same arguments): ``is_<check>_issue``, ``<check>_score`` for
    each check that the given columns allow, and ``is_issue`` = any. Does not modify ``df``.

    Examples
    --------
    >>> import cleanframe
    >>> df = cleanframe.datasets.load_label_errors("mnist")
    >>> out = df.cl.find_issues(label="label", pred_probs="p_*")
    >>> [c for c in out.columns if c.startswith("is_")]
    ['is_label_issue', 'is_outlier_issue', 'is_non_iid_issue', 'is_class_imbalance_issue', 'is_issue']
    """
    return audit(df, **kwargs).issues
