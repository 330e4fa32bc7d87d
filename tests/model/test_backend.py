"""Seeding trials off TensorFlow without importing it (JAX in a fresh process, on the CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_on_jax

_SCRIPT = """
    import sys
    import numpy as np
    from automl.model import build_model, import_keras, seed_everything
    keras = import_keras("jax")
    config = {"layers": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "dropout", "rate": 0.5}],
              "optimizer": {"name": "adam", "learning_rate": 1e-3}, "loss": "sparse_categorical_crossentropy",
              "metrics": ["accuracy"], "batch_size": 8, "epochs": 1}
    x, y = np.random.default_rng(0).normal(size=(32, 4)).astype("float32"), np.arange(32) % 3

    def draw(seed):
        keras.backend.clear_session()
        seed_everything(keras, seed)
        model = build_model(config, (4,), 3)
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # dropout draws from Keras's global seed
        return [np.asarray(keras.random.normal((3,))).tolist(), float(np.random.rand()),
                [np.asarray(w).tolist() for w in model.get_weights()]]

    a, b, c = draw(5), draw(5), draw(6)
    print("RESULT" + json.dumps({"same": a == b, "differs": a[0] != c[0] and a[1] != c[1] and a[2] != c[2],
                                 "tensorflow": "tensorflow" in sys.modules}))
"""


@pytest.mark.slow
def test_seeding_on_jax_repeats_trials_and_never_imports_tensorflow(tmp_path: Path) -> None:
    out = run_on_jax(_SCRIPT, tmp_path)
    assert out["same"], "the same seed must give the same draws and trained weights"
    assert out["differs"], "another seed must give other draws"
    assert not out["tensorflow"], "seeding a JAX trial imported TensorFlow"


def test_jax_defaults_turn_triton_gemm_off_unless_xla_flags_name_it(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    from automl.model._backend import TRITON_GEMM_FLAG, configure_backend

    for var in ("KERAS_BACKEND", "JAX_COMPILATION_CACHE_DIR", "XLA_FLAGS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AUTOML_CACHE", str(tmp_path))
    configure_backend("jax")
    import os

    assert os.environ["XLA_FLAGS"] == TRITON_GEMM_FLAG
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "xla")
    configure_backend("jax")  # a second call adds nothing
    assert os.environ["XLA_FLAGS"] == TRITON_GEMM_FLAG
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_enable_triton_gemm=true --xla_dump_to=/tmp/x")
    configure_backend("jax")
    assert os.environ["XLA_FLAGS"] == "--xla_gpu_enable_triton_gemm=true --xla_dump_to=/tmp/x"
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    configure_backend("jax")
    assert os.environ["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {TRITON_GEMM_FLAG}"
    monkeypatch.delenv("XLA_FLAGS")
    configure_backend("tensorflow")  # other backends: XLA's own defaults
    assert "XLA_FLAGS" not in os.environ and os.environ["KERAS_BACKEND"] == "tensorflow"


def test_unknown_backend_is_refused() -> None:
    from automl.model._backend import resolve_backend

    with pytest.raises(ValueError, match="choose one of tensorflow, jax, torch"):
        resolve_backend("mxnet")
    assert resolve_backend("torch") == "torch"


_IMPORT_SCRIPT = """
    import sys
    from automl.model import import_keras
    keras = import_keras("jax", skip_optional=SKIP)
    imported = [m for m in ("sklearn", "matplotlib", "IPython", "pandas") if m in sys.modules]
    import sklearn.base, matplotlib  # importable again afterwards
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    print("RESULT" + json.dumps({"imported": imported, "params": model.count_params(),
                                 "finders": [type(f).__name__ for f in sys.meta_path]}))
"""


@pytest.mark.slow
def test_workers_import_keras_without_its_optional_integrations(tmp_path: Path) -> None:
    lean = run_on_jax(_IMPORT_SCRIPT.replace("SKIP", "True"), tmp_path)
    assert lean["imported"] == [] and lean["params"] == 8
    assert "_SkipOptional" not in lean["finders"]
    full = run_on_jax(_IMPORT_SCRIPT.replace("SKIP", "False"), tmp_path)
    assert "sklearn" in full["imported"], "Keras no longer imports scikit-learn: OPTIONAL_INTEGRATIONS is stale"


def test_skipped_integrations_can_still_be_probed_with_find_spec(tmp_path: Path) -> None:
    """PyTorch's torch._dynamo calls importlib.util.find_spec("pandas") while the torch backend
    of Keras imports: the finder raised there, and no torch worker started on a GPU."""
    import os
    import subprocess
    import sys

    script = (
        "import importlib.util, sys\n"
        "from automl.model._backend import _without_optional_integrations\n"
        "with _without_optional_integrations():\n"
        "    spec = importlib.util.find_spec('sklearn')\n"  # probing: no exception, nothing to load from
        "    assert spec is not None and spec.origin is None, spec\n"
        "    try:\n"
        "        import sklearn\n"
        "    except ImportError as e:\n"  # importing: as if it were not installed
        "        assert 'not imported while an automl worker' in str(e)\n"
        "    else:\n"
        "        raise SystemExit('sklearn was imported')\n"
        "    assert 'sklearn' not in sys.modules\n"
        "import sklearn\n"  # afterwards, as usual
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


@pytest.mark.slow
def test_a_search_on_torch_cpu_workers_completes(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``--backend torch`` workers once failed to start (an ``import pandas`` while Keras
    started); the process pool's CPU slots must train real trials to the end."""
    pytest.importorskip("torch")
    import optuna

    from automl.engines._record import history_of
    from tests.conftest import TINY_YAML

    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    r = run_cli("search", "tiny.yaml", "--data", "digits", "--trials", "3", "--workers", "2", "--gpus", "none",
                "--backend", "torch", "-q", timeout=600)
    assert r.returncode == 0, r.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'automl.db'}")
    assert len(study.trials) == 3
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE, t.user_attrs.get("automl:error")
        assert t.value is not None and 0.0 <= t.value <= 1.0 and t.user_attrs["automl:device"] == "cpu"
        assert len(history_of(t)["val_accuracy"]) == 2 and t.intermediate_values[2] == pytest.approx(t.value)
