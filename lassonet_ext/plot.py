"""Plots of a LassoNet path (matplotlib)."""
from __future__ import annotations

import numpy as np

__all__ = ["plot_path"]


def plot_path(path_or_estimator, *, score_name="validation score", figsize=(10, 4)):
    """Two panels: selected features vs lambda, and validation score vs number of features.

    Accepts a fitted estimator (its ``path_``) or a list of ``PathItem``. Returns the figure.
    """
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg") and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = getattr(path_or_estimator, "path_", path_or_estimator)
    lam = np.array([it.lambda_ for it in path])
    k = np.array([it.n_selected for it in path])
    score = np.array([np.nan if it.val_score is None else it.val_score for it in path])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=figsize)
    positive = lam > 0
    ax1.step(lam[positive], k[positive], where="post")
    ax1.set_xscale("log")
    ax1.set_xlabel("lambda")
    ax1.set_ylabel("selected features")
    ax1.set_title("Features along the path")
    ax2.plot(k, score, "o-", markersize=3)
    ax2.set_xlabel("selected features")
    ax2.set_ylabel(score_name)
    ax2.set_title(f"{score_name.capitalize()} vs features")
    chosen = getattr(path_or_estimator, "best_", None)
    if chosen is not None and chosen.val_score is not None:
        ax2.plot([chosen.n_selected], [chosen.val_score], "r*", markersize=12, label="chosen")
        ax2.legend()
    fig.tight_layout()
    return fig


def _has_display():
    import os

    return bool(os.environ.get("DISPLAY"))
