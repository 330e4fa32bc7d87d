"""The parallel runner on CPU workers: faults lose nothing."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

import automl
from automl.engines import ATTR
from automl.engines._record import history_of, state_of
from tests.conftest import TINY_YAML, cli_env

pytestmark = pytest.mark.slow


def test_parallel_search_and_pruning(tiny_space: dict[str, Any], store: str, caplog: Any) -> None:
    space = dict(tiny_space, training={"batch_size": 64, "epochs": 4, "metrics": ["accuracy"]})
    space["optimizer"] = {"name": "sgd", "learning_rate": {"choice": [1e-6, 0.05]}}
    caplog.set_level(logging.INFO, logger="automl")
    r = automl.search(space, "digits", n_trials=10, storage=store, study_name="p", workers=2, gpus="none",
                      pruner="median", sampler="random", seed=3)
    # the coordinator says where its time went: 10 trials handed out, time in the engine
    summary = [m for m in caplog.messages if m.startswith("coordinator: ")]
    assert len(summary) == 1, caplog.messages
    found = re.search(r"(\d+) trials handed out; ([\d.]+) s in the engine.*waited ([\d.]+) s", summary[0])
    assert found and int(found[1]) == 10 and float(found[2]) > 0 and float(found[3]) >= 0, summary[0]
    # ... when its workers were ready, and how long stopping them took
    found = re.search(r"writing the data took ([\d.]+) s; workers ready after ([\d.]+)-([\d.]+) s "
                      r"\(the last worker to end each step of its start, seconds: entered ([\d.]+), modules "
                      r"([\d.]+), keras ([\d.]+), data ([\d.]+), placed ([\d.]+)\); stopping them took ([\d.]+) s",
                      summary[0])
    assert found and 0 < float(found[2]) <= float(found[3]) and float(found[9]) >= 0, summary[0]
    steps = [float(found[i]) for i in range(4, 9)]
    assert 0 < steps[0] <= steps[1] <= steps[2] <= steps[4] <= float(found[3]), summary[0]
    trials = optuna.load_study(study_name="p", storage=store).trials
    assert len(trials) == 10 and r.ran == 10
    assert {t.user_attrs[f"{ATTR}device"] for t in trials} == {"cpu"}
    assert any(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    for t in trials:
        # each epoch trained is timed in the worker and carried to the store
        assert len(state_of(t, "epoch_seconds")) == len(history_of(t)["loss"])
        if t.state == optuna.trial.TrialState.PRUNED:
            assert len(history_of(t)["loss"]) < 4
        else:
            assert t.state == optuna.trial.TrialState.COMPLETE


def test_workers_get_their_data_after_starting_and_exit_cleanly(tiny_space: dict[str, Any], tmp_path: Path) -> None:
    from automl._search import prepare
    from automl.runner._pool import PoolSettings, _Pool
    from automl.runner._slots import plan_slots
    from automl.runner._worker import save_arrays

    prep = prepare(tiny_space, "digits")
    slots = plan_slots("none", 1, 3)
    # stopped before it was told where the data is (writing it failed): it exits, quietly
    pool = _Pool(slots[:1], prep.space, PoolSettings())
    first = next(iter(pool.workers.values()))
    pool._ask_to_stop(first)
    first.process.join(timeout=120)
    assert first.process.exitcode == 0
    with pytest.raises(EOFError):  # it sent nothing (no "fatal" message) before it exited
        first.conn.recv()
    pool.close()
    # the data is written after the workers started: each one gets ready with it
    pool = _Pool(slots, prep.space, PoolSettings())
    pool.share_data(save_arrays(prep.data, tmp_path / "data"))
    workers = list(pool.workers.values())
    for w in workers:
        assert w.conn.poll(120)
        kind, _rss, marks = w.conn.recv()
        assert kind == "ready"
        # each step of its start, in the order they ran (a CPU worker starts no device and
        # reads its data after Keras is imported)
        assert list(marks) == ["entered", "modules", "keras", "data", "placed"], marks
        assert marks["entered"] <= marks["modules"] <= marks["keras"] <= time.time()
        assert marks["modules"] <= marks["data"] <= marks["placed"]
        w.ready = True
    # a retired worker exits on its own while the others go on
    pool.retire(workers[0])
    workers[0].process.join(timeout=120)
    assert workers[0].process.exitcode == 0 and all(w.process.is_alive() for w in workers[1:])
    assert list(pool.workers.values()) == workers[1:]
    # closing stops the rest, all at once, none killed
    pool.close()
    assert [w.process.exitcode for w in workers] == [0, 0, 0]
    assert not pool.workers and not pool.retired


@pytest.mark.parametrize("engine", ["optuna", "kerastuner"])
def test_killed_worker_fails_the_trial_retries_it_and_finishes(store: str, tmp_path: Path, engine: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures.user_spaces import build_killed_once

    monkeypatch.setenv("AUTOML_TEST_MARKER", str(tmp_path / "killed"))
    r = automl.search(build_killed_once, "digits", n_trials=4, storage=store, study_name="k", workers=2,
                      gpus="none", epochs=1, seed=0, engine=engine)
    _check_one_retry(optuna.load_study(study_name="k", storage=store).trials, 4)
    assert r.count("COMPLETE") == 4
    if engine == "kerastuner":
        study = optuna.load_study(study_name="k", storage=store)
        kt_ids = [t.user_attrs[f"{ATTR}kt_trial_id"] for t in study.trials]
        assert len(set(kt_ids)) == 4  # KerasTuner saw 4 trials; one of them ran twice


def test_a_worker_killed_in_the_last_trial_is_still_retried(store: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget is all handed out when the last trial's worker dies: its retry still runs."""
    from tests.fixtures.user_spaces import build_killed_once

    monkeypatch.setenv("AUTOML_TEST_MARKER", str(tmp_path / "killed"))
    monkeypatch.setenv("AUTOML_TEST_KILL_AT", "3")
    monkeypatch.setenv("AUTOML_TEST_KILL_DELAY", "4")  # the other worker finishes and finds no budget left
    automl.search(build_killed_once, "digits", n_trials=3, storage=store, study_name="k", workers=2,
                  gpus="none", epochs=1, seed=0)
    _check_one_retry(optuna.load_study(study_name="k", storage=store).trials, 3)


