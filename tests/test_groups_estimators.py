"""Group LassoNet in the model and estimators: groups enter and leave together, true groups first."""
import numpy as np
import pytest
import torch

from lassonet_ext import LassoNetModel, LassoNetRegressor
from lassonet_ext.path import lambda_max

FAST = dict(hidden_dims=(16,), n_iters=(300, 40), patience=(30, 5), path_multiplier=1.1, random_state=0)


def grouped_data(n=500, seed=0):
    """12 columns in 4 groups of 3 (interleaved); y depends on groups 0 and 2 only."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 12)).astype(np.float32)
    groups = [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]
    y = X[:, 0] + np.sin(2 * X[:, 4]) + X[:, 8] + 1.5 * X[:, 2] - np.tanh(X[:, 6]) + X[:, 10] ** 2 / 2
    return X, y + 0.1 * rng.standard_normal(n), groups


def test_groups_leave_together_and_true_groups_rank_first():
    X, y, groups = grouped_data()
    est = LassoNetRegressor(groups=groups, **FAST).fit(X, y)
    for item in est.path_:
        for g in groups:  # every group is wholly in or wholly out
            assert len(set(item.selected[g])) == 1, (item.lambda_, item.selected)
    imp = est.feature_importances_
    for g in groups:
        assert len(set(imp[g])) == 1
    strong = {0, 4, 8, 2, 6, 10}
    assert set(np.argsort(-imp)[:6]) == strong, imp
    assert est.score(X, y) > 0.8


def test_group_penalty_and_lambda_max_match_their_definitions():
    torch.manual_seed(0)
    groups = [[0, 3], [1], [2, 4]]
    model = LassoNetModel(5, (8,), 2, groups=groups)
    theta = model.theta.detach()
    want = sum(float(theta[:, g].norm()) for g in groups)
    assert abs(float(model.l1_regularisation().detach()) - want) < 1e-5
    # At lambda_max the no-feature model is stationary: one prox-gradient step keeps every group out.
    X, y = torch.randn(64, 5), torch.randn(64, 2)
    loss = torch.nn.functional.mse_loss
    lam = lambda_max(model, X, y, loss)
    with torch.no_grad():
        model.theta.zero_()
        model.W.zero_()
    model.zero_grad()
    loss(model(X), y).backward()
    lr = 1e-3
    with torch.no_grad():
        model.theta.sub_(lr * model.theta.grad)
        model.W.sub_(lr * model.W.grad)
    model.prox_(lam * lr * 1.0001)
    assert not model.selected_features().any()


def test_bad_groups_are_a_clear_error():
    X, y, _ = grouped_data(n=50)
    with pytest.raises(ValueError, match="partition"):
        LassoNetRegressor(groups=[[0, 1]], **FAST).fit(X, y)
