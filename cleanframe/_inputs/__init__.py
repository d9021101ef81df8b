"""The input layer: every column spec and argument → validated numpy arrays and class names.

This package is the only place that raises :class:`~cleanframe.errors.ValidationError`. Public
functions hand it the engine (:func:`cleanframe._engines.adapt`) and the caller's arguments, and
get back arrays that the scoring kernels can use as they are. Each rule is written once:

| module | resolves |
|---|---|
| ``columns`` | column specs (list / glob / dict / one array column) |
| ``classes`` | labels → class codes, the class order, the label rules |
| ``probabilities`` | ``pred_probs`` (the numpy gate), labels + pred_probs together |
| ``features`` | ``features=`` and numeric columns (targets, predictions) |
| ``arguments`` | per-class and K×K arguments, choices |
| ``neighbors`` | ``features=`` as an embedding, ``k``, ``metric``, ``knn_graph=``, one source |
| ``checks`` | the audit's ``checks=`` and which inputs the arguments provide |
| ``annotations`` | multi-annotator options (``AnnotationSpec``) and the wide / long layouts |
| ``agreement`` | ``agreement``'s consensus choice and bootstrap options |
| ``noise`` | label-noise simulation: noise matrix or fraction, seeds, trace arguments |
| ``models`` | ``X`` / ``y`` of the models, their feature table, regression targets |
| ``schema`` | the same rules as pandera schemas (``cleanframe.schema``, error reports) |
| ``rules`` | the tolerances the rules share |
"""

from __future__ import annotations

from .annotations import AnnotationInputs, AnnotationSpec, resolve_annotations
from .classes import ClassSet, class_code_map, default_class_order, resolve_labels
from .columns import Selection, resolve_columns, spec_name
from .features import resolve_features, resolve_numeric
from .probabilities import (
    Classification,
    check_probabilities,
    resolve_classification,
    resolve_pred_probs,
)
from .rules import PROBABILITY_TOLERANCE, RENORMALIZE_ABOVE

__all__ = [
    "AnnotationInputs",
    "AnnotationSpec",
    "resolve_annotations",
    "PROBABILITY_TOLERANCE",
    "RENORMALIZE_ABOVE",
    "ClassSet",
    "Classification",
    "Selection",
    "check_probabilities",
    "class_code_map",
    "default_class_order",
    "resolve_classification",
    "resolve_columns",
    "resolve_features",
    "resolve_labels",
    "resolve_numeric",
    "resolve_pred_probs",
    "spec_name",
]
