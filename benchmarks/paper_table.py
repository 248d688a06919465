"""Reproduce the LassoNet paper's k = 50 feature-selection table (and its Mice Protein figure).

For each dataset in ../shared/data (splits as its README gives the paper's rules; Activity is not
available), over several seeds: run the LassoNet path on the training rows, take the 50 features
that stay longest on the path (ranked by the lambda at which they leave), train the paper's
downstream classifier (Extremely Randomized Trees) on those features only, and report hold-out
accuracy. A one-hidden-layer network downstream is a second column, and the Fisher score is our own
baseline run on the same splits. Also draws test accuracy along the Mice Protein path against the
number of selected features (benchmarks/mice_path_accuracy.png).

    python benchmarks/paper_table.py                       # all datasets, 3 seeds
    python benchmarks/paper_table.py --datasets mice --seeds 1
"""
import argparse
import platform
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import lassonet_ext

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"  # --data overrides
K = 50
PAPER = {  # dataset: (Fisher, HSIC-Lasso, PFA, LassoNet), the paper's Table (k = 50, extra-trees)
    "MNIST": (0.813, 0.870, 0.873, 0.873),
    "MNIST-Fashion": (0.671, 0.785, 0.793, 0.800),
    "ISOLET": (0.793, 0.877, 0.863, 0.885),
    "COIL-20": (0.986, 0.972, 0.975, 0.991),
    "Activity": (0.769, 0.829, 0.779, 0.849),
    "Mice Protein": (0.944, 0.958, 0.939, 0.958),
}
NAMES = {"mnist": "MNIST", "fashion": "MNIST-Fashion", "isolet": "ISOLET", "coil20": "COIL-20",
         "mice": "Mice Protein"}


def load(name, seed, data=DATA):
    """(X_train, X_test, y_train, y_test) following the paper's split rule for `name`."""
    data = Path(data)
    if name in ("mnist", "fashion"):
        with np.load(data / f"{'mnist' if name == 'mnist' else 'fashion_mnist'}.npz") as z:
            X, y = z["X"].astype(np.float32) / 255, z["y"]
        return train_test_split(X, y, test_size=0.6, random_state=seed)  # 4000 / 6000
    if name == "isolet":  # the official split: isolet1-4 train, isolet5 test (no randomness)
        with np.load(data / "isolet.npz") as z:
            X, y, tr, te = z["X"], z["y"], z["train_idx"], z["test_idx"]
        return X[tr], X[te], y[tr], y[te]
    if name == "coil20":
        with np.load(data / "coil20.npz") as z:
            X, y = z["X"].astype(np.float32) / 255, z["y"]
        return train_test_split(X, y, test_size=0.2, random_state=seed)
    if name == "mice":
        with np.load(data / "mice_protein.npz") as z:
            X, y = z["X"], z["y"]
        return train_test_split(X, y, test_size=0.2, random_state=seed)  # 864 / 216
    raise ValueError(name)


def fisher_top(X, y, k):
    """The k features with the largest Fisher score (between-class over within-class variance)."""
    mu = X.mean(0)
    num = np.zeros(X.shape[1])
    den = np.zeros(X.shape[1])
    for c in np.unique(y):
        Xc = X[y == c]
        num += len(Xc) * (Xc.mean(0) - mu) ** 2
        den += len(Xc) * Xc.var(0)
    score = num / np.where(den > 0, den, np.inf)
    return np.argsort(-score, kind="stable")[:k]


def downstream(X_tr, X_te, y_tr, y_te, feats, seed):
    et = ExtraTreesClassifier(n_estimators=200, random_state=seed, n_jobs=2).fit(X_tr[:, feats], y_tr)
    sc = StandardScaler().fit(X_tr[:, feats])
    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, early_stopping=True,
                        random_state=seed).fit(sc.transform(X_tr[:, feats]), y_tr)
    return et.score(X_te[:, feats], y_te), mlp.score(sc.transform(X_te[:, feats]), y_te)


