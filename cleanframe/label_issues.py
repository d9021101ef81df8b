"""Label issues in classification data, from a label column and predicted probabilities.

Every function takes the frame first and keyword-only arguments after it, accepts a pandas
DataFrame, a polars DataFrame or a polars LazyFrame, returns results in the caller's frame type and
never modifies its input. Class values in results are the label column's own values and dtype.

Engine support: pandas, polars and polars LazyFrame (a LazyFrame collects only the label and
pred_probs columns, and row-level results come back as a LazyFrame). :func:`find_label_issues`,
:func:`label_quality_scores`, :func:`num_label_issues` and :func:`health_summary` also run out of
core, with results equal to the in-memory call row for row: on a LazyFrame they stream (polars'
streaming engine, batch by batch; only small statistics are collected, and row-level results are
a LazyFrame to collect or ``sink_parquet``), and on a Dask DataFrame they run by partitions
(row-level results are a Dask DataFrame; tables are pandas DataFrames).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape as html_escape
from textwrap import fill
from typing import Any

import numpy as np

from . import _batched
from . import multilabel as _multilabel
from ._engines import adapt, to_html, to_text
from ._inputs import Classification, resolve_classification
from ._inputs.arguments import (
    choice,
    class_matrix,
    ensemble_weights,
    rank_options,
)
from ._inputs.classes import check_merge_keeps_classes, new_class_value
from ._inputs.columns import check_result_columns
from ._inputs.joint import JointInputs, require_rows, resolve_joint, uses_joint
from ._inputs.probabilities import (
    require_separate_columns,
    resolve_classification_columns,
    resolve_ensemble,
)
from ._issues import issue_arrays
from ._typing import ColumnSpec, FrameT
from .scoring.classification import count as _count
from .scoring.classification import dataset as _dataset
from .scoring.classification import passes as _passes
from .scoring.classification import rank as _rank

__all__ = [
    "find_label_issues",
    "label_quality_scores",
    "ensemble_label_quality_scores",
    "num_label_issues",
    "confident_joint",
    "health_summary",
    "HealthSummary",
    "rank_classes_by_label_quality",
    "overlapping_classes",
    "overall_label_health_score",
    "merge_rare_classes",
    "MergedClasses",
]

RESULT_COLUMNS = ("label_score", "is_issue", "predicted_label")


def _given_joint(df, label, pred_probs, classes, confident_joint, num_examples):
    """The dataset functions' input when a confident joint is given instead of rows, else
    ``None``."""
    if not uses_joint(label, pred_probs, confident_joint, num_examples):
        return None
    return resolve_joint(
        df,
        label=label,
        pred_probs=pred_probs,
        confident_joint=confident_joint,
        classes=classes,
        num_examples=num_examples,
    )


def _classification(df, label, pred_probs, classes) -> tuple[Any, Classification]:
    fr = adapt(df)
    return fr, resolve_classification(fr, label=label, pred_probs=pred_probs, classes=classes)


def find_label_issues(
    df: FrameT,
    *,
    label: str,
    pred_probs: ColumnSpec | None = None,
    classes: Sequence | None = None,
    predictions: str | None = None,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class: Sequence[int] | Mapping[Any, int] | None = None,
    min_examples_per_class: int = 1,
    confident_joint: Any = None,
    rank_by: str = "self_confidence",
    rank_by_kwargs: Mapping | None = None,
    overwrite: bool = False,
    **regression_kwargs: Any,
) -> FrameT:
    """Flag rows whose given label is likely wrong (confident learning).

    Returns the input's rows, in order and with their index, plus three columns:

    - ``label_score``: label quality in [0, 1], lower = more likely mislabeled (``rank_by``);
    - ``is_issue``: the row is flagged by ``filter_by``;
    - ``predicted_label``: the model's most likely class, in the label column's dtype.

    This function does not modify ``df``. Runs on pandas and polars in memory, on a LazyFrame
    streamed (returns a LazyFrame; the probability columns are never collected) and on a Dask
    DataFrame by partitions (returns a Dask DataFrame).

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    label : str
        The label column (strings, integers, booleans or categoricals).
    pred_probs : list, str or dict
        Out-of-sample predicted probabilities: a list of columns in class order, a glob such as
        ``"p_*"``, a dict ``{class: column}`` or one column of fixed-length arrays.
    classes : sequence, optional
        Class of each pred_probs column, in column order (inferred from column names otherwise).
    predictions : str, optional
        For a numeric target: the column of a regression model's predictions. The call then
        forwards to :func:`cleanframe.regression.find_label_issues` (``pred_probs`` unused).
    filter_by : str
        ``"prune_by_noise_rate"`` (default), ``"prune_by_class"``, ``"both"``,
        ``"confident_learning"``, ``"predicted_neq_given"``, ``"low_normalized_margin"`` or
        ``"low_self_confidence"`` — as in cleanlab's ``filter.find_label_issues``; or
        ``"argmax_confusion"``: ``prune_by_noise_rate`` on the confusion matrix of the argmax
        predictions (cleanlab's ``find_label_issues_using_argmax_confusion_matrix``; it
        replaces ``confident_joint``).
    frac_noise : float
        Flag only this fraction of the estimated issues (``prune_*`` and ``both``).
    num_to_remove_per_class : sequence or dict {class: int}, optional
        Exactly this many issues per class (``prune_*`` and ``both``).
    min_examples_per_class : int
        Never prune classes with at most this many rows (default 1).
    confident_joint : array or table (K, K), optional
        A precomputed confident joint (rows = given, columns = true), e.g. from
        :func:`confident_joint`.
    rank_by : str
        Score written to ``label_score``: ``"self_confidence"`` (default),
        ``"normalized_margin"`` or ``"confidence_weighted_entropy"``.
    rank_by_kwargs : dict, optional
        E.g. ``{"adjust_pred_probs": True}``.
    overwrite : bool
        Replace existing result columns instead of raising.

    Returns
    -------
    Same type as ``df``.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({
    ...     "y":     ["cat", "cat", "cat", "dog", "dog", "dog"],
    ...     "p_cat": [0.9,   0.8,   0.1,   0.2,   0.1,   0.3],
    ...     "p_dog": [0.1,   0.2,   0.9,   0.8,   0.9,   0.7],
    ... })
    >>> out = df.cl.find_label_issues(label="y", pred_probs="p_*")
    >>> out[out.is_issue]
         y  p_cat  p_dog  label_score  is_issue predicted_label
    2  cat    0.1    0.9          0.1      True             dog
    """
    if _multilabel.wants_multilabel(df, label, regression_kwargs):  # a list column of tags
        return _multilabel.forward("find_label_issues", locals())
    if regression_kwargs.get("group") is not None:  # one row per token, group= the sentence
        from . import tokens

        return tokens.forward("find_label_issues", locals())
    if predictions is not None:
        from . import regression

        return regression.find_label_issues(
            df, label=label, predictions=predictions, overwrite=overwrite, **regression_kwargs
        )
    if regression_kwargs:
        raise TypeError(f"unexpected arguments: {sorted(regression_kwargs)}")
    fr = adapt(df)
    if fr.batched:  # a LazyFrame (polars streaming) or a Dask DataFrame
        return _batched.find_label_issues(
            fr,
            label=label,
            pred_probs=pred_probs,
            classes=classes,
            filter_by=filter_by,
            frac_noise=frac_noise,
            num_to_remove_per_class=num_to_remove_per_class,
            min_examples_per_class=min_examples_per_class,
            confident_joint=confident_joint,
            rank_by=rank_by,
            rank_by_kwargs=rank_by_kwargs,
            overwrite=overwrite,
        )
    check_result_columns(fr, RESULT_COLUMNS, overwrite=overwrite)
    c = resolve_classification_columns(fr, label=label, pred_probs=pred_probs, classes=classes)
    mask, scores = label_issue_arrays(
        c,
        filter_by=filter_by,
        frac_noise=frac_noise,
        num_to_remove_per_class=num_to_remove_per_class,
        min_examples_per_class=min_examples_per_class,
        confident_joint=confident_joint,
        rank_by=rank_by,
        rank_by_kwargs=rank_by_kwargs,
    )
    predicted = _passes.predicted_class(c.labels, c.pred_probs)
    return fr.attach(
        {
            "label_score": scores,
            "is_issue": mask,
            "predicted_label": fr.class_values(label, c.classes.values, predicted),
        },
        overwrite=overwrite,
    )


def label_issue_arrays(
    c: Classification,
    *,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class: Sequence[int] | Mapping[Any, int] | None = None,
    min_examples_per_class: int = 1,
    confident_joint: Any = None,
    rank_by: str = "self_confidence",
    rank_by_kwargs: Mapping | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(is_issue, label_score)`` of resolved inputs: the one path from validated arrays to
    the flags and scores, shared by :func:`find_label_issues` and the audit's label check.

    The mergeable passes of :mod:`cleanframe.scoring.classification.passes` over one batch (the
    whole data): the same code the streamed and distributed paths run over many."""
    mask, scores = issue_arrays(
        c.labels,
        c.pred_probs,
        c.classes,
        filter_by=filter_by,
        frac_noise=frac_noise,
        num_to_remove_per_class=num_to_remove_per_class,
        min_examples_per_class=min_examples_per_class,
        confident_joint=confident_joint,
        rank_by=rank_by,
        rank_by_kwargs=rank_by_kwargs,
    )
    assert scores is not None
    return mask, scores


