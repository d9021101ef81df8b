"""Inter-annotator agreement: Krippendorff's alpha, Fleiss' and Cohen's kappa, agreement with a
consensus — with bootstrap confidence intervals over items.

Every metric here is a ratio of sums over items, so one bootstrap resample is a vector of item
weights (how often each item was drawn) and the metric of a resample is the same formula with
weighted sums. Resamples are processed as a (resamples × items) weight matrix in blocks: a few
matrix products per block instead of a Python loop per resample.

Annotations are :class:`~cleanframe.scoring.multiannotator.crowdlab.Annotations` (item,
annotator and class codes); missing annotations are simply absent. Definitions (nominal data):

* **Krippendorff's alpha** — ``1 - (n - 1) * D_o / sum_{c != k} n_c n_k`` over the items with two
  or more annotations (*pairable* values): ``D_o`` is the number of disagreeing ordered value
  pairs within items, each item's pairs weighted ``1 / (m_u - 1)``; ``n_c`` the pairable values of
  class ``c``; ``n`` all pairable values. Equal to the ``krippendorff`` package's
  ``alpha(level_of_measurement="nominal")``.
* **Fleiss' kappa** — ``(P - P_e) / (1 - P_e)``: ``P`` the mean over items (two or more
  annotations) of the share of agreeing annotator pairs, ``P_e = sum_c p_c^2`` with ``p_c`` the
  share of those items' annotations in class ``c``. With the same number of annotators on every
  item this is ``statsmodels.stats.inter_rater.fleiss_kappa``; with missing annotations it is the
  usual generalisation to a varying number of raters per item.
* **Observed agreement** — ``P`` above.
* **Cohen's kappa** — per pair of annotators, on the items both labelled:
  ``(p_o - p_e) / (1 - p_e)``; equal to ``sklearn.metrics.cohen_kappa_score``. Light's kappa is
  the mean over the pairs where it is defined.
* **Agreement with the consensus** — per annotator, the share of their labels equal to the
  consensus label, over the items that have two or more annotations (an item labelled once has
  its only label as consensus). The consensus is held fixed in the bootstrap.

Undefined values (one class only, no shared items) are NaN; a confidence interval is the
percentile interval of the resamples where the value is defined.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .crowdlab import Annotations

__all__ = [
    "AgreementTable",
    "agreement_table",
    "bootstrap_weights",
    "cohen_kappa",
    "consensus_agreement",
    "fleiss_kappa",
    "krippendorff_alpha",
    "observed_agreement",
]

#: Largest number of weight-matrix cells in one bootstrap block (resamples × items).
BLOCK_CELLS = 1 << 21


def bootstrap_weights(
    num_items: int, num_resamples: int, rng: np.random.Generator, *, by_item: bool = False
) -> Iterator[np.ndarray]:
    """Blocks of bootstrap item weights: float arrays (b, num_items) whose rows count how often
    each item is drawn in ``num_items`` draws with replacement (each row sums to ``num_items``);
    ``by_item=True``: the same weights transposed, (num_items, b), C-ordered (for products with
    item-by-anything matrices). The block size depends only on ``num_items``, so a seed gives
    the same resamples always."""
    if num_items == 0:
        return
    block = max(1, BLOCK_CELLS // num_items)
    done = 0
    while done < num_resamples:
        b = min(block, num_resamples - done)
        draws = rng.integers(0, num_items, size=(b, num_items))
        if by_item:
            draws *= b
            draws += np.arange(b)[:, None]
            shape = (num_items, b)
        else:
            draws += np.arange(b)[:, None] * num_items
            shape = (b, num_items)
        w = np.bincount(draws.ravel(), minlength=b * num_items).reshape(shape)
        yield w.astype(np.float64)
        done += b


def _ones(n: int) -> np.ndarray:
    return np.ones((1, n))


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(den > 0, out, np.nan)


@dataclass(frozen=True)
class _Pairable:
    """The items with two or more annotations and their per-item sums."""

    items: np.ndarray  # item codes
    votes: np.ndarray  # (P, K) votes per class
    m: np.ndarray  # (P,) annotations
    same_pairs: np.ndarray  # (P,) ordered pairs of annotations with equal labels

    @classmethod
    def of(cls, votes: np.ndarray) -> _Pairable:
        votes = np.asarray(votes, dtype=np.float64)
        m = votes.sum(axis=1)
        items = np.flatnonzero(m >= 2)
        v, mm = votes[items], m[items]
        return cls(items, v, mm, (v * v).sum(axis=1) - mm)


def _weights(p: _Pairable, num_items: int, weights: np.ndarray | None) -> np.ndarray:
    if weights is None:
        return np.ones((1, len(p.items)))
    return np.asarray(weights, dtype=np.float64)[:, p.items]


def _alpha(p: _Pairable, w: np.ndarray) -> np.ndarray:
    n = w @ p.m
    agree = w @ (p.same_pairs / (p.m - 1))  # sum over items of o_cc
    n_c = w @ p.votes
    expected = n * n - (n_c * n_c).sum(axis=1)  # sum_{c != k} n_c n_k
    return 1.0 - _divide((n - 1.0) * (n - agree), expected)


def krippendorff_alpha(votes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Krippendorff's alpha (nominal) from per-item vote counts (N, K), for each row of item
    weights (b, N) (default: one row of ones). Returns shape (b,).

    Examples
    --------
    >>> votes = np.array([[2, 0], [0, 2], [1, 1], [3, 0]])
    >>> krippendorff_alpha(votes).round(4)
    array([0.5556])
    """
    p = _Pairable.of(votes)
    return _alpha(p, _weights(p, len(votes), weights))


