"""Hypothesis properties of the label-issue functions, on every frame type.

Probabilities are continuous random draws (Dirichlet), so ties between scores have probability
zero and every filter must be invariant to the row order. The kernels' properties are in
``tests/scoring/test_kernel_properties.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from cleanframe.scoring.classification import filter as kernel_filter
from cleanframe.scoring.classification import rank

from .conftest import (
    FRAME_TYPES,
    HYPOTHESIS_SETTINGS,
    label_frame,
    make_frame,
    problems,
    to_pandas,
)

SETTINGS = HYPOTHESIS_SETTINGS
FILTERS = kernel_filter.FILTER_BY  # every filter_by rule
RANK_METHODS = rank.RANK_METHODS
NAMES = ("ant", "bee", "cow", "doe", "elk", "fox")


def frame_of(labels, p, names=NAMES):
    return label_frame(labels, p, list(names[: p.shape[1]]))


def run(frame, **kwargs):
    kwargs.setdefault("label", "y")
    kwargs.setdefault("pred_probs", "p_*")
    return to_pandas(frame.cl.find_label_issues(**kwargs))


# ------------------------------------------------------------------------------------------
# frame level
# ------------------------------------------------------------------------------------------
@SETTINGS
@given(problems(), st.sampled_from(RANK_METHODS), st.booleans())
def test_scores_in_unit_interval(constructor, problem, method, adjust):
    labels, p = problem
    adjust = adjust and method != "confidence_weighted_entropy"
    out = run(
        constructor(frame_of(labels, p)),
        rank_by=method,
        rank_by_kwargs={"adjust_pred_probs": adjust},
    )
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
        np.testing.assert_array_equal(
            got["label_score"].to_numpy(float), ref["label_score"].to_numpy(float)
        )
        np.testing.assert_array_equal(
            got["is_issue"].to_numpy(bool), ref["is_issue"].to_numpy(bool)
        )
        assert (
            got["predicted_label"].astype(str).tolist()
            == ref["predicted_label"].astype(str).tolist()
        )
    counts = {
        kind: make_frame(kind, df).cl.num_label_issues(label="y", pred_probs="p_*")
        for kind in FRAME_TYPES
    }
    assert len(set(counts.values())) == 1


@SETTINGS
@given(problems(max_n=80), st.booleans())
def test_input_unmodified(constructor, problem, noisy):
    labels, p = problem
    if noisy:  # rounding noise inside the tolerance: the values get clipped and renormalized
        p = p * (1 + 5e-5)
        p[0] = 0.0
        p[0, 0] = 1.00001
    source = p.copy()
    df = constructor(frame_of(labels, p))
    before = to_pandas(df).copy(deep=True)
    run(df)
    df.cl.health_summary(label="y", pred_probs="p_*")
    array_frame = pl.DataFrame({"y": labels, "pp": p})  # possibly zero-copy from p
    run(array_frame, pred_probs="pp")
    after = to_pandas(df)
    pd.testing.assert_frame_equal(after, before)
    np.testing.assert_array_equal(p, source)


@SETTINGS
@given(problems(), st.sampled_from(FILTERS), st.randoms(use_true_random=False))
def test_row_order_invariance(constructor, problem, filter_by, random):
    labels, p = problem
    df = frame_of(labels, p)
    perm = np.array(random.sample(range(len(df)), len(df)))
    out = run(constructor(df), filter_by=filter_by)
    shuffled = run(constructor(df.iloc[perm]), filter_by=filter_by)
    # the shuffled result is the original result, shuffled (index labels follow their rows)
    if constructor.kind.startswith("pandas"):
        assert shuffled.index.tolist() == perm.tolist()
    np.testing.assert_array_equal(
        shuffled["label_score"].to_numpy(), out["label_score"].to_numpy()[perm]
    )
    assert shuffled["predicted_label"].tolist() == out["predicted_label"].to_numpy()[perm].tolist()
    # continuous probabilities: no ties, so the flagged rows are the same rows
    np.testing.assert_array_equal(shuffled["is_issue"].to_numpy(), out["is_issue"].to_numpy()[perm])


@SETTINGS
@given(
    problems(),
    st.sampled_from(FILTERS),
    st.permutations(["zebra", "aardvark", "mole", "bat", "yak"]),
)
def test_renaming_classes_does_not_change_flags(constructor, problem, filter_by, new_names):
    labels, p = problem
    k = p.shape[1]
    out = run(constructor(frame_of(labels, p)), filter_by=filter_by)
    renamed = run(constructor(frame_of(labels, p, names=new_names[:k])), filter_by=filter_by)
    np.testing.assert_array_equal(renamed["is_issue"].to_numpy(), out["is_issue"].to_numpy())
    np.testing.assert_array_equal(renamed["label_score"].to_numpy(), out["label_score"].to_numpy())
    rename = dict(zip(NAMES[:k], new_names[:k]))
    assert renamed["predicted_label"].tolist() == [rename[v] for v in out["predicted_label"]]
