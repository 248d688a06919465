"""Code written for lassonet 0.0.21 runs with the import changed: estimators, path, stability
selection, plots on test data, the CV estimator's attributes.

Run: python examples/migrating_from_lassonet.py   (writes two PNG files to the current folder)
"""
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

# was: from lassonet import LassoNetRegressor, LassoNetRegressorCV, plot_path, plot_cv
from lassonet_ext import LassoNetRegressor, LassoNetRegressorCV, plot_cv, plot_path

X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X)
y = (y - y.mean()) / y.std()
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
fast = dict(hidden_dims=(16,), n_iters=(300, 30), patience=(30, 5), path_multiplier=1.1,
            random_state=0)

model = LassoNetRegressor(**fast)
path = model.path(X_train, y_train, return_state_dicts=True)
print(f"{len(path)} path points; lambda_start_ = {model.lambda_start_:.3g}")
plot_path(model, X_test, y_test).savefig("lassonet_path.png")  # lassonet's call, test R^2

oracle, order, wrong, paths, prob = model.stability_selection(X_train, y_train, n_models=5)
print(f"stability selection: {oracle} features worth selecting, most stable first: {order[:oracle]}")

cv = LassoNetRegressorCV(cv=3, **fast).fit(X_train, y_train)
print(f"cross-validated lambda {cv.best_lambda_:.3g}: {cv.best_selected_.sum()} features, "
      f"CV R^2 {cv.best_cv_score_:.3f}, test R^2 {cv.score(X_test, y_test):.3f}")
plot_cv(cv, X_test, y_test).savefig("lassonet_cv.png")
assert 0 < oracle <= X.shape[1] and cv.score(X_test, y_test) > 0.3
