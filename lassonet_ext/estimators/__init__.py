"""scikit-learn estimators over the path trainer, one file per task family."""
from .classifier import LassoNetClassifier
from .cv import LassoNetClassifierCV, LassoNetRegressorCV
from .regressor import LassoNetRegressor

__all__ = ["LassoNetRegressor", "LassoNetClassifier", "LassoNetRegressorCV", "LassoNetClassifierCV"]
