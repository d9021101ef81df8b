"""Multi-label label issues: each row carries a set of tags (a list column, or one-hot columns).

The label is a list column — polars ``List[str]``, a pandas column of Arrow lists or a pandas
object column of Python lists — whose tags are the classes named by the pred_probs columns
(``p_news`` → ``news``), or integer tags that are column positions; a row may carry no tag. One
boolean column per class (``label=["y_a", "y_b"]`` or ``label="y_*"``) is the one-hot form.
pred_probs hold one independent probability per class (rows need not sum to 1).

Every class is scored as a binary problem (carries the class or not), as cleanlab's
``multilabel_classification`` does, but all classes at once. The functions of
:mod:`cleanframe.label_issues` (``find_label_issues``, ``label_quality_scores``,
``health_summary``, ...) forward here when the label is multi-label, so
``df.cl.find_label_issues(label="tags", pred_probs="p_*")`` just works.

Engine support: pandas, polars and polars LazyFrame (a LazyFrame collects only the label and
pred_probs columns, in memory: no streaming; row-level results come back as a LazyFrame). Not on
Dask (a Dask frame's list column is an error that says so). Inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape as html_escape
from typing import Any

import numpy as np

from ._engines import adapt, to_html, to_text
from ._inputs.arguments import choice, rank_options
from ._inputs.columns import check_result_columns
from ._inputs.multilabel import (
    MultiLabel,
    aggregator_options,
    is_multilabel,
    multilabel_confident_joint,
    multilabel_per_class,
    resolve_multilabel,
)
from ._typing import ColumnSpec, FrameT
from .scoring.multilabel import dataset as _dataset
from .scoring.multilabel import filter as _filter
from .scoring.multilabel import rank as _rank

__all__ = [
    "find_label_issues",
    "label_quality_scores",
    "class_label_issues",
    "health_summary",
    "MultilabelHealthSummary",
    "rank_classes_by_label_quality",
    "common_label_issues",
    "overall_label_health_score",
    "wants_multilabel",
    "forward",
    "audit_label_check",
]

RESULT_COLUMNS = ("label_score", "is_issue", "suggested_tags")


def wants_multilabel(df, label: Any, options: Mapping | None = None) -> bool:
    """Whether a call of :mod:`cleanframe.label_issues` on ``label`` is multi-label: a list
    column, one-hot columns, or ``multi_label=True`` among ``options``."""
    flag = (options or {}).get("multi_label")
    return is_multilabel(adapt(df), label, flag)


def forward(name: str, arguments: dict):
    """Call this module's ``name`` with the arguments a :mod:`cleanframe.label_issues` function
    received (its ``locals()``): the ones this function takes are passed on, extra keywords
    (``**regression_kwargs``) too; a single-label-only argument (``predictions=``,
    ``asymmetric=``) given a value other than ``None`` / ``False`` is a ``TypeError``."""
    import inspect

    func = globals()[name]
    mine = inspect.signature(func).parameters
    arguments = dict(arguments)
    df = arguments.pop("df")
    kwargs = dict(arguments.pop("regression_kwargs", None) or {})
    for key, value in arguments.items():
        if key in mine:
            kwargs[key] = value
        elif value is not None and value is not False:
            raise TypeError(f"{name}() of a multi-label label does not take {key}=")
    return func(df, **kwargs)


def _resolve(df, label, pred_probs, classes) -> tuple[Any, MultiLabel]:
    fr = adapt(df)
    return fr, resolve_multilabel(fr, label=label, pred_probs=pred_probs, classes=classes)


def _suggested_tags(fr, m: MultiLabel, label, pred_probs: np.ndarray):
    """Per row, the classes whose probability is above that of their absence (p > 1 - p), as
    a list column of the label's own values."""
    believed = pred_probs > (1 - pred_probs)
    rows, codes = np.nonzero(believed)
    offsets = np.zeros(len(believed) + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(believed, axis=1), out=offsets[1:])
    source = label if m.list_label else (label[0] if isinstance(label, (list, tuple)) else None)
    values = m.classes.values if m.list_label else m.classes.names
    if source is None or source not in set(fr.columns):
        source = m.pred_probs_columns[0] if m.pred_probs_columns else fr.columns[0]
    return fr.list_values(source, values, offsets, codes)


