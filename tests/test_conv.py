"""ConvNet LassoNet: the trailing-dimension prox on a Conv2d, and patch (location) selection."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from lassonet_ext import LassoNetConvModel, patches_as_channels, train_path


def test_patches_as_channels_layout_and_errors():
    img = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(2, 4, 6)
    p = patches_as_channels(img, 2)
    assert p.shape == (2, 6, 2, 2)
    assert torch.equal(p[1, 4], img[1, 2:4, 2:4])  # patch (row 1, col 1) is channel 1 * 3 + 1
    with pytest.raises(ValueError, match="divide"):
        patches_as_channels(img, 4)
    with pytest.raises(ValueError, match="single-channel"):
        patches_as_channels(torch.zeros(1, 3, 4, 4), 2)


def test_prox_keeps_the_hierarchy_on_the_conv_weight():
    torch.manual_seed(0)
    model = LassoNetConvModel((5, 6, 6), 3, channels=(8,), M=0.5)
    model.prox_(0.01)
    w_max = model.W.detach().abs().amax(dim=(0, 2, 3))  # per input channel
    assert (w_max <= 0.5 * model.theta.detach().norm(dim=0) + 1e-6).all()
    model.prox_(1e3)  # every channel out: the network ignores its input entirely
    assert not model.selected_features().any()
    x = torch.randn(4, 5, 6, 6)
    assert torch.allclose(model(x), model(torch.zeros_like(x)), atol=1e-6)


def digits_as_patches():
    d = load_digits()
    X = patches_as_channels(torch.tensor(d.images / 16.0, dtype=torch.float32), 2)  # 16 patches
    return (X - X.mean()) / X.std(), torch.tensor(d.target)


def fit_on(channels, X_tr, y_tr, X_te, y_te, seed=0):
    mask = torch.zeros(1, X_tr.shape[1], 1, 1)
    mask[0, list(channels)] = 1
    torch.manual_seed(seed)
    model = LassoNetConvModel(X_tr.shape[1:], 10, channels=(16,))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):
        for idx in torch.randperm(len(X_tr), generator=torch.Generator().manual_seed(seed)).split(128):
            opt.zero_grad()
            F.cross_entropy(model(X_tr[idx] * mask), y_tr[idx]).backward()
            opt.step()
    with torch.no_grad():
        return float((model(X_te * mask).argmax(1) == y_te).float().mean())


def test_path_selects_patches_that_keep_accuracy():
    X, y = digits_as_patches()
    X_tr, y_tr, X_va, y_va, X_te, y_te = X[:1000], y[:1000], X[1000:1300], y[1000:1300], X[1300:], y[1300:]
    torch.manual_seed(0)
    model = LassoNetConvModel(X.shape[1:], 10, channels=(16,))
    path = train_path(model, X_tr, y_tr, X_va, y_va, F.cross_entropy, n_iters=(30, 5), patience=(5, 2),
                      batch_size=128, path_multiplier=1.1, generator=torch.Generator().manual_seed(0))
    ks = [it.n_selected for it in path]
    assert ks[0] == 16 and ks[-1] == 0
    point = max((it for it in path if 2 <= it.n_selected <= 5), key=lambda it: it.n_selected)
    chosen = np.flatnonzero(point.selected).tolist()
    ours = fit_on(chosen, X_tr, y_tr, X_te, y_te)
    rng = np.random.default_rng(0)
    rand = np.mean([fit_on(rng.choice(16, len(chosen), replace=False).tolist(), X_tr, y_tr, X_te, y_te)
                    for _ in range(3)])
    assert ours > rand, (chosen, ours, rand)
