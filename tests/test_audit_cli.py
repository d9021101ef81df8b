"""``cleanframe audit FILE ...``: the audit on a CSV/Parquet file, the annotated table and the
HTML report written, progress on stderr, bad input in one line (exit code 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cleanframe
from cleanframe.cli import main

from .test_audit import make_data, regression_data


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return make_data(300)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_audit_writes_the_table_and_the_report(data, tmp_path, capsys, suffix):
    source = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        data.to_csv(source, index=False)
    else:
        data.to_parquet(source, index=False)
    out, html = tmp_path / "out.parquet", tmp_path / "audit.html"
    code = main(
        [
            "audit",
            str(source),
            "--label", "y",
            "--pred-probs", "p_*",
            "--features", "emb_*",
            "--checks", "label,outlier,near_duplicate,data_valuation",
            "-o", str(out),
            "--html", str(html),
            "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    expected = cleanframe.audit(
        data,
        label="y",
        pred_probs="p_*",
        features="emb_*",
        checks=["label", "outlier", "near_duplicate", "data_valuation"],
        progress=False,
    )
    assert captured.out.strip() == repr(expected).strip()
    assert "[cleanframe audit] reading" in captured.err
    assert "wrote the report to" in captured.err
    written = pd.read_parquet(out)
    columns = ["is_label_issue", "label_score", "is_outlier_issue", "data_valuation_score"]
    for column in columns:
        np.testing.assert_array_equal(written[column], expected.issues[column])
    reasons = expected.issues["issue_reason"]
    assert written["issue_reason"].fillna("").tolist() == reasons.fillna("").tolist()
    page = html.read_text(encoding="utf-8")
    assert page.count("data:image/png") == 4 and '<h5 id="check-data_valuation">' in page


def test_audit_regression_and_bad_input(tmp_path, capsys):
    source = tmp_path / "prices.csv"
    regression_data(200).to_csv(source, index=False)
    assert main(["audit", str(source), "--label", "price", "--predictions", "pred"]) == 0
    captured = capsys.readouterr()
    assert "label: regression" in captured.out
    assert main(["audit", str(source), "--label", "nope", "--predictions", "pred"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["audit", str(source), "--features", "f*", "-o", str(tmp_path / "x.txt")]) == 2
    assert ".csv or .parquet" in capsys.readouterr().err
    assert main(["audit", str(source), "--features", "f*", "--html", "r.txt"]) == 2
    assert "must be an .html file" in capsys.readouterr().err
    assert main(["audit", str(tmp_path / "missing.csv"), "--features", "f*"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["audit", str(source), "--features", "f*", "--checks", "spelling"]) == 2
    assert "unknown checks" in capsys.readouterr().err
