"""Synthetic label noise, for testing a data-cleaning pipeline on labels whose errors are known.

* :func:`inject_label_noise` — the frame plus a noisy copy of its label column and an
  ``is_flipped`` flag, from a noise matrix or a share of every class to flip;
* :func:`noise_matrix_from_trace` — a random noise matrix with a given trace (sum of the
  diagonal), valid for learning under a class prior;
* :func:`noise_matrix_is_valid` — whether a noise matrix is learnable under a prior.

A noise matrix ``T`` is K×K and **column-stochastic**: ``T[s, y] = P(noisy label = s | true
label = y)``, each column summing to 1, rows and columns in class order (the orientation of
cleanlab 2.9's ``benchmarking.noise_generation``). The semantics are the reference's
(``generate_noisy_labels``: exactly ``floor(T[s, y] * n_y)`` rows of each true class ``y`` become
``s``; ``generate_noise_matrix_from_trace``: its arguments and validity rule); the random numbers
are numpy's seeded ``Generator``, so results are reproducible by seed but differ from cleanlab's
for the same seed (cleanlab draws from numpy's legacy global stream).

Engine support: eager pandas and polars; a polars LazyFrame is collected once (the label column)
and the result comes back as a LazyFrame. The input frame is never modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._engines import adapt
from ._inputs.noise import (
    check_noise_matrix,
    check_prior,
    found_matrix,
    resolve_noise,
    trace_options,
)
from ._typing import FrameT
from .scoring.classification import noise as _noise

__all__ = ["inject_label_noise", "noise_matrix_from_trace", "noise_matrix_is_valid"]

FLIPPED = "is_flipped"


def inject_label_noise(
    df: FrameT,
    *,
    label: str,
    noise_matrix: Any = None,
    frac: float | None = None,
    classes: Sequence | None = None,
    seed: int = 0,
    out: str | None = None,
    overwrite: bool = False,
) -> FrameT:
    """Add a noisy copy of the label column and a flag of the rows whose label changed.

    With ``noise_matrix=T``, in each true class ``y`` (``n_y`` rows) exactly
    ``floor(T[s, y] * n_y)`` rows are relabelled ``s`` for every other class ``s`` — the counts
    of cleanlab's ``generate_noisy_labels`` — and which rows is a seeded uniform random choice
    within the class. With ``frac``, every class loses that share of its rows (rounded per
    class). The same seed gives the same noisy labels on every frame type; cleanlab's own random
    stream is not reproduced.

    Runs on eager pandas and polars frames; a polars LazyFrame is collected once (the label
    column) and the result is a LazyFrame. Not for streaming or Dask (the choice of rows within
    a class needs the whole class).

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        The frame. Not modified.
    label : str
        The (true) label column. Strings, integers, booleans or categoricals; no nulls.
    noise_matrix : array-like or frame, optional
        K×K, column-stochastic: ``noise_matrix[s, y] = P(noisy = s | true = y)``, rows and
        columns in class order (see ``classes``); a table whose columns are named by the
        classes is read in class order. Give this or ``frac``.
    frac : float in [0, 1], optional
        The share of each class's rows to flip: exactly ``floor(frac * n_y + 0.5)`` rows of
        each class ``y``, spread over the other classes as evenly as possible (which classes get
        one more row is a seeded random choice). Unlike the symmetric noise matrix (``1 - frac``
        on the diagonal, ``frac / (K - 1)`` elsewhere, whose per-class floors can flip nothing in
        a small class), every class loses its share.
    classes : sequence, optional
        Class order of ``noise_matrix`` (and the classes a label may flip to, so a class without
        rows can be named). Default: the label column's category order, else its sorted values.
    seed : int
        Seed of the random choice of rows.
    out : str, optional
        Name of the noisy label column; default ``"noisy_<label>"``.
    overwrite : bool
        Replace result columns that already exist in ``df``.

    Returns
    -------
    frame of the caller's type
        ``df`` (same rows, order and index) plus ``noisy_<label>`` (or ``out``), in the label
        column's own values and dtype, and ``is_flipped`` (bool: the noisy label differs).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> df = pd.DataFrame({"y": ["cat"] * 5 + ["dog"] * 5})
    >>> T = [[0.8, 0.4],   # P(noisy = cat | true = cat), P(noisy = cat | true = dog)
    ...      [0.2, 0.6]]   # P(noisy = dog | true = cat), P(noisy = dog | true = dog)
    >>> out = df.cl.inject_label_noise(label="y", noise_matrix=T, seed=0)
    >>> pd.crosstab(out["noisy_y"], out["y"])
    y        cat  dog
    noisy_y
    cat        4    2
    dog        1    3
    >>> int(out["is_flipped"].sum())
    3
    """
    fr = adapt(df)
    inputs = resolve_noise(
        fr,
        label=label,
        noise_matrix=noise_matrix,
        frac=frac,
        classes=classes,
        seed=seed,
        out=out,
        flipped=FLIPPED,
        overwrite=overwrite,
    )
    rng = np.random.default_rng(inputs.seed)
    if inputs.noise_matrix is not None:
        noisy = _noise.noisy_labels(inputs.codes, inputs.noise_matrix, rng=rng)
    else:
        assert inputs.frac is not None  # the input layer requires one of the two
        counts = np.bincount(inputs.codes, minlength=len(inputs.classes))
        flips = _noise.fraction_flip_counts(counts, inputs.frac, rng=rng)
        noisy = _noise.relabel(inputs.codes, flips, rng=rng)
    values = fr.class_values(label, list(inputs.classes.values), noisy)
    return fr.attach(
        {inputs.out: values, inputs.flipped: noisy != inputs.codes}, overwrite=overwrite
    )


def noise_matrix_from_trace(
    K: int,
    trace: float,
    *,
    py: Any = None,
    valid_noise_matrix: bool = True,
    max_trace_prob: float = 1.0,
    min_trace_prob: float = 1e-5,
    max_noise_rate: float = 1 - 1e-5,
    min_noise_rate: float = 0.0,
    frac_zero_noise_rates: float = 0.0,
    seed: int = 0,
    max_iter: int = 10000,
) -> np.ndarray:
    """A random K×K noise matrix whose diagonal sums to ``trace``.

    The arguments and rules of cleanlab's ``generate_noise_matrix_from_trace``: the diagonal's
    entries lie in ``[min_trace_prob, max_trace_prob]``, the noise rates (off-diagonal) in
    ``[min_noise_rate, max_noise_rate]``, a share ``frac_zero_noise_rates`` of the K(K-1) noise
    rates is zero (at least one noise rate per noisy column stays non-zero), and with
    ``valid_noise_matrix=True`` the matrix is learnable under the prior ``py`` (see
    :func:`noise_matrix_is_valid`; every 2×2 matrix with trace > 1 is). Random draws that miss the
    rules are retried up to ``max_iter`` times. Differences from the reference: its random stream
    (matrices are reproducible by ``seed`` but not cleanlab's for the same seed); the bounds also
    apply when K = 2; a draw whose noise-rate bounds cannot hold is retried instead of raising;
    and no matrix within ``max_iter`` attempts raises an error instead of returning ``None``.

    Parameters
    ----------
    K : int
        Number of classes (at least 2).
    trace : float
        Sum of the diagonal: the expected share of labels kept, times K. In ``(1, K]`` for a
        valid matrix.
    py : array-like of K floats, optional
        Prior of each true class (sums to 1). Required when ``valid_noise_matrix`` and K > 2;
        e.g. the label column's class shares.
    valid_noise_matrix : bool
        Only return a matrix that is learnable under ``py``.
    max_trace_prob, min_trace_prob : float
        Bounds of each diagonal entry.
    max_noise_rate, min_noise_rate : float
        Bounds of each non-zero noise rate.
    frac_zero_noise_rates : float
        Share of the noise rates that are zero.
    seed : int
        Seed of the random draws.
    max_iter : int
        Attempts before giving up.

    Returns
    -------
    numpy.ndarray
        K×K, column-stochastic: entry ``[s, y] = P(noisy = s | true = y)``; pass it to
        :func:`inject_label_noise` as ``noise_matrix=``.

    Examples
    --------
    >>> import numpy as np, cleanframe
    >>> T = cleanframe.noise_matrix_from_trace(3, 2.4, py=[0.5, 0.3, 0.2], seed=0)
    >>> T.shape, round(float(np.trace(T)), 6), np.allclose(T.sum(axis=0), 1)
    ((3, 3), 2.4, True)
    >>> cleanframe.noise_matrix_is_valid(T, py=[0.5, 0.3, 0.2])
    True
    """
    options = trace_options(
        K,
        trace,
        py=py,
        valid_noise_matrix=valid_noise_matrix,
        max_trace_prob=max_trace_prob,
        min_trace_prob=min_trace_prob,
        max_noise_rate=max_noise_rate,
        min_noise_rate=min_noise_rate,
        frac_zero_noise_rates=frac_zero_noise_rates,
        seed=seed,
        max_iter=max_iter,
    )
    matrix = _noise.noise_matrix_from_trace(
        options.num_classes,
        options.trace,
        rng=np.random.default_rng(options.seed),
        max_trace_prob=options.max_trace_prob,
        min_trace_prob=options.min_trace_prob,
        max_noise_rate=options.max_noise_rate,
        min_noise_rate=options.min_noise_rate,
        valid_noise_matrix=options.valid_noise_matrix,
        py=options.py,
        frac_zero_noise_rates=options.frac_zero_noise_rates,
        max_iter=options.max_iter,
    )
    return found_matrix(matrix, options)


def noise_matrix_is_valid(noise_matrix: Any, py: Any) -> bool:
    """Whether a noise matrix is learnable under the class prior ``py`` (cleanlab's rule).

    For every class ``k``, a noisy label ``k`` is more frequent on true ``k`` than by chance:
    ``P(noisy = k) * P(true = k) < P(noisy = k, true = k)``.

    Parameters
    ----------
    noise_matrix : array-like
        K×K, column-stochastic (``[s, y] = P(noisy = s | true = y)``).
    py : array-like of K floats
        Prior of each true class (sums to 1).

    Returns
    -------
    bool

    Examples
    --------
    >>> import cleanframe
    >>> cleanframe.noise_matrix_is_valid([[0.7, 0.2], [0.3, 0.8]], py=[0.5, 0.5])
    True
    >>> cleanframe.noise_matrix_is_valid([[0.4, 0.7], [0.6, 0.3]], py=[0.5, 0.5])
    False
    """
    prior = check_prior(py)
    matrix = check_noise_matrix(noise_matrix, len(prior))
    return _noise.noise_matrix_is_valid(matrix, prior)
