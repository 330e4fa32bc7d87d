"""The dashboard and the report as a person sees them: optuna-dashboard on the store, and
``automl report``'s page, in headless Chromium.

Needs Debian's chromium (scripts/services.sh installs it; CI fails rather than skips
without it). Screenshots are saved beside the test's store.
"""

from __future__ import annotations

import html
import json
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
            said = p.stderr.read1().decode() if p.stderr else ""  # type: ignore[attr-defined]
            pytest.fail(f"the dashboard did not answer: {said}")
        yield base, tmp_path
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_dashboard_shows_both_engines_studies(dashboard: tuple[str, Path]) -> None:
    import optuna

    base, tmp = dashboard
    store = f"sqlite:///{tmp / 'store.db'}"
    for name in ("with-optuna", "with-kerastuner"):
        # Named metrics: the dashboard labels the values val_accuracy, not "Objective 0".
        study = optuna.load_study(study_name=name, storage=store)
        assert study.metric_names == ["val_accuracy"]
        url = f"{base}/api/studies/{study._study_id}?after=0"  # noqa: SLF001
        assert json.loads(urllib.request.urlopen(url, timeout=30).read())["objective_names"] == ["val_accuracy"]
    exe = _chromium()
    home = _browse(exe, f"{base}/dashboard", tmp, tmp / "dashboard-home.png")
    assert "with-optuna" in home and "with-kerastuner" in home
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
        # bulky machine state stays out of the user attributes the trial page lists (it once
        # stretched the page to 7,600 px), and a complete trial shows no "automl:error null"
        for hidden in ("automl:config ", "automl:kt_trial ", "automl:kt_state ", "automl:error "):
            assert hidden not in page, hidden
        history = _browse(exe, f"{base}/dashboard/studies/{sid}", tmp, tmp / f"{name}-history.png")
        assert "History" in history and "Best Trial" in history
        assert (tmp / f"{name}-trials.png").stat().st_size > 10_000


def test_report_renders_every_figure_without_script_errors(tmp_path: Path, tiny_space: dict[str, Any]) -> None:
    import optuna

    from automl._report import write_report

    store = f"sqlite:///{tmp_path / 'store.db'}"
    automl.search(tiny_space, "digits", n_trials=3, storage=store, study_name="r", seed=0)
    study = optuna.load_study(study_name="r", storage=store)
    exe = _chromium()
    for mode in ("inline", "external"):
        out = tmp_path / mode / "report.html"
        out.parent.mkdir()
        drawn = write_report(study, out, plotly=mode)
        profile = tmp_path / f"chrome-{mode}"
        r = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                            "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
        console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
        assert not [line for line in console if "Uncaught" in line or "Error" in line], console
        # plotly drew every figure (a plot container each): none failed for want of plotly.js
        assert r.stdout.count('class="plot-container plotly"') == len(drawn) >= 5, (mode, drawn)
