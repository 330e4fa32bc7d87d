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
    assert len(plan_slots("auto", "auto", None, available=[0, 1, 2, 3, 4, 5, 6, 7], cpus=128)) == 32
    assert [s.gpu for s in plan_slots("auto", 4, 3, available=[0, 1])] == [0, 1, 0]


@pytest.mark.parametrize("gpus,cpus,per_gpu", [("0", 16, 4), ("0", 64, 4), ("0,1", 32, 4), ("0,1", 16, 2),
                                               ("0", 8, 2), ("0", 2, 1), ("0,1", 2, 1)])
def test_auto_leaves_each_worker_four_cores(gpus: str, cpus: int, per_gpu: int) -> None:
    slots = plan_slots(gpus, "auto", None, available=[0, 1], cpus=cpus)
    n_gpus = len(gpus.split(","))
    assert len(slots) == per_gpu * n_gpus
    assert {s.gpu for s in slots} == {int(g) for g in gpus.split(",")}
    # An explicit K is taken as given, whatever the cores.
    assert len(plan_slots(gpus, 8, None, available=[0, 1], cpus=cpus)) == 8 * n_gpus


@pytest.mark.parametrize("gpus,k,workers,words", [("2", 1, None, "GPU 2 not found"), ("0,0", 1, None, "distinct"),
                                                  ("x", 1, None, "auto, none or a list"),
                                                  ("0", 0, None, "at least 1"), ("none", 1, 0, "at least 1")])
def test_bad_settings(gpus: str, k: int, workers: int | None, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        plan_slots(gpus, k, workers, available=[0, 1])


def test_a_trial_on_several_gpus_owns_them() -> None:
    slots = plan_slots("auto", "auto", None, available=[0, 1, 2, 3], gpus_per_trial=2)
    assert [s.gpu_ids for s in slots] == [(0, 1), (2, 3)]
    assert [s.cuda_visible_devices for s in slots] == ["0,1", "2,3"] and slots[0].devices == 2
    assert slots[1].device == "gpu:2+3"
    # GPUs that do not make a whole group stay idle; --workers caps the groups
    assert [s.gpu_ids for s in plan_slots("0,1,2", "auto", None, available=[0, 1, 2], gpus_per_trial=2)] == [(0, 1)]
    assert len(plan_slots("auto", 1, 1, available=[0, 1, 2, 3], gpus_per_trial=2)) == 1


@pytest.mark.parametrize("available,k,words", [([], "auto", "needs 2 GPUs; this machine has none"),
                                               ([0], "auto", "needs 2 GPUs; this machine has 0"),
                                               ([0, 1], 2, "leave out --trials-per-gpu")])
def test_several_gpus_a_trial_refused_where_they_cannot_be(available: list[int], k: int | str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        plan_slots("auto", k, None, available=available, gpus_per_trial=2)
