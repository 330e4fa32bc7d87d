"""The dashboard and the report as a person sees them: optuna-dashboard on the store, and
``automl report``'s page, in headless Chromium.

Needs Debian's chromium (scripts/services.sh installs it; CI fails rather than skips
without it). Screenshots are saved beside the test's store.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import select
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


# A browser that stays open: real time, not --dump-dom's virtual time budget.
_LIVE_FLAGS = [f for f in CHROMIUM_FLAGS if not f.startswith("--virtual-time-budget")]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("AUTOML_REQUIRE_SERVERS"):
            pytest.fail("chromium is not installed (scripts/services.sh installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


def _text(dom: str) -> str:
    """A page's text: its tags, scripts and styles dropped, whitespace collapsed."""
    dom = re.sub(r"<(style|script)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom)))


class _Chromium:
    """Headless Chromium driven over its DevTools pipe (``--remote-debugging-pipe``: commands
    on fd 3, replies on fd 4, JSON ended by a NUL byte): one browser for every page of a test,
    which can measure what ``--dump-dom`` cannot (how wide a page is laid out)."""

    def __init__(self, exe: str, profile: Path, width: int = 1400, height: int = 1000) -> None:
        cmd_r, self._cmd = os.pipe()
        self._out, out_w = os.pipe()
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{cmd_r} 4>&{out_w}', "bash", exe, *_LIVE_FLAGS,
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(cmd_r, out_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self._buf, self._id = b"", 0
        target = self._call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self._call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self._call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                   mobile=False, session=True)

    def _call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self._session
        os.write(self._cmd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            while b"\0" not in self._buf:
                if not select.select([self._out], [], [], max(0.0, deadline - time.monotonic()))[0]:
                    raise TimeoutError(f"chromium did not answer {method}")
                chunk = os.read(self._out, 1 << 16)
                if not chunk:
                    raise EOFError(f"chromium exited during {method}")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    def js(self, expression: str) -> Any:
        r = self._call("Runtime.evaluate", expression=expression, returnByValue=True, session=True)
        return r.get("result", {}).get("value")

    def open(self, url: str, *until: str, screenshot: Path | None = None, timeout: float = 60) -> str:
        """Go to ``url``, wait until its text holds every one of ``until``, return that text."""
        self._call("Page.navigate", url=url, session=True)
        deadline, text = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            text = _text(self.js("document.documentElement.outerHTML") or "")
            if all(u in text for u in until):
                break
            time.sleep(0.25)
        else:
            pytest.fail(f"{url} never showed {[u for u in until if u not in text]}; it shows: {text[:1500]}")
        if screenshot is not None:
            data = self._call("Page.captureScreenshot", format="png", session=True)["data"]
            screenshot.write_bytes(base64.b64decode(data))
        return text

    def close(self) -> None:
        os.close(self._cmd)  # chromium exits when its pipe closes
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._out)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[_Chromium]:
    b = _Chromium(_chromium(), tmp_path / "chrome-profile")
    try:
        yield b
    finally:
        b.close()


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


def test_dashboard_shows_both_engines_studies(dashboard: tuple[str, Path], browser: _Chromium) -> None:
    import optuna

    base, tmp = dashboard
    store = f"sqlite:///{tmp / 'store.db'}"
    for name in ("with-optuna", "with-kerastuner"):
        # Named metrics: the dashboard labels the values val_accuracy, not "Objective 0".
        study = optuna.load_study(study_name=name, storage=store)
        assert study.metric_names == ["val_accuracy"]
        url = f"{base}/api/studies/{study._study_id}?after=0"  # noqa: SLF001
        assert json.loads(urllib.request.urlopen(url, timeout=30).read())["objective_names"] == ["val_accuracy"]
    browser.open(f"{base}/dashboard", "with-optuna", "with-kerastuner", screenshot=tmp / "dashboard-home.png")
    for name in ("with-optuna", "with-kerastuner"):
        study = optuna.load_study(study_name=name, storage=store)
        sid = study._study_id  # noqa: SLF001 - the dashboard's URLs use the storage id
        trial = study.trials[0]
        engine = f"automl:engine {name.removeprefix('with-')}"
        steps = [f"{step} {v}" for step, v in trial.intermediate_values.items()]
        page = browser.open(f"{base}/dashboard/studies/{sid}/trials", engine, "Intermediate Values", *steps,
                            screenshot=tmp / f"{name}-trials.png")
        assert f"{name} (id={sid})" in page
        assert "2 Trials" in page and "Trial 0" in page and "Trial 1" in page
        # The selected trial's parameters and its learning curve (one value per epoch).
        for key, value in trial.params.items():
            assert f"{key} {value}" in page, (key, value)
        # The trial page stays about as wide as the window: automl's JSON attributes once
        # stretched it to 6,400-7,600 px (automl:history, automl:config, automl:kt_state).
        width = browser.js("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= 1.5 * width[1], (name, width)
        # Only the small, useful attributes are listed; no "automl:error null" on a complete trial.
        shown = set(re.findall(r"automl:[a-z_]+", page[page.index("User Attributes"):]))
        assert {"automl:engine", "automl:device", "automl:epochs", "automl:params_count"} <= shown, shown
        assert not {"automl:history", "automl:config", "automl:kt_trial", "automl:kt_state", "automl:error"} & shown
        history = browser.open(f"{base}/dashboard/studies/{sid}", "History", "Best Trial",
                               screenshot=tmp / f"{name}-history.png")
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
