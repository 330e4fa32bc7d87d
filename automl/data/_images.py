"""Image folders: one sub-folder per class, decoded once and cached as ``.npy`` arrays.

The cache is a memory-mapped ``uint8`` array, written as the images are decoded and read as
used: a search divides each batch's pixels by 255 as it reads them
(:class:`~automl.data._mapped.Rows`), so neither the decoded folder nor its float32 copy
has to fit in memory.

The conventions are ``keras.utils.image_dataset_from_directory``'s: class names are the
sub-folders' names sorted alphabetically (labels ``0..K-1``), files ending in .png, .jpg,
.jpeg, .bmp or .gif (any case, in nested folders too) are images, decoded with Pillow as
``keras.utils.load_img`` does (without importing Keras, whose backend is chosen later).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from automl._logging import get_logger
from automl.data._dataset import divide
from automl.data._mapped import Rows, map_npy
from automl.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "COLOR_MODES", "parse_image_size", "check_color_mode", "read_image_folder"]

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # keras.utils.image_dataset_from_directory's
COLOR_MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3)}
# Bumped when the decoding changes, so that older cached arrays are not reused.
_CACHE_VERSION = 1
_log = get_logger("data")


def parse_image_size(value: Any) -> tuple[int, int] | None:
    """``"HxW"``, ``(H, W)`` or None, as ``(height, width)``; else a DataError saying how to write it."""
    if value is None:
        return None
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
        if m:
            value = (int(m.group(1)), int(m.group(2)))
    if (isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                    and 1 <= v <= 16384 for v in value)):
        return int(value[0]), int(value[1])
    raise DataError(f"image size must be HEIGHTxWIDTH in pixels, e.g. 64x64 (got {value!r})")


def check_color_mode(value: Any) -> str:
    """``rgb`` (the default, as Keras's) or ``grayscale``."""
    if value is None:
        return "rgb"
    if value not in COLOR_MODES:
        raise DataError(f"color mode must be grayscale or rgb (got {value!r})")
    return str(value)


def read_image_folder(folder: Path, image_size: tuple[int, int] | None,
                      color_mode: str) -> tuple[Any, np.ndarray, list[str]]:
    """``(x, y, class_names)``: pixels of shape ``(n, H, W, channels)`` read as float32 in
    [0, 1] (the cache's rows, divided by 255 as read; in memory if the cache cannot be
    written), labels ``0..K-1`` in the order of the sorted class names. Decoded images are
    cached under ``$AUTOML_CACHE/images/`` keyed by the files' names, sizes and times and the
    options, so the same folder is decoded once. Raises :class:`DataError` naming the file
    or folder."""
    classes, files = _list(folder)
    key = _key(folder, files, image_size, color_mode)
    from automl._paths import cache_dir

    entry = cache_dir() / "images" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', folder.name)[:40]}-{key[:20]}"
    cached = _cached(entry, folder)
    if cached is not None:
        return cached[0], cached[1], classes
    start = time.monotonic()
    y = np.asarray([label for label, _ in files], dtype=np.int32)
    tmp = _new_entry(entry)
    if tmp is not None:
        try:
            shape = _decode_into(tmp / "x.npy", files, image_size, color_mode)
            _finish(tmp, entry, y, {"folder": str(folder), "classes": classes, "images": len(y),
                                    "image_size": list(shape[1:3]), "color_mode": color_mode})
        except OSError as e:
            _log.warning("cannot cache the decoded images in %s (%s): they are held in memory and decoded again "
                         "next time", entry, e)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # moved into place, or failed
        cached = _cached(entry, folder)
        if cached is not None:
            _log.info("image folder %s: decoded %d images of %d classes in %.1f s, cached in %s", folder, len(y),
                      len(classes), time.monotonic() - start, entry)
            return cached[0], cached[1], classes
    x = np.stack(list(_images(files, image_size, color_mode)))
    _log.info("image folder %s: decoded %d images of %d classes in %.1f s", folder, len(y), len(classes),
              time.monotonic() - start)
    return divide(x, 255.0), y, classes


def _cached(entry: Path, folder: Path) -> tuple[Rows, np.ndarray] | None:
    """The cache entry's pixels (mapped, divided by 255 as read) and labels; None if absent
    (an unreadable entry is removed)."""
    if not (entry / "meta.json").is_file():
        return None
    try:
        x = map_npy(entry / "x.npy")
        y = np.load(entry / "y.npy")
    except (OSError, ValueError, DataError):
        _log.warning("the cached arrays in %s are unreadable; decoding %s again", entry, folder)
        shutil.rmtree(entry, ignore_errors=True)
        return None
    if x.dtype != np.uint8 or len(x) != len(y):
        _log.warning("the cached arrays in %s are not this version's; decoding %s again", entry, folder)
        shutil.rmtree(entry, ignore_errors=True)
        return None
    _log.debug("image folder %s: %d images from the cache %s", folder, len(y), entry)
    return Rows(x, divisor=255.0), y


def _list(folder: Path) -> tuple[list[str], list[tuple[int, Path]]]:
    """The sorted class names and every image as ``(label, path)``; hidden files and folders
    (``.DS_Store``, ``.ipynb_checkpoints``) and files directly in ``folder`` are skipped."""
    try:
        subdirs = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as e:
        raise DataError(f"{folder}: cannot read the folder ({e.strerror or e})") from None
    if len(subdirs) < 2:
        found = f"only the class folder {subdirs[0]!r}" if subdirs else "no sub-folders"
        raise DataError(f"{folder}: an image folder holds one sub-folder of images per class, at least 2; it has "
                        f"{found}")
    files: list[tuple[int, Path]] = []
    for label, name in enumerate(subdirs):
        found_here = 0
        for dirpath, dirnames, filenames in os.walk(folder / name):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                if f.startswith("."):
                    continue
                path = Path(dirpath) / f
                if not f.lower().endswith(IMAGE_EXTENSIONS):
                    raise DataError(f"{path}: not an image file ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)}); "
                                    f"move it out of the class folders")
                files.append((label, path))
                found_here += 1
        if not found_here:
            raise DataError(f"{folder / name}: the class folder {name!r} holds no images; add images or remove it")
    return subdirs, files


def _key(folder: Path, files: list[tuple[int, Path]], image_size: tuple[int, int] | None, color_mode: str) -> str:
    """What the decoded arrays depend on: each file's name, size and modification time, and
    the options (a changed, added or removed image gives another key)."""
    h = hashlib.sha256(json.dumps([_CACHE_VERSION, color_mode, image_size]).encode())
    for label, path in files:
        st = path.stat()
        h.update(f"{label}\0{path.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _images(files: list[tuple[int, Path]], image_size: tuple[int, int] | None,
            color_mode: str) -> Iterator[np.ndarray]:
    """Each image's pixels (``uint8``, ``(H, W, channels)``), all of one size."""
    try:
        from PIL import Image
    except ImportError:
        raise DataError("image folders need Pillow (what keras.utils.load_img reads images with): "
                        "pip install pillow") from None
    mode, channels = COLOR_MODES[color_mode]
    first: tuple[Path, tuple[int, int]] | None = None
    for _, path in files:
        try:
            with path.open("rb") as f:
                img: Image.Image = Image.open(io.BytesIO(f.read()))
                img.load()
            if img.mode != mode:
                img = img.convert(mode)
            if image_size is not None and img.size != (image_size[1], image_size[0]):
                img = img.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"{path}: not an image Pillow can read ({e}); remove or replace it") from None
        size = (img.size[1], img.size[0])  # height, width
        if first is None:
            first = (path, size)
        elif size != first[1]:
            raise DataError(f"{path} is {size[0]}x{size[1]} (HxW) but {first[0]} is {first[1][0]}x{first[1][1]}: "
                            f"pass --image-size HxW (image_size=) to resize every image to one size")
        yield np.asarray(img, dtype=np.uint8).reshape(*size, channels)


