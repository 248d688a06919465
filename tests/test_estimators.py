"""Estimators: recovery of known features, sklearn conventions, CV, inputs, errors."""
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import Lasso
from sklearn.preprocessing import StandardScaler

from lassonet_ext import (
    LassoNetClassifier,
    LassoNetClassifierCV,
    LassoNetRegressor,
    LassoNetRegressorCV,
    NonFiniteLossError,
    lassonet_path,
)

FAST = dict(hidden_dims=(16,), n_iters=(300, 40), patience=(30, 5), path_multiplier=1.1,
            random_state=0)


def nonlinear_data(n=600, d=50, seed=0):
    """y depends nonlinearly on features 0..4 only.

    Each term keeps a linear trend: LassoNet's hierarchy lets the MLP use a feature only through
    the skip layer, so a pure interaction with no linear part (x3 * x4) is outside what it can
    select, by design of the method.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (2 * X[:, 0] + 2 * np.sin(X[:, 1]) + X[:, 2] ** 3 / 2 + X[:, 3] * np.abs(X[:, 3])
         + 2 * np.tanh(2 * X[:, 4]) + 0.1 * rng.standard_normal(n))
    return X, y


def test_regressor_ranks_true_features_first():
    X, y = nonlinear_data()
    est = LassoNetRegressor(**FAST).fit(X, y)
    top5 = set(np.argsort(-est.feature_importances_)[:5])
    assert top5 == {0, 1, 2, 3, 4}, est.feature_importances_
    assert est.path_[-1].n_selected == 0  # the path runs until no feature is left
    assert est.score(X, y) > 0.8  # fit() keeps a real model, not the empty end of the path


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_regressor_trains_on_cuda():
    X, y = nonlinear_data()
    est = LassoNetRegressor(**FAST, device="cuda").fit(X, y)
    assert set(np.argsort(-est.feature_importances_)[:5]) == {0, 1, 2, 3, 4}
    assert est.path_[-1].n_selected == 0
    pred = est.predict(X)
    assert isinstance(pred, np.ndarray) and pred.shape == (len(X),)
    assert est.score(X, y) > 0.8


def test_classifier_ranks_true_features_first_and_uses_labels():
    X, y = nonlinear_data(seed=1)
    labels = np.where(y > np.median(y), "high", "low")  # string labels
    est = LassoNetClassifier(**FAST).fit(X, labels)
    assert set(np.argsort(-est.feature_importances_)[:5]) == {0, 1, 2, 3, 4}
    assert list(est.classes_) == ["high", "low"]
    pred = est.predict(X)
    assert pred.dtype.kind == "U" and set(pred) <= {"high", "low"}
    proba = est.predict_proba(X)
    assert isinstance(proba, np.ndarray) and proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    assert np.all(est.classes_[proba.argmax(1)] == pred)
    assert est.score(X, labels) > 0.8


def test_path_is_monotone_on_average_and_reproducible():
    X, y = nonlinear_data(n=300, d=20)
    a = LassoNetRegressor(**FAST).path(X, y)
    b = LassoNetRegressor(**FAST).path(X, y)
    ks = np.array([it.n_selected for it in a])
    assert ks[0] == 20 and ks[-1] == 0
    assert np.corrcoef(np.arange(len(ks)), ks)[0, 1] < -0.8  # k decreases along the path
    assert [it.lambda_ for it in a] == [it.lambda_ for it in b]
    assert [it.n_selected for it in a] == [it.n_selected for it in b]
    np.testing.assert_array_equal([it.val_loss for it in a], [it.val_loss for it in b])
    lambdas = np.array([it.lambda_ for it in a])
    assert lambdas[0] == 0 and np.all(np.diff(lambdas) > 0)


def test_path_items_and_load():
    X, y = nonlinear_data(n=200, d=10)
    est = LassoNetRegressor(**FAST)
    path = est.path(X, y, return_state_dicts=True)
    item = path[len(path) // 2]
    for name in ("lambda_", "selected", "state_dict", "loss", "val_loss", "objective",
                 "val_objective", "n_iters"):
        assert hasattr(item, name)
    est.load(item)
    assert est.n_features_selected_ == item.n_selected
    np.testing.assert_array_equal(est.get_support(), item.selected)
    assert est.transform(X).shape == (len(X), item.n_selected)
    assert all(it.state_dict is None for it in est.path(X, y))


def test_n_features_to_select():
    X, y = nonlinear_data(n=300, d=20)
    est = LassoNetRegressor(n_features_to_select=5, **FAST).fit(X, y)
    assert est.n_features_selected_ <= 5
    assert est.get_support().sum() == est.n_features_selected_


def test_dense_fit_on_sklearn_data_is_sensible():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    est = LassoNetRegressor(hidden_dims=(16,), random_state=0).fit(X, y)
    assert est.score(X, y) > 0.45  # a linear model gets about 0.52
    Xi, yi = load_iris(return_X_y=True)
    clf = LassoNetClassifier(hidden_dims=(16,), random_state=0).fit(StandardScaler().fit_transform(Xi), yi)
    assert clf.score(StandardScaler().fit_transform(Xi), yi) > 0.9


def test_multi_output_regression():
    X, y = nonlinear_data(n=300, d=10)
    Y = np.stack([y, -y, X[:, 5]], axis=1)
    est = LassoNetRegressor(**FAST).fit(X, Y)
    assert est.predict(X).shape == (300, 3)
    assert est.model_.theta.shape == (3, 10)


def test_m0_matches_the_linear_lasso():
    # M = 0 is the plain lasso: the path's support follows sklearn's Lasso support path.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 8)).astype(np.float32)
    beta = np.array([3.0, -2.0, 1.5, 0.0, 0.0, 0.8, 0.0, 0.0])
    y = X @ beta + 0.1 * rng.standard_normal(400)
    est = LassoNetRegressor(hidden_dims=(4,), M=0.0, n_iters=(3000, 50), patience=(100, 5),
                            tol=1.0, path_multiplier=1.1, random_state=0)
    path = est.path(X, y, return_state_dicts=True)
    assert torch.count_nonzero(est.model_.W) == 0  # the MLP never sees an input
    order = np.argsort(-est.feature_importances_)
    assert set(order[:4]) == {0, 1, 2, 5}
    # The dense point is the least-squares fit, the same as Lasso with a tiny alpha.
    lin = Lasso(alpha=1e-4).fit(StandardScaler().fit_transform(X), (y - y.mean()) / y.std())
    est.load(path[0])
    theta = est.model_.theta.detach().numpy()[0]
    np.testing.assert_allclose(theta, lin.coef_, atol=0.02)


def test_cv_picks_a_lambda_on_its_path():
    X, y = nonlinear_data(n=240, d=10)
    est = LassoNetRegressorCV(cv=3, **FAST).fit(X, y)
    lambdas = [it.lambda_ for it in est.path_]
    assert est.best_lambda_ in lambdas
    assert est.cv_scores_.shape == (len(lambdas) - 1, 3)
    assert est.lambda_ == est.best_lambda_
    assert est.best_cv_score_ == pytest.approx(est.cv_scores_.mean(1).max())
    # lassonet's attributes
    best = int(np.argmax(est.cv_scores_.mean(1)))
    np.testing.assert_array_equal(est.best_cv_scores_, est.cv_scores_[best])
    np.testing.assert_array_equal(est.interp_scores_, est.cv_scores_)
    np.testing.assert_array_equal(est.best_selected_, est.get_support())
    assert est.lambda_start_ == lambdas[1]
    assert len(est.raw_paths_) == len(est.raw_scores_) == 3
    for f, (fold_path, fold_scores) in enumerate(zip(est.raw_paths_, est.raw_scores_)):
        assert fold_path[0].lambda_ == 0 and all(it.state_dict is None for it in fold_path)
        assert [it.lambda_ for it in fold_path[1:]] == lambdas[1:len(fold_path)]
        np.testing.assert_array_equal(est.cv_scores_[:len(fold_path) - 1, f], fold_scores[1:])
    clf = LassoNetClassifierCV(cv=3, **FAST).fit(X, y > 0)
    assert clf.best_lambda_ in [it.lambda_ for it in clf.path_]


def test_inputs_dataframe_and_tensor():
    pd = pytest.importorskip("pandas")
    X, y = nonlinear_data(n=200, d=6)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    est = LassoNetRegressor(**FAST).fit(df, pd.Series(y))
    assert list(est.feature_names_in_) == list(df.columns)
    assert set(est.get_feature_names_out()) <= set(df.columns)
    out = est.predict(df)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    est_t = LassoNetRegressor(**FAST).fit(torch.from_numpy(X), torch.from_numpy(y))
    np.testing.assert_allclose(est_t.predict(torch.from_numpy(X)), est_t.predict(X))


def test_clone_and_pickle_roundtrip():
    X, y = nonlinear_data(n=200, d=6)
    est = LassoNetClassifier(class_weight="balanced", **FAST)
    assert clone(est).get_params() == est.get_params()
    est.fit(X, y > 0)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize(
    "kwargs,X,y,match",
    [
        ({}, np.array([[1.0, np.nan], [0.0, 1.0]] * 5), np.arange(10.0), "NaN"),
        ({}, np.array([[1.0, np.inf], [0.0, 1.0]] * 5), np.arange(10.0), "infinity"),
        ({}, np.ones((10, 2)), np.arange(9.0), "inconsistent numbers of samples"),
        ({"hidden_dims": (0,)}, np.ones((10, 2)), np.arange(10.0), "hidden_dims"),
        ({"hidden_dims": "abc"}, np.ones((10, 2)), np.arange(10.0), "hidden_dims"),
        ({"M": -1.0}, np.ones((10, 2)), np.arange(10.0), "M must be"),
        ({"path_multiplier": 1.0}, np.ones((10, 2)), np.arange(10.0), "path_multiplier"),
        ({"class_weight": "balanced"}, np.ones((10, 2)), np.arange(10.0), "class_weight"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, X, y, match):
    with pytest.raises((ValueError, TypeError), match=match):
        LassoNetRegressor(**{**FAST, **kwargs}).fit(X, y)


def test_single_class_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 classes"):
        LassoNetClassifier(**FAST).fit(np.random.rand(10, 3), np.zeros(10))


def test_non_finite_loss_names_lambda():
    X, y = nonlinear_data(n=100, d=5)
    huge_lr = (lambda p: torch.optim.SGD(p, lr=1e6),) * 2
    with pytest.raises(ValueError, match=r"lambda=.*(Standardise|learning rate)") as err:
        LassoNetRegressor(**{**FAST, "optim": huge_lr}).fit(X * 1e3, y * 1e3)
    assert isinstance(err.value, NonFiniteLossError)  # lassonet's name for it


def test_gamma_reaches_the_gradient():
    X, y = nonlinear_data(n=200, d=6)
    base = dict(FAST, lambda_seq=[1e-3])
    plain = LassoNetRegressor(**base).fit(X, y)
    ridge = LassoNetRegressor(gamma=1.0, **base).fit(X, y)
    w_plain = plain.model_.layers[0].weight.detach().norm()
    w_ridge = ridge.model_.layers[0].weight.detach().norm()
    assert w_ridge < 0.5 * w_plain


def test_last_minibatch_is_not_dropped():
    from lassonet_ext.path import _batches

    seen = torch.cat(list(_batches(103, 10, torch.Generator().manual_seed(0))))
    assert sorted(seen.tolist()) == list(range(103))


def test_dropout_is_off_when_predicting():
    X, y = nonlinear_data(n=200, d=6)
    est = LassoNetRegressor(**{**FAST, "dropout": 0.5}).fit(X, y)
    np.testing.assert_array_equal(est.predict(X), est.predict(X))
    assert not est.model_.training


def test_path_options_as_lassonet():
    X, y = nonlinear_data(n=200, d=8)
    full = LassoNetRegressor(**FAST).path(X, y)
    lambdas = [it.lambda_ for it in full]
    # lambda_seq=[]: the dense model only
    dense = LassoNetRegressor(**FAST).path(X, y, lambda_seq=[])
    assert [it.lambda_ for it in dense] == [0.0]
    # lambda_max: the same path, stopped before the first lambda above it
    cut = lambdas[len(lambdas) // 2]
    head = LassoNetRegressor(**FAST).path(X, y, lambda_max=cut)
    assert [it.lambda_ for it in head] == [lam for lam in lambdas if lam <= cut]
    for a, b in zip(head, full):
        np.testing.assert_array_equal(a.selected, b.selected)
    # callback(estimator, points so far), after the dense fit and after every lambda
    seen = []
    est = LassoNetRegressor(**FAST)
    path = est.path(X, y, callback=lambda model, points: seen.append(
        (model, [it.lambda_ for it in points], points[-1].state_dict is not None)))
    assert all(model is est for model, _, _ in seen)
    assert [lams for _, lams, _ in seen] == [lambdas[:i] for i in range(1, len(lambdas) + 1)]
    assert all(has_weights for _, _, has_weights in seen)
    assert [it.lambda_ for it in path] == lambdas


def test_a_late_lambda_start_warns():
    X, y = nonlinear_data(n=200, d=8)
    full = LassoNetRegressor(**FAST).path(X, y)
    first_drop = next(it.lambda_ for it in full if it.n_selected < 8)
    late = dict(FAST, lambda_start=3 * first_drop)
    with pytest.warns(UserWarning, match="might be too large: features start to leave"):
        LassoNetRegressor(**late).path(X, y)
    with pytest.warns(UserWarning, match="might be too large"):
        LassoNetRegressor(**late).fit(X, y)
    with pytest.warns(UserWarning, match="lambda_seq's first lambda=.* might be too large"):
        LassoNetRegressor(**FAST).path(X, y, lambda_seq=[3 * first_drop * 1.1 ** i for i in range(60)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LassoNetRegressor(**late).path(X, y, disable_lambda_warning=True)
        LassoNetRegressor(**FAST).path(X, y)  # the automatic start is early enough


def test_lassonet_path_is_the_estimators_path():
    X, y = nonlinear_data(n=150, d=6)
    got = lassonet_path(X, y, "regression", **FAST)
    want = LassoNetRegressor(**FAST).path(X, y)
    assert [it.lambda_ for it in got] == [it.lambda_ for it in want]
    assert all(np.array_equal(a.selected, b.selected) for a, b in zip(got, want))
    labels = lassonet_path(X, y > 0, "classification", **FAST)
    assert labels[-1].n_selected == 0
    with pytest.raises(ValueError, match="task must be"):
        lassonet_path(X, y, "ranking")


def test_path_items_carry_lassonets_penalty_terms(capsys):
    X, y = nonlinear_data(n=150, d=6)
    est = LassoNetRegressor(**{**FAST, "gamma": 0.01})
    path = est.path(X, y, return_state_dicts=True)
    for item in path[:: max(1, len(path) // 5)]:
        theta = item.state_dict["skip.weight"].double()
        mlp = [v.double() for k, v in item.state_dict.items() if k.endswith("weight") and k != "skip.weight"]
        assert item.regularization == pytest.approx(float(theta.norm(dim=0).sum()), rel=1e-5)
        assert item.l2_regularization == pytest.approx(sum(float((w ** 2).sum()) for w in mlp), rel=1e-5)
        assert item.l2_regularization_skip == pytest.approx(float((theta ** 2).sum()), rel=1e-5)
        # the objective: loss + lambda * regularization + gamma * l2_regularization
        assert item.objective == pytest.approx(
            item.loss + item.lambda_ * item.regularization + 0.01 * item.l2_regularization, rel=1e-5)
    path[-1].log()
    assert f"{path[-1].n_iters} epochs" in capsys.readouterr().out
