"""Data labelled by several annotators: consensus labels, annotator quality, what to label next.

Two layouts are accepted:

* **wide** — one row per item and one column per annotator, null where that annotator did not
  label the item: ``annotators=["ann_1", "ann_2", ...]`` (or a glob such as ``"ann_*"``);
* **long** — one row per annotation, the way labelling tools export it:
  ``item="item_id", annotator="worker", label="label"``.

``pred_probs`` (out-of-sample model probabilities per item) is optional. In the wide layout it is a
column spec on the same frame. In the long layout it is either a frame keyed by the item column
(every other column is a class probability, in class order) or a column spec on the long frame
(the same values on every row of an item).

With ``pred_probs`` the consensus is CROWDLAB (cleanlab 2.9's
``get_label_quality_multiannotator``); without, Dawid-Skene EM (or a majority vote), or one of
crowd-kit's aggregators (``method="glad"``, ``"mace"``, ``"m_msr"``, ...). ``pred_probs`` from
several models (a list of specs) gives cleanlab's ensemble versions. ActiveLab scores say which
items to label, or relabel, next.

Every function takes the frame first and keyword-only arguments after it, accepts a pandas
DataFrame, a polars DataFrame or a polars LazyFrame, never modifies its input and returns the
caller's frame type. Class values in results are the label column's own values and dtype.

Engine support: eager pandas and polars; a LazyFrame is collected once (only the columns used)
and results come back as a LazyFrame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._engines import adapt
from ._inputs.annotations import AnnotationInputs, AnnotationSpec, resolve_annotations
from ._inputs.columns import check_result_columns
from ._typing import FrameT
from .scoring.multiannotator import aggregators as _agg
from .scoring.multiannotator import crowdlab as _ma

__all__ = ["consensus", "annotator_stats", "label_quality", "active_learning_scores"]

CONSENSUS_COLUMNS = (
    "consensus_label",
    "consensus_quality",
    "annotator_agreement",
    "num_annotations",
)


# ----------------------------------------------------------------------------------------------
# Running the kernels
# ----------------------------------------------------------------------------------------------


def _run(a: AnnotationInputs) -> _ma.ConsensusResult:
    """The consensus the spec asks for, on the checked annotations."""
    spec = a.spec
    assert a.ann is not None  # only active learning accepts frames without annotations
    if spec.consensus == "dawid_skene":
        return _ma.dawid_skene_consensus(a.ann, order=a.order)
    if spec.consensus in _agg.AGGREGATORS:
        return _agg.aggregate(a.ann, spec.consensus, gold=a.gold, seed=spec.seed, order=a.order)
    if a.pred_probs is None:
        return _ma.majority_vote_consensus(a.ann)
    return _ma.crowdlab(
        a.ann,
        a.pred_probs[..., a.labeled, :],  # an ensemble: (models, items, classes)
        consensus_method=spec.consensus,
        quality_method=spec.quality_method,
        calibrate_probs=spec.calibrate_probs,
        label_quality_score_kwargs=spec.label_quality_score_kwargs,
    )


def _run_items(a: AnnotationInputs) -> _ma.ConsensusResult | _agg.ItemConsensus:
    """What ``consensus()`` needs: the aggregators skip their per-annotator table."""
    if a.spec.consensus in _agg.AGGREGATORS:
        assert a.ann is not None
        return _agg.aggregate_items(
            a.ann,
            a.spec.consensus,
            gold=a.gold,
            seed=a.spec.seed,
            posterior=False,
            order=a.order,
        )
    return _run(a)


def _class_values(a: AnnotationInputs, codes):
    return a.fr.class_values(a.class_column, list(a.classes.values), codes)


def _item_result(a: AnnotationInputs, columns: dict, overwrite: bool):
    """Wide: the input frame plus ``columns``; long: one row per item (item column first)."""
    if a.layout == "wide":
        return a.fr.attach(columns, overwrite=overwrite)
    item = a.item
    values = a.item_array if a.item_array is not None else a.item_values
    assert item is not None and values is not None  # the long layout has them
    return a.fr.table({item: a.fr.class_values(item, values, np.arange(a.num_items)), **columns})


# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------
#
# The four functions take the same keywords; each builds one AnnotationSpec from them (the input
# layer checks them there) and their docstrings repeat the same description of the shared
# parameters (tests/test_multiannotator.py checks that signatures and descriptions agree).


def consensus(
    df: FrameT,
    *,
    annotators: Sequence[str] | str | None = None,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    pred_probs: Any = None,
    classes: Sequence | None = None,
    consensus_method: str | None = None,
    method: str | None = None,
    quality_method: str = "crowdlab",
    calibrate_probs: bool = False,
    label_quality_score_kwargs: dict | None = None,
    gold: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> FrameT:
    """Consensus label per item and how much to trust it.

    With ``pred_probs`` this is CROWDLAB: each item's posterior mixes the model's probabilities
    and the annotators' votes, each weighted by how much better than the majority class it agrees
    with the others. Without ``pred_probs`` it is Dawid-Skene EM (per-annotator confusion
    matrices), or a plain majority vote.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        The annotations (wide or long layout). Not modified.
    annotators : list of str or str, optional
        Wide layout: one column per annotator (a list, or a glob such as ``"ann_*"``), null
        where the annotator did not label the row.
    item, annotator, label : str, optional
        Long layout: the columns holding the item id, the annotator id and the label.
    pred_probs : column spec or frame, or a list of them, optional
        Out-of-sample predicted class probabilities per item. Wide layout: a list / glob / dict
        / array-column spec on ``df``. Long layout: a frame keyed by the ``item`` column (every
        other column a class, in class order) or a spec on ``df`` with equal values on all
        rows of an item. Several models (an ensemble, as cleanlab's ``_ensemble`` functions):
        a list of such specs or frames, e.g. ``["m1_*", "m2_*"]``; each model gets its own
        CROWDLAB weight (and temperature), with the default consensus and quality methods.
    classes : sequence, optional
        Class order (one class per pred_probs column). Default: the label column's category
        order, else the pred_probs column names, else the sorted label values.
    consensus_method : str, optional
        ``"best_quality"`` (default with ``pred_probs``): the most probable class under the
        CROWDLAB posterior. ``"majority_vote"``: the most voted class; ties go to the highest
        pred_probs, then the class with fewest votes overall, then the annotators who agree
        most with the consensus elsewhere, then the lowest class (cleanlab draws at random
        there). ``"dawid_skene"`` (default without ``pred_probs``). Without ``pred_probs``,
        crowd-kit's aggregators: ``"one_coin_dawid_skene"``, ``"glad"``, ``"mace"``,
        ``"wawa"``, ``"zero_based_skill"``, ``"kos"`` (two classes), ``"m_msr"`` and
        ``"gold_majority_vote"`` (needs ``gold=``), with crowd-kit's defaults; ties go to the
        lowest class (Wawa's first, unweighted vote: to the class that occurs first in the
        rows, as crowd-kit under pandas >= 3). Their ``consensus_quality`` is the posterior
        probability of the consensus (weighted votes: its share of the summed weights; M-MSR:
        the softmax of the log-odds votes; KOS: ``annotator_agreement``). In the long layout
        ``"dawid_skene"`` and the iterative aggregators (all but Wawa and gold majority vote)
        number the items and annotators by their sorted values, as crowd-kit's group-bys do:
        their results are the same, to the bit, in any row order (wide layout: items are the
        rows, annotators the columns, in their order).
    method : str, optional
        Short alias of ``consensus_method``.
    quality_method : {"crowdlab", "agreement"}
        With ``pred_probs``: score the consensus by the CROWDLAB posterior or by the share of
        annotators who agree with it.
    calibrate_probs : bool
        Temperature-scale ``pred_probs`` to the annotators' vote distribution first.
    label_quality_score_kwargs : dict, optional
        ``method`` (``"self_confidence"`` default, ``"normalized_margin"``,
        ``"confidence_weighted_entropy"``) and ``adjust_pred_probs`` for the quality scores.
    gold : str, optional
        ``"gold_majority_vote"`` only: a column of known true labels (wide: per row; long:
        the same on every row of an item), null where unknown. Each annotator is weighted by
        its accuracy on these items (annotators without any: the mean of the others).
    seed : int
        Seed of the aggregators that draw random numbers (``"kos"``, ``"mace"``,
        ``"m_msr"``); crowd-kit's default is 0. Results are deterministic for a given seed
        (the draws follow the numbering of items and annotators described above).
    overwrite : bool
        Replace result columns that already exist in ``df`` (wide layout).

    Returns
    -------
    frame of the caller's type
        Wide layout: ``df`` plus ``consensus_label``, ``consensus_quality`` (in [0, 1], lower =
        less trustworthy), ``annotator_agreement`` (share of the row's annotators who chose the
        consensus) and ``num_annotations``. Long layout: one row per item (order of first
        appearance) with the item column and those four columns.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"a": ["cat", "dog", "dog", None], "b": ["cat", "cat", "dog", "dog"],
    ...                    "c": ["cat", "dog", None, "dog"]})
    >>> out = cleanframe.consensus(df, annotators=["a", "b", "c"], consensus_method="majority_vote")
    >>> out[["consensus_label", "annotator_agreement", "num_annotations"]]
      consensus_label  annotator_agreement  num_annotations
    0             cat             1.000000                3
    1             dog             0.666667                3
    2             dog             1.000000                2
    3             dog             1.000000                2
    >>> wawa = cleanframe.consensus(df, annotators=["a", "b", "c"], method="wawa")  # crowd-kit's
    >>> wawa["consensus_label"].tolist()
    ['cat', 'dog', 'dog', 'dog']
    """
    spec = AnnotationSpec(
        annotators=annotators,
        item=item,
        annotator=annotator,
        label=label,
        pred_probs=pred_probs,
        classes=classes,
        consensus_method=consensus_method,
        method=method,
        quality_method=quality_method,
        calibrate_probs=calibrate_probs,
        label_quality_score_kwargs=label_quality_score_kwargs,
        gold=gold,
        seed=seed,
    )
    a = resolve_annotations(adapt(df), spec)
    if a.layout == "wide":
        check_result_columns(a.fr, CONSENSUS_COLUMNS, overwrite=overwrite)
    res = _run_items(a)
    columns = {
        "consensus_label": _class_values(a, res.consensus_label),
        "consensus_quality": res.consensus_quality,
        "annotator_agreement": res.annotator_agreement,
        "num_annotations": res.num_annotations.astype(np.int64),
    }
    return _item_result(a, columns, overwrite)


def annotator_stats(
    df,
    *,
    annotators: Sequence[str] | str | None = None,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    pred_probs: Any = None,
    classes: Sequence | None = None,
    consensus_method: str | None = None,
    method: str | None = None,
    quality_method: str = "crowdlab",
    calibrate_probs: bool = False,
    label_quality_score_kwargs: dict | None = None,
    gold: str | None = None,
    seed: int = 0,
):
    """One row per annotator: how good are their labels? Worst annotators first.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        The annotations (wide or long layout). Not modified.
    annotators : list of str or str, optional
        Wide layout: one column per annotator (a list, or a glob such as ``"ann_*"``), null
        where the annotator did not label the row.
    item, annotator, label : str, optional
        Long layout: the columns holding the item id, the annotator id and the label.
    pred_probs : column spec or frame, or a list of them, optional
        Out-of-sample predicted class probabilities per item. Wide layout: a list / glob / dict
        / array-column spec on ``df``. Long layout: a frame keyed by the ``item`` column (every
        other column a class, in class order) or a spec on ``df`` with equal values on all
        rows of an item. Several models (an ensemble, as cleanlab's ``_ensemble`` functions):
        a list of such specs or frames, e.g. ``["m1_*", "m2_*"]``; each model gets its own
        CROWDLAB weight (and temperature), with the default consensus and quality methods.
    classes : sequence, optional
        Class order (one class per pred_probs column). Default: the label column's category
        order, else the pred_probs column names, else the sorted label values.
    consensus_method, method, quality_method, calibrate_probs, label_quality_score_kwargs
        As in :func:`consensus`.
    gold, seed
        As in :func:`consensus`.

    Returns
    -------
    frame of the caller's type
        Columns ``annotator`` (wide: the column name; long: the annotator id, named after the
        annotator column), ``annotator_quality`` (in [0, 1]; CROWDLAB: a mix of the quality of
        the annotator's labels under the posterior and their agreement with the consensus on
        items others labelled too; Dawid-Skene: mean posterior probability of their labels;
        majority vote: agreement with the consensus; crowd-kit's aggregators: their skill in
        [0, 1] — the accuracy ``s_j`` for one-coin Dawid-Skene, Wawa, Zero-Based Skill and gold
        majority vote, the probability of knowing for MACE, the mean P(right) for GLAD, ``p``
        for M-MSR, the agreement with the consensus for KOS), ``agreement_with_consensus``,
        ``worst_class`` (the class they used with the lowest agreement with the consensus) and
        ``num_annotations``; sorted by quality then agreement, ascending (ties: annotator order).
        crowd-kit's aggregators add ``annotator_skill``, the method's own parameter (GLAD:
        ``alpha``; M-MSR: log-odds; otherwise the same as ``annotator_quality``).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> long = pd.DataFrame({"item": [1, 1, 1, 2, 2, 3, 3, 3],
    ...                      "worker": ["x", "y", "z", "x", "y", "x", "y", "z"],
    ...                      "label": ["a", "a", "b", "b", "b", "a", "a", "b"]})
    >>> stats = cleanframe.annotator_stats(long, item="item", annotator="worker", label="label",
    ...                                    consensus_method="majority_vote")
    >>> stats[["worker", "annotator_quality", "worst_class", "num_annotations"]]
      worker  annotator_quality worst_class  num_annotations
    0      z                0.0           b                2
    1      x                1.0           a                3
    2      y                1.0           a                3
    """
    spec = AnnotationSpec(
        annotators=annotators,
        item=item,
        annotator=annotator,
        label=label,
        pred_probs=pred_probs,
        classes=classes,
        consensus_method=consensus_method,
        method=method,
        quality_method=quality_method,
        calibrate_probs=calibrate_probs,
        label_quality_score_kwargs=label_quality_score_kwargs,
        gold=gold,
        seed=seed,
    )
    a = resolve_annotations(adapt(df), spec)
    res = _run(a)
    order = np.lexsort((res.agreement_with_consensus, res.annotator_quality))
    name, ids = "annotator", [a.annotator_names[i] for i in order]  # wide: the column names
    if a.layout == "long":
        assert a.annotator is not None  # the long layout has it
        name, ids = a.annotator, a.fr.class_values(a.annotator, a.annotator_names, order)
    columns = {
        name: ids,
        "annotator_quality": res.annotator_quality[order],
        "agreement_with_consensus": res.agreement_with_consensus[order],
        "worst_class": _class_values(a, res.worst_class[order]),
        "num_annotations": res.num_labeled[order],
    }
    if res.annotator_skill is not None:
        columns["annotator_skill"] = res.annotator_skill[order]
    return a.fr.table(columns)


def label_quality(
    df: FrameT,
    *,
    annotators: Sequence[str] | str | None = None,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    pred_probs: Any = None,
    classes: Sequence | None = None,
    consensus_method: str | None = None,
    method: str | None = None,
    quality_method: str = "crowdlab",
    calibrate_probs: bool = False,
    label_quality_score_kwargs: dict | None = None,
    gold: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> FrameT:
    """Per annotation: is this annotator's label right?

    Each annotation is scored by the probability of its label under the consensus posterior
    (CROWDLAB or Dawid-Skene; for a plain majority vote, the share of the item's annotators who
    gave the same label). Scores are in [0, 1], lower = more likely wrong.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        The annotations (wide or long layout). Not modified.
    annotators : list of str or str, optional
        Wide layout: one column per annotator (a list, or a glob such as ``"ann_*"``), null
        where the annotator did not label the row.
    item, annotator, label : str, optional
        Long layout: the columns holding the item id, the annotator id and the label.
    pred_probs : column spec or frame, or a list of them, optional
        Out-of-sample predicted class probabilities per item. Wide layout: a list / glob / dict
        / array-column spec on ``df``. Long layout: a frame keyed by the ``item`` column (every
        other column a class, in class order) or a spec on ``df`` with equal values on all
        rows of an item. Several models (an ensemble, as cleanlab's ``_ensemble`` functions):
        a list of such specs or frames, e.g. ``["m1_*", "m2_*"]``; each model gets its own
        CROWDLAB weight (and temperature), with the default consensus and quality methods.
    classes : sequence, optional
        Class order (one class per pred_probs column). Default: the label column's category
        order, else the pred_probs column names, else the sorted label values.
    consensus_method, method, quality_method, calibrate_probs, label_quality_score_kwargs
        As in :func:`consensus`.
    gold, seed
        As in :func:`consensus`.
    overwrite : bool
        Replace result columns that already exist in ``df``.

    Returns
    -------
    frame of the caller's type
        Long layout: ``df`` (same rows, order and index) plus ``label_score``,
        ``consensus_label`` and ``agrees_with_consensus``. Wide layout: ``df`` plus one
        ``label_score_<annotator column>`` per annotator (null where it did not label the row).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> long = pd.DataFrame({"item": [1, 1, 1, 2, 2],
    ...                      "worker": ["x", "y", "z", "x", "y"],
    ...                      "label": ["a", "a", "b", "b", "b"]})
    >>> out = cleanframe.label_quality(long, item="item", annotator="worker", label="label",
    ...                                consensus_method="majority_vote")
    >>> out[["label_score", "consensus_label", "agrees_with_consensus"]]
       label_score consensus_label  agrees_with_consensus
    0     0.666667               a                   True
    1     0.666667               a                   True
    2     0.333333               a                  False
    3     1.000000               b                   True
    4     1.000000               b                   True
    """
    spec = AnnotationSpec(
        annotators=annotators,
        item=item,
        annotator=annotator,
        label=label,
        pred_probs=pred_probs,
        classes=classes,
        consensus_method=consensus_method,
        method=method,
        quality_method=quality_method,
        calibrate_probs=calibrate_probs,
        label_quality_score_kwargs=label_quality_score_kwargs,
        gold=gold,
        seed=seed,
    )
    a = resolve_annotations(adapt(df), spec)
    ann = a.ann
    assert ann is not None
    if a.layout == "wide":
        names = [f"label_score_{c}" for c in a.annotator_names]
        check_result_columns(a.fr, names, overwrite=overwrite)
        res = _run(a)
        scores = np.zeros((a.num_items, ann.num_annotators))
        labelled = np.zeros((a.num_items, ann.num_annotators), dtype=bool)
        rows = a.labeled[ann.item]
        scores[rows, ann.annotator] = res.annotation_quality
        labelled[rows, ann.annotator] = True
        columns = {n: a.fr.with_nulls(scores[:, j], ~labelled[:, j]) for j, n in enumerate(names)}
        return a.fr.attach(columns, overwrite=overwrite)
    names = ["label_score", "consensus_label", "agrees_with_consensus"]
    check_result_columns(a.fr, names, overwrite=overwrite)
    res = _run(a)
    score = np.empty(len(ann.item))
    score[ann.source] = res.annotation_quality
    item_of_row = np.empty(len(ann.item), dtype=np.int64)
    item_of_row[ann.source] = ann.item
    label_of_row = np.empty(len(ann.item), dtype=np.int64)
    label_of_row[ann.source] = ann.label
    cons = res.consensus_label[item_of_row]
    columns = {
        "label_score": score,
        "consensus_label": _class_values(a, cons),
        "agrees_with_consensus": label_of_row == cons,
    }
    return a.fr.attach(columns, overwrite=overwrite)


def active_learning_scores(
    df: FrameT,
    *,
    annotators: Sequence[str] | str | None = None,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    pred_probs: Any = None,
    classes: Sequence | None = None,
    overwrite: bool = False,
) -> FrameT:
    """ActiveLab: which items to label (or relabel) next.

    Reproduces cleanlab's ``get_active_learning_scores``. A labelled item scores the CROWDLAB
    quality of its consensus (after fitting a temperature to the votes), pulled towards 1/K by
    one average annotator's weight: items with a doubtful consensus and few or unreliable
    annotators score low. An item nobody labelled yet (wide: a row with every annotator column
    null; long: an item of the ``pred_probs`` frame without annotations) scores the model's
    confidence, pulled towards 1/K the same way. When every labelled item has a single label,
    no temperature is fitted and all weights are 1. ``pred_probs`` is required.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        The annotations (wide or long layout). Not modified.
    annotators : list of str or str, optional
        Wide layout: one column per annotator (a list, or a glob such as ``"ann_*"``), null
        where the annotator did not label the row.
    item, annotator, label : str, optional
        Long layout: the columns holding the item id, the annotator id and the label.
    pred_probs : column spec or frame, or a list of them, optional
        Out-of-sample predicted class probabilities per item. Wide layout: a list / glob / dict
        / array-column spec on ``df``. Long layout: a frame keyed by the ``item`` column (every
        other column a class, in class order) or a spec on ``df`` with equal values on all
        rows of an item. Several models (an ensemble, as cleanlab's ``_ensemble`` functions):
        a list of such specs or frames, e.g. ``["m1_*", "m2_*"]``; each model gets its own
        CROWDLAB weight (and temperature), with the default consensus and quality methods.
    classes : sequence, optional
        Class order (one class per pred_probs column). Default: the label column's category
        order, else the pred_probs column names, else the sorted label values.
    overwrite : bool
        Replace result columns that already exist in ``df`` (wide layout).

    Returns
    -------
    frame of the caller's type
        ``active_learning_score`` (in [0, 1], lower = label first) and ``relabel_priority``
        (1 = label first; ties by row order). Wide layout: ``df`` plus these columns. Long
        layout: one row per item (annotated items in order of first appearance, then the
        unannotated items of ``pred_probs``) with the item column, the two columns and
        ``num_annotations``. Sort by ``relabel_priority`` to get the to-do list.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"a": [0, 1, None, None], "b": [0, 0, 1, None],
    ...                    "p_0": [0.9, 0.5, 0.2, 0.6], "p_1": [0.1, 0.5, 0.8, 0.4]})
    >>> out = cleanframe.active_learning_scores(df, annotators=["a", "b"], pred_probs="p_*")
    >>> out[["active_learning_score", "relabel_priority"]].round(3)
       active_learning_score  relabel_priority
    0                  0.767                 2
    1                  0.500                 1
    2                  0.772                 3
    3                  0.772                 4
    """
    spec = AnnotationSpec(
        annotators=annotators,
        item=item,
        annotator=annotator,
        label=label,
        pred_probs=pred_probs,
        classes=classes,
        active_learning=True,
    )
    a = resolve_annotations(adapt(df), spec)
    if a.layout == "wide":
        check_result_columns(
            a.fr, ["active_learning_score", "relabel_priority"], overwrite=overwrite
        )
    P = a.pred_probs
    assert P is not None  # the spec requires it
    scores = np.empty(a.num_items)
    labeled_p = P[..., a.labeled, :] if len(a.labeled) else None
    unlabeled_p = P[..., a.unlabeled, :] if len(a.unlabeled) else None
    kernel = _ma.active_learning_scores_ensemble if P.ndim == 3 else _ma.active_learning_scores
    s_l, s_u = kernel(a.ann if len(a.labeled) else None, labeled_p, unlabeled_p)
    scores[a.labeled] = s_l
    scores[a.unlabeled] = s_u
    priority = np.empty(a.num_items, dtype=np.int64)
    priority[np.argsort(scores, kind="stable")] = np.arange(1, a.num_items + 1)
    columns = {"active_learning_score": scores, "relabel_priority": priority}
    if a.layout == "long":
        n = np.zeros(a.num_items, dtype=np.int64)
        if a.ann is not None:
            n[a.labeled] = a.ann.num_annotations
        columns["num_annotations"] = n
    return _item_result(a, columns, overwrite)
