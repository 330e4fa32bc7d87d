"""A worker process: one device slot, many trials, talking to the coordinator over a pipe.

The environment (``CUDA_VISIBLE_DEVICES``, JAX preallocation off) is set before Keras is
imported; on a GPU, a thread starts the device while Keras is imported; the data is
memory-mapped once from the files the coordinator wrote while its workers started (and,
with ``data_on_device``, a GPU worker on JAX copies it to its GPU from a thread started
once the device is up, while the warm-up compiles);
the Keras session is cleared between trials.

Protocol (tuples over a ``multiprocessing`` pipe):

* coordinator → worker: ``("data", meta)`` (first, once: where the data files are, see
  :func:`save_arrays`), ``("run", spec, await_decision)``, ``("decision", "continue" | "prune")``
  (after each epoch, only when ``await_decision``: the engine can prune), ``("stop",)``
* worker → coordinator: ``("ready", rss, marks)`` (``marks``: when each step of its start
  ended, as Unix times, see :func:`worker_main`), ``("epoch", number, epoch, metrics)``,
  ``("done", number, outcome, rss)``, ``("fatal", message)``
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["worker_main", "save_arrays", "rss_bytes", "data_folder", "remove_stale_data_folders"]

_DATA_PREFIX = "automl-data-"

_ARRAYS = ("x_train", "y_train", "x_val", "y_val")


def rss_bytes() -> int:
    """Resident anonymous memory of this process (Linux ``/proc``; 0 where unknown): pages of
    memory-mapped data files it has read are the kernel's to drop, not growth of its own."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        with open("/proc/self/statm") as f:
            _, resident, shared = (int(v) for v in f.read().split()[:3])
        return (resident - shared) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_data_folders(parent: Path | None = None) -> list[Path]:
    """Remove the data folders that coordinators on this host left in ``parent`` (default:
    the temporary folder) when they were killed before cleaning up (SIGKILL, out of
    memory): each is named after its coordinator's process id and host, and is removed
    when no process with that id runs here. Returns the folders removed."""
    parent = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    removed = []
    for folder in parent.glob(f"{_DATA_PREFIX}*-{_host()}-*"):
        pid = folder.name[len(_DATA_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not folder.name.startswith(f"{_DATA_PREFIX}{pid}-{_host()}-") or _alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


@contextlib.contextmanager
def data_folder() -> Iterator[Path]:
    """A new temporary folder for one search's data files, named after this process and
    host, removed afterwards; folders that killed coordinators left are removed first."""
    from automl._logging import get_logger

    removed = remove_stale_data_folders()
    if removed:
        get_logger("runner").info("removed %d data folder(s) left by killed searches: %s", len(removed),
                                  ", ".join(str(f) for f in removed))
    with tempfile.TemporaryDirectory(prefix=f"{_DATA_PREFIX}{os.getpid()}-{_host()}-") as tmp:
        yield Path(tmp)


def save_arrays(data: Any, folder: Path) -> dict[str, Any]:
    """Write the training arrays once for the workers, who memory-map them (shared, not
    copied): in-memory arrays as ``.npy`` files; memory-mapped ones (``.npy``/``.npz`` data)
    as where they lie in their own file, plus their split's row indices, so that a dataset
    larger than memory is not copied (a map that cannot be located is copied in chunks)."""
    import numpy as np

    from automl.data._mapped import is_mapped, location

    folder.mkdir(parents=True, exist_ok=True)
    mapped: dict[str, Any] = {}
    for name in _ARRAYS:
        a = getattr(data, name)
        loc = location(a) if is_mapped(a) else None
        if loc is None and is_mapped(a):  # mapped there as the source would have been
            loc = location(_copy_in_chunks(a, folder / f"{name}.npy"))
        if loc is None:
            np.save(folder / f"{name}.npy", a)
        else:
            index = loc.pop("index")
            if index is not None:
                np.save(folder / f"{name}.rows.npy", index)
            mapped[name] = {**loc, "rows": index is not None}
    return {"folder": str(folder), "name": data.name, "num_classes": data.num_classes, "source": data.source,
            "mapped": mapped}


def _copy_in_chunks(a: Any, path: Path) -> Any:
    """Write the mapped array ``a`` as a ``.npy`` file a chunk of rows at a time; the copy, mapped."""
    import numpy as np

    from automl._logging import get_logger
    from automl.data._mapped import chunk_rows

    get_logger("runner").info("copying %.0f MiB of memory-mapped samples for the workers, in chunks",
                              a.nbytes / 2**20)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=a.dtype, shape=tuple(a.shape))
    step = chunk_rows(a)
    for i in range(0, len(a), step):
        out[i:i + step] = a[i:i + step]
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


def _load_arrays(meta: dict[str, Any]) -> Any:
    """The arrays :func:`save_arrays` wrote (or located), memory-mapped."""
    import numpy as np

    from automl.data import Dataset
    from automl.data._mapped import from_location

    folder = Path(meta["folder"])
    arrays = {}
    for n in _ARRAYS:
        loc = meta.get("mapped", {}).get(n)
        if loc is None:
            arrays[n] = np.load(folder / f"{n}.npy", mmap_mode="r")
        else:
            rows = np.load(folder / f"{n}.rows.npy", mmap_mode="r") if loc["rows"] else None
            arrays[n] = from_location(loc, rows)
    return Dataset(meta["name"], num_classes=meta["num_classes"], source=meta["source"], **arrays)


def _receive_data(conn: Any) -> Any:
    """The first message a worker gets: where the coordinator wrote the data (it writes
    the files while its workers start)."""
    msg = conn.recv()
    if msg[0] == "stop":  # stopped before the data was written (the coordinator failed)
        raise EOFError
    if msg[0] != "data":
        raise RuntimeError(f"expected the data's location first, got {msg[0]!r}")
    return _load_arrays(msg[1])


def worker_main(slot: Any, conn: Any, space: Any, backend: str | None, seed: int,
                data_on_device: bool = True, share_programs: bool = True) -> None:
    """Entry point of a worker process (started with the ``spawn`` method); ``data_on_device``
    applies to GPU slots only.

    Its ``ready`` message says when each step of its start ended (Unix times): ``entered``
    (this function), ``modules`` (automl's own), ``keras`` (imported), ``jax``, ``device``
    and ``warmed`` (the warm-up thread, GPU workers on JAX), ``data`` (its location
    received), ``placed`` (read, and copied to the device where kept there)."""
    marks: dict[str, float] = {"entered": time.time()}
    # Ctrl-C reaches the whole process group: the coordinator alone handles it (it stops
    # the workers and records their trials), so workers print no traceback of their own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def mark(name: str) -> None:
        marks[name] = time.time()

    os.environ["CUDA_VISIBLE_DEVICES"] = slot.cuda_visible_devices
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    made: dict[str, Any] = {}

    def prepare() -> None:
        # Read the data (memory-mapped) and, when it is kept on the GPU, copy it there.
        try:
            data = _receive_data(conn)
            mark("data")
            ex = InProcessExecutor(space, data, backend=backend, seed=seed, device=slot.device,
                                   freeze_gc=True, data_on_device=data_on_device and slot.gpu is not None,
                                   share_programs=share_programs, devices=slot.devices)
            ex.place_data()
            mark("placed")
            made["executor"] = ex
        except BaseException as e:  # noqa: BLE001 - raised again in the main thread
            made["error"] = e

    try:
        from automl.model import configure_backend, import_keras
        from automl.model._backend import resolve_backend
        from automl.model._warmup import start_warmup
        from automl.runner._executor import InProcessExecutor

        wanted = resolve_backend(backend)
        configure_backend(wanted)
        mark("modules")
        # A GPU worker starts its device in a thread while Keras is imported, then receives
        # its data and copies it there while the warm-up compiles (automl/model/_warmup.py).
        warmup = start_warmup(wanted, then=prepare, mark=mark) if slot.gpu is not None else None
        import_keras(backend, skip_optional=True)
        mark("keras")
        if warmup is None:
            prepare()
        else:
            warmup.join()
        if "error" in made:
            raise made["error"]
        executor = made["executor"]
    except EOFError:  # the coordinator went away, or stopped this worker, before sending the data
        return
    except Exception as e:  # noqa: BLE001 - reported to the coordinator, which stops the search
        with contextlib.suppress(OSError):  # unless the coordinator is gone already
            conn.send(("fatal", f"worker on {slot.device} could not start: {type(e).__name__}: {e}"))
        return
    try:
        _serve_trials(conn, executor, marks)
    except (EOFError, OSError):  # the coordinator went away (killed): nobody is left to tell
        return


def _serve_trials(conn: Any, executor: Any, marks: dict[str, float]) -> None:
    from automl.engines._base import Decision

    conn.send(("ready", rss_bytes(), marks))
    while True:
        msg = conn.recv()
        if msg[0] == "stop":
            return
        spec, await_decision = msg[1], msg[2]

        def on_epoch(epoch: int, metrics: dict[str, float], number: int = spec.number) -> Decision:
            conn.send(("epoch", number, epoch, metrics))
            if not await_decision:  # the engine never prunes: no answer comes
                return Decision.CONTINUE
            reply = conn.recv()
            return Decision.PRUNE if reply == ("decision", "prune") else Decision.CONTINUE

        outcome = executor.run(spec, on_epoch)
        conn.send(("done", spec.number, dataclasses.asdict(outcome), rss_bytes()))
