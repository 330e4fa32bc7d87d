"""Data bigger than the memory a search may use: ``.npz`` and ``.npy`` files and image
folders' caches are memory-mapped.

Each search runs in a subprocess under ``RLIMIT_DATA``, which Linux (since 4.7) checks
against a process's private writable and anonymous memory (``VmData``): every array read
into memory counts, a read-only file mapping does not (``RLIMIT_AS`` would count the map
too). The file is larger than the limit, so loading it whole fails (``MemoryError``, as the
code before memory-mapping did); workers inherit the limit from the coordinator.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import cli_env

pytestmark = pytest.mark.slow

LIMIT = 2**30  # 1 GiB of VmData: a search training the model below on TensorFlow peaks at 0.63-0.75 GiB
ROWS, SHAPE = 4608, (256, 256)  # 4608 samples of 256 KiB: 1.125 GiB of float32, above LIMIT
SPACE = {"name": "big", "model": {"layers": [{"type": "global_avg_pool1d"}, {"type": "dense", "units": 4}]},
         "optimizer": {"name": "adam", "learning_rate": {"low": 1e-3, "high": 1e-2, "log": True}},
         "training": {"batch_size": 32, "epochs": 1, "metrics": ["accuracy"]},
         "objective": {"metric": "val_accuracy", "direction": "maximize"}}

# Spawned workers import the main script as __mp_main__: each process of the search records its limit.
_SCRIPT = """
import json, os, resource, sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

OUT = Path(sys.argv[1])


def record(role):
    soft = resource.getrlimit(resource.RLIMIT_DATA)[0]
    (OUT / f"limit-{role}-{os.getpid()}.json").write_text(json.dumps(soft))


if __name__ != "__main__":
    record("worker")
else:
    limit, data, workers = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.getrlimit(resource.RLIMIT_DATA)[1]))
    record("coordinator")
    try:  # the limit is in force: the data's size in memory is refused
        np.ones(int(os.environ.get("BIG_BYTES", 0)) or os.path.getsize(data), dtype=np.uint8)
        sys.exit("an allocation of the file's size succeeded under the limit")
    except MemoryError:
        pass
    import automl, optuna

    store = f"sqlite:///{OUT / 'store.db'}"
    after = len(sys.argv) > 6  # then export --retrain, evaluate and predict, under the limit too
    r = automl.search(json.loads(sys.argv[5]), data, n_trials=2, storage=store, study_name="big",
                      workers=workers, gpus="none", seed=0, keep_weights=after, test_split=0.1 if after else 0.0)
    trials = optuna.load_study(study_name="big", storage=store).trials
    out = {"ran": r.ran, "states": [t.state.name for t in trials],
           "errors": [t.user_attrs.get("automl:error") for t in trials]}
    if after:
        from automl._export import evaluate_model, export_model
        from automl._predict import predict_study
        from automl.storage import load_study, open_storage

        study = load_study(open_storage(store), "big")
        export_model(study, store, OUT / "retrained.keras", retrain=True)
        out["evaluated"] = evaluate_model(study, store, None)["test_samples"]
        out["predicted"] = len(predict_study(study, store, data)["prediction"])
    print(json.dumps(out))
