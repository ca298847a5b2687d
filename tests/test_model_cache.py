import json
import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from artx import atomic
from artx.model_cache import train_cached
from artx.paths import cache_dir
from artx.training import TrainingSpec


@pytest.fixture
def small(mnist_small):
    x, y, _, _ = mnist_small
    return x[:256], y[:256]


def equal_models(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_cache_round_trip(small):
    x, y = small
    first = train_cached(TrainingSpec("lenet5", epochs=1), x, y, seed=0, progress=False)
    second = train_cached(TrainingSpec("lenet5", epochs=1), x, y, seed=0, progress=False)
    assert (first.from_cache, second.from_cache) == (False, True)
    assert first.key == second.key
    assert equal_models(first.model, second.model)
    assert second.train_seconds == pytest.approx(first.train_seconds)
    assert first.path.parent == cache_dir() / "models"
    # the entry is a sealed state_dict: loadable without unpickling arbitrary objects
    state = atomic.torch_load_sealed(first.path)
    assert set(state) == set(first.model.state_dict())
    assert not list((cache_dir() / "checkpoints").glob("*")), "the epoch checkpoint is removed once done"


def test_key_depends_on_data_hyperparameters_seed_and_init(small):
    x, y = small
    base = train_cached(TrainingSpec("shallow-mlp", epochs=1), x, y, seed=0, progress=False)
    variants = [
        train_cached(TrainingSpec("shallow-mlp", epochs=2), x, y, seed=0, progress=False),
        train_cached(TrainingSpec("shallow-mlp", epochs=1), x, y, seed=1, progress=False),
        train_cached(TrainingSpec("shallow-mlp", epochs=1, lr=3e-4), x, y, seed=0, progress=False),
        train_cached(TrainingSpec("shallow-mlp", epochs=1), x[:-1], y[:-1], seed=0, progress=False),
        train_cached(TrainingSpec("shallow-mlp", epochs=1, model_params={"hidden": 64}), x, y, seed=0, progress=False),
        train_cached(TrainingSpec("shallow-mlp", epochs=1, trainable=["fc2"]), x, y, seed=0, progress=False),
        train_cached(
            TrainingSpec("shallow-mlp", epochs=1), x, y, seed=0, init_state=base.model.state_dict(), progress=False
        ),
    ]
    keys = {base.key} | {v.key for v in variants}
    assert len(keys) == 1 + len(variants)
    assert not any(v.from_cache for v in variants)


def test_data_identity_keys_labels_by_name_and_makes_them_only_on_a_miss(small):
    """Soft labels differ in the last bits between machines: a named identity keys them instead."""
    x, y = small
    soft = np.eye(10, dtype=np.float32)[y] * np.float32(0.9) + np.float32(0.01)
    calls = []

    def make_soft():
        calls.append(1)
        return soft

    spec = TrainingSpec("shallow-mlp", epochs=1)
    first = train_cached(spec, x, make_soft, seed=0, data_identity="teacher A at T=20", progress=False)
    assert (first.from_cache, len(calls)) == (False, 1)
    # other bytes (one label moved by one ulp), same name: the same entry, and no labels made
    nudged = soft.copy()
    nudged[0, 0] = np.nextafter(nudged[0, 0], np.float32(1))
    again = train_cached(spec, x, nudged, seed=0, data_identity="teacher A at T=20", progress=False)
    lazy = train_cached(spec, x, make_soft, seed=0, data_identity="teacher A at T=20", progress=False)
    assert again.from_cache and lazy.from_cache and again.key == lazy.key == first.key and len(calls) == 1
    other = train_cached(spec, x, soft, seed=0, data_identity="teacher B at T=20", progress=False)
    by_bytes = train_cached(spec, x, soft, seed=0, progress=False)
    assert len({first.key, other.key, by_bytes.key}) == 3 and not other.from_cache


@pytest.mark.parametrize(
    "identity, labels, error, match",
    [
        (3, None, TypeError, "data_identity must be None or a str.*int"),
        ("  ", None, ValueError, "data_identity must name the data"),
        (None, lambda: None, TypeError, "only with data_identity"),
    ],
)
def test_bad_data_identity(small, identity, labels, error, match):
    x, y = small
    with pytest.raises(error, match=match):
        train_cached(TrainingSpec("lenet5", epochs=1), x, labels or y, data_identity=identity, progress=False)


def test_corrupt_entry_is_retrained(small, caplog):
    x, y = small
    first = train_cached(TrainingSpec("lenet5", epochs=1), x, y, seed=0, progress=False)
    first.path.write_bytes(first.path.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        again = train_cached(TrainingSpec("lenet5", epochs=1), x, y, seed=0, progress=False)
    assert not again.from_cache
    assert "failed its check" in caplog.text
    assert equal_models(first.model, again.model)  # deterministic retraining
    assert train_cached(TrainingSpec("lenet5", epochs=1), x, y, seed=0, progress=False).from_cache


def test_entry_with_wrong_tensors_is_retrained(small):
    x, y = small
    first = train_cached(TrainingSpec("lenet5", epochs=1), x, y, seed=0, progress=False)
    torch.save({"unexpected": torch.zeros(1)}, first.path)
    again = train_cached(TrainingSpec("lenet5", epochs=1), x, y, seed=0, progress=False)
    assert not again.from_cache and equal_models(first.model, again.model)


def test_side_file_records_the_specification(small):
    x, y = small
    trained = train_cached(TrainingSpec("lenet5", epochs=1, optimizer="sgd"), x, y, seed=3, progress=False)
    meta = json.loads(trained.path.with_suffix(".json").read_text())
    assert meta["spec"]["seed"] == 3 and meta["spec"]["optimizer"] == "sgd" and meta["spec"]["lr"] == 0.01
    assert len(meta["history"]["loss"]) == 1


def test_fine_tuning_from_given_weights(small):
    x, y = small
    base = train_cached(TrainingSpec("lenet5", epochs=1), x, y, seed=0, progress=False)
    tuned = train_cached(
        TrainingSpec("lenet5", epochs=1, trainable=["fc3"]),
        x,
        y,
        seed=0,
        init_state=base.model.state_dict(),
        progress=False,
    )
    same = {k for k, v in base.model.state_dict().items() if torch.equal(v, tuned.model.state_dict()[k])}
    assert "conv1.weight" in same and "fc3.weight" not in same


def test_snapshots_equal_shorter_runs(small):
    x, y = small
    # a dropout model, so the per-epoch randomness matters
    longer = train_cached(
        TrainingSpec("lenet5-dropout", epochs=3, batch_size=64), x, y, seed=0, snapshot_epochs=[1, 2], progress=False
    )
    for k in (1, 2):
        snapshot = train_cached(TrainingSpec("lenet5-dropout", epochs=k, batch_size=64), x, y, seed=0, progress=False)
        assert snapshot.from_cache
        assert len(snapshot.history["loss"]) == k
        fresh = train_cached(
            TrainingSpec("lenet5-dropout", epochs=k, batch_size=64), x, y, seed=0, use_cache=False, progress=False
        )
        assert equal_models(snapshot.model, fresh.model)
        assert snapshot.history["loss"] == fresh.history["loss"]
    assert not equal_models(snapshot.model, longer.model)


@pytest.mark.parametrize(
    "snapshots, error, match",
    [
        ([0], ValueError, r"\[1, 2\].*got 0"),
        ([3], ValueError, r"\[1, 2\].*got 3"),
        ([1.0], TypeError, "ints.*1.0"),
        ("1", TypeError, "iterable of ints.*str"),
    ],
)
def test_bad_snapshot_epochs(small, snapshots, error, match):
    x, y = small
    with pytest.raises(error, match=match):
        train_cached(TrainingSpec("lenet5", epochs=3), x, y, snapshot_epochs=snapshots, progress=False)
    with pytest.raises(ValueError, match="needs the cache"):
        train_cached(TrainingSpec("lenet5", epochs=3), x, y, snapshot_epochs=[1], use_cache=False, progress=False)


def test_bit_flips_in_an_entry_are_never_served(small, caplog):
    """Every single-bit flip of a cached entry is caught by its digest (or fails to load) and
    retrained to the same weights; none is served as a hit with changed weights."""
    x, y = small
    spec = TrainingSpec("shallow-mlp", epochs=1)
    first = train_cached(spec, x, y, seed=0, progress=False)
    original = first.path.read_bytes()
    rng = np.random.default_rng(0)
    for position in rng.choice(len(original) * 8, size=12, replace=False):
        flipped = bytearray(original)
        flipped[position // 8] ^= 1 << (position % 8)
        first.path.write_bytes(bytes(flipped))
        again = train_cached(spec, x, y, seed=0, progress=False)
        assert not again.from_cache, f"bit {position} flipped was served from the cache"
        assert equal_models(first.model, again.model)
        assert set(atomic.torch_load_sealed(first.path)) == set(first.model.state_dict())  # rewritten by the retraining


def test_unwritable_cache_trains_without_it_and_warns_once(small, tmp_path, monkeypatch, caplog):
    x, y = small
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ARTX_CACHE_DIR", str(blocker))
    from artx import model_cache

    model_cache._warned.clear()
    with caplog.at_level(logging.WARNING):
        first = train_cached(TrainingSpec("shallow-mlp", epochs=1), x, y, seed=0, progress=False)
        second = train_cached(TrainingSpec("shallow-mlp", epochs=1), x, y, seed=0, progress=False)
    assert not first.from_cache and not second.from_cache
    assert equal_models(first.model, second.model)
    assert caplog.text.count("is not writable") == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_cache_serves_valid_entries_and_survives_corrupt_ones(small, tmp_path, monkeypatch):
    x, y = small
    monkeypatch.setenv("ARTX_CACHE_DIR", str(tmp_path / "cache"))
    spec = TrainingSpec("shallow-mlp", epochs=1)
    train_cached(spec, x, y, seed=0, progress=False)
    corrupt = train_cached(spec, x, y, seed=1, progress=False)
    corrupt.path.write_bytes(corrupt.path.read_bytes()[:50])
    models = tmp_path / "cache" / "models"
    for path in models.iterdir():
        path.chmod(0o444)
    models.chmod(0o555)
    try:
        assert train_cached(spec, x, y, seed=0, progress=False).from_cache
        again = train_cached(spec, x, y, seed=1, progress=False)  # corrupt entry: retrained, not deleted, no crash
        assert not again.from_cache
    finally:
        models.chmod(0o755)


def test_read_only_cache_is_simulated_for_root(small, tmp_path, monkeypatch):
    """The same as above where permissions do not bind (root): writes fail with OSError."""
    x, y = small
    monkeypatch.setenv("ARTX_CACHE_DIR", str(tmp_path / "cache"))
    spec = TrainingSpec("shallow-mlp", epochs=1)
    first = train_cached(spec, x, y, seed=0, progress=False)
    corrupt = train_cached(spec, x, y, seed=1, progress=False)
    corrupt.path.write_bytes(corrupt.path.read_bytes()[:50])
    from artx import model_cache

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(model_cache, "cache_writable", lambda folder=None: False)
    monkeypatch.setattr(Path, "unlink", refuse)
    monkeypatch.setattr(atomic, "torch_save_sealed", refuse)
    hit = train_cached(spec, x, y, seed=0, progress=False)
    assert hit.from_cache and equal_models(hit.model, first.model)
    again = train_cached(spec, x, y, seed=1, progress=False)
    assert not again.from_cache


def test_cache_files_follow_the_umask(small):
    x, y = small
    trained = train_cached(TrainingSpec("shallow-mlp", epochs=1), x, y, seed=0, progress=False)
    umask = os.umask(0)
    os.umask(umask)
    for path in (trained.path, trained.path.with_suffix(".json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_trainings_that_differ_only_in_weight_decay_or_objective_get_other_keys(small):
    from artx.training import CrossEntropy

    x, y = small
    base = train_cached(TrainingSpec("shallow-mlp", epochs=1), x, y, seed=0, progress=False)
    decay = train_cached(TrainingSpec("shallow-mlp", epochs=1, weight_decay=1e-2), x, y, seed=0, progress=False)
    hot = train_cached(
        TrainingSpec("shallow-mlp", epochs=1, objective=CrossEntropy(temperature=10.0)), x, y, seed=0, progress=False
    )
    plain = train_cached(TrainingSpec("shallow-mlp", epochs=1, objective=CrossEntropy()), x, y, seed=0, progress=False)
    assert len({base.key, decay.key, hot.key}) == 3
    assert plain.key == base.key and plain.from_cache  # T = 1 cross-entropy is the default
