"""Parity with cleanlab 2.9 (the reference implementation; a test-only dependency).

Synthetic data with continuous probabilities has no ties, so flagged sets must be identical.
The four real datasets have many tied scores (e.g. 8,324 duplicate self-confidences in MNIST);
there flagged sets must be equal except for rows whose deciding score is tied with another row's
(cleanlab breaks ties with numpy's unstable sort, cleanframe by row order) — reference §7.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cleanframe import datasets
from cleanframe.scoring.classification import count as our_count
from cleanframe.scoring.classification import dataset as our_dataset
from cleanframe.scoring.classification import filter as our_filter
from cleanframe.scoring.classification import rank as our_rank

from ..conftest import label_frame, synthetic, to_pandas

cl_filter = pytest.importorskip("cleanlab.filter")
cl_count = pytest.importorskip("cleanlab.count")
cl_rank = pytest.importorskip("cleanlab.rank")
cl_dataset = pytest.importorskip("cleanlab.dataset")

PRUNE = ("prune_by_noise_rate", "prune_by_class", "both")
REAL = datasets.NAMES
SYNTHETIC = [(2, 300, 0), (3, 400, 1), (5, 1000, 2), (10, 2000, 3), (20, 3000, 4), (100, 6000, 5)]


def _real(name):
    arrays = datasets.load_arrays(name)
    # cleanlab rejects IMDB's 1.00001 values; both sides get the same clipped array
    return arrays["labels"], np.clip(arrays["pred_probs"], 0, 1)


def _theirs(labels, pred_probs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cl_filter.find_label_issues(labels, pred_probs, n_jobs=1, **kw)


def _ours(labels, pred_probs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return our_filter.find_label_issues(labels, pred_probs, **kw)


def _has_tie(values: np.ndarray, members: np.ndarray, row: int) -> bool:
    """Does ``values[row]`` equal the value of another row among ``members``?"""
    others = members[members != row]
    return bool(np.any(values[others] == values[row]))


def _tied_rows(labels, pred_probs, rows, filter_by):
    """Which of ``rows`` have a deciding score tied with another row of their class."""
    n, k = pred_probs.shape
    own = pred_probs[np.arange(n), labels]
    margin = our_rank.get_normalized_margin_for_each_label(labels, pred_probs)
    out = []
    for r in rows:
        same = np.flatnonzero(labels == labels[r])
        if filter_by == "low_self_confidence":
            tied = _has_tie(own, np.arange(n), r)
        elif filter_by == "low_normalized_margin":
            tied = _has_tie(margin, np.arange(n), r)
        else:
            tied = _has_tie(own, same, r) or any(
                _has_tie(pred_probs[:, j] - own, same, r) for j in range(k) if j != labels[r]
            )
        out.append(tied)
    return np.array(out, dtype=bool)


def assert_equal_modulo_ties(ours, theirs, labels, pred_probs, filter_by):
    differ = np.flatnonzero(ours != theirs)
    if filter_by != "both":  # 'both' intersects two tie-broken sets, so its size may move
        assert ours.sum() == theirs.sum()
    if len(differ):
        tied = _tied_rows(labels, pred_probs, differ, filter_by)
        assert tied.all(), f"rows {differ[~tied][:10]} differ without a tie"


def assert_scores_match(labels, p):
    """All three rank methods, with and without adjusted pred_probs, to float tolerance."""
    for method in our_rank.RANK_METHODS:
        for adjust in (False, True):
            if adjust and method == "confidence_weighted_entropy":
                continue
            np.testing.assert_allclose(
                our_rank.get_label_quality_scores(
                    labels, p, method=method, adjust_pred_probs=adjust
                ),
                cl_rank.get_label_quality_scores(
                    labels, p, method=method, adjust_pred_probs=adjust
                ),
                rtol=1e-9,
                atol=1e-12,
            )


# ------------------------------------------------------------------------------------------
# golden numbers (reference §7) and real data, all seven filters
# ------------------------------------------------------------------------------------------
GOLDEN = {
    # name: (prune_by_noise_rate, prune_by_class, confident_learning, predicted_neq_given,
    #        low_margin, low_self_conf, num_label_issues off_diagonal, calibrated, health)
    "mnist": (15, 15, 15, 87, 15, 15, 15, 15, 0.9985),
    "cifar10": (284, 284, 244, 706, 244, 244, 244, 284, 0.9756),
    "imdb": (1309, 1309, 1076, 2606, 1076, 1076, 1076, 1309, 0.95696),
    "20news": (95, 96, 55, 577, 55, 55, 55, 96, 0.992698),
}


@pytest.mark.parametrize("name", REAL)
def test_golden_numbers(name):
    labels, p = _real(name)
    g = GOLDEN[name]
    for filter_by, expected in zip(
        [
            "prune_by_noise_rate",
            "prune_by_class",
            "confident_learning",
            "predicted_neq_given",
            "low_normalized_margin",
            "low_self_confidence",
        ],
        g[:6],
    ):
        assert _ours(labels, p, filter_by=filter_by).sum() == expected, filter_by
    assert our_count.num_label_issues(labels, p) == g[6]
    assert (
        our_count.num_label_issues(labels, p, estimation_method="off_diagonal_calibrated") == g[7]
    )
    assert our_dataset.overall_label_health_score(labels, p) == pytest.approx(g[8], abs=5e-6)


@pytest.mark.parametrize("name", REAL)
@pytest.mark.parametrize("filter_by", our_filter.FILTER_BY)
def test_real_data_all_filters(name, filter_by):
    labels, p = _real(name)
    kwargs = [{}, {"min_examples_per_class": 10}]
    if filter_by in PRUNE:
        kwargs.append({"frac_noise": 0.5})
    for kw in kwargs:
        ours = _ours(labels, p, filter_by=filter_by, **kw)
        theirs = _theirs(labels, p, filter_by=filter_by, **kw)
        assert_equal_modulo_ties(ours, theirs, labels, p, filter_by)


@pytest.mark.parametrize("name", REAL)
def test_real_data_counts_and_scores(name):
    labels, p = _real(name)
    np.testing.assert_allclose(  # summation order differs: equal to float rounding
        our_count.get_confident_thresholds(labels, p),
        cl_count.get_confident_thresholds(labels, p),
        rtol=1e-13,
    )
    for calibrate in (True, False):
        ours, our_idx = our_count.compute_confident_joint(
            labels, p, calibrate=calibrate, return_indices_of_off_diagonals=True
        )
        theirs, their_idx = cl_count.compute_confident_joint(
            labels, p, calibrate=calibrate, return_indices_of_off_diagonals=True
        )
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(our_idx, their_idx)
    np.testing.assert_allclose(
        our_count.estimate_joint(labels, p), cl_count.estimate_joint(labels, p), rtol=1e-12
    )
    assert_scores_match(labels, p)


@pytest.mark.parametrize("name", ["cifar10", "20news"])
def test_real_data_ranked_indices(name):
    labels, p = _real(name)
    for method in our_rank.RANK_METHODS:
        ours = _ours(labels, p, return_indices_ranked_by=method)
        theirs = _theirs(labels, p, return_indices_ranked_by=method)
        assert set(ours) == set(theirs)
        scores = our_rank.get_label_quality_scores(labels, p, method=method)
        # same order once ties are broken by position on both sides (reference P3)
        np.testing.assert_array_equal(ours, theirs[np.lexsort((theirs, scores[theirs]))])


@pytest.mark.parametrize("name", REAL)
def test_real_data_dataset_tables(name):
    labels, p = _real(name)
    theirs = cl_dataset.rank_classes_by_label_quality(labels, p).sort_values("Class Index")
    ours = our_dataset.class_label_quality(labels, p)
    np.testing.assert_array_equal(ours["label_issues"], theirs["Label Issues"])
    np.testing.assert_array_equal(ours["inverse_label_issues"], theirs["Inverse Label Issues"])
    np.testing.assert_allclose(ours["label_noise"], theirs["Label Noise"], rtol=1e-12)
    np.testing.assert_allclose(
        ours["inverse_label_noise"], theirs["Inverse Label Noise"], rtol=1e-12
    )
    np.testing.assert_allclose(
        ours["label_quality_score"], theirs["Label Quality Score"], rtol=1e-12
    )
    for asymmetric in (False, True):
        t = cl_dataset.find_overlapping_classes(labels, p, asymmetric=asymmetric)
        o = our_dataset.overlapping_class_pairs(labels, p, asymmetric=asymmetric)

        def key(a, b, n, j):
            return sorted(zip(a.tolist(), b.tolist(), n.tolist(), np.round(j, 12).tolist()))

        assert key(
            o["class_a"], o["class_b"], o["num_overlapping_examples"], o["joint_probability"]
        ) == key(
            t["Class Index A"].to_numpy(),
            t["Class Index B"].to_numpy(),
            t["Num Overlapping Examples"].to_numpy(),
            t["Joint Probability"].to_numpy(),
        )
        assert np.all(np.diff(o["joint_probability"]) <= 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert our_dataset.overall_label_health_score(labels, p) == pytest.approx(
            cl_dataset.overall_label_health_score(labels, p, verbose=False), abs=1e-12
        )


# ------------------------------------------------------------------------------------------
# synthetic data: no tied scores, so exact equality
# ------------------------------------------------------------------------------------------
from cleanlab.internal import util as _cl_util  # noqa: E402

_CL_ROUND_SUM = _cl_util.round_preserving_sum  # the unpatched reference routine


@pytest.fixture(autouse=True)
def same_rounding_ties(monkeypatch):
    """Give cleanlab our tie rule for integer rounding (ties in the rounding residuals).

    Calibrating the confident joint rounds K floats per row so that the row total is kept; when
    two residuals are equal (common: equal counts in a row), cleanlab picks by numpy's unstable
    argsort and cleanframe picks the earlier class. With the same rule everything else must be
    identical — which is what these tests check. ``test_rounding_matches_without_ties`` checks
    that the two rounding routines agree whenever residuals are distinct.
    """
    from cleanframe.scoring._common import round_preserving_sum

    monkeypatch.setattr(_cl_util, "round_preserving_sum", round_preserving_sum)


def test_rounding_matches_without_ties():
    from cleanframe.scoring._common import round_preserving_sum as ours

    rng = np.random.default_rng(0)
    for _ in range(500):
        row = rng.uniform(0, 50, size=rng.integers(2, 30))
        np.testing.assert_array_equal(ours(row), _CL_ROUND_SUM(row))
    # the reference's verified example (a tie, resolved the same way)
    np.testing.assert_array_equal(ours(np.array([0.5, 1.5, 2.5, 0.5])), [0, 2, 2, 1])


@pytest.mark.parametrize("k,n,seed", SYNTHETIC)
@pytest.mark.parametrize("filter_by", our_filter.FILTER_BY)
def test_synthetic_all_filters_exact(k, n, seed, filter_by):
    labels, p = synthetic(n, k, seed=seed)
    kwargs = [{}, {"min_examples_per_class": 10}]
    if filter_by in PRUNE:
        kwargs += [{"frac_noise": 0.5}, {"num_to_remove_per_class": list(range(1, k + 1))}]
    for kw in kwargs:
        ours = _ours(labels, p, filter_by=filter_by, **kw)
        theirs = _theirs(labels, p, filter_by=filter_by, **kw)
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{filter_by} {kw}")


@pytest.mark.parametrize("k,n,seed", SYNTHETIC[:4])
def test_synthetic_supplied_confident_joint(k, n, seed):
    labels, p = synthetic(n, k, seed=seed)
    cj = cl_count.compute_confident_joint(labels, p, calibrate=False)
    for filter_by in PRUNE:
        np.testing.assert_array_equal(
            _ours(labels, p, filter_by=filter_by, confident_joint=cj),
            _theirs(labels, p, filter_by=filter_by, confident_joint=cj),
        )
    for method in ("off_diagonal", "off_diagonal_calibrated"):
        assert our_count.num_label_issues(
            labels, p, estimation_method=method
        ) == cl_count.num_label_issues(labels, p, estimation_method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert our_count.num_label_issues(
            labels, p, confident_joint=cj, estimation_method="off_diagonal_custom"
        ) == cl_count.num_label_issues(
            labels, p, confident_joint=cj, estimation_method="off_diagonal_custom"
        )


@pytest.mark.parametrize("k,n,seed", SYNTHETIC)
def test_synthetic_latent_estimates(k, n, seed):
    labels, p = synthetic(n, k, seed=seed)
    for py_method in ("cnt", "eqn", "marginal", "marginal_ps"):
        for converge in (False, True):
            ours = our_count.estimate_py_and_noise_matrices_from_probabilities(
                labels, p, py_method=py_method, converge_latent_estimates=converge
            )
            theirs = cl_count.estimate_py_and_noise_matrices_from_probabilities(
                labels, p, py_method=py_method, converge_latent_estimates=converge
            )
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a, b, atol=1e-9, err_msg=f"{py_method} {converge}")


@pytest.mark.parametrize("py_method", ["cnt", "marginal", "marginal_ps"])
@pytest.mark.parametrize("converge", [False, True])
def test_latent_estimates_with_a_class_without_rows(py_method, converge):
    """Labels [0, 0, 2, 2] with four probability columns: classes 1 and 3 have no rows, so no
    row is confidently counted into them. The prior stays finite, the empty classes get the
    reference's floor (1e-6, or 1e-5 after the fixed-point iterations), as cleanlab's."""
    rng = np.random.default_rng(3)
    labels = np.array([0, 0, 2, 2] * 10)
    p = rng.dirichlet(np.ones(4), len(labels))
    ours = our_count.estimate_py_and_noise_matrices_from_probabilities(
        labels, p, py_method=py_method, converge_latent_estimates=converge
    )
    theirs = cl_count.estimate_py_and_noise_matrices_from_probabilities(
        labels, p, py_method=py_method, converge_latent_estimates=converge
    )
    for a, b in zip(ours, theirs):
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, atol=1e-9, err_msg=f"{py_method} {converge}")
    floor = 1e-5 if converge else 1e-6
    np.testing.assert_allclose(ours[0][[1, 3]], floor, rtol=0.05)
    assert ours[0].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("k,n,seed", SYNTHETIC)
def test_synthetic_scores_and_ensembles(k, n, seed):
    labels, p = synthetic(n, k, seed=seed)
    _, p2 = synthetic(n, k, seed=seed + 100)
    assert_scores_match(labels, p)
    for weighting, extra in [
        ("uniform", {}),
        ("accuracy", {}),
        ("log_loss_search", {}),
        ("custom", {"custom_weights": [0.3, 0.9]}),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = cl_rank.get_label_quality_ensemble_scores(
                labels, [p, p2], weight_ensemble_members_by=weighting, verbose=False, **extra
            )
        ours = our_rank.get_label_quality_ensemble_scores(
            labels, [p, p2], weight_ensemble_members_by=weighting, **extra
        )
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, err_msg=weighting)


def test_small_and_degenerate_classes_match():
    """Single-row classes, a class with no rows, and min_examples_per_class edge cases."""
    rng = np.random.default_rng(7)
    labels = np.r_[np.zeros(40, int), np.ones(30, int), [2], np.full(25, 4)]
    p = rng.dirichlet(np.ones(5), len(labels))
    p[np.arange(len(labels)), labels] += 0.3
    p /= p.sum(axis=1, keepdims=True)
    for filter_by in our_filter.FILTER_BY:
        for mepc in (0, 1, 5, 30):
            np.testing.assert_array_equal(
                _ours(labels, p, filter_by=filter_by, min_examples_per_class=mepc),
                _theirs(labels, p, filter_by=filter_by, min_examples_per_class=mepc),
                err_msg=f"{filter_by} {mepc}",
            )


# ------------------------------------------------------------------------------------------
# through the frame: string, integer and categorical labels give cleanlab's flags and scores
# ------------------------------------------------------------------------------------------
FRAME_SIZES = [(2, 300, 10), (10, 2000, 11), (100, 6000, 12)]


def _frame_problem(k, n, seed, label_kind):
    """(pandas frame, label codes, pred_probs, class values) for one label kind."""
    labels, p = synthetic(n, k, seed=seed)
    names = [f"class{i:03d}" for i in range(k)]
    df = label_frame(labels, p, names)
    if label_kind == "integer":
        df["y"] = labels
        df = df.rename(columns={f"p_{c}": f"p_{i}" for i, c in enumerate(names)})
        return df, labels, p, list(range(k))
    if label_kind == "categorical":
        df["y"] = pd.Categorical(df["y"], categories=names)
    return df, labels, p, names


def _assert_frame_matches_cleanlab(frame, labels, p, classes):
    out = to_pandas(frame.cl.find_label_issues(label="y", pred_probs="p_*"))
    np.testing.assert_array_equal(out["is_issue"].to_numpy(bool), _theirs(labels, p))
    np.testing.assert_allclose(
        out["label_score"].to_numpy(float), cl_rank.get_label_quality_scores(labels, p)
    )
    expected = np.array(classes, dtype=object)[p.argmax(axis=1)]
    assert out["predicted_label"].astype(object).tolist() == expected.tolist()


@pytest.mark.parametrize("k,n,seed", FRAME_SIZES)
@pytest.mark.parametrize("label_kind", ["string", "integer", "categorical"])
def test_frame_results_match_cleanlab(constructor, k, n, seed, label_kind):
    df, labels, p, classes = _frame_problem(k, n, seed, label_kind)
    _assert_frame_matches_cleanlab(constructor(df), labels, p, classes)


@pytest.mark.parametrize("k,n,seed", FRAME_SIZES)
def test_frame_results_match_cleanlab_polars_enum(constructor_polars, k, n, seed):
    df, labels, p, classes = _frame_problem(k, n, seed, "string")
    frame = constructor_polars(df).with_columns(pl.col("y").cast(pl.Enum(classes)))
    _assert_frame_matches_cleanlab(frame, labels, p, classes)


@pytest.mark.parametrize("k", [3, 10, 100])
def test_float32_pred_probs_match(k):
    """float32 input: comparisons against float64 thresholds are done in float32 (faster), with
    the threshold rounded up to the next float32 so that the test is the same."""
    labels, p = synthetic(5000, k, seed=k, dtype=np.float32)
    # put many probabilities exactly at and around their class threshold
    t = cl_count.get_confident_thresholds(labels, p)
    cut = (t - 1e-6).astype(np.float32)
    rows = np.arange(0, 5000, 7)
    cols = rows % k
    p[rows, cols] = np.where(rows % 2, cut[cols], np.nextafter(cut[cols], np.float32(0)))
    for calibrate in (True, False):
        ours = our_count.compute_confident_joint(
            labels, p, calibrate=calibrate, return_indices_of_off_diagonals=True
        )
        theirs = cl_count.compute_confident_joint(
            labels, p, calibrate=calibrate, return_indices_of_off_diagonals=True
        )
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[1], theirs[1])
    np.testing.assert_array_equal(_ours(labels, p), _theirs(labels, p))
