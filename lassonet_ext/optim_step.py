"""``optimizer.step()`` for the path's default optimiser without torch.optim's Python overhead.

The path trainer's SGD (``default_optimizers``: fused, one parameter group) spends most of its
step in Python: hooks, profiler records, grad-mode switches, the dynamo graph-break guards and the
grouping of tensors by device, about 100 us a call on CPU against 15-20 us for the fused kernel
itself (an MNIST-sized epoch at 50 features is about 1 ms). ``optimizer_step`` calls that same
kernel, ``torch._fused_sgd_``, with the arguments torch.optim.SGD would pass it, and keeps the
momentum buffers in the optimiser's state as SGD does, so the parameters and the state end up
bitwise as ``optimizer.step()`` leaves them (tested). Anything else, or anything it cannot vouch
for (hooks, several groups, a learning rate given as a tensor, parameters without a gradient,
AMP's scaling attributes, a step patched by an LR scheduler), takes ``optimizer.step()``.
"""
from __future__ import annotations

import torch
from torch.optim import optimizer as _optimizer_module

__all__ = ["optimizer_step"]

_FLOAT_OPTIONS = ("lr", "momentum", "dampening", "weight_decay")


def optimizer_step(optimizer) -> None:
    """``optimizer.step()``: for a fused ``torch.optim.SGD`` the same update, with less overhead."""
    taken = _direct_sgd_params(optimizer)
    if taken is None:
        optimizer.step()
        return
    params, buffers = taken
    group = optimizer.param_groups[0]
    grads = [p.grad for p in params]
    first = bool(buffers) and buffers[0] is None
    if first:
        buffers = [torch.empty_like(g) for g in grads]  # (what SGD's first step allocates)
    with torch.no_grad():  # (as SGD.step: the update is not part of any graph)
        torch._fused_sgd_(params, grads, buffers, weight_decay=group["weight_decay"],
                          momentum=group["momentum"], lr=group["lr"], dampening=group["dampening"],
                          nesterov=group["nesterov"], maximize=group["maximize"],
                          is_first_step=first, grad_scale=None, found_inf=None)
    if first:
        for p, b in zip(params, buffers):
            optimizer.state[p]["momentum_buffer"] = b


def _direct_sgd_params(optimizer):
    """For a fused SGD whose step ``optimizer_step`` may take over, its parameters and their
    momentum buffers (all None before the first step; empty without momentum), else None.
    (Private torch names are read with defaults that mean "no": a torch without them gets
    ``optimizer.step()``.)"""
    if type(optimizer) is not torch.optim.SGD or "step" in vars(optimizer):
        return None  # (a subclass, or a step wrapped on the instance, e.g. by an LR scheduler)
    if not hasattr(torch, "_fused_sgd_"):
        return None
    hooks = (getattr(optimizer, "_optimizer_step_pre_hooks", True),
             getattr(optimizer, "_optimizer_step_post_hooks", True),
             getattr(_optimizer_module, "_global_optimizer_pre_hooks", True),
             getattr(_optimizer_module, "_global_optimizer_post_hooks", True))
    groups = optimizer.param_groups
    if len(groups) != 1 or any(hooks):
        return None
    # SGD checks device and dtype on its first fused step: leave that step to it.
    if getattr(optimizer, "_need_device_dtype_check_for_fused", True):
        return None
    if getattr(optimizer, "grad_scale", None) is not None or getattr(optimizer, "found_inf", None) is not None:
        return None
    group = groups[0]
    if not group.get("fused") or group.get("differentiable", True):
        return None
    if not all(type(group[k]) is float or type(group[k]) is int for k in _FLOAT_OPTIONS):
        return None
    params = group["params"]
    if not params:
        return None
    p0 = params[0]
    for p in params:
        g = p.grad
        if g is None or g.is_sparse or p.device != p0.device or p.dtype != p0.dtype:
            return None
    if not group["momentum"]:
        return params, []
    buffers = [optimizer.state[p].get("momentum_buffer") for p in params]
    missing = [b is None for b in buffers]
    if any(missing) and not all(missing):  # (SGD would treat this one as a later step; be safe)
        return None
    return params, buffers
