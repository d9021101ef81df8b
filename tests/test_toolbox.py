"""The rest of cleanlab's toolbox: CleanLearning options (known noise matrices, validation_func,
N-dimensional X, tiny classes, low_memory), the regression uncertainties, the argmax-confusion
filter, dataset health from a confident joint, a scalar num_to_remove_per_class, and outlier
scores with a user's fitted NearestNeighbors -- each against cleanlab 2.9."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from cleanframe.errors import ValidationError
from cleanframe.models import CleanLearning

from .conftest import to_pandas

cl_classification = pytest.importorskip("cleanlab.classification")
cl_learn = pytest.importorskip("cleanlab.regression.learn")


def _blobs(n=300, k=3, seed=0, noise=0.1, d=4):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(k, d))
    true = rng.integers(0, k, n)
    X = centers[true] + rng.normal(size=(n, d))
    y = true.copy()
    flip = rng.random(n) < noise
    y[flip] = (y[flip] + rng.integers(1, k, flip.sum())) % k
    return X, y, true


def serial() -> dict:
    """cleanlab's filter in this process (else a process pool: slow on a loaded machine, same
    results). A new dict each time: cleanlab's CleanLearning writes into the one it gets."""
    return {"n_jobs": 1}


NOISE = np.array([[0.8, 0.1, 0.05], [0.15, 0.85, 0.05], [0.05, 0.05, 0.9]])
INVERSE = np.array([[0.9, 0.1, 0.1], [0.05, 0.8, 0.1], [0.05, 0.1, 0.8]])


def _same_issues(ours, ref):
    np.testing.assert_array_equal(ours.is_issue.to_numpy(), ref.is_label_issue.to_numpy())
    np.testing.assert_allclose(ours.label_score.to_numpy(), ref.label_quality.to_numpy())


# ------------------------------------------------------------------------------------------
# CleanLearning: known noise matrices
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "known",
    [
        {"noise_matrix": NOISE},
        {"inverse_noise_matrix": INVERSE},
        {"noise_matrix": NOISE, "inverse_noise_matrix": INVERSE},
    ],
    ids=["noise", "inverse", "both"],
)
def test_known_noise_matrices_match_cleanlab(known):
    X, y, _ = _blobs(240, 3, seed=4, noise=0.15)
    ref = cl_classification.CleanLearning(
        LogisticRegression(), seed=1, find_label_issues_kwargs=serial()
    )
    ours = CleanLearning(LogisticRegression(), seed=1)
    _same_issues(ours.find_label_issues(X, y, **known), ref.find_label_issues(X, y, **known))
    np.testing.assert_allclose(ours.noise_matrix_, ref.noise_matrix, rtol=1e-12)
    np.testing.assert_allclose(ours.inverse_noise_matrix_, ref.inverse_noise_matrix, rtol=1e-12)
    np.testing.assert_array_equal(ours.confident_joint_, ref.confident_joint)
    if "noise_matrix" in known and "inverse_noise_matrix" not in known:
        np.testing.assert_allclose(ours.py_, ref.py, rtol=1e-12)
    # given matrices are kept as given, and the fit weights classes by the known diagonal
    np.testing.assert_array_equal(ours.noise_matrix_ is not None, True)
    ref = cl_classification.CleanLearning(
        LogisticRegression(), seed=1, find_label_issues_kwargs=serial()
    ).fit(X, y, **known)
    ours = CleanLearning(LogisticRegression(), seed=1).fit(X, y, **known)
    kept = ~ours.label_issues_mask_
    np.testing.assert_allclose(ours.sample_weight_, ref.sample_weight.to_numpy()[kept])
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-10)


def test_known_noise_matrix_changes_the_weights_not_the_issues():
    X, y, _ = _blobs(240, 3, seed=4, noise=0.15)
    plain = CleanLearning(LogisticRegression(), seed=1).fit(X, y)
    known = CleanLearning(LogisticRegression(), seed=1).fit(X, y, noise_matrix=NOISE)
    np.testing.assert_array_equal(plain.label_issues_mask_, known.label_issues_mask_)
    np.testing.assert_array_equal(known.noise_matrix_, NOISE)
    by_class = {int(c): w for c, w in zip(y[~known.label_issues_mask_], known.sample_weight_)}
    assert by_class == pytest.approx({k: 1 / NOISE[k, k] for k in range(3)})
    assert not np.allclose(plain.sample_weight_, known.sample_weight_)


