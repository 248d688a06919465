"""HIER-PROX op: bad input, in-place use on nn.Parameters, opcheck and torch.compile."""
import pytest
import torch

import lassonet_ext


def make(m=2, K=4, d=6, dtype=torch.float32, device="cpu"):
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(m, d, generator=g).to(dtype).to(device),
        torch.randn(K, d, generator=g).to(dtype).to(device),
    )


def bad_inputs():
    th, W = make()
    th64, W64 = make(dtype=torch.float64)
    base = torch.zeros(100)
    cases = [
        ("mixed dtypes", th, W64, {}, TypeError, "same dtype"),
        ("integer tensors", th.long(), W.long(), {}, TypeError, "float32, float64"),
        ("different d", th[:, :5], W, {}, ValueError, "same number of features"),
        ("W 1-D", th, W[0], {}, ValueError, "W must be a tensor of shape"),
        ("W 3-D with the wrong d", th, W[None], {}, ValueError, "same number of features"),
        ("W trailing dims not one run", th, torch.randn(4, 6, 3, 5).transpose(2, 3), {}, ValueError, "one strided run"),
        ("theta 3-D", th[None], W, {}, ValueError, "theta must be"),
        ("theta without rows", th[:0], W, {}, ValueError, "at least one row"),
        ("negative lam", th, W, {"lam": -0.1}, ValueError, "lam must be"),
        ("negative M", th, W, {"M": -1.0}, ValueError, "M must be"),
        ("negative lam_bar", th, W, {"lam_bar": -1e-3}, ValueError, "lam_bar must be"),
        ("nan lam", th, W, {"lam": float("nan")}, ValueError, "finite"),
        ("inf M", th, W, {"M": float("inf")}, ValueError, "finite"),
        ("inf lam_bar", th, W, {"lam_bar": float("inf")}, ValueError, "finite"),
        ("expanded theta", torch.ones(1, 6).expand(2, 6), W, {}, ValueError, "overlapping"),
        ("theta and W share memory", base[:12].view(2, 6), base[6:30].view(4, 6), {}, ValueError, "share memory"),
        ("same tensor twice", W, W, {}, ValueError, "share memory"),
    ]
    return cases


CASES = bad_inputs()


