"""Cox LassoNet: the partial likelihood (Breslow, Efron) against a loop and scikit-survival's fit,
and held-out concordance against a linear Cox model."""
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from lassonet_ext import LassoNetCoxRegressor, LassoNetCoxRegressorCV
from lassonet_ext.losses import cox_partial_nll

sksurv = pytest.importorskip("sksurv")
from sksurv.column import encode_categorical  # noqa: E402
from sksurv.datasets import load_gbsg2  # noqa: E402
from sksurv.linear_model import CoxPHSurvivalAnalysis  # noqa: E402
from sksurv.util import Surv  # noqa: E402


def loop_nll(eta, time, event, ties):
    """The textbook definition, one event time at a time."""
    ll = 0.0
    for t in np.unique(time[event == 1]):
        D = np.where((time == t) & (event == 1))[0]
        R = np.where(time >= t)[0]
        s_r, s_d = np.exp(eta[R]).sum(), np.exp(eta[D]).sum()
        for l, i in enumerate(D):
            ll += eta[i] - np.log(s_r - (l / len(D) if ties == "efron" else 0.0) * s_d)
    return -ll / event.sum()


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_partial_likelihood_matches_the_definition_with_ties(ties):
    rng = np.random.default_rng(0)
    n = 60
    eta = 3 * rng.standard_normal(n)
    time = rng.integers(1, 9, n).astype(float)  # many ties
    event = (rng.random(n) < 0.6).astype(float)
    got = cox_partial_nll(torch.tensor(eta), torch.tensor(np.c_[time, event]), ties)
    assert abs(float(got) - loop_nll(eta, time, event, ties)) < 1e-10
    # Invariant to the order of the rows and to a shift of the log hazard.
    perm = rng.permutation(n)
    shifted = cox_partial_nll(torch.tensor(eta[perm] + 50), torch.tensor(np.c_[time, event][perm]), ties)
    assert abs(float(shifted) - float(got)) < 1e-9


def gbsg2():
    X, y = load_gbsg2()
    return encode_categorical(X).astype(float).to_numpy(), y


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_gradient_vanishes_at_scikit_survival_optimum(ties):
    X, y = gbsg2()
    X = StandardScaler().fit_transform(X)
    cox = CoxPHSurvivalAnalysis(alpha=0.0, ties=ties, tol=1e-12, n_iter=200).fit(X, y)
    beta = torch.tensor(cox.coef_, requires_grad=True)
    target = torch.tensor(np.c_[y["time"], y["cens"]])
    cox_partial_nll(torch.tensor(X) @ beta, target, ties).backward()
    assert beta.grad.abs().max() < 1e-6, beta.grad


def test_held_out_concordance_at_least_linear_cox():
    X, y = gbsg2()
    ours, linear = [], []
    for seed in (0, 1):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=seed)
        scaler = StandardScaler().fit(X_tr)
        cox = CoxPHSurvivalAnalysis(alpha=1e-4).fit(scaler.transform(X_tr), y_tr)
        linear.append(cox.score(scaler.transform(X_te), y_te))
        est = LassoNetCoxRegressor(hidden_dims=(16,), path_multiplier=1.05, random_state=seed).fit(X_tr, y_tr)
        ours.append(est.score(X_te, y_te))
        assert est.predict(X_te).shape == (len(X_te),)
    assert np.mean(ours) >= np.mean(linear), (ours, linear)


def test_targets_in_every_form_and_cv():
    X, y = gbsg2()
    X, y = X[:200], y[:200]
    pairs = np.c_[y["time"], y["cens"]]
    kw = dict(hidden_dims=(8,), n_iters=(100, 20), patience=(10, 3), path_multiplier=1.2, random_state=0)
    a = LassoNetCoxRegressor(**kw).fit(X, y)  # scikit-survival structured array
    b = LassoNetCoxRegressor(**kw).fit(X, pairs)  # (time, event) columns, as lassonet
    c = LassoNetCoxRegressor(**kw).fit(X, torch.tensor(pairs))
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.predict(X), c.predict(X), rtol=1e-5, atol=1e-6)
    assert clone(LassoNetCoxRegressor(tie_method="breslow", M=3.0)).get_params()["tie_method"] == "breslow"
    cv = LassoNetCoxRegressorCV(cv=3, **kw).fit(X, y)
    assert cv.best_lambda_ in cv.lambdas_ and cv.cv_scores_.shape[1] == 3
    assert 0.5 < cv.score(X, y) <= 1.0


@pytest.mark.parametrize(
    "y, match",
    [
        (np.c_[np.ones(20), np.zeros(20)], "no observed event"),
        (np.c_[-np.ones(20), np.ones(20)], "times must be >= 0"),
        (np.c_[np.ones(20), np.full(20, 2.0)], "0 \\(censored\\) or 1"),
        (np.ones(20), "two columns"),
        (np.c_[np.full(20, np.nan), np.ones(20)], "finite"),
    ],
)
def test_bad_survival_targets(y, match):
    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(ValueError, match=match):
        LassoNetCoxRegressor(hidden_dims=(4,)).fit(X, y)


def test_bad_tie_method():
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = Surv.from_arrays(np.ones(20, bool), np.arange(1, 21.0))
    with pytest.raises(ValueError, match="tie_method"):
        LassoNetCoxRegressor(tie_method="exact").fit(X, y)


def test_tie_approximation_is_lassonets_name_for_tie_method():
    X, y = gbsg2()
    X = StandardScaler().fit_transform(X[:150])
    y = np.c_[np.ceil(y["time"][:150] / 200), y["cens"][:150]]  # (times in 200-day bins: many ties)
    kw = dict(hidden_dims=(4,), n_iters=(60, 10), patience=(10, 3), path_multiplier=1.3, random_state=0)
    by_old = LassoNetCoxRegressor(tie_method="breslow", **kw).fit(X, y)
    by_lassonet = LassoNetCoxRegressor(tie_approximation="breslow", **kw).fit(X, y)
    efron = LassoNetCoxRegressor(**kw).fit(X, y)
    np.testing.assert_array_equal(by_old.predict(X), by_lassonet.predict(X))
    assert not np.array_equal(efron.predict(X), by_lassonet.predict(X))  # the choice reaches the loss
    assert clone(by_lassonet).get_params()["tie_approximation"] == "breslow"
    with pytest.raises(ValueError, match="disagree"):
        LassoNetCoxRegressor(tie_approximation="breslow", tie_method="efron", **kw).fit(X, y)
    with pytest.raises(ValueError, match="tie_approximation must be"):
        LassoNetCoxRegressor(tie_approximation="exact", **kw).fit(X, y)