@pytest.mark.parametrize(
    ("matrix", "rule"),
    [
        (np.eye(2), "shape"),
        (np.full((3, 3), 1 / 3), "trace"),
        (NOISE * 1.5, "in_range"),
        (NOISE * 0.9, "columns_sum_to_1"),
        (np.where(np.eye(3) > 0, np.nan, 0.0), "in_range"),
    ],
)
@pytest.mark.parametrize("name", ["noise_matrix", "inverse_noise_matrix"])
def test_bad_noise_matrices(matrix, rule, name):
    X, y, _ = _blobs(90, 3, seed=1)
    with pytest.raises(ValidationError, match=name) as info:
        CleanLearning().find_label_issues(X, y, **{name: matrix})
    assert info.value.rule == rule
    with pytest.raises(ValidationError, match=name):
        CleanLearning().fit(X, y, **{name: matrix})


# ------------------------------------------------------------------------------------------
# CleanLearning: validation_func
# ------------------------------------------------------------------------------------------
class _PicksC(LogisticRegression):
    """Chooses C on the validation rows a validation_func gives: the result depends on them."""

    seen: list = []

    def fit(self, X, y, sample_weight=None, X_val=None, y_val=None):
        if X_val is not None:
            type(self).seen.append((type(X_val).__name__, len(X_val)))
            scores = {c: LogisticRegression(C=c).fit(X, y).score(X_val, y_val) for c in (1e-3, 1.0)}
            self.C = max(scores, key=lambda c: (scores[c], c))
        return super().fit(X, y, sample_weight=sample_weight)


def _validation(X_val, y_val):
    return {"X_val": X_val, "y_val": y_val}


def test_validation_func_matches_cleanlab():
    X, y, _ = _blobs(150, 3, seed=7, noise=0.25)
    ref = cl_classification.CleanLearning(_PicksC(), seed=3, find_label_issues_kwargs=serial())
    ours = CleanLearning(_PicksC(), seed=3)
    _same_issues(
        ours.find_label_issues(X, y, validation_func=_validation),
        ref.find_label_issues(X, y, validation_func=_validation),
    )
    without = CleanLearning(_PicksC(), seed=3).find_label_issues(X, y)
    assert not np.allclose(without.label_score, ours.label_issues_.label_score)


def test_validation_func_gets_holdout_rows_in_X_type(constructor):
    X, y, _ = _blobs(100, 2, seed=2)
    frame = constructor(pd.DataFrame(X, columns=list("abcd")))
    _PicksC.seen = []
    out = CleanLearning(_PicksC(), cv_n_folds=4).fit(frame, y, validation_func=_validation)
    eager = type(frame).__name__.replace("LazyFrame", "DataFrame")
    assert _PicksC.seen == [(eager, 25)] * 4  # the final fit gets no validation rows
    assert out.predict(frame).shape == (100,)
    with pytest.raises(ValidationError, match="validation_func"):
        CleanLearning().find_label_issues(X, y, validation_func={"X_val": X})


# ------------------------------------------------------------------------------------------
# CleanLearning: N-dimensional X, tiny classes, low_memory
# ------------------------------------------------------------------------------------------
def test_images_are_flattened_for_the_default_model():
    X, y, true = _blobs(120, 3, seed=5, noise=0.1, d=16)
    images = X.reshape(120, 4, 4)
    ref = cl_classification.CleanLearning(seed=0, find_label_issues_kwargs=serial())
    ours = CleanLearning(seed=0)
    _same_issues(ours.find_label_issues(images, y), ref.find_label_issues(images, y))
    ref.fit(images, y)
    ours.fit(images, y)
    assert ours.n_features_in_ == 16
    np.testing.assert_allclose(ours.predict_proba(images), ref.predict_proba(images), rtol=1e-10)
    assert ours.score(images, true) == pytest.approx(ref.score(images, true))
    with pytest.raises(ValueError, match="features"):
        ours.predict(X.reshape(120, 2, 8)[:, :1])


