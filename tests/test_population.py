"""artx.population: training a population together equals training its members one by one."""

import numpy as np
import pytest
import torch

from artx import data
from artx.models import build_model
from artx.population import train_population
from artx.training import TrainingSpec, train


@pytest.fixture(scope="module")
def small():
    return data.load("mnist-5k", "train", limit=256, seed=0)


@pytest.mark.parametrize("arch, optimizer", [("lenet5", "adam"), ("shallow-mlp", "sgd")])
def test_population_equals_sequential_training(small, arch, optimizer):
    x, y = small
    # one data set per member: member 1 sees a brightened pixel, so the members differ by data and seed
    stacked = np.stack([x, x.copy()])
    stacked[1, :, 0, 3, 3] = 1.0
    population = train_population(
        TrainingSpec(arch, epochs=2, optimizer=optimizer, batch_size=64), stacked, y, init_seeds=[3, 7], seed=5
    )
    probe = torch.from_numpy(x[:64])
    for k, (seed, xk) in enumerate(zip([3, 7], stacked)):
        alone = build_model(arch, seed=seed)
        train(
            alone,
            np.ascontiguousarray(xk),
            y,
            TrainingSpec("model", epochs=2, optimizer=optimizer, batch_size=64),
            seed=5,
            progress=False,
        )
        with torch.no_grad():
            torch.testing.assert_close(population.member(k)(probe), alone(probe), rtol=1e-4, atol=1e-4)
    predictions = population.predict(x[:64])
    assert predictions.shape == (2, 64)
    with torch.no_grad():
        np.testing.assert_array_equal(predictions[0], population.member(0)(probe).argmax(1).numpy())


def test_shared_data_and_bad_inputs(small):
    x, y = small
    population = train_population(TrainingSpec("shallow-mlp", epochs=1), x, y, init_seeds=[0, 1, 2])
    assert population.size == 3 and population.predict(x[:10]).shape == (3, 10)
    with pytest.raises(ValueError, match="one data set per member"):
        train_population(TrainingSpec("shallow-mlp", epochs=1), np.stack([x, x]), y, init_seeds=[0, 1, 2])
    with pytest.raises(ValueError, match="init_seeds must hold at least one seed"):
        train_population(TrainingSpec("shallow-mlp", epochs=1), x, y, init_seeds=[])
    with pytest.raises(ValueError, match="without batch norm or dropout"):
        train_population(TrainingSpec("lenet5-dropout", epochs=1), x, y, init_seeds=[0])
    with pytest.raises(ValueError, match=r"pixels must lie in \[0.0, 1.0\]"):
        train_population(TrainingSpec("shallow-mlp", epochs=1), x * 2, y, init_seeds=[0])
    with pytest.raises(ValueError, match="epochs must be an int in"):
        train_population(TrainingSpec("shallow-mlp", epochs=0), x, y, init_seeds=[0])
    with pytest.raises(ValueError, match="spec.max_norm must be None"):
        train_population(TrainingSpec("shallow-mlp", epochs=1, max_norm=1.0), x, y, init_seeds=[0])


@pytest.mark.parametrize("arch", ["linear", "shallow-mlp", "lenet5"])
def test_single_pixel_data_equals_materialised_copies(small, arch):
    """pixels=(rows, cols, values) trains exactly as per-member copies with the pixels written in
    (the sparse first-layer identity for Flatten→Linear models, copies for the others)."""
    x, y = small
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 28, size=(2, 3, len(x)))
    values = rng.random((3, len(x))).astype(np.float32)
    copies = np.repeat(x[None], 3, axis=0)
    for k in range(3):
        copies[k, np.arange(len(x)), 0, rows[k], cols[k]] = values[k]
    sparse = train_population(
        TrainingSpec(arch, epochs=2, batch_size=64), x, y, init_seeds=[1, 1, 2], seed=4, pixels=(rows, cols, values)
    )
    dense = train_population(TrainingSpec(arch, epochs=2, batch_size=64), copies, y, init_seeds=[1, 1, 2], seed=4)
    probe = torch.from_numpy(x[:32])
    with torch.no_grad():
        for k in range(3):
            torch.testing.assert_close(sparse.member(k)(probe), dense.member(k)(probe), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(sparse.predict(x, pixels=(rows, cols, values)), dense.predict(copies))
    with pytest.raises(ValueError, match=r"pixels rows must have shape \(P, N\)"):
        train_population(TrainingSpec(arch, epochs=1), x, y, init_seeds=[1], pixels=(rows, cols, values))
    with pytest.raises(ValueError, match="values must lie in"):
        train_population(TrainingSpec(arch, epochs=1), x, y, init_seeds=[1, 1, 2], pixels=(rows, cols, values + 1))
