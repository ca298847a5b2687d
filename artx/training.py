"""Training loop for the zoo models: seeded, resumable, with optional frozen layers.

How a model is trained is one object, :class:`TrainingSpec` (architecture, epochs, optimizer,
learning rate, batch size, weight decay, frozen layers, objective), shared by :func:`train`,
the trained-model cache (:func:`artx.model_cache.train_cached`, whose key is built from it),
population training (:func:`artx.population.train_population`) and plugins that train proxies.

The loss is an :class:`Objective`: by default cross-entropy (optionally at a softmax
temperature, and on soft labels); trainer plugins supply their own (adversarial training,
distillation) and get seeding, checkpoints and caching from here.

Determinism: on the CPU, the same seed gives bit-identical weights. Each epoch seeds its own
shuffling generator and dropout RNG from ``(seed, epoch)`` inside ``torch.random.fork_rng``,
so (1) the caller's global RNG is untouched and (2) a run resumed from an epoch checkpoint
continues exactly as an uninterrupted run would.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from artx import atomic
from artx.validation import check_choice, check_float, check_images, check_int, check_labels, check_seed, resolve_device

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd", "sgd-nesterov", "rmsprop", "adabound")

#: Default learning rates. SGD uses momentum 0.9 (``sgd-nesterov``: Nesterov momentum 0.9, as Keras'
#: ``SGD(momentum=0.9, nesterov=True)``); AdaBound's final (SGD-like) rate is 0.1.
DEFAULT_LR = {"adam": 1e-3, "sgd": 1e-2, "sgd-nesterov": 1e-2, "rmsprop": 1e-3, "adabound": 1e-3}


@dataclasses.dataclass
class TrainingHistory:
    """Per-epoch mean training loss and training accuracy (on the fly, over the epoch's batches)."""

    loss: list[float] = dataclasses.field(default_factory=list)
    accuracy: list[float] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class TrainingDivergedError(ValueError):
    """The training loss became NaN or infinite: nothing is stored or returned."""


def make_optimizer(
    name: str, parameters: Iterable[nn.Parameter], lr: float | None = None, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Create an optimizer by name: ``adam``, ``sgd`` (momentum 0.9), ``sgd-nesterov`` (Nesterov
    momentum 0.9), ``rmsprop``, ``adabound``.

    ``weight_decay`` is the optimizers' classic (coupled) L2 term: λ·w added to each gradient,
    i.e. λ/2·‖w‖² added to the loss. AdaBound comes from the maintained ``pytorch-optimizer``
    package.
    """
    check_choice(name, "optimizer", OPTIMIZERS)
    lr = DEFAULT_LR[name] if lr is None else check_float(lr, "lr", minimum=0.0, min_inclusive=False)
    weight_decay = check_float(weight_decay, "weight_decay", minimum=0.0)
    parameters = list(parameters)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "sgd-nesterov":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, weight_decay=weight_decay)
    from pytorch_optimizer import AdaBound

    return AdaBound(parameters, lr=lr, final_lr=0.1, weight_decay=weight_decay)


class Objective:
    """A training loss. ``objective(model, x, y)`` returns ``(loss, logits)``: the scalar loss
    of a mini-batch and the model's logits on the clean batch (for the training accuracy).

    ``y`` is a batch of int64 class indices, or of float32 probability rows when training on
    soft labels. ``name`` and :meth:`params` identify the objective in cache keys: two
    objectives with the same name and params must compute the same loss. Subclass it to train
    with another loss (see the trainer plugins); the default is :class:`CrossEntropy`.
    """

    name: str = "objective"

    def params(self) -> dict[str, Any]:
        """JSON-serialisable parameters that, with ``name``, determine the loss."""
        return {}

    def key(self) -> dict[str, Any]:
        """Identity of the objective in cache keys and results."""
        return {"name": self.name, **self.params()}

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Objective) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(repr(sorted(self.key().items())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"


class CrossEntropy(Objective):
    """Cross-entropy of ``softmax(logits / temperature)`` against hard or soft labels.

    :param temperature: Softmax temperature T > 0 (1: ordinary training; T > 1: the
        temperature training of defensive distillation).
    """

    name = "cross-entropy"

    def __init__(self, temperature: float = 1.0):
        self.temperature = check_float(temperature, "temperature", minimum=0.0, min_inclusive=False)

    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x)
        scaled = logits if self.temperature == 1.0 else logits / self.temperature
        return nn.functional.cross_entropy(scaled, y), logits


@dataclasses.dataclass(frozen=True)
class TrainingSpec:
    """How a model is trained: everything but the data, the seed and the device.

    :param arch: Registry name of the architecture (kind ``model``).
    :param epochs: Passes over the data (≥ 1).
    :param optimizer: ``"adam"``, ``"sgd"`` (momentum 0.9), ``"sgd-nesterov"`` (Nesterov momentum 0.9),
        ``"rmsprop"`` or ``"adabound"``.
    :param lr: Learning rate; None for the optimizer's default in :data:`DEFAULT_LR`.
    :param lr_decay: Inverse-time decay per step, Keras' ``decay``: the ``t``-th update (from 0, counted
        over all epochs) uses ``lr / (1 + lr_decay · t)``. 0: a constant learning rate.
    :param batch_size: Mini-batch size.
    :param weight_decay: Coupled L2 weight decay λ of the optimizer (λ/2·‖w‖² in the loss).
    :param model_params: Constructor parameters of the architecture (e.g. ``{"dropout": 0.5}``).
    :param trainable: Layer names to train (e.g. ``("fc2",)``); all others frozen. None trains all.
    :param objective: The loss; None is plain cross-entropy (:class:`CrossEntropy` at T = 1).
    :param max_norm: Max-norm constraint (Srebro & Shraibman; pylearn2's ``max_col_norm`` in the
        maxout paper): after every step, each unit's incoming weight vector (a row of every
        trainable ``nn.Linear`` weight) is rescaled to L2 norm ≤ ``max_norm``. None: unconstrained.
    """

    arch: str
    epochs: int
    optimizer: str = "adam"
    lr: float | None = None
    batch_size: int = 128
    weight_decay: float = 0.0
    lr_decay: float = 0.0
    model_params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    trainable: tuple[str, ...] | None = None
    objective: Objective | None = None
    max_norm: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.arch, str) or not self.arch:
            raise TypeError(f"arch must be a model registry name (str); got {self.arch!r}")
        check_int(self.epochs, "epochs", minimum=1)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        if self.lr is not None:
            check_float(self.lr, "lr", minimum=0.0, min_inclusive=False)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_float(self.weight_decay, "weight_decay", minimum=0.0)
        check_float(self.lr_decay, "lr_decay", minimum=0.0)
        if self.max_norm is not None:
            check_float(self.max_norm, "max_norm", minimum=0.0, min_inclusive=False)
        if not isinstance(self.model_params, Mapping):
            raise TypeError(f"model_params must be a mapping of constructor parameters; got {self.model_params!r}")
        object.__setattr__(self, "model_params", dict(self.model_params))
        if self.trainable is not None:
            if isinstance(self.trainable, str) or not all(isinstance(n, str) for n in self.trainable):
                raise TypeError(
                    f"trainable must be a list of layer names, e.g. ['fc2'], or None; got {self.trainable!r}"
                )
            object.__setattr__(self, "trainable", tuple(self.trainable))
        if self.objective is not None and not isinstance(self.objective, Objective):
            raise TypeError(
                f"objective must be an artx.training.Objective or None; got {type(self.objective).__name__}"
            )

    @property
    def resolved_lr(self) -> float:
        """The learning rate actually used."""
        return DEFAULT_LR[self.optimizer] if self.lr is None else float(self.lr)

    def replace(self, **changes: Any) -> TrainingSpec:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def build_model(self, seed: int | None = None) -> nn.Module:
        """A fresh model of ``arch`` with ``model_params``, initialised with ``seed``."""
        from artx.models import build_model

        return build_model(self.arch, seed=seed, **self.model_params)

    def key_fields(self) -> dict[str, Any]:
        """The fields that determine the trained weights, as JSON (the cache key's training part).

        Weight decay, a learning-rate decay, a non-default objective and a max-norm constraint appear only when set,
        so that entries of plain training keep the keys they had before these fields existed.
        """
        fields: dict[str, Any] = {
            "arch": self.arch,
            "model_params": dict(self.model_params),
            "epochs": self.epochs,
            "optimizer": self.optimizer,
            "lr": self.resolved_lr,
            "batch_size": self.batch_size,
            "trainable": None if self.trainable is None else list(self.trainable),
        }
        if self.weight_decay:
            fields["weight_decay"] = self.weight_decay
        if self.lr_decay:
            fields["lr_decay"] = float(self.lr_decay)
        if self.objective is not None and self.objective != CrossEntropy():
            fields["objective"] = self.objective.key()
        if self.max_norm is not None:
            fields["max_norm"] = float(self.max_norm)
        return fields

    def as_dict(self) -> dict[str, Any]:
        """Every field as JSON (for results' configuration blocks)."""
        return {
            **self.key_fields(),
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "lr_decay": self.lr_decay,
            "objective": None if self.objective is None else self.objective.key(),
            "max_norm": self.max_norm,
        }

    def describe(self) -> str:
        """One line for notes: ``paper-cnn, 2 epochs, adam (lr 0.001), batch 128``."""
        decay = f", decay {self.lr_decay:g} per step" if self.lr_decay else ""
        parts = [
            f"{self.arch}" + (f" {self.model_params}" if self.model_params else ""),
            f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}",
            f"{self.optimizer} (lr {self.resolved_lr:g}{decay})",
            f"batch {self.batch_size}",
        ]
        if self.weight_decay:
            parts.append(f"weight decay {self.weight_decay:g}")
        if self.max_norm is not None:
            parts.append(f"max-norm {self.max_norm:g}")
        if self.trainable is not None:
            parts.append(f"only {', '.join(self.trainable)} trained")
        if self.objective is not None:
            parts.append(f"loss {self.objective!r}")
        return ", ".join(parts)


def _trainable_mask(model: nn.Module, trainable: Iterable[str] | None) -> dict[str, bool]:
    """Map each parameter name to whether it trains; ``trainable`` holds layer-name prefixes."""
    names = [name for name, _ in model.named_parameters()]
    if trainable is None:
        return {name: True for name in names}
    if isinstance(trainable, str):
        raise TypeError(f"trainable must be a list of layer names, e.g. ['fc2']; got the string {trainable!r}")
    prefixes = list(trainable)
    if not prefixes:
        raise ValueError("trainable must name at least one layer (or be None to train all layers)")
    layers = sorted({name.rsplit(".", 1)[0] for name in names})
    for prefix in prefixes:
        if not any(name == prefix or name.startswith(prefix + ".") for name in names):
            raise ValueError(f"trainable names unknown layer {prefix!r}; layers with parameters: {', '.join(layers)}")
    return {name: any(name == p or name.startswith(p + ".") for p in prefixes) for name in names}


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919) % (2**63 - 1)


