"""Multi-annotator kernels: majority vote, CROWDLAB, Dawid-Skene and ActiveLab on numpy arrays.

Annotations are kept in coordinate form, one entry per (item, annotator, label) triple, sorted by
item and then annotator (:class:`Annotations`). Every statistic is a ``bincount`` or a slice sum
over these arrays, so the cost is O(#annotations + N*K) instead of cleanlab's Python loops over rows
and annotators.

The algorithms follow the published descriptions (CROWDLAB: Goh, Tkachenko & Mueller 2022;
ActiveLab: Goh & Mueller 2023; Dawid & Skene 1979) and cleanlab 2.9's documented behaviour, which
is the correctness reference. Where cleanlab's result depends on the order of floating-point
additions (the posterior, the annotator agreement), the same order is used so that exact ties are
decided the same way. Deliberate differences:

* majority-vote ties that survive every rung are broken by the **lowest class code** instead of an
  unseeded random draw (:data:`TIE_LOWEST_CLASS`);
* an annotator who only labelled items nobody else labelled gets ``annotator_quality`` from its
  label quality alone (``"agreement"``: its agreement on all its items) instead of NaN;
* the empirical vote distribution (temperature search of ``calibrate_probs`` and ActiveLab,
  ``quality_method="agreement"``) counts votes by class code. cleanlab 2.9's ``value_counts``
  places the counts of float labels by rank when a row lacks some class, which shuffles them;
  the parity tests compare against cleanlab with that function fixed.

Inputs are never modified; they may be read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .._common import CLIPPING_LOWER_BOUND

__all__ = [
    "Annotations",
    "annotations_from_wide",
    "majority_vote",
    "crowdlab",
    "ConsensusResult",
    "majority_vote_consensus",
    "dawid_skene_consensus",
    "dawid_skene",
    "DawidSkeneResult",
    "find_best_temperature",
    "temperature_scale",
    "active_learning_scores",
    "active_learning_scores_ensemble",
    "TIE_NONE",
    "TIE_PRED_PROBS",
    "TIE_CLASS_FREQUENCY",
    "TIE_ANNOTATOR_AGREEMENT",
    "TIE_LOWEST_CLASS",
]

# Which rung of the majority-vote tie-break decided an item (see :func:`majority_vote`).
TIE_NONE = 0
TIE_PRED_PROBS = 1
TIE_CLASS_FREQUENCY = 2
TIE_ANNOTATOR_AGREEMENT = 3
TIE_LOWEST_CLASS = 4

_SMALL_PROB = 1e-30  # clip before taking logs of probabilities (temperature scaling)
_TEMPERATURE_GRID = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0, 3.0, 5.0, 8.0)
_FINE_STEPS = 4


# --------------------------------------------------------------------------------------------
# Annotation container
# --------------------------------------------------------------------------------------------


SORTED = np.arange(0)  # pair_order's answer for pairs already sorted, none repeated


def pair_order(item: np.ndarray, annotator: np.ndarray, num_annotators: int) -> np.ndarray:
    """Stable argsort of the (item, annotator) code pairs, or :data:`SORTED` (one O(A) check,
    no sort) when they are strictly increasing already, as in a frame sorted by item and
    annotator."""
    key = np.asarray(item, dtype=np.int64) * max(num_annotators, 1) + annotator
    if len(key) < 2 or bool(np.all(key[1:] > key[:-1])):
        return SORTED
    return np.argsort(key, kind="stable")


@dataclass(frozen=True)
class Annotations:
    """Annotations in coordinate form, sorted by (item, annotator).

    Build it with :meth:`from_coo` or :func:`annotations_from_wide`; both copy and sort the input.

    Attributes
    ----------
    item, annotator, label : int64 arrays of shape (A,)
        One entry per annotation: item code ``0..N-1``, annotator code ``0..M-1``, class code
        ``0..K-1``.
    num_items, num_annotators, num_classes : int
        N, M and K.
    source : int64 array of shape (A,)
        For :meth:`from_coo`, the input position of each annotation.
    """

    item: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    num_items: int
    num_annotators: int
    num_classes: int
    source: np.ndarray | None = None  # input position of each (sorted) annotation
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_coo(
        cls,
        item,
        annotator,
        label,
        *,
        num_items=None,
        num_annotators=None,
        num_classes=None,
        order=None,
    ):
        """Sort and check (item, annotator, label) code arrays; ``ValueError`` on bad codes.

        ``order``: :func:`pair_order` of the arrays when the caller has it already (they are
        then sorted once).
        """
        item = np.asarray(item, dtype=np.int64)
        annotator = np.asarray(annotator, dtype=np.int64)
        label = np.asarray(label, dtype=np.int64)
        if not (item.ndim == annotator.ndim == label.ndim == 1) or not (
            len(item) == len(annotator) == len(label)
        ):
            raise ValueError("item, annotator and label must be 1-D arrays of the same length")
        n = int(item.max()) + 1 if num_items is None and len(item) else int(num_items or 0)
        m = (
            int(annotator.max()) + 1
            if num_annotators is None and len(item)
            else int(num_annotators or 0)
        )
        k = int(label.max()) + 1 if num_classes is None and len(item) else int(num_classes or 0)
        for name, codes, size in (
            ("item", item, n),
            ("annotator", annotator, m),
            ("label", label, k),
        ):
            if len(codes) and (codes.min() < 0 or codes.max() >= size):
                raise ValueError(f"{name} codes must lie in 0..{size - 1}")
        if order is None:
            order = pair_order(item, annotator, m)
        if order is SORTED:  # already in (item, annotator) order, no pair twice: no gathers
            return cls(item.copy(), annotator.copy(), label.copy(), n, m, k, np.arange(len(item)))
        item, annotator, label = item[order], annotator[order], label[order]
        key = item * max(m, 1) + annotator
        if len(key) > 1 and np.any(key[1:] == key[:-1]):
            raise ValueError("an annotator labelled the same item more than once")
        return cls(item, annotator, label, n, m, k, order)

    # Derived quantities, computed once.
    def _get(self, name, make):
        if name not in self._cache:
            value = make()
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            self._cache[name] = value
        return self._cache[name]

    @property
    def num_annotations(self) -> np.ndarray:
        """Annotations per item, shape (N,)."""
        return self._get("n", lambda: np.bincount(self.item, minlength=self.num_items))

    @property
    def votes(self) -> np.ndarray:
        """Vote counts per item and class (float), shape (N, K)."""
        k = self.num_classes
        return self._get(
            "votes",
            lambda: (
                np.bincount(self.item * k + self.label, minlength=self.num_items * k)
                .reshape(self.num_items, k)
                .astype(np.float64)
            ),
        )

    @property
    def rank_in_item(self) -> np.ndarray:
        """Position of each annotation among its item's annotations (0-based, annotator order)."""

        def make():
            starts = np.zeros(self.num_items + 1, dtype=np.int64)
            np.cumsum(self.num_annotations, out=starts[1:])
            return np.arange(len(self.item)) - starts[self.item]

        return self._get("rank", make)

    @property
    def by_annotator(self) -> tuple[np.ndarray, np.ndarray]:
        """(order, starts): annotation positions grouped by annotator (item order within)."""

        def make():
            order = np.argsort(self.annotator, kind="stable")
            starts = np.zeros(self.num_annotators + 1, dtype=np.int64)
            np.cumsum(np.bincount(self.annotator, minlength=self.num_annotators), out=starts[1:])
            order.setflags(write=False)
            return order, starts

        return self._get("by_annotator", make)

    def per_annotator_count(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Number of annotations per annotator (optionally only where ``mask``)."""
        w = None if mask is None else mask.astype(np.float64)
        return np.bincount(self.annotator, weights=w, minlength=self.num_annotators)


def annotations_from_wide(labels: np.ndarray, *, num_classes: int | None = None) -> Annotations:
    """Convert an N x M matrix of class codes (-1 or NaN: not labelled) to :class:`Annotations`.

    Examples
    --------
    >>> import numpy as np
    >>> ann = annotations_from_wide(np.array([[0, 0, 1], [1, 1, -1], [0, 1, -1], [2, 2, 2]]))
    >>> ann.num_annotations
    array([3, 2, 2, 3])
    >>> ann.item, ann.annotator
    (array([0, 0, 0, 1, 1, 2, 2, 3, 3, 3]), array([0, 1, 2, 0, 1, 0, 1, 0, 1, 2]))
    >>> ann.label
    array([0, 0, 1, 1, 1, 0, 1, 2, 2, 2])
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError("labels must be a 2-D array (items x annotators)")
    if labels.dtype.kind == "f":
        present = ~np.isnan(labels)
    else:
        present = labels >= 0
    item, annotator = np.nonzero(present)  # row-major: already sorted by (item, annotator)
    return Annotations.from_coo(
        item,
        annotator,
        labels[item, annotator].astype(np.int64),
        num_items=labels.shape[0],
        num_annotators=labels.shape[1],
        num_classes=num_classes,
    )


def renumbered(
    ann: Annotations, item_rank: np.ndarray, annotator_rank: np.ndarray
) -> tuple[Annotations, np.ndarray] | None:
    """``ann`` with item ``i`` renumbered ``item_rank[i]`` and annotator ``j``
    ``annotator_rank[j]`` (each a permutation), sorted by the new (item, annotator) codes, and
    for each of its annotations the position of the same annotation in ``ann``; ``None`` when
    both ranks are the identity.

    Given the ranks of the items' and annotators' values in sorted order, the annotations come
    out the same whatever the order of the input rows, so a method run on them does the same
    floating-point operations (and draws the same random numbers) for any row order.
    """
    item_rank = np.asarray(item_rank, dtype=np.int64)
    annotator_rank = np.asarray(annotator_rank, dtype=np.int64)
    if np.array_equal(item_rank, np.arange(len(item_rank))) and np.array_equal(
        annotator_rank, np.arange(len(annotator_rank))
    ):
        return None
    canon = Annotations.from_coo(
        item_rank[ann.item],
        annotator_rank[ann.annotator],
        ann.label,
        num_items=ann.num_items,
        num_annotators=ann.num_annotators,
        num_classes=ann.num_classes,
    )
    position = canon.source
    if position is None or not len(position):
        position = np.arange(len(canon.item))
    return replace(canon, source=None), position


def in_numbering(
    res: ConsensusResult, item_rank: np.ndarray, annotator_rank: np.ndarray, position: np.ndarray
) -> ConsensusResult:
    """``res``, computed on :func:`renumbered` annotations, in the original numbering: items
    ``item_rank``, annotators ``annotator_rank``, annotations ``position``."""
    annotation_quality = np.empty_like(res.annotation_quality)
    annotation_quality[position] = res.annotation_quality

    def annotators(x):
        return None if x is None else x[annotator_rank]

    return replace(
        res,
        consensus_label=res.consensus_label[item_rank],
        consensus_quality=res.consensus_quality[item_rank],
        annotator_agreement=res.annotator_agreement[item_rank],
        num_annotations=res.num_annotations[item_rank],
        post_pred_probs=res.post_pred_probs[item_rank],
        annotation_quality=annotation_quality,
        annotator_quality=res.annotator_quality[annotator_rank],
        agreement_with_consensus=res.agreement_with_consensus[annotator_rank],
        worst_class=res.worst_class[annotator_rank],
        num_labeled=res.num_labeled[annotator_rank],
        annotator_weight=annotators(res.annotator_weight),
        majority_vote_label=res.majority_vote_label[item_rank],
        tie_rung=res.tie_rung[item_rank],
        annotator_skill=annotators(res.annotator_skill),
    )


# --------------------------------------------------------------------------------------------
# Majority vote
# --------------------------------------------------------------------------------------------


def _keep_best(candidates: np.ndarray, rows: np.ndarray, values: np.ndarray, *, largest: bool):
    """Among ``candidates[rows]`` keep the classes whose value is the row's max (or min)."""
    sub = candidates[rows]
    fill = -np.inf if largest else np.inf
    masked = np.where(sub, values, fill)
    best = masked.max(axis=1, keepdims=True) if largest else masked.min(axis=1, keepdims=True)
    candidates[rows] = sub & (masked == best)


def majority_vote(
    ann: Annotations, pred_probs: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Majority-vote label per item with cleanlab's tie-break order, made deterministic.

    Ties between the most voted classes are broken, in order, by:

    1. the highest ``pred_probs`` among the tied classes (only when ``pred_probs`` is given);
    2. the class with the fewest votes in the whole dataset (favours the minority class);
    3. the highest mean agreement with the consensus of the annotators who chose the class, that
       agreement being measured on the items without a tie (annotators without such items get the
       mean of the others);
    4. the lowest class code (cleanlab draws at random here).

    Parameters
    ----------
    ann : Annotations
    pred_probs : ndarray of shape (N, K), optional

    Returns
    -------
    labels : int64 ndarray (N,)
        The majority-vote class codes.
    tie_rung : int8 ndarray (N,)
        ``TIE_NONE`` for items with a single most voted class, else the rung that decided.

    Examples
    --------
    >>> import numpy as np
    >>> ann = annotations_from_wide(np.array([[0, 0, 1], [1, 1, -1], [0, 1, -1], [2, 2, 2]]))
    >>> majority_vote(ann)  # item 2: 0 and 1 tied, class 0 has fewer votes overall
    (array([0, 1, 0, 2]), array([0, 0, 2, 0], dtype=int8))
    >>> p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8]])
    >>> majority_vote(ann, p)  # item 2: the model prefers 1
    (array([0, 1, 1, 2]), array([0, 0, 1, 0], dtype=int8))
    """
    votes = ann.votes
    n_items = ann.num_items
    candidates = votes == votes.max(axis=1, keepdims=True)
    num_tied = candidates.sum(axis=1)
    rung = np.zeros(n_items, dtype=np.int8)
    pending = np.flatnonzero(num_tied > 1)
    untied = num_tied == 1

    def settle(rung_code):
        nonlocal pending
        done = candidates[pending].sum(axis=1) == 1
        rung[pending[done]] = rung_code
        pending = pending[~done]

    if pred_probs is not None and len(pending):
        _keep_best(candidates, pending, np.asarray(pred_probs)[pending], largest=True)
        settle(TIE_PRED_PROBS)
    if len(pending):
        freq = votes.sum(axis=0)
        _keep_best(
            candidates, pending, np.broadcast_to(freq, (len(pending), len(freq))), largest=False
        )
        settle(TIE_CLASS_FREQUENCY)
    if len(pending):
        labels_untied = np.argmax(candidates, axis=1)  # exact for untied rows
        on_untied = untied[ann.item]
        agree = on_untied & (ann.label == labels_untied[ann.item])
        total = ann.per_annotator_count(on_untied)
        hits = ann.per_annotator_count(agree)
        with np.errstate(invalid="ignore", divide="ignore"):
            agreement = hits / total
        known = total > 0
        if known.any():
            agreement[~known] = np.mean(agreement[known])
            k = ann.num_classes
            on_pending = np.zeros(n_items, dtype=bool)
            on_pending[pending] = True
            sel = on_pending[ann.item]
            key = ann.item[sel] * k + ann.label[sel]
            sums = np.bincount(key, weights=agreement[ann.annotator[sel]], minlength=n_items * k)
            counts = np.bincount(key, minlength=n_items * k)
            sums = sums.reshape(n_items, k)[pending]
            counts = counts.reshape(n_items, k)[pending]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_agreement = sums / counts
            _keep_best(candidates, pending, mean_agreement, largest=True)
            settle(TIE_ANNOTATOR_AGREEMENT)
    rung[pending] = TIE_LOWEST_CLASS
    return np.argmax(candidates, axis=1).astype(np.int64), rung


# --------------------------------------------------------------------------------------------
# CROWDLAB
# --------------------------------------------------------------------------------------------


@dataclass
class ConsensusResult:
    """Consensus, quality and annotator statistics (arrays per item, annotator or annotation).

    Returned by :func:`crowdlab`, :func:`majority_vote_consensus` and
    :func:`dawid_skene_consensus`; weights are ``None`` where the method has none.
    """

    consensus_label: np.ndarray  # (N,) class codes
    consensus_quality: np.ndarray  # (N,)
    annotator_agreement: np.ndarray  # (N,) fraction of the item's annotators agreeing
    num_annotations: np.ndarray  # (N,)
    post_pred_probs: np.ndarray  # (N, K)
    annotation_quality: np.ndarray  # (A,) quality of each annotation's label, Annotations order
    annotator_quality: np.ndarray  # (M,)
    agreement_with_consensus: np.ndarray  # (M,)
    worst_class: np.ndarray  # (M,) class codes
    num_labeled: np.ndarray  # (M,)
    model_weight: float | None
    annotator_weight: np.ndarray | None  # (M,)
    majority_vote_label: np.ndarray  # (N,)
    tie_rung: np.ndarray  # (N,) majority-vote tie rung
    temperature: float = 1.0
    annotator_skill: np.ndarray | None = None  # (M,) an aggregator's own skill parameter
    model_weights: np.ndarray | None = None  # (E,) an ensemble's model weights


def _agreement_with_consensus(ann: Annotations, consensus: np.ndarray) -> np.ndarray:
    """Fraction of each item's annotators whose label equals the consensus."""
    hits = np.bincount(
        ann.item, weights=(ann.label == consensus[ann.item]), minlength=ann.num_items
    )
    return hits / ann.num_annotations


