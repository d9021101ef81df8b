"""``CleanLearning`` for classifiers: confident learning with a model in the loop.

Find label issues with out-of-sample probabilities from cross-validation (Northcutt et al., JAIR
2021), drop them, fit the model on the rows that remain; ``predict`` / ``predict_proba`` /
``score``. The confident-learning math comes from :mod:`cleanframe.scoring.classification`
(``count``, ``filter``, ``rank``); X and y go through :mod:`cleanframe._inputs.models`.

``CleanLearning(model)`` with a regressor (``sklearn.base.is_regressor``) gives the regression
estimator of :mod:`cleanframe.models.regression` instead, so the one public name serves both
(``CleanLearning(LinearRegression(), ...)``, as in cleanlab's FAQ).
"""

from __future__ import annotations

from abc import ABCMeta

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.metaestimators import available_if

from .._inputs.models import (
    check_rows_per_class,
    check_validation_func,
    pred_probs_width,
    read_y,
    resolve_class_labels,
    resolve_model_pred_probs,
    resolve_noise_matrix,
)
from ..scoring.classification import count, passes, rank
from ..scoring.classification import filter as cl_filter
from ..scoring.classification.argmax import ARGMAX_CONFUSION
from ._base import CleanLearningBase, constructor_signature, wraps_regressor
from .cross_val import cv_pred_probs
from .regression import CleanLearning as RegressionCleanLearning

__all__ = ["DEFAULT_FIND_LABEL_ISSUES_KWARGS", "CleanLearning"]

#: Defaults CleanLearning passes to ``filter.find_label_issues`` (cleanlab's, and Datalab's).
DEFAULT_FIND_LABEL_ISSUES_KWARGS = {"min_examples_per_class": 10}
_UNSUPPORTED_FIND_KWARGS = ("return_indices_ranked_by", "multi_label")
#: Rows per block of the ``low_memory=True`` label-issue search.
LOW_MEMORY_ROWS = 65_536


