"""The ``.cl`` namespace on pandas.DataFrame, polars.DataFrame and polars.LazyFrame.

The accessor stores the frame and nothing else (pandas builds a new accessor on every ``df.cl``,
polars caches one per frame and a polars frame can change in place), and each method forwards to
a public function of cleanframe, imported when the method is first looked up.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

__all__ = ["CleanAccessor", "register"]


class _Forward:
    """A method that forwards ``df.cl.name(**kw)`` to ``cleanframe.<module>.<name>(df, **kw)``."""

    def __init__(self, module: str, name: str | None = None):
        self.module = module
        self.name = name or ""  # "" until __set_name__ gives the attribute's name

    def __set_name__(self, owner, attr):
        self.name = self.name or attr

    def target(self):
        return getattr(importlib.import_module(f"cleanframe.{self.module}"), self.name)

    def __get__(self, accessor, owner=None):
        func = self.target()
        if accessor is None:
            return func
        frame = accessor._obj

        @functools.wraps(func)
        def method(*args, **kwargs):
            return func(frame, *args, **kwargs)

        # a function takes any attribute; the wrapper's static type does not list __signature__
        wrapper: Any = method
        try:
            sig = inspect.signature(func)
            wrapper.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])
        except (TypeError, ValueError):  # pragma: no cover
            pass
        return method


class CleanAccessor:
    """Data-quality checks for this frame: ``df.cl.<method>(...)``.

    Every row-level method returns a new frame of the same type (same rows, order and index)
    with result columns added; the frame itself is never modified.

    Label issues: ``find_label_issues``, ``label_quality_scores``, ``num_label_issues``,
    ``health_summary``, ``confident_joint``, ``overlapping_classes``, ``merge_rare_classes``.
    Multi-annotator data: ``consensus``, ``annotator_stats``, ``label_quality``,
    ``active_learning_scores``. Embedding space: ``find_outliers``, ``find_near_duplicates``,
    ``non_iid``, ``knn_graph``. Models: ``cross_val_pred_probs``. The input contract as a
    pandera schema: ``schema``.
    """

    def __init__(self, obj):
        self._obj = obj

    # label issues (issue 3)
    find_label_issues = _Forward("label_issues")
    label_quality_scores = _Forward("label_issues")
    ensemble_label_quality_scores = _Forward("label_issues")
    num_label_issues = _Forward("label_issues")
    health_summary = _Forward("label_issues")
    confident_joint = _Forward("label_issues")
    overlapping_classes = _Forward("label_issues")
    rank_classes_by_label_quality = _Forward("label_issues")
    overall_label_health_score = _Forward("label_issues")
    merge_rare_classes = _Forward("label_issues")

    # multi-label (a list column of tags) and token classification (one row per token)
    class_label_issues = _Forward("multilabel")
    group_scores = _Forward("tokens")
    common_label_issues = _Forward("tokens")

    # multi-annotator data
    consensus = _Forward("multiannotator")
    annotator_stats = _Forward("multiannotator")
    label_quality = _Forward("multiannotator")
    active_learning_scores = _Forward("multiannotator")
    agreement = _Forward("annotator_agreement")

    # synthetic label noise
    inject_label_noise = _Forward("noise")

    # embedding space
    knn_graph = _Forward("neighbors")
    find_outliers = _Forward("neighbors")
    find_near_duplicates = _Forward("neighbors")
    non_iid = _Forward("neighbors")
    class_imbalance = _Forward("neighbors")
    find_null_issues = _Forward("neighbors")

    # every check at once (Datalab)
    find_issues = _Forward("checks")
    audit = _Forward("checks")

    # models in the loop
    cross_val_pred_probs = _Forward("models")

    # vision: object-detection boxes, segmentation masks
    detection_issues = _Forward("vision")
    detection_box_scores = _Forward("vision")
    segmentation_issues = _Forward("vision")
    common_segmentation_issues = _Forward("vision")

    # the input contract as a pandera schema
    schema = _Forward("_inputs.schema")

    def __dir__(self):
        return sorted(
            set(super().__dir__())
            | {k for k, v in type(self).__dict__.items() if isinstance(v, _Forward)}
        )


def register() -> None:
    """Register ``.cl`` on pandas and polars frames, and on Dask DataFrames when dask is
    installed (idempotent)."""
    import warnings

    import pandas as pd
    import polars as pl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # re-registering on reload warns; the class is the same
        pd.api.extensions.register_dataframe_accessor("cl")(CleanAccessor)
        pl.api.register_dataframe_namespace("cl")(CleanAccessor)
        pl.api.register_lazyframe_namespace("cl")(CleanAccessor)
    from .dask_hook import register_dask

    register_dask(CleanAccessor)  # now if dask.dataframe is imported, else when it is
