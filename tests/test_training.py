import numpy as np
import pytest
import torch

from artx import atomic
from artx.models import build_model
from artx.training import OPTIMIZERS, TrainingSpec, train


@pytest.fixture
def small(mnist_small):
    x, y, _, _ = mnist_small
    return x[:256], y[:256]


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_gives_identical_weights(small):
    x, y = small
    runs = []
    for seed in (0, 0, 1):
        model = build_model("lenet5-dropout", seed=0)
        train(model, x, y, TrainingSpec("model", epochs=2, batch_size=32), seed=seed, progress=False)
        runs.append(weights(model))
    assert same_weights(runs[0], runs[1])
    assert not same_weights(runs[0], runs[2])


def test_training_learns_and_leaves_eval_mode(mnist_small):
    x, y, x_test, y_test = mnist_small
    model = build_model("lenet5", seed=0)
    history = train(model, x, y, TrainingSpec("model", epochs=10), seed=0, progress=False)
    assert history.loss[-1] < history.loss[0]
    assert not model.training
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
    assert accuracy > 0.7


def test_trainable_freezes_all_other_layers(small):
    x, y = small
    model = build_model("lenet5", seed=0)
    before = weights(model)
    train(model, x, y, TrainingSpec("model", epochs=1, trainable=["fc3"]), seed=0, progress=False)
    after = weights(model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"fc3.weight", "fc3.bias"}
    assert all(p.requires_grad for p in model.parameters())  # restored afterwards


@pytest.mark.parametrize(
    "trainable, error, match",
    [(["fc9"], ValueError, "unknown layer 'fc9'.*fc3"), ([], ValueError, "at least one layer")],
)
def test_bad_trainable(small, trainable, error, match):
    with pytest.raises(error, match=match):
        train(build_model("lenet5"), *small, TrainingSpec("lenet5", epochs=1, trainable=trainable), progress=False)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains(small, optimizer):
    x, y = small
    model = build_model("shallow-mlp", seed=0)
    history = train(model, x, y, TrainingSpec("model", epochs=3, optimizer=optimizer), seed=0, progress=False)
    assert history.loss[-1] < history.loss[0]


def test_bad_inputs_are_refused(small):
    x, y = small
    model = build_model("lenet5")
    nan = x.copy()
    nan[0, 0, 0, 0] = np.nan
    cases = [
        (dict(x=x.astype(np.float64), y=y), TypeError, "dtype float32"),
        (dict(x=x[:, 0], y=y), ValueError, "4-D"),
        (dict(x=nan, y=y), ValueError, "finite"),
        (dict(x=x * 2, y=y), ValueError, r"in \[0.0, 1.0\]"),
        (dict(x=x, y=y[:-1]), ValueError, "one label per image"),
        (dict(x=x, y=y + 10), ValueError, r"labels must lie in \[0, 9\]"),
        (dict(x=x, y=y.astype(np.float32)), TypeError, "integer dtype"),
        (dict(x=x, y=y, device="gpu"), ValueError, "device must be"),
        (dict(x=x, y=y, seed=2**63), ValueError, r"seed must be an int seed in \[0, 2147483647\]"),
        (dict(x=x, y=y, spec="lenet5"), TypeError, "spec must be an artx.training.TrainingSpec"),
    ]
    for kwargs, error, match in cases:
        kwargs.setdefault("spec", TrainingSpec("lenet5", epochs=1))
        with pytest.raises(error, match=match):
            train(model, progress=False, **kwargs)
    spec_cases = [
        (dict(epochs=0), ValueError, "epochs"),
        (dict(optimizer="adamw"), ValueError, "optimizer must be one of"),
        (dict(lr=-1.0), ValueError, "lr must be"),
        (dict(weight_decay=-1.0), ValueError, "weight_decay must be"),
        (dict(trainable="fc3"), TypeError, "list of layer names"),
        (dict(objective="ce"), TypeError, "objective must be"),
    ]
    for kwargs, error, match in spec_cases:
        with pytest.raises(error, match=match):
            TrainingSpec("lenet5", **{"epochs": 1, **kwargs})


