"""``CleanLearning`` for regressors: cleanlab's regression procedure with a model in the loop.

Out-of-fold predictions give residuals; rows are ordered by residual and the fraction of them to
drop is searched over a coarse then a fine grid (the fraction with the best out-of-fold R²);
epistemic (spread of 2-fold prediction sets) plus aleatoric (spread of predicted residuals)
uncertainty turns residuals into scores (:func:`cleanframe.scoring.regression.outre.
uncertainty_scores`). Then the model is fitted on the rows that remain.

The class is named ``CleanLearning`` like the classification one, whose constructor returns it
for a regressor: users build it as ``CleanLearning(LinearRegression(), ...)``, and its repr shows
that same public name. ``isinstance(est, cleanframe.models.CleanLearning)`` holds for it too.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import RegressorMixin

from .._inputs.models import (
    Rows,
    check_fold_rows,
    check_rows_after_dropping,
    resolve_regression_target,
    resolve_uncertainty,
)
from ..scoring.regression.outre import uncertainty_scores
from ._base import CleanLearningBase
from .cross_val import run_folds

__all__ = ["CleanLearning"]


class CleanLearning(RegressorMixin, CleanLearningBase):
    """Find and drop rows whose numeric target looks wrong, then fit a regressor.

    Built by :class:`cleanframe.models.CleanLearning` for a regressor; see it for the
    parameters. The regression ones are ``n_boot`` and ``include_aleatoric_uncertainty``
    (``converge_latent_estimates``, ``find_label_issues_kwargs`` and
    ``label_quality_scores_kwargs`` are classification parameters, unused here).

    Attributes
    ----------
    k_ : float
        The fraction of rows flagged.
    label_issues_ : DataFrame or None
        The last issues found (``label_score``, ``is_issue``, ``given_label``,
        ``predicted_label``), also returned by :meth:`get_label_issues`.
    """

    _for_regressor = True

    def _default_model(self):
        from sklearn.linear_model import LinearRegression

        return LinearRegression()

    # -- public API ----------------------------------------------------------------------------
    def find_label_issues(
        self,
        X,
        y,
        *,
        uncertainty=None,
        coarse_search_range=(0.01, 0.05, 0.1, 0.15, 0.2),
        fine_search_size: int = 3,
        model_kwargs=None,
        save_space: bool = False,
    ):
        """Find the rows whose target looks wrong; X and y are not modified.

        Parameters
        ----------
        X : array-like, pandas or polars DataFrame, scipy sparse matrix
            Features, passed to the model as they are (row subsets keep X's type).
        y : array-like or Series
            The numeric target.
        uncertainty : float or ndarray (N,), optional
            Use this instead of estimating epistemic + aleatoric uncertainty.
        coarse_search_range : sequence of float
            Candidate fractions of rows to flag, refined by ``fine_search_size`` points between
            the best coarse value and its neighbours.
        fine_search_size : int
        model_kwargs : dict, optional
            Extra keyword arguments for ``model.fit`` during cross-validation.
        save_space : bool
            Do not keep the result on the estimator.

        Returns
        -------
        DataFrame (polars for polars X, else pandas with X's index) with ``label_score`` (in
        [0, 1], lower = worse), ``is_issue``, ``given_label`` (the target) and
        ``predicted_label`` (the out-of-fold prediction).
        """
        from sklearn.metrics import r2_score

        rows = self._start(X, y, fitting=False)
        target, _ = resolve_regression_target(y, rows)
        rng = np.random.RandomState(self.seed)
        initial = self._cv_predict(rows, target, rng, fit_kwargs=model_kwargs)
        order = np.argsort(np.abs(initial - target), kind="stable")
        frac, r2 = self._best_fraction(
            rows, target, rng, order, coarse_search_range, fine_search_size, model_kwargs
        )
        if r2_score(target, initial) >= r2:
            frac = 0.0
        self.k_ = frac
        predictions = self._cv_predict(
            rows, target, rng, order=order, drop_frac=frac, fit_kwargs=model_kwargs
        )
        residual = predictions - target
        if uncertainty is None:
            uncertainty = self._epistemic(rows, target, rng, predictions)
            if self.include_aleatoric_uncertainty:
                uncertainty = uncertainty + self._aleatoric(rows, residual, rng)
        else:
            uncertainty = resolve_uncertainty(uncertainty, len(target))
        scores = uncertainty_scores(target, predictions, uncertainty)
        mask = np.zeros(len(target), dtype=bool)
        mask[np.argsort(scores, kind="stable")[: math.ceil(len(target) * frac)]] = True
        issues = rows.row_table(
            {
                "label_score": scores,
                "is_issue": mask,
                "given_label": target,
                "predicted_label": predictions,
            }
        )
        return self._keep_issues(issues, save_space)

    def fit(
        self,
        X,
        y,
        *,
        label_issues=None,
        sample_weight=None,
        find_label_issues_kwargs=None,
        model_kwargs=None,
        model_final_kwargs=None,
    ):
        """Find label issues (unless ``label_issues`` is given), drop them and fit the model.

        Parameters
        ----------
        X, y :
            As in :meth:`find_label_issues`.
        label_issues : DataFrame, bool mask or int positions, optional
            Issues found earlier. A frame needs an ``is_issue`` column (cleanlab's
            ``is_label_issue`` is accepted too).
        sample_weight : ndarray (N,), optional
            Weights for the final fit (rows dropped with the issues).
        find_label_issues_kwargs : dict, optional
            Keyword arguments of :meth:`find_label_issues` (e.g. ``coarse_search_range``).
        model_kwargs, model_final_kwargs : dict, optional
            ``fit`` keyword arguments during cross-validation / for the final fit.

        Returns
        -------
        self
        """
        rows = self._start(X, y, fitting=True)
        fit_kwargs = {**(model_kwargs or {}), **(model_final_kwargs or {})}
        weights = self._check_sample_weight(sample_weight, rows.height)
        target, _ = resolve_regression_target(y, rows)
        if label_issues is None:
            issues = self.find_label_issues(
                rows.native, y, model_kwargs=model_kwargs, **(find_label_issues_kwargs or {})
            )
        else:
            issues = label_issues
        self._fit_clean(rows, target, issues, weights, fit_kwargs)
        if label_issues is not None:
            self.label_issues_ = label_issues
        return self

    def get_epistemic_uncertainty(self, X, y, predictions=None) -> np.ndarray:
        """Each row's epistemic (model) uncertainty: the standard deviation of its ``n_boot``
        2-fold cross-validated predictions, plus ``predictions`` as one more set when given
        (zeros when ``n_boot=0``). The reference's ``get_epistemic_uncertainty``.

        The folds are drawn from ``RandomState(seed)``, fresh for each call: the same numbers
        as the reference's after ``np.random.seed(seed)``. :meth:`find_label_issues` draws
        from one generator in turn, so inside it the folds (and the numbers) differ.

        Parameters
        ----------
        X, y :
            As in :meth:`find_label_issues`.
        predictions : ndarray (N,), optional
            Predictions of ``y`` by a model already trained (e.g. the out-of-fold ones of
            ``label_issues_["predicted_label"]``).

        Returns
        -------
        ndarray (N,)

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.linear_model import LinearRegression
        >>> from cleanframe.models import CleanLearning
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(100, 2))
        >>> y = X @ [1.0, -2.0] + rng.normal(scale=0.1, size=100)
        >>> u = CleanLearning(LinearRegression(), n_boot=3).get_epistemic_uncertainty(X, y)
        >>> u.shape, bool((u >= 0).all())
        ((100,), True)
        """
        rows = self._start(X, y, fitting=False)
        target, _ = resolve_regression_target(y, rows)
        given = None
        if predictions is not None:
            given, _ = resolve_regression_target(predictions, rows, name="predictions")
        return self._epistemic(rows, target, np.random.RandomState(self.seed), given)

    def get_aleatoric_uncertainty(self, X, residual) -> float:
        """The data's aleatoric uncertainty: the standard deviation of the cross-validated
        predictions of ``residual`` (``predictions - y``) from X; one number for all rows. The
        reference's ``get_aleatoric_uncertainty`` (folds from a fresh ``RandomState(seed)``, as
        :meth:`get_epistemic_uncertainty`).

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.linear_model import LinearRegression
        >>> from cleanframe.models import CleanLearning
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(100, 2))
        >>> residual = 0.5 * X[:, 0] + rng.normal(scale=0.1, size=100)
        >>> a = CleanLearning(LinearRegression()).get_aleatoric_uncertainty(X, residual)
        >>> round(a, 1)
        0.5
        """
        rows = self._start(X, residual, fitting=False)
        values, _ = resolve_regression_target(residual, rows, name="residual")
        return self._aleatoric(rows, values, np.random.RandomState(self.seed))

    def predict(self, X) -> np.ndarray:
        """Predictions of the model fitted on the clean rows."""
        return self._predict(X)

    def score(self, X, y, sample_weight=None) -> float:
        """R² of the model fitted on the clean rows."""
        from sklearn.metrics import r2_score

        model, rows = self._fitted_and_rows(X)
        target, _ = resolve_regression_target(y, rows)
        return float(r2_score(target, model.predict(rows.native), sample_weight=sample_weight))

    # -- the procedure -------------------------------------------------------------------------
    def _cv_predict(
        self, rows: Rows, y, rng, *, order=None, drop_frac=0.0, n_folds=None, fit_kwargs=None
    ) -> np.ndarray:
        """Out-of-fold predictions; with ``drop_frac`` the last ceil(frac*N) rows of ``order``
        are left out of training and predicted by the mean of the fold models."""
        from sklearn.model_selection import KFold

        n_folds = int(self.cv_n_folds if n_folds is None else n_folds)
        n = len(y)
        order = np.arange(n) if order is None else order
        dropped = np.empty(0, dtype=np.int64)
        if drop_frac > 0:
            n_drop = math.ceil(n * drop_frac)
            kept, dropped = order[: n - n_drop], order[n - n_drop :]
        else:
            kept = order
        check_fold_rows(len(kept), n_folds)
        predictions = np.zeros(n, dtype=np.float64)
        also = [rows.take(dropped)] if len(dropped) else []
        splits = list(KFold(n_splits=n_folds, shuffle=True, random_state=rng).split(kept))
        tasks = (
            (
                self._model(),
                rows.take(kept[train]),
                y[kept[train]],
                [rows.take(kept[holdout]), *also],
                fit_kwargs,
                "predict",
            )
            for train, holdout in splits
        )
        dropped_sum = np.zeros(len(dropped), dtype=np.float64)
        for (_, holdout), (outputs, _) in zip(splits, run_folds(tasks, len(splits), self.n_jobs)):
            predictions[kept[holdout]] = outputs[0]
            if len(dropped):
                dropped_sum += outputs[1]
        if len(dropped):
            predictions[dropped] = dropped_sum / n_folds
        return predictions

    def _r2_for(self, rows: Rows, y, rng, order, frac, fit_kwargs) -> float:
        from sklearn.metrics import r2_score

        if math.floor(len(y) * (1 - frac)) < int(self.cv_n_folds):
            return -1e30
        predictions = self._cv_predict(
            rows, y, rng, order=order, drop_frac=frac, fit_kwargs=fit_kwargs
        )
        return float(r2_score(y, predictions))

    def _best_fraction(self, rows: Rows, y, rng, order, coarse, fine_size, fit_kwargs):
        """The flagged fraction with the best out-of-fold R² over a coarse then a fine grid."""
        coarse = sorted(float(c) for c in coarse)
        if not coarse:
            raise ValueError("coarse_search_range needs at least one value")
        if fine_size < 0:
            raise ValueError("fine_search_size must be at least 0")
        if len(coarse) == 1:
            check_rows_after_dropping(math.floor(len(y) * (1 - coarse[0])), int(self.cv_n_folds))
            return coarse[0], self._r2_for(rows, y, rng, order, coarse[0], fit_kwargs)
        r2_coarse = [self._r2_for(rows, y, rng, order, k, fit_kwargs) for k in coarse]
        best = int(np.argmax(r2_coarse))
        if fine_size == 0:
            return coarse[best], r2_coarse[best]
        fine: list = []
        if best > 0:
            fine += list(
                np.linspace(coarse[best - 1], coarse[best], fine_size + 1, endpoint=False)[1:]
            )
        if best < len(coarse) - 1:
            fine += list(
                np.linspace(coarse[best], coarse[best + 1], fine_size + 1, endpoint=False)[1:]
            )
        r2_fine = [self._r2_for(rows, y, rng, order, k, fit_kwargs) for k in fine]
        if not fine or max(r2_coarse) > max(r2_fine):
            return coarse[best], r2_coarse[best]
        i = int(np.argmax(r2_fine))
        return float(fine[i]), r2_fine[i]

    def _epistemic(self, rows: Rows, y, rng, predictions) -> np.ndarray:
        if self.n_boot == 0:
            return np.zeros(len(y))
        runs = [self._cv_predict(rows, y, rng, n_folds=2) for _ in range(self.n_boot)]
        if predictions is not None:
            runs.append(predictions)
        return np.sqrt(np.var(np.column_stack(runs), axis=1))

    def _aleatoric(self, rows: Rows, residual, rng) -> float:
        return float(np.sqrt(np.var(self._cv_predict(rows, residual, rng))))
