"""crowd-kit's classification aggregators behind ``consensus(method=...)``.

Parity with crowd-kit 1.4 (a test-only dependency, imported with its NLP modules stubbed) on
synthetic crowds, the frame layer on every frame type (wide and long layouts), determinism and
the bad inputs of the new options (``gold=``, ``seed=``, KOS's two classes).
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import types
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cleanframe.errors import ValidationError
from cleanframe.multiannotator import annotator_stats, consensus, label_quality
from cleanframe.scoring.multiannotator import aggregators as ag
from cleanframe.scoring.multiannotator.crowdlab import Annotations

from .conftest import examples, to_pandas

METHODS = ag.AGGREGATORS
SEEDED = ("mace", "kos", "m_msr")


def make_crowd(n=400, m=12, k=3, seed=0, max_labels=5, adversarial=0):
    """Annotations whose annotators and labels first appear in code order (crowd-kit numbers
    them by first appearance), and the true labels."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    acc = rng.uniform(0.35, 0.95, m)
    acc[:adversarial] = 0.02
    n_labels = rng.integers(1, max_labels + 1, n)
    item = np.repeat(np.arange(n), n_labels)
    rank = np.arange(len(item)) - np.repeat(np.cumsum(n_labels) - n_labels, n_labels)
    who = np.argsort(rng.random((n, m)), axis=1)[item, rank]
    right = rng.random(len(item)) < acc[who]
    label = np.where(right, truth[item], rng.integers(0, k, len(item)))
    order = np.lexsort((who, item))
    item, who, label = item[order], who[order], label[order]
    w_codes, _ = pd.factorize(who)
    l_codes, l_names = pd.factorize(label)
    truth = _recode(truth, l_names)
    ann = Annotations.from_coo(
        item, w_codes, l_codes, num_items=n, num_annotators=w_codes.max() + 1, num_classes=k
    )
    return ann, truth


def _recode(values, names):
    lookup = {v: i for i, v in enumerate(names)}
    return np.array([lookup.get(v, -1) for v in values])


@pytest.fixture(scope="module")
def crowdkit():
    for name in ("nltk", "nltk.translate", "nltk.translate.gleu_score"):
        sys.modules.setdefault(name, types.ModuleType(name))  # crowd-kit's text aggregators only
    try:
        ck = importlib.import_module("crowdkit.aggregation")
    except Exception:  # noqa: BLE001 - crowd-kit absent or broken
        pytest.skip("crowd-kit is not installed")
    # crowd-kit 1.4.2 calls scikit-learn's check_is_fitted on non-estimators in predict, which
    # scikit-learn >= 1.6 rejects (docs/DIFFERENCES.md): bypass it for these three.
    for mod in ("wawa", "zero_based_skill", "gold_majority_vote"):
        m = importlib.import_module(f"crowdkit.aggregation.classification.{mod}")
        m.check_is_fitted = lambda *a, **k: None
    return ck


def crowdkit_labels(ck, method, ann, gold=None):
    """crowd-kit's labels (items in order) and its fitted model."""
    data = pd.DataFrame({"task": ann.item, "worker": ann.annotator, "label": ann.label})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "gold_majority_vote":
            known = np.flatnonzero(gold >= 0)
            model = ck.GoldMajorityVote()
            out = model.fit_predict(data, pd.Series(gold[known], index=known))
        else:
            model = {
                "one_coin_dawid_skene": ck.OneCoinDawidSkene,
                "glad": ck.GLAD,
                "mace": lambda: ck.MACE(n_restarts=1),  # its restarts all start alike
                "wawa": ck.Wawa,
                "zero_based_skill": ck.ZeroBasedSkill,
                "kos": ck.KOS,
                "m_msr": ck.MMSR,
            }[method]()
            out = model.fit_predict(data)
    return out.sort_index().to_numpy().astype(np.int64), model


# ----------------------------------------------------------------------------------------------
# Parity with crowd-kit
# ----------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::Warning")
@pytest.mark.parametrize("method", METHODS)
def test_labels_match_crowdkit(crowdkit, method):
    k = 2 if method == "kos" else 3
    n = 150 if method in ("glad", "mace", "zero_based_skill") else 400  # crowd-kit's slow ones
    ann, truth = make_crowd(n=n, k=k, seed=1)
    gold = np.where(np.arange(ann.num_items) % 4 == 0, truth, -1)
    theirs, model = crowdkit_labels(crowdkit, method, ann, gold)
    res = ag.aggregate(ann, method, gold=gold)
    np.testing.assert_array_equal(res.consensus_label, theirs)
    # accuracy at least crowd-kit's, and better than chance
    assert np.mean(res.consensus_label == truth) >= np.mean(theirs == truth)
    assert np.mean(res.consensus_label == truth) > 0.6
    # skills as crowd-kit reports them
    if method in (
        "one_coin_dawid_skene",
        "wawa",
        "zero_based_skill",
        "m_msr",
        "gold_majority_vote",
    ):
        skills = model.skills_.sort_index().to_numpy()
        np.testing.assert_allclose(res.annotator_skill, skills, rtol=1e-9, atol=1e-12)
    if method == "glad":  # annotations in crowd-kit's (sorted) order: 2.8e-12 apart
        alphas = model.alphas_.sort_index().to_numpy()
        np.testing.assert_allclose(res.annotator_skill, alphas, rtol=1e-9, atol=1e-9)
    if method == "mace":
        knowing = model.spamming_[:, 1]
        np.testing.assert_allclose(res.annotator_skill, knowing, rtol=1e-9, atol=1e-12)
    if method in ("one_coin_dawid_skene", "glad", "mace"):  # 1e-10 apart (one-coin's clipping)
        probas = model.probas_.sort_index().to_numpy()
        np.testing.assert_allclose(res.post_pred_probs, probas, rtol=0, atol=1e-9)


