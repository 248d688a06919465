"""The full LassoNet path: lassonet_ext vs the reference package ``lassonet`` (0.0.21), one run.

    python benchmarks/bench_path.py                 # Mice Protein and MNIST (4000 train rows)
    python benchmarks/bench_path.py --datasets mice

Same data, split, hidden_dims, M, path_multiplier and epoch budgets for both; 2 threads. Reports
wall time, the number of path points, and the test accuracy of the path's model at the point with
the number of selected features nearest 50 (and, as a steadier figure, the mean of that accuracy
over the points nearest 20, 30, ..., 70 features). ``--repeats N`` runs each library N times,
alternating, and reports the median wall time (min-max beside it): on a shared machine single runs
swing by +-25%; with both libraries it also prints the ratio of their times run by run (run i of
each ran back to back, under about the same load) and the median of those ratios. ``lassonet`` is
optional: without it only our rows are printed. Data come from ../shared/data (see its README);
nothing is downloaded.

``--twin`` compares the implementations rather than the defaults: both libraries start from the
same initial weights (lassonet's, from torch_seed 0), validate on the same rows (its own 10%
split, passed to both) and follow the same lambdas (our path starts at lassonet's
``lambda_start_``), so equal math gives equal paths; it also reports the epochs run and how far the
two paths' validation objectives drift apart. Needs lassonet; runs it first in each repeat.
"""
import argparse
import statistics
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import lassonet_ext

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # --data overrides


def load(name, seed, data_dir=DATA):
    if name == "mice":
        from lassonet_ext.datasets import load_mice_protein

        X, y = load_mice_protein(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=seed)
        hidden = (10,)
    elif name == "mnist":
        with np.load(Path(data_dir) / "mnist.npz") as z:
            X, y = z["X"].astype(np.float32) / 255, z["y"]
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, train_size=4000, random_state=seed)
        hidden = (32,)
    else:
        raise ValueError(name)
    sc = StandardScaler().fit(X_tr)
    return sc.transform(X_tr), sc.transform(X_te), y_tr, y_te, hidden


def nearest(path, k):
    return min(path, key=lambda it: (abs(int(np.asarray(it.selected).sum()) - k), -it.lambda_))


SPREAD_KS = (20, 30, 40, 50, 60, 70)


def accuracies(path, accuracy_of):
    """(k and accuracy at the point nearest 50 features, mean accuracy nearest SPREAD_KS)."""
    item = nearest(path, 50)
    spread = float(np.mean([accuracy_of(nearest(path, k)) for k in SPREAD_KS]))
    return int(np.asarray(item.selected).sum()), accuracy_of(item), spread


def run_ours(X_tr, X_te, y_tr, y_te, hidden, args, shared=None):
    est = lassonet_ext.LassoNetClassifier(hidden_dims=hidden, M=args.M,
                                          path_multiplier=args.path_multiplier, random_state=0,
                                          device=args.device)
    t0 = time.perf_counter()
    path = est.path(X_tr, y_tr, return_state_dicts=True)
    seconds = time.perf_counter() - t0

    def accuracy_of(item):
        est.load(item)
        return est.score(X_te, y_te)

    return (seconds, len(path), *accuracies(path, accuracy_of))


def run_lassonet(X_tr, X_te, y_tr, y_te, hidden, args, shared=None):
    import lassonet

    est = lassonet.LassoNetClassifier(hidden_dims=hidden, M=args.M,
                                      path_multiplier=args.path_multiplier, verbose=0,
                                      random_state=0, torch_seed=0, device=args.device)
    t0 = time.perf_counter()
    path = est.path(X_tr, y_tr, return_state_dicts=True)
    seconds = time.perf_counter() - t0

    def accuracy_of(item):
        est.load(item.state_dict)
        return float((np.asarray(est.predict(X_te)).ravel() == y_te).mean())

    return (seconds, len(path), *accuracies(path, accuracy_of))