def _check_one_retry(trials: list[Any], n: int) -> None:
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 1 and "killed by SIGKILL" in failed[0].user_attrs[f"{ATTR}error"]
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retry) == 1 and retry[0].state == optuna.trial.TrialState.COMPLETE
    assert retry[0].params == failed[0].params
    assert f"{ATTR}error" not in retry[0].user_attrs  # none of its original's results
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == n and len(trials) == n + 1
    # No pruner: workers do not wait for an answer after each epoch, and every epoch is recorded.
    assert all(t.intermediate_values == {1: t.value} for t in complete)


def test_trial_timeout_stops_the_trial_and_the_slot_recovers(store: str) -> None:
    from tests.fixtures.user_spaces import build_sometimes_slow

    t0 = time.monotonic()
    automl.search(build_sometimes_slow, "digits", n_trials=4, storage=store, study_name="t", workers=2, gpus="none",
                  epochs=1, trial_timeout=8, sampler="random", seed=1)
    assert time.monotonic() - t0 < 60 * 2
    trials = optuna.load_study(study_name="t", storage=store).trials
    assert len(trials) == 4
    for t in trials:
        if t.params["slow"] == "yes":
            assert t.state == optuna.trial.TrialState.FAIL
            assert t.user_attrs[f"{ATTR}error"] == "timed out after 8 s"
        else:
            assert t.state == optuna.trial.TrialState.COMPLETE
    assert {t.params["slow"] for t in trials} == {"yes", "no"}


