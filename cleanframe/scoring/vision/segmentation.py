"""Semantic-segmentation label quality, in passes over batches of images.

Every pixel is an example of confident learning (cleanlab 2.9 ``segmentation``):

- pixel score = the probability of the given class at the pixel;
- image score, ``softmin``: ``sum s * softmax((1 - s) / T)`` over the image's pixels (T = 0.1);
  ``num_pixel_issues``: 1 - the fraction of the image's pixels flagged;
- flagged pixels: the per-class thresholds are the mean probability of the given class over the
  pixels of that class (at least 2e-6); the number of issues is the count of pixels whose
  predicted class c differs from the given one with ``p[c] >= t[c] - 1e-6``; the pixels with the
  lowest scores up to that count are flagged (ties by position: image, row, column), and a
  flagged pixel whose predicted class equals its given class is un-flagged (the veto);
- ``downsample=f``: the flagging runs on images average-pooled by f x f (probabilities averaged
  and renormalised, given class codes averaged and rounded half to even), a flagged pooled pixel
  flags its f x f pixels, and the veto then runs on every full-resolution pixel.

Memory is proportional to one batch: pass 1 sums the thresholds (and the softmin scores), pass 2
counts the issues and builds a histogram of the scores' float32 bit patterns (monotone for
non-negative floats), pass 3 collects the exact scores in the histogram bin holding the cut-off,
pass 4 writes the flags with the exact cut-off (value, position). The per-image counts and the
(given, predicted) pair counts of flagged pixels are reductions of pass 4.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["SegmentationResult", "segmentation_scores", "pixel_issues", "Cut", "downsample_batch"]

FLOATING_POINT_COMPARISON = 1e-6
CONFIDENT_THRESHOLDS_LOWER_BOUND = 2e-6
EPSILON = 1e-6
HIST_BITS = 20

#: ``batches()`` yields ``(labels (b, H, W) int, pred_probs (b, K, H, W) float)`` in image order.
Batches = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]


@dataclass(frozen=True)
class Cut:
    """The flagged pooled pixels are those whose (score, flat position) is <= (value, position);
    ``position = -1`` flags none."""

    value: float
    position: int


@dataclass
class SegmentationResult:
    """Per image: ``label_score``, ``num_pixel_issues``; ``pairs[given, predicted]``: flagged
    pixels per class pair; ``thresholds`` (K,), ``num_issues`` (the estimated count of pooled
    pixels), the ``cut`` and ``downsample`` (to recompute the flags of any image)."""

    label_score: np.ndarray
    num_pixel_issues: np.ndarray
    pairs: np.ndarray
    thresholds: np.ndarray
    num_issues: int
    cut: Cut
    downsample: int


def downsample_batch(
    labels: np.ndarray, probs: np.ndarray, factor: int
) -> tuple[np.ndarray, np.ndarray]:
    """Average-pool by ``factor`` (probabilities renormalised; label codes averaged, rounded)."""
    if factor == 1:
        return labels, probs
    b, k, h, w = probs.shape
    small_labels = np.round(
        labels.reshape((b, h // factor, factor, w // factor, factor)).mean((4, 2))
    ).astype(np.int64)
    small = probs.reshape((b, k, h // factor, factor, w // factor, factor)).mean((5, 3))
    return small_labels, small / np.expand_dims(small.sum(axis=1), 1)


def _self_confidence(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(b, H, W): ``probs[i, labels[i, y, x], y, x]``."""
    return np.take_along_axis(probs, labels[:, None].astype(np.intp), axis=1)[:, 0]


