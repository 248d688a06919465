"""LassoNetImputer: fills NaN cells better than IterativeImputer and KNNImputer on nonlinear data."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer

from lassonet_ext import LassoNetImputer, LassoNetRegressor

FAST = LassoNetRegressor(hidden_dims=(16,), n_iters=(200, 20), patience=(20, 5), path_multiplier=1.2)


def nonlinear_table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 3))
    X = np.c_[Z, np.sin(2 * Z[:, 0]) + Z[:, 1], Z[:, 1] ** 2, np.tanh(2 * Z[:, 2]) + Z[:, 0],
              rng.standard_normal((n, 2))]
    X = X + 0.05 * rng.standard_normal(X.shape)
    mask = rng.random(X.shape) < 0.1
    return X, mask


def rmse(out, X, mask):
    return float(np.sqrt(((out - X)[mask] ** 2).mean()))


def test_imputer_beats_iterative_and_knn():
    X, mask = nonlinear_table()
    Xm = np.where(mask, np.nan, X)
    imp = LassoNetImputer(FAST, random_state=0)
    out = imp.fit_transform(Xm)
    assert not np.isnan(out).any()
    assert np.array_equal(out[~mask], X[~mask])  # observed cells are kept as they are
    ours = rmse(out, X, mask)
    assert ours < rmse(IterativeImputer(random_state=0).fit_transform(Xm), X, mask)
    assert ours < rmse(KNNImputer().fit_transform(Xm), X, mask)
    # The pure-noise columns 6, 7 are not what column 3 (sin(2 z0) + z1) is predicted from.
    assert set(imp.selected_features_) == set(range(X.shape[1]))
    assert {0, 1} <= set(imp.selected_features_[3].tolist())
    # New rows with missing cells.
    new = imp.transform(Xm[:20])
    assert new.shape == (20, X.shape[1]) and not np.isnan(new).any()


def test_imputer_params_and_errors():
    assert clone(LassoNetImputer(max_iter=3)).get_params()["max_iter"] == 3
    with pytest.raises(TypeError, match="LassoNetRegressor"):
        LassoNetImputer(estimator=KNNImputer()).fit(np.array([[1.0, np.nan], [2.0, 3.0], [3.0, 4.0]]))


def test_seeded_imputer_repeats_whatever_numpys_global_state():
    # IterativeImputer does not seed its estimator; the imputer's random_state must, or the
    # column models' seeds come from np.random's global state (and so from the tests run before).
    X, mask = nonlinear_table(n=120, seed=1)
    Xm = np.where(mask, np.nan, X)
    outs = []
    for global_seed in (0, 1):
        np.random.seed(global_seed)
        outs.append(LassoNetImputer(FAST, max_iter=1, random_state=0).fit_transform(Xm))
    np.testing.assert_array_equal(outs[0], outs[1])
