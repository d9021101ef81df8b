"""Label issues on a Dask DataFrame: partitions run the pandas engine, statistics merge through
``dask.delayed``, and results equal the in-memory call on the same rows (every filter_by rule,
scores, counts, health summary), with more partitions than classes, empty partitions, a class
absent from most partitions and ties across partition boundaries; on the synchronous scheduler
and on a real two-process ``LocalCluster``. ``.cl`` is registered in either import order, and
``import cleanframe`` does not import dask."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import cleanframe  # noqa: E402
from cleanframe import ValidationError  # noqa: E402

from .conftest import collect  # noqa: E402
from .test_streaming import FILTERS, K, hard_frame  # noqa: E402

pytestmark = pytest.mark.xdist_group("dask")

#: Partition boundaries: 14 partitions (more than K), two of them empty, cuts inside tie runs.
CUTS = [0, 97, 150, 180, 180, 420, 700, 905, 905, 1200, 1333, 1530, 1800, 2100, 2400]


def pandas_frame() -> pd.DataFrame:
    df = hard_frame().to_pandas()
    df.index = pd.RangeIndex(1000, 1000 + len(df))  # index labels differ from positions
    return df


def dask_frame(df: pd.DataFrame):
    parts = [df.iloc[a:b] for a, b in zip(CUTS[:-1], CUTS[1:])]
    return dd.from_delayed([dask.delayed(p) for p in parts], meta=df.iloc[:0], verify_meta=False)


@pytest.fixture(scope="module")
def frames():
    df = pandas_frame()
    ddf = dask_frame(df)
    return df, ddf


@pytest.fixture
def sync():
    with dask.config.set(scheduler="synchronous"):
        yield


def test_partitions_cover_the_cases(frames, sync):
    _, ddf = frames
    sizes = ddf.map_partitions(len).compute().tolist()
    assert len(sizes) > K and sizes.count(0) == 2
    present = ddf.map_partitions(lambda p: f"c{K - 1}" in set(p["y"])).compute().tolist()
    assert present.count(False) > K


@pytest.mark.parametrize("filter_by", FILTERS)
def test_find_label_issues_on_dask_equals_in_memory(frames, sync, filter_by):
    df, ddf = frames
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
    out = ddf.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
    assert isinstance(out, dd.DataFrame)
    pd.testing.assert_frame_equal(out.compute(), expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frac_noise": 0.5, "rank_by": "normalized_margin"},
        {"num_to_remove_per_class": {"c0": 3, "c2": 5}},
        {"filter_by": "both", "rank_by_kwargs": {"adjust_pred_probs": True}},
    ],
)
def test_find_label_issues_options_on_dask(frames, sync, kwargs):
    df, ddf = frames
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", **kwargs)
    got = ddf.cl.find_label_issues(label="y", pred_probs="p_*", **kwargs).compute()
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize(
    ("method", "adjust"),
    [
        ("self_confidence", False),
        ("normalized_margin", True),
        ("confidence_weighted_entropy", False),
    ],
)
def test_label_quality_scores_on_dask(frames, sync, method, adjust):
    df, ddf = frames
    kwargs = {"label": "y", "pred_probs": "p_*", "method": method, "adjust_pred_probs": adjust}
    expected = df.cl.label_quality_scores(**kwargs)
    pd.testing.assert_frame_equal(ddf.cl.label_quality_scores(**kwargs).compute(), expected)


@pytest.mark.parametrize("method", ["off_diagonal", "off_diagonal_calibrated"])
def test_num_label_issues_on_dask(frames, sync, method):
    df, ddf = frames
    kwargs = {"label": "y", "pred_probs": "p_*", "estimation_method": method}
    assert ddf.cl.num_label_issues(**kwargs) == df.cl.num_label_issues(**kwargs) > 0


def test_health_summary_on_dask(frames, sync):
    df, ddf = frames
    got = ddf.cl.health_summary(label="y", pred_probs="p_*")
    expected = df.cl.health_summary(label="y", pred_probs="p_*")
    assert got.overall_label_health_score == expected.overall_label_health_score
    assert got.num_label_issues == expected.num_label_issues
    for name in ("classes_by_label_quality", "overlapping_classes", "joint"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name))
    assert "HealthSummary" in repr(got)


def test_constructor_with_dask_parity(constructor_with_dask):
    """The opt-in constructor: the same call on every frame type, Dask included."""
    df = pandas_frame().reset_index(drop=True).iloc[:600]
    out = collect(
        cleanframe.find_label_issues(constructor_with_dask(df), label="y", pred_probs="p_*")
    )
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*")
    got = out if isinstance(out, pd.DataFrame) else out.to_pandas()
    assert got["is_issue"].tolist() == expected["is_issue"].tolist()
    np.testing.assert_array_equal(got["label_score"], expected["label_score"])
    assert got["predicted_label"].astype(str).tolist() == expected["predicted_label"].tolist()


def bad_frame(column, value, label=1777):
    df = pandas_frame()
    df.loc[label, column] = value
    return df


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [("p_c3", np.nan, "finite"), ("p_c0", -0.5, "in_range"), ("y", "zebra", "known_class")],
)
def test_error_inside_a_partition_is_the_in_memory_validation_error(sync, column, value, rule):
    df = bad_frame(column, value)
    with pytest.raises(ValidationError) as eager:
        df.cl.find_label_issues(label="y", pred_probs="p_*")
    with pytest.raises(ValidationError) as distributed_err:
        dask_frame(df).cl.find_label_issues(label="y", pred_probs="p_*")
    assert distributed_err.value.rule == eager.value.rule == rule
    assert [r for r, _ in distributed_err.value.failure_cases] == [1777]
    assert str(distributed_err.value) == str(eager.value)


# -- holding the partitions between passes ------------------------------------------------
@pytest.fixture
def no_hold():
    with dask.config.set({"cleanframe.hold": False}):
        yield


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "both", "low_normalized_margin"])
def test_results_without_holding_the_partitions_equal_in_memory(frames, sync, no_hold, filter_by):
    """Partitions read again in every pass (data larger than the memory budget): same results."""
    df, ddf = frames
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
    got = ddf.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
    pd.testing.assert_frame_equal(got.compute(), expected)
    assert ddf.cl.num_label_issues(label="y", pred_probs="p_*") == df.cl.num_label_issues(
        label="y", pred_probs="p_*"
    )


@pytest.mark.parametrize("hold", [True, False])
def test_overwrite_result_columns_on_dask(frames, sync, hold):
    """Result columns already in the frame: replaced in place, as in memory."""
    df, _ = frames
    kwargs = {"label": "y", "pred_probs": "p_*"}
    first = df.cl.find_label_issues(**kwargs, filter_by="low_self_confidence")
    expected = first.cl.find_label_issues(**kwargs, overwrite=True)
    with dask.config.set({"cleanframe.hold": hold}):
        got = dask_frame(first).cl.find_label_issues(**kwargs, overwrite=True).compute()
    pd.testing.assert_frame_equal(got, expected)


def test_result_columns_alone_read_no_probability_column(tmp_path):
    """With the partitions held, selecting only result columns of the lazy result reads none
    of the frame's columns (the results were computed from the held partitions)."""
    df = pandas_frame().reset_index(drop=True)
    for i, start in enumerate(range(0, len(df), 600)):
        df.iloc[start : start + 600].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    with dask.config.set(scheduler="synchronous"):
        ddf = dd.read_parquet(tmp_path)
        out = ddf.cl.find_label_issues(label="y", pred_probs="p_*")[["is_issue", "label_score"]]
        reads = [
            e for e in out.optimize().expr.walk() if type(e).__name__.startswith("ReadParquet")
        ]
        assert all(list(e.columns) == [] for e in reads)
        expected = df.cl.find_label_issues(label="y", pred_probs="p_*")
        got = out.compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected[["is_issue", "label_score"]])


