"""The dataset a search trains on: arrays, splits and the checks that guard them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.data._mapped import Rows, divide, row_chunks, take
from automl.errors import DataError

__all__ = ["Dataset", "validate_features", "split", "Features", "divide", "input_divisor"]

# Samples: float32 in memory, or read from a file as used (a memory map, rows of one).
Features = np.ndarray | Rows


@dataclass
class Dataset:
    """Train/validation arrays (and an optional test split kept out of the search).

    ``x_*`` are float32 of shape ``(n, *input_shape)``, or, read from ``.npy``/``.npz``
    files, memory maps of the file's numeric dtype (or :class:`~automl.data._mapped.Rows`
    of one: a split), read in chunks and as float32 batches; ``y_*`` as ``task`` takes them
    (:class:`automl.data._labels.Labels`): int32 classes in ``[0, num_classes)`` for
    classification and binary, float32 ``(n, k)`` for multi-label and regression (in the
    target's own units). ``num_classes`` is the classes (2 for binary), the labels or the
    targets. ``source`` is how the data was named (reloadable on resume); ``options`` what
    is recorded of it (splits, the label column, class names, the targets' mean and std).
    """

    name: str
    x_train: Features
    y_train: np.ndarray
    x_val: Features
    y_val: np.ndarray
    num_classes: int
    x_test: Features | None = None
    y_test: np.ndarray | None = None
    source: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    task: str = "classification"
    task_reason: str = ""  # why this task: "declared", or what inference saw

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def describe(self) -> dict[str, Any]:
        """Plain-data description stored with a study."""
        return {"name": self.name, "source": self.source, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "train": len(self.y_train), "val": len(self.y_val),
                "test": 0 if self.y_test is None else len(self.y_test), "task": self.task, **self.options}

    def label_text(self) -> str:
        """What holds the labels, in words (``label column 'price' of houses``)."""
        cols = self.options.get("label_columns")
        if cols:
            return f"label column{'s' if len(cols) > 1 else ''} {', '.join(map(repr, cols))} of {self.name}"
        if self.options.get("color_mode") is not None:
            return f"the class folders of {self.name}"
        return f"the labels of {self.name}"

    def head(self) -> dict[str, Any] | None:
        """What of the data the model is built with, as a trial's configuration holds it
        (``config["head"]``): the task's output head (binary, multi-label, regression's
        target units) and, for a table, the ``inputs`` standardization (the training
        split's mean and variance of each encoded column). None: classification of
        arrays, the head the configuration's own output layer gives."""
        table = self.options.get("table")
        if self.task == "classification" and not table:
            return None
        out: dict[str, Any] = {"task": self.task, "units": 1 if self.task == "binary" else int(self.num_classes)}
        if self.task == "regression":
            out.update(mean=list(self.options["target_mean"]), std=list(self.options["target_std"]))
        if table:
            from automl.data._table import input_norm

            out["inputs"] = input_norm(table)
        return out


# What a loader divided the samples by, as ``options["scaled"]`` records it.
_DIVISORS = {"pixels / 255": 255.0, "values / 16": 16.0}


def input_divisor(desc: dict[str, Any]) -> float | None:
    """What a study's loader divided its samples by (pixels by 255, ``digits`` by 16), so
    that an exported model and ``predict`` take the samples as their source holds them;
    None: they are used as read. Studies made before ``digits`` recorded it are known by
    their source."""
    scaled = desc.get("scaled")
    if scaled is None and desc.get("source") in ("digits", "digits2d"):
        scaled = "values / 16"
    return _DIVISORS.get(scaled) if isinstance(scaled, str) else None


def validate_features(x: Any, y: Any, what: str) -> Any:
    """Check the samples ``x`` of one (x, y) pair and return them as float32 (a memory map
    as it is: checked chunk by chunk, never read whole; an image cache's rows as they are).

    Raises :class:`DataError` for a length mismatch, no samples or NaN/inf values (the
    labels are checked by :func:`automl.data._labels.encode_labels`).
    """
    if isinstance(x, np.memmap):
        return _validate_mapped(x, y, what)
    if isinstance(x, Rows) and x.base.dtype.kind in "biu":  # whole numbers (pixels), divided or not: finite
        _check_shape(x.shape, y, what)
        return x
    try:
        xa = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what}: x is not numeric ({e})") from None
    _check_shape(xa.shape, y, what)
    bad = ~np.isfinite(xa)
    if bad.any():
        row = int(np.argwhere(bad.reshape(len(xa), -1).any(axis=1))[0][0])
        raise DataError(f"{what}: x contains {int(bad.sum())} NaN or infinite values (first in sample {row})")
    return xa


def _validate_mapped(x: np.memmap, y: Any, what: str) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise DataError(f"{what}: x is not numeric (dtype {x.dtype})")
    _check_shape(x.shape, y, what)
    if x.dtype.kind != "f":
        return x  # whole numbers are finite
    start = 0
    for chunk in row_chunks(x):
        # As float32, which each batch becomes: a float64 beyond its range is infinite there.
        with np.errstate(over="ignore"):
            bad = ~np.isfinite(chunk.reshape(len(chunk), -1).astype(np.float32, copy=False)).all(axis=1)
        if bad.any():
            raise DataError(f"{what}: x contains NaN or infinite values (first in sample "
                            f"{start + int(np.argmax(bad))})")
        start += len(chunk)
    return x


def _check_shape(shape: tuple[int, ...], y: Any, what: str) -> None:
    if len(shape) < 2:
        raise DataError(f"{what}: x must have a sample axis and at least one feature axis "
                        f"(got shape {shape})")
    n, n_y = shape[0], len(y) if hasattr(y, "__len__") else -1
    if n != n_y:
        raise DataError(f"{what}: x has {n} samples but y has {n_y}; they must match")
    if n == 0:
        raise DataError(f"{what}: no samples")


def split(x: Any, y: np.ndarray, fraction: float, seed: int, what: str) -> tuple[Any, np.ndarray, Any, np.ndarray]:
    """Split off ``fraction`` of the samples (classes: stratified where every class has 2
    samples). Only the row indices are drawn: in-memory rows are copied out, a memory map's
    are kept as indices into it (:func:`automl.data._mapped.take`)."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"{what} fraction must be between 0 and 1 (got {fraction})")
    n_out = int(round(len(y) * fraction))
    if n_out < 1 or len(y) - n_out < 1:
        raise DataError(f"{len(y)} samples are too few to split off {fraction:.0%} for {what}")
    from sklearn.model_selection import train_test_split

    stratify = None
    if y.ndim == 1 and y.dtype.kind in "iu":  # classes; a regression or multi-label target is not stratified
        counts = np.bincount(y)
        stratify = y if counts[counts > 0].min() >= 2 and n_out >= len(counts[counts > 0]) else None
    # The draw depends on the sample count and the labels alone: these are the rows that splitting x would give.
    a, b = train_test_split(np.arange(len(y)), test_size=n_out, random_state=seed, stratify=stratify)
    return take(x, a), y[a], take(x, b), y[b]
