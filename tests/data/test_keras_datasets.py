"""keras.datasets by name, from Keras's cache written by the tests: the network is never reached."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl.data import data_from_description, load_data
from automl.errors import DataError
from tests.data.fakes import fake_cifar10, fake_cifar100, fake_fashion_mnist, fake_mnist


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL a download was tried from; each attempt fails as it does offline."""
    tried: list[str] = []

    def offline(url: Any, *args: Any, **kwargs: Any) -> Any:
        tried.append(str(url))
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tried


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> Path:
    """An empty Keras home (and an empty /tmp/.keras, Keras's fallback), offline."""
    home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    return home


def test_mnist_from_the_cache_scaled_split_and_reloaded(keras_home: Path, calls: list[str]) -> None:
    path = fake_mnist(keras_home)
    d = load_data("mnist", val_split=0.25)
    assert d.input_shape == (28, 28) and d.num_classes == 10
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (30, 10, 20)
    with np.load(path) as raw:  # the test split is Keras's, scaled as x.astype("float32") / 255
        np.testing.assert_array_equal(d.x_test, raw["x_test"].astype("float32") / 255)
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    desc = d.describe()
    assert desc["source"] == "mnist" and desc["class_names"] == list("0123456789")
    assert desc["scaled"] == "pixels / 255"
    again = data_from_description(desc)
    np.testing.assert_array_equal(again.x_val, d.x_val)
    assert calls == []


def test_fashion_mnist_cifar10_and_cifar100(keras_home: Path, calls: list[str]) -> None:
    fake_fashion_mnist(keras_home)
    f = load_data("fashion_mnist")
    assert f.input_shape == (28, 28) and len(f.y_test) == 10 and f.describe()["class_names"][9] == "Ankle boot"
    fake_cifar10(keras_home)  # the archive Keras downloads: extracted as Keras would
    c = load_data("cifar10")
    assert c.input_shape == (32, 32, 3) and len(c.y_train) + len(c.y_val) == 50 and len(c.y_test) == 10
    assert (keras_home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "test_batch").is_file()
    assert c.describe()["class_names"][0] == "airplane"
    fake_cifar100(keras_home)
    hundred = load_data("cifar100")
    assert hundred.num_classes == 100 and hundred.describe()["class_names"][:2] == ["c0", "c1"]
    assert calls == []


def test_cifar10_reads_as_keras_reads_it(keras_home: Path) -> None:
    folder = fake_cifar10(keras_home, archive=False)
    cifar = pytest.importorskip("keras.src.datasets.cifar")  # Keras's own reader (a private module)

    x, y = cifar.load_batch(str(folder / "cifar-10-batches-py" / "test_batch"))
    d = load_data("cifar10")
    np.testing.assert_array_equal(d.x_test, x.transpose(0, 2, 3, 1).astype("float32") / 255)
    np.testing.assert_array_equal(d.y_test, y)


def test_offline_without_a_cached_copy_says_which_file_to_put_where(keras_home: Path, calls: list[str]) -> None:
    with pytest.raises(DataError) as e:
        load_data("cifar10")
    msg = str(e.value)
    assert "cifar10 is not in Keras's cache and cannot be downloaded (" in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg
    assert str(keras_home / "datasets" / "cifar-10-batches-py-target_archive") in msg
    assert calls == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    with pytest.raises(DataError, match=r"download mnist.npz|tf-keras-datasets/mnist.npz and save it as"):
        load_data("mnist")


def test_a_download_lands_in_keras_cache_and_a_wrong_hash_is_refused(keras_home: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    source = fake_mnist(keras_home.parent / "server")
    served: list[str] = []

    def serve(url: str, timeout: float) -> Any:
        served.append(url)
        assert timeout > 0  # never a download that can hang forever
        return io.BytesIO(source.read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    with pytest.raises(DataError, match="has sha256 .*, not Keras's 731c5ac6"):
        load_data("mnist")
    assert not list((keras_home / "datasets").glob("mnist*")), "nothing half-written is left in the cache"
    from automl.data import _keras_datasets as kd

    src = kd.KERAS_DATASETS["mnist"]
    monkeypatch.setitem(kd.KERAS_DATASETS, "mnist", kd._Source(src.description, ((src.downloads[0][0],
                                                                                  src.downloads[0][1], None),)))
    d = load_data("mnist")
    assert (keras_home / "datasets" / "mnist.npz").read_bytes() == source.read_bytes()
    assert len(d.y_test) == 20 and served[-1].endswith("/mnist.npz")


def test_a_corrupt_cached_copy_is_named(keras_home: Path) -> None:
    (keras_home / "datasets").mkdir(parents=True)
    (keras_home / "datasets" / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match=r"mnist: Keras's cached copy under .*mnist.npz is unreadable .*delete it"):
        load_data("mnist")


def test_image_options_are_for_folders_only(keras_home: Path) -> None:
    fake_mnist(keras_home)
    with pytest.raises(DataError, match="apply to image folders only, and 'mnist' is not a folder"):
        load_data("mnist", image_size="28x28")
