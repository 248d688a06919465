"""The native HIER-PROX op: loading, the Python wrapper and the fake (meta) kernel."""
from __future__ import annotations

import numbers
import warnings

import torch

from . import reference

__all__ = ["hier_prox", "hier_prox_group", "groups_to_csr", "HAS_NATIVE"]

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
        torch._check(W.dim() >= 2, lambda: f"W must be (K, d) or (K, d, ...), got {W.dim()}-D")
        torch._check(theta.dim() in (1, 2), lambda: f"theta must be 1-D or 2-D, got {theta.dim()}-D")
        torch._check(theta.shape[-1] == W.shape[1], lambda: "theta and W must have the same d")
        torch._check(theta.dtype == W.dtype, lambda: "theta and W must have the same dtype")
        return None

    @torch.library.register_fake("lassonet::hier_prox_group")
    def _hier_prox_group_fake(theta, W, group_ptr, group_features, lam, M, lam_bar=0.0):
        _hier_prox_fake(theta, W, lam, M, lam_bar)
        torch._check(group_features.shape[0] == W.shape[1], lambda: "group_features must have d entries")
        return None

    @torch.library.register_fake("lassonet::cross_entropy_tail")
    def _cross_entropy_tail_fake(out, hidden, head_weight, y, y_val, weight, n):
        torch._check(out.dim() == 2 and hidden.dim() == 2, lambda: "out and hidden must be 2-D")
        m, K = out.shape[0], hidden.shape[0]
        return (out.new_empty(()), out.new_empty((m + K, n)), out.new_empty((m, K)),
                out.new_empty((m,)), out.new_empty((K,)))


_warned_fallback = False


def hier_prox(theta: torch.Tensor, W: torch.Tensor, lam: float, M: float, lam_bar: float = 0.0) -> None:
    """Apply HIER-PROX to every feature, in place, outside autograd.

    Args:
        theta: the skip layer's weight, ``(m, d)`` or ``(d,)`` (an ``nn.Linear`` weight).
        W: the first hidden layer's weight, ``(K, d)``, or a convolution's ``(K, d, ...)`` (any
            layout whose trailing dimensions form one strided run). Feature j owns ``W[:, j, ...]``.
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
    _warn_fallback()
    reference.hier_prox_(theta, W, lam, M, lam_bar)


def hier_prox_unchecked(theta, W, lam, M, lam_bar=0.0) -> None:
    """``hier_prox`` without the Python argument checks, for callers that built the arguments
    themselves (``LassoNetModel.prox_``, every training step): the native op checks the tensors
    again, before writing, with the same errors."""
    if HAS_NATIVE:
        torch.ops.lassonet.hier_prox.default(theta, W, float(lam), float(M), float(lam_bar))
    else:
        hier_prox(theta, W, lam, M, lam_bar)


def _warn_fallback():
    global _warned_fallback
    if not _warned_fallback:
        warnings.warn(
            f"lassonet_ext: native op not available ({NATIVE_IMPORT_ERROR}); using the slow "
            "pure-torch reference. Reinstall with `pip install --no-build-isolation .`.",
            RuntimeWarning,
            stacklevel=3,
        )
        _warned_fallback = True


def groups_to_csr(groups, n_features: int, device=None):
    """lassonet's ``groups`` (a list of lists of feature indices that partition ``range(n_features)``)
    as the ``(group_ptr, group_features)`` int64 tensors of :func:`hier_prox_group`.

    Build them once per model: the op checks them on every call (on CUDA, with one small copy to
    the host).
    """
    if isinstance(groups, (str, bytes)) or not hasattr(groups, "__iter__"):
        raise TypeError(f"groups must be a list of lists of feature indices, got {type(groups).__name__}")
    groups = [list(g) for g in groups]
    flat = [i for g in groups for i in g]
    if any(isinstance(i, bool) or not isinstance(i, numbers.Integral) for i in flat):
        raise TypeError("groups must hold integer feature indices")
    if any(len(g) == 0 for g in groups):
        raise ValueError("groups must not contain an empty group")
    if sorted(flat) != list(range(n_features)):
        missing = sorted(set(range(n_features)) - set(flat))[:5]
        raise ValueError(
            f"groups must partition range({n_features}): each feature in exactly one group "
            f"(missing e.g. {missing}, {len(flat)} indices given)"
        )
    sizes = torch.tensor([0] + [len(g) for g in groups], dtype=torch.int64)
    group_ptr = torch.cumsum(sizes, 0).to(device)
    group_features = torch.tensor(flat, dtype=torch.int64).reshape(-1).to(device)
    return group_ptr, group_features


def hier_prox_group(theta, W, group_ptr, group_features, lam: float, M: float, lam_bar: float = 0.0) -> None:
    """Group HIER-PROX, in place: group g (features ``group_features[group_ptr[g]:group_ptr[g+1]]``)
    is one vector, ``||W_G||_inf <= M ||theta_G||_2`` and penalty ``lam ||theta_G||_2``.

    ``theta`` and ``W`` as in :func:`hier_prox` (``W`` may be ``(K, d, ...)``); the index tensors
    come from :func:`groups_to_csr` and live on theta's device. Singleton groups give exactly
    :func:`hier_prox`.
    """
    reference.check_args(theta, W, lam, M, lam_bar)
    if HAS_NATIVE:  # the op checks the groups itself; checking here too would cost a sync per step
        torch.ops.lassonet.hier_prox_group.default(
            theta, W, group_ptr, group_features, float(lam), float(M), float(lam_bar)
        )
        return
    _warn_fallback()
    reference.check_groups(W, group_ptr, group_features)
    reference.hier_prox_group_(theta, W, group_ptr, group_features, lam, M, lam_bar)
