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

__all__ = ["hier_prox", "hier_prox_", "check_args"]

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
    if W.dim() != 2:
        raise ValueError(f"hier_prox: W must be a 2-D tensor of shape (K, d), got shape {tuple(W.shape)}")
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


@torch.no_grad()
def hier_prox(theta, W, lam, M, lam_bar=0.0):
    """Return ``(theta_new, W_new)``, the hierarchical proximal point of every feature.

    Same arguments as ``lassonet_ext.hier_prox``. float16/bfloat16 compute in float32.
    """
    check_args(theta, W, lam, M, lam_bar)
    out_dtype = theta.dtype
    work = torch.float64 if out_dtype == torch.float64 else torch.float32
    th = theta.to(work).reshape(-1, theta.shape[-1])  # (m, d)
    w = W.to(work)  # (K, d)
    m, d = th.shape
    K = w.shape[0]

    s = (w.abs() - lam_bar).clamp_min(0)  # lam_bar shrinks |W| first
    s_desc = torch.sort(s, dim=0, descending=True).values
    zero_row = torch.zeros(1, d, dtype=work, device=w.device)
    csum = torch.cat([zero_row, torch.cumsum(s_desc, dim=0)])  # (K+1, d): sum of the m largest
    counts = torch.arange(K + 1, dtype=work, device=w.device).unsqueeze(1)
    norm_v = torch.linalg.vector_norm(th, dim=0)
    # Candidate radius for each active-set size m = 0..K (the paper's w_m / M).
    r = (norm_v - lam + M * csum).clamp_min(0) / (1 + counts * M * M)
    s_next = torch.cat([s_desc, zero_row])  # the (m+1)-th largest, 0 past the end
    # The optimum's m is the first one whose next entry is not clipped (s_(m+1) <= M r_m).
    first_ok = (s_next <= M * r).to(torch.uint8).argmax(dim=0, keepdim=True)
    radius = r.gather(0, first_ok).squeeze(0)  # (d,)

    direction = torch.where(norm_v > 0, th / norm_v.where(norm_v > 0, 1), 1 / math.sqrt(m))
    th_new = direction * radius
    w_new = torch.sign(w) * torch.minimum(s, M * radius)
    # NaN policy: a feature with any inf/NaN becomes all NaN; the others are exact.
    bad = ~(torch.isfinite(th).all(0) & torch.isfinite(w).all(0))
    th_new = th_new.masked_fill(bad, float("nan"))
    w_new = w_new.masked_fill(bad, float("nan"))
    return th_new.reshape(theta.shape).to(out_dtype), w_new.to(out_dtype)


@torch.no_grad()
def hier_prox_(theta, W, lam, M, lam_bar=0.0):
    """In-place form of :func:`hier_prox`: writes into ``theta`` and ``W``, returns None."""
    th_new, w_new = hier_prox(theta, W, lam, M, lam_bar)
    theta.copy_(th_new)
    W.copy_(w_new)
