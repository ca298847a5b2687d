"""Base class of paper reproductions, their presets and settings, the run context (the
reproduction kit), and the runner behind ``artx reproduce``.

A reproduction is a plugin of kind ``reproduction`` (entry-point group ``artx.reproductions``):
a :class:`Reproduction` subclass with a ``name``, the paper's ``title``, its ``presets`` and a
``run(context, results)`` method that fills a :class:`~artx.results.ResultsWriter`. It uses
attacks, defences and models only by registry name.

The kit, so that a reproduction is mostly its own science:

- :class:`Settings`: a preset's settings as a frozen dataclass (typed fields, documented with
  ``field(metadata={"doc": ...})``); the configuration block of ``results.json`` and a settings
  note are generated from it, and a test preset is ``QUICK.replace(...)``.
- :class:`RunContext`: :meth:`~RunContext.train` (cached training from a
  :class:`~artx.training.TrainingSpec`, on the run's device, timed, with a progress line),
  :meth:`~RunContext.classifier` (the ART wrapper on the run's device), :meth:`~RunContext.stage`
  (a named, timed step shown as progress), ``nb_classes`` and ``paper_scale``.
- :func:`run_reproduction` checks everything it can before any work: the preset, the output
  folder, the cache, and every dataset the preset needs (:meth:`Reproduction.datasets`).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

import numpy as np

from artx import data
from artx.results import ResultsWriter
from artx.validation import check_int, resolve_device

logger = logging.getLogger(__name__)
progress_logger = logging.getLogger("artx.progress")


def _jsonable(value: Any) -> Any:
    """Settings values as JSON: dataclasses (e.g. a TrainingSpec) through their own ``as_dict``."""
    if hasattr(value, "as_dict") and dataclasses.is_dataclass(value):
        return value.as_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base class of a reproduction's settings: subclass it as a frozen dataclass.

    Fields may carry a one-line explanation, ``field(default=..., metadata={"doc": "..."})``;
    :meth:`describe` lists them for the notes and :meth:`as_config` gives the configuration
    block of ``results.json``.
    """

    def as_config(self) -> dict[str, Any]:
        """Every field, as JSON."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some fields changed (e.g. a tiny preset for tests)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """``Settings: a = 1 (what a is); b = ...`` for every field."""
        parts = []
        for f in dataclasses.fields(self):
            doc = f.metadata.get("doc")
            value = getattr(self, f.name)
            shown = value.describe() if hasattr(value, "describe") and callable(value.describe) else _jsonable(value)
            parts.append(f"{f.name} = {shown}" + (f" ({doc})" if doc else ""))
        return "Settings: " + "; ".join(parts) + "."


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named configuration of a reproduction.

    :param name: ``"quick"`` (offline, embedded data, minutes) or ``"paper"`` (full data).
    :param dataset: Default dataset name for :func:`artx.data.load`.
    :param description: One line shown in the output.
    :param seeds: Default number of seeds.
    :param settings: Everything else (epochs, attack parameters, sizes), recorded in
        results.json: a :class:`Settings` dataclass (recommended) or a plain mapping.
    """

    name: str
    dataset: str
    description: str
    seeds: int = 1
    settings: Settings | Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def config(self) -> dict[str, Any]:
        """The settings as JSON."""
        return self.settings.as_config() if isinstance(self.settings, Settings) else _jsonable(dict(self.settings))


@dataclasses.dataclass
class RunContext:
    """What a reproduction's ``run`` gets: the preset, seeds, device and data location, and the
    kit's helpers (training, ART wrapping, progress)."""

    preset: Preset
    seeds: list[int]
    device: str
    data_dir: Path | None
    out_dir: Path
    progress: bool = True
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # e.g. {"labels": path}
    results: ResultsWriter | None = None
    #: Where progress lines go (the CLI prints them on stderr); default: the ``artx.progress`` logger.
    report: Callable[[str], None] = progress_logger.info
    _stages: int = 0

    @property
    def settings(self) -> Any:
        """The preset's settings (a :class:`Settings` dataclass, or a mapping)."""
        return self.preset.settings

    @property
    def paper_scale(self) -> bool:
        """Whether this run is at the paper's scale (the ``paper`` preset): claims about the paper's
        absolute numbers are only decided there (:func:`artx.claims.at_scale`)."""
        return self.preset.name == "paper"

    @property
    def nb_classes(self) -> int:
        """Number of classes of the preset's dataset."""
        return len(data.CLASS_NAMES[self.preset.dataset])

    def load(self, split: str, *, dataset: str | None = None, limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Load a split of the preset's dataset (or ``dataset``) from the context's data folder."""
        return data.load(dataset or self.preset.dataset, split, data_dir=self.data_dir, limit=limit, seed=seed)

    @contextlib.contextmanager
    def stage(self, label: str, *, timing: str | None = None) -> Iterator[None]:
        """A named step of the run: a progress line when it starts and one with its wall time
        when it ends; its time is added to ``results.timings[timing]`` when ``timing`` is given."""
        self._stages += 1
        number = self._stages
        self.report(f"[{number}] {label} …")
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            if timing is not None and self.results is not None:
                self.results.timings[timing] = self.results.timings.get(timing, 0.0) + seconds
            self.report(f"[{number}] {label}: {seconds:.1f} s")

    def train(self, spec: Any, x: np.ndarray, y: np.ndarray, *, seed: int, label: str = "", **kwargs: Any) -> Any:
        """:func:`artx.model_cache.train_cached` on the run's device, as a stage (timed under
        ``"train <arch>"``); ``kwargs`` go to it (``init_state``, ``snapshot_epochs``, ...)."""
        from artx.model_cache import train_cached

        with self.stage(f"train {spec.arch}{' ' + label if label else ''} seed {seed}", timing=f"train {spec.arch}"):
            trained = train_cached(spec, x, y, seed=seed, device=self.device, progress=self.progress, **kwargs)
        if trained.from_cache:
            self.report(f"    (from the cache; trained originally in {trained.train_seconds:.0f} s)")
        return trained

    def classifier(self, model: Any, **kwargs: Any) -> Any:
        """The model as an ART ``PyTorchClassifier`` on the run's device (:func:`artx.models.to_art_classifier`)."""
        from artx.models import to_art_classifier

        return to_art_classifier(model, device=self.device, **kwargs)


