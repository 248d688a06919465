"""lambda_start="auto": the start's acceleration follows its stated rule, step by step."""
import numpy as np
import pytest
import torch

from lassonet_ext import train_path
from lassonet_ext.losses import MSELoss
from lassonet_ext.model import LassoNetModel
from lassonet_ext.path import MAX_START_MULTIPLIER


def regression_path(n_iters, patience, multiplier=1.02):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 10))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, 3] + 0.1 * rng.standard_normal(300)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y[:, None], dtype=torch.float32)
    torch.manual_seed(0)
    model = LassoNetModel(10, (16,), 1, M=10.0)
    return train_path(model, X[:240], y[:240], X[240:], y[240:], MSELoss(), n_iters=n_iters,
                      patience=patience, path_multiplier=multiplier)


def expected_multipliers(path, n_iters, patience, multiplier):
    """Each step's multiplier by the rule, before the first removal: squared (at most
    MAX_START_MULTIPLIER) after a quiet step, kept after a fit that used all its epochs,
    path_multiplier after any other; path_multiplier from the first removal on."""
    out, current, accelerating = [], multiplier, True
    for before, item in zip(path[:-2], path[1:-1]):  # the fit at item's lambda sets the next step
        changed = item.n_selected != before.n_selected
        quiet = item.n_iters <= patience + 1 and item.n_iters < n_iters
        if accelerating and not changed:
            if quiet:
                current = min(current * current, MAX_START_MULTIPLIER)
            elif item.n_iters < n_iters:
                current = multiplier
        else:
            accelerating, current = False, multiplier
        out.append(current)
    return out


@pytest.mark.parametrize("n_iters, patience", [((300, 60), (30, 5)), ((300, 4), (30, 5))])
def test_auto_start_multiplier_follows_the_rule(n_iters, patience):
    path = regression_path(n_iters, patience)
    assert path[-1].n_selected == 0
    # path[0] is the dense model; path[1] the first lambda, path[2] the second, and so on.
    steps = [b.lambda_ / a.lambda_ for a, b in zip(path[1:-1], path[2:])]
    np.testing.assert_allclose(steps, expected_multipliers(path, n_iters[1], patience[1], 1.02),
                               rtol=1e-12)
    first_removal = next(i for i, item in enumerate(path) if item.n_selected < path[0].n_selected)
    start = path[1:first_removal + 1]
    quiet = [it.n_iters <= patience[1] + 1 and it.n_iters < n_iters[1] for it in start]
    if n_iters[1] <= patience[1] + 1:
        # A fit that cannot stop early never counts as quiet: no acceleration at all.
        assert not any(quiet) and max(steps) == pytest.approx(1.02)
    else:
        # Every kind of step happens before the first removal (quiet, settling later, out of
        # epochs after an acceleration), so each branch of the rule is exercised.
        epochs = [it.n_iters for it in start]
        assert any(quiet) and not all(quiet), epochs
        assert any(patience[1] + 1 < e < n_iters[1] for e in epochs), epochs
        kept = [m for it, m in zip(start[:-1], steps) if it.n_iters >= n_iters[1]]
        assert any(m > 1.1 for m in kept), (epochs, steps)
        assert max(steps) > 1.1


@pytest.mark.parametrize("patience", [1, 4])
def test_early_stopping_starts_from_the_objective_before_the_fit(patience):
    # With lr = 0 nothing moves, so no epoch improves on the objective the fit started from:
    # each fit stops after exactly `patience` epochs (as lassonet; starting the best objective at
    # infinity would count the first epoch as an improvement and run patience + 1).
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((60, 5)), dtype=torch.float32)
    y = X[:, :1] + 0.1 * torch.tensor(rng.standard_normal((60, 1)), dtype=torch.float32)
    torch.manual_seed(0)
    model = LassoNetModel(5, (4,), 1, M=10.0)
    frozen = lambda params: torch.optim.SGD(params, lr=0.0, momentum=0.9)
    path = train_path(model, X[:48], y[:48], X[48:], y[48:], MSELoss(), lambda_seq=[0.1, 0.2],
                      n_iters=(50, 50), patience=(patience, patience), optim=frozen)
    assert [it.n_iters for it in path] == [patience] * 3


def test_default_optimizers_are_fused_where_torch_has_the_kernels_and_step_alike():
    from lassonet_ext.path import default_optimizers

    adam, sgd = default_optimizers(path_lr=0.05)
    w32 = [torch.nn.Parameter(torch.zeros(3))]
    assert adam(w32).defaults["fused"] and sgd(w32).defaults["fused"]
    assert sgd(w32).defaults["lr"] == 0.05 and sgd(w32).defaults["momentum"] == 0.9
    w16 = [torch.nn.Parameter(torch.zeros(3, dtype=torch.bfloat16))]
    assert not sgd(w16).defaults["fused"] and not adam(w16).defaults["fused"]
    # The fused optimisers give the plain ones' path.
    plain = (lambda p: torch.optim.Adam(p, lr=1e-3), lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9))
    rng = np.random.default_rng(1)
    X = torch.tensor(rng.standard_normal((80, 6)), dtype=torch.float32)
    y = (X[:, :1] - X[:, 1:2] ** 2).contiguous()
    paths = []
    for optim in (None, plain):
        torch.manual_seed(0)
        model = LassoNetModel(6, (4,), 1, M=10.0)
        paths.append(train_path(model, X[:64], y[:64], X[64:], y[64:], MSELoss(), optim=optim,
                                n_iters=(100, 20), patience=(10, 3), path_multiplier=1.1))
    assert [it.n_selected for it in paths[0]] == [it.n_selected for it in paths[1]]
    assert [it.n_iters for it in paths[0]] == [it.n_iters for it in paths[1]]
    np.testing.assert_allclose([it.val_objective for it in paths[0]],
                               [it.val_objective for it in paths[1]], rtol=1e-4)