def _set_train_mode(model: nn.Module, mask: dict[str, bool]) -> None:
    """Train mode, except that fully frozen normalisation layers keep their running statistics."""
    model.train()
    for module_name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            own = [f"{module_name}.{n}" if module_name else n for n, _ in module.named_parameters()]
            if own and not any(mask[n] for n in own):
                module.eval()


def check_targets(y: object, name: str, *, n_samples: int, nb_classes: int | None) -> np.ndarray:
    """Training targets: int class indices ``(N,)`` (see :func:`artx.validation.check_labels`) or
    float32 probability rows ``(N, classes)`` (soft labels, e.g. a teacher's), each in [0, 1] and
    summing to 1."""
    if isinstance(y, np.ndarray) and y.ndim == 2 and np.issubdtype(y.dtype, np.floating):
        if y.dtype != np.float32:
            raise TypeError(f"{name} soft labels must have dtype float32; got {y.dtype}")
        if len(y) != n_samples:
            raise ValueError(f"{name} must have one row per image ({n_samples}); got {len(y)}")
        if nb_classes is not None and y.shape[1] != nb_classes:
            raise ValueError(f"{name} soft labels must have one column per class ({nb_classes}); got shape {y.shape}")
        if not np.isfinite(y).all() or y.min() < 0 or y.max() > 1 or not np.allclose(y.sum(axis=1), 1.0, atol=1e-4):
            raise ValueError(f"{name} soft labels must be probability rows (finite, in [0, 1], summing to 1)")
        return y
    return check_labels(y, name, n_samples=n_samples, nb_classes=nb_classes)


