"""Inter-annotator agreement: the numbers analysts report about a labelled dataset.

:func:`agreement` returns one small table with Krippendorff's alpha (nominal), Fleiss' kappa,
the observed agreement, Cohen's kappa for every pair of annotators (and their mean, Light's
kappa) and each annotator's agreement with the consensus — each with a bootstrap confidence
interval over items. It takes the annotations in either multi-annotator layout:

* **wide** — ``annotators=[...]`` (or a glob such as ``"a_*"``): one row per item, one column
  per annotator, null where that annotator did not label the item;
* **long** — ``item=``, ``annotator=``, ``label=``: one row per annotation.

Missing annotations are simply absent: an item counts in alpha, Fleiss' kappa and the observed
agreement when it has two or more annotations, in a pair's Cohen's kappa when both annotators
labelled it.

Engine support: eager pandas and polars; a polars LazyFrame is collected once (the annotation
columns) and the table comes back as a LazyFrame. The input frame is never modified.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._engines import adapt
from ._inputs.agreement import agreement_consensus, bootstrap_options, check_pairable
from ._inputs.annotations import AnnotationSpec, resolve_annotations
from .scoring.multiannotator import aggregators as _agg
from .scoring.multiannotator import crowdlab as _ma
from .scoring.multiannotator.agreement import agreement_table

__all__ = ["agreement"]

COLUMNS = ("metric", "annotator", "other_annotator", "value", "ci_low", "ci_high", "num_items")


def agreement(
    df,
    *,
    annotators: Sequence[str] | str | None = None,
    item: str | None = None,
    annotator: str | None = None,
    label: str | None = None,
    classes: Sequence | None = None,
    consensus_method: str | None = None,
    gold: str | None = None,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
):
    """Agreement between annotators, with bootstrap confidence intervals.

    Metrics (nominal labels):

    * ``krippendorff_alpha`` — Krippendorff's alpha over the items with two or more annotations
      (equal to the ``krippendorff`` package's nominal alpha);
    * ``fleiss_kappa`` — Fleiss' kappa (equal to ``statsmodels``' ``fleiss_kappa`` when every
      item has the same number of annotations; with missing annotations, the usual
      generalisation to a varying number of raters per item);
    * ``observed_agreement`` — the mean share of agreeing annotator pairs per item;
    * ``cohen_kappa`` — one row per pair of annotators who share items (``annotator`` and
      ``other_annotator``), on those items (equal to scikit-learn's ``cohen_kappa_score``);
      ``mean_cohen_kappa`` — their mean (Light's kappa), when there is more than one pair;
    * ``agreement_with_consensus`` — one row per annotator: the share of their labels equal to
      the consensus label, on items with two or more annotations.

    Intervals are percentile intervals of ``n_resamples`` bootstrap resamples of the items (all
    metrics on the same resamples; the consensus is held fixed). A value that is undefined (one
    class only, no shared items) is NaN, and resamples where it is undefined are left out of its
    interval. Cost: a few sparse products per block of resamples, linear in the number of
    annotations times ``n_resamples``; pairs of annotators add the pairs of annotations that
    share an item.

    Runs on eager pandas and polars frames; a polars LazyFrame is collected once (the
    annotation columns) and the table comes back as a LazyFrame. Not streaming or Dask.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        The annotations (wide or long layout). Not modified.
    annotators : list of str or str, optional
        Wide layout: one column per annotator (a list, or a glob such as ``"a_*"``), null where
        the annotator did not label the row.
    item, annotator, label : str, optional
        Long layout: the columns holding the item id, the annotator id and the label.
    classes : sequence, optional
        The classes (a class nobody chose changes no metric). Default: the labels' category
        order, else the sorted label values.
    consensus_method : str, optional
        The consensus for ``agreement_with_consensus``: ``"majority_vote"`` (default; ties as in
        :func:`cleanframe.consensus`), ``"dawid_skene"`` or one of the aggregators of
        :func:`cleanframe.consensus` (``"gold_majority_vote"`` needs ``gold``).
    gold : str, optional
        A column of known true labels (null where unknown), for ``"gold_majority_vote"``.
    n_resamples : int
        Bootstrap resamples; 0 for no intervals (``ci_low`` and ``ci_high`` are then NaN).
    confidence_level : float
        Coverage of the intervals, strictly between 0 and 1.
    seed : int
        Seed of the resampling (and of the aggregators that draw random numbers).

    Returns
    -------
    frame of the caller's type
        Columns ``metric``, ``annotator`` and ``other_annotator`` (annotator names as strings —
        wide: the column names; null where a metric is not about one annotator), ``value``,
        ``ci_low``, ``ci_high`` and ``num_items`` (the items the value is computed on). Rows:
        the dataset-wide metrics, then the pairs, then the annotators, in annotator order.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"a_1": ["cat", "dog", "dog", "cat", "cat", None],
    ...                    "a_2": ["cat", "dog", "cat", "cat", "cat", "dog"],
    ...                    "a_3": ["cat", "dog", "dog", None, "dog", "dog"]})
    >>> table = df.cl.agreement(annotators="a_*", n_resamples=200)
    >>> table[["metric", "annotator", "other_annotator", "value", "num_items"]].round(3)
                         metric annotator other_annotator  value  num_items
    0        krippendorff_alpha       NaN             NaN  0.531          6
    1              fleiss_kappa       NaN             NaN  0.556          6
    2        observed_agreement       NaN             NaN  0.778          6
    3               cohen_kappa       a_1             a_2  0.545          5
    4               cohen_kappa       a_1             a_3  0.500          4
    5               cohen_kappa       a_2             a_3  0.286          5
    6          mean_cohen_kappa       NaN             NaN  0.444          6
    7  agreement_with_consensus       a_1             NaN  1.000          5
    8  agreement_with_consensus       a_2             NaN  0.833          6
    9  agreement_with_consensus       a_3             NaN  0.800          5
    >>> inside = (table["ci_low"] <= table["value"]) & (table["value"] <= table["ci_high"])
    >>> bool(inside.all())
    True
    """
    method = agreement_consensus(consensus_method)
    options = bootstrap_options(n_resamples, confidence_level, seed)
    spec = AnnotationSpec(
        annotators=annotators,
        item=item,
        annotator=annotator,
        label=label,
        classes=classes,
        consensus_method=method,
        gold=gold,
        seed=options.seed,
    )
    a = resolve_annotations(adapt(df), spec)
    ann = a.ann
    assert ann is not None  # every item is annotated (not an active-learning call)
    check_pairable(ann.num_annotations, spec.annotator or ", ".join(map(str, a.label_columns)))
    if method == "majority_vote":
        consensus = _ma.majority_vote_consensus(ann).consensus_label
    elif method == "dawid_skene":
        consensus = _ma.dawid_skene_consensus(ann).consensus_label
    else:
        consensus = _agg.aggregate(ann, method, gold=a.gold, seed=options.seed).consensus_label
    t = agreement_table(
        ann,
        np.asarray(consensus, dtype=np.int64),
        num_resamples=options.n_resamples,
        confidence_level=options.confidence_level,
        seed=options.seed,
    )
    names = [str(n) for n in a.annotator_names]

    def name(code: int):
        return names[code] if code >= 0 else None

    return a.fr.table(
        {
            "metric": list(t.metric),
            "annotator": [name(int(c)) for c in t.annotator],
            "other_annotator": [name(int(c)) for c in t.other],
            "value": t.value,
            "ci_low": t.ci_low,
            "ci_high": t.ci_high,
            "num_items": t.num_items,
        }
    )
