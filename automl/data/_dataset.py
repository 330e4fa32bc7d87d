"""The dataset a search trains on: arrays, splits and the checks that guard them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.errors import DataError

__all__ = ["Dataset", "validate_arrays", "split"]


@dataclass
class Dataset:
    """Train/validation arrays (and an optional test split kept out of the search).

    ``x_*`` are float32 of shape ``(n, *input_shape)``, ``y_*`` int32 class labels in
    ``[0, num_classes)``. ``source`` is how the data was named (reloadable on resume).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    source: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def describe(self) -> dict[str, Any]:
        """Plain-data description stored with a study."""
        return {"name": self.name, "source": self.source, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "train": len(self.y_train), "val": len(self.y_val),
                "test": 0 if self.y_test is None else len(self.y_test), **self.options}


def validate_arrays(x: Any, y: Any, what: str, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Check one (x, y) pair and return it as float32 / int32 arrays.

    Raises :class:`DataError` for a length mismatch, NaN/inf values, non-integer labels or
    labels out of ``[0, num_classes)``.
    """
    try:
        xa = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: x is not numeric ({e})") from None
    ya = np.asarray(y)
    if xa.ndim < 2:
        raise DataError(f"{what}: x must have a sample axis and at least one feature axis "
                        f"(got shape {xa.shape})")
    if ya.ndim == 2 and ya.shape[1] == 1:
        ya = ya[:, 0]
    if ya.ndim != 1:
        raise DataError(f"{what}: y must be one class label per sample (got shape {ya.shape})")
    if len(xa) != len(ya):
        raise DataError(f"{what}: x has {len(xa)} samples but y has {len(ya)}; they must match")
    if len(xa) == 0:
        raise DataError(f"{what}: no samples")
    bad = ~np.isfinite(xa)
    if bad.any():
        row = int(np.argwhere(bad.reshape(len(xa), -1).any(axis=1))[0][0])
        raise DataError(f"{what}: x contains {int(bad.sum())} NaN or infinite values (first in sample {row})")
    if not np.issubdtype(ya.dtype, np.number) or ya.dtype == bool:
        raise DataError(f"{what}: labels must be integers 0..K-1 (got dtype {ya.dtype})")
    if not np.all(np.isfinite(ya)) or not np.all(np.equal(np.mod(ya, 1), 0)):
        raise DataError(f"{what}: labels must be whole numbers 0..K-1")
    yi = ya.astype(np.int64)
    if yi.min() < 0:
        raise DataError(f"{what}: labels out of range: found {int(yi.min())}; labels must be 0..K-1")
    if num_classes is not None and yi.max() >= num_classes:
        raise DataError(f"{what}: labels out of range: found label {int(yi.max())} but there are "
                        f"{num_classes} classes (labels 0..{num_classes - 1})")
    return xa, yi.astype(np.int32)


def split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int, what: str) -> tuple[np.ndarray, ...]:
    """Split off ``fraction`` of the samples (stratified where every class has 2 samples)."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"{what} fraction must be between 0 and 1 (got {fraction})")
    n_out = int(round(len(y) * fraction))
    if n_out < 1 or len(y) - n_out < 1:
        raise DataError(f"{len(y)} samples are too few to split off {fraction:.0%} for {what}")
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 and n_out >= len(counts[counts > 0]) else None
    x_a, x_b, y_a, y_b = train_test_split(x, y, test_size=n_out, random_state=seed, stratify=stratify)
    return x_a, y_a, x_b, y_b
