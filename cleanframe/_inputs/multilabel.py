"""Multi-label inputs: a list column of tags (or one-hot columns) + independent probabilities.

A row's label is a *set* of classes (tags), possibly empty. Three forms are accepted:

- a list column: polars ``List``/``Array``, a pandas column of Arrow lists, or a pandas object
  column holding a list (tuple, array) per row. Tags are matched to the classes that the
  pred_probs columns name (``p_*`` on ``p_news`` → ``news``; ``classes=`` overrides). Integer
  tags whose values are not class names are positions ``0..K-1`` in pred_probs' column order
  (cleanlab's ``List[List[int]]``);
- one-hot columns: ``label=`` a list or glob of boolean (or 0/1 integer) columns, one per class,
  in pred_probs' class order.

Multi-label probabilities are independent per class: each must lie in [0, 1] (within
:data:`~cleanframe._inputs.rules.PROBABILITY_TOLERANCE`, clipped in a copy), rows need not sum
to 1. Rules, each a :class:`~cleanframe.errors.ValidationError` naming the column and rows:
a tag that is not a class (``known_class``), a row holding a scalar instead of a list
(``list_rows``), a null row (``not_null``), a null tag (``not_null``), a value outside [0, 1]
or not finite.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._engines import Engine
from ..errors import ValidationError
from .arguments import choice, per_class
from .classes import ClassSet, class_key
from .columns import (
    Selection,
    check_not_empty,
    glob_columns,
    is_glob,
    require_columns,
    resolve_columns,
    selection_matrix,
)
from .probabilities import raise_cells
from .rules import PROBABILITY_MAX, PROBABILITY_MIN, PROBABILITY_TOLERANCE

__all__ = [
    "AGGREGATORS",
    "MultiLabel",
    "aggregator_options",
    "is_multilabel",
    "multilabel_confident_joint",
    "multilabel_per_class",
    "resolve_multilabel",
]

#: How per-class scores become one score per row (as cleanlab's multi-label scorer).
AGGREGATORS = ("exponential_moving_average", "softmin")


@dataclass
class MultiLabel:
    """Resolved multi-label inputs.

    ``labels`` (N, K) bool: row i carries class k; ``pred_probs`` (N, K) float64 in [0, 1];
    ``classes`` the class values (in the tags' own domain) in column order; ``list_label`` True
    when the label is a list column (results can be written back as tags in its dtype).
    """

    label: str
    labels: np.ndarray
    pred_probs: np.ndarray
    classes: ClassSet
    pred_probs_columns: list | None
    list_label: bool


def _label_name(label: Any) -> str:
    if isinstance(label, str):
        return label
    if isinstance(label, (list, tuple)) and label:
        return str(label[0])
    return "label"


def is_multilabel(fr: Engine, label: Any, multi_label: bool | None = None) -> bool:
    """Whether ``label`` is a multi-label label: a list column, one-hot columns (a list or a
    glob of columns), or ``multi_label=True``."""
    if multi_label is not None:
        return bool(multi_label)
    if not isinstance(label, str):  # one-hot columns: one per class, so at least two
        return isinstance(label, (list, tuple)) and len(label) > 1
    names = list(fr.columns)
    if label not in names:
        return is_glob(label) and len(glob_columns(label, names)) > 1
    if names.count(label) > 1:  # a duplicated name: the single-label rules report it
        return False
    return fr.is_array_column(label) or fr.list_column(label) is not None


def _class_names(sel: Selection, n_cols: int, classes: Sequence | None) -> list[list]:
    """Candidate class-name lists for the pred_probs columns, best first."""
    if classes is not None:
        values = list(classes)
        if len(values) != n_cols:
            raise ValidationError(
                sel.label,
                "classes",
                f"classes= has {len(values)} entries but pred_probs has {n_cols} columns",
            )
        return [values]
    if sel.classes is not None:
        return [list(sel.classes)]
    return [list(h) for h in sel.hint_sets if len(h) == n_cols and len(set(h)) == n_cols]


def _match_tags(label: str, uniques: list, kind: str, candidates: list[list], k: int, fr, lc):
    """(code of each distinct tag, class values) — tags matched to class names, or integer
    tags as column positions."""
    for names in candidates:
        lookup: dict = {}
        for i, n in enumerate(names):
            lookup.setdefault(class_key(n), i)
            lookup.setdefault(str(n), i)
        codes = [lookup.get(class_key(u), lookup.get(str(u))) for u in uniques]
        if all(c is not None for c in codes):
            values = list(names)
            for u, c in zip(uniques, codes):
                values[int(c or 0)] = u  # a class that occurs keeps its tag's own value
            if kind == "integer":
                values = [_as_int(v) for v in values]
            return np.asarray(codes, dtype=np.int64), values
    if kind == "integer" and all(0 <= int(u) < k for u in uniques):
        return np.asarray([int(u) for u in uniques], dtype=np.int64), list(range(k))
    names = candidates[0] if candidates else list(range(k))
    known = {str(n) for n in names} | {class_key(n) for n in names}
    unknown = [u for u in uniques if class_key(u) not in known and str(u) not in known]
    bad_codes = {i for i, u in enumerate(uniques) if u in unknown}
    item_rows = np.searchsorted(lc.offsets, np.arange(len(lc.items.codes)), side="right") - 1
    rows = np.unique(item_rows[np.isin(lc.items.codes, list(bad_codes))])
    shown = fr.column(label)
    raise ValidationError(
        label,
        "known_class",
        f"tags {unknown[:5]!r} are not among the classes of pred_probs "
        f"{[str(n) for n in names][:12]} (integer tags may also be column positions 0..{k - 1})",
        [(r, _shown(shown[b])) for r, b in zip(fr.row_labels(rows[:5]), rows[:5])],
        num_failures=len(rows),
    )


def _shown(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


def _as_int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return v


def _list_labels(fr: Engine, label: str, sel: Selection, k: int, classes):
    lc = fr.list_column(label)
    if lc is None:
        raise ValidationError(
            label,
            "list_rows",
            "multi-label needs a list column (a list of tags per row) or one-hot columns",
        )
    if len(lc.scalar_rows):
        bad = lc.scalar_rows
        raise ValidationError(
            label,
            "list_rows",
            "the column mixes lists and scalars: every row must hold a list of tags (an empty "
            "list for no tag)",
            [(r, _shown(v)) for r, v in zip(fr.row_labels(bad[:5]), fr.column(label)[bad[:5]])],
            num_failures=len(bad),
        )
    if len(lc.null_rows):
        bad = lc.null_rows
        raise ValidationError(
            label,
            "not_null",
            "rows must hold a list of tags, not null (an empty list for no tag)",
            [(r, None) for r in fr.row_labels(bad[:5])],
            num_failures=len(bad),
        )
    if (lc.items.codes < 0).any():
        item_rows = np.searchsorted(lc.offsets, np.arange(len(lc.items.codes)), side="right") - 1
        bad = np.unique(item_rows[lc.items.codes < 0])
        raise ValidationError(
            label,
            "not_null",
            "tags must not be null",
            [(r, None) for r in fr.row_labels(bad[:5])],
            num_failures=len(bad),
        )
    candidates = _class_names(sel, k, classes)
    tag_codes, values = _match_tags(
        label, list(lc.items.uniques), lc.items.kind, candidates, k, fr, lc
    )
    n = fr.height
    # class-major (K, N), returned as its (N, K) transpose: the kernels take it without a copy
    onehot_t = np.zeros((k, n), dtype=bool)
    rows = np.repeat(np.arange(n), np.diff(lc.offsets))
    onehot_t[tag_codes[lc.items.codes], rows] = True
    return onehot_t.T, values


def _onehot_labels(fr: Engine, label: Any, sel: Selection, k: int, classes):
    lsel = resolve_columns(fr, label, param="label", allow_dict=False)
    if lsel.columns is None:
        raise ValidationError(lsel.label, "spec", "one-hot labels must be separate columns")
    cols = list(lsel.columns)
    if len(cols) != k:
        raise ValidationError(
            lsel.label,
            "classes",
            f"label= names {len(cols)} one-hot columns but pred_probs has {k} columns",
        )
    if sel.columns is not None and set(cols) & set(sel.columns):
        raise ValidationError(cols[0], "spec", "a one-hot label column is also in pred_probs=")
    out_t = np.zeros((k, fr.height), dtype=bool)  # class-major, as the list labels
    for j, name in enumerate(cols):
        v = fr.column(name)
        if v.dtype.kind == "b":
            out_t[j] = v
            continue
        try:
            f = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            f = np.full(len(v), np.nan)
        bad = np.flatnonzero(~np.isin(f, (0.0, 1.0)))
        if len(bad):
            raise ValidationError(
                name,
                "one_hot",
                "one-hot label columns must hold booleans or 0/1 (no nulls)",
                [(r, v[b]) for r, b in zip(fr.row_labels(bad[:5]), bad[:5])],
                num_failures=len(bad),
            )
        out_t[j] = f == 1.0
    candidates = _class_names(sel, k, classes)
    if candidates:
        values = candidates[0]
    elif lsel.hint_sets:
        values = list(lsel.hint_sets[0])
    else:
        values = list(range(k))
    return out_t.T, values


def resolve_multilabel(
    fr: Engine,
    *,
    label: Any,
    pred_probs: Any,
    classes: Sequence | None = None,
) -> MultiLabel:
    """Labels (N, K) bool, pred_probs (N, K) in [0, 1] and the classes, all checked."""
    check_not_empty(fr)
    if isinstance(label, str) and label in set(fr.columns):
        require_columns(fr, [label], param="label")
    sel = resolve_columns(fr, pred_probs, param="pred_probs")
    if isinstance(label, str) and sel.columns is not None and label in sel.columns:
        raise ValidationError(label, "spec", "the label column is also listed in pred_probs=")
    P = _probability_matrix(fr, sel)
    k = P.shape[1]
    if k < 1:
        raise ValidationError(sel.label, "at_least_1_class", "pred_probs has no columns")
    list_label = isinstance(label, str) and label in set(fr.columns)
    if list_label:
        onehot, values = _list_labels(fr, label, sel, k, classes)
    else:
        onehot, values = _onehot_labels(fr, label, sel, k, classes)
    P = _check_independent_probabilities(fr, P, sel)
    return MultiLabel(
        _label_name(label),
        onehot,
        P,
        ClassSet(tuple(values)),
        list(sel.columns) if sel.columns is not None else None,
        list_label,
    )


def _probability_matrix(fr: Engine, sel: Selection) -> np.ndarray:
    """pred_probs as an (N, K) matrix. Float columns of one dtype are stacked class-major,
    one contiguous copy per column, and returned as the (N, K) transpose of that (K, N) array:
    the one-vs-rest kernels work on (K, N) and take it without another copy."""
    if sel.array_column is None and sel.columns and not fr.non_numeric(sel.columns):
        arrays = fr.float_columns(sel.columns)
        if arrays is not None:
            return _class_major(arrays).T
    return selection_matrix(fr, sel)


def _class_major(arrays: list[np.ndarray]) -> np.ndarray:
    """The (K, N) stack of K column arrays: a read-only view when they are consecutive rows of
    one C-ordered 2-D block in order (pandas keeps same-dtype float columns so), else a copy."""
    n, k = len(arrays[0]), len(arrays)
    base = arrays[0].base
    if isinstance(base, np.ndarray) and base.ndim == 2:
        block = base.T if base.shape[0] == n and base.flags.f_contiguous else base
        step = block.strides[0]
        if block.flags.c_contiguous and block.shape[1] == n and step > 0:
            start, rest = divmod(arrays[0].ctypes.data - block.ctypes.data, step)
            if (
                rest == 0
                and 0 <= start
                and start + k <= block.shape[0]
                and block.dtype == arrays[0].dtype
                and all(
                    a.ctypes.data == block.ctypes.data + (start + j) * step
                    and a.strides == arrays[0].strides
                    for j, a in enumerate(arrays)
                )
            ):
                view = block[start : start + k].view()
                view.flags.writeable = False  # the frame's memory: never written
                return view
    return np.stack(arrays)


def _check_independent_probabilities(fr: Engine, P: np.ndarray, sel: Selection) -> np.ndarray:
    """Finite and within [0, 1] (tolerance: clipped in a copy); rows need not sum to 1."""
    lo, hi = (float(P.min()), float(P.max())) if P.size else (0.0, 0.0)
    if np.isfinite(lo) and np.isfinite(hi) and lo >= PROBABILITY_MIN and hi <= PROBABILITY_MAX:
        # every value finite and in range (a NaN or inf would be the min or max): no row check
        P = np.asarray(P, dtype=np.float64)
        return np.clip(P, 0.0, 1.0) if lo < 0 or hi > 1 else P
    cols = sel.columns
    finite = np.isfinite(P).all(axis=1)
    if not finite.all():
        raise_cells(
            fr,
            P,
            sel,
            cols,
            ~finite,
            "finite",
            "probabilities must be finite (no NaN, no inf)",
            probabilities=False,
        )
    wide = P.astype(np.float64, copy=False)
    out = ((wide < PROBABILITY_MIN) | (wide > PROBABILITY_MAX)).any(axis=1)
    if out.any():
        raise_cells(
            fr,
            P,
            sel,
            cols,
            out,
            "in_range",
            f"multi-label probabilities must lie in [0, 1] (tolerance {PROBABILITY_TOLERANCE:g}; "
            f"each class is scored on its own, rows need not sum to 1)",
            probabilities=False,
        )
    P = np.asarray(P, dtype=np.float64)
    if P.size and (P.min() < 0 or P.max() > 1):
        P = np.clip(P, 0.0, 1.0)
    return P


#: The filter_by rules that take frac_noise and num_to_remove_per_class.
PRUNE_RULES = ("prune_by_noise_rate", "prune_by_class", "both")


def multilabel_per_class(
    value: Any, classes: ClassSet, what: str, filter_by: str = "prune_by_noise_rate"
) -> np.ndarray | None:
    """``num_to_remove_per_class=``: one non-negative count per class (sequence, dict or one
    number), only with the prune rules (as the reference, which raises for the others)."""
    if value is not None and filter_by not in PRUNE_RULES:
        raise ValidationError(
            None,
            what,
            f"{what}= goes with filter_by in {list(PRUNE_RULES)}, not {filter_by!r}",
        )
    out = per_class(value, classes, what)
    if out is not None and (out.dtype.kind not in "iu" or (out < 0).any()):
        if out.dtype.kind == "f" and np.all(out == np.round(out)) and (out >= 0).all():
            return out.astype(np.int64)
        raise ValidationError(None, what, f"{what} must hold non-negative integers")
    return out


def multilabel_confident_joint(value: Any, k: int) -> np.ndarray | None:
    """``confident_joint=`` for multi-label: (K, 2, 2) per-class binary joints. A K×K joint (the
    single-label form) is ignored with a warning, as the reference does."""
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.shape == (k, k) and k != 2:
        warnings.warn(
            "a K×K confident_joint is the single-label form; multi-label needs one 2×2 joint per "
            "class, shape (K, 2, 2). It is ignored.",
            UserWarning,
            stacklevel=4,
        )
        return None
    if arr.shape != (k, 2, 2) or arr.dtype.kind not in "iuf" or (arr < 0).any():
        raise ValidationError(
            None,
            "confident_joint",
            f"a multi-label confident_joint must be non-negative counts of shape ({k}, 2, 2), "
            f"got shape {arr.shape}",
        )
    return arr


def aggregator_options(
    aggregator: str, alpha: float | None, temperature: float | None
) -> dict[str, Any]:
    """The aggregator and its one option: ``alpha`` in [0, 1] (None: 2 / (K + 1)) for the
    exponential moving average, ``temperature`` > 0 for softmin."""
    choice(aggregator, AGGREGATORS, "aggregator")
    if aggregator == "exponential_moving_average":
        if temperature is not None:
            raise ValidationError(
                None, "temperature", "temperature= is an option of aggregator='softmin'"
            )
        if alpha is not None and not (
            isinstance(alpha, (int, float, np.number)) and 0 <= float(alpha) <= 1
        ):
            raise ValidationError(None, "alpha", f"alpha= must lie in [0, 1], not {alpha!r}")
        return {"alpha": None if alpha is None else float(alpha)}
    if alpha is not None and alpha != 0.8:  # 0.8: the default, which softmin leaves alone
        raise ValidationError(
            None, "alpha", "alpha= is an option of aggregator='exponential_moving_average'"
        )
    t = 0.1 if temperature is None else temperature
    if not (isinstance(t, (int, float, np.number)) and float(t) > 0 and np.isfinite(t)):
        raise ValidationError(None, "temperature", f"temperature= must be > 0, not {t!r}")
    return {"temperature": float(t)}
