"""crowd-kit's classification aggregators on :class:`~.crowdlab.Annotations`, vectorised.

One-coin Dawid-Skene, GLAD, MACE, Wawa, Zero-Based Skill, KOS, M-MSR and gold-label majority
vote, following the published models and crowd-kit 1.4's documented defaults (the correctness
reference, a test-only dependency). Every per-item or per-annotator statistic is a
``np.bincount`` / ``np.multiply.reduceat`` over the (item, annotator, label) code arrays, so an
iteration costs O(#annotations x K) with no pandas group-bys.

Conventions shared by all aggregators:

* Only the classes that some annotator chose take part (as in crowd-kit, which sees only the
  labels present); the other classes get probability 0 and are never the consensus.
* Ties go to the lowest class code (crowd-kit: the first column in sorted label order, which is
  the same for sorted class orders).
* Weighted votes (Wawa, Zero-Based Skill, M-MSR, gold majority vote) pick the class with the
  largest summed weight among the classes the item's annotators chose. crowd-kit divides the
  sums by their total first, which turns the choice around when the total is negative (M-MSR
  gives adversarial annotators negative weights) and gives NaN when it is 0; here the sums
  decide directly.
* Randomness is seeded: KOS draws its initial reliabilities from
  ``np.random.RandomState(seed).normal(1, 1, A)`` in (item, annotator) order, MACE its initial
  parameters from ``RandomState(seed).uniform(1, 2.5, ...)`` (annotators and classes by code),
  M-MSR its initial vectors from ``RandomState(seed).uniform(size=M)``. crowd-kit uses the same
  generators with seed 0; its MACE restarts all start from the same draw, so one run gives its
  result.

Inputs are never modified.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache

import numpy as np

from .crowdlab import (
    Annotations,
    ConsensusResult,
    _agreement_with_consensus,
    _result,
    renumbered,
)

__all__ = [
    "AGGREGATORS",
    "AggregatorFit",
    "ItemConsensus",
    "aggregate",
    "aggregate_items",
    "in_canonical_order",
    "one_coin_dawid_skene",
    "glad",
    "mace",
    "wawa",
    "zero_based_skill",
    "kos",
    "m_msr",
    "gold_majority_vote",
    "weighted_vote",
]

AGGREGATORS = (
    "one_coin_dawid_skene",
    "glad",
    "mace",
    "wawa",
    "zero_based_skill",
    "kos",
    "m_msr",
    "gold_majority_vote",
)

#: The aggregators that iterate (or draw random numbers per annotator or annotation): they run
#: on annotations renumbered in :func:`in_canonical_order` when the caller gives that order, so
#: that their floating-point operations, their random starts and hence their results do not
#: depend on the input row order. Wawa and gold majority vote are single passes that need no
#: canonical numbering (their per-item sums round alike up to the last bit; Wawa's first vote
#: follows the row order on purpose, as crowd-kit's).
CANONICAL_METHODS = frozenset(
    ("one_coin_dawid_skene", "glad", "mace", "zero_based_skill", "kos", "m_msr")
)

_EPS = 1e-10  # crowd-kit's clipping constant for Dawid-Skene
_KOS_MAX = 1e300


@dataclass
class AggregatorFit:
    """What an aggregator estimates, over the classes some annotator chose.

    ``posterior`` rows sum to 1 (for the weighted votes: the shares of the summed weights; KOS:
    the plain vote shares); ``skill`` is the method's own per-annotator parameter (crowd-kit's
    ``skills_`` or its equivalent), ``quality`` the same mapped into [0, 1].
    """

    labels: np.ndarray  # (N,) class codes
    posterior: np.ndarray  # (N, K)
    skill: np.ndarray  # (M,)
    quality: np.ndarray  # (M,) in [0, 1]
    n_iter: int = 0


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------


def _used_classes(ann: Annotations) -> np.ndarray:
    """The class codes somebody chose, computed once per ``ann``."""
    return ann._get(
        "used_classes",
        lambda: np.flatnonzero(np.bincount(ann.label, minlength=ann.num_classes) > 0),
    )


def _compact(ann: Annotations) -> tuple[Annotations, np.ndarray]:
    """``ann`` restricted to the classes somebody chose (codes renumbered) and those classes."""
    used = _used_classes(ann)
    if len(used) == ann.num_classes:
        return ann, used
    code = np.full(ann.num_classes, -1, dtype=np.int64)
    code[used] = np.arange(len(used))
    small = dataclasses.replace(ann, label=code[ann.label], num_classes=len(used), _cache={})
    return small, used


def _first_argmax(scores: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Row argmax (first = lowest code on ties), only over ``allowed`` entries when given."""
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    return np.argmax(scores, axis=1).astype(np.int64, copy=False)


