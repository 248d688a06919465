"""HIER-PROX speed: the native op vs the pure-torch reference vs a plain copy of theta + W.

The copy (``dst.copy_(src)`` for both tensors: every byte read and written once) is the memory
floor an in-place pass over the same data can approach. All three run side by side in one process
on the same tensors, so the ratios hold even where absolute times are noisy.

    python benchmarks/bench_prox.py                    # CPU, 2 threads, the full grid
    python benchmarks/bench_prox.py --device cuda      # on a GPU
    python benchmarks/bench_prox.py --quick            # a small grid, seconds
    python benchmarks/bench_prox.py --group-size 4     # the group op, random groups of 4 features

Each timed call starts from the same pristine inputs (restored untimed), because the prox changes
its inputs and a second call on its own output is a cheaper fixed point.
"""
import argparse
import platform
import statistics
import time

import torch

import lassonet_ext
from lassonet_ext import reference


def make_problem(K, d, m, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(m, d, generator=g, dtype=torch.float64)
    # W scaled so that roughly half of the features are clipped by the hierarchy at M = 1,
    # the regime the path spends its time in.
    W = torch.randn(K, d, generator=g, dtype=torch.float64) * 0.3
    return theta.to(dtype).to(device), W.to(dtype).to(device)


def timer(device):
    if device == "cuda":
        def timed(fn):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1e3
    else:
        def timed(fn):
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
    return timed


def measure(fn, restore, timed, budget_s, min_reps=3, max_reps=200):
    """Median seconds of fn() over repetitions, each after an untimed restore()."""
    restore()
    fn()  # warm-up
    times = []
    spent = 0.0
    while len(times) < min_reps or (spent < budget_s and len(times) < max_reps):
        restore()
        t = timed(fn)
        times.append(t)
        spent += t
    return statistics.median(times)


def run(args):
    device = args.device
    timed = timer(device)
    lam, M = 0.1, 1.0
    rows = []
    for dtype in args.dtypes:
        for d in args.ds:
            for K in args.Ks:
                theta0, W0 = make_problem(K, d, args.m, dtype, device)
                theta, W = theta0.clone(), W0.clone()
                dst_t, dst_W = torch.empty_like(theta), torch.empty_like(W)

                def restore():
                    theta.copy_(theta0)
                    W.copy_(W0)

                if args.group_size:
                    # A random partition into groups of group_size features (the last one smaller):
                    # the group op gathers its columns, as it must for groups from lassonet's lists.
                    perm = torch.randperm(d, generator=torch.Generator().manual_seed(1)).tolist()
                    groups = [perm[i:i + args.group_size] for i in range(0, d, args.group_size)]
                    ptr, feats = lassonet_ext.groups_to_csr(groups, d, device=device)

                    def op():
                        torch.ops.lassonet.hier_prox_group(theta, W, ptr, feats, lam, M, 0.0)

                    def ref():
                        reference.hier_prox_group_(theta, W, ptr, feats, lam, M, 0.0)
                else:
                    def op():
                        torch.ops.lassonet.hier_prox(theta, W, lam, M, 0.0)

                    def ref():
                        reference.hier_prox_(theta, W, lam, M, 0.0)

                def copy():
                    dst_t.copy_(theta)
                    dst_W.copy_(W)

                t_copy = measure(copy, restore, timed, args.budget)
                t_op = measure(op, restore, timed, args.budget)
                t_ref = measure(ref, restore, timed, args.budget, min_reps=1 if K * d >= 1e7 else 3)
                rows.append((str(dtype).replace("torch.", ""), d, K, t_op, t_ref, t_copy))
                print(f"{rows[-1][0]:8s} d={d:<7d} K={K:<5d} op {t_op*1e3:9.3f} ms  ref {t_ref*1e3:10.3f} ms  "
                      f"copy {t_copy*1e3:8.3f} ms  op/copy {t_op/t_copy:6.2f}  ref/op {t_ref/t_op:7.1f}",
                      flush=True)
    return rows


def markdown(rows, args):
    if args.device == "cuda":
        where = f"GPU: {torch.cuda.get_device_name()}"
    else:
        where = f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    op = (f"hier_prox_group, random groups of {args.group_size} features" if args.group_size
          else "hier_prox")
    lines = [
        f"{op}; torch {torch.__version__}, {where}, m = {args.m}, lam = 0.1, M = 1 (about half the features clipped).",
        "",
        "| dtype | d | K | op ms | reference ms | copy ms | op / copy | reference / op |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dt, d, K, t_op, t_ref, t_copy in rows:
        lines.append(f"| {dt} | {d:,} | {K} | {t_op*1e3:.3f} | {t_ref*1e3:.2f} | {t_copy*1e3:.3f} | "
                     f"{t_op/t_copy:.2f} | {t_ref/t_op:.1f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--m", type=int, default=1, help="rows of theta (outputs)")
    p.add_argument("--budget", type=float, default=0.3, help="seconds of timed calls per cell")
    p.add_argument("--quick", action="store_true", help="a small grid")
    p.add_argument("--group-size", type=int, default=0, help="time the group op on groups of this size")
    p.add_argument("--dtypes", default="float32,float64", help="comma-separated")
    p.add_argument("--ds", help="comma-separated feature counts (default 1000,10000,100000)")
    p.add_argument("--Ks", help="comma-separated hidden sizes (default 16,64,256,1024)")
    p.add_argument("--markdown", help="also write the table to this file")
    args = p.parse_args()
    assert lassonet_ext.HAS_NATIVE, "build the extension first: pip install --no-build-isolation ."
    torch.set_num_threads(args.threads)
    args.dtypes = [getattr(torch, name) for name in args.dtypes.split(",")]
    default_ds = [1000, 10000] if args.quick else [1000, 10_000, 100_000]
    default_Ks = [16, 64] if args.quick else [16, 64, 256, 1024]
    args.ds = [int(float(x)) for x in args.ds.split(",")] if args.ds else default_ds
    args.Ks = [int(x) for x in args.Ks.split(",")] if args.Ks else default_Ks
    rows = run(args)
    table = markdown(rows, args)
    print()
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(table + "\n")


if __name__ == "__main__":
    main()
