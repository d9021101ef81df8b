"""Shared fixtures: one ``frame`` fixture runs a test on every frame type (narwhals' habit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

import cleanframe  # noqa: F401  (registers .cl)

FRAME_TYPES = ("pandas", "pandas_arrow", "polars", "polars_lazy")


def make_frame(kind: str, data: pd.DataFrame):
    """The same data as each frame type (pandas input is the reference)."""
    if kind == "pandas":
        return data.copy()
    if kind == "pandas_arrow":
        return data.convert_dtypes(dtype_backend="pyarrow")
    if kind == "polars":
        return pl.from_pandas(data)
    if kind == "polars_lazy":
        return pl.from_pandas(data).lazy()
    raise ValueError(kind)


@pytest.fixture(params=FRAME_TYPES)
def constructor(request):
    """``constructor(pandas_frame)`` → that data as the parametrised frame type."""
    kind = request.param

    def build(data: pd.DataFrame):
        return make_frame(kind, data)

    build.kind = kind
    return build


def to_pandas(result) -> pd.DataFrame:
    """Any result frame as pandas, for comparisons (pandas index kept)."""
    if isinstance(result, pl.LazyFrame):
        result = result.collect()
    if isinstance(result, pl.DataFrame):
        return result.to_pandas()
    return result


def synthetic(n=500, k=4, *, seed=0, noise=0.2, classes=None, dtype=np.float64):
    """Labels (codes) and Dirichlet pred_probs with some label noise, like a real model's."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    alpha = np.full(k, 0.3)
    p = rng.dirichlet(alpha, n)
    # make the model mostly right about the true class
    p[np.arange(n), true] += rng.uniform(0.5, 2.0, n)
    p /= p.sum(axis=1, keepdims=True)
    labels = true.copy()
    flip = rng.random(n) < noise
    labels[flip] = rng.integers(0, k, flip.sum())
    return labels, p.astype(dtype)


def label_frame(labels, pred_probs, class_names, *, label="y", prefix="p_") -> pd.DataFrame:
    """A pandas frame with a label column of class names and one pred_probs column per class."""
    data = {label: np.array(class_names, dtype=object)[labels]}
    data.update({f"{prefix}{c}": pred_probs[:, i] for i, c in enumerate(class_names)})
    return pd.DataFrame(data)
