"""The result of :func:`cleanframe.audit`: rows, a per-check summary table, a readable report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._engines import to_pandas

__all__ = ["Audit"]

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
    """

    issues: Any
    summary: Any
    checks: list
    details: dict = field(default_factory=dict)

    def _headline(self, table) -> str:
        return f"Audit: {len(self.checks)} checks, {int(table['num_issues'].sum())} issues found"

    def __repr__(self) -> str:
        table = to_pandas(self.summary)
        return "\n".join([self._headline(table), table.to_string(index=False), f"({_SCORE_NOTE})"])

    def _repr_html_(self) -> str:
        table = to_pandas(self.summary)
        return (
            f"<div><h4>{self._headline(table)}</h4>{table.to_html(index=False)}"
            f"<p>{_SCORE_NOTE}</p></div>"
        )
