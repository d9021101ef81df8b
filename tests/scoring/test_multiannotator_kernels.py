"""Multi-annotator kernels (scoring.multiannotator.crowdlab) against cleanlab 2.9 and crowd-kit.

cleanlab is the reference for majority vote, CROWDLAB and ActiveLab. One cleanlab bug is patched
for the comparison: ``cleanlab.internal.util.value_counts`` places the counts of float labels (the
multi-annotator matrix is float because of NaN) by *rank* instead of by class code, so the
empirical vote distribution behind ``calibrate_probs``, ActiveLab's temperature and
``quality_method="agreement"`` is shuffled. ``test_cleanlab_value_counts_bug_still_there`` pins the
bug; cleanframe uses the vote counts by class code.
"""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanframe.scoring.multiannotator import crowdlab as ma

cl_multi = pytest.importorskip("cleanlab.multiannotator")
cl_utils = pytest.importorskip("cleanlab.internal.multiannotator_utils")


def _fixed_value_counts(x, *, num_classes=None, multi_label=False):
    return np.bincount(np.asarray(x).astype(int), minlength=num_classes)


def patch_cleanlab(monkeypatch):
    """cleanlab.multiannotator with value_counts counting by class code."""
    monkeypatch.setattr(cl_utils, "value_counts", _fixed_value_counts)
    monkeypatch.setattr(cl_multi, "value_counts", _fixed_value_counts)
    return cl_multi


@pytest.fixture
def cleanlab_fixed(monkeypatch):
    return patch_cleanlab(monkeypatch)


