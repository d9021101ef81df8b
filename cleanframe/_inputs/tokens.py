"""Token classification inputs: one row per token, grouped into sentences by a column.

``group=`` names the column that says which sentence (document, ...) a token belongs to; the
tokens of a group are in frame order, or in the order of an ``order=`` column (e.g. the token's
position in its sentence). Labels and pred_probs follow the classification rules (every token's
probabilities sum to 1). Rules, each a :class:`~cleanframe.errors.ValidationError` naming the
column: the group column exists, is not the label and has no nulls; a declared category of a
categorical group column with no token is "a group with no tokens"; ``order=`` is numeric, has
no nulls and no value twice within a group; a ``token=`` column has no nulls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._engines import Engine
from ..errors import ValidationError
from .classes import class_key
from .columns import numeric_matrix, require_columns
from .probabilities import (
    Classification,
    resolve_classification,
    resolve_classification_columns,
)

__all__ = [
    "GROUP_METHODS",
    "Tokens",
    "exclude_pairs",
    "resolve_flags",
    "resolve_group",
    "resolve_token_column",
    "resolve_tokens",
]

#: How token scores become one score per group (cleanlab's sentence_score_method).
GROUP_METHODS = ("min", "softmin")


@dataclass
class Tokens:
    """Resolved token inputs.

    ``codes`` (N,) each row's group, ``0..G-1`` in order of first appearance; ``values`` the
    group values in that order; ``flat`` (N,) the row positions in flattened order (group after
    group, tokens in order), the order cleanlab's nested lists are flattened in; ``offsets``
    (G + 1,) where each group starts in ``flat``.
    """

    c: Classification
    group: str
    codes: np.ndarray
    values: list
    flat: np.ndarray
    offsets: np.ndarray


def resolve_group(fr: Engine, group: Any, order: str | None = None, *, label: str | None = None):
    """``(codes, values, flat, offsets)`` of a group column (see :class:`Tokens`)."""
    if not isinstance(group, str):
        raise ValidationError(None, "spec", f"group= must be one column name, not {group!r}")
    require_columns(fr, [group], param="group")
    if label is not None and group == label:
        raise ValidationError(group, "spec", "group= and label= name the same column")
    if order is None:
        sorted_ids = _sorted_group_ids(fr.column(group))
        if sorted_ids is not None:  # the usual layout: no factorizing, no sort
            codes, values = sorted_ids
            offsets = np.zeros(len(values) + 1, dtype=np.int64)
            np.cumsum(np.bincount(codes, minlength=len(values)), out=offsets[1:])
            return codes, values, np.arange(len(codes)), offsets
    fact = fr.factorize(group)
    codes = fact.codes
    null = np.flatnonzero(codes < 0)
    if len(null):
        raise ValidationError(
            group,
            "not_null",
            "every token needs a group (no nulls in the group column)",
            [(r, None) for r in fr.row_labels(null[:5])],
            num_failures=len(null),
        )
    if fact.categories is None:
        # codes of the values the column holds, numbered in order of first appearance already
        values = list(fact.uniques)
    else:
        codes, values = _by_first_appearance(group, codes, fact.categories)
    if order is None:
        # rows already grouped (the usual layout) keep their order without a sort
        grouped = len(codes) < 2 or bool((codes[1:] >= codes[:-1]).all())
        flat = np.arange(len(codes)) if grouped else np.argsort(codes, kind="stable")
    else:
        require_columns(fr, [order], param="order")
        pos = numeric_matrix(fr, [order])[:, 0]
        bad = np.flatnonzero(~np.isfinite(pos))
        if len(bad):
            raise ValidationError(
                order,
                "not_null",
                "order= must be a finite number in every row",
                [(r, None) for r in fr.row_labels(bad[:5])],
                num_failures=len(bad),
            )
        flat = np.lexsort((pos, codes))
        same = (np.diff(codes[flat]) == 0) & (np.diff(pos[flat]) == 0)
        if same.any():
            rows = flat[1:][same]
            raise ValidationError(
                order,
                "unique_in_group",
                "two tokens of one group have the same order= value",
                [(r, pos[b]) for r, b in zip(fr.row_labels(rows[:5]), rows[:5])],
                num_failures=len(rows),
            )
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=len(values)), out=offsets[1:])
    return codes, values, flat, offsets


def _sorted_group_ids(ids: np.ndarray):
    """``(codes, values)`` of a non-negative int64 group column (no nulls, not categorical)
    whose rows are already sorted by group, straight from the run boundaries (codes in order
    of first appearance, as factorizing gives them); ``None`` for any other column."""
    if ids.dtype != np.int64 or len(ids) == 0 or ids[0] < 0:
        return None
    step = ids[1:] != ids[:-1]
    if not bool((ids[1:] >= ids[:-1]).all()):
        return None
    codes = np.zeros(len(ids), dtype=np.int64)
    np.cumsum(step, out=codes[1:])
    starts = np.concatenate([[0], np.flatnonzero(step) + 1])
    return codes, ids[starts].tolist()


def _by_first_appearance(group: str, codes: np.ndarray, domain: list):
    """Codes of a categorical group column renumbered by first appearance, and the values in
    that order; a declared category no row is in is an error."""
    present, first = np.unique(codes, return_index=True)
    if len(present) < len(domain):
        empty = [v for i, v in enumerate(domain) if i not in set(present.tolist())]
        raise ValidationError(
            group,
            "group_not_empty",
            f"a group with no tokens: the column declares {empty[:5]!r} but no row is in them "
            f"(drop the unused categories)",
        )
    by_first = present[np.argsort(first, kind="stable")]
    rank = np.empty(len(domain), dtype=np.int64)
    rank[by_first] = np.arange(len(by_first))
    return rank[codes], [domain[i] for i in by_first]


def resolve_tokens(
    fr: Engine,
    *,
    label: str,
    pred_probs: Any,
    group: Any,
    order: str | None = None,
    classes: Sequence | None = None,
    columns: bool = False,
) -> Tokens:
    """Labels, pred_probs (rows sum to 1) and the groups of a token-classification call.

    ``columns=True``: pred_probs may stay in the frame's column buffers (a
    :class:`~cleanframe.scoring.classification.columns.ProbColumns`, see
    :func:`~cleanframe._inputs.probabilities.resolve_classification_columns`), for callers that
    hand it to the label-issue passes only."""
    resolve = resolve_classification_columns if columns else resolve_classification
    c = resolve(fr, label=label, pred_probs=pred_probs, classes=classes)
    codes, values, flat, offsets = resolve_group(fr, group, order, label=label)
    return Tokens(c, group, codes, values, flat, offsets)


def resolve_token_column(fr: Engine, token: Any) -> np.ndarray:
    """The ``token=`` column's values (words) as an object array; no nulls."""
    if not isinstance(token, str):
        raise ValidationError(None, "spec", f"token= must be one column name, not {token!r}")
    require_columns(fr, [token], param="token")
    values = fr.column(token)
    null = np.flatnonzero([v is None or (isinstance(v, float) and v != v) for v in values])
    if len(null):
        raise ValidationError(
            token,
            "not_null",
            "the token column must not hold nulls",
            [(r, None) for r in fr.row_labels(null[:5])],
            num_failures=len(null),
        )
    return values


def exclude_pairs(exclude: Any, lookup: dict, label: str) -> list[tuple[int, int]]:
    """``exclude=``: (given, predicted) pairs of classes → pairs of class codes."""
    out = []
    for pair in exclude or ():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValidationError(
                None, "exclude", f"exclude= holds (given, predicted) pairs, not {pair!r}"
            )
        codes = []
        for v in pair:
            code = lookup.get(class_key(v), lookup.get(str(v)))
            if code is None:
                raise ValidationError(
                    label, "known_class", f"exclude= names an unknown class {v!r}"
                )
            codes.append(int(code))
        out.append((codes[0], codes[1]))
    return out


def resolve_flags(fr: Engine, issues: str, score: str | None):
    """``(flags, scores or None)``: a boolean issue column and, when the frame has it, a numeric
    score column (to order rows worst first)."""
    require_columns(fr, [issues], param="issues")
    flags = fr.column(issues)
    if flags.dtype.kind != "b":
        raise ValidationError(issues, "boolean", "the issue column must hold booleans (no nulls)")
    scores = None
    if score is not None and score in set(fr.columns):
        scores = numeric_matrix(fr, [score])[:, 0]
    return flags, scores
