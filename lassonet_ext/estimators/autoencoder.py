"""Unsupervised LassoNet: select the features that best reconstruct all of X."""
from __future__ import annotations

import numpy as np
import torch

from ..path import default_optimizers
from .regressor import LassoNetRegressor

__all__ = ["LassoNetAutoEncoder"]


class LassoNetAutoEncoder(LassoNetRegressor):
    """Unsupervised feature selection (the paper's reconstruction objective).

    The network maps X to X itself (squared error summed over the columns: standardised columns,
    or with ``standardize=False`` X's own units, every column weighted alike) while the
    hierarchical penalty removes inputs, so the features left at a point of the path are the ones
    from which the network best reconstructs the whole table. Set ``n_features_to_select=k`` to
    keep k features (without it ``fit`` keeps the lowest validation loss, which for
    reconstruction is usually almost every feature). With ``optim=None`` the path uses SGD
    (momentum 0.9) with lr = min(1e-2, 0.25 / L), L the top eigenvalue of the standardised
    X^T X / n, instead of the supervised 1e-3. A scikit-learn transformer:
    ``fit(X)`` / ``transform(X)`` (the selected columns) / ``get_support()``;
    ``predict(X)`` is the reconstruction and ``score(X)`` its R^2 averaged over the columns.

    Compared with the Concrete Autoencoder (Abid et al., 2019), which learns exactly k selector
    neurons by annealed sampling and must be retrained for each k, one LassoNet path gives every
    subset size at once, and the selected features are read off the skip layer's non-zero columns.
    """

    def fit(self, X, y=None, *, X_val=None):
        """Train the path reconstructing X; ``y`` is ignored (unsupervised)."""
        return super().fit(X, X, X_val=X_val, y_val=X_val)

    def path(self, X, y=None, *, X_val=None, lambda_seq=None, **options):
        """``path`` reconstructing X (``y`` is ignored); options as LassoNetRegressor.path's."""
        return super().path(X, X, X_val=X_val, y_val=X_val, lambda_seq=lambda_seq, **options)

    def _optimizers(self, X):
        # Reconstruction is badly conditioned (features are correlated by construction) and the
        # path's k-feature window is narrow: lr 1e-3 leaves each lambda's fit unconverged and
        # features then drop all at once, so the path runs SGD at up to 1e-2. The summed loss's
        # curvature grows with the top eigenvalue L of the standardised Gram matrix X^T X / n
        # (about 42 for MNIST pixels, 7 in the tests' synthetic data): lr <= 0.25 / L keeps it stable.
        if self.optim is not None:
            return self.optim
        L = float(torch.linalg.matrix_norm(X, ord=2)) ** 2 / max(len(X), 1)
        lr = min(1e-2, 0.25 / max(L, 1e-12))
        return default_optimizers(path_lr=lr)

    def _target_scale(self, y2):
        # The target is X itself, in the units the network sees: standardised columns with
        # standardize=True, X's own units otherwise (centred only). Scaling the target when the
        # input is not scaled would weight each column by 1 / its variance, so near-constant
        # columns (MNIST's border pixels, sd ~ 0.01) would dominate the loss; standardising them
        # as inputs too is what made the MNIST path diverge.
        return super()._target_scale(y2) if self.standardize else np.ones(y2.shape[1], np.float32)

    def _loss_fn(self):
        # Squared error summed over the columns, averaged over the rows: a mean over the d
        # columns too would shrink every gradient d-fold and stall the path's short fits.
        return lambda out, target: ((out - target) ** 2).sum(dim=1).mean()

    def score(self, X, y=None, sample_weight=None):
        """R^2 of the reconstruction of X, averaged over its columns."""
        return super().score(X, X, sample_weight=sample_weight)

    def reconstruction_error(self, X) -> float:
        """Mean squared reconstruction error of X, in X's own units."""
        X = np.asarray(X, dtype=np.float64)
        return float(((self.predict(X) - X) ** 2).mean())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = None  # a transformer, not a regressor
        tags.target_tags.required = False
        return tags
