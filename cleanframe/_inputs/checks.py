"""The audit's arguments: which inputs the caller gave, and which checks ``checks=`` selects.

An audit check declares what it needs by input name (see :mod:`cleanframe.checks.registry`);
:func:`given_inputs` says which of those names the caller's arguments provide,
:func:`usable_inputs` which of them the frame's rows allow (a one-row frame has no neighbours,
rule :data:`MIN_ROWS`), and :func:`select_checks` turns ``checks=`` into the checks to run, with
the errors for unknown checks, checks whose inputs were not given, and a call where nothing can
run. :func:`check_keywords` checks a dict of keyword arguments passed on to one check,
:func:`check_requests` the two forms of ``checks=`` (a list of names, or a dict of names to
their parameters) and :func:`audit_task` which task the arguments imply.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from .._engines import Engine
from ..errors import ValidationError
from .columns import require_columns, resolve_columns
from .features import names_one_column

__all__ = [
    "INPUTS",
    "MIN_ROWS",
    "audit_task",
    "check_keywords",
    "check_parameters",
    "check_requests",
    "given_inputs",
    "resolve_feature_columns",
    "resolve_groups",
    "spec_columns",
    "select_checks",
    "usable_inputs",
]

#: The inputs a check can need, and the arguments that provide them.
INPUTS = {
    "labels": "label=",
    "pred_probs": "pred_probs=",
    "classification": "label= and pred_probs=",
    "features": "features= as separate columns (a list or a glob)",
    "graph": "features= or knn_graph=",
    "feature_columns": "features= as separate columns (a list or a glob)",
    "groups": "group=",
    "regression": "label= and predictions=",
}


def audit_task(*, label: Any, pred_probs: Any, predictions: Any) -> str:
    """The audit's task: ``"regression"`` when ``predictions=`` is given (with ``label=``),
    else ``"classification"``."""
    if predictions is None:
        return "classification"
    if pred_probs is not None:
        raise ValidationError(
            None,
            "predictions",
            "pass pred_probs= (classification) or predictions= (regression), not both",
        )
    if label is None:
        raise ValidationError(
            None, "predictions", "predictions= needs label= (the numeric target it predicts)"
        )
    return "regression"


def given_inputs(
    *,
    label: Any,
    pred_probs: Any,
    features: Any,
    knn_graph: Any,
    predictions: Any = None,
    group: Any = None,
) -> frozenset[str]:
    """The names of :data:`INPUTS` that these arguments provide."""
    given = set()
    if label is not None:
        given.add("labels")
    if pred_probs is not None:
        given.add("pred_probs")
    if label is not None and pred_probs is not None:
        given.add("classification")
    if label is not None and predictions is not None:
        given.add("regression")
    if group is not None:
        given.add("groups")
    if features is not None and not names_one_column(features):
        given.update(("features", "feature_columns"))
    if features is not None or knn_graph is not None:
        given.add("graph")
    return frozenset(given)


#: The fewest rows from which an input can be had, and why: a neighbour graph (of the features,
#: or of pred_probs for the non-IID check) needs a neighbour for each row, and labels with
#: pred_probs need two classes. An audit skips, with this note, a check whose inputs the frame
#: is too short for, instead of failing.
MIN_ROWS = {
    "graph": (2, "a neighbour graph needs at least 2 rows"),
    "pred_probs": (2, "a neighbour graph of pred_probs needs at least 2 rows"),
    "classification": (2, "label and pred_probs need at least 2 classes, so at least 2 rows"),
}


def usable_inputs(given: Collection[str], n: int) -> tuple[frozenset[str], dict[str, str]]:
    """The inputs among ``given`` that a frame of ``n`` rows can provide, and for each one it
    cannot, why (see :data:`MIN_ROWS`)."""
    short = {
        name: f"{MIN_ROWS[name][1]}, the frame has {n}"
        for name in given
        if name in MIN_ROWS and n < MIN_ROWS[name][0]
    }
    return frozenset(given) - set(short), short


def check_keywords(value: Mapping[str, Any] | None, allowed: Sequence[str], what: str) -> dict:
    """``value`` (keyword arguments passed on, e.g. ``label_kwargs=``) as a dict whose keys are
    among ``allowed``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(None, what, f"{what}= must be a dict of keyword arguments")
    unknown = [key for key in value if key not in allowed]
    if unknown:
        raise ValidationError(None, what, f"{what}= takes {list(allowed)}, not {unknown}")
    return dict(value)


def check_requests(
    checks: Sequence[str] | Mapping[str, Mapping[str, Any] | None] | None,
    params: Mapping[str, Sequence[str]],
) -> tuple[list[str] | None, dict[str, dict]]:
    """``checks=`` as (the names asked for, or None for the defaults; each named check's
    parameters). A dict maps each check to run to its parameters (``{}`` or None for none);
    ``params`` gives each known check's parameter names."""
    if checks is None:
        return None, {}
    if isinstance(checks, str):
        raise ValidationError(None, "checks", f"checks= takes a list of names, not {checks!r}")
    if not isinstance(checks, Mapping):
        return list(checks), {}
    names = list(checks)
    unknown = [c for c in names if c not in params]
    if unknown:
        raise ValidationError(
            None, "checks", f"unknown checks {unknown}; choose from {list(params)}"
        )
    options = {
        name: check_keywords(value, params[name], f'checks["{name}"]')
        for name, value in checks.items()
    }
    return names, options


