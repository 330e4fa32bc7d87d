"""The bundled spaces of issue 21 run a trial on tiny data, and their exported models reload
with plain Keras (in a process that never imported automl) and score as their trial."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import automl
from automl.data import load_data
from automl.space import catalog, load_space

# name -> (data, what the space's structure must show)
NEW = {"mnist1d-gru": ("synthetic:40:10:200", "Bidirectional"),
       "tabular-mlp": ("synthetic:12:3:200", "BatchNormalization"),
       "resnet-small": ("synthetic:32x32x3:10:120", "Add"),
       "mnist1d-transformer": ("synthetic:40:10:200", "MultiHeadAttention")}


def test_the_new_spaces_are_in_the_catalog_and_fit_their_data() -> None:
    assert set(NEW) <= set(catalog())
    load_space(catalog()["mnist1d-gru"]).check_data((40,), 10)
    load_space(catalog()["resnet-small"]).check_data((32, 32, 3), 10)
    load_space(catalog()["tabular-mlp"]).check_data((12,), 3)
    load_space(catalog()["mnist1d-transformer"]).check_data((40,), 10)


Exported = Callable[[str], tuple[Path, float, str]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """A new space searched for one trial of one epoch, its model exported (once a space,
    when a test first asks for it: ``-k`` runs only the spaces it selects)."""
    from automl._export import export_model
    from automl.storage import load_study, open_storage

    tmp = tmp_path_factory.mktemp("catalog")
    url = f"sqlite:///{tmp / 'store.db'}"
    done: dict[str, tuple[Path, float, str]] = {}

    def export(name: str) -> tuple[Path, float, str]:
        if name not in done:
            data = NEW[name][0]
            result = automl.search(name, data, n_trials=1, epochs=1, batch_size=32, storage=url, study_name=name,
                                   seed=0)
            assert result.best is not None, f"{name}: the trial did not complete"
            path = tmp / f"{name}.keras"
            export_model(load_study(open_storage(url), name), url, path)
            done[name] = (path, float(result.best.value), data)  # type: ignore[arg-type]
        return done[name]

    return export


@pytest.mark.parametrize("name", sorted(NEW))
def test_a_new_space_exports_a_model_that_scores_as_its_trial(name: str, exported: Exported) -> None:
    import keras

    path, value, data = exported(name)
    model = keras.saving.load_model(path)
    assert any(type(layer).__name__ == NEW[name][1] for layer in model.layers)
    ds = load_data(data)
    scores = model.evaluate(ds.x_val, ds.y_val, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(value, abs=1e-6)


def test_exported_models_reload_without_automl(exported: Exported) -> None:
    paths = [str(exported(name)[0]) for name in sorted(NEW)]
    code = ("import sys, keras\n"
            "for p in sys.argv[1:]:\n"
            "    m = keras.saving.load_model(p)\n"
            "    print(m.name, m.count_params())\n"
            "assert 'automl' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=300,
                       cwd="/")
    assert r.returncode == 0, r.stderr[-2_000:]
    assert len(r.stdout.splitlines()) == len(paths)
    assert np.all([int(line.split()[-1]) > 0 for line in r.stdout.splitlines()])