def test_resume_after_interruption_matches_uninterrupted_run(small, tmp_path):
    x, y = small
    reference = build_model("lenet5-dropout", seed=0)
    train(reference, x, y, TrainingSpec("model", epochs=3, batch_size=64), seed=0, progress=False)

    model = build_model("lenet5-dropout", seed=0)
    calls = {"n": 0}
    original_forward = model.forward

    def dies_in_epoch_three(inputs):
        calls["n"] += 1
        if calls["n"] > 2 * 4 + 1:  # 4 batches per epoch: die inside the third epoch
            raise KeyboardInterrupt
        return original_forward(inputs)

    model.forward = dies_in_epoch_three
    checkpoint = tmp_path / "run.ckpt"
    with pytest.raises(KeyboardInterrupt):
        train(
            model,
            x,
            y,
            TrainingSpec("model", epochs=3, batch_size=64),
            seed=0,
            checkpoint_path=checkpoint,
            checkpoint_tag="t",
            progress=False,
        )
    assert checkpoint.is_file()
    assert atomic.torch_load_sealed(checkpoint)["epoch"] == 2

    resumed = build_model("lenet5-dropout", seed=0)
    history = train(
        resumed,
        x,
        y,
        TrainingSpec("model", epochs=3, batch_size=64),
        seed=0,
        checkpoint_path=checkpoint,
        checkpoint_tag="t",
        progress=False,
    )
    assert len(history.loss) == 3
    assert same_weights(weights(resumed), weights(reference))


def test_checkpoint_of_another_run_is_ignored(small, tmp_path):
    x, y = small
    checkpoint = tmp_path / "run.ckpt"
    checkpoint.write_bytes(b"not a checkpoint")
    model = build_model("shallow-mlp", seed=0)
    history = train(
        model,
        x,
        y,
        TrainingSpec("model", epochs=2),
        seed=0,
        checkpoint_path=checkpoint,
        checkpoint_tag="x",
        progress=False,
    )
    assert len(history.loss) == 2


def test_on_epoch_end_sees_each_epoch_and_does_not_change_training(small):
    x, y = small
    reference = build_model("lenet5-dropout", seed=0)
    train(reference, x, y, TrainingSpec("model", epochs=3, batch_size=64), seed=0, progress=False)

    seen = []

    def evaluate(epochs_done, model, history):
        # a forward pass in the callback (as an evaluation would do) must not disturb training
        with torch.no_grad():
            model(torch.from_numpy(x[:32]))
        seen.append((epochs_done, model.training, len(history.loss)))

    model = build_model("lenet5-dropout", seed=0)
    train(model, x, y, TrainingSpec("model", epochs=3, batch_size=64), seed=0, progress=False, on_epoch_end=evaluate)
    assert seen == [(1, False, 1), (2, False, 2), (3, False, 3)]
    assert same_weights(weights(model), weights(reference))


def test_checkpoint_that_fails_part_way_restarts_from_the_initial_weights(small, tmp_path):
    """A checkpoint with the right tag that cannot be applied completely must not leave any of
    its weights behind: the run restarts from the initial weights, bit-identical to a run with
    no checkpoint."""
    x, y = small
    spec = TrainingSpec("lenet5", epochs=2, batch_size=64)
    reference = build_model("lenet5", seed=0)
    train(reference, x, y, spec, seed=0, progress=False)
    other = build_model("lenet5", seed=7)  # weights that must not leak into the restarted run
    good_optimizer = torch.optim.Adam(other.parameters()).state_dict()
    wrong_shape = {k: (torch.zeros(3) if k == "fc3.bias" else v) for k, v in other.state_dict().items()}
    history = {"loss": [1.0], "accuracy": [0.5], "seconds": 1.0}
    crafted = {
        "optimizer state of another shape": {
            "model": other.state_dict(),
            "optimizer": {"state": {}, "param_groups": []},
        },
        "one layer of another shape": {"model": wrong_shape, "optimizer": good_optimizer},
        "history of another length": {
            "model": other.state_dict(),
            "optimizer": good_optimizer,
            "history": {**history, "loss": [1.0, 2.0]},
        },
        "epoch not an int": {"model": other.state_dict(), "optimizer": good_optimizer, "epoch": "1"},
    }
    for name, fields in crafted.items():
        checkpoint = tmp_path / f"{name}.ckpt"
        atomic.torch_save_sealed({"tag": "t", "epoch": 1, "history": history, **fields}, checkpoint)
        model = build_model("lenet5", seed=0)
        train(model, x, y, spec, seed=0, checkpoint_path=checkpoint, checkpoint_tag="t", progress=False)
        assert same_weights(weights(model), weights(reference)), name


