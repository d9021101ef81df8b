"""Frame-level multi-annotator functions: layouts, frame types, parity with cleanlab, bad inputs.

Every frame-level test takes the shared ``constructor`` fixture (pandas, pandas with Arrow dtypes,
polars, polars lazy); data is built as pandas and converted. Row labels in error reports are the
index labels for pandas and row positions for polars (``row_label``).
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanframe._engines import adapt
from cleanframe._inputs.annotations import AnnotationSpec
from cleanframe.errors import ValidationError
from cleanframe.multiannotator import (
    active_learning_scores,
    annotator_stats,
    consensus,
    label_quality,
)

from .conftest import FRAME_TYPES, examples, make_frame, to_pandas
from .scoring.test_multiannotator_kernels import cl_multi, patch_cleanlab


@pytest.fixture
def cleanlab_fixed(monkeypatch):
    """cleanlab with its float-label value_counts bug fixed (see
    scoring/test_multiannotator_kernels)."""
    return patch_cleanlab(monkeypatch)


CLASSES = ["bird", "cat", "dog", "fish"]  # nobody ever answers "fish"
ANNOTATORS = [f"ann_{j}" for j in range(9)]
KW_LONG = dict(item="item_id", annotator="worker", label="label")
FUNCTIONS = (consensus, annotator_stats, label_quality, active_learning_scores)


def crowd(n_items=240, n_annotators=9, seed=0, unlabeled=0):
    """Wide pandas frame: annotators ann_0.. with string labels, p_<class> columns, truth codes."""
    rng = np.random.default_rng(seed)
    k_used = 3
    truth = rng.integers(0, k_used, n_items)
    acc = rng.uniform(0.4, 0.95, n_annotators)
    codes = np.full((n_items, n_annotators), -1)
    for i in range(n_items - unlabeled):
        who = rng.choice(n_annotators, rng.integers(1, 6), replace=False)
        right = rng.random(len(who)) < acc[who]
        codes[i, who] = np.where(right, truth[i], rng.integers(0, k_used, len(who)))
    logits = rng.normal(size=(n_items, len(CLASSES)))
    logits[np.arange(n_items), truth] += 2.0
    logits[:, 3] -= 1.0
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    data = {
        f"ann_{j}": pd.array([CLASSES[c] if c >= 0 else None for c in codes[:, j]], dtype=object)
        for j in range(n_annotators)
    }
    data.update({f"p_{c}": probs[:, i] for i, c in enumerate(CLASSES)})
    df = pd.DataFrame(data, index=pd.RangeIndex(100, 100 + n_items))
    return df, codes, probs, truth


def to_long(df, annotators=ANNOTATORS):
    """Row-major long layout: one row per (item, worker, label)."""
    rows = []
    for pos, (_, row) in enumerate(df[annotators].iterrows()):
        for a in annotators:
            if row[a] is not None and row[a] == row[a]:
                rows.append((f"item{pos:04d}", a, row[a]))
    return pd.DataFrame(rows, columns=["item_id", "worker", "label"])


def item_preds(df, n_items):
    """pred_probs frame keyed by item_id (item0000, ...) from the p_<class> columns of ``df``."""
    preds = pd.DataFrame({"item_id": [f"item{i:04d}" for i in range(n_items)]})
    for c in CLASSES:
        preds[f"p_{c}"] = df[f"p_{c}"].to_numpy()[:n_items]
    return preds


def flat(result) -> pd.DataFrame:
    """A result as pandas with a fresh RangeIndex (polars has no index to compare)."""
    return to_pandas(result).reset_index(drop=True)


def row_label(constructor, index_label, position):
    """How an error report names a row: its index label (pandas) or its position (polars)."""
    return index_label if constructor.kind.startswith("pandas") else position


def wide_matrix(codes):
    return np.where(codes >= 0, codes, np.nan).astype(float)


def score_columns(result, annotators=ANNOTATORS):
    return to_pandas(result)[[f"label_score_{a}" for a in annotators]].to_numpy(dtype=float)


# ----------------------------------------------------------------------------------------------
# Parity with cleanlab through the frame layer
# ----------------------------------------------------------------------------------------------


def test_consensus_wide_matches_cleanlab(constructor):
    df, codes, probs, _ = crowd()
    frame = constructor(df)
    out = consensus(frame, annotators=ANNOTATORS, pred_probs="p_*")
    assert type(out) is type(frame)
    out = to_pandas(out)
    if constructor.kind.startswith("pandas"):
        assert list(out.index) == list(df.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cl_multi.get_label_quality_multiannotator(wide_matrix(codes), probs, verbose=False)
    lq = ref["label_quality"]
    assert out["consensus_label"].tolist() == [CLASSES[c] for c in lq["consensus_label"]]
    np.testing.assert_allclose(out["consensus_quality"], lq["consensus_quality_score"], atol=1e-9)
    np.testing.assert_allclose(out["annotator_agreement"], lq["annotator_agreement"], atol=1e-9)
    assert out["num_annotations"].tolist() == lq["num_annotations"].tolist()

    stats = to_pandas(annotator_stats(frame, annotators=ANNOTATORS, pred_probs="p_*"))
    ref_stats = ref["annotator_stats"]
    assert stats["annotator"].tolist() == [f"ann_{j}" for j in ref_stats.index]
    np.testing.assert_allclose(
        stats["annotator_quality"], ref_stats["annotator_quality"], atol=1e-9
    )
    np.testing.assert_allclose(
        stats["agreement_with_consensus"], ref_stats["agreement_with_consensus"], atol=1e-9
    )
    assert stats["worst_class"].tolist() == [CLASSES[c] for c in ref_stats["worst_class"]]
    assert stats["num_annotations"].tolist() == ref_stats["num_examples_labeled"].tolist()

    quality = label_quality(frame, annotators=ANNOTATORS, pred_probs="p_*")
    detailed = ref["detailed_label_quality"].to_numpy()
    np.testing.assert_allclose(score_columns(quality), detailed, atol=1e-9)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"consensus_method": "majority_vote"},
        {"quality_method": "agreement"},
        {"calibrate_probs": True},
    ],
)
def test_consensus_options_match_cleanlab(constructor, cleanlab_fixed, kwargs):
    df, codes, probs, _ = crowd(seed=1)
    out = to_pandas(consensus(constructor(df), annotators=ANNOTATORS, pred_probs="p_*", **kwargs))
    ref = cleanlab_fixed.get_label_quality_multiannotator(
        wide_matrix(codes), probs, verbose=False, **kwargs
    )["label_quality"]
    assert out["consensus_label"].tolist() == [CLASSES[c] for c in ref["consensus_label"]]
    np.testing.assert_allclose(out["consensus_quality"], ref["consensus_quality_score"], atol=1e-9)


def test_active_learning_wide_with_unlabeled_rows_matches_cleanlab(constructor, cleanlab_fixed):
    df, codes, probs, _ = crowd(seed=2, unlabeled=40)
    out = to_pandas(
        active_learning_scores(constructor(df), annotators=ANNOTATORS, pred_probs="p_*")
    )
    ref_l, ref_u = cleanlab_fixed.get_active_learning_scores(
        wide_matrix(codes[:200]), probs[:200], probs[200:]
    )
    np.testing.assert_allclose(out["active_learning_score"], np.r_[ref_l, ref_u], atol=1e-9)
    priority = out["relabel_priority"].to_numpy()
    assert sorted(priority) == list(range(1, 241))
    ordered = out["active_learning_score"].to_numpy()[np.argsort(priority)]
    assert np.all(np.diff(ordered) >= 0)


def test_active_learning_single_annotator_column(constructor, cleanlab_fixed):
    df, codes, probs, _ = crowd(seed=3)
    one = df[["ann_0"] + [f"p_{c}" for c in CLASSES]]
    labeled = codes[:, 0] >= 0
    out = active_learning_scores(constructor(one), annotators=["ann_0"], pred_probs="p_*")
    ref_l, ref_u = cleanlab_fixed.get_active_learning_scores(
        wide_matrix(codes[labeled][:, :1]), probs[labeled], probs[~labeled]
    )
    got = to_pandas(out)["active_learning_score"].to_numpy()
    np.testing.assert_allclose(got[labeled], ref_l, atol=1e-9)
    np.testing.assert_allclose(got[~labeled], ref_u, atol=1e-9)


# ----------------------------------------------------------------------------------------------
# Layouts and frame types
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_probs", [True, False])
def test_frame_types_agree_wide(constructor, with_probs):
    df, *_ = crowd(n_items=120, seed=4)
    kwargs = {"annotators": "ann_*", "pred_probs": "p_*" if with_probs else None}
    ref = flat(consensus(df, **kwargs))
    frame = constructor(df)
    got = consensus(frame, **kwargs)
    assert type(got) is type(frame)
    pd.testing.assert_frame_equal(flat(got)[list(ref.columns)], ref, check_dtype=False)
    ref_stats = flat(annotator_stats(df, **kwargs))
    got_stats = flat(annotator_stats(frame, **kwargs))
    pd.testing.assert_frame_equal(got_stats, ref_stats, check_dtype=False)


def test_frame_types_agree_long_with_pred_frame(constructor):
    df, *_ = crowd(n_items=120, seed=5, unlabeled=10)
    long = to_long(df)
    preds = item_preds(df, 120)
    preds = preds.iloc[::-1].reset_index(drop=True)  # keyed, not aligned
    ref = flat(active_learning_scores(long, pred_probs=preds, **KW_LONG))
    got = active_learning_scores(constructor(long), pred_probs=constructor(preds), **KW_LONG)
    pd.testing.assert_frame_equal(flat(got), ref, check_dtype=False)
    # unannotated items of the pred_probs frame come last, with 0 annotations
    assert ref["item_id"].tolist()[-10:] == [f"item{i:04d}" for i in range(119, 109, -1)]
    assert (ref["num_annotations"].to_numpy()[-10:] == 0).all()


def test_wide_equals_long(constructor):
    df, *_ = crowd(n_items=150, seed=6)
    long = constructor(to_long(df))
    preds = item_preds(df, 150)
    wide = constructor(df)
    for probs_wide, probs_long in (("p_*", constructor(preds)), (None, None)):
        wide_out = flat(consensus(wide, annotators=ANNOTATORS, pred_probs=probs_wide))
        long_out = flat(consensus(long, pred_probs=probs_long, **KW_LONG))
        assert long_out["item_id"].tolist() == preds["item_id"].tolist()
        # annotators are numbered differently (column order vs first appearance), so sums of
        # annotator weights may differ in the last bit
        for col in ("consensus_label", "num_annotations"):
            np.testing.assert_array_equal(long_out[col].to_numpy(), wide_out[col].to_numpy())
        for col in ("consensus_quality", "annotator_agreement"):
            np.testing.assert_allclose(long_out[col], wide_out[col], rtol=0, atol=1e-12)
        s_wide = flat(annotator_stats(wide, annotators=ANNOTATORS, pred_probs=probs_wide))
        s_long = flat(annotator_stats(long, pred_probs=probs_long, **KW_LONG))
        assert s_long["worker"].tolist() == s_wide["annotator"].tolist()
        np.testing.assert_allclose(
            s_long["annotator_quality"], s_wide["annotator_quality"], atol=1e-12
        )
        q_wide = label_quality(wide, annotators=ANNOTATORS, pred_probs=probs_wide)
        q_long = flat(label_quality(long, pred_probs=probs_long, **KW_LONG))
        cells = score_columns(q_wide).ravel()
        np.testing.assert_allclose(
            q_long["label_score"], cells[~np.isnan(cells)], rtol=0, atol=1e-12
        )
        assert (
            q_long["agrees_with_consensus"] == (q_long["label"] == q_long["consensus_label"])
        ).all()


def test_wide_label_quality_is_null_where_not_labelled(constructor):
    df, codes, *_ = crowd(n_items=50, seed=17)
    ref = label_quality(df, annotators=ANNOTATORS, pred_probs="p_*")
    got = label_quality(constructor(df), annotators=ANNOTATORS, pred_probs="p_*")
    result = adapt(got)
    values = flat(got)
    for j, a in enumerate(ANNOTATORS):
        name = f"label_score_{a}"
        # the engine's own null (pandas: NaN; polars: null, not NaN) where a did not label
        np.testing.assert_array_equal(result.factorize(name).codes < 0, codes[:, j] < 0)
        assert pd.api.types.is_float_dtype(values[name].dtype)
        np.testing.assert_allclose(values[name].to_numpy(dtype=float), ref[name].to_numpy(), atol=0)


def test_long_pred_probs_as_columns_on_the_long_frame(constructor):
    df, *_ = crowd(n_items=80, seed=7)
    long = to_long(df)
    preds = item_preds(df, 80)
    joined = long.merge(preds, on="item_id", how="left")
    a = consensus(constructor(long), pred_probs=constructor(preds), **KW_LONG)
    b = consensus(constructor(joined), pred_probs="p_*", **KW_LONG)
    pd.testing.assert_frame_equal(flat(a), flat(b))


def test_long_rows_shuffled_give_same_item_results(constructor):
    df, *_ = crowd(n_items=100, seed=8)
    long = to_long(df)
    preds = constructor(item_preds(df, 100))
    kw = dict(KW_LONG, pred_probs=preds)
    a = flat(consensus(constructor(long), **kw)).set_index("item_id").sort_index()
    shuffled = long.sample(frac=1.0, random_state=0)
    b = flat(consensus(constructor(shuffled), **kw)).set_index("item_id").sort_index()
    pd.testing.assert_frame_equal(a, b)
    q = to_pandas(label_quality(constructor(shuffled), **kw))
    assert q["item_id"].tolist() == shuffled["item_id"].tolist()
    assert q["worker"].tolist() == shuffled["worker"].tolist()
    if constructor.kind.startswith("pandas"):
        assert list(q.index) == list(shuffled.index)


def test_without_pred_probs_dawid_skene_beats_majority_vote(constructor):
    rng = np.random.default_rng(9)
    n, m, k = 2000, 15, 3
    truth = rng.integers(0, k, n)
    acc = np.r_[rng.uniform(0.75, 0.95, 5), rng.uniform(0.3, 0.45, 10)]
    rows = []
    for i in range(n):
        for j in rng.choice(m, rng.integers(1, 5), replace=False):
            lab = truth[i] if rng.random() < acc[j] else rng.integers(0, k)
            rows.append((i, f"w{j}", ["no", "maybe", "yes"][lab]))
    long = constructor(pd.DataFrame(rows, columns=["item", "worker", "answer"]))
    kw = dict(item="item", annotator="worker", label="answer")
    ds = flat(consensus(long, **kw))
    mv = flat(consensus(long, consensus_method="majority_vote", **kw))
    truth_names = np.array(["no", "maybe", "yes"])[truth[ds["item"].to_numpy()]]
    acc_ds = (ds["consensus_label"].to_numpy() == truth_names).mean()
    acc_mv = (mv["consensus_label"].to_numpy() == truth_names).mean()
    assert acc_ds > acc_mv + 0.02
    assert ds["consensus_quality"].between(0, 1).all()
    stats = flat(annotator_stats(long, **kw))
    good = {f"w{j}" for j in range(5)}
    assert set(stats["worker"].tolist()[-5:]) == good  # the 5 reliable workers rank best


def test_categorical_labels_keep_dtype_and_unchosen_classes(constructor):
    df, *_ = crowd(n_items=60, seed=10)
    dfc = df.copy()
    for a in ANNOTATORS:
        dfc[a] = dfc[a].astype(pd.CategoricalDtype(CLASSES))
    frame = constructor(dfc)
    if constructor.kind.startswith("polars"):  # polars declares a category order with Enum
        frame = frame.with_columns([pl.col(a).cast(pl.Enum(CLASSES)) for a in ANNOTATORS])
    out = consensus(frame, annotators=ANNOTATORS, pred_probs="p_*")
    dtype = to_pandas(out)["consensus_label"].dtype
    assert isinstance(dtype, pd.CategoricalDtype) and list(dtype.categories) == CLASSES
    plain = flat(consensus(df, annotators=ANNOTATORS, pred_probs="p_*"))
    assert flat(out)["consensus_label"].astype(str).tolist() == plain["consensus_label"].tolist()
    # Dawid-Skene with a category nobody chose: its posterior stays ~0
    ds = flat(consensus(frame, annotators=ANNOTATORS))
    assert "fish" not in set(ds["consensus_label"].astype(str))


def test_integer_labels_and_annotators_with_few_items(constructor):
    rng = np.random.default_rng(11)
    rows = [(i, "big", int(rng.integers(0, 2))) for i in range(50)]
    rows += [(i, "small", int(rng.integers(0, 2))) for i in range(3)]
    rows += [(60, "loner", 1)]  # one item, labelled by nobody else
    long = constructor(pd.DataFrame(rows, columns=["item", "who", "y"]))
    probs = rng.dirichlet([1, 1], 61)
    preds = constructor(
        pd.DataFrame({"item": list(range(50)) + [60], "p_0": probs[:51, 0], "p_1": probs[:51, 1]})
    )
    kw = dict(item="item", annotator="who", label="y")
    out = flat(consensus(long, pred_probs=preds, **kw))
    assert pd.api.types.is_integer_dtype(out["consensus_label"].dtype)
    stats = flat(annotator_stats(long, pred_probs=preds, **kw))
    assert stats["annotator_quality"].between(0, 1).all()
    assert stats.set_index("who").loc["loner", "num_annotations"] == 1


def test_inputs_are_not_modified(constructor):
    df, *_ = crowd(n_items=60, seed=16, unlabeled=5)
    data = (df, to_long(df.iloc[:55]), item_preds(df, 60))
    frames = [constructor(x) for x in data]
    before = [to_pandas(f).copy(deep=True) for f in frames]
    wide_f, long_f, preds_f = frames
    labelled_preds = constructor(data[2].iloc[:55])
    active_learning_scores(wide_f, annotators=ANNOTATORS, pred_probs="p_*")
    active_learning_scores(long_f, pred_probs=preds_f, **KW_LONG)
    for fn in (consensus, annotator_stats, label_quality):
        fn(long_f, pred_probs=labelled_preds, **KW_LONG)
        fn(long_f, **KW_LONG)
    for frame, copy in zip(frames, before):
        pd.testing.assert_frame_equal(to_pandas(frame), copy)


# ----------------------------------------------------------------------------------------------
# method= (alias of consensus_method=) on both layouts
# ----------------------------------------------------------------------------------------------


def test_method_is_an_alias_of_consensus_method(constructor):
    rng = np.random.default_rng(0)
    true = rng.integers(0, 3, 60)
    names = np.array(["a", "b", "c"])
    wide = constructor(
        pd.DataFrame(
            {
                f"ann_{j}": np.where(
                    rng.random(60) < 0.8, names[true], names[rng.integers(0, 3, 60)]
                )
                for j in range(3)
            }
        )
    )
    for m in ("majority_vote", "dawid_skene"):
        for fn in (consensus, annotator_stats, label_quality):
            pd.testing.assert_frame_equal(
                flat(fn(wide, annotators="ann_*", method=m)),
                flat(fn(wide, annotators="ann_*", consensus_method=m)),
            )
    with pytest.raises(ValidationError, match="disagree"):
        consensus(wide, annotators="ann_*", method="majority_vote", consensus_method="dawid_skene")


def test_label_quality_honours_method_on_the_wide_layout(constructor, cleanlab_fixed):
    df, codes, probs, _ = crowd(n_items=120, seed=18)
    frame = constructor(df)
    kw = dict(annotators=ANNOTATORS, pred_probs="p_*")
    default = score_columns(label_quality(frame, **kw))
    alias = score_columns(label_quality(frame, method="majority_vote", **kw))
    full = score_columns(label_quality(frame, consensus_method="majority_vote", **kw))
    np.testing.assert_array_equal(alias, full)
    assert not np.allclose(np.nan_to_num(alias), np.nan_to_num(default))
    ref = cleanlab_fixed.get_label_quality_multiannotator(
        wide_matrix(codes), probs, verbose=False, consensus_method="majority_vote"
    )["detailed_label_quality"].to_numpy()
    np.testing.assert_allclose(alias, ref, atol=1e-9)


def test_label_quality_honours_method_on_the_long_layout(constructor):
    df, *_ = crowd(n_items=120, seed=18)
    long = constructor(to_long(df))
    kw = dict(KW_LONG, pred_probs=constructor(item_preds(df, 120)))
    default = flat(label_quality(long, **kw))
    alias = flat(label_quality(long, method="majority_vote", **kw))
    pd.testing.assert_frame_equal(
        alias, flat(label_quality(long, consensus_method="majority_vote", **kw))
    )
    assert not np.allclose(alias["label_score"], default["label_score"])
    # the majority-vote result: the same scores as the wide layout, the majority-vote consensus
    wide = label_quality(
        constructor(df), annotators=ANNOTATORS, pred_probs="p_*", method="majority_vote"
    )
    cells = score_columns(wide).ravel()
    np.testing.assert_allclose(alias["label_score"], cells[~np.isnan(cells)], atol=1e-12)
    mv = flat(consensus(long, consensus_method="majority_vote", **kw)).set_index("item_id")
    expected = mv.loc[alias["item_id"], "consensus_label"].tolist()
    assert alias["consensus_label"].tolist() == expected


# ----------------------------------------------------------------------------------------------
# One options object: signatures, descriptions, python -OO
# ----------------------------------------------------------------------------------------------


def _parameter_entries(doc: str) -> dict:
    """numpydoc Parameters section → {"name : type" line's names: whole entry text}."""
    text = inspect.cleandoc(doc)
    section = text.split("Parameters\n----------\n", 1)[1].split("\n\nReturns", 1)[0]
    entries: dict = {}
    name = None
    for line in section.splitlines():
        if line and not line.startswith(" "):
            name = line.split(" : ")[0]
            entries[name] = [line]
        else:
            entries[name].append(line)
    return {k: "\n".join(v) for k, v in entries.items()}


def test_the_four_functions_share_keywords_defaults_and_descriptions():
    spec_defaults = {f.name: f.default for f in dataclasses.fields(AnnotationSpec) if f.init}
    shared = ("annotators", "item", "annotator", "label", "pred_probs", "classes")
    options = (
        "consensus_method",
        "method",
        "quality_method",
        "calibrate_probs",
        "label_quality_score_kwargs",
    )
    for fn in FUNCTIONS:
        params = inspect.signature(fn).parameters
        names = shared + (options if fn is not active_learning_scores else ())
        for name in names:
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
            assert params[name].default == spec_defaults[name], (fn.__name__, name)
    entries = {fn: _parameter_entries(fn.__doc__) for fn in FUNCTIONS}
    for key in ("df", "annotators", "item, annotator, label", "pred_probs", "classes"):
        assert len({entries[fn][key] for fn in FUNCTIONS}) == 1, key
    as_in_consensus = ", ".join(options)
    assert entries[annotator_stats][as_in_consensus] == entries[label_quality][as_in_consensus]
    assert set(options) <= set(entries[consensus])


def test_module_imports_and_runs_under_python_OO():
    code = textwrap.dedent(
        """
        import pandas as pd
        import cleanframe.multiannotator as m
        df = pd.DataFrame({"a": ["x", "y", "y"], "b": ["x", "x", "y"], "c": ["x", "y", None]})
        out = m.label_quality(df, annotators=["a", "b", "c"], method="majority_vote")
        print(m.consensus.__doc__ is None, out["label_score_a"].round(3).tolist())
        """
    )
    run = subprocess.run(
        [sys.executable, "-OO", "-c", code], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "[1.0,", "0.667,", "1.0]"]


# ----------------------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------------------


@st.composite
def small_crowds(draw):
    n = draw(st.integers(4, 30))
    m = draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    codes = np.full((n, m), -1)
    for i in range(n):
        who = rng.choice(m, rng.integers(1, m + 1), replace=False)
        codes[i, who] = rng.integers(0, 3, len(who))
    codes[0, :2] = [0, 1]
    for j in range(m):
        if (codes[:, j] < 0).all():
            codes[1, j] = 2
    probs = rng.dirichlet(np.ones(3), n)
    data = {
        f"a{j}": [["x", "y", "z"][c] if c >= 0 else None for c in codes[:, j]] for j in range(m)
    }
    data.update({"p_x": probs[:, 0], "p_y": probs[:, 1], "p_z": probs[:, 2]})
    return pd.DataFrame(data), [f"a{j}" for j in range(m)], rng.permutation(n)


@settings(max_examples=examples(25), deadline=None)
@given(small_crowds())
def test_frame_types_agree_and_row_order_invariance(data):
    df, anns, perm = data
    for method in ("best_quality", None):
        probs = "p_*" if method else None
        kw = dict(annotators=anns, pred_probs=probs, consensus_method=method)
        ref = consensus(df, **kw)
        assert ref["consensus_quality"].between(0, 1).all()
        for kind in FRAME_TYPES:
            got = flat(consensus(make_frame(kind, df), **kw))
            pd.testing.assert_frame_equal(got, ref, check_dtype=False)
        shuffled = consensus(df.iloc[perm], **kw)
        pd.testing.assert_frame_equal(shuffled.sort_index(), ref, check_exact=False, atol=1e-9)
    al = active_learning_scores(df, annotators=anns, pred_probs="p_*")
    assert al["active_learning_score"].between(0, 1).all()


@settings(max_examples=examples(15), deadline=None)
@given(small_crowds())
def test_long_layout_matches_wide_and_ignores_row_order(data):
    df, anns, perm = data
    long = to_long(df, anns)
    preds = pd.DataFrame({"item_id": [f"item{i:04d}" for i in range(len(df))]})
    for c in ("x", "y", "z"):
        preds[f"p_{c}"] = df[f"p_{c}"].to_numpy()
    for wide_probs, long_probs in (("p_*", preds), (None, None)):
        wide_out = consensus(df, annotators=anns, pred_probs=wide_probs)
        long_out = consensus(long, pred_probs=long_probs, **KW_LONG)
        np.testing.assert_array_equal(long_out["consensus_label"], wide_out["consensus_label"])
        np.testing.assert_allclose(
            long_out["consensus_quality"], wide_out["consensus_quality"], atol=1e-9
        )
        shuffled = long.iloc[np.random.default_rng(len(long)).permutation(len(long))]
        for kind in FRAME_TYPES:
            probs = None if long_probs is None else make_frame(kind, long_probs)
            again = flat(consensus(make_frame(kind, shuffled), pred_probs=probs, **KW_LONG))
            again = again.set_index("item_id").loc[long_out["item_id"]].reset_index()
            # Dawid-Skene (no pred_probs) runs with items and annotators in a canonical order:
            # the same bits; CROWDLAB's sums over an item's annotators round in their order
            exact = long_probs is None
            pd.testing.assert_frame_equal(
                again, long_out, check_dtype=False, check_exact=exact, atol=0 if exact else 1e-9
            )


# ----------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------


def _long_small():
    return pd.DataFrame(
        {
            "item_id": ["a", "a", "b", "b", "c"],
            "worker": ["u", "v", "u", "v", "u"],
            "label": ["x", "y", "x", "x", "y"],
        }
    )


def _preds_small(items=("a", "b", "c")):
    return pd.DataFrame(
        {"item_id": list(items), "p_x": [0.6] * len(items), "p_y": [0.4] * len(items)}
    )


def test_duplicate_item_annotator_pairs(constructor):
    long = pd.concat([_long_small(), _long_small().iloc[[2]]], ignore_index=True)
    with pytest.raises(ValidationError, match="worker") as err:
        consensus(constructor(long), **KW_LONG)
    assert err.value.rule == "unique_item_annotator"
    assert "item_id" in str(err.value)
    assert err.value.failure_cases[0][0] == 5


def test_labels_outside_the_classes(constructor):
    with pytest.raises(ValidationError, match="label") as err:
        consensus(constructor(_long_small()), classes=["x"], **KW_LONG)  # "y" is not a class
    assert err.value.rule == "known_class"
    df, *_ = crowd(n_items=20, seed=12)
    df.loc[105, "ann_3"] = "wolf"
    frame = constructor(df)
    by_class = {c: f"p_{c}" for c in CLASSES}
    with pytest.raises(ValidationError, match="ann_3") as err:
        consensus(frame, annotators=ANNOTATORS, pred_probs=by_class)
    assert err.value.rule == "known_class"
    assert err.value.failure_cases[0] == (row_label(constructor, 105, 5), "wolf")
    with pytest.raises(ValidationError, match="wolf") as err:  # cannot map classes to columns
        consensus(frame, annotators=ANNOTATORS, pred_probs="p_*")
    assert err.value.rule == "classes"


def test_item_without_annotation(constructor):
    df, *_ = crowd(n_items=30, seed=13)
    df.loc[110, ANNOTATORS] = None
    with pytest.raises(ValidationError, match="ann_0") as err:
        consensus(constructor(df), annotators=ANNOTATORS, pred_probs="p_*")
    assert err.value.rule == "annotated"
    assert err.value.failure_cases[0][0] == row_label(constructor, 110, 10)
    long, preds = constructor(_long_small()), constructor(_preds_small(("a", "b", "c", "d")))
    with pytest.raises(ValidationError, match="item_id") as err:
        consensus(long, pred_probs=preds, **KW_LONG)
    assert err.value.rule == "annotated"
    # active learning scores them instead
    out = flat(active_learning_scores(long, pred_probs=preds, **KW_LONG))
    assert out["item_id"].tolist() == ["a", "b", "c", "d"]


def test_pred_probs_that_do_not_cover_the_items(constructor):
    long = constructor(_long_small())
    with pytest.raises(ValidationError, match="item_id") as err:
        consensus(long, pred_probs=constructor(_preds_small(("a", "b"))), **KW_LONG)
    assert err.value.rule == "pred_probs_cover"
    assert err.value.failure_cases[0] == (4, "c")
    with pytest.raises(ValidationError, match="item_id") as err:
        consensus(long, pred_probs=constructor(_preds_small(("a", "b", "c", "a"))), **KW_LONG)
    assert err.value.rule == "unique"


def test_pred_probs_varying_within_an_item(constructor):
    long = _long_small().assign(p_x=[0.6, 0.5, 0.6, 0.6, 0.6], p_y=[0.4, 0.5, 0.4, 0.4, 0.4])
    with pytest.raises(ValidationError, match="p_") as err:
        consensus(constructor(long), pred_probs="p_*", **KW_LONG)
    assert err.value.rule == "constant_per_item"


def test_nulls_in_long_columns_and_missing_columns(constructor):
    long = _long_small()
    long.loc[3, "worker"] = None
    with pytest.raises(ValidationError, match="worker") as err:
        consensus(constructor(long), **KW_LONG)
    assert err.value.rule == "not_null" and err.value.failure_cases[0][0] == 3
    with pytest.raises(ValidationError, match="annotator_x"):
        consensus(
            constructor(_long_small()), item="item_id", annotator="annotator_x", label="label"
        )


def test_other_bad_inputs(constructor):
    df, *_ = crowd(n_items=20, seed=14)
    df["ann_8"] = None
    with pytest.raises(ValidationError, match="ann_8") as err:
        consensus(constructor(df), annotators=ANNOTATORS, pred_probs="p_*")
    assert err.value.rule == "annotator_has_labels"
    one_class = constructor(pd.DataFrame({"a": ["x", "x"], "b": ["x", None]}))
    with pytest.raises(ValidationError, match="a") as err:
        consensus(one_class, annotators=["a", "b"])
    assert err.value.rule == "at_least_2_classes"
    single = constructor(
        pd.DataFrame(
            {"a": ["x", None, "y"], "b": [None, "y", None], "p_x": [0.5] * 3, "p_y": [0.5] * 3}
        )
    )
    with pytest.raises(ValidationError, match="a, b") as err:
        consensus(single, annotators=["a", "b"], pred_probs="p_*")
    assert err.value.rule == "multiple_annotations"
    df2, *_ = crowd(n_items=20, seed=15)
    frame = constructor(df2)
    out = consensus(frame, annotators=ANNOTATORS)
    with pytest.raises(ValidationError, match="consensus_label"):
        consensus(out, annotators=ANNOTATORS)
    consensus(out, annotators=ANNOTATORS, overwrite=True)
    bad = df2.copy()
    bad["p_cat"] = bad["p_cat"] + 0.5
    with pytest.raises(ValidationError, match="p_"):
        consensus(constructor(bad), annotators=ANNOTATORS, pred_probs="p_*")
    with pytest.raises(ValidationError, match="pred_probs"):
        active_learning_scores(frame, annotators=ANNOTATORS)
    with pytest.raises(ValidationError, match="annotators"):
        consensus(frame, annotators=ANNOTATORS, item="x")


@pytest.mark.parametrize(
    ("kwargs", "rule", "match"),
    [
        ({"calibrate_probs": True}, "spec", "calibrate_probs"),
        ({"pred_probs": "p_*", "consensus_method": "dawid_skene"}, "spec", "dawid_skene"),
        ({"consensus_method": "best_quality"}, "spec", "needs pred_probs"),
        ({"consensus_method": "vote"}, "consensus_method", "must be one of"),
        ({"method": "vote"}, "consensus_method", "must be one of"),
        ({"pred_probs": "p_*", "quality_method": "x"}, "quality_method", "must be one of"),
        (
            {"pred_probs": "p_*", "label_quality_score_kwargs": {"metod": "x"}},
            "spec",
            "metod",
        ),
        (
            {"pred_probs": "p_*", "label_quality_score_kwargs": {"method": "x"}},
            "label_quality_score_kwargs['method']",
            "normalized_margin",
        ),
        ({"item": "item_id"}, "spec", "missing: annotator=, label="),
    ],
)
def test_bad_options_are_rejected_before_reading_the_frame(constructor, kwargs, rule, match):
    df, *_ = crowd(n_items=20, seed=15)
    kwargs = kwargs if "item" in kwargs else {"annotators": ANNOTATORS, **kwargs}
    for fn in (consensus, annotator_stats, label_quality):
        with pytest.raises(ValidationError, match=match) as err:
            fn(constructor(df), **kwargs)
        assert err.value.rule == rule
        # the same rule, stated once: building the options object alone raises it
        with pytest.raises(ValidationError, match=match):
            AnnotationSpec(**kwargs)
