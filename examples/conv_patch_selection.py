"""ConvNet LassoNet on MNIST: which 7x7 patches of the image does a ConvNet need?

Each 28x28 digit becomes 16 channels (its 7x7 patches); LassoNetConvModel's path removes patches
(channels) one after another. The patches kept at k = 4 are then compared with random 4-patch
subsets by retraining the same ConvNet on each subset alone. Small and fast (CI runs it):
    python examples/conv_patch_selection.py [--n 1200]
"""
import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lassonet_ext import LassoNetConvModel, patches_as_channels, train_path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist.npz"


def load_digits_as_patches(n, patch=7):
    """MNIST from ../shared/data when present, else scikit-learn's bundled 8x8 digits (offline)."""
    if DATA.exists():
        with np.load(DATA) as z:
            X, y = z["X"][:n].reshape(-1, 28, 28) / 255.0, z["y"][:n]
    else:
        from sklearn.datasets import load_digits

        d = load_digits()
        X, y, patch = d.images[:n] / 16.0, d.target[:n], 2
    X = patches_as_channels(torch.tensor(X, dtype=torch.float32), patch)
    return (X - X.mean()) / X.std(), torch.tensor(y)


def accuracy(model, X, y):
    with torch.no_grad():
        return float((model(X).argmax(1) == y).float().mean())


def retrain_on(channels, X_tr, y_tr, X_te, y_te, epochs=40, seed=0):
    """A fresh ConvNet that sees only `channels` (the others zeroed), trained with Adam."""
    keep = torch.zeros(X_tr.shape[1], dtype=torch.bool)
    keep[list(channels)] = True
    mask = keep.view(1, -1, 1, 1).float()
    torch.manual_seed(seed)
    model = LassoNetConvModel(X_tr.shape[1:], 10, channels=(16,))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(X_tr), generator=g).split(128):
            opt.zero_grad()
            F.cross_entropy(model(X_tr[idx] * mask), y_tr[idx]).backward()
            opt.step()
    return accuracy(model, X_te * mask, y_te)


def run(n=1200, k=4, seed=0, verbose=True):
    X, y = load_digits_as_patches(n)
    n_tr = int(0.6 * len(X))
    n_va = int(0.2 * len(X))
    X_tr, y_tr = X[:n_tr], y[:n_tr]
    X_va, y_va = X[n_tr : n_tr + n_va], y[n_tr : n_tr + n_va]
    X_te, y_te = X[n_tr + n_va :], y[n_tr + n_va :]
    torch.manual_seed(seed)
    model = LassoNetConvModel(X.shape[1:], 10, channels=(16,), M=10)
    path = train_path(model, X_tr, y_tr, X_va, y_va, F.cross_entropy, n_iters=(40, 5),
                      patience=(5, 2), batch_size=128, path_multiplier=1.1,
                      generator=torch.Generator().manual_seed(seed))
    point = max((it for it in path if it.n_selected <= k), key=lambda it: it.n_selected)
    chosen = np.flatnonzero(point.selected).tolist()
    ours = retrain_on(chosen, X_tr, y_tr, X_te, y_te)
    rng = np.random.default_rng(seed)
    random_sets = [rng.choice(X.shape[1], len(chosen), replace=False).tolist() for _ in range(3)]
    rand = float(np.mean([retrain_on(s, X_tr, y_tr, X_te, y_te) for s in random_sets]))
    full = retrain_on(range(X.shape[1]), X_tr, y_tr, X_te, y_te)
    if verbose:
        print(f"path: {len(path)} lambdas, {X.shape[1]} -> 0 patches")
        print(f"patches kept at k <= {k}: {chosen}")
        print(f"test accuracy, retrained on them: {ours:.3f}; on random patch sets: {rand:.3f}; "
              f"on all {X.shape[1]}: {full:.3f}")
    return chosen, ours, rand, full


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=1200)
    p.add_argument("--k", type=int, default=4)
    a = p.parse_args()
    run(a.n, a.k)
