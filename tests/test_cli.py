"""The command line: ``cleanframe find-label-issues FILE ...`` and ``cleanframe demo``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cleanframe
from cleanframe.cli import main
from cleanframe.scoring.classification.filter import FILTER_BY

from .conftest import label_frame, synthetic

RESULT = ["label_score", "is_issue", "predicted_label"]
CLASSES = ["cat", "dog", "emu"]


@pytest.fixture
def table() -> pd.DataFrame:
    labels, p = synthetic(200, 3, seed=7, noise=0.2)
    return label_frame(labels, p, CLASSES)


def _write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


@pytest.mark.parametrize("src", [".csv", ".parquet"])
@pytest.mark.parametrize("dst", [".csv", ".parquet"])
def test_find_label_issues_writes_result_columns(tmp_path, capsys, table, src, dst):
    path = _write(table, tmp_path / f"data{src}")
    out = tmp_path / f"out{dst}"
    code = main(
        ["find-label-issues", str(path), "--label", "y", "--pred-probs", "p_*", "-o", str(out)]
    )
    assert code == 0
    written = _read(out)
    assert list(written.columns) == list(table.columns) + RESULT
    assert len(written) == len(table)
    expected = table.cl.find_label_issues(label="y", pred_probs="p_*")
    np.testing.assert_allclose(written["label_score"], expected["label_score"])
    assert written["is_issue"].astype(bool).tolist() == expected["is_issue"].tolist()
    assert written["predicted_label"].tolist() == expected["predicted_label"].tolist()
    text = capsys.readouterr().out
    flagged = int(expected["is_issue"].sum())
    assert f"200 rows, {flagged} flagged" in text
    assert f"Wrote 200 annotated rows to {out}" in text
    # the report lists the worst rows first
    worst = expected[expected["is_issue"]].sort_values("label_score", kind="stable").index[0]
    assert f"\n{worst} " in text


def test_find_label_issues_options(tmp_path, capsys, table):
    path = _write(table, tmp_path / "data.csv")
    code = main(
        [
            "find-label-issues",
            str(path),
            "--label",
            "y",
            "--pred-probs",
            "p_*",
            "--filter-by",
            "predicted_neq_given",
            "--top",
            "3",
        ]
    )
    assert code == 0
    expected = table.cl.find_label_issues(
        label="y", pred_probs="p_*", filter_by="predicted_neq_given"
    )
    text = capsys.readouterr().out
    assert f"{int(expected['is_issue'].sum())} flagged" in text
    assert "The 3 most likely label issues" in text


def test_overwrite_flag(tmp_path, capsys, table):
    path = _write(table.assign(label_score=0.0), tmp_path / "data.csv")
    args = ["find-label-issues", str(path), "--label", "y", "--pred-probs", "p_*"]
    assert main(args) == 2
    err = capsys.readouterr().err
    # the clash names the column and the command line's flag, not the library's argument
    assert "'label_score'" in err and "pass --overwrite" in err
    assert "overwrite=True" not in err and len(err.splitlines()) == 1
    assert main([*args, "--overwrite"]) == 0


@pytest.mark.parametrize("command", ["find-label-issues", "demo"])
def test_bad_filter_by_is_a_one_line_usage_error(tmp_path, capsys, table, command):
    path = _write(table, tmp_path / "data.csv")
    args = [str(path), "--label", "y", "--pred-probs", "p_*"] if command != "demo" else []
    with pytest.raises(SystemExit) as info:
        main([command, *args, "--filter-by", "bogus"])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and "Traceback" not in captured.err
    assert "--filter-by" in captured.err and "'bogus'" in captured.err
    assert all(rule in captured.err for rule in FILTER_BY)


@pytest.mark.parametrize("command", ["find-label-issues", "demo"])
def test_help_lists_the_choices(capsys, command):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help text
    assert all(rule in text for rule in FILTER_BY)
    assert "(default: prune_by_noise_rate)" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "z", "--pred-probs", "p_*"], "'z'"),
        (["--label", "y", "--pred-probs", "q_*"], r"'q_*'"),
        (["--label", "y", "--pred-probs", "p_dog"], "'p_dog'"),
    ],
    ids=["label", "pred-probs glob", "pred-probs column"],
)
def test_bad_column_exit_code_2(tmp_path, capsys, table, args, message):
    path = _write(table, tmp_path / "data.csv")
    out = tmp_path / "out.csv"
    assert main(["find-label-issues", str(path), *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cleanframe: ") and message in err
    assert "Traceback" not in err
    assert not out.exists()


def test_bad_values_exit_code_2_with_row(tmp_path, capsys, table):
    table.loc[5, "p_dog"] = np.nan
    path = _write(table, tmp_path / "data.parquet")
    assert main(["find-label-issues", str(path), "--label", "y", "--pred-probs", "p_*"]) == 2
    err = capsys.readouterr().err
    assert "'p_dog'" in err and "row 5" in err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "no such file"),
        ("broken.parquet", b"not a parquet file", "cannot read"),
        ("empty.csv", b"", "cannot read"),
        ("data.txt", b"y,p_a\n", "must be a .csv or .parquet"),
    ],
)
def test_bad_file_exit_code_2(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["find-label-issues", str(path), "--label", "y", "--pred-probs", "p_*"]) == 2
    err = capsys.readouterr().err
    assert name in err and message in err


def test_bad_output_suffix_exit_code_2_before_work(tmp_path, capsys, table):
    path = _write(table, tmp_path / "data.csv")
    assert (
        main(
            [
                "find-label-issues",
                str(path),
                "--label",
                "y",
                "--pred-probs",
                "p_*",
                "-o",
                str(tmp_path / "out.json"),
            ]
        )
        == 2
    )
    captured = capsys.readouterr()
    assert "out.json" in captured.err and captured.out == ""


def test_missing_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["find-label-issues", "data.csv", "--label", "y"])
    assert info.value.code == 2
    assert "--pred-probs" in capsys.readouterr().err


def test_demo_prints_summary_and_human_verdicts(capsys):
    assert main(["demo", "--top", "5"]) == 0
    text = capsys.readouterr().out
    assert "CIFAR-10" in text and "10,000 rows" in text
    assert "human_verdict" in text
    assert "Human check (Mechanical Turk" in text and "were judged mislabeled" in text
    assert "Overall label health score: 0.9756" in text
    # the two counts on the screen (flagged rows, estimated issues) are explained, not left to
    # contradict each other
    df = cleanframe.datasets.load_label_errors("cifar10")
    flagged = int(df.cl.find_label_issues(label="label", pred_probs="p_*")["is_issue"].sum())
    estimated = df.cl.num_label_issues(label="label", pred_probs="p_*")
    assert flagged != estimated  # they differ by design on this data
    assert f"{flagged} flagged as likely label issues" in text
    assert f"1 - {estimated}/10,000" in text
    assert f"{estimated} = num_label_issues(estimation_method='off_diagonal')" in text
    assert f"The {flagged} flagged rows above come from find_label_issues(" in text
    assert "filter_by='prune_by_noise_rate'), a different rule" in text


def _console_script() -> Path:
    script = Path(sys.executable).parent / ("cleanframe.exe" if os.name == "nt" else "cleanframe")
    if not script.exists():  # pragma: no cover - not installed in this environment
        pytest.skip(f"no installed console script at {script}")
    return script


def test_console_script_end_to_end(tmp_path, table):
    path = _write(table, tmp_path / "data.parquet")
    out = tmp_path / "out.parquet"
    run = subprocess.run(
        [
            str(_console_script()),
            "find-label-issues",
            str(path),
            "--label",
            "y",
            "--pred-probs",
            "p_*",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "Flagged rows per given label" in run.stdout
    assert list(pd.read_parquet(out).columns) == list(table.columns) + RESULT

    bad = subprocess.run(
        [
            str(_console_script()),
            "find-label-issues",
            str(path),
            "--label",
            "nope",
            "--pred-probs",
            "p_*",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "'nope'" in bad.stderr and "Traceback" not in bad.stderr