class _Reads:
    """A partition reader that counts its reads (synchronous scheduler: same process)."""

    def __init__(self, df: pd.DataFrame):
        self.parts = [df.iloc[a:b] for a, b in zip(CUTS[:-1], CUTS[1:])]
        self.count = 0

    def __call__(self, i: int) -> pd.DataFrame:
        self.count += 1
        return self.parts[i]


@pytest.mark.parametrize("hold", [True, False])
def test_statistics_passes_read_each_partition_once_when_held(sync, hold):
    """prune_by_noise_rate runs three statistics passes. Held, the call reads every partition
    twice: its length (``height``), then once for the classes (the first row of each label
    value, from the held partitions) and all three passes; not held, four more (its labels, the
    lengths of the read columns, then one read per pass), and the first partition once more
    (the result columns' dtypes, from its first row). The lazy result reads each partition
    once more when it is computed, either way."""
    df = pandas_frame()
    reads = _Reads(df)
    parts = len(reads.parts)
    with dask.config.set({"cleanframe.hold": hold, "dataframe.convert-string": False}):
        ddf = dd.from_map(reads, range(parts), meta=df.iloc[:0], enforce_metadata=False)
        out = ddf.cl.find_label_issues(label="y", pred_probs="p_*")
    first = 0 if hold else 1
    assert reads.count == (2 if hold else 6) * parts + first
    pd.testing.assert_frame_equal(
        out.compute(), df.cl.find_label_issues(label="y", pred_probs="p_*")
    )
    assert reads.count == (3 if hold else 7) * parts + first