def _agreement_with_annotators(ann: Annotations) -> np.ndarray:
    """Each annotator's agreement with the other annotators of the same items.

    Per item the share of the other annotators who gave the same label, averaged with weights
    ``n_i - 1``; NaN for an annotator who shares no item (filled with the mean of the others).
    """
    n = ann.num_annotations[ann.item].astype(np.float64)
    same = ann.votes[ann.item, ann.label]
    weight = n - 1.0
    per = np.zeros(len(ann.item))
    multi = n > 1
    per[multi] = (same[multi] - 1.0) / weight[multi]
    order, starts = ann.by_annotator
    out = np.full(ann.num_annotators, np.nan)
    prod = per[order] * weight[order]
    w_sorted = weight[order]
    for j in range(ann.num_annotators):  # slice sums keep numpy's summation order per annotator
        sl = slice(starts[j], starts[j + 1])
        scale = w_sorted[sl].sum()
        if scale != 0:
            out[j] = prod[sl].sum() / scale
    missing = np.isnan(out)
    if missing.any() and not missing.all():
        out[missing] = np.mean(out[~missing])
    return out


def _label_quality(labels, pred_probs, score_kwargs):
    """Label quality of ``labels`` under ``pred_probs``: self-confidence unless told otherwise."""
    if not score_kwargs or (
        score_kwargs.get("method", "self_confidence") == "self_confidence"
        and not score_kwargs.get("adjust_pred_probs", False)
    ):
        return pred_probs[np.arange(len(labels)), labels]
    from ..classification import rank

    return rank.get_label_quality_scores(labels, pred_probs, **score_kwargs)


