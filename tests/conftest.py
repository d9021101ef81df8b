"""Shared fixtures and helpers.

Every frame-level test takes the ``constructor`` fixture, which runs it once per frame type
(pandas, pandas with Arrow dtypes, polars, polars lazy) the way narwhals' ``constructor`` does:
the test builds its data as a pandas frame (the reference) and calls ``constructor(data)`` to get
the same data as the frame type under test. ``constructor_indexed`` and ``constructor_polars``
are the subsets for features only some frame types have (an index; polars ``Enum`` labels).
Parity tests that compare frame types inside one test loop over ``FRAME_TYPES`` with
``make_frame``. Adding a frame type (Dask) is one entry in ``FRAME_TYPES`` and one branch in
``make_frame``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import cleanframe  # noqa: F401  (registers .cl)

FRAME_TYPES = ("pandas", "pandas_arrow", "polars", "polars_lazy")
#: The frame types whose rows carry an index (row labels in results and error messages).
INDEXED_FRAME_TYPES = tuple(k for k in FRAME_TYPES if k.startswith("pandas"))
POLARS_FRAME_TYPES = tuple(k for k in FRAME_TYPES if k.startswith("polars"))


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
    if kind == "dask":
        import dask.dataframe as dd

        return dd.from_pandas(data, npartitions=3, sort=False)
    raise ValueError(kind)


def _constructor(kind: str):
    def build(data: pd.DataFrame):
        return make_frame(kind, data)

    build.kind = kind  # type: ignore[attr-defined]
    return build


@pytest.fixture(params=FRAME_TYPES)
def constructor(request):
    """``constructor(pandas_frame)`` → that data as the parametrised frame type
    (``constructor.kind`` names it)."""
    return _constructor(request.param)


@pytest.fixture(params=INDEXED_FRAME_TYPES)
def constructor_indexed(request):
    """``constructor`` restricted to the frame types that have an index."""
    return _constructor(request.param)


@pytest.fixture(params=POLARS_FRAME_TYPES)
def constructor_polars(request):
    """``constructor`` restricted to polars (eager and lazy), for polars-only dtypes."""
    return _constructor(request.param)


@pytest.fixture(params=(*FRAME_TYPES, "dask"))
def constructor_with_dask(request):
    """``constructor`` plus a Dask DataFrame (3 partitions, synchronous scheduler): opt-in, for
    the calls that run on Dask (find_label_issues, label_quality_scores, num_label_issues,
    health_summary)."""
    if request.param != "dask":
        yield _constructor(request.param)
        return
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="synchronous"):
        yield _constructor(request.param)


def collect(frame):
    """A LazyFrame collected, a Dask frame computed; any other frame as it is."""
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if type(frame).__module__.startswith("dask."):
        return frame.compute()
    return frame


def to_pandas(result) -> pd.DataFrame:
    """Any result frame as pandas, for comparisons (pandas index kept)."""
    result = collect(result)
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


# Hypothesis profiles. "ci" (chosen when CI=true): the same examples on every run, no example
# database, no deadline, so a CI run is reproducible. "default" (local runs): fresh random
# examples each run, failures kept in .hypothesis/ and replayed first. "fuzz" (`make fuzz`,
# HYPOTHESIS_PROFILE=fuzz): random, with FUZZ_FACTOR times the examples of tests that size
# themselves with examples(), to search for new counterexamples. HYPOTHESIS_PROFILE overrides.
# Each profile says all it needs: hypothesis itself loads its own "ci" profile when it sees CI.
FUZZ_FACTOR = 25
_BUILTIN = settings.get_profile("default")
settings.register_profile(
    "ci",
    _BUILTIN,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("default", _BUILTIN, derandomize=False, deadline=None)
settings.register_profile(
    "fuzz", _BUILTIN, derandomize=False, deadline=None, max_examples=100 * FUZZ_FACTOR
)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or (
    "ci" if os.environ.get("CI", "").lower() not in ("", "0", "false") else "default"
)
settings.load_profile(HYPOTHESIS_PROFILE)


def examples(n: int) -> int:
    """``max_examples`` for a property test: ``n``, or ``FUZZ_FACTOR * n`` under ``fuzz``."""
    return n * FUZZ_FACTOR if HYPOTHESIS_PROFILE == "fuzz" else n


#: Property tests: reproducible (random only under the fuzz profile), and allowed to take
#: ``constructor`` (which holds no state, so sharing it across a test's examples is safe).
HYPOTHESIS_SETTINGS = settings(
    max_examples=examples(50),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=HYPOTHESIS_PROFILE != "fuzz",
)


@st.composite
def problems(draw, min_n=12, max_n=160):
    """(labels as codes, pred_probs N×K): a noisy model's continuous probabilities."""
    k = draw(st.integers(2, 5))
    n = draw(st.integers(max(min_n, 2 * k), max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    concentration = draw(st.sampled_from([0.2, 1.0, 5.0]))
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    p = rng.dirichlet(np.full(k, concentration), n)
    p[np.arange(n), true] += rng.uniform(0.0, 2.0, n)
    p /= p.sum(axis=1, keepdims=True)
    noise = draw(st.sampled_from([0.0, 0.1, 0.4]))
    labels = np.where(rng.random(n) < noise, rng.integers(0, k, n), true)
    labels[:k] = np.arange(k)  # every class occurs
    return labels, p