def _softmin(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Per row of (b, n) scores: ``sum s * softmax((1 - s) / T)``."""
    x = (1 - scores) / max(temperature, EPSILON)
    x = x - np.max(x, axis=1, keepdims=True)
    e = np.exp(x)
    return np.einsum("ij,ij->i", scores, e / np.sum(e, axis=1, keepdims=True))


def _bins(scores: np.ndarray) -> np.ndarray:
    """Histogram bin of each non-negative score: the top bits of its float32 pattern."""
    bits = np.maximum(scores, 0).astype(np.float32).view(np.uint32)
    return (bits >> np.uint32(32 - HIST_BITS)).astype(np.int64)


def pixel_issues(
    labels: np.ndarray, probs: np.ndarray, first_image: int, cut: Cut, downsample: int
) -> np.ndarray:
    """(b, H, W) flags of a batch of full-resolution images starting at image ``first_image``."""
    b, _, h, w = probs.shape
    small_labels, small_probs = downsample_batch(labels, probs, downsample)
    scores = _self_confidence(small_labels, small_probs)
    hs, ws = scores.shape[1:]
    if cut.position < 0:
        flagged = np.zeros(scores.shape, dtype=bool)
    else:
        pos = (first_image + np.arange(b, dtype=np.int64))[:, None, None] * (hs * ws) + np.arange(
            hs * ws, dtype=np.int64
        ).reshape(hs, ws)
        flagged = (scores < cut.value) | ((scores == cut.value) & (pos <= cut.position))
    if downsample != 1:
        flagged = flagged.repeat(downsample, axis=1).repeat(downsample, axis=2)
    if flagged.any():
        flagged &= probs.argmax(axis=1) != labels
    return flagged


def segmentation_scores(
    batches: Batches,
    *,
    num_images: int,
    num_classes: int,
    method: str = "softmin",
    temperature: float = 0.1,
    downsample: int = 1,
    progress: Callable[[int], None] | None = None,
) -> SegmentationResult:
    """Image scores, flagged-pixel counts and class-pair counts (see the module docstring).

    ``batches()`` is called four times and must yield the same images in the same order.
    ``progress(n)`` is called with the number of images of each batch of each pass.
    """
    k = num_classes
    sums = np.zeros(k)
    counts = np.zeros(k, dtype=np.int64)
    softmin_scores = np.empty(num_images) if method == "softmin" else None
    # pass 1: thresholds (and softmin image scores)
    start = 0
    image_size = 1
    for labels, probs in batches():
        b = len(labels)
        image_size = int(labels.shape[1] * labels.shape[2])
        if softmin_scores is not None:
            full = _self_confidence(labels, probs).reshape(b, -1).astype(np.float64)
            softmin_scores[start : start + b] = _softmin(full, temperature)
        small_labels, small_probs = downsample_batch(labels, probs, downsample)
        s = _self_confidence(small_labels, small_probs).ravel()
        y = small_labels.ravel()
        sums += np.bincount(y, weights=s, minlength=k)[:k]
        counts += np.bincount(y, minlength=k)[:k]
        start += b
        if progress:
            progress(b)
    thresholds = np.clip(sums / np.maximum(counts, 1), CONFIDENT_THRESHOLDS_LOWER_BOUND, None)
    adjusted = thresholds - FLOATING_POINT_COMPARISON
    # pass 2: the number of issues and the histogram of the scores
    num_issues = 0
    total = 0
    hist = np.zeros(1 << HIST_BITS, dtype=np.int64)
    for labels, probs in batches():
        small_labels, small_probs = downsample_batch(labels, probs, downsample)
        pred = small_probs.argmax(axis=1)
        top = np.take_along_axis(small_probs, pred[:, None], axis=1)[:, 0]
        num_issues += int(np.count_nonzero((top >= adjusted[pred]) & (pred != small_labels)))
        s = _self_confidence(small_labels, small_probs)
        hist += np.bincount(_bins(s).ravel(), minlength=1 << HIST_BITS)
        total += s.size
        if progress:
            progress(len(labels))
    take = min(num_issues, total)
    cut = Cut(0.0, -1)
    if take > 0:
        cumulative = np.cumsum(hist)
        cut_bin = int(np.searchsorted(cumulative, take))  # first bin reaching `take`
        below = int(cumulative[cut_bin - 1]) if cut_bin else 0
        # pass 3: exact scores and positions in the cut-off bin
        values, positions = [], []
        offset = 0
        for labels, probs in batches():
            small_labels, small_probs = downsample_batch(labels, probs, downsample)
            s = _self_confidence(small_labels, small_probs).ravel()
            hit = np.flatnonzero(_bins(s) == cut_bin)
            values.append(s[hit])
            positions.append(hit + offset)
            offset += s.size
            if progress:
                progress(len(labels))
        v = np.concatenate(values)
        pos = np.concatenate(positions)
        last = np.lexsort((pos, v))[take - below - 1]
        cut = Cut(v[last].item(), int(pos[last]))
    # pass 4: flags, per-image counts and class pairs
    num_pixel_issues = np.zeros(num_images, dtype=np.int64)
    pairs = np.zeros((k, k), dtype=np.int64)
    start = 0
    for labels, probs in batches():
        b = len(labels)
        if cut.position >= 0:
            flagged = pixel_issues(labels, probs, start, cut, downsample)
            num_pixel_issues[start : start + b] = flagged.reshape(b, -1).sum(axis=1)
            if flagged.any():
                given = labels[flagged].astype(np.int64)
                predicted = np.moveaxis(probs, 1, -1)[flagged].argmax(axis=1)
                pairs += np.bincount(given * k + predicted, minlength=k * k).reshape(k, k)
        start += b
        if progress:
            progress(b)
    if softmin_scores is not None:
        label_score = softmin_scores
    else:
        label_score = 1 - num_pixel_issues / image_size
    return SegmentationResult(
        label_score=label_score,
        num_pixel_issues=num_pixel_issues,
        pairs=pairs,
        thresholds=thresholds,
        num_issues=num_issues,
        cut=cut,
        downsample=downsample,
    )
