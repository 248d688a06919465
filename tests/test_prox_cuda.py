"""CUDA-only properties of the op: equality with CPU, determinism, streams, graph capture.

Every test in test_prox_correctness.py / test_prox_api.py also runs on CUDA through the `device`
fixture; these add what only a GPU has. Skipped, with the reason shown, where there is none.
"""
import pytest
import torch

import lassonet_ext

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def problem(m, K, d, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(m, d, generator=g).to(dtype), (torch.randn(K, d, generator=g) * 0.5).to(dtype))


def run(theta, W, lam=0.2, M=1.5, lam_bar=0.05):
    th, w = theta.clone(), W.clone()
    torch.ops.lassonet.hier_prox(th, w, lam, M, lam_bar)
    return th, w


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
# The tile kernel with a thread per feature (K <= 64), with a warp per feature on its widest rows
# (K = 100: 128 bytes, 64 for 16-bit types), narrower rows (K = 1024: 64 bytes; K = 5000: one
# 32-byte sector), and K = 8000, which fits no tile and takes the general (column) kernel.
@pytest.mark.parametrize(
    "m,K,d", [(1, 16, 1000), (3, 64, 777), (2, 100, 500), (2, 1024, 300), (1, 5000, 70), (1, 8000, 70)]
)
def test_cuda_equals_cpu(dtype, m, K, d):
    theta, W = problem(m, K, d, dtype)
    th_c, w_c = run(theta, W)
    th_g, w_g = run(theta.cuda(), W.cuda())
    tol = {torch.float32: 1e-5, torch.float64: 1e-12, torch.float16: 2e-3, torch.bfloat16: 2e-2}[dtype]
    torch.testing.assert_close(th_g.cpu(), th_c, rtol=tol, atol=tol)
    torch.testing.assert_close(w_g.cpu(), w_c, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("K", [16, 100, 256, 1024])
def test_cuda_equals_cpu_when_blocks_do_several_tiles(dtype, K):
    # The tile kernel's grid stops at 32 blocks per SM; with more tiles, a block stages its next
    # tile into the shared memory it has just written back. Tiles hold 128 features (K <= 64), 32 or 16
    # (K = 100, 256: float32, float64) or 16 or 8 (K = 1024); d gives 1.5 tiles per block or more,
    # and is not a multiple of any tile.
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    tile = 128 if K <= 64 else 16 if K == 1024 else 32
    theta, W = problem(2, K, sms * 48 * tile + 3, dtype, seed=K)
    th_c, w_c = run(theta, W)
    th_g, w_g = run(theta.cuda(), W.cuda())
    tol = {torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    torch.testing.assert_close(th_g.cpu(), th_c, rtol=tol, atol=tol)
    torch.testing.assert_close(w_g.cpu(), w_c, rtol=tol, atol=tol)


def test_cuda_is_deterministic():
    theta, W = problem(2, 256, 5000, torch.float32)
    theta, W = theta.cuda(), W.cuda()
    first = run(theta, W)
    for _ in range(3):
        again = run(theta, W)
        assert torch.equal(again[0], first[0]) and torch.equal(again[1], first[1])


def test_cuda_on_a_side_stream_and_other_device():
    theta, W = problem(2, 64, 2000, torch.float32)
    expected = run(theta.cuda(), W.cuda())
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        th, w = theta.cuda(), W.cuda()
        torch.ops.lassonet.hier_prox(th, w, 0.2, 1.5, 0.05)
    stream.synchronize()
    assert torch.equal(th, expected[0]) and torch.equal(w, expected[1])
    last = torch.cuda.device_count() - 1
    th2, w2 = theta.to(f"cuda:{last}"), W.to(f"cuda:{last}")
    torch.ops.lassonet.hier_prox(th2, w2, 0.2, 1.5, 0.05)  # current device may differ
    assert torch.equal(th2.cpu(), expected[0].cpu()) and torch.equal(w2.cpu(), expected[1].cpu())


def test_cuda_graph_capture():
    theta, W = problem(2, 64, 2000, torch.float32)
    expected = run(theta.cuda(), W.cuda())
    th, w = theta.cuda(), W.cuda()
    static_theta, static_W = th.clone(), w.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside capture
        torch.ops.lassonet.hier_prox(th.clone(), w.clone(), 0.2, 1.5, 0.05)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        torch.ops.lassonet.hier_prox(static_theta, static_W, 0.2, 1.5, 0.05)
    static_theta.copy_(th)
    static_W.copy_(w)
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(static_theta, expected[0]) and torch.equal(static_W, expected[1])


def test_cpu_and_cuda_tensors_are_rejected():
    theta, W = problem(1, 4, 10, torch.float32)
    before = W.clone()
    with pytest.raises((ValueError, RuntimeError), match="same device"):
        lassonet_ext.hier_prox(theta, W.cuda(), 0.1, 1.0)
    with pytest.raises((ValueError, RuntimeError), match="same device"):
        torch.ops.lassonet.hier_prox(theta.cuda(), W, 0.1, 1.0)
    assert torch.equal(W, before)
