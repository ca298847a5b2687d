"""Shared fixtures. Tests never touch the network, the user's cache or ../shared."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from artx import registry


def pytest_configure(config):
    """One torch thread per test process: the tests' models are small, and on a 2-core machine
    that is also running anything else, torch's second OpenMP thread spin-waits (measured here:
    one L-BFGS attack 0.25 s per image with one thread, 17 s with two under load). Results in
    a test are compared within the same process, so the count does not change any assertion."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory, monkeypatch):
    """Every test gets artx's cache in a temporary folder and no ARTX_DATA_DIR."""
    monkeypatch.setenv("ARTX_CACHE_DIR", str(tmp_path_factory.mktemp("artx-cache")))
    monkeypatch.delenv("ARTX_DATA_DIR", raising=False)
    registry.refresh()
    yield
    registry.refresh()


@pytest.fixture(scope="session")
def mnist_small():
    """1,000 training and 300 test images of the embedded subset (seeded subsets)."""
    from artx import data

    x_train, y_train = data.load("mnist-5k", "train", limit=1000, seed=0)
    x_test, y_test = data.load("mnist-5k", "test", limit=300, seed=0)
    return x_train, y_train, x_test, y_test


@pytest.fixture(scope="session")
def trained_lenet(mnist_small, tmp_path_factory):
    """A LeNet-5 trained for 10 epochs on the small subset, wrapped for ART."""
    from artx.models import build_model, to_art_classifier
    from artx.training import TrainingSpec, train

    x_train, y_train, _, _ = mnist_small
    model = build_model("lenet5", seed=0)
    train(model, x_train, y_train, TrainingSpec("lenet5", epochs=10), seed=0, progress=False)
    return to_art_classifier(model)


def make_distribution(root: Path, name: str, entry_points: str, modules: dict[str, str], version: str = "1.0") -> Path:
    """Create an installed-looking distribution (``*.dist-info`` + modules) under ``root``.

    Put ``root`` on ``sys.path`` and ``importlib.metadata`` finds it: the same mechanism that
    ``pip install`` relies on, without installing anything.
    """
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    return root


@pytest.fixture
def random_images():
    rng = np.random.default_rng(0)
    return rng.random((4, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, size=4)
