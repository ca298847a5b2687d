"""Model zoo: small MNIST architectures (all return logits) and the ART wrapper helper.

Every model is an ``nn.Sequential`` with named layers, so that layers can be addressed by name
(``trainable=["fc2"]`` when fine-tuning, ``"relu2"`` for GradCAM) and a model can be split at
its first dropout layer (MC dropout computes the deterministic prefix once). Each model records
``input_shape`` and ``num_classes`` for :func:`to_art_classifier`.

The architectures are registered as ``artx.models`` entry points of the ``artx`` distribution;
build one by name with :func:`build_model`, which also finds third-party architectures.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from artx.training import Objective
from artx.validation import check_bool, check_choice, check_float, check_int, resolve_device

if TYPE_CHECKING:
    from artx.training import TrainingSpec

__all__ = [
    "PaperCNN",
    "LeNet5",
    "LeNet5Dropout",
    "ShallowMLP",
    "Linear",
    "CarliniWagnerMNIST",
    "InputOffset",
    "keras_init",
    "Maxout",
    "MaxoutMLP",
    "MLP",
    "AutoencoderSoftmax",
    "ReconstructionObjective",
    "autoencoder_softmax_specs",
    "build_model",
    "to_art_classifier",
]


class _ZooModel(nn.Sequential):
    """A named-layer ``nn.Sequential`` that records its input shape and class count."""

    def __init__(self, layers: OrderedDict[str, nn.Module], input_shape: tuple[int, int, int], num_classes: int):
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


def _lenet5_layers(
    in_channels: int, input_size: int, num_classes: int, dropout: float | None
) -> OrderedDict[str, nn.Module]:
    side = (input_size // 2 - 4) // 2
    layers: OrderedDict[str, nn.Module] = OrderedDict(
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
        super().__init__(
            _lenet5_layers(in_channels, input_size, num_classes, None),
            (in_channels, input_size, input_size),
            num_classes,
        )


class LeNet5Dropout(_ZooModel):
    """:class:`LeNet5` with dropout (default p=0.5) after each hidden fully connected layer.

    Meant for Monte-Carlo dropout: everything before ``dropout1`` is deterministic.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28, dropout: float = 0.5):
        _check_common(in_channels, input_size, num_classes, min_size=12)
        check_float(dropout, "dropout", minimum=0.0, maximum=1.0, max_inclusive=False)
        super().__init__(
            _lenet5_layers(in_channels, input_size, num_classes, dropout),
            (in_channels, input_size, input_size),
            num_classes,
        )


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


class InputOffset(nn.Module):
    """Adds a constant to the input: a net trained on images in [a, a + 1] (e.g. C&W's code, [−0.5, 0.5])
    served on images in [0, 1], so ART's box and the attacks' distances stay those of [0, 1]."""

    def __init__(self, offset: float):
        super().__init__()
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.offset

    def extra_repr(self) -> str:
        return f"offset={self.offset:g}"