def test_altered_checkpoint_is_ignored(small, tmp_path):
    x, y = small
    spec = TrainingSpec("shallow-mlp", epochs=2)
    reference = build_model("shallow-mlp", seed=0)
    train(reference, x, y, spec, seed=0, progress=False)
    checkpoint = tmp_path / "run.ckpt"
    trained_one = build_model("shallow-mlp", seed=3)
    atomic.torch_save_sealed(
        {
            "tag": "t",
            "epoch": 1,
            "model": trained_one.state_dict(),
            "optimizer": torch.optim.Adam(trained_one.parameters()).state_dict(),
            "history": {"loss": [1.0], "accuracy": [0.5], "seconds": 1.0},
        },
        checkpoint,
    )
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0x10
    checkpoint.write_bytes(bytes(data))
    model = build_model("shallow-mlp", seed=0)
    train(model, x, y, spec, seed=0, checkpoint_path=checkpoint, checkpoint_tag="t", progress=False)
    assert same_weights(weights(model), weights(reference))


def test_soft_labels_and_temperature_objective(small):
    from artx.training import CrossEntropy

    x, y = small
    one_hot = np.eye(10, dtype=np.float32)[y]
    hard = build_model("shallow-mlp", seed=0)
    soft = build_model("shallow-mlp", seed=0)
    train(hard, x, y, TrainingSpec("shallow-mlp", epochs=1), seed=0, progress=False)
    history = train(soft, x, one_hot, TrainingSpec("shallow-mlp", epochs=1), seed=0, progress=False)
    # one-hot rows are the hard labels: the same cross-entropy, the same training up to rounding
    for a, b in zip(hard.parameters(), soft.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    assert 0 < history.accuracy[0] <= 1
    hot = build_model("shallow-mlp", seed=0)
    train(
        hot,
        x,
        y,
        TrainingSpec("shallow-mlp", epochs=1, objective=CrossEntropy(temperature=20.0)),
        seed=0,
        progress=False,
    )
    assert not all(torch.allclose(a, b) for a, b in zip(hard.parameters(), hot.parameters()))
    with pytest.raises(ValueError, match="probability rows"):
        train(build_model("shallow-mlp"), x, one_hot * 2, TrainingSpec("shallow-mlp", epochs=1), progress=False)
    with pytest.raises(ValueError, match="one column per class"):
        train(
            build_model("shallow-mlp"),
            x,
            one_hot[:, :5] / one_hot[:, :5].sum(1, keepdims=True).clip(1),
            TrainingSpec("shallow-mlp", epochs=1),
            progress=False,
        )


def test_weight_decay_shrinks_the_weights(small):
    x, y = small
    plain, decayed = build_model("shallow-mlp", seed=0), build_model("shallow-mlp", seed=0)
    train(plain, x, y, TrainingSpec("shallow-mlp", epochs=5, optimizer="sgd"), seed=0, progress=False)
    train(
        decayed, x, y, TrainingSpec("shallow-mlp", epochs=5, optimizer="sgd", weight_decay=5.0), seed=0, progress=False
    )
    assert decayed.fc1.weight.norm() < 0.8 * plain.fc1.weight.norm()


def test_a_diverging_run_stops_with_a_clear_error_and_caches_nothing(small, tmp_path, monkeypatch):
    from artx.model_cache import train_cached
    from artx.training import TrainingDivergedError

    monkeypatch.setenv("ARTX_CACHE_DIR", str(tmp_path))
    x, y = small
    spec = TrainingSpec("linear", epochs=2, optimizer="sgd", lr=1e38)  # overflows to inf, then NaN
    with pytest.raises(TrainingDivergedError, match=r"training diverged: linear loss is nan at epoch 1/2"):
        train(build_model("linear", seed=0), x, y, spec, seed=0)
    with pytest.raises(ValueError, match="training diverged"):
        train_cached(spec, x, y, seed=0, snapshot_epochs=[1])
    assert not list(tmp_path.rglob("*.pt"))


def test_max_norm_bounds_every_linear_row_and_binds(small):
    x, y = small
    free, constrained = build_model("shallow-mlp", seed=0), build_model("shallow-mlp", seed=0)
    spec = TrainingSpec("shallow-mlp", epochs=3, optimizer="sgd", lr=0.5)
    train(free, x, y, spec, seed=0, progress=False)
    train(constrained, x, y, spec.replace(max_norm=0.5), seed=0, progress=False)
    linears = [n for n, m in constrained.named_modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) >= 2
    for name in linears:
        rows = constrained.get_submodule(name).weight.detach().norm(dim=1)
        assert float(rows.max()) <= 0.5 + 1e-5
    # without the constraint some unit's weights grow past the bound: the constraint did something
    assert max(float(free.get_submodule(n).weight.detach().norm(dim=1).max()) for n in linears) > 0.5


def test_max_norm_is_in_the_key_only_when_set_and_is_validated():
    plain = TrainingSpec("linear", epochs=1)
    assert "max_norm" not in plain.key_fields()
    assert plain.replace(max_norm=2).key_fields()["max_norm"] == 2.0
    assert "max-norm 2" in plain.replace(max_norm=2.0).describe()
    for bad, error in ((0.0, ValueError), (-1.0, ValueError), (float("nan"), ValueError), ("2", TypeError)):
        with pytest.raises(error, match="max_norm"):
            TrainingSpec("linear", epochs=1, max_norm=bad)


def test_lr_decay_is_keras_inverse_time_decay_per_step_and_survives_a_resume(small, tmp_path):
    x, y = small  # 256 images, batch 64: 4 steps per epoch
    spec = TrainingSpec("shallow-mlp", epochs=2, optimizer="sgd-nesterov", lr=0.1, batch_size=64, lr_decay=0.5)
    model = build_model("shallow-mlp", seed=0)
    seen = []
    original_step = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        seen.append((self.param_groups[0]["lr"], self.param_groups[0]["nesterov"]))
        return original_step(self, *args, **kwargs)

    torch.optim.SGD.step = recording_step
    try:
        train(model, x, y, spec, seed=0, progress=False)
    finally:
        torch.optim.SGD.step = original_step
    assert [lr for lr, _ in seen] == pytest.approx([0.1 / (1 + 0.5 * t) for t in range(8)])
    assert all(nesterov for _, nesterov in seen)
    # a run resumed from the epoch-1 checkpoint continues the schedule at step 4 (not 0): bit-identical weights
    checkpoint = tmp_path / "run.ckpt"
    train(build_model("shallow-mlp", seed=0), x, y, spec, seed=0, checkpoint_path=checkpoint, checkpoint_tag="t")
    assert atomic.torch_load_sealed(checkpoint)["epoch"] == 1
    resumed = build_model("shallow-mlp", seed=0)
    train(resumed, x, y, spec, seed=0, checkpoint_path=checkpoint, checkpoint_tag="t", progress=False)
    assert same_weights(weights(resumed), weights(model))


def test_lr_decay_is_in_the_key_only_when_set_and_is_validated():
    plain = TrainingSpec("linear", epochs=1, optimizer="sgd-nesterov")
    assert "lr_decay" not in plain.key_fields() and plain.key_fields()["lr"] == 0.01
    decayed = plain.replace(lr_decay=1e-6)
    assert decayed.key_fields()["lr_decay"] == 1e-6 and "decay 1e-06 per step" in decayed.describe()
    for bad, error in ((-1e-6, ValueError), (float("inf"), ValueError), ("1e-6", TypeError)):
        with pytest.raises(error, match="lr_decay"):
            TrainingSpec("linear", epochs=1, lr_decay=bad)


def test_max_norm_needs_a_trainable_linear_layer(small):
    x, y = small
    spec = TrainingSpec("lenet5-dropout", epochs=1, trainable=("conv1",), max_norm=1.0)
    with pytest.raises(ValueError, match="max_norm"):
        train(build_model("lenet5-dropout", seed=0), x, y, spec, seed=0, progress=False)
