"""The Ray trial backend: persistent worker actors on a Ray cluster's nodes.

The coordinator stays this one process, owning the engine and the store (the loop in
:mod:`automl.runner._loop`); each slot is an actor that trains trial after trial, as a
pool worker does. The data is put in Ray's object store once, so it reaches each node
once; epochs stream back through a Ray queue and are answered (pruning) per actor.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from multiprocessing.connection import wait
from typing import Any

from automl._logging import get_logger
from automl.data import Dataset
from automl.engines._base import Decision, TrialOutcome, TrialSpec
from automl.errors import UsageError
from automl.runner._backend import Died, Done, EpochAnswer, Event, Fatal, Ready, WorkerState
from automl.runner._pool import PoolSettings, outgrew
from automl.runner._slots import AUTO_TRIALS_PER_GPU, Slot
from automl.space import SearchSpace

__all__ = ["RayBackend", "connect", "ray_slots"]

_log = get_logger("runner")
_GROW_EVERY = 5.0  # seconds between looks at the cluster's resources (nodes joining)
_QUEUE_PATIENCE = 30.0  # seconds the epoch queue may stay unreachable before it counts as lost


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("--cluster needs Ray: pip install 'automl[ray]'") from None
    return ray


def connect(address: str) -> bool:
    """Join the Ray cluster at ``address`` (``auto``, ``ray://HOST:PORT`` or ``HOST:PORT``);
    True when this call connected (so closing disconnects)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False, include_dashboard=False)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise UsageError(f"could not reach the Ray cluster at {address!r}: {str(e).splitlines()[0][:300]}") from None
    return True


