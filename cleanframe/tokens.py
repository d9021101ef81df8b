"""Token classification (e.g. named entities): one row per token, sentences as groups.

A token-level dataset sits in a table as one row per token: a ``group=`` column says which
sentence the token belongs to (the tokens of a sentence in frame order, or in the order of an
``order=`` column), ``label=`` is the token's given tag and ``pred_probs=`` the model's
probabilities per tag. cleanlab's ``token_classification`` takes nested per-sentence lists and
flattens them; these functions read the long frame as it is and reproduce its results:

- ``find_label_issues(..., group=...)``: per-token ``label_score`` / ``is_issue`` /
  ``predicted_label`` (``df.cl.find_label_issues`` forwards here when ``group=`` is given);
- :func:`group_scores`: one row per sentence (min or softmin of its token scores);
- :func:`common_label_issues`: which words are flagged most, with their given and predicted tags;
- :func:`filter_by_token`: the flagged rows of one word.

Where the reference crashes and what cleanframe does instead: ``issues_from_scores`` raises an
IndexError when every sentence is below the threshold (cleanframe flags them all in
``group_scores``' ``is_issue``); a sentence with no tokens makes ``min`` fail on an empty list
(cleanframe: a ``group_not_empty`` error naming the empty groups, which only a categorical group
column with unused categories can declare).

Engine support: pandas, polars and polars LazyFrame (the columns a call reads are collected in
memory: no streaming; row-level results come back as a LazyFrame, tables as LazyFrames). Not on
Dask. Inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._engines import adapt
from ._inputs.arguments import (
    at_least,
    choice,
    rank_options,
)
from ._inputs.columns import check_result_columns
from ._inputs.probabilities import resolve_classification
from ._inputs.tokens import (
    GROUP_METHODS,
    Tokens,
    exclude_pairs,
    resolve_flags,
    resolve_token_column,
    resolve_tokens,
)
from ._issues import issue_arrays
from ._typing import ColumnSpec, FrameT
from .scoring import token as _token
from .scoring.classification import filter as _filter
from .scoring.classification import passes as _passes
from .scoring.classification import rank as _rank
from .scoring.parallel import row_reduce

__all__ = [
    "find_label_issues",
    "group_scores",
    "common_label_issues",
    "filter_by_token",
    "forward",
]

RESULT_COLUMNS = ("label_score", "is_issue", "predicted_label")


def forward(name: str, arguments: dict):
    """Call this module's ``name`` with the arguments a :mod:`cleanframe.label_issues` function
    received (its ``locals()``), its extra keywords (``group=``, ``order=``) included; a
    single-label-only argument (``predictions=``) given a value is a ``TypeError``."""
    import inspect
    from types import ModuleType

    func = globals()[name]
    mine = inspect.signature(func).parameters
    arguments = dict(arguments)
    df = arguments.pop("df")
    kwargs = dict(arguments.pop("regression_kwargs", None) or {})
    for key, value in arguments.items():
        if key in mine:
            kwargs[key] = value
        elif value is not None and value is not False and not isinstance(value, ModuleType):
            raise TypeError(f"{name}() of tokens (group=) does not take {key}=")
    return func(df, **kwargs)


def _token_issues(
    t,
    *,
    filter_by,
    frac_noise,
    num_to_remove_per_class,
    min_examples_per_class,
    confident_joint,
    rank_by=None,
    rank_by_kwargs=None,
):
    """``(is_issue, label_score or None)`` of every row (frame order), computed on the tokens
    in flattened order by the label-issue passes (pred_probs an array or the frame's columns)."""
    c = t.c
    # the flattened order; rows already in it (the usual layout) are not copied
    in_order = bool((np.diff(t.flat) > 0).all())
    labels = c.labels if in_order else c.labels[t.flat]
    pred_probs = c.pred_probs if in_order else c.pred_probs[t.flat]
    flagged, scores = issue_arrays(
        labels,
        pred_probs,
        c.classes,
        filter_by=filter_by,
        frac_noise=frac_noise,
        num_to_remove_per_class=num_to_remove_per_class,
        min_examples_per_class=min_examples_per_class,
        confident_joint=confident_joint,
        rank_by=rank_by or "self_confidence",
        rank_by_kwargs=rank_by_kwargs,
        scores=rank_by is not None,
        filters=_filter.FILTER_BY,
    )
    if in_order:
        return flagged, scores
    mask = np.zeros(len(flagged), dtype=bool)
    mask[t.flat] = flagged
    if scores is not None:
        scores = _unflatten(scores, t.flat)
    return mask, scores


def _unflatten(values: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """Values in flattened order back in frame order."""
    out = np.empty_like(values)
    out[flat] = values
    return out


def find_label_issues(
    df: FrameT,
    *,
    label: str,
    pred_probs: ColumnSpec,
    group: str,
    order: str | None = None,
    classes: Sequence | None = None,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class: Sequence[int] | Mapping[Any, int] | None = None,
    min_examples_per_class: int = 1,
    confident_joint: Any = None,
    rank_by: str = "self_confidence",
    rank_by_kwargs: Mapping | None = None,
    overwrite: bool = False,
) -> FrameT:
    """Flag tokens whose given tag is likely wrong: one row per token, ``group=`` the sentence.

    Adds ``label_score`` (the token's label quality, ``rank_by``), ``is_issue`` (``filter_by``
    on all tokens, flattened sentence after sentence as cleanlab's
    ``token_classification.filter.find_label_issues`` does) and ``predicted_label``. The
    arguments are those of :func:`cleanframe.find_label_issues`. Does not modify ``df``.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> tok = pd.DataFrame({
    ...     "sentence_id": [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3],
    ...     "word": ["Paris", "is", "nice", "Bob", "saw", "Oslo", "in", "Rome", "today",
    ...              "Rome", "wins"],
    ...     "ner_tag": ["LOC", "O", "O", "PER", "O", "LOC", "O", "O", "O", "LOC", "O"],
    ...     "p_LOC": [0.9, 0.05, 0.1, 0.1, 0.05, 0.8, 0.1, 0.9, 0.05, 0.9, 0.1],
    ...     "p_O": [0.05, 0.9, 0.85, 0.1, 0.9, 0.15, 0.85, 0.05, 0.9, 0.05, 0.8],
    ...     "p_PER": [0.05, 0.05, 0.05, 0.8, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.1],
    ... })
    >>> out = tok.cl.find_label_issues(label="ner_tag", pred_probs="p_*", group="sentence_id")
    >>> out.loc[out.is_issue, ["word", "ner_tag", "label_score", "predicted_label"]]
       word ner_tag  label_score predicted_label
    7  Rome       O         0.05             LOC
    """
    fr = adapt(df)
    check_result_columns(fr, RESULT_COLUMNS, overwrite=overwrite)
    choice(rank_by, _rank.RANK_METHODS, "rank_by")
    options = rank_options(rank_by, rank_by_kwargs)
    t = resolve_tokens(
        fr,
        label=label,
        pred_probs=pred_probs,
        group=group,
        order=order,
        classes=classes,
        columns=True,
    )
    mask, scores = _token_issues(
        t,
        filter_by=filter_by,
        frac_noise=frac_noise,
        num_to_remove_per_class=num_to_remove_per_class,
        min_examples_per_class=min_examples_per_class,
        confident_joint=confident_joint,
        rank_by=rank_by,
        rank_by_kwargs=options,
    )
    c = t.c
    predicted = _passes.predicted_class(c.labels, c.pred_probs)
    return fr.attach(
        {
            "label_score": scores,
            "is_issue": mask,
            "predicted_label": fr.class_values(label, c.classes.values, predicted),
        },
        overwrite=overwrite,
    )


def group_scores(
    df,
    *,
    label: str,
    pred_probs: ColumnSpec,
    group: str,
    order: str | None = None,
    classes: Sequence | None = None,
    method: str = "min",
    temperature: float = 0.05,
    token_score_method: str = "self_confidence",
    threshold: float = 0.1,
):
    """One row per group (sentence), in order of first appearance, worst tokens summarised.

    Columns: the group column (its values), ``group_score`` (``method``: ``"min"`` of the
    token scores, or ``"softmin"`` with ``temperature``; as cleanlab's
    ``token_classification.rank.get_label_quality_scores``), ``num_tokens``,
    ``num_token_issues`` (tokens scoring below ``threshold``) and ``is_issue`` (the group
    scores below ``threshold``, as ``issues_from_scores``, which raises an IndexError when every
    sentence is below it; here they are all flagged).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> tok = pd.DataFrame({
    ...     "sentence_id": ["a", "a", "b", "b", "b"],
    ...     "ner_tag": ["LOC", "O", "O", "O", "PER"],
    ...     "p_LOC": [0.9, 0.1, 0.05, 0.8, 0.1],
    ...     "p_O": [0.05, 0.85, 0.9, 0.15, 0.1],
    ...     "p_PER": [0.05, 0.05, 0.05, 0.05, 0.8],
    ... })
    >>> tok.cl.group_scores(label="ner_tag", pred_probs="p_*", group="sentence_id")
      sentence_id  group_score  num_tokens  num_token_issues  is_issue
    0           a         0.85           2                 0     False
    1           b         0.15           3                 0     False
    """
    choice(method, GROUP_METHODS, "method")
    choice(token_score_method, _rank.RANK_METHODS, "token_score_method")
    fr = adapt(df)
    t = resolve_tokens(
        fr,
        label=label,
        pred_probs=pred_probs,
        group=group,
        order=order,
        classes=classes,
        columns=True,
    )
    _, scores = _passes.run(
        _passes.array_batches(t.c.labels, t.c.pred_probs),
        len(t.c.classes),
        filter_by=None,
        rank_by=token_score_method,
    )
    assert scores is not None
    flat = scores[t.flat]
    per_group = _token.group_scores(flat, t.offsets, method=method, temperature=temperature)
    low = np.add.reduceat((flat < threshold).astype(np.int64), t.offsets[:-1])
    return fr.table(
        {
            group: fr.class_values(group, t.values, np.arange(len(t.values))),
            "group_score": per_group,
            "num_tokens": np.diff(t.offsets),
            "num_token_issues": low,
            "is_issue": per_group < threshold,
        }
    )


def common_label_issues(
    df,
    *,
    label: Any,
    pred_probs: ColumnSpec,
    token: str | None = None,
    group: str | None = None,
    order: str | None = None,
    classes: Sequence | None = None,
    exclude: Sequence[tuple[Any, Any]] = (),
    top: int | None = None,
    filter_by: str = "prune_by_noise_rate",
    **kwargs: Any,
):
    """The words whose tokens are flagged most often, with the given and predicted tags.

    One row per (word, given tag, predicted tag) among the tokens :func:`find_label_issues`
    flags (``filter_by`` and ``**kwargs`` passed on): the ``token`` column's value, then
    ``given_label``, ``predicted_label`` and ``num_label_issues``, most frequent first (ties in
    the order of each word's worst token: cleanlab's ``token_classification.summary.
    common_label_issues`` on the same issues). ``exclude``: (given, predicted) pairs of tags not
    counted; ``top``: keep the first rows only. Without ``token=``, a multi-label label gives
    the multi-label table (:func:`cleanframe.multilabel.common_label_issues`).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> tok = pd.DataFrame({
    ...     "sentence_id": [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3],
    ...     "word": ["Paris", "is", "nice", "Bob", "saw", "Oslo", "in", "Rome", "today",
    ...              "Rome", "wins"],
    ...     "ner_tag": ["LOC", "O", "O", "PER", "O", "LOC", "O", "O", "O", "LOC", "O"],
    ...     "p_LOC": [0.9, 0.05, 0.1, 0.1, 0.05, 0.8, 0.1, 0.9, 0.05, 0.9, 0.1],
    ...     "p_O": [0.05, 0.9, 0.85, 0.1, 0.9, 0.15, 0.85, 0.05, 0.9, 0.05, 0.8],
    ...     "p_PER": [0.05, 0.05, 0.05, 0.8, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.1],
    ... })
    >>> tok.cl.common_label_issues(label="ner_tag", pred_probs="p_*", token="word",
    ...                            group="sentence_id")
       word given_label predicted_label  num_label_issues
    0  Rome           O             LOC                 1
    """
    if token is None:
        from . import multilabel

        if kwargs or group is not None or order is not None or exclude or top is not None:
            raise TypeError("token= is needed for token classification arguments")
        if filter_by != "prune_by_noise_rate":
            raise TypeError("the multi-label table uses the default filter_by")
        return multilabel.common_label_issues(
            df, label=label, pred_probs=pred_probs, classes=classes
        )
    if top is not None:
        at_least(top, 0, "top")
    fr = adapt(df)
    words = resolve_token_column(fr, token)
    if group is not None:
        t = resolve_tokens(
            fr, label=label, pred_probs=pred_probs, group=group, order=order, classes=classes
        )
    else:
        t = _ungrouped(fr, label, pred_probs, classes)
    mask, _ = _token_issues(
        t,
        filter_by=filter_by,
        frac_noise=kwargs.pop("frac_noise", 1.0),
        num_to_remove_per_class=kwargs.pop("num_to_remove_per_class", None),
        min_examples_per_class=kwargs.pop("min_examples_per_class", 1),
        confident_joint=kwargs.pop("confident_joint", None),
    )
    if kwargs:
        raise TypeError(f"unexpected arguments: {sorted(kwargs)}")
    c = t.c
    # the flagged tokens worst first (self-confidence, ties by flattened position)
    flagged = t.flat[mask[t.flat]]
    sc = _rank.get_label_quality_scores(c.labels[flagged], c.pred_probs[flagged])
    flagged = flagged[np.argsort(sc, kind="stable")]
    predicted = row_reduce(c.pred_probs[flagged], "argmax") if len(flagged) else flagged
    lookup = c.classes.index()
    pairs = exclude_pairs(exclude, lookup, label)
    uniq, word_codes = np.unique(
        np.asarray(words[flagged], dtype=object).astype(str), return_inverse=True
    )
    counts = _token.common_issue_counts(
        word_codes, c.labels[flagged], predicted, len(c.classes), pairs
    )
    n = len(counts["count"]) if top is None else min(top, len(counts["count"]))
    word_values = uniq[counts["word"][:n]].astype(object)
    return fr.table(
        {
            token: word_values,
            "given_label": fr.class_values(label, c.classes.values, counts["given"][:n]),
            "predicted_label": fr.class_values(label, c.classes.values, counts["predicted"][:n]),
            "num_label_issues": counts["count"][:n],
        }
    )


def _ungrouped(fr, label, pred_probs, classes):
    """Token inputs without groups: every row one sequence, in frame order."""
    c = resolve_classification(fr, label=label, pred_probs=pred_probs, classes=classes)
    n = len(c.labels)
    return Tokens(c, "", np.zeros(n, dtype=np.int64), [0], np.arange(n), np.array([0, n]))


def filter_by_token(
    df: FrameT,
    *,
    token: str,
    value: str,
    issues: str = "is_issue",
    score: str | None = "label_score",
) -> FrameT:
    """The flagged rows (``issues`` column true) whose ``token`` equals ``value`` ignoring case,
    worst first by ``score`` when the frame has it (ties in frame order): cleanlab's
    ``filter_by_token`` on a result of :func:`find_label_issues`.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> out = pd.DataFrame({"word": ["Rome", "rome", "is", "ROME"],
    ...                     "is_issue": [True, True, True, False],
    ...                     "label_score": [0.3, 0.1, 0.2, 0.9]})
    >>> cleanframe.tokens.filter_by_token(out, token="word", value="rome")
       word  is_issue  label_score
    1  rome      True          0.1
    0  Rome      True          0.3
    """
    fr = adapt(df)
    words = resolve_token_column(fr, token)
    flags, scores = resolve_flags(fr, issues, score)
    target = str(value).lower()
    match = np.fromiter((str(w).lower() == target for w in words), dtype=bool, count=len(words))
    rows = np.flatnonzero(match & flags)
    if scores is not None:
        rows = rows[np.argsort(scores[rows], kind="stable")]
    return fr.take(rows)