def _scores(m: MultiLabel, method, adjust_pred_probs, aggregator, alpha, temperature, pb=None):
    choice(method, _rank.RANK_METHODS, "method")
    rank_options(method, {"adjust_pred_probs": adjust_pred_probs})
    agg = aggregator_options(aggregator, alpha, temperature)
    return _rank.label_quality_scores(
        m.labels,
        m.pred_probs,
        method=method,
        adjust_pred_probs=adjust_pred_probs,
        aggregator=aggregator,
        problems=pb,
        **agg,
    )


def _filter_args(m: MultiLabel, filter_by, num_to_remove_per_class, confident_joint):
    choice(filter_by, _filter.FILTER_BY, "filter_by")
    return {
        "filter_by": filter_by,
        "num_to_remove_per_class": multilabel_per_class(
            num_to_remove_per_class, m.classes, "num_to_remove_per_class", filter_by
        ),
        "confident_joint": multilabel_confident_joint(confident_joint, len(m.classes)),
    }


def find_label_issues(
    df: FrameT,
    *,
    label: Any,
    pred_probs: ColumnSpec | None = None,
    classes: Sequence | None = None,
    multi_label: bool | None = None,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class: Sequence[int] | Mapping[Any, int] | None = None,
    min_examples_per_class: int = 1,
    confident_joint: Any = None,
    rank_by: str = "self_confidence",
    rank_by_kwargs: Mapping | None = None,
    aggregator: str = "exponential_moving_average",
    alpha: float | None = 0.8,
    temperature: float | None = None,
    overwrite: bool = False,
) -> FrameT:
    """Flag rows whose set of tags is likely wrong (confident learning, one-vs-rest).

    Returns the input's rows, in order and with their index, plus three columns:

    - ``label_score``: label quality in [0, 1], lower = worse: each class's binary score
      (``rank_by``) aggregated over the row's classes (``aggregator``);
    - ``is_issue``: some class of the row is flagged by ``filter_by`` (a tag that should not be
      there, or a missing one);
    - ``suggested_tags``: the classes the model believes (probability above 1/2), a list column
      in the label's own values (class names for a one-hot label).

    As cleanlab's ``multilabel_classification.filter.find_label_issues``: each class is the
    binary problem "carries the class", with probabilities ``[1 - p, p]``; ``frac_noise``,
    ``num_to_remove_per_class`` (count per class) and ``min_examples_per_class`` apply per
    class. ``low_self_confidence`` and ``low_normalized_margin`` both flag the rows that
    ``confident_learning`` counts with the lowest default score (the reference's rule).
    Differences: ties are broken by row position (the reference's sort is unstable); a class
    that every row carries is scored, where the reference raises. Does not modify ``df``.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    label : str or list of str
        A list column of tags, or one-hot columns (a list or a glob of boolean columns).
    pred_probs : list, str or dict
        One probability per class (a list of columns, a glob, a dict or one array column).
    classes : sequence, optional
        The class of each pred_probs column (inferred from the column names otherwise).
    multi_label : bool, optional
        Force (``True``) the multi-label task; by default a list column means multi-label.
    filter_by, frac_noise, num_to_remove_per_class, min_examples_per_class : see
        :func:`cleanframe.find_label_issues`.
    confident_joint : array (K, 2, 2), optional
        Per-class binary confident joints (a K×K joint is ignored with a warning).
    rank_by : str
        ``"self_confidence"``, ``"normalized_margin"`` or ``"confidence_weighted_entropy"``.
    rank_by_kwargs : dict, optional
        ``{"adjust_pred_probs": True}``.
    aggregator : str
        ``"exponential_moving_average"`` (``alpha``, default 0.8; ``None`` = 2/(K+1)) or
        ``"softmin"`` (``temperature``, default 0.1).
    overwrite : bool
        Replace existing result columns instead of raising.

    Examples
    --------
    >>> import polars as pl, cleanframe
    >>> df = pl.DataFrame({
    ...     "tags": [["a"], ["a", "b"], ["b"], ["a"], ["b"], ["a", "b"], ["a"], []],
    ...     "p_a":  [0.9, 0.8, 0.1, 0.95, 0.2, 0.9, 0.1, 0.1],
    ...     "p_b":  [0.1, 0.9, 0.8, 0.05, 0.9, 0.7, 0.1, 0.2],
    ... })
    >>> out = df.cl.find_label_issues(label="tags", pred_probs="p_*")
    >>> out.filter(pl.col("is_issue")).select("tags", "label_score", "suggested_tags")
    shape: (1, 3)
    ┌───────────┬─────────────┬────────────────┐
    │ tags      ┆ label_score ┆ suggested_tags │
    │ ---       ┆ ---         ┆ ---            │
    │ list[str] ┆ f64         ┆ list[str]      │
    ╞═══════════╪═════════════╪════════════════╡
    │ ["a"]     ┆ 0.26        ┆ []             │
    └───────────┴─────────────┴────────────────┘
    """
    del multi_label  # the label's shape decides; the flag only routes label_issues' calls
    fr = adapt(df)
    check_result_columns(fr, RESULT_COLUMNS, overwrite=overwrite)
    m = resolve_multilabel(fr, label=label, pred_probs=pred_probs, classes=classes)
    args = _filter_args(m, filter_by, num_to_remove_per_class, confident_joint)
    options = rank_options(rank_by, rank_by_kwargs)
    pb = _filter.Problems(m.labels, m.pred_probs)  # the class-major arrays, built once
    scores = _scores(
        m, rank_by, bool(options.get("adjust_pred_probs")), aggregator, alpha, temperature, pb
    )
    mask = _filter.find_label_issues(
        m.labels,
        m.pred_probs,
        frac_noise=frac_noise,
        min_examples_per_class=min_examples_per_class,
        problems=pb,
        **args,
    )
    return fr.attach(
        {
            "label_score": scores,
            "is_issue": mask,
            "suggested_tags": _suggested_tags(fr, m, label, m.pred_probs),
        },
        overwrite=overwrite,
    )