def test_a_model_of_yours_gets_images_as_they_are():
    X, y, _ = _blobs(120, 3, seed=5, d=16)
    shapes = []

    class Flat(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            shapes.append(X.shape[1:])
            return super().fit(X.reshape(len(X), -1), y, sample_weight=sample_weight)

        def predict_proba(self, X):
            return super().predict_proba(X.reshape(len(X), -1))

    CleanLearning(Flat(), cv_n_folds=3).find_label_issues(X.reshape(120, 4, 4), y)
    assert set(shapes) == {(4, 4)}


def test_classes_with_fewer_rows_than_folds_borrow_rows_as_cleanlab():
    X, y, _ = _blobs(120, 3, seed=6, noise=0.1)
    y = y.copy()
    y[:3] = 3  # a class of 3 rows
    y[3] = 4  # a class of 1 row
    ref = cl_classification.CleanLearning(seed=2, find_label_issues_kwargs=serial())
    ours = CleanLearning(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = ref.find_label_issues(X, y)
    with pytest.warns(UserWarning, match="training folds lack classes"):
        got = ours.find_label_issues(X, y)
    _same_issues(got, expected)
    np.testing.assert_array_equal(ours.confident_joint_, ref.confident_joint)
    # the one-row class's out-of-fold prediction is its given label
    assert got.predicted_label.iloc[3] == 4
    with pytest.raises(ValidationError, match="cv_n_folds") as info:
        CleanLearning(cv_n_folds=10).find_label_issues(X[:40], y[:40])
    assert info.value.rule == "min_rows"


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"filter_by": "both", "frac_noise": 0.5},
        {"filter_by": "prune_by_class", "num_to_remove_per_class": 3},
        {"filter_by": "low_normalized_margin"},
        {"filter_by": "confident_learning"},
        {"filter_by": "argmax_confusion"},
    ],
)
def test_low_memory_searches_in_blocks_with_the_same_results(monkeypatch, options):
    # blocks of 97 rows: many blocks, classes absent from some, ties across block edges
    import cleanframe.models.classification as module

    monkeypatch.setattr(module, "LOW_MEMORY_ROWS", 97)
    y, pred_probs = _real("cifar10")
    y, pred_probs = y[:2000], pred_probs[:2000]
    quality = {"method": "normalized_margin", "adjust_pred_probs": True}
    common = dict(find_label_issues_kwargs=options, label_quality_scores_kwargs=quality)
    whole = CleanLearning(**common).find_label_issues(None, y, pred_probs=pred_probs)
    blocks = CleanLearning(low_memory=True, **common).find_label_issues(
        None, y, pred_probs=pred_probs
    )
    pd.testing.assert_frame_equal(blocks, whole)
    assert 0 < whole.is_issue.sum() < len(whole)


