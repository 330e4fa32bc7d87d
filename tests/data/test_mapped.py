"""Memory-mapped ``.npy``/``.npz`` data: mapped, split without copying, passed to workers and fed
batch by batch; the same data gives the same splits and fingerprint as in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl.data import data_fingerprint, load_data, synthetic
from automl.data._mapped import Rows, map_npz
from automl.errors import DataError
from automl.runner._worker import _load_arrays, save_arrays


def _arrays(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    x, y = synthetic((4, 3), 3, n, seed=1)
    return x, y


def test_stored_members_are_mapped_and_compressed_ones_read(tmp_path: Path) -> None:
    x, y = _arrays()
    np.savez(tmp_path / "plain.npz", x=x, y=y, x_f=np.asfortranarray(x[:, :, 0]), empty=np.zeros((0, 3)))
    np.savez_compressed(tmp_path / "small.npz", x=x, y=y)
    plain, small = map_npz(tmp_path / "plain.npz"), map_npz(tmp_path / "small.npz")
    assert isinstance(plain["x"], np.memmap) and isinstance(plain["x_f"], np.memmap)
    assert not isinstance(small["x"], np.memmap)
    for name, want in (("x", x), ("y", y), ("x_f", x[:, :, 0])):
        np.testing.assert_array_equal(plain[name], want)
    assert plain["empty"].shape == (0, 3)
    np.testing.assert_array_equal(small["x"], x)


def test_a_mapped_npz_splits_and_fingerprints_as_in_memory(tmp_path: Path) -> None:
    x, y = _arrays()
    np.savez(tmp_path / "d.npz", x=x.astype(np.float64), y=y)
    mapped = load_data(tmp_path / "d.npz", val_split=0.25, test_split=0.1, seed=4)
    memory = load_data((x, y), val_split=0.25, test_split=0.1, seed=4)
    assert isinstance(mapped.x_train, Rows) and isinstance(mapped.x_test, Rows)
    assert mapped.x_train.dtype == np.float64  # read as float32 batch by batch
    for part in ("x_train", "x_val", "x_test", "y_train", "y_val", "y_test"):
        np.testing.assert_array_equal(np.asarray(getattr(mapped, part), dtype=np.float32), getattr(memory, part))
    assert data_fingerprint(mapped) == data_fingerprint(memory)


def test_npy_files_name_their_pairs(tmp_path: Path) -> None:
    x, y = _arrays()
    (tmp_path / "d").mkdir()
    for name, a in (("x_train", x[:200]), ("y_train", y[:200]), ("x_test", x[200:]), ("y_test", y[200:])):
        np.save(tmp_path / "d" / f"{name}.npy", a)
    d = load_data(tmp_path / "d" / "x_train.npy")
    assert d.name == "d" and len(d.y_train) + len(d.y_val) == 200 and len(d.y_test) == 100
    assert isinstance(d.x_test, Rows) and d.x_test.index is None and isinstance(d.x_train, Rows)
    np.testing.assert_array_equal(d.x_test, x[200:])
    np.save(tmp_path / "samples.npy", x)
    with pytest.raises(DataError, match="name the samples x.npy"):
        load_data(tmp_path / "samples.npy")
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(DataError, match=r"no labels beside it; save them as .*y\.npy"):
        load_data(tmp_path / "x.npy")
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "x_val.npy", x[:10])
    with pytest.raises(DataError, match="x_val.npy and y_val.npy must be given together"):
        load_data(tmp_path / "x.npy")


def test_mapped_samples_are_checked_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import automl.data._mapped as mapped

    monkeypatch.setattr(mapped, "CHUNK_BYTES", 8 * 12 * 7)  # 7 rows a chunk
    x, y = _arrays()
    x[123, 2, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    with pytest.raises(DataError, match=r"NaN or infinite values \(first in sample 123\)"):
        load_data(tmp_path / "x.npy")
    np.save(tmp_path / "x.npy", np.full((300, 2), 1e300))  # finite, but not as float32
    with pytest.raises(DataError, match="NaN or infinite"):
        load_data(tmp_path / "x.npy")
    np.save(tmp_path / "x.npy", np.array([["a", "b"]] * 300))
    with pytest.raises(DataError, match="x is not numeric"):
        load_data(tmp_path / "x.npy")


def test_workers_map_the_source_file_and_copy_no_samples(tmp_path: Path) -> None:
    x, y = _arrays()
    np.save(tmp_path / "x.npy", x.astype(np.uint8))
    np.save(tmp_path / "y.npy", y)
    d = load_data(tmp_path / "x.npy", seed=2)
    meta = save_arrays(d, tmp_path / "folder")
    written = sorted(p.name for p in (tmp_path / "folder").iterdir())
    # The samples stay in x.npy: only their split's row indices and the encoded labels are written.
    assert written == ["x_train.rows.npy", "x_val.rows.npy", "y_train.npy", "y_val.npy"]
    back = _load_arrays(meta)
    assert isinstance(back.x_train, Rows) and back.x_train.dtype == np.uint8
    for part in ("x_train", "x_val", "y_train", "y_val"):
        np.testing.assert_array_equal(np.asarray(getattr(back, part)), np.asarray(getattr(d, part)))


def test_a_map_that_cannot_be_located_is_copied_in_chunks(tmp_path: Path) -> None:
    x, y = _arrays()
    np.save(tmp_path / "x.npy", x)
    part = np.load(tmp_path / "x.npy", mmap_mode="r")[100:]  # a slice: its offset is not its parent's
    d = load_data((part, y[100:]))
    meta = save_arrays(d, tmp_path / "folder")
    copy = tmp_path / "folder" / "x_train.npy"
    assert meta["mapped"]["x_train"]["file"] == str(copy) and copy.stat().st_size > d.x_train.nbytes
    back = _load_arrays(meta).x_train
    assert isinstance(back, Rows)  # read batch by batch there too
    np.testing.assert_array_equal(back, np.asarray(d.x_train))


def test_mapped_samples_are_fed_batch_by_batch(tmp_path: Path) -> None:
    from automl.model import import_keras
    from automl.runner._feed import fit_arguments

    keras = import_keras()
    n = 100
    np.save(tmp_path / "x.npy", np.arange(n, dtype=np.int16).reshape(n, 1))
    x = Rows(np.load(tmp_path / "x.npy", mmap_mode="r"), np.arange(n)[::-1])
    y = np.arange(n)[::-1]
    full = keras.backend.backend() == "jax"
    if not full:  # arrays in memory go to fit as they are
        plain = fit_arguments(keras, np.asarray(x), y, np.asarray(x), y, 32, seed=0)
        assert plain["batch_size"] == 32 and plain["y"] is y
    fed = fit_arguments(keras, x, y, x, y, 32, seed=0)
    assert "batch_size" not in fed and "y" not in fed
    train, val = fed["x"], fed["validation_data"]
    assert len(train) == (3 if full else 4) and len(val) == (1 if full else 4)
    seen = []
    for i in range(len(train)):
        xb, yb = train[i]
        assert xb.dtype == np.float32 and (xb[:, 0] == yb).all()  # made float32, paired with the labels
        seen += yb.tolist()
    assert len(seen) == len(set(seen)) == (96 if full else n)
    scored = np.concatenate([val[i][1] for i in range(len(val))])
    np.testing.assert_array_equal(scored, y)  # validation: every sample, in order
