"""LassoNet with a convolutional body: the hierarchy selects input channels (or image patches).

Feature j is input channel j. The skip layer is linear in the whole input; its weight is kept as
``theta`` of shape ``(n_outputs * H * W, C)`` so that channel j's skip weights are column j, and
the first convolution's weight ``(K, C, kh, kw)`` is ``W`` with trailing dimensions: one call
``hier_prox(theta, conv1.weight, ...)`` enforces ``||W[:, j, :, :]||_inf <= M ||theta[:, j]||_2``
for every channel (the op treats all of ``W[:, j, ...]`` as feature j's vector). A channel whose
skip column is zero is unused by the whole network.

To select *locations* in a grayscale image, cut it into patches and make each patch a channel
(:func:`patches_as_channels`): the network then sees a stack of p x p patches and the path keeps
the patches that matter.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .ops import hier_prox

__all__ = ["LassoNetConvModel", "patches_as_channels"]


def patches_as_channels(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(n, H, W) or (n, 1, H, W) images -> (n, (H/p) * (W/p), p, p): patch (r, c) is channel
    ``r * (W/p) + c``. H and W must be multiples of ``patch``."""
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"patches_as_channels takes single-channel images, got {images.shape[1]} channels")
        images = images[:, 0]
    if images.dim() != 3:
        raise ValueError(f"images must be (n, H, W) or (n, 1, H, W), got shape {tuple(images.shape)}")
    n, H, W = images.shape
    if patch < 1 or H % patch or W % patch:
        raise ValueError(f"patch must divide the image size {H}x{W}, got {patch}")
    x = images.reshape(n, H // patch, patch, W // patch, patch).permute(0, 1, 3, 2, 4)
    return x.reshape(n, (H // patch) * (W // patch), patch, patch)


class LassoNetConvModel(nn.Module):
    """``f(x) = skip(x) + ConvNet(x)`` for inputs ``(n, C, H, W)``, with input channels as features.

    Args:
        in_shape: (C, H, W).
        n_outputs: outputs (classes for classification).
        channels: output channels of the convolutions (3x3, padding 1, ReLU; 2x2 max-pool after
            each but the first while the map is at least 4 pixels wide), then global average
            pooling and a linear head.
        M: hierarchy constant.

    Provides what :func:`lassonet_ext.train_path` needs: ``theta``, ``W``, ``prox_``,
    ``selected_features``, the penalties and ``group_sum``.
    """

    def __init__(self, in_shape: Sequence[int], n_outputs: int, channels: Sequence[int] = (32, 64),
                 M: float = 10.0, kernel_size: int = 3):
        super().__init__()
        C, H, W = (int(s) for s in in_shape)
        if not channels:
            raise ValueError("channels must name at least one convolution")
        self.M = float(M)
        self.in_shape = (C, H, W)
        self.n_outputs = n_outputs
        self.dropout = None
        self.groups = None
        self.skip_weight = nn.Parameter(torch.zeros(n_outputs * H * W, C))
        nn.init.normal_(self.skip_weight, std=(C * H * W) ** -0.5)
        layers, width, c_in = [], W, C
        for i, c_out in enumerate(channels):
            layers.append(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2))
            layers.append(nn.ReLU())
            if i > 0 and width >= 4:
                layers.append(nn.MaxPool2d(2))
                width //= 2
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, n_outputs)

    @property
    def theta(self) -> torch.Tensor:
        return self.skip_weight

    @property
    def W(self) -> torch.Tensor:
        return self.body[0].weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, C, H, W = x.shape
        theta = self.skip_weight.view(self.n_outputs, H * W, C)
        skip = torch.einsum("ncp,opc->no", x.reshape(n, C, H * W), theta)
        return skip + self.head(self.body(x).mean(dim=(2, 3)))

    def prox_(self, lam: float, lam_bar: float = 0.0) -> None:
        hier_prox(self.theta, self.W, lam, self.M, lam_bar)  # W is (K, C, kh, kw)

    @torch.no_grad()
    def selected_features(self) -> torch.Tensor:
        return self.theta.norm(p=2, dim=0) != 0

    def group_sum(self, per_feature: torch.Tensor) -> torch.Tensor:
        return per_feature

    def l1_regularisation(self) -> torch.Tensor:
        return self.theta.norm(p=2, dim=0).sum()

    def l2_regularisation(self) -> torch.Tensor:
        convs = [m.weight for m in self.body if isinstance(m, nn.Conv2d)]
        return sum((w ** 2).sum() for w in convs) + (self.head.weight ** 2).sum()

    def l2_regularisation_skip(self) -> torch.Tensor:
        return (self.theta ** 2).sum()
