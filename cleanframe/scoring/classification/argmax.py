"""Label issues from the confusion matrix of the model's argmax predictions (the reference's
``find_label_issues_using_argmax_confusion_matrix``).

Instead of the confident joint (which counts a row toward class j only when ``p[:, j]`` clears
class j's threshold), the joint is the plain confusion matrix of (given label, argmax
prediction), optionally calibrated to the class counts; the ``prune_*`` rules then run on it. It
is the baseline of the confident-learning paper: cheaper, and less robust to a model that is
over- or under-confident on some classes.

Exposed as ``filter_by="argmax_confusion"`` (see :data:`ARGMAX_CONFUSION`) and as the named
function :func:`find_label_issues_using_argmax_confusion_matrix`.
"""

from __future__ import annotations

import numpy as np

from ..parallel import row_reduce
from .count import calibrate_confident_joint

__all__ = [
    "ARGMAX_CONFUSION",
    "argmax_confident_joint",
    "confusion_joint",
    "find_label_issues_using_argmax_confusion_matrix",
]

#: The ``filter_by`` name of this rule: ``prune_by_noise_rate`` on :func:`argmax_confident_joint`.
ARGMAX_CONFUSION = "argmax_confusion"


def confusion_joint(
    labels: np.ndarray, predicted: np.ndarray, num_classes: int, *, calibrate: bool = True
) -> np.ndarray:
    """The K×K counts of (given label, predicted class), rows = given (the confident joint's
    orientation); ``calibrate`` rescales each row to its class count and the total to N,
    rounding with the row totals kept (as :func:`~.count.calibrate_confident_joint`).

    Examples
    --------
    >>> confusion_joint(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), 2).tolist()
    [[1, 1], [1, 2]]
    """
    labels = np.asarray(labels, dtype=np.int64)
    k = int(num_classes)
    cells = labels * k + np.asarray(predicted, dtype=np.int64)
    joint = np.bincount(cells, minlength=k * k).reshape(k, k)
    if calibrate:
        return calibrate_confident_joint(joint, labels)
    return joint


def argmax_confident_joint(
    labels: np.ndarray, pred_probs: np.ndarray, *, calibrate: bool = True
) -> np.ndarray:
    """:func:`confusion_joint` of the argmax predictions (first maximum of each row).

    Examples
    --------
    >>> labels = np.array([0, 0, 1, 1, 1])
    >>> P = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    >>> argmax_confident_joint(labels, P, calibrate=False).tolist()
    [[1, 1], [1, 2]]
    """
    predicted = row_reduce(np.asarray(pred_probs), "argmax")
    return confusion_joint(labels, predicted, pred_probs.shape[1], calibrate=calibrate)


def find_label_issues_using_argmax_confusion_matrix(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    calibrate: bool = True,
    filter_by: str = "prune_by_noise_rate",
) -> np.ndarray:
    """Boolean mask of label issues: :func:`~.filter.find_label_issues` (``filter_by``, the
    ``prune_*`` rules or ``both``) on the argmax confusion matrix instead of the confident joint.

    Examples
    --------
    >>> labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> P = np.array([[0.9, 0.1]] * 3 + [[0.2, 0.8]] + [[0.1, 0.9]] * 4)
    >>> find_label_issues_using_argmax_confusion_matrix(labels, P).nonzero()[0].tolist()
    [3]
    """
    from .filter import find_label_issues

    joint = argmax_confident_joint(labels, pred_probs, calibrate=calibrate)
    return find_label_issues(labels, pred_probs, confident_joint=joint, filter_by=filter_by)