@pytest.mark.parametrize("entry", ["wrapper", "torch.ops", "unchecked"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_and_changes_nothing(case, entry):
    _, theta, W, kw, exc, match = case
    args = {"lam": 0.1, "M": 1.0, "lam_bar": 0.0, **kw}
    before = (theta.clone(), W.clone())
    fn = {"wrapper": lassonet_ext.hier_prox, "torch.ops": torch.ops.lassonet.hier_prox,
          "unchecked": lassonet_ext.ops.hier_prox_unchecked}[entry]  # (the trainer's entry)
    with pytest.raises(exc, match=match):
        fn(theta, W, args["lam"], args["M"], args["lam_bar"])
    assert torch.equal(theta, before[0]) and torch.equal(W, before[1])


def test_wrapper_rejects_non_numbers_and_non_tensors():
    th, W = make()
    with pytest.raises(TypeError, match="lam must be a real number"):
        lassonet_ext.hier_prox(th, W, "0.1", 1.0)
    with pytest.raises(TypeError, match="M must be a real number"):
        lassonet_ext.hier_prox(th, W, 0.1, True)
    with pytest.raises(TypeError, match="W must be a torch.Tensor"):
        lassonet_ext.hier_prox(th, W.numpy(), 0.1, 1.0)


def test_devices_must_match():
    th, W = make()
    with pytest.raises((ValueError, RuntimeError), match="same device"):
        lassonet_ext.hier_prox(th, W.to("meta"), 0.1, 1.0)


def test_interleaved_views_of_one_storage_are_accepted_when_disjoint():
    base = torch.randn(4, 12, dtype=torch.float64)
    theta, W = base[:1, 0::2], base[1:, 0::2]  # disjoint rows of one storage
    expected = theta.clone(), W.clone()
    torch.ops.lassonet.hier_prox(*expected, 0.2, 1.0)
    lassonet_ext.hier_prox(theta, W, 0.2, 1.0)
    assert torch.equal(theta, expected[0]) and torch.equal(W, expected[1])


def test_works_on_parameters_without_no_grad():
    model = torch.nn.Sequential(torch.nn.Linear(6, 3))
    skip = torch.nn.Linear(6, 1, bias=False)
    theta, W = skip.weight, model[0].weight
    assert theta.requires_grad and theta.is_leaf
    v0 = (theta._version, W._version)
    expected = theta.detach().clone(), W.detach().clone()
    torch.ops.lassonet.hier_prox(*expected, 0.3, 1.0)
    torch.ops.lassonet.hier_prox(theta, W, 0.3, 1.0)  # the raw op, no torch.no_grad()
    assert torch.equal(theta.detach(), expected[0]) and torch.equal(W.detach(), expected[1])
    assert theta.requires_grad and theta.grad_fn is None and W.grad_fn is None
    assert theta._version > v0[0] and W._version > v0[1]  # autograd sees the in-place change


def test_stale_saved_tensor_is_detected():
    # A graph that saved W before the prox must refuse to backpropagate through the stale value.
    W = torch.nn.Parameter(torch.randn(3, 4))
    theta = torch.nn.Parameter(torch.randn(1, 4))
    x = torch.randn(5, 4, requires_grad=True)
    out = (x @ W.t()).pow(2).sum() + (x @ theta.t()).sum()  # mm saves W for x's gradient
    lassonet_ext.hier_prox(theta, W, 0.1, 1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_training_step_after_optimizer_step():
    torch.manual_seed(0)
    skip = torch.nn.Linear(5, 1, bias=False)
    hidden = torch.nn.Linear(5, 8)
    head = torch.nn.Linear(8, 1)
    params = [*skip.parameters(), *hidden.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=0.1)
    x, y = torch.randn(64, 5), torch.randn(64, 1)
    for _ in range(20):
        opt.zero_grad()
        loss = ((skip(x) + head(torch.relu(hidden(x))) - y) ** 2).mean()
        loss.backward()
        opt.step()
        lassonet_ext.hier_prox(skip.weight, hidden.weight, lam=0.1 * 0.1, M=2.0)
        bound = 2.0 * skip.weight.detach().norm(dim=0)
        assert torch.all(hidden.weight.detach().abs().amax(0) <= bound * (1 + 1e-6) + 1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck(device, dtype):
    for requires_grad in (False, True):
        theta, W = make(m=3, K=5, d=7, dtype=dtype, device=device)
        theta.requires_grad_(requires_grad)
        W.requires_grad_(requires_grad)
        torch.library.opcheck(torch.ops.lassonet.hier_prox.default, (theta, W, 0.2, 1.5, 0.05))
        t1, W1 = make(m=1, K=4, d=9, dtype=dtype, device=device)
        torch.library.opcheck(torch.ops.lassonet.hier_prox.default, (t1[0], W1, 0.2, 1.5, 0.0))


def test_torch_compile_fullgraph_training_step(device):
    torch.manual_seed(0)
    d, K = 12, 16

    def make_params():
        g = torch.Generator().manual_seed(1)
        return (
            torch.randn(1, d, generator=g).to(device).requires_grad_(),
            torch.randn(K, d, generator=g).to(device).requires_grad_(),
            torch.randn(1, K, generator=g).to(device).requires_grad_(),
        )

    x = torch.randn(32, d, device=device)
    y = torch.randn(32, 1, device=device)

    def loss_fn(theta, W, head):
        return ((x @ theta.t() + torch.relu(x @ W.t()) @ head.t() - y) ** 2).mean()

    def update(theta, W, head, lr, lam):
        with torch.no_grad():
            for p in (theta, W, head):
                p.sub_(lr * p.grad)
        torch.ops.lassonet.hier_prox(theta, W, lam * lr, 2.0)  # on the leaf parameters

    def step(loss_fn, update, params):
        for p in params:
            p.grad = None
        loss = loss_fn(*params)
        loss.backward()
        update(*params, 0.05, 0.5)
        return loss.detach()

    compiled = (torch.compile(loss_fn, fullgraph=True), torch.compile(update, fullgraph=True))
    eager_params, compiled_params = make_params(), make_params()
    for _ in range(3):
        l_eager = step(loss_fn, update, eager_params)
        l_comp = step(*compiled, compiled_params)
        torch.testing.assert_close(l_comp, l_eager, rtol=1e-5, atol=1e-6)
    for a, b in zip(compiled_params, eager_params):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=1e-6)
    # The prox really ran inside the graph: the random start broke the hierarchy, now it holds.
    theta0, W0, _ = make_params()
    assert torch.any(W0.detach().abs().amax(0) > 2.0 * theta0.detach().norm(dim=0))
    theta, W = compiled_params[0].detach(), compiled_params[1].detach()
    assert torch.all(W.abs().amax(0) <= 2.0 * theta.norm(dim=0) * (1 + 1e-6))
