"""Token classification on a long frame (one row per token): parity with cleanlab's
token_classification on the same nested data, every frame type, bad inputs, properties."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cleanframe
from cleanframe import tokens
from cleanframe.errors import ValidationError

from .conftest import HYPOTHESIS_SETTINGS, collect, to_pandas

cl_tfilter = pytest.importorskip("cleanlab.token_classification.filter")
cl_trank = pytest.importorskip("cleanlab.token_classification.rank")
cl_tsummary = pytest.importorskip("cleanlab.token_classification.summary")

TAGS = ["LOC", "O", "PER", "MISC"]
VOCAB = np.array(["Paris", "the", "Bob", "in", "rome", "Rome", "of", "Acme"])


def nested(n_sentences=250, *, seed=0, k=4):
    """cleanlab's input (per-sentence label lists, pred_probs arrays, tokens)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, n_sentences)
    labels = [rng.integers(0, k, n) for n in lengths]
    probs = []
    for y in labels:
        p = rng.dirichlet(np.full(k, 0.6), len(y))
        p[np.arange(len(y)), y] += rng.random(len(y)) * 1.5
        probs.append(p / p.sum(axis=1, keepdims=True))
    words = [list(VOCAB[rng.integers(0, len(VOCAB), len(y))]) for y in labels]
    return [list(map(int, y)) for y in labels], probs, words


def long_frame(labels, probs, words, *, shuffle=None):
    lengths = [len(y) for y in labels]
    df = pd.DataFrame(
        {
            "sentence_id": np.repeat(np.arange(len(labels)), lengths),
            "position": np.concatenate([np.arange(n) for n in lengths]),
            "word": np.concatenate(words),
            "ner_tag": np.array(TAGS)[np.concatenate(labels)],
        }
    )
    P = np.vstack(probs)
    for j, tag in enumerate(TAGS):
        df[f"p_{tag}"] = P[:, j]
    if shuffle is not None:
        df = df.sample(frac=1.0, random_state=shuffle)
    return df


def pairs(out):
    flagged = out[out["is_issue"]]
    return set(zip(flagged["sentence_id"].tolist(), flagged["position"].tolist()))


FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_self_confidence",
    "low_normalized_margin",
)


@pytest.mark.parametrize("filter_by", FILTERS)
def test_find_label_issues_matches_cleanlab(filter_by):
    labels, probs, words = nested()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = set(cl_tfilter.find_label_issues(labels, probs, filter_by=filter_by, n_jobs=1))
    # rows shuffled: order= puts each sentence's tokens back in place
    df = long_frame(labels, probs, words, shuffle=3)
    out = df.cl.find_label_issues(
        label="ner_tag",
        pred_probs="p_*",
        group="sentence_id",
        order="position",
        filter_by=filter_by,
    )
    assert len(ref) > 0 and pairs(out) == ref
    # in frame order (no order=), the same
    out = long_frame(labels, probs, words).cl.find_label_issues(
        label="ner_tag", pred_probs="p_*", group="sentence_id", filter_by=filter_by
    )
    assert pairs(out) == ref


@pytest.mark.parametrize("method", ["min", "softmin"])
@pytest.mark.parametrize("temperature", [0.05, 0.5, 0.0, np.inf])
@pytest.mark.parametrize("token_method", ["self_confidence", "normalized_margin"])
def test_group_scores_match_cleanlab(method, temperature, token_method):
    labels, probs, words = nested(seed=1)
    ref, token_info = cl_trank.get_label_quality_scores(
        labels,
        probs,
        token_score_method=token_method,
        sentence_score_method=method,
        sentence_score_kwargs={"temperature": temperature},
    )
    df = long_frame(labels, probs, words, shuffle=1)
    table = df.cl.group_scores(
        label="ner_tag",
        pred_probs="p_*",
        group="sentence_id",
        order="position",
        method=method,
        temperature=temperature,
        token_score_method=token_method,
    )
    table = table.sort_values("sentence_id")
    np.testing.assert_allclose(table["group_score"].to_numpy(), ref, rtol=1e-12, atol=1e-14)
    assert table["num_tokens"].tolist() == [len(y) for y in labels]
    low = cl_trank.issues_from_scores(ref, threshold=0.1)
    assert set(table.loc[table["is_issue"], "sentence_id"]) == set(low.tolist())
    tokens_low = cl_trank.issues_from_scores(ref, token_scores=token_info, threshold=0.1)
    assert table["num_token_issues"].sum() == len(tokens_low)
    # token scores are the per-row label_score
    scores = df.cl.label_quality_scores(label="ner_tag", pred_probs="p_*", method=token_method)
    by_pos = scores.set_index(["sentence_id", "position"])["label_score"]
    for i in (0, 7, 42):
        np.testing.assert_allclose(by_pos.loc[i].sort_index().to_numpy(), token_info[i].to_numpy())


