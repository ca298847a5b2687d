"""Model zoo: small MNIST architectures (all return logits) and the ART wrapper helper.

Every model is an ``nn.Sequential`` with named layers, so that layers can be addressed by name
(``trainable=["fc2"]`` when fine-tuning, ``"conv2"`` for GradCAM) and a model can be split at
its first dropout layer (MC dropout computes the deterministic prefix once). Each model records
``input_shape`` and ``num_classes`` for :func:`to_art_classifier`.

The architectures are registered as ``artx.models`` entry points of the ``artx`` distribution;
build one by name with :func:`build_model`, which also finds third-party architectures.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import torch
from torch import nn

from artx.validation import check_float, check_int, resolve_device

__all__ = [
    "PaperCNN",
    "LeNet5",
    "LeNet5Dropout",
    "ShallowMLP",
    "Linear",
    "CarliniWagnerMNIST",
    "build_model",
    "to_art_classifier",
]


class _ZooModel(nn.Sequential):
    """A named-layer ``nn.Sequential`` that records its input shape and class count."""

    def __init__(self, layers: "OrderedDict[str, nn.Module]", input_shape: tuple[int, int, int], num_classes: int):
        super().__init__(layers)
        self.input_shape = input_shape
        self.num_classes = num_classes


def _check_common(in_channels: int, input_size: int, num_classes: int, min_size: int) -> None:
    check_int(in_channels, "in_channels", minimum=1)
    check_int(input_size, "input_size", minimum=min_size)
    check_int(num_classes, "num_classes", minimum=2)


class PaperCNN(_ZooModel):
    """The CNN of the "minimally identifiable dataset" paper (TensorFlow's classic MNIST CNN).

    conv(32, 5x5, pad 2) → ReLU → maxpool 2 → conv(64, 5x5, pad 2) → ReLU → maxpool 2 →
    fc(3136 → 1024) → ReLU → fc(1024 → 10).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28):
        _check_common(in_channels, input_size, num_classes, min_size=4)
        side = input_size // 2 // 2
        super().__init__(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, 32, kernel_size=5, padding=2),
                relu1=nn.ReLU(),
                pool1=nn.MaxPool2d(2),
                conv2=nn.Conv2d(32, 64, kernel_size=5, padding=2),
                relu2=nn.ReLU(),
                pool2=nn.MaxPool2d(2),
                flatten=nn.Flatten(),
                fc1=nn.Linear(64 * side * side, 1024),
                relu3=nn.ReLU(),
                fc2=nn.Linear(1024, num_classes),
            ),
            (in_channels, input_size, input_size),
            num_classes,
        )


def _lenet5_layers(in_channels: int, input_size: int, num_classes: int, dropout: float | None) -> "OrderedDict[str, nn.Module]":
    side = (input_size // 2 - 4) // 2
    layers: "OrderedDict[str, nn.Module]" = OrderedDict(
        conv1=nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),
        relu1=nn.ReLU(),
        pool1=nn.MaxPool2d(2),
        conv2=nn.Conv2d(6, 16, kernel_size=5),
        relu2=nn.ReLU(),
        pool2=nn.MaxPool2d(2),
        flatten=nn.Flatten(),
        fc1=nn.Linear(16 * side * side, 120),
        relu3=nn.ReLU(),
    )
    if dropout is not None:
        layers["dropout1"] = nn.Dropout(dropout)
    layers["fc2"] = nn.Linear(120, 84)
    layers["relu4"] = nn.ReLU()
    if dropout is not None:
        layers["dropout2"] = nn.Dropout(dropout)
    layers["fc3"] = nn.Linear(84, num_classes)
    return layers


class LeNet5(_ZooModel):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, as commonly used on 28x28 MNIST.

    conv(6, 5x5, pad 2) → ReLU → maxpool 2 → conv(16, 5x5) → ReLU → maxpool 2 → fc(400 → 120)
    → ReLU → fc(120 → 84) → ReLU → fc(84 → 10). The padding of the first conv stands in for the
    original 32x32 input.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28):
        _check_common(in_channels, input_size, num_classes, min_size=12)
        super().__init__(_lenet5_layers(in_channels, input_size, num_classes, None), (in_channels, input_size, input_size), num_classes)


