"""optimizer_step: torch.optim.SGD's fused step without its Python overhead, bitwise alike, and
optimizer.step() wherever it cannot vouch for that."""
import numpy as np
import pytest
import torch

import lassonet_ext.path as path_module
from lassonet_ext import train_path
from lassonet_ext.losses import CrossEntropyLoss
from lassonet_ext.model import LassoNetModel
from lassonet_ext.optim_step import _direct_sgd_params, optimizer_step


def twin_params(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(3, 7), (5, 7), (5,), (2, 5)]
    values = [torch.randn(s, generator=g, dtype=dtype) for s in shapes]
    return ([torch.nn.Parameter(v.clone()) for v in values],
            [torch.nn.Parameter(v.clone()) for v in values])


def set_grads(params_a, params_b, step, dtype):
    g = torch.Generator().manual_seed(100 + step)
    for a, b in zip(params_a, params_b):
        grad = torch.randn(a.shape, generator=g, dtype=dtype)
        a.grad, b.grad = grad.clone(), grad.clone()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("options", [
    dict(lr=1e-3, momentum=0.9),
    dict(lr=0.05, momentum=0.0),
    dict(lr=0.01, momentum=0.5, dampening=0.25, weight_decay=1e-2),
    dict(lr=0.01, momentum=0.9, nesterov=True),
    dict(lr=0.02, momentum=0.9, maximize=True),
])
def test_the_direct_step_leaves_parameters_and_state_bitwise_as_sgd_step(dtype, options):
    a, b = twin_params(dtype)
    opt_a = torch.optim.SGD(a, fused=True, **options)
    opt_b = torch.optim.SGD(b, fused=True, **options)
    took_over = []
    for step in range(6):
        set_grads(a, b, step, dtype)
        opt_a.step()
        took_over.append(_direct_sgd_params(opt_b) is not None)
        optimizer_step(opt_b)
        for p, q in zip(a, b):
            assert torch.equal(p, q)
            sa, sb = opt_a.state[p], opt_b.state[q]
            assert sa.keys() == sb.keys()
            for k in sa:
                assert torch.equal(torch.as_tensor(sa[k]), torch.as_tensor(sb[k]))
    # SGD's own first step (its device check) and the direct steps after it.
    assert took_over == [False] + [True] * 5


def test_the_direct_step_creates_the_momentum_buffers_on_a_first_step_after_torch_checked():
    # The trainer's compacted fits give the optimiser new parameters with no state: the first
    # step on them must create the buffers as SGD's first step does (b = grad).
    a, b = twin_params(torch.float32)
    opt_a = torch.optim.SGD(a, lr=0.1, momentum=0.9, fused=True)
    opt_b = torch.optim.SGD(b, lr=0.1, momentum=0.9, fused=True)
    set_grads(a, b, 0, torch.float32)
    opt_a.step()
    opt_b.step()
    opt_a.state.clear()
    opt_b.state.clear()
    set_grads(a, b, 1, torch.float32)
    opt_a.step()
    assert _direct_sgd_params(opt_b) is not None
    optimizer_step(opt_b)
    for p, q in zip(a, b):
        assert torch.equal(p, q)
        assert torch.equal(opt_a.state[p]["momentum_buffer"], opt_b.state[q]["momentum_buffer"])
        assert torch.equal(opt_b.state[q]["momentum_buffer"], q.grad)


def stepped_sgd(**options):
    """A fused SGD past its first step, with gradients set."""
    params, _ = twin_params(torch.float32)
    opt = torch.optim.SGD(params, fused=True, **{"lr": 0.1, "momentum": 0.9, **options})
    set_grads(params, params, 0, torch.float32)
    opt.step()
    return opt, params


def test_anything_it_cannot_vouch_for_takes_optimizer_step():
    opt, params = stepped_sgd()
    assert _direct_sgd_params(opt) is not None

    calls = []
    handle = opt.register_step_pre_hook(lambda *a: calls.append("pre"))
    assert _direct_sgd_params(opt) is None
    optimizer_step(opt)
    assert calls == ["pre"]  # the hook ran: optimizer.step() did
    handle.remove()

    params[0].grad = None
    assert _direct_sgd_params(opt) is None

    opt, _ = stepped_sgd()
    opt.param_groups[0]["lr"] = torch.tensor(0.1)
    assert _direct_sgd_params(opt) is None

    opt, _ = stepped_sgd()
    torch.optim.lr_scheduler.StepLR(opt, step_size=1)  # (wraps the instance's step)
    assert _direct_sgd_params(opt) is None

    opt, _ = stepped_sgd()
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))]})
    assert _direct_sgd_params(opt) is None

    params, _ = twin_params(torch.float32)
    plain = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    set_grads(params, params, 0, torch.float32)
    plain.step()
    assert _direct_sgd_params(plain) is None
    adam = torch.optim.Adam(params, fused=True)
    adam.step()
    assert _direct_sgd_params(adam) is None


def test_the_path_is_bitwise_the_path_with_optimizer_step(monkeypatch):
    rng = np.random.default_rng(3)
    X = torch.tensor(rng.standard_normal((200, 12)), dtype=torch.float32)
    y = torch.tensor((X[:, 0] - X[:, 1] ** 2 > 0).numpy().astype(np.int64) + (X[:, 2] > 1).numpy())
    paths = []
    for plain in (False, True):
        if plain:
            monkeypatch.setattr(path_module, "optimizer_step", lambda opt: opt.step())
        torch.manual_seed(0)
        model = LassoNetModel(12, (8,), 3, M=10.0)
        paths.append(train_path(model, X[:160], y[:160], X[160:], y[160:], CrossEntropyLoss(),
                                n_iters=(60, 15), patience=(10, 3), path_multiplier=1.1))
    assert len(paths[0]) == len(paths[1])
    for a, b in zip(*paths):
        assert a.lambda_ == b.lambda_ and a.n_iters == b.n_iters
        assert a.val_objective == b.val_objective
        for k in a.state_dict:
            assert torch.equal(a.state_dict[k], b.state_dict[k])
