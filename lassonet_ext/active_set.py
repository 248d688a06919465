"""The path trainer's active set: each fit computes only on the features in play.

Along the path most features are out of the model (theta_j = W_j = 0). A prox-gradient step
keeps such a feature at zero unless its gradient is large enough to bring it back (its *entry
threshold*, below), so the trainer gathers the columns of X of the features in the model, or close
to coming back, and trains on those; the full-data gradient is checked at the start and end of
every lambda's fit (``_Trainer.fit`` in ``path.py``). An epoch then costs in proportion to the
features in play, not to d.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

__all__ = ["ActiveSet", "data_free_features", "entry_scale", "entry_thresholds",
           "first_layer_gradients", "live_features"]

# At a lambda's start, features at zero whose entry threshold exceeds this fraction of the
# re-entry threshold join the set too: the network moves during the fit, and a feature that
# crosses the threshold after being left out costs another round of epochs. Measured on MNIST
# (4000 rows, 274 lambdas): with 1.0, 522 fit rounds and a different path; with 0.5, 0.7 or 0.85,
# one round per lambda and the same path, the tighter margins on fewer columns (late in the path
# 0.5 kept some 300 columns for a handful of live features): 0.8 leaves room to spare.
START_MARGIN = 0.8

# The forward pass skips the columns of features at zero (ActiveSet.n_live) only where they hold
# this many entries of X: each step then pays a check that none of them entered (about 20 us on
# CPU), which on small data costs more than the columns (Mice Protein: about 5% of an epoch).
# The same bound applies to the data-free columns both products skip (data_free_features).
FORWARD_SPLIT_MIN_ENTRIES = 1 << 18


def data_free_features(X_all):
    """Boolean (d,) mask of the columns of X_all (training and validation rows) that are zero in
    every row, or None where there are none, or too few entries in them to be worth the products'
    split (as for the forward's split, FORWARD_SPLIT_MIN_ENTRIES: on small data the split's
    bookkeeping costs more than the columns)."""
    if X_all.shape[0] == 0 or X_all.shape[1] == 0:
        return None
    free = (X_all == 0).all(0)
    n_free = int(free.sum())
    return free if n_free and n_free * X_all.shape[0] >= FORWARD_SPLIT_MIN_ENTRIES else None


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

    The features in the model come first (``n_live`` of them), then those at zero that may enter:
    the latter add nothing to the network's output, so the forward pass reads only the first
    ``n_live`` columns (``X_all_forward``) while the gradient needs them all. Before each such
    forward pass the trainer calls ``note_entries``: once one of the others has entered, the
    forward reads every column. Last come the set's *data-free* features, whose column is zero
    in every training and validation row (MNIST's 4000 rows have 136 such pixels): they add
    nothing to the output and get zero gradients, so neither product reads them (the gradient's
    product reads the first ``n_data`` columns: ``gradient_features``); the prox and the
    optimiser still move them, as on the full model. Where X has enough such columns
    (``data_free_features``) the set is ordered this way even when it holds every feature.

    Within ``compacted`` the model itself holds only the set's columns (see there); the trainer
    then passes ``model_features`` and ``forward_features`` to the model, which account for it.
    """

    def __init__(self, X, X_val, transposed_forward=False):
        self.n = X.shape[0]
        self.X_all = torch.cat([X, X_val])
        self.mask = self.features = self.live = None  # None: every feature
        self.X_all_fit = self.X_all
        # With transposed_forward, X_all and the set's columns are also kept transposed (d x rows,
        # contiguous), and X_all_forward is a view of that copy: the model's product A @ x^T then
        # reads a row-major matrix, which MKL runs 25-35% faster on the trainer's shapes (MNIST's
        # 4000 rows: 1008 against 1340 us at 648 features, 93 against 134 at 64), at the cost of
        # a second copy of the data columns. The gradient's product G @ x keeps the row-major copy.
        self.XT_all = self.X_all.t().contiguous() if transposed_forward else None
        self.XT_all_fit = self.XT_all
        self.n_live = self.n_data = X.shape[1]
        self.is_compact = False
        self.data_free = data_free_features(self.X_all)  # (None: the set keeps its plain order)

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

    @property
    def X_all_forward(self):
        """X_all_fit's columns of the features the network's output depends on (a view; of the
        transposed copy where there is one)."""
        if self.XT_all_fit is not None:
            return self.XT_all_fit[:self.n_live].t()
        return self.X_all_fit[:, :self.n_live]

    @property
    def gradient_features(self):
        """The model's ``features`` argument for the first ``n_data`` columns of X_fit, those the
        first-layer gradient's product reads (as forward_features)."""
        if self.features is None:
            return None
        if self.is_compact:
            return None if self.n_data == self.features.numel() else self.n_data
        return self.features[:self.n_data]

    @property
    def model_features(self):
        """The model's ``features`` argument for X_fit's columns (None: the model's own columns)."""
        return None if self.is_compact else self.features

    @property
    def forward_features(self):
        """The model's ``features`` argument for X_all_forward's columns: with a compacted model,
        None or the number of leading columns (see ``LassoNetModel.forward``)."""
        if self.features is None:
            return None
        if self.is_compact:
            return None if self.n_live == self.features.numel() else self.n_live
        return self.features[:self.n_live]

    @contextmanager
    def compacted(self, model, optimizer):
        """Within the block, the model's theta and W are parameters over the set's columns only,
        in the set's order, and so is the optimiser's state for them: the optimiser's step, the
        prox and the products touch no column of a feature left out (they are zero, and would stay
        zero). On leaving, the columns are written back into the full parameters and state.
        Nothing changes without a restricted set, or with groups (the op's groups index all d)."""
        if self.features is None or model.groups is not None or self.is_compact:
            yield
            return
        features = self.features
        owners = [(model.skip, "weight")] + ([(model.layers[0], "weight")] if len(model.layers) else [])
        full = [getattr(module, name) for module, name in owners]
        small = [torch.nn.Parameter(p.detach().index_select(1, features), p.requires_grad) for p in full]
        states = [optimizer.state.pop(p, {}) for p in full]
        for (module, name), p, q, state in zip(owners, full, small, states):
            setattr(module, name, q)
            _swap_param(optimizer, p, q)
            optimizer.state[q] = {k: _columns_of(v, p, features) for k, v in state.items()}
        no_hidden = getattr(model, "_no_hidden", None)
        if no_hidden is not None:
            model._no_hidden = no_hidden.new_zeros(0, features.numel())
        self.is_compact = True
        try:
            yield
        finally:
            self.is_compact = False
            if no_hidden is not None:
                model._no_hidden = no_hidden
            for (module, name), p, q, state in zip(owners, full, small, states):
                _write_columns_back(optimizer, p, q, state, features)
                setattr(module, name, p)

    def restrict(self, mask, model, optimizer, live=None):
        """Compute on the features in ``mask`` (None, or all True: every feature) from now on;
        ``live``, a mask of the features in the model (None: treat every one as in it), orders
        them first, and data-free features go last."""
        if mask is not None and bool(mask.all()):
            mask = None
        free = self.data_free
        ordered = mask is not None or free is not None
        live = None if not ordered or live is None else (live if mask is None else live & mask)
        same_set = _same(mask, self.mask)
        if same_set and _same(live, self.live) and ordered == (self.features is not None):
            return
        self.live = live
        if not ordered:
            self.features, self.X_all_fit, self.XT_all_fit = None, self.X_all, self.XT_all
            self.n_live = self.n_data = self.X_all.shape[1]
        else:
            in_set = mask if mask is not None else torch.ones_like(free)
            data = in_set if free is None else in_set & ~free
            parts = [data] if live is None else [data & live, data & ~live]
            if free is not None:
                parts.append(in_set & free)
            self.features = torch.cat([p.nonzero() for p in parts]).squeeze(1)
            self.X_all_fit = self.X_all.index_select(1, self.features)
            if self.XT_all is not None:
                self.XT_all_fit = self.XT_all.index_select(0, self.features)
            self.n_data = int(data.sum())
            self.n_live = self.n_data if live is None else int(parts[0].sum())
            if (self.n_data - self.n_live) * self.X_all.shape[0] < FORWARD_SPLIT_MIN_ENTRIES:
                self.n_live = self.n_data  # (the order stays; the forward reads every data column)
        if same_set:
            return  # only the order changed
        self.mask = mask
        if mask is not None:
            # The features left out are zero; so must their optimiser state be (the momentum
            # buffer), or a step would move them with no gradient. Once cleared it stays zero
            # while they are out (no gradient reaches it), so this runs only when the set changes.
            keep = mask.to(model.theta.dtype)
            for p in (model.theta, model.W):
                for value in optimizer.state.get(p, {}).values():
                    if _per_entry(value, p):
                        value.mul_(keep)

    def note_entries(self, model):
        """After a step: if a feature past the first ``n_live`` entered the model, the forward
        pass must read every data column from now on."""
        if self.features is None or self.n_live == self.n_data:
            return
        if self.is_compact:  # the model's columns are the set's, in its order (and no groups)
            entered = bool(model.theta[:, self.n_live:self.n_data].any())
        else:
            rest = self.features[self.n_live:self.n_data]
            # Without groups the prox keeps W_j = 0 wherever theta_j = 0; a group's W may not be.
            entered = bool(model.theta.index_select(1, rest).any()) or (
                model.groups is not None and bool(model.W.index_select(1, rest).any()))
        if entered:
            self.n_live = self.n_data
            self.live = self.mask if self.mask is not None else torch.ones_like(self.data_free)


