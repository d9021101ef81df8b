"""Object-detection label quality (ObjectLab), vectorised over image groups.

Inputs are one row per box: given (annotated) boxes with an image code and a class code, and
predicted boxes with an image code, a class code and a confidence. Boxes are ``x1, y1, x2, y2``.
Both tables are sorted by image once (stable); every image's box pairs are then laid out as flat
arrays from the segment offsets, so IoU, centre distance and similarity are elementwise numpy over
all pairs of all images at once (in chunks that bound memory), and per-box reductions are
``ufunc.at`` scatters. No Python loop runs per box or per image; the per-class average precision
loops over classes and IoU thresholds only.

Behaviour (cleanlab 2.9 ``object_detection``):

- similarity = 0.9 IoU + 0.1 exp(-0.1 * distance between the box centres);
- ``min_sim`` = the smallest non-zero similarity of a given and a predicted box of one image,
  over all images (1 when there is none);
- overlooked (per predicted box): NaN unless confidence >= 0.95 and the box overlaps no given
  box of its image; else the best similarity to a given box of its class, or
  ``min_sim * (1 - confidence)`` when the image has no given box of that class;
- badly located (per given box): the best similarity among predicted boxes of its class with
  confidence > 0.5 and IoU > 0; 1 when there is none;
- swapped (per given box): ``min_sim`` when another given box of another class overlaps it with
  IoU >= 0.95; else 1 when no predicted box of another class has confidence > 0.95; else
  ``max(min_sim, 1 - best similarity to those boxes)``;
- per image, each subtype is pooled by softmin (temperature 0.1, NaN dropped, 1 when empty) and
  the image score is the weighted geometric mean ``exp(sum w log(1e-100 + s))``;
- flags: a box is an issue when its score (NaN read as 1) is <= 0.8 x its class threshold, the
  class threshold being 0.25 x the class's average precision averaged over IoU thresholds
  0.5:0.05:0.95 (VOC-style area under the interpolated precision/recall curve); an image is an
  issue when any of its boxes is.

Ties among predicted confidences (the order of the greedy matching and of the precision/recall
curve) are broken by image order, then row order (the reference uses numpy's unstable sort).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["DetectionScores", "detection_scores", "box_similarity"]

ALPHA = 0.9
EUC_FACTOR = 0.1
EPSILON = 1e-6
TINY_VALUE = 1e-100
LOW_PROBABILITY_THRESHOLD = 0.5
HIGH_PROBABILITY_THRESHOLD = 0.95
TEMPERATURE = 0.1
LABEL_OVERLAP_THRESHOLD = 0.95
THRESHOLD_FACTOR = 0.8
AP_SCALE_FACTOR = 0.25
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
DEFAULT_WEIGHTS = {"overlooked": 1 / 3, "swap": 1 / 3, "badloc": 1 / 3}
#: Box pairs laid out at once (memory: a few dozen bytes per pair).
MAX_PAIRS = 1 << 21


@dataclass
class DetectionScores:
    """Per-box and per-image results, in the callers' row orders.

    Per predicted box: ``overlooked`` (NaN where the box is no overlooked candidate),
    ``is_overlooked``. Per given box: ``badloc``, ``swap``, ``is_badloc``, ``is_swap``. Per image:
    the pooled ``image_overlooked``, ``image_badloc``, ``image_swap``, ``label_score``,
    ``is_issue`` and the counts of flagged boxes ``num_overlooked``, ``num_badloc``, ``num_swap``.
    ``class_thresholds`` holds the per-class score thresholds before the 0.8 factor (float32).
    """

    overlooked: np.ndarray
    badloc: np.ndarray
    swap: np.ndarray
    is_overlooked: np.ndarray
    is_badloc: np.ndarray
    is_swap: np.ndarray
    image_overlooked: np.ndarray
    image_badloc: np.ndarray
    image_swap: np.ndarray
    label_score: np.ndarray
    is_issue: np.ndarray
    num_overlooked: np.ndarray
    num_badloc: np.ndarray
    num_swap: np.ndarray
    class_thresholds: np.ndarray
    min_similarity: float


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box pairs (rows of ``a`` with rows of ``b``), the reference's float operations."""
    x_left = np.maximum(a[:, 0], b[:, 0])
    y_top = np.maximum(a[:, 1], b[:, 1])
    x_right = np.minimum(a[:, 2], b[:, 2])
    y_bottom = np.minimum(a[:, 3], b[:, 3])
    inter = (x_right - x_left) * (y_bottom - y_top)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou = inter / np.maximum(area_a + area_b - inter, EPSILON)
    iou[(x_right < x_left) | (y_bottom < y_top)] = 0.0
    return iou