class Reproduction(abc.ABC):
    """One paper's tables, figures and claims, computed from scratch."""

    name: ClassVar[str]
    title: ClassVar[str]
    presets: ClassVar[Mapping[str, Preset]]
    #: Whether ``--labels FILE.csv`` (human labels, see :mod:`artx.relabel`) is accepted.
    accepts_labels: ClassVar[bool] = False

    def datasets(self, preset: Preset) -> Sequence[str]:
        """Every dataset ``preset`` needs (checked before the run starts). Default: its ``dataset``."""
        return [preset.dataset]

    @abc.abstractmethod
    def run(self, context: RunContext, results: ResultsWriter) -> None:
        """Compute every cell, claim and figure into ``results`` (the caller writes the files)."""


def run_reproduction(
    name: str,
    *,
    preset: str = "quick",
    seeds: int | None = None,
    data_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike = "results",
    device: str = "cpu",
    progress: bool = True,
    command: str | None = None,
    labels: str | os.PathLike | None = None,
    report: Callable[[str], None] | None = None,
) -> ResultsWriter:
    """Run the reproduction registered as ``name`` and write ``<out_dir>/<name>/``.

    Before any work it checks the preset, the output folder (:meth:`ResultsWriter.check_writable`),
    the cache (a read-only cache is used without writing, with one warning) and every dataset the
    preset needs (:func:`artx.data.require`), so a missing file fails in seconds, not after hours.

    :param preset: Preset name (``quick`` or ``paper``).
    :param seeds: Number of seeds (0, 1, ... N-1); None for the preset's default.
    :param data_dir: Folder with full datasets; defaults to ``$ARTX_DATA_DIR``.
    :param out_dir: Parent folder of the output.
    :param device: ``"cpu"`` or ``"cuda"``.
    :param labels: Human labels (CSV ``index,label``) for reproductions that relabel data.
    :param report: Where progress lines go (default: the ``artx.progress`` logger).
    """
    from artx import registry
    from artx.model_cache import cache_writable

    reproduction_class = registry.load("reproduction", name)
    reproduction: Reproduction = reproduction_class()
    if preset not in reproduction.presets:
        raise ValueError(f"preset must be one of {', '.join(map(repr, reproduction.presets))} for {name!r}; got {preset!r}")
    chosen = reproduction.presets[preset]
    n_seeds = chosen.seeds if seeds is None else check_int(seeds, "seeds", minimum=1)
    options: dict[str, Any] = {}
    if labels is not None:
        if not reproduction.accepts_labels:
            raise ValueError(f"labels: reproduction {name!r} takes no labels file")
        if not Path(labels).is_file():
            raise ValueError(f"labels must be an existing CSV file (index,label); got {str(labels)!r}")
        options["labels"] = str(labels)
    config = {"dataset": chosen.dataset, "description": chosen.description, "device": resolve_device(device), **chosen.config()}
    if labels is not None:
        config["labels"] = Path(labels).name
    out = Path(out_dir) / name
    results = ResultsWriter(name, out, title=reproduction.title, preset=preset, seeds=list(range(n_seeds)), config=config, command=command)
    results.check_writable()
    cache_writable()
    for dataset in reproduction.datasets(chosen):
        data.require(dataset, data_dir)
    context = RunContext(
        preset=chosen,
        seeds=list(range(n_seeds)),
        device=resolve_device(device),
        data_dir=None if data_dir is None else Path(data_dir),
        out_dir=out,
        progress=progress,
        options=options,
        results=results,
        report=report or progress_logger.info,
    )
    logger.info("running %s (preset %s, seeds %s) into %s", name, preset, context.seeds, context.out_dir)
    reproduction.run(context, results)
    if isinstance(chosen.settings, Settings):
        results.add_note(chosen.settings.describe())
    results.write()
    return results
