"""Label issues on a polars LazyFrame run on polars' streaming engine, in batches, and equal the
in-memory call row for row (every filter_by rule, scores, counts, health summary), with more
batches than classes, an empty file, a class absent from most batches and ties across batch
boundaries; a subprocess under a memory limit smaller than its data streams it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cleanframe  # noqa: F401  (registers .cl)
from cleanframe import ValidationError
from cleanframe._engines import adapt, polars_stream

FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
    "argmax_confusion",  # cleanframe's name for cleanlab's argmax-confusion-matrix variant
)
K = 5
BATCH = 97  # rows per streamed batch in these tests: many batches, boundaries inside tie runs


def hard_frame(n: int = 2400, k: int = K, seed: int = 0) -> pl.DataFrame:
    """The benchmark's hard shape (most given labels are not the top class), with a class that
    only the last rows hold and runs of identical rows (tied scores) across batch boundaries."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k - 1, n)
    tail = n - n // 8
    true[tail:] = rng.integers(0, k, n - tail)  # class k-1 occurs only in the last rows
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), true] += rng.uniform(0.5, 4, n)
    e = np.exp(logits - logits.max(1, keepdims=True))
    P = (e / e.sum(1, keepdims=True)).astype(np.float32)
    given = true.copy()
    flip = rng.random(n) < 0.1
    given[flip] = rng.integers(0, k - 1, flip.sum())
    for start in (150 * n // 2400, 900 * n // 2400, 1500 * n // 2400):  # tied runs across batches
        P[start : start + 60] = P[start]
        given[start : start + 60] = (int(np.argmax(P[start])) + 1) % (k - 1)
    data = {"y": [f"c{g}" for g in given]}
    data.update({f"p_c{j}": P[:, j] for j in range(k)})
    data["extra"] = np.arange(n)
    return pl.DataFrame(data)


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(polars_stream, "MIN_BATCH_ROWS", 1)
    monkeypatch.setattr(polars_stream, "BATCH_BYTES", BATCH * 8 * (K + 1))


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory):
    """The frame as several Parquet files of uneven sizes, one of them empty."""
    df = hard_frame()
    root = tmp_path_factory.mktemp("preds")
    cuts = [0, 700, 700, 1333, 2100, len(df)]  # the second file has no rows
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        df.slice(a, b - a).write_parquet(root / f"part-{i:02d}.parquet")
    return root, df


def scan(parquet_dir) -> pl.LazyFrame:
    root, _ = parquet_dir
    return pl.scan_parquet(root / "*.parquet")


def test_stream_has_more_batches_than_classes_and_a_class_missing_from_batches(parquet_dir):
    fr = adapt(scan(parquet_dir))
    columns = ["y"] + [f"p_c{j}" for j in range(K)]  # the columns a label-issue pass reads
    seen = fr.reduce_batches(
        columns, lambda b, off: [(off, set(b.column("y")))], lambda a, b: a + b
    )
    assert len(seen) > 2 * K
    assert [off for off, _ in seen] == sorted(off for off, _ in seen)
    assert sum(f"c{K - 1}" not in labels for _, labels in seen) > K


@pytest.mark.parametrize("filter_by", FILTERS)
def test_find_label_issues_streamed_equals_in_memory(parquet_dir, filter_by):
    _, df = parquet_dir
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
    out = scan(parquet_dir).cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)
    assert isinstance(out, pl.LazyFrame)
    got = out.collect(engine="streaming")
    assert_frame_equal(got, expected)
    assert expected["is_issue"].sum() > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frac_noise": 0.5},
        {"num_to_remove_per_class": [3, 0, 5, 2, 1]},
        {"min_examples_per_class": 400},
        {"filter_by": "both", "rank_by": "normalized_margin"},
        {"rank_by": "confidence_weighted_entropy"},
        {"rank_by_kwargs": {"adjust_pred_probs": True}},
    ],
)
def test_find_label_issues_options_streamed_equal_in_memory(parquet_dir, kwargs):
    _, df = parquet_dir
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", **kwargs)
    got = scan(parquet_dir).cl.find_label_issues(label="y", pred_probs="p_*", **kwargs).collect()
    assert_frame_equal(got, expected)


