"""HIER-PROX op: exactness against an independent float64 solver, optimality, feasibility,
agreement with the pure-torch reference, and thread independence."""
import itertools
import os
import sys
import threading

import numpy as np
import pytest
import torch

import lassonet_ext
from lassonet_ext import reference
from solver64 import objective, solve, violation

TOL = {torch.float64: 1e-10, torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def test_native_op_is_built():
    assert lassonet_ext.HAS_NATIVE, lassonet_ext.ops.NATIVE_IMPORT_ERROR
    assert hasattr(torch.ops.lassonet, "hier_prox")


def run_op(theta, W, lam, M, lam_bar=0.0):
    th, w = theta.clone(), W.clone()
    torch.ops.lassonet.hier_prox(th, w, lam, M, lam_bar)
    return th, w


def feature_scale(theta, W, lam, lam_bar):
    """Per-feature magnitude of the problem's data, for relative tolerances."""
    th = theta.double().reshape(-1, theta.shape[-1]).cpu().numpy()
    w = W.double().cpu().numpy()
    wmax = np.abs(w).max(0) if w.shape[0] else 0.0
    return np.linalg.norm(th, axis=0) + wmax + lam + lam_bar + 1e-30


def assert_matches_solver(theta, W, lam, M, lam_bar, th_out, w_out):
    dtype = theta.dtype
    # The solver sees exactly the values the op saw (after rounding to the storage dtype).
    th_ref, w_ref = solve(theta.double().cpu().numpy(), W.double().cpu().numpy(), lam, M, lam_bar)
    scale = feature_scale(theta, W, lam, lam_bar)
    tol = TOL[dtype] * scale
    th_got = th_out.double().cpu().numpy().reshape(th_ref.shape)
    w_got = w_out.double().cpu().numpy()
    th_err = np.abs(th_got - th_ref).reshape(-1, th_ref.shape[-1]).max(0)
    w_err = np.abs(w_got - w_ref).max(0) if w_ref.shape[0] else np.zeros_like(scale)
    assert np.all(th_err <= tol), f"theta off by {th_err.max():.3g} (tol {tol.min():.3g})"
    assert np.all(w_err <= tol), f"W off by {w_err.max():.3g} (tol {tol.min():.3g})"
    # Feasible: ||W_j||_inf <= M ||theta_j||, up to rounding.
    assert np.all(violation(th_got, w_got, M) <= tol * (1 + M))
    # As good as the solver's point, up to rounding.
    f_got = objective(theta.double().cpu(), W.double().cpu(), th_got, w_got, lam, M, lam_bar)
    f_ref = objective(theta.double().cpu(), W.double().cpu(), th_ref, w_ref, lam, M, lam_bar)
    assert np.all(f_got <= f_ref + 10 * tol * scale)


def random_problem(m, K, d, dtype, device, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    theta = (torch.randn(m, d, generator=g, dtype=torch.float64) * scale).to(dtype)
    W = (torch.randn(K, d, generator=g, dtype=torch.float64) * scale * 2).to(dtype)
    if m == 1:
        theta = theta[0]
    return theta.to(device), W.to(device)


DTYPES = [torch.float64, torch.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "m,K,d", [(1, 1, 1), (1, 5, 40), (2, 9, 70), (3, 16, 100), (2, 17, 70), (1, 64, 257), (4, 300, 33), (10, 7, 50)]
)
@pytest.mark.parametrize(
    "lam,M,lam_bar",
    [(0.0, 1.0, 0.0), (0.3, 1.0, 0.0), (1.0, 10.0, 0.0), (0.5, 0.1, 0.0), (0.2, 2.0, 0.3), (2.0, 0.0, 0.0)],
)
def test_random_matches_float64_solver(device, dtype, m, K, d, lam, M, lam_bar):
    theta, W = random_problem(m, K, d, dtype, device, seed=m * 1000 + K)
    th, w = run_op(theta, W, lam, M, lam_bar)
    assert_matches_solver(theta, W, lam, M, lam_bar, th, w)


def adversarial_cases():
    """(name, theta (m,d) or (d,), W (K,d), lam, M, lam_bar) in float64."""
    t = torch.tensor
    cases = []
    # Ties in |W| (with mixed signs), some of them exactly at the clipping level.
    W = t([[1.0, -2.0, 3.0, 0.5], [-1.0, 2.0, 3.0, 0.5], [1.0, -2.0, -3.0, 0.5], [0.5, 2.0, 1.0, 0.5]])
    for M in (0.5, 1.0, 2.0):
        cases.append((f"ties M={M}", t([0.2, 1.0, -0.1, 0.0]), W, 0.1, M, 0.0))
    # theta = 1, W = (2, 2): the optimum clips both entries to exactly M r.
    cases.append(("tie at the bound", t([1.0]), t([[2.0], [2.0]]), 0.0, 1.0, 0.0))
    # Zeros: all-zero features, theta_j = 0 with large W (the feature enters from 0).
    cases.append(("all zero", torch.zeros(3, 5), torch.zeros(4, 5), 0.1, 1.0, 0.0))
    cases.append(("theta zero enters", torch.zeros(3, 4), t([[5.0, -4.0, 0.0, 1.0]] * 6), 0.1, 1.0, 0.0))
    cases.append(("theta zero enters m=1", torch.zeros(4), t([[5.0, -4.0, 0.0, 1.0]] * 6), 0.1, 1.0, 0.0))
    cases.append(("theta zero dies", torch.zeros(2, 3), t([[0.01, 0.02, 0.0]]), 1.0, 1.0, 0.0))
    cases.append(("W zero", t([[1.0, -2.0, 0.0]]), torch.zeros(5, 3), 0.5, 3.0, 0.0))
    # K = 1, d = 1.
    cases.append(("K=1 d=1", t([0.7]), t([[3.0]]), 0.2, 1.0, 0.0))
    cases.append(("K=1 d=1 m=3", t([[0.7], [-0.1], [0.2]]), t([[-3.0]]), 0.2, 0.5, 0.0))
    g = torch.Generator().manual_seed(7)
    th, W = torch.randn(2, 30, generator=g, dtype=torch.float64), torch.randn(20, 30, generator=g, dtype=torch.float64)
    # M = 0 (group lasso), tiny and huge M, lam = 0, lam so large everything dies, lam_bar > 0.
    for lam, M, lam_bar in [
        (0.5, 0.0, 0.0), (0.0, 0.0, 0.0), (0.5, 1e-6, 0.0), (0.5, 1e3, 0.0), (0.5, 1e6, 0.0),
        (0.0, 1.0, 0.0), (1e9, 1.0, 0.0), (0.1, 1.0, 0.5), (0.1, 1.0, 1e9), (0.0, 0.0, 0.7),
    ]:
        cases.append((f"lam={lam} M={M} lam_bar={lam_bar}", th, W, lam, M, lam_bar))
    # Values near 1e-6 and near 1e6 (thresholds scaled alike).
    for sc in (1e-6, 1e6):
        cases.append((f"scale {sc}", th * sc, W * sc, 0.3 * sc, 1.0, 0.1 * sc))
    # Geometric magnitudes: the worst case for active-set shrinking (one entry leaves per pass).
    geo = 2.0 ** -torch.arange(40, dtype=torch.float64)
    cases.append(("geometric", t([0.01, 0.02, 0.0]), geo[:, None].repeat(1, 3) * t([1.0, -1.0, 0.5]), 0.0, 1.0, 0.0))
    # A feature already feasible and lam = 0: unchanged.
    cases.append(("identity", t([[2.0, 3.0]]), t([[1.0, -2.0], [0.5, 3.0]]), 0.0, 1.0, 0.0))
    return cases


CASES = adversarial_cases()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_adversarial_matches_float64_solver(device, dtype, case):
    _, theta, W, lam, M, lam_bar = case
    theta, W = theta.to(dtype).to(device), W.to(dtype).to(device)
    th, w = run_op(theta, W, lam, M, lam_bar)
    assert_matches_solver(theta, W, lam, M, lam_bar, th, w)
    th_r, w_r = reference.hier_prox(theta, W, lam, M, lam_bar)
    assert_matches_solver(theta, W, lam, M, lam_bar, th_r, w_r)


def test_identity_is_bitwise(device):
    theta = torch.tensor([[2.0, 3.0]], device=device)
    W = torch.tensor([[1.0, -2.0], [0.5, 3.0]], device=device)
    th, w = run_op(theta, W, 0.0, 1.0)
    assert torch.equal(th, theta) and torch.equal(w, W)


def test_entering_feature_gets_even_direction(device):
    theta = torch.zeros(4, 1, dtype=torch.float64, device=device)
    W = torch.full((3, 1), 5.0, dtype=torch.float64, device=device)
    th, _ = run_op(theta, W, 0.1, 1.0)
    assert th.min() > 0
    torch.testing.assert_close(th, th[0].expand_as(th))


def test_m0_is_group_lasso(device):
    theta, W = random_problem(3, 8, 50, torch.float64, device)
    th, w = run_op(theta, W, 0.7, 0.0)
    norms = theta.norm(dim=0)
    expected = theta * ((norms - 0.7).clamp_min(0) / norms)
    torch.testing.assert_close(th, expected, rtol=1e-12, atol=1e-14)
    assert torch.count_nonzero(w) == 0


def test_optimality_under_feasible_perturbations():
    theta, W = random_problem(2, 12, 60, torch.float64, "cpu", seed=3)
    lam, M, lam_bar = 0.4, 1.5, 0.1
    th, w = run_op(theta, W, lam, M, lam_bar)
    f0 = objective(theta, W, th, w, lam, M, lam_bar)
    g = np.random.default_rng(0)
    for eps in (1e-2, 1e-4, 1e-6):
        for _ in range(20):
            tp = th.numpy() + eps * g.standard_normal(th.shape)
            wp = w.numpy() + eps * g.standard_normal(w.shape)
            bound = M * np.linalg.norm(tp, axis=0)
            wp = np.clip(wp, -bound, bound)  # project onto the constraint: stays feasible
            f1 = objective(theta, W, tp, wp, lam, M, lam_bar)
            assert np.all(f1 >= f0 - 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,K,d", [(1, 16, 1000), (3, 64, 500), (2, 1, 100), (1, 256, 40)])
def test_op_equals_reference(device, dtype, m, K, d):
    theta, W = random_problem(m, K, d, dtype, device, seed=11)
    for lam, M, lam_bar in [(0.2, 1.0, 0.0), (1.0, 5.0, 0.1), (0.0, 0.3, 0.0)]:
        th, w = run_op(theta, W, lam, M, lam_bar)
        th_r, w_r = reference.hier_prox(theta, W, lam, M, lam_bar)
        atol = 1e-12 if dtype == torch.float64 else 2e-5
        torch.testing.assert_close(th, th_r, rtol=10 * atol, atol=atol)
        torch.testing.assert_close(w, w_r, rtol=10 * atol, atol=atol)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_computes_in_float32(device, dtype):
    theta, W = random_problem(2, 32, 200, dtype, device, seed=5)
    th, w = run_op(theta, W, 0.3, 1.0, 0.05)
    assert th.dtype == dtype and w.dtype == dtype
    assert_matches_solver(theta, W, 0.3, 1.0, 0.05, th, w)


def test_threads_do_not_change_results_bitwise():
    # d = 5030: chunks and a few lone features (both CPU paths), split across threads
    theta, W = random_problem(3, 64, 5030, torch.float32, "cpu", seed=2)
    before = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3, 4):
            torch.set_num_threads(n)
            results.append(run_op(theta, W, 0.5, 2.0, 0.05))
    finally:
        torch.set_num_threads(before)
    for th, w in results[1:]:
        assert torch.equal(th, results[0][0]) and torch.equal(w, results[0][1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("K, m", [(5, 1), (16, 3), (40, 1), (100, 2)])
@pytest.mark.parametrize("lam_bar", [0.0, 0.05])
@pytest.mark.parametrize("M", [1.0, 0.3])
def test_feature_alone_equals_feature_among_others_bitwise(dtype, K, m, lam_bar, M):
    # d = 70: the CPU solves two chunks of adjacent features, then the 6 left over as a chunk of a
    # zero-padded copy (16 at K = 100: 4 chunks, 6 left over); a feature alone (d = 1) takes the
    # lone-feature path. Each feature's result must be the same, bit for bit, whichever path it took.
    # M = 1: 1 to 8 entries clipped per feature; M = 0.3 (K = 16): 42 of the 70 features have more
    # than 8, so chunks mix features whose first 8 candidates settle the radius with others.
    theta, W = random_problem(m, K, 70, dtype, "cpu", scale=0.5, seed=K + m)
    th, w = run_op(theta, W, 0.1, M, lam_bar)
    assert_matches_solver(theta, W, 0.1, M, lam_bar, th, w)
    for j in range(70):
        th_j, w_j = run_op(theta[..., j:j + 1], W[:, j:j + 1], 0.1, M, lam_bar)
        assert torch.equal(th_j, th[..., j:j + 1]) and torch.equal(w_j, w[:, j:j + 1]), j


def _thread_cpu_seconds():
    """CPU seconds (user + system) of each of this process's threads, by thread id (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        out[tid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux") or
                    "ATen parallel backend: OpenMP" not in torch.__config__.parallel_info(),
                    reason="per-thread CPU times from /proc; torch with OpenMP")
def test_cpu_kernel_runs_on_several_threads():
    # ATen's at::parallel_for is inline OpenMP code: an extension compiled without -fopenmp runs it
    # on one thread, silently (this package did, until this test). The split is static, so with
    # 2 threads the worker does about half of the work whatever the machine's load: count the CPU
    # time each thread spends in the op's calls (CPU time, not wall time, so not a timing test).
    theta, W = random_problem(1, 256, 20000, torch.float32, "cpu", seed=3)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        th, w = theta.clone(), W.clone()
        main = str(threading.get_native_id())
        start = _thread_cpu_seconds()
        for _ in range(40):
            np.copyto(th.numpy(), theta.numpy())  # numpy's copy: no torch worker threads involved
            np.copyto(w.numpy(), W.numpy())
            torch.ops.lassonet.hier_prox(th, w, 0.5, 2.0, 0.0)
        end = _thread_cpu_seconds()
    finally:
        torch.set_num_threads(before)
    spent = {tid: end[tid] - start.get(tid, 0.0) for tid in end}
    workers = sum(s for tid, s in spent.items() if tid != main)
    assert spent[main] > 0.05, spent  # enough ticks to compare (the clock ticks at 10 ms)
    assert workers > 0.3 * spent[main], spent


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", [5, 11, 16, 17, 40, 64, 65, 300])
def test_cpu_paths_agree_bitwise(dtype, K):
    # The CPU kernel solves chunks of adjacent features and lone features by different loops (and
    # only the lone-feature search stops early on the set's smallest entry).
    # Column-major W sends every feature down the lone-feature path: the results must not change.
    theta, W = random_problem(2, K, 64 * 3 + 16 * 2 + 5, dtype, "cpu", seed=K)
    for lam, M, lam_bar in [(0.2, 1.0, 0.0), (0.5, 2.0, 0.05), (0.05, 0.1, 0.0)]:
        th, w = run_op(theta, W, lam, M, lam_bar)
        th_c, w_c = run_op(theta, W.t().contiguous().t(), lam, M, lam_bar)
        assert torch.equal(th, th_c) and torch.equal(w, w_c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", [16, 64])
def test_chunks_of_a_large_W_agree_bitwise(dtype, K):
    # From 16 MB of W on, the sorted chunks prefetch the next chunk's rows into L2 rather than L1
    # (kSortedPrefetchToL2MinBytes): another load loop, which must give the same bits. Each
    # feature's result depends on its own column only, so the first features of a large W must
    # come out as they do from a W of just those columns.
    d = (16 << 20) // (K * torch.finfo(dtype).bits // 8) + 37
    theta, W = random_problem(2, K, d, dtype, "cpu", seed=K)
    for lam, M, lam_bar in [(0.2, 1.0, 0.0), (0.05, 0.1, 0.05)]:
        th, w = run_op(theta, W, lam, M, lam_bar)
        th_s, w_s = run_op(theta[:, :1000].contiguous(), W[:, :1000].contiguous(), lam, M, lam_bar)
        assert torch.equal(th[:, :1000], th_s) and torch.equal(w[:, :1000], w_s)
        assert not torch.equal(w, W)  # (the prox did change W)


@pytest.mark.parametrize("dtype", DTYPES + [torch.float16])
@pytest.mark.parametrize("row_bytes", [8192, 10240], ids=["rows_8KB_apart", "rows_10KB_apart"])
@pytest.mark.parametrize("K", [9, 16, 40, 64, 256])
def test_rows_a_multiple_of_2KB_apart_agree_bitwise(dtype, K, row_bytes):
    # Rows a multiple of 4 KB apart (or an odd multiple of 2 KB) fall on one (two) of L1's sets, and
    # there the sorted chunks are solved in blocks of 8 whose W rows are written afterwards, row by
    # row across the block (rows_crowd_l1_sets: 8 KB from K = 9 on, 10 KB from K = 17 on): another
    # write loop, which must give the bits of the lone-feature path (column-major W) and of the
    # same features with rows 2000 to 8000 bytes apart. W is a view of d = 1000 columns of wider
    # rows (31 chunks of 32 features: the last block of 8 partial; 8 left over for the tail chunk),
    # solved on 1 and 2 threads (from K = 40 on the op splits the chunks between 2 threads, each
    # share in blocks of its own; below, one thread takes them all).
    d, wide = 1000, row_bytes // torch.finfo(dtype).bits * 8
    theta, W = random_problem(2, K, d, dtype, "cpu", scale=0.5, seed=K)
    W[:, 5] = float("nan")
    before = torch.get_num_threads()
    try:
        for threads, (lam, M, lam_bar) in itertools.product((1, 2), [(0.2, 1.0, 0.0), (0.05, 0.3, 0.05)]):
            torch.set_num_threads(threads)
            th_c, w_c = run_op(theta, W.t().contiguous().t(), lam, M, lam_bar)
            th_d, w_d = run_op(theta, W, lam, M, lam_bar)
            th = theta.clone()
            w = torch.zeros(K, wide, dtype=dtype)[:, :d]
            w.copy_(W)
            assert w.stride() == (wide, 1)
            torch.ops.lassonet.hier_prox(th, w, lam, M, lam_bar)
            for a, b in ((th, th_c), (w, w_c), (th, th_d), (w, w_d)):
                assert torch.equal(_bits(a), _bits(b)), (threads, lam, M, lam_bar)
            assert not torch.equal(w.nan_to_num(), W.nan_to_num())  # (the prox did change W)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", [17, 40, 64, 100, 256])
def test_sorted_top_16_hands_crowded_features_to_the_search(dtype, K):
    # From 17 to 64 entries (to 256 for float32, in chunks of the build's full width) the CPU sorts
    # only the 16 largest and keeps that radius where it is provably the optimum; features with
    # more than 16 active entries (theta_j near 0, entries of one size, a small M) take the
    # search's, in chunks and alone. Every chunk below mixes such features with ordinary ones, dying
    # ones whose entries are all nonzero (exact without the search) and a non-finite one.
    g = torch.Generator().manual_seed(K)
    d = 32 * 4 + 7
    theta = torch.randn(1, d, generator=g, dtype=torch.float64)
    W = torch.randn(K, d, generator=g, dtype=torch.float64) * 0.3
    crowded = torch.arange(0, d, 3)
    theta[:, crowded] *= 1e-3
    W[:, crowded] = W[:, crowded].sign() * (1.0 + 0.01 * torch.rand(K, len(crowded), generator=g, dtype=torch.float64))
    dying = torch.arange(1, d, 7)
    theta[:, dying], W[:, dying] = 1e-3, 1e-4 * W[:, dying].sign()
    theta[:, 5], W[3, 5] = float("nan"), 1.0
    theta, W = theta.to(dtype), W.to(dtype)
    finite = torch.ones(d, dtype=torch.bool)
    finite[5] = False
    for lam, M, lam_bar in [(0.05, 0.1, 0.0), (0.01, 0.3, 0.0), (0.05, 0.2, 0.05), (0.1, 0.0, 0.0)]:
        th, w = run_op(theta, W, lam, M, lam_bar)
        th_c, w_c = run_op(theta, W.t().contiguous().t(), lam, M, lam_bar)
        assert torch.equal(_bits(th), _bits(th_c)) and torch.equal(_bits(w), _bits(w_c)), (lam, M, lam_bar)
        assert torch.isnan(th[:, 5]).all() and torch.isnan(w[:, 5]).all()
        assert_matches_solver(theta[:, finite], W[:, finite], lam, M, lam_bar, th[:, finite], w[:, finite])
        if M > 0:  # (the crowded features hold more than 16 active entries)
            active = (w[:, crowded].abs() >= M * th[:, crowded].abs() * (1 - 1e-4)) & (w[:, crowded] != 0)
            assert (active.sum(0) > 16).float().mean() > 0.5, active.sum(0)


def _bits(t):
    return t.view({8: torch.int64, 4: torch.int32, 2: torch.int16}[t.element_size()])


@pytest.mark.parametrize("dtype", DTYPES + [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("m", [1, 2, 5])
def test_cpu_paths_agree_bitwise_on_special_columns(dtype, m):
    # The chunk solver takes theta's norms, the search's start and theta's update for a whole chunk
    # at once, without branches; the lone-feature path (column-major W) branches per feature. Both
    # must give the same bits in every case: a dead feature, theta_j = 0 with W_j != 0 (entering
    # features get r spread evenly), inf/NaN (the feature becomes NaN), squares that overflow
    # (the scaled norm), a feature with no entry clipped, and random ones.
    theta, W = random_problem(m, 16, 16 * 4 + 3, dtype, "cpu", seed=m)
    big = torch.finfo(dtype).max / 4
    theta[..., 1], W[:, 1] = 0, 0
    theta[..., 2] = 0
    theta[..., 3] = float("nan")
    W[0, 4] = float("inf")
    theta[..., 5] = big if m == 1 else torch.linspace(-big, big, m, dtype=dtype)
    theta[..., 6], W[:, 6] = 50.0, 0.01
    theta[..., 20 + m] = -float("inf")
    for lam, M, lam_bar in [(0.2, 1.0, 0.0), (0.5, 2.0, 0.05), (0.05, 0.1, 0.0), (3.0, 10.0, 0.0)]:
        th, w = run_op(theta, W, lam, M, lam_bar)
        th_c, w_c = run_op(theta, W.t().contiguous().t(), lam, M, lam_bar)
        assert torch.equal(_bits(th), _bits(th_c)) and torch.equal(_bits(w), _bits(w_c)), (lam, M, lam_bar)
        assert torch.isnan(th[..., 3]).all() and torch.isnan(w[:, 4]).all()
        assert torch.isnan(th[..., 20 + m]).all()
        assert torch.isfinite(th[..., 5]).all() and (th[..., 5] != 0).any()  # (the scaled norm)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", [9, 16, 40, 64, 256])
def test_cpu_paths_agree_bitwise_where_sums_decide(dtype, K):
    # Where the sorted chunks' keys sort as integers, they skip the sums of |W_j| and take them only
    # where a lane needs them: where its largest entry could make the sum overflow (the feature is
    # then NaN if it does, by the NaN/inf policy) and, beyond 16 entries, where only the sum can
    # show that a feature dies. Each case, and its neighbour just on the other side, must give the
    # lone-feature path's bits. (Chunks are 8 to 32 features wide: a case every 40 columns.)
    theta, W = random_problem(1, K, 40 * 8 + 5, dtype, "cpu", seed=K)
    big = torch.finfo(dtype).max
    W[:, 0] = big / 4  # the sum overflows: NaN
    W[:, 40] = big / (1.5 * K)  # 2K max|W_j| overflows, the sum does not: finite
    W[:, 41] = big / (3 * K)  # far from overflowing
    W[1, 80] = float("nan")  # non-finite entries, one per feature
    W[K - 1, 120] = float("inf")
    theta[160], W[:, 160] = 0.01, 1e-6  # dies with every entry nonzero: only the sum shows it
    theta[200], W[:, 200] = 0.01, 0.3 / K  # does not die at lam = 0.2 (0.3 M > lam - 0.01)
    theta[240], W[: K // 2, 240] = 0.0, 0.0  # half zero
    for lam, M, lam_bar in [(0.2, 1.0, 0.0), (0.05, 0.5, 0.0), (0.2, 1.0, 1e-7)]:
        th, w = run_op(theta, W, lam, M, lam_bar)
        th_c, w_c = run_op(theta, W.t().contiguous().t(), lam, M, lam_bar)
        assert torch.equal(_bits(th), _bits(th_c)) and torch.equal(_bits(w), _bits(w_c)), (lam, M, lam_bar)
        for j in (0, 80, 120):
            assert torch.isnan(th[j]) and torch.isnan(w[:, j]).all(), j
        assert torch.isfinite(th[40]) and torch.isfinite(w[:, 40:42]).all()
        if lam == 0.2:
            assert th[160] == 0 and (w[:, 160] == 0).all()
            assert th[200] != 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize("K", [128, 300, 1024])
def test_cpu_paths_agree_bitwise_where_rows_are_skipped(dtype, m, K):
    # From K = 128 the AVX-512 chunk solver writes back only the rows its search rounds kept (with
    # lam_bar = 0 the others cannot change), except in chunks with a lane whose every row changes:
    # a non-finite feature (all NaN, even with W_j = 0) or one that dies with W_j != 0. Those and
    # the ordinary cases must give the lone-feature path's bits.
    # ||theta_j|| ~ 1, W ~ N(0, 0.3^2): about half the features are clipped, each in few entries,
    # so that most rows are skipped
    theta, W = random_problem(m, K, 16 * 4 + 3, dtype, "cpu", seed=K + m)
    theta /= m ** 0.5
    W *= 0.15
    # (Chunks are 8 or 16 features wide here: each kind of lane below sits in its own chunk.)
    theta[..., 1], W[:, 1] = float("nan"), 0.0  # not finite, nothing to clip
    theta[..., 2], W[:, 2] = float("inf"), 0.0
    theta[..., 4], W[:, 4] = 50.0, 0.01  # no entry clipped
    theta[..., 6] = 0.0  # enters
    theta[..., 20], W[:, 20] = 0.01, 1e-6  # dies: every entry becomes 0
    theta[..., 40] = float("nan")
    for lam, M, lam_bar in [(0.1, 1.0, 0.0), (0.3, 1.0, 0.0), (0.02, 0.5, 0.0), (0.05, 1.0, 0.01)]:
        th, w = run_op(theta, W, lam, M, lam_bar)
        th_c, w_c = run_op(theta, W.t().contiguous().t(), lam, M, lam_bar)
        assert torch.equal(_bits(th), _bits(th_c)) and torch.equal(_bits(w), _bits(w_c)), (lam, M)
        for j in (1, 2, 40):
            assert torch.isnan(th[..., j]).all() and torch.isnan(w[:, j]).all(), j
        assert (w[:, 20] == 0).all() and (th[..., 20] == 0).all()
        if lam_bar == 0:
            assert torch.equal(w[:, 4], W[:, 4])
        assert ((w != W) & ~torch.isnan(w)).any(dim=0).sum() >= 10  # (features were clipped)


def test_non_contiguous_inputs_are_written_in_place(device):
    theta, W = random_problem(3, 20, 64, torch.float64, device, seed=9)
    expected = run_op(theta, W, 0.3, 1.0, 0.05)
    # Transposed storage: the op must write back into these very tensors.
    th_t = theta.t().contiguous().t()
    w_t = W.t().contiguous().t()
    assert not th_t.is_contiguous() and not w_t.is_contiguous()
    lassonet_ext.hier_prox(th_t, w_t, 0.3, 1.0, 0.05)
    assert torch.equal(th_t, expected[0]) and torch.equal(w_t, expected[1])
    # Column slices of bigger tensors.
    big_t = torch.zeros(3, 128, dtype=torch.float64, device=device)
    big_w = torch.zeros(20, 128, dtype=torch.float64, device=device)
    big_t[:, ::2] = theta
    big_w[:, ::2] = W
    lassonet_ext.hier_prox(big_t[:, ::2], big_w[:, ::2], 0.3, 1.0, 0.05)
    assert torch.equal(big_t[:, ::2], expected[0]) and torch.equal(big_w[:, ::2], expected[1])
    assert torch.count_nonzero(big_t[:, 1::2]) == 0 and torch.count_nonzero(big_w[:, 1::2]) == 0


@pytest.mark.parametrize("K,d", [(0, 5), (4, 0), (0, 0)])
def test_empty_dimensions(device, K, d):
    theta = torch.randn(2, d, dtype=torch.float64, device=device)
    W = torch.randn(K, d, dtype=torch.float64, device=device)
    th, w = run_op(theta, W, 0.5, 1.0)
    assert th.shape == theta.shape and w.shape == W.shape
    if d:  # K = 0: no hidden units, so the prox is the group lasso on theta
        norms = theta.norm(dim=0)
        torch.testing.assert_close(th, theta * ((norms - 0.5).clamp_min(0) / norms))


def test_nan_and_inf_policy(device):
    theta, W = random_problem(2, 8, 10, torch.float64, device, seed=4)
    theta[0, 1] = float("nan")
    W[3, 4] = float("inf")
    W[0, 7] = float("-inf")
    th, w = run_op(theta, W, 0.3, 1.0)
    bad = [1, 4, 7]
    good = [j for j in range(10) if j not in bad]
    assert torch.isnan(th[:, bad]).all() and torch.isnan(w[:, bad]).all()
    th_ref, w_ref = solve(theta[:, good].cpu().numpy(), W[:, good].cpu().numpy(), 0.3, 1.0)
    np.testing.assert_allclose(th[:, good].cpu().numpy(), th_ref, atol=1e-10)
    np.testing.assert_allclose(w[:, good].cpu().numpy(), w_ref, atol=1e-10)
    th_r, w_r = reference.hier_prox(theta, W, 0.3, 1.0)
    torch.testing.assert_close(th_r, th, equal_nan=True)
    torch.testing.assert_close(w_r, w, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("K", [5, 16, 40, 100])
@pytest.mark.parametrize("lam_bar", [0.0, 0.05])
def test_non_finite_features_among_chunked_ones(device, dtype, K, lam_bar):
    # d = 96: the CPU solves the features in chunks of adjacent ones, vectorised across them; a
    # non-finite feature turns all its outputs to NaN and leaves its chunk's other features exactly
    # as they are without it (here: with that feature zeroed instead).
    theta, W = random_problem(1, K, 96, dtype, device, scale=0.5, seed=K)
    bad = {3: ("W", float("nan")), 20: ("W", float("inf")), 33: ("theta", float("nan")),
           47: ("W", float("-inf"))}
    clean_theta, clean_W = theta.clone(), W.clone()
    for j, (where, value) in bad.items():
        (theta[j:j + 1] if where == "theta" else W[K // 2, j:j + 1]).fill_(value)
        clean_theta[j], clean_W[:, j] = 0.0, 0.0
    th, w = run_op(theta, W, 0.1, 1.0, lam_bar)
    th_clean, w_clean = run_op(clean_theta, clean_W, 0.1, 1.0, lam_bar)
    cols = list(bad)
    good = [j for j in range(96) if j not in bad]
    assert torch.isnan(th[cols]).all() and torch.isnan(w[:, cols]).all()
    assert torch.equal(th[good], th_clean[good]) and torch.equal(w[:, good], w_clean[:, good])


def test_large_finite_theta_does_not_overflow():
    # Squares of 1e30 overflow float32; the norm is rescaled rather than declared non-finite.
    theta = torch.tensor([[1e30], [1e30]], dtype=torch.float32)
    W = torch.tensor([[1.0]], dtype=torch.float32)
    th, w = run_op(theta, W, 0.0, 1.0)
    assert torch.isfinite(th).all() and torch.equal(th, theta) and torch.equal(w, W)


@pytest.mark.parametrize("K", [3, 16, 40])
@pytest.mark.parametrize("column_major", [False, True], ids=["chunks", "lone"])
def test_feasible_point_is_left_alone_bitwise(K, column_major):
    # With one output (theta_j = +-r exactly) the op's output is feasible to the last bit, so a
    # second call at lam = 0 must leave it exactly as it is: for K <= 16 (sorted prefixes) as
    # for the search. The feature's every shortcut counts: no entry clipped means r = ||theta_j||.
    theta, W = random_problem(1, K, 200, torch.float32, "cpu", seed=K)
    if column_major:
        W = W.t().contiguous().t()
    for M in (0.5, 1.0, 3.0):
        th, w = theta.clone(), W.clone()
        torch.ops.lassonet.hier_prox(th, w, 0.3, M, 0.0)
        th2, w2 = th.clone(), w.clone()
        torch.ops.lassonet.hier_prox(th2, w2, 0.0, M, 0.0)
        assert torch.equal(th2, th) and torch.equal(w2, w), M


@pytest.mark.parametrize("lam,M", list(itertools.product([0.0, 0.05, 0.5], [0.5, 3.0])))
def test_prox_is_idempotent_on_its_output(device, lam, M):
    theta, W = random_problem(2, 10, 80, torch.float64, device, seed=6)
    th, w = run_op(theta, W, lam, M)
    th2, w2 = run_op(th, w, 0.0, M)  # already feasible: lam = 0 leaves it alone
    torch.testing.assert_close(th2, th, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(w2, w, rtol=1e-12, atol=1e-14)
