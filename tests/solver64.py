"""An independent float64 solver of the per-feature HIER-PROX problem, for the tests.

It shares nothing with the kernels or the reference: no sort, no active-set scan. It bisects on the
optimality condition in r = ||b||,
    g(r) = r - ||v|| + lam - M * sum_i max(s_i - M r, 0) = 0,   s_i = max(|w_i| - lam_bar, 0),
which is continuous and strictly increasing, then builds b and u from r.
"""
import numpy as np


def solve(theta, W, lam, M, lam_bar=0.0):
    """theta (m, d) or (d,), W (K, d) -> (theta_new, W_new) as float64 numpy arrays."""
    th = np.asarray(theta, dtype=np.float64)
    shape = th.shape
    th = th.reshape(-1, th.shape[-1])
    w = np.asarray(W, dtype=np.float64)
    m, d = th.shape
    s = np.maximum(np.abs(w) - lam_bar, 0.0)
    nv = np.linalg.norm(th, axis=0)

    def g(r):
        return r - nv + lam - M * np.maximum(s - M * r, 0.0).sum(axis=0)

    lo = np.zeros(d)
    hi = nv + M * s.sum(axis=0) + 1.0  # g(hi) > 0
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if np.all((mid == lo) | (mid == hi)):  # no float64 left between lo and hi
            break
        pos = g(mid) > 0
        hi = np.where(pos, mid, hi)
        lo = np.where(pos, lo, mid)
    r = np.where(g(np.zeros(d)) >= 0, 0.0, 0.5 * (lo + hi))
    direction = np.where(nv > 0, th / np.where(nv > 0, nv, 1.0), 1.0 / np.sqrt(m))
    th_new = direction * r
    w_new = np.sign(w) * np.minimum(s, M * r)
    return th_new.reshape(shape), w_new


def objective(theta0, W0, theta, W, lam, M, lam_bar=0.0):
    """Per-feature objective value (d,) of candidate (theta, W) for data (theta0, W0), float64."""
    th0 = np.asarray(theta0, np.float64).reshape(-1, np.shape(theta0)[-1])
    th = np.asarray(theta, np.float64).reshape(th0.shape)
    w0 = np.asarray(W0, np.float64)
    w = np.asarray(W, np.float64)
    return (
        0.5 * ((th - th0) ** 2).sum(0)
        + 0.5 * ((w - w0) ** 2).sum(0)
        + lam * np.linalg.norm(th, axis=0)
        + lam_bar * np.abs(w).sum(0)
    )


def violation(theta, W, M):
    """Per-feature amount by which ||W_j||_inf exceeds M ||theta_j||_2 (<= 0 when feasible)."""
    th = np.asarray(theta, np.float64).reshape(-1, np.shape(theta)[-1])
    w = np.asarray(W, np.float64)
    wmax = np.abs(w).max(axis=0) if w.shape[0] else np.zeros(w.shape[1])
    return wmax - M * np.linalg.norm(th, axis=0)


def solve_groups(theta, W, groups, lam, M, lam_bar=0.0):
    """Group problem: each group's theta entries (m x |G|) and W entries (all of W[:, G, ...]) as
    one vector each, solved by 1-D bisection per group. W may have trailing dimensions."""
    th = np.asarray(theta, dtype=np.float64)
    shape = th.shape
    th = th.reshape(-1, th.shape[-1]).copy()
    w = np.asarray(W, dtype=np.float64).copy()
    m = th.shape[0]
    for g in groups:
        v = th[:, g].reshape(-1)
        u = w[:, g].reshape(-1)
        s = np.maximum(np.abs(u) - lam_bar, 0.0)
        nv = np.linalg.norm(v)

        def gfun(r):
            return r - nv + lam - M * np.maximum(s - M * r, 0.0).sum()

        if gfun(0.0) >= 0:
            r = 0.0
        else:
            lo, hi = 0.0, nv + M * s.sum() + 1.0
            for _ in range(2000):
                mid = 0.5 * (lo + hi)
                if mid in (lo, hi):
                    break
                lo, hi = (lo, mid) if gfun(mid) > 0 else (mid, hi)
            r = 0.5 * (lo + hi)
        direction = v / nv if nv > 0 else (np.full_like(v, 1.0 / np.sqrt(v.size)) if v.size > 1 else np.ones_like(v))
        th[:, g] = (direction * r).reshape(m, len(g))
        w[:, g] = (np.sign(u) * np.minimum(s, M * r)).reshape(w[:, g].shape)
    return th.reshape(shape), w
