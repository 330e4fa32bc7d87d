"""Store scale (simulation): how many coordinators one PostgreSQL or MariaDB store serves.

Issue 25 asks how far one shared SQL store goes before it, and not the GPUs, limits a
search spread over many hosts. Here N worker processes (one per simulated host, each with
one slot) run against one study at once, and nothing trains: each trial reports a few
epochs with a set sleep per epoch, then completes. So every second the processes spend
beyond those sleeps is the store's and the coordinators' bookkeeping.

Modes (``--plan MODE:DB:N:BUDGET,…``; DB is ``pg`` or ``mysql``):

  automl  each process runs automl's own coordinator path, as ``automl worker`` does:
          ``automl._search.make_engine`` (Optuna engine, TPE, the study's global budget in
          ``automl_study_budget``), a :class:`automl.runner._heartbeat.Heartbeat`, and
          ``automl.runner._loop.run_trials`` over :class:`SleepBackend`, a scripted
          backend whose one slot "trains" by sleeping.
  grpc    plain Optuna ask/tell workers (TPE, the same space drawn through automl's
          ``hp`` adapter) through Optuna's ``GrpcStorageProxy``, one
          ``run_grpc_proxy_server`` process in front of the same database.
  optuna  the same plain workers on the database directly (Optuna's cached RDB storage).

Plain Optuna has no global budget: its workers stop when the study holds BUDGET trials
(counted before each ``ask``, as ``MaxTrialsCallback`` does), so they may overshoot; automl's
claim makes the count exact, which the run checks in the store.

Measured per run: trials handed out a minute, the latency of one hand-out (automl: one call
of ``next_spec`` — reaping stale trials, claiming a unit, ``ask`` with the space's draw,
settling — timed by wrapping the real function; plain Optuna: the count, ``ask`` and the
draw), the slot's idle gap between trials (automl: from a trial's end to the next start,
telling the result included), database connections at peak (``pg_stat_activity``;
MariaDB's ``Threads_connected`` and its processlist), sessions waiting on locks, the CPU
seconds of the workers, of the gRPC server and of the rest of the machine (the database),
errors, and what the study holds at the end. Every run gets a fresh database, dropped
after. The workers are forked from this process once the study exists (memory shared
copy-on-write); they start together when all are ready.

Usage (about 45 minutes on 2 cores for the recorded grid; see benchmarks/README.md):

  python benchmarks/store_scale.py --pg 127.0.0.1:5433 --mysql 127.0.0.1:3307 \\
      --plan automl:pg:8:400,automl:mysql:8:400 --out benchmarks/results/store-scale-2026-12-02.json

``--out`` is extended run by run (a file already there keeps its runs), so a grid can be
measured in several invocations.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import logging
import multiprocessing as mp
import os
import platform
import random
import resource
import socket
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The test suite's tiny space: six parameters, one of them conditional (tests/conftest.py).
SPACE: dict[str, Any] = {
    "name": "scale",
    "model": {"layers": [
        {"type": "dense", "units": {"low": 8, "high": 32, "step": 8}, "activation": {"choice": ["relu", "tanh"]}},
        {"type": "dropout", "rate": {"low": 0.0, "high": 0.3}},
    ]},
    "optimizer": {"name": {"choice": ["adam", "sgd"]}, "learning_rate": {"low": 1e-3, "high": 3e-2, "log": True},
                  "options": {"sgd": {"momentum": {"low": 0.0, "high": 0.9}}}},
    "training": {"batch_size": 64, "epochs": 3, "metrics": ["accuracy"]},
    "objective": {"metric": "val_accuracy", "direction": "maximize"},
}
STUDY = "scale"


@dataclass(frozen=True)
class Run:
    mode: str  # automl, grpc, optuna
    db: str  # pg, mysql
    workers: int
    budget: int


@dataclass
class Settings:
    epochs: int
    epoch_s: float
    heartbeat_s: float
    max_s: float
    servers: dict[str, str]  # db -> host:port


def parse_plan(text: str) -> list[Run]:
    runs = []
    for item in text.split(","):
        mode, db, n, budget = item.strip().split(":")
        if mode not in ("automl", "grpc", "optuna") or db not in ("pg", "mysql"):
            raise SystemExit(f"bad plan item {item!r}: MODE is automl, grpc or optuna; DB is pg or mysql")
        runs.append(Run(mode, db, int(n), int(budget)))
    return runs


def admin_url(db: str, hostport: str) -> str:
    return f"postgresql://postgres@{hostport}/postgres" if db == "pg" else f"mysql+pymysql://root@{hostport}/"


def db_url(db: str, hostport: str, name: str) -> str:
    return f"postgresql://postgres@{hostport}/{name}" if db == "pg" else f"mysql+pymysql://root@{hostport}/{name}"


# --- the scripted backend: one slot whose trials sleep through their epochs -------------------------


class SleepBackend:
    """A :class:`automl.runner._backend.TrialBackend` with one slot: a trial "trains"
    ``epoch_s`` seconds an epoch (waiting on the loop's ``wake`` connections meanwhile),
    reports each epoch through ``on_epoch`` (the engine's ``report``: an intermediate value
    and the pruning question) and completes. Records how long the slot sat idle between
    trials (from a trial's end, or the worker's start, to the next ``start``)."""

    concurrent = True  # the loop draws the next trial in its drawer thread, as with real workers
    setup_seconds = 0.0

    def __init__(self, epoch_s: float) -> None:
        from automl.runner._slots import Slot

        self.slot = Slot(0, None)
        self.slots = [self.slot]
        self.epoch_s = epoch_s
        self.spec: Any = None
        self.epoch = 0
        self.due = 0.0
        self.values: list[float] = []
        self.booting = True
        self.free_since = time.monotonic()
        self.idle_gaps: list[float] = []

    def start(self, slot: Any, spec: Any, can_prune: bool) -> bool:
        now = time.monotonic()
        self.idle_gaps.append(now - self.free_since)
        self.spec, self.epoch, self.due, self.values = spec, 0, now + self.epoch_s, []
        return True

    def events(self, timeout: float, on_epoch: Any, wake: list[Any]) -> list[Any]:
        from automl.engines._base import Decision, TrialOutcome
        from automl.runner._backend import Done, Ready

        if self.booting:
            self.booting = False
            self.free_since = time.monotonic()
            return [Ready(self.slot)]
        if self.spec is None:
            wait(wake, timeout)
            return []
        delay = self.due - time.monotonic()
        if delay > 0:
            wait(wake, min(timeout, delay))
            if self.due > time.monotonic():
                return []
        rng = random.Random(self.spec.number * 1000 + self.epoch)
        value = 0.5 + 0.1 * self.epoch + 0.2 * rng.random()
        self.values.append(value)
        decision = on_epoch(self.slot, self.epoch, {"val_accuracy": value, "accuracy": value})
        self.epoch += 1
        if decision == Decision.CONTINUE and self.epoch < self.spec.epochs:
            self.due += self.epoch_s
            return []
        state = "complete" if decision == Decision.CONTINUE else "pruned"
        outcome = TrialOutcome(state, value=value, history={"val_accuracy": self.values, "accuracy": self.values},
                               params_count=1000, fit_seconds=self.epoch * self.epoch_s,
                               epoch_seconds=[self.epoch_s] * self.epoch, device="simulated")
        self.spec = None
        self.free_since = time.monotonic()
        return [Done(self.slot, outcome)]

    def abort(self, slot: Any) -> None:
        self.spec, self.booting = None, True

    def retire(self, slot: Any) -> None:
        pass

    def close(self) -> None:
        pass


# --- worker processes --------------------------------------------------------------------------------


class _Problems(logging.Handler):
    """Keeps the automl log's warnings and errors (an error is anything the run did not plan)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:400])


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _write(out: Path, idx: int, record: dict[str, Any]) -> None:
    (out / f"worker-{idx}.json").write_text(json.dumps(record))


def automl_worker(idx: int, url: str, run: Run, st: Settings, prep: Any, ready: Any, go: Any, out: Path) -> None:
    """One simulated host: automl's engine, heartbeat and loop over a :class:`SleepBackend`."""
    import automl.runner._loop as loop_mod
    from automl._search import make_engine
    from automl.runner._heartbeat import Heartbeat
    from automl.runner._loop import LoopStats, run_trials

    problems = _Problems()
    logging.getLogger("automl").addHandler(problems)
    handouts: list[tuple[float, float, bool]] = []  # (wall time asked, seconds, got a trial)
    real_next_spec = loop_mod.next_spec

    def timed_next_spec(engine: Any, n_trials: int) -> Any:
        w0, t0 = time.time(), time.monotonic()
        spec = real_next_spec(engine, n_trials)
        handouts.append((w0, time.monotonic() - t0, spec is not None))
        return spec

    loop_mod.next_spec = timed_next_spec  # the loop looks it up at each draw: the real one runs, timed
    record: dict[str, Any] = {"idx": idx, "pid": os.getpid(), "error": None}
    backend = SleepBackend(st.epoch_s)
    stats = LoopStats()
    cpu0 = 0.0
    try:
        t0 = time.monotonic()
        try:
            eng = make_engine("optuna", prep.space, prep.data, url=url, study_name=STUDY, sampler="tpe",
                              pruner="none", algorithm=None, seed=0, n_trials=run.budget,
                              heartbeat_s=st.heartbeat_s, keep_weights=False)
        except BaseException as e:
            record["error"] = f"opening the study: {type(e).__name__}: {str(e)[:300]}"
            ready.put((idx, False))
            return
        record["open_s"] = time.monotonic() - t0
        ready.put((idx, True))
        go.wait()
        cpu0 = _cpu_s()
        beat = Heartbeat(eng.storage, st.heartbeat_s, on_beat=eng.beat)  # type: ignore[attr-defined]
        try:
            record["ran"] = run_trials(eng, backend, n_trials=run.budget, timeout=st.max_s, heartbeat=beat,
                                       stats=stats)
        finally:
            beat.close()
            eng.close()
    except BaseException as e:  # noqa: BLE001 - recorded: an error of the run
        record["error"] = f"{type(e).__name__}: {str(e)[:300]}"
    finally:
        record.update(handouts=handouts, idle_gaps=backend.idle_gaps, cpu_s=_cpu_s() - cpu0 if cpu0 else None,
                      end=time.time(), problems=problems.lines[:20], n_problems=len(problems.lines),
                      engine_s=stats.engine_seconds)
        _write(out, idx, record)


def optuna_worker(idx: int, url: str, run: Run, st: Settings, prep: Any, ready: Any, go: Any, out: Path,
                  grpc_port: int | None) -> None:
    """A plain Optuna ask/tell worker: through the gRPC proxy when ``grpc_port``, else on the RDB."""
    import warnings

    import optuna

    from automl.engines._optuna import OptunaHP

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # the gRPC proxy's
    record: dict[str, Any] = {"idx": idx, "pid": os.getpid(), "error": None}
    handouts: list[tuple[float, float, bool]] = []
    cpu0 = 0.0
    ran = 0
    try:
        t0 = time.monotonic()
        try:
            storage: Any = url
            if grpc_port is not None:
                storage = optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=grpc_port)
                storage.wait_server_ready(timeout=120)
            study = optuna.load_study(study_name=STUDY, storage=storage, sampler=optuna.samplers.TPESampler(seed=0))
        except BaseException as e:
            record["error"] = f"opening the study: {type(e).__name__}: {str(e)[:300]}"
            ready.put((idx, False))
            return
        record["open_s"] = time.monotonic() - t0
        ready.put((idx, True))
        go.wait()
        cpu0 = _cpu_s()
        end_by = time.monotonic() + st.max_s
        while time.monotonic() < end_by:
            w0, t0 = time.time(), time.monotonic()
            if len(study.get_trials(deepcopy=False)) >= run.budget:  # no global budget: count, then ask
                handouts.append((w0, time.monotonic() - t0, False))
                break
            trial = study.ask()
            prep.space.sample(OptunaHP(trial))
            handouts.append((w0, time.monotonic() - t0, True))
            value = 0.0
            for epoch in range(st.epochs):
                time.sleep(st.epoch_s)
                value = 0.5 + 0.1 * epoch + 0.2 * random.Random(trial.number * 1000 + epoch).random()
                trial.report(value, epoch)
                trial.should_prune()
            study.tell(trial, value)
            ran += 1
    except BaseException as e:  # noqa: BLE001 - recorded: an error of the run
        record["error"] = f"{type(e).__name__}: {str(e)[:300]}"
    finally:
        record.update(handouts=handouts, idle_gaps=[], cpu_s=_cpu_s() - cpu0 if cpu0 else None, end=time.time(),
                      ran=ran, problems=[], n_problems=0)
        _write(out, idx, record)


