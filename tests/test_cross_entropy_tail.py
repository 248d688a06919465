"""lassonet::cross_entropy_tail (the path trainer's native step from the logits to the hidden layer,
CPU): autograd's validation loss and gradients, bad input, opcheck."""
import pytest
import torch
import torch.nn.functional as F

import lassonet_ext  # noqa: F401  (registers the ops)

op = torch.ops.lassonet.cross_entropy_tail.default


def network(m, K, N, dtype, seed):
    """Logits of a one-hidden-layer head, out = skip + W2 relu(pre) + b2 (samples along columns),
    as leaves autograd can differentiate."""
    g = torch.Generator().manual_seed(seed)
    skip, pre = torch.randn(m, N, generator=g, dtype=dtype), torch.randn(K, N, generator=g, dtype=dtype)
    W2, b2 = torch.randn(m, K, generator=g, dtype=dtype), torch.randn(m, generator=g, dtype=dtype)
    y_all = torch.randint(0, m, (N,), generator=g)
    return skip, pre, W2, b2, y_all


def by_autograd(skip, pre, W2, b2, y_all, weight, n):
    leaves = [t.clone().requires_grad_() for t in (skip, pre, W2, b2)]
    skip_, pre_, W2_, b2_ = leaves
    out = skip_ + W2_ @ pre_.relu() + b2_[:, None]
    train = F.cross_entropy(out[:, :n].t(), y_all[:n], weight=weight)
    grads = torch.autograd.grad(train, leaves) if n else [torch.zeros_like(t) for t in leaves]
    with torch.no_grad():
        val = F.cross_entropy(out[:, n:].t(), y_all[n:], weight=weight)
    g_skip, g_pre, g_W2, g_b2 = grads
    G = torch.cat([g_skip[:, :n], g_pre[:, :n]])
    return out.detach(), pre.relu(), val, G, g_W2, g_b2, g_pre.sum(1)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("m, K, N, n", [(10, 32, 400, 360), (2, 5, 37, 30), (3, 1, 20, 19), (4, 6, 50, 0)])
def test_the_tail_is_autograds_validation_loss_and_gradients(weighted, m, K, N, n):
    skip, pre, W2, b2, y_all = network(m, K, N, torch.float64, seed=m + K + N)
    weight = torch.linspace(0.5, 2.0, m, dtype=torch.float64) if weighted else None
    out, hidden, val, G, g_W2, g_b2, g_b1 = by_autograd(skip, pre, W2, b2, y_all, weight, n)
    got = op(out, hidden, W2, y_all[:n], y_all[n:], weight, n)
    for name, a, b in zip(["val_loss", "G", "head_weight_grad", "head_bias_grad", "hidden_bias_grad"],
                          got, (val, G, g_W2, g_b2, g_b1)):
        assert a.shape == b.shape and a.dtype == torch.float64, name
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14, msg=name)


def test_float32_agrees_with_float64():
    skip, pre, W2, b2, y_all = network(10, 32, 4000, torch.float64, seed=1)
    out, hidden, *_ = by_autograd(skip, pre, W2, b2, y_all, None, 3600)
    exact = op(out, hidden, W2, y_all[:3600], y_all[3600:], None, 3600)
    single = op(out.float(), hidden.float(), W2.float(), y_all[:3600], y_all[3600:], None, 3600)
    for a, b in zip(single, exact):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-6)


def test_no_validation_columns_give_a_nan_loss_as_torch_does():
    skip, pre, W2, b2, y_all = network(3, 4, 12, torch.float64, seed=2)
    out, hidden, *_ = by_autograd(skip, pre, W2, b2, y_all, None, 12)
    val = op(out, hidden, W2, y_all, y_all[12:], None, 12)[0]
    assert torch.isnan(val) and torch.isnan(F.cross_entropy(out[:, 12:].t(), y_all[12:]))


def test_non_finite_logits_reach_the_validation_loss():
    # (the trainer then stops with NonFiniteLossError)
    skip, pre, W2, b2, y_all = network(3, 4, 12, torch.float64, seed=3)
    out, hidden, *_ = by_autograd(skip, pre, W2, b2, y_all, None, 8)
    out[1, 10] = float("nan")
    assert torch.isnan(op(out, hidden, W2, y_all[:8], y_all[8:], None, 8)[0])


def test_the_gradient_is_zero_where_the_hidden_unit_is_off():
    skip, pre, W2, b2, y_all = network(3, 5, 40, torch.float64, seed=4)
    out, hidden, *_ = by_autograd(skip, pre, W2, b2, y_all, None, 30)
    G = op(out, hidden, W2, y_all[:30], y_all[30:], None, 30)[1]
    off = hidden[:, :30] == 0
    assert off.any() and (G[3:][off] == 0).all() and (G[3:][~off] != 0).all()


def good_args(dtype=torch.float64):
    skip, pre, W2, b2, y_all = network(3, 4, 10, dtype, seed=5)
    out = skip + W2 @ pre.relu() + b2[:, None]
    return [out, pre.relu(), W2, y_all[:8], y_all[8:], None, 8]


@pytest.mark.parametrize("position, value, error, match", [
    (0, torch.zeros(3, 10, dtype=torch.float16), TypeError, "float32 or float64"),
    (1, torch.zeros(4, 10, dtype=torch.float32), TypeError, "out's dtype"),
    (3, torch.zeros(8, dtype=torch.int32), TypeError, "int64"),
    (1, torch.zeros(4, 9, dtype=torch.float64), ValueError, r"hidden \(K, 10\)"),
    (2, torch.zeros(4, 3, dtype=torch.float64), ValueError, "head_weight"),
    (3, torch.zeros(7, dtype=torch.int64), ValueError, r"y \(8,\)"),
    (6, 11, ValueError, r"n must be in \[0, 10\]"),
    (5, torch.ones(2, dtype=torch.float64), ValueError, r"weight must be \(3,\)"),
    (5, torch.ones(3, dtype=torch.float32), TypeError, "weight must have out's dtype"),
    (3, torch.tensor([0, 1, 2, 3, 0, 1, 2, 0]), IndexError, "class index 3 at position 3"),
    (4, torch.tensor([0, -1]), IndexError, "class index -1 at position 1"),
])
def test_bad_input_is_rejected_with_a_clear_error(position, value, error, match):
    args = good_args()
    args[position] = value
    with pytest.raises(error, match=match):
        op(*args)


def test_opcheck():
    torch.library.opcheck(op, tuple(good_args()))
    args = good_args(torch.float32)
    args[5] = torch.tensor([1.0, 2.0, 0.5])
    torch.library.opcheck(op, tuple(args))
