"""The global budget's claims on SQLite, PostgreSQL and MariaDB: a unit claimed by a
process that died before it created its trial comes back, one whose trial exists stays
with the trial; a live process's claim is kept until it expires; the ``DELETE`` or
``UPDATE`` of a claim's row decides who acts on it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import optuna
import sqlalchemy as sa

from automl.storage._budget import Budget
from automl.storage._schema import forget

# A process that claims a unit and stops before it creates a trial, or (with a third
# argument) just after: a coordinator killed there.
_CLAIM_AND_DIE = """
import os, sys
import optuna
import sqlalchemy as sa
from automl.engines._record import new_trial
from automl.storage._budget import Budget
b = Budget(sa.create_engine(sys.argv[1]), "s")
assert b.claim(int(sys.argv[2]))
if len(sys.argv) > 3:
    study = optuna.create_study(study_name="s", storage=sys.argv[1], load_if_exists=True)
    new_trial(study, b.token)
print(os.getpid())
os._exit(0)
"""


def _budget(url: str, **kw: float) -> Budget:
    # the study the budget counts for (and Optuna's schema: where a claim's trial would be)
    optuna.create_study(study_name="s", storage=url, load_if_exists=True)
    return Budget(sa.create_engine(url), "s", **kw)


def test_a_unit_claimed_by_a_dead_process_of_this_host_comes_back(shared_store: str) -> None:
    b = _budget(shared_store)
    b.ensure(0)
    pid = subprocess.run([sys.executable, "-c", _CLAIM_AND_DIE, shared_store, "2"], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert b.claimed() == 1 and b.open_claims() == [f"{socket.gethostname()}:{pid}"]
    assert b.claim(2) and b.open_claims() == [b.owner]  # the dead one's unit came back first
    assert b.settle(2)
    assert b.claimed() == 1 and b.open_claims() == []
    assert b.claim(2) and b.settle(2)
    assert not b.claim(2) and b.claimed() == 2  # exactly the budget, no more


def test_a_unit_claimed_by_a_dead_process_that_made_its_trial_stays_with_the_trial(shared_store: str) -> None:
    b = _budget(shared_store)
    b.ensure(0)
    subprocess.run([sys.executable, "-c", _CLAIM_AND_DIE, shared_store, "2", "trial"], check=True, timeout=120)
    [trial] = optuna.load_study(study_name="s", storage=shared_store).trials
    assert trial.state == optuna.trial.TrialState.RUNNING  # failed and retried once found stale
    assert b.claim(2) and b.open_claims() == [b.owner]  # the dead claim was used: no unit came back
    assert b.claimed() == 2
    assert not _budget(shared_store).claim(2)


def test_a_live_process_keeps_its_claim_until_it_expires(shared_store: str) -> None:
    slow = _budget(shared_store)  # claims, then takes long to create its trial
    slow.ensure(0)
    assert slow.claim(2)
    other = _budget(shared_store, claim_ttl=1.0)
    assert other.claim(2) and other.settle(2)
    assert not other.claim(2)  # the slow claim is young: it holds its unit
    time.sleep(2.5)  # the databases' clocks count whole seconds
    late = _budget(shared_store, claim_ttl=1.0)
    assert late.claim(2)  # the slow claim expired: its unit was given back, and taken
    assert late.settle(2) and late.claimed() == 2
    # The slow process finds its claim gone and no unit left: its trial must not count.
    assert not slow.settle(2)
    assert slow.claimed() == 2 and slow.open_claims() == []


def test_release_gives_back_the_open_claim_once(shared_store: str) -> None:
    a, b = _budget(shared_store), _budget(shared_store, claim_ttl=0.5)
    a.ensure(0)
    assert a.claim(3)
    a.release()  # its trial was never made
    assert a.claimed() == 0 and a.open_claims() == []
    assert a.claim(3)
    time.sleep(1.6)
    assert b.reap() == 1 and b.claimed() == 0  # taken for dead ...
    a.release()  # ... so the owner's own release gives back nothing more
    assert a.claimed() == 0
    assert b.claim(3) and b.settle(3) and b.claimed() == 1


def test_reset_and_forget_drop_open_claims(shared_store: str) -> None:
    b = _budget(shared_store)
    b.ensure(5)
    assert b.claim(9) and b.claimed() == 6
    b.reset(5)
    assert b.claimed() == 5 and b.open_claims() == []
    assert b.settle(9)  # nothing open any more
    assert b.claim(9)
    forget(b.engine, "s")  # the study was deleted
    assert b.claimed() == 0 and b.open_claims() == []


def test_a_study_deleted_outside_automl_leaves_no_budget_to_the_next_of_its_name(shared_store: str) -> None:
    """optuna.delete_study (and optuna-dashboard's delete button) removes Optuna's rows only:
    a budget row kept by name once made the next study of that name run 0 of 2 trials."""
    b = _budget(shared_store)
    b.ensure(0)
    assert b.claim(2) and b.settle(2) and b.claim(2) and b.settle(2) and not b.claim(2)
    optuna.delete_study(study_name="s", storage=shared_store)
    again = _budget(shared_store)  # a new study "s"
    again.ensure(0)
    assert again.claimed() == 0 and again.claim(2) and again.settle(2)
    # the new study's row is its own from now on: another process sees the same count
    other = _budget(shared_store)
    other.ensure(0)
    assert other.claimed() == 1 and other.claim(2) and other.settle(2) and not other.claim(2)
