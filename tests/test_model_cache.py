import json
import logging

import pytest
import torch

from artx.model_cache import train_cached
from artx.paths import cache_dir


@pytest.fixture
def small(mnist_small):
    x, y, _, _ = mnist_small
    return x[:256], y[:256]


def equal_models(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_cache_round_trip(small):
    x, y = small
    first = train_cached("lenet5", x, y, epochs=1, seed=0, progress=False)
    second = train_cached("lenet5", x, y, epochs=1, seed=0, progress=False)
    assert (first.from_cache, second.from_cache) == (False, True)
    assert first.key == second.key
    assert equal_models(first.model, second.model)
    assert second.train_seconds == pytest.approx(first.train_seconds)
    assert first.path.parent == cache_dir() / "models"
    # the entry is a plain state_dict: loadable without unpickling arbitrary objects
    state = torch.load(first.path, weights_only=True)
    assert set(state) == set(first.model.state_dict())
    assert not list((cache_dir() / "checkpoints").glob("*")), "the epoch checkpoint is removed once done"


def test_key_depends_on_data_hyperparameters_seed_and_init(small):
    x, y = small
    base = train_cached("shallow-mlp", x, y, epochs=1, seed=0, progress=False)
    variants = [
        train_cached("shallow-mlp", x, y, epochs=2, seed=0, progress=False),
        train_cached("shallow-mlp", x, y, epochs=1, seed=1, progress=False),
        train_cached("shallow-mlp", x, y, epochs=1, seed=0, lr=3e-4, progress=False),
        train_cached("shallow-mlp", x[:-1], y[:-1], epochs=1, seed=0, progress=False),
        train_cached("shallow-mlp", x, y, epochs=1, seed=0, model_params={"hidden": 64}, progress=False),
        train_cached("shallow-mlp", x, y, epochs=1, seed=0, trainable=["fc2"], progress=False),
        train_cached("shallow-mlp", x, y, epochs=1, seed=0, init_state=base.model.state_dict(), progress=False),
    ]
    keys = {base.key} | {v.key for v in variants}
    assert len(keys) == 1 + len(variants)
    assert not any(v.from_cache for v in variants)


def test_corrupt_entry_is_retrained(small, caplog):
    x, y = small
    first = train_cached("lenet5", x, y, epochs=1, seed=0, progress=False)
    first.path.write_bytes(first.path.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        again = train_cached("lenet5", x, y, epochs=1, seed=0, progress=False)
    assert not again.from_cache
    assert "unreadable" in caplog.text
    assert equal_models(first.model, again.model)  # deterministic retraining
    assert train_cached("lenet5", x, y, epochs=1, seed=0, progress=False).from_cache


def test_entry_with_wrong_tensors_is_retrained(small):
    x, y = small
    first = train_cached("lenet5", x, y, epochs=1, seed=0, progress=False)
    torch.save({"unexpected": torch.zeros(1)}, first.path)
    again = train_cached("lenet5", x, y, epochs=1, seed=0, progress=False)
    assert not again.from_cache and equal_models(first.model, again.model)


def test_side_file_records_the_specification(small):
    x, y = small
    trained = train_cached("lenet5", x, y, epochs=1, seed=3, optimizer="sgd", progress=False)
    meta = json.loads(trained.path.with_suffix(".json").read_text())
    assert meta["spec"]["seed"] == 3 and meta["spec"]["optimizer"] == "sgd" and meta["spec"]["lr"] == 0.01
    assert len(meta["history"]["loss"]) == 1


def test_fine_tuning_from_given_weights(small):
    x, y = small
    base = train_cached("lenet5", x, y, epochs=1, seed=0, progress=False)
    tuned = train_cached("lenet5", x, y, epochs=1, seed=0, init_state=base.model.state_dict(), trainable=["fc3"], progress=False)
    same = {k for k, v in base.model.state_dict().items() if torch.equal(v, tuned.model.state_dict()[k])}
    assert "conv1.weight" in same and "fc3.weight" not in same


def test_snapshots_equal_shorter_runs(small):
    x, y = small
    # a dropout model, so the per-epoch randomness matters
    longer = train_cached("lenet5-dropout", x, y, epochs=3, seed=0, batch_size=64, snapshot_epochs=[1, 2], progress=False)
    for k in (1, 2):
        snapshot = train_cached("lenet5-dropout", x, y, epochs=k, seed=0, batch_size=64, progress=False)
        assert snapshot.from_cache
        assert len(snapshot.history["loss"]) == k
        fresh = train_cached("lenet5-dropout", x, y, epochs=k, seed=0, batch_size=64, use_cache=False, progress=False)
        assert equal_models(snapshot.model, fresh.model)
        assert snapshot.history["loss"] == fresh.history["loss"]
    assert not equal_models(snapshot.model, longer.model)


@pytest.mark.parametrize(
    "snapshots, error, match",
    [([0], ValueError, r"\[1, 2\].*got 0"), ([3], ValueError, r"\[1, 2\].*got 3"), ([1.0], TypeError, "ints.*1.0"), ("1", TypeError, "iterable of ints.*str")],
)
def test_bad_snapshot_epochs(small, snapshots, error, match):
    x, y = small
    with pytest.raises(error, match=match):
        train_cached("lenet5", x, y, epochs=3, snapshot_epochs=snapshots, progress=False)
    with pytest.raises(ValueError, match="needs the cache"):
        train_cached("lenet5", x, y, epochs=3, snapshot_epochs=[1], use_cache=False, progress=False)
