"""The device warm-up thread a GPU worker runs while Keras is imported (JAX on the CPU here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.model._warmup import start_warmup
from tests.conftest import run_on_jax


def test_no_warmup_off_jax() -> None:
    called: list[int] = []
    assert start_warmup("tensorflow", then=lambda: called.append(1)) is None
    assert start_warmup("torch") is None
    assert called == []  # `then` runs only in the thread


_SCRIPT = """
    import os, threading
    from automl.model import configure_backend, import_keras
    from automl.model._warmup import start_warmup

    configure_backend("jax")
    then = []  # what the thread had compiled when it called `then`, and the thread's name
    marks = []  # the steps it marked, with the thread that marked them
    thread = start_warmup("jax", then=lambda: then.append([list(compiled), threading.current_thread().name]),
                          mark=lambda name: marks.append([name, threading.current_thread().name]))
    keras = import_keras("jax")  # imported while the thread compiles
    thread.join(timeout=300)
    print("RESULT" + json.dumps({"alive": thread.is_alive(), "compiled": compiled, "then": then, "marks": marks,
                                 "flags": os.environ.get("XLA_FLAGS", "")}))
"""


@pytest.mark.slow
def test_warmup_thread_compiles_a_gradient_while_keras_imports_then_runs_then(tmp_path: Path) -> None:
    out = run_on_jax(_SCRIPT, tmp_path)
    assert not out["alive"]
    assert any("loss" in name for name in out["compiled"]), out["compiled"]
    # `then` ran once, in the warm-up thread, after the gradient was compiled
    assert len(out["then"]) == 1
    compiled_before, thread_name = out["then"][0]
    assert thread_name == "automl-warmup"
    assert any("loss" in name for name in compiled_before), compiled_before
    assert "--xla_gpu_enable_triton_gemm=false" in out["flags"]
    # the steps of the warm-up were marked as they ended, in order, from the thread
    assert out["marks"] == [[name, "automl-warmup"] for name in ("jax", "device", "warmed")]
