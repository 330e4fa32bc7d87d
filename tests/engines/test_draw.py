"""Drawing a trial's values with the space's code, bounded in time (automl/engines/_draw.py)."""

from __future__ import annotations

import threading
import time

from automl.engines._draw import draw


def test_values_drawn_in_time_and_errors_classified() -> None:
    assert draw(lambda: {"units": 8}, None) == ({"units": 8}, None)
    assert draw(lambda: {"units": 8}, 5.0) == ({"units": 8}, None)

    def oom() -> dict[str, int]:
        raise MemoryError("cannot allocate 8 GiB")

    config, error = draw(oom, 5.0)
    assert config == {} and error == "drawing the hyperparameters failed: out of memory: MemoryError: cannot allocate 8 GiB"


def test_a_draw_past_its_limit_is_given_up() -> None:
    release = threading.Event()
    t0 = time.monotonic()
    config, error = draw(lambda: {"late": release.wait(30)}, 0.5)
    assert time.monotonic() - t0 < 5
    assert config == {} and error is not None and error.startswith("timed out after 0.5 s while drawing")
    release.set()