def label_quality_scores(
    df: FrameT,
    *,
    label: str,
    pred_probs: ColumnSpec | None = None,
    classes: Sequence | None = None,
    method: str | None = None,
    adjust_pred_probs: bool = False,
    predictions: str | None = None,
    overwrite: bool = False,
    **regression_kwargs: Any,
) -> FrameT:
    """Add ``label_score``: the label quality of each row in [0, 1] (lower = worse).

    ``method`` is ``"self_confidence"`` (default; the probability of the given label),
    ``"normalized_margin"`` or ``"confidence_weighted_entropy"``; ``adjust_pred_probs``
    subtracts per-class confident thresholds first. For a numeric target pass
    ``predictions=`` (a column of a regression model's predictions) instead of ``pred_probs``:
    the call forwards to :func:`cleanframe.regression.label_quality_scores` (``method``
    ``"outre"`` by default, or ``"residual"``; ``exact=`` is passed on). Does not modify ``df``.
    Runs on pandas and polars in memory, on a LazyFrame streamed (returns a LazyFrame) and on a
    Dask DataFrame by partitions (returns a Dask DataFrame); ``predictions=`` in memory only.

    Examples
    --------
    >>> import polars as pl, cleanframe
    >>> df = pl.DataFrame({"y": ["a", "b"], "p_a": [0.7, 0.6], "p_b": [0.3, 0.4]})
    >>> df.cl.label_quality_scores(label="y", pred_probs="p_*")["label_score"].to_list()
    [0.7, 0.4]
    """
    if _multilabel.wants_multilabel(df, label, regression_kwargs):  # a list column of tags
        return _multilabel.forward("label_quality_scores", locals())
    if predictions is not None:
        from . import regression

        return regression.label_quality_scores(
            df,
            label=label,
            predictions=predictions,
            method=method or "outre",
            overwrite=overwrite,
            **regression_kwargs,
        )
    if regression_kwargs:
        raise TypeError(f"unexpected arguments: {sorted(regression_kwargs)}")
    method = choice(method or "self_confidence", _rank.RANK_METHODS, "method")
    rank_options(method, {"adjust_pred_probs": adjust_pred_probs})
    fr = adapt(df)
    if fr.batched:  # a LazyFrame (polars streaming) or a Dask DataFrame
        return _batched.label_quality_scores(
            fr,
            label=label,
            pred_probs=pred_probs,
            classes=classes,
            method=method,
            adjust_pred_probs=adjust_pred_probs,
            overwrite=overwrite,
        )
    check_result_columns(fr, ["label_score"], overwrite=overwrite)
    c = resolve_classification_columns(fr, label=label, pred_probs=pred_probs, classes=classes)
    _, scores = _passes.run(
        _passes.array_batches(c.labels, c.pred_probs),
        len(c.classes),
        filter_by=None,
        rank_by=method,
        rank_by_kwargs={"adjust_pred_probs": adjust_pred_probs},
    )
    return fr.attach({"label_score": scores}, overwrite=overwrite)


