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
    import os, threading, time
    from automl.model import configure_backend, import_keras
    from automl.model._warmup import start_warmup

    configure_backend("jax")
    then = []  # the steps marked when `then` ran, and the thread it ran in
    marks = []  # the steps it marked, with the thread that marked them

    def slow_then():
        time.sleep(2)  # the warm-up thread ends only after `then` has
        then.append([[m[0] for m in marks], threading.current_thread().name])

    thread = start_warmup("jax", then=slow_then,
                          mark=lambda name: marks.append([name, threading.current_thread().name]))
    keras = import_keras("jax")  # imported while the thread compiles
    thread.join(timeout=300)
    print("RESULT" + json.dumps({"alive": thread.is_alive(), "compiled": compiled, "then": then, "marks": marks,
                                 "flags": os.environ.get("XLA_FLAGS", "")}))
"""


@pytest.mark.slow
def test_warmup_thread_compiles_a_gradient_while_keras_imports_and_runs_then_once_the_device_is_up(
        tmp_path: Path) -> None:
    out = run_on_jax(_SCRIPT, tmp_path)
    assert not out["alive"]
    assert any("loss" in name for name in out["compiled"]), out["compiled"]
    assert "--xla_gpu_enable_triton_gemm=false" in out["flags"]
    # the steps of the warm-up were marked as they ended, in order, from the thread
    assert out["marks"] == [[name, "automl-warmup"] for name in ("jax", "device", "warmed")]
    # `then` ran once, in a thread of its own started once the device was up, while the
    # gradient compiled (it slept 2 s: the warm-up had ended by then); the warm-up thread
    # was joined only after `then` had ended
    assert len(out["then"]) == 1
    marked_before, thread_name = out["then"][0]
    assert thread_name == "automl-data"
    assert marked_before[:2] == ["jax", "device"], marked_before
