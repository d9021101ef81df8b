"""Label issues for a numeric target, from a column of out-of-sample predictions.

``find_label_issues(df, label="price", predictions="predicted_price")`` scores every row with
OUTRE (default) or the plain residual score and flags rows the way cleanlab's Datalab does for
regression with predictions: ``label_score < threshold * median(label_score)``. The math lives in
:mod:`cleanframe.scoring.regression.outre`; the columns are read and checked by the input layer
(:func:`cleanframe._inputs.models.resolve_regression_columns`), and the results attached in the
caller's frame type. For issues found with a model in the loop instead, see
:class:`cleanframe.models.CleanLearning` with a regressor.

Engine support: pandas, polars and polars LazyFrame (collected once: OUTRE needs all rows).
"""

from __future__ import annotations

import warnings

from ._engines import adapt
from ._inputs.arguments import choice
from ._inputs.columns import check_result_columns
from ._inputs.models import resolve_regression_columns, resolve_uncertainty_column
from .scoring.regression import outre

__all__ = ["ApproximateScoresWarning", "find_label_issues", "label_quality_scores"]


def _resolve(df, label, predictions):
    fr = adapt(df)
    y, pred = resolve_regression_columns(fr, label=label, predictions=predictions)
    return fr, y, pred


class ApproximateScoresWarning(UserWarning):
    """OUTRE scores were computed with the fast approximation (large N, ``exact=None``)."""


def _scores(y, pred, method, exact=None, threshold=0.05, uncertainty=None):
    choice(method, outre.METHODS, "method")
    if uncertainty is not None:  # the reference's CleanLearning score, with a known uncertainty
        return outre.uncertainty_scores(y, pred, uncertainty)
    if exact is None:
        exact = len(y) < outre._FAST_MIN_N
        if not exact and method == "outre":
            warnings.warn(
                f"{len(y):,} rows: OUTRE scores use the fast approximation (measured relative "
                f"error of the mean kNN distances ~1e-4, at most 1.5e-2 on adversarial shapes; "
                f"the median and the rows near the flag cut "
                f"are computed exactly, so is_issue matches the exact path). Pass exact=True for "
                f"exact scores (O(N^2) time) or exact=False to silence this message.",
                ApproximateScoresWarning,
                stacklevel=4,
            )
    return outre.get_label_quality_scores(
        y, pred, method=method, exact=exact, flag_threshold=threshold
    )


def label_quality_scores(
    df,
    *,
    label: str,
    predictions: str,
    method: str = "outre",
    exact: bool | None = None,
    uncertainty: str | float | None = None,
    overwrite: bool = False,
):
    """Add ``label_score`` (in [0, 1], lower = more likely a wrong target) to the frame.

    Same parameters as :func:`find_label_issues` (``uncertainty=``: the reference's
    uncertainty-adjusted score), without the flagging (``exact=False`` keeps the median exact
    and protects the default 0.05 flag cut). The input frame is not modified.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "pred": [2.0, 2.0, 5.0, 4.1]})
    >>> label_quality_scores(df, label="y", predictions="pred").label_score.round(5).tolist()
    [0.21624, 0.62586, 0.20275, 0.62586]
    """
    fr, y, pred = _resolve(df, label, predictions)
    u = resolve_uncertainty_column(fr, uncertainty)
    check_result_columns(fr, ["label_score"], overwrite=overwrite)
    scores = _scores(y, pred, method, exact, uncertainty=u)
    return fr.attach({"label_score": scores}, overwrite=overwrite)


def find_label_issues(
    df,
    *,
    label: str,
    predictions: str,
    method: str = "outre",
    threshold: float = 0.05,
    exact: bool | None = None,
    uncertainty: str | float | None = None,
    overwrite: bool = False,
):
    """Rows of a regression dataset whose target looks wrong, given a predictions column.

    The input frame is not modified.

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or polars.LazyFrame
    label : str
        The numeric target column.
    predictions : str
        A numeric column of out-of-sample predictions of the target (e.g. cross-validated).
    method : {"outre", "residual"}
        ``outre`` (default, as cleanlab): a kNN outlier score of the points (standardised target,
        5 x standardised residual) over ceil(N/2) neighbours -- computed exactly without cleanlab's
        N x N/2 distance array; ``residual``: exp(-|prediction - target|) (scale dependent).
    threshold : float
        A row is an issue when ``label_score < threshold * median(label_score)`` (Datalab's rule).
    exact : bool, optional
        ``None`` (default): exact below 20,000 rows, the fast approximation above (with an
        :class:`ApproximateScoresWarning`). ``True``: OUTRE computed exactly, ``O(N^2)`` time
        (~7 s at 20,000 rows, ~2.5 minutes at 100,000). ``False`` (20,000 rows or more; below
        that it is exact anyway): a
        fast approximation (~2 s at 100,000 rows) whose mean kNN distances differ from the exact
        ones by a measured relative error of at most 4e-4 on well-behaved data, 4e-3 on
        heavy-tailed, clustered or duplicated data, and 1.5e-2 next to a ridge between two large
        groups of identical rows (see
        :func:`cleanframe.scoring.regression.outre_mean_knn_distance_fast`); the rows near the
        median and near the ``threshold`` cut are recomputed exactly, so ``is_issue`` matches the
        exact path unless the approximation is off by more than the checked window there.
    uncertainty : str or float, optional
        A column of each row's predictive uncertainty (a standard deviation, e.g. the
        epistemic + aleatoric uncertainty of
        :meth:`cleanframe.models.CleanLearning.get_epistemic_uncertainty`), or one number for
        every row. The score is then the reference's uncertainty-adjusted one (regression
        ``CleanLearning``'s): ``exp(-r / median(r))`` with ``r = |prediction - target| /
        uncertainty``, instead of ``method``'s.
    overwrite : bool
        Replace existing result columns instead of raising.

    Returns
    -------
    Same type as ``df`` with ``label_score`` (float in [0, 1], lower = worse), ``is_issue``
    (bool) and ``predicted_label`` (the prediction, float).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=200)
    >>> df = pd.DataFrame({"y": y, "pred": y + rng.normal(scale=0.1, size=200)})
    >>> df.loc[7, "y"] += 10                       # a corrupted target
    >>> out = find_label_issues(df, label="y", predictions="pred")
    >>> out.index[out.is_issue].tolist()
    [7]
    """
    fr, y, pred = _resolve(df, label, predictions)
    u = resolve_uncertainty_column(fr, uncertainty)
    check_result_columns(fr, ["label_score", "is_issue", "predicted_label"], overwrite=overwrite)
    scores = _scores(y, pred, method, exact, threshold, uncertainty=u)
    return fr.attach(
        {
            "label_score": scores,
            "is_issue": outre.find_issues_from_scores(scores, threshold=threshold),
            "predicted_label": pred,
        },
        overwrite=overwrite,
    )
