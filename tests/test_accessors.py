"""The .cl namespace: every method forwards to a public function, with its docs and signature."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

import cleanframe
from cleanframe._accessors import CleanAccessor, _Forward

from .conftest import to_pandas

METHODS = sorted(k for k, v in vars(CleanAccessor).items() if isinstance(v, _Forward))


@pytest.mark.parametrize("name", METHODS)
def test_every_method_forwards_to_a_documented_public_function(constructor, name):
    df = constructor(pd.DataFrame({"a": [1.0]}))
    target = getattr(CleanAccessor, name)  # class access gives the target function
    method = getattr(df.cl, name)
    assert callable(target) and target.__doc__
    assert "Examples" in target.__doc__ or "Parameters" in target.__doc__
    assert method.__doc__ == target.__doc__
    params = list(inspect.signature(target).parameters)
    assert list(inspect.signature(method).parameters) == params[1:]
    # the same names are reachable from the package itself
    assert getattr(cleanframe, name) is target


def test_accessor_on_every_engine_keeps_the_type(constructor):
    df = pd.DataFrame({"y": ["a", "b", "a"], "p_a": [0.8, 0.3, 0.6], "p_b": [0.2, 0.7, 0.4]})
    frame = constructor(df)
    out = frame.cl.find_label_issues(label="y", pred_probs="p_*")
    assert type(out) is type(frame)


def test_regression_targets_forward_from_both_label_methods(constructor):
    from cleanframe import regression

    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    data = pd.DataFrame({"price": y, "pred": y + rng.normal(scale=0.1, size=200)})
    data.loc[3, "price"] += 5
    df = constructor(data)
    pd.testing.assert_frame_equal(
        to_pandas(df.cl.label_quality_scores(label="price", predictions="pred")),
        to_pandas(regression.label_quality_scores(df, label="price", predictions="pred")),
    )
    pd.testing.assert_frame_equal(
        to_pandas(df.cl.find_label_issues(label="price", predictions="pred")),
        to_pandas(regression.find_label_issues(df, label="price", predictions="pred")),
    )
    issues = to_pandas(df.cl.find_label_issues(label="price", predictions="pred"))
    assert issues["is_issue"].iloc[3]