def _accuracy(ann: Annotations, truth: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per annotator: share of its labels equal to ``truth`` of the item (where ``mask``)."""
    hit = ann.label == truth[ann.item]
    on = np.ones(len(ann.item), dtype=bool) if mask is None else mask
    with np.errstate(invalid="ignore", divide="ignore"):
        return ann.per_annotator_count(hit & on) / ann.per_annotator_count(on)


def weighted_vote(ann: Annotations, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Summed annotator weights per (item, class) and the consensus they give.

    The consensus is the class with the largest sum among the classes the item's annotators
    chose (ties: lowest code). Returns ``(labels, sums)``.

    Examples
    --------
    >>> import numpy as np
    >>> from cleanframe.scoring.multiannotator.crowdlab import annotations_from_wide
    >>> ann = annotations_from_wide(np.array([[0, 1, 1], [0, 0, 1]]))
    >>> weighted_vote(ann, np.array([3.0, 1.0, 1.0]))[0]
    array([0, 0])
    """
    k = ann.num_classes
    sums = np.bincount(
        ann.item * k + ann.label, weights=weight[ann.annotator], minlength=ann.num_items * k
    ).reshape(ann.num_items, k)
    if np.all(weight > 0):  # a chosen class sums > 0, the others 0: no mask needed
        return _first_argmax(sums), sums
    return _first_argmax(sums, ann.votes > 0), sums


def _shares(sums: np.ndarray, ann: Annotations) -> np.ndarray:
    """Rows of ``sums`` divided by their total; the plain vote shares where the total is <= 0."""
    total = sums.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / total[:, None]
    bad = np.flatnonzero(~(total > 0))
    if len(bad):
        out[bad] = ann.votes[bad] / ann.num_annotations[bad, None]
    return out


def _plain_majority(ann: Annotations) -> np.ndarray:
    """The most voted class per item (ties: lowest code), computed once per ``ann``."""

    def make():
        if "votes" in ann._cache:
            return _first_argmax(ann.votes)
        k = ann.num_classes  # integer counts: the float vote matrix is not needed here
        counts = np.bincount(ann.item * k + ann.label, minlength=ann.num_items * k)
        return _first_argmax(counts.reshape(ann.num_items, k))

    return ann._get("plain_majority", make)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


# --------------------------------------------------------------------------------------------
# Weighted majority votes: Wawa, Zero-Based Skill, gold majority vote
# --------------------------------------------------------------------------------------------


def _vote_fit(ann: Annotations, skill: np.ndarray, n_iter: int = 0) -> AggregatorFit:
    labels, sums = weighted_vote(ann, skill)
    quality = np.clip(np.nan_to_num(skill, nan=0.0), 0.0, 1.0)
    return AggregatorFit(labels, _shares(sums, ann), skill, quality, n_iter)


def _majority_first_seen(ann: Annotations, first: np.ndarray | None = None) -> np.ndarray:
    """The most voted class per item; ties go to the class that occurs first in the input
    rows (``ann.source`` order), as crowd-kit's ``MajorityVote`` does under pandas >= 3.
    ``first``: each class's first input position (int64 max when absent), if known."""
    k = ann.num_classes
    if first is None:
        pos = ann.source if ann.source is not None else np.arange(len(ann.label))
        first = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, ann.label, pos)
    seen = np.argsort(first, kind="stable")  # classes in order of first occurrence
    if np.array_equal(seen, np.arange(k)):
        return _plain_majority(ann)
    rank = np.empty(k, dtype=np.int64)
    rank[seen] = np.arange(k)
    counts = np.bincount(ann.item * k + rank[ann.label], minlength=ann.num_items * k)
    return seen[_first_argmax(counts.reshape(ann.num_items, k))]


def wawa(ann: Annotations) -> AggregatorFit:
    """Worker Agreement With Aggregate: majority vote weighted by each annotator's agreement
    with the plain majority vote (ties: the class first seen in the input rows, as crowd-kit).
    Skill = that agreement."""
    ann, _ = _compact(ann)
    return _vote_fit(ann, _accuracy(ann, _majority_first_seen(ann)))


def zero_based_skill(
    ann: Annotations,
    *,
    n_iter: int = 100,
    lr_init: float = 1.0,
    lr_steps_to_reduce: int = 20,
    lr_reduce_factor: float = 0.5,
    eps: float = 1e-5,
) -> AggregatorFit:
    """Zero-Based Skill: weighted majority vote whose weights move towards each annotator's
    agreement with the current consensus (``skill += lr * (accuracy - skill)``), from
    ``1/K + eps``; ``lr`` halves every 20 steps; ``n_iter`` steps (crowd-kit's defaults)."""
    ann, _ = _compact(ann)
    skill = np.full(ann.num_annotators, 1.0 / ann.num_classes + eps)
    lr = lr_init
    for it in range(1, n_iter + 1):
        if it % lr_steps_to_reduce == 0:
            lr *= lr_reduce_factor
        labels, _ = weighted_vote(ann, skill)
        skill = skill + lr * (_accuracy(ann, labels) - skill)
    return _vote_fit(ann, skill, n_iter)


def gold_majority_vote(ann: Annotations, gold: np.ndarray) -> AggregatorFit:
    """Majority vote weighted by each annotator's accuracy on the items with a known true label.

    ``gold`` holds a class code per item, -1 where unknown. Annotators who labelled no item with
    a known label get the mean accuracy of the others (crowd-kit raises).
    """
    gold = np.asarray(gold, dtype=np.int64)
    known = gold[ann.item] >= 0
    if not known.any():
        raise ValueError("gold_majority_vote needs at least one item with a known label")
    skill = _accuracy(ann, gold, known)
    missing = np.isnan(skill)
    skill[missing] = np.mean(skill[~missing])
    small, _ = _compact(ann)
    return _vote_fit(small, skill)


#: Annotations from which :func:`aggregate_items` runs the weighted vote of gold majority vote
#: and Wawa per item as a compiled pass (numba, imported on first use, the loops cached on disk;
#: gold majority vote's accuracies too); below it the numpy passes cost less than loading numba.
#: Both give the same bits.
FUSED_MIN_ANNOTATIONS = 50_000
_PAIRWISE_MAX = 128  # numpy sums a row of up to 128 values with 8 accumulators, unrolled


def _gold_counts_py(item, annotator, label, gold, num_annotators, num_classes):
    """One pass: per annotator the gold items it labelled and those it got right (float, as
    ``per_annotator_count``), per class its number of annotations."""
    hits = np.zeros(num_annotators)
    known = np.zeros(num_annotators)
    per_class = np.zeros(num_classes, dtype=np.int64)
    for a in range(len(item)):
        lab = label[a]
        per_class[lab] += 1
        g = gold[item[a]]
        if g >= 0:
            known[annotator[a]] += 1.0
            if lab == g:
                hits[annotator[a]] += 1.0
    return hits, known, per_class


