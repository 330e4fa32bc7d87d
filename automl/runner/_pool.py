"""The parallel runner: one persistent worker process per device slot, one coordinator.

The coordinator (this process) owns the engine and the store; workers only train and
talk to it over pipes. A worker that dies mid-trial fails that trial (retried once by
default) and is replaced; a trial past its time limit is stopped by killing its worker;
a worker whose memory grew past its bound is replaced between trials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import wait
from typing import Any, cast

from automl._logging import get_logger
from automl.data import Dataset
from automl.engines._base import Decision, Engine, TrialOutcome, TrialSpec
from automl.errors import AutomlError
from automl.runner._drawer import Drawer, LockedEngine
from automl.runner._heartbeat import Heartbeat
from automl.runner._loop import OthersWait, SearchObserver, _finish, next_spec
from automl.runner._slots import Slot
from automl.runner._worker import data_folder, save_arrays, worker_main
from automl.space import SearchSpace
from automl.storage._errors import store_failures

__all__ = ["run_parallel", "PoolSettings", "PoolStats"]

_log = get_logger("runner")


@dataclasses.dataclass
class PoolSettings:
    """``trial_timeout``: seconds a trial may run. ``memory_growth``: a worker is replaced when
    its memory exceeds (1 + growth) × what it held after its first trial. ``data_on_device``:
    GPU workers on JAX keep the data on their GPU (``InProcessExecutor``), for more trials a
    minute (benchmarks/README.md)."""

    backend: str | None = None
    seed: int = 0
    trial_timeout: float | None = None
    memory_growth: float = 0.2
    max_start_failures: int = 3
    data_on_device: bool = True


@dataclasses.dataclass
class PoolStats:
    """Where the coordinator's time went, for telling whether it limits a search: the trials
    handed to workers, the seconds spent in the engine and the store (claiming and asking,
    epoch reports, telling), and the seconds workers waited from being free (started, or
    done with a trial) to receiving their next trial."""

    trials: int = 0
    engine_seconds: float = 0.0
    worker_wait_seconds: float = 0.0
    ready_after: list[float] = dataclasses.field(default_factory=list)
    """Seconds from the search's start to each worker's first ``ready`` (replacements too)."""
    close_seconds: float = 0.0
    """Seconds spent stopping the workers after the last trial."""
    data_seconds: float = 0.0
    """Seconds spent writing the data files (while the workers start)."""
    start_steps: list[dict[str, float]] = dataclasses.field(default_factory=list)
    """For each worker that became ready, seconds from the search's start to the end of each
    step of its start (``automl.runner._worker.worker_main`` names them)."""

    def summary(self) -> str:
        per = 1000 / max(self.trials, 1)
        ready = f"{min(self.ready_after):.1f}-{max(self.ready_after):.1f} s" if self.ready_after else "never"
        return (f"{self.trials} trials handed out; {self.engine_seconds:.1f} s in the engine and the store "
                f"({self.engine_seconds * per:.0f} ms a trial); workers waited {self.worker_wait_seconds:.1f} s "
                f"for their next trial ({self.worker_wait_seconds * per:.0f} ms a trial); writing the data took "
                f"{self.data_seconds:.1f} s; workers ready after {ready}{self._steps()}; stopping them took "
                f"{self.close_seconds:.1f} s")

    def _steps(self) -> str:
        names = [n for n in self.start_steps[0] if all(n in s for s in self.start_steps)] if self.start_steps else []
        if not names:
            return ""
        latest = ", ".join(f"{n} {max(s[n] for s in self.start_steps):.1f}" for n in names)
        return f" (the last worker to end each step of its start, seconds: {latest})"


@dataclasses.dataclass
class _Worker:
    slot: Slot
    process: Any
    conn: Any
    ready: bool = False
    spec: TrialSpec | None = None
    started: float = 0.0
    baseline_rss: int | None = None
    free_since: float | None = None  # when it last became free for a trial


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """A worker starts with Ctrl-C ignored, inherited from here: Python installs its
    KeyboardInterrupt handler only where SIGINT is not ignored, and a worker's start (its
    bootstrap unpickles the space, importing a user's module and Keras) comes before any
    line of its own could ignore it. The coordinator alone handles Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _death_reason(process: Any) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of host memory?)" if name == "SIGKILL" else ""
        return f"worker died: killed by {name}{hint}"
    return f"worker died: exit code {code}"


