"""lassonet_ext: LassoNet with a native HIER-PROX op, a fast path trainer and sklearn estimators."""
from .estimators import (
    LassoNetAutoEncoder,
    LassoNetImputer,
    LassoNetClassifier,
    LassoNetClassifierCV,
    LassoNetCoxRegressor,
    LassoNetCoxRegressorCV,
    LassoNetRegressor,
    LassoNetRegressorCV,
    lassonet_path,
)
from .conv import LassoNetConvModel, patches_as_channels
from .model import LassoNetModel
from .ops import HAS_NATIVE, groups_to_csr, hier_prox, hier_prox_group
from .path import NonFiniteLossError, PathItem, train_path
from .plot import eval_on_path, plot_cv, plot_path

__version__ = "0.1.0"
__all__ = [
    "hier_prox", "hier_prox_group", "groups_to_csr", "HAS_NATIVE", "LassoNetModel", "LassoNetConvModel", "patches_as_channels", "PathItem", "NonFiniteLossError", "train_path",
    "LassoNetRegressor", "LassoNetClassifier", "LassoNetRegressorCV", "LassoNetClassifierCV",
    "LassoNetCoxRegressor", "LassoNetCoxRegressorCV", "LassoNetAutoEncoder", "LassoNetImputer",
    "lassonet_path", "plot_path", "plot_cv", "eval_on_path", "__version__",
]
