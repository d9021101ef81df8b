"""What the classification and the regression ``CleanLearning`` share.

The parameters (one constructor for both: :class:`cleanframe.models.CleanLearning` picks the class
from the wrapped model), the scikit-learn input protocol (``y`` required, sizes, features seen at
fit time), the fit that drops the rows with label issues and trains a clone of the model on the
rest, prediction plumbing, and the results kept on the estimator. ``get_params`` /
``set_params`` / ``repr`` / ``clone`` come from :class:`sklearn.base.BaseEstimator`; the task
mixins (``ClassifierMixin`` / ``RegressorMixin``) set the estimator type.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
from sklearn.base import BaseEstimator, is_regressor

from .._engines import adapt_rows
from .._inputs.models import (
    Rows,
    flatten_rows,
    raise_for_model_error,
    resolve_issue_mask,
    resolve_rows,
)
from .cross_val import fresh_copy

__all__ = ["CleanLearningBase", "constructor_signature", "fit_accepts", "wraps_regressor"]


def constructor_signature(cls) -> inspect.Signature:
    """The signature of calling ``cls``: its ``__init__``'s, without ``self``."""
    signature = inspect.signature(cls.__init__)
    return signature.replace(parameters=list(signature.parameters.values())[1:])


def wraps_regressor(model) -> bool:
    """Whether ``model`` is a regressor: a scikit-learn regressor (``is_regressor``), an object
    whose ``_estimator_type`` is ``"regressor"``, or a duck-typed model (no scikit-learn tags)
    with ``predict`` but no ``predict_proba`` -- which could not serve a classifier anyway."""
    try:
        if is_regressor(model):
            return True
    except AttributeError:
        pass
    if getattr(model, "_estimator_type", None) == "regressor":
        return True
    return (
        model is not None
        and not hasattr(model, "__sklearn_tags__")
        and callable(getattr(model, "predict", None))
        and not hasattr(model, "predict_proba")
    )


def fit_accepts(estimator, name: str) -> bool:
    """Whether ``estimator.fit`` takes the keyword ``name``."""
    try:
        return name in inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False


