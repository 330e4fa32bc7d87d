"""Heartbeats for running trials, so a dead coordinator's trials are found stale."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from automl._logging import get_logger
from automl.storage._optuna_private import trial_id
from automl.storage._stale import heartbeats_on

__all__ = ["Heartbeat"]

_log = get_logger("runner")


class Heartbeat:
    """A daemon thread recording a heartbeat for every running trial each ``interval`` seconds
    (and calling ``on_beat``: the engine's own beat).

    Does nothing when the storage has heartbeats off.
    """

    def __init__(self, storage: Any, interval: float | None, on_beat: Callable[[], None] | None = None) -> None:
        self.storage = storage
        self.interval = interval
        self.on_beat = on_beat
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if interval and heartbeats_on(storage):
            self._thread = threading.Thread(target=self._run, name="automl-heartbeat", daemon=True)
            self._thread.start()

    def add(self, trial: Any) -> None:
        if self._thread is None or trial is None:
            return
        tid = trial_id(trial)
        with self._lock:
            self._ids.add(tid)
        self.storage.record_heartbeat(tid)

    def remove(self, trial: Any) -> None:
        if trial is None:
            return
        with self._lock:
            self._ids.discard(trial_id(trial))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = list(self._ids)
            for tid in ids:
                try:
                    self.storage.record_heartbeat(tid)
                except Exception as e:  # noqa: BLE001 - a missed beat is not fatal; the next may pass
                    _log.debug("heartbeat for trial %s failed: %s", tid, e)
            if self.on_beat is not None:
                try:
                    self.on_beat()
                except Exception as e:  # noqa: BLE001 - as above
                    _log.debug("the engine's heartbeat failed: %s", e)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