def hidden_units(args, n_features):
    # "d/3": the rule of the lassonet repository's experiments/run.py (data_dim // 3)
    return n_features // 3 if args.hidden == "d/3" else int(args.hidden)


def lassonet_features(X_tr, y_tr, seed, args):
    est = lassonet_ext.LassoNetClassifier(hidden_dims=(hidden_units(args, X_tr.shape[1]),), M=args.M,
                                          path_multiplier=args.path_multiplier,
                                          batch_size=args.batch_size,
                                          n_iters=(1000, args.path_epochs), random_state=seed,
                                          patience=args.patience, device=args.device,
                                          standardize=not args.no_standardize)
    path = est.path(X_tr, y_tr, return_state_dicts=True)
    if args.selection == "first":
        # The first path point with at most K features (experiments/run.py of the lassonet repo).
        item = next(it for it in path if it.n_selected <= K)
        return np.flatnonzero(item.selected), est, path
    # Exactly K features: the K that leave the path last.
    return np.argsort(-est.feature_importances_, kind="stable")[:K], est, path


def lassonet_ref_features(X_tr, y_tr, seed, args):
    """The same selection with the reference package lassonet 0.0.21 (optional)."""
    import lassonet

    est = lassonet.LassoNetClassifier(hidden_dims=(hidden_units(args, X_tr.shape[1]),), M=args.M,
                                      path_multiplier=args.path_multiplier, verbose=0,
                                      batch_size=args.batch_size, n_iters=(1000, args.path_epochs),
                                      random_state=seed, torch_seed=seed)
    est.path(X_tr, y_tr)
    return np.argsort(-np.asarray(est.feature_importances_), kind="stable")[:K]


