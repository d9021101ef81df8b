"""The bounds and tolerances of the input rules, stated once.

The numpy gate (:mod:`cleanframe._inputs.probabilities`) and the pandera schemas
(:mod:`cleanframe._inputs.schema`) both use these, and both compare in float64 (a float32 or
float16 value is widened exactly, so a stored 1.0001 is judged the same in every storage type).
"""

from __future__ import annotations

__all__ = [
    "MIN_CLASSES",
    "PROBABILITY_MAX",
    "PROBABILITY_MIN",
    "PROBABILITY_TOLERANCE",
    "RENORMALIZE_ABOVE",
    "row_sum_tolerance",
]

#: Largest accepted distance of a probability from [0, 1], and of a row sum from 1.
PROBABILITY_TOLERANCE = 1e-4
#: The accepted range of one probability (compared in float64).
PROBABILITY_MIN = -PROBABILITY_TOLERANCE
PROBABILITY_MAX = 1 + PROBABILITY_TOLERANCE
#: Rows whose sum differs from 1 by more than this are rescaled (in a copy).
RENORMALIZE_ABOVE = 1e-5
#: pred_probs needs at least this many class columns.
MIN_CLASSES = 2


def row_sum_tolerance(storage_eps: float) -> float:
    """Largest accepted ``|row sum - 1|`` for probabilities stored with machine epsilon
    ``storage_eps`` (0.0 when not floats): :data:`PROBABILITY_TOLERANCE`, or the storage's
    epsilon when that is coarser (float16 data cannot sum to 1 more closely than 2**-10)."""
    return max(PROBABILITY_TOLERANCE, storage_eps)
