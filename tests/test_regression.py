"""Regression label issues: OUTRE / residual scores, the frame function, regression CleanLearning.

cleanlab 2.9 is the reference (imported here only). OUTRE parity is checked on both of cleanlab's
metric paths (scipy's euclidean for N <= 100, sklearn's for N > 100), with duplicated points, and
against Datalab's regression label check for the is_issue rule.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cleanframe.errors import ValidationError
from cleanframe.models import CleanLearning
from cleanframe.regression import find_label_issues, label_quality_scores
from cleanframe.scoring.regression import outre as kr

from .conftest import to_pandas

cl_rank = pytest.importorskip("cleanlab.regression.rank")
cl_learn = pytest.importorskip("cleanlab.regression.learn")


def _data(n, seed=0, corrupt=0.05):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n) * 3 + 10
    pred = y + rng.normal(scale=0.5, size=n)
    bad = rng.choice(n, size=max(1, int(corrupt * n)), replace=False)
    y[bad] += rng.choice([-1, 1], size=len(bad)) * rng.uniform(4, 8, size=len(bad))
    return y, pred


def _readonly(*arrays_):
    out = []
    for a in arrays_:
        a = np.array(a, dtype=np.float64)
        a.setflags(write=False)
        out.append(a)
    return out


# ------------------------------------------------------------------------------------------
# kernels
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 10, 99, 100, 101, 257, 1500])
@pytest.mark.parametrize("method", ["outre", "residual"])
def test_scores_match_cleanlab(n, method):
    y, pred = _readonly(*_data(n, seed=n))
    ours = kr.get_label_quality_scores(y, pred, method=method)
    theirs = cl_rank.get_label_quality_scores(y, pred, method=method)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_single_row_scores_one():
    # cleanlab rejects N = 1 (its squeeze makes a 0-d array); one point is its own neighbour
    assert kr.get_label_quality_scores(np.array([3.0]), np.array([1.0])).tolist() == [1.0]


def test_outre_matches_cleanlab_with_duplicates_and_ties():
    rng = np.random.default_rng(3)
    y = np.round(rng.normal(size=400), 1)  # many tied labels
    pred = np.round(y + rng.normal(scale=0.3, size=400), 1)
    y[:50], pred[:50] = y[0], pred[0]  # 50 identical points (distance 0 to each other)
    ours = kr.get_label_quality_scores(y, pred)
    theirs = cl_rank.get_label_quality_scores(y, pred)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert (ours[:50] == ours[0]).all()


def test_outre_precision_fix_gives_exact_one():
    # more than half the points identical: their k nearest are all at distance 0 -> score 1
    y = np.r_[np.zeros(60), np.arange(40.0)]
    pred = np.r_[np.zeros(60), np.arange(40.0) * 2]
    ours = kr.get_label_quality_scores(y, pred)
    assert (ours[:60] == 1.0).all()
    np.testing.assert_allclose(ours, cl_rank.get_label_quality_scores(y, pred), rtol=1e-9)


@pytest.mark.parametrize("block", [1, 7, 1000, 1 << 22])
def test_mean_knn_distance_is_exact_for_any_block_size(block):
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(300, 2))
    pts[10] = pts[11]
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    for k in (1, 2, 150, 299, 300):
        brute = np.sort(d, axis=1)[:, :k].mean(axis=1)
        np.testing.assert_allclose(
            kr.outre_mean_knn_distance(pts, k, block_elements=block), brute, rtol=1e-12, atol=1e-15
        )


def test_mean_knn_distance_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be"):
        kr.outre_mean_knn_distance(np.zeros((3, 2)), 4)


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 60).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=finite), arrays(np.float64, n, elements=finite)
        )
    ),
    st.randoms(use_true_random=False),
)
def test_scores_in_unit_interval_inputs_unchanged_and_row_order_invariant(yp, rnd):
    y, pred = _readonly(*yp)
    before = (y.copy(), pred.copy())
    for method in kr.METHODS:
        s = kr.get_label_quality_scores(y, pred, method=method)
        assert s.shape == y.shape
        assert np.all((s >= 0) & (s <= 1))
        perm = np.arange(len(y))
        rnd.shuffle(perm)
        s_perm = kr.get_label_quality_scores(y[perm], pred[perm], method=method)
        np.testing.assert_allclose(s_perm, s[perm], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(y, before[0])
    np.testing.assert_array_equal(pred, before[1])


def test_find_issues_from_scores_rule():
    s = np.array([0.5, 0.4, 0.019, 0.021, 0.6])  # median 0.4 -> cut 0.02
    assert kr.find_issues_from_scores(s).tolist() == [False, False, True, False, False]
    assert kr.find_issues_from_scores(s, threshold=0.1).tolist() == [
        False,
        False,
        True,
        True,
        False,
    ]


def test_unknown_method_and_length_mismatch():
    with pytest.raises(ValueError, match="method"):
        kr.get_label_quality_scores(np.ones(3), np.ones(3), method="nope")
    with pytest.raises(ValueError, match="length"):
        kr.get_label_quality_scores(np.ones(3), np.ones(4))


# ------------------------------------------------------------------------------------------
# frame function
# ------------------------------------------------------------------------------------------
def _frame(n=300, seed=0):
    y, pred = _data(n, seed=seed)
    return pd.DataFrame(
        {"id": np.arange(n), "price": y, "predicted_price": pred},
        index=pd.RangeIndex(1000, 1000 + n),
    )


def test_frame_function_matches_datalab_regression_label_check(constructor):
    Datalab = pytest.importorskip("cleanlab").Datalab
    df = _frame(300, seed=4)
    lab = Datalab(
        {"price": df.price.to_numpy()}, task="regression", label_name="price", verbosity=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(pred_probs=df.predicted_price.to_numpy(), issue_types={"label": {}})
    ref = lab.get_issues("label")
    out = to_pandas(
        find_label_issues(constructor(df), label="price", predictions="predicted_price")
    )
    np.testing.assert_allclose(out.label_score.to_numpy(), ref.label_score.to_numpy(), rtol=1e-9)
    np.testing.assert_array_equal(out.is_issue.to_numpy(), ref.is_label_issue.to_numpy())
    assert out.is_issue.sum() > 0
    np.testing.assert_array_equal(out.predicted_label.to_numpy(), df.predicted_price.to_numpy())


def test_frame_types_agree_and_input_is_unchanged(constructor):
    base = _frame(150, seed=2)
    df = constructor(base)
    snapshot = to_pandas(df).copy()
    out = find_label_issues(df, label="price", predictions="predicted_price")
    assert type(out) is type(df)
    res = to_pandas(out)
    ref = find_label_issues(base, label="price", predictions="predicted_price")
    np.testing.assert_allclose(res.label_score.to_numpy(), ref.label_score.to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(res.is_issue.to_numpy(dtype=bool), ref.is_issue.to_numpy())
    assert list(res.columns) == [
        "id",
        "price",
        "predicted_price",
        "label_score",
        "is_issue",
        "predicted_label",
    ]
    pd.testing.assert_frame_equal(to_pandas(df), snapshot)
    if constructor.kind.startswith("pandas"):
        assert (res.index == base.index).all()


def test_residual_method_and_scores_only(constructor):
    df = constructor(_frame(50))
    out = to_pandas(
        find_label_issues(df, label="price", predictions="predicted_price", method="residual")
    )
    base = _frame(50)
    np.testing.assert_allclose(
        out.label_score.to_numpy(), np.exp(-np.abs(base.predicted_price - base.price)).to_numpy()
    )
    scored = to_pandas(label_quality_scores(df, label="price", predictions="predicted_price"))
    assert "is_issue" not in scored.columns
    np.testing.assert_allclose(
        scored.label_score.to_numpy(),
        cl_rank.get_label_quality_scores(base.price.to_numpy(), base.predicted_price.to_numpy()),
        rtol=1e-9,
    )


@pytest.mark.parametrize("column", ["price", "predicted_price"])
def test_nan_or_null_values_are_rejected_naming_the_column(constructor, column):
    base = _frame(20)
    base.loc[1003, column] = np.nan
    with pytest.raises(ValidationError, match=column) as info:
        find_label_issues(constructor(base), label="price", predictions="predicted_price")
    assert info.value.rule == "finite"


def test_bad_inputs(constructor):
    base = _frame(20)
    base["name"] = "x"
    df = constructor(base)
    with pytest.raises(ValidationError, match="nope"):
        find_label_issues(df, label="nope", predictions="predicted_price")
    with pytest.raises(ValidationError, match="name"):
        find_label_issues(df, label="price", predictions="name")
    with pytest.raises(ValidationError, match="price"):
        find_label_issues(df, label="price", predictions="price")
    clash = constructor(base.assign(label_score=0.0))
    with pytest.raises(ValidationError, match="label_score"):
        find_label_issues(clash, label="price", predictions="predicted_price")
    out = find_label_issues(clash, label="price", predictions="predicted_price", overwrite=True)
    assert to_pandas(out).label_score.between(0, 1).all()
    with pytest.raises(ValueError, match="method"):
        find_label_issues(df, label="price", predictions="predicted_price", method="knn")


def test_empty_frame_is_rejected(constructor):
    empty = pd.DataFrame({"y": np.array([], dtype=float), "p": np.array([], dtype=float)})
    with pytest.raises(ValidationError, match="no rows"):
        find_label_issues(constructor(empty), label="y", predictions="p")


# ------------------------------------------------------------------------------------------
# regression CleanLearning
# ------------------------------------------------------------------------------------------
def _xy(n=200, seed=0, noisy=0.1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.3, size=n)
    bad = rng.choice(n, int(noisy * n), replace=False)
    y[bad] += rng.choice([-1, 1], len(bad)) * rng.uniform(3, 6, len(bad))
    return X, y


def _cleanlab_regression(model, X, y, seed, **kwargs):
    """cleanlab's regression CleanLearning draws folds from the global numpy RNG."""
    init = {k: kwargs.pop(k) for k in ("n_boot", "include_aleatoric_uncertainty") if k in kwargs}
    cl = cl_learn.CleanLearning(model, **init)
    np.random.seed(seed)
    return cl, cl.find_label_issues(X, y, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {
            "n_boot": 5,
            "include_aleatoric_uncertainty": True,
            "coarse_search_range": [0.05, 0.1],
            "fine_search_size": 2,
        },  # the FAQ's knobs
        {"n_boot": 0, "include_aleatoric_uncertainty": False, "coarse_search_range": [0.1]},
        {"coarse_search_range": [0.02, 0.3, 0.1], "fine_search_size": 0},
    ],
)
def test_regression_cleanlearning_matches_cleanlab(kwargs):
    from sklearn.linear_model import LinearRegression

    X, y = _xy(200, seed=5)
    _, ref = _cleanlab_regression(LinearRegression(), X, y, 11, **dict(kwargs))
    init = {k: kwargs[k] for k in ("n_boot", "include_aleatoric_uncertainty") if k in kwargs}
    call = {k: v for k, v in kwargs.items() if k not in init}
    ours = CleanLearning(LinearRegression(), seed=11, **init).find_label_issues(X, y, **call)
    np.testing.assert_allclose(ours.label_score.to_numpy(), ref.label_quality.to_numpy(), rtol=1e-9)
    np.testing.assert_array_equal(ours.is_issue.to_numpy(), ref.is_label_issue.to_numpy())
    np.testing.assert_allclose(ours.predicted_label.to_numpy(), ref.predicted_label.to_numpy())
    assert ours.is_issue.sum() > 0