def grpc_server(url: str, port: int) -> None:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.storages.run_grpc_proxy_server(optuna.storages.get_storage(url), host="127.0.0.1", port=port)


# --- what the parent watches -------------------------------------------------------------------------


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot, all cores."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(parts[:8]) - idle) / tick, sum(parts[:8]) / tick


def _mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Monitor:
    """Samples the database's sessions (and the machine's free memory) every ``every`` seconds."""

    db: str
    admin: str
    name: str
    every: float = 0.25
    samples: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool

        self._engine = sa.create_engine(self.admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def counters(self) -> dict[str, float]:
        """The database's cumulative counters: transactions, lock waits, deadlocks."""
        import sqlalchemy as sa

        with self._engine.connect() as con:
            if self.db == "pg":
                row = con.execute(sa.text("SELECT xact_commit, xact_rollback, deadlocks, tup_returned, tup_fetched "
                                          "FROM pg_stat_database WHERE datname = :d"), {"d": self.name}).one()
                return dict(zip(("commits", "rollbacks", "deadlocks", "rows_returned", "rows_fetched"),
                                map(float, row)))
            names = ("Questions", "Com_commit", "Com_rollback", "Innodb_row_lock_waits", "Innodb_row_lock_time",
                     "Innodb_deadlocks", "Innodb_rows_read", "Connections", "Aborted_connects")
            rows = con.execute(sa.text("SHOW GLOBAL STATUS")).all()
            return {k: float(v) for k, v in rows if k in names}

    def _sample(self, con: Any) -> dict[str, float]:
        import sqlalchemy as sa

        if self.db == "pg":
            row = con.execute(sa.text(
                "SELECT count(*) FILTER (WHERE datname = :d), count(*) FILTER (WHERE backend_type = 'client backend'), "
                "count(*) FILTER (WHERE datname = :d AND wait_event_type = 'Lock'), "
                "count(*) FILTER (WHERE datname = :d AND state = 'active') FROM pg_stat_activity"),
                {"d": self.name}).one()
            return {"db_connections": row[0], "server_connections": row[1], "lock_waiting": row[2], "active": row[3]}
        threads = con.execute(sa.text("SHOW GLOBAL STATUS LIKE 'Threads_connected'")).one()[1]
        row = con.execute(sa.text(
            "SELECT count(*), coalesce(sum(command <> 'Sleep'), 0), coalesce(sum(state LIKE '%%lock%%'), 0) "
            "FROM information_schema.processlist WHERE db = :d"), {"d": self.name}).one()
        return {"db_connections": row[0], "server_connections": float(threads), "lock_waiting": float(row[2]),
                "active": float(row[1])}

    def _run(self) -> None:
        with self._engine.connect() as con:
            while not self._stop.wait(self.every):
                try:
                    s = self._sample(con)
                except Exception:  # noqa: BLE001 - a missed sample
                    continue
                s["t"] = time.time()
                s["mem_available_mb"] = _mem_available_mb()
                self.samples.append(s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(10)
        self._engine.dispose()
        out: dict[str, Any] = {"samples": len(self.samples)}
        for k in ("db_connections", "server_connections", "lock_waiting", "active"):
            vals = [s[k] for s in self.samples]
            out[k] = {"peak": max(vals, default=0), "mean": round(statistics.fmean(vals), 1) if vals else 0}
        out["min_mem_available_mb"] = round(min((s["mem_available_mb"] for s in self.samples), default=0))
        return out


# --- one run -----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"median": round(1000 * statistics.median(values), 1), "p90": round(1000 * _pct(values, 0.9), 1),
            "p99": round(1000 * _pct(values, 0.99), 1), "max": round(1000 * max(values), 1), "n": len(values)}


def _store_check(run: Run, url: str) -> dict[str, Any]:
    """What the study holds at the end (and, for automl, its budget row and open claims)."""
    import optuna
    import sqlalchemy as sa

    storage = optuna.storages.RDBStorage(url)
    try:
        study = optuna.load_study(study_name=STUDY, storage=storage)
        trials = study.get_trials(deepcopy=False)
        states = collections.Counter(t.state.name for t in trials)
        out: dict[str, Any] = {"trials": len(trials), "states": dict(states)}
        if run.mode == "automl":
            from automl.engines._record import finished_count

            out["finished_count"] = finished_count(study)
            with storage.engine.connect() as con:
                out["budget_claimed"] = con.execute(sa.text("SELECT claimed FROM automl_study_budget")).scalar()
                out["open_claims"] = con.execute(sa.text("SELECT count(*) FROM automl_claims")).scalar()
            out["exact"] = (out["finished_count"] == run.budget == states.get("COMPLETE", 0) == len(trials)
                            and out["budget_claimed"] == run.budget and out["open_claims"] == 0)
        else:
            out["exact"] = states.get("COMPLETE", 0) == run.budget == len(trials)
            out["over_budget"] = len(trials) - run.budget
        return out
    finally:
        storage.engine.dispose()


def _server_info(db: str, admin: str) -> dict[str, Any]:
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    engine = sa.create_engine(admin, poolclass=NullPool)
    try:
        with engine.connect() as con:
            if db == "pg":
                names = ("server_version", "max_connections", "shared_buffers", "synchronous_commit", "fsync")
                return {n: con.execute(sa.text(f"SHOW {n}")).scalar() for n in names}
            names = ("version", "max_connections", "innodb_buffer_pool_size", "innodb_flush_log_at_trx_commit",
                     "tx_isolation")
            return {n: con.execute(sa.text(f"SELECT @@{n}")).scalar() for n in names}
    finally:
        engine.dispose()


def measure(run: Run, st: Settings, prep: Any) -> dict[str, Any]:
    import tempfile

    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    hostport = st.servers[run.db]
    admin = admin_url(run.db, hostport)
    name = f"automl_scale_{uuid.uuid4().hex[:10]}"
    url = db_url(run.db, hostport, name)
    admin_engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin_engine.connect() as con:
        con.execute(sa.text(f"CREATE DATABASE {name}"))
    out_dir = Path(tempfile.mkdtemp(prefix="automl-scale-"))
    ctx = mp.get_context("fork")
    procs: list[Any] = []
    server: Any = None
    result: dict[str, Any] = {"mode": run.mode, "db": run.db, "workers": run.workers, "budget": run.budget,
                              "server": _server_info(run.db, admin)}
    try:
        # The study (and automl's budget row) is made here, once: several processes creating
        # the schema at once race (PITFALLS.md).
        if run.mode == "automl":
            from automl._search import make_engine

            eng = make_engine("optuna", prep.space, prep.data, url=url, study_name=STUDY, sampler="tpe",
                              pruner="none", algorithm=None, seed=0, n_trials=run.budget,
                              heartbeat_s=st.heartbeat_s, keep_weights=False)
            eng.close()
            eng.storage.engine.dispose()  # type: ignore[attr-defined]
            eng.budget.engine.dispose()  # type: ignore[attr-defined]
        else:
            import optuna

            made = optuna.storages.RDBStorage(url)
            optuna.create_study(study_name=STUDY, storage=made, direction="maximize")
            made.engine.dispose()
        port = None
        if run.mode == "grpc":
            port = _free_port()
            server = ctx.Process(target=grpc_server, args=(url, port), daemon=True)
            server.start()
        ready, go = ctx.Queue(), ctx.Event()
        gc.collect()
        gc.freeze()  # the workers share this process's memory until they write to it
        t_fork = time.monotonic()
        for i in range(run.workers):
            if run.mode == "automl":
                args: tuple[Any, ...] = (i, url, run, st, prep, ready, go, out_dir)
                p = ctx.Process(target=automl_worker, args=args, daemon=True)
            else:
                args = (i, url, run, st, prep, ready, go, out_dir, port)
                p = ctx.Process(target=optuna_worker, args=args, daemon=True)
            p.start()
            procs.append(p)
        gc.unfreeze()
        opened = [ready.get(timeout=300) for _ in procs]
        result["start_s"] = round(time.monotonic() - t_fork, 1)
        result["failed_to_open"] = sum(1 for _, ok in opened if not ok)
        monitor = Monitor(run.db, admin, name)
        before = monitor.counters()
        monitor.start()
        busy0, total0 = _machine_cpu()
        mine0 = _cpu_s()
        server0 = _proc_cpu_s(server.pid) if server is not None else 0.0
        t_go_wall, t_go = time.time(), time.monotonic()
        go.set()
        deadline = t_go + st.max_s + 120
        for p in procs:
            p.join(max(1.0, deadline - time.monotonic()))
        wall = time.monotonic() - t_go
        killed = 0
        for p in procs:
            if p.is_alive():
                p.kill()
                killed += 1
        busy1, total1 = _machine_cpu()
        server_cpu = _proc_cpu_s(server.pid) - server0 if server is not None else 0.0
        mine = _cpu_s() - mine0
        watched = monitor.stop()
        after = monitor.counters()
        records = [json.loads(f.read_text()) for f in sorted(out_dir.glob("worker-*.json"))]
        result.update(_summarise(run, st, records, t_go_wall, wall))
        result["killed_after_deadline"] = killed
        result["database"] = watched
        result["database"]["counters"] = {k: after[k] - before.get(k, 0.0) for k in after}
        workers_cpu = sum(r["cpu_s"] or 0.0 for r in records)
        result["cpu_s"] = {"machine_busy": round(busy1 - busy0, 1), "machine_capacity": round(total1 - total0, 1),
                           "workers": round(workers_cpu, 1), "grpc_server": round(server_cpu, 1),
                           "benchmark_parent": round(mine, 1),
                           "rest_database_and_other": round((busy1 - busy0) - workers_cpu - server_cpu - mine, 1)}
        result["store"] = _store_check(run, url)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        if server is not None and server.is_alive():
            server.kill()
            server.join(5)
        with admin_engine.connect() as con:
            if run.db == "pg":
                con.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                con.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin_engine.dispose()
        for f in out_dir.glob("*.json"):
            f.unlink()
        out_dir.rmdir()
    return result


def _summarise(run: Run, st: Settings, records: list[dict[str, Any]], t_go: float, wall: float) -> dict[str, Any]:
    got = sorted((w, s) for r in records for w, s, ok in r["handouts"] if ok)
    none = [s for r in records for _, s, ok in r["handouts"] if not ok]
    gaps = [g for r in records for g in r["idle_gaps"][1:]]  # the first is the wait for the first trial
    errors = [f"worker {r['idx']}: {r['error']}" for r in records if r["error"]]
    problems = [p for r in records for p in r["problems"]]
    span = (got[-1][0] - t_go) if got else 0.0
    out: dict[str, Any] = {
        "wall_s": round(wall, 1), "handed_out": len(got), "handout_span_s": round(span, 1),
        "trials_per_min": round(60 * len(got) / span, 1) if span > 0 else None,
        "offered_trials_per_min": round(60 * run.workers / (st.epochs * st.epoch_s), 1),
        "handout_ms": _ms([s for _, s in got]), "budget_spent_answer_ms": _ms(none),
        "slot_idle_gap_ms": _ms(gaps), "workers_reported": len(records), "errors": errors[:20],
        "n_errors": len(errors), "log_problems": collections.Counter(p[:160] for p in problems).most_common(10),
        "n_log_problems": sum(r["n_problems"] for r in records),
    }
    if got:
        # Hand-out rate and latency early and late in the run: the study grows as it runs.
        first, last = got[0][0], got[-1][0]
        mid = [s for w, s in got if first + 0.25 * (last - first) <= w <= first + 0.75 * (last - first)]
        out["middle_half_trials_per_min"] = round(60 * len(mid) / (0.5 * (last - first)), 1) if last > first else None
        k = max(1, len(got) // 5)
        out["handout_ms_first_fifth"] = _ms([s for _, s in got[:k]])
        out["handout_ms_last_fifth"] = _ms([s for _, s in got[-k:]])
    opens = [r["open_s"] for r in records if "open_s" in r]
    out["open_study_s"] = {"median": round(statistics.median(opens), 2), "max": round(max(opens), 2)} if opens else {}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", required=True, help="MODE:DB:N:BUDGET,… (MODE automl|grpc|optuna, DB pg|mysql)")
    ap.add_argument("--pg", default="127.0.0.1:5432", help="PostgreSQL host:port (user postgres, trust)")
    ap.add_argument("--mysql", default="127.0.0.1:3306", help="MariaDB/MySQL host:port (root, no password)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--epoch-seconds", type=float, default=0.5, help="sleep per simulated epoch")
    ap.add_argument("--heartbeat", type=float, default=10.0, help="automl's heartbeat interval (its default)")
    ap.add_argument("--max-seconds", type=float, default=240.0, help="each worker stops after this (a safety)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    runs = parse_plan(args.plan)
    logging.getLogger("automl").setLevel(logging.WARNING)
    from automl._search import prepare

    st = Settings(args.epochs, args.epoch_seconds, args.heartbeat, args.max_seconds,
                  {"pg": args.pg, "mysql": args.mysql})
    prep = prepare(SPACE, "digits", epochs=args.epochs)
    import optuna
    import sqlalchemy

    doc: dict[str, Any] = {"runs": []}
    if args.out.exists():
        doc = json.loads(args.out.read_text())
    doc["machine"] = {"cpus": os.cpu_count(), "cpu": _cpu_model(), "mem_gb": round(_mem_total_gb(), 1), "gpu": None,
                      "python": platform.python_version(), "optuna": optuna.__version__,
                      "sqlalchemy": sqlalchemy.__version__}
    doc["settings"] = {"epochs": args.epochs, "epoch_seconds": args.epoch_seconds, "heartbeat_s": args.heartbeat,
                       "max_seconds": args.max_seconds, "sampler": "tpe (seed 0 in every worker)", "pruner": "none",
                       "space": SPACE["name"], "slots_per_worker": 1}
    for run in runs:
        print(f"run {run.mode} {run.db} N={run.workers} budget={run.budget} …", flush=True)
        t0 = time.monotonic()
        res = measure(run, st, prep)
        res["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        res["run_s"] = round(time.monotonic() - t0, 1)
        doc["runs"].append(res)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1))
        h = res.get("handout_ms", {})
        peak = res["database"]["db_connections"]["peak"]
        print(f"  {res['trials_per_min']} trials/min (offered {res['offered_trials_per_min']}), hand-out median "
              f"{h.get('median')} ms p99 {h.get('p99')} ms, connections peak {peak}, "
              f"errors {res['n_errors']}, store {res['store']}, cpu {res['cpu_s']}, {res['run_s']} s", flush=True)
    return 0


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _mem_total_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


if __name__ == "__main__":
    raise SystemExit(main())