def test_given_confident_joint_streamed_equals_in_memory(parquet_dir):
    _, df = parquet_dir
    cj = df.cl.confident_joint(label="y", pred_probs="p_*")
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", confident_joint=cj)
    got = scan(parquet_dir).cl.find_label_issues(label="y", pred_probs="p_*", confident_joint=cj)
    assert_frame_equal(got.collect(), expected)


@pytest.mark.parametrize(
    ("method", "adjust"),
    [
        ("self_confidence", False),
        ("self_confidence", True),
        ("normalized_margin", True),
        ("confidence_weighted_entropy", False),
    ],
)
def test_label_quality_scores_streamed_equal_in_memory(parquet_dir, method, adjust):
    _, df = parquet_dir
    kwargs = {"label": "y", "pred_probs": "p_*", "method": method, "adjust_pred_probs": adjust}
    expected = df.cl.label_quality_scores(**kwargs)
    got = scan(parquet_dir).cl.label_quality_scores(**kwargs).collect()
    assert_frame_equal(got, expected)


@pytest.mark.parametrize(
    "method", ["off_diagonal", "off_diagonal_calibrated", "off_diagonal_custom"]
)
def test_num_label_issues_streamed_equals_in_memory(parquet_dir, method):
    _, df = parquet_dir
    cj = (
        df.cl.confident_joint(label="y", pred_probs="p_*")
        if method == "off_diagonal_custom"
        else None
    )
    kwargs = {"label": "y", "pred_probs": "p_*", "estimation_method": method}
    expected = df.cl.num_label_issues(**kwargs, confident_joint=cj)
    assert scan(parquet_dir).cl.num_label_issues(**kwargs, confident_joint=cj) == expected
    assert expected > 0


@pytest.mark.parametrize("asymmetric", [False, True])
def test_health_summary_streamed_equals_in_memory(parquet_dir, asymmetric):
    _, df = parquet_dir
    expected = df.cl.health_summary(label="y", pred_probs="p_*", asymmetric=asymmetric)
    got = scan(parquet_dir).cl.health_summary(label="y", pred_probs="p_*", asymmetric=asymmetric)
    assert got.overall_label_health_score == expected.overall_label_health_score
    assert (got.num_examples, got.num_label_issues) == (
        expected.num_examples,
        expected.num_label_issues,
    )
    for name in ("classes_by_label_quality", "overlapping_classes", "joint"):
        assert_frame_equal(getattr(got, name).collect(), getattr(expected, name))


def test_result_sinks_to_parquet(parquet_dir, tmp_path):
    _, df = parquet_dir
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*").filter(pl.col("is_issue"))
    out = scan(parquet_dir).cl.find_label_issues(label="y", pred_probs="p_*")
    out.filter(pl.col("is_issue")).sink_parquet(tmp_path / "issues.parquet")
    assert_frame_equal(pl.read_parquet(tmp_path / "issues.parquet"), expected)


def test_statistics_passes_read_only_the_needed_columns(parquet_dir):
    fr = adapt(scan(parquet_dir))
    widths = fr.reduce_batches(["y", "p_c0"], lambda b, off: {b.width}, lambda a, b: a | b)
    assert widths == {2}


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [("p_c2", float("nan"), "finite"), ("p_c1", 1.7, "in_range"), ("y", None, "not_null")],
)
def test_bad_value_in_a_late_batch_names_the_global_row(tmp_path, column, value, rule):
    df = hard_frame(n=1200)
    row = 1111
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(value, dtype=df.schema[column]))
        .otherwise(pl.col(column))
        .alias(column)
    )
    df.write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValidationError) as eager:
        df.cl.find_label_issues(label="y", pred_probs="p_*")
    with pytest.raises(ValidationError) as streamed:
        pl.scan_parquet(tmp_path / "bad.parquet").cl.find_label_issues(label="y", pred_probs="p_*")
    assert streamed.value.rule == eager.value.rule == rule
    assert streamed.value.column == eager.value.column
    assert [r for r, _ in streamed.value.failure_cases] == [row]
    assert str(streamed.value) == str(eager.value)