def box_similarity(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(IoU, similarity) of box pairs: similarity = 0.9 IoU + 0.1 exp(-0.1 centre distance)."""
    iou = _iou(a, b)
    dx = (a[:, 0] + a[:, 2]) / 2 - (b[:, 0] + b[:, 2]) / 2
    dy = (a[:, 1] + a[:, 3]) / 2 - (b[:, 1] + b[:, 3]) / 2
    close = np.exp(-np.sqrt(dx * dx + dy * dy) * EUC_FACTOR)
    sim = iou * ALPHA + (1 - ALPHA) * (1 - (1 - close))
    return iou, sim


class _Groups:
    """Rows sorted by image (stable): ``order`` (sorted position -> row), segment offsets."""

    def __init__(self, image: np.ndarray, n_images: int):
        self.order = np.argsort(image, kind="stable")
        self.image = image[self.order]
        self.counts = np.bincount(image, minlength=n_images).astype(np.int64)
        self.starts = np.zeros(n_images + 1, dtype=np.int64)
        np.cumsum(self.counts, out=self.starts[1:])


def _pair_chunks(a: _Groups, b: _Groups, max_pairs: int = MAX_PAIRS) -> Iterator[tuple]:
    """All (a, b) pairs within each image, as sorted positions, about ``max_pairs`` at a time:
    runs of whole images, and an image with more pairs than that in blocks of its a-rows."""
    per_image = a.counts * b.counts
    n_images = len(per_image)
    ends = np.cumsum(per_image)
    lo = 0
    while lo < n_images:
        base = ends[lo - 1] if lo else 0
        hi = int(np.searchsorted(ends, base + max_pairs, side="right"))
        if hi <= lo:  # one image alone holds more than max_pairs pairs
            nb = int(b.counts[lo])
            rows = max(1, max_pairs // max(nb, 1))
            for r0 in range(0, int(a.counts[lo]), rows):
                r1 = min(int(a.counts[lo]), r0 + rows)
                k = np.arange((r1 - r0) * nb, dtype=np.int64)
                yield a.starts[lo] + r0 + k // nb, b.starts[lo] + k % nb
            lo += 1
            continue
        imgs = np.arange(lo, hi)
        sizes = per_image[lo:hi]
        total = int(sizes.sum())
        if total:
            img = np.repeat(imgs, sizes)
            first = np.repeat(np.cumsum(sizes) - sizes, sizes)
            k = np.arange(total, dtype=np.int64) - first
            per_row = b.counts[img]
            ia = a.starts[img] + k // per_row
            ib = b.starts[img] + k % per_row
            yield ia, ib
        lo = hi


def _softmin_pool(scores: np.ndarray, image: np.ndarray, n_images: int) -> np.ndarray:
    """Per image: softmin (temperature 0.1) of its non-NaN scores; 1 when there is none."""
    out = np.ones(n_images)
    keep = ~np.isnan(scores)
    s, img = scores[keep], image[keep]
    if not len(s):
        return out
    x = (-1 * s) / max(TEMPERATURE, EPSILON)
    top = np.full(n_images, -np.inf)
    np.maximum.at(top, img, x)
    e = np.exp(x - top[img])
    total = np.bincount(img, weights=e, minlength=n_images)
    pooled = np.bincount(img, weights=e / total[img] * s, minlength=n_images)
    has = np.bincount(img, minlength=n_images) > 0
    out[has] = pooled[has]
    return out


def _class_thresholds(
    g: _Groups,
    g_box: np.ndarray,
    g_cls: np.ndarray,
    p: _Groups,
    p_box: np.ndarray,
    p_cls: np.ndarray,
    p_prob: np.ndarray,
    n_classes: int,
) -> np.ndarray:
    """0.25 x each class's AP averaged over IoU thresholds 0.5:0.05:0.95 (float32)."""
    n_p = len(p_cls)
    ious_max = np.full(n_p, -np.inf)
    for ia, ib in _pair_chunks(g, p):
        same = g_cls[ia] == p_cls[ib]
        ia, ib = ia[same], ib[same]
        iou = _iou(p_box[ib], g_box[ia])
        np.maximum.at(ious_max, ib, iou)
    has_gt = ious_max > -np.inf
    # the first given box (row order within the image) reaching the maximum: the argmax
    argmax = np.full(n_p, np.iinfo(np.int64).max)
    for ia, ib in _pair_chunks(g, p):
        same = g_cls[ia] == p_cls[ib]
        ia, ib = ia[same], ib[same]
        iou = _iou(p_box[ib], g_box[ia])
        best = iou == ious_max[ib]
        np.minimum.at(argmax, ib[best], ia[best])
    # greedy matching order within an image: descending confidence, then row order
    rank = np.empty(n_p, dtype=np.int64)
    rank[np.lexsort((np.arange(n_p), -p_prob))] = np.arange(n_p)
    # the precision/recall curve's order within a class: descending confidence, image, row
    curve = np.lexsort((np.arange(n_p), -p_prob, p_cls))
    class_start = np.searchsorted(p_cls[curve], np.arange(n_classes + 1))
    num_gts = np.bincount(g_cls, minlength=n_classes)
    eps = np.finfo(np.float32).eps
    ap = np.zeros((n_classes, len(IOU_THRESHOLDS)), dtype=np.float32)
    for t_i, t in enumerate(IOU_THRESHOLDS):
        eligible = np.flatnonzero(has_gt & (ious_max >= t))
        by_group = eligible[np.lexsort((rank[eligible], argmax[eligible]))]
        first = np.ones(len(by_group), dtype=bool)
        first[1:] = argmax[by_group[1:]] != argmax[by_group[:-1]]
        tp_all = np.zeros(n_p, dtype=np.float32)
        tp_all[by_group[first]] = 1
        for c in range(n_classes):
            rows = curve[class_start[c] : class_start[c + 1]]
            tp = np.cumsum(tp_all[rows])
            fp = np.cumsum(1 - tp_all[rows])
            recall = tp / np.maximum(np.int64(num_gts[c]), eps)
            precision = tp / np.maximum(tp + fp, eps)
            r = np.concatenate(([0.0], recall, [1.0]))
            pr = np.concatenate(([0.0], precision.astype(np.float64), [0.0]))
            pr = np.maximum.accumulate(pr[::-1])[::-1]
            idx = np.flatnonzero(r[1:] != r[:-1])
            ap[c, t_i] = np.sum((r[idx + 1] - r[idx]) * pr[idx + 1])
    ap = np.ascontiguousarray(ap)
    mean = np.array([np.mean(row) for row in ap], dtype=np.float32)
    return (mean * np.float32(AP_SCALE_FACTOR)).astype(np.float32)


def detection_scores(
    given_image: np.ndarray,
    given_boxes: np.ndarray,
    given_class: np.ndarray,
    pred_image: np.ndarray,
    pred_boxes: np.ndarray,
    pred_class: np.ndarray,
    pred_prob: np.ndarray,
    *,
    num_images: int,
    num_classes: int,
    aggregation_weights: dict[str, float] | None = None,
    overlapping_label_check: bool = True,
    flags: bool = True,
) -> DetectionScores:
    """ObjectLab box scores, image scores and flags (see the module docstring).

    Parameters
    ----------
    given_image, given_class : (n_g,) int
        Image code (0..num_images-1) and class code (0..num_classes-1) of each given box.
    given_boxes : (n_g, 4) float
        ``x1, y1, x2, y2``.
    pred_image, pred_class, pred_prob : (n_p,)
        Image code, class code and confidence in [0, 1] of each predicted box.
    pred_boxes : (n_p, 4) float
    flags : bool
        Compute the per-class thresholds and the flags (the average precision pass).

    Returns
    -------
    DetectionScores
        Per box in the given row orders, per image in image-code order.
    """
    aggregation_weights = aggregation_weights or DEFAULT_WEIGHTS
    g = _Groups(np.asarray(given_image, dtype=np.int64), num_images)
    p = _Groups(np.asarray(pred_image, dtype=np.int64), num_images)
    g_box = np.asarray(given_boxes, dtype=np.float64)[g.order]
    g_cls = np.asarray(given_class, dtype=np.int64)[g.order]
    p_box = np.asarray(pred_boxes, dtype=np.float64)[p.order]
    p_cls = np.asarray(pred_class, dtype=np.int64)[p.order]
    p_prob = np.asarray(pred_prob, dtype=np.float64)[p.order]
    n_g, n_p = len(g_cls), len(p_cls)

    # pass 1 over the given x predicted pairs: min_sim and every per-box reduction
    min_sim = 1.0
    any_overlap_p = np.zeros(n_p, dtype=bool)
    best_same_p = np.full(n_p, -np.inf)  # overlooked: best similarity to a same-class given box
    best_badloc_g = np.full(n_g, -np.inf)
    best_swap_g = np.full(n_g, -np.inf)
    for ia, ib in _pair_chunks(g, p):
        iou, sim = _iou_sim(g_box[ia], p_box[ib])
        nonzero = sim[sim != 0]
        if len(nonzero):
            min_sim = min(min_sim, float(nonzero.min()))
        any_overlap_p[ib[iou > 0]] = True
        same = g_cls[ia] == p_cls[ib]
        np.maximum.at(best_same_p, ib[same], sim[same])
        ok = same & (p_prob[ib] > LOW_PROBABILITY_THRESHOLD) & (iou > 0)
        np.maximum.at(best_badloc_g, ia[ok], sim[ok])
        ok = ~same & (p_prob[ib] > HIGH_PROBABILITY_THRESHOLD)
        np.maximum.at(best_swap_g, ia[ok], sim[ok])

    # overlooked
    n_same_class = np.bincount(
        g.image * num_classes + g_cls, minlength=num_images * num_classes
    ).reshape(num_images, num_classes)
    overlooked = np.where(n_same_class[p.image, p_cls] > 0, best_same_p, min_sim * (1 - p_prob))
    overlooked[(p_prob < HIGH_PROBABILITY_THRESHOLD) | any_overlap_p] = np.nan
    # badly located
    badloc = np.where(best_badloc_g > -np.inf, best_badloc_g, 1.0)
    # swapped
    swap = np.where(best_swap_g > -np.inf, np.maximum(min_sim, 1 - best_swap_g), 1.0)
    if overlapping_label_check:
        overlap = np.zeros(n_g, dtype=bool)
        for ia, ib in _pair_chunks(g, g):
            ok = (ia != ib) & (g_cls[ia] != g_cls[ib])
            ia, ib = ia[ok], ib[ok]
            hit = _iou(g_box[ia], g_box[ib]) >= LABEL_OVERLAP_THRESHOLD
            overlap[ia[hit]] = True
        swap[overlap] = min_sim

    image_overlooked = _softmin_pool(overlooked, p.image, num_images)
    image_badloc = _softmin_pool(badloc, g.image, num_images)
    image_swap = _softmin_pool(swap, g.image, num_images)
    w = aggregation_weights
    label_score = np.exp(
        w["overlooked"] * np.log(TINY_VALUE + image_overlooked)
        + w["badloc"] * np.log(TINY_VALUE + image_badloc)
        + w["swap"] * np.log(TINY_VALUE + image_swap)
    )

    if flags:
        thresholds = _class_thresholds(g, g_box, g_cls, p, p_box, p_cls, p_prob, num_classes)
        cut = thresholds * np.float32(THRESHOLD_FACTOR)
        is_overlooked = np.where(np.isnan(overlooked), 1.0, overlooked) <= cut[p_cls]
        is_badloc = badloc <= cut[g_cls]
        is_swap = swap <= cut[g_cls]
    else:
        thresholds = np.full(num_classes, np.nan, dtype=np.float32)
        is_overlooked = np.zeros(n_p, dtype=bool)
        is_badloc = is_swap = np.zeros(n_g, dtype=bool)
    num_overlooked = np.bincount(p.image[is_overlooked], minlength=num_images)
    num_badloc = np.bincount(g.image[is_badloc], minlength=num_images)
    num_swap = np.bincount(g.image[is_swap], minlength=num_images)

    def unsort(values: np.ndarray, groups: _Groups) -> np.ndarray:
        out = np.empty_like(values)
        out[groups.order] = values
        return out

    return DetectionScores(
        overlooked=unsort(overlooked, p),
        badloc=unsort(badloc, g),
        swap=unsort(swap, g),
        is_overlooked=unsort(is_overlooked, p),
        is_badloc=unsort(is_badloc, g),
        is_swap=unsort(is_swap, g),
        image_overlooked=image_overlooked,
        image_badloc=image_badloc,
        image_swap=image_swap,
        label_score=label_score,
        is_issue=(num_overlooked + num_badloc + num_swap) > 0,
        num_overlooked=num_overlooked,
        num_badloc=num_badloc,
        num_swap=num_swap,
        class_thresholds=thresholds,
        min_similarity=min_sim,
    )


def _iou_sim(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return box_similarity(a, b)