def keras_init(model: nn.Module) -> None:
    """Keras' default initialisation, in place: Glorot-uniform weights (``nn.init.xavier_uniform_``, the
    same fans as Keras' for convolutions and dense layers) and zero biases."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class CarliniWagnerMNIST(_ZooModel):
    """The MNIST network of Carlini & Wagner (2017), ``train_models.py``.

    conv(32, 3x3) → ReLU → conv(32, 3x3) → ReLU → maxpool 2 → conv(64, 3x3) → ReLU →
    conv(64, 3x3) → ReLU → maxpool 2 → fc(1024 → 200) → ReLU → dropout 0.5 → fc(200 → 200) →
    ReLU → fc(200 → 10); unpadded ("valid") convolutions as in the original.

    :param input_offset: Added to the input first (layer ``offset``, no parameters; absent when 0): C&W's
        code trains on images in [−0.5, 0.5], i.e. ``input_offset=-0.5`` on artx's [0, 1] images.
    :param init: ``"torch"`` (PyTorch's default initialisation) or ``"keras"`` (Keras' default, which
        C&W's code used: Glorot-uniform weights, zero biases; see :func:`keras_init`).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 28,
        dropout: float = 0.5,
        input_offset: float = 0.0,
        init: str = "torch",
    ):
        _check_common(in_channels, input_size, num_classes, min_size=20)
        check_float(dropout, "dropout", minimum=0.0, maximum=1.0, max_inclusive=False)
        check_float(input_offset, "input_offset")
        check_choice(init, "init", ("torch", "keras"))
        side = ((input_size - 4) // 2 - 4) // 2
        # the offset layer only when used: the default net's layers (and cached state dicts) stay as they were
        offset = [("offset", InputOffset(float(input_offset)))] if input_offset else []
        super().__init__(
            OrderedDict(
                [
                    *offset,
                    ("conv1", nn.Conv2d(in_channels, 32, kernel_size=3)),
                    ("relu1", nn.ReLU()),
                    ("conv2", nn.Conv2d(32, 32, kernel_size=3)),
                    ("relu2", nn.ReLU()),
                    ("pool1", nn.MaxPool2d(2)),
                    ("conv3", nn.Conv2d(32, 64, kernel_size=3)),
                    ("relu3", nn.ReLU()),
                    ("conv4", nn.Conv2d(64, 64, kernel_size=3)),
                    ("relu4", nn.ReLU()),
                    ("pool2", nn.MaxPool2d(2)),
                    ("flatten", nn.Flatten()),
                    ("fc1", nn.Linear(64 * side * side, 200)),
                    ("relu5", nn.ReLU()),
                    ("dropout1", nn.Dropout(dropout)),
                    ("fc2", nn.Linear(200, 200)),
                    ("relu6", nn.ReLU()),
                    ("fc3", nn.Linear(200, num_classes)),
                ]
            ),
            (in_channels, input_size, input_size),
            num_classes,
        )
        if init == "keras":
            keras_init(self)


class Maxout(nn.Module):
    """A dense maxout layer (Goodfellow et al. 2013): ``units`` outputs, each the max of ``pieces``
    affine functions of the input.

    One ``nn.Linear`` computes all ``units · pieces`` pieces; unit ``j`` is the max over the
    contiguous block ``j·pieces … j·pieces + pieces − 1`` of its outputs (pylearn2's grouping).
    Written by hand because torch has no maxout layer.

    :param in_features: Input width.
    :param units: Number of maxout units.
    :param pieces: Affine pieces per unit (k in the paper).
    """

    def __init__(self, in_features: int, units: int, pieces: int):
        super().__init__()
        check_int(in_features, "in_features", minimum=1)
        check_int(units, "units", minimum=1)
        check_int(pieces, "pieces", minimum=1)
        self.units = units
        self.pieces = pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).unflatten(-1, (self.units, self.pieces)).amax(dim=-1)

    def extra_repr(self) -> str:
        return f"units={self.units}, pieces={self.pieces}"


