"""Tasks end to end on the command line: search, best, export, evaluate and predict on CSV
files written here; bad labels exit 2 before anything is written."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_YAML, cli_env


def _write_regression(path: Path, n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (200 + 60 * x[:, 0] - 30 * x[:, 1]).round()  # whole numbers far from 0..K-1, as the CSV
    with path.open("w") as f:
        f.write("a,b,c,target\n")
        f.writelines(f"{a:.6f},{b:.6f},{c:.6f},{int(t)}\n" for (a, b, c), t in zip(x, y, strict=True))
    return x.astype(np.float32), y


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_regression_csv_searched_exported_evaluated_and_predicted_in_its_units(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    x, y = _write_regression(tmp_path / "houses.csv")
    r = run_cli("search", "tiny.yaml", "--data", "houses.csv", "--label-column", "target", "--trials", "2",
                "--seed", "0", "--study", "reg", "--test-split", "0.2", "--epochs", "20", "--batch-size", "16", "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    first = r.stderr.strip().splitlines()[0]
    assert first.startswith("label: label column 'target' of houses; task: regression (inferred: ")
    assert "not classes 0..K-1" in first
    best = json.loads(run_cli("best", "reg").stdout)
    assert best["objective"] == "val_loss" and best["direction"] == "minimize"
    # Export: plain Keras reads it, and it predicts in the target's units.
    assert run_cli("export", "reg", "--out", "m.keras").returncode == 0
    ev = json.loads(run_cli("evaluate", "reg").stdout)
    assert ev["task"] == "regression" and {"loss", "mae", "rmse"} <= set(ev)
    new = tmp_path / "new.csv"
    new.write_text("c,a,b\n" + "".join(f"{c},{a},{b}\n" for a, b, c in x[:20]))  # columns by name, any order
    p = run_cli("predict", "reg", "--data", "new.csv", "--out", "preds.csv")
    assert p.returncode == 0, p.stderr[-3000:]
    preds = np.array([float(row["target"]) for row in _rows(tmp_path / "preds.csv")])
    code = ("import sys, numpy as np, keras\nm = keras.saving.load_model('m.keras')\n"
            "x = np.loadtxt('new.csv', delimiter=',', skiprows=1, dtype='float32')[:, [1, 2, 0]]\n"
            "np.savetxt(sys.stdout, m.predict(x, verbose=0)[:, 0])\n")
    plain = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True,
                           text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr[-3000:]
    np.testing.assert_allclose(np.loadtxt(plain.stdout.splitlines()), preds, rtol=1e-4)
    # In the target's units: around its mean and spread, not standardized values near 0.
    assert abs(preds.mean() - y[:20].mean()) < 0.5 * y.std() and np.corrcoef(preds, y[:20])[0, 1] > 0.8
    # The reported MAE is the predictions' error in those units.
    mae = float(np.abs(preds - y[:20]).mean())
    assert mae < y.std(), (mae, ev)


def test_text_labels_binary_predicted_by_name(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    label = np.where(x[:, 0] > 0, "spam", "ham")
    (tmp_path / "mail.csv").write_text("f1,f2,kind\n" + "".join(
        f"{a},{b},{k}\n" for (a, b), k in zip(x, label, strict=True)))
    r = run_cli("search", "tiny.yaml", "--data", "mail.csv", "--trials", "1", "--study", "bin", "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "task: binary (inferred: 2 classes (ham, spam))" in r.stderr
    p = run_cli("predict", "bin", "--data", "mail.csv", "--out", "p.csv")
    assert p.returncode == 0, p.stderr[-3000:]
    rows = _rows(tmp_path / "p.csv")
    assert set(rows[0]) == {"prediction", "p_ham", "p_spam"} and len(rows) == 200
    assert {row["prediction"] for row in rows} <= {"ham", "spam"}
    for row in rows:
        assert float(row["p_ham"]) + float(row["p_spam"]) == pytest.approx(1.0)
        assert row["prediction"] == ("spam" if float(row["p_spam"]) > 0.5 else "ham")


BAD = {
    "one class": ("kind\n" + "a\n" * 30, [], "the labels hold a single class (a)"),
    "regression target with NaN": ("y\n" + "".join(f"{'NA' if i == 4 else i * 0.5}\n" for i in range(30)), [],
                                   "the target is missing (NaN, empty or NA) in 1 samples"),
    "--task regression on text": ("kind\n" + "".join(f"{'ab'[i % 2]}\n" for i in range(30)), ["--task", "regression"],
                                  "regression needs numeric targets, but the labels are text"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_labels_exit_2_with_one_line_before_anything_is_written(run_cli, tmp_path: Path, case: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    body, args, words = BAD[case]
    header, *rows = body.splitlines()
    (tmp_path / "d.csv").write_text(f"f,{header}\n" + "".join(f"{i},{v}\n" for i, v in enumerate(rows)))
    r = run_cli("search", "tiny.yaml", "--data", "d.csv", *args, "--trials", "1")
    assert r.returncode == 2, r.stderr[-2000:]
    assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "automl.db").exists()