def twin_setup(X_tr, y_tr, hidden):
    """The shared pieces of a --twin run: fit and validation rows, lassonet's initial weights."""
    import lassonet

    X_fit, X_val, y_fit, y_val = train_test_split(X_tr, y_tr, test_size=0.1, random_state=0)
    torch.manual_seed(0)  # what lassonet's _init_model does with torch_seed=0
    init = lassonet.model.LassoNet(X_tr.shape[1], *hidden, int(y_tr.max()) + 1).state_dict()
    return X_fit, X_val, y_fit, y_val, {k: v.clone() for k, v in init.items()}


def twin_lassonet(X_tr, X_te, y_tr, y_te, hidden, args, shared):
    import lassonet

    shared["setup"] = setup = twin_setup(X_tr, y_tr, hidden)
    X_fit, X_val, y_fit, y_val, _ = setup
    est = lassonet.LassoNetClassifier(hidden_dims=hidden, M=args.M, path_multiplier=args.path_multiplier,
                                      verbose=0, random_state=0, torch_seed=0)
    t0 = time.perf_counter()
    path = est.path(X_fit, y_fit, X_val=X_val, y_val=y_val, return_state_dicts=True)
    seconds = time.perf_counter() - t0
    shared["lambda_start"] = est.lambda_start_
    shared["lassonet"] = path
    return seconds, path, lambda it: it.state_dict, est.model


def twin_ours(X_tr, X_te, y_tr, y_te, hidden, args, shared):
    from lassonet_ext.losses import CrossEntropyLoss
    from lassonet_ext.model import LassoNetModel

    X_fit, X_val, y_fit, y_val, init = shared["setup"]
    model = LassoNetModel(X_tr.shape[1], hidden, int(y_tr.max()) + 1, M=args.M)
    n = len(hidden)  # lassonet's last layer is our head
    model.load_state_dict({("head" + k[len(f"layers.{n}"):] if k.startswith(f"layers.{n}.") else k): v
                           for k, v in init.items()})
    f32, i64 = partial(torch.tensor, dtype=torch.float32), partial(torch.tensor, dtype=torch.int64)
    t0 = time.perf_counter()
    path = lassonet_ext.train_path(model, f32(X_fit), i64(y_fit), f32(X_val), i64(y_val),
                                   CrossEntropyLoss(), lambda_start=shared["lambda_start"],
                                   path_multiplier=args.path_multiplier)
    seconds = time.perf_counter() - t0
    return seconds, path, lambda it: it.state_dict, model


def twin_run(runner):
    """A --twin runner in run_ours' shape, plus the epochs and the drift from lassonet's path."""
    def run(X_tr, X_te, y_tr, y_te, hidden, args, shared):
        seconds, path, state_of, model = runner(X_tr, X_te, y_tr, y_te, hidden, args, shared)
        X_test = torch.tensor(X_te, dtype=torch.float32)

        def accuracy_of(item):
            model.load_state_dict(state_of(item))
            model.eval()
            with torch.no_grad():
                return float((model(X_test).argmax(1).numpy() == y_te).mean())

        theirs = shared["lassonet"]
        same_k = np.mean([int(np.asarray(a.selected).sum()) == int(np.asarray(b.selected).sum())
                          for a, b in zip(path, theirs)])
        drift = max(abs(a.val_objective - b.val_objective) / abs(b.val_objective)
                    for a, b in zip(path, theirs))
        epochs = sum(it.n_iters for it in path)
        shared.setdefault("extra", {})[runner.__name__] = (epochs, same_k, drift)
        return (seconds, len(path), *accuracies(path, accuracy_of))
    return run