def latent_from_known(
    ps: np.ndarray, noise_matrix: np.ndarray | None, inverse_noise_matrix: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(py, noise_matrix, inverse_noise_matrix)`` when one or both matrices are known.

    A known noise matrix P(given | true) gives the prior ``py = clip(inv(noise_matrix)·ps)``
    (renormalised) and the inverse noise matrix by Bayes' rule; a known inverse P(true | given)
    gives ``py = inverse·ps`` and the noise matrix by Bayes' rule (the reference's latent
    algebra). Known matrices are kept as given.
    """
    if noise_matrix is not None:
        py = count._py_from("eqn", ps, noise_matrix, None, None)
        if inverse_noise_matrix is None:
            inverse_noise_matrix = count._inverse_from(ps, py, noise_matrix)
        return py, noise_matrix, inverse_noise_matrix
    assert inverse_noise_matrix is not None
    py = inverse_noise_matrix @ ps
    return py, count._noise_from(ps, py, inverse_noise_matrix), inverse_noise_matrix


def _model_has(name: str):
    """``available_if`` check: the wrapped model (the fitted one after ``fit``) has ``name``."""

    def check(self) -> bool:
        getattr(self.model_ if hasattr(self, "model_") else self._model(), name)
        return True

    return check


def _num_columns(pred_probs, noise_matrix, inverse_noise_matrix) -> int | None:
    """The number of classes the arrays given say (pred_probs first, then a K×K matrix, as the
    reference), for integer labels ``0..K-1`` some of which have no rows."""
    width = pred_probs_width(pred_probs)
    for matrix in (noise_matrix, inverse_noise_matrix):
        if width is None and matrix is not None:
            width = pred_probs_width(matrix)
    return width


class CleanLearning(ClassifierMixin, CleanLearningBase, metaclass=ABCMeta):
    """Train any scikit-learn model on data with noisy labels: find the issues, drop them, fit.

    Parameters
    ----------
    model : scikit-learn estimator, optional
        A classifier (``fit``, ``predict``, ``predict_proba``) or a regressor (``fit``,
        ``predict``; detected with ``sklearn.base.is_regressor``, which gives the regression
        estimator, ``cleanframe.models.regression.CleanLearning``). Hyperparameter search objects
        such as ``GridSearchCV`` work too. Default: ``LogisticRegression()``.
    cv_n_folds : int
        Cross-validation folds for the out-of-sample predictions.
    seed : int
        Seeds every fold split (classification: ``StratifiedKFold(shuffle=True,
        random_state=seed)``; regression: one ``RandomState(seed)`` drawn from by each ``KFold``
        in turn). Unlike cleanlab, the global numpy RNG is never touched.
    converge_latent_estimates : bool
        Classification: iterate the noise-matrix estimates to a fixed point.
    find_label_issues_kwargs : dict, optional
        Classification: passed to ``scoring.classification.filter.find_label_issues`` on top of
        ``{"min_examples_per_class": 10}`` (e.g. ``filter_by``, ``frac_noise``).
    label_quality_scores_kwargs : dict, optional
        Classification: passed to ``scoring.classification.rank.get_label_quality_scores`` (e.g.
        ``method``).
    n_boot : int
        Regression: number of 2-fold cross-validation prediction sets whose spread estimates the
        epistemic uncertainty (0 turns it off).
    include_aleatoric_uncertainty : bool
        Regression: add the spread of cross-validated residual predictions to the uncertainty.
    n_jobs : int, optional
        Fit the cross-validation folds in this many joblib worker processes (``-1``: all cores).
        The folds are drawn first, so results do not depend on ``n_jobs``. Default: one at a time.
    verbose : bool
        Print what is happening and show progress bars over folds.
    low_memory : bool
        Search label issues in blocks of rows (the mergeable passes that also run streamed and
        on Dask): no temporaries of the size of ``pred_probs``, only of one block. Unlike the
        reference's batched search, which approximates, the flags and scores equal those of
        ``low_memory=False`` (a ``filter_by="argmax_confusion"`` search runs in memory).

    X may be a pandas or polars frame, a numpy array, a scipy.sparse matrix, or ``None`` in
    ``find_label_issues`` when ``pred_probs`` are given. The default model gets an array of more
    than two dimensions (e.g. N×28×28 images) flattened to N×(28·28); a model of yours gets X as
    it is. Any object with ``fit`` / ``predict`` / ``predict_proba`` works as the model, a
    scikit-learn estimator or not (copied with ``clone(model, safe=False)``, i.e. a deep copy
    when it has no ``get_params``).

    Classes with fewer rows than folds are handled as in the reference: a training fold that
    lacks a class gets one of its holdout rows copied in (with a warning), and that row's
    out-of-fold prediction is its given label. Cross-validation needs ``cv_n_folds`` rows per
    class on average; fewer is an error that says to lower ``cv_n_folds``.

    The parameters of the other task are accepted (and unused), so that one constructor serves
    both and ``clone`` / ``set_params`` see the same parameters.

    Attributes
    ----------
    classes_ : ndarray
        Classification: class values in class order (the labels' own values).
    label_issues_ : DataFrame or None
        The last issues found (``label_score``, ``is_issue``, ``given_label``,
        ``predicted_label``), also returned by :meth:`get_label_issues`.
    confident_joint_, noise_matrix_, inverse_noise_matrix_, py_ : ndarray
        Classification noise estimates.
    k_ : float
        Regression: the fraction of rows flagged.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from cleanframe.models import CleanLearning
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = np.where(X[:, 0] > 0, "pos", "neg").astype(object)
    >>> y[:5] = np.where(y[:5] == "pos", "neg", "pos")  # five flipped labels
    >>> cl = CleanLearning(LogisticRegression())
    >>> issues = cl.find_label_issues(X, y)
    >>> sorted(np.flatnonzero(issues["is_issue"].to_numpy()).tolist())[:5]
    [0, 1, 2, 3, 4]
    >>> cl.fit(X, y, label_issues=issues).predict(X[:2]).tolist()
    ['pos', 'pos']

    With a regressor, the same name gives the regression procedure:

    >>> from sklearn.base import is_regressor
    >>> from sklearn.linear_model import LinearRegression
    >>> reg = CleanLearning(LinearRegression(), n_boot=2)
    >>> reg, is_regressor(reg), hasattr(reg, "predict_proba")
    (CleanLearning(model=LinearRegression(), n_boot=2), True, False)
    """

    #: What ``inspect.signature`` shows (help, IDEs, scikit-learn's checks): ``__init__``'s
    #: parameters, not the dispatching ``__new__``'s.
    __signature__ = constructor_signature(CleanLearningBase)

    def __new__(cls, model=None, **params):
        if cls is CleanLearning and wraps_regressor(model):
            return RegressionCleanLearning(model, **params)
        return super().__new__(cls)

    def _default_model(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression()

    def _check_target_type(self, y) -> None:
        values = read_y(y).values
        if (
            np.issubdtype(values.dtype, np.floating)
            and np.isfinite(values).all()
            and (values != np.round(values)).any()
        ):
            raise ValueError(
                "Unknown label type: continuous. CleanLearning with a classifier needs class "
                "labels; wrap a regressor for a numeric target."
            )

    # -- public API ----------------------------------------------------------------------------
    def find_label_issues(
        self,
        X,
        y,
        *,
        pred_probs=None,
        thresholds=None,
        noise_matrix=None,
        inverse_noise_matrix=None,
        model_kwargs=None,
        validation_func=None,
        save_space: bool = False,
    ):
        """Find the rows whose label looks wrong; X and y are not modified.

        Parameters
        ----------
        X : array-like, pandas or polars DataFrame, scipy sparse matrix, or None
            Features, passed to the model as they are (row subsets keep X's type); ``None`` when
            ``pred_probs`` are given (nothing is fitted then).
        y : array-like or Series
            Labels: class values of any type, at least two of them occurring.
        pred_probs : float ndarray (N, K), optional
            Out-of-sample probabilities in class order (``classes_``); skips cross-validation.
            With integer labels ``0..K-1`` the columns are the classes ``0..K-1``, including
            those no row has.
        thresholds : float ndarray (K,), optional
            Per-class confident thresholds.
        noise_matrix : float ndarray (K, K), optional
            A known ``P(given label = i | true label = j)`` (columns sum to 1, trace > 1). It is
            not estimated then: it and the inverse computed from it (``inverse_noise_matrix_``,
            ``py_``) are kept, and ``fit`` weights class k by ``1 / noise_matrix[k, k]``. The
            issues themselves still come from the confident joint of the pred_probs, as in
            the reference.
        inverse_noise_matrix : float ndarray (K, K), optional
            A known ``P(true label = i | given label = j)`` (columns sum to 1, trace > 1); the
            noise matrix is computed from it when not given too.
        model_kwargs : dict, optional
            Extra keyword arguments for ``model.fit`` during cross-validation.
        validation_func : callable, optional
            ``validation_func(X_holdout, y_holdout) -> dict``: extra ``model.fit`` keyword
            arguments for each cross-validation fold, built from that fold's holdout rows (X's
            own type) and labels (codes ``0..K-1`` in ``classes_`` order), e.g. a validation set
            for early stopping. Not used by the final fit.
        save_space : bool
            Do not keep the result on the estimator.

        Returns
        -------
        DataFrame (polars for polars X, else pandas with X's index) with ``label_score`` (in
        [0, 1], lower = worse), ``is_issue``, ``given_label`` and ``predicted_label`` (class
        values).
        """
        check_validation_func(validation_func)
        rows = self._start(X, y, fitting=False, x_optional=pred_probs is not None)
        kwargs = {**DEFAULT_FIND_LABEL_ISSUES_KWARGS, **(self.find_label_issues_kwargs or {})}
        for bad in _UNSUPPORTED_FIND_KWARGS:
            if bad in kwargs:
                raise ValueError(
                    f"find_label_issues_kwargs may not contain {bad!r} in CleanLearning."
                )
        codes, classes, _ = resolve_class_labels(
            y, rows, num_columns=_num_columns(pred_probs, noise_matrix, inverse_noise_matrix)
        )
        self.classes_ = classes
        known_nm = resolve_noise_matrix(noise_matrix, len(classes), "noise_matrix")
        known_inv = resolve_noise_matrix(inverse_noise_matrix, len(classes), "inverse_noise_matrix")
        if pred_probs is None:
            check_rows_per_class(len(codes), len(classes), int(self.cv_n_folds))
            pred_probs = cv_pred_probs(
                rows,
                codes,
                len(classes),
                self._model(),
                cv=int(self.cv_n_folds),
                seed=self.seed,
                fit_kwargs=model_kwargs,
                show_progress=self.verbose,
                n_jobs=self.n_jobs,
                validation_func=validation_func,
            )
        else:
            pred_probs = resolve_model_pred_probs(pred_probs, len(codes), classes)
        if thresholds is not None:
            thresholds = np.asarray(thresholds, dtype=np.float64)
        cj = kwargs.get("confident_joint")
        if cj is None:
            cj = count.compute_confident_joint(codes, pred_probs, thresholds=thresholds)
        if known_nm is None and known_inv is None:
            py, nm, inv = count.estimate_latent(
                cj, codes, converge_latent_estimates=self.converge_latent_estimates
            )
        else:
            ps = np.bincount(codes, minlength=len(classes)) / len(codes)
            py, nm, inv = latent_from_known(ps, known_nm, known_inv)
        self.confident_joint_, self.py_, self.noise_matrix_ = cj, py, nm
        self.inverse_noise_matrix_ = inv
        if kwargs.get("filter_by") != "confident_learning":
            kwargs["confident_joint"] = cj
        mask, scores = self._search(codes, pred_probs, len(classes), kwargs)
        self.pred_probs_ = pred_probs
        issues = rows.row_table(
            {
                "label_score": scores,
                "is_issue": mask,
                "given_label": classes[codes],
                "predicted_label": classes[pred_probs.argmax(axis=1)],
            }
        )
        return self._keep_issues(issues, save_space)

    def _search(self, codes, pred_probs, num_classes: int, kwargs: dict):
        """The issue mask and label quality scores: in memory, or with ``low_memory`` by the
        passes over blocks of rows (same results)."""
        quality = dict(self.label_quality_scores_kwargs or {})
        if self.low_memory and kwargs.get("filter_by") != ARGMAX_CONFUSION:
            blocks = passes.array_batches(codes, pred_probs, rows=LOW_MEMORY_ROWS)
            return passes.run(
                blocks,
                num_classes,
                **kwargs,
                rank_by=quality.pop("method", "self_confidence"),
                rank_by_kwargs=quality,
            )
        mask = cl_filter.find_label_issues(codes, pred_probs, **kwargs)
        return mask, rank.get_label_quality_scores(codes, pred_probs, **quality)

    def fit(
        self,
        X,
        y,
        *,
        label_issues=None,
        sample_weight=None,
        pred_probs=None,
        thresholds=None,
        noise_matrix=None,
        inverse_noise_matrix=None,
        find_label_issues_kwargs=None,
        model_kwargs=None,
        model_final_kwargs=None,
        validation_func=None,
    ):
        """Find label issues (unless ``label_issues`` is given), drop them and fit the model.

        Parameters
        ----------
        X, y :
            As in :meth:`find_label_issues`.
        label_issues : DataFrame, bool mask or int positions, optional
            Issues found earlier -- possibly by another ``CleanLearning`` with a different model.
            A frame needs an ``is_issue`` column (cleanlab's ``is_label_issue`` is accepted too).
        sample_weight : ndarray (N,), optional
            Your own weights (rows dropped with the issues). Without them, a classifier whose
            ``fit`` takes ``sample_weight`` gets ``1 / max(noise_matrix[k, k], 1e-3)`` for class
            k, when a noise matrix was estimated (cleanlab's rule).
        pred_probs, thresholds, noise_matrix, inverse_noise_matrix, validation_func :
            Passed to :meth:`find_label_issues` (``validation_func`` is not used by the final
            fit).
        find_label_issues_kwargs : dict, optional
            Other keyword arguments of :meth:`find_label_issues`.
        model_kwargs, model_final_kwargs : dict, optional
            ``fit`` keyword arguments during cross-validation / for the final fit.

        Returns
        -------
        self
        """
        rows = self._start(X, y, fitting=True)
        fit_kwargs = {**(model_kwargs or {}), **(model_final_kwargs or {})}
        weights = self._check_sample_weight(sample_weight, rows.height)
        codes, classes, _ = resolve_class_labels(
            y, rows, num_columns=_num_columns(pred_probs, noise_matrix, inverse_noise_matrix)
        )
        if label_issues is None:
            issues = self.find_label_issues(
                rows.native,
                y,
                pred_probs=pred_probs,
                thresholds=thresholds,
                noise_matrix=noise_matrix,
                inverse_noise_matrix=inverse_noise_matrix,
                model_kwargs=model_kwargs,
                validation_func=validation_func,
                **(find_label_issues_kwargs or {}),
            )
        else:
            issues = label_issues
            self.classes_ = classes
            noise = getattr(self, "noise_matrix_", None)
            if noise is not None and len(noise) != len(classes):
                self.noise_matrix_ = None
        self._fit_clean(rows, codes, issues, weights, fit_kwargs)
        if label_issues is not None:
            self.label_issues_ = label_issues
        return self

    def _default_weights(self, y_clean: np.ndarray) -> np.ndarray | None:
        noise = getattr(self, "noise_matrix_", None)
        if noise is None:
            return None
        per_class = 1.0 / np.maximum(np.diagonal(noise), 1e-3)
        return per_class[y_clean]

    def predict(self, X) -> np.ndarray:
        """Class values predicted by the model fitted on the clean rows."""
        codes = np.asarray(self._predict(X), dtype=np.int64)
        return self.classes_[codes]

    @available_if(_model_has("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, K) in the order of ``classes_``."""
        model, rows = self._fitted_and_rows(X)
        probs = np.asarray(model.predict_proba(rows.native), dtype=np.float64)
        seen = np.asarray(getattr(model, "classes_", np.arange(probs.shape[1])), dtype=np.int64)
        if len(seen) == len(self.classes_) and (seen == np.arange(len(seen))).all():
            return probs
        out = np.zeros((probs.shape[0], len(self.classes_)))
        out[:, seen] = probs
        return out

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of the model fitted on the clean rows."""
        truth = read_y(y).values
        hits = np.asarray(self.predict(X) == truth, dtype=np.float64)
        return float(np.average(hits, weights=sample_weight))


CleanLearning.register(RegressionCleanLearning)