# ------------------------------------------------------------------------------------------
# regression CleanLearning: the uncertainties
# ------------------------------------------------------------------------------------------
def _regression(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X @ np.array([1.0, 2.0, -1.0]) + rng.normal(scale=0.3, size=n)
    y[::17] += 4.0
    return X, y


@pytest.mark.parametrize("n_boot", [0, 3])
def test_uncertainties_match_cleanlab(n_boot):
    X, y = _regression()
    predictions = X @ np.array([1.0, 2.0, -1.0])
    ref = cl_learn.CleanLearning(LinearRegression(), n_boot=n_boot)
    ours = CleanLearning(LinearRegression(), n_boot=n_boot, seed=5)
    for given in (None, predictions):
        np.random.seed(5)
        expected = ref.get_epistemic_uncertainty(X, y, predictions=given)
        np.testing.assert_allclose(
            ours.get_epistemic_uncertainty(X, y, predictions=given), expected, atol=1e-12
        )
    np.random.seed(5)
    expected = ref.get_aleatoric_uncertainty(X, predictions - y)
    assert ours.get_aleatoric_uncertainty(X, predictions - y) == pytest.approx(expected, 1e-12)
    # deterministic by seed, and a frame or polars X gives the same numbers
    frame = pl.DataFrame(X, schema=list("abc"))
    np.testing.assert_allclose(
        ours.get_epistemic_uncertainty(frame, pl.Series("y", y)),
        ours.get_epistemic_uncertainty(X, y),
        rtol=1e-10,
    )


def test_uncertainty_adjusted_scores_are_the_ones_find_label_issues_uses():
    """Given the uncertainties, find_label_issues' scores are the reference's
    exp(-r / median r) with r = |residual| / uncertainty."""
    X, y = _regression(seed=3)
    ref = cl_learn.CleanLearning(LinearRegression())
    np.random.seed(2)
    expected = ref.find_label_issues(X, y, uncertainty=0.7)
    out = CleanLearning(LinearRegression(), seed=2).find_label_issues(X, y, uncertainty=0.7)
    np.testing.assert_allclose(out.label_score.to_numpy(), expected.label_quality.to_numpy())
    np.testing.assert_array_equal(out.is_issue.to_numpy(), expected.is_label_issue.to_numpy())


def test_bad_uncertainty_inputs():
    X, y = _regression()
    cl = CleanLearning(LinearRegression(), n_boot=1)
    with pytest.raises(ValidationError, match="predictions") as info:
        cl.get_epistemic_uncertainty(X, y, predictions=np.full(len(y), np.nan))
    assert info.value.rule == "finite"
    with pytest.raises(ValidationError, match="residual"):
        cl.get_aleatoric_uncertainty(X, np.zeros(5))
    with pytest.raises(ValidationError, match="X is required"):
        cl.get_aleatoric_uncertainty(None, np.zeros(len(y)))


# ------------------------------------------------------------------------------------------
# argmax confusion matrix, scalar num_to_remove_per_class
# ------------------------------------------------------------------------------------------
cl_filter = pytest.importorskip("cleanlab.filter")


def _real(name):
    from cleanframe.datasets import load_arrays

    arrays = load_arrays(name)
    P = np.clip(arrays["pred_probs"].astype(np.float64), 0, 1)  # IMDB is float16 (> 1 by 1e-5)
    return arrays["labels"].astype(np.int64), P / P.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("name", ["mnist", "cifar10", "imdb", "20news"])
def test_argmax_confusion_matches_cleanlab_on_real_data(name):
    from cleanframe.scoring.classification import argmax
    from cleanframe.scoring.classification import filter as kernel

    labels, P = _real(name)
    for filter_by in ("prune_by_noise_rate", "prune_by_class", "both"):
        for calibrate in (True, False):
            expected = cl_filter.find_label_issues_using_argmax_confusion_matrix(
                labels, P, calibrate=calibrate, filter_by=filter_by
            )
            got = argmax.find_label_issues_using_argmax_confusion_matrix(
                labels, P, calibrate=calibrate, filter_by=filter_by
            )
            np.testing.assert_array_equal(got, expected)
    default = cl_filter.find_label_issues_using_argmax_confusion_matrix(labels, P)
    np.testing.assert_array_equal(
        kernel.find_label_issues(labels, P, filter_by="argmax_confusion"), default
    )
    # not the confident-learning result: the joint really is the argmax confusion matrix
    assert (kernel.find_label_issues(labels, P) != default).any() or name == "imdb"


def test_argmax_confusion_in_cleanlearning():
    labels, P = _real("cifar10")
    expected = cl_filter.find_label_issues_using_argmax_confusion_matrix(labels, P)
    cl = CleanLearning(
        find_label_issues_kwargs={"filter_by": "argmax_confusion", "min_examples_per_class": 1}
    )
    np.testing.assert_array_equal(
        cl.find_label_issues(None, labels, pred_probs=P).is_issue, expected
    )


@pytest.fixture
def same_rounding_ties(monkeypatch):
    """cleanlab rounds ties by numpy's unstable argsort, cleanframe by class order (a documented
    difference, docs/DIFFERENCES.md): give cleanlab our rule so the rest must be identical."""
    import cleanlab.internal.util as cl_util

    from cleanframe.scoring._common import round_preserving_sum

    monkeypatch.setattr(cl_util, "round_preserving_sum", round_preserving_sum)


def test_scalar_num_to_remove_per_class_means_every_class(constructor, same_rounding_ties):
    from cleanframe.datasets import load_label_errors

    frame = constructor(load_label_errors("cifar10"))
    labels, P = _real("cifar10")
    for filter_by in ("prune_by_class", "prune_by_noise_rate", "both"):
        if filter_by != "prune_by_class" and not isinstance(frame, pd.DataFrame):
            continue  # the other rules on pandas only: the engines share the path
        expected = cl_filter.find_label_issues(
            labels, P, filter_by=filter_by, num_to_remove_per_class=[7] * 10
        )
        out = to_pandas(
            frame.cl.find_label_issues(
                label="label", pred_probs="p_*", filter_by=filter_by, num_to_remove_per_class=7
            )
        )
        np.testing.assert_array_equal(out.is_issue.to_numpy(), expected)
        listed = to_pandas(
            frame.cl.find_label_issues(
                label="label",
                pred_probs="p_*",
                filter_by=filter_by,
                num_to_remove_per_class=[7] * 10,
            )
        )
        pd.testing.assert_frame_equal(out, listed)
        if filter_by == "prune_by_class":
            assert out.groupby("label").is_issue.sum().tolist() == [7] * 10


@pytest.mark.parametrize("bad", [-1, 2.5, True, "7"])
def test_bad_scalar_num_to_remove_per_class(bad):
    from cleanframe.datasets import load_label_errors

    frame = load_label_errors("cifar10").head(500)
    with pytest.raises(ValidationError, match="num_to_remove_per_class"):
        frame.cl.find_label_issues(label="label", pred_probs="p_*", num_to_remove_per_class=bad)


def test_argmax_confusion_on_frames(constructor):
    from cleanframe.datasets import load_label_errors

    labels, P = _real("20news")
    frame = constructor(load_label_errors("20news"))  # a LazyFrame is streamed
    out = to_pandas(
        frame.cl.find_label_issues(label="label", pred_probs="p_*", filter_by="argmax_confusion")
    )
    expected = cl_filter.find_label_issues_using_argmax_confusion_matrix(labels, P)
    np.testing.assert_array_equal(out.is_issue.to_numpy(), expected)
    assert out.is_issue.sum() == 432


# ------------------------------------------------------------------------------------------
# dataset health from a confident joint alone
# ------------------------------------------------------------------------------------------
cl_dataset = pytest.importorskip("cleanlab.dataset")
cl_count = pytest.importorskip("cleanlab.count")

_CLASS_COLUMNS = {
    "class": "Class Name",
    "label_issues": "Label Issues",
    "inverse_label_issues": "Inverse Label Issues",
    "label_noise": "Label Noise",
    "inverse_label_noise": "Inverse Label Noise",
    "label_quality_score": "Label Quality Score",
}


@pytest.mark.parametrize("name", ["mnist", "cifar10", "imdb", "20news"])
def test_dataset_functions_from_a_confident_joint_match_cleanlab(name):
    import cleanframe
    from cleanframe.datasets import load_arrays

    labels, P = _real(name)
    names = [str(c) for c in load_arrays(name)["class_names"]]
    cj = cl_count.compute_confident_joint(labels, P)
    n = len(labels)
    ref = cl_dataset.health_summary(
        confident_joint=cj, num_examples=n, class_names=names, verbose=False
    )
    ours = cleanframe.health_summary(confident_joint=cj, num_examples=n, classes=names)
    assert ours.overall_label_health_score == pytest.approx(ref["overall_label_health_score"])
    assert ours.num_examples == n
    got = ours.classes_by_label_quality.set_index("class")
    want = ref["classes_by_label_quality"].set_index("Class Name")
    for ours_name, ref_name in list(_CLASS_COLUMNS.items())[1:]:
        np.testing.assert_allclose(got[ours_name], want.loc[got.index, ref_name], atol=1e-12)
    np.testing.assert_array_equal(
        got.num_examples,
        np.bincount(labels, minlength=len(names))[[names.index(c) for c in got.index]],
    )
    for asymmetric in (False, True):
        want = cl_dataset.find_overlapping_classes(
            confident_joint=cj, class_names=names, asymmetric=asymmetric
        )
        got = cleanframe.overlapping_classes(
            confident_joint=cj, classes=names, asymmetric=asymmetric
        )
        key = lambda t, a, b: {(x, y): v for x, y, v in zip(t[a], t[b], t.iloc[:, -1])}  # noqa: E731
        w = key(want, "Class Name A", "Class Name B")
        g = key(got, "class_a", "class_b")
        assert w.keys() == g.keys()
        np.testing.assert_allclose([g[k] for k in w], [w[k] for k in w], atol=1e-15)
        np.testing.assert_array_equal(
            got.num_overlapping_examples, np.round(n * got.joint_probability).astype(int)
        )
    assert cleanframe.overall_label_health_score(confident_joint=cj) == pytest.approx(
        cl_dataset.overall_label_health_score(confident_joint=cj, verbose=False)
    )
    ranked = cleanframe.rank_classes_by_label_quality(confident_joint=cj, num_examples=n)
    by_index = [str(names.index(c)) for c in ours.classes_by_label_quality["class"]]
    assert list(ranked["class"]) == by_index  # classes 0..K-1 without classes=


def test_confident_joint_table_of_any_engine(constructor):
    import cleanframe
    from cleanframe.datasets import load_label_errors

    frame = constructor(load_label_errors("cifar10"))
    table = frame.cl.confident_joint(label="label", pred_probs="p_*")
    from_rows = to_pandas(frame.cl.rank_classes_by_label_quality(label="label", pred_probs="p_*"))
    summary = cleanframe.health_summary(confident_joint=table)  # N: the joint's total
    assert type(summary.classes_by_label_quality) is type(table)
    assert summary.num_examples == 10_000
    got = to_pandas(summary.classes_by_label_quality)
    pd.testing.assert_frame_equal(got, from_rows, check_dtype=False)
    on_df = frame.cl.overlapping_classes(confident_joint=table, num_examples=20_000)
    assert type(on_df) is type(frame) or isinstance(frame, pl.LazyFrame)
    assert to_pandas(on_df).num_overlapping_examples.iloc[0] == 146  # 2 x 73 (cat / dog)
    assert frame.cl.overall_label_health_score(confident_joint=table) == pytest.approx(0.9716)


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"confident_joint": np.eye(3), "label": "label"}, "one_source"),
        ({}, "required"),
        ({"num_examples": 10}, "required"),
        ({"confident_joint": np.ones((2, 3))}, "shape"),
        ({"confident_joint": np.ones((3, 3)), "classes": ["a", "b"]}, "shape"),
        ({"confident_joint": [[5]]}, "shape"),
        ({"confident_joint": -np.eye(2)}, "non_negative"),
        ({"confident_joint": np.full((2, 2), np.nan)}, "non_negative"),
        ({"confident_joint": np.zeros((2, 2))}, "not_empty"),
        ({"confident_joint": np.eye(2), "num_examples": 0}, "positive_integer"),
        ({"confident_joint": np.eye(2), "num_examples": 2.5}, "positive_integer"),
        ({"confident_joint": np.array([["a", "b"], ["c", "d"]])}, "numeric"),
    ],
)
def test_bad_confident_joint_inputs(kwargs, rule):
    import cleanframe

    for func in (
        cleanframe.health_summary,
        cleanframe.rank_classes_by_label_quality,
        cleanframe.overlapping_classes,
        cleanframe.overall_label_health_score,
    ):
        with pytest.raises(ValidationError) as info:
            func(**kwargs)
        assert info.value.rule == rule