def _vote_items_py(item, annotator, label, weight, code, used, num_items):
    """One pass over annotations sorted by item: each item's weighted vote (the first of the
    classes its annotators chose with the largest summed weight; ``weight`` never NaN there;
    ``code`` numbers the ``used`` classes, those somebody chose), its share of the summed
    weights (the vote share where the sum is not positive), the share of its annotators who
    chose it and their number. ``ok`` is False when the items are not 0..num_items-1 in order,
    each with an annotation.

    Only the classes an item's annotators chose are visited. The row total is numpy's
    ``sums.sum(axis=1)`` to the bit: numpy adds a row of n <= 128 values in order when n < 8,
    else in 8 accumulators (value c into ``c % 8`` for c below ``n - n % 8``, combined as
    ((0+1)+(2+3))+((4+5)+(6+7))) and then the rest in order; the zeros of the classes not
    chosen change none of these sums, so the chosen ones are added in class order.
    """
    ku = len(used)
    main = ku - ku % 8 if ku >= 8 else 0
    labels = np.empty(num_items, dtype=np.int64)
    quality = np.empty(num_items)
    agreement = np.empty(num_items)
    count = np.empty(num_items, dtype=np.int64)
    sums = np.zeros(ku)
    votes = np.zeros(ku, dtype=np.int64)
    chosen = np.empty(ku, dtype=np.int64)  # the item's chosen classes, ascending
    acc = np.zeros(8)
    size = len(item)
    a = 0
    for i in range(num_items):
        if a >= size or item[a] != i:
            return labels, quality, agreement, count, False
        start = a
        t = 0
        while a < size and item[a] == i:
            c = code[label[a]]
            if votes[c] == 0:  # insert c into the sorted list of chosen classes
                j = t
                while j > 0 and chosen[j - 1] > c:
                    chosen[j] = chosen[j - 1]
                    j -= 1
                chosen[j] = c
                t += 1
            sums[c] += weight[annotator[a]]
            votes[c] += 1
            a += 1
        n = a - start
        # the first (lowest) chosen class with the largest sum: weighted_vote's masked argmax,
        # and its plain argmax when every weight is positive (then no other class can win)
        best = chosen[0]
        for j in range(1, t):
            if sums[chosen[j]] > sums[best]:
                best = chosen[j]
        if main:
            for j in range(8):
                acc[j] = 0.0
            for j in range(t):
                c = chosen[j]
                if c < main:
                    acc[c % 8] += sums[c]
            total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + (
                (acc[4] + acc[5]) + (acc[6] + acc[7])
            )
            for j in range(t):
                c = chosen[j]
                if c >= main:
                    total += sums[c]
        else:
            total = 0.0
            for j in range(t):
                total += sums[chosen[j]]
        if total > 0:
            quality[i] = sums[best] / total
        else:
            quality[i] = votes[best] / n
        agreement[i] = votes[best] / n
        labels[i] = used[best]
        count[i] = n
        for j in range(t):
            sums[chosen[j]] = 0.0
            votes[chosen[j]] = 0
    return labels, quality, agreement, count, a == size


@cache
def _kernels() -> dict:
    import numba

    jit = numba.njit(cache=True, nogil=True)
    return {
        "gold_counts": jit(_gold_counts_py),
        "vote_items": jit(_vote_items_py),
        "first_seen": jit(_first_seen_py),
        "majority_hits": jit(_majority_hits_py),
    }


def _majority_hits_py(item, annotator, label, rank, seen, num_annotators):
    """One pass over annotations sorted by item: each item's most voted class (ties: the lowest
    ``rank``; ``seen[r]`` is the class of rank r), then per annotator how many of its labels
    equal its items' majority and how many labels it gave (floats, as ``_accuracy``)."""
    k = len(rank)
    hits = np.zeros(num_annotators)
    count = np.zeros(num_annotators)
    votes = np.zeros(k, dtype=np.int64)
    size = len(item)
    a = 0
    while a < size:
        start = a
        i = item[a]
        best = k
        while a < size and item[a] == i:
            r = rank[label[a]]
            votes[r] += 1
            a += 1
        most = 0
        for b in range(start, a):  # the best rank among the item's classes
            r = rank[label[b]]
            if votes[r] > most or (votes[r] == most and r < best):
                most = votes[r]
                best = r
        winner = seen[best]
        for b in range(start, a):
            votes[rank[label[b]]] = 0
            count[annotator[b]] += 1.0
            if label[b] == winner:
                hits[annotator[b]] += 1.0
    return hits, count


def _first_seen_py(label, position, num_classes):
    """Each class's smallest ``position`` among its annotations (int64 max when it has none):
    ``np.minimum.at`` in one loop."""
    first = np.full(num_classes, np.iinfo(np.int64).max, dtype=np.int64)
    for a in range(len(label)):
        if position[a] < first[label[a]]:
            first[label[a]] = position[a]
    return first


def _gold_items_fused(ann: Annotations, gold: np.ndarray) -> ItemConsensus | None:
    """Gold majority vote's per-item results in two compiled passes, equal to those of
    :func:`gold_majority_vote` (``None`` where they do not apply: more than 128 classes)."""
    kernels = _kernels()
    gold = np.asarray(gold, dtype=np.int64)
    hits, known, per_class = kernels["gold_counts"](
        ann.item, ann.annotator, ann.label, gold, ann.num_annotators, ann.num_classes
    )
    if not (known > 0).any():
        raise ValueError("gold_majority_vote needs at least one item with a known label")
    used = np.flatnonzero(per_class > 0)
    if len(used) > _PAIRWISE_MAX:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        skill = hits / known
    missing = np.isnan(skill)
    skill[missing] = np.mean(skill[~missing])
    return _vote_items_fused(ann, skill, used)


