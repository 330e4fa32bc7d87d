"""Drawing a trial's values with the space's own code, within the trial's time limit: a
user's ``build_model`` runs in the coordinator to draw them, where no worker can be killed
to stop it."""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from automl.space import HP

__all__ = ["draw", "DrawAbandoned", "released_while_drawing"]

Config = dict[str, Any]
_here = threading.local()


@contextlib.contextmanager
def released_while_drawing(lock: Any) -> Iterator[None]:
    """In this thread, :func:`draw` lets go of ``lock`` (held once, by this thread's engine
    call) while the space's code runs: the coordinator's loop then serves its workers through
    the engine (``automl.runner._drawer``)."""
    _here.lock = lock
    try:
        yield
    finally:
        _here.lock = None


@contextlib.contextmanager
def _released() -> Iterator[None]:
    lock = getattr(_here, "lock", None)
    if lock is None:
        yield
        return
    lock.release()
    try:
        yield
    finally:
        lock.acquire()


class DrawAbandoned(RuntimeError):
    """Raised into a draw that went on after its trial was given up."""


class _Guarded(HP):
    """``hp`` until the draw is given up; from then on every call raises, so a late
    ``build_model`` draws nothing more into the store, the sampler's random state or the
    next trial's replayed values (KerasTuner's)."""

    def __init__(self, hp: HP, abandoned: threading.Event) -> None:
        self.hp, self.abandoned = hp, abandoned

    def _check(self) -> None:
        if self.abandoned.is_set():
            raise DrawAbandoned("this trial was given up: its time limit passed while drawing its values")

    def int(self, name: str, low: builtins.int, high: builtins.int, *, step: builtins.int = 1,
            log: builtins.bool = False) -> builtins.int:
        self._check()
        return self.hp.int(name, low, high, step=step, log=log)

    def float(self, name: str, low: builtins.float, high: builtins.float, *,
              step: builtins.float | None = None, log: builtins.bool = False) -> builtins.float:
        self._check()
        return self.hp.float(name, low, high, step=step, log=log)

    def choice(self, name: str, values: Sequence[Any]) -> Any:
        self._check()
        return self.hp.choice(name, values)

    def bool(self, name: str) -> builtins.bool:
        self._check()
        return self.hp.bool(name)

    @contextlib.contextmanager
    def conditional(self, parent: str, values: Sequence[Any]) -> Iterator[None]:
        self._check()
        with self.hp.conditional(parent, values):
            yield


def draw(sample: Callable[[HP], Config], hp: HP, timeout: float | None) -> tuple[Config, str | None]:
    """``(sample(hp), None)``, or ``({}, reason)`` when ``sample`` raised or took longer than
    ``timeout`` seconds. A late ``sample`` goes on in its daemon thread, but whatever it
    asks of ``hp`` from then on raises :class:`DrawAbandoned`."""
    with _released():
        return _draw(sample, hp, timeout)


def _draw(sample: Callable[[HP], Config], hp: HP, timeout: float | None) -> tuple[Config, str | None]:
    if timeout is None:
        return _call(sample, hp)
    abandoned = threading.Event()
    guarded = _Guarded(hp, abandoned)
    box: dict[str, tuple[Config, str | None]] = {}
    thread = threading.Thread(target=lambda: box.setdefault("out", _call(sample, guarded)), name="automl-draw",
                              daemon=True)
    thread.start()
    thread.join(timeout)
    if "out" not in box:
        abandoned.set()
        return {}, (f"timed out after {timeout:g} s while drawing the hyperparameters (the space's code, such "
                    f"as build_model, runs in the coordinator to draw them)")
    return box["out"]


def _call(sample: Callable[[HP], Config], hp: HP) -> tuple[Config, str | None]:
    try:
        return sample(hp), None
    except Exception as e:  # noqa: BLE001 - a user's build_model may raise anything
        from automl.runner._executor import classify_error

        return {}, f"drawing the hyperparameters failed: {classify_error(e)}"
