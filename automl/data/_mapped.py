"""Memory-mapped arrays: ``.npy`` files and the stored (uncompressed) members of ``.npz`` files.

A mapped array is never read whole: checks, statistics and batches read it in row chunks,
and a split keeps row indices into it (:class:`Rows`) instead of copying the rows out, so
data larger than memory can be searched (docs/data.md, "Data bigger than memory").
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from automl._logging import get_logger
from automl.errors import DataError

__all__ = ["Rows", "map_npy", "map_npz", "is_mapped", "as_rows", "take", "join", "row_chunks", "location",
           "from_location", "as_float32", "divide"]

_log = get_logger("data")
# Bytes of float64 temporaries a chunked pass over a mapped array holds at once.
CHUNK_BYTES = 2**27
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # a zip member's local file header (30 bytes)


class Rows:
    """Rows ``index`` of a memory-mapped array, read only when indexed: a split of a mapped
    array that copies nothing. Indexing gives NumPy arrays; ``np.asarray`` reads every row.
    With a ``divisor`` (an image cache's pixels: 255), what is read is divided as float32,
    as :func:`divide` divides a whole array: the same bits, a batch at a time, so the
    float32 copy never has to fit in memory.

    >>> base = np.arange(12, dtype=np.float32).reshape(6, 2)
    >>> r = Rows(base, np.array([4, 1, 2]))
    >>> r.shape, r[0].tolist(), r[1:].tolist()
    ((3, 2), [8.0, 9.0], [[2.0, 3.0], [4.0, 5.0]])
    >>> pixels = Rows(np.array([[0, 255]], dtype=np.uint8), divisor=255.0)
    >>> pixels.dtype, pixels[:].tolist()
    (dtype('float32'), [[0.0, 1.0]])
    """

    def __init__(self, base: np.ndarray, index: np.ndarray | None = None, divisor: float | None = None) -> None:
        self.base = base
        self.index = None if index is None else np.asarray(index, dtype=np.int64)  # None: every row, in order
        self.divisor = divisor

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.base.shape[1:])

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.float32) if self.divisor else self.base.dtype

    @property
    def ndim(self) -> int:
        return self.base.ndim

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return len(self.base) if self.index is None else len(self.index)

    def __getitem__(self, key: Any) -> np.ndarray:
        out = self._read(key)
        return divide(out, self.divisor) if self.divisor else out

    def _read(self, key: Any) -> np.ndarray:
        if self.index is None:
            return np.array(self.base[key])  # a copy: the result outlives no file
        rest: tuple[Any, ...] = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, (int, np.integer)):
            out = np.asarray(self.base[int(self.index[key])])
            return out[rest] if rest else out
        out = _gather(self.base, np.asarray(self.index[key]).reshape(-1))
        return out[(slice(None), *rest)] if rest else out

    def take(self, idx: np.ndarray) -> Rows:
        """These rows' rows ``idx``, still unread."""
        return Rows(self.base, idx if self.index is None else self.index[idx], self.divisor)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        scaled = f", divided by {self.divisor:g}" if self.divisor else ""
        return f"Rows({len(self)} of the {len(self.base)} rows of a mapped {self.base.dtype} array {self.base.shape}" \
               f"{scaled})"


def divide(x: np.ndarray, divisor: float) -> np.ndarray:
    """``x`` divided as a Keras user writes it, ``x.astype("float32") / 255``: the same bits."""
    return np.divide(x, np.float32(divisor), dtype=np.float32)


def _gather(base: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``base[rows]``, read in file order (the result keeps ``rows``' order)."""
    order = np.argsort(rows, kind="stable")
    out = np.empty((len(rows), *base.shape[1:]), dtype=base.dtype)
    out[order] = base[rows[order]]
    return out


def is_mapped(a: Any) -> bool:
    """Whether ``a`` is read from a file as it is used (a memory map, or rows of one)."""
    return isinstance(a, (np.memmap, Rows))


def as_rows(a: Any) -> Any:
    """A memory map as :class:`Rows` (every row): what marks samples to be read as used, never whole."""
    return Rows(a) if isinstance(a, np.memmap) else a


def take(a: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of ``a``: copied out of an in-memory array, kept as indices into a mapped one."""
    if isinstance(a, Rows):
        return a.take(idx)
    if isinstance(a, np.memmap):
        return Rows(a, idx)
    return a[idx]


def join(a: Any, b: Any) -> Any:
    """``a``'s rows then ``b``'s: rows of one map stay unread (a study's training and
    validation splits, retrained on together), arrays are concatenated."""
    if isinstance(a, Rows) and isinstance(b, Rows) and a.base is b.base and a.divisor == b.divisor:
        n = len(a.base)
        idx = [np.arange(n) if r.index is None else r.index for r in (a, b)]
        return Rows(a.base, np.concatenate(idx), a.divisor)
    return np.concatenate([np.asarray(a), np.asarray(b)])


def chunk_rows(a: Any) -> int:
    """Rows of ``a`` a chunked pass reads at a time (4096, fewer for large samples)."""
    per_row = max(int(np.prod(a.shape[1:])) * 8, 1)
    return int(max(1, min(4096, CHUNK_BYTES // per_row)))


def row_chunks(a: Any, rows: int | None = None) -> Iterator[np.ndarray]:
    """``a`` in consecutive chunks of rows, each read (and held) alone."""
    step = rows or chunk_rows(a)
    for i in range(0, len(a), step):
        yield np.asarray(a[i:i + step])


def as_float32(a: Any) -> Any:
    """A batch as float32 (mapped arrays keep their file's dtype until read)."""
    return a if getattr(a, "dtype", None) == np.float32 else np.asarray(a, dtype=np.float32)


def map_npy(path: Path) -> np.ndarray:
    """The array of a ``.npy`` file, memory-mapped read-only."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npy file ({e})") from None
    if not isinstance(a, np.ndarray):
        raise DataError(f"{path}: not a .npy array file")
    return a


def map_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` file: stored members memory-mapped, compressed ones
    (``np.savez_compressed``) read whole, as they cannot be mapped."""
    try:
        with zipfile.ZipFile(path) as z, path.open("rb") as f:
            members = [(i.filename[:-4] if i.filename.endswith(".npy") else i.filename, i) for i in z.infolist()]
            out = {name: _member(path, f, z, info) for name, info in members}
    except (OSError, ValueError, zipfile.BadZipFile, struct.error) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    return out


def _member(path: Path, f: Any, z: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        if info.file_size > CHUNK_BYTES:
            _log.warning("%s: %s is compressed (%.0f MiB): it is read into memory whole; np.savez (not "
                         "savez_compressed) or .npy files are memory-mapped", path, info.filename,
                         info.file_size / 2**20)
        with z.open(info) as m:
            return _read_whole(m, path, info.filename)
    f.seek(info.header_offset)
    sig, *_, name_len, extra_len = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
    if sig != b"PK\x03\x04":
        raise ValueError(f"member {info.filename} has no local header")
    start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
    f.seek(start)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:  # version 3 (unicode field names): rare, and small
        with z.open(info) as m:
            return _read_whole(m, path, info.filename)
    if dtype.hasobject:
        raise ValueError(f"{info.filename} holds Python objects (pickled), which are not read")
    offset = f.tell()
    count = int(np.prod(shape))
    if offset - start + count * dtype.itemsize != info.file_size:
        raise ValueError(f"member {info.filename} is {info.file_size} bytes, not those of its {shape} {dtype} array")
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape), order="F" if fortran else "C")


def _read_whole(m: Any, path: Path, name: str) -> np.ndarray:
    a = np.lib.format.read_array(m, allow_pickle=False)
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} is not an array")
    return a


def location(a: Any) -> dict[str, Any] | None:
    """Where the rows of ``a`` lie in a file (``file``, ``offset``, ``dtype``, ``shape``,
    ``fortran``, ``divisor``, and for :class:`Rows` the row ``index``), so that another
    process maps the same bytes; None when ``a`` is not a whole memory map or rows of one."""
    base, index, divisor = (a.base, a.index, a.divisor) if isinstance(a, Rows) else (a, None, None)
    import mmap

    if not isinstance(base, np.memmap) or not isinstance(base.base, mmap.mmap) or not base.filename:
        return None  # in memory, or a slice of a map (whose recorded offset is its parent's)
    return {"file": str(base.filename), "offset": int(base.offset), "dtype": base.dtype.str,
            "shape": list(base.shape), "fortran": bool(base.flags.f_contiguous and not base.flags.c_contiguous),
            "divisor": divisor, "index": index}


def from_location(loc: dict[str, Any], index: np.ndarray | None) -> Any:
    """The rows :func:`location` described, mapped again (rows ``index`` of the array, or all)."""
    base = np.memmap(loc["file"], dtype=np.dtype(loc["dtype"]), mode="r", offset=loc["offset"],
                     shape=tuple(loc["shape"]), order="F" if loc["fortran"] else "C")
    return Rows(base, index, loc.get("divisor"))