def _wawa_items_fused(ann: Annotations) -> ItemConsensus | None:
    """Wawa's per-item results, the weighted vote as one compiled pass (equal to :func:`wawa`'s;
    ``None`` with more than 128 chosen classes)."""
    used = _used_classes(ann)
    if len(used) > _PAIRWISE_MAX:
        return None
    if np.any(ann.num_annotations == 0):
        raise ValueError("every item needs at least one annotation")
    small, _ = _compact(ann)
    kernels = _kernels()
    pos = small.source if small.source is not None else np.arange(len(small.label))
    first = kernels["first_seen"](small.label, pos, small.num_classes)  # np.minimum.at: 30x
    seen = np.argsort(first, kind="stable")  # as _majority_first_seen
    rank = np.empty(small.num_classes, dtype=np.int64)
    rank[seen] = np.arange(small.num_classes)
    hits, count = kernels["majority_hits"](
        small.item, small.annotator, small.label, rank, seen, small.num_annotators
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        skill = hits / count  # _accuracy(small, _majority_first_seen(small))
    return _vote_items_fused(ann, skill, used)


def _vote_items_fused(ann: Annotations, skill: np.ndarray, used: np.ndarray) -> ItemConsensus:
    """:func:`_vote_fit`'s labels, shares of the consensus, agreement and counts per item (over
    the ``used`` classes) in one compiled pass."""
    code = np.full(ann.num_classes, -1, dtype=np.int64)
    code[used] = np.arange(len(used))
    labels, quality, agreement, count, ok = _kernels()["vote_items"](
        ann.item, ann.annotator, ann.label, skill, code, used, ann.num_items
    )
    if not ok:
        raise ValueError("every item needs at least one annotation")
    return ItemConsensus(labels, quality, agreement, count, None, None)


# --------------------------------------------------------------------------------------------
# One-coin Dawid-Skene
# --------------------------------------------------------------------------------------------


def one_coin_dawid_skene(
    ann: Annotations, *, n_iter: int = 100, tol: float = 1e-5
) -> AggregatorFit:
    """One-coin Dawid-Skene EM: annotator j is right with probability ``s_j`` and otherwise picks
    one of the other K-1 classes uniformly.

    Starts from the vote shares; the M-step sets ``s_j`` to the mean posterior probability of
    j's labels (error entries clipped to [1e-10, 1 - 1e-10]) and the priors to the mean
    posterior; stops when crowd-kit's evidence lower bound per annotation improves by less than
    ``tol``, or after ``n_iter`` iterations. Skill = ``s_j``.
    """
    ann, _ = _compact(ann)
    n, k = ann.num_items, ann.num_classes

    def m_step(post):
        skill = (
            np.bincount(
                ann.annotator, weights=post[ann.item, ann.label], minlength=ann.num_annotators
            )
            / ann.per_annotator_count()
        )
        right = np.clip(skill, _EPS, 1 - _EPS)
        wrong = np.clip((1 - skill) / max(k - 1, 1), _EPS, 1 - _EPS)
        return skill, right, wrong

    def log_terms(right, wrong):
        lw = np.log2(wrong)[ann.annotator]
        return lw, np.log2(right)[ann.annotator] - lw

    def e_step(priors, right, wrong):
        lw, gain = log_terms(right, wrong)
        ll = np.repeat(np.bincount(ann.item, weights=lw, minlength=n)[:, None], k, axis=1)
        ll += np.bincount(ann.item * k + ann.label, weights=gain, minlength=n * k).reshape(n, k)
        ll += np.log2(np.clip(priors, _EPS, None))
        post = np.exp2(ll - ll.max(axis=1, keepdims=True))
        return post / post.sum(axis=1, keepdims=True)

    def elbo(post, priors, right, wrong):
        lw = np.log(wrong)[ann.annotator]
        gain = np.log(right)[ann.annotator] - lw
        joint = np.sum(lw * post.sum(axis=1)[ann.item]) + np.sum(gain * post[ann.item, ann.label])
        joint += np.sum(ann.num_annotations[:, None] * post * np.log(np.clip(priors, _EPS, None)))
        clipped = np.clip(post, _EPS, None)
        return float(joint - np.sum(clipped * np.log(clipped)))

    post = ann.votes / ann.num_annotations[:, None]
    priors = post.mean(axis=0)
    skill, right, wrong = m_step(post)
    loss = -np.inf
    it = 0
    for it in range(1, n_iter + 1):  # noqa: B007 (the count is read after the loop)
        post = e_step(priors, right, wrong)
        priors = post.mean(axis=0)
        skill, right, wrong = m_step(post)
        new_loss = elbo(post, priors, right, wrong) / len(ann.item)
        if new_loss - loss < tol:
            break
        loss = new_loss
    return AggregatorFit(_first_argmax(post), post, skill, skill.copy(), it)


# --------------------------------------------------------------------------------------------
# GLAD
# --------------------------------------------------------------------------------------------


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def glad(
    ann: Annotations,
    *,
    n_iter: int = 100,
    tol: float = 1e-5,
    m_step_max_iter: int = 25,
    m_step_tol: float = 1e-2,
) -> AggregatorFit:
    """GLAD (Whitehill et al. 2009): annotator ability ``alpha_j`` and item difficulty
    ``exp(beta_i)``; P(j right on i) = sigmoid(alpha_j * exp(beta_i)), wrong answers uniform over
    the other K-1 classes, uniform class priors, N(1, 1) priors on alpha and beta.

    EM as crowd-kit runs it: alpha = beta = 1, then each iteration an E-step (posterior) and an
    M-step of at most ``m_step_max_iter`` conjugate-gradient steps (scipy, ``tol=m_step_tol``)
    on the expected log-likelihood; stops when that expectation per (annotation, class) improves
    by less than ``tol``. The consensus comes from the last E-step (as in crowd-kit). Skill =
    ``alpha_j``; quality = the mean of sigmoid(alpha_j * exp(beta_i)) over j's items.
    """
    from scipy.optimize import minimize

    ann, _ = _compact(ann)
    n, m, k = ann.num_items, ann.num_annotators, ann.num_classes
    item, annot, label = ann.item, ann.annotator, ann.label
    log_other = np.log(k - 1) if k > 1 else 0.0

    def e_step(alpha, beta):
        ab = alpha[annot] * np.exp(beta[item])
        right = _log_sigmoid(ab)
        wrong = right - ab - log_other  # log(1 - sigmoid(ab)) = log(sigmoid(ab)) - ab
        ll = np.repeat(np.bincount(item, weights=wrong, minlength=n)[:, None], k, axis=1)
        ll += np.bincount(item * k + label, weights=right - wrong, minlength=n * k).reshape(n, k)
        ll -= np.log(k)
        ll -= ll.max(axis=1, keepdims=True)
        post = np.exp(ll)
        return post / post.sum(axis=1, keepdims=True)

    def q_value(alpha, beta, p_label, p_total, grad=False):
        eb = np.exp(beta[item])
        ab = alpha[annot] * eb
        right = _log_sigmoid(ab)
        wrong = right - ab - log_other
        q = np.sum(p_label * right + (p_total - p_label) * wrong)
        q += np.sum(-0.5 * (alpha - 1) ** 2) + np.sum(-0.5 * (beta - 1) ** 2)
        q -= (m + n) * 0.5 * np.log(2 * np.pi)
        q = float(q) if np.isfinite(q) else -np.inf
        if not grad:
            return q
        resid = p_label - p_total * np.exp(right)  # sigmoid(ab)
        d_alpha = np.bincount(annot, weights=resid * eb, minlength=m) - (alpha - 1)
        d_beta = np.bincount(item, weights=resid * ab, minlength=n) - (beta - 1)
        return q, d_alpha, d_beta

    def m_step(alpha, beta, post):
        p_label = post[item, label]
        p_total = post.sum(axis=1)[item]

        def f_and_grad(x):  # scipy asks for both at the same points: one pass over the data
            q, da, db = q_value(x[:m], x[m:], p_label, p_total, grad=True)
            return -q, -np.concatenate([da, db])

        res = minimize(
            f_and_grad,
            np.concatenate([alpha, beta]),
            method="CG",
            jac=True,
            tol=m_step_tol,
            options={"disp": False, "maxiter": m_step_max_iter},
        )
        return res.x[:m].copy(), res.x[m:].copy()

    alpha, beta = np.ones(m), np.ones(n)
    post = e_step(alpha, beta)
    q = q_value(alpha, beta, post[item, label], post.sum(axis=1)[item])
    size = len(item) * k
    it = 0
    for it in range(1, n_iter + 1):  # noqa: B007 (the count is read after the loop)
        last_q = q
        post = e_step(alpha, beta)
        alpha, beta = m_step(alpha, beta, post)
        q = q_value(alpha, beta, post[item, label], post.sum(axis=1)[item]) / size
        if q - last_q < tol:
            break
    prob_right = 1.0 / (1.0 + np.exp(-alpha[annot] * np.exp(beta[item])))
    quality = np.bincount(annot, weights=prob_right, minlength=m) / ann.per_annotator_count()
    return AggregatorFit(_first_argmax(post), post, alpha, quality, it)


# --------------------------------------------------------------------------------------------
# MACE
# --------------------------------------------------------------------------------------------


def _digamma_normalize(counts: np.ndarray, prior: np.ndarray) -> np.ndarray:
    from scipy.special import digamma

    norm = np.exp(digamma((counts + prior).sum(axis=1)))[:, None]
    out = np.zeros_like(counts)
    np.divide(np.exp(digamma(counts + prior)), norm, out=out, where=~np.isclose(norm, 0.0))
    return out


def mace(
    ann: Annotations,
    *,
    n_iter: int = 50,
    seed: int = 0,
    default_noise: float = 0.5,
    alpha: float = 0.5,
    beta: float = 0.5,
) -> AggregatorFit:
    """MACE (Hovy et al. 2013): each annotator knows the answer with probability ``theta_j``,
    otherwise labels from its own class distribution ``xi_j``; variational Bayes with Beta(0.5,
    0.5) priors on ``theta_j`` and symmetric Dirichlet(10) priors on ``xi_j``, ``n_iter``
    iterations, one seeded start. Skill = crowd-kit's ``spamming_[:, 1]`` (the variational
    weight of knowing); quality = that weight normalised against the weight of spamming.
    """
    ann, _ = _compact(ann)
    m, k = ann.num_annotators, ann.num_classes
    item, annot, label = ann.item, ann.annotator, ann.label
    high = 2.0 + default_noise  # crowd-kit: scipy.stats.uniform(loc=1, scale=1 + noise)
    spam = np.random.RandomState(seed).uniform(1.0, high, size=(m, 2))
    theta = np.random.RandomState(seed).uniform(1.0, high, size=(m, k))
    spam /= spam.sum(axis=1, keepdims=True)  # [:, 0] spamming, [:, 1] knowing
    theta /= theta.sum(axis=1, keepdims=True)
    spam_prior = np.tile([alpha, beta], (m, 1))
    theta_prior = np.full((m, k), 10.0)

    n = ann.num_items

    def e_step(spam, theta):
        # factor(a, c) = base_a, or base_a + know_a for the annotation's own label: products and
        # sums over an item's annotations are O(#annotations), never (#annotations x K)
        base = spam[annot, 0] * theta[annot, label]
        know = spam[annot, 1]
        full = base + know
        log_base = np.log(base)
        log_gold = np.bincount(item, weights=log_base, minlength=n)[:, None] + np.bincount(
            item * k + label, weights=np.log(full) - log_base, minlength=n * k
        ).reshape(n, k)
        gold = np.exp(log_gold) / k  # (N, K)
        instance = gold.sum(axis=1)
        own = gold[item, label]
        inst = instance[item]
        strategy = ((inst - own) / base + own / full) * base / inst
        knowing = own * know / full / inst
        strategy_counts = np.bincount(annot * k + label, weights=strategy, minlength=m * k)
        counts = np.column_stack(
            [
                np.bincount(annot, weights=strategy, minlength=m),
                np.bincount(annot, weights=knowing, minlength=m),
            ]
        )
        return gold, counts, strategy_counts.reshape(m, k)

    gold, counts, strategy_counts = e_step(spam, theta)
    for _ in range(n_iter):
        spam = _digamma_normalize(counts, spam_prior)
        theta = _digamma_normalize(strategy_counts, theta_prior)
        gold, counts, strategy_counts = e_step(spam, theta)
    post = gold / gold.sum(axis=1, keepdims=True)
    quality = spam[:, 1] / spam.sum(axis=1)  # the variational weights do not sum to 1
    return AggregatorFit(_first_argmax(post), post, spam[:, 1].copy(), quality, n_iter)


# --------------------------------------------------------------------------------------------
# KOS
# --------------------------------------------------------------------------------------------


def kos(ann: Annotations, *, n_iter: int = 100, seed: int = 0) -> AggregatorFit:
    """KOS (Karger, Oh & Shah 2011) message passing, two classes only.

    Labels are +1 (class 0) and -1 (class 1); reliabilities per annotation start at
    ``RandomState(seed).normal(1, 1)`` in (item, annotator) order; ``n_iter`` rounds of item
    messages (the others' reliability-weighted labels) and annotator messages, stopping early
    before any sum exceeds 1e300. The consensus is the sign of the reliability-weighted sum
    (0: class 0). KOS has no posterior: the posterior is the vote share and skill = quality = the
    annotator's agreement with the consensus.
    """
    if ann.num_classes != 2:
        raise ValueError("KOS is for two classes")
    n, m = ann.num_items, ann.num_annotators
    used = _used_classes(ann)
    if len(used) < 2:  # one class chosen: it is every item's consensus (never the other one)
        labels = np.full(n, used[0], dtype=np.int64)
        agree = _accuracy(ann, labels)
        return AggregatorFit(labels, ann.votes / ann.num_annotations[:, None], agree, agree.copy())
    item, annot = ann.item, ann.annotator
    sign = np.where(ann.label == 0, 1.0, -1.0)
    rel = np.random.RandomState(seed).normal(loc=1, scale=1, size=len(item))
    it = 0
    for it in range(1, n_iter + 1):  # noqa: B007 (the count is read after the loop)
        mult = sign * rel
        total = np.bincount(item, weights=mult, minlength=n)[item]
        if np.any(np.abs(total) > _KOS_MAX):
            break
        inferred = total - mult
        mult = sign * inferred
        total = np.bincount(annot, weights=mult, minlength=m)[annot]
        if np.any(np.abs(total) > _KOS_MAX):
            break
        rel = total - mult
    score = np.bincount(item, weights=sign * rel, minlength=n)
    labels = np.where(score < 0, 1, 0).astype(np.int64)
    agree = _accuracy(ann, labels)
    post = ann.votes / ann.num_annotations[:, None]
    return AggregatorFit(labels, post, agree, agree.copy(), it)


# --------------------------------------------------------------------------------------------
# M-MSR
# --------------------------------------------------------------------------------------------


def _trimmed_update(x, observed, other, current, f, n_tasks):
    """One M-MSR sweep over the columns of ``x``: per column, the values ``x / other`` on the
    observed rows with the F smallest and F largest removed around the current value, averaged
    (crowd-kit's rule, including its behaviour for F < 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(observed, x / other[:, None], np.inf)
    t.sort(axis=0)
    c = observed.sum(axis=0)
    a = current
    finite = np.where(np.isfinite(t), t, 0.0)
    nlt = np.sum(finite < a, axis=0, where=np.isfinite(t))
    nle = np.sum(finite <= a, axis=0, where=np.isfinite(t))
    if f >= 0:
        lo = np.where(nlt < f, nlt, np.minimum(f, c))
        ngt = c - np.maximum(lo, nle)
        hi = np.where(ngt < f, c - ngt, c - f)
    else:
        lo = np.maximum(c + f, 0)
        hi = c
    hi = np.maximum(hi, lo)
    cs = np.vstack([np.zeros(t.shape[1]), np.cumsum(finite, axis=0)])
    cols = np.arange(t.shape[1])
    size = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (cs[hi, cols] - cs[lo, cols]) / size
    single_zero = (size == 1) & (finite[np.minimum(lo, len(t) - 1), cols] == 0)
    mean = np.where(single_zero, 1 / np.sqrt(n_tasks), mean)
    return np.where(size == 0, a, mean)


def _sign_determination(cov: np.ndarray, s_abs: np.ndarray, seed: int) -> np.ndarray:
    """Signs of the annotators' M-MSR scores from the sign graph of the covariance matrix: the
    eigenvector of the smallest eigenvalue of ``I + W``, W the random walk on the annotators
    (negative covariances) and one extra node per positively correlated pair."""
    from scipy import sparse
    from scipy.sparse.linalg import eigs

    sgn = np.sign(cov)
    n = len(s_abs)
    valid = np.flatnonzero(cov.sum(axis=1) != 0)
    s = sgn[np.ix_(valid, valid)]
    kv = len(valid)
    ii, jj = np.nonzero(np.triu(s) == 1)
    pairs = len(ii)
    neg_r, neg_c = np.nonzero(s == -1)
    nodes = kv + np.arange(pairs)
    rows = np.concatenate([neg_r, ii, jj, nodes, nodes])
    cols = np.concatenate([neg_c, nodes, nodes, ii, jj])
    size = kv + pairs
    graph = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    degree = np.asarray(graph.sum(axis=1)).ravel()
    walk = sparse.diags(1.0 / degree) @ graph + sparse.identity(size)
    if kv == 0:  # no annotator covaries with another: no sign to determine
        return np.zeros(n)
    if size > 2:
        v0 = np.random.RandomState(seed).uniform(size=size)
        _, vec = eigs(walk.tocsr(), 1, which="SM", v0=v0)
        vec = vec[:, 0]
    else:  # too small for ARPACK: all eigenpairs, the smallest in magnitude (first on ties)
        values, vectors = np.linalg.eig(walk.toarray())
        vec = vectors[:, np.argmin(np.abs(values))]
    direction = np.sign(vec.real[:kv])
    out = np.zeros(n)
    out[valid] = np.sign(direction.sum()) * s_abs[valid] * direction
    return out


def m_msr(
    ann: Annotations, *, n_iter: int = 10000, tol: float = 1e-10, seed: int = 0
) -> AggregatorFit:
    """M-MSR (Ma & Olshevsky 2020): annotator reliabilities from a robust rank-one completion of
    the annotators' agreement (covariance) matrix, then a majority vote weighted by each
    annotator's log-odds skill ``log(p (K-1) / (1 - p))``.

    When the rank-one iteration diverges (a sparse or degenerate overlap graph) it stops at the
    last iterate before the values pass 1e150 (crowd-kit carries on into overflow and NaN
    skills).

    Skill = that log-odds; quality = ``p``, the estimated probability of a right label. The
    consensus is the class with the largest summed skill among the classes chosen (crowd-kit
    normalises the sums first, which inverts the choice when they are negative).

    With a single class chosen, it is every item's consensus and every annotator gets
    skill = quality = 1 (the log-odds are undefined there).
    """
    from scipy import sparse

    ann, _ = _compact(ann)
    n, m, k = ann.num_items, ann.num_annotators, ann.num_classes
    if k == 1:
        return AggregatorFit(np.zeros(n, dtype=np.int64), np.ones((n, 1)), np.ones(m), np.ones(m))
    ones = np.ones(len(ann.item))
    inc = sparse.csr_matrix((ones, (ann.annotator, ann.item)), shape=(m, n))
    hot = sparse.csr_matrix((ones, (ann.annotator, ann.item * k + ann.label)), shape=(m, n * k))
    common = np.asarray((inc @ inc.T).todense())
    agree = np.asarray((hot @ hot.T).todense())
    np.fill_diagonal(common, 0)
    np.fill_diagonal(agree, 0)
    n_tasks = n
    sparsity = int(np.min((common > 0).sum(axis=0)))
    f = sparsity // 2 - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = np.where(common > 0, agree / common, 0.0)
    cov = cov * k / (k - 1) - 1.0 / (k - 1)
    observed = common > 0
    x = np.abs(cov)
    u = np.random.RandomState(seed).uniform(size=m)
    v = u.copy()
    it = 0
    for it in range(1, n_iter + 1):  # noqa: B007 (the count is read after the loop)
        u_prev, v_prev = u, v
        with np.errstate(over="ignore", invalid="ignore"):
            v = _trimmed_update(x, observed, u, v, f, n_tasks)
            u = _trimmed_update(x.T, observed.T, v, u, f, n_tasks)
            outer = np.outer(u, v)
        if not np.all(np.abs(outer) < 1e150):  # diverging (sparse, degenerate graphs): stop
            u, v = u_prev, v_prev
            break
        if np.linalg.norm(np.outer(u, v) - np.outer(u_prev, v_prev)) < tol:
            break
    scale = np.sqrt(np.linalg.norm(u) / np.linalg.norm(v))
    s = _sign_determination(cov, u / scale, seed)
    s = np.minimum(s, 1 - 1.0 / np.sqrt(n_tasks))
    s = np.maximum(s, -1 / (k - 1) + 1.0 / np.sqrt(n_tasks))
    p = s * (k - 1) / k + 1 / k
    skill = np.log(p * (k - 1) / (1 - p))
    labels, sums = weighted_vote(ann, skill)
    logits = np.where(ann.votes > 0, sums, 0.0)
    post = np.exp(logits - logits.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    return AggregatorFit(labels, post, skill, p, it)


# --------------------------------------------------------------------------------------------
# As a ConsensusResult
# --------------------------------------------------------------------------------------------


@dataclass
class ItemConsensus:
    """The per-item part of :func:`aggregate` (what ``consensus()`` returns), without the
    per-annotator table."""

    consensus_label: np.ndarray  # (N,) class codes
    consensus_quality: np.ndarray  # (N,)
    annotator_agreement: np.ndarray  # (N,)
    num_annotations: np.ndarray  # (N,)
    posterior: np.ndarray | None  # (N, K), 0 for the classes nobody chose
    fit: AggregatorFit | None  # None with the posterior (posterior=False, see aggregate_items)


def in_canonical_order(
    ann: Annotations, item_rank: np.ndarray, annotator_rank: np.ndarray
) -> Annotations | None:
    """``ann`` with item ``i`` renumbered ``item_rank[i]`` and annotator ``j``
    ``annotator_rank[j]`` (each a permutation), sorted by the new (item, annotator) codes;
    ``None`` when both are the identity (``ann`` is in that order already).

    Given the ranks of the items' and annotators' values in sorted order (as crowd-kit's sorted
    ``groupby`` numbers them), the result holds the same arrays whatever the order of the input
    rows, so an aggregator run on it gives exactly the same result for any row order.

    Examples
    --------
    >>> from cleanframe.scoring.multiannotator.crowdlab import annotations_from_wide
    >>> ann = annotations_from_wide(np.array([[0, 1], [1, -1]]))
    >>> canon = in_canonical_order(ann, np.array([1, 0]), np.array([1, 0]))
    >>> canon.item, canon.annotator, canon.label
    (array([0, 1, 1]), array([1, 0, 1]), array([1, 1, 0]))
    """
    canon = renumbered(ann, item_rank, annotator_rank)
    return None if canon is None else canon[0]


def _fit(ann: Annotations, method: str, gold: np.ndarray | None, seed: int, order) -> AggregatorFit:
    """The aggregator's fit, on :func:`in_canonical_order` annotations when ``order`` (the
    items' and annotators' ranks) is given and ``method`` is in :data:`CANONICAL_METHODS`; its
    arrays are in ``ann``'s numbering either way."""
    if order is not None and method in CANONICAL_METHODS:
        item_rank, annotator_rank = order
        canon = in_canonical_order(ann, item_rank, annotator_rank)
        if canon is not None:
            fit = _fit(canon, method, gold, seed, None)
            return dataclasses.replace(
                fit,
                labels=fit.labels[item_rank],
                posterior=fit.posterior[item_rank],
                skill=fit.skill[annotator_rank],
                quality=fit.quality[annotator_rank],
            )
    if method == "one_coin_dawid_skene":
        return one_coin_dawid_skene(ann)
    if method == "glad":
        return glad(ann)
    if method == "mace":
        return mace(ann, seed=seed)
    if method == "wawa":
        return wawa(ann)
    if method == "zero_based_skill":
        return zero_based_skill(ann)
    if method == "kos":
        return kos(ann, seed=seed)
    if method == "m_msr":
        return m_msr(ann, seed=seed)
    if method == "gold_majority_vote":
        if gold is None:
            raise ValueError("gold_majority_vote needs gold labels")
        return gold_majority_vote(ann, gold)
    raise ValueError(f"method must be one of {AGGREGATORS}, got {method!r}")


