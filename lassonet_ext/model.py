"""The LassoNet network: a linear skip layer plus an MLP whose first layer obeys the hierarchy."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .ops import hier_prox

__all__ = ["LassoNetModel"]


class LassoNetModel(nn.Module):
    """``f(x) = theta x + MLP(x)`` with ``||W[:, j]||_inf <= M ||theta[:, j]||_2`` kept by the prox.

    Args:
        n_features: d, the number of inputs.
        hidden_dims: widths of the MLP's hidden layers (ReLU). Empty: a linear model (skip only).
        n_outputs: m, outputs (1 for regression, classes for classification).
        dropout: dropout probability after each hidden layer, or None.
        M: hierarchy constant (M = 0 makes the MLP ignore every input: the plain lasso).

    ``theta`` is ``skip.weight`` (m x d) and ``W`` is the first hidden layer's weight (K x d), the
    layouts ``torch.ops.lassonet.hier_prox`` expects.
    """

    def __init__(self, n_features: int, hidden_dims: Sequence[int] = (100,), n_outputs: int = 1,
                 dropout: float | None = None, M: float = 10.0):
        super().__init__()
        self.M = float(M)
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.skip(x)
        if self.head is None:
            return out
        h = x
        for layer in self.layers:
            h = torch.relu(layer(h))
            if self.dropout is not None:
                h = self.dropout(h)
        return out + self.head(h)

    def prox_(self, lam: float, lam_bar: float = 0.0) -> None:
        """Apply HIER-PROX to (theta, W) in place with this step's thresholds."""
        hier_prox(self.theta, self.W, lam, self.M, lam_bar)

    @torch.no_grad()
    def selected_features(self) -> torch.Tensor:
        """Boolean mask (d,) of the features still in the model (theta_j != 0)."""
        return self.theta.norm(p=2, dim=0) != 0

    def l1_regularisation(self) -> torch.Tensor:
        """sum_j ||theta_j||_2, the penalty lam multiplies."""
        return self.theta.norm(p=2, dim=0).sum()

    def l2_regularisation(self) -> torch.Tensor:
        """Sum of squares of the MLP's weights (the `gamma` penalty)."""
        return sum((layer.weight ** 2).sum() for layer in self.layers) + (
            (self.head.weight ** 2).sum() if self.head is not None else 0.0
        )

    def l2_regularisation_skip(self) -> torch.Tensor:
        """Sum of squares of theta (the `gamma_skip` penalty)."""
        return (self.theta ** 2).sum()
