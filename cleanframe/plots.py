"""Pictures of results (matplotlib, imported on first use; ``pip install cleanframe[extras]``)."""

from __future__ import annotations

import numpy as np

from ._engines import to_pandas as _to_pandas

__all__ = ["plot_class_issue_rates", "plot_label_scores"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_class_issue_rates(classes_by_label_quality, *, ax=None, top: int | None = None):
    """Horizontal bars: the estimated share of each class's labels that are wrong.

    ``classes_by_label_quality`` is the per-class table of :func:`cleanframe.health_summary`
    (pandas or polars). Returns the matplotlib ``Axes``.
    """
    table = _to_pandas(classes_by_label_quality).sort_values("label_noise", kind="stable")
    if top is not None:
        table = table.tail(top)
    ax = _axes(ax, (6, max(2.5, 0.3 * len(table) + 1)))
    ax.barh(table["class"].astype(str), 100 * table["label_noise"], color="#d95f02")
    ax.set_xlabel("estimated label issues (% of the class)")
    ax.set_title("Label issue rate per class")
    for y, (rate, n) in enumerate(zip(table["label_noise"], table["label_issues"])):
        ax.text(100 * rate, y, f" {n}", va="center", fontsize=8)
    ax.figure.tight_layout()
    return ax


def plot_label_scores(
    result, *, score: str = "label_score", flag: str = "is_issue", ax=None, bins=50
):
    """Histogram of label scores, flagged rows highlighted (log-scaled counts)."""
    table = _to_pandas(result)
    ax = _axes(ax, (6, 3))
    values = np.asarray(table[score], dtype=float)
    flagged = np.asarray(table[flag], dtype=bool)
    edges = np.linspace(0, 1, bins + 1)
    ax.hist(
        [values[~flagged], values[flagged]],
        bins=edges,
        stacked=True,
        color=["#1b9e77", "#d95f02"],
        label=["not flagged", "flagged"],
    )
    ax.set_yscale("log")
    ax.set_xlabel(score)
    ax.set_ylabel("rows")
    ax.legend()
    ax.figure.tight_layout()
    return ax
