"""Command line: ``lassonet-ext select`` runs the LassoNet path and reports the selected features.

With no arguments it runs on the bundled Mice Protein data (1080 x 77, 8 classes).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the user's input: reported as one line, no traceback."""


def _load_csv(path, target):
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise UserError(f"file not found: {path}") from None
    except Exception as exc:  # malformed file
        raise UserError(f"could not read {path} as CSV: {exc}") from None
    if target is None:
        raise UserError("--target COLUMN is required with --csv")
    if target not in df.columns:
        raise UserError(f"column {target!r} is not in {path}; columns: {', '.join(map(str, df.columns))}")
    y = df.pop(target).to_numpy()
    bad = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise UserError(f"non-numeric feature columns (encode or drop them): {', '.join(map(str, bad))}")
    return df.to_numpy(dtype=np.float32), y, [str(c) for c in df.columns]


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            if "X" not in z or "y" not in z:
                raise UserError(f"{path} must hold arrays 'X' and 'y', has {', '.join(z.files)}")
            X, y = z["X"], z["y"]
            names = [str(n) for n in z["feature_names"]] if "feature_names" in z else None
    except FileNotFoundError:
        raise UserError(f"file not found: {path}") from None
    except (ValueError, OSError) as exc:
        raise UserError(f"could not read {path} as .npz: {exc}") from None
    if X.ndim != 2:
        raise UserError(f"X in {path} must be 2-D (samples x features), got shape {X.shape}")
    return X.astype(np.float32), y, names or [f"x{j}" for j in range(X.shape[1])]


def _guess_task(y):
    y = np.asarray(y)
    if y.dtype.kind in "OUSb":
        return "classification"
    if y.dtype.kind in "iu" or (np.all(np.mod(y, 1) == 0) and len(np.unique(y)) <= 20):
        return "classification"
    return "regression"


def _parse_dims(text):
    try:
        dims = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise UserError(f"--hidden-dims must be comma-separated ints like 32 or 64,32, got {text!r}") from None
    if not dims or min(dims) <= 0:
        raise UserError(f"--hidden-dims must be positive ints, got {text!r}")
    return dims