def mice_figure(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X_tr, X_te, y_tr, y_te = load("mice", 0, args.data)
    _, est, path = lassonet_features(X_tr, y_tr, 0, args)
    ks, accs = [], []
    for item in path:
        est.load(item)
        ks.append(item.n_selected)
        accs.append(est.score(X_te, y_te))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(ks, accs, "o-", markersize=3)
    ax.set_xlabel("number of selected features")
    ax.set_ylabel("test accuracy")
    ax.set_title("Mice Protein: LassoNet path (n = 864 train)")
    fig.tight_layout()
    fig.savefig(HERE / "mice_path_accuracy.png", dpi=120)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="mnist,fashion,isolet,coil20,mice")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--hidden", default="32", help='hidden units, or "d/3" (n_features // 3)')
    p.add_argument("--batch-size", type=int, default=None, help="default: full batch")
    p.add_argument("--path-epochs", type=int, default=100, help="most epochs per lambda")
    p.add_argument("--selection", choices=["last", "first"], default="last",
                   help="last: the 50 features that leave the path last; first: the first path "
                        "point with at most 50 features")
    p.add_argument("--M", type=float, default=10.0)
    p.add_argument("--patience", type=lambda v: tuple(int(x) for x in v.split(",")), default=(100, 10),
                   help="epochs without improvement before stopping: dense,path")
    p.add_argument("--path-multiplier", type=float, default=1.05)
    p.add_argument("--device", default="cpu", help="where our path trains (cpu or cuda)")
    p.add_argument("--data", default=str(DATA), help="folder with the datasets (default ../shared/data)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-standardize", action="store_true",
                   help="train the path on the inputs as loaded (pixels / 255), as the paper's code does")
    p.add_argument("--no-figure", action="store_true")
    p.add_argument("--lassonet", action="store_true", help="also run lassonet 0.0.21 (if installed)")
    p.add_argument("--out", default=str(HERE / "RESULTS_paper.md"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    for name in args.datasets.split(","):
        res = {"fisher": [], "ln_et": [], "ln_mlp": [], "seconds": [], "ref_et": [], "ref_seconds": [],
               "k": []}
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            X_tr, X_te, y_tr, y_te = load(name, seed, args.data)
            res["fisher"].append(downstream(X_tr, X_te, y_tr, y_te, fisher_top(X_tr, y_tr, K), seed)[0])
            t0 = time.perf_counter()
            feats, _, _ = lassonet_features(X_tr, y_tr, seed, args)
            res["seconds"].append(time.perf_counter() - t0)
            et, mlp = downstream(X_tr, X_te, y_tr, y_te, feats, seed)
            res["ln_et"].append(et)
            res["ln_mlp"].append(mlp)
            res["k"].append(len(feats))
            if args.lassonet:
                t0 = time.perf_counter()
                ref = lassonet_ref_features(X_tr, y_tr, seed, args)
                res["ref_seconds"].append(time.perf_counter() - t0)
                res["ref_et"].append(downstream(X_tr, X_te, y_tr, y_te, ref, seed)[0])
                print(f"{name:8s} seed {seed}: lassonet 0.0.21 ET {res['ref_et'][-1]:.3f}  "
                      f"path {res['ref_seconds'][-1]:.0f} s", flush=True)
            print(f"{name:8s} seed {seed}: fisher {res['fisher'][-1]:.3f}  lassonet ET {et:.3f}  "
                  f"MLP {mlp:.3f}  ({len(feats)} features)  path {res['seconds'][-1]:.0f} s", flush=True)
        rows[NAMES[name]] = res
    if not args.no_figure and "mice" in args.datasets:
        mice_figure(args)
    write(rows, args)


def ms(v):
    return f"{np.mean(v):.3f} ± {np.std(v):.3f}"


def write(rows, args):
    lines = [
        "# The paper's k = 50 table, reproduced",
        "",
        f"`benchmarks/paper_table.py`, {args.seeds} seeds from {args.first_seed} (mean ± sd), lassonet_ext "
        f"{lassonet_ext.__version__}, torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"{platform.machine()} CPU, {args.threads} threads"
        + (f", our path on {args.device} ({torch.cuda.get_device_name()})." if args.device != "cpu" else "."),
        "",
        "| dataset | paper Fisher | paper HSIC-Lasso | paper PFA | paper LassoNet | our Fisher (ET) "
        "| our LassoNet (ET) | our LassoNet (1-hidden-layer net) | path time s "
        "| lassonet 0.0.21 (ET) | its path time s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ds, paper in PAPER.items():
        r = rows.get(ds)
        if r is None:
            note = "data not available offline" if ds == "Activity" else "not run"
            lines.append(f"| {ds} | " + " | ".join(f"{v:.3f}" for v in paper) + f" | {note} | | | | | |")
            continue
        lines.append(f"| {ds} | " + " | ".join(f"{v:.3f}" for v in paper)
                     + f" | {ms(r['fisher'])} | {ms(r['ln_et'])}"
                     + (f" (k = {', '.join(map(str, r['k']))})" if args.selection == "first" else "")
                     + f" | {ms(r['ln_mlp'])} "
                     f"| {np.mean(r['seconds']):.0f} "
                     + (f"| {ms(r['ref_et'])} | {np.mean(r['ref_seconds']):.0f} |" if r["ref_et"] else "| not run | |"))
    lines += [
        "",
        "Settings: LassoNetClassifier(hidden_dims=({},), M={}, path_multiplier={}, batch_size={}), "
        "epochs: 1000 dense, at most {} per lambda, patience {} / {}; inputs {}; the features are "
        "{}; downstream "
        "ExtraTreesClassifier(n_estimators=200) and MLPClassifier(hidden_layer_sizes=(64,), "
        "early_stopping=True) on those features. Splits: MNIST and Fashion-MNIST 4000 train / "
        "6000 test of the 10k test set; ISOLET isolet1-4 / isolet5; COIL-20 and Mice Protein "
        "80/20 (seeded shuffles).".format(
            args.hidden, args.M, args.path_multiplier, args.batch_size, args.path_epochs, *args.patience,
            "as loaded (standardize=False)" if args.no_standardize else "standardised inside the estimator",
            "the 50 that leave the path last" if args.selection == "last"
            else "those of the first path point with at most 50"),
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
