import gzip
import stat
import struct

import numpy as np
import pytest

from artx import data

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x0800 | array.ndim
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_tiny_mnist(root, folder="MNIST", n=5, compress=True):
    rng = np.random.default_rng(1)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, (images_name, labels_name) in FILES.items():
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        for name, array in ((images_name, images), (labels_name, labels)):
            payload = idx_bytes(array)
            if compress:
                with gzip.open(raw / f"{name}.gz", "wb") as handle:
                    handle.write(payload)
            else:
                (raw / name).write_bytes(payload)
        arrays[split] = (images, labels)
    return arrays


def test_embedded_subset_shapes_ranges_and_split():
    x_train, y_train = data.load("mnist-5k", "train")
    x_test, y_test = data.load("mnist-5k", "test")
    assert x_train.shape == (4000, 1, 28, 28) and x_test.shape == (1000, 1, 28, 28)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 == x_train.min() and x_train.max() == 1.0
    assert np.bincount(y_train).tolist() == [400] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    # the 1,000 test images are not among the training images
    train_rows = {row.tobytes() for row in x_train}
    assert sum(row.tobytes() in train_rows for row in x_test) == 0


def test_embedded_subset_is_deterministic_and_limit_is_seeded():
    a = data.load("mnist-5k", "train", limit=100, seed=3)
    b = data.load("mnist-5k", "train", limit=100, seed=3)
    c = data.load("mnist-5k", "train", limit=100, seed=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (100, 1, 28, 28)


@pytest.mark.parametrize("compress", [True, False])
def test_reads_idx_files_written_by_the_test(tmp_path, compress):
    arrays = write_tiny_mnist(tmp_path, compress=compress)
    x, y = data.load("mnist", "test", data_dir=tmp_path)
    images, labels = arrays["test"]
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(np.rint(x[:, 0] * 255).astype(np.uint8), images)
    np.testing.assert_array_equal(y, labels)


def test_fashion_mnist_folder_and_env_variable(tmp_path, monkeypatch):
    arrays = write_tiny_mnist(tmp_path, folder="FashionMNIST")
    monkeypatch.setenv("ARTX_DATA_DIR", str(tmp_path))
    x, y = data.load("fashion-mnist", "train")
    np.testing.assert_array_equal(y, arrays["train"][1])


def test_read_only_data_dir_is_not_written(tmp_path):
    write_tiny_mnist(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP if path.is_dir() else stat.S_IRUSR)
    try:
        x, _ = data.load("mnist", "train", data_dir=tmp_path)
        assert len(x) == 5
        after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        assert after == before
    finally:
        for path in [tmp_path, *tmp_path.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_truncated_gzip_names_the_file(tmp_path):
    write_tiny_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(data.CorruptDatasetError, match="train-images-idx3-ubyte.gz"):
        data.load("mnist", "train", data_dir=tmp_path)


def test_truncated_payload_and_bad_magic(tmp_path):
    write_tiny_mnist(tmp_path, compress=False)
    raw = tmp_path / "MNIST" / "raw"
    images = raw / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(data.CorruptDatasetError, match="truncated"):
        data.load("mnist", "test", data_dir=tmp_path)
    labels = raw / "train-labels-idx1-ubyte"
    labels.write_bytes(b"\x00\x00\x08\x03" + labels.read_bytes()[4:])
    with pytest.raises(data.CorruptDatasetError, match="magic"):
        data.load("mnist", "train", data_dir=tmp_path)


def test_image_label_count_mismatch(tmp_path):
    write_tiny_mnist(tmp_path, compress=False)
    labels = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(data.CorruptDatasetError, match="5 images but .* 4 labels"):
        data.load("mnist", "train", data_dir=tmp_path)


def test_missing_files_offline_give_one_clear_error(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load("mnist", "train", data_dir=tmp_path)
    message = str(info.value)
    for needle in (
        "ARTX_DATA_DIR",
        "--data-dir",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        str(tmp_path),
    ):
        assert needle in message
    assert not any(tmp_path.iterdir()), "nothing may be written into the data folder"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"name": "cifar10"}, ValueError, "name must be one of"),
        ({"name": "mnist-5k", "split": "validation"}, ValueError, "split must be one of"),
        ({"name": "mnist-5k", "limit": 0}, ValueError, "limit must be an int in"),
        ({"name": "mnist-5k", "limit": 2.5}, TypeError, "limit must be an int"),
        ({"name": "mnist-5k", "seed": -1}, ValueError, "seed must be an int in"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.load(**kwargs)


def test_fingerprint_tracks_content():
    a = np.zeros((2, 3), dtype=np.float32)
    b = a.copy()
    b[0, 0] = 1e-7
    assert data.fingerprint(a) == data.fingerprint(a.copy())
    assert data.fingerprint(a) != data.fingerprint(b)
    assert data.fingerprint(a) != data.fingerprint(a.astype(np.float64))
