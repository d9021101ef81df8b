"""The result of :func:`cleanframe.audit`: rows, a per-check summary table, a readable report."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from textwrap import fill
from typing import Any

import numpy as np

from .._engines import adapt, to_pandas
from ..scoring.neighbors.knn import RECALL_WARNING

__all__ = ["REASON_SEPARATOR", "Audit"]

#: What joins the reasons of the checks that flagged a row in ``issue_reason``.
REASON_SEPARATOR = " | "

_SCORE_NOTE = "score: lower = more severe; for non_iid it is the p-value"


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
    rows_with_issues : int
        Rows flagged by at least one check (``is_issue``); a row flagged by two checks counts
        once here and once per check in ``summary.num_issues``.
    notes : dict
        Per check, what its numbers mean when that is not obvious (e.g. the label check's
        ``find_label_issues`` arguments, and that its score counts an estimate). The report
        also says when the neighbour graph is approximate, with its estimated recall
        (:attr:`estimated_recall`), and when that is below 0.99.
    skipped : dict
        Checks whose inputs were given but that could not run on this frame, and why (e.g. a
        one-row frame has no neighbours, or a classification check in a regression audit).
    task : str
        ``"classification"`` or ``"regression"``.
    evidence : dict
        Per check, the per-row numbers it used (name -> array over the frame's rows); what
        :meth:`explain` shows and the ``issue_reason`` sentences are built from.
    columns : list
        The input frame's own columns (the report shows them beside the scores).
    label : str or None
        The ``label=`` column.
    """

    issues: Any
    summary: Any
    checks: list
    details: dict = field(default_factory=dict)
    rows_with_issues: int | None = None
    notes: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    task: str = "classification"
    evidence: dict = field(default_factory=dict)
    columns: list = field(default_factory=list)
    label: str | None = None

    def explain(self, row: int) -> Any:
        """Every check's evidence for one row (its position, 0-based), as a small table.

        One row per check that ran: ``check``, ``flagged``, ``score``, ``reason`` (the sentence
        of ``issue_reason``, null when the check did not flag the row) and ``evidence`` (the
        numbers the check used for this row, as text ``name=value``). The table is of the
        caller's frame type.

        Examples
        --------
        >>> import cleanframe
        >>> df = cleanframe.datasets.load_label_errors("20news")
        >>> report = cleanframe.audit(df, label="label", pred_probs="p_*", checks=["label"])
        >>> row = int(report.issues["is_label_issue"].to_numpy().argmax())
        >>> table = report.explain(row)
        >>> table["reason"][0].startswith('label: given "')
        True
        """
        fr = adapt(self.issues)
        n = fr.height
        if isinstance(row, bool) or not isinstance(row, (int, np.integer)) or not -n <= row < n:
            raise IndexError(f"row must be a position in 0..{n - 1}, got {row!r}")
        row = int(row) % n
        flagged, scores, why, evidence = [], [], [], []
        reasons = self._reasons(fr, row)
        for name in self.checks:
            flag = bool(fr.column(f"is_{name}_issue")[row])
            flagged.append(flag)
            scores.append(float(fr.column(f"{name}_score")[row]))
            why.append(reasons.get(name) if flag else None)
            numbers = self.evidence.get(name, {})
            evidence.append(
                ", ".join(f"{key}={_number(values[row])}" for key, values in numbers.items())
            )
        return fr.table(
            {
                "check": np.asarray(self.checks, dtype=object),
                "flagged": np.asarray(flagged, dtype=bool),
                "score": np.asarray(scores, dtype=np.float64),
                "reason": np.asarray(why, dtype=object),
                "evidence": np.asarray(evidence, dtype=object),
            }
        )

    def _reasons(self, fr, row: int) -> dict:
        text = fr.column("issue_reason")[row] if "issue_reason" in fr.columns else None
        out: dict = {}
        if not isinstance(text, str):
            return out
        for part in text.split(REASON_SEPARATOR):
            out[part.partition(":")[0]] = part
        return out

    def _headline(self, table) -> str:
        rows = self.rows_with_issues
        if rows is None:
            rows = int(to_pandas(self.issues)["is_issue"].sum())
        issues, checks = int(table["num_issues"].sum()), len(self.checks)
        return (
            f"Audit: {_count(rows, 'row')} with issues "
            f"({_count(issues, 'issue')} over {_count(checks, 'check')})"
        )

    @property
    def estimated_recall(self) -> float | None:
        """recall@k of the audit's neighbour graph against exact search: 1.0 for an exact
        search, a sample estimate for an approximate one (:attr:`KnnGraph.estimated_recall`);
        None when no graph was used."""
        graph = self.details.get("knn_graph")
        return None if graph is None else graph.estimated_recall

    def _graph_note(self) -> list[str]:
        graph = self.details.get("knn_graph")
        if graph is None or not graph.approximate:
            return []
        recall = graph.estimated_recall
        if recall is None:
            return [f"kNN graph: approximate, recall@{graph.k} unknown"]
        sample = 0 if graph.recall_check is None else len(graph.recall_check[0])
        note = (
            f"kNN graph: approximate search, estimated recall@{graph.k} {recall:.3f} (exact "
            f"search of {sample} sampled rows)"
        )
        if recall < RECALL_WARNING:
            note += (
                f"; below {RECALL_WARNING}: the neighbour checks may differ from an exact search "
                "(pass an exact graph: knn_graph(..., approximate=False))"
            )
        return [note]

    def _notes(self) -> list[str]:
        return (
            self._graph_note()
            + [f"{name}: {note}" for name, note in self.notes.items()]
            + [f"{name}: skipped, {why}" for name, why in self.skipped.items()]
        )

    def __repr__(self) -> str:
        table = to_pandas(self.summary)
        notes = [fill(note, 100, subsequent_indent="  ") for note in self._notes()]
        return "\n".join(
            [self._headline(table), table.to_string(index=False), f"({_SCORE_NOTE})", *notes]
        )

    def _repr_html_(self) -> str:
        table = to_pandas(self.summary)
        notes = "".join(f"<li>{escape(note)}</li>" for note in self._notes())
        return (
            f"<div><h4>{self._headline(table)}</h4>{table.to_html(index=False)}"
            f"<p>{_SCORE_NOTE}</p>{f'<ul>{notes}</ul>' if notes else ''}</div>"
        )


def _number(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
