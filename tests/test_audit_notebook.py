"""notebooks/04_audit.ipynb runs top to bottom, and the report it saves has every section."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

import cleanframe

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "04_audit.ipynb"


@pytest.mark.notebook
def test_the_audit_notebook_saves_a_report_with_every_section(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv(
        "PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    page = (tmp_path / "audit_report.html").read_text(encoding="utf-8")
    saved = cleanframe.Audit.load(tmp_path / "audit_saved")
    assert saved.checks == [
        "null",
        "label",
        "outlier",
        "near_duplicate",
        "non_iid",
        "class_imbalance",
        "underperforming_group",
        "data_valuation",
    ]
    # the headline, the summary table, one section per check with its count, the plots
    issues = saved.issues
    rows = int(issues["is_issue"].sum())
    assert re.search(
        rf"<h4>Audit: {rows:,} rows with issues \(\d[\d,]* issues over 8 checks\)</h4>", page
    )
    for check in saved.checks:
        count = int(issues[f"is_{check}_issue"].sum())
        assert f'<h5 id="check-{check}">{check}: {count:,} row' in page
    assert re.findall(r"<figcaption>(.*?)</figcaption>", page) == [
        "Scores per check",
        "Label issues per class",
        "Confident joint",
        "Outliers and near duplicates",
    ]
    # the worst rows carry the user's own columns and the reasons
    label = page.split('<h5 id="check-label">')[1].split("<h5")[0]
    assert "image_id" in label and "injected" in label and 'label: given "' in label
    # the injected damage was found
    for kind, check in [("duplicate", "near_duplicate"), ("outlier", "outlier")]:
        damaged = issues["injected"] == kind
        assert issues.loc[damaged, f"is_{check}_issue"].all()
    noisy = issues["injected"] == "label noise"
    assert issues.loc[noisy, "is_label_issue"].mean() > 0.85