@pytest.mark.parametrize("engine", ["optuna", "kerastuner"])
def test_killed_coordinator_resumes_without_loss(tmp_path: Path, engine: str) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY_YAML.replace("epochs: 2", "epochs: 6"))
    db = tmp_path / "automl.db"
    cmd = [sys.executable, "-m", "automl", "search", "tiny.yaml", "--trials", "6", "--workers", "2", "--gpus", "none",
           "--heartbeat", "1", "-q", "--seed", "0", "--engine", engine]
    env = dict(cli_env(tmp_path), TMPDIR=str(tmp_path / "tmp"))  # where the data files go
    (tmp_path / "tmp").mkdir()
    log = tmp_path / "killed-run.log"
    with log.open("w") as out:
        p = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
    deadline = time.monotonic() + 240
    url = f"sqlite:///{db}"
    while time.monotonic() < deadline:
        time.sleep(1)
        try:
            trials = optuna.load_study(study_name="tiny", storage=url).trials
        except Exception:  # noqa: BLE001 - not created yet
            continue
        states = [t.state for t in trials]
        if optuna.trial.TrialState.COMPLETE in states and optuna.trial.TrialState.RUNNING in states:
            break
    else:
        p.kill()
        pytest.fail(f"the search never had a complete and a running trial at once (exit code {p.poll()}); "
                    f"its output:\n{log.read_text()[-3000:]}")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    before = optuna.load_study(study_name="tiny", storage=url).trials
    complete_before = {t.number: t.value for t in before if t.state == optuna.trial.TrialState.COMPLETE}
    running_before = [t.number for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert running_before
    # the killed coordinator left its data files behind ...
    assert [f.name.split("-")[2] for f in (tmp_path / "tmp").glob("automl-data-*")] == [str(p.pid)]
    time.sleep(4)  # past the grace period of 3 heartbeats
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert not list((tmp_path / "tmp").glob("automl-data-*"))  # ... which the next search removed
    after = optuna.load_study(study_name="tiny", storage=url).trials
    assert not [t for t in after if t.state == optuna.trial.TrialState.RUNNING]
    for n, v in complete_before.items():
        assert after[n].state == optuna.trial.TrialState.COMPLETE and after[n].value == v
    retried = {t.system_attrs["failed_trial"] for t in after if "failed_trial" in t.system_attrs}
    for n in running_before:
        assert after[n].state == optuna.trial.TrialState.FAIL and n in retried
    counted = [t for t in after if t.state == optuna.trial.TrialState.COMPLETE
               or (t.state == optuna.trial.TrialState.FAIL and t.number not in retried)]
    assert len(counted) == 6
    assert len({t.number for t in after}) == len(after)


def test_function_space_from_a_file_runs_in_workers(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "my_space.py").write_text((root / "examples" / "function_space.py").read_text())
    r = subprocess.run([sys.executable, "-m", "automl", "search", "my_space.py:build_model", "--workers", "2",
                        "--gpus", "none", "--trials", "2", "--epochs", "1", "-q"], cwd=tmp_path, env=cli_env(tmp_path),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    trials = optuna.load_study(study_name="build_model", storage=f"sqlite:///{tmp_path / 'automl.db'}").trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]


def test_script_without_main_guard_is_told_how_to_fix_it(tmp_path: Path) -> None:
    script = tmp_path / "search.py"
    script.write_text("import automl\n"
                      f"automl.search('demo', 'digits', n_trials=2, storage='sqlite:///{tmp_path / 'a.db'}', "
                      "gpus='none', workers=2, epochs=1)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                       env={**cli_env(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}, cwd=tmp_path)
    assert r.returncode != 0
    assert 'if __name__ == "__main__":' in r.stderr.splitlines()[-1]


def _wait_until_running(proc: Any, url: str, count: int, within: float = 240) -> bool:
    """Whether study "tiny" had ``count`` trials RUNNING at once (0: once it exists) while ``proc`` ran."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        try:
            states = [t.state for t in optuna.load_study(study_name="tiny", storage=url).trials]
        except Exception:  # noqa: BLE001 - not created yet
            continue
        if states.count(optuna.trial.TrialState.RUNNING) >= count:
            return True
    return False


def test_a_second_process_on_a_running_kerastuner_study_is_refused(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY_YAML.replace("epochs: 2", "epochs: 6"))
    cmd = [sys.executable, "-m", "automl", "search", "tiny.yaml", "--engine", "kerastuner", "--trials", "6",
           "--heartbeat", "1", "-q", "--seed", "0"]
    first = subprocess.Popen(cmd, cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    if not _wait_until_running(first, url, 1):
        first.kill()
        pytest.fail("the first search never had a running trial")
    second = subprocess.run(cmd, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert second.returncode == 2, second.stderr
    assert "is being run by another process" in second.stderr and "--engine optuna" in second.stderr
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    # the first search lost nothing to the second: every trial complete, none failed
    trials = optuna.load_study(study_name="tiny", storage=url).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 6


def test_a_worker_found_dead_when_sent_its_trial_is_replaced_and_the_trial_runs(
        store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed while idle, between trials, made the coordinator's send raise
    BrokenPipeError: the search ended with exit 1 (runs died at 51, 52 and 64 of 100)."""
    from tests.fixtures.user_spaces import build_kills_idle_workers

    monkeypatch.setenv("AUTOML_TEST_MARKER", str(tmp_path / "killed"))
    r = automl.search(build_kills_idle_workers, "digits", n_trials=3, storage=store, study_name="w", workers=2,
                      gpus="none", epochs=1, seed=0)
    assert (tmp_path / "killed").exists()
    trials = optuna.load_study(study_name="w", storage=store).trials
    # the trial waited for the next worker: nothing failed, nothing ran twice
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3 and r.ran == 3


def test_drawing_values_in_the_coordinator_is_timed_out(store: str) -> None:
    """A build_model that hangs while the coordinator draws its values was never timed out:
    3 of 5 such trials COMPLETED under --trial-timeout 20."""
    from tests.fixtures.user_spaces import build_slow_to_draw

    automl.search(build_slow_to_draw, "digits", n_trials=3, storage=store, study_name="d", workers=2, gpus="none",
                  epochs=1, trial_timeout=15, sampler="random", seed=1)
    trials = optuna.load_study(study_name="d", storage=store).trials
    assert {t.params["slow"] for t in trials} == {"yes", "no"}
    for t in trials:
        if t.params["slow"] == "yes":
            assert t.state == optuna.trial.TrialState.FAIL
            assert t.user_attrs[f"{ATTR}error"].startswith("timed out after 15 s while drawing the hyperparameters")
        else:
            assert t.state == optuna.trial.TrialState.COMPLETE


def test_a_slow_draw_does_not_hold_the_other_workers(store: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawing values ran inside the coordinator's loop: while a user's build_model took its
    time there, no worker's epoch report, pruning decision or result was served, so every
    other trial waited for it (issue 19: "draw values without blocking the loop")."""
    from tests.fixtures.user_spaces import build_slow_third_draw

    marker = tmp_path / "draw"
    monkeypatch.setenv("AUTOML_TEST_MARKER", str(marker))
    r = automl.search(build_slow_third_draw, "digits", n_trials=4, storage=store, study_name="s", workers=2,
                      gpus="none", epochs=2, pruner="median", seed=0)
    assert r.ran == 4
    began, ended = (float(v) for v in marker.read_text().split())
    trials = optuna.load_study(study_name="s", storage=store).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    done = [t.datetime_complete.timestamp() for t in trials]  # type: ignore[union-attr]
    # the trial that was training when the slow draw began was told while that draw went on
    assert any(began < d < ended for d in done), (began, ended, done)


_DIES_WHILE_STARTING = '''
import multiprocessing, os, signal
import keras

def _count(marker):
    n = 1
    while True:
        try:
            os.close(os.open(f"{marker}.{n}", os.O_CREAT | os.O_EXCL))
            return n
        except FileExistsError:
            n += 1

if multiprocessing.current_process().name.startswith("automl-worker"):
    # starts 1, 2, 4 and 5 die (the worker is unpickling its space: before it is ready)
    if _count(os.environ["AUTOML_TEST_MARKER"] + ".start") in (1, 2, 4, 5):
        os._exit(3)

def build_model(hp):
    units = hp.int("units", 8, 16, step=8)
    if multiprocessing.current_process().name.startswith("automl-worker"):
        if _count(os.environ["AUTOML_TEST_MARKER"] + ".build") == 2:  # the second trial kills its worker
            os.kill(os.getpid(), signal.SIGKILL)
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(units, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])
'''


def test_workers_failing_to_start_are_counted_one_run_at_a_time(store: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Four start failures over a whole search once stopped it, blaming a missing
    ``__main__`` guard; only failures in a row (here never more than two) should."""
    (tmp_path / "flaky.py").write_text(_DIES_WHILE_STARTING)
    monkeypatch.setenv("AUTOML_TEST_MARKER", str(tmp_path / "m"))
    automl.search(f"{tmp_path / 'flaky.py'}:build_model", "digits", n_trials=3, storage=store, study_name="f",
                  workers=1, gpus="none", epochs=1, trial_timeout=600, seed=0)
    trials = optuna.load_study(study_name="f", storage=store).trials
    assert len(list(tmp_path.glob("m.start.*"))) >= 6  # two died, one ran, two died, one ran
    assert [t.state.name for t in trials].count("COMPLETE") == 3
    [error] = [t.user_attrs[f"{ATTR}error"] for t in trials if t.state.name == "FAIL"]
    assert error.startswith("worker died: killed by SIGKILL")


_TF_NOISE = re.compile(r"absl::InitializeLog|cuda drivers|oneDNN|cpu_feature_guard|rebuild TensorFlow|AVX")

_SLOW_TO_IMPORT = """
import multiprocessing, time
import keras
if multiprocessing.current_process().name.startswith("automl-worker"):
    time.sleep(30)  # a worker unpickling this space imports this module: Ctrl-C lands here

def build_model(hp):
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.int("units", 8, 16)),
                             keras.layers.Dense(10, activation="softmax")])
"""


@pytest.mark.parametrize("moment,how", [("training", "ctrl-c"), ("starting", "ctrl-c"), ("training", "sigterm")])
def test_ctrl_c_with_workers_prints_one_line_and_leaves_nothing_running(tmp_path: Path, moment: str,
                                                                        how: str) -> None:
    """Ctrl-C reaches every process of the terminal's group: each worker once printed its own
    KeyboardInterrupt traceback (about 280 lines) before the coordinator's message, also
    while it was still starting (importing the user's module and Keras). SIGTERM to the
    coordinator alone (``timeout``, a batch scheduler) killed it at once and left its
    trials RUNNING until they went stale (seen on one H200 under ``timeout 100``)."""
    (tmp_path / "tiny.yaml").write_text(TINY_YAML.replace("epochs: 2", "epochs: 30"))
    (tmp_path / "slow.py").write_text(_SLOW_TO_IMPORT)
    space = "tiny.yaml" if moment == "training" else "slow.py:build_model"
    cmd = [sys.executable, "-m", "automl", "search", space, "--study", "tiny", "--trials", "6", "--workers", "2",
           "--gpus", "none", "-q", "--seed", "0"]
    # Started as from a terminal: a background job of a shell without job control (`cmd &`,
    # as CI scripts start things) inherits SIGINT ignored, and Ctrl-C would reach nothing.
    p = subprocess.Popen(cmd, cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    url = f"sqlite:///{tmp_path / 'automl.db'}"
    if moment == "training":
        reached = _wait_until_running(p, url, 2)
    else:  # the study exists: the workers are starting, each asleep in the user's module
        reached = _wait_until_running(p, url, 0)
        time.sleep(3)
    if not reached:
        p.kill()
        pytest.fail(f"the search never got there: {p.communicate()[1][-2000:]}")
    if how == "ctrl-c":
        os.killpg(p.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    else:
        os.kill(p.pid, signal.SIGTERM)  # what `timeout` does
    _, err = p.communicate(timeout=120)
    assert p.returncode == (130 if how == "ctrl-c" else 143), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    # (TensorFlow's own start-up lines, printed as the user's module imports Keras, and the
    # search's first line, naming the label and the task, aside)
    lines = [line for line in err.strip().splitlines()
             if not _TF_NOISE.search(line) and not line.startswith("label: ")]
    assert len(lines) == 1 and lines[0].startswith("interrupted" if how == "ctrl-c" else "terminated (SIGTERM)"), err
    trials = optuna.load_study(study_name="tiny", storage=url).trials
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    assert {t.user_attrs[f"{ATTR}error"] for t in trials if t.state == optuna.trial.TrialState.FAIL} <= \
        {"interrupted: the search stopped"}
    if moment == "training":
        assert trials
