"""Data fingerprints: the same data found elsewhere matches; other data, splits or order do not."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from automl.data import data_differences, data_fingerprint, load_data, synthetic


def _npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    np.savez(path, x=x, y=y)
    return path


def test_the_same_data_from_another_path_or_host_matches(tmp_path: Path) -> None:
    x, y = synthetic((6,), 3, 300)
    a = _npz(tmp_path / "a.npz", x, y)
    (tmp_path / "elsewhere").mkdir()
    b = shutil.copy(a, tmp_path / "elsewhere" / "copy.npz")
    fa, fb = data_fingerprint(load_data(a)), data_fingerprint(load_data(b))
    assert fa == fb and data_differences(fa, fb) == []
    # Generated again on another machine: the last bits of a float may differ.
    noisy = load_data(a)
    noisy.x_train = noisy.x_train * np.float32(1 + 1e-7)
    assert data_differences(fa, data_fingerprint(noisy)) == []


def test_other_data_splits_or_order_differ(tmp_path: Path) -> None:
    x, y = synthetic((6,), 3, 300)
    base = data_fingerprint(load_data(_npz(tmp_path / "a.npz", x, y)))
    scaled = data_fingerprint(load_data(_npz(tmp_path / "b.npz", x * 2, y)))
    assert data_differences(base, scaled) == [
        "other feature values (other data, another preprocessing, or the samples in another order)"]
    order = np.random.default_rng(1).permutation(300)
    shuffled = data_fingerprint(load_data(_npz(tmp_path / "c.npz", x[order], y[order])))
    assert data_differences(base, shuffled)
    reseeded = data_fingerprint(load_data(tmp_path / "a.npz", seed=5))
    assert data_differences(base, reseeded) == ["other labels (or the same labels split with another --data-seed)"]
    other = data_fingerprint(load_data("digits"))
    assert data_differences(base, other)[:2] == ["samples of shape (6,), not (64,)", "3 classes, not 10"]
