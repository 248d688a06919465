"""Plots of a LassoNet path and of its cross-validation (matplotlib), and scoring along a path.

The names and calls of lassonet 0.0.21 work here too (``plot_path(model, X_test, y_test)``,
``plot_cv(model, X_test, y_test)``, ``eval_on_path(model, path, X_test, y_test)``), with two
differences: the estimator keeps its chosen path point (lassonet's ``eval_on_path`` leaves it
at the last point it scored, the empty end of the path), and each plot returns its figure.
"""
from __future__ import annotations

import copy
import os

import numpy as np

__all__ = ["plot_path", "plot_cv", "eval_on_path"]


def eval_on_path(model, path, X_test, y_test, *, score_function=None):
    """The score of every point of ``path`` on ``(X_test, y_test)``: a list of floats.

    ``model`` is the fitted estimator the path belongs to; ``path`` its points with weights
    (``model.path_``, or ``model.path(..., return_state_dicts=True)``); None means
    ``model.path_``. ``score_function(y_true, y_pred)`` (scikit-learn's metric order, as in
    lassonet) or None for ``model.score``. The points are loaded into a copy of the estimator, so
    ``model`` itself is left as it was.
    """
    if not hasattr(model, "model_"):
        raise TypeError(f"eval_on_path needs a fitted LassoNet estimator, got {type(model).__name__}")
    if score_function is not None and not callable(score_function):
        raise TypeError(f"score_function must be callable(y_true, y_pred) or None, got {score_function!r}")
    path = model.path_ if path is None else path
    missing = [item.lambda_ for item in path if item.state_dict is None]
    if missing:
        raise ValueError(
            f"the path point at lambda={missing[0]:.4g} holds no weights: score the estimator's own "
            "path_ or one returned by path(..., return_state_dicts=True)")
    probe = copy.copy(model)
    probe.model_ = copy.deepcopy(model.model_)
    scores = []
    for item in path:
        probe.load(item)
        if score_function is None:
            scores.append(float(probe.score(X_test, y_test)))
        else:
            scores.append(float(score_function(y_test, probe.predict(X_test))))
    return scores


def plot_path(model, X_test=None, y_test=None, *, score_function=None, score_name=None,
              figsize=(14, 4)):
    """Three panels: selected features vs lambda, score vs lambda, score vs selected features.

    ``model``: a fitted estimator (its ``path_``) or a list of ``PathItem``. The score is each
    point's validation score, or with ``X_test`` and ``y_test`` (lassonet's
    ``plot_path(model, X_test, y_test)``; needs the estimator) its score on them, by
    ``model.score`` or ``score_function(y_true, y_pred)``. The estimator's chosen point is
    starred. Returns the figure.
    """
    path = getattr(model, "path_", model)
    if X_test is not None or y_test is not None:
        _check_test_data(X_test, y_test)
        if path is model:
            raise TypeError("scoring on X_test needs the fitted estimator, not a list of path points")
        score = np.array(eval_on_path(model, path, X_test, y_test, score_function=score_function))
        score_name = score_name or "test score"
    else:
        if score_function is not None:
            raise ValueError("score_function scores X_test: pass X_test and y_test too")
        score = np.array([np.nan if it.val_score is None else it.val_score for it in path])
        score_name = score_name or "validation score"
    lam = np.array([it.lambda_ for it in path])
    k = np.array([it.n_selected for it in path])
    plt = _pyplot()
    fig, (ax_k, ax_s, ax_sk) = plt.subplots(1, 3, figsize=figsize)
    on_log_axis = lam > 0  # (the dense point, lambda = 0, has no place on a log axis)
    ax_k.step(lam[on_log_axis], k[on_log_axis], where="post")
    ax_k.set(xscale="log", xlabel="lambda", ylabel="selected features", title="Features along the path")
    ax_s.plot(lam[on_log_axis], score[on_log_axis], ".-")
    ax_s.set(xscale="log", xlabel="lambda", ylabel=score_name,
             title=f"{score_name.capitalize()} along the path")
    ax_sk.plot(k, score, "o-", markersize=3)
    ax_sk.set(xlabel="selected features", ylabel=score_name,
              title=f"{score_name.capitalize()} vs features")
    chosen = _chosen_index(model, path)
    if chosen is not None and np.isfinite(score[chosen]):
        ax_sk.plot([k[chosen]], [score[chosen]], "r*", markersize=12, label="chosen")
        ax_sk.legend()
    for ax in (ax_k, ax_s, ax_sk):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_cv(model, X_test=None, y_test=None, *, score_function=None, confidence=0.95,
            figsize=(12, 4)):
    """A cross-validated estimator's (``LassoNet*CV``) scores along lambda: each fold's, their
    mean with a ``confidence`` t-interval, the chosen ``best_lambda_``, and with ``X_test``,
    ``y_test`` the full-data path's score on them (see ``plot_path``); beside it, the selected
    features vs lambda of the full-data path. Returns the figure.
    """
    if not hasattr(model, "cv_scores_"):
        raise TypeError(f"plot_cv needs a fitted LassoNet*CV estimator, got {type(model).__name__}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    from scipy import stats

    lambdas, scores = np.asarray(model.lambdas_), np.asarray(model.cv_scores_)
    plt = _pyplot()
    fig, (ax_s, ax_k) = plt.subplots(1, 2, figsize=figsize)
    for f in range(scores.shape[1]):
        ax_s.plot(lambdas, scores[:, f], "r.-", markersize=3, alpha=0.25,
                  label="folds" if f == 0 else None)
    mean = scores.mean(axis=1)
    ax_s.plot(lambdas, mean, "g.-", markersize=3, label="mean over folds")
    n_folds = scores.shape[1]
    if n_folds > 1:
        half = stats.t.ppf(0.5 + confidence / 2, n_folds - 1) * stats.sem(scores, axis=1)
        ax_s.fill_between(lambdas, mean - half, mean + half, color="g", alpha=0.15,
                          label=f"{confidence:.0%} interval")
    ax_s.axvline(model.best_lambda_, color="k", linestyle=":", label="best lambda")
    path = model.path_
    on_log_axis = [i for i, it in enumerate(path) if it.lambda_ > 0]
    lam = np.array([path[i].lambda_ for i in on_log_axis])
    if X_test is not None or y_test is not None:
        _check_test_data(X_test, y_test)
        test = eval_on_path(model, [path[i] for i in on_log_axis], X_test, y_test,
                            score_function=score_function)
        ax_s.plot(lam, test, "b.-", markersize=3, label="test")
    ax_s.set(xscale="log", xlabel="lambda", ylabel="score", title="Cross-validation")
    ax_s.legend()
    ax_k.step(lam, [path[i].n_selected for i in on_log_axis], where="post")
    ax_k.axvline(model.best_lambda_, color="k", linestyle=":")
    ax_k.set(xscale="log", xlabel="lambda", ylabel="selected features",
             title="Features along the full-data path")
    for ax in (ax_s, ax_k):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def _check_test_data(X_test, y_test):
    if X_test is None or y_test is None:
        raise ValueError("pass both X_test and y_test, or neither")


def _chosen_index(model, path):
    """Where the estimator's chosen point (``best_``) sits in ``path``, or None."""
    chosen = getattr(model, "best_", None)
    if chosen is None:
        return None
    for i, item in enumerate(path):
        if item.lambda_ == chosen.lambda_ and item.n_selected == chosen.n_selected:
            return i
    return None


def _pyplot():
    """pyplot, on the Agg backend where no display would show an interactive one."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg") and not os.environ.get("DISPLAY"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