class _Pool:
    """The worker processes. They start at once, before the data is written: each is sent
    where the data is (``share_data``) while it imports Keras."""

    def __init__(self, slots: list[Slot], space: SearchSpace, settings: PoolSettings) -> None:
        self.ctx = mp.get_context("spawn")
        self.space, self.settings = space, settings
        self.meta: dict[str, Any] | None = None
        self.workers: dict[int, _Worker] = {}
        self.retired: list[_Worker] = []  # told to stop while the last trials run; joined in close()
        self.start_failures = 0  # consecutive: reset when a worker gets ready
        self.retries_scheduled = 0
        self.pending: list[TrialSpec] = []  # trials whose worker died as they were sent: run next
        self.observer = SearchObserver()  # told when workers start, get ready and stop
        self.stats = PoolStats()
        self.t0, self.t0_wall = time.monotonic(), time.time()
        for slot in slots:
            self.start(slot)

    def share_data(self, meta: dict[str, Any]) -> None:
        """Tell every worker, and every worker started from now on, where the data files are."""
        self.meta = meta
        for w in self.workers.values():
            self._send_data(w)

    def _send_data(self, w: _Worker) -> None:
        self.send(w, ("data", self.meta))

    @staticmethod
    def send(w: _Worker, msg: tuple[Any, ...]) -> bool:
        """Send ``msg`` to ``w``; False when it is dead (its death is handled by :func:`_serve`,
        which sees its process end, whenever it died: starting, idle or training)."""
        try:
            w.conn.send(msg)
        except (OSError, ValueError):  # BrokenPipeError, or the pipe is closed already
            w.ready = False  # nothing more is sent to it until it is replaced
            return False
        return True

    def start(self, slot: Slot) -> None:
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=worker_main, name=f"automl-worker-{slot.index}",
                             args=(slot, child, self.space, self.settings.backend,
                                   self.settings.seed, self.settings.data_on_device), daemon=True)
        with _sigint_ignored():
            p.start()
        child.close()
        w = self.workers[slot.index] = _Worker(slot, p, parent)
        self.observer.on_worker(slot.label, "starting (importing Keras)")
        if self.meta is not None:
            self._send_data(w)

    def own_numbers(self) -> set[int]:
        """Numbers of the trials this coordinator runs (on its workers or waiting for one)."""
        return {w.spec.number for w in self.workers.values() if w.spec is not None} | \
            {s.number for s in self.pending}

    def retire(self, w: _Worker) -> None:
        """Let an idle worker exit now, while other workers finish the last trials."""
        del self.workers[w.slot.index]
        self._ask_to_stop(w)
        self.retired.append(w)
        self.observer.on_worker(w.slot.label, "done")

    def replace(self, w: _Worker) -> None:
        self.stop(w)
        self.start(w.slot)

    @classmethod
    def _ask_to_stop(cls, w: _Worker) -> None:
        if w.process.is_alive():
            cls.send(w, ("stop",))

    def stop(self, w: _Worker, kill: bool = False) -> None:
        if not kill:
            self._ask_to_stop(w)
            w.process.join(timeout=10)
        if w.process.is_alive():
            w.process.kill()
            w.process.join(timeout=10)
        w.conn.close()

    def close(self, grace: float = 10.0) -> None:
        """Stop every worker, all at once: each is asked to stop, all get ``grace`` seconds
        together to exit, and any still running then is killed. (One after another, a JAX
        worker's exit takes a few tenths of a second each.)"""
        workers = list(self.workers.values()) + self.retired
        for w in workers:
            self._ask_to_stop(w)
        deadline = time.monotonic() + grace
        for w in workers:
            w.process.join(timeout=max(0.0, deadline - time.monotonic()))
        for w in workers:
            self.stop(w, kill=True)
        self.workers.clear()
        self.retired.clear()