def test_regression_fit_predict_score_match_cleanlab_and_are_deterministic():
    from sklearn.linear_model import LinearRegression

    X, y = _xy(200, seed=8)
    ref = cl_learn.CleanLearning(LinearRegression())
    np.random.seed(3)
    ref.fit(X, y)
    ours = CleanLearning(LinearRegression(), seed=3).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-10)
    assert ours.score(X, y) == pytest.approx(ref.score(X, y))
    again = CleanLearning(LinearRegression(), seed=3).fit(X, y)
    np.testing.assert_array_equal(again.predict(X), ours.predict(X))
    assert not hasattr(ours, "predict_proba")
    assert 0 < ours.k_ <= 0.2


def test_regression_cleaning_improves_the_fit_on_clean_test_data():
    from sklearn.linear_model import LinearRegression

    X, y = _xy(400, seed=1, noisy=0.15)
    Xt, yt = _xy(400, seed=2, noisy=0.0)
    plain = LinearRegression().fit(X, y).score(Xt, yt)
    cleaned = CleanLearning(LinearRegression()).fit(X, y).score(Xt, yt)
    assert cleaned > plain


def _column(frame, name):
    """Column ``name`` of a frame of any type as the library's Series (a LazyFrame, which has
    none: as a one-column LazyFrame, which CleanLearning takes as y too)."""
    return frame.select(name) if isinstance(frame, pl.LazyFrame) else frame[name]