def _posterior(ann: Annotations, pred_probs, consensus, agreement, num_classes):
    """CROWDLAB posterior class probabilities and the model / annotator weights.

    ``pred_probs`` of shape (E, N, K) is an ensemble: one weight per model (an array), the
    models' weighted probabilities summed in model order before the annotators' votes.
    """
    n = ann.num_annotations
    multi = n != 1
    consensus_likelihood = np.mean(agreement[multi])
    other_likelihood = (1 - consensus_likelihood) / (num_classes - 1)
    cons_multi = consensus[multi]
    top_class = np.argmax(np.bincount(cons_multi, minlength=num_classes))
    class_error = max(np.mean(cons_multi != top_class), CLIPPING_LOWER_BOUND)
    annotator_error = 1 - _agreement_with_annotators(ann)
    annotator_weight = np.clip(1 - annotator_error / class_error, CLIPPING_LOWER_BOUND, None)
    models = pred_probs if pred_probs.ndim == 3 else pred_probs[None]
    weights = np.array(
        [
            max(
                1 - np.mean(np.argmax(p[multi], axis=1) != cons_multi) / class_error,
                CLIPPING_LOWER_BOUND,
            )
            * np.sqrt(np.mean(n))
            for p in models
        ]
    )
    ensemble = pred_probs.ndim == 3
    model_weight = np.sum(weights) if ensemble else weights[0]

    w = annotator_weight[ann.annotator]
    total = np.bincount(ann.item, weights=w, minlength=ann.num_items) + model_weight
    post = models[0] * weights[0]
    for p, wt in zip(models[1:], weights[1:]):
        post += p * wt
    low = w * other_likelihood
    high = w * consensus_likelihood
    rank_in_item = ann.rank_in_item
    # Add annotators one "slot" at a time so each item sums its annotators in annotator order.
    for r in range(int(n.max()) if len(n) else 0):
        sel = np.flatnonzero(rank_in_item == r)
        rows = ann.item[sel]
        add = np.repeat(low[sel, None], num_classes, axis=1)
        add[np.arange(len(sel)), ann.label[sel]] = high[sel]
        post[rows] += add
    post /= total[:, None]
    return post, (weights if ensemble else float(model_weight)), annotator_weight


