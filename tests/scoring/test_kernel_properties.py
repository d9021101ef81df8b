"""Hypothesis properties of the classification kernels: read-only inputs of any memory layout
work, give the results of writable ones, and are not modified."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cleanframe.scoring.classification import count, rank
from cleanframe.scoring.classification import filter as kernel_filter

from ..conftest import HYPOTHESIS_SETTINGS, problems

SETTINGS = HYPOTHESIS_SETTINGS
FILTERS = kernel_filter.FILTER_BY  # every filter_by rule
RANK_METHODS = rank.RANK_METHODS


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
@given(
    problems(), st.sampled_from(FILTERS), st.sampled_from(["c", "fortran", "strided", "float32"])
)
def test_kernels_accept_read_only_inputs(problem, filter_by, layout):
    labels0, p0 = problem
    labels, p = _read_only(labels0, p0, layout)
    kept_labels, kept_p = labels.copy(), p.copy()
    writable_p = p.copy()

    mask = kernel_filter.find_label_issues(labels, p, filter_by=filter_by)
    assert mask.dtype == bool and mask.shape == labels.shape
    np.testing.assert_array_equal(
        mask, kernel_filter.find_label_issues(labels0.copy(), writable_p, filter_by=filter_by)
    )

    for method in RANK_METHODS:
        scores = rank.get_label_quality_scores(labels, p, method=method)
        assert ((scores >= 0) & (scores <= 1)).all()
        np.testing.assert_array_equal(
            scores, rank.get_label_quality_scores(labels0.copy(), writable_p, method=method)
        )
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