def ensemble_label_quality_scores(
    df: FrameT,
    *,
    label: str,
    pred_probs: Sequence[Any],
    classes: Sequence | None = None,
    method: str = "self_confidence",
    adjust_pred_probs: bool = False,
    weight_ensemble_members_by: str = "accuracy",
    custom_weights: Sequence[float] | None = None,
    overwrite: bool = False,
) -> FrameT:
    """``label_score`` from several models: ``pred_probs`` is a list of specs, one per model.

    Each model's scores are weighted by ``weight_ensemble_members_by`` (``"accuracy"``,
    ``"uniform"``, ``"log_loss_search"`` or ``"custom"`` with ``custom_weights``).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"y": ["a", "b"], "m1_a": [0.7, 0.6], "m1_b": [0.3, 0.4],
    ...                    "m2_a": [0.9, 0.2], "m2_b": [0.1, 0.8]})
    >>> cleanframe.ensemble_label_quality_scores(
    ...     df, label="y", pred_probs=["m1_*", "m2_*"], weight_ensemble_members_by="uniform"
    ... )["label_score"].round(2).tolist()
    [0.8, 0.6]
    """
    choice(method, _rank.RANK_METHODS, "method")
    rank_options(method, {"adjust_pred_probs": adjust_pred_probs})
    choice(weight_ensemble_members_by, _rank.ENSEMBLE_WEIGHTINGS, "weight_ensemble_members_by")
    fr = adapt(df)
    check_result_columns(fr, ["label_score"], overwrite=overwrite)
    parts = resolve_ensemble(fr, label=label, pred_probs=pred_probs, classes=classes)
    weights = ensemble_weights(weight_ensemble_members_by, custom_weights, len(parts))
    first = parts[0]
    scores = _rank.get_label_quality_ensemble_scores(
        first.labels,
        [p.pred_probs for p in parts],
        method=method,
        adjust_pred_probs=adjust_pred_probs,
        weight_ensemble_members_by=weight_ensemble_members_by,
        custom_weights=weights,
    )
    return fr.attach({"label_score": scores}, overwrite=overwrite)


