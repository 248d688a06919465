"""The path trainer's active set: each fit computes only on the features in play.

Along the path most features are out of the model (theta_j = W_j = 0). A prox-gradient step
keeps such a feature at zero unless its gradient is large enough to bring it back (its *entry
threshold*, below), so the trainer gathers the columns of X of the features in the model, or close
to coming back, and trains on those; the full-data gradient is checked at the start and end of
every lambda's fit (``_Trainer.fit`` in ``path.py``). An epoch then costs in proportion to the
features in play, not to d.
"""
from __future__ import annotations

import torch

__all__ = ["ActiveSet", "entry_scale", "entry_thresholds", "first_layer_gradients", "live_features"]

# At a lambda's start, features at zero whose entry threshold exceeds this fraction of the
# re-entry threshold join the set too: the network moves during the fit, and a feature that
# crosses the threshold after being left out costs another round of epochs (measured on MNIST:
# with 1.0, 436 fit rounds for 217 lambdas; with 0.5, one per lambda and the same path as training
# on every feature).
START_MARGIN = 0.5


def first_layer_gradients(model, X, y, loss_fn):
    """The loss's gradients with respect to theta and W (None where W is not a parameter)."""
    params = [model.theta] + ([model.W] if model.W.requires_grad else [])
    grads = torch.autograd.grad(loss_fn(model(X), y), params, allow_unused=True)
    g_W = grads[1] if len(grads) > 1 else None
    return grads[0].detach(), None if g_W is None else g_W.detach()


def entry_thresholds(model, g_theta, g_W, lam_bar=0.0):
    """Per group (feature without groups): the lambda below which a feature at zero re-enters.

    A prox-gradient step from theta_j = W_j = 0 with gradients g keeps the feature at zero iff
    ``||g_theta_j|| + M ||S_lam_bar(g_W_j)||_1 <= lambda`` (the step size scales both sides; S is
    the soft threshold the lam_bar term applies to W).
    """
    out = model.group_sum((g_theta ** 2).sum(dim=0)).sqrt()
    if g_W is not None:
        # W may be (K, d, ...) (a convolution): feature j's entries are all of W[:, j, ...].
        excess = (g_W.abs() - lam_bar).clamp_min(0) if lam_bar else g_W.abs()
        out = out + model.M * model.group_sum(excess.transpose(0, 1).flatten(1).sum(1))
    return out


def entry_scale(optimizer):
    """lambda's factor in the entry threshold a feature at zero must pass under ``optimizer``.

    Under SGD with momentum mu and dampening tau, the momentum buffer of a coordinate held at zero
    grows to ``(1 - tau) / (1 - mu)`` times its gradient while the prox's threshold stays
    ``lambda * lr``, so the feature stays out iff its entry threshold is at most
    ``lambda * (1 - mu) / (1 - tau)``. None for other optimisers (no such rule: train on every
    feature).
    """
    if type(optimizer) is not torch.optim.SGD or len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    momentum, dampening = group["momentum"], group["dampening"]
    if not momentum:
        return 1.0
    return (1 - momentum) / (1 - dampening) if dampening < 1 else None


def live_features(model) -> torch.Tensor:
    """Boolean (d,) mask of the features in the model; with groups, whole groups."""
    live = (model.theta != 0).any(0)
    if model.groups is not None:  # a live group's feature may have theta_j = 0
        live = (model.group_sum(live.to(model.theta.dtype)) > 0)[model.group_of]
    return live


class ActiveSet:
    """The features a fit computes on, and the columns of X and X_val for them, gathered once.

    X and X_val are kept as one matrix, X's rows then X_val's (``X_all``; ``X`` and ``X_val`` are
    views of it), so the trainer can run its forward pass over both in one go.
    """

    def __init__(self, X, X_val):
        self.n = X.shape[0]
        self.X_all = torch.cat([X, X_val])
        self.mask = self.features = None  # None: every feature
        self.X_all_fit = self.X_all

    @property
    def X(self):
        return self.X_all[:self.n]

    @property
    def X_val(self):
        return self.X_all[self.n:]

    @property
    def X_fit(self):
        """X's columns of the features in the set."""
        return self.X_all_fit[:self.n]

    @property
    def X_val_fit(self):
        return self.X_all_fit[self.n:]

    def restrict(self, mask, model, optimizer):
        """Compute on the features in ``mask`` (None, or all True: every feature) from now on."""
        if mask is not None and bool(mask.all()):
            mask = None
        if (mask is None) == (self.mask is None) and (mask is None or torch.equal(mask, self.mask)):
            return  # the same set
        self.mask = mask
        self.features = None if mask is None else mask.nonzero().squeeze(1)
        self.X_all_fit = self.X_all if mask is None else self.X_all.index_select(1, self.features)
        if mask is not None:
            # The features left out are zero; so must their optimiser state be (the momentum
            # buffer), or a step would move them with no gradient. Once cleared it stays zero
            # while they are out (no gradient reaches it), so this runs only when the set changes.
            keep = mask.to(model.theta.dtype)
            for p in (model.theta, model.W):
                for value in optimizer.state.get(p, {}).values():
                    if torch.is_tensor(value) and value.shape == p.shape:
                        value.mul_(keep)
