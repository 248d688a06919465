"""Unsupervised selection and imputation on the bundled Mice Protein data.

LassoNetAutoEncoder picks the 4 of 12 proteins that best reconstruct all 12; LassoNetImputer fills
cells hidden at random. Run: python examples/unsupervised_and_imputation.py
"""
import numpy as np

from lassonet_ext import LassoNetAutoEncoder, LassoNetImputer, LassoNetRegressor
from lassonet_ext.datasets import load_mice_protein

data = load_mice_protein()
X = data.data[:, :12]  # the first 12 proteins keep the example quick
names = data.feature_names[:12]

ae = LassoNetAutoEncoder(n_features_to_select=4, hidden_dims=(32,), n_iters=(200, 50),
                         patience=(20, 5), path_multiplier=1.1, random_state=0).fit(X)
print("up to 4 proteins that reconstruct the 12 best:", list(np.asarray(names)[ae.get_support()]))
print(f"reconstruction R^2 at that point of the path: {ae.score(X):.3f}")

rng = np.random.default_rng(0)
mask = rng.random(X.shape) < 0.1
column_model = LassoNetRegressor(hidden_dims=(8,), n_iters=(100, 10), patience=(10, 3), path_multiplier=1.3)
filled = LassoNetImputer(column_model, max_iter=1, random_state=0).fit_transform(np.where(mask, np.nan, X))
rmse = np.sqrt(((filled - X)[mask] ** 2).mean())
print(f"imputation RMSE on 10% hidden cells: {rmse:.4f} (column std {X.std(0).mean():.4f})")