def num_label_issues(
    df,
    *,
    label: str,
    pred_probs: ColumnSpec,
    classes: Sequence | None = None,
    estimation_method: str = "off_diagonal",
    confident_joint: Any = None,
) -> int:
    """Estimated number of label issues (``off_diagonal``, ``off_diagonal_calibrated`` or
    ``off_diagonal_custom`` with ``confident_joint``).

    Runs on pandas and polars in memory, on a LazyFrame streamed and on a Dask DataFrame by
    partitions (two passes over the rows).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"y": ["a", "a", "a", "b", "b", "b"],
    ...                    "p_a": [0.9, 0.8, 0.1, 0.2, 0.1, 0.2],
    ...                    "p_b": [0.1, 0.2, 0.9, 0.8, 0.9, 0.8]})
    >>> df.cl.num_label_issues(label="y", pred_probs="p_*")
    1
    """
    choice(estimation_method, _count.ESTIMATION_METHODS, "estimation_method")
    fr = adapt(df)
    if fr.batched:  # a LazyFrame (polars streaming) or a Dask DataFrame
        return _batched.num_label_issues(
            fr,
            label=label,
            pred_probs=pred_probs,
            classes=classes,
            estimation_method=estimation_method,
            confident_joint=confident_joint,
        )
    _, c = _classification(df, label, pred_probs, classes)
    return _count.num_label_issues(
        c.labels,
        c.pred_probs,
        confident_joint=class_matrix(confident_joint, c.classes, "confident_joint"),
        estimation_method=estimation_method,
    )


def _square_table(fr, classes, matrix, corner: str):
    """A K×K table labelled by class names (the engine decides how: index or first column)."""
    return fr.square_table(classes.names, matrix, rows=corner, columns="true_label")


def _batched_counts(fr, label, pred_probs, classes):
    """A batched frame's (LazyFrame streamed, Dask by partitions) count statistics: the
    thresholds and confident joint from the two passes :func:`health_summary` makes, as
    ``(CountResult, JointInputs)`` for the dataset tables (same numbers as in memory)."""
    spec, result = _batched.counts(fr, label=label, pred_probs=pred_probs, classes=classes)
    joint = result.joint()
    counts = np.asarray(result.class_counts)
    return result, JointInputs(fr, spec.classes, joint, result.num_examples, counts)