def test_label_value_without_a_column_found_in_a_late_batch(tmp_path):
    df = hard_frame(n=1200).with_columns(
        pl.when(pl.int_range(pl.len()) == 1000).then(pl.lit("zebra")).otherwise("y").alias("y")
    )
    df.write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValidationError) as eager:
        df.cl.find_label_issues(label="y", pred_probs="p_*")
    with pytest.raises(ValidationError) as streamed:
        pl.scan_parquet(tmp_path / "bad.parquet").cl.label_quality_scores(
            label="y", pred_probs="p_*"
        )
    assert str(streamed.value) == str(eager.value)


def test_empty_and_single_class_scans_are_errors(tmp_path):
    df = hard_frame(n=300)
    df.head(0).write_parquet(tmp_path / "empty.parquet")
    with pytest.raises(ValidationError, match="no rows"):
        pl.scan_parquet(tmp_path / "empty.parquet").cl.find_label_issues(
            label="y", pred_probs="p_*"
        )
    df.filter(pl.col("y") == "c0").write_parquet(tmp_path / "one.parquet")
    with pytest.raises(ValidationError) as err:
        pl.scan_parquet(tmp_path / "one.parquet").cl.num_label_issues(label="y", pred_probs="p_*")
    assert err.value.rule == "at_least_2_classes"


MEMORY_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import polars as pl
    import cleanframe
    from cleanframe._engines import polars_stream

    polars_stream.BATCH_BYTES = 1 << 22

    def vm_data():
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmData"))
        return int(line.split()[1]) * 1024

    source, target, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lf = pl.scan_parquet(source)
    # warm up on a few rows: imports, compiled kernels, the streaming engine's threads
    warm = lf.head(2000).collect().lazy()
    warm.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=RULE).collect()
    base = vm_data()
    resource.setrlimit(resource.RLIMIT_DATA, (base + budget, resource.RLIM_INFINITY))
    if sys.argv[4] == "read":  # the control: read the columns into memory instead
        lf = pl.read_parquet(source).lazy()
    out = lf.cl.find_label_issues(label="y", pred_probs="p_*", filter_by=RULE)
    out.select("label_score", "is_issue").sink_parquet(target)
    print(json.dumps({"grew": vm_data() - base}))
    """
).replace("RULE", repr("confident_learning"))


def write_predictions(path, n: int, k: int, *, seed: int = 7) -> None:
    """``n`` rows of labels and float32 softmax probabilities (10% of labels flipped), written
    block by block (never held whole)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, n, 250_000):
        m = min(250_000, n - start)
        labels = rng.integers(0, k, m)
        logits = rng.standard_normal(size=(m, k), dtype=np.float32)
        logits[np.arange(m), labels] += 2.5
        np.exp(logits, out=logits)
        logits /= logits.sum(1, keepdims=True)
        flip = rng.random(m) < 0.1
        labels[flip] = rng.integers(0, k, flip.sum())
        table = pa.table({"y": labels, **{f"p_{j}": logits[:, j] for j in range(k)}})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=20_000)
    assert writer is not None
    writer.close()


#: The memory test's data: 2.4M rows x 16 float32 probabilities = 154 MB, and the memory the
#: streaming child may add after its warm-up (half of that).
BIG_ROWS, BIG_CLASSES, BUDGET = 2_400_000, 16, 72 * 2**20


