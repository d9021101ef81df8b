"""Model inputs that are not frames: numpy arrays, scipy.sparse matrices and array-likes.

A scikit-learn model takes its features ``X`` as a frame or as an array. Frames go through their
engine (:func:`cleanframe._engines.adapt`); anything else is wrapped here in :class:`ArrayRows`,
which speaks the part of the engine vocabulary that the models use: ``native``, ``height``,
``width``, ``columns``, ``take``, ``row_labels``, ``row_table`` and ``eager``.
:func:`cleanframe._engines.adapt_rows` picks one or the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ArrayRows"]


class ArrayRows:
    """Rows of a numpy array, a scipy.sparse matrix (as CSR or CSC, which can take rows) or an
    array-like (as a numpy array). Row labels are positions; result tables are pandas frames
    with a ``RangeIndex``."""

    #: Arrays have no column names.
    columns: list[str] | None = None

    def __init__(self, X: Any):
        from scipy.sparse import issparse

        if issparse(X):
            if X.format not in ("csr", "csc"):
                X = X.tocsr()  # taking rows needs CSR or CSC
        elif not hasattr(X, "shape"):
            X = np.asarray(X)
        self.native = X

    @property
    def height(self) -> int:
        return int(self.native.shape[0])

    @property
    def width(self) -> int | None:
        """The number of features of a 2-D array, else ``None``."""
        shape = self.native.shape
        return int(shape[1]) if len(shape) == 2 else None

    def eager(self) -> ArrayRows:
        return self

    def take(self, positions: np.ndarray) -> Any:
        """The rows at ``positions`` (in that order), in the array's own type."""
        return self.native[np.asarray(positions, dtype=np.int64)]

    def row_labels(self, positions) -> list:
        return [int(p) for p in np.asarray(positions).ravel()]

    def row_table(self, columns: dict) -> Any:
        """A pandas DataFrame of ``columns`` (one value per row), with a ``RangeIndex``."""
        from .pandas import from_columns

        return from_columns(columns)
