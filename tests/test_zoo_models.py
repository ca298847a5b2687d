"""Zoo models for Goodfellow et al. 2015 and Szegedy et al. 2014: maxout-mlp, mlp, autoencoder-softmax."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from artx import data
from artx.model_cache import train_cached
from artx.models import Maxout, ReconstructionObjective, autoencoder_softmax_specs, build_model
from artx.training import TrainingSpec, train

NEW = [
    ("maxout-mlp", {}),
    ("mlp", {}),
    ("mlp", {"hidden": (123, 456), "activation": "relu"}),
    ("autoencoder-softmax", {}),
]


@pytest.fixture(scope="module")
def tiny():
    return data.load("mnist-5k", "train", limit=64, seed=0)


@pytest.mark.parametrize("name, params", NEW)
def test_shapes_and_recorded_registry_name(name, params):
    model = build_model(name, seed=0, **params).eval()
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert model.input_shape == (1, 28, 28) and model.num_classes == 10
    assert model.registry_name == name and model.registry_params == params
    assert not any("registry" in key for key in model.state_dict())
    small = build_model(name, num_classes=3, input_size=10, **params).eval()
    assert small(torch.rand(2, 1, 10, 10)).shape == (2, 3)


@pytest.mark.parametrize("name, params", NEW)
def test_seeded_initialisation_leaves_global_rng_alone(name, params):
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    a, b, c = (
        build_model(name, seed=1, **params),
        build_model(name, seed=1, **params),
        build_model(name, seed=2, **params),
    )
    assert torch.equal(torch.rand(1), expected)
    for (key, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), key
        assert not torch.equal(pa, pc), key


def test_cached_models_also_record_their_registry_name(tiny):
    x, y = tiny
    spec = TrainingSpec("mlp", epochs=1, model_params={"hidden": (8,)})
    first = train_cached(spec, x, y, seed=0, progress=False)
    again = train_cached(spec, x, y, seed=0, progress=False)
    assert again.from_cache and again.model.registry_name == "mlp" and again.model.registry_params == {"hidden": (8,)}
    assert first.model.fc1.out_features == 8


def test_maxout_is_the_max_over_pieces_of_contiguous_blocks():
    torch.manual_seed(0)
    layer = Maxout(7, units=4, pieces=3)
    x = torch.randn(5, 7)
    with torch.no_grad():
        out = layer(x)
    weight, bias = layer.linear.weight.detach(), layer.linear.bias.detach()
    expected = torch.empty(5, 4)
    for n in range(5):
        for j in range(4):
            expected[n, j] = max(float(weight[j * 3 + k] @ x[n] + bias[j * 3 + k]) for k in range(3))
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)


def test_maxout_mlp_layout_and_eval_forward():
    model = build_model("maxout-mlp", seed=0, units=6, pieces=2).eval()
    names = [name for name, _ in model.named_children()]
    assert names == ["flatten", "dropout0", "maxout1", "dropout1", "maxout2", "dropout2", "fc3"]
    assert (model.dropout0.p, model.dropout1.p, model.dropout2.p) == (0.2, 0.5, 0.5)
    default = build_model("maxout-mlp")
    assert (default.maxout1.units, default.maxout1.pieces, default.maxout1.linear.in_features) == (240, 5, 784)
    assert default.maxout2.linear.out_features == 240 * 5 and default.fc3.in_features == 240
    x = torch.rand(4, 1, 28, 28)
    h = model.maxout1.linear(x.flatten(1)).view(4, 6, 2).max(dim=2).values
    h = model.maxout2.linear(h).view(4, 6, 2).max(dim=2).values
    torch.testing.assert_close(model(x), model.fc3(h))
    model.train()  # dropout on: the 0.2 input dropout changes the output
    assert not torch.equal(model(x), model(x))


def test_mlp_layers_follow_hidden_and_activation():
    model = build_model("mlp", hidden=[123, 456])
    assert [name for name, _ in model.named_children()] == ["flatten", "fc1", "act1", "fc2", "act2", "fc3"]
    sizes = (model.fc1.in_features, model.fc1.out_features, model.fc2.out_features, model.fc3.in_features)
    assert sizes == (784, 123, 456, 456)
    assert isinstance(model.act1, nn.Sigmoid)  # Szegedy et al.'s networks are sigmoid
    assert isinstance(build_model("mlp", activation="tanh").act2, nn.Tanh)
    assert isinstance(build_model("mlp", hidden=(5,), activation="relu").act1, nn.ReLU)


@pytest.mark.parametrize(
    "name, params, error, match",
    [
        ("maxout-mlp", {"units": 0}, ValueError, "units"),
        ("maxout-mlp", {"pieces": "5"}, TypeError, "pieces"),
        ("maxout-mlp", {"input_dropout": 1.0}, ValueError, "input_dropout"),
        ("maxout-mlp", {"dropout": -0.1}, ValueError, "dropout"),
        ("mlp", {"hidden": ()}, ValueError, "hidden"),
        ("mlp", {"hidden": 100}, TypeError, "hidden"),
        ("mlp", {"hidden": "100"}, TypeError, "hidden"),
        ("mlp", {"hidden": (100, 0)}, ValueError, "hidden"),
        ("mlp", {"hidden": (100, 1.5)}, TypeError, "hidden"),
        ("mlp", {"activation": "softplus"}, ValueError, "activation"),
        ("mlp", {"activation": object()}, TypeError, "activation"),
        ("autoencoder-softmax", {"code": 0}, ValueError, "code"),
        ("autoencoder-softmax", {"num_classes": 1}, ValueError, "num_classes"),
    ],
)
def test_bad_parameters_are_refused_by_name(name, params, error, match):
    with pytest.raises(error, match=match):
        build_model(name, **params)


def test_autoencoder_forward_is_the_classifier_path_only():
    model = build_model("autoencoder-softmax", seed=0).eval()
    x = torch.rand(3, 1, 28, 28)
    expected = model.head(torch.sigmoid(model.encoder(x.flatten(1))))
    torch.testing.assert_close(model(x), expected)
    with torch.no_grad():
        model.decoder.fc.weight.zero_()
    torch.testing.assert_close(model(x), expected)  # the decoder plays no part in the logits
    reconstruction = model.reconstruct(x)
    assert reconstruction.shape == (3, 784)
    torch.testing.assert_close(reconstruction, torch.sigmoid(model.decoder.fc.bias).expand(3, 784))


def test_reconstruction_objective_lowers_reconstruction_error_and_trains_only_the_autoencoder(tiny):
    x, y = tiny
    pretrain, classify = autoencoder_softmax_specs(3, 2, lr=0.01, batch_size=16)
    assert pretrain.trainable == ("encoder", "decoder") and classify.trainable == ("encoder", "head")
    assert pretrain.key_fields()["objective"] == {"name": "autoencoder-reconstruction", "loss": "bce"}
    model = build_model("autoencoder-softmax", seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    objective = ReconstructionObjective()
    with torch.no_grad():
        error_before = float(objective.error(model, torch.from_numpy(x)))
    train(model, x, y, pretrain, seed=0, progress=False)
    with torch.no_grad():
        error_after = float(objective.error(model, torch.from_numpy(x)))
        mse = float(ReconstructionObjective("mse").error(model, torch.from_numpy(x)))
    assert error_after < 0.7 * error_before
    assert mse < float(((torch.from_numpy(x).flatten(1) - 0.5) ** 2).mean())  # better than a flat grey guess
    after = model.state_dict()
    assert torch.equal(after["head.weight"], before["head.weight"])  # frozen: labels play no part
    assert not torch.equal(after["encoder.weight"], before["encoder.weight"])
    assert not torch.equal(after["decoder.fc.weight"], before["decoder.fc.weight"])

    stage1 = {k: v.clone() for k, v in after.items()}
    head_only = autoencoder_softmax_specs(3, 2, finetune=False, lr=0.01, batch_size=16)[1]
    tuned = train_cached(head_only, x, y, seed=0, init_state=stage1, progress=False).model
    assert torch.equal(tuned.encoder.weight, stage1["encoder.weight"])
    assert torch.equal(tuned.decoder.fc.weight, stage1["decoder.fc.weight"])
    assert not torch.equal(tuned.head.weight, stage1["head.weight"])


def test_reconstruction_objective_refuses_models_without_decoder_and_bad_loss():
    with pytest.raises(TypeError, match="decoder"):
        ReconstructionObjective()(build_model("linear"), torch.rand(2, 1, 28, 28), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="loss"):
        ReconstructionObjective("l1")
    with pytest.raises(TypeError, match="finetune"):
        autoencoder_softmax_specs(1, 1, finetune=1)


def test_weight_decay_is_lambda_over_two_times_squared_norm_added_to_the_mean_loss(tiny):
    """FC10(λ): artx's weight_decay=λ is one SGD step of ∇(mean CE + λ/2·‖θ‖²) (biases included)."""
    x, y = tiny
    lam, lr = 0.3, 0.05
    model = build_model("linear", seed=0)
    reference = build_model("linear", seed=0)
    spec = TrainingSpec("linear", epochs=1, optimizer="sgd", lr=lr, batch_size=len(x), weight_decay=lam)
    train(model, x, y, spec, seed=0, progress=False)
    loss = nn.functional.cross_entropy(reference(torch.from_numpy(x)), torch.from_numpy(y))
    loss = loss + lam / 2 * sum((p**2).sum() for p in reference.parameters())
    grads = torch.autograd.grad(loss, list(reference.parameters()))
    for p, p0, g in zip(model.parameters(), reference.parameters(), grads):
        torch.testing.assert_close(p, p0 - lr * g, rtol=1e-5, atol=1e-6)
