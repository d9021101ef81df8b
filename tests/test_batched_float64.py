"""Float64 probabilities on the batched paths: a LazyFrame streamed batch by batch and a Dask
DataFrame by partitions flag and score the same rows as the in-memory call, row for row, for
every ``filter_by``.

The probabilities lie on a 0.01 grid, each value moved by less than 1e-12 (away from 0 and 1, so
the columns pass the gate as they are and reach the candidate scan as float64 columns): the
pairs' keys (probability differences) tie in float32 where float64 orders them, and the
per-pair cut-offs fall inside such runs within a batch. Ordering the appended candidates by their
keys rounded to float32 (the code before commit 7b135c9) flags other rows than in memory here:
the ``prune_by_noise_rate`` and ``both`` cases fail on it, streamed and on Dask."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cleanframe  # noqa: F401  (registers .cl)

from .conftest import synthetic
from .test_streaming import FILTERS

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")

pytestmark = pytest.mark.xdist_group("dask")

N, K = 4000, 6
#: Parquet file and Dask partition boundaries: batches of 1000 and 1500 rows, and an empty one.
CUTS = [0, 1000, 1000, 2500, N]


def float64_frame() -> pl.DataFrame:
    """Labels and float64 probabilities on a 0.01 grid moved by less than 1e-12."""
    labels, p = synthetic(N, K, seed=8, dtype=np.float64)
    p = np.round(p, 2)
    p[np.arange(N), p.argmax(1)] += 1 - p.sum(1)  # rows sum to 1 on the grid
    p = np.round(p, 2)
    jitter = np.random.default_rng(8).uniform(0, 1e-12, p.shape)
    p += np.where(p < 0.5, jitter, -jitter)
    return pl.DataFrame({"y": [f"c{v}" for v in labels], **{f"p_c{j}": p[:, j] for j in range(K)}})


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    df = float64_frame()
    p = df.select(pl.col("^p_.*$")).to_numpy()
    assert p.dtype == np.float64 and p.min() > 0 and p.max() < 1
    # keys that only float64 tells apart
    margins = (p[:, 1:] - p[:, :1]).ravel()
    assert len(np.unique(margins)) > 10 * len(np.unique(margins.astype(np.float32)))
    return df


@pytest.fixture(scope="module")
def parquet_dir(frame, tmp_path_factory):
    root = tmp_path_factory.mktemp("float64")
    for i, (a, b) in enumerate(zip(CUTS[:-1], CUTS[1:])):
        frame.slice(a, b - a).write_parquet(root / f"part-{i:02d}.parquet")
    return root


@pytest.fixture(scope="module")
def dask_frame(frame):
    df = frame.to_pandas()
    parts = [df.iloc[a:b] for a, b in zip(CUTS[:-1], CUTS[1:])]
    return df, dd.from_delayed(
        [dask.delayed(p) for p in parts], meta=df.iloc[:0], verify_meta=False
    )


@pytest.mark.parametrize("filter_by", FILTERS)
def test_streamed_float64_equals_in_memory(frame, parquet_dir, filter_by):
    expected = frame.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
    scan = pl.scan_parquet(parquet_dir / "*.parquet")
    assert scan.collect_schema()["p_c0"] == pl.Float64
    got = scan.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
    assert_frame_equal(got.collect(engine="streaming"), expected)
    assert expected["is_issue"].sum() > 0


@pytest.mark.parametrize("filter_by", FILTERS)
def test_dask_float64_equals_in_memory(dask_frame, filter_by):
    df, ddf = dask_frame
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
    with dask.config.set(scheduler="synchronous"):
        got = ddf.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
        assert ddf.npartitions == len(CUTS) - 1
        pd.testing.assert_frame_equal(got.compute(), expected)