def test_confident_joint_table_rows_must_match_its_columns():
    import cleanframe

    table = pd.DataFrame([[5, 1], [0, 4]], index=["b", "a"], columns=["a", "b"])
    with pytest.raises(ValidationError, match="same order"):
        cleanframe.health_summary(confident_joint=table)
    table.index = ["a", "b"]
    assert cleanframe.overall_label_health_score(confident_joint=table) == pytest.approx(0.9)


# ------------------------------------------------------------------------------------------
# outliers with a user's NearestNeighbors (knn=), the detector's index and graph reused
# ------------------------------------------------------------------------------------------
cl_outlier = pytest.importorskip("cleanlab.outlier")
COLS = list("abcde")


def _points(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 5))
    new = np.vstack([rng.normal(size=(20, 5)), np.full((2, 5), 6.0), X[:1]])
    return X, new


def _ref_ood(knn, X, new):
    ood = cl_outlier.OutOfDistribution(params={"knn": knn})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "already been fit"
        fitted = ood.fit_score(features=X, verbose=False)
    return fitted, ood.score(features=new)


@pytest.mark.parametrize(
    "params",
    [{"n_neighbors": 7}, {"n_neighbors": 5, "metric": "cosine"}, {"n_neighbors": 4, "p": 1}],
    ids=["minkowski2", "cosine", "manhattan"],
)
def test_user_nearest_neighbors_match_cleanlab(constructor, params):
    from sklearn.neighbors import NearestNeighbors

    import cleanframe

    X, new = _points()
    knn = NearestNeighbors(**params).fit(X)
    expected_fit, expected_new = _ref_ood(knn, X, new)
    frame = constructor(pd.DataFrame(X, columns=COLS))
    detector = cleanframe.OutlierDetector(knn=knn)
    fitted = to_pandas(detector.fit_score(frame, features=COLS))
    np.testing.assert_allclose(fitted.outlier_score, expected_fit, atol=1e-12)
    scored = to_pandas(detector.score(constructor(pd.DataFrame(new, columns=COLS))))
    np.testing.assert_allclose(scored.outlier_score, expected_new, atol=1e-12)
    # a reference row finds itself at distance 0, in fit as in score
    assert scored.outlier_score.iloc[-1] == pytest.approx(fitted.outlier_score.iloc[0])
    if "metric" not in params:  # (cosine: the far rows point the way of some reference rows)
        assert scored.is_outlier.iloc[-3:-1].all()
    assert detector.knn_ is knn and detector.knn_graph_ is None
    out = to_pandas(cleanframe.find_outliers(frame, features=COLS, knn=knn))
    np.testing.assert_allclose(out.outlier_score, expected_fit, atol=1e-12)