@pytest.mark.filterwarnings("ignore::Warning")
def test_m_msr_votes_by_the_summed_skills_where_crowdkit_inverts_them(crowdkit):
    """Adversarial annotators get negative log-odds weights; where an item's weights sum below
    zero crowd-kit divides by that sum and picks the least supported class."""
    ann, truth = make_crowd(n=400, m=8, k=3, seed=3, adversarial=3)
    theirs, _ = crowdkit_labels(crowdkit, "m_msr", ann)
    res = ag.aggregate(ann, "m_msr")
    _, sums = ag.weighted_vote(ann, res.annotator_skill)
    voted = ann.votes > 0
    total = sums.sum(axis=1)
    expected = np.argmax(np.where(voted, sums, -np.inf), axis=1)
    np.testing.assert_array_equal(res.consensus_label, expected)
    same = total > 0
    np.testing.assert_array_equal(res.consensus_label[same], theirs[same])
    assert (total < 0).any()
    assert np.mean(res.consensus_label == truth) >= np.mean(theirs == truth)


def test_kernel_results_are_distributions_and_in_range():
    ann, truth = make_crowd(n=300, k=4, seed=5)
    gold = np.where(np.arange(ann.num_items) % 3 == 0, truth, -1)
    for method in METHODS:
        a = ann
        if method == "kos":
            a, _ = make_crowd(n=300, k=2, seed=5)
        res = ag.aggregate(a, method, gold=gold[: a.num_items])
        np.testing.assert_allclose(res.post_pred_probs.sum(axis=1), 1.0, err_msg=method)
        for arr in (res.consensus_quality, res.annotation_quality, res.annotator_quality):
            assert np.all((arr >= 0) & (arr <= 1)), method
        assert res.annotator_skill is not None and len(res.annotator_skill) == a.num_annotators
        # deterministic
        again = ag.aggregate(a, method, gold=gold[: a.num_items])
        np.testing.assert_array_equal(again.consensus_label, res.consensus_label)
        np.testing.assert_array_equal(again.consensus_quality, res.consensus_quality)


def test_unused_classes_are_never_the_consensus():
    ann, _ = make_crowd(n=200, k=3, seed=2)
    wider = Annotations.from_coo(ann.item, ann.annotator, ann.label, num_classes=5)
    for method in ("one_coin_dawid_skene", "glad", "mace", "wawa", "m_msr"):
        res = ag.aggregate(wider, method)
        narrow = ag.aggregate(ann, method)
        np.testing.assert_array_equal(res.consensus_label, narrow.consensus_label)
        assert np.all(res.post_pred_probs[:, 3:] == 0)


def test_ties_go_to_the_lowest_class():
    ann = Annotations.from_coo([0, 0, 1, 1], [0, 1, 0, 1], [1, 0, 0, 1], num_classes=2)
    for method in ("wawa", "zero_based_skill", "one_coin_dawid_skene"):
        assert ag.aggregate(ann, method).consensus_label.tolist() == [0, 0], method


# ----------------------------------------------------------------------------------------------
# Frame layer
# ----------------------------------------------------------------------------------------------


CLASSES = ["bird", "cat", "dog"]


def frames(n=120, seed=0, k=3):
    """A wide pandas frame (ann_0..ann_5, a gold column) and its long layout."""
    ann, truth = make_crowd(n=n, m=6, k=k, seed=seed)
    names = CLASSES[:k]
    wide = pd.DataFrame(
        {f"ann_{j}": pd.array([None] * n, dtype=object) for j in range(ann.num_annotators)}
    )
    for i, j, lab in zip(ann.item, ann.annotator, ann.label):
        wide.iat[i, j] = names[lab]
    gold = [names[t] if i % 3 == 0 else None for i, t in enumerate(truth)]
    wide["gold"] = pd.array(gold, dtype=object)
    long = pd.DataFrame(
        {
            "item_id": [f"it{i:03d}" for i in ann.item],
            "worker": [f"ann_{j}" for j in ann.annotator],
            "label": [names[lab] for lab in ann.label],
            "gold": [gold[i] for i in ann.item],
        }
    )
    return wide, long, ann, truth


ANNOTATORS = [f"ann_{j}" for j in range(6)]
KW_LONG = dict(item="item_id", annotator="worker", label="label")


def _kw(method):
    return (
        {"method": method, "gold": "gold"} if method == "gold_majority_vote" else {"method": method}
    )


@pytest.mark.parametrize("method", METHODS)
def test_frames_wide_and_long_agree_with_the_kernel(constructor, method):
    k = 2 if method == "kos" else 3
    wide, long, ann, truth = frames(seed=4, k=k)
    gold = np.where(np.arange(ann.num_items) % 3 == 0, truth, -1)
    kernel = ag.aggregate(ann, method, gold=gold)
    expect = [CLASSES[c] for c in kernel.consensus_label]
    out_w = to_pandas(consensus(constructor(wide), annotators=ANNOTATORS, **_kw(method)))
    out_l = to_pandas(consensus(constructor(long), **KW_LONG, **_kw(method)))
    assert out_w["consensus_label"].tolist() == expect
    assert out_l["consensus_label"].tolist() == expect  # items first appear in code order
    np.testing.assert_allclose(out_w["consensus_quality"], kernel.consensus_quality, atol=1e-12)
    np.testing.assert_allclose(out_l["consensus_quality"], kernel.consensus_quality, atol=1e-12)
    stats = to_pandas(annotator_stats(constructor(long), **KW_LONG, **_kw(method)))
    skill = dict(zip(stats["worker"], stats["annotator_skill"]))
    np.testing.assert_allclose(
        [skill[f"ann_{j}"] for j in range(6)], kernel.annotator_skill, atol=1e-12
    )
    assert stats["annotator_quality"].is_monotonic_increasing
    scores = to_pandas(label_quality(constructor(long), **KW_LONG, **_kw(method)))
    np.testing.assert_allclose(scores["label_score"], kernel.annotation_quality, atol=1e-12)


