"""Pictures of vision results: boxes coloured by issue type, flagged pixels over a mask.

matplotlib is imported on first use (``pip install cleanframe[extras]``). Both functions reuse
the public functions of :mod:`cleanframe.vision` and return the matplotlib ``Axes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._engines import to_pandas as _to_pandas
from ._typing import ColumnSpec
from .vision import detection_box_scores, segmentation_pixel_issues

__all__ = ["plot_detection_issues", "plot_segmentation_issues", "ISSUE_COLOURS"]

#: Colours of the box kinds (colour-blind safe Dark2 hues).
ISSUE_COLOURS = {
    "given": "#1b9e77",
    "badly located": "#d95f02",
    "swapped": "#e7298a",
    "predicted": "#7570b3",
    "overlooked": "#e6ab02",
}


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_detection_issues(
    df: Any,
    *,
    predictions: Any,
    image: str,
    box: Sequence[str],
    label: str,
    score: str,
    image_id: Any,
    picture: np.ndarray | None = None,
    ax: Any = None,
    min_score: float = 0.5,
):
    """One image's given boxes (solid) and predicted boxes (dashed), coloured by issue type.

    Given boxes are green, or orange when badly located and pink when swapped; predicted boxes
    are purple, or yellow when overlooked (confident, overlapping no given box). Predicted boxes
    with a confidence below ``min_score`` are not drawn. ``picture`` (an H x W [x 3] array) is
    drawn underneath. The flags are :func:`cleanframe.vision.detection_box_scores`' over all
    images of the frames.

    Examples
    --------
    >>> import pandas as pd, cleanframe
    >>> from cleanframe.vision_plots import plot_detection_issues
    >>> given = pd.DataFrame({"img": [1], "cls": ["cat"], "x1": [0], "y1": [0],
    ...                       "x2": [20], "y2": [20]})
    >>> pred = given.assign(confidence=0.9)
    >>> ax = plot_detection_issues(given, predictions=pred, image="img", label="cls",
    ...     box=["x1", "y1", "x2", "y2"], score="confidence", image_id=1)
    >>> len(ax.patches)
    2
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    res = detection_box_scores(
        df, predictions=predictions, image=image, box=box, label=label, score=score
    )
    given, pred = _to_pandas(res.given), _to_pandas(res.predicted)
    given = given[given[image] == image_id]
    pred = pred[(pred[image] == image_id) & (pred[score] >= min_score)]
    ax = _axes(ax, (7, 5))
    if picture is not None:
        ax.imshow(picture)
    drawn = []
    for rows, dashed in ((given, False), (pred, True)):
        for _, row in rows.iterrows():
            if dashed:
                kind = "overlooked" if row["is_overlooked"] else "predicted"
                text = f"{row[label]} {row[score]:.2f}"
            else:
                kind = (
                    "swapped"
                    if row["is_swapped"]
                    else "badly located"
                    if row["is_badly_located"]
                    else "given"
                )
                text = str(row[label])
            x1, y1, x2, y2 = (float(row[c]) for c in box)
            colour = ISSUE_COLOURS[kind]
            ax.add_patch(
                Rectangle(
                    (x1, y1),
                    x2 - x1,
                    y2 - y1,
                    fill=False,
                    edgecolor=colour,
                    linewidth=2,
                    linestyle="--" if dashed else "-",
                )
            )
            ax.text(x1, y2 if dashed else y1, text, color=colour, fontsize=8, va="top")
            drawn.append(kind)
    if picture is None:
        coords = [given[list(box)].to_numpy(float), pred[list(box)].to_numpy(float)]
        allc = np.vstack([c for c in coords if len(c)] or [np.zeros((1, 4))])
        pad = 0.05 * max(1.0, float(np.ptp(allc)))
        ax.set_xlim(allc[:, 0].min() - pad, allc[:, 2].max() + pad)
        ax.set_ylim(allc[:, 3].max() + pad, allc[:, 1].min() - pad)  # image rows grow down
    ax.set_aspect("equal")
    handles = [
        Line2D([], [], color=c, linestyle="--" if k in ("predicted", "overlooked") else "-")
        for k, c in ISSUE_COLOURS.items()
    ]
    ax.legend(handles, list(ISSUE_COLOURS), fontsize=8, loc="upper right")
    ax.set_title(f"image {image_id}: given (solid) and predicted (dashed) boxes")
    return ax


def plot_segmentation_issues(
    df: Any,
    *,
    label: str,
    pred_probs: ColumnSpec,
    row: int,
    picture: np.ndarray | None = None,
    ax: Any = None,
    downsample: int = 1,
    batch_size: int | None = None,
):
    """One image's given mask with its flagged pixels in red (``row``: the row's position).

    The flags are those of :func:`cleanframe.vision.segmentation_issues` over all rows (the
    images are read in batches). ``picture`` (H x W [x 3]) is drawn underneath the mask.

    Examples
    --------
    >>> import numpy as np, pandas as pd, cleanframe
    >>> from cleanframe.vision_plots import plot_segmentation_issues
    >>> sure = np.stack([np.full((4, 4), 0.9), np.full((4, 4), 0.1)])
    >>> images = pd.DataFrame({"mask": [np.eye(4, dtype=int)], "probs": [sure]})
    >>> ax = plot_segmentation_issues(images, label="mask", pred_probs="probs", row=0)
    >>> ax.get_title()
    'image 0: 4 flagged pixels (red) over the given mask'
    """
    from matplotlib.colors import ListedColormap

    flagged = segmentation_pixel_issues(
        df,
        label=label,
        pred_probs=pred_probs,
        rows=[row],
        downsample=downsample,
        batch_size=batch_size,
    )[0]
    mask = _mask(df, label, row)
    ax = _axes(ax, (6, 5))
    if picture is not None:
        ax.imshow(picture)
    ax.imshow(mask, cmap="tab20", alpha=0.5 if picture is not None else 1.0, interpolation="none")
    overlay = np.ma.masked_where(~flagged, flagged.astype(float))
    ax.imshow(overlay, cmap=ListedColormap(["red"]), alpha=0.8, interpolation="none")
    ax.set_title(f"image {row}: {int(flagged.sum())} flagged pixels (red) over the given mask")
    ax.set_axis_off()
    return ax


def _mask(df: Any, label: str, row: int) -> np.ndarray:
    from ._engines import adapt

    fr = adapt(df)
    rows = fr.array_batch(label, row, row + 1)
    return np.asarray(rows[0])