def label_quality_scores(
    df: FrameT,
    *,
    label: Any,
    pred_probs: ColumnSpec | None = None,
    classes: Sequence | None = None,
    method: str | None = None,
    adjust_pred_probs: bool = False,
    aggregator: str = "exponential_moving_average",
    alpha: float | None = 0.8,
    temperature: float | None = None,
    multi_label: bool | None = None,
    overwrite: bool = False,
) -> FrameT:
    """Add ``label_score``: each row's multi-label quality in [0, 1] (lower = worse).

    Each class's binary score (``method``: ``"self_confidence"`` default,
    ``"normalized_margin"``, ``"confidence_weighted_entropy"``; ``adjust_pred_probs`` subtracts
    the per-class thresholds first) aggregated per row by ``aggregator``: an exponential moving
    average over the scores sorted from best to worst (``alpha``, default 0.8: the worst classes
    dominate) or ``"softmin"`` (``temperature``, default 0.1). As cleanlab's
    ``multilabel_classification.get_label_quality_scores``. Does not modify ``df``.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"tags": [["a"], ["a", "b"], []],
    ...                    "p_a": [0.9, 0.6, 0.2], "p_b": [0.3, 0.8, 0.1]})
    >>> df.cl.label_quality_scores(label="tags", pred_probs="p_*")["label_score"].round(3).tolist()
    [0.74, 0.64, 0.82]
    """
    del multi_label
    fr = adapt(df)
    check_result_columns(fr, ["label_score"], overwrite=overwrite)
    m = resolve_multilabel(fr, label=label, pred_probs=pred_probs, classes=classes)
    scores = _scores(
        m, method or "self_confidence", adjust_pred_probs, aggregator, alpha, temperature
    )
    return fr.attach({"label_score": scores}, overwrite=overwrite)


