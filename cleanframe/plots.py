"""Pictures of results (matplotlib, imported on first use; ``pip install cleanframe[extras]``)."""

from __future__ import annotations

import numpy as np

from ._engines import to_pandas as _to_pandas

__all__ = [
    "plot_audit_class_issue_rates",
    "plot_audit_confident_joint",
    "plot_audit_neighbours",
    "plot_audit_scores",
    "plot_class_issue_rates",
    "plot_label_scores",
]


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


# ------------------------------------------------------------------------------------------
# the audit report's pictures (each takes an Audit; ``ax``/``figure`` optional)
# ------------------------------------------------------------------------------------------
_FLAGGED, _CLEAN = "#d95f02", "#1b9e77"


#: The most classes the audit's class plots show (the worst ones).
AUDIT_PLOT_CLASSES = 30


def plot_audit_class_issue_rates(report, *, ax=None, top: int = AUDIT_PLOT_CLASSES):
    """Bars: the share of each given class's rows that the audit's label check flagged
    (counted from ``is_label_issue``; the ``top`` highest rates). Returns the ``Axes``."""
    table = _to_pandas(report.issues)
    labels = table[report.label].astype(str)
    flagged = table["is_label_issue"].astype(bool)
    rate = flagged.groupby(labels, sort=True).mean().sort_values(kind="stable").tail(top)
    counts = flagged.groupby(labels, sort=True).sum()
    ax = _axes(ax, (6, max(2.5, 0.3 * len(rate) + 1)))
    ax.barh(rate.index, 100 * rate.to_numpy(), color=_FLAGGED)
    for y, name in enumerate(rate.index):
        ax.text(100 * rate[name], y, f" {int(counts[name])}", va="center", fontsize=8)
    ax.set_xlabel("rows flagged by the label check (% of the given class)")
    shown = "" if len(rate) < flagged.groupby(labels).ngroups else f" (the {len(rate)} highest)"
    ax.set_title(f"Label issues per class{shown}")
    ax.figure.tight_layout()
    return ax


def plot_audit_scores(report, *, figure=None, bins: int = 40):
    """One histogram per check of its scores: all rows, the flagged ones drawn over them (log
    counts). Returns the ``Figure``."""
    table = _to_pandas(report.issues)
    checks = [c for c in report.checks if table[f"{c}_score"].nunique() > 1]
    if figure is None:
        import matplotlib.pyplot as plt

        figure = plt.figure()
    cols = min(3, max(1, len(checks)))
    rows = max(1, -(-len(checks) // cols))
    figure.set_size_inches(4 * cols, 2.6 * rows)
    edges = np.linspace(0, 1, bins + 1)
    for i, check in enumerate(checks):
        ax = figure.add_subplot(rows, cols, i + 1)
        values = np.asarray(table[f"{check}_score"], dtype=float)
        flagged = np.asarray(table[f"is_{check}_issue"], dtype=bool)
        every, _ = np.histogram(values, bins=edges)
        bad, _ = np.histogram(values[flagged], bins=edges)
        # counts on a log scale: 0.5 stands for an empty bin (drawn at the bottom)
        ax.stairs(np.maximum(every, 0.5), edges, fill=True, color=_CLEAN, label="all rows")
        if flagged.any():
            ax.stairs(np.maximum(bad, 0.5), edges, fill=True, color=_FLAGGED, label="flagged")
        ax.set_yscale("log")
        ax.set_ylim(0.5, None)
        ax.set_title(f"{check}_score", fontsize=9)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7)
    figure.subplots_adjust(left=0.06, right=0.98, bottom=0.08, top=0.92, hspace=0.45, wspace=0.25)
    return figure


def plot_audit_confident_joint(report, *, ax=None, top: int = AUDIT_PLOT_CLASSES):
    """Heatmap of the label check's confident joint (given label x confidently suggested
    label, row counts; with more than ``top`` classes, the ``top`` with the most off-diagonal
    counts). Returns the ``Axes``."""
    label = report.details["label"]
    joint = np.asarray(label["confident_joint"])
    names = [str(c) for c in label["classes"]]
    if len(names) > top:
        off = joint.sum(axis=0) + joint.sum(axis=1) - 2 * np.diag(joint)
        keep = np.sort(np.argsort(-off, kind="stable")[:top])
        joint, names = joint[np.ix_(keep, keep)], [names[i] for i in keep]
    size = max(3.0, 0.45 * len(names) + 1.5)
    ax = _axes(ax, (size + 1, size))
    image = ax.imshow(np.log1p(joint), cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    if len(names) <= 12:
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, int(joint[i, j]), ha="center", va="center", fontsize=7, color="w")
    ax.set_xlabel("suggested label")
    ax.set_ylabel("given label")
    ax.set_title("Confident joint (log colour scale)")
    ax.figure.colorbar(image, ax=ax, label="log(1 + rows)")
    ax.figure.tight_layout()
    return ax


def plot_audit_neighbours(report, *, ax=None):
    """Each row's mean distance to its neighbours (the outlier check's evidence) against the
    distance to its nearest one (the near-duplicate check's), flagged rows marked. Returns the
    ``Axes``."""
    mean = np.asarray(report.evidence["outlier"]["mean_distance"], dtype=float)
    nearest = np.asarray(report.evidence["near_duplicate"]["distance"], dtype=float)
    table = _to_pandas(report.issues)
    outlier = np.asarray(table["is_outlier_issue"], dtype=bool)
    duplicate = np.asarray(table["is_near_duplicate_issue"], dtype=bool)
    ax = _axes(ax, (6, 4))
    clean = ~(outlier | duplicate)
    tiny = max(float(np.nanmin(nearest[nearest > 0])) / 10 if (nearest > 0).any() else 1e-12, 1e-12)
    y = np.maximum(nearest, tiny)
    x = np.maximum(mean, tiny)
    ax.scatter(x[clean], y[clean], s=4, color="#999999", label="not flagged", alpha=0.5)
    ax.scatter(x[outlier], y[outlier], s=10, color=_FLAGGED, label="outlier")
    ax.scatter(x[duplicate], y[duplicate], s=10, color="#7570b3", label="near duplicate")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mean distance to the k nearest neighbours")
    ax.set_ylabel("distance to the nearest neighbour")
    ax.set_title("Outliers and near duplicates")
    ax.legend(fontsize=7)
    ax.figure.tight_layout()
    return ax