def confident_joint(
    df,
    *,
    label: str,
    pred_probs: ColumnSpec,
    classes: Sequence | None = None,
    calibrate: bool = True,
):
    """The confident joint: counts of (given label, estimated true label), K×K.

    Rows are the given label, columns the estimated true label, both named by class. A pandas
    input gives a DataFrame indexed by ``given_label``; a polars input a DataFrame whose first
    column is ``given_label`` (a LazyFrame gives a LazyFrame). Runs on pandas and polars in
    memory, on a LazyFrame streamed and on a Dask DataFrame by partitions (two passes that
    merge per-batch counts; a pandas table on Dask).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"y": ["a", "a", "a", "b", "b", "b"],
    ...                    "p_a": [0.9, 0.8, 0.1, 0.2, 0.1, 0.2],
    ...                    "p_b": [0.1, 0.2, 0.9, 0.8, 0.9, 0.8]})
    >>> df.cl.confident_joint(label="y", pred_probs="p_*")
    true_label   a  b
    given_label
    a            2  1
    b            0  3
    """
    fr = adapt(df)
    if fr.batched:  # a LazyFrame (polars streaming) or a Dask DataFrame
        result, j = _batched_counts(fr, label, pred_probs, classes)
        cj = result.confident_joint(calibrate=calibrate)
        return _square_table(fr, j.classes, cj, "given_label")
    fr, c = _classification(df, label, pred_probs, classes)
    cj = _count.compute_confident_joint(c.labels, c.pred_probs, calibrate=calibrate)
    return _square_table(fr, c.classes, cj, "given_label")


def _rows_of(n: int) -> np.ndarray:
    """A stand-in for N labels where the kernels only need N (a view, no memory)."""
    return np.broadcast_to(np.int64(0), (n,))


def _class_quality_table(fr, c: Classification | JointInputs, joint):
    if isinstance(c, JointInputs):  # a given confident joint: counts from it, N as given
        n, counts = c.num_examples, c.counts
    else:
        n, counts = len(c.labels), np.bincount(c.labels, minlength=len(c.classes))
    stats = _dataset.class_label_quality(_rows_of(n), joint=joint)
    order = np.argsort(stats["label_quality_score"], kind="stable")
    return fr.table(
        {
            "class": np.array(c.classes.names, dtype=object)[order],
            "num_examples": counts[order],
            "label_issues": stats["label_issues"][order],
            "inverse_label_issues": stats["inverse_label_issues"][order],
            "label_noise": stats["label_noise"][order],
            "inverse_label_noise": stats["inverse_label_noise"][order],
            "label_quality_score": stats["label_quality_score"][order],
        }
    )


def _overlap_table(fr, c: Classification | JointInputs, joint, asymmetric):
    n = c.num_examples if isinstance(c, JointInputs) else len(c.labels)
    pairs = _dataset.overlapping_class_pairs(_rows_of(n), joint=joint, asymmetric=asymmetric)
    names = np.array(c.classes.names, dtype=object)
    return fr.table(
        {
            "class_a": names[pairs["class_a"]],
            "class_b": names[pairs["class_b"]],
            "num_overlapping_examples": pairs["num_overlapping_examples"],
            "joint_probability": pairs["joint_probability"],
        }
    )


def rank_classes_by_label_quality(
    df: Any = None,
    *,
    label: str | None = None,
    pred_probs: ColumnSpec | None = None,
    classes: Sequence | None = None,
    confident_joint: Any = None,
    num_examples: int | None = None,
):
    """One row per class, worst label quality first: issue counts and noise rates.

    From rows, or from ``confident_joint=`` and ``num_examples=`` alone (see
    :func:`health_summary`).

    Columns: ``class``, ``num_examples``, ``label_issues``, ``inverse_label_issues``,
    ``label_noise``, ``inverse_label_noise``, ``label_quality_score`` (= 1 - label_noise).
    Runs in memory, on a LazyFrame streamed and on a Dask DataFrame by partitions (the
    confident joint from two passes, as :func:`health_summary`).

    Examples
    --------
    >>> import cleanframe
    >>> df = cleanframe.datasets.load_label_errors("cifar10")
    >>> table = df.cl.rank_classes_by_label_quality(label="label", pred_probs="p_*")
    >>> table[["class", "num_examples", "label_issues", "label_quality_score"]].head(2)
      class  num_examples  label_issues  label_quality_score
    0   cat          1000            71                0.929
    1   dog          1000            46                0.954
    """
    if (
        j := _given_joint(df, label, pred_probs, classes, confident_joint, num_examples)
    ) is not None:
        return _class_quality_table(j.fr, j, j.joint)
    label, pred_probs = require_rows(label, pred_probs)
    if _multilabel.wants_multilabel(df, label):  # a list column of tags
        return _multilabel.forward("rank_classes_by_label_quality", locals())
    if (fr := adapt(df)).batched:  # a LazyFrame (polars streaming) or a Dask DataFrame
        _, j = _batched_counts(fr, label, pred_probs, classes)
        return _class_quality_table(fr, j, j.joint)
    fr, c = _classification(df, label, pred_probs, classes)
    return _class_quality_table(fr, c, _count.estimate_joint(c.labels, c.pred_probs))