def test_regression_with_given_uncertainty_on_every_frame_type(constructor):
    from sklearn.linear_model import LinearRegression

    X, y = _xy(120, seed=4)
    cl = CleanLearning(LinearRegression(), n_boot=0)
    index = pd.RangeIndex(0, 240, 2)
    X_df = constructor(pd.DataFrame(X, columns=["a", "b", "c"], index=index))
    target = _column(constructor(pd.DataFrame({"target": y}, index=index)), "target")
    out = cl.find_label_issues(X_df, target, uncertainty=1.0)
    assert isinstance(
        out, pl.DataFrame if isinstance(X_df, (pl.DataFrame, pl.LazyFrame)) else pd.DataFrame
    )
    res = to_pandas(out)
    if constructor.kind.startswith("pandas"):
        assert (res.index == index).all()
    ref = cl.find_label_issues(X, y, uncertainty=1.0)
    np.testing.assert_allclose(res.label_score.to_numpy(), ref.label_score.to_numpy())
    np.testing.assert_array_equal(res.is_issue.to_numpy(), ref.is_issue.to_numpy())
    cl.fit(X_df, target, label_issues=out)
    np.testing.assert_allclose(cl.predict(X_df), cl.fit(X, y, label_issues=ref).predict(X))
    with pytest.raises(ValidationError, match="uncertainty"):
        cl.find_label_issues(X, y, uncertainty=np.ones(3))


def test_regression_nan_target_names_the_column(constructor):
    from sklearn.linear_model import LinearRegression

    X, y = _xy(50)
    y[7] = np.nan
    target = _column(constructor(pd.DataFrame({"price": y})), "price")
    with pytest.raises(ValidationError, match="price") as info:
        CleanLearning(LinearRegression()).find_label_issues(X, target)
    assert info.value.rule == "finite" and info.value.failure_cases[0][0] == 7
    with pytest.raises(ValidationError, match="price"):
        CleanLearning(LinearRegression()).fit(X, target)
    with pytest.raises(ValidationError, match="price") as info:
        CleanLearning(LinearRegression()).find_label_issues(X[:40], target)
    assert info.value.rule == "same_length"