def train(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    spec: TrainingSpec,
    *,
    seed: int = 0,
    device: str = "cpu",
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_tag: str = "",
    progress: bool = True,
    on_epoch_end: Callable[[int, nn.Module, TrainingHistory], None] | None = None,
) -> TrainingHistory:
    """Train ``model`` in place on ``(x, y)`` as ``spec`` says; returns the per-epoch history.

    :param model: A logits-returning module (built as ``spec.arch`` says, or any module when
        the caller trains its own).
    :param x: float32 NCHW images in [0, 1].
    :param y: int64 labels, or float32 probability rows (soft labels).
    :param spec: How to train (epochs, optimizer, lr, batch size, weight decay, trainable layers,
        objective); ``spec.arch``/``model_params`` only name the model.
    :param seed: Seed of the shuffling and dropout RNGs.
    :param device: ``"cpu"`` or ``"cuda"``.
    :param checkpoint_path: If given, the state after each epoch is written there atomically
        (with a digest) and a run finding a checkpoint with the same ``checkpoint_tag`` resumes
        from it. An unreadable, altered or foreign checkpoint is ignored: training restarts from
        the model's weights as they were when this call began.
    :param checkpoint_tag: Identity of the run (e.g. the model-cache key); a checkpoint with
        another tag is ignored.
    :param progress: Show a tqdm bar (only on a terminal).
    :param on_epoch_end: Called as ``on_epoch_end(epochs_done, model, history)`` after each
        epoch this call trains (not for epochs restored from a checkpoint), with ``model`` in
        eval mode; it must not change the weights. Every epoch draws its randomness from its own
        seed, so the model after epoch ``k`` is exactly the model ``train(..., epochs=k)``
        returns (the trained-model cache stores such snapshots).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not isinstance(spec, TrainingSpec):
        raise TypeError(f"spec must be an artx.training.TrainingSpec; got {type(spec).__name__}")
    x = check_images(x, "x")
    y = check_targets(y, "y", n_samples=len(x), nb_classes=getattr(model, "num_classes", None))
    check_seed(seed, "seed")
    device = resolve_device(device)
    objective = spec.objective or CrossEntropy()
    mask = _trainable_mask(model, spec.trainable)
    model.to(device)
    previous_requires_grad = {name: p.requires_grad for name, p in model.named_parameters()}
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(mask[name])
    opt = make_optimizer(
        spec.optimizer, [p for n, p in model.named_parameters() if mask[n]], spec.lr, spec.weight_decay
    )
    constrained = _max_norm_weights(model, mask) if spec.max_norm is not None else []
    history = TrainingHistory()
    start_epoch = 0
    if checkpoint_path is not None:
        start_epoch = _resume(Path(checkpoint_path), checkpoint_tag, model, opt, history)
    x_all = torch.from_numpy(x).to(device)
    y_all = torch.from_numpy(y if y.ndim == 2 else y.astype(np.int64)).to(device)
    n, epochs, batch_size = len(x_all), spec.epochs, spec.batch_size
    steps_per_epoch = -(-n // batch_size)
    started = time.perf_counter()
    try:
        for epoch in range(start_epoch, epochs):
            _set_train_mode(model, mask)
            with torch.random.fork_rng(devices=[torch.device(device)] if device.startswith("cuda") else []):
                torch.manual_seed(_epoch_seed(seed, epoch))
                order = torch.randperm(n, generator=torch.Generator().manual_seed(_epoch_seed(seed, epoch))).to(device)
                total_loss, correct = 0.0, 0
                batches = range(0, n, batch_size)
                bar = tqdm(
                    batches,
                    desc=f"{spec.arch} epoch {epoch + 1}/{epochs}",
                    unit="batch",
                    leave=False,
                    disable=not progress or None,
                )
                for step, start in enumerate(bar, start=epoch * steps_per_epoch):
                    if spec.lr_decay:  # a function of the step: a resumed run continues the same schedule
                        for group in opt.param_groups:
                            group["lr"] = spec.resolved_lr / (1.0 + spec.lr_decay * step)
                    index = order[start : start + batch_size]
                    xb, yb = x_all[index], y_all[index]
                    opt.zero_grad(set_to_none=True)
                    loss, logits = objective(model, xb, yb)
                    loss.backward()
                    opt.step()
                    if constrained:
                        _apply_max_norm(constrained, spec.max_norm)
                    total_loss += float(loss.detach()) * len(index)
                    truth = yb.argmax(1) if yb.ndim == 2 else yb
                    correct += int((logits.detach().argmax(1) == truth).sum())
            history.loss.append(total_loss / n)
            history.accuracy.append(correct / n)
            if not np.isfinite(history.loss[-1]):
                # stop here, naming the run: a NaN model would otherwise be cached (or fail later, far from its cause)
                raise TrainingDivergedError(
                    f"training diverged: {spec.arch} loss is {history.loss[-1]} at epoch {epoch + 1}/{epochs} "
                    f"(optimizer {spec.optimizer}, lr {opt.param_groups[0]['lr']:g}, batch {batch_size}); "
                    "lower the lr or change the spec"
                )
            logger.info(
                "%s epoch %d/%d: loss %.4f, train accuracy %.4f",
                spec.arch,
                epoch + 1,
                epochs,
                history.loss[-1],
                history.accuracy[-1],
            )
            if on_epoch_end is not None:
                # Before the checkpoint: a run killed in between redoes this epoch, and the
                # callback with it, rather than skipping the callback.
                model.eval()
                history.seconds += time.perf_counter() - started
                started = time.perf_counter()
                on_epoch_end(epoch + 1, model, history)
                started = time.perf_counter()
            if checkpoint_path is not None and epoch + 1 < epochs:
                history.seconds += time.perf_counter() - started
                started = time.perf_counter()
                _write_checkpoint(Path(checkpoint_path), checkpoint_tag, epoch + 1, model, opt, history)
    finally:
        model.eval()
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(previous_requires_grad[name])
    history.seconds += time.perf_counter() - started
    return history


def _max_norm_weights(model: nn.Module, mask: dict[str, bool]) -> list[torch.Tensor]:
    """The trainable ``nn.Linear`` weights a max-norm constraint applies to."""
    weights = [
        module.weight
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and mask[f"{name}.weight" if name else "weight"]
    ]
    if not weights:
        raise ValueError("spec.max_norm constrains nn.Linear weights, but the model has no trainable nn.Linear layer")
    return weights


@torch.no_grad()
def _apply_max_norm(weights: list[torch.Tensor], max_norm: float) -> None:
    # torch.renorm rescales each row (one unit's incoming weights) whose L2 norm exceeds max_norm
    for weight in weights:
        weight.copy_(torch.renorm(weight, p=2, dim=0, maxnorm=max_norm))


def _write_checkpoint(
    path: Path, tag: str, epoch: int, model: nn.Module, opt: torch.optim.Optimizer, history: TrainingHistory
) -> None:
    state = {
        "tag": tag,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "history": history.as_dict(),
    }
    try:
        atomic.torch_save_sealed(state, path)
    except OSError as error:  # a checkpoint is an optimisation: losing it costs a restart, not the run
        logger.warning("could not write the epoch checkpoint %s (%s); training goes on without it", path, error)


def _resume(path: Path, tag: str, model: nn.Module, opt: torch.optim.Optimizer, history: TrainingHistory) -> int:
    """Load an epoch checkpoint if it belongs to this run; return the epoch to start from.

    All or nothing: the checkpoint is read and checked completely before anything is changed,
    and if loading into the model or optimizer fails part-way, both are put back to their state
    at the call, so "training from the start" really starts from the initial weights.
    """
    if not path.is_file():
        return 0
    try:
        state = atomic.torch_load_sealed(path)
        if not isinstance(state, dict) or state.get("tag") != tag:
            logger.warning("ignoring checkpoint %s: it belongs to another run", path)
            return 0
        epoch = state["epoch"]
        saved = state["history"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
            raise ValueError(f"bad epoch {epoch!r}")
        if not all(isinstance(saved.get(k), list) and len(saved[k]) == epoch for k in ("loss", "accuracy")):
            raise ValueError("history does not match the epoch count")
        seconds = float(saved["seconds"])
        model_state, optimizer_state = state["model"], state["optimizer"]
    except Exception as error:  # a corrupt checkpoint only costs the epochs it held
        logger.warning("ignoring unreadable checkpoint %s (%s); training from the start", path, error)
        return 0
    initial_model = copy.deepcopy(model.state_dict())
    initial_optimizer = copy.deepcopy(opt.state_dict())
    try:
        model.load_state_dict(model_state)
        opt.load_state_dict(optimizer_state)
    except Exception as error:
        model.load_state_dict(initial_model)
        opt.load_state_dict(initial_optimizer)
        logger.warning(
            "ignoring checkpoint %s that does not fit this model/optimizer (%s); training from the start", path, error
        )
        return 0
    history.loss[:] = [float(v) for v in saved["loss"]]
    history.accuracy[:] = [float(v) for v in saved["accuracy"]]
    history.seconds = seconds
    logger.info("resuming from %s after epoch %d", path, epoch)
    return epoch