def device_words(args):
    if args.device == "cpu":
        return f"{args.threads} threads"
    return f"{args.device} ({torch.cuda.get_device_name()})"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="mice,mnist")
    p.add_argument("--M", type=float, default=10.0)
    p.add_argument("--path-multiplier", type=float, default=1.02)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda, for both libraries (not --twin)")
    p.add_argument("--data", default=str(DATA), help="folder holding mnist.npz (default ../shared/data)")
    p.add_argument("--repeats", type=int, default=1, help="runs per library, alternating; median time")
    p.add_argument("--markdown", help="also write the table to this file")
    p.add_argument("--twin", action="store_true",
                   help="same initial weights, validation rows and lambdas for both (see above)")
    args = p.parse_args()
    if args.twin and args.device != "cpu":
        p.error("--twin runs on the CPU")
    torch.set_num_threads(args.threads)
    try:
        import lassonet

        versions = f"lassonet {lassonet.__version__ if hasattr(lassonet, '__version__') else '0.0.21'}"
        runners = [("lassonet_ext", run_ours), ("lassonet", run_lassonet)]
    except ImportError:
        if args.twin:
            p.error("--twin needs lassonet 0.0.21 installed")
        versions = "lassonet not installed"
        runners = [("lassonet_ext", run_ours)]
    if args.twin:  # lassonet first: our path starts at its lambda_start_ and weights
        runners = [("lassonet", twin_run(twin_lassonet)), ("lassonet_ext", twin_run(twin_ours))]
    # torch.optim's first optimiser imports torch._dynamo (about 1.6 s here): pay it before timing,
    # or whichever library runs first is charged for it.
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    rows, paired = [], []
    for name in args.datasets.split(","):
        data = load(name, seed=0, data_dir=args.data)
        times = {lib: [] for lib, _ in runners}
        results = {}
        for rep in range(args.repeats):
            shared = {}
            for lib, fn in runners:
                seconds, *results[lib] = fn(*data, args, shared)
                times[lib].append(seconds)
                n_points, k, acc, spread = results[lib]
                print(f"{name:6s} {lib:13s} run {rep + 1}: {seconds:8.1f} s  {n_points:4d} lambdas  "
                      f"k={k:3d}  test acc {acc:.3f}  (mean over k = 20..70: {spread:.3f})", flush=True)
            for runner, (epochs, same_k, drift) in shared.get("extra", {}).items():
                print(f"    {runner}: {epochs} epochs; same k as lassonet at {same_k:.1%} of the "
                      f"lambdas; largest relative difference of the validation objectives {drift:.2e}")
        for lib, _ in runners:  # the paths are seeded: every run of a library gives the same one
            rows.append((name, lib, times[lib], *results[lib]))
        if "lassonet" in times and "lassonet_ext" in times:
            # Run i of each library ran back to back: their ratio sees the same machine load.
            paired.append((name, [a / b for a, b in zip(times["lassonet"], times["lassonet_ext"])]))
    lines = [
        f"torch {torch.__version__}, {device_words(args)}, {versions}; M = {args.M}, "
        f"path_multiplier = {args.path_multiplier}, default epochs (1000 dense, 100 per lambda, "
        "patience 100/10); accuracy of the path model at the point nearest 50 features, and its "
        f"mean over the points nearest {', '.join(map(str, SPREAD_KS))} features; wall time: median "
        f"of {args.repeats} alternating run(s), min-max in brackets."
        + (" Twin runs: same initial weights, validation rows and lambdas for both." if args.twin else ""),
        "",
        "| data | library | wall s | path points | k | test accuracy | mean accuracy, k = 20..70 |",
        "|---|---|---|---|---|---|---|",
    ] + [f"| {d} | {lib} | {statistics.median(t):.1f} ({min(t):.1f}-{max(t):.1f}) | {n} | {k} | {a:.3f} | {m:.3f} |"
         for d, lib, t, n, k, a, m in rows]
    if paired:
        lines += [""] + [f"{d}: lassonet's time / ours, run by run: "
                         f"{', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})"
                         for d, ratios in paired]
    print("\n".join(lines))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
