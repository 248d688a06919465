"""Group LassoNet: one-hot encoded categorical columns enter and leave the model together.

Run: python examples/group_selection.py
"""
import numpy as np
from sklearn.preprocessing import OneHotEncoder

from lassonet_ext import LassoNetRegressor

rng = np.random.default_rng(0)
n = 600
cats = rng.integers(0, 4, size=(n, 3))  # 3 categorical variables with 4 levels each
num = rng.standard_normal((n, 4))  # 4 numeric variables
onehot = OneHotEncoder(sparse_output=False).fit_transform(cats)  # 12 columns
X = np.c_[onehot, num]
effect = np.array([0.0, 1.5, -1.0, 2.0])
y = effect[cats[:, 0]] + num[:, 0] + np.sin(2 * num[:, 0]) + num[:, 1] + 0.1 * rng.standard_normal(n)

groups = [list(range(4 * v, 4 * v + 4)) for v in range(3)] + [[12 + j] for j in range(4)]
names = ["cat0", "cat1", "cat2", "num0", "num1", "num2", "num3"]
est = LassoNetRegressor(groups=groups, hidden_dims=(16,), n_iters=(300, 30), patience=(30, 5),
                        path_multiplier=1.1, random_state=0).fit(X, y)
order = sorted(range(len(groups)), key=lambda g: -est.feature_importances_[groups[g][0]])
print("variables by the lambda at which they leave the path:", [names[g] for g in order])
print(f"R^2 on the training data at the chosen point: {est.score(X, y):.3f}")
assert {names[g] for g in order[:3]} == {"cat0", "num0", "num1"}
