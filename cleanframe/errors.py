"""Exceptions raised by cleanframe.

Every problem with the caller's data is a :class:`ValidationError`, a subclass of
:class:`ValueError`, whose message names the column, the rule that failed and the first offending
rows (by index label). ``failure_cases`` keeps them as data, the way pandera's ``SchemaErrors`` do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["CleanframeError", "ValidationError"]

MAX_SHOWN = 5


class CleanframeError(Exception):
    """Base class of cleanframe's own errors."""


class ValidationError(CleanframeError, ValueError):
    """Bad input: names the column, the rule and the first offending rows.

    Attributes
    ----------
    column : str or None
        The column (or column spec) that failed.
    rule : str
        A short name of the rule, e.g. ``"not_null"`` or ``"row_sums_to_1"``.
    failure_cases : list of (row, value)
        The offending rows (index labels for pandas, row numbers for polars) and values.
    """

    def __init__(
        self,
        column: str | None,
        rule: str,
        message: str,
        failure_cases: Sequence[tuple[Any, Any]] | None = None,
        *,
        num_failures: int | None = None,
    ) -> None:
        self.column = column
        self.rule = rule
        self.failure_cases = list(failure_cases or [])
        self.num_failures = len(self.failure_cases) if num_failures is None else num_failures
        where = f"column {column!r}: " if column is not None else ""
        text = f"{where}{message} [rule: {rule}]"
        if self.failure_cases:
            shown = ", ".join(f"row {r!r}: {_short(v)}" for r, v in self.failure_cases[:MAX_SHOWN])
            more = self.num_failures - min(MAX_SHOWN, len(self.failure_cases))
            text += f"\n  offending rows ({self.num_failures} in all): {shown}"
            if more > 0:
                text += f", ... and {more} more"
        self.message = text
        super().__init__(text)

    def __reduce__(self):  # keep pickling (multiprocessing, joblib) working
        return (
            _rebuild,
            (self.column, self.rule, self.message, self.failure_cases, self.num_failures),
        )


def _rebuild(column, rule, message, failure_cases, num_failures):
    err = ValidationError.__new__(ValidationError)
    err.column, err.rule, err.failure_cases, err.num_failures = (
        column,
        rule,
        failure_cases,
        num_failures,
    )
    err.message = message
    Exception.__init__(err, message)
    return err


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
