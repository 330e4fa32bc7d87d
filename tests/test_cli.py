"""The CLI end to end, as a user runs it: subprocesses, real training, a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa

from automl.engines import ATTR
from automl.engines._record import history_of
from tests.conftest import TINY_YAML, cli_env, file_digest

pytestmark = pytest.mark.slow


def test_help_does_not_import_tensorflow_or_keras(tmp_path: Path) -> None:
    code = ("import sys\nfrom click.testing import CliRunner\nfrom automl.cli import cli\n"
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output\n"
            "r = CliRunner().invoke(cli, ['search', '--help']); assert r.exit_code == 0, r.output\n"
            "bad = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_search_end_to_end_then_read_the_store(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    r = run_cli("search", "tiny.yaml", "--trials", "3", "--seed", "0", "--study", "e2e", "-v")
    assert r.returncode == 0, r.stderr
    assert "3 trials requested" in r.stderr  # -v after the command's name works too (info log)
    assert "study e2e (sqlite:///automl.db): 3 trials, 3 complete" in r.stdout
    assert "best trial #" in r.stdout
    assert "3/3" in r.stderr  # the progress display
    db = tmp_path / "automl.db"
    assert db.exists()

    study = optuna.load_study(study_name="e2e", storage=f"sqlite:///{db}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert all(len(t.intermediate_values) == 2 for t in study.trials)

    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as con:
        n_trials = con.execute(sa.text("SELECT COUNT(*) FROM trials")).scalar()
        attrs = {k for (k,) in con.execute(sa.text("SELECT key FROM trial_user_attributes"))}
        machine = {k for (k,) in con.execute(sa.text("SELECT key FROM trial_system_attributes"))}
        study_attrs = {k for (k,) in con.execute(sa.text("SELECT key FROM study_user_attributes"))}
    assert n_trials == 3
    assert {"automl:epochs", "automl:params_count", "automl:fit_seconds", "automl:device"} <= attrs
    # machine state out of the dashboard's sight, and no "automl:error null" on complete trials
    assert {"automl:config", "automl:history"} <= machine
    assert not {"automl:config", "automl:history", "automl:error"} & attrs
    assert {"automl:space", "automl:data", "automl:engine", "automl:sampler", "automl:pruner"} <= study_attrs

    best = run_cli("best", "e2e")
    assert best.returncode == 0, best.stderr
    b = json.loads(best.stdout)
    assert b["value"] == pytest.approx(study.best_value) and b["params"] == study.best_params

    rows = list(csv.DictReader(io.StringIO(run_cli("trials", "e2e", "--format", "csv").stdout)))
    assert len(rows) == 3 and float(rows[0]["value"]) == pytest.approx(study.best_value)
    assert "layer0.units" in rows[0]
    js = json.loads(run_cli("trials", "e2e", "--format", "json").stdout)
    assert [t["number"] for t in js] == [int(r["number"]) for r in rows]
    table = run_cli("studies")
    assert table.returncode == 0 and "e2e" in table.stdout and "optuna" in table.stdout

    # Same command again with a larger total continues the study; the store alone suffices too.
    r2 = run_cli("search", "tiny.yaml", "--trials", "4", "--study", "e2e", "-q")
    assert r2.returncode == 0, r2.stderr
    r3 = run_cli("search", "--study", "e2e", "--trials", "5", "-q")
    assert r3.returncode == 0, r3.stderr
    assert len(optuna.load_study(study_name="e2e", storage=f"sqlite:///{db}").trials) == 5

    # Another space under the same name is refused, and the store is unchanged.
    (tmp_path / "other.yaml").write_text(TINY_YAML.replace("high: 32", "high: 64"))
    before = file_digest(db)
    r4 = run_cli("search", "other.yaml", "--trials", "6", "--study", "e2e")
    assert r4.returncode == 2
    assert "already holds another search space" in r4.stderr
    assert file_digest(db) == before


def test_storage_from_environment_and_credentials_never_printed(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("studies", env={"AUTOML_STORAGE": "postgresql://bob:hunter2@127.0.0.1:1/none"})
    assert r.returncode == 2
    assert "hunter2" not in r.stderr + r.stdout and "bob:***@127.0.0.1" in r.stderr


SPACE_CASES = {
    "unknown layer": ("model:\n  layers:\n    - type: dense3d\n", "model.layers[0].type"),
    "low > high": (TINY_YAML.replace("low: 8, high: 32", "low: 64, high: 32"), "model.layers[0].units.low"),
    "negative width": (TINY_YAML.replace("units: {low: 8, high: 32, step: 8}", "units: -3"), "model.layers[0].units"),
    "non-positive lr": (TINY_YAML.replace("low: 1e-3, high: 3e-2", "low: 0, high: 3e-2"),
                        "optimizer.learning_rate.low"),
    "unknown optimizer": (TINY_YAML.replace("[adam, sgd]", "[adam, lion]"), "optimizer.name.choice[1]"),
    "wrong type": (TINY_YAML.replace("epochs: 2", "epochs: two"), "training.epochs"),
    "unknown key": (TINY_YAML + "extra: 1\n", "extra"),
    "not yaml": ("model: [unclosed\n", "not valid YAML"),
    # brackets in the user's text once read as rich markup: a MarkupError traceback, exit 1
    # a search of out-of-memory trials once: refused, naming the field and how to raise the bound
    "a layer too big to build": ("model:\n  layers:\n    - {type: dense, units: {low: 100000000, high: 1000000000}}\n",
                                 "model.layers[0].units: a dense layer this size has at least 200,000,000 weights"),
    "markup in a value": ("model:\n  layers:\n    - {type: '[/x]', units: 4}\n", "'[/x]'"),
    "conv2d on 1-D data": ("model:\n  layers:\n    - {type: conv2d, filters: 4, kernel_size: 3}\n",
                           "model.layers[0].type"),
}


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one finished study, made once for the table of bad spaces."""
    d = tmp_path_factory.mktemp("filled")
    (d / "good.yaml").write_text(TINY_YAML)
    ok = subprocess.run([sys.executable, "-m", "automl", "search", "good.yaml", "--trials", "1", "--epochs", "1",
                         "-q"], cwd=d, env=cli_env(d), capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    return d / "automl.db"


@pytest.mark.parametrize("case", sorted(SPACE_CASES))
def test_bad_space_exits_2_and_leaves_the_store_untouched(run_cli, tmp_path: Path, filled_store: Path,  # type: ignore[no-untyped-def]
                                                          case: str) -> None:
    import shutil

    text, words = SPACE_CASES[case]
    (tmp_path / "bad.yaml").write_text(text)
    db = tmp_path / "automl.db"
    shutil.copy(filled_store, db)
    before = file_digest(db)
    r = run_cli("search", "bad.yaml", "--trials", "1")
    assert r.returncode == 2, r.stderr
    assert words in r.stderr
    assert "Traceback" not in r.stderr
    assert file_digest(db) == before


def assert_one_error(r: subprocess.CompletedProcess[str], words: str) -> None:
    """Bad input: exit 2 and one short message holding ``words``, no traceback."""
    assert r.returncode == 2, r.stderr
    assert words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.count("error:") == 1 and len(r.stderr) < 800, r.stderr


def _imgs(t: Path, **changes: str) -> list[str]:
    """A folder of 2 classes of 8x10 PNGs, changed as ``changes`` says (path: what to write)."""
    from tests.data.fakes import image_folder

    image_folder(t / "imgs", {"cats": 3, "dogs": 3})
    for rel, what in changes.items():
        target = t / "imgs" / rel
        if what == "folder":
            target.mkdir()
        elif what == "16x12":
            image_folder(t / "imgs", {rel: 2}, size=(16, 12))
        else:
            target.write_text(what)
    return ["--data", "imgs"]


def _one_class(t: Path) -> list[str]:
    from tests.data.fakes import image_folder

    image_folder(t / "imgs", {"cats": 3})
    return ["--data", "imgs"]


def _many_classes(t: Path, *args: str) -> list[str]:
    import numpy as np

    np.savez(t / "data.npz", x=np.zeros((2400, 4)), y=np.arange(2400) % 1200)
    return ["--data", "data.npz", *args]


def _npz_args(t: Path, *args: str) -> list[str]:
    import numpy as np

    np.savez(t / "data.npz", x=np.zeros((10, 4)), y=np.arange(10) % 2)
    return ["--data", "data.npz", *args]


# (content: npz arrays, CSV text, None for no file, or a function of the folder that writes
# the data and returns the arguments; the words of the message[, the space: seed-mlp
# declares 10 classes and 100 features, tiny declares neither]).
DATA_CASES = {
    "missing file": (None, "data file not found"),
    "missing array": ({"x": [[0.0] * 64] * 10}, "missing array 'y'"),
    "length mismatch": ({"x": [[0.0] * 64] * 10, "y": [0, 1] * 4}, "x has 10 samples but y has 8"),
    "nan values": ({"x": [[float("nan")] * 64] * 10, "y": [0, 1] * 5}, "NaN or infinite"),
    "labels out of range": ({"x": [[0.0] * 100] * 10, "y": [0, 12] * 5}, "labels out of range"),
    "shape mismatch": ({"x": [[0.0] * 64] * 10, "y": [0, 1] * 5}, "expects input_shape (100,)"),
    # Whole numbers that are not 0..K-1 (2**40, 2,000,000) are a regression target unless
    # declared (tests/data/test_tasks.py); declared classes beyond 1,000 are refused.
    "1,200 classes declared": (lambda t: _many_classes(t, "--task", "classification"),
                               "1,200 classes, more than 1,000 (is the label column right?)", "tiny"),
    "num_classes with --task regression": ({"x": [[0.0] * 100] * 10, "y": [0, 1] * 5},
                                           "which makes the task classification"),
    "npz with x and x_train": ({"x": [[0.0] * 4] * 10, "y": [0, 1] * 5, "x_train": [[0.0] * 4] * 10,
                                "y_train": [0, 1] * 5}, "so which is the training set is ambiguous", "tiny"),
    # keras.datasets with no cached copy, offline (a proxy nobody listens on: no network reached)
    "keras dataset offline": (lambda t: ["--data", "mnist"],
                              "tf-keras-datasets/mnist.npz and save it as", "tiny"),
    "corrupt image": (lambda t: _imgs(t, **{"dogs/2.png": "not a png"}),
                      "imgs/dogs/2.png: not an image Pillow can read", "tiny"),
    "not an image": (lambda t: _imgs(t, **{"cats/notes.txt": "hello"}),
                     "imgs/cats/notes.txt: not an image file", "tiny"),
    "images of two sizes": (lambda t: _imgs(t, birds="16x12"), "pass --image-size HxW", "tiny"),
    "empty class folder": (lambda t: _imgs(t, fish="folder"),
                           "the class folder 'fish' holds no images; add images or remove it", "tiny"),
    "one class folder": (_one_class, "at least 2; it has only the class folder 'cats'", "tiny"),
    "bad image size": (lambda t: [*_imgs(t), "--image-size", "64"], "image size must be HEIGHTxWIDTH", "tiny"),
    "image size on a file": (lambda t: _npz_args(t, "--image-size", "8x8"),
                             "apply to image folders only", "tiny"),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_data_exits_2_before_the_store_is_touched(run_cli, tmp_path: Path, case: str) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    content, words, *space = DATA_CASES[case]
    path = tmp_path / ("data.csv" if isinstance(content, str) else "data.npz")
    args = ["--data", str(path)]
    if callable(content):
        args = content(tmp_path)
    elif isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        np.savez(path, **{k: np.asarray(v) for k, v in content.items()})
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    if case == "num_classes with --task regression":  # seed-mlp declares num_classes: 10
        args.extend(["--task", "regression"])
    r = run_cli("search", "tiny.yaml" if space == ["tiny"] else "seed-mlp", *args, "--trials", "1", env=_OFFLINE)
    assert_one_error(r, words)
    assert not (tmp_path / "automl.db").exists()


# Downloads go to a proxy nobody listens on: a test never reaches the network.
_OFFLINE = {"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "",
            "NO_PROXY": ""}


def test_an_image_folder_end_to_end_then_continued_from_the_store(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.data.fakes import image_folder

    image_folder(tmp_path / "imgs", {"dogs": 8, "cats": 8}, size=(10, 12))
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    env = {"AUTOML_CACHE": str(tmp_path / "cache"), **_OFFLINE}
    r = run_cli("search", "tiny.yaml", "--data", "imgs", "--image-size", "8x8", "--color-mode", "grayscale",
                "--trials", "1", "--epochs", "1", "-q", env=env)
    assert r.returncode == 0, r.stderr
    desc = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'automl.db'}").user_attrs[
        f"{ATTR}data"]
    assert desc["input_shape"] == [8, 8, 1] and desc["class_names"] == ["cats", "dogs"]
    assert desc["image_size"] == [8, 8] and desc["color_mode"] == "grayscale" and desc["num_classes"] == 2
    assert len(list((tmp_path / "cache" / "images").iterdir())) == 1
    again = run_cli("search", "--study", "tiny", "--trials", "2", "-q", env=env)  # the folder, from the store
    assert again.returncode == 0, again.stderr
    assert len(list((tmp_path / "cache" / "images").iterdir())) == 1  # read from the cache, not decoded again


def test_seed_cnn_on_cifar10_from_keras_cache(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.data.fakes import fake_cifar10

    fake_cifar10(tmp_path / ".keras", per_batch=12)  # cli_env's KERAS_HOME
    r = run_cli("search", "seed-cnn", "--data", "cifar10", "--trials", "1", "--epochs", "1", "-q", env=_OFFLINE)
    assert r.returncode == 0, r.stderr
    study = optuna.load_study(study_name="seed-cnn", storage=f"sqlite:///{tmp_path / 'automl.db'}")
    desc = study.user_attrs[f"{ATTR}data"]
    assert desc["source"] == "cifar10" and desc["input_shape"] == [32, 32, 3] and desc["test"] == 12
    assert [t.state.name for t in study.trials] == ["COMPLETE"]
    again = run_cli("search", "--study", "seed-cnn", "--trials", "2", "-q", env=_OFFLINE)
    assert again.returncode == 0, again.stderr


# Flags that are wrong whatever the space and data: the message names the flag, alone.
ARG_CASES = {
    "negative test split": (["--test-split", "-0.1"], "--test-split must be ≥ 0 and below 1 (got -0.1)"),
    "validation split of 1": (["--val-split", "1"], "--val-split must be above 0 and below 1 (got 1)"),
    "zero epochs": (["--epochs", "0"], "--epochs must be ≥ 1 (got 0)"),
    "zero batch size": (["--batch-size", "0"], "--batch-size must be ≥ 1 (got 0)"),
    "negative seed": (["--seed", "-1"], "--seed must be between 0 and 2147483647 (got -1)"),
    "negative data seed": (["--data-seed", "-1"], "--data-seed must be between 0 and 2147483646 (got -1)"),
    "zero trials": (["--trials", "0"], "--trials must be ≥ 1 (got 0)"),
    "port not a number": (["--storage", "postgresql://bob:hunter2@db:abc/x"], "its port is not a number"),
}


@pytest.mark.parametrize("case", sorted(ARG_CASES))
def test_bad_flags_exit_2_with_one_message_and_leave_the_store_untouched(run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                         filled_store: Path, case: str) -> None:
    import shutil

    args, words = ARG_CASES[case]
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    db = tmp_path / "automl.db"
    shutil.copy(filled_store, db)
    before = file_digest(db)
    r = run_cli("search", "tiny.yaml", "--study", "good", *([] if "--trials" in args else ["--trials", "2"]), *args)
    assert_one_error(r, words)
    assert "val_accuracy" not in r.stderr and "training." not in r.stderr and "hunter2" not in r.stderr
    assert file_digest(db) == before


def test_a_study_continues_only_on_its_own_data(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    import numpy as np

    from automl.data import load_data

    digits = load_data("digits", val_split=0.01)
    x, y = np.concatenate([digits.x_train, digits.x_val]), np.concatenate([digits.y_train, digits.y_val])
    np.savez(tmp_path / "a.npz", x=x, y=y)
    np.savez(tmp_path / "scaled.npz", x=x * 2, y=y)  # same shapes and labels, other features
    (tmp_path / "host2").mkdir()
    shutil.copy(tmp_path / "a.npz", tmp_path / "host2" / "a-copy.npz")  # the same data, found elsewhere
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    db = tmp_path / "automl.db"
    r = run_cli("search", "tiny.yaml", "--data", "a.npz", "--trials", "1", "--epochs", "1", "--study", "fp", "-q")
    assert r.returncode == 0, r.stderr
    before = file_digest(db)
    other = run_cli("search", "tiny.yaml", "--data", "scaled.npz", "--trials", "2", "--epochs", "1", "--study", "fp")
    assert_one_error(other, "study 'fp' was run on other data than scaled: other feature values")
    assert "use another --study name" in other.stderr
    assert file_digest(db) == before
    reseeded = run_cli("search", "tiny.yaml", "--data", "a.npz", "--data-seed", "3", "--trials", "2", "--epochs", "1",
                       "--study", "fp")
    assert_one_error(reseeded, "other labels (or the same labels split with another --data-seed)")
    # The same data from another path: from the store alone, and by a worker (as on another host).
    again = run_cli("search", "--study", "fp", "--data", "host2/a-copy.npz", "--trials", "2", "-q")
    assert again.returncode == 0, again.stderr
    url = f"sqlite:///{db}"
    w = run_cli("worker", "--storage", url, "--study", "fp", "--data", "host2/a-copy.npz", "--trials", "3", "-q")
    assert w.returncode == 0, w.stderr
    assert "worker done: ran 1 trials; the study holds 3 of 3" in w.stderr
    bad = run_cli("worker", "--storage", url, "--study", "fp", "--data", "scaled.npz", "--trials", "4", "-q")
    assert_one_error(bad, "was run on other data than scaled")
    # Re-running a finished search says so instead of showing an empty progress bar.
    done = run_cli("search", "tiny.yaml", "--data", "a.npz", "--trials", "3", "--epochs", "1", "--study", "fp")
    assert done.returncode == 0, done.stderr
    assert ("study fp already holds 3 of 3 trials: nothing to run; pass --trials N with N > 3 to continue"
            in done.stderr)
    assert "3/3" not in done.stderr and done.stdout == ""
    # A study made before data fingerprints were stored still continues.
    engine = sa.create_engine(url)
    with engine.begin() as con:
        con.execute(sa.text("DELETE FROM study_user_attributes WHERE key = 'automl:data_fingerprint'"))
    engine.dispose()
    # ... and is then guarded too: its own data reloaded gave it a fingerprint
    mixed = run_cli("search", "--study", "fp", "--data", "scaled.npz", "--trials", "4", "-q")
    assert_one_error(mixed, "was run on other data than scaled")
    old = run_cli("search", "--study", "fp", "--trials", "4", "-q")
    assert old.returncode == 0, old.stderr
    assert len(optuna.load_study(study_name="fp", storage=url).trials) == 4
    assert "automl:data_fingerprint" in optuna.load_study(study_name="fp", storage=url).user_attrs


def test_reading_the_store_imports_no_deep_learning_framework(tmp_path: Path) -> None:
    # Nothing of Keras or TensorFlow is needed to read the store: their import took seconds.
    from automl.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'automl.db'}")
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    study.set_user_attr(f"{ATTR}objective", "val_accuracy")
    for v in (0.5, 0.7):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, v)
    storage.engine.dispose()
    code = ("import runpy, sys\n"
            "for argv in (['studies'], ['trials', 's'], ['trials', 's', '--format', 'csv'], ['best', 's']):\n"
            "    sys.argv = ['automl', *argv]\n"
            "    try:\n"
            "        runpy.run_module('automl', run_name='__main__')\n"
            "    except SystemExit as e:\n"
            "        assert not e.code, (argv, e.code)\n"
            "heavy = ('tensorflow', 'keras', 'jax', 'torch', 'keras_tuner')\n"
            "print('HEAVY', sorted(m for m in heavy if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env=cli_env(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr
    assert "0.7" in out.stdout and out.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_kerastuner_hyperband_from_the_cli_and_delete(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tiny.yaml").write_text(TINY_YAML.replace("epochs: 2", "epochs: 3"))
    env = {"AUTOML_CACHE": str(tmp_path / "cache")}
    r = run_cli("search", "tiny.yaml", "--engine", "kerastuner", "--algorithm", "hyperband", "--trials", "5",
                "--study", "kt", "--seed", "1", env=env)
    assert r.returncode == 0, r.stderr
    assert "study kt (sqlite:///automl.db): 5 trials, 5 complete" in r.stdout
    study = optuna.load_study(study_name="kt", storage=f"sqlite:///{tmp_path / 'automl.db'}")
    assert study.user_attrs["automl:engine"] == "kerastuner" and study.user_attrs["automl:algorithm"] == "hyperband"
    listed = run_cli("studies")
    assert "kerastuner" in listed.stdout and "hyperband" in listed.stdout
    assert list((tmp_path / "cache" / "checkpoints").glob("kt-*/trial_0.weights.h5"))
    # An Optuna run cannot continue a KerasTuner study.
    r2 = run_cli("search", "tiny.yaml", "--trials", "6", "--study", "kt")
    assert r2.returncode == 2 and "engine 'kerastuner'" in r2.stderr
    d = run_cli("delete", "kt", "--yes", env=env)
    assert d.returncode == 0, d.stderr
    assert not list((tmp_path / "cache" / "checkpoints").glob("kt-*"))
    assert "kt" not in run_cli("studies").stdout.split()
    # A new study of the same name has its own budget, not the deleted one's.
    again = run_cli("search", "tiny.yaml", "--trials", "2", "--study", "kt", env=env)
    assert again.returncode == 0, again.stderr
    assert "study kt (sqlite:///automl.db): 2 trials, 2 complete" in again.stdout
    assert not (tmp_path / "mnist1d_data.pkl").exists() and not list(tmp_path.glob("*untitled_project*"))


def test_export_evaluate_and_report(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    env = {"AUTOML_CACHE": str(tmp_path / "cache")}
    r = run_cli("search", "tiny.yaml", "--trials", "3", "--seed", "0", "--test-split", "0.2", "-q", env=env)
    assert r.returncode == 0, r.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'automl.db'}")
    e = run_cli("export", "tiny", "--out", "best.keras", env=env)
    assert e.returncode == 0, e.stderr
    code = ("import json, keras\nfrom automl.data import load_data\n"
            "m = keras.saving.load_model('best.keras')\n"
            "d = load_data('digits', val_split=0.2, test_split=0.2, seed=0)\n"
            "print(json.dumps(m.evaluate(d.x_val * 16, d.y_val, verbose=0, return_dict=True)))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    scores = json.loads(out.stdout.strip().splitlines()[-1])
    # The exported model takes raw digits (0..16: it divides by 16 itself) and scores on the
    # validation split exactly as its trial did.
    assert scores["accuracy"] == pytest.approx(study.best_value, abs=1e-6)
    ev = run_cli("evaluate", "tiny", env=env)
    assert ev.returncode == 0, ev.stderr
    result = json.loads(ev.stdout)
    assert result["trial"] == study.best_trial.number and result["test_samples"] == 359
    assert 0.0 <= result["accuracy"] <= 1.0
    import shutil

    shutil.rmtree(tmp_path / "automl-artifacts")  # the weights neither in this cache nor in the artifact store
    missing = run_cli("export", "tiny", "--out", "x.keras", env={"AUTOML_CACHE": str(tmp_path / "empty")})
    assert missing.returncode == 2 and "--retrain" in missing.stderr
    again = run_cli("export", "tiny", "--out", "re.keras", "--retrain", env={"AUTOML_CACHE": str(tmp_path / "empty")})
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "re.keras").exists()
    # it says how the retraining went: every epoch of the trial, and the last loss
    epochs = len(history_of(study.best_trial)["loss"])
    found = re.search(r"retrained on train \+ validation: (\d+) epochs, final loss ([\d.]+)", again.stderr)
    assert found and int(found[1]) == epochs and float(found[2]) > 0, again.stderr
    rep = run_cli("report", "tiny", "--out", "report.html")
    assert rep.returncode == 0, rep.stderr
    page = (tmp_path / "report.html").read_text()
    for title in ("Optimization history", "Parameter importances", "Parallel coordinates", "Learning curves"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<script") >= 4 and "cdn.plot.ly" not in page.split("<body>")[1][:2000]
    assert np.isfinite(study.best_value)


def test_dashboard_on_a_busy_port_says_so_in_one_line(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """It printed "optuna-dashboard on http://…" and then a 50-line traceback."""
    import socket

    import optuna

    optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'automl.db'}")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_cli("dashboard", "--port", str(port))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "another program uses it" in r.stderr, r.stderr
    assert "optuna-dashboard on" not in r.stderr and "Traceback" not in r.stderr