def overlapping_classes(
    df: Any = None,
    *,
    label: str | None = None,
    pred_probs: ColumnSpec | None = None,
    classes: Sequence | None = None,
    asymmetric: bool = False,
    confident_joint: Any = None,
    num_examples: int | None = None,
):
    """Pairs of classes the labels confuse, most overlapping first.

    From rows, or from ``confident_joint=`` and ``num_examples=`` alone (see
    :func:`health_summary`).

    Columns: ``class_a``, ``class_b``, ``num_overlapping_examples``, ``joint_probability``
    (``J[a,b] + J[b,a]``; with ``asymmetric=True`` one row per ordered pair). Runs in memory,
    on a LazyFrame streamed and on a Dask DataFrame by partitions.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"y": ["a", "a", "b", "b", "c"], "p_a": [0.9, 0.3, 0.1, 0.6, 0.1],
    ...                    "p_b": [0.05, 0.6, 0.8, 0.3, 0.1], "p_c": [0.05, 0.1, 0.1, 0.1, 0.8]})
    >>> df.cl.overlapping_classes(label="y", pred_probs="p_*").head(1)
      class_a class_b  num_overlapping_examples  joint_probability
    0       a       b                         2                0.4
    """
    if (
        j := _given_joint(df, label, pred_probs, classes, confident_joint, num_examples)
    ) is not None:
        return _overlap_table(j.fr, j, j.joint, asymmetric)
    label, pred_probs = require_rows(label, pred_probs)
    if (fr := adapt(df)).batched:  # a LazyFrame (polars streaming) or a Dask DataFrame
        _, j = _batched_counts(fr, label, pred_probs, classes)
        return _overlap_table(fr, j, j.joint, asymmetric)
    fr, c = _classification(df, label, pred_probs, classes)
    return _overlap_table(fr, c, _count.estimate_joint(c.labels, c.pred_probs), asymmetric)


def overall_label_health_score(
    df: Any = None,
    *,
    label: str | None = None,
    pred_probs: ColumnSpec | None = None,
    classes: Sequence | None = None,
    confident_joint: Any = None,
    num_examples: int | None = None,
) -> float:
    """1 - (estimated number of label issues) / N: the share of labels that look right; from a
    confident joint alone (``confident_joint=``, see :func:`health_summary`), the trace of the
    joint it estimates (as cleanlab). Runs in memory, on a LazyFrame streamed and on a Dask
    DataFrame by partitions.

    Examples
    --------
    >>> import cleanframe
    >>> df = cleanframe.datasets.load_label_errors("cifar10")
    >>> round(df.cl.overall_label_health_score(label="label", pred_probs="p_*"), 4)
    0.9756
    """
    if (
        j := _given_joint(df, label, pred_probs, classes, confident_joint, num_examples)
    ) is not None:
        return float(np.trace(j.joint))
    label, pred_probs = require_rows(label, pred_probs)
    if _multilabel.wants_multilabel(df, label):  # a list column of tags
        return _multilabel.forward("overall_label_health_score", locals())
    if (fr := adapt(df)).batched:  # a LazyFrame (polars streaming) or a Dask DataFrame
        result, _ = _batched_counts(fr, label, pred_probs, classes)
        return float(result.health()["overall_label_health_score"])
    _, c = _classification(df, label, pred_probs, classes)
    return float(_dataset.overall_label_health_score(c.labels, c.pred_probs))


#: How the health summary's count relates to find_label_issues' (they differ by design).
_COUNT_NOTE = (
    "This count is num_label_issues(estimation_method='off_diagonal'), the estimate behind the "
    "score. find_label_issues flags rows by its filter_by= rule (default "
    "'prune_by_noise_rate'), so the number of rows it flags usually differs, by design."
)


