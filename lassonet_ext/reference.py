"""Pure-torch HIER-PROX: the paper's sort-and-scan, vectorised over features.

Used to check the native kernels (it shares no code with them) and as the fallback where the
extension is not built. It allocates several (K+1) x d temporaries, so it is much slower than the op.

``hier_prox`` returns new tensors and leaves its inputs alone; ``hier_prox_`` writes the result
back into ``theta`` and ``W`` in place, like ``torch.ops.lassonet.hier_prox``.
"""
from __future__ import annotations

import math
import numbers

import torch

__all__ = ["hier_prox", "hier_prox_", "hier_prox_group", "hier_prox_group_", "check_args", "check_groups"]

_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _check_scalar(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"hier_prox: {name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"hier_prox: {name} must be a finite number >= 0, got {value}")


def check_args(theta, W, lam, M, lam_bar):
    """The op's argument checks, in Python (the native op does the same in C++)."""
    for name, t in (("theta", theta), ("W", W)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"hier_prox: {name} must be a torch.Tensor, got {type(t).__name__}")
    for name, value in (("lam", lam), ("M", M), ("lam_bar", lam_bar)):
        _check_scalar(name, value)
    if W.dim() < 2:
        raise ValueError(
            "hier_prox: W must be a tensor of shape (K, d) or (K, d, ...) (a convolution's weight), "
            f"got shape {tuple(W.shape)}"
        )
    if theta.dim() not in (1, 2):
        raise ValueError(
            f"hier_prox: theta must be 1-D (d,) or 2-D (m, d), got shape {tuple(theta.shape)}"
        )
    if theta.shape[-1] != W.shape[1]:
        raise ValueError(
            "hier_prox: theta and W must have the same number of features d, got theta "
            f"{tuple(theta.shape)} and W {tuple(W.shape)}"
        )
    if theta.dim() == 2 and theta.shape[0] < 1:
        raise ValueError(f"hier_prox: theta must have at least one row, got shape {tuple(theta.shape)}")
    if theta.dtype not in _DTYPES:
        raise TypeError(f"hier_prox: theta must be float32, float64, float16 or bfloat16, got {theta.dtype}")
    if theta.dtype != W.dtype:
        raise TypeError(f"hier_prox: theta and W must have the same dtype, got {theta.dtype} and {W.dtype}")
    if theta.device != W.device:
        raise ValueError(
            f"hier_prox: theta and W must be on the same device, got {theta.device} and {W.device}"
        )


def check_groups(W, group_ptr, group_features):
    """hier_prox_group's extra checks, in Python (the native op does the same in C++)."""
    d = W.shape[1]
    for name, t in (("group_ptr", group_ptr), ("group_features", group_features)):
        if not isinstance(t, torch.Tensor) or t.dtype != torch.int64:
            raise TypeError(f"hier_prox_group: {name} must be an int64 tensor, got {getattr(t, 'dtype', type(t).__name__)}")
        if t.dim() != 1:
            raise ValueError(f"hier_prox_group: {name} must be 1-D, got shape {tuple(t.shape)}")
        if t.device != W.device:
            raise ValueError(f"hier_prox_group: {name} must be on theta's device {W.device}, got {t.device}")
    ptr, feats = group_ptr.cpu(), group_features.cpu()
    if ptr.numel() < 1:
        raise ValueError("hier_prox_group: group_ptr must have G + 1 >= 1 entries")
    if feats.numel() != d:
        raise ValueError(
            f"hier_prox_group: group_features must list each of the d = {d} features once, got {feats.numel()} entries"
        )
    if ptr[0] != 0 or ptr[-1] != d:
        raise ValueError(f"hier_prox_group: group_ptr must start at 0 and end at d = {d}, got {ptr[0]} and {ptr[-1]}")
    if (ptr[1:] < ptr[:-1]).any():
        raise ValueError("hier_prox_group: group_ptr must be non-decreasing")
    if d and (feats.min() < 0 or feats.max() >= d):
        raise ValueError(f"hier_prox_group: group_features must hold feature indices in [0, {d})")
    if d and torch.bincount(feats, minlength=d).max() > 1:
        raise ValueError("hier_prox_group: the groups must partition the features, but a feature appears twice")


def _prox_columns(th, w, lam, M, lam_bar, n_theta):
    """The sort-and-scan on columns: th (n, c), w (k, c); n_theta (c,) real theta entries per column
    (the rest is zero padding). Returns the new (th, w)."""
    work = th.dtype
    c = th.shape[1]
    K = w.shape[0]
    s = (w.abs() - lam_bar).clamp_min(0)  # lam_bar shrinks |W| first
    s_desc = torch.sort(s, dim=0, descending=True).values
    zero_row = torch.zeros(1, c, dtype=work, device=w.device)
    csum = torch.cat([zero_row, torch.cumsum(s_desc, dim=0)])  # (K+1, c): sum of the m largest
    counts = torch.arange(K + 1, dtype=work, device=w.device).unsqueeze(1)
    norm_v = torch.linalg.vector_norm(th, dim=0)
    # Candidate radius for each active-set size m = 0..K (the paper's w_m / M).
    r = (norm_v - lam + M * csum).clamp_min(0) / (1 + counts * M * M)
    s_next = torch.cat([s_desc, zero_row])  # the (m+1)-th largest, 0 past the end
    # The optimum's m is the first one whose next entry is not clipped (s_(m+1) <= M r_m).
    first_ok = (s_next <= M * r).to(torch.uint8).argmax(dim=0, keepdim=True)
    radius = r.gather(0, first_ok).squeeze(0)  # (c,)

    # theta_j = 0 entering: r spread evenly over its real entries, (1, ..., 1) / sqrt(n).
    real = torch.arange(th.shape[0], device=th.device).unsqueeze(1) < n_theta
    spread = real.to(work) / n_theta.to(work).clamp_min(1).sqrt()
    direction = torch.where(norm_v > 0, th / norm_v.where(norm_v > 0, 1), spread)
    th_new = direction * radius
    w_new = torch.sign(w) * torch.minimum(s, M * radius)
    # NaN policy: a feature with any inf/NaN becomes all NaN; the others are exact.
    bad = ~(torch.isfinite(th).all(0) & torch.isfinite(w).all(0))
    return th_new.masked_fill(bad, float("nan")), w_new.masked_fill(bad, float("nan"))


def _work_dtype(t):
    return torch.float64 if t.dtype == torch.float64 else torch.float32


@torch.no_grad()
def hier_prox(theta, W, lam, M, lam_bar=0.0):
    """Return ``(theta_new, W_new)``, the hierarchical proximal point of every feature.

    Same arguments as ``lassonet_ext.hier_prox``: ``W`` may be ``(K, d, ...)``, feature j owning all
    of ``W[:, j, ...]``. float16/bfloat16 compute in float32.
    """
    check_args(theta, W, lam, M, lam_bar)
    work = _work_dtype(theta)
    th = theta.to(work).reshape(-1, theta.shape[-1])  # (m, d)
    K, d = W.shape[:2]
    T = math.prod(W.shape[2:])
    w = W.to(work).reshape(K, d, T).transpose(1, 2).reshape(K * T, d)  # k-major
    n_theta = torch.full((d,), th.shape[0], device=th.device)
    th_new, w_new = _prox_columns(th, w, lam, M, lam_bar, n_theta)
    w_new = w_new.reshape(K, T, d).transpose(1, 2).reshape(W.shape)
    return th_new.reshape(theta.shape).to(theta.dtype), w_new.to(W.dtype)


@torch.no_grad()
def hier_prox_group(theta, W, group_ptr, group_features, lam, M, lam_bar=0.0):
    """Return ``(theta_new, W_new)`` with each group of features treated as one vector.

    Group g is features ``group_features[group_ptr[g]:group_ptr[g + 1]]``; its theta entries form one
    vector (norm ``||theta_G||_2``) and its W entries another (``||W_G||_inf <= M ||theta_G||_2``).
    Groups are padded with zeros to the largest one and solved together (zeros never enter the
    active set and do not change norms).
    """
    check_args(theta, W, lam, M, lam_bar)
    check_groups(W, group_ptr, group_features)
    work = _work_dtype(theta)
    th = theta.to(work).reshape(-1, theta.shape[-1])  # (m, d)
    m, d = th.shape
    K = W.shape[0]
    T = math.prod(W.shape[2:])
    w = W.to(work).reshape(K, d, T)
    sizes = group_ptr[1:] - group_ptr[:-1]
    G = sizes.numel()
    width = int(sizes.max()) if G and d else 0
    slot = torch.arange(width, device=th.device).unsqueeze(1)  # (width, 1)
    valid = slot < sizes  # (width, G): slot i of group g holds a feature
    feat = group_features[(group_ptr[:-1] + slot).clamp(max=max(d - 1, 0))] if d else slot.expand(width, G)
    th_g = torch.where(valid, th[:, feat], 0).reshape(m * width, G)  # (m, width, G)
    w_g = torch.where(valid.unsqueeze(-1), w[:, feat], 0)  # (K, width, G, T)
    w_g = w_g.transpose(2, 3).reshape(K * width * T, G)
    th_new, w_new = _prox_columns(th_g, w_g, lam, M, lam_bar, m * sizes)
    th_out, w_out = th.clone(), w.clone()
    th_out[:, feat[valid]] = th_new.reshape(m, width, G)[:, valid]
    w_out[:, feat[valid]] = w_new.reshape(K, width, T, G).transpose(2, 3)[:, valid]
    return th_out.reshape(theta.shape).to(theta.dtype), w_out.reshape(W.shape).to(W.dtype)


@torch.no_grad()
def hier_prox_(theta, W, lam, M, lam_bar=0.0):
    """In-place form of :func:`hier_prox`: writes into ``theta`` and ``W``, returns None."""
    th_new, w_new = hier_prox(theta, W, lam, M, lam_bar)
    theta.copy_(th_new)
    W.copy_(w_new)


@torch.no_grad()
def hier_prox_group_(theta, W, group_ptr, group_features, lam, M, lam_bar=0.0):
    """In-place form of :func:`hier_prox_group`."""
    th_new, w_new = hier_prox_group(theta, W, group_ptr, group_features, lam, M, lam_bar)
    theta.copy_(th_new)
    W.copy_(w_new)
