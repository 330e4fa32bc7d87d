"""Drawing a trial's values with the space's own code, within the trial's time limit: a
user's ``build_model`` runs in the coordinator to draw them, where no worker can be killed
to stop it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["draw"]

Config = dict[str, Any]


def draw(sample: Callable[[], Config], timeout: float | None) -> tuple[Config, str | None]:
    """``(config, None)``, or ``({}, reason)`` when ``sample`` raised or took longer than
    ``timeout`` seconds. A late ``sample`` goes on in its daemon thread; what it draws then
    is refused by the store (its trial has ended)."""
    if timeout is None:
        return _call(sample)
    box: dict[str, tuple[Config, str | None]] = {}
    thread = threading.Thread(target=lambda: box.setdefault("out", _call(sample)), name="automl-draw", daemon=True)
    thread.start()
    thread.join(timeout)
    if "out" not in box:
        return {}, (f"timed out after {timeout:g} s while drawing the hyperparameters (the space's code, such "
                    f"as build_model, runs in the coordinator to draw them)")
    return box["out"]


def _call(sample: Callable[[], Config]) -> tuple[Config, str | None]:
    try:
        return sample(), None
    except Exception as e:  # noqa: BLE001 - a user's build_model may raise anything
        from automl.runner._executor import classify_error

        return {}, f"drawing the hyperparameters failed: {classify_error(e)}"
