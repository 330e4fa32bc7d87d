"""Small files in the formats users bring: Keras's dataset cache and folders of images."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np


def fake_mnist(keras_home: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> Path:
    """``<keras_home>/datasets/mnist.npz`` as ``keras.datasets.mnist`` caches it (uint8 28x28)."""
    rng = np.random.default_rng(seed)
    d = keras_home / "datasets"
    d.mkdir(parents=True, exist_ok=True)
    path = d / "mnist.npz"
    np.savez(path, x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             y_train=(np.arange(n_train) % 10).astype(np.uint8),
             x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             y_test=(np.arange(n_test) % 10).astype(np.uint8))
    return path


def fake_fashion_mnist(keras_home: Path, n_train: int = 30, n_test: int = 10) -> Path:
    """The four gzipped IDX files of ``keras.datasets.fashion_mnist``."""
    rng = np.random.default_rng(1)
    d = keras_home / "datasets" / "fashion-mnist"
    d.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        with gzip.open(d / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\0" * 8 + (np.arange(n) % 10).astype(np.uint8).tobytes())
        with gzip.open(d / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\0" * 16 + rng.integers(0, 256, (n, 28, 28), dtype=np.uint8).tobytes())
    return d


def _batch(rng: np.random.Generator, n: int, key: bytes, classes: int) -> bytes:
    # Protocol 4: numpy arrays reduce to the globals Keras's restricted unpickler allows.
    return pickle.dumps({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         key: [i % classes for i in range(n)]}, protocol=4)


def fake_cifar10(keras_home: Path, per_batch: int = 10, archive: bool = True) -> Path:
    """CIFAR-10's python batches: as the archive Keras downloads (``archive``), or extracted."""
    rng = np.random.default_rng(2)
    d = keras_home / "datasets"
    d.mkdir(parents=True, exist_ok=True)
    files = {f"cifar-10-batches-py/{name}": _batch(rng, per_batch, b"labels", 10)
             for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]}
    if not archive:
        for name, data in files.items():
            (d / "cifar-10-batches-py-target" / name).parent.mkdir(parents=True, exist_ok=True)
            (d / "cifar-10-batches-py-target" / name).write_bytes(data)
        return d / "cifar-10-batches-py-target"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = d / "cifar-10-batches-py-target_archive"
    path.write_bytes(buf.getvalue())
    return path


def fake_cifar100(keras_home: Path, n_train: int = 200, n_test: int = 100) -> Path:
    rng = np.random.default_rng(3)
    d = keras_home / "datasets" / "cifar-100-python-target" / "cifar-100-python"
    d.mkdir(parents=True, exist_ok=True)
    (d / "train").write_bytes(_batch(rng, n_train, b"fine_labels", 100))
    (d / "test").write_bytes(_batch(rng, n_test, b"fine_labels", 100))
    (d / "meta").write_bytes(pickle.dumps({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, protocol=4))
    return d


def image_folder(root: Path, classes: dict[str, int], size: tuple[int, int] = (8, 10), fmt: str = "png",
                 mode: str = "RGB", seed: int = 0) -> Path:
    """``root/<class>/<i>.<fmt>``: ``classes`` maps each class name to its image count; images
    are HxW ``size``, each class a different mean colour (so a model can learn them)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            base = 40 + 160 * (k % 2)
            pixels = np.clip(rng.normal(base, 20, (*size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).convert(mode).save(root / name / f"{i}.{fmt}")
    return root
