"""Alternating A/B timing of the CPU chunk solver between csrc trees (one thread, no torch).

    git worktree add /tmp/before REV      # or any copy of a csrc tree
    python benchmarks/chunk_solver/ab.py --rounds 5 --cells 10000:16,64,256 10000:16,64:f64 \\
        -- /tmp/before/csrc csrc

Builds harness.cpp against each tree (the AVX-512 copy of the solver; needs g++ and an AVX-512
CPU; with --avx2 the AVX2 copy, which AVX2-only CPUs run), then runs the trees in turn, round
after round, and prints each cell's median time, its ratio to the first tree's, and whether the
results' checksums differ. Alternating spreads the machine's drifts over all trees; a single run
is not a measurement on a shared machine.
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"]


def build(csrc, out, avx2=False):
    csrc = os.path.abspath(csrc)
    flags = [f"-DCSRC={csrc}"]
    if avx2:
        flags.append("-DHARNESS_AVX2=1")
    elif os.path.exists(os.path.join(csrc, "cpu", "scratch_round_avx512.h")):
        flags.append("-DLASSONET_SCRATCH_ROUND_AVX512=1")
    subprocess.run(["g++", *FLAGS, *flags, os.path.join(HERE, "harness.cpp"), "-o", out], check=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--cells", nargs="+", default=["10000:16,64,256,1024", "10000:16,64,256,1024:f64"],
                   help="D:K1,K2,...[:f64]")
    p.add_argument("--stat", choices=["median", "p10"], default="median",
                   help="each run's median time, or its 10th percentile (less disturbed by a busy machine)")
    p.add_argument("--avx2", action="store_true",
                   help="time the AVX2 copy of the solver instead (what AVX2-only CPUs run; its 16 vector "
                        "registers spill where AVX-512's 32 do not)")
    p.add_argument("trees", nargs="+", help="csrc directories; the first is the baseline")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bins = []
        for i, tree in enumerate(args.trees):
            bins.append(os.path.join(tmp, f"tree{i}"))
            build(tree, bins[-1], args.avx2)
        times, sums = {}, {}
        for _ in range(args.rounds):
            for b, tree in zip(bins, args.trees):
                for cell in args.cells:
                    d, ks, *kind = cell.split(":")
                    out = subprocess.run([b, d, ks, "1" if kind == ["f64"] else "0"], check=True,
                                         capture_output=True, text=True).stdout
                    for line in out.splitlines():
                        m = re.match(r"(\S+) d=(\d+) K=(\d+)\s+([\d.]+) us\s+copy ([\d.]+) us\s+checksum (\S+)\s+p10 ([\d.]+) us", line)
                        key = (m[1], int(m[2]), int(m[3]))
                        times.setdefault((key, tree), []).append(float(m[4] if args.stat == "median" else m[7]))
                        sums.setdefault(key, set()).add(m[6])
    keys = sorted({k for k, _ in times})
    print("cell".ljust(22) + "".join(f"{'tree ' + str(i):>12}" for i in range(len(args.trees))) + "   ratios to tree 0")
    for key in keys:
        meds = [statistics.median(times[(key, t)]) for t in args.trees]
        flag = "" if len(sums[key]) == 1 else "   CHECKSUMS DIFFER"
        print(f"{key[0]} d={key[1]} K={key[2]}".ljust(22) + "".join(f"{m:12.1f}" for m in meds) + "   "
              + " ".join(f"{m / meds[0]:.3f}" for m in meds[1:]) + flag)
    for i, t in enumerate(args.trees):
        print(f"tree {i}: {t}")


if __name__ == "__main__":
    main()
