"""Imputation on the Mice Protein data: LassoNetImputer vs IterativeImputer vs KNNImputer.

The raw data (../shared/data/mice_protein.npz, X_raw) has 1396 real missing cells; 10% of the
observed cells are hidden as well, every imputer fills both, and RMSE is scored on the hidden
cells (columns standardised with observed statistics, so RMSE is in standard deviations).
Run: python benchmarks/imputation_mice.py [--max-iter 1]
"""
import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from lassonet_ext import LassoNetImputer, LassoNetRegressor

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mice_protein.npz"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--max-iter", type=int, default=1)
    args = p.parse_args()
    with np.load(DATA) as z:
        X = z["X_raw"].astype(np.float64)
    X = (X - np.nanmean(X, 0)) / np.nanstd(X, 0)
    rng = np.random.default_rng(0)
    hide = ~np.isnan(X) & (rng.random(X.shape) < 0.1)
    X_in = np.where(hide, np.nan, X)
    print(f"{np.isnan(X).sum()} real missing cells, {hide.sum()} hidden for scoring")
    column_model = LassoNetRegressor(hidden_dims=(16,), n_iters=(200, 20), patience=(20, 5),
                                     path_multiplier=1.2)
    imputers = {
        "mean": SimpleImputer(),
        "KNNImputer (k=5)": KNNImputer(),
        f"IterativeImputer (BayesianRidge, max_iter={args.max_iter})": IterativeImputer(max_iter=args.max_iter, random_state=0),
        f"LassoNetImputer (max_iter={args.max_iter})": LassoNetImputer(column_model, max_iter=args.max_iter, random_state=0),
    }
    print("| imputer | RMSE on hidden cells (sd units) | time (s) |\n|---|---|---|")
    for name, imp in imputers.items():
        t = time.time()
        out = imp.fit_transform(X_in)
        rmse = np.sqrt(((out - X)[hide] ** 2).mean())
        print(f"| {name} | {rmse:.4f} | {time.time() - t:.0f} |", flush=True)


if __name__ == "__main__":
    main()