@pytest.fixture(scope="module")
def big_parquet(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "preds.parquet"
    write_predictions(path, BIG_ROWS, BIG_CLASSES)
    return path


def run_limited(path, out_path, mode: str):
    env = {
        **os.environ,
        # allocators that hand freed memory back (no cached arenas/pages counted as in use)
        "MALLOC_ARENA_MAX": "1",
        "MALLOC_MMAP_THRESHOLD_": "131072",
        "MALLOC_TRIM_THRESHOLD_": "131072",
        "_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0,retain:false",
        # one streaming thread reading morsels of 20,000 rows
        "POLARS_MAX_THREADS": "1",
        "POLARS_IDEAL_MORSEL_SIZE": "20000",
        # two row groups read ahead: by default, when disk reads are slow (a busy machine), the
        # Parquet reader has many row groups in flight, each in its own buffer (1.8 MiB here)
        # and on its own I/O thread (2 MiB of stack), 80-300 MiB more than the call holds
        "POLARS_ROW_GROUP_PREFETCH_SIZE": "2",
    }
    return subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(path), str(out_path), str(BUDGET), mode],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.mark.slow
def test_streams_more_data_than_its_memory_limit_allows(big_parquet, tmp_path):
    """A child process streams 154 MB of float32 probabilities from Parquet with a data-segment
    limit (RLIMIT_DATA, which counts heap and anonymous mappings) of 72 MiB above what it uses
    after a warm-up on a few rows (imports, compiled kernels, the streaming engine's threads),
    and finds exactly the in-memory result. Holding the probability columns would exceed the
    limit. The allocators are told to hand freed memory back, so the limit measures what is in
    use, not their caches.

    The rule is ``confident_learning`` (a statistics pass, then the lazy row map): the rules
    with a candidates pass (``prune_*``, ``low_*``) hold temporaries of about 24 bytes per
    (row, class) of a batch in that pass (measured: 60 MB of numpy arrays at 30,000 rows x 16
    classes, 94 MB in all), too close to this small limit to test it."""
    assert BUDGET <= BIG_ROWS * BIG_CLASSES * 4 / 2
    out_path = tmp_path / "scores.parquet"
    run = run_limited(big_parquet, out_path, "stream")
    assert run.returncode == 0, run.stderr[-3000:]
    child = json.loads(run.stdout.strip().splitlines()[-1])
    assert child["grew"] < BUDGET
    df = pl.read_parquet(big_parquet)  # the reference, in memory, in this (unlimited) process
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", filter_by="confident_learning")
    assert_frame_equal(pl.read_parquet(out_path), expected.select("label_score", "is_issue"))
    assert expected["is_issue"].sum() > 0


@pytest.mark.slow
def test_the_memory_limit_stops_an_in_memory_read(big_parquet, tmp_path):
    """The control: the same child, reading the columns into memory instead of streaming them,
    fails under the same limit (so the test above cannot pass by a limit that limits nothing)."""
    run = run_limited(big_parquet, tmp_path / "scores.parquet", "read")
    assert run.returncode != 0
    assert "memory" in run.stderr.lower() or "alloc" in run.stderr.lower()


@pytest.mark.parametrize("filter_by", ["prune_by_class", "low_self_confidence"])
def test_the_tie_runs_straddle_the_cut_off(filter_by):
    """The data makes the per-class / global top-n cut fall inside a run of tied rows that spans
    batch boundaries, so the equality tests above check the tie rule across batches."""
    flagged = (
        hard_frame()
        .cl.find_label_issues(label="y", pred_probs="p_*", filter_by=filter_by)["is_issue"]
        .to_numpy()
    )
    run = flagged[1500 : 1500 + 60]
    assert 0 < run.sum() < len(run)


