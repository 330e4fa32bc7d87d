"""Where the coordinator writes the data files its workers memory-map."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from automl.runner._worker import data_folder_parent


def _data(nbytes_each: int) -> SimpleNamespace:
    return SimpleNamespace(**{n: SimpleNamespace(nbytes=nbytes_each) for n in ("x_train", "y_train", "x_val", "y_val")})


def test_data_goes_to_shared_memory_when_it_has_room(tmp_path: Path) -> None:
    x = np.zeros((10, 4), np.float32)
    data = SimpleNamespace(x_train=x, y_train=x[:, 0], x_val=x, y_val=x[:, 0])
    assert data_folder_parent(data, shm=tmp_path) == str(tmp_path)
    # no such folder (not Linux): the system's temporary folder
    assert data_folder_parent(data, shm=tmp_path / "missing") is None
    # not room for twice the data: the temporary folder too
    free = shutil.disk_usage(tmp_path).free
    assert data_folder_parent(_data(free // 4 + 1), shm=tmp_path) is None
    assert data_folder_parent(_data(free // 16), shm=tmp_path) == str(tmp_path)
