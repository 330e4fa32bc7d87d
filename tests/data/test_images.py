"""Image folders: Keras's conventions, decoded once and cached, bad folders named."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from automl.data import data_from_description, load_data
from automl.errors import DataError
from tests.data.fakes import image_folder

pytest.importorskip("PIL")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUTOML_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_classes_are_the_sorted_folder_names_and_pixels_are_scaled(tmp_path: Path) -> None:
    from PIL import Image

    root = image_folder(tmp_path / "pets", {"dog": 6, "cat": 5, "bird": 4})
    d = load_data(root, val_split=0.2)
    assert d.input_shape == (8, 10, 3) and d.num_classes == 3 and d.name == "pets"
    desc = d.describe()
    assert desc["class_names"] == ["bird", "cat", "dog"]  # labels 0, 1, 2: alphabetical, as Keras's
    assert desc["color_mode"] == "rgb" and desc["image_size"] is None and desc["source"] == str(root.resolve())
    x = np.concatenate([d.x_train, d.x_val])
    y = np.concatenate([d.y_train, d.y_val])
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert np.bincount(y).tolist() == [4, 5, 6]
    cat0 = np.asarray(Image.open(root / "cat" / "0.png"), dtype="float32") / 255
    assert any(np.array_equal(cat0, xi) for xi in x[y == 1])
    again = data_from_description(desc)
    np.testing.assert_array_equal(again.x_val, d.x_val)


def test_decoded_as_keras_load_img_decodes_them(tmp_path: Path) -> None:
    import keras

    root = image_folder(tmp_path / "imgs", {"a": 3, "b": 3}, size=(12, 9))
    d = load_data(root, image_size="6x5", color_mode="grayscale", val_split=0.5)
    assert d.input_shape == (6, 5, 1)
    img = keras.utils.load_img(root / "a" / "0.png", color_mode="grayscale", target_size=(6, 5),
                               interpolation="bilinear")
    want = keras.utils.img_to_array(img) / 255
    x = np.concatenate([d.x_train, d.x_val])
    assert any(np.allclose(want, xi, atol=1e-6) for xi in x)


def test_formats_nested_folders_and_hidden_files(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    image_folder(root, {"a": 2}, fmt="jpg")
    image_folder(root, {"a": 2}, fmt="bmp", seed=1)
    image_folder(root, {"b": 2}, fmt="gif", mode="P")
    image_folder(root / "b" / "more", {"deeper": 2}, fmt="PNG")  # nested, upper-case extension: Keras reads both
    (root / "a" / ".DS_Store").write_bytes(b"\0")
    (root / ".ipynb_checkpoints").mkdir()
    (root / "README.txt").write_text("files beside the class folders are not samples")
    d = load_data(root, val_split=0.25)
    assert d.describe()["class_names"] == ["a", "b"]
    assert np.bincount(np.concatenate([d.y_train, d.y_val])).tolist() == [4, 4]


def test_a_second_load_reads_the_cache_and_a_changed_folder_is_decoded_again(tmp_path: Path, cache: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from automl.data import _images

    root = image_folder(tmp_path / "imgs", {"a": 3, "b": 3})
    first = load_data(root)
    entries = list((cache / "images").iterdir())
    assert len(entries) == 1 and {p.name for p in entries[0].iterdir()} == {"x.npy", "y.npy", "meta.json"}

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded again")

    with monkeypatch.context() as m:
        m.setattr(_images, "_images", no_decoding)
        second = load_data(root)
        np.testing.assert_array_equal(first.x_train, second.x_train)
        with pytest.raises(AssertionError, match="decoded again"):
            load_data(root, image_size="4x4")  # other options: another entry
        os.utime(root / "a" / "0.png", ns=(1, 1))  # a file changed
        with pytest.raises(AssertionError, match="decoded again"):
            load_data(root)
    load_data(root, color_mode="grayscale")
    assert len(list((cache / "images").iterdir())) == 2  # the decodings that failed above wrote nothing


def _corrupt(t: Path) -> Path:
    root = image_folder(t / "imgs", {"a": 2, "b": 2})
    (root / "b" / "1.png").write_bytes(b"\x89PNG not really")
    return root


def _text_file(t: Path) -> Path:
    root = image_folder(t / "imgs", {"a": 2, "b": 2})
    (root / "a" / "labels.csv").write_text("x\n")
    return root


def _sizes(t: Path) -> Path:
    root = image_folder(t / "imgs", {"a": 2}, size=(8, 8))
    return image_folder(root, {"b": 2}, size=(16, 12))


def _empty_class(t: Path) -> Path:
    root = image_folder(t / "imgs", {"a": 2, "b": 2})
    (root / "c").mkdir()
    return root


BAD_FOLDERS = {
    "corrupt image": (_corrupt, "imgs/b/1.png: not an image Pillow can read"),
    "not an image": (_text_file, "imgs/a/labels.csv: not an image file (bmp, gif, jpeg, jpg, png); move it out"),
    "sizes differ": (_sizes, "imgs/b/0.png is 16x12 (HxW) but"),
    "empty class": (_empty_class, "imgs/c: the class folder 'c' holds no images; add images or remove it"),
    "one class": (lambda t: image_folder(t / "imgs", {"a": 3}), "at least 2; it has only the class folder 'a'"),
    "no class folders": (lambda t: (t / "imgs").mkdir() or t / "imgs", "at least 2; it has no sub-folders"),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_bad_folders_are_named(tmp_path: Path, case: str, cache: Path) -> None:
    make, words = BAD_FOLDERS[case]
    with pytest.raises(DataError) as e:
        load_data(make(tmp_path))
    assert words in str(e.value)
    assert not (cache / "images").is_dir() or not list((cache / "images").iterdir())


def test_sizes_differ_is_fixed_by_an_image_size(tmp_path: Path) -> None:
    d = load_data(_sizes(tmp_path), image_size=(8, 8), val_split=0.5)
    assert d.input_shape == (8, 8, 3) and d.describe()["image_size"] == [8, 8]


@pytest.mark.parametrize("size", ["64", "0x8", "8x8x3", "axb", "-8x8"])
def test_bad_image_sizes_say_how_to_write_one(tmp_path: Path, size: str) -> None:
    root = image_folder(tmp_path / "imgs", {"a": 2, "b": 2})
    with pytest.raises(DataError, match="image size must be HEIGHTxWIDTH in pixels, e.g. 64x64"):
        load_data(root, image_size=size)


def test_bad_color_mode(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "imgs", {"a": 2, "b": 2})
    with pytest.raises(DataError, match="color mode must be grayscale or rgb"):
        load_data(root, color_mode="rgba")
