"""What every LassoNet estimator shares: parameters, data handling, the path, point selection."""
from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..model import LassoNetModel
from ..path import PathItem, train_path

__all__ = ["BaseLassoNet"]


class BaseLassoNet(SelectorMixin, BaseEstimator):
    """Shared machinery; use LassoNetRegressor / LassoNetClassifier (and their CV versions).

    Parameters keep the names of the ``lassonet`` package. ``fit`` trains the whole path and keeps
    the best path point on the validation split (lowest validation loss), or the point with at most
    ``n_features_to_select`` features when that is given, so the fitted estimator predicts with a
    real model, never with the empty end of the path. ``class_weight`` is for classification.

    ``standardize=True`` (the default) centres and scales every feature with statistics of the
    training data before the network sees it (and again in ``predict``/``transform``'s model), so
    the penalty treats features alike whatever their units and the paper's SGD settings do not
    diverge on raw data; lambda and theta are then in standardised units.

    ``groups`` (lassonet's form: a list of lists of column indices partitioning the columns) makes
    each group enter and leave the model together (group LassoNet); ``feature_importances_`` and
    the support are still per column.
    """

    def __init__(
        self,
        *,
        hidden_dims=(100,),
        lambda_start="auto",
        lambda_seq=None,
        gamma=0.0,
        gamma_skip=0.0,
        path_multiplier=1.02,
        M=10.0,
        groups=None,
        lam_bar=0.0,
        dropout=None,
        batch_size=None,
        optim=None,
        n_iters=(1000, 100),
        patience=(100, 10),
        tol=0.99,
        backtrack=False,
        val_size=None,
        n_features_to_select=None,
        standardize=True,
        class_weight=None,
        device=None,
        verbose=0,
        random_state=None,
        torch_seed=None,
    ):
        self.hidden_dims = hidden_dims
        self.lambda_start = lambda_start
        self.lambda_seq = lambda_seq
        self.gamma = gamma
        self.gamma_skip = gamma_skip
        self.path_multiplier = path_multiplier
        self.M = M
        self.groups = groups
        self.lam_bar = lam_bar
        self.dropout = dropout
        self.batch_size = batch_size
        self.optim = optim
        self.n_iters = n_iters
        self.patience = patience
        self.tol = tol
        self.backtrack = backtrack
        self.val_size = val_size
        self.n_features_to_select = n_features_to_select
        self.standardize = standardize
        self.class_weight = class_weight
        self.device = device
        self.verbose = verbose
        self.random_state = random_state
        self.torch_seed = torch_seed

    # ---- hooks for the task families -------------------------------------------------------
    def _prepare_target(self, y):  # -> (y for torch, n_outputs); sets fitted target attributes
        raise NotImplementedError

    def _loss_fn(self):
        raise NotImplementedError

    def _val_score(self, model, X, y) -> float:  # higher is better (R^2, accuracy, ...)
        raise NotImplementedError

    def _stratify(self, y):
        return None

    def _optimizers(self, X):  # (dense, path) optimiser factories for training data X; None: defaults
        return self.optim

    # ---- parameters --------------------------------------------------------------------------
    def _check_params(self):
        dims = self.hidden_dims
        if isinstance(dims, numbers.Integral):
            dims = (dims,)
        try:
            dims = tuple(dims)
        except TypeError:
            raise TypeError(f"hidden_dims must be a tuple of positive ints, got {self.hidden_dims!r}") from None
        if not all(isinstance(h, numbers.Integral) and not isinstance(h, bool) and h > 0 for h in dims):
            raise ValueError(f"hidden_dims must be a tuple of positive ints, got {self.hidden_dims!r}")
        for name in ("M", "gamma", "gamma_skip", "lam_bar"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Real) or not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if not isinstance(self.path_multiplier, numbers.Real) or not self.path_multiplier > 1:
            raise ValueError(f"path_multiplier must be > 1, got {self.path_multiplier!r}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be None or in [0, 1), got {self.dropout!r}")
        if self.val_size is not None and not 0 < self.val_size < 1:
            raise ValueError(f"val_size must be None or in (0, 1), got {self.val_size!r}")
        if self.batch_size is not None and not (isinstance(self.batch_size, numbers.Integral) and self.batch_size > 0):
            raise ValueError(f"batch_size must be None or a positive int, got {self.batch_size!r}")
        k = self.n_features_to_select
        if k is not None and not (isinstance(k, numbers.Integral) and k >= 0):
            raise ValueError(f"n_features_to_select must be None or an int >= 0, got {k!r}")
        if self.lambda_start != "auto" and not (isinstance(self.lambda_start, numbers.Real) and self.lambda_start > 0):
            raise ValueError(f"lambda_start must be 'auto' or a number > 0, got {self.lambda_start!r}")
        return dims

    def _device(self):
        if self.device in (None, "auto"):
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _seed(self):
        if self.torch_seed is not None:
            return int(self.torch_seed)
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    # ---- data --------------------------------------------------------------------------------
    def _validate(self, X, y=None, reset=True):
        if y is None:
            return validate_data(self, X, reset=reset, dtype=np.float32)
        return validate_data(self, X, y, reset=reset, dtype=np.float32, multi_output=True)

    def _to_torch(self, X, y, device):
        return _tensor(X, device, np.float32), _tensor(y, device)

    def _split(self, X, y, seed):
        n = X.shape[0]
        if n < 2:
            raise ValueError(
                f"LassoNet needs at least 2 samples (one to train, one to validate), got {n} sample"
            )
        size = 0.1 if self.val_size is None else self.val_size
        n_val = min(max(1, int(round(n * size))), n - 1)
        strat = self._stratify(y)
        try:
            return train_test_split(X, y, test_size=n_val, random_state=seed, stratify=strat)
        except ValueError:  # a class too small to stratify
            return train_test_split(X, y, test_size=n_val, random_state=seed)

    # ---- fitting -----------------------------------------------------------------------------
    def path(self, X, y, *, X_val=None, y_val=None, lambda_seq=None, lambda_max=float("inf"),
             return_state_dicts=False, callback=None, disable_lambda_warning=False):
        """Train the whole path and return its points (``PathItem``: lambda_, selected, loss,
        val_loss, objective, val_objective, n_iters, val_score, state_dict).

        The estimator is left fitted at its chosen point (see ``fit``). Weights are returned with
        each point only when ``return_state_dicts=True``. As in lassonet: ``lambda_seq=[]``
        trains the dense model only; without ``lambda_seq`` the path stops before any lambda
        above ``lambda_max``; ``callback(estimator, points)`` runs after the dense fit and after
        every lambda (``points``: the path so far, with weights; the estimator's fitted
        attributes come when the path ends); a warning says when features leave within twice
        the path's first lambda (its start may skip part of the path), unless
        ``disable_lambda_warning``.
        """
        each_point = None if callback is None else (lambda points: callback(self, points))
        self._fit_path(X, y, X_val=X_val, y_val=y_val, lambda_seq=lambda_seq, lambda_limit=lambda_max,
                       callback=each_point, warn_start=not disable_lambda_warning)
        if return_state_dicts:
            return list(self.path_)
        return [_without_state(item) for item in self.path_]

    def fit(self, X, y, *, X_val=None, y_val=None):
        """Train the path and keep the best validated point (or ``n_features_to_select``)."""
        self._fit_path(X, y, X_val=X_val, y_val=y_val, lambda_seq=None)
        return self

    def _fit_path(self, X, y, *, X_val, y_val, lambda_seq, dense_state=None, lambda_limit=np.inf,
                  callback=None, warn_start=True):
        dims = self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float32, multi_output=True)
        y_t, n_outputs = self._prepare_target(y)
        self.x_mean_ = X.mean(axis=0) if self.standardize else np.zeros(X.shape[1], np.float32)
        scale = X.std(axis=0) if self.standardize else np.ones(X.shape[1], np.float32)
        self.x_scale_ = np.where(scale > 0, scale, 1.0).astype(np.float32)
        X = (X - self.x_mean_) / self.x_scale_
        seed = self._seed()
        if X_val is None:
            X_tr, X_va, y_tr, y_va = self._split(X, y_t, seed)
        else:
            if y_val is None:
                raise ValueError("X_val was given without y_val")
            X_tr, y_tr = X, y_t
            X_va = (self._validate(X_val, reset=False) - self.x_mean_) / self.x_scale_
            y_va = self._prepare_target(np.asarray(y_val), refit=False)[0]
        device = self._device()
        X_tr, y_tr = self._to_torch(X_tr, y_tr, device)
        X_va, y_va = self._to_torch(X_va, y_va, device)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            model = LassoNetModel(X.shape[1], dims, n_outputs, self.dropout, self.M, self.groups).to(device)
        if dense_state is not None:
            model.load_state_dict(dense_state)
        generator = torch.Generator().manual_seed(seed)
        seq = lambda_seq if lambda_seq is not None else self.lambda_seq
        path = train_path(
            model, X_tr, y_tr, X_va, y_va, self._loss_fn(),
            lambda_seq=seq, lambda_start=self.lambda_start, path_multiplier=self.path_multiplier,
            n_iters=self.n_iters, patience=self.patience, tol=self.tol, batch_size=self.batch_size,
            optim=self._optimizers(X_tr), backtrack=self.backtrack, gamma=self.gamma, gamma_skip=self.gamma_skip,
            lam_bar=self.lam_bar, generator=generator, verbose=bool(self.verbose),
            skip_dense=dense_state is not None, lambda_limit=lambda_limit, callback=callback,
        )
        if warn_start:
            _warn_if_start_too_large(path, "lambda_seq" if seq is not None else self.lambda_start)
        for item in path:
            model.load_state_dict(item.state_dict)
            item.val_score = self._val_score(model, X_va, y_va)
        self.path_ = path
        self.model_ = model
        self.feature_importances_ = _importances(path, X.shape[1])
        # (lassonet's name: where the path's lambdas started, chosen by lambda_start="auto")
        self.lambda_start_ = next((it.lambda_ for it in path if it.lambda_ > 0), None)
        self._select(self._choose(path))
        return self

    def _choose(self, path):
        k = self.n_features_to_select
        if k is None:  # lowest validation loss; among equals, fewer features
            return min(path, key=lambda it: (it.val_loss, it.n_selected))
        fits = [it for it in path if it.n_selected <= k] or [path[-1]]
        best_k = max(it.n_selected for it in fits)
        return max((it for it in fits if it.n_selected == best_k), key=lambda it: it.val_score)

    def _select(self, item: PathItem):
        self.model_.load_state_dict(item.state_dict)
        self.model_.eval()
        self.best_ = _without_state(item)
        self.lambda_ = item.lambda_
        self.n_features_selected_ = item.n_selected

    def load(self, item_or_state_dict):
        """Put the model at a path point (a ``PathItem`` or a state dict); returns self."""
        check_is_fitted(self, "model_")
        state = getattr(item_or_state_dict, "state_dict", item_or_state_dict)
        if state is None:
            raise ValueError("this path item has no weights: call path(..., return_state_dicts=True)")
        self.model_.load_state_dict(state)
        self.model_.eval()
        selected = self.model_.selected_features().cpu().numpy()
        lam = getattr(item_or_state_dict, "lambda_", np.nan)
        self.best_ = PathItem(lam, selected, np.nan, np.nan, np.nan, np.nan, 0)
        self.lambda_, self.n_features_selected_ = lam, int(selected.sum())
        return self

    def stability_selection(self, X, y, n_models=20, max_retries=3):
        """lassonet's stability selection: ``(oracle, order, wrong, paths, prob)`` from paths on
        ``n_models`` random halves of the data (see ``estimators/stability.py``). Reproducible
        with a fixed ``random_state``; the estimator itself is not fitted or changed."""
        from .stability import stability_selection

        return stability_selection(self, X, y, n_models, max_retries, verbose=bool(self.verbose))

    def plot_path(self, X_test=None, y_test=None, **kwargs):
        """Features and score along the path: the validation score, or with ``X_test`` and
        ``y_test`` the score on them (see ``lassonet_ext.plot.plot_path``). Returns the figure."""
        from ..plot import plot_path

        check_is_fitted(self, "path_")
        return plot_path(self, X_test, y_test, **kwargs)

    # ---- prediction --------------------------------------------------------------------------
    @torch.no_grad()
    def _forward(self, X):
        check_is_fitted(self, "model_")
        X = (self._validate(X, reset=False) - self.x_mean_) / self.x_scale_
        param = next(self.model_.parameters())
        self.model_.eval()
        return self.model_(_tensor(X, param.device, np.float32)).double().cpu().numpy()

    def _get_support_mask(self):
        check_is_fitted(self, "best_")
        return np.asarray(self.best_.selected, dtype=bool)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        return tags


