"""The device warm-up thread a GPU worker runs while Keras is imported (JAX on the CPU here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.model._warmup import start_warmup
from tests.conftest import run_on_jax


def test_no_warmup_off_jax() -> None:
    assert start_warmup("tensorflow") is None and start_warmup("torch") is None


_SCRIPT = """
    import os, threading
    from automl.model import configure_backend, import_keras
    from automl.model._warmup import start_warmup

    configure_backend("jax")
    thread = start_warmup("jax")
    keras = import_keras("jax")  # imported while the thread compiles
    thread.join(timeout=300)
    print("RESULT" + json.dumps({"alive": thread.is_alive(), "compiled": compiled,
                                 "flags": os.environ.get("XLA_FLAGS", "")}))
"""


@pytest.mark.slow
def test_warmup_thread_compiles_a_gradient_while_keras_imports(tmp_path: Path) -> None:
    out = run_on_jax(_SCRIPT, tmp_path)
    assert not out["alive"]
    assert any("loss" in name for name in out["compiled"]), out["compiled"]
    assert "--xla_gpu_enable_triton_gemm=false" in out["flags"]
