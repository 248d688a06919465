"""The CPU op's chunks run an AVX-512 build where the CPU has AVX-512, an AVX2 build where it has
AVX2, and the baseline build elsewhere; LASSONET_CPU_CAPABILITY=avx2 or =default asks for a
narrower one. All must give the same bits: same operations lane by lane, no FMA contraction. Each
setting runs in its own process (the choice is made once)."""
import os
import pathlib
import subprocess
import sys

import pytest
import torch

import lassonet_ext

pytestmark = pytest.mark.skipif(not lassonet_ext.HAS_NATIVE, reason="the native op is not built")

RUN = r"""
import sys, torch, lassonet_ext
out = []
for dtype in (torch.float32, torch.float64):
    # chunk widths 8 to 32 (by build, dtype and K); d not a multiple of them; m > 1; lam_bar > 0;
    # M = 0; huge M; a NaN feature; theta = 0 entering; K <= 16 (sorted prefixes) padded to 16;
    # K = 48 with M = 0.15 (more than 16 active entries: most features take the search)
    for K, d, m, lam, M, lam_bar in ((16, 1000, 1, 0.1, 1.0, 0.0), (256, 3001, 1, 0.1, 1.0, 0.0),
                                     (64, 517, 3, 0.3, 2.0, 0.05), (1024, 250, 1, 0.05, 0.5, 0.01),
                                     (100, 160, 2, 1e-3, 1e3, 0.0), (7, 64, 1, 0.5, 0.0, 0.0),
                                     (11, 300, 2, 0.2, 1.5, 0.05), (48, 200, 1, 0.01, 0.15, 0.0)):
        g = torch.Generator().manual_seed(K + d)
        theta = torch.randn(m, d, generator=g, dtype=torch.float64).to(dtype)
        W = (torch.randn(K, d, generator=g, dtype=torch.float64) * 0.3).to(dtype)
        W[:, 5] = float("nan")
        theta[:, 9] = 0.0
        lassonet_ext.hier_prox(theta, W, lam, M, lam_bar)
        out += [theta, W]
torch.save(out, sys.argv[1])
"""


def outputs(tmp_path, capability):
    env = dict(os.environ)
    env.pop("LASSONET_CPU_CAPABILITY", None)
    if capability is not None:
        env["LASSONET_CPU_CAPABILITY"] = capability
    path = tmp_path / f"{capability}.pt"
    subprocess.run([sys.executable, "-c", RUN, str(path)], env=env, check=True)
    return torch.load(path)


def cpu_flags():
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    return set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()


AVX512 = {"avx512f", "avx512vl", "avx512bw", "avx512dq"}


# None: the widest build this CPU has, which is the AVX2 one's case where it lacks AVX-512
@pytest.mark.parametrize("capability, needs", [("avx2", {"avx2"}), (None, AVX512)], ids=["avx2", "avx512"])
def test_wider_chunks_equal_the_baseline_bit_for_bit(tmp_path, capability, needs):
    if not needs <= cpu_flags():
        pytest.skip(f"this CPU lacks {', '.join(sorted(needs - cpu_flags()))}")
    wide, baseline = outputs(tmp_path, capability), outputs(tmp_path, "default")
    assert len(wide) == len(baseline) == 32
    for a, b in zip(wide, baseline):
        assert torch.equal(a.isnan(), b.isnan())
        assert torch.equal(a.nan_to_num(nan=0.0), b.nan_to_num(nan=0.0))
    assert any(t.isnan().any() for t in wide)  # the NaN feature went through


def test_avx2_and_avx512_chunks_agree_bit_for_bit(tmp_path):
    if not (AVX512 | {"avx2"}) <= cpu_flags():
        pytest.skip("this CPU lacks AVX-512")
    for a, b in zip(outputs(tmp_path, "avx2"), outputs(tmp_path, None)):
        assert torch.equal(a.isnan(), b.isnan())
        assert torch.equal(a.nan_to_num(nan=0.0), b.nan_to_num(nan=0.0))
