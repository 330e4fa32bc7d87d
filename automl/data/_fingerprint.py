"""What identifies a dataset, stored with a study so that continuing it with other data is refused."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from automl.data._dataset import Dataset
from automl.data._mapped import as_float32, row_chunks

__all__ = ["data_fingerprint", "data_differences"]

# Feature statistics agree within this relative tolerance: the same data generated on another
# host (mnist1d computes its signals) can differ in the last bits of a float.
_RTOL = 1e-4
_ATOL = 1e-3  # a sum of thousands of features near 0 keeps their last bits' differences


# Sums of the first samples of each split: whole-split statistics barely move when the same
# data is split with the samples in another order, these do.
_ROWS = 16


def _stats(x: Any) -> list[float] | None:
    """Mean, std, min, max and the first rows' sums, of the float32 values, over row chunks
    (``chunk_rows``: whole-array float64 temporaries would double the data's memory, and a
    memory-mapped array is never read whole)."""
    if x is None or x.size == 0:
        return None
    total = squares = 0.0
    low, high = math.inf, -math.inf
    count = 0
    for part in row_chunks(x):
        flat = as_float32(part).reshape(len(part), -1)
        chunk = flat.astype(np.float64)
        total += float(chunk.sum())
        squares += float(np.square(chunk).sum())
        low, high = min(low, float(flat.min())), max(high, float(flat.max()))
        count += flat.size
    mean = total / count
    std = math.sqrt(max(squares / count - mean * mean, 0.0))
    first = as_float32(np.asarray(x[:_ROWS]))
    rows = first.reshape(len(first), -1).sum(axis=1, dtype=np.float64)
    return [mean, std, low, high, *map(float, rows)]


def data_fingerprint(data: Dataset) -> dict[str, Any]:
    """Task, shapes, class count, split sizes, a hash of the labels (in order: the splits' seed
    shows) and statistics of the features (and of the first samples'): the same data loaded on another host, from
    another path, gives the same fingerprint; other data, other splits or another
    preprocessing do not. Paths and names are left out (a worker's copy lies elsewhere)."""
    labels = hashlib.sha256()
    for y in (data.y_train, data.y_val, data.y_test):
        # Classes as int32 (as fingerprints were before other tasks); targets as float32.
        dtype = "<f4" if y is not None and y.dtype.kind == "f" else "<i4"
        a = np.zeros(0, np.int32) if y is None else np.ascontiguousarray(y, dtype=dtype)
        labels.update(len(a).to_bytes(8, "little"))
        labels.update(a.tobytes())
    return {"input_shape": list(data.input_shape), "num_classes": int(data.num_classes), "task": data.task,
            "samples": [len(data.y_train), len(data.y_val), 0 if data.y_test is None else len(data.y_test)],
            "labels": labels.hexdigest()[:32],
            "features": [_stats(x) for x in (data.x_train, data.x_val, data.x_test)]}


def _close(a: list[float] | None, b: list[float] | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return len(a) == len(b) and all(math.isclose(u, v, rel_tol=_RTOL, abs_tol=_ATOL) for u, v in zip(a, b))


def data_differences(stored: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """How the data of ``new`` differs from ``stored`` (two :func:`data_fingerprint`), in
    words; empty when they are the same data."""
    out = []
    if list(stored.get("input_shape", [])) != list(new["input_shape"]):
        out.append(f"samples of shape {tuple(stored.get('input_shape', []))}, not {tuple(new['input_shape'])}")
    if stored.get("task", "classification") != new.get("task", "classification"):
        out.append(f"task {stored.get('task', 'classification')}, not {new.get('task', 'classification')}")
    if stored.get("num_classes") != new["num_classes"]:
        out.append(f"{stored.get('num_classes')} classes, not {new['num_classes']}")
    if list(stored.get("samples", [])) != list(new["samples"]):
        old_n = "/".join(map(str, stored.get("samples", [])))
        out.append(f"train/validation/test samples {old_n}, not {'/'.join(map(str, new['samples']))}")
    if not out and stored.get("labels") != new["labels"]:
        out.append("other labels (or the same labels split with another --data-seed)")
    old_f, new_f = stored.get("features") or [], new["features"]
    if not out and (len(old_f) != len(new_f) or not all(_close(a, b) for a, b in zip(old_f, new_f))):
        out.append("other feature values (other data, another preprocessing, or the samples in another order)")
    return out
