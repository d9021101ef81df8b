"""Agreement metrics: ``agreement`` (Krippendorff's alpha, Fleiss' and Cohen's kappa, agreement
with the consensus) and its bootstrap intervals.

Parity: the ``krippendorff`` package (nominal alpha, missing values as NaN),
``statsmodels.stats.inter_rater.fleiss_kappa`` (every item with the same number of annotators)
and ``sklearn.metrics.cohen_kappa_score`` (each pair on the items both labelled), on synthetic
crowds and on the bundled Mechanical Turk verdicts (alpha and Fleiss' kappa, which do not depend
on who the reviewers were).
"""

from __future__ import annotations

import warnings

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

import cleanframe
from cleanframe.annotator_agreement import agreement
from cleanframe.datasets import load_arrays
from cleanframe.errors import ValidationError
from cleanframe.scoring.multiannotator import agreement as kernel
from cleanframe.scoring.multiannotator.crowdlab import Annotations

from .conftest import FRAME_TYPES, HYPOTHESIS_SETTINGS, make_frame, to_pandas

CLASSES = np.array(["bird", "cat", "dog"], dtype=object)


def crowd_codes(n=80, m=4, k=3, *, missing=0.3, accuracy=0.7, seed=0):
    """(n, m) class codes, -1 where missing; every item has at least one annotation."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    codes = np.where(rng.random((n, m)) < accuracy, truth[:, None], rng.integers(0, k, (n, m)))
    codes = np.where(rng.random((n, m)) < missing, -1, codes)
    empty = (codes < 0).all(axis=1)
    codes[empty, 0] = truth[empty]
    return codes


def wide_frame(codes, names=CLASSES):
    return pd.DataFrame(
        {
            f"a_{j}": pd.Series([names[c] if c >= 0 else None for c in codes[:, j]], dtype=object)
            for j in range(codes.shape[1])
        }
    )


def long_frame(codes, names=CLASSES):
    i, j = np.nonzero(codes >= 0)
    return pd.DataFrame(
        {"item": [f"i{x}" for x in i], "who": [f"a_{x}" for x in j], "label": names[codes[i, j]]}
    )


def row(table, metric, annotator=None, other=None):
    t = to_pandas(table)
    mask = t["metric"] == metric
    if annotator is not None:
        mask &= t["annotator"] == annotator
    if other is not None:
        mask &= t["other_annotator"] == other
    assert mask.sum() == 1, (metric, annotator, other)
    return t[mask].iloc[0]


def reference_alpha(codes):
    data = np.where(codes >= 0, codes, np.nan).T.astype(float)
    return krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")


def reference_kappa(codes, a, b, k):
    both = (codes[:, a] >= 0) & (codes[:, b] >= 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cohen_kappa_score(codes[both, a], codes[both, b], labels=list(range(k)))


def votes_of(codes, k):
    return np.stack([(codes == c).sum(axis=1) for c in range(k)], axis=1)


# ----------------------------------------------------------------------------------------------
# parity
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_parity_with_the_references_on_a_crowd_with_missing_labels(seed):
    codes = crowd_codes(seed=seed, m=4 + seed)
    table = agreement(wide_frame(codes), annotators="a_*", n_resamples=0)
    assert row(table, "krippendorff_alpha")["value"] == pytest.approx(reference_alpha(codes))
    kappas = []
    for a in range(codes.shape[1]):
        for b in range(a + 1, codes.shape[1]):
            ref = reference_kappa(codes, a, b, 3)
            got = row(table, "cohen_kappa", f"a_{a}", f"a_{b}")
            assert got["value"] == pytest.approx(ref, abs=1e-12)
            assert got["num_items"] == ((codes[:, a] >= 0) & (codes[:, b] >= 0)).sum()
            kappas.append(ref)
    assert row(table, "mean_cohen_kappa")["value"] == pytest.approx(np.nanmean(kappas))
    assert row(table, "krippendorff_alpha")["num_items"] == ((codes >= 0).sum(axis=1) >= 2).sum()


def test_fleiss_equals_statsmodels_when_every_item_has_the_same_annotators():
    for seed in range(5):
        codes = crowd_codes(seed=seed, missing=0.0, m=3 + seed)
        table = agreement(wide_frame(codes), annotators="a_*", n_resamples=0)
        ref = sm_fleiss_kappa(votes_of(codes, 3), method="fleiss")
        assert row(table, "fleiss_kappa")["value"] == pytest.approx(ref, abs=1e-12)
        votes = votes_of(codes, 3)
        observed = (votes * (votes - 1)).sum(axis=1) / (codes.shape[1] * (codes.shape[1] - 1))
        assert row(table, "observed_agreement")["value"] == pytest.approx(observed.mean())


def test_two_annotators_give_one_cohen_row_and_no_mean():
    codes = crowd_codes(m=2, missing=0.1, seed=3)
    t = to_pandas(agreement(wide_frame(codes), annotators=["a_0", "a_1"], n_resamples=50))
    assert list(t["metric"]) == [
        "krippendorff_alpha",
        "fleiss_kappa",
        "observed_agreement",
        "cohen_kappa",
        "agreement_with_consensus",
        "agreement_with_consensus",
    ]
    assert row(t, "cohen_kappa")["value"] == pytest.approx(reference_kappa(codes, 0, 1, 3))


def mturk_long(name):
    """The Mechanical Turk reviews as one row per vote: ``given`` votes for the given label and
    the rest for "other" (five reviewers per item, whose identities are not recorded)."""
    arrays = load_arrays(name)
    given_votes, total = arrays["mturk_given_votes"], arrays["mturk_total_votes"]
    rows = []
    for i, (g, n) in enumerate(zip(given_votes, total)):
        rows += [(i, f"r{r}", "given" if r < g else "other") for r in range(n)]
    return pd.DataFrame(rows, columns=["item", "reviewer", "verdict"]), given_votes, total


@pytest.mark.parametrize("name", ["cifar10", "mnist", "imdb", "20news"])
def test_parity_on_the_mechanical_turk_verdicts(name):
    long, given_votes, total = mturk_long(name)
    table = agreement(long, item="item", annotator="reviewer", label="verdict", n_resamples=200)
    votes = np.stack([given_votes, total - given_votes], axis=1)
    if (total == total[0]).all():
        ref = sm_fleiss_kappa(votes, method="fleiss")
        assert row(table, "fleiss_kappa")["value"] == pytest.approx(ref, abs=1e-12)
    codes = np.full((len(total), total.max()), -1)
    for i, (g, n) in enumerate(zip(given_votes, total)):
        codes[i, :n] = np.r_[np.zeros(g, int), np.ones(n - g, int)]
    alpha = row(table, "krippendorff_alpha")
    assert alpha["value"] == pytest.approx(reference_alpha(codes), abs=1e-12)
    assert alpha["ci_low"] < alpha["value"] < alpha["ci_high"]


# ----------------------------------------------------------------------------------------------
# frames and layouts
# ----------------------------------------------------------------------------------------------


def test_every_frame_type_and_both_layouts_give_the_same_table(constructor):
    codes = crowd_codes(n=60, seed=5)
    wide = constructor(wide_frame(codes))
    before = to_pandas(wide).copy()
    out = wide.cl.agreement(annotators="a_*", n_resamples=100, seed=1)
    assert type(out) is type(wide)
    pd.testing.assert_frame_equal(to_pandas(wide), before)
    res = to_pandas(out)
    assert list(res.columns) == [
        "metric",
        "annotator",
        "other_annotator",
        "value",
        "ci_low",
        "ci_high",
        "num_items",
    ]
    reference = to_pandas(agreement(wide_frame(codes), annotators="a_*", n_resamples=100, seed=1))
    long = constructor(long_frame(codes))
    from_long = to_pandas(
        long.cl.agreement(item="item", annotator="who", label="label", n_resamples=100, seed=1)
    )
    for other in (res, from_long):
        assert list(other["metric"]) == list(reference["metric"])
        for col in ("value", "ci_low", "ci_high"):
            np.testing.assert_allclose(other[col], reference[col], rtol=1e-12)
        assert [None if pd.isna(x) else x for x in other["annotator"]] == [
            None if pd.isna(x) else x for x in reference["annotator"]
        ]


def test_same_result_on_all_frame_types():
    codes = crowd_codes(n=40, seed=8)
    tables = [
        to_pandas(agreement(make_frame(kind, wide_frame(codes)), annotators="a_*", n_resamples=80))
        for kind in FRAME_TYPES
    ]
    for t in tables[1:]:
        np.testing.assert_allclose(t["value"], tables[0]["value"])
        np.testing.assert_allclose(t["ci_low"], tables[0]["ci_low"])


def test_consensus_methods():
    codes = crowd_codes(n=100, m=5, seed=2)
    df = wide_frame(codes)
    mv = to_pandas(agreement(df, annotators="a_*", n_resamples=0))
    ds = to_pandas(agreement(df, annotators="a_*", consensus_method="dawid_skene", n_resamples=0))
    wawa = to_pandas(agreement(df, annotators="a_*", consensus_method="wawa", n_resamples=0))
    # the consensus only changes the agreement_with_consensus rows
    same = mv["metric"] != "agreement_with_consensus"
    np.testing.assert_allclose(ds["value"][same], mv["value"][same])
    for t in (mv, ds, wawa):
        share = t[t["metric"] == "agreement_with_consensus"]["value"]
        assert ((share >= 0) & (share <= 1)).all() and len(share) == 5
    # majority vote by hand on the items with two or more labels (no ties in this column's rows)
    consensus = cleanframe.consensus(df, annotators="a_*", consensus_method="majority_vote")
    cons = consensus["consensus_label"].to_numpy()
    multi = (codes >= 0).sum(axis=1) >= 2
    labelled = multi & (codes[:, 0] >= 0)
    expected = (CLASSES[codes[labelled, 0]] == cons[labelled]).mean()
    assert row(mv, "agreement_with_consensus", "a_0")["value"] == pytest.approx(expected)


# ----------------------------------------------------------------------------------------------
# the bootstrap
# ----------------------------------------------------------------------------------------------


def test_item_weights_equal_resampling_the_items():
    codes = crowd_codes(n=30, m=4, seed=4)
    i, j = np.nonzero(codes >= 0)
    ann = Annotations.from_coo(i, j, codes[i, j], num_items=30, num_annotators=4, num_classes=3)
    rng = np.random.default_rng(0)
    weights = next(kernel.bootstrap_weights(30, 6, rng))
    by_item = next(kernel.bootstrap_weights(30, 6, np.random.default_rng(0), by_item=True))
    np.testing.assert_array_equal(by_item, weights.T)
    draws = np.random.default_rng(0).integers(0, 30, size=(6, 30))
    alphas = kernel.krippendorff_alpha(ann.votes, weights)
    fleiss = kernel.fleiss_kappa(ann.votes, weights)
    for r in range(6):
        resampled = codes[draws[r]]
        np.testing.assert_allclose(np.bincount(draws[r], minlength=30), weights[r])
        assert alphas[r] == pytest.approx(reference_alpha(resampled), abs=1e-12)
        ref_observed = kernel.observed_agreement(votes_of(resampled, 3))[0]
        ref_fleiss = kernel.fleiss_kappa(votes_of(resampled, 3))[0]
        assert fleiss[r] == pytest.approx(ref_fleiss, abs=1e-12)
        assert kernel.observed_agreement(ann.votes, weights)[r] == pytest.approx(ref_observed)
        both = (resampled[:, 0] >= 0) & (resampled[:, 1] >= 0)
        shared = (codes[:, 0] >= 0) & (codes[:, 1] >= 0)
        got = kernel.cohen_kappa(codes[shared, 0], codes[shared, 1], 3, weights[:, shared])[r]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = cohen_kappa_score(resampled[both, 0], resampled[both, 1], labels=[0, 1, 2])
        assert got == pytest.approx(ref, abs=1e-12)


def test_intervals_are_seeded_and_ordered():
    df = wide_frame(crowd_codes(n=120, seed=6))
    a = to_pandas(agreement(df, annotators="a_*", n_resamples=300, seed=3))
    b = to_pandas(agreement(df, annotators="a_*", n_resamples=300, seed=3))
    c = to_pandas(agreement(df, annotators="a_*", n_resamples=300, seed=4))
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_low"], c["ci_low"])
    np.testing.assert_allclose(a["value"], c["value"])
    assert (a["ci_low"] <= a["value"] + 1e-12).all() and (a["value"] <= a["ci_high"] + 1e-12).all()
    narrow = to_pandas(
        agreement(df, annotators="a_*", n_resamples=300, seed=3, confidence_level=0.5)
    )
    assert ((narrow["ci_high"] - narrow["ci_low"]) <= (a["ci_high"] - a["ci_low"]) + 1e-12).all()
    assert (narrow["ci_high"] - narrow["ci_low"]).sum() < (a["ci_high"] - a["ci_low"]).sum()
    none = to_pandas(agreement(df, annotators="a_*", n_resamples=0))
    assert none["ci_low"].isna().all() and none["ci_high"].isna().all()


def test_interval_covers_the_true_alpha_of_a_simulated_crowd():
    # a large crowd's alpha is close to the small crowd's interval centre most of the time
    big = crowd_codes(n=4000, m=3, missing=0.0, seed=10)
    truth_alpha = reference_alpha(big)
    covered = 0
    for seed in range(10):
        small = crowd_codes(n=150, m=3, missing=0.0, seed=100 + seed)
        r = row(
            agreement(wide_frame(small), annotators="a_*", n_resamples=300), "krippendorff_alpha"
        )
        covered += r["ci_low"] <= truth_alpha <= r["ci_high"]
    assert covered >= 7


# ----------------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------------


@given(seed=st.integers(0, 10_000), m=st.integers(2, 5), data=st.data())
@HYPOTHESIS_SETTINGS
def test_property_invariant_under_annotator_order_and_class_names(seed, m, data):
    codes = crowd_codes(n=25, m=m, seed=seed)
    base = to_pandas(agreement(wide_frame(codes), annotators="a_*", n_resamples=0))
    order = data.draw(st.permutations(range(m)), label="annotator order")
    renamed = data.draw(st.permutations(["x", "y", "z"]), label="class names")
    df = wide_frame(codes, names=np.array(renamed, dtype=object))[[f"a_{j}" for j in order]]
    other = to_pandas(agreement(df, annotators=list(df.columns), n_resamples=0))
    for metric in ("krippendorff_alpha", "fleiss_kappa", "observed_agreement"):
        assert row(other, metric)["value"] == pytest.approx(row(base, metric)["value"], nan_ok=True)
    pairs = base[base["metric"] == "cohen_kappa"]
    for _, r in pairs.iterrows():
        a, b = r["annotator"], r["other_annotator"]
        other_rows = other[
            (other["metric"] == "cohen_kappa")
            & (
                ((other["annotator"] == a) & (other["other_annotator"] == b))
                | ((other["annotator"] == b) & (other["other_annotator"] == a))
            )
        ]
        assert other_rows["value"].iloc[0] == pytest.approx(r["value"], nan_ok=True)
    values = base["value"].to_numpy()
    bounded = base["metric"].isin(["observed_agreement", "agreement_with_consensus"])
    assert ((values[bounded] >= 0) & (values[bounded] <= 1)).all()
    assert (values[~np.isnan(values)] <= 1 + 1e-12).all()


# ----------------------------------------------------------------------------------------------
# bad inputs
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "rule", "text"),
    [
        ({"n_resamples": -1}, "n_resamples", "at least 0"),
        ({"n_resamples": 2.5}, "n_resamples", "integer"),
        ({"confidence_level": 1.0}, "confidence_level", "between 0 and 1"),
        ({"confidence_level": 0}, "confidence_level", "between 0 and 1"),
        ({"confidence_level": "95%"}, "confidence_level", "between 0 and 1"),
        ({"seed": -1}, "seed", "non-negative"),
        ({"consensus_method": "best_quality"}, "consensus_method", "must be one of"),
        ({"consensus_method": "majority"}, "consensus_method", "did you mean 'majority_vote'"),
        ({"consensus_method": "gold_majority_vote"}, "spec", "gold="),
        ({"annotators": "b_*"}, None, "b_"),
        ({"item": "a_0"}, "spec", "not both"),
    ],
)
def test_bad_inputs(constructor, kwargs, rule, text):
    df = constructor(wide_frame(crowd_codes(n=12, seed=1)))
    kwargs = {"annotators": "a_*", **kwargs}
    with pytest.raises(ValidationError, match=text) as err:
        df.cl.agreement(**kwargs)
    if rule is not None:
        assert err.value.rule == rule


def test_one_annotation_per_item_is_refused(constructor):
    df = constructor(pd.DataFrame({"a": ["x", None, "y"], "b": [None, "x", None]}))
    with pytest.raises(ValidationError, match="two or more annotators") as err:
        df.cl.agreement(annotators=["a", "b"])
    assert err.value.rule == "multiple_annotations"


def test_long_layout_bad_inputs(constructor):
    long = long_frame(crowd_codes(n=10, seed=2))
    dup = pd.concat([long, long.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValidationError) as err:
        constructor(dup).cl.agreement(item="item", annotator="who", label="label")
    assert err.value.rule == "unique_item_annotator"
    nulls = long.copy()
    nulls.loc[2, "label"] = None
    with pytest.raises(ValidationError) as err:
        constructor(nulls).cl.agreement(item="item", annotator="who", label="label")
    assert err.value.rule == "not_null" and err.value.column == "label"


def test_single_class_gives_undefined_kappas():
    df = pd.DataFrame({"a": ["x", "x", "x"], "b": ["x", "x", "x"]})
    t = to_pandas(agreement(df, annotators=["a", "b"], classes=["x", "y"], n_resamples=20))
    assert np.isnan(row(t, "krippendorff_alpha")["value"])
    assert np.isnan(row(t, "cohen_kappa")["value"])
    assert row(t, "observed_agreement")["value"] == 1.0
    assert np.isnan(row(t, "cohen_kappa")["ci_low"])