def test_unfitted_nearest_neighbors_is_fitted_on_a_copy():
    from sklearn.neighbors import NearestNeighbors

    import cleanframe

    X, new = _points(1)
    knn = NearestNeighbors(n_neighbors=6)
    expected_fit, expected_new = _ref_ood(NearestNeighbors(n_neighbors=6), X, new)
    detector = cleanframe.OutlierDetector(knn=knn).fit(pd.DataFrame(X, columns=COLS), features=COLS)
    assert not hasattr(knn, "n_samples_fit_")  # the caller's object is left as it was
    np.testing.assert_allclose(detector.fit_scores_, expected_fit, atol=1e-12)
    got = detector.score(pd.DataFrame(new, columns=COLS)).outlier_score
    np.testing.assert_allclose(got, expected_new, atol=1e-12)


def test_k_above_n_neighbors_is_lowered_with_a_warning_as_cleanlab():
    from sklearn.neighbors import NearestNeighbors

    import cleanframe

    X, _ = _points(2)
    knn = NearestNeighbors(n_neighbors=3).fit(X)
    ood = cl_outlier.OutOfDistribution(params={"knn": knn, "k": 8})
    with pytest.warns(UserWarning, match="n_neighbors"):
        expected = ood.score(features=X)
    with pytest.warns(UserWarning, match="n_neighbors=3"):
        out = cleanframe.find_outliers(pd.DataFrame(X, columns=COLS), features=COLS, knn=knn, k=8)
    np.testing.assert_allclose(out.outlier_score, expected, atol=1e-12)
    two = cleanframe.find_outliers(pd.DataFrame(X, columns=COLS), features=COLS, knn=knn, k=2)
    assert not np.allclose(two.outlier_score, out.outlier_score)