def test_unsupported_method_says_what_runs_on_dask(frames):
    _, ddf = frames
    with pytest.raises(NotImplementedError, match="find_label_issues, label_quality_scores"):
        ddf.cl.merge_rare_classes(label="y", pred_probs="p_*")


def _dataset_tables(frame) -> dict:
    kwargs = {"label": "y", "pred_probs": "p_*"}
    return {
        "confident_joint": frame.cl.confident_joint(**kwargs),
        "uncalibrated": frame.cl.confident_joint(**kwargs, calibrate=False),
        "ranked": frame.cl.rank_classes_by_label_quality(**kwargs),
        "overlaps": frame.cl.overlapping_classes(**kwargs),
        "asymmetric": frame.cl.overlapping_classes(**kwargs, asymmetric=True),
        "score": frame.cl.overall_label_health_score(**kwargs),
    }


def test_dataset_functions_on_dask_equal_in_memory(frames, sync):
    """confident_joint, rank_classes_by_label_quality, overlapping_classes and
    overall_label_health_score from the two count passes over the partitions."""
    df, ddf = frames
    expected, got = _dataset_tables(df), _dataset_tables(ddf)
    assert got["score"] == expected["score"] < 1
    for name in ("confident_joint", "uncalibrated", "ranked", "overlaps", "asymmetric"):
        assert isinstance(got[name], pd.DataFrame)
        pd.testing.assert_frame_equal(got[name], expected[name])


def test_dataset_functions_on_a_lazy_frame_stream_and_equal_in_memory(monkeypatch):
    """A LazyFrame runs them batched too (not collected): same tables, lazy, as in memory."""
    import polars as pl

    from cleanframe._engines import polars as polars_engine

    lf = hard_frame().lazy()
    expected = _dataset_tables(hard_frame())

    def no_collect(self, *args, **kwargs):
        raise AssertionError("the LazyFrame's columns were collected")

    monkeypatch.setattr(polars_engine.LazyPolarsFrame, "eager", no_collect)
    monkeypatch.setattr(polars_engine.LazyPolarsFrame, "_data", no_collect)
    got = _dataset_tables(lf)
    assert got["score"] == expected["score"]
    for name in ("confident_joint", "uncalibrated", "ranked", "overlaps", "asymmetric"):
        assert isinstance(got[name], pl.LazyFrame)
        assert got[name].collect().equals(expected[name])


# -- a real cluster: two worker processes -------------------------------------------------
@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit="1GiB",
        )
        with Client(cluster) as c:
            yield c
        cluster.close()


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate"])  # all rules: synchronous above
def test_find_label_issues_on_a_local_cluster(client, frames, filter_by):
    df, ddf = frames
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
    got = ddf.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by).compute()
    pd.testing.assert_frame_equal(got, expected)
    assert len(client.scheduler_info()["workers"]) == 2


def test_counts_scores_and_health_on_a_local_cluster(client, frames):
    df, ddf = frames
    kwargs = {"label": "y", "pred_probs": "p_*"}
    assert ddf.cl.num_label_issues(**kwargs) == df.cl.num_label_issues(**kwargs)
    pd.testing.assert_frame_equal(
        ddf.cl.label_quality_scores(**kwargs, adjust_pred_probs=True).compute(),
        df.cl.label_quality_scores(**kwargs, adjust_pred_probs=True),
    )
    got = ddf.cl.health_summary(**kwargs)
    expected = df.cl.health_summary(**kwargs)
    pd.testing.assert_frame_equal(got.classes_by_label_quality, expected.classes_by_label_quality)
    pd.testing.assert_frame_equal(ddf.cl.confident_joint(**kwargs), df.cl.confident_joint(**kwargs))
    assert ddf.cl.overall_label_health_score(**kwargs) == df.cl.overall_label_health_score(**kwargs)


