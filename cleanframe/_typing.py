"""Type helpers shared by the public functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import polars as pl

#: The caller's frame type: every row-level function returns the type it was given.
FrameT = TypeVar("FrameT", "pd.DataFrame", "pl.DataFrame", "pl.LazyFrame")

#: A column spec (DESIGN.md "Column specs"): a list of column names in class order, a glob such
#: as ``"p_*"``, a dict ``{class: column}``, or the name of one column holding an array per row.
ColumnSpec = str | Sequence[str] | Mapping[Any, str]