def _consensus_stats(ann, pred_probs, consensus, quality_method, score_kwargs):
    agreement = _agreement_with_consensus(ann, consensus)
    k = pred_probs.shape[-1]
    if quality_method == "crowdlab":
        post, model_weight, annotator_weight = _posterior(ann, pred_probs, consensus, agreement, k)
        quality = _label_quality(consensus, post, score_kwargs)
    elif quality_method == "agreement":
        post = ann.votes / ann.num_annotations[:, None]
        model_weight = annotator_weight = None
        quality = agreement
    else:
        raise ValueError(
            f"quality_method must be 'crowdlab' or 'agreement', got {quality_method!r}"
        )
    return agreement, quality, post, model_weight, annotator_weight


def _best_quality_label(post: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """argmax of the posterior; the fallback label where the maximum is tied."""
    top = post.max(axis=1, keepdims=True)
    unique = (post == top).sum(axis=1) == 1
    return np.where(unique, np.argmax(post, axis=1), fallback).astype(np.int64)


def _annotation_quality(ann, post, score_kwargs):
    if score_kwargs and score_kwargs.get("adjust_pred_probs", False):
        # Thresholds depend on the labels passed together: score each annotator separately.
        out = np.empty(len(ann.item))
        order, starts = ann.by_annotator
        for j in range(ann.num_annotators):
            idx = order[starts[j] : starts[j + 1]]
            out[idx] = _label_quality(ann.label[idx], post[ann.item[idx]], score_kwargs)
        return out
    return _label_quality(ann.label, post[ann.item], score_kwargs)


def _worst_class(ann, consensus, consensus_quality):
    """Per annotator, the class (among those it used) with the lowest accuracy vs the consensus.

    Ties: most used class, then highest mean consensus quality of those items, then lowest code.
    """
    m, k = ann.num_annotators, ann.num_classes
    key = ann.annotator * k + ann.label
    count = np.bincount(key, minlength=m * k).reshape(m, k)
    correct = np.bincount(key, weights=(ann.label == consensus[ann.item]), minlength=m * k).reshape(
        m, k
    )
    qsum = np.bincount(key, weights=consensus_quality[ann.item], minlength=m * k).reshape(m, k)
    used = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = correct / count
        mean_quality = qsum / count
    cand = used.copy()
    rows = np.arange(m)
    _keep_best(cand, rows, accuracy, largest=False)
    _keep_best(cand, rows, count.astype(np.float64), largest=True)
    _keep_best(cand, rows, mean_quality, largest=True)
    return np.argmax(cand, axis=1).astype(np.int64)


def _annotator_table(
    ann,
    consensus,
    consensus_quality,
    annotation_quality,
    model_weight,
    annotator_weight,
    quality_method,
):
    """annotator_quality, agreement_with_consensus, worst_class, num_labeled per annotator."""
    num_labeled = ann.per_annotator_count()
    agree = ann.label == consensus[ann.item]
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement_all = ann.per_annotator_count(agree) / num_labeled
        on_multi = ann.num_annotations[ann.item] != 1
        agreement_multi = ann.per_annotator_count(agree & on_multi) / ann.per_annotator_count(
            on_multi
        )
    if quality_method in ("crowdlab", "posterior"):
        lqs = np.bincount(ann.annotator, weights=annotation_quality, minlength=ann.num_annotators)
        lqs = lqs / num_labeled
        if quality_method == "posterior":  # no model: the label quality alone
            quality = lqs
        else:
            frac = np.mean(ann.num_annotations) / ann.num_annotators
            w = model_weight / (model_weight + np.sum(annotator_weight) * frac)
            quality = w * lqs + (1 - w) * agreement_multi
            # cleanlab gives NaN when an annotator shares no item; fall back on its label quality.
            alone = np.isnan(agreement_multi)
            quality[alone] = lqs[alone]
    else:
        # cleanlab gives NaN when an annotator shares no item; fall back on its full agreement.
        quality = np.where(np.isnan(agreement_multi), agreement_all, agreement_multi)
    worst = _worst_class(ann, consensus, consensus_quality)
    return quality, agreement_all, worst, num_labeled.astype(np.int64)


def _result(
    ann,
    consensus,
    quality,
    agreement,
    post,
    annotation_quality,
    quality_method,
    model_weight=None,
    annotator_weight=None,
    mv=None,
    rung=None,
    temperature=1.0,
):
    """Assemble a :class:`ConsensusResult`, computing the per-annotator table."""
    a_quality, a_agree, worst, num_labeled = _annotator_table(
        ann, consensus, quality, annotation_quality, model_weight, annotator_weight, quality_method
    )
    if mv is None:
        mv, rung = majority_vote(ann)
    return ConsensusResult(
        consensus_label=consensus,
        consensus_quality=np.asarray(quality, dtype=np.float64),
        annotator_agreement=agreement,
        num_annotations=ann.num_annotations.copy(),
        post_pred_probs=post,
        annotation_quality=annotation_quality,
        annotator_quality=a_quality,
        agreement_with_consensus=a_agree,
        worst_class=worst,
        num_labeled=num_labeled,
        model_weight=model_weight,
        annotator_weight=annotator_weight,
        majority_vote_label=mv,
        tie_rung=rung,
        temperature=temperature,
    )


def crowdlab(
    ann: Annotations,
    pred_probs: np.ndarray,
    *,
    consensus_method: str = "best_quality",
    quality_method: str = "crowdlab",
    calibrate_probs: bool = False,
    label_quality_score_kwargs: dict | None = None,
) -> ConsensusResult:
    """CROWDLAB consensus labels, consensus quality, per-annotation and per-annotator quality.

    Mirrors ``cleanlab.multiannotator.get_label_quality_multiannotator`` (one consensus method at a
    time). The posterior of item i is a weighted average of the model's ``pred_probs`` (weight
    ``w_m``) and, for each annotator j of the item, the vector that puts the average
    agreement-with-consensus ``c`` on j's label and ``(1-c)/(K-1)`` on every other class (weight
    ``w_j``); both weights measure how much better than always guessing the most common consensus
    class the model and each annotator are.

    Parameters
    ----------
    ann : Annotations
        Every item must have at least one annotation; some items need two or more.
    pred_probs : ndarray of shape (N, K)
        Out-of-sample predicted probabilities per item. Not modified.
    consensus_method : {"best_quality", "majority_vote"}
    quality_method : {"crowdlab", "agreement"}
    calibrate_probs : bool
        Temperature-scale ``pred_probs`` first (temperature from :func:`find_best_temperature`).
    label_quality_score_kwargs : dict, optional
        ``method`` / ``adjust_pred_probs`` for the label quality score (self-confidence default).

    Returns
    -------
    ConsensusResult

    Examples
    --------
    >>> import numpy as np
    >>> ann = annotations_from_wide(np.array([[0, 0, 1], [1, 1, -1], [0, 1, -1], [2, 2, 2]]))
    >>> p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8]])
    >>> res = crowdlab(ann, p)
    >>> res.consensus_label, res.consensus_quality.round(3)
    (array([0, 1, 1, 2]), array([0.727, 0.798, 0.555, 0.798]))
    >>> res.annotator_quality.round(3)  # annotator 2 disagreed on item 0
    array([0.688, 0.792, 0.489])
    """
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    if pred_probs.shape[-2:] != (ann.num_items, ann.num_classes) or pred_probs.ndim not in (2, 3):
        raise ValueError(
            f"pred_probs must have shape {(ann.num_items, ann.num_classes)} (one model) or "
            f"(E, {ann.num_items}, {ann.num_classes}) (an ensemble of E models)"
        )
    ensemble = pred_probs.ndim == 3
    if ensemble and consensus_method != "best_quality":
        raise ValueError("an ensemble takes consensus_method='best_quality'")
    if consensus_method not in ("best_quality", "majority_vote"):
        raise ValueError(
            f"consensus_method must be 'best_quality' or 'majority_vote', got {consensus_method!r}"
        )
    if ann.num_classes < 2:
        raise ValueError("need at least two classes")
    if np.any(ann.num_annotations == 0):
        raise ValueError("every item needs at least one annotation")
    if np.all(ann.num_annotations == 1):
        raise ValueError("every item has a single annotation; need some items with two or more")
    temperature = 1.0
    if calibrate_probs and ensemble:  # each model scaled by its own temperature
        pred_probs = np.stack(
            [temperature_scale(p, find_best_temperature(ann, p)) for p in pred_probs]
        )
    elif calibrate_probs:
        temperature = find_best_temperature(ann, pred_probs)
        pred_probs = temperature_scale(pred_probs, temperature)
    score_kwargs = dict(label_quality_score_kwargs or {})
    mv, rung = majority_vote(ann, np.mean(pred_probs, axis=0) if ensemble else pred_probs)
    stats = _consensus_stats(ann, pred_probs, mv, quality_method, score_kwargs)
    consensus = mv
    if consensus_method == "best_quality":
        consensus = _best_quality_label(stats[2], mv)
        stats = _consensus_stats(ann, pred_probs, consensus, quality_method, score_kwargs)
    agreement, quality, post, model_weight, annotator_weight = stats
    annotation_quality = _annotation_quality(ann, post, score_kwargs)
    model_weights = None
    if ensemble and model_weight is not None:  # annotators are scored with the mean weight
        model_weights, model_weight = model_weight, float(np.mean(model_weight))
    res = _result(
        ann,
        consensus,
        quality,
        agreement,
        post,
        annotation_quality,
        quality_method,
        model_weight,
        annotator_weight,
        mv,
        rung,
        temperature,
    )
    res.model_weights = model_weights
    return res


# --------------------------------------------------------------------------------------------
# Temperature scaling
# --------------------------------------------------------------------------------------------


def _soft_cross_entropy(empirical: np.ndarray, probs: np.ndarray) -> float:
    k = probs.shape[1]
    clipped = np.clip(probs, _SMALL_PROB, None)
    return float(np.mean(-np.sum(empirical * np.log(clipped), axis=1) / np.log(k)))


def _power_softmax(log_p: np.ndarray, temperature: float) -> np.ndarray:
    e = np.exp(log_p / max(temperature, CLIPPING_LOWER_BOUND))
    return e / np.sum(e, axis=1, keepdims=True)


def find_best_temperature(ann: Annotations, pred_probs: np.ndarray) -> float:
    """Temperature that best matches ``pred_probs`` to the annotators' vote distribution.

    Minimises the mean normalised soft cross-entropy between each item's empirical label
    distribution and ``softmax(log(pred_probs) / T)``: a coarse grid
    ``0.1, 0.2, 0.5, 0.8, 1, 2, 3, 5, 8``, then 4 points from the previous grid value up to the best
    one and 5 from the best up to the next one (both ends included).
    """
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    empirical = ann.votes / ann.num_annotations[:, None]
    log_p = np.full(pred_probs.shape, -np.inf)
    np.log(pred_probs, where=pred_probs > 0, out=log_p)

    def best(grid):
        losses = [_soft_cross_entropy(empirical, _power_softmax(log_p, t)) for t in grid]
        return int(np.argmin(losses))

    coarse = _TEMPERATURE_GRID
    i = best(coarse)
    fine: list[float] = []
    if i > 0:
        fine.extend(np.linspace(coarse[i - 1], coarse[i], _FINE_STEPS, endpoint=False))
    if i < len(coarse) - 1:
        fine.extend(np.linspace(coarse[i], coarse[i + 1], _FINE_STEPS + 1, endpoint=True))
    return float(fine[best(fine)])


def temperature_scale(pred_probs: np.ndarray, temperature: float) -> np.ndarray:
    """``pred_probs ** (1/T)`` renormalised (after clipping at 1e-30); returns a new array."""
    p = np.clip(np.asarray(pred_probs, dtype=np.float64), _SMALL_PROB, None)
    p = p / np.sum(p, axis=1)[:, None]
    scaled = _power_softmax(np.log(p), temperature)
    return scaled / np.sum(scaled, axis=1)[:, None]


# --------------------------------------------------------------------------------------------
# ActiveLab
# --------------------------------------------------------------------------------------------


def active_learning_scores(
    ann: Annotations | None,
    pred_probs: np.ndarray | None,
    pred_probs_unlabeled: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ActiveLab scores: lower = more worth labelling (again) next.

    Mirrors ``cleanlab.multiannotator.get_active_learning_scores``. For labelled items the score
    mixes the CROWDLAB consensus quality (after temperature scaling) with the uniform guess 1/K,
    weighted by the total weight of the item's annotators plus the model versus one average
    annotator. When every labelled item has exactly one label, no temperature is fitted, the
    consensus is the majority vote and all weights are 1. Unlabelled items score
    ``(w_m * max_k p + mean(w) / K) / (w_m + mean(w))`` with the same temperature.

    Parameters
    ----------
    ann : Annotations or None
        Annotations of the labelled items (every item at least one annotation).
    pred_probs : ndarray (N, K) or None
        Predicted probabilities of the labelled items.
    pred_probs_unlabeled : ndarray (U, K) or None
        Predicted probabilities of items nobody labelled yet.

    Returns
    -------
    scores_labeled : ndarray (N,) ; scores_unlabeled : ndarray (U,)
        Either is empty when its input is absent.

    Examples
    --------
    >>> import numpy as np
    >>> ann = annotations_from_wide(np.array([[0, 0, 1], [1, 1, -1], [0, 1, -1], [2, 2, 2]]))
    >>> p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8]])
    >>> labeled, unlabeled = active_learning_scores(ann, p, np.array([[0.5, 0.4, 0.1]]))
    >>> labeled.round(3), unlabeled.round(3)  # label the new item first, then item 2
    (array([0.779, 0.836, 0.606, 0.836]), array([0.53]))
    """
    if pred_probs is None and pred_probs_unlabeled is None:
        raise ValueError("pass pred_probs, pred_probs_unlabeled or both")
    temperature, model_weight, mean_weight = 1.0, 1.0, 1.0
    scores = np.array([])
    if pred_probs is not None:
        if ann is None:
            raise ValueError("annotations are required with pred_probs")
        pred_probs = np.asarray(pred_probs, dtype=np.float64)
        k = pred_probs.shape[1]
        if np.any(ann.num_annotations == 0):
            raise ValueError("every labelled item needs at least one annotation")
        if np.all(ann.num_annotations == 1):
            consensus, _ = majority_vote(ann, pred_probs)
            quality = _label_quality(consensus, pred_probs, None)
            weight_sum = ann.num_annotations.astype(np.float64) + model_weight
        else:
            temperature = find_best_temperature(ann, pred_probs)
            res = crowdlab(ann, temperature_scale(pred_probs, temperature))
            # crowdlab always sets both weights (they are None only for the other methods)
            assert res.model_weight is not None and res.annotator_weight is not None
            quality = res.consensus_quality
            model_weight = res.model_weight
            mean_weight = float(np.mean(res.annotator_weight))
            weight_sum = _item_weight_sums(ann, res.annotator_weight) + model_weight
        scores = (quality * weight_sum + (1 / k) * mean_weight) / (weight_sum + mean_weight)
    unlabeled = np.array([])
    if pred_probs_unlabeled is not None:
        p_u = temperature_scale(pred_probs_unlabeled, temperature)
        k = p_u.shape[1]
        top = np.max(p_u, axis=1)
        unlabeled = (top * model_weight + (1 / k) * mean_weight) / (model_weight + mean_weight)
    return scores, unlabeled


def active_learning_scores_ensemble(
    ann: Annotations | None,
    pred_probs: np.ndarray | None,
    pred_probs_unlabeled: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ActiveLab scores from an ensemble: ``pred_probs`` of shape (E, N, K), one per model.

    Mirrors ``cleanlab.multiannotator.get_active_learning_scores_ensemble``. Each model gets its
    own temperature and CROWDLAB weight; a labelled item's score mixes the ensemble CROWDLAB
    consensus quality with 1/K as :func:`active_learning_scores` does, with the models' weights
    summed. An unlabelled item's consensus is the majority vote of the models' argmaxes (ties
    broken by the mean probabilities, as :func:`majority_vote`); its score is the probability of
    that class under the weighted average of the models' probabilities and the uniform guess
    (weight: the mean annotator weight). With single labels only, or no labelled items, every
    temperature and weight is 1. Inputs are not modified.

    Examples
    --------
    >>> import numpy as np
    >>> ann = annotations_from_wide(np.array([[0, 0, 1], [1, 1, -1], [0, 1, -1], [2, 2, 2]]))
    >>> p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8]])
    >>> q = np.array([[0.5, 0.4, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    >>> labeled, unlabeled = active_learning_scores_ensemble(
    ...     ann, np.stack([p, q]), np.stack([[[0.5, 0.4, 0.1]], [[0.3, 0.6, 0.1]]]))
    >>> labeled.round(3), unlabeled.round(3)
    (array([0.688, 0.865, 0.574, 0.83 ]), array([0.653]))
    """
    if pred_probs is None and pred_probs_unlabeled is None:
        raise ValueError("pass pred_probs, pred_probs_unlabeled or both")
    some = pred_probs if pred_probs is not None else pred_probs_unlabeled
    assert some is not None
    n_models, k = some.shape[0], some.shape[2]
    temperatures = np.ones(n_models)
    model_weights = np.ones(n_models)
    mean_weight = 1.0
    scores = np.array([])
    if pred_probs is not None:
        if ann is None:
            raise ValueError("annotations are required with pred_probs")
        pred_probs = np.asarray(pred_probs, dtype=np.float64)
        if np.any(ann.num_annotations == 0):
            raise ValueError("every labelled item needs at least one annotation")
        if np.all(ann.num_annotations == 1):
            mean_p = np.mean(pred_probs, axis=0)
            consensus, _ = majority_vote(ann, mean_p)
            quality = _label_quality(consensus, mean_p, None)
            weight_sum = ann.num_annotations.astype(np.float64) + np.sum(model_weights)
        else:
            temperatures = np.array([find_best_temperature(ann, p) for p in pred_probs])
            scaled = np.stack([temperature_scale(p, t) for p, t in zip(pred_probs, temperatures)])
            res = crowdlab(ann, scaled)
            assert res.model_weights is not None and res.annotator_weight is not None
            quality = res.consensus_quality
            model_weights = res.model_weights
            mean_weight = float(np.mean(res.annotator_weight))
            weight_sum = _item_weight_sums(ann, res.annotator_weight) + np.sum(model_weights)
        scores = (quality * weight_sum + (1 / k) * mean_weight) / (weight_sum + mean_weight)
    unlabeled = np.array([])
    if pred_probs_unlabeled is not None:
        p_u = np.stack(
            [temperature_scale(p, t) for p, t in zip(pred_probs_unlabeled, temperatures)]
        )
        votes = annotations_from_wide(np.argmax(p_u, axis=2).T, num_classes=k)
        consensus_u, _ = majority_vote(votes, np.mean(p_u, axis=0))
        mixed = p_u[0] * model_weights[0]
        for p, w in zip(p_u[1:], model_weights[1:]):
            mixed += p * w
        mixed = (mixed + mean_weight / k) / (np.sum(model_weights) + mean_weight)
        unlabeled = mixed[np.arange(len(consensus_u)), consensus_u]
    return scores, unlabeled