"""


def _labels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 2, ROWS)


def _write_npy(folder: Path) -> Path:
    """``x.npy`` (sparse on disk: zeros but for a class signal) and ``y.npy``."""
    folder.mkdir()
    y = _labels()
    x = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.float32, shape=(ROWS, *SHAPE))
    x[:, 0, :8] = y[:, None]
    x.flush()
    del x
    np.save(folder / "y.npy", y)
    return folder / "x.npy"


def _write_npz(path: Path, x: np.ndarray) -> Path:
    """An uncompressed ``.npz`` (``np.savez``) of ``x`` (memory-mapped, written in chunks) and its labels."""
    np.savez(path, x=x, y=_labels())
    with zipfile.ZipFile(path) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
    return path


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    folder = tmp_path_factory.mktemp("big")
    npy = _write_npy(folder / "arrays")
    npz = _write_npz(folder / "big.npz", np.load(npy, mmap_mode="r"))
    for p in (npy, npz):
        assert p.stat().st_size > LIMIT
    yield {"npy": npy, "npz": npz}
    for p in (npy, npz):  # over a GiB each: not left for pytest's last three runs
        p.unlink()


def _search(tmp_path: Path, data: Path, workers: int, *after: str, space: dict[str, Any] = SPACE,
            size: int = 0) -> tuple[dict[str, Any], list[int]]:
    """Search ``data`` under ``LIMIT`` (checked to refuse ``size`` bytes, by default the file's)."""
    script = tmp_path / "big_search.py"
    script.write_text(_SCRIPT)
    env = {**cli_env(tmp_path), "AUTOML_CACHE": str(tmp_path / "cache"), "BIG_BYTES": str(size)}
    p = subprocess.run([sys.executable, str(script), str(tmp_path), str(LIMIT), str(data), str(workers),
                        json.dumps(space), *after], env=env, capture_output=True, text=True, timeout=400)
    assert p.returncode == 0, p.stderr[-3000:]
    limits = [json.loads(f.read_text()) for f in sorted(tmp_path.glob("limit-*.json"))]
    return json.loads(p.stdout.strip().splitlines()[-1]), limits


@pytest.mark.parametrize(("kind", "workers"), [("npz", 1), ("npz", 2), ("npy", 1)])
def test_data_larger_than_the_memory_limit_is_searched(big_files: dict[str, Path], tmp_path: Path, kind: str,
                                                      workers: int) -> None:
    result, limits = _search(tmp_path, big_files[kind], workers)
    assert result["ran"] == 2 and result["states"] == ["COMPLETE", "COMPLETE"], result
    # The coordinator and each worker searched under the limit.
    assert len(limits) >= (1 if workers == 1 else 1 + workers) and set(limits) == {LIMIT}, limits


def test_a_study_of_data_larger_than_the_memory_limit_is_retrained_evaluated_and_predicted(
        big_files: dict[str, Path], tmp_path: Path) -> None:
    """``export --retrain`` once joined the training and validation splits into one array,
    and ``evaluate`` and ``predict`` read their samples whole: each failed under the limit
    that the search itself kept."""
    result, _ = _search(tmp_path, big_files["npy"], 1, "after")
    assert result["states"] == ["COMPLETE", "COMPLETE"], result
    assert result["evaluated"] == round(ROWS * 0.1) and result["predicted"] == ROWS
    assert (tmp_path / "retrained.keras").stat().st_size > 0


def test_an_image_folder_larger_than_the_memory_limit_as_float32_is_searched(tmp_path: Path) -> None:
    """An image folder's pixels were divided by 255 into one float32 array in memory (4× the
    decoded bytes, which were held whole too): this folder's 768 MiB of RGB pixels, 3 GiB as
    float32, could not be searched under a 1 GiB limit. Its cache is now decoded to a file an
    image at a time and read a batch at a time, by the coordinator and by each worker."""
    from PIL import Image

    n, side = 4096, 256
    y = _labels()[:n]
    root = tmp_path / "imgs"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
    pixels = np.zeros((side, side), dtype=np.uint8)
    for i, label in enumerate(y):
        pixels[:8, :8] = 200 * label  # the class, in one corner
        Image.fromarray(pixels).save(root / "ab"[label] / f"{i}.png")
    space = {**SPACE, "model": {"layers": [{"type": "global_avg_pool2d"}, {"type": "dense", "units": 4}]}}
    size = n * side * side * 3 * 4  # read as RGB
    assert size >= LIMIT
    (tmp_path / "run").mkdir()
    result, limits = _search(tmp_path / "run", root, 2, space=space, size=size)
    assert result["ran"] == 2 and result["states"] == ["COMPLETE", "COMPLETE"], result
    assert len(limits) >= 3 and set(limits) == {LIMIT}, limits
    (entry,) = (tmp_path / "run" / "cache" / "images").iterdir()
    cached = np.load(entry / "x.npy", mmap_mode="r")
    assert cached.dtype == np.uint8 and cached.shape == (n, side, side, 3)
