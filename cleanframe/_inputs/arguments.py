"""Arguments that are not columns: per-class values, K×K matrices, choices among names."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._engines import adapt, is_frame
from ..errors import ValidationError
from .classes import ClassSet
from .columns import numeric_matrix

__all__ = [
    "per_class",
    "class_matrix",
    "choice",
    "filter_choice",
    "rank_options",
    "at_least",
    "ensemble_weights",
]

#: The label-quality method that cannot take ``adjust_pred_probs=True`` (as the reference).
_NO_ADJUST = "confidence_weighted_entropy"


def per_class(value: Any, classes: ClassSet, what: str) -> np.ndarray | None:
    """A per-class argument given as a sequence in class order, a dict ``{class: value}``, or
    one number meaning the same for every class (e.g. ``num_to_remove_per_class=5``)."""
    if value is None:
        return None
    if not isinstance(value, (Mapping, str, bytes)) and np.ndim(value) == 0:
        number = np.asarray(value)
        if number.dtype.kind not in "iu" or number < 0:
            raise ValidationError(
                None,
                "non_negative_integer",
                f"{what} as one number (the same for every class) must be a non-negative "
                f"integer, not {value!r}",
            )
        return np.full(len(classes), int(number), dtype=np.int64)
    if isinstance(value, Mapping):
        lookup = classes.index()
        out = np.zeros(len(classes), dtype=np.int64)
        for name, v in value.items():
            i = lookup.get(name, lookup.get(str(name)))
            if i is None:
                raise ValidationError(
                    None, "known_class", f"{what} names an unknown class {name!r}"
                )
            out[i] = v
        return out
    out = np.asarray(value)
    if out.shape != (len(classes),):
        raise ValidationError(
            None, "shape", f"{what} must hold one value per class ({len(classes)}), got {out.shape}"
        )
    return out


def class_matrix(value: Any, classes: ClassSet, what: str) -> np.ndarray | None:
    """A K×K argument (e.g. ``confident_joint=``) as an array, or a table of any engine whose
    class-named columns hold it (as :func:`cleanframe.confident_joint` returns it)."""
    if value is None:
        return None
    if is_frame(value):
        fr = adapt(value)
        value = numeric_matrix(fr, [c for c in fr.columns if c in set(classes.names)])
    value = np.asarray(value)
    k = len(classes)
    if value.shape != (k, k):
        raise ValidationError(
            None, "shape", f"{what} must be {k}×{k} (one row and column per class)"
        )
    return value


def choice(value: Any, allowed: Sequence[Any], what: str) -> Any:
    """``value`` if it is one of ``allowed``, else a ValidationError (rule ``what``, the
    argument's name) that lists the valid choices and, for a typo, the closest one."""
    try:
        known = bool(value in allowed)
    except (TypeError, ValueError):  # an array: no single truth value
        known = False
    if not known:
        names = [str(a) for a in allowed]
        text = str(value).lower()
        close = [n for n in names if text and text in n.lower()]  # a part of one name
        if len(close) != 1:
            close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValidationError(
            None, what, f"{what}= must be one of {list(allowed)}, not {value!r}{hint}"
        )
    return value


def rank_options(method: str, options: Mapping | None, what: str = "rank_by_kwargs") -> dict:
    """The options of a label-quality ranking (``rank_by_kwargs=``, or ``adjust_pred_probs=``
    given on its own): a mapping whose only key is ``adjust_pred_probs``, which cannot be true
    with ``method="confidence_weighted_entropy"`` (rule ``adjust_pred_probs``)."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValidationError(None, what, f"{what}= must be a dict, not {options!r}")
    unknown = sorted(map(str, set(options) - {"adjust_pred_probs"}))
    if unknown:
        raise ValidationError(
            None, what, f"{what}= takes only 'adjust_pred_probs'; unknown keys {unknown}"
        )
    if options.get("adjust_pred_probs") and method == _NO_ADJUST:
        raise ValidationError(
            None,
            "adjust_pred_probs",
            f"adjust_pred_probs=True cannot be used with method={_NO_ADJUST!r} (its entropy "
            f"term needs probabilities); use another method or adjust_pred_probs=False",
        )
    return dict(options)


def at_least(value: Any, minimum: int, what: str) -> int:
    """An integer argument such as ``cv=`` or ``num_permutations=`` that must be at least
    ``minimum`` (rule ``what``, the argument's name)."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not ok or value < minimum:
        raise ValidationError(
            None, what, f"{what}= must be an integer of at least {minimum}, not {value!r}"
        )
    return int(value)


def ensemble_weights(weighting: str, custom_weights: Any, n_models: int) -> np.ndarray | None:
    """``custom_weights=``: given exactly when ``weight_ensemble_members_by="custom"`` (as the
    reference), one finite, non-negative weight per model (rule ``custom_weights``)."""
    what = "custom_weights"
    if weighting != "custom":
        if custom_weights is not None:
            raise ValidationError(
                None,
                what,
                f"custom_weights= is used only with weight_ensemble_members_by='custom', not "
                f"{weighting!r}",
            )
        return None
    if custom_weights is None:
        raise ValidationError(
            None, what, "weight_ensemble_members_by='custom' needs custom_weights=[...]"
        )
    try:
        weights = np.asarray(custom_weights, dtype=np.float64)
    except (TypeError, ValueError):
        weights = np.empty(0)
    if weights.shape != (n_models,) or not np.isfinite(weights).all() or (weights < 0).any():
        raise ValidationError(
            None,
            what,
            f"custom_weights= must hold one finite, non-negative weight per model ({n_models}), "
            f"got {custom_weights!r}",
        )
    return weights


#: The filters that prune by counts, the only ones ``num_to_remove_per_class`` applies to.
PRUNE_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "argmax_confusion")


def filter_choice(filter_by: Any, allowed: Sequence[Any], num_to_remove_per_class: Any) -> Any:
    """``filter_by=`` among ``allowed``, and ``num_to_remove_per_class=`` only with a filter that
    prunes by counts (rule ``num_to_remove_per_class``; the reference raises a bare ValueError)."""
    choice(filter_by, allowed, "filter_by")
    if num_to_remove_per_class is not None and filter_by not in PRUNE_FILTERS:
        raise ValidationError(
            None,
            "num_to_remove_per_class",
            f"num_to_remove_per_class= applies only to filter_by in {list(PRUNE_FILTERS)}, not "
            f"{filter_by!r}",
        )
    return filter_by
