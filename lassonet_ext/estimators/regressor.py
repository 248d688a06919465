"""LassoNet for regression (single or multiple outputs)."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import RegressorMixin

from ..losses import MSELoss
from .base import BaseLassoNet

__all__ = ["LassoNetRegressor"]


class LassoNetRegressor(RegressorMixin, BaseLassoNet):
    """LassoNet regression with mean squared error. y may have several columns.

    y is standardised internally (its mean and scale are kept and undone by ``predict``), so the
    default learning rates suit any target scale; lambda is therefore in units of standardised y.
    """

    def _prepare_target(self, y, refit=True):
        if self.class_weight is not None:
            raise ValueError("class_weight is for classification; LassoNetRegressor takes None")
        y = np.asarray(y, dtype=np.float32)
        self._y_ndim = y.ndim if refit else self._y_ndim
        y2 = y.reshape(len(y), -1)
        if refit:
            self.y_mean_ = y2.mean(axis=0)
            scale = self._target_scale(y2)
            self.y_scale_ = np.where(scale > 0, scale, 1.0).astype(np.float32)
        return (y2 - self.y_mean_) / self.y_scale_, y2.shape[1]

    def _target_scale(self, y2):  # per column; 0 (a constant column) is replaced by 1
        return y2.std(axis=0)

    def _loss_fn(self):
        return MSELoss()

    @torch.no_grad()
    def _val_score(self, model, X, y):
        model.eval()
        pred = model(X)
        ss_res = ((pred - y) ** 2).sum(0)
        ss_tot = ((y - y.mean(0)) ** 2).sum(0)
        r2 = torch.where(ss_tot > 0, 1 - ss_res / ss_tot.clamp_min(1e-30), torch.zeros_like(ss_res))
        return float(r2.mean())

    def predict(self, X):
        """Predictions (n,) or (n, n_outputs) as a numpy array."""
        out = self._forward(X) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