def run_parallel(engine: Engine, slots: list[Slot], space: SearchSpace, data: Dataset, *, n_trials: int,
                 timeout: float | None = None, observer: SearchObserver | None = None,
                 heartbeat: Heartbeat | None = None, settings: PoolSettings | None = None,
                 stats: PoolStats | None = None) -> int:
    """Run trials on ``slots`` in parallel until the study's budget is spent (or ``timeout``);
    ``stats``, when given, is filled with where the coordinator's time went (also logged)."""
    obs = observer or SearchObserver()
    st = settings or PoolSettings()
    engine.draw_timeout = st.trial_timeout  # the space's code drawing values runs here, in the coordinator
    shared = LockedEngine(engine)  # by this loop and the drawer's thread
    locked, drawer = cast(Engine, shared), Drawer(shared)
    start = time.monotonic()
    ran = 0
    with data_folder() as tmp, store_failures():
        pool = _Pool(slots, space, st)
        if stats is not None:
            pool.stats = stats
        stopping = timed_out = False
        waits = OthersWait()
        try:
            t0 = time.monotonic()
            meta = save_arrays(data, tmp)  # written while the workers import Keras
            pool.stats.data_seconds = time.monotonic() - t0
            pool.share_data(meta)
            obs.on_search_start(n_trials, engine.finished(), [s.label for s in slots])
            pool.observer = obs
            while True:
                if not timed_out and timeout is not None and time.monotonic() - start >= timeout:
                    _log.info("timeout of %.0f s reached: finishing the running trials", timeout)
                    stopping = timed_out = True
                if pool.retries_scheduled and not timed_out:
                    # A retry is due (it holds its original's unit): the search is not over yet.
                    pool.retries_scheduled, stopping = 0, False
                idle = [w for w in pool.workers.values() if w.ready and w.spec is None]
                while idle and pool.pending:
                    _dispatch(pool, idle.pop(0), pool.pending.pop(0), locked, obs, heartbeat)
                if drawer.done:
                    spec = drawer.take()
                    if spec is None:
                        stopping = not waits.others(locked, pool.own_numbers())
                    elif spec.error:
                        obs.on_trial_start(spec, drawer.label)
                        _finish(locked, spec, TrialOutcome("failed", error=spec.error), obs)
                        ran += 1
                    elif idle:
                        _dispatch(pool, idle.pop(0), spec, locked, obs, heartbeat)
                    else:  # its worker died meanwhile: the next one ready runs it
                        pool.pending.append(spec)
                if idle and not drawer.running and not (stopping or waits.waiting()):
                    drawer.start(lambda: next_spec(locked, n_trials), idle[0].slot.label)
                busy = [w for w in pool.workers.values() if w.spec is not None]
                if stopping and not busy and not pool.pending and not drawer.running:
                    break
                if stopping and not drawer.running:  # nothing left for the idle ones: they exit now
                    for w in [w for w in pool.workers.values() if w.ready and w.spec is None]:
                        pool.retire(w)
                ran += _serve(pool, locked, obs, heartbeat, st, drawer.ready)
        finally:
            drawn = drawer.finish(within=2.0)
            if drawn is not None:
                pool.pending.append(drawn)
            for w in pool.workers.values():
                if w.spec is not None:  # interrupted: leave nothing RUNNING
                    pool.pending.append(w.spec)
                    w.spec = None
            for spec in pool.pending:
                try:
                    locked.tell(spec, TrialOutcome("failed", error="interrupted: the search stopped"))
                except Exception as e:  # noqa: BLE001 - the store failed: the trial goes stale and is retried
                    _log.debug("trial %d could not be recorded as interrupted: %s", spec.number, e)
            pool.pending.clear()
            drawer.close()
            pool.stats.engine_seconds += drawer.seconds
            t0 = time.monotonic()
            pool.close()
            pool.stats.close_seconds = time.monotonic() - t0
            _log.info("coordinator: %s", pool.stats.summary())
    return ran


def _dispatch(pool: _Pool, w: _Worker, spec: TrialSpec, engine: Engine, obs: SearchObserver,
              heartbeat: Heartbeat | None) -> None:
    """Send ``spec`` to the idle worker ``w``; when ``w`` turns out dead, the trial waits in
    ``pool.pending`` for the next ready worker (it is RUNNING in the store, beating)."""
    if heartbeat:
        heartbeat.add(spec.handle)
    w.spec, w.started = spec, time.monotonic()
    if not pool.send(w, ("run", dataclasses.replace(spec, handle=None), engine.can_prune)):
        w.spec = None
        pool.pending.append(spec)
        _log.warning("the worker on %s died while idle; trial %d goes to the next worker", w.slot.device,
                     spec.number)
        return
    pool.stats.trials += 1
    if w.free_since is not None:
        pool.stats.worker_wait_seconds += w.started - w.free_since
    obs.on_trial_start(spec, w.slot.label)


