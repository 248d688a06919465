"""Unsupervised selection on MNIST (k = 50): how well do the selected pixels reconstruct the image?

LassoNetAutoEncoder picks 50 pixels on 3000 training images (the path point with at most 50, and
the 50 that leave the path last, as benchmarks/paper_table.py ranks); the same decoder (ridge regression,
and a one-hidden-layer MLP) is then trained from each pixel subset to all 784 pixels and scored on
2000 held-out images: LassoNet's pixels vs 50 random pixels (mean of 5 draws) vs the 50 pixels of
largest variance. Run: python benchmarks/unsupervised_mnist.py
"""
import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPRegressor

from lassonet_ext import LassoNetAutoEncoder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def decoder_mse(S, X_tr, X_te, kind):
    model = Ridge(alpha=1.0) if kind == "ridge" else MLPRegressor(hidden_layer_sizes=(256,), max_iter=60, random_state=0)
    model.fit(X_tr[:, S], X_tr)
    return float(((model.predict(X_te[:, S]) - X_te) ** 2).mean())


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--n-train", type=int, default=3000)
    p.add_argument("--path-multiplier", type=float, default=1.05)
    p.add_argument("--epochs", type=int, default=30, help="at most, per lambda")
    args = p.parse_args()
    with np.load(DATA / "mnist.npz") as z:
        X = z["X"].astype(np.float32) / 255
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    X_tr, X_te = X[idx[: args.n_train]], X[idx[args.n_train : args.n_train + 2000]]
    t = time.time()
    # Pixels stay in their own units (standardize=False): the loss is then the reconstruction MSE
    # scored below, and the near-constant border pixels are not blown up by standardising.
    ae = LassoNetAutoEncoder(n_features_to_select=args.k, hidden_dims=(64,), batch_size=256,
                             standardize=False, n_iters=(60, args.epochs), patience=(10, 5),
                             path_multiplier=args.path_multiplier, random_state=0,
                             verbose=1).fit(X_tr)
    fit_s = time.time() - t
    ours = np.flatnonzero(ae.get_support())
    k = len(ours)  # the path point with at most args.k pixels; the baselines get as many
    last_to_leave = np.argsort(-ae.feature_importances_, kind="stable")[: args.k]
    subsets = {
        f"LassoNet, path point ({k} px)": [ours],
        f"LassoNet, the {args.k} px that leave the path last": [last_to_leave],
        f"random {k} px (5 draws)": [rng.choice(784, k, replace=False) for _ in range(5)],
        f"largest variance {k} px": [np.argsort(-X_tr.var(0))[:k]],
    }
    print(f"LassoNetAutoEncoder path: {fit_s:.0f} s, {len(ae.path_)} lambdas, "
          f"k along the path: {[it.n_selected for it in ae.path_]}")
    print("| pixels | ridge decoder test MSE | MLP decoder test MSE |\n|---|---|---|")
    for name, sets in subsets.items():
        ridge = np.mean([decoder_mse(S, X_tr, X_te, "ridge") for S in sets])
        mlp = np.mean([decoder_mse(S, X_tr, X_te, "mlp") for S in sets])
        print(f"| {name} | {ridge:.4f} | {mlp:.4f} |")
    print(f"| (predicting the mean image) | {float(((X_te - X_tr.mean(0)) ** 2).mean()):.4f} | |")


if __name__ == "__main__":
    main()
