"""Stability selection (lassonet's ``stability_selection``): probabilities, bound, recovery."""
import numpy as np
import pytest

from lassonet_ext import LassoNetAutoEncoder, LassoNetClassifier, LassoNetRegressor, NonFiniteLossError
from lassonet_ext.estimators.stability import selection_probability

QUICK = dict(hidden_dims=(8,), n_iters=(150, 20), patience=(15, 4), path_multiplier=1.2,
             random_state=0)


def data(n=240, d=10, seed=0):
    """y depends on features 0, 1 and 2 only."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = 3 * X[:, 0] - 2 * X[:, 1] + 2 * np.tanh(2 * X[:, 2]) + 0.1 * rng.standard_normal(n)
    return X, y


def probabilities_by_hand(paths, d):
    """Share of paths selecting each feature at each step, then a running minimum (plain loops)."""
    n_steps = max(len(p) for p in paths)
    prob, running = [], [1.0] * d
    for s in range(n_steps):
        share = [sum(bool(p[s].selected[j]) for p in paths if s < len(p)) / len(paths) for j in range(d)]
        running = [min(r, x) for r, x in zip(running, share)]
        prob.append(running)
    return np.array(prob)


def wrong_by_hand(prob):
    """Meinshausen-Buehlmann: E[wrong] <= q^2 / ((2 pi - 1) d), q = expected number selected."""
    n_steps, d = prob.shape
    best = []
    for j in range(d):
        values = [float(np.sum(prob[s])) ** 2 / ((2 * prob[s, j] - 1) * d)
                  for s in range(n_steps) if prob[s, j] > 0.5]
        best.append(min(values) if values else np.inf)
    return np.array(best)


def test_stability_selection_finds_the_true_features_and_is_reproducible():
    X, y = data()
    est = LassoNetRegressor(**QUICK)
    oracle, order, wrong, paths, prob = est.stability_selection(X, y, n_models=6)
    assert not hasattr(est, "path_")  # the estimator itself is not fitted
    assert len(paths) == 6
    for a in (order, wrong, prob):
        assert isinstance(a, np.ndarray)
    # probabilities: every path selects every feature at the dense start; non-increasing after
    assert prob.shape == (max(len(p) for p in paths), 10)
    np.testing.assert_array_equal(prob[0], 1.0)
    assert (np.diff(prob, axis=0) <= 0).all() and (prob >= 0).all()
    np.testing.assert_allclose(prob, probabilities_by_hand(paths, 10))
    # the bound, sorted
    np.testing.assert_array_equal(np.sort(order), np.arange(10))
    np.testing.assert_allclose(wrong, wrong_by_hand(prob)[order], rtol=1e-12)
    assert (np.diff(wrong[np.isfinite(wrong)]) >= 0).all()
    # the three features y depends on are the most stable, and the oracle keeps them
    assert set(order[:3]) == {0, 1, 2}
    assert 3 <= oracle <= 10
    # every path follows the first path's lambda sequence
    lambdas = [it.lambda_ for it in paths[0]]
    for p in paths[1:]:
        assert [it.lambda_ for it in p] == lambdas[:len(p)]
    again = LassoNetRegressor(**QUICK).stability_selection(X, y, n_models=6)
    assert again[0] == oracle
    np.testing.assert_array_equal(again[1], order)
    np.testing.assert_array_equal(again[4], prob)
    other = LassoNetRegressor(**{**QUICK, "random_state": 1}).stability_selection(X, y, n_models=6)
    assert not np.array_equal(other[4], prob) or len(other[4]) != len(prob)


def test_stability_selection_leaves_a_fitted_estimator_as_it_was():
    X, y = data(n=160)
    clf = LassoNetClassifier(**QUICK).fit(X, np.where(y > 0, "up", "down"))
    before = clf.predict_proba(X)
    *_, prob = clf.stability_selection(X, np.where(y > 0, "up", "down"), n_models=2)
    assert prob.shape[1] == 10
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_stability_selection_without_targets():
    # unsupervised (LassoNetAutoEncoder's reconstruction loss): halves of X alone
    X, _ = data(n=160, d=6)
    oracle, order, wrong, paths, prob = LassoNetAutoEncoder(**QUICK).stability_selection(X, None, n_models=2)
    assert prob.shape[1] == 6 and len(paths) == 2 and 0 <= oracle <= 6
    np.testing.assert_allclose(prob, probabilities_by_hand(paths, 6))


def test_selection_probability_and_oracle_on_known_paths():
    from lassonet_ext.estimators.stability import _oracle
    from lassonet_ext.path import PathItem

    def path(*masks):
        return [PathItem(float(i), np.array(m, bool), 0, 0, 0, 0, 1) for i, m in enumerate(masks)]

    paths = [path([1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0]),  # feature 1 comes back
             path([1, 1, 1, 1], [1, 0, 1, 0], [1, 1, 0, 0]),
             path([1, 1, 1, 1], [1, 1, 0, 0])]  # ends early: selects nothing after its end
    prob, (wrong, order) = selection_probability(paths)
    # feature 1's share rises to 2/3 at the last step; its probability stays at 1/3
    np.testing.assert_allclose(prob, [[1, 1, 1, 1], [1, 1 / 3, 1 / 3, 0], [2 / 3, 1 / 3, 0, 0]])
    np.testing.assert_allclose(wrong, wrong_by_hand(prob)[order])
    # feature 0 at step 1: q = 5/3, pi = 1: (25/9) / 4; the others' best is the dense step's
    # q^2 / d = 4 (ties keep the features' order)
    np.testing.assert_allclose(wrong, [25 / 36, 4, 4, 4])
    assert list(order) == [0, 1, 2, 3]
    assert _oracle(np.array([0.2, 0.3, 3.0, 3.5])) == 2  # the largest jump
    # lassonet's formula gives 3 here (inf / inf is NaN, which wins torch's argmax)
    assert _oracle(np.array([0.2, 0.3, np.inf, np.inf])) == 2
    assert _oracle(np.array([0.6, 0.7])) == 0
    assert _oracle(np.array([0.1])) == 1


def test_a_diverging_subsample_is_drawn_again():
    class FlakyOnce(LassoNetRegressor):
        failures = 1

        def path(self, X, y, **kwargs):
            if FlakyOnce.failures:
                FlakyOnce.failures -= 1
                raise NonFiniteLossError("the loss became nan while training at lambda=1.")
            return super().path(X, y, **kwargs)

    X, y = data(n=120, d=5)
    with pytest.warns(RuntimeWarning, match="Drawing a new subsample"):
        FlakyOnce(**QUICK).stability_selection(X, y, n_models=1, max_retries=1)
    FlakyOnce.failures = 1
    with pytest.raises(NonFiniteLossError):
        FlakyOnce(**QUICK).stability_selection(X, y, n_models=1, max_retries=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_models=0), "n_models"), (dict(max_retries=-1), "max_retries"),
])
def test_stability_selection_bad_arguments(kwargs, match):
    X, y = data(n=40, d=3)
    with pytest.raises(ValueError, match=match):
        LassoNetRegressor(**QUICK).stability_selection(X, y, **kwargs)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LassoNetRegressor(**QUICK).stability_selection(X, y[:-1])