def test_bad_knn_inputs():
    from sklearn.neighbors import NearestNeighbors

    import cleanframe

    X, _ = _points(3)
    frame = pd.DataFrame(X, columns=COLS).assign(p_a=0.5, p_b=0.5, y="a")
    knn = NearestNeighbors(n_neighbors=3).fit(X)
    cases = [
        ({"features": COLS[:4], "knn": knn}, "same_width"),
        ({"pred_probs": ["p_a", "p_b"], "knn": knn}, "one_source"),
        ({"knn": knn}, "one_source"),
        ({"features": COLS, "knn": "not an index"}, "type"),
        ({"features": COLS, "knn": knn, "k": 0}, "k_less_than_rows"),
        (
            {"features": COLS, "knn": knn, "knn_graph": cleanframe.knn_graph(frame, features=COLS)},
            "one_source",
        ),
    ]
    for kwargs, rule in cases:
        with pytest.raises(ValidationError) as info:
            cleanframe.find_outliers(frame, **kwargs)
        assert info.value.rule == rule, kwargs
    detector = cleanframe.OutlierDetector(knn=knn).fit(frame, features=COLS)
    with pytest.raises(ValidationError, match="'e'") as info:
        detector.score(frame.drop(columns="e"))
    assert info.value.rule == "column_exists"
    with pytest.raises(ValidationError, match="'e'"):
        detector.score(frame.assign(e=np.nan))


