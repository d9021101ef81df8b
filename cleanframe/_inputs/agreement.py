"""Agreement-metric inputs: the annotations (through :mod:`~cleanframe._inputs.annotations`), the
consensus method, and the bootstrap options.

Rules (each stated once, here): ``consensus_method`` is a consensus without ``pred_probs``
(majority vote, Dawid-Skene or one of the aggregators); ``n_resamples`` is an integer >= 0;
``confidence_level`` is a number strictly between 0 and 1; ``seed`` a non-negative integer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ValidationError
from ..scoring.multiannotator.aggregators import AGGREGATORS
from .arguments import at_least, choice
from .noise import check_seed

__all__ = [
    "AGREEMENT_CONSENSUS",
    "BootstrapOptions",
    "agreement_consensus",
    "bootstrap_options",
    "check_pairable",
]

#: The consensus methods ``agreement`` takes (none of them uses pred_probs).
AGREEMENT_CONSENSUS = ("majority_vote", "dawid_skene", *AGGREGATORS)


def agreement_consensus(method: Any) -> str:
    """``consensus_method=`` of an agreement call (``None``: majority vote)."""
    if method is None:
        return "majority_vote"
    return choice(method, AGREEMENT_CONSENSUS, "consensus_method")


class BootstrapOptions:
    """Checked bootstrap options: ``n_resamples``, ``confidence_level``, ``seed``."""

    __slots__ = ("n_resamples", "confidence_level", "seed")

    def __init__(self, n_resamples: int, confidence_level: float, seed: int):
        self.n_resamples = n_resamples
        self.confidence_level = confidence_level
        self.seed = seed


def bootstrap_options(n_resamples: Any, confidence_level: Any, seed: Any) -> BootstrapOptions:
    """``n_resamples`` >= 0 (0: no intervals), ``confidence_level`` in (0, 1), ``seed`` >= 0."""
    n = at_least(n_resamples, 0, "n_resamples")
    ok = isinstance(confidence_level, (int, float, np.integer, np.floating)) and not isinstance(
        confidence_level, (bool, np.bool_)
    )
    if not ok or not math.isfinite(float(confidence_level)) or not 0 < confidence_level < 1:
        raise ValidationError(
            None,
            "confidence_level",
            f"confidence_level= must be a number strictly between 0 and 1 (e.g. 0.95), not "
            f"{confidence_level!r}",
        )
    return BootstrapOptions(n, float(confidence_level), check_seed(seed))


def check_pairable(num_annotations: np.ndarray, columns: str) -> None:
    """Agreement needs at least one item with two or more annotations (rule
    ``multiple_annotations``)."""
    if not (np.asarray(num_annotations) >= 2).any():
        raise ValidationError(
            columns,
            "multiple_annotations",
            "agreement needs items labelled by two or more annotators; every item has one label",
        )
