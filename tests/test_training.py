import numpy as np
import pytest
import torch

from artx.models import build_model
from artx.training import OPTIMIZERS, train


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
        train(model, x, y, epochs=2, seed=seed, batch_size=32, progress=False)
        runs.append(weights(model))
    assert same_weights(runs[0], runs[1])
    assert not same_weights(runs[0], runs[2])


def test_training_learns_and_leaves_eval_mode(mnist_small):
    x, y, x_test, y_test = mnist_small
    model = build_model("lenet5", seed=0)
    history = train(model, x, y, epochs=10, seed=0, progress=False)
    assert history.loss[-1] < history.loss[0]
    assert not model.training
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
    assert accuracy > 0.7


def test_trainable_freezes_all_other_layers(small):
    x, y = small
    model = build_model("lenet5", seed=0)
    before = weights(model)
    train(model, x, y, epochs=1, seed=0, trainable=["fc3"], progress=False)
    after = weights(model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"fc3.weight", "fc3.bias"}
    assert all(p.requires_grad for p in model.parameters())  # restored afterwards


@pytest.mark.parametrize(
    "trainable, error, match",
    [(["fc9"], ValueError, "unknown layer 'fc9'.*fc3"), ("fc3", TypeError, "list of layer names"), ([], ValueError, "at least one layer")],
)
def test_bad_trainable(small, trainable, error, match):
    with pytest.raises(error, match=match):
        train(build_model("lenet5"), *small, epochs=1, trainable=trainable, progress=False)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains(small, optimizer):
    x, y = small
    model = build_model("shallow-mlp", seed=0)
    history = train(model, x, y, epochs=3, optimizer=optimizer, seed=0, progress=False)
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
        (dict(x=x, y=y, epochs=0), ValueError, "epochs"),
        (dict(x=x, y=y, optimizer="adamw"), ValueError, "optimizer must be one of"),
        (dict(x=x, y=y, lr=-1.0), ValueError, "lr must be"),
        (dict(x=x, y=y, device="gpu"), ValueError, "device must be"),
    ]
    for kwargs, error, match in cases:
        kwargs.setdefault("epochs", 1)
        with pytest.raises(error, match=match):
            train(model, progress=False, **kwargs)


def test_resume_after_interruption_matches_uninterrupted_run(small, tmp_path):
    x, y = small
    reference = build_model("lenet5-dropout", seed=0)
    train(reference, x, y, epochs=3, seed=0, batch_size=64, progress=False)

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
        train(model, x, y, epochs=3, seed=0, batch_size=64, checkpoint_path=checkpoint, checkpoint_tag="t", progress=False)
    assert checkpoint.is_file()
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2

    resumed = build_model("lenet5-dropout", seed=0)
    history = train(resumed, x, y, epochs=3, seed=0, batch_size=64, checkpoint_path=checkpoint, checkpoint_tag="t", progress=False)
    assert len(history.loss) == 3
    assert same_weights(weights(resumed), weights(reference))


def test_checkpoint_of_another_run_is_ignored(small, tmp_path):
    x, y = small
    checkpoint = tmp_path / "run.ckpt"
    checkpoint.write_bytes(b"not a checkpoint")
    model = build_model("shallow-mlp", seed=0)
    history = train(model, x, y, epochs=2, seed=0, checkpoint_path=checkpoint, checkpoint_tag="x", progress=False)
    assert len(history.loss) == 2


def test_on_epoch_end_sees_each_epoch_and_does_not_change_training(small):
    x, y = small
    reference = build_model("lenet5-dropout", seed=0)
    train(reference, x, y, epochs=3, seed=0, batch_size=64, progress=False)

    seen = []

    def evaluate(epochs_done, model, history):
        # a forward pass in the callback (as an evaluation would do) must not disturb training
        with torch.no_grad():
            model(torch.from_numpy(x[:32]))
        seen.append((epochs_done, model.training, len(history.loss)))

    model = build_model("lenet5-dropout", seed=0)
    train(model, x, y, epochs=3, seed=0, batch_size=64, progress=False, on_epoch_end=evaluate)
    assert seen == [(1, False, 1), (2, False, 2), (3, False, 3)]
    assert same_weights(weights(model), weights(reference))
