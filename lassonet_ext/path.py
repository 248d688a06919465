"""The regularisation-path trainer: dense fit, then warm-started fits along increasing lambda.

Pure torch + numpy (no scikit-learn): the estimators in ``lassonet_ext.estimators`` are thin
wrappers over :func:`train_path`.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Iterable, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from .active_set import (START_MARGIN, ActiveSet, entry_scale, entry_thresholds,
                         first_layer_gradients, live_features)
from .losses import CrossEntropyLoss
from .model import BackpropTail, LassoNetModel
from .ops import HAS_NATIVE
from .optim_step import optimizer_step

__all__ = ["PathItem", "NonFiniteLossError", "train_path", "lambda_max", "default_optimizers"]


class NonFiniteLossError(ValueError):
    """The loss became inf or NaN during training (the optimiser diverged); lassonet's name.
    A ValueError, so code that catches that keeps working."""


@dataclass
class PathItem:
    """One point of the path: the model trained at ``lambda_``."""

    lambda_: float
    selected: np.ndarray  # bool (d,): features with theta_j != 0
    loss: float  # training loss (without penalties)
    val_loss: float  # validation loss (without penalties)
    objective: float  # training loss + lambda * sum_j ||theta_j|| (+ gamma terms)
    val_objective: float
    n_iters: int  # epochs run at this lambda
    state_dict: Optional[dict] = field(default=None, repr=False)
    val_score: Optional[float] = None  # filled in by the estimators (R^2, accuracy, ...)
    # The penalties' terms, under lassonet's names: sum_j ||theta_j|| (lambda's), the sum of
    # squares of the MLP's weights (gamma's) and of theta (gamma_skip's).
    regularization: float = math.nan
    l2_regularization: float = math.nan
    l2_regularization_skip: float = math.nan

    @property
    def n_selected(self) -> int:
        return int(self.selected.sum())

    def log(self):
        """Print a line about the point, as lassonet's HistoryItem.log."""
        print(f"lambda {self.lambda_:.3e}: {self.n_selected} features, {self.n_iters} epochs, "
              f"val_objective {self.val_objective:.3e}, val_loss {self.val_loss:.3e}, "
              f"regularization {self.regularization:.3e}, "
              f"l2_regularization {self.l2_regularization:.3e}")


def default_optimizers(path_lr: float = 1e-3):
    """The paper's choice: Adam (lr 1e-3) for the dense model, SGD with momentum 0.9 and
    ``path_lr`` along the path.

    Both use torch's fused kernels where the parameters' device has them (the same update in one
    call instead of a few small ops per parameter: on Mice-sized data the optimiser step was a
    sixth of each epoch), and the plain ones elsewhere.
    """
    return (partial(_fused_if_supported, torch.optim.Adam, lr=1e-3),
            partial(_fused_if_supported, torch.optim.SGD, lr=path_lr, momentum=0.9))


def _fused_if_supported(cls, params, **kwargs):
    # torch >= 2.4 has fused Adam and SGD kernels for float32/float64 on CPU and CUDA; 16-bit
    # parameters and parameter groups keep the default implementation.
    params = list(params)
    fused = bool(params) and all(
        isinstance(p, torch.Tensor) and p.device.type in ("cpu", "cuda")
        and p.dtype in (torch.float32, torch.float64) for p in params)
    return cls(params, fused=True, **kwargs) if fused else cls(params, **kwargs)


def _batches(n, batch_size, generator):
    if batch_size is None or batch_size >= n:
        yield slice(None)
        return
    perm = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):  # the last, smaller batch is kept
        yield perm[start:start + batch_size]


def lambda_max(model: LassoNetModel, X, y, loss_fn) -> float:
    """The smallest lambda at which the model with no feature is stationary.

    With every theta_j and W_j at zero, a prox-gradient step keeps feature j out iff
    ``||grad_theta_j|| + M ||grad_W_j||_1 <= lambda`` (the prox's death condition; per group with
    groups), so this is the largest of those values: LassoNet's analogue of glmnet's lambda_max.
    """
    theta, W = model.theta, model.W
    saved = theta.detach().clone(), W.detach().clone()
    with torch.no_grad():
        theta.zero_()
        W.zero_()
    try:
        return float(entry_thresholds(model, *first_layer_gradients(model, X, y, loss_fn)).max())
    finally:
        with torch.no_grad():
            theta.copy_(saved[0])
            W.copy_(saved[1])