@dataclass
class HealthSummary:
    """Dataset-level label health.

    Attributes
    ----------
    overall_label_health_score : float
        1 - num_label_issues / N.
    num_examples, num_label_issues : int
        ``num_label_issues`` is the estimate of :func:`num_label_issues` with its default
        ``estimation_method="off_diagonal"`` (as cleanlab's health summary). It is not the number
        of rows :func:`find_label_issues` flags: that applies a ``filter_by=`` rule (default
        ``"prune_by_noise_rate"``) and usually gives a somewhat different count, by design.
    classes_by_label_quality : frame
        One row per class, worst first (see :func:`rank_classes_by_label_quality`).
    overlapping_classes : frame
        Class pairs, most confused first (see :func:`overlapping_classes`).
    joint : frame
        The estimated joint distribution P(given label, true label), K×K.
    """

    overall_label_health_score: float
    num_examples: int
    num_label_issues: int
    classes_by_label_quality: Any
    overlapping_classes: Any
    joint: Any

    def _table_text(self, table, rows=10):
        return to_text(table, rows)

    def __repr__(self) -> str:
        pct = 100 * self.num_label_issues / max(self.num_examples, 1)
        return (
            f"HealthSummary: overall label health score {self.overall_label_health_score:.4f}\n"
            f"About {pct:.1f}% ({self.num_label_issues} of {self.num_examples}) of the labels have "
            f"potential issues.\n{fill(_COUNT_NOTE, 100)}\n\n"
            f"Classes by label quality (worst first):\n"
            f"{self._table_text(self.classes_by_label_quality)}\n\n"
            f"Most overlapping class pairs:\n{self._table_text(self.overlapping_classes, 5)}"
        )

    def _repr_html_(self) -> str:
        def html(table, rows):
            return to_html(table, rows)

        pct = 100 * self.num_label_issues / max(self.num_examples, 1)
        return (
            f"<div><h4>Label health: {self.overall_label_health_score:.4f}</h4>"
            f"<p>About {pct:.1f}% ({self.num_label_issues} of {self.num_examples}) of the labels "
            f"have potential issues.<br><small>{html_escape(_COUNT_NOTE)}</small></p>"
            f"<h5>Classes by label quality (worst first)</h5>"
            f"{html(self.classes_by_label_quality, 20)}<h5>Most overlapping class pairs</h5>"
            f"{html(self.overlapping_classes, 10)}</div>"
        )

    def plot(self, ax=None):
        """Bar chart of the estimated label noise rate per class (needs matplotlib)."""
        from .plots import plot_class_issue_rates

        return plot_class_issue_rates(self.classes_by_label_quality, ax=ax)


def health_summary(
    df: Any = None,
    *,
    label: str | None = None,
    pred_probs: ColumnSpec | None = None,
    classes: Sequence | None = None,
    asymmetric: bool = False,
    confident_joint: Any = None,
    num_examples: int | None = None,
) -> HealthSummary:
    """Per-class label quality, overlapping classes and an overall label health score.

    From rows (``label`` and ``pred_probs``) or, as cleanlab's ``dataset`` functions, from a
    confident joint alone: ``confident_joint=`` (the table :func:`confident_joint` returns, of
    any engine, or a K×K array of counts with ``classes=``, default ``0..K-1``) and
    ``num_examples=`` (default: the joint's total). ``df`` then only sets the tables' frame type
    (default: the joint table's, else pandas) and may be left out; the score is the trace of
    the joint and ``num_label_issues`` is ``round(num_examples · (1 - score))``. The same holds
    for :func:`rank_classes_by_label_quality`, :func:`overlapping_classes` and
    :func:`overall_label_health_score`.

    Returns a :class:`HealthSummary` whose tables are in the caller's frame type; it prints as
    text and renders as HTML in a notebook. Does not modify ``df``. Runs on pandas and polars
    in memory, on a LazyFrame streamed (tables as LazyFrames) and on a Dask DataFrame by
    partitions (tables as pandas DataFrames).

    Examples
    --------
    >>> import cleanframe
    >>> df = cleanframe.datasets.load_label_errors("cifar10")
    >>> summary = df.cl.health_summary(label="label", pred_probs="p_*")
    >>> round(summary.overall_label_health_score, 4)
    0.9756
    >>> summary.classes_by_label_quality["class"].iloc[0]
    'cat'
    """
    if (
        j := _given_joint(df, label, pred_probs, classes, confident_joint, num_examples)
    ) is not None:
        score = float(np.trace(j.joint))
        return HealthSummary(
            overall_label_health_score=score,
            num_examples=j.num_examples,
            num_label_issues=int(round(j.num_examples * (1 - score))),
            classes_by_label_quality=_class_quality_table(j.fr, j, j.joint),
            overlapping_classes=_overlap_table(j.fr, j, j.joint, asymmetric),
            joint=_square_table(j.fr, j.classes, j.joint, "given_label"),
        )
    label, pred_probs = require_rows(label, pred_probs)
    if _multilabel.wants_multilabel(df, label):  # a list column of tags
        return _multilabel.forward("health_summary", locals())
    fr = adapt(df)
    if fr.batched:  # a LazyFrame (polars streaming) or a Dask DataFrame
        return HealthSummary(
            **_batched.health_summary(
                fr, label=label, pred_probs=pred_probs, classes=classes, asymmetric=asymmetric
            )
        )
    fr, c = _classification(df, label, pred_probs, classes)
    joint = _count.estimate_joint(c.labels, c.pred_probs)
    issues = _count.num_label_issues(c.labels, c.pred_probs)
    n = len(c.labels)
    return HealthSummary(
        overall_label_health_score=1.0 - issues / n,
        num_examples=n,
        num_label_issues=issues,
        classes_by_label_quality=_class_quality_table(fr, c, joint),
        overlapping_classes=_overlap_table(fr, c, joint, asymmetric),
        joint=_square_table(fr, c.classes, joint, "given_label"),
    )


