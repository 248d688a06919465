"""The native HIER-PROX op: loading, the Python wrapper and the fake (meta) kernel."""
from __future__ import annotations

import warnings

import torch

from . import reference

__all__ = ["hier_prox", "HAS_NATIVE"]

try:
    from . import _C  # noqa: F401  (loading it registers torch.ops.lassonet.*)

    HAS_NATIVE = True
    NATIVE_IMPORT_ERROR = None
except ImportError as exc:  # a source checkout that was not built, or a broken build
    HAS_NATIVE = False
    NATIVE_IMPORT_ERROR = exc


if HAS_NATIVE:

    @torch.library.register_fake("lassonet::hier_prox")
    def _hier_prox_fake(theta, W, lam, M, lam_bar=0.0):
        # Shapes only: the op mutates its inputs and returns nothing.
        torch._check(W.dim() == 2, lambda: f"W must be 2-D (K, d), got {W.dim()}-D")
        torch._check(theta.dim() in (1, 2), lambda: f"theta must be 1-D or 2-D, got {theta.dim()}-D")
        torch._check(theta.shape[-1] == W.shape[1], lambda: "theta and W must have the same d")
        torch._check(theta.dtype == W.dtype, lambda: "theta and W must have the same dtype")
        return None


_warned_fallback = False


def hier_prox(theta: torch.Tensor, W: torch.Tensor, lam: float, M: float, lam_bar: float = 0.0) -> None:
    """Apply HIER-PROX to every feature, in place, outside autograd.

    Args:
        theta: the skip layer's weight, ``(m, d)`` or ``(d,)`` (an ``nn.Linear`` weight).
        W: the first hidden layer's weight, ``(K, d)``. Feature j is column j of both.
        lam: this step's threshold on ``||theta[:, j]||_2`` (step size times the penalty), >= 0.
        M: the hierarchy constant, >= 0; ``M = 0`` is the group lasso on theta and zeroes W.
        lam_bar: this step's L1 threshold on the entries of W, >= 0.

    Works on ``nn.Parameter``s directly (no ``torch.no_grad()`` needed) and returns None. A feature
    whose inputs hold inf/NaN becomes all NaN; every other feature is exact. Bad arguments raise
    before anything is written.
    """
    reference.check_args(theta, W, lam, M, lam_bar)
    if HAS_NATIVE:
        torch.ops.lassonet.hier_prox.default(theta, W, float(lam), float(M), float(lam_bar))
        return
    global _warned_fallback
    if not _warned_fallback:
        warnings.warn(
            f"lassonet_ext: native op not available ({NATIVE_IMPORT_ERROR}); using the slow "
            "pure-torch reference. Reinstall with `pip install --no-build-isolation .`.",
            RuntimeWarning,
            stacklevel=2,
        )
        _warned_fallback = True
    reference.hier_prox_(theta, W, lam, M, lam_bar)
