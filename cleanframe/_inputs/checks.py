"""The audit's arguments: which inputs the caller gave, and which checks ``checks=`` selects.

An audit check declares what it needs by input name (see :mod:`cleanframe.checks.registry`);
:func:`given_inputs` says which of those names the caller's arguments provide, and
:func:`select_checks` turns ``checks=`` into the checks to run, with the errors for unknown checks,
checks whose inputs were not given, and a call where nothing can run.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from ..errors import ValidationError
from .features import names_one_column

__all__ = ["INPUTS", "given_inputs", "select_checks"]

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


def select_checks(
    requested: Sequence[str] | None, known: Sequence[str], possible: Collection[str]
) -> list[str]:
    """The checks to run, in the order of ``known``: every ``possible`` one, or those
    ``requested`` (each of which must be known and possible)."""
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
