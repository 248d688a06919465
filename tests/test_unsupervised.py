"""Unsupervised LassoNet: it must select the latent generators of the data."""
import numpy as np
import pytest
from sklearn.base import clone

from lassonet_ext import LassoNetAutoEncoder

FAST = dict(hidden_dims=(32,), n_iters=(300, 100), patience=(30, 10), path_multiplier=1.1, random_state=0)


def generated(seed, n=600, k=4, d=28):
    """k generator columns; every other column is a noisy nonlinear function of one generator."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, k))
    c = np.arange(d - k) % k
    a = rng.uniform(0.5, 1.5, d - k) * rng.choice([-1, 1], d - k)
    b = rng.uniform(0.5, 1.5, d - k)
    X = np.c_[Z, a * Z[:, c] + b * np.tanh(2 * Z[:, c]) + 0.8 * rng.standard_normal((n, d - k))]
    perm = rng.permutation(d)
    return X[:, perm], set(np.flatnonzero(perm < k).tolist())


@pytest.mark.parametrize("seed", [0, 1])
def test_autoencoder_selects_the_generators(seed):
    X, generators = generated(seed)
    ae = LassoNetAutoEncoder(n_features_to_select=4, **FAST).fit(X)
    assert set(np.flatnonzero(ae.get_support()).tolist()) == generators
    Xt = ae.transform(X)
    assert Xt.shape == (len(X), 4) and np.array_equal(Xt, X[:, ae.get_support()])
    assert ae.predict(X).shape == X.shape
    # Reconstructing from the 4 generators explains much of every column, even at this penalty.
    assert ae.score(X) > 0.2
    assert ae.reconstruction_error(X) < ((X - X.mean(0)) ** 2).mean()


def test_autoencoder_is_a_transformer_with_sklearn_params():
    ae = LassoNetAutoEncoder(n_features_to_select=2, M=3.0)
    assert clone(ae).get_params()["M"] == 3.0
    tags = ae.__sklearn_tags__()
    assert tags.transformer_tags is not None and tags.target_tags.required is False
    X, _ = generated(0, n=120, d=8)
    out = LassoNetAutoEncoder(n_features_to_select=2, **{**FAST, "n_iters": (50, 10)}).fit_transform(X)
    assert out.shape[1] <= 2


def test_unstandardised_autoencoder_reconstructs_in_x_units():
    # Pixel-like data: a near-constant column (a few faint spikes, sd ~ 0.01) beside the generated
    # ones. With standardize=False the target is X centred, not scaled, so that column weighs as
    # little in the loss as in X (scaled, its spikes would be ~25 sd and dominate the summed loss).
    X, generators = generated(0)
    X = X / X.std(0)  # unit-variance columns, so raw units and standardised ones agree but for `faint`
    faint = np.zeros(len(X))
    faint[[3, 50, 400]] = 0.1
    X = np.c_[X, faint]
    ae = LassoNetAutoEncoder(n_features_to_select=4, standardize=False, **FAST).fit(X)
    assert np.array_equal(ae.y_scale_, np.ones(X.shape[1], np.float32))
    np.testing.assert_allclose(ae.y_mean_, X.mean(0), rtol=1e-5, atol=1e-6)
    assert set(np.flatnonzero(ae.get_support()).tolist()) == generators
    assert ae.reconstruction_error(X) < ((X - X.mean(0)) ** 2).mean()
