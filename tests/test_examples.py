"""The README's Python API and the examples run as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli_env

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["quickstart.py", "function_space.py"])
def test_example_runs(tmp_path: Path, name: str) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "examples" / name)], cwd=tmp_path, env=cli_env(tmp_path),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "best val_accuracy" in r.stdout
    assert (tmp_path / "example.db").exists()