def _tensor(a, device, dtype=None):
    """A torch copy-free view where possible; read-only arrays (memmaps) are copied first."""
    a = np.asarray(a, dtype=dtype)
    if not a.flags.writeable or not a.flags.c_contiguous:
        a = np.array(a, order="C")
    return torch.as_tensor(a, device=device)


def _warn_if_start_too_large(path, start):
    """lassonet's warning: features already leave within twice the path's first lambda, so the
    path may have started past where the first of them would have left. ``start``: the
    lambda_start parameter, or "lambda_seq" where a sequence gave the lambdas."""
    points = [it for it in path if it.lambda_ > 0]
    if not points or path[0].lambda_ != 0:
        return
    dense = path[0].n_selected
    first_drop = next((it for it in points if it.n_selected < dense), None)
    if first_drop is None or first_drop.lambda_ >= 2 * points[0].lambda_:
        return
    what, remedy = {"auto": ("lambda_start (selected automatically)", "a smaller lambda_start"),
                    "lambda_seq": ("lambda_seq's first lambda", "a sequence that starts lower")
                    }.get(start, ("lambda_start", "a smaller lambda_start"))
    warnings.warn(f"{what}={points[0].lambda_:.4g} might be too large: features start to leave "
                  f"at lambda={first_drop.lambda_:.4g}. Pass {remedy} (or "
                  "disable_lambda_warning=True to path()).", UserWarning, stacklevel=4)


def _without_state(item: PathItem) -> PathItem:
    return PathItem(**{**item.__dict__, "state_dict": None})


def _importances(path, d):
    """lambda at which each feature leaves the path (the last lambda for features that stay)."""
    out = np.full(d, path[-1].lambda_ if path else 0.0, dtype=np.float64)
    alive = np.ones(d, dtype=bool)
    for item in path:
        gone = alive & ~item.selected
        out[gone] = item.lambda_
        alive &= item.selected
    return out


def extend_init(base_init, **extra):
    """An ``__init__`` taking ``base_init``'s keyword parameters plus ``extra`` (name=default).

    scikit-learn reads an estimator's parameters from ``inspect.signature(__init__)``, so the new
    function carries the full explicit signature: one list of the shared parameters, no copies.
    """
    import inspect

    def __init__(self, **params):
        for name, default in extra.items():
            setattr(self, name, params.pop(name, default))
        base_init(self, **params)

    sig = inspect.signature(base_init)
    new = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in extra.items()]
    __init__.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *new])
    return __init__