def make_wide(n_items=400, n_annotators=12, n_classes=4, seed=0, max_labels=5):
    """Synthetic crowd: annotators of accuracy 0.35..0.95, 1..max_labels labels per item."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    accuracy = rng.uniform(0.35, 0.95, n_annotators)
    wide = np.full((n_items, n_annotators), np.nan)
    for i in range(n_items):
        who = rng.choice(n_annotators, rng.integers(1, max_labels + 1), replace=False)
        right = rng.random(len(who)) < accuracy[who]
        wide[i, who] = np.where(right, truth[i], rng.integers(0, n_classes, len(who)))
    assert not np.isnan(wide).all(axis=0).any()
    logits = rng.normal(size=(n_items, n_classes))
    logits[np.arange(n_items), truth] += 1.5
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return wide, probs, truth


def readonly(*arrays):
    for a in arrays:
        a.setflags(write=False)
    return arrays


# Hand-made: each row is decided by a different rung of the tie-break.
TIE_WIDE = np.array(
    [
        [1, 1, 0, 2],  # 1 wins outright
        [np.nan, 0, np.nan, 1],  # 0/1 tied -> pred_probs prefer 1
        [0, 1, np.nan, np.nan],  # 0/1 tied everywhere -> lowest class (cleanlab: random)
        [np.nan, 0, np.nan, 2],  # 0/2 tied, equal pred_probs -> class 2 has fewer votes
        [np.nan, np.nan, 1, 0],  # 0/1 tied -> pred_probs prefer 0
        [1, np.nan, np.nan, 0],  # 0/1 tied, equal p and votes -> annotator 0 agrees more
    ]
)
TIE_PROBS = np.array(
    [
        [0.3, 0.4, 0.3],
        [0.2, 0.4, 0.4],
        [0.25, 0.25, 0.5],
        [0.3, 0.4, 0.3],
        [0.4, 0.2, 0.4],
        [0.3, 0.3, 0.4],
    ]
)


def test_majority_vote_each_tie_rung_with_pred_probs():
    wide, probs = readonly(TIE_WIDE.copy(), TIE_PROBS.copy())
    labels, rung = ma.majority_vote(ma.annotations_from_wide(wide, num_classes=3), probs)
    assert labels.tolist() == [1, 1, 0, 2, 0, 1]
    assert rung.tolist() == [
        ma.TIE_NONE,
        ma.TIE_PRED_PROBS,
        ma.TIE_LOWEST_CLASS,
        ma.TIE_CLASS_FREQUENCY,
        ma.TIE_PRED_PROBS,
        ma.TIE_ANNOTATOR_AGREEMENT,
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cl_multi.get_majority_vote_label(TIE_WIDE, TIE_PROBS, verbose=False)
    decided = rung != ma.TIE_LOWEST_CLASS
    np.testing.assert_array_equal(labels[decided], ref[decided])
    assert ref[2] in (0, 1)


def test_majority_vote_without_pred_probs():
    ann = ma.annotations_from_wide(TIE_WIDE, num_classes=3)
    labels, rung = ma.majority_vote(ann)
    # row 1: 0 (annotator 1 agrees with the untied consensus, annotator 3 does not);
    # row 4: annotators 2 and 3 both disagree -> lowest class 0.
    assert labels.tolist() == [1, 0, 0, 2, 0, 1]
    assert rung.tolist() == [0, 3, 4, 2, 4, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cl_multi.get_majority_vote_label(TIE_WIDE, verbose=False)
    decided = rung != ma.TIE_LOWEST_CLASS
    np.testing.assert_array_equal(labels[decided], ref[decided])


def test_cleanlab_value_counts_bug_still_there():
    # If cleanlab fixes this, drop the `cleanlab_fixed` patch and compare with the real thing.
    from cleanlab.internal.util import value_counts

    assert value_counts(np.array([3.0, 3.0]), num_classes=4).tolist() == [2, 0, 0, 0]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("consensus_method", ["best_quality", "majority_vote"])
@pytest.mark.parametrize("quality_method", ["crowdlab", "agreement"])
@pytest.mark.parametrize("calibrate_probs", [False, True])
def test_crowdlab_parity(cleanlab_fixed, seed, consensus_method, quality_method, calibrate_probs):
    wide, probs, _ = make_wide(seed=seed)
    ref = cleanlab_fixed.get_label_quality_multiannotator(
        wide,
        probs,
        consensus_method=consensus_method,
        quality_method=quality_method,
        calibrate_probs=calibrate_probs,
        return_weights=quality_method == "crowdlab",
        verbose=False,
    )
    wide_ro, probs_ro = readonly(wide.copy(), probs.copy())
    ann = ma.annotations_from_wide(wide_ro, num_classes=probs.shape[1])
    res = ma.crowdlab(
        ann,
        probs_ro,
        consensus_method=consensus_method,
        quality_method=quality_method,
        calibrate_probs=calibrate_probs,
    )
    lq = ref["label_quality"]
    random_ties = res.tie_rung == ma.TIE_LOWEST_CLASS
    np.testing.assert_array_equal(
        lq["consensus_label"].to_numpy()[~random_ties], res.consensus_label[~random_ties]
    )
    np.testing.assert_allclose(
        lq["consensus_quality_score"], res.consensus_quality, rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(
        lq["annotator_agreement"], res.annotator_agreement, rtol=0, atol=1e-9
    )
    np.testing.assert_array_equal(lq["num_annotations"], res.num_annotations)
    detailed = np.full(wide.shape, np.nan)
    detailed[ann.item, ann.annotator] = res.annotation_quality
    np.testing.assert_allclose(
        ref["detailed_label_quality"].to_numpy(), detailed, rtol=0, atol=1e-9
    )
    stats = ref["annotator_stats"].sort_index()
    np.testing.assert_allclose(stats["annotator_quality"], res.annotator_quality, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        stats["agreement_with_consensus"], res.agreement_with_consensus, rtol=0, atol=1e-9
    )
    np.testing.assert_array_equal(stats["worst_class"], res.worst_class)
    np.testing.assert_array_equal(stats["num_examples_labeled"], res.num_labeled)
    if quality_method == "crowdlab":
        assert res.model_weight == pytest.approx(ref["model_weight"], abs=1e-9)
        np.testing.assert_allclose(ref["annotator_weight"], res.annotator_weight, rtol=0, atol=1e-9)
    # inputs untouched
    np.testing.assert_array_equal(probs_ro, probs)


def test_crowdlab_parity_many_annotators_many_classes(cleanlab_fixed):
    """50 annotators, K=10, 1-5 labels per item, many majority-vote ties (rung 3 needs equal class
    totals, which the hand-made TIE_WIDE example covers)."""
    wide, probs, _ = make_wide(n_items=3000, n_annotators=50, n_classes=10, seed=11)
    probs = np.round(probs, 1)  # exact pred_probs ties, so that rung 2 is reached
    probs[:, 0] += 1 - probs.sum(axis=1)
    probs = np.clip(probs, 0, 1)
    ann = ma.annotations_from_wide(wide, num_classes=10)
    res = ma.crowdlab(ann, probs, consensus_method="majority_vote")
    rungs = set(res.tie_rung.tolist())
    assert {ma.TIE_PRED_PROBS, ma.TIE_CLASS_FREQUENCY} <= rungs
    np.random.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cleanlab_fixed.get_label_quality_multiannotator(
            wide, probs, consensus_method="majority_vote", verbose=False
        )
    assert ma.TIE_LOWEST_CLASS not in rungs  # this seed has no tie that cleanlab draws at random
    lq = ref["label_quality"]
    np.testing.assert_array_equal(lq["consensus_label"], res.consensus_label)
    np.testing.assert_allclose(
        lq["consensus_quality_score"], res.consensus_quality, rtol=0, atol=1e-9
    )
    stats = ref["annotator_stats"].sort_index()
    np.testing.assert_allclose(stats["annotator_quality"], res.annotator_quality, atol=1e-9)
    np.testing.assert_array_equal(stats["worst_class"], res.worst_class)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "normalized_margin"},
        {"method": "confidence_weighted_entropy"},
        {"method": "self_confidence", "adjust_pred_probs": True},
        {"method": "normalized_margin", "adjust_pred_probs": True},
    ],
)
def test_crowdlab_label_quality_score_kwargs(kwargs):
    wide, probs, _ = make_wide(seed=3)
    ref = cl_multi.get_label_quality_multiannotator(
        wide, probs, label_quality_score_kwargs=kwargs, verbose=False
    )
    ann = ma.annotations_from_wide(wide, num_classes=4)
    res = ma.crowdlab(ann, probs, label_quality_score_kwargs=kwargs)
    np.testing.assert_array_equal(ref["label_quality"]["consensus_label"], res.consensus_label)
    np.testing.assert_allclose(
        ref["label_quality"]["consensus_quality_score"], res.consensus_quality, atol=1e-9
    )
    detailed = np.full(wide.shape, np.nan)
    detailed[ann.item, ann.annotator] = res.annotation_quality
    np.testing.assert_allclose(ref["detailed_label_quality"].to_numpy(), detailed, atol=1e-9)


def test_crowdlab_can_choose_a_class_no_annotator_chose():
    wide = np.array([[0, 1], [0, 0], [1, 1], [2, 2]], dtype=float)
    probs = np.array([[0.04, 0.06, 0.9], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    res = ma.crowdlab(ma.annotations_from_wide(wide, num_classes=3), probs)
    ref = cl_multi.get_label_quality_multiannotator(wide, probs, verbose=False)
    assert res.consensus_label.tolist() == ref["label_quality"]["consensus_label"].tolist()
    assert res.consensus_label[0] == 2


@pytest.mark.parametrize("seed", [0, 1])
def test_active_learning_parity_multi_annotator(cleanlab_fixed, seed):
    wide, probs, _ = make_wide(seed=seed)
    labeled, unlabeled = wide[:300], probs[300:]
    ref_l, ref_u = cleanlab_fixed.get_active_learning_scores(wide[:300], probs[:300], probs[300:])
    p_l, p_u = readonly(probs[:300].copy(), unlabeled.copy())
    got_l, got_u = ma.active_learning_scores(
        ma.annotations_from_wide(labeled, num_classes=4), p_l, p_u
    )
    np.testing.assert_allclose(ref_l, got_l, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ref_u, got_u, rtol=0, atol=1e-9)


def test_active_learning_parity_single_annotator_and_unlabeled_only():
    _, probs, truth = make_wide(seed=5)
    rng = np.random.default_rng(5)
    wide = np.full((300, 5), np.nan)
    wide[np.arange(300), rng.integers(0, 5, 300)] = truth[:300]
    ref_l, ref_u = cl_multi.get_active_learning_scores(wide, probs[:300], probs[300:])
    got_l, got_u = ma.active_learning_scores(
        ma.annotations_from_wide(wide, num_classes=4), probs[:300], probs[300:]
    )
    np.testing.assert_allclose(ref_l, got_l, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ref_u, got_u, rtol=0, atol=1e-9)
    ref_l, ref_u = cl_multi.get_active_learning_scores(pred_probs_unlabeled=probs)
    got_l, got_u = ma.active_learning_scores(None, None, probs)
    assert len(ref_l) == len(got_l) == 0
    np.testing.assert_allclose(ref_u, got_u, rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------------------------
# Dawid-Skene
# ----------------------------------------------------------------------------------------------


def reference_dawid_skene(item, annotator, label, n_items, n_annotators, n_classes, n_iter):
    """A plain-loop Dawid-Skene written independently of the kernel (same init and clipping)."""
    post = np.zeros((n_items, n_classes))
    for i, y in zip(item, label):
        post[i, y] += 1
    post /= post.sum(axis=1, keepdims=True)
    for _ in range(n_iter):
        counts = np.zeros((n_annotators, n_classes, n_classes))
        for i, j, y in zip(item, annotator, label):
            counts[j, :, y] += post[i]
        counts = np.maximum(counts, 1e-10)
        conf = counts / counts.sum(axis=2, keepdims=True)
        prior = np.maximum(post.mean(axis=0), 1e-10)
        logpost = np.tile(np.log(prior), (n_items, 1))
        for i, j, y in zip(item, annotator, label):
            logpost[i] += np.log(conf[j, :, y])
        logpost -= logpost.max(axis=1, keepdims=True)
        post = np.exp(logpost)
        post /= post.sum(axis=1, keepdims=True)
    return post


def test_dawid_skene_matches_independent_reference():
    wide, _, _ = make_wide(n_items=150, n_annotators=6, n_classes=3, seed=7)
    ann = ma.annotations_from_wide(wide, num_classes=3)
    res = ma.dawid_skene(ann, max_iter=15, tol=-np.inf)
    assert res.n_iter == 15 and not res.converged
    ref = reference_dawid_skene(ann.item, ann.annotator, ann.label, 150, 6, 3, 15)
    np.testing.assert_allclose(res.posterior, ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.confusion.sum(axis=2), 1.0)


def _crowdkit_dawid_skene():
    for name in ("nltk", "nltk.translate", "nltk.translate.gleu_score"):
        sys.modules.setdefault(name, types.ModuleType(name))  # crowd-kit's text aggregators only
    try:
        from crowdkit.aggregation import DawidSkene
    except Exception:  # noqa: BLE001 - crowd-kit absent or broken: skip, the reference EM covers it
        return None
    return DawidSkene


@pytest.mark.filterwarnings("ignore::Warning")
@pytest.mark.parametrize("seed", [0, 1])
def test_dawid_skene_vs_crowdkit_and_majority_vote(seed):
    pd = pytest.importorskip("pandas")
    wide, _, truth = make_wide(n_items=3000, n_annotators=20, n_classes=5, seed=seed, max_labels=4)
    ann = ma.annotations_from_wide(wide, num_classes=5)
    res = ma.dawid_skene(ann)
    assert res.converged
    ours = res.posterior.argmax(axis=1)
    mv, _ = ma.majority_vote(ann)
    assert (ours == truth).mean() > (mv == truth).mean()
    DawidSkene = _crowdkit_dawid_skene()
    if DawidSkene is None:
        pytest.skip("crowd-kit not installed; covered by the reference EM test")
    data = pd.DataFrame({"task": ann.item, "worker": ann.annotator, "label": ann.label})
    theirs = DawidSkene(n_iter=100).fit_predict(data).sort_index().to_numpy()
    assert (theirs == ours).mean() >= 0.995
    assert (ours == truth).mean() >= (theirs == truth).mean() - 0.005


# ----------------------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------------------


@st.composite
def crowds(draw):
    n_items = draw(st.integers(3, 25))
    n_annotators = draw(st.integers(2, 5))
    n_classes = draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    wide = np.full((n_items, n_annotators), np.nan)
    for i in range(n_items):
        who = rng.choice(n_annotators, rng.integers(1, n_annotators + 1), replace=False)
        wide[i, who] = rng.integers(0, n_classes, len(who))
    wide[0, :2] = [0, 1]  # at least one item with two labels, every annotator used below
    for j in range(n_annotators):
        if np.isnan(wide[:, j]).all():
            wide[1, j] = 0
    probs = rng.dirichlet(np.ones(n_classes), n_items)
    return wide, probs, rng.permutation(n_items)


@settings(max_examples=40, deadline=None)
@given(crowds())
def test_crowdlab_scores_in_unit_interval_and_row_order_invariant(data):
    wide, probs, perm = data
    k = probs.shape[1]
    res = ma.crowdlab(ma.annotations_from_wide(wide, num_classes=k), probs)
    for arr in (
        res.consensus_quality,
        res.annotator_agreement,
        res.annotation_quality,
        res.annotator_quality,
        res.agreement_with_consensus,
    ):
        assert np.all((arr >= 0) & (arr <= 1))
    shuffled = ma.crowdlab(ma.annotations_from_wide(wide[perm], num_classes=k), probs[perm])
    np.testing.assert_allclose(shuffled.consensus_quality, res.consensus_quality[perm], atol=1e-12)
    np.testing.assert_allclose(shuffled.annotator_quality, res.annotator_quality, atol=1e-12)
    al, _ = ma.active_learning_scores(ma.annotations_from_wide(wide, num_classes=k), probs)
    assert np.all((al >= 0) & (al <= 1))


@settings(max_examples=30, deadline=None)
@given(crowds())
def test_dawid_skene_posterior_is_a_distribution(data):
    wide, _, perm = data
    ann = ma.annotations_from_wide(wide, num_classes=4)
    res = ma.dawid_skene(ann)
    np.testing.assert_allclose(res.posterior.sum(axis=1), 1.0)
    assert np.all(res.posterior >= 0)
    again = ma.dawid_skene(ma.annotations_from_wide(wide[perm], num_classes=4))
    # exactly: the items are processed in a canonical order, so the same float operations run
    np.testing.assert_array_equal(again.posterior, res.posterior[perm])
    assert again.n_iter == res.n_iter
    np.testing.assert_array_equal(again.confusion, res.confusion)


def test_dawid_skene_row_order_invariant_through_an_unstable_fixed_point():
    # EM passes near a saddle (item 0 at 50/50) that multiplies rounding differences by ~4 per
    # iteration: summing the items in input order gave posteriors 8.6e-8 apart for this order
    wide = np.array([[0.0, 1.0, 2.0], [1.0, 2.0, np.nan], [0.0, np.nan, 1.0], [2.0, 1.0, np.nan]])
    perm = np.array([3, 1, 2, 0])
    res = ma.dawid_skene(ma.annotations_from_wide(wide, num_classes=4))
    again = ma.dawid_skene(ma.annotations_from_wide(wide[perm], num_classes=4))
    np.testing.assert_array_equal(again.posterior, res.posterior[perm])


@pytest.mark.parametrize("collide", [False, True])
def test_canonical_item_order_groups_patterns_whatever_the_row_order(monkeypatch, collide):
    wide, _, _ = make_wide(n_items=60, n_annotators=5, n_classes=3, seed=3, max_labels=3)
    perm = np.random.default_rng(1).permutation(60)
    if collide:  # every pattern hashes alike: the exact lexicographic sort takes over
        monkeypatch.setattr(ma, "_mix64", lambda x: np.zeros_like(x))

    def pattern_sequence(w):
        order = ma.canonical_item_order(ma.annotations_from_wide(w, num_classes=3))
        assert sorted(order) == list(range(len(w)))
        return [tuple(np.nan_to_num(w[i], nan=-1)) for i in order]

    keys = pattern_sequence(wide)
    runs = [keys[0]] + [b for a, b in zip(keys, keys[1:]) if a != b]
    assert len(runs) == len(set(runs)) < 60  # each repeated pattern in one run
    assert pattern_sequence(wide[perm]) == keys


def test_annotations_reject_duplicates_and_bad_codes():
    with pytest.raises(ValueError, match="more than once"):
        ma.Annotations.from_coo([0, 0], [1, 1], [0, 1])
    with pytest.raises(ValueError, match="label codes"):
        ma.Annotations.from_coo([0, 1], [0, 1], [0, 3], num_classes=2)


def test_from_coo_sorts_once_whatever_the_input_order():
    item = np.array([0, 0, 1, 2, 2, 2])
    who = np.array([0, 2, 1, 0, 1, 2])
    label = np.array([1, 0, 1, 1, 0, 0])
    assert ma.pair_order(item, who, 3) is ma.SORTED  # already sorted: no sort, no gathers
    sorted_ann = ma.Annotations.from_coo(item, who, label)
    assert sorted_ann.item is not item  # still a copy
    perm = np.array([5, 2, 0, 4, 1, 3])
    order = ma.pair_order(item[perm], who[perm], 3)
    np.testing.assert_array_equal(order, np.argsort(item[perm] * 3 + who[perm], kind="stable"))
    for known in (None, order):
        ann = ma.Annotations.from_coo(item[perm], who[perm], label[perm], order=known)
        for name in ("item", "annotator", "label"):
            np.testing.assert_array_equal(getattr(ann, name), getattr(sorted_ann, name))
        np.testing.assert_array_equal(perm[ann.source], np.arange(6))
    with pytest.raises(ValueError, match="more than once"):
        ma.Annotations.from_coo([1, 0, 1], [0, 0, 0], [0, 1, 1])


def test_kernel_docstring_examples():
    import doctest

    result = doctest.testmod(ma, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 12 and result.failed == 0
