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
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from artx import data
from artx.paths import cache_dir
from artx.results import ResultsWriter, total_wall_seconds
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

    def replace(self, **changes: Any) -> Settings:
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
    #: Where the units run (:mod:`artx.engines`) and with how many torch threads each.
    engine: Any = None
    threads_per_unit: int = 1
    #: Reuse finished units stored by an earlier run of the same command (resume).
    resume: bool = True
    #: Wall time per stage label (``stage(..., timing=...)``), merged into results' timings.
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    #: Units taken from the store (an :class:`artx.engines.Resumed`, set by :meth:`run_units`).
    resumed: Any = None
    reproduction_name: str = ""
    preset_name: str = ""
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

    def load(
        self, split: str, *, dataset: str | None = None, limit: int | None = None, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
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
            if timing is not None:
                self.timings[timing] = self.timings.get(timing, 0.0) + seconds
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

    def run_units(self, reproduction: Reproduction, units: Sequence[Unit]) -> dict[str, Any]:
        """Run ``units`` on the context's engine (resuming finished ones); their outputs by key,
        in the order of ``units``, whatever order they finished in."""
        from artx import engines

        keys = [unit.key for unit in units]
        if len(set(keys)) != len(keys):
            raise ValueError(f"unit keys must be unique; got {keys}")
        module = sys.modules[type(reproduction).__module__]
        identity = {
            "reproduction": self.reproduction_name,
            "preset": self.preset_name,
            "settings": self.preset.config(),
            "seeds": self.seeds,
            "device": self.device,
            "data_dir": None if self.data_dir is None else str(self.data_dir.resolve()),
            "options": dict(self.options),
            "threads_per_unit": self.threads_per_unit,
            "code": engines.code_fingerprint(module),
        }
        store = engines.UnitStore(self.reproduction_name, identity, read=self.resume)
        jobs = [
            engines.UnitJob(
                reproduction=self.reproduction_name,
                preset=self.preset_name,
                seeds=tuple(self.seeds),
                device=self.device,
                data_dir=None if self.data_dir is None else str(self.data_dir),
                options=dict(self.options),
                unit_key=unit.key,
                unit_args=dict(unit.args),
                unit_phase=unit.phase,
                threads=self.threads_per_unit,
                cache_dir=str(cache_dir()),
                report=self.report != progress_logger.info,  # workers print only when this run prints
            )
            for unit in units
        ]
        engine = self.engine or engines.SerialEngine()
        outputs: dict[str, Any] = {}
        for phase in sorted({unit.phase for unit in units}):
            indices = [i for i, unit in enumerate(units) if unit.phase == phase]
            label = f"{len(indices)} unit(s){f' of phase {phase}' if phase else ''} on {engine.describe()}"
            with self.stage(label):
                done, timings, resumed = engines.run_units(
                    [jobs[i] for i in indices], engine, store, self.report, self.progress
                )
            if self.resumed is None:
                self.resumed = resumed
            else:
                self.resumed.add(resumed)
            for i, output in zip(indices, done):
                outputs[keys[i]] = output
            for key, value in timings.items():
                self.timings[key] = self.timings.get(key, 0.0) + value
        return {key: outputs[key] for key in keys}


def merge_outputs(outputs: Sequence[Mapping[Any, Any]]) -> dict[Any, Any]:
    """Merge units' outputs in the given order: nested dicts are merged key by key, lists are
    concatenated (per-seed values end up in seed order), any other value (a tuple, an array, a
    number) is taken from the first output that has it."""
    merged: dict[Any, Any] = {}
    for output in outputs:
        _merge_into(merged, output)
    return merged


def _merge_into(target: dict[Any, Any], source: Mapping[Any, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping):
            _merge_into(target.setdefault(key, {}), value)
        elif isinstance(value, list):
            target.setdefault(key, []).extend(value)
        else:
            target.setdefault(key, value)


@dataclasses.dataclass(frozen=True)
class Unit:
    """One independent piece of a reproduction's work (e.g. one seed's trainings and attacks).

    :param key: Unique, readable name (``"seed 1 · paper-cnn"``).
    :param args: JSON-serialisable arguments ``run_unit`` needs besides the context.
    :param phase: Units of phase k start after every unit of the phases before it has finished
        (e.g. phase 0 trains models that several units of phase 1 load from the cache, so no
        two workers train the same model at once).
    """

    key: str
    args: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    phase: int = 0


class Reproduction(abc.ABC):
    """One paper's tables, figures and claims, computed from scratch.

    Split the work into units to run it on many processes or a Ray cluster (and resume a killed
    run unit by unit): define :meth:`units` (the independent pieces), :meth:`run_unit` (one piece;
    a pure function of the context, the unit and the trained-model cache, returning numbers,
    strings, lists, dicts and numpy arrays) and :meth:`report` (cells, claims, notes and figures
    from all the units' outputs). Or override :meth:`run` to do everything in one go (serial).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    presets: ClassVar[Mapping[str, Preset]]
    #: Whether ``--labels FILE.csv`` (human labels, see :mod:`artx.relabel`) is accepted.
    accepts_labels: ClassVar[bool] = False

    def datasets(self, preset: Preset) -> Sequence[str]:
        """Every dataset ``preset`` needs (checked before the run starts). Default: its ``dataset``."""
        return [preset.dataset]

    def units(self, context: RunContext) -> Sequence[Unit]:
        """The independent pieces of the work, in the order their outputs are reported."""
        raise NotImplementedError(f"{type(self).__name__} defines neither units() nor run()")

    def run_unit(self, context: RunContext, unit: Unit) -> Any:
        """Compute one unit (in this process or a worker); return its output."""
        raise NotImplementedError

    def report(self, context: RunContext, results: ResultsWriter, outputs: Mapping[str, Any]) -> None:
        """Fill ``results`` from the units' outputs (keyed by unit key, in unit order)."""
        raise NotImplementedError

    def run(self, context: RunContext, results: ResultsWriter) -> None:
        """Compute every cell, claim and figure into ``results`` (the caller writes the files).
        Default: run the units on the context's engine, then :meth:`report`."""
        outputs = context.run_units(self, self.units(context))
        self.report(context, results, outputs)

    @classmethod
    def has_units(cls) -> bool:
        """Whether the work is split into units (so other engines than serial can run it)."""
        return cls.units is not Reproduction.units


def results_folder() -> Path:
    """``docs/results`` of the source checkout artx runs from (committed paper-preset results)."""
    return Path(__file__).resolve().parent.parent / "docs" / "results"


def committed_run(name: str, preset: str) -> dict[str, Any] | None:
    """Time and thread counts of the committed run of ``name``'s ``preset``, if there is one.

    ``minutes`` is the last invocation's wall time plus the unit time that units resumed from
    earlier invocations recorded (a run carried over several machines), ``resumed_units`` how many
    units that adds."""
    path = results_folder() / name / "results.json"
    try:
        blob = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if blob.get("preset") != preset:
        return None
    provenance = blob.get("provenance", {})
    threads = provenance.get("cpu_threads", {})
    described = ", ".join(f"{k} {v}" for k, v in threads.items()) or "unknown"
    return {
        "minutes": total_wall_seconds(blob) / 60,
        "resumed_units": int((provenance.get("resumed_units") or {}).get("units", 0)),
        "threads": f"CPU threads {described}",
    }


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
    workers: int = 1,
    ray: bool = False,
    ray_address: str | None = None,
    threads_per_unit: int = 1,
    resume: bool = True,
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
    :param workers: Local worker processes for the units (1: in this process).
    :param ray: Run the units as Ray tasks (``ray_address``: a cluster; None: a local instance).
    :param threads_per_unit: Torch threads of each unit, the same on every engine (the thread
        count changes floating-point rounding, so equal counts give identical results).
    :param resume: Reuse units finished by an earlier run of the same command.
    """
    from artx import engines, registry
    from artx.model_cache import cache_writable

    reproduction_class = registry.load("reproduction", name)
    reproduction: Reproduction = reproduction_class()
    check_int(workers, "workers", minimum=1)
    check_int(threads_per_unit, "threads_per_unit", minimum=1)
    if (workers > 1 or ray) and not reproduction.has_units():
        raise engines.EngineError(
            f"reproduction {name!r} is not split into units: it runs in one process (drop --workers/--ray)"
        )
    if ray:
        engines.require_ray()
    if preset not in reproduction.presets:
        raise ValueError(
            f"preset must be one of {', '.join(map(repr, reproduction.presets))} for {name!r}; got {preset!r}"
        )
    chosen = reproduction.presets[preset]
    n_seeds = chosen.seeds if seeds is None else check_int(seeds, "seeds", minimum=1)
    options: dict[str, Any] = {}
    if labels is not None:
        if not reproduction.accepts_labels:
            raise ValueError(f"labels: reproduction {name!r} takes no labels file")
        if not Path(labels).is_file():
            raise ValueError(f"labels must be an existing CSV file (index,label); got {str(labels)!r}")
        options["labels"] = str(labels)
    config = {
        "dataset": chosen.dataset,
        "description": chosen.description,
        "device": resolve_device(device),
        **chosen.config(),
    }
    if labels is not None:
        config["labels"] = Path(labels).name
    out = Path(out_dir) / name
    results = ResultsWriter(
        name, out, title=reproduction.title, preset=preset, seeds=list(range(n_seeds)), config=config, command=command
    )
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
        engine=engines.make_engine(workers=workers, use_ray=ray, ray_address=ray_address),
        threads_per_unit=threads_per_unit,
        resume=resume,
        reproduction_name=name,
        preset_name=preset,
    )
    logger.info("running %s (preset %s, seeds %s) into %s", name, preset, context.seeds, context.out_dir)
    if reproduction.has_units():
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(threads_per_unit)  # the report's own work, with the units' threads
        try:
            reproduction.run(context, results)
        finally:
            torch.set_num_threads(previous)
    else:
        reproduction.run(context, results)
    for key, value in context.timings.items():
        results.timings[key] = results.timings.get(key, 0.0) + value
    results.runtime.update(engine=context.engine.describe(), threads_per_unit=threads_per_unit)
    if context.resumed is not None and context.resumed.units:
        # a run finished over several invocations: say how much of it this wall time covers
        results.runtime["resumed_units"] = dataclasses.asdict(context.resumed)
    if isinstance(chosen.settings, Settings):
        results.add_note(chosen.settings.describe())
    if not context.paper_scale:
        # a smaller preset's cells are not meant to meet the paper's: say so beside each miss
        for table in results.tables():
            results.explain_misses(table, f"Preset {chosen.name}, not the paper's scale: {chosen.description}.")
    results.write()
    return results