def ray_slots(resources: dict[str, float], trials_per_gpu: int | str, workers: int | None,
              gpus_per_trial: int = 1, node_gpus: list[float] | None = None) -> tuple[int, float]:
    """How many actors the cluster's ``resources`` hold, and the GPUs each asks for: K per
    GPU (``auto``: 4), N GPUs each with ``gpus_per_trial`` N > 1 (an actor's GPUs are on one
    node: ``node_gpus``, each live node's, decides), else one per CPU; at most ``workers``."""
    gpus = int(resources.get("GPU", 0))
    if gpus_per_trial > 1:
        n = sum(int(g) // gpus_per_trial for g in (node_gpus if node_gpus is not None else [gpus]))
        if n < 1:
            raise UsageError(f"--gpus-per-trial {gpus_per_trial} needs {gpus_per_trial} GPUs on one node; the Ray "
                             f"cluster's nodes have {', '.join(str(int(g)) for g in (node_gpus or [gpus]))}")
        share = float(gpus_per_trial)
    elif gpus:
        k = AUTO_TRIALS_PER_GPU if trials_per_gpu == "auto" else int(trials_per_gpu)
        n, share = gpus * k, 1.0 / k
    else:
        n, share = max(int(resources.get("CPU", 1)), 1), 0.0
    return (min(n, workers) if workers else n), share


def _warn_if_mapped(data: Dataset) -> None:
    from automl.data._mapped import is_mapped

    arrays = [getattr(data, n) for n in ("x_train", "y_train", "x_val", "y_val")]
    if any(is_mapped(a) for a in arrays):
        size = sum(int(getattr(a, "nbytes", 0)) for a in arrays)
        _log.warning("the data is memory-mapped from its files, but on a Ray cluster it is copied into Ray's "
                     "object store whole (%.0f MiB at least): that store must hold it", size / 2**20)


class EpochQueueLost(RuntimeError):
    """A trial's epochs could not reach the coordinator's queue (its node was lost): the
    worker is lost, and its trial runs again, rather than the trial failing with Ray's error."""


class _TrialActor:
    """One slot's worker, in its Ray worker process: ``start`` imports Keras and takes the
    data, ``run`` trains one trial (its epochs go to the coordinator's queue), ``decide``
    answers an epoch while ``run`` waits, ``alive`` returns only when the actor stops (so
    the coordinator sees an idle actor die)."""

    def __init__(self, index: int, space: Any, data: Any, backend: str | None, seed: int, events: Any,
                 data_on_device: bool) -> None:
        self.index, self.space, self.data, self.backend, self.seed = index, space, data, backend, seed
        self.events, self.data_on_device = events, data_on_device
        self.answers: dict[tuple[int, int], str] = {}
        self.answered = threading.Condition()
        self.stopped = threading.Event()
        self.executor: Any = None

    def start(self) -> dict[str, Any]:
        import ray

        from automl.model import configure_backend, import_keras
        from automl.model._backend import resolve_backend
        from automl.runner._executor import InProcessExecutor

        marks = {"entered": time.time()}
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        configure_backend(resolve_backend(self.backend))
        import_keras(self.backend, skip_optional=True)
        marks["keras"] = time.time()
        gpus = [int(float(g)) for g in ray.get_gpu_ids()]
        device = "gpu:" + "+".join(map(str, gpus)) if gpus else "cpu"
        node = ray.get_runtime_context().get_node_id()[:8]
        self.executor = InProcessExecutor(self.space, self.data, backend=self.backend, seed=self.seed,
                                          device=f"{device}@{node}", freeze_gc=True,
                                          data_on_device=self.data_on_device and bool(gpus),
                                          devices=max(len(gpus), 1))
        self.executor.place_data()
        marks["placed"] = time.time()
        return {"marks": marks, "where": f"node {node} {device}"}

    def run(self, spec: TrialSpec, can_prune: bool) -> dict[str, Any]:
        import ray

        lost: list[Exception] = []

        def on_epoch(epoch: int, metrics: dict[str, float]) -> Decision:
            try:
                self.events.put((self.index, spec.number, epoch, metrics))
            except ray.exceptions.RayError as e:  # the queue's node lost: the trial ends, and not as its own failure
                lost.append(e)
                raise
            if not can_prune:
                return Decision.CONTINUE
            with self.answered:
                self.answered.wait_for(lambda: (spec.number, epoch) in self.answers or self.stopped.is_set())
                answer = self.answers.pop((spec.number, epoch), "continue")
            return Decision.PRUNE if answer == "prune" else Decision.CONTINUE

        outcome = self.executor.run(spec, on_epoch)
        if lost:
            raise EpochQueueLost(type(lost[0]).__name__)
        return dataclasses.asdict(outcome)

    def decide(self, number: int, epoch: int, decision: str) -> None:
        with self.answered:
            self.answers[(number, epoch)] = decision
            self.answered.notify_all()

    def alive(self) -> None:
        self.stopped.wait()


@dataclasses.dataclass
class _Actor:
    slot: Slot
    handle: Any
    started: Any  # the ref of ``start``, until it is ready
    watch: Any  # the ref of ``alive``: fails when the actor dies
    ready: bool = False
    run: Any = None  # the ref of the running trial's ``run``
    number: int | None = None
    can_prune: bool = True
    baseline_rss: int | None = None


class RayBackend:
    """Trials on Ray actors (:class:`TrialBackend`), one per slot; slots are planned from the
    cluster's resources (:func:`ray_slots`) and grow when nodes join."""

    concurrent = True

    def __init__(self, address: str, space: SearchSpace, data: Dataset, settings: PoolSettings | None = None,
                 trials_per_gpu: int | str = "auto", workers: int | None = None, gpus_per_trial: int = 1) -> None:
        self.ray = _ray()
        self.settings = settings or PoolSettings()
        self.trials_per_gpu, self.workers, self.gpus_per_trial = trials_per_gpu, workers, gpus_per_trial
        self._connected = connect(address)
        self.t0, self.t0_wall = time.monotonic(), time.time()
        self.actors: dict[int, _Actor] = {}
        self.queue: list[Event] = []
        self.slots: list[Slot] = []
        self._next_look = 0.0
        self._queue_down_since: float | None = None
        self._queues = 0
        try:
            self.events_queue: Any = self._new_queue()
            _warn_if_mapped(data)
            t0 = time.monotonic()
            self.data_ref = self.ray.put(data)
            self.space = space
            self.setup_seconds = time.monotonic() - t0
            n, self.share = ray_slots(self.ray.cluster_resources(), trials_per_gpu, workers, gpus_per_trial,
                                      self._node_gpus())
            self.actor_class = self.ray.remote(max_concurrency=3)(_TrialActor)
            for i in range(n):
                self._start(Slot(i, None, pool="ray"))
        except BaseException:
            self.close()
            raise

    def _new_queue(self) -> Any:
        """The queue epochs come back through, on this process's node: it outlives any worker
        node that is lost; named, so that ``ray list actors`` shows whose it is."""
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._queues += 1
        here = NodeAffinitySchedulingStrategy(self.ray.get_runtime_context().get_node_id(), soft=True)
        name = f"automl-epochs-{os.getpid()}-{id(self):x}-{self._queues}"
        return Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here, "name": name})

    def _node_gpus(self) -> list[float]:
        """Each live node's GPUs (an actor's GPUs are on one node)."""
        return [float(n.get("Resources", {}).get("GPU", 0)) for n in self.ray.nodes() if n.get("Alive")]

    def _start(self, slot: Slot) -> None:
        options: dict[str, Any] = {"num_gpus": self.share, "num_cpus": 0 if self.share else 1,
                                   "name": None, "max_restarts": 0}
        handle = self.actor_class.options(**options).remote(
            slot.index, self.space, self.data_ref, self.settings.backend, self.settings.seed, self.events_queue,
            self.settings.data_on_device)
        self.actors[slot.index] = _Actor(slot, handle, handle.start.remote(), handle.alive.remote())
        if slot not in self.slots:
            self.slots.append(slot)
        self.queue.append(WorkerState(slot, "starting (waiting for the cluster, importing Keras)"))

    def _kill(self, a: _Actor) -> None:
        try:
            self.ray.kill(a.handle, no_restart=True)
        except Exception as e:  # noqa: BLE001 - gone already (its node was lost)
            _log.debug("actor for %s: %s", a.slot.label, e)

    def start(self, slot: Slot, spec: TrialSpec, can_prune: bool) -> bool:
        a = self.actors[slot.index]
        try:
            a.run = a.handle.run.remote(dataclasses.replace(spec, handle=None), can_prune)
        except self.ray.exceptions.RayError:  # lost already: its ``alive`` call reports it
            return False
        a.number, a.can_prune = spec.number, can_prune
        return True  # a dead actor's run fails at once: reported as its death

    def abort(self, slot: Slot) -> None:
        self._kill(self.actors[slot.index])
        self._start(slot)

    def retire(self, slot: Slot) -> None:
        self._kill(self.actors.pop(slot.index))

    def close(self) -> None:
        for a in self.actors.values():
            self._kill(a)
        self.actors.clear()
        queue = getattr(self, "events_queue", None)
        if queue is not None:
            queue.shutdown()
            self.events_queue = None
        if self._connected:
            self.ray.shutdown()
            self._connected = False

    def events(self, timeout: float, on_epoch: EpochAnswer, wake: list[Any]) -> list[Event]:
        """Look every 20 ms, up to ``timeout`` s, for actors started, trials done, actors
        dead and epochs reported (or one of ``wake``); what happened."""
        deadline = time.monotonic() + timeout
        while True:
            self._grow()
            refs: dict[Any, _Actor] = {}
            for a in self.actors.values():
                for ref in (a.started, a.run, a.watch):
                    if ref is not None:
                        refs[ref] = a
            done, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=0) if refs else ([], [])
            self._epochs(on_epoch)  # drained after the waits: a trial's epochs come before its end
            for ref in done:
                a = refs[ref]
                if self.actors.get(a.slot.index) is a:
                    self._finished(a, ref)
            if self.queue or time.monotonic() >= deadline or (wake and wait(wake, 0)):
                out, self.queue = self.queue, []
                return out
            time.sleep(0.02)

    def _epochs(self, on_epoch: EpochAnswer) -> None:
        queue = self.events_queue
        try:
            n = queue.size()
            batch = queue.get_nowait_batch(n) if n else []
        except self.ray.exceptions.RayActorError as e:
            self._queue_failed(e)
            return
        self._queue_down_since = None
        for index, number, epoch, metrics in batch:
            a = self.actors.get(index)
            if a is None or a.number != number:
                continue  # its trial ended already (timed out, or its actor died)
            decision = on_epoch(a.slot, epoch, metrics)
            if a.can_prune:
                try:
                    a.handle.decide.remote(number, epoch, decision.value)
                except self.ray.exceptions.RayError:  # lost meanwhile: its death is reported by its calls
                    _log.debug("actor for %s is gone; its decision is dropped", a.slot.label)

    def _queue_failed(self, e: Exception) -> None:
        """The epoch queue did not answer: wait out a passing outage (``ActorUnavailableError``:
        a node of the cluster going down resets connections), else replace the queue and the
        workers that hold it; their trials fail as lost and run again."""
        now = time.monotonic()
        if isinstance(e, self.ray.exceptions.ActorUnavailableError):
            if self._queue_down_since is None:
                self._queue_down_since = now
                _log.debug("the epoch queue is unreachable for now: %s", e)
            if now - self._queue_down_since < _QUEUE_PATIENCE:
                return
        _log.warning("the epoch queue on the Ray cluster was lost (%s); replacing it and its workers",
                     type(e).__name__)
        old, self._queue_down_since = self.events_queue, None
        self.events_queue = self._new_queue()
        with contextlib.suppress(Exception):
            self.ray.kill(old.actor, no_restart=True)
        for a in list(self.actors.values()):
            self.queue.append(Died(a.slot, f"worker lost: its epoch queue was lost ({type(e).__name__})", True))
            self._kill(a)
            self._start(a.slot)

    def _finished(self, a: _Actor, ref: Any) -> None:
        ray = self.ray
        try:
            value = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as e:
            self._died(a, f"worker died: its Ray actor was lost ({type(e).__name__}; node lost, or killed)")
            return
        except ray.exceptions.RayTaskError as e:
            if isinstance(e.cause, EpochQueueLost):
                self._died(a, f"worker lost: its epoch queue was lost ({e.cause}; node lost)")
                return
            if ref is a.started:
                self.queue.append(Fatal(f"worker on the Ray cluster could not start: {e.cause!r}"[:800]))
            else:
                self._died(a, f"worker died: {type(e.cause).__name__}: {e.cause}"[:500])
            return
        if ref is a.started:
            a.started, a.ready = None, True
            self.queue.append(WorkerState(a.slot, f"idle on {value['where']}"))
            self.queue.append(Ready(a.slot, time.monotonic() - self.t0,
                                    {k: round(v - self.t0_wall, 3) for k, v in value["marks"].items()}))
        elif ref is a.run:
            outcome = TrialOutcome(**value)
            a.run, a.number = None, None
            rss = int((outcome.memory_mb or 0) * 2**20)
            grew = outgrew(a.baseline_rss, rss, self.settings.memory_growth)
            if a.baseline_rss is None:
                a.baseline_rss = rss
            replace = grew or (outcome.error or "").startswith("out of memory")
            self.queue.append(Done(a.slot, outcome, idle=not replace))
            if replace:
                self._kill(a)
                self._start(a.slot)

    def _died(self, a: _Actor, reason: str) -> None:
        self.queue.append(Died(a.slot, reason, a.ready))
        self._kill(a)
        self._start(a.slot)

    def _grow(self) -> None:
        """Add slots when the cluster gained resources (nodes joined)."""
        now = time.monotonic()
        if now < self._next_look:
            return
        self._next_look = now + _GROW_EVERY
        n, share = ray_slots(self.ray.cluster_resources(), self.trials_per_gpu, self.workers, self.gpus_per_trial,
                            self._node_gpus())
        if share != self.share:
            return  # GPUs appeared on a CPU cluster (or went): keep the slots as planned
        for i in range(len(self.slots), n):
            _log.info("the Ray cluster grew: adding slot %d", i)
            self._start(Slot(i, None, pool="ray"))