# -- the command line streams files and directories ----------------------------------------
@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_cli_streams_a_directory_with_progress(tmp_path, capsys, kind):
    from cleanframe.cli import main

    df = hard_frame(n=900)
    root = tmp_path / "preds"
    root.mkdir()
    for i, start in enumerate(range(0, 900, 300)):
        part = df.slice(start, 300)
        target = root / f"part-{i}.{kind}"
        part.write_parquet(target) if kind == "parquet" else part.write_csv(target)
    out = tmp_path / "issues.parquet"
    args = ["find-label-issues", str(root), "--label", "y", "--pred-probs", "p_*"]
    assert main([*args, "-o", str(out), "--progress", "--top", "4"]) == 0
    captured = capsys.readouterr()
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*")
    written = pl.read_parquet(out)
    assert written["is_issue"].to_list() == expected["is_issue"].to_list()
    np.testing.assert_allclose(written["label_score"], expected["label_score"], rtol=1e-6)
    flagged = int(expected["is_issue"].sum())
    assert f"900 rows, {flagged} flagged" in captured.out and "rows/s" in captured.out
    assert "Wrote 900 annotated rows" in captured.out
    worst = int(
        expected.with_row_index("row")
        .filter(pl.col("is_issue"))
        .sort(["label_score", "row"])["row"][0]
    )
    assert f"\n{worst} " in captured.out
    progress = captured.err.replace("\r", "\n")
    assert "pass 1: 900 of 900 rows" in progress and "rows/s" in progress


def test_cli_directory_errors(tmp_path, capsys):
    from cleanframe.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["find-label-issues", str(empty), "--label", "y", "--pred-probs", "p_*"]) == 2
    assert "no .parquet or .csv files" in capsys.readouterr().err
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    hard_frame(n=50).write_csv(mixed / "a.csv")
    hard_frame(n=50).write_parquet(mixed / "b.parquet")
    assert main(["find-label-issues", str(mixed), "--label", "y", "--pred-probs", "p_*"]) == 2
    assert "both .csv and .parquet" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, reads_probabilities",
    [
        ({}, False),
        ({"filter_by": "low_normalized_margin", "rank_by": "normalized_margin"}, False),
        ({"filter_by": "predicted_neq_given"}, False),
        ({"filter_by": "confident_learning"}, True),
        ({"rank_by": "confidence_weighted_entropy"}, True),
    ],
)
def test_row_map_reads_the_label_column_only_when_kept_values_suffice(
    parquet_dir, kwargs, reads_probabilities
):
    """The first pass keeps a few values per row (label code, own probability, argmax,
    largest other, agreement); a result made of flags and self-confidence / normalized-margin
    scores is then computed from them and the label column: its query reads 1 of the 7
    columns of the files. Other rules and scores read the probabilities again. Either way the
    result equals the in-memory call."""
    root, df = parquet_dir
    out = scan(parquet_dir).cl.find_label_issues(label="y", pred_probs="p_*", **kwargs)
    plan = out.select("is_issue", "label_score", "predicted_label").explain()
    assert ("PROJECT 1/7 COLUMNS" in plan) != reads_probabilities, plan
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", **kwargs)
    assert_frame_equal(out.collect(), expected)


def test_batches_are_cut_where_their_columns_change_chunks():
    """A streamed batch that spans two chunks (row groups) is handed on as single-chunk pieces
    with their global first rows, so its columns reach numpy without a copy."""
    a = pl.DataFrame({"y": [0, 1, 2], "p": np.array([0.1, 0.2, 0.3], dtype=np.float32)})
    b = pl.DataFrame({"y": [3, 4], "p": np.array([0.4, 0.5], dtype=np.float32)})
    df = pl.concat([a, b], rechunk=False)
    df = df.with_columns(pl.concat([pl.Series("y", [0]), pl.Series("y", [1, 2, 3, 4])]))
    assert df.n_chunks("all") == [2, 2]
    pieces = polars_stream._pieces(df)
    assert [(start, p.height) for start, p in pieces] == [(0, 1), (1, 2), (3, 2)]
    for start, piece in pieces:
        assert piece.n_chunks("all") == [1, 1]
        values = piece.get_column("p").to_numpy()
        assert not values.flags.owndata  # a view of the Arrow buffer
        np.testing.assert_array_equal(values, df["p"].to_numpy()[start : start + piece.height])
    whole = pl.DataFrame({"y": [1, 2]})
    assert polars_stream._pieces(whole) == [(0, whole)]


