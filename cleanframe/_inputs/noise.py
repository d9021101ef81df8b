"""Label-noise simulation inputs: the label, the noise (a matrix or a fraction), the seed, and the
arguments of :func:`cleanframe.noise.noise_matrix_from_trace`.

Rules (each stated once, here): exactly one of ``noise_matrix=`` and ``frac=``; a noise matrix is
K×K for the K classes, finite, with entries in [0, 1] and columns that sum to 1 (within
:data:`~cleanframe._inputs.rules.PROBABILITY_TOLERANCE`) — ``T[s, y] = P(noisy = s | true = y)``;
``frac`` is a number in [0, 1]; at least two classes; seeds are non-negative integers; a trace
lies in the range the other arguments allow (``(1, K]`` for a valid matrix); ``py`` is one
probability per class summing to 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._engines import Engine
from ..errors import ValidationError
from .arguments import class_matrix
from .classes import ClassSet, resolve_labels
from .columns import check_result_columns
from .rules import MIN_CLASSES, PROBABILITY_TOLERANCE

__all__ = [
    "NoiseInputs",
    "resolve_noise",
    "check_seed",
    "check_noise_matrix",
    "check_prior",
    "TraceOptions",
    "trace_options",
    "found_matrix",
]


@dataclass(frozen=True)
class NoiseInputs:
    """One ``inject_label_noise`` call, checked."""

    codes: np.ndarray  # true labels as class codes
    classes: ClassSet
    noise_matrix: np.ndarray | None  # K×K, column-stochastic, class order (or None: frac)
    frac: float | None  # share of each class to flip (or None: noise_matrix)
    out: str  # the noisy label column
    flipped: str  # the flag column
    seed: int


def check_seed(seed: Any) -> int:
    """A seed is a non-negative integer (rule ``seed``): results are reproducible."""
    ok = isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_))
    if not ok or seed < 0:
        raise ValidationError(
            None, "seed", f"seed= must be a non-negative integer (results are seeded), not {seed!r}"
        )
    return int(seed)


def _number(value: Any, what: str) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    if not ok or not math.isfinite(float(value)):
        raise ValidationError(None, what, f"{what}= must be a finite number, not {value!r}")
    return float(value)


def _unit(value: Any, what: str) -> float:
    x = _number(value, what)
    if not 0.0 <= x <= 1.0:
        raise ValidationError(None, what, f"{what}= must lie in [0, 1], not {value!r}")
    return x


def check_noise_matrix(
    value: Any, classes: ClassSet | int, what: str = "noise_matrix"
) -> np.ndarray:
    """A K×K column-stochastic matrix (``T[s, y] = P(noisy = s | true = y)``), as float64.

    ``classes`` is the class set (a table with class-named columns is read in class order) or K.
    Rules: ``shape``, ``finite``, ``in_range`` ([0, 1]) and ``column_sums_to_1``.
    """
    k = classes if isinstance(classes, int) else len(classes)
    try:
        if isinstance(classes, ClassSet):
            value = class_matrix(value, classes, what)
        matrix = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(
            None, "shape", f"{what}= must be a {k}×{k} matrix of numbers, not {value!r}"
        ) from None
    if matrix.shape != (k, k):
        raise ValidationError(
            None,
            "shape",
            f"{what}= must be {k}×{k} (one row and one column per class, in class order), "
            f"not {matrix.shape}",
        )
    if not np.isfinite(matrix).all():
        raise ValidationError(None, "finite", f"{what}= holds NaN or infinite values")
    tol = PROBABILITY_TOLERANCE
    if (matrix < -tol).any() or (matrix > 1 + tol).any():
        raise ValidationError(None, "in_range", f"{what}= entries must lie in [0, 1]")
    sums = matrix.sum(axis=0)
    bad = np.flatnonzero(np.abs(sums - 1.0) > tol)
    if len(bad):
        j = int(bad[0])
        name = classes.names[j] if isinstance(classes, ClassSet) else j
        raise ValidationError(
            None,
            "column_sums_to_1",
            f"{what}= must be column-stochastic: column j holds P(noisy label | true label = "
            f"class j) and sums to 1; the column of class {name!r} sums to {sums[j]:.6g} "
            f"({len(bad)} column(s) off). A row-stochastic matrix is its transpose: pass "
            f"{what}.T",
        )
    return np.clip(matrix, 0.0, 1.0)


def resolve_noise(
    fr: Engine,
    *,
    label: str,
    noise_matrix: Any,
    frac: Any,
    classes: Sequence | None,
    seed: Any,
    out: str | None,
    flipped: str,
    overwrite: bool,
) -> NoiseInputs:
    """The label as codes, the noise matrix in class order and the result column names."""
    if (noise_matrix is None) == (frac is None):
        raise ValidationError(
            None,
            "spec",
            "pass exactly one of noise_matrix= (K×K, column-stochastic) and frac= (the share of "
            "each class's rows to flip, spread evenly over the other classes)",
        )
    seed = check_seed(seed)
    frac_value = None if frac is None else _unit(frac, "frac")
    if not isinstance(label, str):
        raise ValidationError(None, "spec", f"label= must be one column name, not {label!r}")
    name = f"noisy_{label}" if out is None else out
    if not isinstance(name, str) or not isinstance(flipped, str) or name == flipped:
        raise ValidationError(
            None, "spec", f"out= must be a column name other than {flipped!r}, not {name!r}"
        )
    check_result_columns(fr, [name, flipped], overwrite=overwrite)
    if name == label:
        raise ValidationError(
            label, "no_overwrite", "out= must not name the label column (the input is kept)"
        )
    codes, cs = resolve_labels(fr, label, classes=classes)
    if len(cs) < MIN_CLASSES:
        raise ValidationError(
            label,
            "at_least_2_classes",
            f"label noise needs at least {MIN_CLASSES} classes, found {list(cs.names)}; pass "
            f"classes=[...] to name the classes a label may flip to",
        )
    matrix = None if noise_matrix is None else check_noise_matrix(noise_matrix, cs)
    return NoiseInputs(codes, cs, matrix, frac_value, name, flipped, seed)


def check_prior(py: Any, k: int | None = None) -> np.ndarray:
    """``py``: one probability per class (K; any K >= 2 when ``k`` is None), finite,
    non-negative, summing to 1 (rule ``py``)."""
    try:
        prior = np.array(py, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(
            None, "py", f"py= must be a list of probabilities, not {py!r}"
        ) from None
    if k is None and prior.ndim == 1 and len(prior) >= MIN_CLASSES:
        k = len(prior)
    if prior.shape != (k,):
        raise ValidationError(
            None,
            "py",
            f"py= must hold one probability per class ({k or 'at least 2'}), not shape "
            f"{prior.shape}",
        )
    if not np.isfinite(prior).all() or (prior < 0).any():
        raise ValidationError(None, "py", "py= must be finite and non-negative")
    if abs(prior.sum() - 1.0) > PROBABILITY_TOLERANCE:
        raise ValidationError(None, "py", f"py= must sum to 1, not {prior.sum():.6g}")
    return prior


@dataclass(frozen=True)
class TraceOptions:
    """The checked arguments of ``noise_matrix_from_trace``."""

    num_classes: int
    trace: float
    py: np.ndarray | None
    valid_noise_matrix: bool
    max_trace_prob: float
    min_trace_prob: float
    max_noise_rate: float
    min_noise_rate: float
    frac_zero_noise_rates: float
    seed: int
    max_iter: int


def trace_options(
    K: Any,
    trace: Any,
    *,
    py: Any,
    valid_noise_matrix: Any,
    max_trace_prob: Any,
    min_trace_prob: Any,
    max_noise_rate: Any,
    min_noise_rate: Any,
    frac_zero_noise_rates: Any,
    seed: Any,
    max_iter: Any,
) -> TraceOptions:
    """Rules of ``noise_matrix_from_trace``: K an integer >= 2 (rule ``K``); bounds in [0, 1] with
    min <= max; ``trace`` within ``[K * min_trace_prob, K * max_trace_prob]`` and, for a valid
    matrix, above 1 (rule ``trace``); ``py`` required for a valid matrix when K > 2."""
    ok = isinstance(K, (int, np.integer)) and not isinstance(K, (bool, np.bool_))
    if not ok or K < MIN_CLASSES:
        raise ValidationError(None, "K", f"K= must be an integer of at least 2, not {K!r}")
    k = int(K)
    if not isinstance(valid_noise_matrix, (bool, np.bool_)):
        raise ValidationError(
            None, "valid_noise_matrix", "valid_noise_matrix= must be True or False"
        )
    valid = bool(valid_noise_matrix)
    bounds = {
        name: _unit(value, name)
        for name, value in (
            ("max_trace_prob", max_trace_prob),
            ("min_trace_prob", min_trace_prob),
            ("max_noise_rate", max_noise_rate),
            ("min_noise_rate", min_noise_rate),
            ("frac_zero_noise_rates", frac_zero_noise_rates),
        )
    }
    for low, high in (("min_trace_prob", "max_trace_prob"), ("min_noise_rate", "max_noise_rate")):
        if bounds[low] > bounds[high]:
            raise ValidationError(None, low, f"{low}= must not exceed {high}=")
    t = _number(trace, "trace")
    lo, hi = k * bounds["min_trace_prob"], k * bounds["max_trace_prob"]
    if valid and t <= 1.0:
        raise ValidationError(
            None,
            "trace",
            f"trace={trace!r}: a valid noise matrix (valid_noise_matrix=True) needs trace > 1 "
            f"(the diagonal must outweigh the noise); pass a trace in (1, {hi:g}] or "
            f"valid_noise_matrix=False",
        )
    if not lo <= t <= hi:
        raise ValidationError(
            None,
            "trace",
            f"trace={trace!r} is out of range: the diagonal's {k} entries lie in "
            f"[min_trace_prob, max_trace_prob], so the trace must lie in [{lo:g}, {hi:g}]",
        )
    prior = None
    if py is not None:
        prior = check_prior(py, k)
    elif valid and k > 2:
        raise ValidationError(
            None,
            "py",
            "py= (the prior of each true class) is required when valid_noise_matrix=True and "
            "K > 2; pass py= or valid_noise_matrix=False",
        )
    ok = isinstance(max_iter, (int, np.integer)) and not isinstance(max_iter, (bool, np.bool_))
    if not ok or max_iter < 1:
        raise ValidationError(
            None, "max_iter", f"max_iter= must be an integer of at least 1, not {max_iter!r}"
        )
    return TraceOptions(
        k,
        t,
        prior,
        valid,
        bounds["max_trace_prob"],
        bounds["min_trace_prob"],
        bounds["max_noise_rate"],
        bounds["min_noise_rate"],
        bounds["frac_zero_noise_rates"],
        check_seed(seed),
        int(max_iter),
    )


def found_matrix(matrix: np.ndarray | None, options: TraceOptions) -> np.ndarray:
    """The kernel's matrix, or an error when no matrix met the arguments within ``max_iter``
    attempts (rule ``max_iter``; the reference returns ``None`` there)."""
    if matrix is not None:
        return matrix
    raise ValidationError(
        None,
        "max_iter",
        f"no {options.num_classes}×{options.num_classes} noise matrix with trace "
        f"{options.trace:g} met the bounds"
        + (" and the validity rule for py" if options.valid_noise_matrix else "")
        + f" in max_iter={options.max_iter} attempts; raise max_iter, the trace or the bounds, "
        "or pass valid_noise_matrix=False",
    )
