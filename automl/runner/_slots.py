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
    """One worker process: ``gpu`` is the physical GPU index it sees as its only device;
    ``pool`` names where it runs when that is not this host (``ray``: the cluster places it)."""

    index: int
    gpu: int | None
    pool: str = ""

    @property
    def device(self) -> str:
        if self.pool:
            return self.pool
        return "cpu" if self.gpu is None else f"gpu:{self.gpu}"

    @property
    def label(self) -> str:
        """How a person tells the slots apart: the device and the worker (``gpu:0 w3``)."""
        return f"{self.device} w{self.index}"

    @property
    def cuda_visible_devices(self) -> str:
        """What ``CUDA_VISIBLE_DEVICES`` is set to before the worker imports Keras."""
        return "" if self.gpu is None else str(self.gpu)


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
               available: list[int] | None = None, cpus: int | None = None) -> list[Slot]:
    """The worker slots for ``--gpus``, ``--trials-per-gpu`` and ``--workers``.

    With GPUs: ``trials_per_gpu`` slots on each (``auto``: 4, fewer where the host has under
    4 CPU cores a worker), at most ``workers`` in all. Without: ``workers`` CPU slots
    (default 1). ``available`` and ``cpus`` override detection (tests).
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