def _item_weight_sums(ann: Annotations, annotator_weight: np.ndarray) -> np.ndarray:
    """Sum of the weights of each item's annotators."""
    return np.bincount(ann.item, weights=annotator_weight[ann.annotator], minlength=ann.num_items)


# --------------------------------------------------------------------------------------------
# Dawid-Skene
# --------------------------------------------------------------------------------------------


@dataclass
class DawidSkeneResult:
    """Output of :func:`dawid_skene`."""

    posterior: np.ndarray  # (N, K) P(true class | annotations)
    priors: np.ndarray  # (K,)
    confusion: np.ndarray  # (M, K, K): [j, true, given] = P(j answers `given` | true class)
    n_iter: int
    converged: bool


_DS_EPS = 1e-10


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 values (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def canonical_item_order(ann: Annotations) -> np.ndarray:
    """Item codes sorted by their annotations (the set of (annotator, label) pairs).

    Items with the same annotations are interchangeable, so an iterative method run over the items
    in this order does the same floating-point operations whatever the input row order: its
    result is exactly row-order invariant (an unstable EM fixed point otherwise amplifies the
    rounding differences of sums taken in another order). Items are keyed by their number of
    annotations and two 64-bit hashes of their pair set; equal keys are checked to be equal
    patterns, with a full lexicographic sort if two patterns ever collide. O(#annotations).
    """
    n, k = ann.num_items, ann.num_classes
    counts = ann.num_annotations
    code = (ann.annotator * k + ann.label).astype(np.uint64)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    nonempty = np.flatnonzero(counts > 0)
    hashes = []
    for salt in (0, 0x5851F42D4C957F2D):
        h = np.zeros(n, dtype=np.uint64)
        if len(nonempty):
            h[nonempty] = np.add.reduceat(_mix64(code ^ np.uint64(salt)), starts[nonempty])
        hashes.append(h)
    order = np.lexsort((hashes[1], hashes[0], counts))
    same = (
        (counts[order[1:]] == counts[order[:-1]])
        & (hashes[0][order[1:]] == hashes[0][order[:-1]])
        & (hashes[1][order[1:]] == hashes[1][order[:-1]])
    )
    a, b = order[:-1][same], order[1:][same]
    offsets = np.arange(int(counts[a].sum())) - np.repeat(
        np.cumsum(counts[a]) - counts[a], counts[a]
    )
    if np.array_equal(
        code[np.repeat(starts[a], counts[a]) + offsets],
        code[np.repeat(starts[b], counts[b]) + offsets],
    ):
        return order
    padded = np.full((n, int(counts.max())), -1, dtype=np.int64)  # a hash collision: exact sort
    padded[ann.item, ann.rank_in_item] = code.astype(np.int64)
    return np.lexsort(padded.T[::-1])


def _in_canonical_item_order(ann: Annotations) -> tuple[Annotations, np.ndarray]:
    """``ann`` with its items renumbered in :func:`canonical_item_order` and, per original item,
    its new code (index the results with it)."""
    order = canonical_item_order(ann)
    new_code = np.empty(ann.num_items, dtype=np.int64)
    new_code[order] = np.arange(ann.num_items)
    if np.array_equal(order, np.arange(ann.num_items)):
        return ann, new_code
    canon = Annotations.from_coo(
        new_code[ann.item],
        ann.annotator,
        ann.label,
        num_items=ann.num_items,
        num_annotators=ann.num_annotators,
        num_classes=ann.num_classes,
    )
    return canon, new_code


def _ds_incidence(ann: Annotations):
    """Sparse (M*K) x N matrix with a 1 where annotator j gave item i the label l (row j*K+l)."""
    from scipy import sparse

    k = ann.num_classes
    data = np.ones(len(ann.item))
    shape = (ann.num_annotators * k, ann.num_items)
    return sparse.csr_matrix((data, (ann.annotator * k + ann.label, ann.item)), shape=shape)


def _ds_m_step(ann: Annotations, incidence, post: np.ndarray):
    m, k = ann.num_annotators, ann.num_classes
    counts = np.asarray(incidence @ post).reshape(m, k, k)  # [annotator, given, true]
    np.clip(counts, _DS_EPS, None, out=counts)
    confusion = counts / counts.sum(axis=1, keepdims=True)  # normalise over the given label
    # A class nobody chose keeps prior 0: otherwise its flat confusion rows can "explain" items
    # whose annotators disagree better than any real class.
    priors = np.where(ann.votes.sum(axis=0) > 0, np.clip(post.mean(axis=0), _DS_EPS, None), 0.0)
    return priors, confusion.transpose(0, 2, 1)  # [annotator, true, given]


def _ds_e_step(ann: Annotations, incidence_t, priors, confusion):
    m, k = ann.num_annotators, ann.num_classes
    log_conf = np.log(confusion).transpose(0, 2, 1).reshape(m * k, k)  # row j*K+given
    with np.errstate(divide="ignore"):
        loglik = np.asarray(incidence_t @ log_conf) + np.log(priors)
    top = loglik.max(axis=1, keepdims=True)
    post = np.exp(loglik - top)
    total = post.sum(axis=1, keepdims=True)
    post /= total
    log_evidence = float(np.sum(np.log(total) + top))
    return post, log_evidence


def dawid_skene(ann: Annotations, *, max_iter: int = 100, tol: float = 1e-7) -> DawidSkeneResult:
    """Dawid-Skene EM: per-annotator confusion matrices and posterior class probabilities.

    Starts from the vote shares (soft majority vote), then alternates the M-step (class priors and
    each annotator's confusion matrix from the current posteriors, counts clipped at 1e-10; a
    class that no annotator chose keeps prior 0) and the
    E-step (posterior proportional to ``prior * prod_j confusion[j, true, label_j]``, in log space)
    until the log-likelihood per annotation improves by less than ``tol`` or after ``max_iter``
    iterations. Both steps are one sparse-dense product. Deterministic and invariant to the
    order of the items: they are processed in :func:`canonical_item_order` (the annotators in
    their code order: see :func:`dawid_skene_consensus`'s ``order``).

    Parameters
    ----------
    ann : Annotations
        Every item needs at least one annotation.
    max_iter : int
    tol : float

    Returns
    -------
    DawidSkeneResult

    Examples
    --------
    >>> import numpy as np
    >>> ann = annotations_from_wide(np.array([[0, 0, 1], [1, 1, -1], [0, 1, -1], [2, 2, 2]]))
    >>> res = dawid_skene(ann)
    >>> res.posterior.argmax(axis=1), res.converged
    (array([0, 1, 1, 2]), True)
    """
    if np.any(ann.num_annotations == 0):
        raise ValueError("every item needs at least one annotation")
    ann, new_code = _in_canonical_item_order(ann)
    incidence = _ds_incidence(ann)
    incidence_t = incidence.T.tocsr()
    post = ann.votes / ann.num_annotations[:, None]
    converged = False
    previous = -np.inf
    it = 0
    scale = max(len(ann.item), 1)
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is read after the loop)
        priors, confusion = _ds_m_step(ann, incidence, post)
        post, evidence = _ds_e_step(ann, incidence_t, priors, confusion)
        if (evidence - previous) / scale < tol:
            converged = True
            break
        previous = evidence
    priors, confusion = _ds_m_step(ann, incidence, post)
    return DawidSkeneResult(post[new_code], priors, confusion, it, converged)


