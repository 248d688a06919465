"""Cox LassoNet on the German Breast Cancer Study data shipped with scikit-survival.

Run: python examples/survival_cox.py   (needs `pip install "lassonet-ext[survival]"`)
"""
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sksurv.column import encode_categorical
from sksurv.datasets import load_gbsg2
from sksurv.linear_model import CoxPHSurvivalAnalysis

from lassonet_ext import LassoNetCoxRegressor

X, y = load_gbsg2()  # y: structured array (cens, time)
X = encode_categorical(X)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0)
est = LassoNetCoxRegressor(hidden_dims=(16,), path_multiplier=1.05, random_state=0).fit(X_tr, y_tr)
scaler = StandardScaler().fit(X_tr)
linear = CoxPHSurvivalAnalysis(alpha=1e-4).fit(scaler.transform(X_tr), y_tr)
print(f"held-out C-index: LassoNet {est.score(X_te, y_te):.3f} "
      f"({est.n_features_selected_} of {X.shape[1]} features), linear Cox {linear.score(scaler.transform(X_te), y_te):.3f}")
print("features kept:", list(X.columns[est.get_support()]))
