"""LassoNet for survival data: Cox proportional hazards with a LassoNet log-hazard."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import RegressorMixin

from ..losses import cox_partial_nll
from .base import BaseLassoNet, extend_init

__all__ = ["LassoNetCoxRegressor", "as_time_event"]


def as_time_event(y) -> np.ndarray:
    """Survival targets as an (n, 2) float array of (time, event).

    Accepts scikit-survival's structured arrays (a boolean event field and a float time field,
    e.g. from ``sksurv.util.Surv``), or anything array-like with two columns (time, event) as
    ``lassonet`` takes them (a DataFrame, a torch tensor, a numpy array).
    """
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.dtype.names is not None:
        if len(arr.dtype.names) != 2:
            raise ValueError(f"a structured survival target needs 2 fields (event, time), got {arr.dtype.names}")
        kinds = [arr.dtype[name].kind for name in arr.dtype.names]
        event_name = arr.dtype.names[kinds.index("b")] if "b" in kinds else arr.dtype.names[0]
        time_name = next(name for name in arr.dtype.names if name != event_name)
        arr = np.column_stack([arr[time_name], arr[event_name]])
    try:
        arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("survival targets must be numeric (time, event) pairs") from None
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            "survival targets must have two columns (time, event) or be a scikit-survival "
            f"structured array, got shape {arr.shape}"
        )
    time, event = arr[:, 0], arr[:, 1]
    if not np.all(np.isfinite(arr)):
        raise ValueError("survival times and events must be finite (no NaN or inf)")
    if np.any(time < 0):
        raise ValueError(f"survival times must be >= 0, got a minimum of {time.min()}")
    if not np.all(np.isin(event, (0, 1))):
        raise ValueError("events must be 0 (censored) or 1 (observed)")
    return arr


class LassoNetCoxRegressor(RegressorMixin, BaseLassoNet):
    """LassoNet Cox regression: the network's output is the log relative hazard.

    ``y``: (time, event) pairs, as an (n, 2) array or a scikit-survival structured array.
    ``tie_approximation`` (lassonet's name) or ``tie_method`` (this package's earlier one; give
    either): "efron" (the default, None) or "breslow" for tied event times. The loss is the negative
    log partial likelihood (averaged over events; with mini-batches, over each batch's risk sets,
    so the default full batch is the exact likelihood). ``predict`` returns risk scores (higher =
    earlier event); ``score`` is Harrell's concordance index (scikit-survival's implementation).
    """

    __init__ = extend_init(BaseLassoNet.__init__, tie_approximation=None, tie_method=None)

    def _fit_path(self, X, y, *, X_val, y_val, lambda_seq, **options):
        y = as_time_event(y)
        if y[:, 1].sum() == 0:
            raise ValueError("the survival target has no observed event (every row is censored)")
        y_val = None if y_val is None else as_time_event(y_val)
        return super()._fit_path(X, y, X_val=X_val, y_val=y_val, lambda_seq=lambda_seq, **options)

    def _validate(self, X, y=None, reset=True):
        return super()._validate(X, None if y is None else as_time_event(y), reset=reset)

    def _prepare_target(self, y, refit=True):
        if self.class_weight is not None:
            raise ValueError("class_weight is for classification; LassoNetCoxRegressor takes None")
        self._ties()  # (checked before training)
        return as_time_event(y).astype(np.float32), 1

    def _ties(self):
        """"efron" or "breslow", from tie_approximation or tie_method (None: "efron")."""
        given = {name: getattr(self, name) for name in ("tie_approximation", "tie_method")
                 if getattr(self, name) is not None}
        for name, value in given.items():
            if value not in ("efron", "breslow"):
                raise ValueError(f"{name} must be 'efron' or 'breslow' (or None), got {value!r}")
        if len(set(given.values())) > 1:
            raise ValueError(f"tie_approximation={self.tie_approximation!r} and "
                             f"tie_method={self.tie_method!r} disagree: give one of them")
        return next(iter(given.values()), "efron")

    def _stratify(self, y):
        return y[:, 1]  # keep the event rate in the validation split

    def _loss_fn(self):
        ties = self._ties()
        return lambda out, y: cox_partial_nll(out, y, ties)

    @torch.no_grad()
    def _val_score(self, model, X, y):
        model.eval()
        return _concordance(y.cpu().numpy(), model(X).reshape(-1).double().cpu().numpy())

    def predict(self, X):
        """Risk scores (n,): the log relative hazard; higher means an earlier event."""
        return self._forward(X)[:, 0]

    def score(self, X, y, sample_weight=None):
        """Harrell's concordance index of ``predict(X)`` on (time, event) targets."""
        if sample_weight is not None:
            raise ValueError("LassoNetCoxRegressor.score does not take sample weights")
        return _concordance(as_time_event(y), self.predict(X))


def _concordance(y, risk) -> float:
    try:
        from sksurv.metrics import concordance_index_censored
    except ImportError as exc:  # an optional dependency: pip install "lassonet-ext[survival]"
        raise ImportError(
            "the concordance index needs scikit-survival: pip install 'lassonet-ext[survival]'"
        ) from exc
    y = np.asarray(y, dtype=np.float64)
    if y[:, 1].sum() == 0:
        return float("nan")  # no comparable pair
    return float(concordance_index_censored(y[:, 1].astype(bool), y[:, 0], risk)[0])
