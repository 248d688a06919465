"""scikit-learn estimators over the path trainer, one file per task family."""
from .autoencoder import LassoNetAutoEncoder
from .classifier import LassoNetClassifier
from .cox import LassoNetCoxRegressor
from .imputer import LassoNetImputer
from .cv import LassoNetClassifierCV, LassoNetCoxRegressorCV, LassoNetRegressorCV
from .regressor import LassoNetRegressor

__all__ = [
    "LassoNetRegressor", "LassoNetClassifier", "LassoNetCoxRegressor", "LassoNetAutoEncoder", "LassoNetImputer",
    "LassoNetRegressorCV", "LassoNetClassifierCV", "LassoNetCoxRegressorCV",
]