def class_label_issues(
    df: FrameT,
    *,
    label: Any,
    pred_probs: ColumnSpec | None = None,
    classes: Sequence | None = None,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class: Sequence[int] | Mapping[Any, int] | None = None,
    min_examples_per_class: int = 1,
    confident_joint: Any = None,
    method: str = "self_confidence",
    adjust_pred_probs: bool = False,
    overwrite: bool = False,
) -> FrameT:
    """Per class: is this row's label for the class likely wrong, and its binary label score.

    Adds ``is_issue_<class>`` (bool) and ``label_score_<class>`` (float in [0, 1], lower = worse)
    for every class, in class order: cleanlab's ``find_multilabel_issues_per_class`` and
    ``get_label_quality_scores_per_class``. With ``filter_by="low_self_confidence"`` /
    ``"low_normalized_margin"`` each class uses its own binary rule. Does not modify ``df``.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"tags": [["a"], ["a", "b"], ["b"], ["a"], ["b"], ["a"]],
    ...                    "p_a": [0.9, 0.8, 0.1, 0.95, 0.2, 0.1],
    ...                    "p_b": [0.1, 0.9, 0.8, 0.05, 0.9, 0.1]})
    >>> out = df.cl.class_label_issues(label="tags", pred_probs="p_*")
    >>> out[["is_issue_a", "is_issue_b", "label_score_a"]].tail(2)
       is_issue_a  is_issue_b  label_score_a
    4       False       False            0.8
    5        True       False            0.1
    """
    fr = adapt(df)
    m = resolve_multilabel(fr, label=label, pred_probs=pred_probs, classes=classes)
    names = m.classes.names
    columns = [f"is_issue_{n}" for n in names] + [f"label_score_{n}" for n in names]
    check_result_columns(fr, columns, overwrite=overwrite)
    args = _filter_args(m, filter_by, num_to_remove_per_class, confident_joint)
    choice(method, _rank.RANK_METHODS, "method")
    rank_options(method, {"adjust_pred_probs": adjust_pred_probs})
    flags = _filter.find_label_issues_per_class(
        m.labels,
        m.pred_probs,
        frac_noise=frac_noise,
        min_examples_per_class=min_examples_per_class,
        **args,
    )
    scores = _rank.class_label_quality_scores(
        m.labels, m.pred_probs, method=method, adjust_pred_probs=adjust_pred_probs
    )
    out = {f"is_issue_{n}": flags[:, j] for j, n in enumerate(names)}
    out.update({f"label_score_{n}": scores[:, j] for j, n in enumerate(names)})
    return fr.attach(out, overwrite=overwrite)


def _class_table(fr, m: MultiLabel, counts):
    order = np.argsort(counts["label_quality_score"], kind="stable")
    names = np.array(m.classes.names, dtype=object)
    return fr.table(
        {
            "class": names[order],
            "num_examples": counts["num_examples"][order],
            "label_issues": counts["label_issues"][order],
            "inverse_label_issues": counts["inverse_label_issues"][order],
            "label_noise": counts["label_noise"][order],
            "inverse_label_noise": counts["inverse_label_noise"][order],
            "label_quality_score": counts["label_quality_score"][order],
        }
    )


def _common_table(fr, m: MultiLabel, counts):
    k = len(m.classes)
    n = len(m.labels)
    num = np.empty(2 * k, dtype=np.int64)
    num[0::2] = counts["label_issues"]
    num[1::2] = counts["inverse_label_issues"]
    in_given = np.tile([True, False], k)
    order = np.argsort(-num, kind="stable")
    names = np.repeat(np.array(m.classes.names, dtype=object), 2)
    return fr.table(
        {
            "class": names[order],
            "in_given_label": in_given[order],
            "in_suggested_label": ~in_given[order],
            "num_examples": num[order],
            "issue_probability": num[order] / n,
        }
    )


