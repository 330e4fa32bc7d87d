"""Several coordinator processes on one store: SQLite, and real PostgreSQL and MariaDB
servers (the ``shared_store`` fixture, tests/storage/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from automl.engines._record import history_of
from tests.conftest import TINY_YAML, cli_env

pytestmark = pytest.mark.slow


def test_coordinators_share_one_global_budget(shared_store: str, tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY_YAML.replace("epochs: 2", "epochs: 1"))
    env = cli_env(tmp_path)
    first = subprocess.run([sys.executable, "-m", "automl", "search", "tiny.yaml", "--storage", shared_store,
                            "--study", "shared", "--trials", "1", "-q"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    total = 9
    base = [sys.executable, "-m", "automl", "worker", "--storage", shared_store, "--study", "shared",
            "--trials", str(total), "--gpus", "none", "-q"]
    procs = [subprocess.Popen(base + ["--workers", w], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for w in ("1", "1", "2")]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert "worker done" in err
    trials = optuna.load_study(study_name="shared", storage=shared_store).trials
    assert len(trials) == total, [t.number for t in trials]
    assert sorted(t.number for t in trials) == list(range(total))
    for t in trials:
        assert t.state == optuna.trial.TrialState.COMPLETE, t.user_attrs.get("automl:error")
        assert t.value is not None and len(history_of(t)["val_accuracy"]) == 1
        assert t.intermediate_values
    devices = {t.user_attrs["automl:device"] for t in trials}
    assert devices == {"cpu"}


def test_a_trial_left_without_a_heartbeat_is_found_stale(shared_store: str) -> None:
    import time
    import warnings

    from automl.storage import open_storage
    from automl.storage._stale import adopt_orphans, first_heartbeat

    storage = open_storage(shared_store, heartbeat_s=1)  # stale after 3 s without a beat
    study = optuna.create_study(storage=storage, study_name="orphans")
    S = optuna.trial.TrialState
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna warns that optimize() is not the one beating
        orphan = study.ask()  # its process died before its first heartbeat
        time.sleep(4.5)
        optuna.storages.fail_stale_trials(study)
        assert study.trials[orphan.number].state == S.RUNNING  # Optuna alone never finds it stale
        live = study.ask()
        first_heartbeat(study._storage, live._trial_id)
        # the orphan gets a heartbeat (once); the trial that has its own does not
        assert adopt_orphans(study._storage, study._study_id) == [orphan._trial_id]
        assert adopt_orphans(study._storage, study._study_id) == []
        time.sleep(4.5)
        storage.record_heartbeat(live._trial_id)  # its owner is alive
        optuna.storages.fail_stale_trials(study)
    states = {t.number: t.state for t in study.trials}
    assert states == {orphan.number: S.FAIL, live.number: S.RUNNING}


def test_running_trials_that_beat_are_told_from_dead_ones(shared_store: str) -> None:
    import time
    import warnings

    from automl.storage import open_storage
    from automl.storage._stale import first_heartbeat, grace_seconds, live_running

    storage = open_storage(shared_store, heartbeat_s=1)
    study = optuna.create_study(storage=storage, study_name="liveness")
    assert grace_seconds(storage) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done = study.ask()
        study.tell(done, 1.0)
        beating = study.ask()
        first_heartbeat(study._storage, beating._trial_id)
        study.ask()  # no heartbeat at all: nothing tells that its process is alive
    live = live_running(study._storage, study._study_id)
    assert [n for n, _ in live] == [beating.number] and 0 <= live[0][1] <= 3
    time.sleep(4.5)  # past the grace period: its process is taken for dead
    assert live_running(study._storage, study._study_id) == []