def aggregate_items(
    ann: Annotations,
    method: str,
    *,
    gold: np.ndarray | None = None,
    seed: int = 0,
    posterior: bool = True,
    order: tuple[np.ndarray, np.ndarray] | None = None,
) -> ItemConsensus:
    """Run one aggregator: consensus label, quality and agreement per item (see
    :func:`aggregate`).

    ``posterior=False``: the caller needs only the four per-item arrays; gold majority vote and
    Wawa then may leave ``posterior`` and ``fit`` as ``None`` (on large inputs they run compiled
    passes that never build the N x K tables).

    ``order``: ``(item_rank, annotator_rank)``, the position of each item and annotator among
    their values sorted; the methods of :data:`CANONICAL_METHODS` then run in that numbering
    (:func:`in_canonical_order`) and their results do not depend on the input row order.
    """
    if not posterior and len(ann.item) >= FUSED_MIN_ANNOTATIONS:
        fused = None
        if method == "gold_majority_vote" and gold is not None:
            fused = _gold_items_fused(ann, gold)
        elif method == "wawa":
            fused = _wawa_items_fused(ann)
        if fused is not None:
            return fused
    if np.any(ann.num_annotations == 0):
        raise ValueError("every item needs at least one annotation")
    fit = _fit(ann, method, gold, seed, order)
    used = _used_classes(ann)
    if fit.posterior.shape[1] == ann.num_classes:  # every class chosen, or KOS (not compacted)
        post, labels = fit.posterior, fit.labels
    else:
        post = np.zeros((ann.num_items, ann.num_classes))
        post[:, used] = fit.posterior
        labels = used[fit.labels]
    agreement = _agreement_with_consensus(ann, labels)
    quality = agreement.copy() if method == "kos" else post[np.arange(ann.num_items), labels]
    return ItemConsensus(labels, quality, agreement, ann.num_annotations.copy(), post, fit)


