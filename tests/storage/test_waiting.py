"""WAITING trials found by id (automl/storage/_waiting.py) and started as Optuna would."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import optuna

from automl.engines._optuna import retry_failed
from automl.engines._record import CLAIM, new_trial, pop_retry
from automl.storage import open_storage
from automl.storage._waiting import rdb_of, start_waiting, waiting_ids

S = optuna.trial.TrialState


def _study(url: str) -> Any:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(storage=open_storage(url), study_name="q", direction="maximize", load_if_exists=True)


def _with_queue_and_a_retry(url: str) -> Any:
    """A study holding a failed trial's retry, then three trials enqueued (x = 0, 1, 2)."""
    study = _study(url)
    failed = study.ask({"x": optuna.distributions.IntDistribution(0, 9)})
    study.tell(failed, state=S.FAIL)
    assert retry_failed(study, failed.number, 1)
    for x in range(3):
        study.enqueue_trial({"x": x})
    return study


def _optuna_order(study: Any, *, retries: bool) -> list[int]:
    return [t._trial_id for t in study.get_trials(deepcopy=False, states=(S.WAITING,))
            if ("failed_trial" in t.system_attrs) == retries]


def test_waiting_ids_are_optunas_waiting_trials_in_its_order(shared_store: str) -> None:
    study = _with_queue_and_a_retry(shared_store)
    queued, retries = _optuna_order(study, retries=False), _optuna_order(study, retries=True)
    assert len(queued) == 3 and len(retries) == 1
    sid = study._study_id
    assert waiting_ids(study._storage, sid, retries=False) == queued
    assert waiting_ids(study._storage, sid, retries=True) == retries
    assert waiting_ids(study._storage, sid, retries=False, limit=2) == queued[:2]
    other = optuna.create_study(storage=study._storage, study_name="other")
    assert waiting_ids(study._storage, other._study_id, retries=False) == []


def test_an_in_memory_storage_is_read_through_optuna() -> None:
    study = optuna.create_study()
    assert rdb_of(study._storage) is None
    study.enqueue_trial({"x": 4})
    trial = new_trial(study, "tok")
    assert trial.suggest_int("x", 0, 9) == 4
    assert study._storage.get_trial(trial._trial_id).system_attrs[CLAIM] == "tok"
    assert new_trial(study).number == trial.number + 1 and pop_retry(study) is None


def test_new_trial_starts_the_enqueued_trials_in_order_then_new_ones(shared_store: str) -> None:
    study = _with_queue_and_a_retry(shared_store)
    # Another process started the first enqueued trial (through Optuna): it is skipped.
    first = _optuna_order(study, retries=False)[0]
    assert open_storage(shared_store).set_trial_state_values(first, state=S.RUNNING)
    took = [new_trial(study, f"claim{i}") for i in range(3)]
    assert [t.suggest_int("x", 0, 9) for t in took[:2]] == [1, 2]
    assert "fixed_params" not in study._storage.get_trial(took[2]._trial_id).system_attrs  # a new trial
    for i, t in enumerate(took):
        frozen = study._storage.get_trial(t._trial_id)
        assert frozen.state == S.RUNNING and frozen.system_attrs[CLAIM] == f"claim{i}"
    assert not start_waiting(study._storage, took[0]._trial_id, claim="late")  # RUNNING: not started again
    assert study._storage.get_trial(took[0]._trial_id).system_attrs[CLAIM] == "claim0"
    retry = pop_retry(study)
    assert retry is not None and "failed_trial" in study._storage.get_trial(retry._trial_id).system_attrs
    assert pop_retry(study) is None


_TAKE_ALL = """
import json, sys
import optuna
from automl.engines._record import _pop_waiting
from automl.storage import open_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="q", storage=open_storage(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
took = []
while (tid := _pop_waiting(study, retries=False, token=None)) is not None:
    took.append(tid)
print(json.dumps(took))
"""


def test_processes_racing_for_the_queue_start_each_trial_once(shared_store: str) -> None:
    study = _study(shared_store)
    for x in range(80):
        study.enqueue_trial({"x": x % 10})
    procs = [subprocess.Popen([sys.executable, "-c", _TAKE_ALL, shared_store], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:  # all started and connected: then all at once
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    took = []
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0
        took.extend(json.loads(out.strip().splitlines()[-1]))
    everyone = [t._trial_id for t in study.get_trials(deepcopy=False)]
    assert sorted(took) == sorted(everyone)  # each enqueued trial started once, none left
    assert all(t.state == S.RUNNING for t in study.get_trials(deepcopy=False))
