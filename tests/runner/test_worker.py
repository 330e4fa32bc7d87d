"""The folders the coordinator writes its data files to, and what killed coordinators leave."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from automl.runner._worker import _host, data_folder, remove_stale_data_folders


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_only_folders_of_dead_coordinators_on_this_host_are_removed(tmp_path: Path) -> None:
    dead = _dead_pid()
    names = {"dead": f"automl-data-{dead}-{_host()}-abc", "live": f"automl-data-{os.getpid()}-{_host()}-abc",
             "other host": f"automl-data-{dead}-elsewhere-abc", "older automl": "automl-data-k3j_x9q2",
             "not ours": f"other-{dead}-{_host()}-abc"}
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "x_train.npy").write_bytes(b"0" * 100)
    assert remove_stale_data_folders(tmp_path) == [tmp_path / names["dead"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for k, n in names.items() if k != "dead")


def test_data_folder_is_named_after_this_process_and_removed_after(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    stale = tmp_path / f"automl-data-{_dead_pid()}-{_host()}-abc"
    stale.mkdir()
    with data_folder() as folder:
        assert not stale.exists()  # left by a killed search: removed first
        assert folder.parent == tmp_path and folder.name.startswith(f"automl-data-{os.getpid()}-{_host()}-")
        (folder / "x_train.npy").write_bytes(b"0")
    assert not folder.exists() and not list(tmp_path.iterdir())


def test_a_worker_reading_a_mapped_file_does_not_look_as_if_it_grew(tmp_path: Path) -> None:
    """Pages of a memory-mapped data file that a worker has read count in its resident
    memory; counted as its own, a worker reading big mapped data looked 20 % bigger after a
    trial and was replaced for growing."""
    import numpy as np

    from automl.runner._worker import rss_bytes

    np.save(tmp_path / "x.npy", np.ones((64, 2**20 // 8), dtype=np.float64))  # 64 MiB
    def resident() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    before, before_resident = rss_bytes(), resident()
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert float(x.sum()) == 64 * 2**20 // 8  # every page read
    assert resident() - before_resident > 48 * 2**20  # the file's pages are resident now...
    assert rss_bytes() - before < 16 * 2**20  # ...but they are not the process's own memory
