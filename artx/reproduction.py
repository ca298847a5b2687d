"""Base class of paper reproductions, their presets, and the runner behind ``artx reproduce``.

A reproduction is a plugin of kind ``reproduction`` (entry-point group ``artx.reproductions``):
a :class:`Reproduction` subclass with a ``name``, the paper's ``title``, its ``presets`` and a
``run(context, results)`` method that fills a :class:`~artx.results.ResultsWriter`. It uses
attacks, defences and models only by registry name.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np

from artx import data
from artx.results import ResultsWriter
from artx.validation import check_int, resolve_device

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named configuration of a reproduction.

    :param name: ``"quick"`` (offline, embedded data, minutes) or ``"paper"`` (full data).
    :param dataset: Default dataset name for :func:`artx.data.load`.
    :param description: One line shown in the output.
    :param seeds: Default number of seeds.
    :param settings: Everything else (epochs, attack parameters, sizes), recorded in results.json.
    """

    name: str
    dataset: str
    description: str
    seeds: int = 1
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RunContext:
    """What a reproduction's ``run`` gets: the preset, seeds, device and data location."""

    preset: Preset
    seeds: list[int]
    device: str
    data_dir: Path | None
    out_dir: Path
    progress: bool = True
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # e.g. {"labels": path}

    @property
    def settings(self) -> Mapping[str, Any]:
        return self.preset.settings

    def load(self, split: str, *, dataset: str | None = None, limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Load a split of the preset's dataset (or ``dataset``) from the context's data folder."""
        return data.load(dataset or self.preset.dataset, split, data_dir=self.data_dir, limit=limit, seed=seed)


class Reproduction(abc.ABC):
    """One paper's tables, figures and claims, computed from scratch."""

    name: ClassVar[str]
    title: ClassVar[str]
    presets: ClassVar[Mapping[str, Preset]]
    #: Whether ``--labels FILE.csv`` (human labels, see :mod:`artx.relabel`) is accepted.
    accepts_labels: ClassVar[bool] = False

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
) -> ResultsWriter:
    """Run the reproduction registered as ``name`` and write ``<out_dir>/<name>/``.

    :param preset: Preset name (``quick`` or ``paper``).
    :param seeds: Number of seeds (0, 1, ... N-1); None for the preset's default.
    :param data_dir: Folder with full datasets; defaults to ``$ARTX_DATA_DIR``.
    :param out_dir: Parent folder of the output.
    :param device: ``"cpu"`` or ``"cuda"``.
    :param labels: Human labels (CSV ``index,label``) for reproductions that relabel data.
    """
    from artx import registry

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
    context = RunContext(
        preset=chosen,
        seeds=list(range(n_seeds)),
        device=resolve_device(device),
        data_dir=None if data_dir is None else Path(data_dir),
        out_dir=Path(out_dir) / name,
        progress=progress,
        options=options,
    )
    config = {"dataset": chosen.dataset, "description": chosen.description, "device": context.device, **dict(chosen.settings)}
    if labels is not None:
        config["labels"] = Path(labels).name
    results = ResultsWriter(name, context.out_dir, title=reproduction.title, preset=preset, seeds=context.seeds, config=config, command=command)
    logger.info("running %s (preset %s, seeds %s) into %s", name, preset, context.seeds, context.out_dir)
    reproduction.run(context, results)
    results.write()
    return results