# --------------------------------------------------------------------------------------------
# Consensus without a model
# --------------------------------------------------------------------------------------------


def majority_vote_consensus(ann: Annotations) -> ConsensusResult:
    """Majority vote without ``pred_probs``, scored like CROWDLAB's ``"agreement"`` method.

    The consensus quality is the share of the item's annotators who chose the consensus; each
    annotation's quality is the share of the item's annotators who chose the same label; an
    annotator's quality is its agreement with the consensus on items labelled more than once.
    """
    if np.any(ann.num_annotations == 0):
        raise ValueError("every item needs at least one annotation")
    consensus, rung = majority_vote(ann)
    agreement = _agreement_with_consensus(ann, consensus)
    shares = ann.votes / ann.num_annotations[:, None]
    annotation_quality = shares[ann.item, ann.label]
    return _result(
        ann,
        consensus,
        agreement.copy(),
        agreement,
        shares,
        annotation_quality,
        "agreement",
        mv=consensus,
        rung=rung,
    )


def dawid_skene_consensus(
    ann: Annotations,
    *,
    max_iter: int = 100,
    tol: float = 1e-7,
    order: tuple[np.ndarray, np.ndarray] | None = None,
) -> ConsensusResult:
    """Dawid-Skene consensus: the most probable class under :func:`dawid_skene`'s posterior.

    The consensus quality is the posterior probability of the consensus class; each annotation's
    quality is the posterior probability of its label; an annotator's quality is the mean quality
    of its annotations. Posterior ties go to the lowest class code.

    ``order``: ``(item_rank, annotator_rank)``, each item's and annotator's position among their
    values sorted; everything is then computed in that numbering (:func:`renumbered`) and mapped
    back, so that the result has the same bits in any input row order.
    """
    if order is not None:
        canon = renumbered(ann, *order)
        if canon is not None:
            res = dawid_skene_consensus(canon[0], max_iter=max_iter, tol=tol)
            return in_numbering(res, *order, canon[1])
    ds = dawid_skene(ann, max_iter=max_iter, tol=tol)
    post = ds.posterior
    consensus = np.argmax(post, axis=1).astype(np.int64)
    quality = post[np.arange(ann.num_items), consensus]
    annotation_quality = post[ann.item, ann.label]
    agreement = _agreement_with_consensus(ann, consensus)
    return _result(ann, consensus, quality, agreement, post, annotation_quality, "posterior")
