"""Synthetic label noise: noise matrices and noisy labels drawn from them.

A *noise matrix* ``T`` is K×K and column-stochastic: ``T[s, y] = P(noisy label = s | true label
= y)``, each column summing to 1 (the orientation of cleanlab 2.9's
``benchmarking.noise_generation``).

* :func:`flip_counts` — how many rows of each true class become each other class: in class ``y``
  (``n_y`` rows), exactly ``floor(T[s, y] * n_y)`` rows are relabelled ``s`` for every ``s != y``,
  as the reference's ``generate_noisy_labels`` does.
* :func:`noisy_labels` — which rows those are: a seeded uniform random choice within each class
  (:func:`relabel`, which also takes the counts of :func:`fraction_flip_counts`: a share of
  every class, rounded per class, spread evenly over the other classes).
* :func:`noise_matrix_is_valid` — the reference's learnability rule: with prior ``py``,
  ``P(noisy = k) * P(true = k) < P(noisy = k, true = k)`` for every class (and the joint sums to 1).
* :func:`noise_matrix_from_trace` — a random noise matrix with a given trace (sum of the
  diagonal), bounds on the diagonal and off-diagonal entries, a share of zero noise rates and,
  optionally, validity for a prior. The semantics follow the reference's
  ``generate_noise_matrix_from_trace``; the random stream is numpy's ``Generator`` (seeded,
  reproducible), not the reference's legacy global stream, so the matrices differ from cleanlab's
  for the same seed.

Labels are class codes ``0..K-1``; inputs are never modified.
"""

from __future__ import annotations

import numpy as np

from .._common import FLOATING_POINT_COMPARISON

__all__ = [
    "flip_counts",
    "fraction_flip_counts",
    "noisy_labels",
    "relabel",
    "noise_matrix_is_valid",
    "noise_matrix_from_trace",
    "probabilities_summing_to",
    "symmetric_noise_matrix",
]


def symmetric_noise_matrix(num_classes: int, frac: float) -> np.ndarray:
    """``1 - frac`` on the diagonal, ``frac / (K - 1)`` elsewhere: every class loses ``frac`` of
    its rows, spread evenly over the other classes.

    Examples
    --------
    >>> symmetric_noise_matrix(3, 0.2)
    array([[0.8, 0.1, 0.1],
           [0.1, 0.8, 0.1],
           [0.1, 0.1, 0.8]])
    """
    k = int(num_classes)
    out = np.full((k, k), frac / (k - 1) if k > 1 else 0.0)
    np.fill_diagonal(out, 1.0 - frac)
    return out


def flip_counts(noise_matrix: np.ndarray, class_counts: np.ndarray) -> np.ndarray:
    """Rows of true class ``y`` relabelled ``s`` (entry ``[s, y]``; the diagonal is 0).

    ``floor(T[s, y] * n_y)``, computed as ``T * (n / N) * N`` in the reference's order of
    operations so that the floors agree with it to the last row.

    Examples
    --------
    >>> flip_counts(np.array([[0.8, 0.3], [0.2, 0.7]]), np.array([10, 5]))
    array([[0, 1],
           [2, 0]])
    """
    counts = np.asarray(class_counts, dtype=np.int64)
    n = int(counts.sum())
    if n == 0:
        return np.zeros(np.shape(noise_matrix), dtype=np.int64)
    py = counts / float(n)
    out = (np.asarray(noise_matrix, dtype=np.float64) * py * n).astype(np.int64)
    np.fill_diagonal(out, 0)
    return out


def noisy_labels(
    labels: np.ndarray, noise_matrix: np.ndarray, *, rng: np.random.Generator
) -> np.ndarray:
    """Noisy class codes from true codes ``labels`` and a noise matrix (K×K, column-stochastic).

    In each true class ``y``, :func:`flip_counts` rows are relabelled — to class 0 first, then 1,
    ... — and which rows is a uniform random choice (without replacement) among the rows of that
    class. A class whose flips would exceed its rows (a matrix whose column sums above 1) keeps
    its labels, as the reference does. Vectorised: one random key per row and one sort.

    Examples
    --------
    >>> y = np.array([0] * 10 + [1] * 10)
    >>> T = np.array([[0.8, 0.0], [0.2, 1.0]])
    >>> noisy = noisy_labels(y, T, rng=np.random.default_rng(0))
    >>> int((noisy != y).sum()), int((noisy[:10] == 1).sum())
    (2, 2)
    """
    labels = np.asarray(labels, dtype=np.int64)
    k = len(noise_matrix)
    counts = np.bincount(labels, minlength=k)[:k]
    return relabel(labels, flip_counts(noise_matrix, counts), rng=rng)