@dataclass
class MergedClasses:
    """Result of :func:`merge_rare_classes`.

    Attributes
    ----------
    frame : the caller's frame type
        The input with rare classes merged: the label column's rare values replaced by
        ``other_class`` and their pred_probs columns summed into one new column.
    mapping : dict
        Original class → class in ``frame`` (identity for the classes kept).
    pred_probs : list of str
        The pred_probs columns of ``frame``, in class order (pass them on as ``pred_probs=``).
    classes : list
        The classes of ``frame``, in the same order.
    """

    frame: Any
    mapping: dict
    pred_probs: list
    classes: list

    def original_classes(self, merged_class) -> list:
        """The original classes that became ``merged_class``."""
        return [k for k, v in self.mapping.items() if v == merged_class]


def merge_rare_classes(
    df,
    *,
    label: str,
    pred_probs: ColumnSpec,
    classes: Sequence | None = None,
    count_threshold: int = 10,
    other_class: Any = None,
) -> MergedClasses:
    """Merge classes with fewer than ``count_threshold`` rows into one class (cleanlab's FAQ).

    Rare classes make confident learning unstable (too few rows for a threshold). Their label
    values become ``other_class`` (default ``"other"``, or ``max(classes) + 1`` for integer
    labels) and their pred_probs columns are summed into one new column named like the others
    (``p_other`` for ``p_*``). The mapping back to the original classes is returned with the
    frame. Does not modify ``df``.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"y": ["a"] * 3 + ["b"] * 3 + ["c"], "p_a": [.8] * 7,
    ...                    "p_b": [.15] * 7, "p_c": [.05] * 7})
    >>> merged = df.cl.merge_rare_classes(label="y", pred_probs="p_*", count_threshold=2)
    >>> merged.pred_probs, merged.mapping["c"]
    (['p_a', 'p_b', 'p_other'], 'other')
    """
    fr, c = _classification(df, label, pred_probs, classes)
    cols = require_separate_columns(c, "merge_rare_classes")
    counts = np.bincount(c.labels, minlength=len(c.classes))
    rare = counts < count_threshold
    values = list(c.classes.values)
    if not rare.any():
        return MergedClasses(df, {v: v for v in values}, cols, values)
    kept = [v for v, r in zip(values, rare) if not r]
    check_merge_keeps_classes(label, kept, count_threshold)
    other_class = new_class_value(other_class, values, kept, label)
    new_classes = kept + [other_class]
    mapping = {v: (other_class if r else v) for v, r in zip(values, rare)}
    new_codes = np.where(rare[c.labels], len(kept), np.cumsum(~rare)[c.labels] - 1)
    first = cols[0]
    prefix = first[: len(first) - len(str(values[0]))] if first.endswith(str(values[0])) else "p_"
    other_col = f"{prefix}{other_class}"
    kept_cols = [col for col, r in zip(cols, rare) if not r]
    summed = c.pred_probs[:, rare].sum(axis=1)
    new_label = fr.relabel(label, new_classes, new_codes)
    out = fr.attach({label: new_label, other_col: summed}, overwrite=True)
    drop = [col for col, r in zip(cols, rare) if r and col != other_col]
    out = adapt(out).drop(drop)
    return MergedClasses(out, mapping, kept_cols + [other_col], new_classes)