class CleanLearningBase(BaseEstimator):
    """Parameters and the fit/predict skeleton of ``CleanLearning`` (see its docstring)."""

    #: Whether the class wraps a regressor (the regression procedure) or a classifier.
    _for_regressor: bool = False

    def __init__(
        self,
        model=None,
        *,
        cv_n_folds: int = 5,
        seed: int = 0,
        converge_latent_estimates: bool = False,
        find_label_issues_kwargs: dict | None = None,
        label_quality_scores_kwargs: dict | None = None,
        n_boot: int = 5,
        include_aleatoric_uncertainty: bool = True,
        n_jobs: int | None = None,
        verbose: bool = False,
        low_memory: bool = False,
    ):
        self.model = model
        self.cv_n_folds = cv_n_folds
        self.seed = seed
        self.converge_latent_estimates = converge_latent_estimates
        self.find_label_issues_kwargs = find_label_issues_kwargs
        self.label_quality_scores_kwargs = label_quality_scores_kwargs
        self.n_boot = n_boot
        self.include_aleatoric_uncertainty = include_aleatoric_uncertainty
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.low_memory = low_memory

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = getattr(self._model(), "__sklearn_tags__", None)
        if inner is not None:
            tags.input_tags = inner().input_tags  # X goes to the model as it is
        return tags

    # -- the wrapped model ---------------------------------------------------------------------
    def _default_model(self):
        raise NotImplementedError

    def _model(self):
        return self.model if self.model is not None else self._default_model()

    def _fitted_model(self):
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X, y) first."
            )
        return self.model_

    # -- checks --------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if int(self.cv_n_folds) < 2:
            raise ValueError(f"cv_n_folds must be at least 2, got {self.cv_n_folds}")
        if self.n_boot < 0:
            raise ValueError(f"n_boot cannot be negative, got {self.n_boot}")
        if wraps_regressor(self._model()) != self._for_regressor:
            built, now = (
                ("regressor", "classifier") if self._for_regressor else ("classifier", "regressor")
            )
            raise ValueError(
                f"this CleanLearning was built for a {built} but its model is now a {now}; "
                f"build a new one, CleanLearning(model), or clone() this one"
            )

    def _check_target_type(self, y) -> None:
        """Task-specific rules on ``y`` beyond the input layer's (classification: not
        continuous)."""

    def _start(self, X, y, *, fitting: bool, x_optional: bool = False) -> Rows:
        """Check the parameters and the generic scikit-learn input rules (y required, a 2-D
        column y, complex data, at least 2 rows); X as rows (a LazyFrame collected once; ``None``
        allowed when ``x_optional``: rows without features)."""
        self._check_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        rows = self._flat(resolve_rows(X, y, optional=x_optional))
        shape = getattr(y, "shape", None)
        if isinstance(y, np.ndarray) and shape is not None and len(shape) == 2 and shape[1] == 1:
            from sklearn.exceptions import DataConversionWarning

            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it is flattened.",
                DataConversionWarning,
                stacklevel=3,
            )
        for data in (X, y):
            if getattr(getattr(data, "dtype", None), "kind", "") == "c":
                raise ValueError("Complex data not supported.")
        n = rows.height
        if n < 2:
            raise ValueError(f"Found n_samples = {n}; cross-validation needs more than 1 sample.")
        if fitting:
            self.n_features_in_ = rows.width
            if rows.columns is not None:
                self.feature_names_in_ = np.asarray([str(c) for c in rows.columns], dtype=object)
        self._check_target_type(y)
        return rows

    def _flat(self, rows: Rows) -> Rows:
        """N-dimensional array rows flattened to 2-D for the default model (the reference's
        rule: a user's model gets X as it is)."""
        return flatten_rows(rows) if self.model is None else rows

    def _check_n_features(self, rows: Rows) -> None:
        expected = getattr(self, "n_features_in_", None)
        width = rows.width
        if expected is not None and width is not None and width != expected:
            raise ValueError(
                f"X has {width} features, but {type(self).__name__} is expecting {expected} "
                f"features as input."
            )

    def _check_sample_weight(self, sample_weight, n: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        if not fit_accepts(self._model(), "sample_weight"):
            raise ValueError("sample_weight is given but the model's fit() does not accept it.")
        weights = np.asarray(sample_weight, dtype=np.float64)
        if weights.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), not {weights.shape}.")
        return weights

    # -- fitting -------------------------------------------------------------------------------
    def _keep_issues(self, issues, save_space: bool):
        if not save_space:
            self.label_issues_ = issues
        return issues

    def _default_weights(self, y_clean: np.ndarray) -> np.ndarray | None:
        """Weights for the final fit when the caller gives none (classification: from the
        noise matrix)."""
        return None

    def _fit_clean(self, rows: Rows, y: np.ndarray, issues, sample_weight, fit_kwargs: dict):
        """Drop the rows flagged in ``issues`` and fit a clone of the model on the rest."""
        mask = resolve_issue_mask(issues, rows.height)
        keep = np.flatnonzero(~mask)
        model = fresh_copy(self._model())
        y_clean = y[keep]
        weights = None
        if sample_weight is not None:
            weights = sample_weight[keep]
        elif fit_accepts(model, "sample_weight") and "sample_weight" not in fit_kwargs:
            weights = self._default_weights(y_clean)
        if weights is not None:
            fit_kwargs["sample_weight"] = weights
        self.sample_weight_ = weights
        if self.verbose:
            print(
                f"Dropping {int(mask.sum())} rows with label issues; fitting on {len(keep)} rows."
            )
        X_clean = rows.take(keep)
        try:
            model.fit(X_clean, y_clean, **fit_kwargs)
        except (ValueError, TypeError) as exc:
            raise_for_model_error(exc, X_clean)
            raise
        self.model_ = model
        self.label_issues_mask_ = mask
        return self

    def _fitted_and_rows(self, X):
        """The fitted model and X as rows, checked against the features seen in fit."""
        model = self._fitted_model()
        rows = self._flat(adapt_rows(X))
        self._check_n_features(rows)
        return model, rows

    def _predict(self, X) -> np.ndarray:
        model, rows = self._fitted_and_rows(X)
        return model.predict(rows.native)

    # -- results -------------------------------------------------------------------------------
    def get_label_issues(self):
        """The issues from the last :meth:`find_label_issues` / :meth:`fit` (None before)."""
        issues = getattr(self, "label_issues_", None)
        if issues is None:
            warnings.warn(
                "No label issues yet: call find_label_issues() or fit() first.",
                UserWarning,
                stacklevel=2,
            )
        return issues

    def save_space(self) -> None:
        """Drop the stored issues and noise estimates (the fitted model stays)."""
        for name in (
            "label_issues_",
            "label_issues_mask_",
            "confident_joint_",
            "noise_matrix_",
            "inverse_noise_matrix_",
            "py_",
            "sample_weight_",
        ):
            if hasattr(self, name):
                setattr(self, name, None)
