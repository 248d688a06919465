"""scikit-learn estimators over the path trainer, one file per task family."""
from .classifier import LassoNetClassifier
from .cox import LassoNetCoxRegressor
from .cv import LassoNetClassifierCV, LassoNetCoxRegressorCV, LassoNetRegressorCV
from .regressor import LassoNetRegressor

__all__ = [
    "LassoNetRegressor", "LassoNetClassifier", "LassoNetCoxRegressor",
    "LassoNetRegressorCV", "LassoNetClassifierCV", "LassoNetCoxRegressorCV",
]