def test_the_reference_crashes_when_every_sentence_is_below_the_threshold():
    labels, probs, words = nested(n_sentences=20, seed=2)
    ref, _ = cl_trank.get_label_quality_scores(labels, probs)
    with pytest.raises(IndexError):
        cl_trank.issues_from_scores(ref, threshold=1.1)
    table = long_frame(labels, probs, words).cl.group_scores(
        label="ner_tag", pred_probs="p_*", group="sentence_id", threshold=1.1
    )
    assert table["is_issue"].all()


def test_common_label_issues_and_filter_by_token_match_cleanlab():
    labels, probs, words = nested(seed=4)
    issues = cl_tfilter.find_label_issues(labels, probs, n_jobs=1)
    with contextlib.redirect_stdout(io.StringIO()):
        ref = cl_tsummary.common_label_issues(
            issues, words, labels=labels, pred_probs=probs, class_names=TAGS
        )
        ref_excl = cl_tsummary.common_label_issues(
            issues, words, labels=labels, pred_probs=probs, class_names=TAGS, exclude=[(1, 0)]
        )
    df = long_frame(labels, probs, words)
    mine = df.cl.common_label_issues(
        label="ner_tag", pred_probs="p_*", token="word", group="sentence_id"
    )
    assert list(mine.columns) == ["word", "given_label", "predicted_label", "num_label_issues"]
    assert mine.to_numpy().tolist() == ref.to_numpy().tolist()
    excl = df.cl.common_label_issues(
        label="ner_tag", pred_probs="p_*", token="word", group="sentence_id", exclude=[("O", "LOC")]
    )
    assert excl.to_numpy().tolist() == ref_excl.to_numpy().tolist()
    top = df.cl.common_label_issues(label="ner_tag", pred_probs="p_*", token="word", top=3)
    assert len(top) == 3
    out = df.cl.find_label_issues(label="ner_tag", pred_probs="p_*", group="sentence_id")
    for word in ("rome", "Paris"):
        want = cl_tsummary.filter_by_token(word, issues, words)
        got = tokens.filter_by_token(out, token="word", value=word)
        assert set(zip(got["sentence_id"], got["position"])) == set(want)
        assert got["label_score"].is_monotonic_increasing


def test_frame_types_agree(constructor):
    labels, probs, words = nested(n_sentences=80, seed=5)
    base = long_frame(labels, probs, words, shuffle=2)
    df = constructor(base)
    kw = {"label": "ner_tag", "pred_probs": "p_*", "group": "sentence_id", "order": "position"}
    result = df.cl.find_label_issues(**kw)
    assert type(result) is type(df)  # the caller's frame type (a LazyFrame stays lazy)
    out = to_pandas(collect(result))
    ref = tokens.find_label_issues(base, **kw)
    assert out["is_issue"].tolist() == ref["is_issue"].tolist()
    assert out["predicted_label"].astype(str).tolist() == ref["predicted_label"].tolist()
    table = to_pandas(collect(df.cl.group_scores(**kw, method="softmin")))
    want = tokens.group_scores(base, **kw, method="softmin")
    assert table["sentence_id"].tolist() == want["sentence_id"].tolist()
    np.testing.assert_allclose(table["group_score"], want["group_score"])
    common = to_pandas(collect(df.cl.common_label_issues(**kw, token="word")))
    assert (
        common["num_label_issues"].tolist()
        == tokens.common_label_issues(base, **kw, token="word")["num_label_issues"].tolist()
    )
    pd.testing.assert_frame_equal(to_pandas(collect(df)), to_pandas(collect(constructor(base))))


