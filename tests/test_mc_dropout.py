"""Monte-Carlo dropout: only dropout samples, modes are restored, the fast path (prefix once,
suffix batched) samples the same distribution as running the whole model N times."""

import numpy as np
import pytest
import torch
from torch import nn

from artx.mc_dropout import (
    dropout_modules,
    mc_dropout_predict,
    mc_dropout_torch,
    only_dropout_active,
    split_at_first_dropout,
    uncertainty_torch,
)
from artx.models import build_model


class BatchNormDropoutNet(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))


class NotSequential(nn.Module):
    """Dropout inside a non-Sequential model: MC dropout falls back to whole-model passes."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU())
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.drop(self.body(x)))


def _images(n=6, side=4, seed=0):
    return np.random.default_rng(seed).random((n, 1, side, side), dtype=np.float32)


def test_split_at_first_dropout_reproduces_the_eval_model():
    model = build_model("lenet5-dropout", seed=0).eval()
    prefix, suffix = split_at_first_dropout(model)
    assert isinstance(suffix[0], nn.Dropout) and not dropout_modules(prefix)
    x = torch.from_numpy(_images(3, 28))
    with torch.no_grad():
        torch.testing.assert_close(suffix(prefix(x)), model(x))
    assert split_at_first_dropout(build_model("lenet5", seed=0)) is None
    assert split_at_first_dropout(NotSequential()) is None


@pytest.mark.parametrize("start_training", [True, False])
def test_only_dropout_active_keeps_batchnorm_in_eval_and_restores_modes(start_training):
    torch.manual_seed(0)
    model = BatchNormDropoutNet().train(start_training)
    running_mean = model[2].running_mean.clone()
    with only_dropout_active(model):
        assert model[4].training and not model[2].training and not model.training
        with torch.no_grad():
            model(torch.from_numpy(_images(8)))
    assert all(module.training == start_training for module in model.modules())
    torch.testing.assert_close(model[2].running_mean, running_mean)  # BatchNorm statistics untouched


def test_mc_dropout_predict_is_seeded_and_leaves_the_global_rng_alone():
    model = build_model("lenet5-dropout", seed=0)
    x = _images(5, 28)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = mc_dropout_predict(model, x, n_passes=8, seed=3)
    assert torch.equal(torch.rand(1), expected_next)
    again = mc_dropout_predict(model, x, n_passes=8, seed=3)
    other = mc_dropout_predict(model, x, n_passes=8, seed=4)
    np.testing.assert_array_equal(first.uncertainty, again.uncertainty)
    assert not np.array_equal(first.uncertainty, other.uncertainty)
    assert first.mean_logits.shape == (5, 10) and first.uncertainty.shape == (5,)
    assert (first.uncertainty > 0).all() and np.array_equal(first.labels, first.mean_logits.argmax(1))
    # Batching does not change the result: masks are drawn per row from one seeded stream, so
    # compare statistics rather than bits.
    batched = mc_dropout_predict(model, x, n_passes=8, seed=3, batch_size=2)
    assert batched.uncertainty.shape == (5,)


@pytest.mark.parametrize("factory", [lambda: build_model("lenet5-dropout", seed=0, dropout=0.5), NotSequential])
def test_fast_path_samples_the_same_distribution_as_naive_passes(factory):
    model = factory().eval()
    side = 28 if isinstance(model, nn.Sequential) else 4
    x = torch.from_numpy(_images(4, side))
    passes = 3000
    with torch.no_grad(), only_dropout_active(model):
        torch.manual_seed(0)
        fast = mc_dropout_torch(model, x, passes)
        naive = torch.stack([model(x) for _ in range(passes)])  # nn.Dropout's own sampling
    assert fast.shape == naive.shape == (passes, 4, model.num_classes if hasattr(model, "num_classes") else 3)
    torch.testing.assert_close(uncertainty_torch(fast), uncertainty_torch(naive), rtol=0.06, atol=1e-4)
    torch.testing.assert_close(torch.softmax(fast, -1).mean(0), torch.softmax(naive, -1).mean(0), rtol=0.05, atol=5e-3)


def test_mc_dropout_torch_is_differentiable():
    model = build_model("lenet5-dropout", seed=0)
    x = torch.from_numpy(_images(2, 28)).requires_grad_(True)
    with only_dropout_active(model):
        uncertainty_torch(mc_dropout_torch(model, x, 4)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_mc_dropout_bad_input():
    model = build_model("lenet5-dropout", seed=0)
    x = _images(2, 28)
    with pytest.raises(ValueError, match="no dropout layer"):
        mc_dropout_predict(build_model("lenet5", seed=0), x)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        mc_dropout_predict("lenet5-dropout", x)
    with pytest.raises(ValueError, match="n_passes"):
        mc_dropout_predict(model, x, n_passes=1)
    with pytest.raises(TypeError, match="float32"):
        mc_dropout_predict(model, x.astype(np.float64))
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        mc_dropout_predict(model, bad)
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\]"):
        mc_dropout_predict(model, x + 1.5)
    with pytest.raises(ValueError, match="4-D"):
        mc_dropout_predict(model, x[0])