# lambda_start="auto": the largest multiplier the start's acceleration reaches (see train_path).
MAX_START_MULTIPLIER = 1.25


class _Trainer:
    def __init__(self, model, X, y, X_val, y_val, loss_fn, batch_size, tol, gamma, gamma_skip,
                 lam_bar, generator):
        # A LassoNetModel's own forward (a subclass may redefine it) is what the active set and
        # the by-hand gradients below assume.
        plain = isinstance(model, LassoNetModel) and type(model).forward is LassoNetModel.forward
        # Our losses (those with value_and_grad) take outputs with samples along columns, the
        # layout of LassoNetModel.forward_columns. Gradients by hand (forward_backward) where the
        # model and loss allow it: on small data autograd's bookkeeping costs as much as the
        # arithmetic.
        self.columns = plain and hasattr(loss_fn, "value_and_grad")
        self.by_hand = (self.columns and model.dropout is None
                        and all(p.requires_grad for p in model.parameters()))
        # Full batch with gradients by hand: one forward pass over the training and validation
        # rows together gives the validation objective after an epoch and the next epoch's
        # gradient (the weights do not change in between): one pass instead of two (fit_active).
        self.joint = self.by_hand and (batch_size is None or batch_size >= X.shape[0])
        # ... and from that pass's outputs, one call of the loss gives both (our losses).
        self.split = self.joint and hasattr(loss_fn, "split_value_and_grad")
        # ... and on CPU, for cross-entropy and one hidden layer, one native call gives the
        # validation loss and the whole backward pass down to the first layer's product
        # (lassonet::cross_entropy_tail: some twenty Python-level calls fewer per epoch).
        self.tail = (self.split and HAS_NATIVE and type(loss_fn) is CrossEntropyLoss
                     and len(model.layers) == 1 and X.device.type == "cpu"
                     and model.theta.dtype in (torch.float32, torch.float64)
                     and y.dtype == torch.int64 and y_val.dtype == torch.int64)
        self._class_weight = (None if not self.tail or loss_fn.weight is None
                              else loss_fn.weight.to(device=X.device, dtype=model.theta.dtype))
        # (on CPU that pass reads a transposed copy of the data: see ActiveSet)
        self.active = ActiveSet(X, X_val, transposed_forward=self.joint and X.device.type == "cpu")
        # (views of the active set's row-major copy of the data)
        self.model, self.X, self.y, self.X_val, self.y_val = model, self.active.X, y, self.active.X_val, y_val
        self.use_active_set = plain
        self._entry = None  # (weights_key, entry thresholds)
        self._forward = None  # (weights_key, joint_forward's result)
        self._layout = 0  # counts the model's swaps between full and compacted parameters
        self.loss_fn, self.batch_size, self.tol = loss_fn, batch_size, tol
        self.gamma, self.gamma_skip, self.lam_bar, self.generator = gamma, gamma_skip, lam_bar, generator

    def smooth_penalty(self):
        """The differentiable penalties (gamma, gamma_skip): they go through the gradient."""
        m, out = self.model, 0.0
        if self.gamma:
            out = out + self.gamma * m.l2_regularisation()
        if self.gamma_skip:
            out = out + self.gamma_skip * m.l2_regularisation_skip()
        return out

    @torch.no_grad()
    def add_smooth_penalty_grads(self):
        """What ``smooth_penalty`` adds to the gradients (the by-hand path's share of it)."""
        m = self.model
        if self.gamma:
            for layer in [*m.layers, *([m.head] if m.head is not None else [])]:
                layer.weight.grad.add_(layer.weight, alpha=2 * self.gamma)
        if self.gamma_skip:
            m.theta.grad.add_(m.theta, alpha=2 * self.gamma_skip)

    def step_gradients(self, X, y, forward=None, g_out=None):
        """Set every parameter's ``.grad`` to the gradient of the loss + smooth penalties.
        ``forward``: ``forward_columns``' result on X, and ``g_out`` the loss's gradient with
        respect to its output (or a BackpropTail), where the caller has them (by hand only)."""
        if self.by_hand:
            active, model = self.active, self.model
            forward = forward or model.forward_columns(X, active.model_features)
            # (the first-layer gradient's product skips the data-free columns: see ActiveSet)
            X_grad = X if active.n_data == X.shape[1] else X[:, :active.n_data]
            model.backward_columns(X_grad, y, self.loss_fn, *forward, active.gradient_features, g_out)
            if self.gamma or self.gamma_skip:
                self.add_smooth_penalty_grads()
            return
        for p in self.model.parameters():
            p.grad = None
        # lam's penalty is not smooth: the prox handles it.
        (self.loss_fn(self.forward(X), y) + self.smooth_penalty()).backward()

    def penalty(self, lam) -> float:
        # (lam times the norm as Python floats: a tensor product and sum cost two more ops per
        # epoch, for a value read once)
        return lam * float(self.model.l1_regularisation()) + float(self.smooth_penalty())

    def mode(self, train):
        # train()/eval() walk every submodule; they only matter with dropout, so skip them otherwise.
        if self.model.dropout is not None and self.model.training != train:
            self.model.train(train)

    def forward(self, X):
        """The model on X, a matrix with the active set's columns (all of them without one)."""
        features = self.active.model_features
        return self.model(X) if features is None else self.model(X, features)

    @torch.no_grad()
    def evaluate(self, lam, X, y):
        self.mode(False)
        if self.columns:  # (eval mode: no dropout)
            out = self.model.forward_columns(X, self.active.model_features)[0].t()
        else:
            out = self.forward(X)
        return self._loss_and_objective(lam, out, y)

    @torch.no_grad()
    def _loss_and_objective(self, lam, out, y):
        """The loss of the outputs ``out`` against ``y``, and the objective (loss + penalties)."""
        loss = float(self.loss_fn(out, y))
        return loss, loss + self.penalty(lam)

    def state(self):
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def fit(self, lam, optimizer, n_epochs, patience):
        """Train at lam with early stopping on the validation objective. Returns epochs run.

        With a LassoNetModel trained by SGD, on an active set (``active_set.py``): the features
        in the model and those at zero whose entry threshold passes ``START_MARGIN`` times the
        re-entry threshold ``lam * entry_scale(optimizer)``. The others keep theta_j = W_j = 0
        and get no gradient. After the fit the full-data gradient is checked again: features
        left out that pass the threshold join, and training goes on within the same budget of
        ``n_epochs``. So a feature stays out only where zero is stationary for it, as in the
        prox-gradient method on every feature.
        """
        active, scale = self.active, entry_scale(optimizer) if self.use_active_set else None
        if scale is None:
            active.restrict(None, self.model, optimizer)
            return self.fit_active(lam, optimizer, n_epochs, patience)
        threshold = lam * scale
        live = live_features(self.model)
        in_play = live.clone()
        if not bool(in_play.all()):
            in_play |= self.entry_thresholds() > START_MARGIN * threshold
        active.restrict(in_play, self.model, optimizer, live)
        epochs = self.fit_compacted(lam, optimizer, n_epochs, patience)
        while active.mask is not None and epochs < n_epochs:
            entering = ~active.mask & (self.entry_thresholds() > threshold)
            if not bool(entering.any()):
                break
            active.restrict(active.mask | entering, self.model, optimizer, live_features(self.model))
            epochs += self.fit_compacted(lam, optimizer, n_epochs - epochs, patience)
        return epochs

    def fit_compacted(self, lam, optimizer, n_epochs, patience):
        """fit_active with the model compacted to the active set (ActiveSet.compacted). The fit's
        last forward pass stays cached across the swap back: the same function of the same
        weights."""
        with self.active.compacted(self.model, optimizer):
            self._layout += 1
            try:
                epochs = self.fit_active(lam, optimizer, n_epochs, patience)
                last = self._forward if self._forward and self._forward[0] == self.weights_key() else None
            finally:
                self._layout += 1
        if last is not None:
            self._forward = self.weights_key(), last[1]
        return epochs

    def weights_key(self):
        """Changes whenever a parameter is written (in place, as optimisers and the prox do) or
        the model swaps its parameters (fit_compacted)."""
        return self._layout, tuple(p._version for p in self.model.parameters())

    def joint_forward(self):
        """By hand: ``forward_columns`` over the training then validation rows at the current
        weights, reading only the columns of features in the model (ActiveSet.X_all_forward),
        cached until the weights change: the fit's last forward pass also gives the path
        point's losses and the entry check's gradient."""
        key = self.weights_key()
        if self._forward is None or self._forward[0] != key:
            active = self.active
            active.note_entries(self.model)  # (a feature may have entered since the last pass)
            self._forward = key, self.model.forward_columns(active.X_all_forward, active.forward_features)
        return self._forward[1]

    def entry_thresholds(self):
        """Per feature, the entry thresholds of the full-data gradient at the current weights
        (cached until the weights change)."""
        model = self.model
        key = self.weights_key()
        if self._entry is None or self._entry[0] != key:
            self.mode(False)
            if self.by_hand:
                n = self.X.shape[0]
                out, hidden = self.joint_forward()
                grads = model.first_layer_gradients_columns(self.X, self.y, self.loss_fn, out[:, :n],
                                                            [h[:, :n] for h in hidden])
            else:
                grads = first_layer_gradients(model, self.X, self.y, self.loss_fn)
            entry = entry_thresholds(model, *grads, self.lam_bar)
            self._entry = key, entry if model.groups is None else entry[model.group_of]
        return self._entry[1]

    def fit_active(self, lam, optimizer, n_epochs, patience):
        # As lassonet: the best objective starts as the one before training, so a fit whose first
        # epoch already gains less than the tolerance counts it as stale (one epoch fewer per
        # quiet step than starting from infinity).
        model, active, stale = self.model, self.active, 0
        n, joint = self.X.shape[0], self.joint
        if joint:
            out, hidden = self.joint_forward()
            best, g_out = self._validate_joint(lam, out, hidden)
        else:
            best = self.evaluate(lam, active.X_val_fit, self.y_val)[1]
        best = best if math.isfinite(best) else math.inf
        epoch = 0
        for epoch in range(1, n_epochs + 1):
            self.mode(True)
            if joint:
                # (the native tail has the backward pass's outputs part done: no slices for it)
                forward = (out, hidden) if self.tail else (out[:, :n], [h[:, :n] for h in hidden])
                self.step_gradients(active.X_fit, self.y, forward, g_out)
                self._step(lam, optimizer)
                out, hidden = self.joint_forward()
                val_obj, g_out = self._validate_joint(lam, out, hidden)
            else:
                for idx in _batches(n, self.batch_size, self.generator):
                    self.step_gradients(active.X_fit[idx], self.y[idx])
                    self._step(lam, optimizer)
                val_obj = self.evaluate(lam, active.X_val_fit, self.y_val)[1]
            if not math.isfinite(val_obj):
                raise NonFiniteLossError(
                    f"the loss became {val_obj} while training at lambda={lam:.4g}: the optimiser "
                    "diverged. Standardise X (and y for regression), lower the learning rate "
                    "(optim=...), or use a smaller path_multiplier."
                )
            if val_obj < self.tol * best or best == math.inf:
                best, stale = val_obj, 0
            else:
                stale += 1
                if stale >= patience:
                    break
        return epoch

    @torch.no_grad()
    def _validate_joint(self, lam, out, hidden):
        """The validation objective from the joint pass's outputs ``out`` (and hidden layers),
        and the training loss's gradient with respect to ``out[:, :n]`` (None where the loss
        cannot split: the next step then computes it; a BackpropTail where the native tail
        applies): the next step's gradient comes from the same weights."""
        n = self.X.shape[0]
        if self.tail:
            val_loss, *grads = torch.ops.lassonet.cross_entropy_tail.default(
                out, hidden[0], self.model.head.weight, self.y, self.y_val, self._class_weight, n)
            return float(val_loss) + self.penalty(lam), BackpropTail(*grads)
        if not self.split:
            return self._loss_and_objective(lam, out[:, n:].t(), self.y_val)[1], None
        val_loss, g_out = self.loss_fn.split_value_and_grad(out, n, self.y, self.y_val)
        return float(val_loss) + self.penalty(lam), g_out

    def _step(self, lam, optimizer):
        """The optimiser's step, then the prox with the step size folded into the thresholds."""
        optimizer_step(optimizer)
        lr = optimizer.param_groups[0]["lr"]
        self.model.prox_(lam * lr, self.lam_bar * lr)

    def item(self, lam, n_iters, keep_state):
        if self.by_hand:  # (usually the fit's last forward pass, cached)
            out, n = self.joint_forward()[0], self.X.shape[0]
            loss, obj = self._loss_and_objective(lam, out[:, :n].t(), self.y)
            val_loss, val_obj = self._loss_and_objective(lam, out[:, n:].t(), self.y_val)
        else:
            loss, obj = self.evaluate(lam, self.active.X_fit, self.y)
            val_loss, val_obj = self.evaluate(lam, self.active.X_val_fit, self.y_val)
        model = self.model
        with torch.no_grad():
            penalties = [float(model.l1_regularisation()), float(model.l2_regularisation()),
                         float(model.l2_regularisation_skip())]
        return PathItem(
            lambda_=float(lam), selected=model.selected_features().cpu().numpy(), loss=loss,
            val_loss=val_loss, objective=obj, val_objective=val_obj, n_iters=n_iters,
            state_dict=self.state() if keep_state else None, regularization=penalties[0],
            l2_regularization=penalties[1], l2_regularization_skip=penalties[2],
        )


