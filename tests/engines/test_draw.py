"""Drawing a trial's values with the space's code, bounded in time (automl/engines/_draw.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

from automl.engines._draw import DrawAbandoned, draw
from automl.space import FixedHP, HP


def test_values_drawn_in_time_and_errors_classified() -> None:
    assert draw(lambda hp: {"units": hp.int("units", 8, 16)}, FixedHP({"units": 8}), None) == ({"units": 8}, None)
    assert draw(lambda hp: {"units": hp.int("units", 8, 16)}, FixedHP({"units": 8}), 5.0) == ({"units": 8}, None)

    def oom(hp: HP) -> dict[str, int]:
        raise MemoryError("cannot allocate 8 GiB")

    config, error = draw(oom, FixedHP({}), 5.0)
    assert config == {}
    assert error == "drawing the hyperparameters failed: out of memory: MemoryError: cannot allocate 8 GiB"


def test_a_draw_past_its_limit_is_given_up_and_draws_nothing_more() -> None:
    """The late draw once went on writing into the engine's shared state (KerasTuner's
    replayed values of the next trial, the sampler's random state)."""
    release, late = threading.Event(), threading.Event()
    drawn: list[Any] = []

    def slow(hp: HP) -> dict[str, Any]:
        release.wait(30)
        try:
            drawn.append(hp.int("units", 8, 16))
        except DrawAbandoned:
            drawn.append("refused")
        late.set()
        return {}

    t0 = time.monotonic()
    config, error = draw(slow, FixedHP({"units": 8}), 0.5)
    assert time.monotonic() - t0 < 5
    assert config == {} and error is not None and error.startswith("timed out after 0.5 s while drawing")
    release.set()
    assert late.wait(10) and drawn == ["refused"]