def test_detector_reuses_its_index_and_graph(monkeypatch):
    import cleanframe
    from cleanframe.scoring.neighbors import knn as knn_module

    X, new = _points(4)
    frame = pd.DataFrame(X, columns=COLS)
    detector = cleanframe.OutlierDetector(metric="euclidean").fit(frame, features=COLS)
    graph = detector.knn_graph_
    assert graph.n == 300 and graph.k == detector.k_

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the index was rebuilt")

    monkeypatch.setattr(knn_module, "KnnIndex", no_rebuild)
    monkeypatch.setattr(knn_module, "build_knn_graph", no_rebuild)
    scored = detector.score(pd.DataFrame(new, columns=COLS))
    assert scored.is_outlier.iloc[-3:-1].all() and not scored.is_outlier.iloc[:20].any()
    reused = cleanframe.find_outliers(frame, knn_graph=graph)
    np.testing.assert_allclose(reused.outlier_score, detector.fit_scores_)
    dups = cleanframe.find_near_duplicates(frame, knn_graph=graph)
    monkeypatch.undo()
    fresh = cleanframe.find_near_duplicates(frame, features=COLS, metric="euclidean")
    pd.testing.assert_frame_equal(dups, fresh)


def test_frame_scores_with_a_known_uncertainty_match_cleanlab(constructor):
    """The reference's uncertainty-adjusted label quality from a predictions column and an
    uncertainty column (or one number) on a frame."""
    import cleanframe

    X, y = _regression(seed=8)
    u = np.abs(np.random.default_rng(1).normal(0.5, 0.2, len(y)))
    ref = cl_learn.CleanLearning(LinearRegression())
    np.random.seed(0)
    expected = ref.find_label_issues(X, y, uncertainty=u)
    frame = constructor(pd.DataFrame({"y": y, "pred": expected.predicted_label.to_numpy(), "u": u}))
    out = to_pandas(
        cleanframe.label_quality_scores(frame, label="y", predictions="pred", uncertainty="u")
    )
    np.testing.assert_allclose(out.label_score, expected.label_quality, rtol=1e-12)
    flagged = to_pandas(frame.cl.find_label_issues(label="y", predictions="pred", uncertainty=0.7))
    r = np.abs(expected.predicted_label.to_numpy() - y) / 0.7
    np.testing.assert_allclose(flagged.label_score, np.exp(-r / np.median(r)), rtol=1e-12)
    assert flagged.is_issue.to_numpy()[::17].mean() > 0.5  # the shifted targets


@pytest.mark.parametrize(
    ("uncertainty", "rule"),
    [
        ("missing", "column_exists"),
        ("neg", "non_negative"),
        (-1.0, "spec"),
        ("nan", "finite"),
        (np.ones(3), "spec"),
    ],
)
def test_bad_uncertainty_column(uncertainty, rule):
    import cleanframe

    frame = pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0],
            "p": [1.1, 2.0, 2.5],
            "neg": [0.1, -1.0, 0.2],
            "nan": [0.1, np.nan, 0.2],
        }
    )
    with pytest.raises(ValidationError) as info:
        cleanframe.regression.find_label_issues(
            frame, label="y", predictions="p", uncertainty=uncertainty
        )
    assert info.value.rule == rule


class _DuckRegressor:
    """fit / predict and nothing of scikit-learn's (no base class, no tags, no predict_proba)."""

    def fit(self, X, y, sample_weight=None):
        self.inner = LinearRegression().fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self.inner.predict(X)


def test_duck_typed_regressor_gives_the_regression_procedure():
    X, y = _regression(seed=4)
    ours = CleanLearning(_DuckRegressor(), n_boot=1, seed=3)
    assert type(ours).__module__ == "cleanframe.models.regression"
    expected = CleanLearning(LinearRegression(), n_boot=1, seed=3).find_label_issues(X, y)
    pd.testing.assert_frame_equal(ours.find_label_issues(X, y), expected)
    # (cleanlab's regression CleanLearning cannot clone a model without get_params)
    assert ours.fit(X, y).predict(X[:3]).shape == (3,)
    assert ours.score(X, y) > 0.5
