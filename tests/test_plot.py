"""Plots and scoring along a path: lassonet's plot_path / plot_cv / eval_on_path calls."""
import pickle

import matplotlib

matplotlib.use("Agg")  # (before pyplot: no display in CI)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn.metrics import mean_squared_error, r2_score  # noqa: E402

from lassonet_ext import (LassoNetClassifier, LassoNetRegressor, LassoNetRegressorCV,  # noqa: E402
                          eval_on_path, plot_cv, plot_path)

FAST = dict(hidden_dims=(8,), n_iters=(200, 30), patience=(20, 5), path_multiplier=1.15,
            random_state=0)


def data(n, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = 2 * X[:, 0] + np.sin(2 * X[:, 1]) + X[:, 2] * np.abs(X[:, 2]) + 0.1 * rng.standard_normal(n)
    return X, y


@pytest.fixture(scope="module")
def fitted():
    X, y = data(200)
    X_test, y_test = data(100, seed=1)
    return LassoNetRegressor(**FAST).fit(X, y), X_test, y_test


def scores_by_loading(est, X_test, y_test, metric=None):
    """lassonet's eval_on_path, on an independent copy of the estimator (pickled)."""
    twin = pickle.loads(pickle.dumps(est))
    out = []
    for item in twin.path_:
        twin.load(item)
        out.append(twin.score(X_test, y_test) if metric is None else metric(y_test, twin.predict(X_test)))
    return out


def test_eval_on_path_scores_every_point_and_keeps_the_chosen_one(fitted):
    est, X_test, y_test = fitted
    before = est.predict(X_test)
    chosen = (est.lambda_, est.n_features_selected_, est.get_support().copy())
    scores = eval_on_path(est, est.path_, X_test, y_test)
    assert len(scores) == len(est.path_) > 3
    np.testing.assert_allclose(scores, scores_by_loading(est, X_test, y_test), rtol=1e-12)
    assert len(set(np.round(scores, 6))) > 3  # the points differ: not one model scored again
    # lassonet leaves the estimator at the last point scored (the empty model); we do not.
    np.testing.assert_array_equal(est.predict(X_test), before)
    assert (est.lambda_, est.n_features_selected_) == chosen[:2]
    np.testing.assert_array_equal(est.get_support(), chosen[2])
    # path=None is the estimator's own path; score_function takes (y_true, y_pred) as in lassonet.
    assert eval_on_path(est, None, X_test, y_test) == scores
    np.testing.assert_allclose(eval_on_path(est, None, X_test, y_test, score_function=r2_score),
                               scores, rtol=1e-9)
    np.testing.assert_allclose(
        eval_on_path(est, None, X_test, y_test, score_function=mean_squared_error),
        scores_by_loading(est, X_test, y_test, mean_squared_error), rtol=1e-12)


def test_plot_path_draws_the_scores_it_says(fitted):
    est, X_test, y_test = fitted
    fig = plot_path(est, X_test, y_test)  # lassonet's call
    ax_k, ax_s, ax_sk = fig.axes
    k = [it.n_selected for it in est.path_]
    scores = eval_on_path(est, None, X_test, y_test)
    line = ax_sk.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), k)
    np.testing.assert_allclose(line.get_ydata(), scores)
    star = ax_sk.lines[1]
    assert star.get_xdata()[0] == est.n_features_selected_
    assert ax_sk.get_ylabel() == "test score"
    # the lambda panels leave out the dense point (lambda = 0) of the log axis
    positive = [it.lambda_ for it in est.path_ if it.lambda_ > 0]
    np.testing.assert_allclose(ax_s.lines[0].get_xdata(), positive)
    np.testing.assert_allclose(ax_s.lines[0].get_ydata(), scores[len(scores) - len(positive):])
    plt.close(fig)
    fig = est.plot_path()  # validation scores, as the method always drew
    np.testing.assert_allclose(fig.axes[2].lines[0].get_ydata(), [it.val_score for it in est.path_])
    assert fig.axes[2].get_ylabel() == "validation score"
    plt.close(fig)
    fig = plot_path(est.path(*data(200)))  # a bare list of path points
    assert len(fig.axes) == 3
    plt.close(fig)


def test_plot_cv_shows_folds_mean_interval_and_test_scores():
    X, y = data(240)
    X_test, y_test = data(100, seed=1)
    est = LassoNetRegressorCV(cv=3, **FAST).fit(X, y)
    fig = plot_cv(est, X_test, y_test)
    ax_s, ax_k = fig.axes
    lambdas = est.lambdas_
    assert len([ln for ln in ax_s.lines if ln.get_color() == "r"]) == 3  # one line per fold,
    assert [ln.get_label() for ln in ax_s.lines].count("folds") == 1  # labelled once
    mean_line = next(ln for ln in ax_s.lines if ln.get_label() == "mean over folds")
    np.testing.assert_allclose(mean_line.get_ydata(), est.cv_scores_.mean(axis=1))
    # the band is lassonet's confidence_interval: a t interval with n_folds - 1 degrees of freedom
    half = np.array([stats.t.interval(0.95, 2, scale=stats.sem(row))[1] for row in est.cv_scores_])
    band = ax_s.collections[0].get_paths()[0].vertices
    mean = est.cv_scores_.mean(axis=1)
    for lam, lo, hi in zip(lambdas, mean - half, mean + half):
        ys = band[np.isclose(band[:, 0], lam), 1]
        assert np.isclose(ys, lo).any() and np.isclose(ys, hi).any()
    test_line = next(ln for ln in ax_s.lines if ln.get_label() == "test")
    positive = [it for it in est.path_ if it.lambda_ > 0]
    np.testing.assert_allclose(test_line.get_ydata(), eval_on_path(est, positive, X_test, y_test))
    np.testing.assert_allclose(ax_k.lines[0].get_ydata(), [it.n_selected for it in positive])
    plt.close(fig)
    fig = plot_cv(est)  # without test data
    assert all(ln.get_label() != "test" for ln in fig.axes[0].lines)
    plt.close(fig)


def test_plot_errors_are_clear(fitted):
    est, X_test, y_test = fitted
    with pytest.raises(ValueError, match="holds no weights"):
        eval_on_path(est, est.path(*data(200)), X_test, y_test)
    with pytest.raises(TypeError, match="score_function"):
        eval_on_path(est, None, X_test, y_test, score_function="r2")
    with pytest.raises(TypeError, match="fitted LassoNet estimator"):
        eval_on_path(LassoNetClassifier(), None, X_test, y_test)
    with pytest.raises(ValueError, match="both X_test and y_test"):
        plot_path(est, X_test)
    with pytest.raises(TypeError, match="needs the fitted estimator"):
        plot_path(est.path_, X_test, y_test)
    with pytest.raises(ValueError, match="pass X_test and y_test"):
        plot_path(est, score_function=r2_score)
    with pytest.raises(TypeError, match="LassoNet\\*CV"):
        plot_cv(est)
    plt.close("all")