def test_inputs_are_not_modified_and_seed_changes_only_seeded_methods():
    wide, long, *_ = frames(seed=6)
    before_w, before_l = wide.copy(), long.copy()
    for method in METHODS:
        if method == "kos":
            continue
        a = consensus(long, **KW_LONG, **_kw(method))
        b = consensus(long, **KW_LONG, seed=0, **_kw(method))
        pd.testing.assert_frame_equal(a, b)
        consensus(wide, annotators=ANNOTATORS, seed=7, **_kw(method))
    pd.testing.assert_frame_equal(wide, before_w)
    pd.testing.assert_frame_equal(long, before_l)
    # MACE from another start: same model, a nearby optimum
    a = consensus(long, **KW_LONG, method="mace", seed=0)
    b = consensus(long, **KW_LONG, method="mace", seed=12345)
    assert not np.array_equal(a["consensus_quality"], b["consensus_quality"])
    assert (a["consensus_label"] == b["consensus_label"]).mean() > 0.9


def test_gold_on_the_long_layout_must_be_constant_per_item():
    _, long, *_ = frames(seed=7)
    bad = long.copy()
    counts = bad["item_id"].value_counts()
    rows = bad.index[bad["item_id"] == counts.index[counts > 1][0]]
    bad.loc[rows[-1], "gold"] = "dog" if bad.loc[rows[-1], "gold"] != "dog" else "cat"
    with pytest.raises(ValidationError, match="same on every row of an item") as e:
        consensus(bad, **KW_LONG, method="gold_majority_vote", gold="gold")
    assert e.value.column == "gold"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(method="gold_majority_vote"), "needs gold="),
        (dict(method="wawa", gold="gold"), "only with consensus_method='gold_majority_vote'"),
        (dict(method="glad", seed=-1), "seed="),
        (dict(method="glad", seed=1.5), "seed= must be an integer"),
        (dict(method="glad", seed=True), "seed= must be an integer"),
        (dict(method="gold_majority_vote", gold=["gold"]), "one column name"),
        (dict(method="mace", pred_probs="p_*"), "does not use pred_probs"),
        (dict(method="crowd"), "consensus_method"),
    ],
)
def test_bad_options(kwargs, match):
    wide, *_ = frames(n=30)
    with pytest.raises(ValidationError, match=match):
        consensus(wide, annotators=ANNOTATORS, **kwargs)


def test_bad_gold_columns_and_kos_classes(constructor):
    wide, *_ = frames(n=30)
    unknown = wide.assign(gold=["fish"] + [None] * 29)
    with pytest.raises(ValidationError, match="not classes") as e:
        consensus(constructor(unknown), annotators=ANNOTATORS, method="gold_majority_vote",
                  gold="gold")  # fmt: skip
    assert e.value.column == "gold"
    empty = wide.assign(gold=pd.array([None] * 30, dtype=object))
    with pytest.raises(ValidationError, match="no known label"):
        consensus(empty, annotators=ANNOTATORS, method="gold_majority_vote", gold="gold")
    with pytest.raises(ValidationError, match="must not be an annotation column"):
        consensus(wide, annotators=ANNOTATORS, method="gold_majority_vote", gold="ann_0")
    with pytest.raises(ValidationError) as e:
        consensus(constructor(wide), annotators=ANNOTATORS, method="gold_majority_vote",
                  gold="missing")  # fmt: skip
    assert "missing" in str(e.value)
    with pytest.raises(ValidationError, match="two classes") as e:
        consensus(constructor(wide), annotators=ANNOTATORS, method="kos")


@pytest.mark.parametrize("method", METHODS)
def test_a_class_nobody_chose_is_never_the_consensus(constructor, method):
    # classes= names a class no annotator chose: KOS (two classes, not compacted) raised a raw
    # ValueError from the kernel when only one was chosen; no method may pick the other class
    wide = pd.DataFrame({"a": ["cat", "cat", None], "b": ["cat", None, "cat"], "g": ["cat"] * 3})
    classes = ["bird", "cat"] if method == "kos" else ["bird", "cat", "dog"]
    kw = {"method": method, "gold": "g"} if method == "gold_majority_vote" else {"method": method}
    out = to_pandas(consensus(constructor(wide), annotators=["a", "b"], classes=classes, **kw))
    assert out["consensus_label"].tolist() == ["cat"] * 3
    assert out["consensus_quality"].between(0, 1).all()
    stats = to_pandas(annotator_stats(constructor(wide), annotators=["a", "b"], classes=classes,
                                      **kw))  # fmt: skip
    assert stats["annotator_quality"].between(0, 1).all()


# ----------------------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------------------