class LeNet5Dropout(_ZooModel):
    """:class:`LeNet5` with dropout (default p=0.5) after each hidden fully connected layer.

    Meant for Monte-Carlo dropout: everything before ``dropout1`` is deterministic.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28, dropout: float = 0.5):
        _check_common(in_channels, input_size, num_classes, min_size=12)
        check_float(dropout, "dropout", minimum=0.0, maximum=1.0, max_inclusive=False)
        super().__init__(_lenet5_layers(in_channels, input_size, num_classes, dropout), (in_channels, input_size, input_size), num_classes)


class ShallowMLP(_ZooModel):
    """One hidden layer: flatten → fc(784 → hidden) → ReLU → fc(hidden → 10)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28, hidden: int = 128):
        _check_common(in_channels, input_size, num_classes, min_size=1)
        check_int(hidden, "hidden", minimum=1)
        super().__init__(
            OrderedDict(
                flatten=nn.Flatten(),
                fc1=nn.Linear(in_channels * input_size * input_size, hidden),
                relu1=nn.ReLU(),
                fc2=nn.Linear(hidden, num_classes),
            ),
            (in_channels, input_size, input_size),
            num_classes,
        )


class Linear(_ZooModel):
    """Multinomial logistic regression: flatten → fc(784 → 10). A cheap proxy model (e.g. for
    the gradcam-pixel search, where it is trained many times)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28):
        _check_common(in_channels, input_size, num_classes, min_size=1)
        super().__init__(
            OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(in_channels * input_size * input_size, num_classes)),
            (in_channels, input_size, input_size),
            num_classes,
        )


class CarliniWagnerMNIST(_ZooModel):
    """The MNIST network of Carlini & Wagner (2017), ``train_models.py``.

    conv(32, 3x3) → ReLU → conv(32, 3x3) → ReLU → maxpool 2 → conv(64, 3x3) → ReLU →
    conv(64, 3x3) → ReLU → maxpool 2 → fc(1024 → 200) → ReLU → dropout 0.5 → fc(200 → 200) →
    ReLU → fc(200 → 10); unpadded ("valid") convolutions as in the original.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28, dropout: float = 0.5):
        _check_common(in_channels, input_size, num_classes, min_size=20)
        check_float(dropout, "dropout", minimum=0.0, maximum=1.0, max_inclusive=False)
        side = ((input_size - 4) // 2 - 4) // 2
        super().__init__(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, 32, kernel_size=3),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(32, 32, kernel_size=3),
                relu2=nn.ReLU(),
                pool1=nn.MaxPool2d(2),
                conv3=nn.Conv2d(32, 64, kernel_size=3),
                relu3=nn.ReLU(),
                conv4=nn.Conv2d(64, 64, kernel_size=3),
                relu4=nn.ReLU(),
                pool2=nn.MaxPool2d(2),
                flatten=nn.Flatten(),
                fc1=nn.Linear(64 * side * side, 200),
                relu5=nn.ReLU(),
                dropout1=nn.Dropout(dropout),
                fc2=nn.Linear(200, 200),
                relu6=nn.ReLU(),
                fc3=nn.Linear(200, num_classes),
            ),
            (in_channels, input_size, input_size),
            num_classes,
        )


def build_model(name: str, seed: int | None = None, **params: Any) -> nn.Module:
    """Build the architecture registered as ``name`` (kind ``model``) with fresh weights.

    :param name: Registry name, e.g. ``"paper-cnn"``, ``"lenet5"``.
    :param seed: Seed for the weight initialisation (the global torch RNG is left untouched),
        or None to use the global RNG.
    :param params: Constructor parameters (``num_classes``, ``dropout``, ...).
    """
    from artx import registry

    if seed is None:
        return registry.create("model", name, **params)
    check_int(seed, "seed", minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return registry.create("model", name, **params)


def to_art_classifier(
    model: nn.Module,
    *,
    device: str = "cpu",
    input_shape: Sequence[int] | None = None,
    nb_classes: int | None = None,
    clip_values: tuple[float, float] = (0.0, 1.0),
    preprocessing_defences: Any = None,
    optimizer: torch.optim.Optimizer | None = None,
):
    """Wrap a logits-returning model in an ART ``PyTorchClassifier``.

    Uses cross-entropy loss and ``clip_values=(0, 1)``; ``input_shape`` and ``nb_classes``
    default to the zoo model's ``input_shape`` / ``num_classes``. The model is put in eval mode.

    :param model: The PyTorch module.
    :param device: ``"cpu"`` or ``"cuda"``; refused (not silently downgraded) if CUDA is absent.
    :param preprocessing_defences: ART preprocessors (e.g. an artx preprocessor plugin).
    """
    from art.estimators.classification import PyTorchClassifier

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    device = resolve_device(device)
    shape = tuple(input_shape) if input_shape is not None else getattr(model, "input_shape", None)
    classes = nb_classes if nb_classes is not None else getattr(model, "num_classes", None)
    if shape is None or classes is None:
        raise ValueError("input_shape and nb_classes are required for a model that does not record them")
    model.eval()
    return PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=shape,
        nb_classes=int(classes),
        optimizer=optimizer,
        clip_values=clip_values,
        preprocessing_defences=preprocessing_defences,
        device_type="gpu" if device.startswith("cuda") else "cpu",
    )
