"""scikit-learn estimators over the path trainer, one file per task family."""
from .autoencoder import LassoNetAutoEncoder
from .classifier import LassoNetClassifier
from .cox import LassoNetCoxRegressor
from .imputer import LassoNetImputer
from .cv import LassoNetClassifierCV, LassoNetCoxRegressorCV, LassoNetRegressorCV
from .regressor import LassoNetRegressor

__all__ = [
    "lassonet_path", "LassoNetRegressor", "LassoNetClassifier", "LassoNetCoxRegressor", "LassoNetAutoEncoder", "LassoNetImputer",
    "LassoNetRegressorCV", "LassoNetClassifierCV", "LassoNetCoxRegressorCV",
]


def lassonet_path(X, y, task, *, X_val=None, y_val=None, **params):
    """lassonet's functional form: ``{"regression": LassoNetRegressor, "classification":
    LassoNetClassifier, "cox": LassoNetCoxRegressor}[task](**params).path(X, y, ...)``."""
    classes = {"regression": LassoNetRegressor, "classification": LassoNetClassifier,
               "cox": LassoNetCoxRegressor}
    if task not in classes:
        raise ValueError(f"task must be 'regression', 'classification' or 'cox', got {task!r}")
    return classes[task](**params).path(X, y, X_val=X_val, y_val=y_val)
