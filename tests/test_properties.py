"""Hypothesis properties of the label-issue functions and the scoring kernels.

Probabilities are continuous random draws (Dirichlet), so ties between scores have probability
zero and every filter must be invariant to the row order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleanframe.scoring.classification import count, filter as kernel_filter, rank

from .conftest import FRAME_TYPES, label_frame, make_frame, to_pandas

SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
FILTERS = kernel_filter.FILTER_BY  # every filter_by rule
RANK_METHODS = rank.RANK_METHODS
NAMES = ("ant", "bee", "cow", "doe", "elk", "fox")


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
    labels = np.where(rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.4])), rng.integers(0, k, n), true)
    labels[:k] = np.arange(k)  # every class occurs
    return labels, p


def frame_of(labels, p, names=NAMES):
    return label_frame(labels, p, list(names[: p.shape[1]]))


def run(frame, **kwargs):
    kwargs.setdefault("label", "y")
    kwargs.setdefault("pred_probs", "p_*")
    out = frame.cl.find_label_issues(**kwargs)
    return to_pandas(out.collect() if isinstance(out, pl.LazyFrame) else out)


# ------------------------------------------------------------------------------------------
# frame level
# ------------------------------------------------------------------------------------------
@SETTINGS
@given(problems(), st.sampled_from(RANK_METHODS), st.booleans())
def test_scores_in_unit_interval(problem, method, adjust):
    labels, p = problem
    adjust = adjust and method != "confidence_weighted_entropy"
    out = run(frame_of(labels, p), rank_by=method, rank_by_kwargs={"adjust_pred_probs": adjust})
    scores = out["label_score"].to_numpy()
    assert np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()


@SETTINGS
@given(problems(max_n=80), st.sampled_from(FILTERS))
def test_pandas_equals_polars_equals_lazy(problem, filter_by):
    labels, p = problem
    df = frame_of(labels, p)
    results = {kind: run(make_frame(kind, df), filter_by=filter_by) for kind in FRAME_TYPES}
    ref = results["pandas"]
    for kind in FRAME_TYPES[1:]:
        got = results[kind]
        np.testing.assert_array_equal(got["label_score"].to_numpy(float), ref["label_score"].to_numpy(float))
        np.testing.assert_array_equal(got["is_issue"].to_numpy(bool), ref["is_issue"].to_numpy(bool))
        assert got["predicted_label"].astype(str).tolist() == ref["predicted_label"].astype(str).tolist()
    counts = {kind: make_frame(kind, df).cl.num_label_issues(label="y", pred_probs="p_*") for kind in FRAME_TYPES}
    assert len(set(counts.values())) == 1


@SETTINGS
@given(problems(max_n=80), st.sampled_from(["pandas", "polars", "polars_lazy"]), st.booleans())
def test_input_unmodified(problem, kind, noisy):
    labels, p = problem
    if noisy:  # rounding noise inside the tolerance: the values get clipped and renormalized
        p = p * (1 + 5e-5)
        p[0] = 0.0
        p[0, 0] = 1.00001
    source = p.copy()
    df = make_frame(kind, frame_of(labels, p))
    before = to_pandas(df.collect() if isinstance(df, pl.LazyFrame) else df).copy(deep=True)
    run(df)
    df.cl.health_summary(label="y", pred_probs="p_*")
    array_frame = pl.DataFrame({"y": labels, "pp": p})  # possibly zero-copy from p
    run(array_frame, pred_probs="pp")
    after = to_pandas(df.collect() if isinstance(df, pl.LazyFrame) else df)
    pd.testing.assert_frame_equal(after, before)
    np.testing.assert_array_equal(p, source)


@SETTINGS
@given(problems(), st.sampled_from(FILTERS), st.randoms(use_true_random=False))
def test_row_order_invariance(problem, filter_by, random):
    labels, p = problem
    df = frame_of(labels, p)
    perm = np.array(random.sample(range(len(df)), len(df)))
    out = run(df, filter_by=filter_by)
    shuffled = run(df.iloc[perm], filter_by=filter_by)
    # the shuffled result is the original result, shuffled (index labels follow their rows)
    assert shuffled.index.tolist() == perm.tolist()
    np.testing.assert_array_equal(shuffled["label_score"].to_numpy(), out["label_score"].to_numpy()[perm])
    assert shuffled["predicted_label"].tolist() == out["predicted_label"].to_numpy()[perm].tolist()
    # continuous probabilities: no ties, so the flagged rows are the same rows
    np.testing.assert_array_equal(shuffled["is_issue"].to_numpy(), out["is_issue"].to_numpy()[perm])


@SETTINGS
@given(problems(), st.sampled_from(FILTERS), st.permutations(["zebra", "aardvark", "mole", "bat", "yak"]))
def test_renaming_classes_does_not_change_flags(problem, filter_by, new_names):
    labels, p = problem
    k = p.shape[1]
    out = run(frame_of(labels, p), filter_by=filter_by)
    renamed = run(frame_of(labels, p, names=new_names[:k]), filter_by=filter_by)
    np.testing.assert_array_equal(renamed["is_issue"].to_numpy(), out["is_issue"].to_numpy())
    np.testing.assert_array_equal(renamed["label_score"].to_numpy(), out["label_score"].to_numpy())
    rename = dict(zip(NAMES[:k], new_names[:k]))
    assert renamed["predicted_label"].tolist() == [rename[v] for v in out["predicted_label"]]


# ------------------------------------------------------------------------------------------
# scoring kernels: read-only inputs work and are not modified
# ------------------------------------------------------------------------------------------
def _read_only(labels, p, layout):
    if layout == "fortran":
        p = np.asfortranarray(p)
    elif layout == "strided":  # a non-contiguous view into a wider array
        wide = np.zeros((p.shape[0], 2 * p.shape[1]))
        wide[:, ::2] = p
        p = wide[:, ::2]
    elif layout == "float32":
        p = p.astype(np.float32)
    labels = labels.copy()
    for a in (labels, p):
        a.setflags(write=False)
    return labels, p


@SETTINGS
@given(problems(), st.sampled_from(FILTERS), st.sampled_from(["c", "fortran", "strided", "float32"]))
def test_kernels_accept_read_only_inputs(problem, filter_by, layout):
    labels0, p0 = problem
    labels, p = _read_only(labels0, p0, layout)
    kept_labels, kept_p = labels.copy(), p.copy()
    writable_p = p.copy()

    mask = kernel_filter.find_label_issues(labels, p, filter_by=filter_by)
    assert mask.dtype == bool and mask.shape == labels.shape
    np.testing.assert_array_equal(mask, kernel_filter.find_label_issues(labels0.copy(), writable_p, filter_by=filter_by))

    for method in RANK_METHODS:
        scores = rank.get_label_quality_scores(labels, p, method=method)
        assert ((scores >= 0) & (scores <= 1)).all()
        np.testing.assert_array_equal(scores, rank.get_label_quality_scores(labels0.copy(), writable_p, method=method))
    adjusted = rank.get_label_quality_scores(labels, p, adjust_pred_probs=True)
    assert ((adjusted >= 0) & (adjusted <= 1)).all()

    cj = count.compute_confident_joint(labels, p)
    assert cj.shape == (p.shape[1], p.shape[1])
    np.testing.assert_array_equal(cj, count.compute_confident_joint(labels0.copy(), writable_p))
    cj_raw, offdiag = count.compute_confident_joint(
        labels, p, calibrate=False, return_indices_of_off_diagonals=True
    )
    # off-diagonal rows: ascending positions whose given label is not the confident guess
    off = cj_raw - np.diag(np.diagonal(cj_raw))
    assert len(offdiag) == off.sum()
    assert (np.diff(offdiag) > 0).all()
    assert cj.sum() == pytest.approx(len(labels), abs=p.shape[1])  # calibrated: rows sum to counts

    np.testing.assert_array_equal(labels, kept_labels)
    np.testing.assert_array_equal(p, kept_p)
    assert not labels.flags.writeable and not p.flags.writeable


@pytest.mark.parametrize("layout", ["c", "fortran", "strided", "float32"])
def test_kernels_read_only_example(layout):
    """A fixed example of the property above, so that a failure is easy to reproduce."""
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), 60)
    labels = np.where(rng.random(60) < 0.2, rng.integers(0, 3, 60), p.argmax(axis=1))
    labels[:3] = [0, 1, 2]
    ro_labels, ro_p = _read_only(labels, p, layout)
    before = ro_p.copy()
    kernel_filter.find_label_issues(ro_labels, ro_p)
    rank.get_label_quality_scores(ro_labels, ro_p, adjust_pred_probs=True)
    count.compute_confident_joint(ro_labels, ro_p)
    np.testing.assert_array_equal(ro_p, before)
