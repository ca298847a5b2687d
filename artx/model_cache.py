"""Trained-model cache: train once, reload in milliseconds.

An entry is keyed by a hash of everything that determines the trained weights: architecture and
its parameters, the training data's content hash, the hyperparameters, the seed, the frozen
layers and (for fine-tuning) the initial weights. Entries live under ``$ARTX_CACHE_DIR``
(default ``$XDG_CACHE_HOME/artx`` or ``~/.cache/artx``) as ``models/<arch>-<key>.pt`` (a
``state_dict``, written atomically, loaded with ``torch.load(weights_only=True)``) plus a JSON
side file. A corrupt entry is logged, deleted and retrained. Training checkpoints each epoch, so
a killed run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from artx import atomic
from artx.data import fingerprint
from artx.models import build_model
from artx.paths import cache_dir
from artx.training import DEFAULT_LR, TrainingHistory, train
from artx.validation import check_int

logger = logging.getLogger(__name__)

#: Bump when a change to training would make old entries wrong.
CACHE_FORMAT = 1


@dataclasses.dataclass
class TrainedModel:
    """A model from :func:`train_cached`, with where it came from."""

    model: nn.Module
    key: str
    from_cache: bool
    train_seconds: float  # wall time of the original training (also on a cache hit)
    load_seconds: float  # time spent in this call (training, or loading on a hit)
    history: dict
    path: Path


def state_fingerprint(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Content hash of a ``state_dict`` (used when fine-tuning starts from given weights)."""
    return fingerprint(*[state_dict[k].detach().cpu().numpy() for k in sorted(state_dict)]) + "|" + ",".join(sorted(state_dict))


def cache_key(spec: Mapping[str, Any]) -> str:
    """Stable hash of a JSON-serialisable training specification."""
    text = json.dumps({"format": CACHE_FORMAT, **spec}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def train_cached(
    arch: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    model_params: Mapping[str, Any] | None = None,
    optimizer: str = "adam",
    lr: float | None = None,
    batch_size: int = 128,
    seed: int = 0,
    trainable: Iterable[str] | None = None,
    init_state: Mapping[str, torch.Tensor] | None = None,
    device: str = "cpu",
    use_cache: bool = True,
    progress: bool = True,
    snapshot_epochs: Iterable[int] | None = None,
) -> TrainedModel:
    """Return the model ``arch`` trained on ``(x, y)``, from the cache when it is there.

    Weights are initialised with ``seed`` (then overwritten by ``init_state`` if given), and
    trained with :func:`artx.training.train`; see there for the parameters.

    :param arch: Registry name of the architecture (kind ``model``).
    :param model_params: Constructor parameters of the architecture.
    :param init_state: Starting weights (e.g. a pretrained model's ``state_dict`` to fine-tune).
    :param use_cache: False trains without reading or writing the cache.
    :param snapshot_epochs: Epoch counts ``k < epochs`` whose intermediate models are also
        stored, as the entries ``train_cached(..., epochs=k)`` would make (the model after epoch
        ``k`` of a longer run is bit-identical to a ``k``-epoch run; see
        :func:`artx.training.train`). One run then gives a whole training-length curve. Only a
        call that trains stores snapshots; after a cache hit, a missing ``k``-epoch entry is
        simply trained when asked for.
    """
    model_params = dict(model_params or {})
    trainable_list = None if trainable is None else list(trainable)
    check_int(epochs, "epochs", minimum=1)
    snapshots = _check_snapshot_epochs(snapshot_epochs, epochs)
    if snapshots and not use_cache:
        raise ValueError("snapshot_epochs needs the cache (use_cache=True): the snapshots are stored there")
    spec = {
        "arch": arch,
        "model_params": model_params,
        "data": fingerprint(x, y),
        "epochs": epochs,
        "optimizer": optimizer,
        "lr": DEFAULT_LR.get(optimizer) if lr is None else lr,
        "batch_size": batch_size,
        "seed": seed,
        "trainable": trainable_list,
        "init": None if init_state is None else state_fingerprint(init_state),
    }
    key = cache_key(spec)
    weights_path, meta_path = _entry_paths(arch, key)
    started = time.perf_counter()
    model = build_model(arch, seed=seed, **model_params)

    if use_cache and weights_path.is_file():
        try:
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            model.to(device).eval()
            logger.info("loaded %s from cache %s", arch, weights_path)
            return TrainedModel(model, key, True, float(meta["train_seconds"]), time.perf_counter() - started, meta["history"], weights_path)
        except Exception as error:  # any unreadable entry is retrained, never trusted
            logger.warning("cache entry %s is unreadable (%s); retraining", weights_path, error)
            for stale in (weights_path, meta_path):
                stale.unlink(missing_ok=True)
            model = build_model(arch, seed=seed, **model_params)

    if init_state is not None:
        model.load_state_dict(init_state)
    checkpoint = cache_dir() / "checkpoints" / f"{arch}-{key}.ckpt" if use_cache else None

    def store_snapshot(epochs_done: int, trained: nn.Module, so_far: TrainingHistory) -> None:
        if epochs_done not in snapshots:
            return
        snapshot_spec = {**spec, "epochs": epochs_done}
        snapshot_key = cache_key(snapshot_spec)
        snapshot_weights, snapshot_meta = _entry_paths(arch, snapshot_key)
        if not snapshot_weights.is_file():
            _store_entry(snapshot_weights, snapshot_meta, snapshot_spec, snapshot_key, so_far, trained)
            logger.info("stored the %d-epoch snapshot of %s as %s", epochs_done, arch, snapshot_weights)

    history: TrainingHistory = train(
        model,
        x,
        y,
        epochs=epochs,
        optimizer=optimizer,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        trainable=trainable_list,
        device=device,
        checkpoint_path=checkpoint,
        checkpoint_tag=key,
        progress=progress,
        on_epoch_end=store_snapshot if snapshots else None,
    )
    if use_cache:
        _store_entry(weights_path, meta_path, spec, key, history, model)
        if checkpoint is not None:
            checkpoint.unlink(missing_ok=True)
    return TrainedModel(model, key, False, history.seconds, time.perf_counter() - started, history.as_dict(), weights_path)


def _entry_paths(arch: str, key: str) -> tuple[Path, Path]:
    folder = cache_dir() / "models"
    return folder / f"{arch}-{key}.pt", folder / f"{arch}-{key}.json"


def _store_entry(weights_path: Path, meta_path: Path, spec: Mapping[str, Any], key: str, history: TrainingHistory, model: nn.Module) -> None:
    # Side file first: the weights file is what marks an entry complete.
    atomic.write_json(meta_path, {"spec": dict(spec), "key": key, "train_seconds": history.seconds, "history": history.as_dict()})
    atomic.torch_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, weights_path)


def _check_snapshot_epochs(snapshot_epochs: Iterable[int] | None, epochs: int) -> frozenset[int]:
    if snapshot_epochs is None:
        return frozenset()
    if isinstance(snapshot_epochs, (str, bytes)) or not isinstance(snapshot_epochs, Iterable):
        raise TypeError(f"snapshot_epochs must be an iterable of ints or None; got {type(snapshot_epochs).__name__}")
    values = list(snapshot_epochs)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"snapshot_epochs must hold ints; got {value!r} ({type(value).__name__})")
        if not 1 <= value < epochs:
            raise ValueError(f"snapshot_epochs must lie in [1, epochs - 1] = [1, {epochs - 1}]; got {value}")
    return frozenset(int(v) for v in values)
