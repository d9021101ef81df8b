"""pandera schemas generated from a column spec, used to report what failed.

The numpy gate in :mod:`cleanframe._specs` decides *whether* the input is valid; when it is not,
the schema built here for the same columns produces the report (column, check, offending rows),
one schema per engine (``pandera.pandas`` for pandas, ``pandera.polars`` for polars).
pandera is imported only on this error path.
"""

from __future__ import annotations

from typing import Sequence


def probability_schema(kind: str, columns: Sequence[str], tolerance: float):
    """A pandera schema: every column non-null, finite, within [-tol, 1 + tol]."""
    if kind == "pandas":
        import pandera.pandas as pa
    else:
        import pandera.polars as pa
    check = pa.Check.in_range(-tolerance, 1 + tolerance)
    return pa.DataFrameSchema(
        {c: pa.Column(checks=[check], nullable=False, coerce=False) for c in columns},
        strict=False,
    )


def pandera_failure_report(fr, columns: Sequence[str], rule: str):
    """``(first failing column, [(row, value), ...], number of failures)`` or ``None``."""
    from ._specs import PROBABILITY_TOLERANCE

    try:
        schema = probability_schema(fr.kind, columns, PROBABILITY_TOLERANCE)
        if fr.kind == "pandas":
            import pandera.pandas as pa

            data = fr.native[list(columns)]
        else:
            import pandera.polars as pa

            data = fr._data(list(columns)).select(list(columns))
    except ImportError:  # pragma: no cover - pandera is a core dependency
        return None
    try:
        schema.validate(data, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        if fr.kind != "pandas":
            cases = cases.to_pandas()
        cases = cases[cases["column"].isin(list(columns))]
        if not len(cases):
            return None
        first = cases["column"].iloc[0]
        mine = cases[cases["column"] == first]
        positions = mine["index"].tolist()
        values = mine["failure_case"].tolist()[:5]
        if fr.kind != "pandas":  # pandera.polars reports values as strings: read the real ones
            values = data.get_column(first).gather([int(p) for p in positions[:5]]).to_list()
        # pandera reports index labels for pandas and row numbers for polars, as we do
        return first, list(zip(positions[:5], values)), len(mine)
    return None