def _serve(pool: _Pool, engine: Any, obs: SearchObserver, heartbeat: Heartbeat | None, st: PoolSettings,
           drawn: Any = None) -> int:
    """Wait up to 0.5 s for messages, deaths, timeouts and the end of a draw (``drawn``
    becomes readable); returns the trials finished."""
    finished = 0
    by_obj: dict[Any, _Worker] = {}
    for w in pool.workers.values():
        by_obj[w.conn] = w
        by_obj[w.process.sentinel] = w
    dead: list[_Worker] = []
    seen: list[Any] = wait(list(by_obj) + ([drawn] if drawn is not None else []), timeout=0.5)
    for obj in seen:
        if obj is drawn:  # the loop takes the drawn trial next
            while drawn.poll():
                drawn.recv()
            continue
        w = by_obj[obj]
        if w in dead or pool.workers.get(w.slot.index) is not w:
            continue
        if obj is w.conn:
            conn: Any = w.conn
            try:
                while pool.workers.get(w.slot.index) is w and conn.poll():
                    finished += _handle(pool, w, conn.recv(), engine, obs, heartbeat, st)
            except (EOFError, OSError):
                dead.append(w)
        elif not w.process.is_alive():
            dead.append(w)
    for w in dead:
        w.process.join(timeout=5)
        reason = _death_reason(w.process)
        if w.spec is None:
            pool.start_failures += 0 if w.free_since is not None else 1  # None: it was never ready
            if pool.start_failures > st.max_start_failures:
                raise AutomlError(f"workers keep dying before their first trial ({reason}); see the log above. "
                                  f"Workers are started with 'spawn': a script that calls automl.search with "
                                  f"several workers must do so under `if __name__ == \"__main__\":`")
            _log.warning("%s on %s (between trials); replacing it", reason, w.slot.device)
        else:
            outcome = TrialOutcome("failed", error=reason, device=w.slot.device)
            finished += _end(pool, engine, w, outcome, obs, heartbeat, retry=True)
        pool.observer.on_worker(w.slot.label, f"replacing it: {reason}")
        pool.replace(w)
    now = time.monotonic()
    for w in list(pool.workers.values()):
        if w.spec is not None and st.trial_timeout and now - w.started > st.trial_timeout:
            spec = w.spec
            pool.stop(w, kill=True)
            outcome = TrialOutcome("failed", error=f"timed out after {st.trial_timeout:g} s", device=w.slot.device)
            finished += _end(pool, engine, w, outcome, obs, heartbeat, retry=False)
            _log.warning("trial %d timed out on %s; its worker was replaced", spec.number, w.slot.device)
            pool.start(w.slot)
    return finished


def _end(pool: _Pool, engine: Engine, w: _Worker, outcome: TrialOutcome, obs: SearchObserver,
         heartbeat: Heartbeat | None, retry: bool) -> int:
    spec = w.spec
    if spec is None:
        return 0
    w.spec = None
    if heartbeat:
        heartbeat.remove(spec.handle)
    outcome.retryable = retry
    t0 = time.monotonic()
    w.free_since = t0
    _finish(engine, spec, outcome, obs)
    pool.stats.engine_seconds += time.monotonic() - t0
    if retry and outcome.state == "failed" and engine.retry(spec):
        _log.warning("trial %d will be retried with the same values", spec.number)
        pool.retries_scheduled += 1
    return 1


def _handle(pool: _Pool, w: _Worker, msg: tuple[Any, ...], engine: Engine, obs: SearchObserver,
            heartbeat: Heartbeat | None, st: PoolSettings) -> int:
    kind = msg[0]
    if kind == "ready":
        w.ready, w.free_since = True, time.monotonic()
        pool.start_failures = 0  # only workers failing to start one after another stop the search
        pool.stats.ready_after.append(w.free_since - pool.t0)
        marks = msg[2] if len(msg) > 2 else {}
        pool.stats.start_steps.append({k: round(v - pool.t0_wall, 3) for k, v in marks.items()})
        pool.observer.on_worker(w.slot.label, "idle")
        return 0
    if kind == "fatal":
        raise AutomlError(msg[1])
    if kind == "epoch" and w.spec is not None:
        _, _number, epoch, metrics = msg
        obs.on_epoch(w.spec, epoch, metrics)
        t0 = time.monotonic()
        decision = engine.report(w.spec, epoch, metrics)
        pool.stats.engine_seconds += time.monotonic() - t0
        if engine.can_prune:  # otherwise the worker goes on without waiting for an answer
            pool.send(w, ("decision", "prune" if decision == Decision.PRUNE else "continue"))
        return 0
    if kind == "done":
        _, _number, outcome_dict, _rss = msg
        outcome = TrialOutcome(**outcome_dict)
        rss = int((outcome.memory_mb or 0) * 2**20)
        done = _end(pool, engine, w, outcome, obs, heartbeat, retry=False)
        grew = w.baseline_rss is not None and rss > w.baseline_rss * (1 + st.memory_growth)
        if w.baseline_rss is None:
            w.baseline_rss = rss
        if grew or (outcome.error or "").startswith("out of memory"):
            _log.info("replacing the worker on %s (%s)", w.slot.device,
                      "out of memory" if not grew else f"memory grew to {rss / 2**20:.0f} MiB")
            pool.replace(w)
        return done
    return 0