def test_kept_row_values_are_read_across_their_blocks():
    """The kept per-row values of batches are read back for any row range, also one spanning
    several batches (the row map's batches are not the statistics passes')."""
    from cleanframe._batched import _Kept
    from cleanframe.scoring.classification.columns import ProbColumns

    df = hard_frame(600)
    labels = np.array([int(v[1:]) for v in df["y"]])
    p = df.select(pl.col("^p_.*$")).to_numpy().astype(np.float32)
    kept = _Kept(K)
    for a, b in ((0, 250), (250, 251), (251, 600)):
        cols = ProbColumns([np.ascontiguousarray(p[a:b, j]) for j in range(K)])
        kept.record(a, labels[a:b], cols)
    kept.finish()
    assert kept.ready
    whole = ProbColumns([np.ascontiguousarray(p[:, j]) for j in range(K)]).row_stats(labels)
    for a, n in ((0, 600), (240, 20), (250, 1), (251, 349), (599, 1)):
        codes, stats = kept.rows(a, n)
        np.testing.assert_array_equal(codes, labels[a : a + n])
        for name in ("own", "argmax", "other", "agrees"):
            np.testing.assert_array_equal(getattr(stats, name), getattr(whole, name)[a : a + n])
    gap = _Kept(K)
    late = ProbColumns([np.ascontiguousarray(p[10:20, j]) for j in range(K)])
    gap.record(10, labels[10:20], late)
    gap.finish()
    assert not gap.ready  # rows 0..9 missing: not used


@pytest.mark.parametrize(
    "kwargs, reads",
    [
        ({}, 2),  # prune_by_noise_rate: the candidates are collected with the joint
        ({"frac_noise": 0.5, "min_examples_per_class": 400}, 2),
        ({"filter_by": "both"}, 3),
        ({"num_to_remove_per_class": [3, 0, 5, 2, 1]}, 3),
        ({"filter_by": "low_self_confidence"}, 3),
    ],
)
def test_default_rule_reads_the_probabilities_twice(parquet_dir, monkeypatch, kwargs, reads):
    """A streamed ``prune_by_noise_rate`` call reads the files' probability columns in two
    statistics passes (then the row map reads the label column only); the other rules and
    ``num_to_remove_per_class`` in three. Either way the result equals the in-memory call."""
    _, df = parquet_dir
    calls = []
    real = polars_stream.reduce_batches

    def counted(fr, columns, *args, **kw):
        calls.append(len(columns))
        return real(fr, columns, *args, **kw)

    monkeypatch.setattr(polars_stream, "reduce_batches", counted)
    out = scan(parquet_dir).cl.find_label_issues(label="y", pred_probs="p_*", **kwargs)
    assert calls == [K + 1] * reads
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*", **kwargs)
    assert_frame_equal(out.collect(engine="streaming"), expected)


