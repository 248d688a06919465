"""The LassoNet network: a linear skip layer plus an MLP whose first layer obeys the hierarchy."""
from __future__ import annotations

from itertools import islice
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .ops import groups_to_csr, hier_prox_group, hier_prox_unchecked

__all__ = ["LassoNetModel", "BackpropTail"]

# From this many inputs on, the skip layer and the first hidden layer run as one matrix product:
# x (n x d) is then the largest operand, and one pass over it (forward, and for the weights'
# gradients backward) beats two. Below, concatenating the small weights costs more than it saves
# (measured: MNIST-sized 4000 x 784 steps 1.25x faster, Mice-sized 864 x 77 about 5% slower).
MERGED_FIRST_LAYER_MIN_FEATURES = 128


class BackpropTail(NamedTuple):
    """The backward pass from the loss to the only hidden layer, computed in one call elsewhere
    (the path trainer's native ``lassonet::cross_entropy_tail``): ``G`` (m + K, n) stacks d loss /
    d output over d loss / d pre-activation of the hidden layer, samples along columns; and the
    head's and the hidden layer's gradients."""

    G: torch.Tensor
    head_weight_grad: torch.Tensor
    head_bias_grad: torch.Tensor
    hidden_bias_grad: torch.Tensor


class LassoNetModel(nn.Module):
    """``f(x) = theta x + MLP(x)`` with ``||W[:, j]||_inf <= M ||theta[:, j]||_2`` kept by the prox.

    Args:
        n_features: d, the number of inputs.
        hidden_dims: widths of the MLP's hidden layers (ReLU). Empty: a linear model (skip only).
        n_outputs: m, outputs (1 for regression, classes for classification).
        dropout: dropout probability after each hidden layer, or None.
        M: hierarchy constant (M = 0 makes the MLP ignore every input: the plain lasso).
        groups: None, or lassonet's list of lists of feature indices partitioning ``range(d)``:
            each group enters and leaves the model as one (group LassoNet, ``hier_prox_group``).

    ``theta`` is ``skip.weight`` (m x d) and ``W`` is the first hidden layer's weight (K x d), the
    layouts ``torch.ops.lassonet.hier_prox`` expects.
    """

    def __init__(self, n_features: int, hidden_dims: Sequence[int] = (100,), n_outputs: int = 1,
                 dropout: float | None = None, M: float = 10.0, groups=None):
        super().__init__()
        self.M = float(M)
        self.groups = None if groups is None else [list(g) for g in groups]
        if groups is not None:  # CSR form for the op, and each feature's group for penalties
            ptr, feats = groups_to_csr(self.groups, n_features)
            group_of = torch.empty(n_features, dtype=torch.int64)
            group_of[feats] = torch.repeat_interleave(torch.arange(len(self.groups)), ptr.diff())
            self.register_buffer("group_ptr", ptr, persistent=False)
            self.register_buffer("group_features", feats, persistent=False)
            self.register_buffer("group_of", group_of, persistent=False)
        self.skip = nn.Linear(n_features, n_outputs, bias=False)
        dims = [n_features, *hidden_dims]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.head = nn.Linear(dims[-1], n_outputs) if hidden_dims else None
        self.dropout = nn.Dropout(dropout) if dropout else None
        if not hidden_dims:  # no hidden layer: the prox sees an empty W (group lasso on theta)
            self.register_buffer("_no_hidden", torch.zeros(0, n_features), persistent=False)

    @property
    def theta(self) -> torch.Tensor:
        return self.skip.weight

    @property
    def W(self) -> torch.Tensor:
        return self.layers[0].weight if len(self.layers) else self._no_hidden

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """The network's output. With ``features`` (an index tensor of inputs, or an int n: the
        first n), ``x`` holds only those columns: the same output when every other feature is out
        of the model (theta_j and W_j zero), at the cost of the features that are left (the path
        trainer's active set)."""
        out, h = self._first_layer(x, features)
        if h is None:
            return out
        h = self._activate(h)
        for layer in islice(self.layers, 1, None):  # (a ModuleList slice builds a new module)
            h = self._activate(layer(h))
        return out + self.head(h)

    def _first_layer(self, x, features):
        """The skip layer's output and the first hidden layer's pre-activation (None without one)."""
        theta = self.theta
        if self.head is None:
            return F.linear(x, _columns(theta, features)), None
        first, m = self.layers[0], theta.shape[0]
        if x.shape[-1] >= MERGED_FIRST_LAYER_MIN_FEATURES:
            weight = _columns(torch.cat([theta, first.weight]), features)
            z = F.linear(x, weight, torch.cat([first.bias.new_zeros(m), first.bias]))
            return z[..., :m], z[..., m:]
        return F.linear(x, _columns(theta, features)), F.linear(x, _columns(first.weight, features), first.bias)

    def _first_layer_columns(self, x, features):
        """``_first_layer`` for 2-D ``x`` in the trainer's layout: samples along columns, (m, n) and
        (K, n). The softmax over classes then runs along memory (see CrossEntropyLoss), and the
        backward pass needs no transposed copies."""
        theta, xt = self.theta, x.t()
        if self.head is None:
            return _columns(theta, features).mm(xt), None
        first, m = self.layers[0], theta.shape[0]
        if x.shape[-1] >= MERGED_FIRST_LAYER_MIN_FEATURES:
            z = _columns(torch.cat([theta, first.weight]), features).mm(xt)
            return z[:m], z[m:].add_(first.bias[:, None])
        return (_columns(theta, features).mm(xt),
                torch.addmm(first.bias[:, None], _columns(first.weight, features), xt))

    @torch.no_grad()
    def forward_columns(self, x: torch.Tensor, features: torch.Tensor | None = None):
        """The trainer's forward (no dropout, no autograd): ``self(x, features).t()`` as a
        contiguous (m, n) tensor, and each hidden layer's output (after its ReLU), also with
        samples along columns. ``x`` is (n, d), or (n, len(features))."""
        out, pre = self._first_layer_columns(x, features)
        if pre is None:
            return out, []
        hidden = [pre.relu_()]
        for layer in islice(self.layers, 1, None):
            hidden.append(torch.addmm(layer.bias[:, None], layer.weight, hidden[-1]).relu_())
        return torch.addmm(out, self.head.weight, hidden[-1]).add_(self.head.bias[:, None]), hidden

    @torch.no_grad()
    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, loss,
                         features: torch.Tensor | None = None) -> torch.Tensor:
        """``loss(self(x, features), y)``, with every parameter's ``.grad`` set to its gradient.

        By hand, for a model without dropout and a ``loss`` with ``value_and_grad(out, y) ->
        (value, d value / d out)`` (``lassonet_ext.losses``): the same gradients as autograd (to
        rounding). On small data autograd's bookkeeping costs as much as the arithmetic; this is
        the MLP's chain rule in a few matrix products, with samples along columns
        (``forward_columns``, then ``backward_columns``). ``x`` is (n, d), or (n, len(features));
        the features left out get zero gradients. Returns the loss.
        """
        if self.dropout is not None:
            raise ValueError("forward_backward does not support dropout; use autograd")
        return self.backward_columns(x, y, loss, *self.forward_columns(x, features), features)

    @torch.no_grad()
    def backward_columns(self, x, y, loss, out, hidden, features=None, g_out=None):
        """The second half of ``forward_backward``, from ``forward_columns(x, features)``'s result
        (or its first n columns: the path trainer computes the training and validation rows in
        one pass). The loss gets ``out.t()``: samples along memory. Returns the loss, or None
        where the caller gives the loss's gradient with respect to ``out`` as ``g_out``. ``x``
        and ``features`` give the columns the first layer's gradients are computed over (the
        others get zero); they may leave out columns the forward read that are zero in x. With
        one hidden layer ``g_out`` may be a BackpropTail: the rest of the backward pass, done
        (``out`` and ``hidden`` are then not read)."""
        if isinstance(g_out, BackpropTail):
            tail = g_out
            self.head.weight.grad, self.head.bias.grad = tail.head_weight_grad, tail.head_bias_grad
            self.layers[0].bias.grad = tail.hidden_bias_grad
            m, G = self.theta.shape[0], tail.G
            self.theta.grad, self.layers[0].weight.grad = self._first_layer_grads(x, G[:m], G[m:], features, G)
            return None
        value, g_out, g = self._backprop(y, loss, out, hidden, set_grads=True, g_out=g_out)
        self.theta.grad, first_grad = self._first_layer_grads(x, g_out, g, features)
        if first_grad is not None:
            self.layers[0].weight.grad = first_grad
        return value

    @torch.no_grad()
    def first_layer_gradients_columns(self, x, y, loss, out, hidden):
        """The loss's gradients with respect to theta and W (None without hidden layers) over
        every column of ``x`` (n, d), from ``forward_columns``' result on those n rows, which may
        read only the columns of the features in the model (the others add nothing to the
        output). The path trainer's entry thresholds, by hand; no ``.grad`` is touched."""
        _, g_out, g = self._backprop(y, loss, out, hidden, set_grads=False)
        return self._first_layer_grads(x, g_out, g, None)

    def _backprop(self, y, loss, out, hidden, set_grads, g_out=None):
        """The loss, and its gradients with respect to the skip layer's output and the first
        hidden layer's pre-activation (None without one), samples along columns; with
        ``set_grads``, the ``.grad`` of every layer after the first on the way. Given ``g_out``
        (the first), the loss is not evaluated (None)."""
        value = None
        if g_out is None:
            value, g_out = loss.value_and_grad(out.t(), y)
            g_out = g_out.t()  # (m, n), like out
        if not hidden:
            return value, g_out, None
        layers = list(self.layers)
        if set_grads:
            self.head.weight.grad = g_out.mm(hidden[-1].t())
            self.head.bias.grad = g_out.sum(1)
        g = self.head.weight.t().mm(g_out)
        for i in range(len(layers) - 1, -1, -1):
            g = torch.ops.aten.threshold_backward(g, hidden[i], 0)  # ReLU's backward, one pass
            layer = layers[i]
            if set_grads:
                layer.bias.grad = g.sum(1)
            if i:
                if set_grads:
                    layer.weight.grad = g.mm(hidden[i - 1].t())
                g = layer.weight.t().mm(g)
        return value, g_out, g

    def _first_layer_grads(self, x, g_out, g, features, stacked=None):
        """theta's and W's gradients (rows, d) from the output and pre-activation gradients
        (``stacked``: the two as one tensor, where the caller has it)."""
        d, m = self.theta.shape[1], self.theta.shape[0]
        if g is None:
            return _full_width(g_out.mm(x), features, d), None
        # One pass over x for both gradients where x is wide enough to pay for the concatenation,
        # or where it is already done.
        if stacked is not None or x.shape[-1] >= MERGED_FIRST_LAYER_MIN_FEATURES:
            stacked = torch.cat([g_out, g]) if stacked is None else stacked
            both = _full_width(stacked.mm(x), features, d)
            return both[:m], both[m:]
        return _full_width(g_out.mm(x), features, d), _full_width(g.mm(x), features, d)

    def _activate(self, h: torch.Tensor) -> torch.Tensor:
        h = torch.relu(h)
        return h if self.dropout is None else self.dropout(h)

    def prox_(self, lam: float, lam_bar: float = 0.0) -> None:
        """Apply HIER-PROX to (theta, W) in place with this step's thresholds."""
        if self.groups is None:
            hier_prox_unchecked(self.theta, self.W, lam, self.M, lam_bar)
        else:
            hier_prox_group(self.theta, self.W, self.group_ptr, self.group_features, lam, self.M, lam_bar)

    def group_sum(self, per_feature: torch.Tensor) -> torch.Tensor:
        """Per-feature values (d,) summed within each group (identity without groups)."""
        if self.groups is None:
            return per_feature
        out = per_feature.new_zeros(len(self.groups))
        return out.index_add(0, self.group_of, per_feature)

    @torch.no_grad()
    def selected_features(self) -> torch.Tensor:
        """Boolean mask (d,) of the features still in the model (theta_j != 0)."""
        return (self.theta != 0).any(dim=0)

    def l1_regularisation(self) -> torch.Tensor:
        """sum_j ||theta_j||_2 (sum_G ||theta_G||_2 with groups), the penalty lam multiplies."""
        # Not linalg.vector_norm(theta, dim=0): on CPU its reduction across rows costs 10x this.
        sq = self.group_sum(self.theta.square().sum(dim=0))
        if not (torch.is_grad_enabled() and self.theta.requires_grad):
            return sq.sqrt_().sum()  # (the trainer's validation objective, every epoch)
        nonzero = sq > 0  # sqrt's gradient at 0 is inf: take the subgradient 0 there, as norm() does
        return (torch.where(nonzero, sq, 1.0).sqrt() * nonzero).sum()

    def l2_regularisation(self) -> torch.Tensor:
        """Sum of squares of the MLP's weights (the `gamma` penalty)."""
        return sum((layer.weight ** 2).sum() for layer in self.layers) + (
            (self.head.weight ** 2).sum() if self.head is not None else 0.0
        )

    def l2_regularisation_skip(self) -> torch.Tensor:
        """Sum of squares of theta (the `gamma_skip` penalty)."""
        return (self.theta ** 2).sum()


def _columns(weight: torch.Tensor, features):
    """weight's columns ``features``: all (None), the leading ones (an int), or an index tensor."""
    if features is None:
        return weight
    if isinstance(features, int):
        return weight[:, :features]
    return weight.index_select(1, features)


def _full_width(grad: torch.Tensor, features, d: int) -> torch.Tensor:
    """A gradient over ``features``' columns (None: all; an int n: the first n; or an index
    tensor) as the (rows, d) gradient, zero elsewhere."""
    if features is None:
        return grad
    out = grad.new_zeros(grad.shape[0], d)
    if isinstance(features, int):
        out[:, :features] = grad
        return out
    return out.index_copy_(1, features, grad)