def _swap_param(optimizer, old, new):
    """Put ``new`` where ``old`` is in the optimiser's parameter groups."""
    for group in optimizer.param_groups:
        group["params"] = [new if r is old else r for r in group["params"]]


def _per_entry(value, param):
    """Whether an optimiser state entry of ``param`` holds a value per entry (a momentum buffer)."""
    return torch.is_tensor(value) and value.shape == param.shape


def _columns_of(value, param, features):
    """An optimiser state entry of ``param`` cut to the columns ``features`` (others as they are)."""
    return value.index_select(1, features) if _per_entry(value, param) else value


@torch.no_grad()
def _write_columns_back(optimizer, full, small, state, features):
    """Undo ActiveSet.compacted for one parameter: ``small``'s values and optimiser state go into
    ``full``'s columns ``features`` (``state``: full's state from before, zero elsewhere), and
    ``full`` takes its place in the optimiser again."""
    full.index_copy_(1, features, small)
    for k, v in optimizer.state.pop(small, {}).items():
        if not _per_entry(v, small):
            state[k] = v
            continue
        if k not in state:  # (the first step made it: zero elsewhere)
            state[k] = full.new_zeros(full.shape)
        state[k].index_copy_(1, features, v)
    optimizer.state[full] = state
    _swap_param(optimizer, small, full)


def _same(a, b):
    return (a is None) == (b is None) and (a is None or torch.equal(a, b))