def test_held_partitions_are_released_after_the_call(client):
    """The partitions held between the passes leave the workers' memory when the statistics
    are done: while the lazy result lives, the workers keep only its result columns (a few
    bytes a row: here, with 40 classes, a small fraction of the data); when it is dropped,
    nothing of the call stays on the cluster."""
    df = hard_frame(k=40).to_pandas()
    ddf = dask_frame(df)

    def held() -> dict:
        return _keys_on_workers(client)

    assert held() == {}
    out = ddf.cl.find_label_issues(label="y", pred_probs="p_*")
    kept = held()
    assert 0 < sum(kept.values()) < 0.25 * df.memory_usage(index=False).sum()
    assert len(kept) == ddf.npartitions  # the result columns of each partition
    pd.testing.assert_frame_equal(
        out.compute(), df.cl.find_label_issues(label="y", pred_probs="p_*")
    )
    del out
    assert held() == {}
    assert ddf.cl.num_label_issues(label="y", pred_probs="p_*") > 0
    assert held() == {}


@pytest.mark.parametrize(
    ("scheduler", "column", "value"),
    [("synchronous, not held", "p_c3", np.nan), ("local cluster", "p_c1", np.inf)],
)
def test_error_on_dask_is_the_eager_error(request, scheduler, column, value):
    """Partitions read again in every pass in this process, or held on two worker processes:
    the error names the same row, with the same message, as in memory."""
    if scheduler == "local cluster":
        request.getfixturevalue("client")
    else:
        request.getfixturevalue("sync")
        request.getfixturevalue("no_hold")
    df = bad_frame(column, value)
    with pytest.raises(ValidationError) as eager:
        df.cl.find_label_issues(label="y", pred_probs="p_*")
    with pytest.raises(ValidationError) as got:
        dask_frame(df).cl.find_label_issues(label="y", pred_probs="p_*")
    assert str(got.value) == str(eager.value)
    assert [r for r, _ in got.value.failure_cases] == [1777]


def _keys_on_workers(client) -> dict:
    """The keys in the workers' memory and their sizes (empty once the scheduler has released
    them: it does so asynchronously, so this waits up to 5 s for them to go)."""
    import gc
    import time

    gc.collect()
    for _ in range(50):
        keys = [k for keys in client.has_what().values() for k in keys]
        if not keys:
            return {}
        time.sleep(0.1)
    return client.nbytes(keys=keys, summary=False)


@pytest.mark.parametrize("method", ["find_label_issues", "num_label_issues", "health_summary"])
def test_held_partitions_are_released_when_a_pass_raises(client, method):
    """A worker's ValidationError kept by the caller (as a notebook keeps the last error, with
    its traceback and so the frames of the call) does not keep the call's held partitions on
    the workers."""
    ddf = dask_frame(bad_frame("p_c1", np.inf))
    assert _keys_on_workers(client) == {}
    with pytest.raises(ValidationError) as err:
        getattr(ddf.cl, method)(label="y", pred_probs="p_*")
    kept = err.value
    assert kept.__traceback__ is not None and kept.failure_cases[0][0] == 1777
    assert _keys_on_workers(client) == {}


def test_held_partitions_are_released_when_a_class_check_fails(client):
    """An error after the partitions are held but before any pass (a class given in
    ``classes`` that no row has): nothing stays on the workers either."""
    df = pandas_frame()
    classes = sorted(set(df["y"])) + ["never"]
    with pytest.raises(ValidationError) as err:
        dask_frame(df).cl.find_label_issues(label="y", pred_probs="p_*", classes=classes)
    kept = err.value
    assert kept.__traceback__ is not None
    assert _keys_on_workers(client) == {}


# -- registration -------------------------------------------------------------------------
def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    ).stdout


