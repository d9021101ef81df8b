"""Vision inputs: detection boxes (one row per box) and segmentation masks (one row per image).

Boxes: the given boxes' frame and the predictions' frame share the column names ``image``,
``box`` (four columns ``x1, y1, x2, y2``) and ``label``; the predictions add ``score``. Rules:
the columns exist, no nulls, numeric finite coordinates with ``x2 >= x1`` and ``y2 >= y1``
(rule ``box_size``), confidences in [0, 1] (rule ``probability_range``), class values among
``classes=`` when it is given (rule ``known_class``).

Masks: ``label`` names a column holding an H x W array of class codes per row; ``pred_probs`` is
one column holding a K x H x W array per row, or K columns (list / glob / dict) each holding an
H x W array. Rules, checked batch by batch as the images are read: no null rows, one H x W shape
for every mask and probability map (rule ``shape``), integer codes in ``0..K-1`` (rule
``known_class``), finite probabilities in [0, 1] that sum to 1 at every pixel within
:data:`~cleanframe._inputs.rules.PROBABILITY_TOLERANCE` (rules ``probability_range``,
``pixel_sums_to_1``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._engines import Engine
from ..errors import ValidationError
from .classes import class_key
from .columns import check_result_columns, numeric_matrix, require_columns, resolve_columns
from .rules import MIN_CLASSES, PROBABILITY_TOLERANCE, row_sum_tolerance

__all__ = [
    "DetectionInputs",
    "SegmentationInputs",
    "resolve_detection",
    "resolve_segmentation",
    "check_result_columns",
    "segmentation_method",
]

WEIGHT_KEYS = ("overlooked", "badloc", "swap")
#: Probability values read per batch when ``batch_size`` is not given (about 128 MB as float32).
BATCH_VALUES = 1 << 25


def _rows(fr: Engine, bad: np.ndarray, values) -> list:
    shown = bad[:5]
    return list(zip(fr.row_labels(shown), [values[i] for i in shown]))


@dataclass
class DetectionInputs:
    given_image: np.ndarray
    given_boxes: np.ndarray
    given_class: np.ndarray
    pred_image: np.ndarray
    pred_boxes: np.ndarray
    pred_class: np.ndarray
    pred_prob: np.ndarray
    image_values: list
    class_values: list
    weights: dict


def _box_columns(box: Any) -> list:
    if (
        isinstance(box, str)
        or not isinstance(box, Sequence)
        or len(box) != 4
        or len({str(c) for c in box}) != 4
    ):
        raise ValidationError(
            None,
            "box_columns",
            f"box= must list four different columns x1, y1, x2, y2 (e.g. ['x1', 'y1', 'x2', "
            f"'y2']), got "
            f"{box!r}",
        )
    return list(box)


def _boxes(fr: Engine, box: list) -> np.ndarray:
    m = np.asarray(numeric_matrix(fr, box), dtype=np.float64)
    for j, name in enumerate(box):
        bad = np.flatnonzero(~np.isfinite(m[:, j]))
        if len(bad):
            raise ValidationError(
                name,
                "finite",
                "box coordinates must be finite numbers (no null, NaN or inf)",
                _rows(fr, bad, m[:, j]),
                num_failures=len(bad),
            )
    for lo, hi in ((0, 2), (1, 3)):
        bad = np.flatnonzero(m[:, hi] < m[:, lo])
        if len(bad):
            raise ValidationError(
                box[hi],
                "box_size",
                f"{box[hi]} < {box[lo]}: boxes must have a non-negative width and height "
                f"(x1 <= x2, y1 <= y2)",
                [(r, (m[i, lo], m[i, hi])) for r, i in zip(fr.row_labels(bad[:5]), bad[:5])],
                num_failures=len(bad),
            )
    return m


def _codes(fr: Engine, name: str, what: str) -> tuple[np.ndarray, list]:
    fact = fr.factorize(name)
    bad = np.flatnonzero(fact.codes < 0)
    if len(bad):
        raise ValidationError(
            name,
            "not_null",
            f"{what} must not be null",
            [(r, None) for r in fr.row_labels(bad[:5])],
            num_failures=len(bad),
        )
    return np.asarray(fact.codes, dtype=np.int64), list(fact.uniques)


def _merge(
    fr_codes: list[tuple[np.ndarray, list]], first: Sequence | None
) -> tuple[list[np.ndarray], list]:
    """Codes of several factorized columns in one shared value order (``first`` leads)."""
    values: list = []
    index: dict = {}

    def add(v):
        k = class_key(v)
        if k not in index:
            index[k] = len(values)
            values.append(v)
        return index[k]

    for v in first or ():
        add(v)
    out = []
    for codes, uniques in fr_codes:
        remap = np.array([add(u) for u in uniques] + [-1], dtype=np.int64)
        out.append(remap[codes])
    return out, values


def _weights(aggregation_weights: Mapping | None) -> dict:
    if aggregation_weights is None:
        return {k: 1 / 3 for k in WEIGHT_KEYS}
    if not isinstance(aggregation_weights, Mapping) or set(aggregation_weights) != set(WEIGHT_KEYS):
        raise ValidationError(
            None,
            "aggregation_weights",
            f"aggregation_weights= must be a dict with the keys {list(WEIGHT_KEYS)}, got "
            f"{aggregation_weights!r}",
        )
    w = {k: float(aggregation_weights[k]) for k in WEIGHT_KEYS}
    values = np.array(list(w.values()))
    if not np.isfinite(values).all() or values.min() < 0 or not np.isclose(values.sum(), 1.0):
        raise ValidationError(
            None,
            "aggregation_weights",
            f"aggregation_weights= must be non-negative and sum to 1, got {w}",
        )
    return w


def resolve_detection(
    fr: Engine,
    pfr: Engine,
    *,
    image: str,
    box: Any,
    label: str,
    score: str,
    classes: Sequence | None = None,
    images: Sequence | None = None,
    aggregation_weights: Mapping | None = None,
) -> DetectionInputs:
    """The given and predicted boxes as arrays, images and classes as shared codes."""
    box = _box_columns(box)
    require_columns(fr, [image, *box, label])
    require_columns(pfr, [image, *box, label, score], param="predictions")
    g_box = _boxes(fr, box)
    p_box = _boxes(pfr, box)
    prob = np.asarray(numeric_matrix(pfr, [score]), dtype=np.float64)[:, 0]
    bad = np.flatnonzero(~((prob >= 0) & (prob <= 1)))
    if len(bad):
        raise ValidationError(
            score,
            "probability_range",
            "confidences must lie in [0, 1] (no null or NaN)",
            _rows(pfr, bad, prob),
            num_failures=len(bad),
        )
    if images is not None:
        images = list(images)
        keys = [class_key(v) for v in images]
        if len(set(keys)) != len(keys):
            raise ValidationError(None, "unique", "images= lists an image twice")
    (g_img, p_img), image_values = _merge(
        [_codes(fr, image, "image ids"), _codes(pfr, image, "image ids")], images
    )
    try:  # the result table writes every image id in the given frame's image column dtype
        fr.class_values(image, image_values, np.arange(len(image_values)))
    except (TypeError, ValueError, OverflowError, ArithmeticError) as exc:
        raise ValidationError(
            image,
            "image_ids",
            f"image ids of the predictions or of images= that column {image!r} of the given "
            f"boxes cannot hold (e.g. strings for integer ids): {exc}",
        ) from None
    (g_cls, p_cls), class_values = _merge(
        [_codes(fr, label, "class labels"), _codes(pfr, label, "class labels")], classes
    )
    if classes is not None:
        known = len(list(classes))
        for f, codes, what in ((fr, g_cls, "given"), (pfr, p_cls, "predicted")):
            bad = np.flatnonzero(codes >= known)
            if len(bad):
                raise ValidationError(
                    label,
                    "known_class",
                    f"{what} boxes hold a class that is not among classes= {list(classes)!r}",
                    _rows(f, bad, [class_values[c] for c in codes]),
                    num_failures=len(bad),
                )
    return DetectionInputs(
        given_image=g_img,
        given_boxes=g_box,
        given_class=g_cls,
        pred_image=p_img,
        pred_boxes=p_box,
        pred_class=p_cls,
        pred_prob=prob,
        image_values=image_values,
        class_values=class_values,
        weights=_weights(aggregation_weights),
    )


# ------------------------------------------------------------------------------------------
# segmentation
# ------------------------------------------------------------------------------------------
@dataclass
class SegmentationInputs:
    """What the segmentation kernel reads: ``batches()`` yields ``(masks (b, H, W) int64,
    probabilities (b, K, H, W) float)``; the first full pass checks every rule."""

    num_images: int
    num_classes: int
    height: int
    width: int
    classes: list
    batch_size: int
    batches: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]
    read: Callable[[int, int], tuple[np.ndarray, np.ndarray]]


def segmentation_method(method: str) -> str:
    if method not in ("softmin", "num_pixel_issues"):
        raise ValidationError(
            None,
            "choice",
            f"method= must be 'softmin' or 'num_pixel_issues', got {method!r}",
        )
    return method


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValidationError(None, what, f"{what}= must be a positive integer, got {value!r}")
    return int(value)


def _stack(fr: Engine, name: str, rows: np.ndarray, start: int, ndim: int) -> np.ndarray:
    """A batch read by ``array_batch`` as one numeric array of ``ndim`` dimensions per row."""
    if rows.dtype != object:
        out = rows
    else:
        nulls = np.flatnonzero([r is None for r in rows])
        if len(nulls):
            raise ValidationError(
                name,
                "not_null",
                "null arrays",
                [(r, None) for r in fr.row_labels(nulls[:5] + start)],
                num_failures=len(nulls),
            )
        shapes = [np.shape(r) if r.dtype != object else None for r in rows]
        first = shapes[0]
        bad = np.flatnonzero([s != first or s is None for s in shapes])
        if first is None or len(bad):
            bad = bad if len(bad) else np.array([0])
            raise ValidationError(
                name,
                "shape",
                f"every row must hold a numeric array of one shape (the first row: {first})",
                [(r, shapes[i]) for r, i in zip(fr.row_labels(bad[:5] + start), bad[:5])],
                num_failures=len(bad),
            )
        out = np.stack(list(rows))
    if out.ndim != ndim + 1:
        raise ValidationError(
            name,
            "shape",
            f"every row must hold a {ndim}-dimensional array, found {out.ndim - 1} dimensions",
        )
    if out.dtype.kind not in "fiub" or out.dtype.kind == "b" and ndim == 3:
        raise ValidationError(name, "numeric", f"arrays must be numeric, found {out.dtype}")
    return out


def resolve_segmentation(
    fr: Engine,
    *,
    label: str,
    pred_probs: Any,
    classes: Sequence | None = None,
    batch_size: int | None = None,
    downsample: int = 1,
) -> SegmentationInputs:
    """Masks and probability maps, read and checked batch by batch."""
    require_columns(fr, [label], param="label")
    sel = resolve_columns(fr, pred_probs, param="pred_probs")
    downsample = _positive_int(downsample, "downsample")
    n = fr.height
    if n == 0:
        raise ValidationError(None, "not_empty", "the frame has no rows")
    eps = row_sum_tolerance(
        fr.storage_eps([sel.array_column] if sel.array_column else list(sel.columns or []))
    )

    def read_probs(start: int, stop: int) -> np.ndarray:
        if sel.array_column is not None:
            name = sel.array_column
            return _stack(fr, name, fr.array_batch(name, start, stop), start, 3)
        maps = [_stack(fr, c, fr.array_batch(c, start, stop), start, 2) for c in sel.columns or []]
        shapes = {m.shape for m in maps}
        if len(shapes) > 1:
            raise ValidationError(
                sel.label,
                "shape",
                f"the probability columns hold maps of different shapes {shapes}",
            )
        return np.stack(maps, axis=1)

    def read(start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        masks = _stack(fr, label, fr.array_batch(label, start, stop), start, 2)
        probs = read_probs(start, stop)
        if probs.dtype.kind != "f":
            probs = probs.astype(np.float64)
        return masks, probs

    first_masks, first_probs = read(0, 1)
    k, h, w = first_probs.shape[1:]
    if k < MIN_CLASSES:
        raise ValidationError(
            sel.label, "min_classes", f"pred_probs must hold at least {MIN_CLASSES} classes"
        )
    if classes is not None:
        classes = list(classes)
        if len(classes) != k:
            raise ValidationError(
                None,
                "classes",
                f"classes= names {len(classes)} classes but pred_probs holds {k} per pixel",
            )
    elif sel.classes is not None:
        classes = list(sel.classes)
    else:
        classes = list(range(k))
    if h % downsample or w % downsample:
        raise ValidationError(
            None,
            "downsample",
            f"downsample={downsample} must divide the image height {h} and width {w}",
        )
    if batch_size is None:
        batch_size = max(1, BATCH_VALUES // max(1, k * h * w))
    batch_size = _positive_int(batch_size, "batch_size")

    def check(start: int, masks: np.ndarray, probs: np.ndarray) -> np.ndarray:
        if masks.shape[1:] != (h, w) or probs.shape[1:] != (k, h, w):
            rows = fr.row_labels(np.array([start]))
            raise ValidationError(
                label if masks.shape[1:] != (h, w) else sel.label,
                "shape",
                f"masks must be {h} x {w} and probabilities {k} x {h} x {w} (the first row's "
                f"shapes); this batch holds {masks.shape[1:]} and {probs.shape[1:]}",
                [(rows[0], None)],
            )
        codes = masks
        if masks.dtype.kind == "f":
            integral = np.isfinite(masks) & (masks == np.round(masks))
            if not integral.all():
                bad = np.flatnonzero(~integral.reshape(len(masks), -1).all(axis=1))
                raise ValidationError(
                    label,
                    "integer",
                    "masks must hold integer class codes",
                    [(r, None) for r in fr.row_labels(bad[:5] + start)],
                    num_failures=len(bad),
                )
        codes = masks.astype(np.intp)
        if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= k):
            bad_px = (codes < 0) | (codes >= k)
            bad = np.flatnonzero(bad_px.reshape(len(codes), -1).any(axis=1))
            values = [int(codes[i][bad_px[i]][0]) for i in bad[:5]]
            raise ValidationError(
                label,
                "known_class",
                f"mask values must be class codes 0..{k - 1} (pred_probs holds {k} classes)",
                list(zip(fr.row_labels(bad[:5] + start), values)),
                num_failures=len(bad),
            )
        low, high = -PROBABILITY_TOLERANCE, 1 + PROBABILITY_TOLERANCE
        # fast verdicts first (NaN fails both comparisons); the offending rows only on failure
        # with no negative value and pixel sums within eps of 1 (checked next), no value exceeds
        # 1 + eps: the maximum is read only when a value is negative
        lowest = float(probs.min())
        if not (lowest >= low and (lowest >= 0 and eps <= high - 1 or float(probs.max()) <= high)):
            wide = probs.astype(np.float64, copy=False)
            out = ~((wide >= low) & (wide <= high))
            bad = np.flatnonzero(out.reshape(len(probs), -1).any(axis=1))
            raise ValidationError(
                sel.label,
                "probability_range",
                "probabilities must be finite and lie in [0, 1]",
                [(r, None) for r in fr.row_labels(bad[:5] + start)],
                num_failures=len(bad),
            )
        # float32 sums of K values err by about K * 6e-8, far below the tolerance
        off = np.abs(probs.sum(axis=1) - 1)
        if float(off.max()) > eps:
            sums = off > eps
            bad = np.flatnonzero(sums.reshape(len(probs), -1).any(axis=1))
            raise ValidationError(
                sel.label,
                "pixel_sums_to_1",
                f"the class probabilities of every pixel must sum to 1 (within {eps:g})",
                [
                    (r, float(1 + off[i][sums[i]][0]))
                    for r, i in zip(fr.row_labels(bad[:5] + start), bad[:5])
                ],
                num_failures=len(bad),
            )
        return codes

    checked = [False]

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, n, batch_size):
            masks, probs = read(start, min(n, start + batch_size))
            if not checked[0]:
                masks = check(start, masks, probs)
            else:
                masks = masks.astype(np.intp, copy=False)
            yield masks, probs
        checked[0] = True

    return SegmentationInputs(
        num_images=n,
        num_classes=k,
        height=h,
        width=w,
        classes=classes,
        batch_size=batch_size,
        batches=batches,
        read=read,
    )
