"""Built-in datasets, all offline: digits, MNIST-1D (generated locally) and synthetic."""

from __future__ import annotations

import random
import re

import numpy as np

from automl.data._dataset import divide
from automl.errors import DataError

__all__ = ["BUILTIN", "load_builtin", "builtin_classes", "synthetic"]

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]

BUILTIN = {
    "digits": "scikit-learn's 8x8 handwritten digits, flattened to 64 features (1,797 samples, 10 classes)",
    "digits2d": "the same digits as 8x8 images",
    "mnist1d": "MNIST-1D (Greydanus 2020), generated locally: 4,000 train / 1,000 test signals of 40 steps",
    "synthetic:SHAPE[:CLASSES[:N]]": "learnable random data of any shape, e.g. synthetic:32x32x3:10:2000",
}


def load_builtin(name: str) -> Arrays | None:
    """The arrays of a built-in dataset, or None if ``name`` is not one."""
    if name in ("digits", "digits2d"):
        from sklearn.datasets import load_digits

        d = load_digits()
        x = divide(d.data, 16.0)  # recorded as ``scaled`` (_load.py): an exported model divides itself
        if name == "digits2d":
            x = x.reshape(-1, 8, 8)
        return x, d.target.astype(np.int32), None, None
    if name == "mnist1d":
        return _mnist1d()
    if name.startswith("synthetic"):
        return _parse_synthetic(name)
    return None


def _mnist1d() -> Arrays:
    # make_dataset reseeds numpy's and Python's global generators: keep the caller's.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        from mnist1d.data import get_dataset_args, make_dataset

        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return (d["x"].astype(np.float32), d["y"].astype(np.int32),
            d["x_test"].astype(np.float32), d["y_test"].astype(np.int32))


def builtin_classes(name: str) -> int | None:
    """The class count a built-in's name declares (``synthetic:SHAPE:CLASSES``), else None."""
    return _synthetic_args(name)[1] if name.startswith("synthetic") else None


def _synthetic_args(name: str) -> tuple[tuple[int, ...], int, int]:
    m = re.fullmatch(r"synthetic(?::(\d+(?:x\d+)*))?(?::(\d+))?(?::(\d+))?", name)
    if not m:
        raise DataError(f"cannot read {name!r}: write synthetic:SHAPE[:CLASSES[:N]], e.g. synthetic:32x32x3:10:2000")
    shape = tuple(int(d) for d in (m.group(1) or "20").split("x"))
    classes = int(m.group(2) or 10)
    n = int(m.group(3) or 1000)
    if min(shape) < 1 or classes < 2 or n < classes * 2:
        raise DataError(f"{name!r}: shape dimensions must be >= 1, classes >= 2 and N >= 2 x classes")
    return shape, classes, n


def _parse_synthetic(name: str) -> Arrays:
    x, y = synthetic(*_synthetic_args(name), seed=0)
    return x, y, None, None


def synthetic(shape: tuple[int, ...], classes: int, n: int, seed: int = 0,
              noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of ``shape``: one random prototype per class plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(0.0, 1.0, size=(classes, *shape)).astype(np.float32)
    y = (np.arange(n) % classes).astype(np.int32)
    rng.shuffle(y)
    x = prototypes[y] * 0.5 + rng.normal(0.0, noise, size=(n, *shape)).astype(np.float32)
    return x.astype(np.float32), y
