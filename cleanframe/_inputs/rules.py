"""The tolerances of the input rules, stated once (the numpy gate and the pandera schemas use them)."""

from __future__ import annotations

__all__ = ["PROBABILITY_TOLERANCE", "RENORMALIZE_ABOVE"]

#: Largest accepted distance of a probability from [0, 1], and of a row sum from 1.
PROBABILITY_TOLERANCE = 1e-4
#: Rows whose sum differs from 1 by more than this are rescaled (in a copy).
RENORMALIZE_ABOVE = 1e-5