def rank_classes_by_label_quality(
    df, *, label: Any, pred_probs: ColumnSpec, classes: Sequence | None = None
):
    """One row per class, worst label quality first (cleanlab's
    ``rank_classes_by_multilabel_quality``).

    Columns: ``class``, ``num_examples`` (rows carrying it), ``label_issues`` (rows tagged with
    the class that should not be), ``inverse_label_issues`` (rows missing it), ``label_noise`` /
    ``inverse_label_noise`` (those over N) and ``label_quality_score`` = 1 - ``label_noise``.
    The counts are exact (the reference floors ``noise * N``, which can lose one).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"tags": [["a"], ["a", "b"], ["b"], ["a"], ["b"], ["a"]],
    ...                    "p_a": [0.9, 0.8, 0.1, 0.95, 0.2, 0.1],
    ...                    "p_b": [0.1, 0.9, 0.8, 0.05, 0.9, 0.1]})
    >>> df.cl.rank_classes_by_label_quality(label="tags", pred_probs="p_*")[
    ...     ["class", "label_issues", "label_quality_score"]]
      class  label_issues  label_quality_score
    0     a             1             0.833333
    1     b             0             1.000000
    """
    fr, m = _resolve(df, label, pred_probs, classes)
    return _class_table(fr, m, _dataset.class_issue_counts(m.labels, m.pred_probs))


def common_label_issues(df, *, label: Any, pred_probs: ColumnSpec, classes: Sequence | None = None):
    """Two rows per class, most frequent first (cleanlab's ``common_multilabel_issues``): rows
    tagged with the class that should not be (``in_given_label`` True, ``in_suggested_label``
    False) and rows missing it; ``num_examples`` and ``issue_probability`` (over N).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"tags": [["a"], ["a", "b"], ["b"], ["a"], ["b"], ["a"]],
    ...                    "p_a": [0.9, 0.8, 0.1, 0.95, 0.2, 0.1],
    ...                    "p_b": [0.1, 0.9, 0.8, 0.05, 0.9, 0.1]})
    >>> cleanframe.multilabel.common_label_issues(df, label="tags", pred_probs="p_*").head(1)
      class  in_given_label  in_suggested_label  num_examples  issue_probability
    0     a            True               False             1           0.166667
    """
    fr, m = _resolve(df, label, pred_probs, classes)
    return _common_table(fr, m, _dataset.class_issue_counts(m.labels, m.pred_probs))


def overall_label_health_score(
    df, *, label: Any, pred_probs: ColumnSpec, classes: Sequence | None = None
) -> float:
    """1 - (rows flagged by the default :func:`find_label_issues`) / N.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"tags": [["a"], ["a", "b"], ["b"], ["a"], ["b"], ["a"]],
    ...                    "p_a": [0.9, 0.8, 0.1, 0.95, 0.2, 0.1],
    ...                    "p_b": [0.1, 0.9, 0.8, 0.05, 0.9, 0.1]})
    >>> round(cleanframe.multilabel.overall_label_health_score(
    ...     df, label="tags", pred_probs="p_*"), 4)
    0.8333
    """
    _, m = _resolve(df, label, pred_probs, classes)
    return _dataset.overall_health_score(_filter.find_label_issues(m.labels, m.pred_probs))


@dataclass
class MultilabelHealthSummary:
    """Dataset-level multi-label health (cleanlab's ``multilabel_health_summary``).

    Attributes
    ----------
    overall_label_health_score : float
        1 - (rows flagged by the default :func:`find_label_issues`) / N.
    num_examples, num_label_issues : int
    classes_by_label_quality : frame
        See :func:`rank_classes_by_label_quality`.
    common_label_issues : frame
        See :func:`common_label_issues`.
    """

    overall_label_health_score: float
    num_examples: int
    num_label_issues: int
    classes_by_label_quality: Any
    common_label_issues: Any

    def __repr__(self) -> str:
        pct = 100 * self.num_label_issues / max(self.num_examples, 1)
        return (
            f"MultilabelHealthSummary: overall label health score "
            f"{self.overall_label_health_score:.4f}\n"
            f"{pct:.1f}% ({self.num_label_issues} of {self.num_examples}) of the rows have a "
            f"likely wrong or missing tag.\n\n"
            f"Classes by label quality (worst first):\n"
            f"{to_text(self.classes_by_label_quality, 10)}\n\n"
            f"Most common issues:\n{to_text(self.common_label_issues, 6)}"
        )

    def _repr_html_(self) -> str:
        pct = 100 * self.num_label_issues / max(self.num_examples, 1)
        return (
            f"<div><h4>Multi-label health: {self.overall_label_health_score:.4f}</h4>"
            f"<p>{html_escape(f'{pct:.1f}%')} ({self.num_label_issues} of {self.num_examples}) "
            f"of the rows have a likely wrong or missing tag.</p>"
            f"<h5>Classes by label quality (worst first)</h5>"
            f"{to_html(self.classes_by_label_quality, 20)}<h5>Most common issues</h5>"
            f"{to_html(self.common_label_issues, 10)}</div>"
        )


