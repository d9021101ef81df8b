"""cleanframe: find label errors, bad annotators, outliers and near duplicates in DataFrames.

Importing cleanframe registers the ``.cl`` namespace on ``pandas.DataFrame``,
``polars.DataFrame`` and ``polars.LazyFrame``::

    import cleanframe
    out = df.cl.find_label_issues(label="y", pred_probs="p_*")
    out[out.is_issue].sort_values("label_score")

Heavy dependencies (scikit-learn, pandera, matplotlib, tqdm, nearest-neighbour libraries) are
imported only by the calls that need them.
"""

from __future__ import annotations

import importlib

from ._accessors import CleanAccessor, register
from .errors import CleanframeError, ValidationError
from .label_issues import (
    HealthSummary,
    MergedClasses,
    confident_joint,
    ensemble_label_quality_scores,
    find_label_issues,
    health_summary,
    label_quality_scores,
    merge_rare_classes,
    num_label_issues,
    overall_label_health_score,
    overlapping_classes,
    rank_classes_by_label_quality,
)

__version__ = "0.1.0"

register()

# Public names that live in modules imported on first use.
_LAZY = {
    "agreement": ("cleanframe.annotator_agreement", "agreement"),
    "datasets": ("cleanframe.datasets", None),
    "plots": ("cleanframe.plots", None),
    "scoring": ("cleanframe.scoring", None),
    "consensus": ("cleanframe.multiannotator", "consensus"),
    "annotator_stats": ("cleanframe.multiannotator", "annotator_stats"),
    "label_quality": ("cleanframe.multiannotator", "label_quality"),
    "active_learning_scores": ("cleanframe.multiannotator", "active_learning_scores"),
    "knn_graph": ("cleanframe.neighbors", "knn_graph"),
    "find_outliers": ("cleanframe.neighbors", "find_outliers"),
    "find_near_duplicates": ("cleanframe.neighbors", "find_near_duplicates"),
    "non_iid": ("cleanframe.neighbors", "non_iid"),
    "OutlierDetector": ("cleanframe.neighbors", "OutlierDetector"),
    "KnnGraph": ("cleanframe.neighbors", "KnnGraph"),
    "NonIIDResult": ("cleanframe.neighbors", "NonIIDResult"),
    "ApproximateNeighborsWarning": ("cleanframe.neighbors", "ApproximateNeighborsWarning"),
    "FeatureScaleWarning": ("cleanframe.neighbors", "FeatureScaleWarning"),
    "NonIIDTestWarning": ("cleanframe.neighbors", "NonIIDTestWarning"),
    "Audit": ("cleanframe.checks", "Audit"),
    "find_issues": ("cleanframe.checks", "find_issues"),
    "audit": ("cleanframe.checks", "audit"),
    "class_imbalance": ("cleanframe.neighbors", "class_imbalance"),
    "find_null_issues": ("cleanframe.neighbors", "find_null_issues"),
    "cross_val_pred_probs": ("cleanframe.models", "cross_val_pred_probs"),
    "CleanLearning": ("cleanframe.models", "CleanLearning"),
    "schema": ("cleanframe._inputs.schema", "schema"),
    "vision": ("cleanframe.vision", None),
    "detection_issues": ("cleanframe.vision", "detection_issues"),
    "detection_box_scores": ("cleanframe.vision", "detection_box_scores"),
    "segmentation_issues": ("cleanframe.vision", "segmentation_issues"),
    "common_segmentation_issues": ("cleanframe.vision", "common_segmentation_issues"),
    "inject_label_noise": ("cleanframe.noise", "inject_label_noise"),
    "noise_matrix_from_trace": ("cleanframe.noise", "noise_matrix_from_trace"),
    "noise_matrix_is_valid": ("cleanframe.noise", "noise_matrix_is_valid"),
    "multilabel": ("cleanframe.multilabel", None),
    "tokens": ("cleanframe.tokens", None),
    "class_label_issues": ("cleanframe.multilabel", "class_label_issues"),
    "group_scores": ("cleanframe.tokens", "group_scores"),
    "common_label_issues": ("cleanframe.tokens", "common_label_issues"),
}


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'cleanframe' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CleanAccessor",
    "CleanframeError",
    "HealthSummary",
    "MergedClasses",
    "ValidationError",
    "confident_joint",
    "ensemble_label_quality_scores",
    "find_label_issues",
    "health_summary",
    "label_quality_scores",
    "merge_rare_classes",
    "num_label_issues",
    "overall_label_health_score",
    "overlapping_classes",
    "rank_classes_by_label_quality",
    *sorted(_LAZY),
]
