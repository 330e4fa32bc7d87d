"""The dashboard as a person sees it: optuna-dashboard on the store, in headless Chromium.

Needs Debian's chromium (scripts/services.sh installs it; CI fails rather than skips
without it). Screenshots are saved beside the test's store.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import automl
from tests.conftest import cli_env

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000", "--virtual-time-budget=15000"]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("AUTOML_REQUIRE_SERVERS"):
            pytest.fail("chromium is not installed (scripts/services.sh installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


def _browse(exe: str, url: str, tmp: Path, screenshot: Path | None = None) -> str:
    """The page's text after its scripts ran (and a screenshot when asked)."""
    profile = tmp / f"chrome-{time.monotonic_ns()}"
    args = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    if screenshot is not None:
        subprocess.run(args + [f"--screenshot={screenshot}", url], capture_output=True, timeout=120)
    dom = subprocess.run(args + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    dom = re.sub(r"<(style|script)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom)))


@pytest.fixture
def dashboard(tmp_path: Path, tiny_space: dict[str, Any]) -> Iterator[tuple[str, Path]]:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    automl.search(tiny_space, "digits", n_trials=2, storage=store, study_name="with-optuna", seed=0)
    automl.search(tiny_space, "digits", n_trials=2, storage=store, study_name="with-kerastuner",
                  engine="kerastuner", algorithm="random", seed=0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([sys.executable, "-m", "automl", "dashboard", "--storage", store, "--port", str(port)],
                         cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(60):
            try:
                urllib.request.urlopen(f"{base}/api/studies", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"the dashboard did not answer: {p.stderr.read1().decode() if p.stderr else ''}")
        yield base, tmp_path
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_dashboard_shows_both_engines_studies(dashboard: tuple[str, Path]) -> None:
    import optuna

    base, tmp = dashboard
    exe = _chromium()
    home = _browse(exe, f"{base}/dashboard", tmp, tmp / "dashboard-home.png")
    assert "with-optuna" in home and "with-kerastuner" in home
    store = f"sqlite:///{tmp / 'store.db'}"
    for name in ("with-optuna", "with-kerastuner"):
        study = optuna.load_study(study_name=name, storage=store)
        sid = study._study_id  # noqa: SLF001 - the dashboard's URLs use the storage id
        trial = study.trials[0]
        page = _browse(exe, f"{base}/dashboard/studies/{sid}/trials", tmp, tmp / f"{name}-trials.png")
        assert f"{name} (id={sid})" in page
        assert "2 Trials" in page and "Trial 0" in page and "Trial 1" in page
        # The selected trial's parameters and its learning curve (one value per epoch).
        for key, value in trial.params.items():
            assert f"{key} {value}" in page, (key, value)
        assert "Intermediate Values" in page
        for step, v in trial.intermediate_values.items():
            assert f"{step} {v}" in page
        assert f"automl:engine {name.removeprefix('with-')}" in page
        history = _browse(exe, f"{base}/dashboard/studies/{sid}", tmp, tmp / f"{name}-history.png")
        assert "History" in history and "Best Trial" in history
        assert (tmp / f"{name}-trials.png").stat().st_size > 10_000
