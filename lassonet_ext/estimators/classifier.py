"""LassoNet for classification (cross-entropy over any label type)."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ..losses import CrossEntropyLoss
from .base import BaseLassoNet

__all__ = ["LassoNetClassifier"]


class LassoNetClassifier(ClassifierMixin, BaseLassoNet):
    """LassoNet classification with cross-entropy; ``predict_proba`` columns follow ``classes_``.

    class_weight: None, "balanced", or a dict {label: weight}.
    """

    def _prepare_target(self, y, refit=True):
        if refit:
            check_classification_targets(y)
            y = column_or_1d(y, warn=True)
            self._encoder = LabelEncoder().fit(y)
            self.classes_ = self._encoder.classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    "LassoNetClassifier needs samples of at least 2 classes, but y contains only "
                    f"1 class: {self.classes_[0]!r}"
                )
            if self.class_weight is None:
                weights = np.ones(len(self.classes_))
            else:
                weights = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
            self._class_weight = torch.as_tensor(weights, dtype=torch.float32)
        return self._encoder.transform(np.asarray(y).ravel()).astype(np.int64), len(self.classes_)

    def _stratify(self, y):
        return y

    def _loss_fn(self):
        if self.class_weight is None:  # unweighted: the plain mean, one op fewer per step
            return CrossEntropyLoss()
        return CrossEntropyLoss(self._class_weight.to(self._device()))

    @torch.no_grad()
    def _val_score(self, model, X, y):
        model.eval()
        return float((model(X).argmax(1) == y).double().mean())

    def predict_proba(self, X):
        logits = self._forward(X)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X):
        scores = self._forward(X)  # checks that the estimator is fitted
        return self.classes_[scores.argmax(axis=1)]
