"""Shared fixtures: tiny spaces, temporary stores, and running the CLI as a user would."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Checkpoints and compiled programs of test runs stay out of the user's ~/.cache/automl.
os.environ.setdefault("AUTOML_CACHE", tempfile.mkdtemp(prefix="automl-test-cache-"))
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

TINY_SPACE = {
    "name": "tiny",
    "model": {"layers": [
        {"type": "dense", "units": {"low": 8, "high": 32, "step": 8}, "activation": {"choice": ["relu", "tanh"]}},
        {"type": "dropout", "rate": {"low": 0.0, "high": 0.3}},
    ]},
    "optimizer": {"name": {"choice": ["adam", "sgd"]}, "learning_rate": {"low": 1e-3, "high": 3e-2, "log": True},
                  "options": {"sgd": {"momentum": {"low": 0.0, "high": 0.9}}}},
    "training": {"batch_size": 64, "epochs": 2, "metrics": ["accuracy"]},
    "objective": {"metric": "val_accuracy", "direction": "maximize"},
}

TINY_YAML = """\
name: tiny
model:
  layers:
    - type: dense
      units: {low: 8, high: 32, step: 8}
      activation: {choice: [relu, tanh]}
    - type: dropout
      rate: {low: 0.0, high: 0.3}
optimizer:
  name: {choice: [adam, sgd]}
  learning_rate: {low: 1e-3, high: 3e-2, log: true}
  options:
    sgd:
      momentum: {low: 0.0, high: 0.9}
training:
  batch_size: 64
  epochs: 2
  metrics: [accuracy]
objective:
  metric: val_accuracy
  direction: maximize
"""


@pytest.fixture
def tiny_space() -> dict[str, Any]:
    import copy

    return copy.deepcopy(TINY_SPACE)


@pytest.fixture
def tiny_yaml(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY_YAML)
    return p


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def file_digest(path: Path) -> str | None:
    """A digest of a SQLite store's content (not its bytes: WAL checkpoints move those)."""
    if not path.exists():
        return None
    import sqlite3

    con = sqlite3.connect(path)
    try:
        return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
    finally:
        con.close()


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AUTOML_STORAGE"}
    env.update({"KERAS_HOME": str(tmp_path / ".keras"), "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200",
                "PYTHONWARNINGS": "ignore"})
    return env


@pytest.fixture
def run_cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run ``python -m automl ARGS`` in ``tmp_path``; returns the CompletedProcess."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        e = cli_env(tmp_path)
        e.update(env or {})
        return subprocess.run([sys.executable, "-m", "automl", *args], cwd=tmp_path, env=e, capture_output=True,
                              text=True, timeout=timeout)

    return run


_JAX_PREAMBLE = """
import json, logging
import jax
jax.config.update("jax_log_compiles", True)
compiled = []  # the name of every function XLA compiles, in order


class _Count(logging.Handler):
    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("Compiling jit("):
            compiled.append(msg[len("Compiling jit("):].split(")", 1)[0])


logging.getLogger("jax").addHandler(_Count())
logging.getLogger("jax").setLevel(logging.WARNING)
"""


def run_on_jax(body: str, tmp_path: Path) -> Any:
    """Run ``body`` in a fresh process on Keras's JAX backend (CPU here), with ``compiled``
    listing what XLA compiles; returns what it printed after ``RESULT`` as JSON."""
    import textwrap

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, KERAS_BACKEND="jax", AUTOML_CACHE=str(tmp_path / "cache"),
               JAX_ENABLE_COMPILATION_CACHE="false", PYTHONPATH=str(root))
    r = subprocess.run([sys.executable, "-c", _JAX_PREAMBLE + textwrap.dedent(body)], cwd=root, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    import json

    return json.loads(r.stdout.split("RESULT", 1)[1])
