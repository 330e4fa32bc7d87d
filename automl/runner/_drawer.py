"""The next trial, drawn beside the coordinator's loop instead of inside it.

Drawing a trial's values runs the space's own code (a user's ``build_model``) in the
coordinator. Inside the loop, a slow one held every worker's epoch reports, pruning
decisions and results until it returned. Here it runs in a thread of its own, one draw at
a time, while the loop goes on serving the workers.

The engine is not thread-safe (KerasTuner's Oracle least of all), so the loop and the
drawer share it through :class:`LockedEngine`: one engine call at a time, except while the
space's code runs (:func:`automl.engines._draw.draw` lets go of the lock then), where
only the trial being drawn is touched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from multiprocessing import Pipe
from typing import Any

from automl.engines._base import TrialSpec
from automl.engines._draw import released_while_drawing

__all__ = ["Drawer", "LockedEngine"]


class LockedEngine:
    """``engine`` with every method call (and attribute read) under one lock."""

    def __init__(self, engine: Any) -> None:
        object.__setattr__(self, "_engine", engine)
        object.__setattr__(self, "lock", threading.RLock())

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._engine, name)
        if not callable(attr):
            return attr
        lock = self.lock

        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return attr(*args, **kwargs)

        return locked

    def __setattr__(self, name: str, value: Any) -> None:
        with self.lock:
            setattr(self._engine, name, value)


class Drawer:
    """One draw at a time in a daemon thread; :attr:`ready` is a connection that becomes
    readable when a draw ends (the loop waits on it with the workers' pipes). ``inline``:
    draw in the caller's thread instead (nothing else runs meanwhile: trials run in the
    loop's own thread)."""

    def __init__(self, engine: LockedEngine, inline: bool = False) -> None:
        self.engine = engine
        self.inline = inline
        self.ready, self._signal = Pipe(duplex=False)
        self._thread: threading.Thread | None = None
        self._box: dict[str, Any] = {}
        self.label = ""  # the slot the draw was started for (named if it fails)
        self.seconds = 0.0  # spent drawing, in the engine and the space's code

    @property
    def running(self) -> bool:
        return self._thread is not None and "out" not in self._box

    @property
    def done(self) -> bool:
        return self._thread is not None and "out" in self._box

    def start(self, ask: Callable[[], TrialSpec | None], label: str) -> None:
        assert self._thread is None, "one draw at a time"
        self._box, self.label = {}, label

        def run() -> None:
            t0 = time.monotonic()
            try:
                with released_while_drawing(self.engine.lock):
                    self._box["value"] = ask()
            except BaseException as e:  # noqa: BLE001 - raised again in the loop's thread by take()
                self._box["error"] = e
            self.seconds += time.monotonic() - t0
            self._box["out"] = True
            try:
                self._signal.send(True)
            except OSError:  # closed: the loop has ended
                pass

        self._thread = threading.Thread(target=run, name="automl-drawer", daemon=True)
        if self.inline:
            run()
        else:
            self._thread.start()

    def take(self) -> TrialSpec | None:
        """The drawn trial (None: nothing more to run); raises what the draw raised."""
        assert self.done
        self._thread = None
        while self.ready.poll():
            self.ready.recv()
        if "error" in self._box:
            raise self._box["error"]
        value: TrialSpec | None = self._box["value"]
        return value

    def finish(self, within: float) -> TrialSpec | None:
        """At the end of a search: the trial a running draw makes within ``within`` seconds
        (for the caller to record), else None (a draw still in the space's code then leaves
        its trial RUNNING without heartbeats: it is failed as stale and retried later)."""
        if self._thread is None:
            return None
        if not self.inline:
            self._thread.join(within)
        if not self.done:
            return None
        try:
            return self.take()
        except BaseException:  # noqa: BLE001 - the search is ending already
            return None

    def close(self) -> None:
        self.ready.close()
        self._signal.close()