def select_checks(
    requested: Sequence[str] | None,
    known: Sequence[str],
    possible: Collection[str],
    skipped: Collection[str] = (),
    defaults: Collection[str] | None = None,
    not_applicable: Mapping[str, str] | None = None,
) -> list[str]:
    """The checks selected, in the order of ``known``: every ``possible`` or ``skipped`` one
    among ``defaults`` (default: all known), or those ``requested`` (each of which must be
    known and possible or skipped, and apply to the task: ``not_applicable`` says why a check
    does not). ``skipped`` are checks whose inputs were given but that the frame is too short
    for (see :func:`usable_inputs`): selecting one is not an error, the audit reports it as
    skipped."""
    possible = set(possible) | set(skipped)
    not_applicable = not_applicable or {}
    if requested is None:
        defaults = set(known) if defaults is None else set(defaults)
        run = [c for c in known if c in possible and c in defaults]
    else:
        unknown = [c for c in requested if c not in known]
        if unknown:
            raise ValidationError(
                None, "checks", f"unknown checks {unknown}; choose from {list(known)}"
            )
        wrong_task = [c for c in requested if c in not_applicable]
        if wrong_task:
            why = "; ".join(f"{c}: {not_applicable[c]}" for c in wrong_task)
            raise ValidationError(None, "checks", f"checks {wrong_task} do not apply: {why}")
        missing = [c for c in requested if c not in possible]
        if missing:
            raise ValidationError(
                None, "checks", f"checks {missing} need columns that were not given"
            )
        run = [c for c in known if c in requested]
    if not run:
        raise ValidationError(
            None, "checks", "no check can run: pass label=, pred_probs= and/or features="
        )
    return run


def resolve_groups(fr: Engine, group: Any) -> tuple[np.ndarray, list]:
    """``group=`` (one column of any type) as group ids ``0..G-1`` in the sorted order of the
    values (first appearance when they cannot be sorted), ``-1`` for nulls, and the values."""
    if not isinstance(group, str):
        raise ValidationError(None, "spec", f"group= must be one column name, not {group!r}")
    require_columns(fr, [group], param="group")
    f = fr.factorize(group)
    uniques = list(f.uniques)
    try:
        order = sorted(range(len(uniques)), key=lambda i: uniques[i])
    except TypeError:
        order = list(range(len(uniques)))
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[order] = np.arange(len(uniques))
    codes = np.asarray(f.codes, dtype=np.int64)
    ids = np.where(codes >= 0, rank[np.maximum(codes, 0)] if len(uniques) else -1, -1)
    return ids, [uniques[i] for i in order]


def resolve_feature_columns(fr: Engine, features: Any) -> dict:
    """The feature columns (a list or a glob) as stored: name -> ndarray."""
    sel = resolve_columns(fr, features, param="features", allow_dict=False)
    return {str(name): fr.column(name) for name in sel.columns or []}


def spec_columns(fr: Engine, **specs: Any) -> list:
    """The frame columns that these (already validated) column specs name, in frame order:
    ``spec_columns(fr, features="emb_*", pred_probs=["p_a", "p_b"], predictions="pred")``."""
    names: set = set()
    for param, spec in specs.items():
        if spec is None:
            continue
        if isinstance(spec, str) and spec in fr.columns:
            names.add(spec)
            continue
        names.update(resolve_columns(fr, spec, param=param).columns or [])
    return [c for c in fr.columns if c in names]


#: The numeric rules of the checks' parameters: name -> (kind, low, high, low inclusive), per
#: check where they differ. ``kind`` is "int" or "number"; None = unbounded.
_UNIT = ("number", 0.0, 1.0, True)
PARAMETER_RULES: dict[str, dict[str, tuple]] = {
    "outlier": {"k": ("int", 1, None, True), "t": ("number", 0.0, None, False), "threshold": _UNIT},
    "near_duplicate": {"k": ("int", 1, None, True), "threshold": ("number", 0.0, None, True)},
    "non_iid": {
        "num_permutations": ("int", 1, None, True),
        "significance_threshold": _UNIT,
    },
    "class_imbalance": {"threshold": _UNIT},
    "underperforming_group": {
        "threshold": _UNIT,
        "min_cluster_samples": ("int", 1, None, True),
        "eps": ("number", 0.0, None, False),
        "min_samples": ("int", 1, None, True),
    },
    "data_valuation": {"k": ("int", 1, None, True), "threshold": _UNIT},
}


def check_parameters(name: str, params: Mapping[str, Any], *, graph_k: int | None) -> None:
    """The values of one check's parameters (``checks={name: params}``) against
    :data:`PARAMETER_RULES`; a ``k`` cannot exceed the neighbours the audit's graph holds."""
    rules = PARAMETER_RULES.get(name, {})
    for key, value in params.items():
        if key not in rules or (value is None and key in ("threshold", "k", "seed")):
            continue
        kind, low, high, closed = rules[key]
        is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        is_number = is_int or (isinstance(value, (float, np.floating)) and np.isfinite(value))
        ok = is_int if kind == "int" else is_number
        if ok and low is not None:
            ok = value >= low if closed else value > low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            bounds = f"{'[' if closed else '('}{low}, {'inf)' if high is None else f'{high}]'}"
            what = "an integer" if kind == "int" else "a number"
            raise ValidationError(
                None,
                f'checks["{name}"]',
                f'checks["{name}"]["{key}"] must be {what} in {bounds}, not {value!r}',
            )
        if key == "k" and graph_k is not None and value > graph_k:
            raise ValidationError(
                None,
                f'checks["{name}"]',
                f'checks["{name}"]["k"]={value} but the kNN graph holds {graph_k} neighbours '
                f"per row (pass k= to the audit for a larger graph)",
            )