@st.composite
def small_long_crowds(draw):
    n = draw(st.integers(3, 25))
    m = draw(st.integers(2, 5))
    k = draw(st.integers(2, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        for j in rng.choice(m, rng.integers(1, m + 1), replace=False):
            rows.append((f"i{i}", f"w{j}", CLASSES[rng.integers(0, k)]))
    rows += [("i0", f"w{j}", CLASSES[j % k]) for j in range(m) if ("i0", f"w{j}") not in
             {(r[0], r[1]) for r in rows}]  # fmt: skip
    long = pd.DataFrame(rows, columns=["item_id", "worker", "label"])
    assume(long["label"].nunique() >= 2)  # one class is an input error, tested elsewhere
    seen = sorted({r[2] for r in rows})
    truth = {f"i{i}": seen[rng.integers(0, len(seen))] for i in range(n)}
    long["gold"] = long["item_id"].map(lambda i: truth[i] if int(i[1:]) % 2 == 0 else None)
    return long, rng.permutation(len(long))


@settings(max_examples=examples(8), deadline=None)
@given(small_long_crowds())
def test_every_aggregator_on_random_crowds(data):
    long, perm = data
    k = long["label"].nunique()
    for method in METHODS:
        if method == "kos" and k != 2:
            with pytest.raises(ValidationError, match="two classes"):
                consensus(long, **KW_LONG, method=method)
            continue
        out = consensus(long, **KW_LONG, **_kw(method))
        assert len(out) == long["item_id"].nunique()
        assert out["consensus_quality"].between(0, 1).all()
        assert set(out["consensus_label"]) <= set(long["label"])
        pl_out = to_pandas(consensus(pl.from_pandas(long), **KW_LONG, **_kw(method)))
        pd.testing.assert_frame_equal(pl_out, out, check_dtype=False)
        stats = annotator_stats(long, **KW_LONG, **_kw(method))
        assert stats["annotator_quality"].between(0, 1).all()
        if method == "wawa":
            continue  # first-vote ties follow the rows' class order, like crowd-kit (own test)
        shuffled = consensus(long.iloc[perm], **KW_LONG, **_kw(method)).set_index("item_id")
        shuffled = shuffled.loc[out["item_id"]].reset_index()
        if method in ag.CANONICAL_METHODS:
            # items and annotators numbered by their sorted values: the same operations in any
            # row order (seeded starts included), so the same bits
            pd.testing.assert_frame_equal(shuffled, out, check_exact=True, obj=method)
            moved = annotator_stats(long.iloc[perm], **KW_LONG, **_kw(method))
            pd.testing.assert_frame_equal(
                moved.set_index("worker").loc[stats["worker"]].reset_index(),
                stats,
                check_exact=True,
                obj=method,
            )
            continue
        # gold majority vote: one pass, its per-item sums added in another annotator order
        np.testing.assert_allclose(
            shuffled["consensus_quality"], out["consensus_quality"], rtol=0, atol=1e-12
        )
        clear = out["consensus_quality"].to_numpy() > 0.5 + 1e-12  # not a near-tie
        assert (shuffled["consensus_label"].to_numpy()[clear] ==
                out["consensus_label"].to_numpy()[clear]).all()  # fmt: skip


#: A crowd hypothesis found: before the items and annotators were numbered by their sorted
#: values, shuffling its rows moved GLAD's qualities by 3.1e-3 (the sums and the conjugate-
#: gradient vector of its M-step followed the order of first appearance; CG stops at gtol 1e-2).
CROWD_29 = (
    "i0 w1 bird bird|i0 w4 bird bird|i0 w3 cat bird|i0 w2 bird bird|i1 w3 cat -|"
    "i1 w4 bird -|i1 w0 cat -|i1 w2 cat -|i1 w1 bird -|i2 w3 bird cat|i2 w1 bird cat|"
    "i3 w0 cat -|i3 w3 bird -|i4 w1 bird cat|i4 w3 bird cat|i4 w0 cat cat|i4 w4 bird cat|"
    "i4 w2 cat cat|i5 w0 bird -|i5 w1 bird -|i5 w3 cat -|i6 w4 cat cat|i6 w0 cat cat|"
    "i7 w0 bird -|i7 w3 cat -|i7 w1 cat -|i7 w4 cat -|i7 w2 bird -|i0 w0 bird bird"
)
CROWD_29_PERM = [20, 28, 13, 7, 24, 6, 23, 19, 18, 16, 21, 17, 9, 8, 27, 12, 10, 3, 2, 26, 5,
                 11, 0, 4, 15, 1, 14, 22, 25]  # fmt: skip


def _crowd_29():
    rows = [r.split() for r in CROWD_29.split("|")]
    return pd.DataFrame(rows, columns=[*KW_LONG.values(), "gold"])


@pytest.mark.parametrize("method", [*sorted(ag.CANONICAL_METHODS), "dawid_skene"])
def test_row_order_changes_no_iterative_aggregator_result(constructor, method):
    # the 29-row crowd in three other orders, and a 120-item crowd (workers renamed so that
    # they sort in reverse order of first appearance) shuffled: no bit of any result moves
    _, larger, *_ = frames(n=120, seed=0, k=2 if method == "kos" else 3)
    larger["worker"] = larger["worker"].map(lambda w: f"z{9 - int(w[-1])}")
    shuffle = np.random.default_rng(0).permutation(len(larger))
    crowds = {
        "29 rows": (
            _crowd_29(),
            {
                "shuffled": CROWD_29_PERM,
                "sorted": np.lexsort((_crowd_29()["worker"], _crowd_29()["item_id"])),
                "reversed": np.arange(len(CROWD_29_PERM))[::-1],
            },
        ),
        "120 items": (larger[list(KW_LONG.values())], {"shuffled": shuffle}),
    }
    for crowd, (long, orders) in crowds.items():
        out = to_pandas(consensus(constructor(long), **KW_LONG, method=method))
        stats = to_pandas(annotator_stats(constructor(long), **KW_LONG, method=method))
        for name, rows in orders.items():
            where = f"{method}, {crowd}, {name}"
            frame = constructor(long.iloc[rows].reset_index(drop=True))
            again = to_pandas(consensus(frame, **KW_LONG, method=method)).set_index("item_id")
            again = again.loc[out["item_id"]].reset_index()
            pd.testing.assert_frame_equal(again, out, check_exact=True, obj=where)
            moved = to_pandas(annotator_stats(frame, **KW_LONG, method=method)).set_index("worker")
            moved = moved.loc[stats["worker"]].reset_index()
            pd.testing.assert_frame_equal(moved, stats, check_exact=True, obj=where)


def test_sorted_ranks_of_item_and_annotator_values():
    from decimal import Decimal

    from cleanframe._inputs.annotations import _sorted_ranks

    assert _sorted_ranks([3, 1, 2]).tolist() == [2, 0, 1]
    assert _sorted_ranks([2.5, -1.0]).tolist() == [1, 0]
    assert _sorted_ranks(["b", "a\x00", "a"]).tolist() == [2, 1, 0]  # numpy strips the NUL
    assert _sorted_ranks([2, "a", 10]).tolist() == [1, 2, 0]  # as strings: "10" < "2" < "a"
    assert _sorted_ranks(["1", 1, 0.5]).tolist() == [2, 1, 0]  # "1" == 1 as strings: by Python
    assert _sorted_ranks([]).tolist() == []
    assert _sorted_ranks([2j, 1j]) is None  # no order: first appearance stays
    assert _sorted_ranks([Decimal(1), Decimal("NaN")]) is None  # the comparison raises


@pytest.mark.parametrize(
    "ids",
    [[1, "x", 2.5, "b", 0], [3j, 1j, 2j, 4j, 5j]],  # mixed types (sorted as strings), unordered
    ids=["mixed", "complex"],
)
def test_item_ids_of_several_types_or_without_order(ids):
    # mixed types still give one canonical order (rows shuffled: the same bits); ids that do not
    # compare keep the order of first appearance
    rng = np.random.default_rng(3)
    item = np.repeat(np.arange(5), 3)
    long = pd.DataFrame({"item_id": pd.array([ids[i] for i in item], dtype=object),
                         "worker": [f"w{j}" for j in rng.permutation(15) % 4],
                         "label": rng.choice(["a", "b"], 15)})  # fmt: skip
    long = long.drop_duplicates(["item_id", "worker"])
    out = consensus(long, **KW_LONG, method="glad")
    assert out["item_id"].tolist() == ids  # first appearance, whatever the numbering inside
    if ids[0] == 3j:
        return
    again = consensus(long.iloc[::-1], **KW_LONG, method="glad").set_index("item_id")
    pd.testing.assert_frame_equal(again.loc[ids].reset_index(), out, check_exact=True)


@pytest.mark.filterwarnings("ignore::Warning")
def test_glad_on_the_29_row_crowd_matches_crowdkit(crowdkit):
    # crowd-kit's GLAD on the rows as listed (items first appear in sorted order); crowd-kit
    # itself moves by ~2e-4 in other row orders, cleanframe by nothing (test above)
    long = _crowd_29()
    data = long.rename(columns={"item_id": "task"})[["task", "worker", "label"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = crowdkit.GLAD()
        probas = model.fit_predict_proba(data).sort_index()
    for rows in (long, long.iloc[CROWD_29_PERM]):
        out = consensus(rows, **KW_LONG, method="glad").set_index("item_id").sort_index()
        quality = out["consensus_quality"]
        np.testing.assert_allclose(quality, probas.max(axis=1), rtol=0, atol=1e-5)
        assert out["consensus_label"].tolist() == probas.idxmax(axis=1).tolist()
        stats = annotator_stats(rows, **KW_LONG, method="glad").set_index("worker").sort_index()
        alphas = model.alphas_.sort_index()  # abilities: 1.7e-5 apart (posteriors: 1.0e-6)
        np.testing.assert_allclose(stats["annotator_skill"], alphas, rtol=0, atol=5e-5)


@pytest.mark.filterwarnings("ignore::Warning")
def test_mace_does_not_depend_on_annotator_names_where_crowdkit_does(crowdkit):
    """Renaming the annotators (same order of first appearance, another sorted order) changes
    crowd-kit's MACE, which reads sorted-order counts by first-appearance numbers
    (docs/DIFFERENCES.md); cleanframe's result stays the same."""
    ann, _ = make_crowd(n=150, m=8, k=3, seed=9)
    data = pd.DataFrame({"task": ann.item, "worker": ann.annotator, "label": ann.label})
    renamed = data.assign(worker=(7 - data["worker"]) * 10)  # first appearance kept, sort reversed

    def ck_mace(d):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return crowdkit.MACE(n_restarts=1).fit_predict_proba(d).sort_index().to_numpy()

    assert not np.allclose(ck_mace(data), ck_mace(renamed), atol=1e-6)
    long = data.rename(columns={"task": "item_id", "label": "label"})
    kw = dict(item="item_id", annotator="worker", label="label", method="mace")
    a = consensus(long, **kw)
    b = consensus(long.assign(worker=renamed["worker"]), **kw)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.filterwarnings("ignore::Warning")
def test_wawa_majority_ties_follow_first_seen_class_like_crowdkit(crowdkit):
    # many two-way ties in the first (plain) vote; the rows shuffled so that the classes are first
    # seen in an order other than 0, 1, 2, 3: crowd-kit's MajorityVote (pandas >= 3) gives a tie
    # to the class seen first in the rows, and so does Wawa here
    if int(pd.__version__.split(".")[0]) < 3:
        pytest.skip("pandas < 3: crowd-kit's MajorityVote gives ties to the lowest label")
    rng = np.random.default_rng(7)
    n, m, k = 500, 6, 4
    rows = [(i, j) for i in range(n) for j in rng.choice(m, size=rng.choice([2, 4]), replace=False)]
    item = np.array([r[0] for r in rows])
    annotator = np.array([r[1] for r in rows])
    truth = rng.integers(0, k, n)
    label = np.where(rng.random(len(rows)) < 0.6, truth[item], rng.integers(0, k, len(rows)))
    perm = rng.permutation(len(rows))
    perm = np.concatenate([perm[label[perm] == 3][:1], perm[label[perm] != 3][:1], perm])
    perm = perm[np.sort(np.unique(perm, return_index=True)[1])]
    item, annotator, label = item[perm], annotator[perm], label[perm]
    assert label[0] == 3
    data = pd.DataFrame({"task": item, "worker": annotator, "label": label})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = crowdkit.Wawa()
        theirs = model.fit_predict(data).sort_index().to_numpy().astype(np.int64)
    ann = Annotations.from_coo(item, annotator, label, num_classes=k)
    # the rule matters on this data: lowest-class ties give another first vote
    assert np.any(ag._majority_first_seen(ann) != ag._plain_majority(ann))
    res = ag.aggregate(ann, "wawa")
    np.testing.assert_array_equal(res.consensus_label, theirs)
    skills = model.skills_.sort_index().to_numpy()
    np.testing.assert_allclose(res.annotator_skill, skills, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Compiled passes of large inputs: gold majority vote's per-item pass, the grouped long layout
# ----------------------------------------------------------------------------------------------

ITEM_FIELDS = ("consensus_label", "consensus_quality", "annotator_agreement", "num_annotations")


def _gold_case(case):
    """Crowds that reach every branch of the per-item pass (see the asserts of the test)."""
    if case == "k11_unused_class":  # 11 chosen classes (the 8-accumulator row sum), 1 unused
        ann, truth = make_crowd(n=500, m=12, k=11, seed=1)
        ann = dataclasses.replace(ann, num_classes=12, _cache={})
        return ann, np.where(np.arange(500) % 4 == 0, truth, -1)
    if case == "zero_skill":  # annotators 0 and 1 always wrong: weight 0, masked vote
        ann, truth = make_crowd(n=300, m=6, k=3, seed=2)
        wrong = ann.annotator < 2
        label = np.where(wrong, (truth[ann.item] + 1) % 3, ann.label)
        return dataclasses.replace(ann, label=label, _cache={}), np.where(
            np.arange(300) % 2 == 0, truth, -1
        )
    ann, truth = make_crowd(n=300, m=9, k=3, seed=3)  # an annotator without gold items
    gold = np.where(np.arange(300) % 3 == 0, truth, -1)
    gold[ann.item[ann.annotator == 0]] = -1
    return ann, gold


@pytest.mark.parametrize("case", ["k11_unused_class", "zero_skill", "no_gold_items"])
def test_gold_per_item_pass_gives_the_numpy_results_bit_for_bit(case):
    ann, gold = _gold_case(case)
    slow = ag.aggregate_items(ann, "gold_majority_vote", gold=gold)
    fast = ag._gold_items_fused(ann, gold)
    assert fast is not None
    for name in ITEM_FIELDS:
        a, b = getattr(slow, name), getattr(fast, name)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(b, a, err_msg=name)
    skill = ag.aggregate(ann, "gold_majority_vote", gold=gold).annotator_skill
    if case == "k11_unused_class":
        assert len(ag._used_classes(ann)) == 11 < ann.num_classes
    elif case == "zero_skill":
        assert (skill == 0).any() and (skill > 0).any()
        assert (fast.consensus_quality == fast.annotator_agreement).any()  # sum 0: vote share
    else:
        assert skill[0] == np.mean(skill[1:])  # the mean of the others


@pytest.mark.parametrize("case", ["k11_unused_class", "zero_skill", "first_seen_ties"])
def test_wawa_per_item_pass_gives_the_numpy_results_bit_for_bit(case):
    if case == "first_seen_ties":  # shuffled rows: first-vote ties by first-seen class
        ann, _ = make_crowd(n=400, m=6, k=4, seed=5, max_labels=2)
        perm = np.random.default_rng(5).permutation(len(ann.item))
        ann = Annotations.from_coo(ann.item[perm], ann.annotator[perm], ann.label[perm],
                                   num_classes=4)  # fmt: skip
        assert np.any(ag._majority_first_seen(ann) != ag._plain_majority(ann))
    else:
        ann, _ = _gold_case(case)
    slow = ag.aggregate_items(ann, "wawa")
    fast = ag._wawa_items_fused(ann)
    assert fast is not None
    for name in ITEM_FIELDS:
        a, b = getattr(slow, name), getattr(fast, name)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(b, a, err_msg=name)


@pytest.mark.parametrize("k", [128, 129])
def test_per_item_passes_leave_more_than_128_classes_to_numpy(monkeypatch, k):
    # the compiled passes add a row's sums as numpy does for up to 128 classes; beyond that
    # they return None and aggregate_items(posterior=False) takes the numpy path
    ann, truth = make_crowd(n=3000, m=12, k=k, seed=13)
    assert len(ag._used_classes(ann)) == k
    gold = np.where(np.arange(ann.num_items) % 4 == 0, truth, -1)
    fused = {
        "gold_majority_vote": ag._gold_items_fused(ann, gold),
        "wawa": ag._wawa_items_fused(ann),
    }
    monkeypatch.setattr(ag, "FUSED_MIN_ANNOTATIONS", 0)
    for method, out in fused.items():
        assert (out is None) == (k > 128), method
        numpy_path = ag.aggregate_items(ann, method, gold=gold)
        items = ag.aggregate_items(ann, method, gold=gold, posterior=False)
        assert (items.posterior is None) == (k <= 128), method
        for name in ITEM_FIELDS:
            np.testing.assert_array_equal(getattr(items, name), getattr(numpy_path, name), name)


def test_gold_per_item_pass_refuses_what_the_numpy_path_refuses():
    ann, truth = make_crowd(n=50, m=5, k=3, seed=4)
    with pytest.raises(ValueError, match="known label"):
        ag._gold_items_fused(ann, np.full(50, -1))
    gaps = dataclasses.replace(ann, num_items=51, _cache={})
    with pytest.raises(ValueError, match="at least one annotation"):
        ag._gold_items_fused(gaps, np.append(truth, -1))


@pytest.fixture
def compiled_passes(monkeypatch):
    """Run the compiled passes on small inputs (they start at 50,000 annotations)."""
    from cleanframe.scoring.multiannotator import long_pass

    def use(on):
        monkeypatch.setattr(ag, "FUSED_MIN_ANNOTATIONS", 0 if on else 10**18)
        monkeypatch.setattr(long_pass, "FUSED_MIN_ROWS", 0 if on else 10**18)

    passes: list = []  # (which, applied) of every compiled pass run

    def spy(module, name):
        run = getattr(module, name)

        def wrapped(*args, **kwargs):
            out = run(*args, **kwargs)
            passes.append((name, out is not None))
            return out

        monkeypatch.setattr(module, name, wrapped)

    spy(long_pass, "grouped_annotations")
    spy(ag, "_gold_items_fused")
    spy(ag, "_wawa_items_fused")
    use.passes = passes  # type: ignore[attr-defined]
    return use


def _long_variants(long):
    """The long frame grouped by item with annotators in order, grouped with each item's rows
    reversed (the pass sorts them), and shuffled (not grouped: the general path)."""
    rank = long.groupby("item_id").cumcount()
    reverse = np.lexsort((-rank.to_numpy(), long["item_id"].map(
        {v: i for i, v in enumerate(pd.unique(long["item_id"]))}).to_numpy()))  # fmt: skip
    shuffled = np.random.default_rng(0).permutation(len(long))
    return {"grouped": long, "reversed": long.iloc[reverse], "shuffled": long.iloc[shuffled]}


@pytest.mark.parametrize("method", ["gold_majority_vote", "wawa", "mace", "one_coin_dawid_skene"])
def test_compiled_passes_give_the_same_frames(constructor, compiled_passes, method):
    _, long, *_ = frames(n=150, seed=8)
    for name, variant in _long_variants(long).items():
        frame = constructor(variant.reset_index(drop=True))
        outs = []
        for on in (False, True):
            compiled_passes(on)
            outs.append(
                (
                    to_pandas(consensus(frame, **KW_LONG, **_kw(method))),
                    to_pandas(annotator_stats(frame, **KW_LONG, **_kw(method))),
                )
            )
        for a, b in zip(*outs):
            pd.testing.assert_frame_equal(b, a, check_exact=True, obj=f"{method}, {name}")
        ran = set(compiled_passes.passes)
        compiled_passes.passes.clear()
        vote_pass = {
            "gold_majority_vote": {("_gold_items_fused", True)},
            "wawa": {("_wawa_items_fused", True)},
        }.get(method, set())
        assert ran == {("grouped_annotations", name != "shuffled")} | vote_pass


def _bad_long_frames(long):
    item_rows = long.index[long["item_id"] == long["item_id"].iloc[0]]
    twice = long.copy()
    twice.loc[item_rows[1], "worker"] = twice.loc[item_rows[0], "worker"]
    unknown = long.copy()
    unknown.loc[item_rows[1], "label"] = "fish"
    gold_differs = long.copy()
    gold_differs.loc[item_rows[1], "gold"] = (
        "dog" if long.loc[item_rows[0], "gold"] != "dog" else "cat"
    )
    gold_unknown = long.copy()
    gold_unknown.loc[item_rows[1], "gold"] = "fish"
    gold_unknown.loc[item_rows[0], "gold"] = "fish"
    no_gold = long.assign(gold=pd.array([None] * len(long), dtype=object))
    return {
        "twice": (twice, {}),
        "unknown": (unknown, {"classes": CLASSES[:3]}),
        "gold_differs": (gold_differs, {}),
        "gold_unknown": (gold_unknown, {}),
        "no_gold": (no_gold, {}),
        "gold_missing": (long, {"gold": "nope"}),
        "gold_is_label": (long, {"gold": "label"}),
        "one_class": (
            long.assign(label="cat", gold=long["gold"].where(long["gold"].isna(), "cat")),
            {"classes": ["cat"]},
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["twice", "unknown", "gold_differs", "gold_unknown", "no_gold", "gold_missing",
     "gold_is_label", "one_class"],
)  # fmt: skip
def test_compiled_passes_raise_the_same_errors(compiled_passes, case):
    _, long, *_ = frames(n=60, seed=9)
    assert long["item_id"].is_monotonic_increasing and long["gold"].notna().any()
    frame, extra = _bad_long_frames(long)[case]
    kw = {**KW_LONG, "method": "gold_majority_vote", "gold": "gold", **extra}
    errors = []
    for on in (False, True):
        compiled_passes(on)
        with pytest.raises(ValidationError) as e:
            consensus(frame, **kw)
        errors.append((e.value.column, str(e.value)))
    assert errors[0] == errors[1]
    if case not in ("gold_missing", "gold_is_label"):  # refused before the pass
        assert compiled_passes.passes == [("grouped_annotations", case == "one_class")]


def test_factorize_sorted_is_factorize_of_sorted_integer_columns(constructor):
    from cleanframe._engines import adapt

    frame = pd.DataFrame(
        {
            "sorted": np.array([-3, -3, 0, 2, 2, 2, 7, 10**12], dtype=np.int64),
            "unsorted": np.array([1, 1, 0, 2, 2, 2, 7, 8]),
            "floats": np.arange(8.0),
            "strings": list("aabbccdd"),
        }
    )
    native = constructor(frame)
    fr = adapt(native)
    fast, slow = fr.factorize_sorted("sorted"), fr.factorize("sorted")
    if isinstance(native, pd.DataFrame) and isinstance(native["sorted"].dtype, pd.ArrowDtype):
        assert fast is None  # numpy storage only: pandas+Arrow factorizes
        return
    assert fast is not None
    np.testing.assert_array_equal(fast.codes, [0, 0, 1, 2, 2, 2, 3, 4])
    np.testing.assert_array_equal(fast.codes, slow.codes)
    assert fast.uniques == slow.uniques == [-3, 0, 2, 7, 10**12]
    assert [type(u) for u in fast.uniques] == [type(u) for u in slow.uniques]
    assert (fast.kind, fast.categories) == (slow.kind, slow.categories) == ("integer", None)
    assert list(fast.values) == list(slow.values)
    for name in ("unsorted", "floats", "strings"):
        assert fr.factorize_sorted(name) is None
    nulls = adapt(constructor(frame.assign(sorted=pd.array([1, 1, 2, None] * 2, dtype="Int64"))))
    assert nulls.factorize_sorted("sorted") is None


@pytest.mark.parametrize("duplicate", [False, True])
def test_grouped_pass_sorts_and_checks_items_with_many_annotators(compiled_passes, duplicate):
    # 40 annotators per item (beyond the insertion sort), rows in reverse annotator order
    rng = np.random.default_rng(11)
    item = np.repeat(np.arange(30), 40)
    worker = np.tile(np.arange(40)[::-1], 30)
    long = pd.DataFrame({"item_id": item, "worker": worker,
                         "label": rng.choice(CLASSES, len(item))})  # fmt: skip
    long.loc[5, "worker"] = 0  # item 0: worker 0 first seen, so codes and values differ
    long.loc[39, "worker"] = 34
    if duplicate:
        long.loc[45, "worker"] = long.loc[46, "worker"]
    outs = []
    for on in (False, True):
        compiled_passes(on)
        if duplicate:
            with pytest.raises(ValidationError, match="more than once") as e:
                consensus(long, **KW_LONG, method="wawa")
            outs.append(str(e.value))
        else:
            outs.append(annotator_stats(long, **KW_LONG, method="wawa"))
    if duplicate:
        assert outs[0] == outs[1]
    else:
        pd.testing.assert_frame_equal(outs[1], outs[0], check_exact=True)
    assert compiled_passes.passes[0] == ("grouped_annotations", not duplicate)


def _with_passes(on, call):
    from cleanframe.scoring.multiannotator import long_pass

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ag, "FUSED_MIN_ANNOTATIONS", 0 if on else 10**18)
        mp.setattr(long_pass, "FUSED_MIN_ROWS", 0 if on else 10**18)
        return call()


@settings(max_examples=examples(15), deadline=None)
@given(small_long_crowds(), st.booleans())
def test_compiled_passes_equal_the_numpy_path_on_random_crowds(data, grouped):
    long, perm = data
    long = long.iloc[perm]
    if grouped:  # rows of an item together (the compiled long pass applies)
        long = long.sort_values("item_id", kind="stable")
    for method in ("gold_majority_vote", "wawa"):
        outs = [
            _with_passes(on, lambda m=method: consensus(long, **KW_LONG, **_kw(m)))
            for on in (False, True)
        ]
        pd.testing.assert_frame_equal(outs[1], outs[0], check_exact=True)


@pytest.mark.parametrize("labels", ["category_with_unused", "integer", "float"])
def test_compiled_passes_keep_the_class_rules_of_each_label_storage(compiled_passes, labels):
    _, long, *_ = frames(n=80, seed=12)
    if labels == "category_with_unused":  # "zebra" declared, never used: not a class
        long["label"] = pd.Categorical(long["label"], categories=["zebra", *CLASSES])
        long["gold"] = pd.Categorical(long["gold"], categories=["zebra", *CLASSES])
    else:
        codes = {c: i for i, c in enumerate(CLASSES)}
        long["label"] = long["label"].map(codes).astype(np.int64 if labels == "integer" else float)
        long["gold"] = long["gold"].map(codes).astype("Int64" if labels == "integer" else float)
    outs = []
    for on in (False, True):
        compiled_passes(on)
        outs.append(to_pandas(consensus(long, **KW_LONG, **_kw("gold_majority_vote"))))
    pd.testing.assert_frame_equal(outs[1], outs[0], check_exact=True)
    assert compiled_passes.passes[0] == ("grouped_annotations", True)
