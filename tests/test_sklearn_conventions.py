"""scikit-learn's own estimator checks."""
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from lassonet_ext import LassoNetClassifier, LassoNetRegressor

SMALL = dict(hidden_dims=(8,), n_iters=(100, 10), patience=(10, 3), path_multiplier=1.3,
             random_state=0)


@parametrize_with_checks([LassoNetRegressor(**SMALL), LassoNetClassifier(**SMALL)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
