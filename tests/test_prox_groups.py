"""Group HIER-PROX and W with trailing dimensions (convolution weights): exactness against the
independent float64 solver, agreement with the reference, and bad input."""
import numpy as np
import pytest
import torch

import lassonet_ext
from lassonet_ext import groups_to_csr, reference
from solver64 import solve_groups

TOL = {torch.float64: 1e-10, torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def random_groups(d, seed, max_size=4):
    rng = np.random.default_rng(seed)
    perm = rng.permutation(d).tolist()
    groups, i = [], 0
    while i < d:
        size = int(rng.integers(1, max_size + 1))
        groups.append(perm[i : i + size])
        i += size
    return groups


def problem(m, K, d, trailing=(), dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(m, d, generator=g, dtype=torch.float64).to(dtype).to(device)
    W = (2 * torch.randn(K, d, *trailing, generator=g, dtype=torch.float64)).to(dtype).to(device)
    theta[:, :2] = 0  # features entering from theta = 0
    return theta, W


def check_against_solver(theta, W, groups, lam, M, lam_bar, th_out, w_out):
    th_ref, w_ref = solve_groups(theta.double().cpu().numpy(), W.double().cpu().numpy(), groups, lam, M, lam_bar)
    w_max = float(W.double().abs().max()) if W.numel() else 0.0
    scale = float(theta.double().abs().max()) + w_max + lam + lam_bar
    tol = TOL[theta.dtype] * scale * 4
    np.testing.assert_allclose(th_out.double().cpu().numpy(), th_ref, rtol=0, atol=tol)
    np.testing.assert_allclose(w_out.double().cpu().numpy(), w_ref, rtol=0, atol=tol)
    # Feasible per group: ||W_G||_inf <= M ||theta_G||.
    for grp in groups:
        wmax = np.abs(w_out.double().cpu().numpy()[:, grp]).max() if W.numel() else 0.0
        assert wmax <= M * np.linalg.norm(th_out.double().cpu().numpy()[:, grp]) + tol * (1 + M)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("m,K,trailing", [(1, 8, ()), (3, 5, ()), (2, 4, (3, 3)), (1, 1, (2,)), (2, 0, ())])
@pytest.mark.parametrize("lam,M,lam_bar", [(0.5, 1.0, 0.0), (2.0, 0.3, 0.1), (0.1, 10.0, 0.0), (1.0, 0.0, 0.0)])
def test_group_op_matches_float64_solver(device, dtype, m, K, trailing, lam, M, lam_bar):
    d = 13
    theta, W = problem(m, K, d, trailing, dtype, device, seed=K + m)
    groups = random_groups(d, seed=d + K)
    ptr, feats = groups_to_csr(groups, d, device=device)
    th, w = theta.clone(), W.clone()
    torch.ops.lassonet.hier_prox_group(th, w, ptr, feats, lam, M, lam_bar)
    check_against_solver(theta, W, groups, lam, M, lam_bar, th, w)
    th_r, w_r = reference.hier_prox_group(theta, W, ptr, feats, lam, M, lam_bar)
    check_against_solver(theta, W, groups, lam, M, lam_bar, th_r, w_r)


def test_singleton_groups_equal_the_plain_op(device):
    theta, W = problem(2, 16, 40, dtype=torch.float32, device=device)
    ptr, feats = groups_to_csr([[j] for j in range(40)], 40, device=device)
    a = (theta.clone(), W.clone())
    b = (theta.clone(), W.clone())
    torch.ops.lassonet.hier_prox(*a, 0.7, 2.0, 0.05)
    torch.ops.lassonet.hier_prox_group(*b, ptr, feats, 0.7, 2.0, 0.05)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # the same arithmetic, bit for bit


@pytest.mark.parametrize(
    "layout",
    ["contiguous", "channels_last", "trailing transposed"],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_trailing_dims_match_solver_and_write_in_place(device, layout, dtype):
    theta, W = problem(3, 6, 10, (3, 3), dtype, device, seed=1)
    if layout == "channels_last":
        W = W.contiguous(memory_format=torch.channels_last)
    elif layout == "trailing transposed":
        W = W.transpose(2, 3).contiguous().transpose(2, 3)  # trailing strides (1, 3)
    th, w = theta.clone(), W.clone()
    strides = w.stride()
    if layout == "trailing transposed":
        # Strides (.., 1, 3) merge into one run only in the other order: the op must reject, not copy.
        with pytest.raises(ValueError, match="one strided run"):
            torch.ops.lassonet.hier_prox(th, w, 0.5, 1.5, 0.05)
        assert torch.equal(th, theta) and torch.equal(w, W)
        return
    torch.ops.lassonet.hier_prox(th, w, 0.5, 1.5, 0.05)
    assert w.stride() == strides
    groups = [[j] for j in range(10)]
    check_against_solver(theta, W, groups, 0.5, 1.5, 0.05, th, w)
    th_r, w_r = reference.hier_prox(theta, W, 0.5, 1.5, 0.05)
    check_against_solver(theta, W, groups, 0.5, 1.5, 0.05, th_r, w_r)


def test_trailing_dims_equal_flattened_2d_problem():
    """(K, d, T) is the 2-D problem on the (K*T, d) matrix of each feature's entries."""
    theta, W = problem(1, 4, 24, (5,), torch.float32)
    th, w = theta.clone(), W.clone()
    torch.ops.lassonet.hier_prox(th, w, 0.3, 2.0)
    th2, w2 = theta.clone(), W.permute(0, 2, 1).reshape(20, 24).contiguous()
    torch.ops.lassonet.hier_prox(th2, w2, 0.3, 2.0)
    assert torch.equal(th, th2)
    assert torch.equal(w, w2.reshape(4, 5, 24).permute(0, 2, 1))


def test_conv2d_weight_under_autograd():
    conv = torch.nn.Conv2d(3, 8, 3)
    skip = torch.nn.Linear(3, 1, bias=False)
    before = conv.weight.detach().clone()
    lassonet_ext.hier_prox(skip.weight, conv.weight, 0.01, 0.5)  # nn.Parameters, no no_grad
    bound = 0.5 * skip.weight.detach().norm(dim=0)
    assert (conv.weight.detach().abs().amax(dim=(0, 2, 3)) <= bound + 1e-6).all()
    assert not torch.equal(before, conv.weight.detach())


def test_groups_to_csr_and_its_errors():
    ptr, feats = groups_to_csr([[2, 0], [1], [3, 4]], 5)
    assert ptr.tolist() == [0, 2, 3, 5] and feats.tolist() == [2, 0, 1, 3, 4]
    with pytest.raises(ValueError, match="partition"):
        groups_to_csr([[0, 1], [1, 2]], 3)
    with pytest.raises(ValueError, match="partition"):
        groups_to_csr([[0, 1]], 3)
    with pytest.raises(ValueError, match="empty group"):
        groups_to_csr([[0, 1, 2], []], 3)
    with pytest.raises(TypeError, match="integer"):
        groups_to_csr([[0.0, 1]], 2)


def bad_group_cases():
    good_ptr, good_feats = torch.tensor([0, 2, 4]), torch.tensor([0, 1, 2, 3])
    return [
        ("int32 ptr", good_ptr.int(), good_feats, TypeError, "int64"),
        ("2-D features", good_ptr, good_feats[None], ValueError, "1-D"),
        ("too few features", good_ptr, good_feats[:3], ValueError, "each of the d = 4"),
        ("ptr not ending at d", torch.tensor([0, 2, 3]), good_feats, ValueError, "end at d"),
        ("ptr decreasing", torch.tensor([0, 3, 2, 4]), good_feats, ValueError, "non-decreasing"),
        ("feature out of range", good_ptr, torch.tensor([0, 1, 2, 4]), ValueError, r"\[0, 4\)"),
        ("feature twice", good_ptr, torch.tensor([0, 1, 1, 3]), ValueError, "partition"),
        ("empty ptr", torch.tensor([], dtype=torch.int64), good_feats, ValueError, "G \\+ 1"),
    ]


@pytest.mark.parametrize("entry", ["wrapper", "torch.ops"])
@pytest.mark.parametrize("case", bad_group_cases(), ids=[c[0] for c in bad_group_cases()])
def test_bad_groups_raise_and_change_nothing(case, entry):
    _, ptr, feats, exc, match = case
    theta, W = problem(2, 3, 4)
    th, w = theta.clone(), W.clone()
    fn = lassonet_ext.hier_prox_group if entry == "wrapper" else torch.ops.lassonet.hier_prox_group
    with pytest.raises(exc, match=match):
        fn(th, w, ptr, feats, 0.1, 1.0, 0.0)
    assert torch.equal(th, theta) and torch.equal(w, W)


def test_group_op_opcheck():
    theta, W = problem(2, 5, 7, (2,), torch.float32)
    ptr, feats = groups_to_csr([[0, 3], [1, 2, 6], [4], [5]], 7)
    torch.library.opcheck(torch.ops.lassonet.hier_prox_group.default, (theta, W, ptr, feats, 0.2, 1.0, 0.01))
    torch.library.opcheck(torch.ops.lassonet.hier_prox.default, (theta, W, 0.2, 1.0, 0.01))
