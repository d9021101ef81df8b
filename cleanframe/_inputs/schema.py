"""pandera schemas generated from the column specs: the user-facing input contract.

The numpy gate (:mod:`cleanframe._inputs.probabilities`) decides *whether* large inputs are
valid; when they are not, the schema built here for the same columns produces the report
(column, check, offending rows). One schema per engine flavour (``pandera.pandas`` for pandas,
``pandera.polars`` for polars), chosen by the engine's ``pandera_backend``; the engine runs it on
its own data. pandera is imported only when a schema is built.
"""

from __future__ import annotations

from typing import Sequence

from .._engines import Engine
from .rules import PROBABILITY_TOLERANCE

__all__ = ["probability_schema", "pandera_failure_report"]


def _pandera(backend: str):
    if backend == "pandas":
        import pandera.pandas as pa
    else:
        import pandera.polars as pa
    return pa


def probability_schema(backend: str, columns: Sequence[str], tolerance: float = PROBABILITY_TOLERANCE):
    """A pandera schema: every column non-null, finite, within [-tol, 1 + tol]."""
    pa = _pandera(backend)
    check = pa.Check.in_range(-tolerance, 1 + tolerance)
    return pa.DataFrameSchema(
        {c: pa.Column(checks=[check], nullable=False, coerce=False) for c in columns},
        strict=False,
    )


def pandera_failure_report(fr: Engine, columns: Sequence[str], rule: str):
    """``(first failing column, [(row, value), ...], number of failures)`` or ``None``."""
    try:
        schema = probability_schema(fr.pandera_backend, columns)
    except ImportError:  # pragma: no cover - pandera is a core dependency
        return None
    cases = fr.pandera_failures(schema, columns)
    if not cases:
        return None
    first = cases[0][0]
    mine = [(row, value) for column, row, value in cases if column == first]
    return first, mine[:5], len(mine)
