"""Device slots: which worker runs on which GPU (or the CPU). Testable without GPUs."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from automl.errors import UsageError

__all__ = ["Slot", "runs_in_process", "detect_gpus", "plan_slots", "cpu_count", "auto_trials_per_gpu",
           "AUTO_TRIALS_PER_GPU", "CPUS_PER_WORKER"]

# Small models leave most of a GPU idle: several trials per GPU multiply throughput
# (DESIGN.md: 8 at once took 48 s where one alone took 20 s).
AUTO_TRIALS_PER_GPU = 4
# Each worker compiles its trials' XLA programs on the host CPU: with fewer than about 4
# cores a worker, more workers make trials longer, not more (benchmarks/README.md).
CPUS_PER_WORKER = 4


@dataclass(frozen=True)
class Slot:
    """One worker process: ``gpu`` is the physical GPU index it sees as its first device,
    ``more_gpus`` the others its trials train on data-parallel (``--gpus-per-trial``);
    ``pool`` names where it runs when that is not this host (``ray``: the cluster places it)."""

    index: int
    gpu: int | None
    pool: str = ""
    more_gpus: tuple[int, ...] = ()

    @property
    def gpu_ids(self) -> tuple[int, ...]:
        return () if self.gpu is None else (self.gpu, *self.more_gpus)

    @property
    def devices(self) -> int:
        """How many devices each of its trials trains on."""
        return max(len(self.gpu_ids), 1)

    @property
    def device(self) -> str:
        if self.pool:
            return self.pool
        return "cpu" if self.gpu is None else "gpu:" + "+".join(map(str, self.gpu_ids))

    @property
    def label(self) -> str:
        """How a person tells the slots apart: the device and the worker (``gpu:0 w3``)."""
        return f"{self.device} w{self.index}"

    @property
    def cuda_visible_devices(self) -> str:
        """What ``CUDA_VISIBLE_DEVICES`` is set to before the worker imports Keras."""
        return ",".join(map(str, self.gpu_ids))


def runs_in_process(slots: list[Slot], trial_timeout: float | None, cluster: str | None = None) -> bool:
    """Whether trials run in the coordinator's own process: one CPU slot, no time limit
    (stopping a trial at its limit needs a worker process to kill) and no cluster."""
    return not cluster and len(slots) == 1 and slots[0].gpu is None and trial_timeout is None


def detect_gpus() -> list[int]:
    """Indices of the NVIDIA GPUs this process may use (``nvidia-smi -L``; no framework import)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return []
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    count = sum(1 for line in out.splitlines() if line.startswith("GPU "))
    ids = list(range(count))
    if visible:
        try:
            ids = [int(v) for v in visible.split(",") if v.strip()]
        except ValueError:
            pass
    return ids


def _parse_gpus(gpus: str) -> list[int] | None:
    if gpus == "auto":
        return None
    if gpus == "none":
        return []
    try:
        ids = [int(g) for g in gpus.split(",") if g.strip()]
    except ValueError:
        raise UsageError(f"--gpus takes auto, none or a list such as 0,1 (got {gpus!r})") from None
    if not ids or min(ids) < 0 or len(set(ids)) != len(ids):
        raise UsageError(f"--gpus takes distinct non-negative indices (got {gpus!r})")
    return ids


def cpu_count() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_trials_per_gpu(n_gpus: int, cpus: int) -> int:
    """``--trials-per-gpu auto``: 4, fewer where the host has under 4 cores per worker (at least 1)."""
    return max(1, min(AUTO_TRIALS_PER_GPU, cpus // (CPUS_PER_WORKER * max(n_gpus, 1))))


def plan_slots(gpus: str = "auto", trials_per_gpu: int | str = "auto", workers: int | None = None,
               available: list[int] | None = None, cpus: int | None = None, gpus_per_trial: int = 1) -> list[Slot]:
    """The worker slots for ``--gpus``, ``--trials-per-gpu``, ``--workers`` and ``--gpus-per-trial``.

    With GPUs: ``trials_per_gpu`` slots on each (``auto``: 4, fewer where the host has under
    4 CPU cores a worker), at most ``workers`` in all; or, with ``gpus_per_trial`` N > 1,
    one slot for each N GPUs (a trial owns them). Without: ``workers`` CPU slots (default
    1). ``available`` and ``cpus`` override detection (tests).
    """
    wanted = _parse_gpus(gpus)
    found = detect_gpus() if available is None else available
    if wanted is None:
        ids = found
    else:
        missing = [g for g in wanted if g not in found]
        if missing:
            raise UsageError(f"GPU {', '.join(map(str, missing))} not found; this machine has "
                             f"{', '.join(map(str, found)) or 'no GPUs'} (use --gpus none for the CPU)")
        ids = wanted
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {workers})")
    if gpus_per_trial > 1:
        return _multi_gpu_slots(ids, gpus_per_trial, trials_per_gpu, workers)
    if not ids:
        return [Slot(i, None) for i in range(workers or 1)]
    if trials_per_gpu == "auto":
        k = auto_trials_per_gpu(len(ids), cpu_count() if cpus is None else cpus)
    else:
        k = int(trials_per_gpu)
        if k < 1:
            raise UsageError(f"--trials-per-gpu must be at least 1 (got {trials_per_gpu})")
    slots = [g for _ in range(k) for g in ids]  # round-robin: fill every GPU before doubling up
    if workers is not None:
        slots = slots[:workers]
    return [Slot(i, g) for i, g in enumerate(slots)]


def _multi_gpu_slots(ids: list[int], n: int, trials_per_gpu: int | str, workers: int | None) -> list[Slot]:
    """One slot per ``n`` GPUs; fractional and whole-GPU slots are not mixed in one search."""
    from automl._logging import get_logger

    if trials_per_gpu not in ("auto", 1, "1"):
        raise UsageError(f"--gpus-per-trial {n} gives each trial {n} whole GPUs: leave out --trials-per-gpu "
                         f"(several trials on one GPU and trials on several GPUs do not mix in one search)")
    if len(ids) < n:
        raise UsageError(f"--gpus-per-trial {n} needs {n} GPUs; this machine has "
                         f"{', '.join(map(str, ids)) or 'none'} (use --gpus-per-trial 1)")
    groups = [tuple(ids[i:i + n]) for i in range(0, len(ids) - n + 1, n)]
    if workers is not None:
        groups = groups[:workers]
    left = [g for g in ids if not any(g in grp for grp in groups)]
    if left:
        get_logger("runner").warning("GPU %s left idle: %d GPUs do not split into trials of %d",
                                     ",".join(map(str, left)), len(ids), n)
    return [Slot(i, grp[0], more_gpus=grp[1:]) for i, grp in enumerate(groups)]
