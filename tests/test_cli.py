"""The command line: default run on the bundled data, user files, clear errors without tracebacks."""
import json

import numpy as np
import pytest

from lassonet_ext.cli import main
from lassonet_ext.datasets import load_mice_protein


def test_bundled_dataset():
    data = load_mice_protein()
    assert data.data.shape == (1080, 77) and data.target.shape == (1080,)
    assert len(data.feature_names) == 77 and len(data.target_names) == 8
    assert np.isfinite(data.data).all() and np.isnan(data.data_raw).sum() == 1396
    X, y = load_mice_protein(return_X_y=True)
    assert np.bincount(y).tolist() == [135, 135, 135, 150, 105, 135, 135, 150]


def test_select_on_bundled_data(tmp_path, capsys):
    rc = main(["select", "--quiet", "--path-multiplier", "1.2", "--k", "10", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "task: classification (guessed" in out
    assert "best validated point" in out and "at most 10 features" in out
    summary = json.loads((tmp_path / "path.json").read_text())
    assert summary["best"]["test_score"] > 0.9
    assert 0 < len(summary["k"]["features"]) <= 10
    assert summary["path"][-1]["n_selected"] == 0
    assert (tmp_path / "path.png").stat().st_size > 10_000
    lines = (tmp_path / "path.csv").read_text().splitlines()
    assert lines[0].startswith("lambda,n_selected") and len(lines) == len(summary["path"]) + 1


def test_select_on_csv_regression(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    y = 3 * X[:, 0] + rng.standard_normal(120) * 0.1
    csv = tmp_path / "data.csv"
    np.savetxt(csv, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,target", comments="")
    rc = main(["select", "--csv", str(csv), "--target", "target", "--quiet", "--k", "1",
               "--path-multiplier", "1.3", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0 and "task: regression" in out
    summary = json.loads((tmp_path / "out" / "path.json").read_text())
    assert summary["k"]["features"] == ["a"]


@pytest.mark.parametrize(
    "content,args,message",
    [
        (None, ["--csv", "missing.csv", "--target", "y"], "file not found"),
        ("a,b\n1,2\n", ["--target", "zz"], "column 'zz' is not in"),
        ("a,b,y\n" + "1,x,0\n" * 20, ["--target", "y"], "non-numeric feature columns"),
        ("a,y\n1,0\n2,1\n", ["--target", "y"], "too few rows"),
        ("a,y\n" + "1,0\n" * 20, [], "--target COLUMN is required"),
        ("a,y\n" + "1,0\n" * 20, ["--target", "y", "--hidden-dims", "a,b"], "--hidden-dims"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(tmp_path, capsys, content, args, message):
    if content is not None:
        (tmp_path / "d.csv").write_text(content)
        args = ["--csv", str(tmp_path / "d.csv")] + args
    else:
        args = [a.replace("missing.csv", str(tmp_path / "missing.csv")) for a in args]
    rc = main(["select", "--quiet", "--out", str(tmp_path / "o")] + args)
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err