def test_groups_keep_first_appearance_order_and_any_group_dtype():
    df = pl.DataFrame(
        {
            "doc": ["b", "b", "a", "a", "c"],
            "tag": ["x", "y", "x", "y", "x"],
            "p_x": [0.9, 0.2, 0.8, 0.3, 0.7],
            "p_y": [0.1, 0.8, 0.2, 0.7, 0.3],
        }
    )
    table = df.cl.group_scores(label="tag", pred_probs="p_*", group="doc")
    assert table["doc"].to_list() == ["b", "a", "c"]
    assert table["group_score"].to_list() == [0.8, 0.7, 0.7]
    enum = df.with_columns(pl.col("doc").cast(pl.Enum(["a", "b", "c"])))
    assert enum.cl.group_scores(label="tag", pred_probs="p_*", group="doc")["doc"].dtype == (
        pl.Enum(["a", "b", "c"])
    )


def _bad_frame():
    return pd.DataFrame(
        {
            "s": [0, 0, 1, 1],
            "pos": [0, 1, 0, 1],
            "w": ["a", "b", "c", "d"],
            "t": ["x", "y", "x", "y"],
            "p_x": [0.9, 0.2, 0.8, 0.3],
            "p_y": [0.1, 0.8, 0.2, 0.7],
        }
    )


def test_bad_inputs():
    kw = {"label": "t", "pred_probs": "p_*", "group": "s"}
    empty = _bad_frame().assign(s=pd.Categorical([0, 0, 1, 1], categories=[0, 1, 2]))
    with pytest.raises(ValidationError) as err:
        tokens.group_scores(empty, **kw)
    assert err.value.rule == "group_not_empty" and err.value.column == "s"
    null_group = _bad_frame().assign(s=[0, None, 1, 1])
    with pytest.raises(ValidationError) as err:
        tokens.find_label_issues(null_group, **kw)
    assert err.value.rule == "not_null" and err.value.column == "s"
    null_token = _bad_frame().assign(w=["a", None, "c", "d"])
    with pytest.raises(ValidationError) as err:
        tokens.common_label_issues(null_token, token="w", **kw)
    assert err.value.rule == "not_null" and err.value.column == "w"
    with pytest.raises(ValidationError) as err:
        pl.from_pandas(null_token).cl.common_label_issues(token="w", **kw)
    assert err.value.column == "w"
    not_summing = _bad_frame().assign(p_x=[0.9, 0.5, 0.8, 0.3])
    with pytest.raises(ValidationError) as err:
        tokens.find_label_issues(not_summing, **kw)
    assert err.value.rule == "row_sums_to_1"
    twice = _bad_frame().assign(pos=[0, 0, 0, 1])
    with pytest.raises(ValidationError) as err:
        tokens.find_label_issues(twice, order="pos", **kw)
    assert err.value.rule == "unique_in_group" and err.value.column == "pos"
    with pytest.raises(ValidationError) as err:
        tokens.find_label_issues(_bad_frame(), label="t", pred_probs="p_*", group="nope")
    assert err.value.rule == "column_exists"
    with pytest.raises(ValidationError) as err:
        tokens.group_scores(_bad_frame(), method="mean", **kw)
    assert err.value.rule == "method"
    with pytest.raises(ValidationError) as err:
        tokens.common_label_issues(_bad_frame(), token="w", exclude=[("x", "zzz")], **kw)
    assert err.value.rule == "known_class"
    with pytest.raises(TypeError):
        cleanframe.find_label_issues(_bad_frame(), predictions="p_x", **kw)


@st.composite
def token_problems(draw):
    n_groups = draw(st.integers(2, 12))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    labels, probs, words = nested(n_groups, seed=seed, k=4)
    labels[0][0], labels[-1][-1] = 0, 1  # two classes occur
    return long_frame(labels, probs, words, shuffle=int(rng.integers(0, 1000)))


