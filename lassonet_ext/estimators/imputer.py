"""Imputation with LassoNet: each column predicted from the few other columns that matter."""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (makes it importable)
from sklearn.impute import IterativeImputer
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .regressor import LassoNetRegressor

__all__ = ["LassoNetImputer"]


def default_column_model():
    """The per-column model when ``estimator=None``: a small LassoNet with a short path."""
    return LassoNetRegressor(hidden_dims=(32,), n_iters=(300, 30), patience=(30, 5),
                             path_multiplier=1.1)


class LassoNetImputer(TransformerMixin, BaseEstimator):
    """Fill missing cells (NaN) with LassoNet models: matrix completion by feature selection.

    Round-robin like scikit-learn's ``IterativeImputer`` (which does the bookkeeping here): start
    from column means, then for ``max_iter`` rounds fit, for every column with missing cells, a
    LassoNetRegressor on the rows where it is observed, predicting it from the other columns; its
    path selects the few columns that predict it (``selected_features_``: column -> predictors)
    and its best validated point fills the column (give the estimator ``n_features_to_select`` to
    cap how many predictors each column may use).

    Parameters:
        estimator: the per-column LassoNet (cloned per column); None: ``default_column_model()``.
        max_iter: imputation rounds (each trains one path per incomplete column).
        tol, initial_strategy, skip_complete, verbose: as in IterativeImputer.
        random_state: as in IterativeImputer, and it seeds the column models that have no
            ``random_state`` of their own, so that a seeded imputer repeats its fits.
    """

    def __init__(self, estimator=None, *, max_iter=2, tol=1e-3, initial_strategy="mean",
                 skip_complete=True, random_state=None, verbose=0):
        self.estimator = estimator
        self.max_iter = max_iter
        self.tol = tol
        self.initial_strategy = initial_strategy
        self.skip_complete = skip_complete
        self.random_state = random_state
        self.verbose = verbose

    def _make_imputer(self):
        est = clone(self.estimator) if self.estimator is not None else default_column_model()
        if not isinstance(est, LassoNetRegressor):
            raise TypeError(f"estimator must be a LassoNetRegressor, got {type(est).__name__}")
        if est.random_state is None and self.random_state is not None:
            # IterativeImputer does not seed its estimator: without this the column models
            # would draw their seeds from numpy's global state, and fits would not repeat.
            est.set_params(random_state=int(check_random_state(self.random_state).randint(2**31 - 1)))
        return IterativeImputer(estimator=est, max_iter=self.max_iter, tol=self.tol,
                                initial_strategy=self.initial_strategy,
                                skip_complete=self.skip_complete, random_state=self.random_state,
                                verbose=self.verbose)

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        self.imputer_ = self._make_imputer()
        with warnings.catch_warnings():  # max_iter rounds are the plan, not a convergence failure
            warnings.simplefilter("ignore", ConvergenceWarning)
            out = self.imputer_.fit_transform(X)
        self.n_features_in_ = self.imputer_.n_features_in_
        if hasattr(self.imputer_, "feature_names_in_"):
            self.feature_names_in_ = self.imputer_.feature_names_in_
        # The last round's model of each column, and the columns its LassoNet kept.
        last = self.imputer_.imputation_sequence_[-self._n_models():] if self._n_models() else []
        self.selected_features_ = {
            int(t.feat_idx): np.asarray(t.neighbor_feat_idx)[t.estimator.get_support()] for t in last
        }
        return out

    def _n_models(self):
        seq = self.imputer_.imputation_sequence_
        return len(seq) // max(self.imputer_.n_iter_, 1) if seq else 0

    def transform(self, X):
        check_is_fitted(self, "imputer_")
        return self.imputer_.transform(X)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "imputer_")
        return self.imputer_.get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
