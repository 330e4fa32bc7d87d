"""A table with text labels, categorical and boolean columns and missing values, end to end on the command
line: search, export (plain Keras reads the model and scores the encoded rows as the trial did), predict on raw
rows; bad columns exit 2 before anything is written."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_YAML, cli_env

_ISLANDS = {"Adelie": "Torgersen", "Gentoo": "Biscoe", "Chinstrap": "Dream"}


def write_penguins(path: Path, n: int = 240, seed: int = 0) -> None:
    """Penguins-like rows: the species (text) shows in the island (mostly), the bill and the flipper; missing
    values as NA, empty and ? cells."""
    rng = np.random.default_rng(seed)
    species = list(_ISLANDS)
    lines = ["species,island,bill_length,flipper,sex,tagged"]
    for i in range(n):
        s = species[i % 3]
        island = _ISLANDS[s] if rng.random() < 0.8 else rng.choice(list(_ISLANDS.values()))
        bill = {"Adelie": 38.0, "Gentoo": 47.0, "Chinstrap": 49.0}[s] + rng.normal(0, 1.0)
        flipper = {"Adelie": 190, "Gentoo": 217, "Chinstrap": 196}[s] + rng.normal(0, 3.0)
        sex = rng.choice(["male", "female", "NA", ""])
        bill_cell = "NA" if i % 11 == 0 else f"{bill:.1f}"
        flipper_cell = "" if i % 13 == 0 else "?" if i % 17 == 0 else f"{flipper:.0f}"
        tagged = rng.choice(["true", "false", "TRUE"])
        lines.append(f"{s},{island},{bill_cell},{flipper_cell},{sex},{tagged}")
    path.write_text("\n".join(lines) + "\n")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


_PLAIN = """
import json, sys
import numpy as np, keras, optuna
from automl.data import data_from_description
study = optuna.load_study(study_name="peng", storage="sqlite:///automl.db")
data = data_from_description(study.user_attrs["automl:data"])
m = keras.saving.load_model("m.keras")
p = m.predict(data.x_val, verbose=0)
new = np.asarray(json.loads(sys.argv[1]), dtype="float32")
json.dump({"val_accuracy": float((p.argmax(1) == data.y_val).mean()), "best": study.best_value,
           "n_val": len(data.y_val), "layers": [l.name for l in m.layers], "new": m.predict(new, verbose=0).tolist()},
          sys.stdout)
"""


@pytest.mark.slow
def test_penguins_table_searched_exported_and_predicted_from_raw_rows(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    write_penguins(tmp_path / "penguins.csv")
    r = run_cli("search", "tiny.yaml", "--data", "penguins.csv", "--label-column", "species", "--trials", "2",
                "--seed", "0", "--study", "peng", "--test-split", "0.2", "--epochs", "12", "--batch-size", "16", "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.strip().splitlines()[0] == ("label: label column 'species' of penguins; task: classification "
                                                "(inferred: 3 classes of text)")
    assert run_cli("export", "peng", "--out", "m.keras").returncode == 0
    stage = json.loads((tmp_path / "m.preprocessing.json").read_text())
    kinds = {c["name"]: c["kind"] for c in stage["columns"]}
    assert kinds == {"island": "categorical", "bill_length": "numeric", "flipper": "numeric", "sex": "categorical",
                     "tagged": "boolean"}
    assert stage["class_names"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert "bill_length_missing" in stage["encoded_columns"] and "island=<other>" in stage["encoded_columns"]
    # Raw rows, as a user has them: an island never seen, missing values of each spelling.
    raw = ("tagged,sex,flipper,bill_length,island,species\n"
           "true,male,190,38.2,Torgersen,?\n"
           "false,,217,NA,Biscoe,?\n"
           "TRUE,NA,?,49.1,Atlantis,?\n")
    (tmp_path / "new.csv").write_text(raw)
    p = run_cli("predict", "peng", "--data", "new.csv", "--out", "preds.csv")
    assert p.returncode == 0, p.stderr[-3000:]
    preds = _rows(tmp_path / "preds.csv")
    assert [row["prediction"] for row in preds][:2] == ["Adelie", "Gentoo"]
    assert set(preds[0]) == {"prediction", "p_Adelie", "p_Chinstrap", "p_Gentoo"}
    # Plain Keras: the exported model takes the encoded rows and scores them as the trial did.
    from automl.data._table import Table, encode

    header, body = raw.splitlines()[0].split(","), [line.split(",") for line in raw.splitlines()[1:]]
    cells = np.array(body, dtype=str)
    table = Table(header, cells)
    encoded = encode(table, {"columns": stage["columns"]}, "new rows")
    plain = subprocess.run([sys.executable, "-c", _PLAIN, json.dumps(encoded.tolist())], cwd=tmp_path,
                           env=cli_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr[-3000:]
    out = json.loads(plain.stdout)
    assert abs(out["val_accuracy"] - out["best"]) <= 1.0 / out["n_val"] + 1e-9
    assert out["best"] > 0.6  # learnt from the columns (chance is 1/3)
    assert "standardize" in out["layers"]
    probs = np.array([[float(row[f"p_{c}"]) for c in stage["class_names"]] for row in preds])
    np.testing.assert_allclose(np.array(out["new"]), probs, rtol=1e-4, atol=1e-6)
    ev = json.loads(run_cli("evaluate", "peng").stdout)
    assert ev["test_samples"] == 48 and 0.0 <= ev["accuracy"] <= 1.0
    # Continued from the store alone: the recorded encoding reads the file as the search did (same fingerprint).
    again = run_cli("search", "--study", "peng", "--trials", "3", "-q")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 trials, 3 complete" in again.stdout
    kinds_again = run_cli("search", "--study", "peng", "--trials", "4", "--categorical", "flipper")
    assert kinds_again.returncode == 2 and "column kinds are recorded" in kinds_again.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--ignore", "ident"), "column 'empty' is empty (every value missing); leave it out with --ignore empty"),
    (("--numeric", "mixed", "--ignore", "empty,ident"), "column 'mixed' is declared numeric but holds 'abc' (line 4)"),
    (("--categorical", "nope"), "no column 'nope' (declared categorical); its feature columns are a, empty, mixed, "
                                "ident"),
    (("--ignore", "empty,mixed"), "column 'ident' holds 120 distinct values, more than 100 for a categorical column "
                                  "(an identifier or free text?); leave it out with --ignore ident"),
    (("--ignore", "empty,ident"), "column 'mixed' holds 120 distinct values, more than 100 for a categorical column "
                                  "(an identifier or free text?); leave it out with --ignore mixed (it mixes numbers "
                                  "and text: declare it --numeric if they are numbers)"),
    (("--ignore", "label"), "'label' is the label column; it cannot be declared ignore"),
])
def test_bad_table_columns_exit_2_naming_the_column_and_write_nothing(run_cli, tmp_path: Path, args: tuple[str, ...],
                                                                      message: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    lines = ["label,a,empty,mixed,ident"]
    for i in range(120):
        lines.append(f"{'yes' if i % 2 else 'no'},{i * 0.5},{'NA' if i % 2 else ''},{'abc' if i == 2 else i},id{i}")
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    r = run_cli("search", "tiny.yaml", "--data", "bad.csv", "--trials", "1", *args)
    assert r.returncode == 2, r.stderr[-2000:]
    assert message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "automl.db").exists()
