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

The images are read in batches. Pass 1 reads every probability once: the per-class sums of the
thresholds, the softmin scores, the lowest score of a pixel whose predicted class is its given one
and, for the other pixels (the only ones that can be flagged), their position, score, maximum
probability and classes. The number of issues follows from those, and so does the cut-off
whenever the lowest scores up to that number all belong to such pixels (they score below every
matched pixel). Otherwise two more passes gather only the given-class probability of every pixel:
a histogram of the scores' float32 bit patterns (monotone for non-negative floats), then the exact
scores inside the bin holding the cut-off. With ``downsample``, a last pass reads the flagged
blocks for the full-resolution veto. Memory: one batch and about 20 bytes per pixel whose
predicted class differs from the given one.
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
    return np.take_along_axis(probs, labels[:, None].astype(np.intp, copy=False), axis=1)[:, 0]


def _softmin(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Per row of (b, n) scores: ``sum s * softmax((1 - s) / T)``.

    Scores lie in [0, 1] (within the probability tolerance), so ``exp((1 - s) / T)`` stays below
    ``exp(1.0001 / T)``: no shift by the row maximum is needed for temperatures down to 0.005
    (the reference shifts; the results agree to rounding).
    """
    t = max(temperature, EPSILON)
    if t < 0.005:  # exp could overflow without the shift
        x = (1 - scores) / t
        e = np.exp(x - np.max(x, axis=1, keepdims=True))
    else:
        e = np.exp((1 - scores) / t)
    return np.einsum("ij,ij->i", scores, e) / np.sum(e, axis=1)


def _bins(scores: np.ndarray) -> np.ndarray:
    """Histogram bin of each non-negative score: the top bits of its float32 pattern."""
    if scores.dtype != np.float32 or (len(scores) and scores.min() < 0):
        scores = np.maximum(scores, 0).astype(np.float32)
    return (scores.view(np.uint32) >> np.uint32(32 - HIST_BITS)).astype(np.intp)


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


def _join(parts: list) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _argmax(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max, first argmax) over the class axis of (b, K, H, W): one max, then K compares."""
    top = probs.max(axis=1)
    pred = np.zeros(top.shape, dtype=np.int16)
    eq = np.empty(top.shape, dtype=bool)
    for c in range(probs.shape[1] - 1, -1, -1):  # the lowest class reaching the max wins
        np.equal(probs[:, c], top, out=eq)
        np.copyto(pred, np.int16(c), where=eq)
    return top, pred


def _cut_from_all_pixels(batches: Batches, take: int, downsample: int, progress) -> Cut:
    """The take-th lowest (score, position) over every pixel: a histogram of the scores' float32
    bit patterns (pass A), then the exact scores inside the bin reaching ``take`` (pass B)."""
    hist = np.zeros(1 << HIST_BITS, dtype=np.int64)
    for labels, probs in batches():
        small_labels, small_probs = downsample_batch(labels, probs, downsample)
        flat = _self_confidence(small_labels, small_probs).ravel()
        hist += np.bincount(_bins(flat), minlength=1 << HIST_BITS)
        if progress:
            progress(len(labels))
    cumulative = np.cumsum(hist)
    cut_bin = int(np.searchsorted(cumulative, take))  # first bin reaching `take`
    below = int(cumulative[cut_bin - 1]) if cut_bin else 0
    values, positions = [], []
    offset = 0
    for labels, probs in batches():
        small_labels, small_probs = downsample_batch(labels, probs, downsample)
        flat = _self_confidence(small_labels, small_probs).ravel()
        hit = np.flatnonzero(_bins(flat) == cut_bin)
        values.append(flat[hit])
        positions.append(hit + offset)
        offset += flat.size
        if progress:
            progress(len(labels))
    v = np.concatenate(values)
    at = np.concatenate(positions)
    last = np.lexsort((at, v))[take - below - 1]
    return Cut(v[last].item(), int(at[last]))


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

    ``batches()`` is called one to four times (see the module docstring) and must yield the
    same images in the same order each time. ``progress(n)`` is called with the number of images
    of each batch of each pass.
    """
    k = num_classes
    sums = np.zeros(k)
    counts = np.zeros(k, dtype=np.int64)
    softmin_scores = np.empty(num_images) if method == "softmin" else None
    matched_min = np.inf  # the lowest score of a pixel whose predicted class is its given one
    found: dict[str, list] = {"pos": [], "score": [], "top": [], "pred": [], "given": []}
    start = offset = 0
    image_size = small_size = 1
    for labels, probs in batches():
        b = len(labels)
        image_size = int(labels.shape[1] * labels.shape[2])
        full = _self_confidence(labels, probs)
        if softmin_scores is not None:
            softmin_scores[start : start + b] = _softmin(
                full.reshape(b, -1).astype(np.float64), temperature
            )
        if downsample == 1:
            small_labels, small_probs, s = labels, probs, full
        else:
            small_labels, small_probs = downsample_batch(labels, probs, downsample)
            s = _self_confidence(small_labels, small_probs)
        small_size = int(s.shape[1] * s.shape[2])
        y = small_labels.ravel()
        flat = s.ravel()
        sums += np.bincount(y, weights=flat, minlength=k)[:k]
        counts += np.bincount(y, minlength=k)[:k]
        top, pred = _argmax(small_probs)
        pred = pred.ravel()
        mismatch = pred != y
        differ = np.flatnonzero(mismatch)
        if len(differ) < len(flat):
            matched_min = min(matched_min, float(np.min(flat, where=~mismatch, initial=np.inf)))
        found["pos"].append(differ + offset)
        found["score"].append(flat[differ])
        found["top"].append(top.ravel()[differ])
        found["pred"].append(pred[differ])
        found["given"].append(y[differ].astype(np.int16))
        start += b
        offset += flat.size
        if progress:
            progress(b)
    total = offset
    thresholds = np.clip(sums / np.maximum(counts, 1), CONFIDENT_THRESHOLDS_LOWER_BOUND, None)
    adjusted = thresholds - FLOATING_POINT_COMPARISON
    # one field at a time, each batch's pieces freed as they are joined (peak: the candidates
    # plus one field)
    pos, score, top, pred, given = (
        _join(found.pop(name)) for name in ("pos", "score", "top", "pred", "given")
    )
    num_issues = int(np.count_nonzero(top >= adjusted[pred]))
    del top
    take = min(num_issues, total)
    cut = Cut(0.0, -1)
    if take > 0:
        # the `take` lowest (score, position) over all pixels. A matched pixel (predicted class =
        # given class) scores at least `matched_min`; when the take-th lowest candidate scores
        # below it, the lowest `take` are all candidates, known from pass 1
        value = np.partition(score, take - 1)[take - 1]
        if value < matched_min:
            below = int(np.count_nonzero(score < value))
            tied = np.sort(pos[score == value])
            cut = Cut(value.item(), int(tied[take - below - 1]))
        else:
            cut = _cut_from_all_pixels(batches, take, downsample, progress)
    # the flagged pixels: the candidates among the `take` lowest (score, position)
    flagged = (score < cut.value) | ((score == cut.value) & (pos <= cut.position))
    num_pixel_issues = np.zeros(num_images, dtype=np.int64)
    pairs = np.zeros((k, k), dtype=np.int64)
    if downsample == 1:
        num_pixel_issues += np.bincount(pos[flagged] // small_size, minlength=num_images)
        pairs += np.bincount(
            given[flagged].astype(np.int64) * k + pred[flagged], minlength=k * k
        ).reshape(k, k)
    elif flagged.any():
        # pass 3: flagged pooled pixels flag their blocks; the veto runs at full resolution
        blocks = np.sort(pos[flagged])
        start = 0
        for labels, probs in batches():
            b, _, h, w = probs.shape
            lo, hi = np.searchsorted(blocks, [start * small_size, (start + b) * small_size])
            if hi > lo:
                local = blocks[lo:hi] - start * small_size
                img, cell = np.divmod(local, small_size)
                row, col = np.divmod(cell, w // downsample)
                dy, dx = np.divmod(np.arange(downsample * downsample), downsample)
                img = np.repeat(img, len(dy))
                rows = np.repeat(row * downsample, len(dy)) + np.tile(dy, len(row))
                cols = np.repeat(col * downsample, len(dx)) + np.tile(dx, len(col))
                predicted = probs[img, :, rows, cols].argmax(axis=1)
                g = labels[img, rows, cols].astype(np.int64)
                keep = predicted != g
                num_pixel_issues[start : start + b] += np.bincount(img[keep], minlength=b)
                pairs += np.bincount(g[keep] * k + predicted[keep], minlength=k * k).reshape(k, k)
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
