import numpy as np
import pytest
import torch
from torch import nn

from artx.models import build_model, to_art_classifier

ZOO = ["paper-cnn", "lenet5", "lenet5-dropout", "shallow-mlp", "linear", "cw-mnist"]


@pytest.mark.parametrize("name", ZOO)
def test_zoo_models_return_logits_of_the_right_shape(name):
    model = build_model(name, seed=0).eval()
    out = model(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 10)
    assert model.input_shape == (1, 28, 28) and model.num_classes == 10


def test_paper_cnn_layer_sizes():
    model = build_model("paper-cnn")
    assert model.fc1.in_features == 3136 and model.fc1.out_features == 1024
    assert [model.conv1.out_channels, model.conv2.out_channels] == [32, 64]
    assert model.conv1.kernel_size == (5, 5)


def test_dropout_placement():
    lenet = build_model("lenet5")
    dropout = build_model("lenet5-dropout")
    assert not any(isinstance(m, nn.Dropout) for m in lenet.modules())
    names = [name for name, m in dropout.named_children() if isinstance(m, nn.Dropout)]
    assert names == ["dropout1", "dropout2"] and dropout.dropout1.p == 0.5
    children = list(dict(dropout.named_children()))
    assert children.index("dropout1") == children.index("relu3") + 1  # after the first hidden fc
    cw = build_model("cw-mnist")
    assert cw.fc1.in_features == 1024 and cw.dropout1.p == 0.5


def test_cw_mnist_as_cw_code_trains_it_offset_input_and_keras_initialisation():
    plain = build_model("cw-mnist", seed=0)
    shifted = build_model("cw-mnist", seed=0, input_offset=-0.5)
    # the offset layer has no parameters: same state-dict keys and weights as the default net
    assert list(shifted.state_dict()) == list(plain.state_dict()) and "offset" not in dict(plain.named_children())
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), shifted.state_dict().values()))
    # shifting the input by −0.5 is the default net with conv1's bias moved by −0.5 · Σ weights
    plain.conv1.bias.data -= 0.5 * plain.conv1.weight.data.sum(dim=(1, 2, 3))
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(shifted.eval()(x), plain.eval()(x), rtol=1e-5, atol=1e-5)

    keras = build_model("cw-mnist", seed=0, init="keras")
    for layer in (keras.conv1, keras.conv4, keras.fc1, keras.fc3):
        assert float(layer.bias.detach().abs().max()) == 0.0
        fan_in, fan_out = layer.weight[0].numel(), layer.weight.shape[0] * layer.weight[0, 0].numel()
        bound = (6.0 / (fan_in + fan_out)) ** 0.5  # Glorot uniform: U(−bound, bound)
        largest = float(layer.weight.detach().abs().max())
        assert 0.9 * bound < largest <= bound
    assert torch.equal(keras.conv1.weight, build_model("cw-mnist", seed=0, init="keras").conv1.weight)
    with pytest.raises(ValueError, match="init"):
        build_model("cw-mnist", init="glorot")
    with pytest.raises(ValueError, match="input_offset"):
        build_model("cw-mnist", input_offset=float("nan"))
    with pytest.raises(TypeError, match="input_offset"):
        build_model("cw-mnist", input_offset="-0.5")


def test_seeded_initialisation_and_global_rng_untouched():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("lenet5", seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    b = build_model("lenet5", seed=7)
    c = build_model("lenet5", seed=8)
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_num_classes_and_other_sizes():
    model = build_model("paper-cnn", num_classes=3)
    assert model(torch.rand(1, 1, 28, 28)).shape == (1, 3)
    mlp = build_model("shallow-mlp", input_size=10, hidden=16)
    assert mlp(torch.rand(2, 1, 10, 10)).shape == (2, 10)


@pytest.mark.parametrize(
    "name, params, error",
    [
        ("lenet5-dropout", {"dropout": 1.0}, ValueError),
        ("lenet5-dropout", {"dropout": "0.5"}, TypeError),
        ("paper-cnn", {"num_classes": 1}, ValueError),
        ("lenet5", {"input_size": 8}, ValueError),
    ],
)
def test_bad_model_parameters(name, params, error):
    with pytest.raises(error):
        build_model(name, **params)


def test_art_wrapper(random_images):
    x, _ = random_images
    classifier = to_art_classifier(build_model("lenet5", seed=0))
    assert classifier.clip_values.tolist() == [0.0, 1.0]
    assert classifier.nb_classes == 10 and tuple(classifier.input_shape) == (1, 28, 28)
    assert classifier.predict(x).shape == (4, 10)
    assert isinstance(classifier.loss, nn.CrossEntropyLoss)


def test_art_wrapper_device_checks():
    model = build_model("lenet5")
    with pytest.raises(ValueError, match="device must be"):
        to_art_classifier(model, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            to_art_classifier(model, device="cuda")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        to_art_classifier(np.zeros(3))
