"""The lease that gives a study to one process at a time, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import sqlalchemy as sa

from automl.storage._lease import Lease

# A process that takes the lease and beats each second until its stdin closes or it is killed.
_HOLD = """
import sys, threading
import sqlalchemy as sa
from automl.storage._lease import Lease
lease = Lease(sa.create_engine(sys.argv[1]), "s", ttl=3)
assert lease.acquire() is None
stop = threading.Event()
def beat():
    while not stop.wait(1):
        lease.renew()
threading.Thread(target=beat, daemon=True).start()
print("held", flush=True)
sys.stdin.read()
stop.set()
lease.release()
"""


def _lease(url: str, ttl: float = 3) -> Lease:
    return Lease(sa.create_engine(url), "s", ttl=ttl)


def test_a_live_holder_keeps_the_lease_and_a_dead_one_loses_it_at_once(shared_store: str) -> None:
    p = subprocess.Popen([sys.executable, "-c", _HOLD, shared_store], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        time.sleep(4.5)  # past the ttl: only its beats keep it
        holder = _lease(shared_store).acquire()
        assert holder is not None and holder.owner == f"{socket.gethostname()}:{p.pid}" and holder.age <= 3
    finally:
        p.kill()
        p.wait()
    mine = _lease(shared_store)
    assert mine.acquire() is None  # its holder died on this host: no need to wait
    mine.release()


def test_an_ended_holder_gives_the_lease_back(shared_store: str) -> None:
    p = subprocess.Popen([sys.executable, "-c", _HOLD, shared_store], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    p.communicate("", timeout=60)
    assert p.returncode == 0
    with sa.create_engine(shared_store).connect() as con:
        assert con.execute(sa.text("SELECT COUNT(*) FROM automl_leases")).scalar() == 0


def test_a_holder_on_another_host_that_stops_beating_loses_the_lease(shared_store: str) -> None:
    stalled = _lease(shared_store, ttl=1)
    stalled.owner = "another-host:1"  # a process of another host: only time tells that it is dead
    assert stalled.acquire() is None
    late = _lease(shared_store, ttl=1)
    holder = late.acquire()
    assert holder is not None and holder.owner == "another-host:1"
    time.sleep(2.5)  # the databases' clocks count whole seconds
    assert late.acquire() is None
    stalled.renew()  # it finds the lease taken: it no longer holds it
    assert stalled.token is None
    stalled.release()  # and gives back nothing of the new holder's
    with sa.create_engine(shared_store).connect() as con:
        assert con.execute(sa.text("SELECT token FROM automl_leases")).scalar() == late.token
