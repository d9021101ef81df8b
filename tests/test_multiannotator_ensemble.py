"""Multi-annotator ensembles: ``pred_probs=[spec, spec, ...]`` (one per model).

Parity with cleanlab 2.9's ``get_label_quality_multiannotator_ensemble`` and
``get_active_learning_scores_ensemble`` through the frame layer on every frame type, the long
layout with one pred_probs frame per model, and the ensemble's bad inputs.
"""

from __future__ import annotations

import cleanlab.internal.multiannotator_utils as cl_multi_utils
import numpy as np
import pandas as pd
import pytest

from cleanframe.errors import ValidationError
from cleanframe.multiannotator import (
    active_learning_scores,
    annotator_stats,
    consensus,
    label_quality,
)

from .scoring.test_multiannotator_kernels import _fixed_value_counts, patch_cleanlab
from .test_multiannotator import (
    ANNOTATORS,
    CLASSES,
    KW_LONG,
    crowd,
    flat,
    item_preds,
    score_columns,
    to_long,
    wide_matrix,
)


@pytest.fixture
def cleanlab_fixed(monkeypatch):
    """cleanlab with its float-label value_counts bug fixed everywhere it is used (the
    temperature search imports its own reference)."""
    monkeypatch.setattr(cl_multi_utils, "value_counts", _fixed_value_counts)
    return patch_cleanlab(monkeypatch)


def ensemble_crowd(n_items=200, seed=0, unlabeled=0):
    """``crowd`` plus a second, noisier model in q_<class> columns."""
    df, codes, probs, truth = crowd(n_items=n_items, seed=seed, unlabeled=unlabeled)
    rng = np.random.default_rng(seed + 100)
    other = 0.5 * probs + 0.5 * rng.dirichlet(np.ones(len(CLASSES)), n_items)
    for i, c in enumerate(CLASSES):
        df[f"q_{c}"] = other[:, i]
    return df, codes, np.stack([probs, other]), truth


MODELS = ["p_*", "q_*"]


@pytest.mark.parametrize("calibrate", [False, True])
def test_consensus_stats_and_label_quality_match_cleanlab(constructor, cleanlab_fixed, calibrate):
    df, codes, P, _ = ensemble_crowd(seed=1)
    ref = cleanlab_fixed.get_label_quality_multiannotator_ensemble(
        wide_matrix(codes), P.copy(), calibrate_probs=calibrate, verbose=False
    )
    frame = constructor(df)
    kw = dict(annotators=ANNOTATORS, pred_probs=MODELS, calibrate_probs=calibrate)
    out = flat(consensus(frame, **kw))
    lq = ref["label_quality"]
    assert out["consensus_label"].tolist() == [CLASSES[c] for c in lq["consensus_label"]]
    np.testing.assert_allclose(out["consensus_quality"], lq["consensus_quality_score"], atol=1e-9)
    np.testing.assert_allclose(out["annotator_agreement"], lq["annotator_agreement"], atol=1e-12)
    stats = flat(annotator_stats(frame, **kw)).set_index("annotator")
    theirs = ref["annotator_stats"]
    theirs.index = [ANNOTATORS[int(i)] for i in theirs.index]
    np.testing.assert_allclose(
        stats.loc[theirs.index, "annotator_quality"], theirs["annotator_quality"], atol=1e-9
    )
    cells = score_columns(label_quality(frame, **kw))
    np.testing.assert_allclose(cells, ref["detailed_label_quality"].to_numpy(), atol=1e-9)
    assert not np.array_equal(  # the second model changes the result
        out["consensus_quality"].to_numpy(),
        flat(consensus(df, annotators=ANNOTATORS, pred_probs="p_*"))["consensus_quality"],
    )


def test_active_learning_with_unlabelled_rows_matches_cleanlab(constructor, cleanlab_fixed):
    df, codes, P, _ = ensemble_crowd(n_items=220, seed=2, unlabeled=20)
    labeled = (codes >= 0).any(axis=1)
    s_l, s_u = cleanlab_fixed.get_active_learning_scores_ensemble(
        wide_matrix(codes[labeled]), P[:, labeled].copy(), P[:, ~labeled].copy()
    )
    out = flat(active_learning_scores(constructor(df), annotators=ANNOTATORS, pred_probs=MODELS))
    scores = out["active_learning_score"].to_numpy()
    np.testing.assert_allclose(scores[labeled], s_l, atol=1e-9)
    np.testing.assert_allclose(scores[~labeled], s_u, atol=1e-9)


