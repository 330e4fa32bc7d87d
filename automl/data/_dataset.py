"""The dataset a search trains on: arrays, splits and the checks that guard them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.errors import DataError

__all__ = ["Dataset", "validate_arrays", "count_classes", "split", "MAX_UNDECLARED_CLASSES"]


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
    labels out of ``[0, num_classes)`` (or beyond what an int32 holds).
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
    # Compared in the labels' own dtype: a cast first would wrap 2**40 into a small class.
    low, high = ya.min(), ya.max()
    if low < 0:
        raise DataError(f"{what}: labels out of range: found {_label(low)}; labels must be 0..K-1")
    if num_classes is not None and high >= num_classes:
        raise DataError(f"{what}: labels out of range: found label {_label(high)} but there are "
                        f"{num_classes} classes (labels 0..{num_classes - 1})")
    if high > MAX_LABEL:
        raise DataError(f"{what}: labels out of range: found label {_label(high)}; labels must be 0..K-1 "
                        f"with K the number of classes")
    return xa, ya.astype(np.int32)


# The largest label an int32 holds (what Keras's sparse losses take).
MAX_LABEL = int(np.iinfo(np.int32).max)


def _label(v: Any) -> str:
    return str(int(v)) if isinstance(v, np.integer) or abs(float(v)) < 2 ** 53 else f"{float(v):g}"


# Without a declared count, more distinct labels than this are taken for a mistake (an id
# or a measurement read as the label): the output layer would be that wide.
MAX_UNDECLARED_CLASSES = 1000


def _declare(n: int) -> str:
    return f"declare the class count: `num_classes: {n}` in the space, or automl.load_data(..., num_classes={n})"


def count_classes(labels: list[np.ndarray], what: str, num_classes: int | None = None) -> int:
    """The number of classes: ``num_classes`` where declared, else the distinct labels, which
    must then be ``0..K-1`` (a gap would add output units for classes never seen).

    Raises :class:`DataError` for a single class, a gap, or more than
    :data:`MAX_UNDECLARED_CLASSES` undeclared classes, saying how to declare the count.
    """
    if num_classes is not None:
        return num_classes
    present = np.unique(np.concatenate(labels))
    k, top = len(present), int(present[-1])
    if k < 2:
        raise DataError(f"{what}: the labels hold a single class; classification needs at least 2")
    if top != k - 1:
        absent = int(np.flatnonzero(present != np.arange(k))[0])
        raise DataError(f"{what}: labels must be 0..K-1 with K the number of classes: found {k} distinct labels "
                        f"up to {top} (label {absent} is absent); renumber them 0..{k - 1} (or, for {top + 1:,} "
                        f"classes, {_declare(top + 1)})")
    if k > MAX_UNDECLARED_CLASSES:
        raise DataError(f"{what}: the labels hold {k:,} classes, more than {MAX_UNDECLARED_CLASSES:,} (is the label "
                        f"column right?); if they are classes, {_declare(k)}")
    return k


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