class MaxoutMLP(_ZooModel):
    """Permutation-invariant maxout MLP for MNIST (Goodfellow et al. 2013, ``mnist_pi.yaml``).

    flatten → dropout(``input_dropout``, 0.2) → maxout(``units`` 240 × ``pieces`` 5) →
    dropout(``dropout``, 0.5) → maxout(240 × 5) → dropout(0.5) → fc(240 → 10) (softmax in the
    loss). Sizes and dropout rates are those of the maxout paper's MNIST MLP (pylearn2's
    ``mnist_pi.yaml``: include probability 0.8 for the input, pylearn2's default 0.5 for the
    hidden layers); Goodfellow et al. (2015) report widening it to 1600 units per layer for
    adversarial training (``units=1600``). Not reproduced: the max-norm constraint on each
    weight column (1.9365), pylearn2's uniform(±0.005) initialisation (torch's default is used)
    and its SGD schedule; dropout here is torch's inverted dropout (equivalent at test time).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 28,
        units: int = 240,
        pieces: int = 5,
        input_dropout: float = 0.2,
        dropout: float = 0.5,
    ):
        _check_common(in_channels, input_size, num_classes, min_size=1)
        check_int(units, "units", minimum=1)
        check_int(pieces, "pieces", minimum=1)
        check_float(input_dropout, "input_dropout", minimum=0.0, maximum=1.0, max_inclusive=False)
        check_float(dropout, "dropout", minimum=0.0, maximum=1.0, max_inclusive=False)
        super().__init__(
            OrderedDict(
                flatten=nn.Flatten(),
                dropout0=nn.Dropout(input_dropout),
                maxout1=Maxout(in_channels * input_size * input_size, units, pieces),
                dropout1=nn.Dropout(dropout),
                maxout2=Maxout(units, units, pieces),
                dropout2=nn.Dropout(dropout),
                fc3=nn.Linear(units, num_classes),
            ),
            (in_channels, input_size, input_size),
            num_classes,
        )


_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}


class MLP(_ZooModel):
    """Fully connected net: flatten → [fc → ``activation``] per width in ``hidden`` → fc(→ 10).

    Szegedy et al. (2014)'s FC100-100-10, FC200-200-10 (sigmoid, their Fig. 7b) and FC123-456-10
    are ``hidden=(100, 100)``, ``(200, 200)``, ``(123, 456)``. Layers are ``fc1, act1, fc2, act2,
    …, fc{len(hidden) + 1}``.

    :param hidden: Widths of the hidden layers (a non-empty tuple or list of ints ≥ 1).
    :param activation: ``"sigmoid"`` (default, as Szegedy et al.), ``"relu"`` or ``"tanh"``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 28,
        hidden: Sequence[int] = (100, 100),
        activation: str = "sigmoid",
    ):
        _check_common(in_channels, input_size, num_classes, min_size=1)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (tuple, list)):
            raise TypeError(f"hidden must be a tuple of layer widths, e.g. (100, 100); got {hidden!r}")
        if not hidden:
            raise ValueError("hidden must hold at least one layer width, e.g. (100, 100) (none: the 'linear' model)")
        for width in hidden:
            check_int(width, "hidden (each width)", minimum=1)
        check_choice(activation, "activation", tuple(_ACTIVATIONS))
        layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        width_in = in_channels * input_size * input_size
        for index, width in enumerate(hidden, start=1):
            layers[f"fc{index}"] = nn.Linear(width_in, int(width))
            layers[f"act{index}"] = _ACTIVATIONS[activation]()
            width_in = int(width)
        layers[f"fc{len(hidden) + 1}"] = nn.Linear(width_in, num_classes)
        super().__init__(layers, (in_channels, input_size, input_size), num_classes)
        self.hidden = tuple(int(w) for w in hidden)
        self.activation = activation