def _decode_into(path: Path, files: list[tuple[int, Path]], image_size: tuple[int, int] | None,
                 color_mode: str) -> tuple[int, ...]:
    """Decode the images into the ``.npy`` file ``path``, an image at a time (plain writes, so
    a full disk is an ``OSError``, not a fault in a mapped page); the array's shape."""
    shape: tuple[int, ...] = ()
    with path.open("wb") as f:
        for i, pixels in enumerate(_images(files, image_size, color_mode)):
            if i == 0:
                shape = (len(files), *pixels.shape)
                np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                                                         "fortran_order": False, "shape": shape})
            f.write(np.ascontiguousarray(pixels).tobytes())
    return shape


def _new_entry(entry: Path) -> Path | None:
    """A new folder beside ``entry`` to decode into; None if the cache cannot be written."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=entry.name + ".", dir=entry.parent))
    except OSError as e:
        _log.warning("cannot cache the decoded images in %s (%s): they are held in memory and decoded again "
                     "next time", entry, e)
        return None


def _finish(tmp: Path, entry: Path, y: np.ndarray, meta: dict[str, Any]) -> None:
    """Complete the decoded folder ``tmp``, then rename it into place (a search reading the
    cache meanwhile never sees half an entry)."""
    np.save(tmp / "y.npy", y)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    try:
        tmp.rename(entry)
    except OSError:  # written meanwhile by another search of the same folder
        if not (entry / "meta.json").is_file():
            raise
