"""How many active-set passes the header's search needs per feature, and what lane splits cost.

Replays csrc/hier_prox.h's search (Condat's online start, then Michelot-style passes that stop
when the set repeats or its smallest entry stays above the new bound) in numpy, on the problem
that bench_prox.py times (theta ~ N(0, 1), W ~ 0.3 N(0, 1), lam = 0.1, M = 1). `lanes` splits a
feature's entries as the CUDA kernel does (lane l runs the online start on entries l, l + lanes,
...; the start is the largest lane's bound). A warp whose features need different numbers of
passes runs as many as its slowest feature: the "slowest of 32 / 16" columns show that cost for a
thread per feature on the GPU (K <= 64: 32 features per warp) and the CPU kernel's 16-feature
chunks (vectorised across features, a chunk runs until its last feature is done).

    python benchmarks/search_passes.py
"""
import numpy as np


def online_start(s, base, M):
    num, den = base, 1.0
    for x in s:  # Condat's filter: join the running set when above its clipping level
        if x * den > M * num:
            num, den = num + M * x, den + M * M
    return max(num / den, 0.0)


def n_passes(norm_v, w, lam, M, lanes):
    s = np.abs(w)
    base = norm_v - lam
    if base + M * s.sum() <= 0 or (base > 0 and M * base >= s.max()):
        return 0  # the feature dies, or no entry is clipped: no pass
    lower = max(online_start(s[lane::lanes], base, M) for lane in range(lanes))
    r = max(lower, max((base + M * s[s > 0].sum()) / (1 + (s > 0).sum() * M * M), 0.0))
    last, n = -1, 0
    while True:
        active = s > M * r
        n += 1
        count = int(active.sum())
        if count == last:
            return n
        r = max(r, (base + M * s[active].sum()) / (1 + count * M * M))
        last = count
        if (s[active].min() if count else np.inf) > M * r:
            return n


def main(n_features=2048, lam=0.1, M=1.0, seed=0):
    rng = np.random.default_rng(seed)
    print("| K | lanes | features with no pass | mean passes | max | slowest of 32, mean | slowest of 16, mean |")
    print("|---|---|---|---|---|---|---|")
    for K in (16, 64, 256, 1024):
        for lanes in (1,) if K <= 64 else (1, 8, 32):
            n = np.array([n_passes(abs(rng.standard_normal()), 0.3 * rng.standard_normal(K), lam, M, lanes)
                          for _ in range(n_features)])
            slowest = [n.reshape(-1, g).max(axis=1).mean() for g in (32, 16)]
            print(f"| {K} | {lanes} | {np.mean(n == 0):.0%} | {n.mean():.2f} | {n.max()} | "
                  f"{slowest[0]:.2f} | {slowest[1]:.2f} |")


if __name__ == "__main__":
    main()
