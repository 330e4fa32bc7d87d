"""``keras.datasets`` by name (mnist, fashion_mnist, cifar10, cifar100), read from Keras's cache.

The files are the ones ``keras.datasets.<name>.load_data()`` downloads, at the paths it keeps
them (``$KERAS_HOME/datasets``, default ``~/.keras/datasets``), read here without importing
Keras: the data is loaded before the Keras backend is chosen (``--backend``). A missing file
is downloaded once from Keras's own URL (checked against Keras's hash) into Keras's cache;
offline, the error says which file to put where.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from automl._logging import get_logger
from automl.data._dataset import divide
from automl.errors import DataError

__all__ = ["KERAS_DATASETS", "load_keras_dataset", "keras_datasets_dir"]

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]
_log = get_logger("data")

_GCS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_TORONTO = "https://www.cs.toronto.edu/~kriz/"
_FASHION = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz")
# Seconds without a byte from the server before a download is given up (offline: at once).
_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class _Source:
    """Where Keras keeps one dataset (paths relative to ``<KERAS_HOME>/datasets``), as in
    ``keras/src/datasets/<name>.py``: the files it downloads, from where, and their hashes."""

    description: str
    downloads: tuple[tuple[str, str, str | None], ...]  # (cache path, URL, sha256 or None)
    extract_to: str | None = None  # an archive Keras extracts into this folder
    classes: tuple[str, ...] = ()


KERAS_DATASETS: dict[str, _Source] = {
    "mnist": _Source("MNIST handwritten digits, 28x28 grayscale (60,000 train / 10,000 test, 10 classes)",
                     (("mnist.npz", _GCS + "mnist.npz",
                       "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),),
                     classes=tuple("0123456789")),
    "fashion_mnist": _Source("Fashion-MNIST, 28x28 grayscale (60,000 train / 10,000 test, 10 classes)",
                             tuple((f"fashion-mnist/{f}", _GCS + f, None) for f in _FASHION),
                             classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                      "Sneaker", "Bag", "Ankle boot")),
    "cifar10": _Source("CIFAR-10, 32x32 RGB (50,000 train / 10,000 test, 10 classes)",
                       (("cifar-10-batches-py-target_archive", _TORONTO + "cifar-10-python.tar.gz",
                         "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),),
                       extract_to="cifar-10-batches-py-target",
                       classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                "truck")),
    "cifar100": _Source("CIFAR-100, 32x32 RGB (50,000 train / 10,000 test, 100 fine classes)",
                        (("cifar-100-python-target_archive", _TORONTO + "cifar-100-python.tar.gz",
                          "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),),
                        extract_to="cifar-100-python-target"),
}
_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100}
# Inside the extracted archive (Keras's layout), and the folder older Keras versions extracted to.
_INNER = {"cifar10": ("cifar-10-batches-py", ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                                               "data_batch_5", "test_batch")),
          "cifar100": ("cifar-100-python", ("train", "test"))}


def keras_datasets_dir() -> Path:
    """``$KERAS_HOME/datasets``, else ``~/.keras/datasets``: where ``keras.datasets`` caches."""
    home = os.environ.get("KERAS_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".keras") / "datasets"


def _search_dirs() -> list[Path]:
    # Keras falls back to /tmp/.keras when its home is not writable.
    return [keras_datasets_dir(), Path(tempfile.gettempdir()) / ".keras" / "datasets"]


def load_keras_dataset(name: str) -> tuple[Arrays, dict[str, Any], int]:
    """The arrays of ``keras.datasets.<name>`` (pixels scaled to [0, 1]), options to record
    (the class names) and the class count. Raises :class:`DataError` when the files are
    neither cached nor downloadable, or unreadable."""
    src = KERAS_DATASETS[name]
    root = _cached_root(name) or _download(name)
    x_train, y_train, x_test, y_test = _read(name, root)
    options: dict[str, Any] = {"scaled": "pixels / 255"}
    classes = list(src.classes) or _cifar100_names(root)
    if classes:
        options["class_names"] = classes
    return ((divide(x_train, 255.0), y_train, divide(x_test, 255.0), y_test), options,
            _CLASSES[name])


def _cached_root(name: str) -> Path | None:
    """The datasets folder holding every file ``name`` needs (extracting a cached archive
    as Keras would), or None."""
    src = KERAS_DATASETS[name]
    for root in _search_dirs():
        if src.extract_to is None:
            if all((root / path).is_file() for path, _, _ in src.downloads):
                return root
            continue
        if _extracted(name, root) is not None:
            return root
        archive = root / src.downloads[0][0]
        by_url = root / src.downloads[0][1].rsplit("/", 1)[1]  # saved under the URL's name
        for a in (archive, by_url):
            if a.is_file():
                _extract(a, root / src.extract_to)
                return root
    return None


def _extracted(name: str, root: Path) -> Path | None:
    inner, files = _INNER[name]
    src = KERAS_DATASETS[name]
    assert src.extract_to is not None
    for folder in (root / src.extract_to / inner, root / inner):  # Keras 3, then Keras 2's untar layout
        if all((folder / f).is_file() for f in files):
            return folder
    return None


def _extract(archive: Path, dest: Path) -> None:
    try:
        with tarfile.open(archive) as tar:
            tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:  # pragma: no cover - Python before 3.11.4
                tar.extractall(tmp)
    except (OSError, tarfile.TarError, EOFError) as e:
        raise DataError(f"{archive}: not a readable archive ({e}); delete it to download it again") from None
    if dest.exists():
        shutil.rmtree(tmp)
    else:
        tmp.rename(dest)


def _download(name: str) -> Path:
    """Fetch the missing files into Keras's cache; an unreachable server is a DataError
    naming the files to put there by hand (nothing is left half-written)."""
    src = KERAS_DATASETS[name]
    root = keras_datasets_dir()
    for path, url, sha256 in src.downloads:
        target = root / path
        if target.is_file():
            continue
        _log.info("downloading %s from %s to %s (once; Keras's cache)", name, url, target)
        start = time.monotonic()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _fetch(url, target, sha256)
        except (OSError, urllib.error.URLError, ValueError) as e:
            raise DataError(f"{name} is not in Keras's cache and cannot be downloaded ({_reason(e)}): download "
                            f"{_what_to_fetch(root, src)} (Keras's cache: $KERAS_HOME/datasets, default "
                            f"~/.keras/datasets), then run again") from None
        _log.info("downloaded %s in %.0f s", target.name, time.monotonic() - start)
    if src.extract_to is not None:
        _extract(root / src.downloads[0][0], root / src.extract_to)
    return root


def _what_to_fetch(root: Path, src: _Source) -> str:
    missing = [(root / p, u) for p, u, _ in src.downloads if not (root / p).is_file()]
    if len(missing) == 1:
        return f"{missing[0][1]} and save it as {missing[0][0]}"
    base = missing[0][1].rsplit("/", 1)[0]
    return f"{', '.join(t.name for t, _ in missing)} from {base}/ into {missing[0][0].parent}/"


def _reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None)
    return str(reason if reason is not None else e)


def _fetch(url: str, target: Path, sha256: str | None) -> None:
    tmp = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, tmp.open("wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ValueError(f"the file downloaded from {url} has sha256 {digest.hexdigest()}, not Keras's {sha256}")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def _read(name: str, root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    src = KERAS_DATASETS[name]
    where = root / src.downloads[0][0] if src.extract_to is None else root / src.extract_to
    try:
        if name == "mnist":
            with np.load(root / "mnist.npz", allow_pickle=False) as f:
                return f["x_train"], f["y_train"], f["x_test"], f["y_test"]
        if name == "fashion_mnist":
            y_train, x_train, y_test, x_test = (_idx(root / p, 8 if "labels" in p else 16)
                                                for p, _, _ in src.downloads)
            return x_train.reshape(len(y_train), 28, 28), y_train, x_test.reshape(len(y_test), 28, 28), y_test
        folder = _extracted(name, root)
        assert folder is not None
        key = "labels" if name == "cifar10" else "fine_labels"
        batches = [_cifar_batch(folder / f, key) for f in _INNER[name][1]]
        x_train = np.concatenate([b[0] for b in batches[:-1]])
        y_train = np.concatenate([b[1] for b in batches[:-1]])
        return x_train, y_train, batches[-1][0], batches[-1][1]
    except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise DataError(f"{name}: Keras's cached copy under {where} is unreadable ({e}); delete it to download it "
                        f"again") from None


def _idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


class _NumpyOnly(pickle.Unpickler):
    """Unpickles CIFAR's batches allowing numpy's array reconstruction only, as Keras's
    ``RestrictedUnpickler`` does (a tampered file cannot run code)."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset({
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct")})

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def _unpickle(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        d = _NumpyOnly(f, encoding="bytes").load()
    return {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in d.items()}


def _cifar_batch(path: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    d = _unpickle(path)
    data = np.asarray(d["data"], dtype=np.uint8)
    # Stored channels first, one row per image: channels last as Keras's default data format.
    return data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(d[key])


def _cifar100_names(root: Path) -> list[str]:
    folder = _extracted("cifar100", root)
    meta = None if folder is None else folder / "meta"
    if meta is None or not meta.is_file():
        return []
    try:
        names = _unpickle(meta).get("fine_label_names", [])
    except (OSError, EOFError, pickle.UnpicklingError):
        return []
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