class AutoencoderSoftmax(nn.Module):
    """Szegedy et al. (2014)'s AE400-10: a sigmoid autoencoder's code feeding a softmax layer.

    Classifier path (what ``forward`` returns, logits): flatten → ``encoder`` fc(784 → ``code``
    400) → ``encoder_act`` sigmoid → ``head`` fc(400 → 10). The ``decoder`` (fc(400 → 784) →
    sigmoid) is used only to pretrain the encoder: :meth:`reconstruct` runs it, and
    :class:`ReconstructionObjective` trains on it. Unlike the other zoo models this is not an
    ``nn.Sequential``: ART's PyTorch wrapper runs a Sequential's children in order, which would
    feed the code through the decoder.

    Training recipe (see :func:`autoencoder_softmax_specs`): (1) pretrain ``encoder`` and
    ``decoder`` on reconstruction, without labels; (2) from those weights, train the classifier
    path with cross-entropy: ``head`` only (a softmax on frozen features) or ``encoder`` and
    ``head`` together (fine-tuning).

    :param code: Width of the code (hidden) layer.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28, code: int = 400):
        _check_common(in_channels, input_size, num_classes, min_size=1)
        check_int(code, "code", minimum=1)
        super().__init__()
        pixels = in_channels * input_size * input_size
        self.flatten = nn.Flatten()
        self.encoder = nn.Linear(pixels, code)
        self.encoder_act = nn.Sigmoid()
        self.head = nn.Linear(code, num_classes)
        self.decoder = nn.Sequential(OrderedDict(fc=nn.Linear(code, pixels), act=nn.Sigmoid()))
        self.input_shape = (in_channels, input_size, input_size)
        self.num_classes = num_classes

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code: sigmoid(encoder(flatten(x))), shape (N, code)."""
        return self.encoder_act(self.encoder(self.flatten(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's reconstruction of ``x``, flattened: shape (N, C·H·W), values in (0, 1)."""
        return self.decoder(self.encode(x))


class ReconstructionObjective(Objective):
    """Unsupervised pretraining loss of :class:`AutoencoderSoftmax`: reconstruction error of the
    decoder's output against the (flattened) input; the labels are ignored.

    :param loss: ``"bce"`` (default: per-pixel cross-entropy, the usual loss of a sigmoid
        autoencoder on [0, 1] pixels) or ``"mse"``; both averaged over pixels and images.
    """

    name = "autoencoder-reconstruction"

    def __init__(self, loss: str = "bce"):
        self.loss = check_choice(loss, "loss", ("bce", "mse"))

    def params(self) -> dict[str, Any]:
        return {"loss": self.loss}

    def error(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction error of ``model`` on ``x`` (a scalar tensor)."""
        if not callable(getattr(model, "reconstruct", None)):
            raise TypeError(
                "ReconstructionObjective needs a model with a decoder (e.g. 'autoencoder-softmax'); "
                f"got {type(model).__name__}"
            )
        target = x.flatten(1)
        output = model.reconstruct(x)
        if self.loss == "bce":
            return nn.functional.binary_cross_entropy(output, target)
        return nn.functional.mse_loss(output, target)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss = self.error(model, x)
        with torch.no_grad():  # logits only feed the training-accuracy log line
            logits = model(x)
        return loss, logits


def autoencoder_softmax_specs(
    pretrain_epochs: int,
    epochs: int,
    *,
    finetune: bool = True,
    optimizer: str = "adam",
    lr: float | None = None,
    batch_size: int = 128,
    weight_decay: float = 0.0,
    model_params: dict[str, Any] | None = None,
    loss: str = "bce",
) -> tuple[TrainingSpec, TrainingSpec]:
    """The two training stages of ``autoencoder-softmax``, as specs for :func:`~artx.model_cache.train_cached`.

    Stage 1 trains ``encoder`` and ``decoder`` on :class:`ReconstructionObjective`; stage 2
    starts from stage 1's weights (``init_state=``) and trains with cross-entropy either
    ``encoder`` and ``head`` (``finetune=True``) or ``head`` alone::

        pretrain, classify = autoencoder_softmax_specs(10, 10)
        stage1 = train_cached(pretrain, x, y, seed=s)
        model = train_cached(classify, x, y, seed=s, init_state=stage1.model.state_dict()).model

    :param pretrain_epochs: Epochs of stage 1.
    :param epochs: Epochs of stage 2.
    :param finetune: Whether stage 2 also trains the encoder.
    :param weight_decay: Coupled L2 of both stages (Szegedy et al.'s AE400-10: λ = 1e-6).
    :param loss: Reconstruction loss, ``"bce"`` or ``"mse"``.
    """
    from artx.training import TrainingSpec

    check_bool(finetune, "finetune")
    common: dict[str, Any] = {
        "optimizer": optimizer,
        "lr": lr,
        "batch_size": batch_size,
        "weight_decay": weight_decay,
        "model_params": dict(model_params or {}),
    }
    pretrain = TrainingSpec(
        "autoencoder-softmax",
        epochs=pretrain_epochs,
        trainable=("encoder", "decoder"),
        objective=ReconstructionObjective(loss),
        **common,
    )
    classify = TrainingSpec(
        "autoencoder-softmax", epochs=epochs, trainable=("encoder", "head") if finetune else ("head",), **common
    )
    return pretrain, classify


def build_model(name: str, seed: int | None = None, **params: Any) -> nn.Module:
    """Build the architecture registered as ``name`` (kind ``model``) with fresh weights.

    :param name: Registry name, e.g. ``"paper-cnn"``, ``"lenet5"``.
    :param seed: Seed for the weight initialisation (the global torch RNG is left untouched),
        or None to use the global RNG.
    :param params: Constructor parameters (``num_classes``, ``dropout``, ...).
    :return: The model, with ``registry_name`` (``name``) and ``registry_params`` (``params``)
        recorded as plain attributes (not in the state dict), so that trainers can describe it
        as a :class:`~artx.training.TrainingSpec`.
    """
    from artx import registry

    if seed is None:
        model = registry.create("model", name, **params)
    else:
        check_int(seed, "seed", minimum=0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = registry.create("model", name, **params)
    model.registry_name = name
    model.registry_params = dict(params)
    return model


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
