"""Type helpers shared by the public functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import polars as pl

#: The caller's frame type: every row-level function returns the type it was given.
FrameT = TypeVar("FrameT", "pd.DataFrame", "pl.DataFrame", "pl.LazyFrame")