def test_a_first_streamed_call_in_a_fresh_process_finishes():
    """The first batched call of a process sets numba up on a thread while its first batch
    imports the column loops: the two must not wait for each other (a deadlock between numba's
    compiler lock and a module's import lock once hung here); a fresh process, with a timeout."""
    code = textwrap.dedent(
        """
        import numpy as np, polars as pl, cleanframe
        rng = np.random.default_rng(0)
        p = rng.dirichlet(np.ones(5), 3000)
        df = pl.DataFrame({"y": [f"c{v}" for v in p.argmax(1)],
                           **{f"p_c{j}": p[:, j] for j in range(5)}})
        out = df.lazy().cl.find_label_issues(label="y", pred_probs="p_*").collect()
        print(out.height)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "3000"


@pytest.mark.parametrize("delay", [0.0, 0.2])
def test_numba_set_up_thread_beside_a_cached_kernel_load(delay):
    """The first-call set-up (``columns.warm``) refreshes numba's tables on a thread while the
    first batch may load another cached numba kernel (the string-label codes): in a fresh
    process both finish without error (they once raced on the tables)."""
    code = textwrap.dedent(
        f"""
        import threading, time
        import numba, pyarrow as pa
        from cleanframe.scoring.classification import columns
        from cleanframe._engines import _strings
        arr = pa.array([f"c{{i % 100}}" for i in range(70000)], type=pa.string_view())
        errors = []
        def run(f, *args):
            try:
                f(*args)
            except BaseException as exc:
                errors.append(repr(exc))
        a = threading.Thread(target=run, args=(columns.warm,))
        b = threading.Thread(target=run, args=(_strings.short_string_codes, arr))
        a.start(); time.sleep({delay}); b.start(); a.join(); b.join()
        print(errors or "ok")
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "ok"


def integer_labels(df: pl.DataFrame, values: list, dtype) -> pl.DataFrame:
    """``df`` with its label values c0 .. c{K-1} replaced by ``values[j]`` and the columns
    p_c{j} renamed p_{values[j]} (the classes are then those integers)."""
    mapping = {f"c{j}": v for j, v in enumerate(values)}
    out = df.with_columns(pl.col("y").replace_strict(mapping, return_dtype=dtype))
    return out.rename({f"p_c{j}": f"p_{v}" for j, v in enumerate(values)})


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        (list(range(K)), pl.Int64),
        ([4, 0, 2, 1, 3], pl.Int8),  # classes sorted by value: not the column order
        ([3, 10, 17, 600, 2000], pl.UInt16),  # the code table grows past its first size
        ([0, 1, 2, 3, 70000], pl.Int32),  # a value beyond the table: the general path
        ([-2, -1, 0, 1, 2], pl.Int64),  # negative values: the general path
    ],
)
def test_integer_labels_streamed_equal_in_memory(tmp_path, values, dtype):
    df = integer_labels(hard_frame(n=1200), values, dtype)
    df.write_parquet(tmp_path / "ints.parquet")
    lf = pl.scan_parquet(tmp_path / "ints.parquet")
    expected = df.cl.find_label_issues(label="y", pred_probs="p_*")
    assert_frame_equal(lf.cl.find_label_issues(label="y", pred_probs="p_*").collect(), expected)
    assert expected["is_issue"].sum() > 0
    scores = df.cl.label_quality_scores(label="y", pred_probs="p_*")
    assert_frame_equal(lf.cl.label_quality_scores(label="y", pred_probs="p_*").collect(), scores)


@pytest.mark.parametrize("value", [None, 7, 70000, -3])
def test_bad_integer_label_in_a_late_batch_is_the_in_memory_error(tmp_path, value):
    df = integer_labels(hard_frame(n=1200), list(range(K)), pl.Int64)
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 1111).then(pl.lit(value)).otherwise("y").alias("y")
    )
    df.write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValidationError) as eager:
        df.cl.find_label_issues(label="y", pred_probs="p_*", classes=list(range(K)))
    with pytest.raises(ValidationError) as streamed:
        pl.scan_parquet(tmp_path / "bad.parquet").cl.find_label_issues(
            label="y", pred_probs="p_*", classes=list(range(K))
        )
    assert [r for r, _ in streamed.value.failure_cases] == [1111]
    assert str(streamed.value) == str(eager.value)


def test_integer_labels_are_not_factorized_per_batch(parquet_dir, tmp_path, monkeypatch):
    df = integer_labels(hard_frame(n=1200), list(range(K)), pl.Int64)
    df.write_parquet(tmp_path / "ints.parquet")
    from cleanframe._engines.polars import PolarsFrame

    calls = []
    factorize = PolarsFrame.factorize
    monkeypatch.setattr(
        PolarsFrame, "factorize", lambda self, name: calls.append(name) or factorize(self, name)
    )
    lf = pl.scan_parquet(tmp_path / "ints.parquet")
    lf.cl.find_label_issues(label="y", pred_probs="p_*").collect()
    ints = len(calls)
    calls.clear()
    scan(parquet_dir).cl.find_label_issues(label="y", pred_probs="p_*").collect()
    assert ints <= 2 < len(calls)  # the class set's read only, against one per batch
