"""Training loop for the zoo models: seeded, resumable, with optional frozen layers.

Determinism: on the CPU, the same seed gives bit-identical weights. Each epoch seeds its own
shuffling generator and dropout RNG from ``(seed, epoch)`` inside ``torch.random.fork_rng``,
so (1) the caller's global RNG is untouched and (2) a run resumed from an epoch checkpoint
continues exactly as an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from artx import atomic
from artx.validation import check_choice, check_float, check_images, check_int, check_labels, resolve_device

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd", "rmsprop", "adabound")

#: Default learning rates. SGD uses momentum 0.9; AdaBound's final (SGD-like) rate is 0.1.
DEFAULT_LR = {"adam": 1e-3, "sgd": 1e-2, "rmsprop": 1e-3, "adabound": 1e-3}


@dataclasses.dataclass
class TrainingHistory:
    """Per-epoch mean training loss and training accuracy (on the fly, over the epoch's batches)."""

    loss: list[float] = dataclasses.field(default_factory=list)
    accuracy: list[float] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def make_optimizer(name: str, parameters: Iterable[nn.Parameter], lr: float | None = None) -> torch.optim.Optimizer:
    """Create an optimizer by name: ``adam``, ``sgd`` (momentum 0.9), ``rmsprop``, ``adabound``.

    AdaBound comes from the maintained ``pytorch-optimizer`` package.
    """
    check_choice(name, "optimizer", OPTIMIZERS)
    lr = DEFAULT_LR[name] if lr is None else check_float(lr, "lr", minimum=0.0, min_inclusive=False)
    parameters = list(parameters)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr)
    from pytorch_optimizer import AdaBound

    return AdaBound(parameters, lr=lr, final_lr=0.1)


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


def train(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    optimizer: str = "adam",
    lr: float | None = None,
    batch_size: int = 128,
    seed: int = 0,
    trainable: Iterable[str] | None = None,
    device: str = "cpu",
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_tag: str = "",
    progress: bool = True,
    on_epoch_end: Callable[[int, nn.Module, TrainingHistory], None] | None = None,
) -> TrainingHistory:
    """Train ``model`` in place with cross-entropy on ``(x, y)``; returns the per-epoch history.

    :param model: A logits-returning module.
    :param x: float32 NCHW images in [0, 1].
    :param y: int64 labels.
    :param epochs: Number of passes over the data.
    :param optimizer: ``"adam"``, ``"sgd"``, ``"rmsprop"`` or ``"adabound"``.
    :param lr: Learning rate; None for the optimizer's default in :data:`DEFAULT_LR`.
    :param batch_size: Mini-batch size.
    :param seed: Seed of the shuffling and dropout RNGs.
    :param trainable: Layer names to train (e.g. ``["fc2"]``); all others are frozen. None
        trains everything.
    :param device: ``"cpu"`` or ``"cuda"``.
    :param checkpoint_path: If given, the state after each epoch is written there atomically and
        a run finding a checkpoint with the same ``checkpoint_tag`` resumes from it.
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
    check_images(x, "x")
    check_labels(y, "y", n_samples=len(x), nb_classes=getattr(model, "num_classes", None))
    check_int(epochs, "epochs", minimum=1)
    check_int(batch_size, "batch_size", minimum=1)
    check_int(seed, "seed", minimum=0)
    device = resolve_device(device)
    mask = _trainable_mask(model, trainable)
    model.to(device)
    previous_requires_grad = {name: p.requires_grad for name, p in model.named_parameters()}
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(mask[name])
    opt = make_optimizer(optimizer, [p for n, p in model.named_parameters() if mask[n]], lr)
    loss_fn = nn.CrossEntropyLoss()
    history = TrainingHistory()
    start_epoch = 0
    if checkpoint_path is not None:
        start_epoch = _resume(Path(checkpoint_path), checkpoint_tag, model, opt, history)
    x_all = torch.from_numpy(x).to(device)
    y_all = torch.from_numpy(y.astype(np.int64)).to(device)
    n = len(x_all)
    started = time.perf_counter()
    try:
        for epoch in range(start_epoch, epochs):
            _set_train_mode(model, mask)
            with torch.random.fork_rng(devices=[torch.device(device)] if device.startswith("cuda") else []):
                torch.manual_seed(_epoch_seed(seed, epoch))
                order = torch.randperm(n, generator=torch.Generator().manual_seed(_epoch_seed(seed, epoch))).to(device)
                total_loss, correct = 0.0, 0
                batches = range(0, n, batch_size)
                bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=False, disable=not progress or None)
                for start in bar:
                    index = order[start : start + batch_size]
                    xb, yb = x_all[index], y_all[index]
                    opt.zero_grad(set_to_none=True)
                    logits = model(xb)
                    loss = loss_fn(logits, yb)
                    loss.backward()
                    opt.step()
                    total_loss += float(loss.detach()) * len(index)
                    correct += int((logits.detach().argmax(1) == yb).sum())
            history.loss.append(total_loss / n)
            history.accuracy.append(correct / n)
            logger.info("epoch %d/%d: loss %.4f, train accuracy %.4f", epoch + 1, epochs, history.loss[-1], history.accuracy[-1])
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
                atomic.torch_save(
                    {
                        "tag": checkpoint_tag,
                        "epoch": epoch + 1,
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "history": history.as_dict(),
                    },
                    checkpoint_path,
                )
    finally:
        model.eval()
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(previous_requires_grad[name])
    history.seconds += time.perf_counter() - started
    return history


def _resume(path: Path, tag: str, model: nn.Module, opt: torch.optim.Optimizer, history: TrainingHistory) -> int:
    """Load an epoch checkpoint if it belongs to this run; return the epoch to start from."""
    if not path.is_file():
        return 0
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("tag") != tag:
            logger.warning("ignoring checkpoint %s: it belongs to another run", path)
            return 0
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        saved = state["history"]
    except Exception as error:  # a corrupt checkpoint only costs the epochs it held
        logger.warning("ignoring unreadable checkpoint %s (%s); training from the start", path, error)
        return 0
    history.loss[:] = saved["loss"]
    history.accuracy[:] = saved["accuracy"]
    history.seconds = saved["seconds"]
    logger.info("resuming from %s after epoch %d", path, state["epoch"])
    return int(state["epoch"])