@pytest.mark.parametrize("order", ["cleanframe_first", "dask_first"])
def test_accessor_registered_on_dask_in_either_import_order(order):
    first, second = "import cleanframe", "import dask.dataframe as dd"
    if order == "dask_first":
        first, second = second, first
    out = _run(
        f"import sys\n{first}\n"
        "print('dask' in sys.modules)\n"
        f"{second}\n"
        "import dask.dataframe as dd, pandas as pd\n"
        "ddf = dd.from_pandas(pd.DataFrame({'y': ['a', 'b']}), npartitions=1)\n"
        "print(type(ddf.cl).__name__, ddf.cl.find_label_issues.__name__)\n"
    )
    loaded_first, accessor = out.splitlines()
    assert loaded_first == ("True" if order == "dask_first" else "False")
    assert accessor == "CleanAccessor find_label_issues"


def test_import_cleanframe_does_not_import_dask():
    out = _run(
        "import sys, cleanframe\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    assert out.strip() == "[]"


def test_rows_of_partitions_with_their_own_range_index_are_named_by_global_position(tmp_path, sync):
    """``dd.read_parquet`` gives every partition a RangeIndex from 0: an error names the row by
    its global position (as polars does), not by a label that every partition repeats."""
    df = pandas_frame().reset_index(drop=True)
    df.loc[1777, "p_c2"] = np.nan
    for i, (a, b) in enumerate([(0, 800), (800, 1600), (1600, len(df))]):
        df.iloc[a:b].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    ddf = dd.read_parquet(tmp_path)
    assert ddf.get_partition(2).compute().index[0] == 0
    with pytest.raises(ValidationError) as err:
        ddf.cl.find_label_issues(label="y", pred_probs="p_*")
    assert [r for r, _ in err.value.failure_cases] == [1777]
    with pytest.raises(ValidationError) as eager:
        df.cl.find_label_issues(label="y", pred_probs="p_*")
    assert str(err.value) == str(eager.value)


def test_plain_read_parquet_is_read_with_one_block_per_column(tmp_path, sync):
    """The engine reads the call's columns of a plain ``dd.read_parquet`` with one pandas
    block per column (no copy into one 2-D float block): the same partitions, rows, values,
    dtypes and index as the frame's own read. A caller's own ``split_blocks`` choice and frames
    that are not a plain Parquet read are read as they are."""
    from cleanframe._engines.dask import DaskFrame

    df = pandas_frame().reset_index(drop=True)
    for i, (a, b) in enumerate([(0, 700), (700, 1500), (1500, len(df))]):
        df.iloc[a:b].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    cols = ["y", *[f"p_c{j}" for j in range(K)]]
    ddf = dd.read_parquet(tmp_path)
    data = DaskFrame(ddf)._data(cols)
    assert data.npartitions == ddf.npartitions == 3
    for i in range(3):
        got, own = data.get_partition(i).compute(), ddf[cols].get_partition(i).compute()
        pd.testing.assert_frame_equal(got, own)
        assert len(got._mgr.blocks) == len(cols) > len(own._mgr.blocks)
    pd.testing.assert_frame_equal(data.compute(), ddf[cols].compute())
    np.testing.assert_array_equal(data.compute()[cols[1:]].to_numpy(), df[cols[1:]].to_numpy())
    chosen = dd.read_parquet(tmp_path, arrow_to_pandas={"split_blocks": False})
    assert len(DaskFrame(chosen)._data(cols).get_partition(0).compute()._mgr.blocks) == 2
    other = dask_frame(df)
    assert DaskFrame(other)._data(cols).expr._name == other[cols].expr._name


def test_read_parquet_with_columns_the_call_does_not_read(tmp_path, sync):
    """Many columns besides the label and pred_probs: Dask's optimizer reads the projected
    columns of several files as one partition, so the partitions of the statistics passes are
    not those of the frame; the row positions still hold and the results equal in memory."""
    df = pandas_frame().reset_index(drop=True)
    wide = df.assign(**{f"f_{i}": np.float32(i) for i in range(60)})
    for i, start in enumerate(range(0, len(wide), 300)):
        wide.iloc[start : start + 300].to_parquet(tmp_path / f"part-{i:02d}.parquet", index=False)
    ddf = dd.read_parquet(tmp_path)
    projected = ddf[["y", *[f"p_c{j}" for j in range(K)]]]
    fused = len(projected.map_partitions(len).compute())
    assert fused < len(ddf.map_partitions(len).compute())  # the optimizer fused files
    in_memory = ddf.compute().reset_index(drop=True)
    for filter_by in ("prune_by_noise_rate", "low_self_confidence"):
        got = ddf.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
        expected = in_memory.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
        pd.testing.assert_frame_equal(got.compute().reset_index(drop=True), expected)