def build_parser():
    p = argparse.ArgumentParser(prog="lassonet-ext", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("select", help="run the path and select features")
    src = s.add_mutually_exclusive_group()
    src.add_argument("--csv", help="CSV file with a header row")
    src.add_argument("--npz", help=".npz file with arrays X and y (and optionally feature_names)")
    s.add_argument("--target", help="target column of the CSV")
    s.add_argument("--task", choices=["classification", "regression"], help="guessed when omitted")
    s.add_argument("--k", type=int, default=10, help="also report the best point with at most k features (10)")
    s.add_argument("--hidden-dims", default="32", help="hidden layer widths, e.g. 64,32 (32)")
    s.add_argument("--M", type=float, default=10.0, help="hierarchy constant (10)")
    s.add_argument("--path-multiplier", type=float, default=1.02, help="lambda growth per step (1.02)")
    s.add_argument("--test-size", type=float, default=0.2, help="held-out fraction for the score (0.2)")
    s.add_argument("--device", default="auto", help="cpu, cuda or auto")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", help="output folder (default: a new lassonet-run-* folder here)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def select(args):
    from sklearn.model_selection import train_test_split

    from .estimators import LassoNetClassifier, LassoNetRegressor

    if args.csv:
        X, y, names = _load_csv(args.csv, args.target)
        source = args.csv
    elif args.npz:
        X, y, names = _load_npz(args.npz)
        source = args.npz
    else:
        from .datasets import load_mice_protein

        data = load_mice_protein()
        X, y, names = data.data, np.asarray(data.target_names)[data.target], data.feature_names
        source = "bundled Mice Protein data (1080 x 77, 8 classes)"
    if len(X) < 10:
        raise UserError(f"too few rows: {len(X)} (need at least 10)")
    if args.k < 0:
        raise UserError(f"--k must be >= 0, got {args.k}")
    task = args.task or _guess_task(y)
    if not args.task:
        print(f"task: {task} (guessed from the target; set --task to override)")
    dims = _parse_dims(args.hidden_dims)
    stratify = y if task == "classification" else None
    try:
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=args.test_size,
                                                  random_state=args.seed, stratify=stratify)
    except ValueError as exc:
        raise UserError(f"cannot split the data: {exc}") from None
    Est = LassoNetClassifier if task == "classification" else LassoNetRegressor
    est = Est(hidden_dims=dims, M=args.M, path_multiplier=args.path_multiplier,
              device=args.device, random_state=args.seed, verbose=not args.quiet)
    print(f"data: {source}; {X.shape[0]} rows x {X.shape[1]} features; "
          f"train {len(X_tr)}, test {len(X_te)}")
    t0 = time.perf_counter()
    try:
        path = est.path(X_tr, y_tr, return_state_dicts=True)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    seconds = time.perf_counter() - t0
    score_name = "accuracy" if task == "classification" else "R^2"
    print(f"path: {len(path)} lambdas in {seconds:.1f} s")
    print(f"{'lambda':>12} {'features':>9} {'val ' + score_name:>14}")
    shown = set()
    for item in path:  # one row per feature count: the table stays readable
        if item.n_selected in shown:
            continue
        shown.add(item.n_selected)
        print(f"{item.lambda_:12.4g} {item.n_selected:9d} {item.val_score:14.4f}")

    best_test = est.score(X_te, y_te)
    best = est.best_
    best_names = [n for n, s in zip(names, best.selected) if s]
    fits = [it for it in path if it.n_selected <= args.k]
    k_item = max(fits, key=lambda it: (it.n_selected, it.val_score))
    est_k = est.load(k_item)
    k_test = est_k.score(X_te, y_te)
    k_names = [n for n, s in zip(names, k_item.selected) if s]
    print(f"\nbest validated point: lambda={best.lambda_:.4g}, {best.n_selected} features, "
          f"test {score_name} {best_test:.4f}")
    print("  " + (", ".join(best_names) if len(best_names) <= 30 else
                  ", ".join(best_names[:30]) + f", ... ({len(best_names) - 30} more in path.json)"))
    print(f"at most {args.k} features: lambda={k_item.lambda_:.4g}, {k_item.n_selected} features, "
          f"test {score_name} {k_test:.4f}")
    print("  " + ", ".join(k_names))
    ranking = [names[j] for j in np.argsort(-est.feature_importances_)]
    print("features ranked by the lambda at which they leave the path (first 10): " + ", ".join(ranking[:10]))

    out = Path(args.out) if args.out else Path.cwd() / time.strftime("lassonet-run-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    _write_outputs(out, est, path, names, score_name, best_names, k_names, best_test, k_test, ranking)
    print(f"\nwrote {out}/path.csv, path.json, path.png")
    return 0


def _write_outputs(out, est, path, names, score_name, best_names, k_names, best_test, k_test, ranking):
    import csv

    from .plot import plot_path

    with open(out / "path.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["lambda", "n_selected", "val_loss", "val_score", "loss", "n_iters", "selected"])
        for it in path:
            w.writerow([it.lambda_, it.n_selected, it.val_loss, it.val_score, it.loss, it.n_iters,
                        ";".join(n for n, s in zip(names, it.selected) if s)])
    summary = {
        "score": score_name,
        "best": {"features": best_names, "test_score": best_test},
        "k": {"features": k_names, "test_score": k_test},
        "ranking": ranking,
        "path": [{"lambda": it.lambda_, "n_selected": it.n_selected, "val_score": it.val_score,
                  "val_loss": it.val_loss} for it in path],
    }
    (out / "path.json").write_text(json.dumps(summary, indent=1))
    fig = plot_path(path, score_name=f"validation {score_name}")
    fig.savefig(out / "path.png", dpi=120)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return select(args)
    except UserError as exc:
        print(f"lassonet-ext: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
