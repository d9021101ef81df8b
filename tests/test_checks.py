"""find_issues / audit: every check the columns allow, sharing one kNN graph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cleanframe import ValidationError

from .conftest import label_frame, synthetic, to_pandas


@pytest.fixture(scope="module")
def data():
    labels, p = synthetic(400, 3, seed=3)
    df = label_frame(labels, p, ["ant", "bee", "cow"])
    rng = np.random.default_rng(1)
    centers = np.abs(rng.normal(size=(3, 6))) * 5  # three tight clusters in the positive orthant
    emb = centers[labels] + 0.2 * rng.normal(size=(400, 6))
    emb[5] = -centers[0]  # an outlier (cosine: the opposite direction)
    emb[7] = emb[8]  # exact duplicates
    for i in range(6):
        df[f"emb_{i}"] = emb[:, i]
    return df


def test_all_checks_run_and_match_the_single_checks(data, constructor):
    frame = constructor(data)
    out = to_pandas(frame.cl.find_issues(label="y", pred_probs="p_*", features="emb_*", progress=False))
    from cleanframe.checks import CHECKS

    for check in CHECKS:
        assert f"is_{check}_issue" in out and f"{check}_score" in out
        assert out[f"{check}_score"].between(0, 1).all()
    flags = np.column_stack([out[f"is_{c}_issue"] for c in CHECKS])
    np.testing.assert_array_equal(out["is_issue"], flags.any(axis=1))
    # the label check is CleanLearning's (min_examples_per_class=10), as Datalab's
    single = data.cl.find_label_issues(label="y", pred_probs="p_*", min_examples_per_class=10)
    np.testing.assert_array_equal(out["is_label_issue"], single["is_issue"])
    np.testing.assert_allclose(out["label_score"], single["label_score"])
    assert out.loc[5, "is_outlier_issue"]
    assert out.loc[7, "is_near_duplicate_issue"] and out.loc[8, "is_near_duplicate_issue"]
    # same rows, same order, input untouched
    assert list(out.columns[: len(data.columns)]) == list(data.columns)
    assert len(out) == len(data)


def test_checks_follow_the_columns_given(data):
    report = data.cl.audit(label="y", pred_probs="p_*")
    assert report.checks == ["label", "outlier", "non_iid", "class_imbalance"]
    report = data.cl.audit(features="emb_*", progress=False)
    assert report.checks == ["null", "outlier", "near_duplicate", "non_iid"]
    summary = report.summary
    assert list(summary["issue_type"]) == report.checks
    assert "Audit" in repr(report) and "<table" in report._repr_html_()
    only = data.cl.audit(label="y", pred_probs="p_*", checks=["label"])
    assert only.checks == ["label"] and "is_outlier_issue" not in only.issues


def test_bad_audit_requests(data):
    with pytest.raises(ValidationError, match="no check"):
        data.cl.audit()
    with pytest.raises(ValidationError, match="unknown checks"):
        data.cl.audit(label="y", checks=["spelling"])
    with pytest.raises(ValidationError, match="near_duplicate"):
        data.cl.audit(label="y", pred_probs="p_*", checks=["near_duplicate"])
    clash = data.assign(is_issue=False)
    with pytest.raises(ValidationError, match="is_issue"):
        clash.cl.find_issues(label="y", pred_probs="p_*")
    before = data.copy(deep=True)
    data.cl.find_issues(label="y", pred_probs="p_*")
    pd.testing.assert_frame_equal(data, before)