def test_active_learning_single_labels_matches_cleanlab(constructor, cleanlab_fixed):
    df, codes, P, truth = ensemble_crowd(n_items=120, seed=3)
    single = np.full_like(codes, -1)
    single[np.arange(120), np.arange(120) % len(ANNOTATORS)] = truth
    for j, a in enumerate(ANNOTATORS):
        df[a] = pd.array([CLASSES[c] if c >= 0 else None for c in single[:, j]], dtype=object)
    s_l, _ = cleanlab_fixed.get_active_learning_scores_ensemble(wide_matrix(single), P.copy())
    out = flat(active_learning_scores(constructor(df), annotators=ANNOTATORS, pred_probs=MODELS))
    np.testing.assert_allclose(out["active_learning_score"], s_l, atol=1e-12)


def test_long_layout_with_one_frame_per_model_equals_wide(constructor):
    df, _, P, _ = ensemble_crowd(n_items=150, seed=4, unlabeled=10)
    long = to_long(df)
    p_frame = item_preds(df, 150)
    q_frame = pd.DataFrame({"item_id": p_frame["item_id"]})
    for c in CLASSES:
        q_frame[f"q_{c}"] = df[f"q_{c}"].to_numpy()
    q_frame = q_frame.iloc[::-1].reset_index(drop=True)  # keyed by item, not aligned
    models = [constructor(p_frame), constructor(q_frame)]
    got = flat(active_learning_scores(constructor(long), pred_probs=models, **KW_LONG))
    ref = flat(active_learning_scores(df, annotators=ANNOTATORS, pred_probs=MODELS))
    assert got["item_id"].tolist() == p_frame["item_id"].tolist()
    np.testing.assert_allclose(
        got["active_learning_score"], ref["active_learning_score"], rtol=0, atol=1e-12
    )
    labelled = df.iloc[:140]
    p_140 = constructor(item_preds(df, 140))
    c_long = flat(consensus(constructor(to_long(labelled)), pred_probs=[p_140, p_140], **KW_LONG))
    c_wide = flat(consensus(labelled, annotators=ANNOTATORS, pred_probs=["p_*", "p_*"]))
    assert c_long["consensus_label"].tolist() == c_wide["consensus_label"].tolist()


def test_inputs_are_not_modified():
    df, *_ = ensemble_crowd(n_items=80, seed=5, unlabeled=5)
    before = df.copy()
    active_learning_scores(df, annotators=ANNOTATORS, pred_probs=MODELS)
    consensus(df.iloc[:75], annotators=ANNOTATORS, pred_probs=MODELS, calibrate_probs=True)
    pd.testing.assert_frame_equal(df, before)


def test_bad_ensembles(constructor):
    df, *_ = ensemble_crowd(n_items=60, seed=6)
    frame = constructor(df)
    with pytest.raises(ValidationError, match="classes differ"):
        renamed = {"bird": "q_bird", "cat": "q_cat", "dog": "q_dog", "eel": "q_fish"}
        consensus(frame, annotators=ANNOTATORS, pred_probs=["p_*", renamed])
    for kw in (dict(method="majority_vote"), dict(quality_method="agreement")):
        with pytest.raises(ValidationError, match="ensemble"):
            consensus(frame, annotators=ANNOTATORS, pred_probs=MODELS, **kw)
    with pytest.raises(ValidationError, match="does not use pred_probs"):
        consensus(frame, annotators=ANNOTATORS, pred_probs=MODELS, method="glad")
    long = to_long(df.iloc[:50])
    p_frame = item_preds(df, 60)
    q_frame = item_preds(df, 55)
    with pytest.raises(ValidationError, match="different unannotated items"):
        active_learning_scores(
            constructor(long), pred_probs=[constructor(p_frame), constructor(q_frame)], **KW_LONG
        )
    # a list of plain column names is one model
    one = flat(consensus(frame, annotators=ANNOTATORS, pred_probs=[f"p_{c}" for c in CLASSES]))
    assert one.equals(flat(consensus(frame, annotators=ANNOTATORS, pred_probs="p_*")))
