"""Stability selection over LassoNet paths: lassonet's ``stability_selection``, reproducible.

Paths are trained on random halves of the data along one lambda sequence; a feature's selection
probability at each step is the share of paths that keep it (made non-increasing along the path),
and Meinshausen and Buehlmann's bound turns probabilities into the expected number of wrongly
selected features (lassonet 0.0.21's ``selection_probability``).
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils import check_consistent_length, resample
from tqdm.auto import tqdm

from ..path import NonFiniteLossError

__all__ = ["stability_selection", "selection_probability"]

# Expected wrong selections above which even the most stable feature is not worth selecting.
WRONG_THRESHOLD = 0.5


def selection_probability(paths):
    """Per step and feature, the share of ``paths`` that select it, non-increasing along the
    steps (a path that ended early selects nothing after its end), and per feature the smallest
    expected number of wrong selections over the steps, sorted.

    Returns ``prob`` (n_steps, n_features) and ``(wrong, order)``: ``order`` the features by
    increasing expected wrong selections ``wrong`` (inf where a feature's probability never
    exceeds 1/2). The bound: with q the expected number of selected features at a step,
    selecting the features whose probability exceeds a threshold pi > 1/2 selects on average at
    most ``q^2 / ((2 pi - 1) n_features)`` wrong ones.
    """
    if not paths:
        raise ValueError("selection_probability needs at least one path")
    n_steps, d = max(len(p) for p in paths), len(paths[0][0].selected)
    selected = np.zeros((len(paths), n_steps, d))
    for i, path in enumerate(paths):
        selected[i, :len(path)] = [np.asarray(item.selected, dtype=bool) for item in path]
    prob = np.minimum.accumulate(selected.mean(axis=0), axis=0)
    q = d * prob.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected_wrong = np.where(prob > 0.5, q ** 2 / ((2 * prob - 1) * d), np.inf)
    best = expected_wrong.min(axis=0)
    order = np.argsort(best, kind="stable")
    return prob, (best[order], order)


def stability_selection(estimator, X, y, n_models=20, max_retries=3, verbose=False):
    """lassonet's ``stability_selection``: ``(oracle, order, wrong, paths, prob)``.

    One path on a random half of the data fixes the lambda sequence; ``n_models`` more paths,
    each on its own random half and with its own seed, follow it (``paths``). ``prob`` and
    ``(wrong, order)`` are ``selection_probability(paths)``; ``oracle`` is the number of features
    worth selecting: 0 if even the most stable one expects more than 1/2 wrong selection, else
    the count before the largest jump in ``wrong`` (an infinite one, past the features whose
    probability never exceeds 1/2, counts as the largest). Everything is drawn from the
    estimator's ``random_state``, so a fixed one repeats the result (lassonet's draws Python's
    global ``random``). A subsample whose loss becomes non-finite is drawn again, up to
    ``max_retries`` times per path. The estimator itself is not fitted or changed: each path
    trains a clone. Arrays are numpy.
    """
    if not (isinstance(n_models, numbers.Integral) and n_models >= 1):
        raise ValueError(f"n_models must be an int >= 1, got {n_models!r}")
    if not (isinstance(max_retries, numbers.Integral) and max_retries >= 0):
        raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
    X, y = (a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a for a in (X, y))
    data = (X,) if y is None else (X, y)  # (y None: unsupervised, LassoNetAutoEncoder)
    check_consistent_length(*data)
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    if n < 4:
        raise ValueError(f"stability selection trains on halves of the data: it needs at least 4 samples, got {n}")
    rng = np.random.default_rng(estimator._seed())

    def half_path(lambda_seq):
        for attempt in range(max_retries + 1):
            half = resample(*data, replace=False, n_samples=n - n // 2,
                            random_state=int(rng.integers(2**31 - 1)))
            X_half, y_half = (half, None) if y is None else half
            model = clone(estimator).set_params(random_state=int(rng.integers(2**31 - 1)), torch_seed=None)
            try:
                return model.path(X_half, y_half, lambda_seq=lambda_seq,
                                  disable_lambda_warning=lambda_seq is not None)
            except NonFiniteLossError as err:
                if attempt == max_retries:
                    raise
                warnings.warn(f"{err} Drawing a new subsample.", RuntimeWarning, stacklevel=3)

    lambdas = [item.lambda_ for item in half_path(None) if item.lambda_ > 0]
    paths = [half_path(lambdas) for _ in tqdm(range(n_models), desc="Stability selection",
                                               disable=not verbose, leave=False)]
    prob, (wrong, order) = selection_probability(paths)
    return _oracle(wrong), order, wrong, paths, prob


def _oracle(wrong):
    if not wrong[0] <= WRONG_THRESHOLD:
        return 0
    if len(wrong) == 1:
        return 1
    infinite = np.flatnonzero(~np.isfinite(wrong))
    if infinite.size:  # the jump to the first infinite value is the largest
        return int(infinite[0])
    return int(np.argmax(wrong[1:] / wrong[:-1])) + 1