def train_path(
    model: LassoNetModel,
    X: torch.Tensor,
    y: torch.Tensor,
    X_val: torch.Tensor,
    y_val: torch.Tensor,
    loss_fn: Callable,
    *,
    lambda_seq: Optional[Iterable[float]] = None,
    lambda_start="auto",
    path_multiplier: float = 1.02,
    n_iters=(1000, 100),
    patience=(100, 10),
    tol: float = 0.99,
    batch_size: Optional[int] = None,
    optim=None,
    backtrack: bool = False,
    gamma: float = 0.0,
    gamma_skip: float = 0.0,
    lam_bar: float = 0.0,
    generator: Optional[torch.Generator] = None,
    verbose: bool = False,
    keep_state_dicts: bool = True,
    skip_dense: bool = False,
    lambda_limit: float = math.inf,
    callback: Optional[Callable[[list], None]] = None,
) -> list:
    """Train ``model`` dense (lambda = 0), then along increasing lambda until no feature is left.

    lambda goes ``lambda_start, lambda_start * path_multiplier, ...`` unless ``lambda_seq`` is given.
    ``lambda_start="auto"`` starts at ``1e-3 * lambda_max`` (see :func:`lambda_max`) and, until the
    first feature leaves, squares the multiplier after every quiet step (no feature left and the
    fit early-stopped within ``patience[1] + 1`` epochs, at its first chance or the next; capped at
    ``MAX_START_MULTIPLIER``), keeps it after a fit that used all ``n_iters[1]`` epochs, and goes
    back to ``path_multiplier`` after any other step, so few steps are spent where nothing happens
    and none is skipped where the weights are settling (a multiplier that kept growing through
    busy steps overshot the first removals and cost about 0.025 of test accuracy on Mice
    Protein); from the first removal on, the path uses ``path_multiplier``. Each lambda
    warm-starts from the previous solution and trains for at most ``n_iters[1]`` epochs with early
    stopping (``patience[1]`` epochs without the validation objective dropping below ``tol`` times
    its best, which starts as the objective before the fit). The prox runs after every optimiser
    step with thresholds ``lam * lr`` and ``lam_bar * lr``. With a LassoNetModel and an SGD path
    optimiser, each fit computes only on the features in play (``active_set.py``; see
    ``_Trainer.fit``). With ``backtrack=True`` a step whose objective ends above its starting
    objective is redone from the start with half the learning rate (up to 5 times).
    ``skip_dense=True`` continues from the model as it is (warm start). Without ``lambda_seq`` the
    path also stops before any lambda above ``lambda_limit`` (the estimators'
    ``path(lambda_max=...)``, lassonet's name). ``callback(path)``, if given, gets the
    list of points so far after the dense fit and after every lambda.
    """
    n_iters = (n_iters, n_iters) if isinstance(n_iters, int) else tuple(n_iters)
    patience = (patience, patience) if isinstance(patience, int) else tuple(patience)
    optim = default_optimizers() if optim is None else optim
    optim = (optim, optim) if callable(optim) else tuple(optim)
    trainer = _Trainer(model, X, y, X_val, y_val, loss_fn, batch_size, tol, gamma, gamma_skip,
                       lam_bar, generator)
    path = []
    if not skip_dense:
        epochs = trainer.fit(0.0, optim[0](model.parameters()), n_iters[0], patience[0])
        path.append(trainer.item(0.0, epochs, keep_state_dicts))
        if callback is not None:
            callback(path)

    if lambda_seq is not None:
        lambdas = iter(lambda_seq)
        accelerate = False
    else:
        if lambda_start == "auto":
            start = 1e-3 * lambda_max(model, X, y, loss_fn)
            accelerate = True
        else:
            start = float(lambda_start)
            accelerate = False
        if not start > 0:
            raise ValueError(f"lambda_start must be > 0, got {start}")
        lambdas = None

    optimizer = optim[1](model.parameters())
    bar = tqdm(desc="LassoNet path", unit="lambda", disable=not verbose, leave=False)
    lam, multiplier = (start if lambdas is None else None), path_multiplier
    n_before = int(model.selected_features().sum())
    try:
        for _ in itertools.count():
            if lambdas is not None:
                lam = next(lambdas, None)
                if lam is None:
                    break
            elif lam > lambda_limit:
                break
            epochs = _fit_with_backtrack(trainer, lam, optimizer, n_iters[1], patience[1], backtrack)
            item = trainer.item(lam, epochs, keep_state_dicts)
            path.append(item)
            if callback is not None:
                callback(path)
            bar.update(1)
            bar.set_postfix(lam=f"{lam:.3g}", k=item.n_selected)
            if item.n_selected == 0:
                break
            if lambdas is None:
                if accelerate and item.n_selected == n_before:
                    # A quiet step: the fit stopped early within patience + 1 epochs (its first
                    # chance or the next), so the model barely moved (a fit that cannot stop
                    # early never is): accelerate. A fit that settled only later was moving, and
                    # steps of 1.25 would outrun it and overshoot the first removals: back to
                    # path_multiplier. A fit that ran out of epochs is crawling (the penalty
                    # drags every weight at a speed proportional to lambda; runs of such fits
                    # come where the penalty starts to bite): keep the pace, neither faster nor
                    # slower (7% fewer epochs on MNIST and Mice Protein at equal accuracy).
                    if epochs < n_iters[1]:  # stopped early (else: out of epochs, keep the pace)
                        quiet = epochs <= patience[1] + 1
                        multiplier = (min(multiplier * multiplier, MAX_START_MULTIPLIER) if quiet
                                      else path_multiplier)
                else:
                    accelerate, multiplier = False, path_multiplier
                n_before = item.n_selected
                lam *= multiplier
    finally:
        bar.close()
    return path


def _fit_with_backtrack(trainer, lam, optimizer, n_epochs, patience, backtrack):
    if not backtrack:
        return trainer.fit(lam, optimizer, n_epochs, patience)
    start_state = trainer.state()
    start_obj = trainer.evaluate(lam, trainer.active.X_fit, trainer.y)[1]
    lrs = [g["lr"] for g in optimizer.param_groups]
    try:
        for _ in range(6):
            epochs = trainer.fit(lam, optimizer, n_epochs, patience)
            if trainer.evaluate(lam, trainer.active.X_fit, trainer.y)[1] <= start_obj:
                return epochs
            trainer.model.load_state_dict(start_state)
            for g in optimizer.param_groups:
                g["lr"] /= 2
        return epochs
    finally:
        for g, lr in zip(optimizer.param_groups, lrs):
            g["lr"] = lr
