"""The full LassoNet path: lassonet_ext vs the reference package ``lassonet`` (0.0.21), one run.

    python benchmarks/bench_path.py                 # Mice Protein and MNIST (4000 train rows)
    python benchmarks/bench_path.py --datasets mice

Same data, split, hidden_dims, M, path_multiplier and epoch budgets for both; 2 threads. Reports
wall time, the number of path points, and the test accuracy of the path's model at the point with
the number of selected features nearest 50. ``lassonet`` is optional: without it only our rows are
printed. Data come from ../shared/data (see its README); nothing is downloaded.
"""
import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import lassonet_ext

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load(name, seed):
    if name == "mice":
        from lassonet_ext.datasets import load_mice_protein

        X, y = load_mice_protein(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=seed)
        hidden = (10,)
    elif name == "mnist":
        with np.load(DATA / "mnist.npz") as z:
            X, y = z["X"].astype(np.float32) / 255, z["y"]
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, train_size=4000, random_state=seed)
        hidden = (32,)
    else:
        raise ValueError(name)
    sc = StandardScaler().fit(X_tr)
    return sc.transform(X_tr), sc.transform(X_te), y_tr, y_te, hidden


def nearest(path, k):
    return min(path, key=lambda it: (abs(int(np.asarray(it.selected).sum()) - k), -it.lambda_))


def run_ours(X_tr, X_te, y_tr, y_te, hidden, args):
    est = lassonet_ext.LassoNetClassifier(hidden_dims=hidden, M=args.M,
                                          path_multiplier=args.path_multiplier, random_state=0)
    t0 = time.perf_counter()
    path = est.path(X_tr, y_tr, return_state_dicts=True)
    seconds = time.perf_counter() - t0
    item = nearest(path, 50)
    est.load(item)
    return seconds, len(path), item.n_selected, est.score(X_te, y_te)


def run_lassonet(X_tr, X_te, y_tr, y_te, hidden, args):
    import lassonet

    est = lassonet.LassoNetClassifier(hidden_dims=hidden, M=args.M,
                                      path_multiplier=args.path_multiplier, verbose=0,
                                      random_state=0, torch_seed=0)
    t0 = time.perf_counter()
    path = est.path(X_tr, y_tr, return_state_dicts=True)
    seconds = time.perf_counter() - t0
    item = nearest(path, 50)
    est.load(item.state_dict)
    acc = float((np.asarray(est.predict(X_te)).ravel() == y_te).mean())
    return seconds, len(path), int(np.asarray(item.selected).sum()), acc


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="mice,mnist")
    p.add_argument("--M", type=float, default=10.0)
    p.add_argument("--path-multiplier", type=float, default=1.02)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--markdown", help="also write the table to this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import lassonet

        versions = f"lassonet {lassonet.__version__ if hasattr(lassonet, '__version__') else '0.0.21'}"
        runners = [("lassonet_ext", run_ours), ("lassonet", run_lassonet)]
    except ImportError:
        versions = "lassonet not installed"
        runners = [("lassonet_ext", run_ours)]
    rows = []
    for name in args.datasets.split(","):
        data = load(name, seed=0)
        for lib, fn in runners:
            seconds, n_points, k, acc = fn(*data, args)
            rows.append((name, lib, seconds, n_points, k, acc))
            print(f"{name:6s} {lib:13s} {seconds:8.1f} s  {n_points:4d} lambdas  k={k:3d}  test acc {acc:.3f}",
                  flush=True)
    lines = [
        f"torch {torch.__version__}, {args.threads} threads, {versions}; M = {args.M}, "
        f"path_multiplier = {args.path_multiplier}, default epochs (1000 dense, 100 per lambda, "
        "patience 100/10); accuracy of the path model at the point nearest 50 features.",
        "",
        "| data | library | wall s | path points | k | test accuracy |",
        "|---|---|---|---|---|---|",
    ] + [f"| {d} | {lib} | {s:.1f} | {n} | {k} | {a:.3f} |" for d, lib, s, n, k, a in rows]
    print("\n".join(lines))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
