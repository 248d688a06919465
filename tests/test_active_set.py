"""The path trainer's active set (lassonet_ext/active_set.py): the entry threshold is the prox's
own re-entry condition, SGD's momentum scales it as stated, and training on the active set gives
the path of training on every feature while computing on fewer."""
import math
from functools import partial

import numpy as np
import pytest
import torch

import lassonet_ext.path as path_module
from lassonet_ext import LassoNetRegressor, hier_prox, hier_prox_group, train_path
from lassonet_ext.active_set import entry_scale, entry_thresholds
from lassonet_ext.losses import MSELoss
from lassonet_ext.model import LassoNetModel


@pytest.mark.parametrize("lam_bar", [0.0, 0.3])
@pytest.mark.parametrize("groups", [None, [[0, 3], [1], [2, 4, 5]]])
def test_entry_threshold_is_where_one_prox_step_from_zero_stays_at_zero(lam_bar, groups):
    g = torch.Generator().manual_seed(0)
    d, m, K, M, lr = 6, 2, 5, 1.5, 0.1
    model = LassoNetModel(d, (K,), m, M=M, groups=groups).double()
    g_theta = torch.randn(m, d, generator=g, dtype=torch.float64)
    g_W = torch.randn(K, d, generator=g, dtype=torch.float64)
    thresholds = entry_thresholds(model, g_theta, g_W, lam_bar)
    per_feature = thresholds if groups is None else thresholds[model.group_of]
    for j in range(d):
        for factor, stays_out in ((1 + 1e-9, True), (1 - 1e-6, False)):
            lam = float(per_feature[j]) * factor
            theta, W = -lr * g_theta.clone(), -lr * g_W.clone()
            if groups is None:
                hier_prox(theta, W, lam * lr, M, lam_bar * lr)
            else:
                hier_prox_group(theta, W, model.group_ptr, model.group_features, lam * lr, M, lam_bar * lr)
            assert bool((theta[:, j] == 0).all()) == stays_out, (j, factor)


@pytest.mark.parametrize("momentum, dampening, nesterov", [(0.0, 0.0, False), (0.9, 0.0, False),
                                                           (0.9, 0.5, False), (0.5, 0.0, True)])
def test_entry_scale_is_where_sgd_keeps_a_feature_at_zero(momentum, dampening, nesterov):
    # One feature at zero under a constant gradient: SGD + prox keeps it there for good iff its
    # entry threshold is at most lam * entry_scale (the momentum buffer's fixed point).
    g = torch.Generator().manual_seed(1)
    g_theta = torch.randn(2, 1, generator=g, dtype=torch.float64)
    g_W = torch.randn(3, 1, generator=g, dtype=torch.float64)
    model = LassoNetModel(1, (3,), 2, M=2.0).double()
    threshold = float(entry_thresholds(model, g_theta, g_W)[0])
    lr = 0.05
    for factor, stays_out in ((1.01, True), (0.99, False)):
        theta = torch.zeros(2, 1, dtype=torch.float64, requires_grad=True)
        W = torch.zeros(3, 1, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([theta, W], lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov)
        lam = threshold / entry_scale(opt) * factor
        for _ in range(500):
            theta.grad, W.grad = g_theta.clone(), g_W.clone()
            opt.step()
            hier_prox(theta, W, lam * lr, 2.0)
            if theta.detach().abs().sum() > 0:
                break
        assert bool((theta == 0).all()) == stays_out, factor


def test_entry_scale_is_none_where_no_rule_is_known():
    p = [torch.zeros(2, requires_grad=True)]
    assert entry_scale(torch.optim.Adam(p)) is None
    assert entry_scale(torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=1.0)) is None