def health_summary(
    df, *, label: Any, pred_probs: ColumnSpec, classes: Sequence | None = None
) -> MultilabelHealthSummary:
    """Per-class label quality, the most common issues and an overall health score.

    Returns a :class:`MultilabelHealthSummary` whose tables are in the caller's frame type.
    Does not modify ``df``.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"tags": [["a"], ["a", "b"], ["b"], ["a"], ["b"], ["a"]],
    ...                    "p_a": [0.9, 0.8, 0.1, 0.95, 0.2, 0.1],
    ...                    "p_b": [0.1, 0.9, 0.8, 0.05, 0.9, 0.1]})
    >>> summary = df.cl.health_summary(label="tags", pred_probs="p_*")
    >>> round(summary.overall_label_health_score, 4), summary.num_label_issues
    (0.8333, 1)
    """
    fr, m = _resolve(df, label, pred_probs, classes)
    per_class = _filter.find_label_issues_per_class(m.labels, m.pred_probs)
    counts = _dataset.class_issue_counts(m.labels, m.pred_probs, per_class=per_class)
    rows = np.asarray(per_class.any(axis=1))
    n = len(rows)
    return MultilabelHealthSummary(
        overall_label_health_score=_dataset.overall_health_score(rows),
        num_examples=n,
        num_label_issues=int(rows.sum()),
        classes_by_label_quality=_class_table(fr, m, counts),
        common_label_issues=_common_table(fr, m, counts),
    )


def audit_label_check(m: Any, **label_kwargs: Any) -> dict[str, Any]:
    """The audit's multi-label label check (Datalab's multi-label task): flags of
    :func:`find_label_issues` (its defaults, or the audit's ``label_kwargs=``), the default
    multi-label scores (self-confidence, EMA with alpha 0.8), and the summary score = their
    mean, as Datalab's multi-label label issue manager reports.

    ``m`` is the :class:`~cleanframe._inputs.multilabel.MultiLabel` the audit resolved. Returns
    a dict with ``flags``, ``scores``, ``score``, ``note`` and ``details`` (per-class flags as
    ``class_issues``, the class names)."""
    allowed = {
        "filter_by",
        "frac_noise",
        "num_to_remove_per_class",
        "min_examples_per_class",
        "confident_joint",
    }
    unknown = sorted(set(label_kwargs) - allowed)
    if unknown:
        raise TypeError(f"label_kwargs= of a multi-label audit does not take {unknown}")
    filter_by = label_kwargs.get("filter_by", "prune_by_noise_rate")
    args = _filter_args(
        m,
        filter_by,
        label_kwargs.get("num_to_remove_per_class"),
        label_kwargs.get("confident_joint"),
    )
    per_class = (
        None
        if filter_by in ("low_self_confidence", "low_normalized_margin")
        else _filter.find_label_issues_per_class(
            m.labels,
            m.pred_probs,
            frac_noise=label_kwargs.get("frac_noise", 1.0),
            min_examples_per_class=label_kwargs.get("min_examples_per_class", 1),
            **args,
        )
    )
    flags = (
        np.asarray(per_class.any(axis=1))
        if per_class is not None
        else _filter.find_label_issues(m.labels, m.pred_probs, **args)
    )
    scores = _rank.label_quality_scores(m.labels, m.pred_probs)
    shown = ", ".join(f"{k}={v!r}" for k, v in label_kwargs.items() if k != "confident_joint")
    return {
        "flags": flags,
        "scores": scores,
        "score": float(np.mean(scores)),
        "note": (
            f"multi-label: flagged by find_label_issues({shown}) one-vs-rest over "
            f"{len(m.classes)} classes; score = mean multi-label label quality (as Datalab)"
        ),
        "details": {"classes": list(m.classes.names), "class_issues": per_class},
    }
