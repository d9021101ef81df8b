"""Models in the loop: out-of-sample pred_probs by cross-validation, and ``CleanLearning``.

* :func:`cross_val_pred_probs` (:mod:`~cleanframe.models.cross_val`) -- stratified K-fold
  out-of-sample class probabilities for a frame, with any scikit-learn classifier; the default
  model takes numeric, categorical and missing values as they are. The result is the frame plus
  one ``p_<class>`` column per class, ready for ``find_label_issues(label=..., pred_probs="p_*")``.
* :class:`CleanLearning` -- the scikit-learn estimator of confident learning (Northcutt et al.,
  JAIR 2021): find label issues by cross-validation, fit the model on the rows that remain,
  ``predict`` / ``predict_proba`` / ``score``. For a classifier it is
  :mod:`~cleanframe.models.classification`'s estimator; for a regressor
  (``sklearn.base.is_regressor``) the constructor returns :mod:`~cleanframe.models.regression`'s
  (out-of-fold residuals, a search over the fraction of rows to drop, epistemic + aleatoric
  uncertainty). One name keeps the FAQ's ``CleanLearning(LinearRegression(), ...)`` working.

The confident-learning math comes from :mod:`cleanframe.scoring.classification` (``count``,
``filter``, ``rank``), the regression scores from :mod:`cleanframe.scoring.regression.outre`; X
and y are resolved and checked by :mod:`cleanframe._inputs.models`, and rows are taken through
the engine layer, so X keeps its own type (pandas, polars, numpy, scipy.sparse). Importing this
package imports scikit-learn's base classes.

Results use cleanframe's column names (``label_score``, ``is_issue``, ``given_label``,
``predicted_label``) with class values in the labels' own dtype, never integer codes.
"""

from __future__ import annotations

from .classification import DEFAULT_FIND_LABEL_ISSUES_KWARGS as DEFAULT_FIND_LABEL_ISSUES_KWARGS
from .classification import CleanLearning
from .cross_val import cross_val_pred_probs

__all__ = ["CleanLearning", "cross_val_pred_probs"]
