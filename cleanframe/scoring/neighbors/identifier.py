"""Identifier columns: integer feature columns whose distinct values are consecutive integers
(numpy only).

As cleanlab's Datalab (whose check is not run by default there): a column is an identifier
column when its dtype is an integer and its distinct values, sorted, are ``c, c+1, ..., c+m``
for some ``c`` and ``m >= 1``. The rule does not ask that every row has its own value, so a 0/1
integer column counts too (Datalab's rule, kept for parity; the report names the columns).
"""

from __future__ import annotations

import numpy as np

__all__ = ["is_identifier_column"]


def is_identifier_column(values: np.ndarray) -> bool:
    """Whether one column's values make it an identifier column.

    Examples
    --------
    >>> is_identifier_column(np.array([3, 1, 2, 4])), is_identifier_column(np.array([1, 3]))
    (True, False)
    >>> is_identifier_column(np.array([1.0, 2.0])), is_identifier_column(np.array([5, 5]))
    (False, False)
    """
    values = np.asarray(values)
    if values.size == 0 or not np.issubdtype(values.dtype, np.integer):
        return False
    distinct = np.unique(values)
    span = int(distinct[-1]) - int(distinct[0]) + 1
    return span > 1 and distinct.size == span
