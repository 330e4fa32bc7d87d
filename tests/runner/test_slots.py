"""Device slot planning, with the GPU list injected (no GPU needed)."""

from __future__ import annotations

import pytest

from automl.errors import UsageError
from automl.runner._slots import Slot, plan_slots


def test_cpu_only() -> None:
    assert plan_slots("auto", "auto", None, available=[]) == [Slot(0, None)]
    assert [s.device for s in plan_slots("none", 4, 3, available=[0, 1])] == ["cpu"] * 3
    assert Slot(0, None).cuda_visible_devices == ""


def test_gpus_are_filled_round_robin() -> None:
    slots = plan_slots("auto", 2, None, available=[0, 1])
    assert [s.gpu for s in slots] == [0, 1, 0, 1]
    assert [s.cuda_visible_devices for s in slots] == ["0", "1", "0", "1"]
    assert [s.device for s in plan_slots("1", 3, None, available=[0, 1])] == ["gpu:1"] * 3
    assert len(plan_slots("auto", "auto", None, available=[0, 1, 2, 3, 4, 5, 6, 7])) == 32
    assert [s.gpu for s in plan_slots("auto", 4, 3, available=[0, 1])] == [0, 1, 0]


@pytest.mark.parametrize("gpus,k,workers,words", [("2", 1, None, "GPU 2 not found"), ("0,0", 1, None, "distinct"),
                                                  ("x", 1, None, "auto, none or a list"),
                                                  ("0", 0, None, "at least 1"), ("none", 1, 0, "at least 1")])
def test_bad_settings(gpus: str, k: int, workers: int | None, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        plan_slots(gpus, k, workers, available=[0, 1])