def data(n=300, d=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = 2 * X[:, 0] - np.tanh(2 * X[:, 1]) + X[:, 2] ** 2 / 2 + 0.1 * rng.standard_normal(n)
    return X, y.astype(np.float32)


FAST = dict(hidden_dims=(8,), n_iters=(200, 40), patience=(20, 5), path_multiplier=1.1, random_state=0)


def test_the_active_set_gives_the_same_path_on_fewer_columns(monkeypatch):
    X, y = data()
    columns = []
    backward_columns = LassoNetModel.backward_columns  # every gradient the trainer takes

    def counting(self, x, *args, **kwargs):
        columns.append(x.shape[1])
        return backward_columns(self, x, *args, **kwargs)

    monkeypatch.setattr(LassoNetModel, "backward_columns", counting)
    with_set = LassoNetRegressor(**FAST).fit(X, y)
    used = list(columns)
    monkeypatch.setattr(path_module, "entry_scale", lambda optimizer: None)  # every feature, always
    columns.clear()
    without = LassoNetRegressor(**FAST).fit(X, y)
    assert set(columns) == {X.shape[1]}
    # the work falls: after the dense fit, most steps compute on a fraction of the columns
    assert min(used) < 5 and np.mean(used) < 0.7 * X.shape[1], np.mean(used)
    # and the path is the same one
    k_with = [it.n_selected for it in with_set.path_]
    k_without = [it.n_selected for it in without.path_]
    assert [it.lambda_ for it in with_set.path_][:len(k_without)] == pytest.approx(
        [it.lambda_ for it in without.path_][:len(k_with)], rel=1e-6)
    assert np.abs(np.subtract(k_with[:len(k_without)], k_without[:len(k_with)])).max() <= 1
    assert list(np.argsort(-with_set.feature_importances_)[:3]) == list(np.argsort(-without.feature_importances_)[:3])
    assert set(np.argsort(-with_set.feature_importances_)[:3]) == {0, 1, 2}


def test_a_feature_left_out_that_should_enter_is_brought_back(monkeypatch):
    X, y = (torch.as_tensor(a) for a in data(d=8))
    y = y[:, None]
    torch.manual_seed(0)
    model = LassoNetModel(8, (8,), 1, M=10.0)
    sgd = []

    def make_sgd(params):
        opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
        if sgd:  # the path's optimiser: feature 7 carries a large momentum from "earlier steps"
            for p in (model.theta, model.W):
                opt.state[p]["momentum_buffer"] = torch.zeros_like(p)
                opt.state[p]["momentum_buffer"][:, 7] = 50.0
        sgd.append(opt)
        return opt

    optim = (partial(torch.optim.Adam, lr=1e-2), make_sgd)
    train_path(model, X[:240], y[:240], X[240:], y[240:], MSELoss(), lambda_seq=[], n_iters=(300, 50),
               patience=(300, 50), optim=optim)
    with torch.no_grad():  # feature 0 (y's strongest) and 7 (noise) knocked out of the model
        model.theta[:, [0, 7]] = 0
        model.W[:, [0, 7]] = 0
    # Nothing joins at the start: only the check after the fit can bring feature 0 back.
    monkeypatch.setattr(path_module, "START_MARGIN", math.inf)
    path = train_path(model, X[:240], y[:240], X[240:], y[240:], MSELoss(), lambda_seq=[40.0],
                      n_iters=(300, 400), patience=(300, 5), optim=optim, skip_dense=True)
    assert path[-1].selected[0], "the check after the fit must bring feature 0 back"
    # Feature 7 is noise (entry threshold 2.2 at the start, below lambda * 0.1 = 4): left out,
    # at exact zero; its momentum was cleared when it left the set, or it would have moved.
    assert not path[-1].selected[7]
    assert torch.count_nonzero(model.W[:, 7]) == 0
    state = sgd[-1].state
    assert torch.count_nonzero(state[model.theta]["momentum_buffer"][:, 7]) == 0
    assert torch.count_nonzero(state[model.W]["momentum_buffer"][:, 7]) == 0


def test_features_left_out_stay_out_of_the_model_and_its_losses():
    # Each path point's losses are computed on the active set's columns; they must equal the
    # full model's on every column, so nothing outside the set may move (its momentum is cleared).
    X, y = (torch.as_tensor(a) for a in data(d=12, seed=2))
    y = y[:, None]
    torch.manual_seed(0)
    model = LassoNetModel(12, (8,), 1, M=10.0)
    path = train_path(model, X[:240], y[:240], X[240:], y[240:], MSELoss(), n_iters=(200, 30),
                      patience=(20, 5), path_multiplier=1.1)
    assert path[-1].n_selected == 0 and len(path) > 10
    full = LassoNetModel(12, (8,), 1, M=10.0)
    for item in path:
        full.load_state_dict(item.state_dict)
        with torch.no_grad():
            loss = float(MSELoss()(full(X[:240]), y[:240]))
        assert loss == pytest.approx(item.loss, rel=1e-5, abs=1e-7), item.lambda_


@pytest.mark.parametrize("batch_size", [None, 64])
def test_backtracking_never_ends_a_lambda_above_its_starting_objective(batch_size):
    # backtrack=True redoes a lambda with half the learning rate while its training objective
    # ends above where it started (the previous point's weights at the new lambda). A large
    # learning rate makes that happen; the check must see the model on the active set's columns.
    X, y = (torch.as_tensor(a) for a in data(d=12, seed=3))
    y = y[:, None]
    torch.manual_seed(0)
    model = LassoNetModel(12, (8,), 1, M=10.0)
    optim = (partial(torch.optim.Adam, lr=1e-2), partial(torch.optim.SGD, lr=0.05, momentum=0.9))
    path = train_path(model, X[:240], y[:240], X[240:], y[240:], MSELoss(), n_iters=(200, 20),
                      patience=(20, 3), path_multiplier=1.2, optim=optim, backtrack=True,
                      batch_size=batch_size, generator=torch.Generator().manual_seed(0))
    assert path[-1].n_selected == 0 and len(path) > 5
    for before, item in zip(path[:-1], path[1:]):
        l1_before = float(before.state_dict["skip.weight"].norm(dim=0).sum())
        start = before.loss + item.lambda_ * l1_before
        assert item.objective <= start * (1 + 1e-5) + 1e-7, item.lambda_


@pytest.mark.parametrize("hidden_dims, groups", [((8,), None), ((6, 5), None), ((8,), [[0, 3], [1, 2], [4, 5, 6, 7]])])
def test_entry_thresholds_by_hand_are_autograds(hidden_dims, groups):
    # The trainer's entry check takes the gradient by hand from its (cached) forward pass, which
    # reads only the columns of features in the model; it must equal autograd's on all of X.
    from lassonet_ext.path import _Trainer

    X, y = (torch.as_tensor(a, dtype=torch.float64) for a in data(n=120, d=8, seed=4))
    y = y[:, None]
    torch.manual_seed(1)
    model = LassoNetModel(8, hidden_dims, 1, M=3.0, groups=groups).double()
    with torch.no_grad():  # features 1 and 2 (one group) out of the model
        model.theta[:, [1, 2]] = 0
        model.W[:, [1, 2]] = 0
    trainer = _Trainer(model, X[:90], y[:90], X[90:], y[90:], MSELoss(), None, 0.99, 0.0, 0.0, 0.0, None)
    assert trainer.by_hand
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    for mask in (None, torch.tensor([1, 1, 1, 1, 0, 1, 1, 1], dtype=torch.bool)):
        trainer.active.restrict(mask, model, opt, torch.ones(8, dtype=torch.bool))
        expected = entry_thresholds(model, *path_module.first_layer_gradients(model, X[:90], y[:90], MSELoss()))
        if groups is not None:
            expected = expected[model.group_of]
        torch.testing.assert_close(trainer.entry_thresholds(), expected, rtol=1e-12, atol=1e-14)
        trainer._entry = None  # (the weights did not change: recompute on the new set)


@pytest.mark.parametrize("batch_size", [None, 50])
@pytest.mark.parametrize("compacted", [False, True], ids=["full-model", "compacted"])
def test_the_forward_reads_every_column_once_a_feature_at_zero_enters(monkeypatch, batch_size, compacted):
    # With the features at zero split off (ActiveSet.n_live), a feature that enters during the fit
    # must enter the forward pass too: the fit equals the one that reads every column throughout,
    # and so do the path point's losses (taken from that forward pass, mini-batches or not), on
    # the full model and on the model compacted to the set (the trainer's fit_compacted).
    from lassonet_ext import active_set
    from lassonet_ext.path import _Trainer

    monkeypatch.setattr(active_set, "FORWARD_SPLIT_MIN_ENTRIES", 0)
    X, y = (torch.as_tensor(a, dtype=torch.float64) for a in data(n=200, d=10, seed=5))
    y = y[:, None]
    fits = []
    for split in (True, False):
        torch.manual_seed(2)
        model = LassoNetModel(10, (8,), 1, M=10.0).double()
        with torch.no_grad():
            model.theta[:, 6:] = 0
            model.W[:, 6:] = 0
        trainer = _Trainer(model, X[:150], y[:150], X[150:], y[150:], MSELoss(), batch_size, 0.99, 0.0, 0.0, 0.0, None)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        with torch.no_grad():  # feature 0 (y's strongest) is pushed out; it must come back
            model.theta[:, 0] = 0
            model.W[:, 0] = 0
        live = torch.tensor([0, 1, 1, 1, 1, 1, 0, 0, 0, 0], dtype=torch.bool)
        trainer.active.restrict(torch.ones(10, dtype=torch.bool).index_fill(0, torch.tensor([9]), False),
                                model, opt, live if split else None)
        assert trainer.active.n_live == (5 if split else 9)
        fit = trainer.fit_compacted if compacted else trainer.fit_active
        epochs = fit(0.01, opt, 200, 20)
        item = trainer.item(0.01, epochs, False)
        with torch.no_grad():
            assert item.loss == pytest.approx(float(MSELoss()(model(X[:150]), y[:150])), rel=1e-12)
            assert item.val_loss == pytest.approx(float(MSELoss()(model(X[150:]), y[150:])), rel=1e-12)
        fits.append((epochs, model.state_dict(), trainer.active.n_live))
    (e1, s1, n1), (e2, s2, n2) = fits
    assert s1["skip.weight"][0, 0] != 0, "feature 0 must have entered"
    assert n1 == 9  # and the forward pass then read every column of the set
    assert e1 == e2
    for k in s1:
        torch.testing.assert_close(s1[k], s2[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("hidden_dims", [(8,), ()], ids=["mlp", "linear"])
def test_a_compacted_fit_is_the_fit_of_the_full_model(monkeypatch, hidden_dims):
    # ActiveSet.compacted: during a fit the model holds only the active set's columns, and the
    # optimiser its state for them. Afterwards the model's own parameters (the same objects),
    # their momentum and the path point must be those of the fit on the full model, and nothing
    # outside the set may have moved.
    from lassonet_ext.path import _Trainer

    X, y = (torch.as_tensor(a, dtype=torch.float64) for a in data(n=200, d=10, seed=3))
    y = y[:, None]
    mask = torch.tensor([1, 1, 1, 1, 1, 1, 1, 0, 1, 0], dtype=torch.bool)
    results, widths = [], []
    for compacted in (False, True):
        torch.manual_seed(1)
        model = LassoNetModel(10, hidden_dims, 1, M=10.0).double()
        trainer = _Trainer(model, X[:150], y[:150], X[150:], y[150:], MSELoss(), None, 0.99, 0.0, 0.0, 0.0, None)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        params = list(model.parameters())
        trainer.fit_active(0.0, opt, 20, 20)  # momentum on every column, then features 7 and 9 out
        with torch.no_grad():
            model.theta[:, ~mask] = 0
            model.W[:, ~mask] = 0
        trainer.active.restrict(mask, model, opt, mask)
        step = trainer._step

        def spy(lam, optimizer):
            widths.append((compacted, model.theta.shape[1], optimizer.param_groups[0]["params"][0] is model.theta))
            step(lam, optimizer)

        monkeypatch.setattr(trainer, "_step", spy)
        epochs = (trainer.fit_compacted if compacted else trainer.fit_active)(0.05, opt, 100, 10)
        assert all(p is q for p, q in zip(model.parameters(), params)) and len(params) == len(list(model.parameters()))
        assert all(p is q for p, q in zip(opt.param_groups[0]["params"], params))
        assert set(opt.state) <= set(params)
        momentum = [opt.state[p]["momentum_buffer"].clone() for p in (model.theta, model.W) if p in opt.state]
        item = trainer.item(0.05, epochs, True)
        results.append((epochs, item, momentum))
    assert {w for w in widths if w[0]} == {(True, 8, True)}  # compacted: 8 columns, the optimiser's
    assert {w for w in widths if not w[0]} == {(False, 10, True)}
    (e1, item1, m1), (e2, item2, m2) = results
    assert e1 == e2 and item1.n_selected > 0
    assert np.array_equal(item1.selected, item2.selected)
    assert item1.loss == pytest.approx(item2.loss, rel=1e-12)
    assert item1.val_objective == pytest.approx(item2.val_objective, rel=1e-12)
    for k in item1.state_dict:
        torch.testing.assert_close(item1.state_dict[k], item2.state_dict[k], rtol=1e-12, atol=1e-14)
    assert len(m1) == len(m2) == (2 if hidden_dims else 1)
    for a, b in zip(m1, m2):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
        assert torch.count_nonzero(b[:, ~mask]) == 0
    assert torch.count_nonzero(item2.state_dict["skip.weight"][:, ~mask]) == 0


def assert_same_path(path, other):
    """Two float64 paths are one: the same lambdas, epochs and supports, the same objectives and
    weights up to rounding."""
    assert len(path) == len(other)
    for a, b in zip(path, other):
        assert a.lambda_ == pytest.approx(b.lambda_, rel=1e-12)
        assert a.n_iters == b.n_iters and (a.selected == b.selected).all()
        assert a.val_objective == pytest.approx(b.val_objective, rel=1e-10)
        for k in a.state_dict:
            torch.testing.assert_close(a.state_dict[k], b.state_dict[k], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("batch_size", [None, 64])
@pytest.mark.parametrize("task", ["regression", "classification"])
def test_data_free_columns_stay_out_of_the_products_and_the_path_is_the_same(monkeypatch, task, batch_size):
    # Columns zero in every training and validation row (active_set.data_free_features) add
    # nothing to the output and get zero gradients: the products skip them, and the path
    # (lambdas, epochs, every feature's weights, losses) is the one computed on every column.
    # Column 5 is zero in the training rows only: the validation rows' forward pass reads it, so
    # it stays in.
    from lassonet_ext import active_set
    from lassonet_ext.losses import CrossEntropyLoss

    monkeypatch.setattr(active_set, "FORWARD_SPLIT_MIN_ENTRIES", 0)
    X, y = (torch.as_tensor(a, dtype=torch.float64) for a in data(n=300, d=10, seed=4))
    X[:, [3, 7]] = 0
    X[:240, 5] = 0
    if task == "regression":
        y, loss, m = y[:, None], MSELoss(), 1
    else:
        y, loss, m = (y > y.median()).long(), CrossEntropyLoss(), 2
    assert active_set.data_free_features(X).nonzero().squeeze(1).tolist() == [3, 7]
    backward_columns = LassoNetModel.backward_columns  # every gradient the trainer takes

    def run():
        widths = []

        def counting(self, x, *args, **kwargs):
            widths.append(x.shape[1])
            return backward_columns(self, x, *args, **kwargs)

        monkeypatch.setattr(LassoNetModel, "backward_columns", counting)
        torch.manual_seed(0)
        model = LassoNetModel(10, (8,), m, M=10.0).double()
        path = train_path(model, X[:240], y[:240], X[240:], y[240:], loss, n_iters=(100, 30),
                          patience=(10, 5), path_multiplier=1.1, batch_size=batch_size)
        return path, widths

    split, split_widths = run()
    monkeypatch.setattr(active_set, "data_free_features", lambda X_all: None)
    plain, plain_widths = run()
    assert max(plain_widths) == 10 and max(split_widths) == 8
    assert len(split) == len(plain) > 10 and split[-1].n_selected == 0
    assert split[1].selected[[3, 7]].all()  # (in the model, and moved by the prox, at the start)
    assert_same_path(split, plain)


def test_the_active_set_orders_data_free_features_last_and_checks_only_the_others_for_entries(monkeypatch):
    from lassonet_ext import active_set

    X = torch.randn(50, 6, dtype=torch.float64)
    X[:, [1, 4]] = 0
    assert active_set.ActiveSet(X[:40], X[40:]).data_free is None  # (too small to be worth it)
    monkeypatch.setattr(active_set, "FORWARD_SPLIT_MIN_ENTRIES", 0)
    active = active_set.ActiveSet(X[:40], X[40:])
    model = LassoNetModel(6, (4,), 1).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    live = torch.tensor([1, 1, 1, 0, 1, 0], dtype=torch.bool)
    with torch.no_grad():
        model.theta[:, ~live] = 0
        model.W[:, ~live] = 0
    active.restrict(None, model, opt, live)  # every feature, ordered: live, at zero, data-free
    assert active.features.tolist() == [0, 2, 3, 5, 1, 4]
    assert (active.n_live, active.n_data) == (2, 4)
    assert active.X_all_forward.shape == (50, 2)
    torch.testing.assert_close(active.X_fit[:, :active.n_data], X[:40, [0, 2, 3, 5]])
    assert active.gradient_features.tolist() == [0, 2, 3, 5]
    active.note_entries(model)  # the data-free feature 4 is in the model: no entry
    assert active.n_live == 2
    with active.compacted(model, opt):  # (the model's columns in the set's order)
        assert model.theta.shape[1] == 6 and model.theta[:, 5].any()  # (feature 4, last)
        active.note_entries(model)
        assert active.n_live == 2
    with torch.no_grad():
        model.theta[0, 5] = 1.0  # feature 5 (at zero, with data) enters
    active.note_entries(model)
    assert active.n_live == 4
    active.restrict(torch.tensor([1, 0, 1, 1, 0, 1], dtype=torch.bool), model, opt, live)
    assert active.features.tolist() == [0, 2, 3, 5] and active.n_data == 4


def test_the_transposed_copy_for_the_forward_follows_the_set_and_leaves_the_path_as_it_was(monkeypatch):
    # On CPU the full-batch trainer's forward pass reads a transposed copy of the set's columns
    # (ActiveSet(transposed_forward=True); MKL's product is faster on it): after every
    # restriction it must hold the row-major copy's values, and the path must be the one
    # computed without it. Mini-batch training does not use it and keeps no copy.
    from lassonet_ext import active_set
    from lassonet_ext.path import _Trainer

    X, y = (torch.as_tensor(a, dtype=torch.float64) for a in data(n=300, d=12, seed=6))
    y = y[:, None]
    assert _Trainer(LassoNetModel(12, (8,), 1).double(), X[:240], y[:240], X[240:], y[240:], MSELoss(),
                    None, 0.99, 0.0, 0.0, 0.0, None).active.XT_all is not None
    assert _Trainer(LassoNetModel(12, (8,), 1).double(), X[:240], y[:240], X[240:], y[240:], MSELoss(),
                    50, 0.99, 0.0, 0.0, 0.0, None).active.XT_all is None
    monkeypatch.setattr(active_set, "FORWARD_SPLIT_MIN_ENTRIES", 0)  # (the forward's split too)
    active = active_set.ActiveSet(X[:240], X[240:], transposed_forward=True)
    model = LassoNetModel(12, (8,), 1).double()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    some = torch.arange(12) % 3 != 1
    for mask, live in ((some, None), (None, None), (some, some & (torch.arange(12) < 6)), (None, None)):
        active.restrict(mask, model, opt, live)
        assert active.X_all_forward.shape == (300, active.n_live)
        torch.testing.assert_close(active.X_all_forward, active.X_all_fit[:, :active.n_live], rtol=0, atol=0)
    seen = []
    restrict = active_set.ActiveSet.restrict

    def checking(self, *args, **kwargs):
        restrict(self, *args, **kwargs)
        forward = self.X_all_forward
        if self.XT_all is not None:
            assert forward.t().is_contiguous()
        torch.testing.assert_close(forward, self.X_all_fit[:, :self.n_live], rtol=0, atol=0)
        seen.append((self.XT_all is not None, self.n_live, self.X_all_fit.shape[1]))

    monkeypatch.setattr(active_set.ActiveSet, "restrict", checking)

    def run():
        seen.clear()
        torch.manual_seed(0)
        model = LassoNetModel(12, (8,), 1, M=10.0).double()
        path = train_path(model, X[:240], y[:240], X[240:], y[240:], MSELoss(), n_iters=(100, 30),
                          patience=(10, 5), path_multiplier=1.1)
        return path, list(seen)

    transposed, seen_t = run()
    assert all(t for t, _, _ in seen_t)
    assert any(n_live < width for _, n_live, width in seen_t)  # (a restricted, split set occurred)
    init = active_set.ActiveSet.__init__
    monkeypatch.setattr(active_set.ActiveSet, "__init__",
                        lambda self, X, X_val, transposed_forward=False: init(self, X, X_val))
    plain, seen_p = run()
    assert not any(t for t, _, _ in seen_p)
    assert len(transposed) == len(plain) > 10 and transposed[-1].n_selected == 0
    assert_same_path(transposed, plain)
