"""The audit's arguments: which inputs the caller gave, and which checks ``checks=`` selects.

An audit check declares what it needs by input name (see :mod:`cleanframe.checks.registry`);
:func:`given_inputs` says which of those names the caller's arguments provide,
:func:`usable_inputs` which of them the frame's rows allow (a one-row frame has no neighbours,
rule :data:`MIN_ROWS`), and :func:`select_checks` turns ``checks=`` into the checks to run, with
the errors for unknown checks, checks whose inputs were not given, and a call where nothing can
run. :func:`check_keywords` checks a dict of keyword arguments passed on to one check.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ..errors import ValidationError
from .features import names_one_column

__all__ = [
    "INPUTS",
    "MIN_ROWS",
    "check_keywords",
    "given_inputs",
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
}


def given_inputs(*, label: Any, pred_probs: Any, features: Any, knn_graph: Any) -> frozenset[str]:
    """The names of :data:`INPUTS` that these arguments provide."""
    given = set()
    if label is not None:
        given.add("labels")
    if pred_probs is not None:
        given.add("pred_probs")
    if label is not None and pred_probs is not None:
        given.add("classification")
    if features is not None and not names_one_column(features):
        given.add("features")
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


def select_checks(
    requested: Sequence[str] | None,
    known: Sequence[str],
    possible: Collection[str],
    skipped: Collection[str] = (),
) -> list[str]:
    """The checks selected, in the order of ``known``: every ``possible`` or ``skipped`` one, or
    those ``requested`` (each of which must be known and possible or skipped). ``skipped`` are
    checks whose inputs were given but that the frame is too short for (see
    :func:`usable_inputs`): selecting one is not an error, the audit reports it as skipped."""
    possible = set(possible) | set(skipped)
    if requested is None:
        run = [c for c in known if c in possible]
    else:
        unknown = [c for c in requested if c not in known]
        if unknown:
            raise ValidationError(
                None, "checks", f"unknown checks {unknown}; choose from {list(known)}"
            )
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
