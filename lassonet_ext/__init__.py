"""lassonet_ext: LassoNet with a native HIER-PROX op, a fast path trainer and sklearn estimators."""
from .estimators import (
    LassoNetClassifier,
    LassoNetClassifierCV,
    LassoNetRegressor,
    LassoNetRegressorCV,
)
from .model import LassoNetModel
from .ops import HAS_NATIVE, hier_prox
from .path import PathItem, train_path

__version__ = "0.1.0"
__all__ = [
    "hier_prox", "HAS_NATIVE", "LassoNetModel", "PathItem", "train_path",
    "LassoNetRegressor", "LassoNetClassifier", "LassoNetRegressorCV", "LassoNetClassifierCV",
    "__version__",
]