def fraction_flip_counts(
    class_counts: np.ndarray, frac: float, *, rng: np.random.Generator
) -> np.ndarray:
    """Flip counts (entry ``[s, y]``) for flipping a share ``frac`` of every class: exactly
    ``floor(frac * n_y + 0.5)`` rows of class ``y``, spread over the other classes as evenly as
    possible (counts differ by at most one; which classes get one more is a random choice).

    Examples
    --------
    >>> fraction_flip_counts(np.array([10, 6, 0]), 0.5, rng=np.random.default_rng(0)).sum(axis=0)
    array([5, 3, 0])
    """
    counts = np.asarray(class_counts, dtype=np.int64)
    k = len(counts)
    flips = np.zeros((k, k), dtype=np.int64)
    if k < 2:
        return flips
    total = np.floor(frac * counts + 0.5).astype(np.int64)
    for y in np.flatnonzero(total):
        others = np.delete(np.arange(k), y)
        q, r = divmod(int(total[y]), k - 1)
        flips[others, y] = q
        flips[rng.choice(others, size=r, replace=False), y] += 1
    return flips


def relabel(labels: np.ndarray, flips: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """Relabel ``flips[s, y]`` rows of each true class ``y`` as ``s`` (the diagonal is ignored),
    the rows chosen uniformly at random within the class; a class whose flips exceed its rows
    keeps its labels. ``labels`` is not modified.

    Examples
    --------
    >>> relabel(np.array([0, 0, 0, 1]), np.array([[0, 0], [2, 0]]), rng=np.random.default_rng(0))
    array([0, 1, 1, 1])
    """
    labels = np.asarray(labels, dtype=np.int64)
    flips = np.array(flips, dtype=np.int64)
    np.fill_diagonal(flips, 0)
    k = len(flips)
    counts = np.bincount(labels, minlength=k)[:k]
    out = labels.copy()
    if not flips.any():
        return out
    keys = rng.random(len(labels))
    order = np.lexsort((keys, labels))  # rows grouped by class, random order within a class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    positions, values = [], []
    per_class = flips.sum(axis=0)
    for y in np.flatnonzero(per_class):
        if per_class[y] > counts[y]:  # cannot happen for a column-stochastic matrix
            continue
        positions.append(starts[y] + np.arange(per_class[y]))
        values.append(np.repeat(np.arange(k), flips[:, y]))
    if positions:
        out[order[np.concatenate(positions)]] = np.concatenate(values)
    return out


def noise_matrix_is_valid(noise_matrix: np.ndarray, py: np.ndarray) -> bool:
    """Whether learning with this noise is possible for prior ``py`` (the reference's rule).

    The joint ``T * py`` sums to 1 (within 1e-6) and, for every class ``k``,
    ``P(noisy = k) * py[k] < T[k, k] * py[k]``: the noisy label ``k`` is more likely on true
    ``k`` than by chance.

    Examples
    --------
    >>> py = np.array([0.5, 0.5])
    >>> noise_matrix_is_valid(np.array([[0.7, 0.2], [0.3, 0.8]]), py)
    True
    >>> noise_matrix_is_valid(np.array([[0.4, 0.7], [0.6, 0.3]]), py)
    False
    """
    T = np.asarray(noise_matrix, dtype=np.float64)
    py = np.asarray(py, dtype=np.float64)
    joint = T * py
    if not abs(joint.sum() - 1.0) < FLOATING_POINT_COMPARISON:
        return False
    ps = T @ py
    return bool(np.all(ps * py < np.diag(joint)))


def probabilities_summing_to(
    n: int,
    m: float,
    *,
    rng: np.random.Generator,
    low: float = 0.0,
    high: float = 1.0,
    tries: int = 100,
) -> np.ndarray | None:
    """``n`` random numbers in ``[low, high]`` that sum to ``m`` (``None`` when impossible).

    Uniform on that set (a flat Dirichlet scaled to ``m - n * low`` above ``low``, redrawn while
    an entry exceeds ``high``); after ``tries`` draws, the excess above ``high`` of the last draw
    is poured into the entries with room, in proportion to their room (still in the set, no
    longer exactly uniform).

    Examples
    --------
    >>> p = probabilities_summing_to(4, 1.5, rng=np.random.default_rng(0), high=0.5)
    >>> bool(np.isclose(p.sum(), 1.5)), bool(p.max() <= 0.5)
    (True, True)
    """
    if n == 0:
        return np.zeros(0) if abs(m) <= FLOATING_POINT_COMPARISON else None
    eps = FLOATING_POINT_COMPARISON
    if n * low > m + eps or n * high < m - eps or low > high:
        return None
    free = max(m - n * low, 0.0)
    x = low + rng.dirichlet(np.ones(n)) * free
    for _ in range(tries - 1):
        if x.max() <= high + eps:
            return x
        x = low + rng.dirichlet(np.ones(n)) * free
    while x.max() > high + eps:  # pour the excess into the entries with room
        over = x > high
        excess = float((x[over] - high).sum())
        x[over] = high
        room = np.where(over, 0.0, high - x)
        x += excess * room / room.sum()
    return x


def _zero_rates_per_column(
    num_zero: int, num_columns: int, per_column: int, rng: np.random.Generator
) -> np.ndarray:
    """``num_zero`` zero noise rates spread at random over ``num_columns`` columns, at most
    ``per_column`` each (capped at what fits): a uniform choice of slots."""
    slots = num_columns * per_column
    num_zero = min(num_zero, slots)
    if num_zero <= 0:
        return np.zeros(num_columns, dtype=np.int64)
    chosen = rng.choice(slots, size=num_zero, replace=False)
    return np.bincount(chosen // per_column, minlength=num_columns)


def noise_matrix_from_trace(
    num_classes: int,
    trace: float,
    *,
    rng: np.random.Generator,
    max_trace_prob: float = 1.0,
    min_trace_prob: float = 1e-5,
    max_noise_rate: float = 1 - 1e-5,
    min_noise_rate: float = 0.0,
    valid_noise_matrix: bool = True,
    py: np.ndarray | None = None,
    frac_zero_noise_rates: float = 0.0,
    max_iter: int = 10000,
) -> np.ndarray | None:
    """A random K×K column-stochastic noise matrix whose diagonal sums to ``trace``.

    Each attempt draws the diagonal (``K`` values in ``[min_trace_prob, max_trace_prob]``
    summing to ``trace``), then per column that is not ``[.., 1, ..]`` a number of zero noise
    rates (``int(K(K-1) * frac_zero_noise_rates)`` in all, less the zeros of the columns whose
    diagonal is 1, at most ``K - 2`` per column), and the column's other noise rates (in
    ``[min_noise_rate, max_noise_rate]``, summing to one minus the diagonal) in random rows.
    With ``valid_noise_matrix`` an attempt is kept only if :func:`noise_matrix_is_valid` for
    ``py`` (K = 2: any trace > 1 is valid, ``py`` is not needed). ``None`` after ``max_iter``
    attempts. K = 2 with ``frac_zero_noise_rates >= 0.5``: one column is ``[1, 0]`` and the other
    holds ``trace - 1`` on the diagonal, as the reference.

    Examples
    --------
    >>> T = noise_matrix_from_trace(3, 2.4, py=np.array([0.3, 0.3, 0.4]),
    ...                             rng=np.random.default_rng(1))
    >>> bool(np.isclose(np.trace(T), 2.4)), bool(np.allclose(T.sum(axis=0), 1))
    (True, True)
    """
    k = int(num_classes)
    if k == 2 and frac_zero_noise_rates >= 0.5:
        d = np.array([1.0, trace - 1.0])
        if rng.random() < 0.5:
            d = d[::-1]
        return np.array([[d[0], 1 - d[1]], [1 - d[0], d[1]]])
    check_valid = valid_noise_matrix and k > 2
    for _ in range(max(int(max_iter), 0)):
        diag = probabilities_summing_to(k, trace, rng=rng, low=min_trace_prob, high=max_trace_prob)
        if diag is None:
            return None
        T = np.zeros((k, k))
        np.fill_diagonal(T, diag)
        noisy = np.flatnonzero(diag != 1.0)
        num_zero = int(k * (k - 1) * frac_zero_noise_rates) - (k - len(noisy)) * (k - 1)
        zeros = _zero_rates_per_column(max(num_zero, 0), len(noisy), max(k - 2, 0), rng)
        ok = True
        for col, z in zip(noisy, zeros):
            num_rates = k - 1 - int(z)
            rates = probabilities_summing_to(
                num_rates, 1.0 - diag[col], rng=rng, low=min_noise_rate, high=max_noise_rate
            )
            if rates is None:  # these bounds cannot hold for this diagonal: another attempt
                ok = False
                break
            others = np.delete(np.arange(k), col)
            T[rng.choice(others, size=num_rates, replace=False), col] = rates
        if not ok:
            continue
        if not check_valid or noise_matrix_is_valid(T, np.asarray(py, dtype=np.float64)):
            return T
    return None