@HYPOTHESIS_SETTINGS
@given(df=token_problems(), temperature=st.floats(0.01, 5.0))
def test_properties(df, temperature):
    kw = {"label": "ner_tag", "pred_probs": "p_*", "group": "sentence_id", "order": "position"}
    before = df.copy()
    table = tokens.group_scores(df, **kw, method="softmin", temperature=temperature)
    pd.testing.assert_frame_equal(df, before)
    low = tokens.group_scores(df, **kw, method="min")
    scores = df.cl.label_quality_scores(label="ner_tag", pred_probs="p_*")
    grouped = scores.groupby("sentence_id", sort=False)["label_score"]
    # softmin lies between the minimum and the maximum of the group's token scores
    lo = grouped.min().loc[table["sentence_id"]].to_numpy()
    hi = grouped.max().loc[table["sentence_id"]].to_numpy()
    assert (table["group_score"].to_numpy() >= lo - 1e-12).all()
    assert (table["group_score"].to_numpy() <= hi + 1e-12).all()
    np.testing.assert_array_equal(low["group_score"].to_numpy(), lo)
    assert table["num_tokens"].sum() == len(df)
    # pandas and polars agree
    pl_table = pl.from_pandas(df).cl.group_scores(**kw, method="softmin", temperature=temperature)
    np.testing.assert_allclose(pl_table["group_score"].to_numpy(), table["group_score"].to_numpy())


def newsgroup_threads():
    """Real data as token classification: the 20 Newsgroups test set (real out-of-sample
    pred_probs and given labels, shipped in cleanframe.datasets) cut into "sentences" of 1-12
    consecutive posts; each post is a token whose tag is its newsgroup and whose word is the
    first part of the newsgroup name."""
    df = cleanframe.datasets.load_label_errors("20news")
    groups = [c[2:] for c in df.columns if c.startswith("p_")]
    rng = np.random.default_rng(0)
    lengths = []
    while sum(lengths) < len(df):
        lengths.append(int(min(rng.integers(1, 13), len(df) - sum(lengths))))
    codes = df["label"].map({g: i for i, g in enumerate(groups)}).to_numpy()
    probs = df[[f"p_{g}" for g in groups]].to_numpy(dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)
    bounds = np.cumsum(lengths)[:-1]
    nested_labels = [c.tolist() for c in np.split(codes, bounds)]
    nested_probs = np.split(probs, bounds)
    frame = pd.DataFrame(
        {
            "thread": np.repeat(np.arange(len(lengths)), lengths),
            "position": np.concatenate([np.arange(n) for n in lengths]),
            "word": df["label"].str.split(".").str[0].to_numpy(),
            "group_tag": df["label"].to_numpy(),
        }
    )
    for j, g in enumerate(groups):
        frame[f"p_{g}"] = probs[:, j]
    words = [list(w) for w in np.split(frame["word"].to_numpy(), bounds)]
    return frame, nested_labels, nested_probs, words, groups


def test_real_newsgroup_threads_match_cleanlab():
    frame, labels, probs, words, groups = newsgroup_threads()
    kw = {"label": "group_tag", "pred_probs": "p_*", "group": "thread", "order": "position"}
    ref = set(cl_tfilter.find_label_issues(labels, probs, n_jobs=1))
    out = frame.sample(frac=1.0, random_state=0).cl.find_label_issues(**kw)
    flagged = out[out["is_issue"]]
    assert len(ref) > 50
    assert set(zip(flagged["thread"], flagged["position"])) == ref
    scores, _ = cl_trank.get_label_quality_scores(labels, probs, sentence_score_method="softmin")
    table = frame.cl.group_scores(**kw, method="softmin").sort_values("thread")
    np.testing.assert_allclose(table["group_score"].to_numpy(), scores, atol=1e-12)
    issues = cl_tfilter.find_label_issues(labels, probs, n_jobs=1)
    with contextlib.redirect_stdout(io.StringIO()):
        want = cl_tsummary.common_label_issues(
            issues, words, labels=labels, pred_probs=probs, class_names=groups
        )
    got = frame.cl.common_label_issues(**kw, token="word")
    # the same rows; rows of equal count are ordered by each word's worst token, and tied token
    # scores (real probabilities repeat) are ordered by position here, by an unstable sort there
    assert sorted(got.to_numpy().tolist()) == sorted(want.to_numpy().tolist())
    assert got["num_label_issues"].tolist() == want["num_label_issues"].tolist()
