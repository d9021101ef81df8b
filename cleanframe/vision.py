"""Vision annotations as tables: object-detection boxes and semantic-segmentation masks.

Object detection takes one row per box: the given (annotated) boxes in one frame and the model's
predicted boxes in another, both with an image id column, four coordinate columns
``x1, y1, x2, y2`` and a class column; the predictions add a confidence column. Scores follow
ObjectLab (cleanlab 2.9 ``object_detection``): overlooked objects, badly located boxes and
swapped classes, pooled per image.

Semantic segmentation takes one row per image: a column holding the given mask (an H x W array of
class codes) and the predicted probabilities (one column holding a K x H x W array per row, or K
columns each holding an H x W map). Pixels are examples of confident learning (cleanlab 2.9
``segmentation``); images are read in batches, so memory grows with the batch, not the dataset.

Engine support: pandas and polars (eager or LazyFrame; a LazyFrame collects only the columns a
call reads, and row-level results stay lazy); not Dask yet. Results come back in the caller's
frame type; inputs are never modified.

Deviations from the reference, on purpose:

- object detection: ties among predicted confidences are broken by image order then row order
  (cleanlab: numpy's unstable sort); ``find_label_issues(return_indices_ranked_by_score=True)``
  crashes in cleanlab 2.9 on numpy >= 2.4 (``np.in1d``) - here the ranking is the per-image table
  sorted by ``label_score``;
- segmentation: ``is_issue`` is ``label_score < threshold`` - cleanlab's ``issues_from_scores``
  always adds one image at or above the threshold (off by one, not copied); tied pixel scores at
  the cut-off are flagged by position (image, row, column).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._engines import adapt
from ._inputs.vision import (
    check_result_columns,
    resolve_detection,
    resolve_segmentation,
    segmentation_method,
)
from ._typing import ColumnSpec, FrameT
from .scoring.vision.detection import detection_scores
from .scoring.vision.segmentation import pixel_issues, segmentation_scores

__all__ = [
    "detection_issues",
    "detection_box_scores",
    "BoxScores",
    "segmentation_issues",
    "common_segmentation_issues",
    "segmentation_pixel_issues",
]

IMAGE_COLUMNS = (
    "label_score",
    "is_issue",
    "num_overlooked",
    "num_badly_located",
    "num_swapped",
    "overlooked_score",
    "badloc_score",
    "swap_score",
)
GIVEN_BOX_COLUMNS = ("badloc_score", "swap_score", "is_badly_located", "is_swapped")
PREDICTED_BOX_COLUMNS = ("overlooked_score", "is_overlooked")
SEGMENTATION_COLUMNS = ("label_score", "is_issue", "num_pixel_issues")


def _detection(df, predictions, image, box, label, score, classes, images, weights, overlap):
    fr, pfr = adapt(df), adapt(predictions)
    d = resolve_detection(
        fr,
        pfr,
        image=image,
        box=box,
        label=label,
        score=score,
        classes=classes,
        images=images,
        aggregation_weights=weights,
    )
    result = detection_scores(
        d.given_image,
        d.given_boxes,
        d.given_class,
        d.pred_image,
        d.pred_boxes,
        d.pred_class,
        d.pred_prob,
        num_images=len(d.image_values),
        num_classes=max(1, len(d.class_values)),
        aggregation_weights=d.weights,
        overlapping_label_check=overlap,
    )
    return fr, pfr, d, result


def detection_issues(
    df: FrameT,
    *,
    predictions: Any,
    image: str,
    box: Sequence[str],
    label: str,
    score: str,
    classes: Sequence | None = None,
    images: Sequence | None = None,
    aggregation_weights: Mapping[str, float] | None = None,
    overlapping_label_check: bool = True,
) -> FrameT:
    """One row per image: how likely its box annotations are wrong (ObjectLab).

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        The given boxes, one row per box.
    predictions : frame
        The predicted boxes, one row per box, with the same ``image``, ``box`` and ``label``
        columns plus ``score``.
    image, label, score : str
        Image id column, class column, confidence column (predictions only, in [0, 1]).
    box : list of four str
        The coordinate columns ``x1, y1, x2, y2`` (``x1 <= x2``, ``y1 <= y2``).
    classes : sequence, optional
        Every class; a class value outside it is an error. Class order does not change results.
    images : sequence, optional
        Image ids in the order of the result; images that hold no given and no predicted box
        get a row too (score 1). Images of the frames not listed follow in order of appearance.
    aggregation_weights : dict, optional
        Weights of ``overlooked``, ``badloc`` and ``swap`` in the image score (non-negative, sum
        to 1; default 1/3 each).
    overlapping_label_check : bool
        A given box overlapping (IoU >= 0.95) a given box of another class scores as swapped.

    Returns
    -------
    frame of the caller's type
        One row per image (in order of first appearance in ``df``, then ``predictions``):
        the image id, ``label_score`` (in [0, 1], lower = worse), ``is_issue`` (a box of the
        image is flagged), ``num_overlooked``, ``num_badly_located``, ``num_swapped`` (flagged
        boxes per kind) and the pooled ``overlooked_score``, ``badloc_score``, ``swap_score``.

    Notes
    -----
    Runs on pandas and polars frames (a LazyFrame collects the columns it reads). Box pairs of
    every image are scored at once with numpy (no loop per box or image); results equal
    cleanlab's ``object_detection.rank.get_label_quality_scores`` and
    ``filter.find_label_issues`` on the same boxes.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> given = pd.DataFrame({
    ...     "image_id": ["a", "a", "b"], "cls": ["cat", "dog", "dog"],
    ...     "x1": [0, 50, 10], "y1": [0, 50, 10], "x2": [20, 80, 40], "y2": [20, 80, 40],
    ... })
    >>> pred = pd.DataFrame({
    ...     "image_id": ["a", "a", "b", "b"], "cls": ["cat", "dog", "dog", "cat"],
    ...     "x1": [1, 50, 10, 100], "y1": [0, 51, 10, 100],
    ...     "x2": [20, 80, 41, 130], "y2": [21, 80, 40, 130],
    ...     "confidence": [0.99, 0.97, 0.98, 0.99],
    ... })
    >>> out = given.cl.detection_issues(predictions=pred, image="image_id",
    ...     box=["x1", "y1", "x2", "y2"], label="cls", score="confidence")
    >>> out[["image_id", "label_score", "is_issue", "num_overlooked"]].round(3)
      image_id  label_score  is_issue  num_overlooked
    0        a        0.976     False               0
    1        b        0.001      True               1
    """
    fr, _, d, r = _detection(
        df,
        predictions,
        image,
        box,
        label,
        score,
        classes,
        images,
        aggregation_weights,
        overlapping_label_check,
    )
    codes = np.arange(len(d.image_values))
    return fr.table(
        {
            image: fr.class_values(image, d.image_values, codes),
            "label_score": r.label_score,
            "is_issue": r.is_issue,
            "num_overlooked": r.num_overlooked,
            "num_badly_located": r.num_badloc,
            "num_swapped": r.num_swap,
            "overlooked_score": r.image_overlooked,
            "badloc_score": r.image_badloc,
            "swap_score": r.image_swap,
        }
    )


class BoxScores(NamedTuple):
    """Per-box results: ``given`` (the given boxes + ``badloc_score``, ``swap_score``,
    ``is_badly_located``, ``is_swapped``) and ``predicted`` (the predicted boxes +
    ``overlooked_score``, null where the box is no overlooked candidate, and
    ``is_overlooked``)."""

    given: Any
    predicted: Any


def detection_box_scores(
    df: FrameT,
    *,
    predictions: Any,
    image: str,
    box: Sequence[str],
    label: str,
    score: str,
    classes: Sequence | None = None,
    aggregation_weights: Mapping[str, float] | None = None,
    overlapping_label_check: bool = True,
    overwrite: bool = False,
) -> BoxScores:
    """Per-box scores (ObjectLab): badly located and swapped given boxes, overlooked objects.

    Parameters are those of :func:`detection_issues`; ``overwrite=True`` lets result columns
    replace columns of the same name.

    Returns
    -------
    BoxScores
        ``given``: ``df``'s rows (order, index) + ``badloc_score``, ``swap_score`` (in [0, 1],
        lower = worse) and the flags ``is_badly_located``, ``is_swapped``. ``predicted``: the
        prediction rows + ``overlooked_score`` (null unless the box has confidence >= 0.95 and
        overlaps no given box: the overlooked candidates) and ``is_overlooked``. Both frames
        are in their caller's type.

    Notes
    -----
    Runs on pandas and polars frames (a LazyFrame result stays lazy).

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> given = pd.DataFrame({"image_id": [1, 1], "cls": [0, 1],
    ...     "x1": [0, 50], "y1": [0, 50], "x2": [20, 80], "y2": [20, 80]})
    >>> pred = pd.DataFrame({"image_id": [1, 1, 1], "cls": [0, 0, 1],
    ...     "x1": [0, 50, 200], "y1": [0, 50, 200], "x2": [20, 80, 230], "y2": [20, 80, 230],
    ...     "confidence": [0.9, 0.99, 0.97]})
    >>> given_scores, pred_scores = given.cl.detection_box_scores(predictions=pred,
    ...     image="image_id", box=["x1", "y1", "x2", "y2"], label="cls", score="confidence")
    >>> given_scores[["cls", "badloc_score", "swap_score", "is_swapped"]].round(3)
       cls  badloc_score  swap_score  is_swapped
    0    0           1.0         1.0       False
    1    1           1.0         0.0       False
    >>> pred_scores[["cls", "overlooked_score", "is_overlooked"]].round(3)
       cls  overlooked_score  is_overlooked
    0    0               NaN          False
    1    0               NaN          False
    2    1               0.0          False
    """
    check_result_columns(adapt(df), GIVEN_BOX_COLUMNS, overwrite=overwrite)  # before any work
    check_result_columns(adapt(predictions), PREDICTED_BOX_COLUMNS, overwrite=overwrite)
    fr, pfr, d, r = _detection(
        df,
        predictions,
        image,
        box,
        label,
        score,
        classes,
        None,
        aggregation_weights,
        overlapping_label_check,
    )
    given = fr.attach(
        {
            "badloc_score": r.badloc,
            "swap_score": r.swap,
            "is_badly_located": r.is_badloc,
            "is_swapped": r.is_swap,
        },
        overwrite=overwrite,
    )
    missing = np.isnan(r.overlooked)
    predicted = pfr.attach(
        {
            "overlooked_score": pfr.with_nulls(np.where(missing, 0.0, r.overlooked), missing),
            "is_overlooked": r.is_overlooked,
        },
        overwrite=overwrite,
    )
    return BoxScores(given, predicted)


def _segmentation(df, label, pred_probs, classes, method, downsample, batch_size):
    fr = adapt(df)
    method = segmentation_method(method)
    s = resolve_segmentation(
        fr,
        label=label,
        pred_probs=pred_probs,
        classes=classes,
        batch_size=batch_size,
        downsample=downsample,
    )
    result = segmentation_scores(
        s.batches,
        num_images=s.num_images,
        num_classes=s.num_classes,
        method=method,
        downsample=downsample,
    )
    return fr, s, result


def segmentation_issues(
    df: FrameT,
    *,
    label: str,
    pred_probs: ColumnSpec,
    classes: Sequence | None = None,
    method: str = "softmin",
    threshold: float = 0.1,
    downsample: int = 1,
    batch_size: int | None = None,
    overwrite: bool = False,
) -> FrameT:
    """Per image: how likely its segmentation mask is wrong (confident learning on pixels).

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
        One row per image.
    label : str
        A column holding each image's mask: an H x W array of class codes ``0..K-1`` (polars
        ``Array``/``List``, Arrow lists, or a pandas column of numpy arrays).
    pred_probs : str, list, glob or dict
        One column holding a K x H x W array per row, or K columns (in class order) each
        holding an H x W map. Every pixel's probabilities sum to 1.
    classes : sequence, optional
        Names of the K classes (default: the dict spec's keys, else the codes).
    method : {"softmin", "num_pixel_issues"}
        ``softmin``: a soft minimum of the pixels' given-class probabilities (temperature 0.1);
        ``num_pixel_issues``: 1 - the fraction of the image's pixels flagged.
    threshold : float
        ``is_issue`` = ``label_score < threshold``.
    downsample : int
        Flag pixels on images average-pooled by this factor (must divide H and W), as cleanlab's
        ``downsample``; the scores of ``softmin`` do not change.
    batch_size : int, optional
        Images read at once (default: about 2**25 probability values per batch). Memory grows
        with the batch, not with the number of images.

    Returns
    -------
    frame of the caller's type
        ``df``'s rows + ``label_score`` (in [0, 1], lower = worse), ``is_issue`` and
        ``num_pixel_issues`` (flagged pixels: among the lowest given-class probabilities, up to
        the estimated number of label errors, where the predicted class differs from the given
        one).

    Notes
    -----
    Runs on pandas and polars frames (a LazyFrame stays lazy, and one that scans a file reads
    only a batch of rows at a time); reads the probabilities once, batch by batch, plus gathers
    of the given-class probabilities when the cut-off needs them. Equal to cleanlab's
    ``segmentation.rank.get_label_quality_scores`` and ``segmentation.filter.find_label_issues``
    on the same arrays (ties at the cut-off by position).

    Examples
    --------
    >>> import numpy as np, pandas as pd, cleanframe
    >>> masks = [np.zeros((2, 2), int), np.array([[0, 1], [1, 1]])]
    >>> sure = np.stack([np.full((2, 2), 0.95), np.full((2, 2), 0.05)])  # class 0 everywhere
    >>> images = pd.DataFrame({"mask": masks, "probs": [sure, sure]})
    >>> out = images.cl.segmentation_issues(label="mask", pred_probs="probs")
    >>> out[["label_score", "is_issue", "num_pixel_issues"]].round(3)
       label_score  is_issue  num_pixel_issues
    0         0.95     False                 0
    1         0.05      True                 3
    """
    fr = adapt(df)
    check_result_columns(fr, SEGMENTATION_COLUMNS, overwrite=overwrite)
    fr, _, r = _segmentation(df, label, pred_probs, classes, method, downsample, batch_size)
    return fr.attach(
        {
            "label_score": r.label_score,
            "is_issue": r.label_score < threshold,
            "num_pixel_issues": r.num_pixel_issues,
        },
        overwrite=overwrite,
    )


def common_segmentation_issues(
    df: FrameT,
    *,
    label: str,
    pred_probs: ColumnSpec,
    classes: Sequence | None = None,
    top: int = 20,
    exclude: Sequence | None = None,
    downsample: int = 1,
    batch_size: int | None = None,
) -> Any:
    """Which given classes are most often flagged as which predicted class, in pixels.

    Parameters are those of :func:`segmentation_issues`; ``top`` keeps the largest class
    pairs, ``exclude`` leaves out pixels predicted as these classes (names as in ``classes``).

    Returns
    -------
    frame of the caller's library
        ``given_label``, ``predicted_label``, ``num_pixel_issues``: the flagged pixels per class
        pair, largest first (ties: given class order, then predicted class order), at most
        ``top`` rows, pairs without flagged pixels left out (cleanlab's
        ``segmentation.summary.common_label_issues``).

    Notes
    -----
    Runs on pandas and polars frames; reads the images in batches.

    Examples
    --------
    >>> import numpy as np, pandas as pd, cleanframe
    >>> sure = np.stack([np.full((2, 2), 0.9), np.full((2, 2), 0.1)])
    >>> images = pd.DataFrame({"mask": [np.zeros((2, 2), int), np.ones((2, 2), int)],
    ...                        "probs": [sure, sure]})
    >>> images.cl.common_segmentation_issues(label="mask", pred_probs="probs",
    ...                                      classes=["road", "car"])
      given_label predicted_label  num_pixel_issues
    0         car            road                 4
    """
    # the flags do not depend on the image score's method; num_pixel_issues skips the softmin
    method = "num_pixel_issues"
    fr, s, r = _segmentation(df, label, pred_probs, classes, method, downsample, batch_size)
    pairs = r.pairs.copy()
    if exclude:
        keys = {str(c) for c in exclude}
        for j, c in enumerate(s.classes):
            if str(c) in keys:
                pairs[:, j] = 0
    given, predicted = np.nonzero(pairs)  # row-major: given class, then predicted class
    counts = pairs[given, predicted]
    order = np.argsort(-counts, kind="stable")[: max(0, int(top))]
    return fr.table(
        {
            "given_label": [s.classes[i] for i in given[order]],
            "predicted_label": [s.classes[j] for j in predicted[order]],
            "num_pixel_issues": counts[order].astype(np.int64),
        }
    )


def segmentation_pixel_issues(
    df: Any,
    *,
    label: str,
    pred_probs: ColumnSpec,
    rows: Sequence[int],
    downsample: int = 1,
    batch_size: int | None = None,
) -> np.ndarray:
    """The flagged pixels of the images at positions ``rows``, as a (len(rows), H, W) bool array.

    The flags are those of :func:`segmentation_issues` (the cut-off is computed over all
    images), e.g. to draw them (:func:`cleanframe.vision_plots.plot_segmentation_issues`).

    Examples
    --------
    >>> import numpy as np, pandas as pd, cleanframe.vision as vision
    >>> sure = np.stack([np.full((2, 2), 0.9), np.full((2, 2), 0.1)])
    >>> images = pd.DataFrame({"mask": [np.array([[0, 1], [0, 0]])], "probs": [sure]})
    >>> vision.segmentation_pixel_issues(images, label="mask", pred_probs="probs", rows=[0])
    array([[[False,  True],
            [False, False]]])
    """
    _, s, r = _segmentation(df, label, pred_probs, None, "num_pixel_issues", downsample, batch_size)
    out = []
    for i in rows:
        masks, probs = s.read(int(i), int(i) + 1)
        out.append(pixel_issues(masks.astype(np.int64), probs, int(i), r.cut, downsample)[0])
    return np.stack(out) if out else np.zeros((0, s.height, s.width), dtype=bool)
