"""The process-pool trial backend: one persistent worker process per device slot.

The coordinator (this process) owns the engine and the store; workers only train and
talk to it over pipes. A worker that dies is replaced (the loop fails its trial and
retries it); a trial past its time limit is stopped by killing its worker; a worker
whose memory grew past its bound is replaced between trials.
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
from typing import Any

from automl._logging import get_logger
from automl.data import Dataset
from automl.engines._base import Decision, TrialOutcome, TrialSpec
from automl.runner._backend import Died, Done, EpochAnswer, Event, Fatal, Ready, WorkerState
from automl.runner._slots import Slot
from automl.runner._worker import data_folder, save_arrays, worker_main
from automl.space import SearchSpace

__all__ = ["ProcessPoolBackend", "PoolSettings", "outgrew"]

_log = get_logger("runner")

_SPAWN_HINT = ("Workers are started with 'spawn': a script that calls automl.search with several workers must do "
               "so under `if __name__ == \"__main__\":`")


@dataclasses.dataclass
class PoolSettings:
    """``memory_growth``: a worker is replaced when its memory exceeds (1 + growth) × what it
    held after its first trial. ``data_on_device``: GPU workers on JAX keep the data on
    their GPU (``InProcessExecutor``), for more trials a minute (benchmarks/README.md).
    ``share_programs``: on JAX, trials of one architecture run the same compiled programs
    (off: each compiles its own, as before; for benchmarks/throughput.py's comparison)."""

    backend: str | None = None
    seed: int = 0
    memory_growth: float = 0.2
    data_on_device: bool = True
    share_programs: bool = True


def outgrew(baseline_rss: int | None, rss: int, growth: float) -> bool:
    """Whether a worker's memory after a trial is past its bound: (1 + ``growth``) × what it
    held after its first trial (a slow leak of the frameworks, cut by replacing it)."""
    return baseline_rss is not None and rss > baseline_rss * (1 + growth)


@dataclasses.dataclass
class _Worker:
    slot: Slot
    process: Any
    conn: Any
    ready: bool = False
    ever_ready: bool = False
    busy: bool = False
    can_prune: bool = True
    baseline_rss: int | None = None


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
        self.queue: list[Event] = []  # what happened, for the next ``events``
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
        """Send ``msg`` to ``w``; False when it is dead (its death is reported by
        :meth:`ProcessPoolBackend.events`, which sees its process end, whenever it died:
        starting, idle or training)."""
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
                                   self.settings.seed, self.settings.data_on_device,
                                   self.settings.share_programs), daemon=True)
        with _sigint_ignored():
            p.start()
        child.close()
        w = self.workers[slot.index] = _Worker(slot, p, parent)
        self.queue.append(WorkerState(slot, "starting (importing Keras)"))
        if self.meta is not None:
            self._send_data(w)

    def retire(self, w: _Worker) -> None:
        """Let an idle worker exit now, while other workers finish the last trials."""
        del self.workers[w.slot.index]
        self._ask_to_stop(w)
        self.retired.append(w)

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


class ProcessPoolBackend:
    """Trials on persistent worker processes, one per slot (:class:`TrialBackend`). The
    workers start at once; the data is written for them while they import Keras."""

    concurrent = True

    def __init__(self, slots: list[Slot], space: SearchSpace, data: Dataset,
                 settings: PoolSettings | None = None) -> None:
        self.slots = list(slots)
        self.settings = settings or PoolSettings()
        self.setup_seconds = 0.0
        self._exit = contextlib.ExitStack()
        self._pool = _Pool(self.slots, space, self.settings)
        try:
            folder = self._exit.enter_context(data_folder())
            t0 = time.monotonic()
            meta = save_arrays(data, folder)
            self.setup_seconds = time.monotonic() - t0
            self._pool.share_data(meta)
        except BaseException:
            self.close()
            raise

    def start(self, slot: Slot, spec: TrialSpec, can_prune: bool) -> bool:
        w = self._pool.workers[slot.index]
        w.can_prune = can_prune
        w.busy = self._pool.send(w, ("run", dataclasses.replace(spec, handle=None), can_prune))
        return w.busy

    def abort(self, slot: Slot) -> None:
        self._pool.stop(self._pool.workers[slot.index], kill=True)
        self._pool.start(slot)

    def retire(self, slot: Slot) -> None:
        self._pool.retire(self._pool.workers[slot.index])

    def close(self) -> None:
        self._pool.close()
        self._exit.close()

    def events(self, timeout: float, on_epoch: EpochAnswer, wake: list[Any]) -> list[Event]:
        """Wait up to ``timeout`` s for messages, deaths (or one of ``wake``); what happened."""
        pool = self._pool
        by_obj: dict[Any, _Worker] = {}
        for w in pool.workers.values():
            by_obj[w.conn] = w
            by_obj[w.process.sentinel] = w
        dead: list[_Worker] = []
        for obj in wait(list(by_obj) + wake, timeout=0 if pool.queue else timeout):
            w_ = by_obj.get(obj)
            if w_ is None or w_ in dead or pool.workers.get(w_.slot.index) is not w_:
                continue
            if obj is w_.conn:
                conn: Any = w_.conn
                try:
                    while pool.workers.get(w_.slot.index) is w_ and conn.poll():
                        self._handle(w_, conn.recv(), on_epoch)
                except (EOFError, OSError):
                    dead.append(w_)
            elif not w_.process.is_alive():
                dead.append(w_)
        for w in dead:
            w.process.join(timeout=5)
            pool.queue.append(Died(w.slot, _death_reason(w.process), w.ever_ready, hint=_SPAWN_HINT))
            pool.replace(w)
        out, pool.queue = pool.queue, []
        return out

    def _handle(self, w: _Worker, msg: tuple[Any, ...], on_epoch: EpochAnswer) -> None:
        pool, kind = self._pool, msg[0]
        if kind == "ready":
            w.ready = w.ever_ready = True
            marks = msg[2] if len(msg) > 2 else {}
            pool.queue.append(Ready(w.slot, time.monotonic() - pool.t0,
                                    {k: round(v - pool.t0_wall, 3) for k, v in marks.items()}))
        elif kind == "fatal":
            pool.queue.append(Fatal(msg[1]))
        elif kind == "epoch" and w.busy:
            _, _number, epoch, metrics = msg
            decision = on_epoch(w.slot, epoch, metrics)
            if w.can_prune:  # otherwise the worker goes on without waiting for an answer
                pool.send(w, ("decision", "prune" if decision == Decision.PRUNE else "continue"))
        elif kind == "done":
            _, _number, outcome_dict, _rss = msg
            w.busy = False
            outcome = TrialOutcome(**outcome_dict)
            rss = int((outcome.memory_mb or 0) * 2**20)
            grew = outgrew(w.baseline_rss, rss, self.settings.memory_growth)
            if w.baseline_rss is None:
                w.baseline_rss = rss
            replace = grew or (outcome.error or "").startswith("out of memory")
            pool.queue.append(Done(w.slot, outcome, idle=not replace))
            if replace:
                _log.info("replacing the worker on %s (%s)", w.slot.device,
                          "out of memory" if not grew else f"memory grew to {rss / 2**20:.0f} MiB")
                pool.replace(w)
