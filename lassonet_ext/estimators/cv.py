"""Cross-validated LassoNet: k-fold scores along one lambda sequence, best lambda refit-free."""
from __future__ import annotations

import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import check_cv

from .base import BaseLassoNet, _without_state, extend_init
from .classifier import LassoNetClassifier
from .cox import LassoNetCoxRegressor
from .regressor import LassoNetRegressor

__all__ = ["LassoNetRegressorCV", "LassoNetClassifierCV", "LassoNetCoxRegressorCV"]


class _LassoNetCV:
    """k-fold cross-validation over the path.

    ``fit`` trains the path on all the data (with its validation split) to fix the lambda
    sequence, trains the same sequence on each fold's training part with the fold's held-out part
    as validation, scores every lambda on it (``cv_scores_``: n_lambdas x n_folds), and keeps the
    full-data path point at the lambda with the best mean score (``best_lambda_``,
    ``best_cv_score_``). Folds run one after another.

    lassonet's attributes too: ``raw_paths_`` and ``raw_scores_`` (each fold's path, without
    weights, and its scores, the dense point first), ``interp_scores_`` (``cv_scores_``: the folds
    follow one lambda sequence, so nothing needs interpolating), ``best_cv_scores_`` (the folds'
    scores at the best lambda) and ``best_selected_`` (the features selected there).
    """

    _single = None  # the estimator class each fold trains

    __init__ = extend_init(BaseLassoNet.__init__, cv=None)

    def fit(self, X, y):
        self._fit_path(X, y, X_val=None, y_val=None, lambda_seq=None)
        full = self.path_
        lambdas = [it.lambda_ for it in full if it.lambda_ > 0]
        if not lambdas:
            raise ValueError("the path has no lambda > 0 to cross-validate")
        X_arr, y_arr = self._validate(X, y, reset=False)
        splitter = check_cv(self.cv, y_arr, classifier=is_classifier(self))
        folds = list(splitter.split(X_arr, y_arr))
        scores = np.full((len(lambdas), len(folds)), np.nan)
        raw_paths, raw_scores = [], []
        params = {k: v for k, v in self.get_params().items() if k != "cv"}
        for f, (train, test) in enumerate(folds):
            est = self._single(**params)
            est._fit_path(X_arr[train], y_arr[train], X_val=X_arr[test], y_val=y_arr[test],
                          lambda_seq=lambdas, warn_start=False)  # (the full path warned already)
            raw_paths.append([_without_state(it) for it in est.path_])
            raw_scores.append(np.array([it.val_score for it in est.path_]))
            fold_scores = [it.val_score for it in est.path_ if it.lambda_ > 0]
            # A fold whose path emptied early keeps its last score for the larger lambdas.
            fold_scores += fold_scores[-1:] * (len(lambdas) - len(fold_scores))
            scores[:, f] = fold_scores[: len(lambdas)]
        self.lambdas_ = np.asarray(lambdas)
        self.cv_scores_ = scores
        mean = scores.mean(axis=1)
        best = int(np.argmax(mean))
        self.best_lambda_ = float(lambdas[best])
        self.best_cv_score_ = float(mean[best])
        self.best_cv_scores_ = scores[best]
        self.raw_paths_, self.raw_scores_, self.interp_scores_ = raw_paths, raw_scores, scores
        self.path_ = full
        self._select(next(it for it in full if it.lambda_ == self.best_lambda_))
        self.best_selected_ = self.get_support()
        return self


class LassoNetRegressorCV(_LassoNetCV, LassoNetRegressor):
    __doc__ = _LassoNetCV.__doc__
    _single = LassoNetRegressor


class LassoNetClassifierCV(_LassoNetCV, LassoNetClassifier):
    __doc__ = _LassoNetCV.__doc__
    _single = LassoNetClassifier


class LassoNetCoxRegressorCV(_LassoNetCV, LassoNetCoxRegressor):
    __doc__ = _LassoNetCV.__doc__ + ("\n    Survival targets and ``tie_approximation`` (or ``tie_method``) as in "
                                     "LassoNetCoxRegressor; scores are C-indices.\n")
    _single = LassoNetCoxRegressor
    __init__ = extend_init(BaseLassoNet.__init__, cv=None, tie_approximation=None, tie_method=None)