def _fleiss_parts(p: _Pairable, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    share = p.same_pairs / (p.m * (p.m - 1))  # per item: share of agreeing annotator pairs
    observed = _divide(w @ share, w.sum(axis=1))
    p_c = _divide(w @ p.votes, (w @ p.m)[:, None])
    return observed, (p_c * p_c).sum(axis=1)


def _fleiss(p: _Pairable, w: np.ndarray) -> np.ndarray:
    observed, chance = _fleiss_parts(p, w)
    return _divide(observed - chance, 1.0 - chance)


def fleiss_kappa(votes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Fleiss' kappa from per-item vote counts (N, K) for each row of item weights (b, N).

    Examples
    --------
    >>> votes = np.array([[3, 0], [0, 3], [2, 1], [3, 0]])
    >>> fleiss_kappa(votes).round(4)
    array([0.625])
    """
    p = _Pairable.of(votes)
    return _fleiss(p, _weights(p, len(votes), weights))


def observed_agreement(votes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean share of agreeing annotator pairs per item (items with two or more annotations).

    Examples
    --------
    >>> observed_agreement(np.array([[3, 0], [2, 1]])).round(4)
    array([0.6667])
    """
    p = _Pairable.of(votes)
    return _fleiss_parts(p, _weights(p, len(votes), weights))[0]


def _kappa_from_confusion(c: np.ndarray, k: int) -> np.ndarray:
    """Cohen's kappa of confusion counts (..., K*K) (rows: the first annotator's class)."""
    c = c.reshape(*c.shape[:-1], k, k)
    total = c.sum(axis=(-2, -1))
    po = _divide(np.trace(c, axis1=-2, axis2=-1), total)
    pe = _divide((c.sum(axis=-1) * c.sum(axis=-2)).sum(axis=-1), total * total)
    return _divide(po - pe, 1.0 - pe)


def cohen_kappa(
    first: np.ndarray, second: np.ndarray, num_classes: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Cohen's kappa of two annotators' class codes on the same items, for each row of item
    weights (b, n). Returns shape (b,).

    Examples
    --------
    >>> cohen_kappa(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 2]), 3).round(4)
    array([0.6875])
    """
    k = int(num_classes)
    code = np.asarray(first, dtype=np.int64) * k + np.asarray(second, dtype=np.int64)
    if weights is None:
        return _kappa_from_confusion(np.bincount(code, minlength=k * k)[None, :].astype(float), k)
    return _kappa_from_confusion(_grouped_sums(np.asarray(weights, float), code, k * k), k)


def _grouped_sums(w: np.ndarray, code: np.ndarray, size: int) -> np.ndarray:
    """``out[:, g] = w[:, code == g].sum(axis=1)`` for each group ``g < size`` (one pass)."""
    out = np.zeros((len(w), size))
    if not len(code):
        return out
    order = np.argsort(code, kind="stable")
    groups, starts = np.unique(code[order], return_index=True)
    out[:, groups] = np.add.reduceat(w[:, order], starts, axis=1)
    return out


def consensus_agreement(
    ann: Annotations, consensus: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per annotator: the share of their labels equal to ``consensus`` over items with two or
    more annotations, for each row of item weights (b, N) → (b, M); and their item counts (M,).

    Examples
    --------
    >>> ann = Annotations.from_coo([0, 0, 1, 1, 2], [0, 1, 0, 1, 0], [1, 1, 0, 1, 1])
    >>> share, n = consensus_agreement(ann, np.array([1, 0, 1]))
    >>> share.round(2), n
    (array([[1. , 0.5]]), array([2, 2]))
    """
    hits, seen, counts = _consensus_incidence(ann, consensus)
    wt = np.ones((ann.num_items, 1)) if weights is None else np.asarray(weights, float).T
    return _divide(hits @ wt, seen @ wt).T, counts


def _consensus_incidence(ann: Annotations, consensus: np.ndarray):
    """Sparse (annotators, items) matrices of the labels equal to the consensus and of all
    labels, on items with two or more annotations; and each annotator's number of such items."""
    from scipy import sparse

    keep = ann.num_annotations[ann.item] >= 2
    item, who = ann.item[keep], ann.annotator[keep]
    agree = (ann.label[keep] == consensus[item]).astype(np.float64)
    shape = (ann.num_annotators, ann.num_items)
    hits = sparse.csr_matrix((agree, (who, item)), shape=shape)
    seen = sparse.csr_matrix((np.ones(len(item)), (who, item)), shape=shape)
    return hits, seen, np.bincount(who, minlength=ann.num_annotators)


@dataclass(frozen=True)
class AgreementTable:
    """One row per metric value: ``metric`` names, annotator codes (-1: none), the value, the
    confidence interval and the number of items it was computed on."""

    metric: list
    annotator: np.ndarray
    other: np.ndarray
    value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    num_items: np.ndarray


def _pair_incidence(ann: Annotations):
    """Every pair of annotations of the same item, as annotator pairs ``a < b`` with shared
    items: ``([(a, b, shared item count)], incidence)``; the
    incidence is sparse (pairs * K * K, items), one entry per shared item at the cell of the
    two labels, so that ``incidence @ weights`` gives every pair's weighted confusion counts."""
    from scipy import sparse

    k, m = ann.num_classes, ann.num_annotators
    item, who, label = ann.item, ann.annotator, ann.label  # sorted by (item, annotator)
    first_parts, second_parts = [], []
    d = 1
    while d < len(item):  # annotation p and p + d of the same item (a < b: sorted)
        same = np.flatnonzero(item[d:] == item[:-d])
        if not len(same):
            break
        first_parts.append(same)
        second_parts.append(same + d)
        d += 1
    first = np.concatenate(first_parts or [np.zeros(0, np.int64)])
    second = np.concatenate(second_parts or [np.zeros(0, np.int64)])
    key = who[first] * m + who[second]
    keys, pair_of, counts = np.unique(key, return_inverse=True, return_counts=True)
    pairs = [(int(c // m), int(c % m), int(n)) for c, n in zip(keys, counts)]
    rows = pair_of * k * k + label[first] * k + label[second]
    incidence = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, item[first])), shape=(len(pairs) * k * k, ann.num_items)
    )
    return pairs, incidence


def agreement_table(
    ann: Annotations,
    consensus: np.ndarray,
    *,
    num_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> AgreementTable:
    """Every metric of this module on ``ann``, with percentile bootstrap intervals over items.

    Rows: ``krippendorff_alpha``, ``fleiss_kappa``, ``observed_agreement``, then
    ``cohen_kappa`` for each pair of annotators with shared items (annotator codes in ``annotator``
    and ``other``), ``mean_cohen_kappa`` (Light's kappa) when there is more than one pair, and
    ``agreement_with_consensus`` per annotator with items shared with others. All metrics are
    computed on the same resamples. ``num_resamples=0``: no intervals (NaN).

    Examples
    --------
    >>> ann = Annotations.from_coo([0, 0, 1, 1, 2, 2, 3, 3], [0, 1] * 4, [0, 0, 1, 1, 0, 1, 1, 1])
    >>> t = agreement_table(ann, np.array([0, 1, 0, 1]), num_resamples=200)
    >>> t.metric[:4]
    ['krippendorff_alpha', 'fleiss_kappa', 'observed_agreement', 'cohen_kappa']
    >>> t.value[:4].round(3)
    array([0.533, 0.467, 0.75 , 0.5  ])
    """
    from scipy import sparse

    k, m = ann.num_classes, ann.num_annotators
    p = _Pairable.of(ann.votes)
    # per pairable item: values, agreeing pairs / (m - 1), share of agreeing pairs, 1, votes
    design = np.zeros((ann.num_items, 4 + k))
    design[p.items] = np.column_stack(
        [p.m, p.same_pairs / (p.m - 1), p.same_pairs / (p.m * (p.m - 1)), np.ones_like(p.m)]
        + [p.votes]
    )
    pairs, confusion = _pair_incidence(ann)
    hits, seen, cons_n = _consensus_incidence(ann, consensus)
    incidence = sparse.vstack([confusion, hits, seen], format="csr")  # one product per block
    annotators = np.flatnonzero(cons_n > 0)
    pairable = len(p.items)

    def evaluate(wt: np.ndarray) -> np.ndarray:
        """All metric values for item weights ``wt`` (items, b) → (b, rows)."""
        sums = wt.T @ design
        n, agree, share, items, n_c = sums[:, 0], sums[:, 1], sums[:, 2], sums[:, 3], sums[:, 4:]
        alpha = 1.0 - _divide((n - 1.0) * (n - agree), n * n - (n_c * n_c).sum(axis=1))
        observed = _divide(share, items)
        p_c = _divide(n_c, n[:, None])
        chance = (p_c * p_c).sum(axis=1)
        cols = [alpha, _divide(observed - chance, 1.0 - chance), observed]
        prod = np.asarray(incidence @ wt)  # (pairs * K * K + 2 M, b)
        split = len(pairs) * k * k
        conf = prod[:split]
        kappas = _kappa_from_confusion(conf.T.reshape(wt.shape[1], len(pairs), k * k), k)
        cols.extend(kappas.T)
        if len(pairs) > 1:
            defined = ~np.isnan(kappas)
            cols.append(_divide(np.where(defined, kappas, 0.0).sum(axis=1), defined.sum(axis=1)))
        cols.extend(_divide(prod[split : split + m], prod[split + m :])[annotators])
        return np.stack(cols, axis=1)

    values = evaluate(np.ones((ann.num_items, 1)))[0]
    low = np.full(len(values), np.nan)
    high = np.full(len(values), np.nan)
    if num_resamples > 0:
        rng = np.random.default_rng(seed)
        boot = np.concatenate(
            [
                evaluate(wt)
                for wt in bootstrap_weights(ann.num_items, num_resamples, rng, by_item=True)
            ]
        )
        alpha = (1.0 - confidence_level) / 2.0
        defined = ~np.isnan(boot).all(axis=0)
        if defined.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # NaN resamples are left out
                q = np.nanquantile(boot[:, defined], [alpha, 1.0 - alpha], axis=0)
            low[defined], high[defined] = q[0], q[1]
    metric = ["krippendorff_alpha", "fleiss_kappa", "observed_agreement"]
    first, second = [-1, -1, -1], [-1, -1, -1]
    n_items = [pairable, pairable, pairable]
    for a, b, shared in pairs:
        metric.append("cohen_kappa")
        first.append(a)
        second.append(b)
        n_items.append(shared)
    if len(pairs) > 1:
        metric.append("mean_cohen_kappa")
        first.append(-1)
        second.append(-1)
        n_items.append(pairable)
    for a in annotators:
        metric.append("agreement_with_consensus")
        first.append(int(a))
        second.append(-1)
        n_items.append(int(cons_n[a]))
    return AgreementTable(
        metric,
        np.asarray(first, dtype=np.int64),
        np.asarray(second, dtype=np.int64),
        values,
        low,
        high,
        np.asarray(n_items, dtype=np.int64),
    )