def aggregate(
    ann: Annotations,
    method: str,
    *,
    gold: np.ndarray | None = None,
    seed: int = 0,
    order: tuple[np.ndarray, np.ndarray] | None = None,
) -> ConsensusResult:
    """Run one aggregator and report it like the other consensus methods.

    ``consensus_quality`` is the posterior probability of the consensus (KOS: the share of the
    item's annotators who chose it); each annotation's quality is the posterior probability of
    its label; ``annotator_quality`` is the method's skill in [0, 1] (:class:`AggregatorFit`)
    and ``annotator_skill`` its own parameter. ``order``: as in :func:`aggregate_items`.
    """
    items = aggregate_items(ann, method, gold=gold, seed=seed, order=order)
    post, labels, fit = items.posterior, items.consensus_label, items.fit
    assert post is not None and fit is not None  # posterior=True
    # the plain majority vote (ties: lowest class) stands in for cleanlab's tie-broken one
    no_ties = np.zeros(ann.num_items, dtype=np.int8)
    res = _result(
        ann,
        labels,
        items.consensus_quality,
        items.annotator_agreement,
        post,
        post[ann.item, ann.label],
        "posterior",
        mv=_plain_majority(ann),
        rung=no_ties,
    )
    res.annotator_quality = np.asarray(fit.quality, dtype=np.float64)
    res.annotator_skill = np.asarray(fit.skill, dtype=np.float64)
    return res
