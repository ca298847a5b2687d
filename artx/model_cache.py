"""Trained-model cache: train once, reload in milliseconds.

An entry is keyed by a hash of everything that determines the trained weights: the
:class:`~artx.training.TrainingSpec` (architecture and its parameters, hyperparameters, frozen
layers, objective), the training data's content hash, the seed and (for fine-tuning) the
initial weights. Entries live under ``$ARTX_CACHE_DIR`` (default ``$XDG_CACHE_HOME/artx`` or
``~/.cache/artx``) as ``models/<arch>-<key>.pt`` plus a JSON side file.

Nothing wrong is ever served: each ``.pt`` is *sealed* (a SHA-256 of its payload stored in the
same file, :func:`artx.atomic.torch_save_sealed`), checked before it is unpickled (with
``weights_only=True``). An entry whose digest, format or content does not check out is logged
once, deleted where possible and retrained; so is an epoch checkpoint.

A cache folder that cannot be written (read-only, or a path that is a file) is found before any
training starts: artx logs one warning, still serves valid entries it can read, and trains
without writing entries or checkpoints (a killed run then restarts from the beginning).
Entries and checkpoints are written atomically, so processes racing on one entry are safe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from artx import atomic
from artx.data import fingerprint
from artx.paths import cache_dir
from artx.training import TrainingHistory, TrainingSpec, train
from artx.validation import check_seed

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
    return (
        fingerprint(*[state_dict[k].detach().cpu().numpy() for k in sorted(state_dict)])
        + "|"
        + ",".join(sorted(state_dict))
    )


def cache_key(spec: Mapping[str, Any]) -> str:
    """Stable hash of a JSON-serialisable specification."""
    text = json.dumps({"format": CACHE_FORMAT, **spec}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message, *args)


def cache_writable(folder: Path | None = None) -> bool:
    """Whether artx can write its cache (``folder`` or :func:`artx.paths.cache_dir`): creates
    the folder if needed and writes and removes a probe file. Warns once per folder when not."""
    folder = folder or cache_dir()
    try:
        (folder / "models").mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder / "models", prefix=".probe-"):
            pass
        return True
    except OSError as error:
        _warn_once(
            f"unwritable {folder}",
            "artx cache %s is not writable (%s): training without storing models or epoch checkpoints "
            "(valid entries already there are still used). Set ARTX_CACHE_DIR to a writable folder to cache.",
            folder,
            error,
        )
        return False


def train_cached(
    spec: TrainingSpec,
    x: np.ndarray,
    y: np.ndarray | Callable[[], np.ndarray],
    *,
    seed: int = 0,
    init_state: Mapping[str, torch.Tensor] | None = None,
    device: str = "cpu",
    use_cache: bool = True,
    progress: bool = True,
    snapshot_epochs: Iterable[int] | None = None,
    data_identity: str | None = None,
) -> TrainedModel:
    """Return the model ``spec`` describes, trained on ``(x, y)``, from the cache when it is there.

    Weights are initialised with ``seed`` (then overwritten by ``init_state`` if given), and
    trained with :func:`artx.training.train`; see there for the parameters.

    :param spec: How to train (architecture, epochs, optimizer, ...).
    :param seed: Seed of the initial weights, the batch order and dropout.
    :param init_state: Starting weights (e.g. a pretrained model's ``state_dict`` to fine-tune).
    :param use_cache: False trains without reading or writing the cache.
    :param snapshot_epochs: Epoch counts ``k < spec.epochs`` whose intermediate models are also
        stored, as the entries ``train_cached(spec.replace(epochs=k), ...)`` would make (the
        model after epoch ``k`` of a longer run is bit-identical to a ``k``-epoch run; see
        :func:`artx.training.train`). One run then gives a whole training-length curve. Only a
        call that trains stores snapshots; after a cache hit, a missing ``k``-epoch entry is
        simply trained when asked for.
    :param data_identity: Names ``(x, y)`` in the key instead of their content hash, for data that
        is a deterministic function of named inputs but whose bytes are not: a net's float outputs
        (e.g. soft labels) differ in the last bits between machines and thread counts (measured:
        a teacher's ``softmax(Z / 100)`` on the 60,000 MNIST training images hashes differently
        with 1 and 2 threads), so a key on their bytes misses on every other machine. The name
        must identify everything that made the data (see
        :meth:`artx_plugins.defensive_distillation.DefensiveDistillation.soft_label_identity`).
        With it, ``y`` may be a function returning the labels, called only when the model must
        be trained (soft labels of 60,000 images cost ~20 s of CPU; a cache hit then costs none).
    """
    if not isinstance(spec, TrainingSpec):
        raise TypeError(f"spec must be an artx.training.TrainingSpec; got {type(spec).__name__}")
    check_seed(seed, "seed")
    snapshots = _check_snapshot_epochs(snapshot_epochs, spec.epochs)
    if snapshots and not use_cache:
        raise ValueError("snapshot_epochs needs the cache (use_cache=True): the snapshots are stored there")
    if data_identity is not None and not isinstance(data_identity, str):
        raise TypeError(f"data_identity must be None or a str naming the data; got {type(data_identity).__name__}")
    if data_identity is not None and not data_identity.strip():
        raise ValueError(f"data_identity must name the data (a non-empty str); got {data_identity!r}")
    if callable(y) and data_identity is None:
        raise TypeError("y may be a function making the labels only with data_identity (the key cannot hash it)")
    key_spec = {
        **spec.key_fields(),
        "data": fingerprint(x, y) if data_identity is None else data_identity,
        "seed": seed,
        "init": None if init_state is None else state_fingerprint(init_state),
    }
    key = cache_key(key_spec)
    weights_path, meta_path = _entry_paths(spec.arch, key)
    started = time.perf_counter()
    writable = use_cache and cache_writable()

    if use_cache:
        hit = _load_entry(spec, seed, weights_path, meta_path, writable)
        if hit is not None:
            model, meta = hit
            model.to(device).eval()
            logger.info("loaded %s from cache %s", spec.arch, weights_path)
            return TrainedModel(
                model,
                key,
                True,
                float(meta["train_seconds"]),
                time.perf_counter() - started,
                meta["history"],
                weights_path,
            )

    if callable(y):
        y = y()
    model = spec.build_model(seed)
    if init_state is not None:
        model.load_state_dict(init_state)
    checkpoint = cache_dir() / "checkpoints" / f"{spec.arch}-{key}.ckpt" if writable else None

    def store_snapshot(epochs_done: int, trained: nn.Module, so_far: TrainingHistory) -> None:
        if epochs_done not in snapshots or not writable:
            return
        snapshot_spec = {**key_spec, "epochs": epochs_done}
        snapshot_key = cache_key(snapshot_spec)
        snapshot_weights, snapshot_meta = _entry_paths(spec.arch, snapshot_key)
        if not snapshot_weights.is_file():
            _store_entry(snapshot_weights, snapshot_meta, snapshot_spec, snapshot_key, so_far, trained)
            logger.info("stored the %d-epoch snapshot of %s as %s", epochs_done, spec.arch, snapshot_weights)

    if checkpoint is not None:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
    history: TrainingHistory = train(
        model,
        x,
        y,
        spec,
        seed=seed,
        device=device,
        checkpoint_path=checkpoint,
        checkpoint_tag=key,
        progress=progress,
        on_epoch_end=store_snapshot if snapshots else None,
    )
    if writable:
        _store_entry(weights_path, meta_path, key_spec, key, history, model)
        if checkpoint is not None:
            checkpoint.unlink(missing_ok=True)
    return TrainedModel(
        model, key, False, history.seconds, time.perf_counter() - started, history.as_dict(), weights_path
    )


def _load_entry(
    spec: TrainingSpec, seed: int, weights_path: Path, meta_path: Path, writable: bool
) -> tuple[nn.Module, dict] | None:
    """The cached model and its side file, or None (no entry, or an entry that does not check out)."""
    if not weights_path.is_file():
        return None
    try:
        state = atomic.torch_load_sealed(weights_path)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        float(meta["train_seconds"]), meta["history"]  # noqa: B018 (both must be there)
        model = spec.build_model(seed)
        model.load_state_dict(state)
        return model, meta
    except Exception as error:  # any entry that does not check out is retrained, never trusted
        _warn_once(f"entry {weights_path}", "cache entry %s failed its check (%s); retraining", weights_path, error)
        if writable:
            for stale in (weights_path, meta_path):
                try:
                    stale.unlink(missing_ok=True)
                except OSError as unlink_error:  # e.g. removed by a racing process, or permissions
                    logger.info("could not remove %s (%s)", stale, unlink_error)
        return None


def _entry_paths(arch: str, key: str) -> tuple[Path, Path]:
    folder = cache_dir() / "models"
    return folder / f"{arch}-{key}.pt", folder / f"{arch}-{key}.json"


def _store_entry(
    weights_path: Path, meta_path: Path, spec: Mapping[str, Any], key: str, history: TrainingHistory, model: nn.Module
) -> None:
    # Side file first: the weights file is what marks an entry complete.
    try:
        atomic.write_json(
            meta_path, {"spec": dict(spec), "key": key, "train_seconds": history.seconds, "history": history.as_dict()}
        )
        atomic.torch_save_sealed({k: v.detach().cpu() for k, v in model.state_dict().items()}, weights_path)
    except OSError as error:  # e.g. the disk filled up: the model is still returned, just not cached
        _warn_once(f"store {weights_path.parent}", "could not store %s in the cache (%s)", weights_path, error)


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
