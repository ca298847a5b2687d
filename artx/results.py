"""Results writer used by every reproduction: ``results.json``, ``table.md`` and PNG figures.

``results.json`` holds every number, the configuration, library versions, seeds, the claims and
their verdicts; it is identical across two runs of the same command on the same machine except
for its ``timings`` and ``provenance`` blocks (wall-clock times, command line, git commit, torch's
and BLAS thread counts). The thread counts are recorded because they change the order of
floating-point reductions on CPU: runs with different counts agree to rounding, and a long search
that amplifies rounding differences can end elsewhere. ``table.md``
puts each of our cells next to the paper's value and the difference, and lists the claims as
PASS / FAIL / INCONCLUSIVE / N/A, decided with their noise (:mod:`artx.claims`). All files are
written atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata as metadata
import logging
import math
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from artx import atomic
from artx.claims import FAIL, INCONCLUSIVE, NOT_APPLICABLE, PASS, VERDICTS, Decision
from artx.evaluation import MeanStd

logger = logging.getLogger(__name__)

CLAIM_RULE = (
    "a claim PASSes when the measured values clear the paper's threshold (or the compared quantity) by more than two "
    "standard errors (seed-to-seed spread; binomial or per-item SE for one seed), FAILs when they miss it by as "
    "much, and is INCONCLUSIVE in between; N/A marks paper-scale numbers on a smaller preset."
)

TOLERANCE_RULE = (
    "±3 points for accuracies and error rates (cells in %), ±1.5 for detection accuracies, ±10 % of the paper's "
    "value for other quantities (distances, pixel counts)"
)


def tolerance(label: str, paper: float) -> float:
    """The allowed |ours − paper| for a cell whose table and column read ``label`` (the fidelity
    review's convention, :data:`TOLERANCE_RULE`)."""
    text = label.lower()
    percent = "%" in text or "accuracy" in text or "error" in text
    if percent and "detection" in text:
        return 1.5
    if percent:
        return 3.0
    return 0.1 * abs(paper)


_VERSIONED = (
    "artx",
    "artx-plugins",
    "adversarial-robustness-toolbox",
    "torch",
    "torchvision",
    "numpy",
    "scikit-learn",
    "cma",
    "captum",
)


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries that determine the numbers."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_threads() -> dict[str, int]:
    """Threads torch uses on CPU and the most any loaded BLAS (numpy's, used by cma) uses."""
    import torch
    from threadpoolctl import threadpool_info

    blas = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return {"torch": torch.get_num_threads(), "blas": max(blas, default=1)}


def git_commit(folder: Path | None = None) -> str:
    """The git commit of ``folder`` (default: artx's own source folder, i.e. the checkout of an
    editable install), with ``-dirty`` for uncommitted changes; "unknown" outside a checkout."""
    folder = folder or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


@dataclasses.dataclass
class Cell:
    """One table cell: our per-seed values next to the paper's value."""

    table: str
    row: str
    column: str
    values: tuple[float, ...]
    paper: float | None
    digits: int

    @property
    def stats(self) -> MeanStd:
        return MeanStd(self.values)

    @property
    def within_tolerance(self) -> bool | None:
        """Whether our mean is within :func:`tolerance` of the paper's value (None: no paper value)."""
        if self.paper is None:
            return None
        return abs(self.stats.mean - self.paper) <= tolerance(f"{self.table} {self.column}", self.paper)

    def as_dict(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "table": self.table,
            "row": self.row,
            "column": self.column,
            "values": list(self.values),
            "mean": stats.mean,
            "std": stats.std,
            "paper": self.paper,
            "difference": None if self.paper is None else stats.mean - self.paper,
            "within_tolerance": self.within_tolerance,
        }

    def markdown(self) -> str:
        ours = self.stats.format(self.digits)
        if self.paper is None:
            return ours
        return f"{ours} ({self.paper:.{self.digits}f}, {self.stats.mean - self.paper:+.{self.digits}f})"


@dataclasses.dataclass(frozen=True)
class Claim:
    """A claim of the paper, decided on measured values with their noise (see :mod:`artx.claims`)."""

    text: str
    verdict: str
    measured: str
    rule: str

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    def line(self) -> str:
        return f"{self.verdict}: {self.text} — measured: {self.measured} (rule: {self.rule})"


class OutputError(ValueError):
    """The output folder cannot take the results (a file in the way, or not writable)."""


def total_wall_seconds(blob: Mapping[str, Any]) -> float:
    """A results.json's wall time: its last invocation's plus the unit time that units resumed from
    earlier invocations recorded (a run carried over several machines)."""
    resumed = blob.get("provenance", {}).get("resumed_units") or {}
    return float(blob.get("timings", {}).get("wall_seconds", 0.0)) + float(resumed.get("unit_seconds", 0.0))


def _resumed_text(runtime: Mapping[str, Any]) -> str:
    """How much of a resumed run the wall time covers (empty for a run computed in one go)."""
    resumed = runtime.get("resumed_units")
    if not resumed:
        return ""
    text = f" (this invocation; {resumed['units']} unit(s) resumed from earlier invocations of the same code"
    if resumed["timed"]:
        text += f", whose unit time was {resumed['unit_seconds'] / 60:.1f} min"
        if resumed["timed"] < resumed["units"]:
            text += f" for the {resumed['timed']} that recorded it"
    return text + ")"


class ResultsWriter:
    """Collects a reproduction's numbers, claims and figures and writes them to ``out_dir``.

    :param name: Reproduction name (also the heading of ``table.md``).
    :param out_dir: Folder for ``results.json``, ``table.md`` and the PNGs.
    :param title: Paper title.
    :param preset: Preset name.
    :param seeds: Seeds used.
    :param config: Every setting that determines the numbers (JSON-serialisable).
    :param command: The command line, recorded for provenance.
    """

    def __init__(
        self,
        name: str,
        out_dir: str | Path,
        *,
        title: str = "",
        preset: str = "",
        seeds: Sequence[int] = (),
        config: dict | None = None,
        command: str | None = None,
    ):
        self.name = name
        self.out_dir = Path(out_dir)
        self.title = title
        self.preset = preset
        self.seeds = list(seeds)
        self.config: dict[str, Any] = dict(config or {})
        self.command = command or " ".join(sys.argv)
        self.cells: list[Cell] = []
        #: Measured reasons for cells outside the paper's tolerance: (table, rows, columns, reason).
        self.miss_reasons: list[tuple[str, frozenset[str] | None, frozenset[str] | None, str]] = []
        self.claims: list[Claim] = []
        self.notes: list[str] = []
        self.metrics: dict[str, Any] = {}
        self.figures: list[str] = []
        self.timings: dict[str, float] = {}
        #: How the run was executed (engine, threads per unit): provenance, not results.
        self.runtime: dict[str, Any] = {}
        self._started = time.perf_counter()
        # Taken at the start: the code that runs is the code checked out when the run began.
        self.commit = git_commit()

    # ---- collecting -------------------------------------------------------------------------

    def add_cell(
        self,
        table: str,
        row: str,
        column: str,
        values: float | Sequence[float] | MeanStd,
        *,
        paper: float | None = None,
        digits: int = 2,
    ) -> Cell:
        """Record a cell; ``values`` holds one value per seed (or a single value)."""
        if isinstance(values, MeanStd):
            values = values.values
        elif not isinstance(values, (list, tuple)):
            values = (values,)
        values = tuple(float(v) for v in values)
        if not values or not all(math.isfinite(v) for v in values):
            raise ValueError(f"cell {table}/{row}/{column} needs finite values; got {values}")
        cell = Cell(table, row, column, values, None if paper is None else float(paper), digits)
        self.cells = [c for c in self.cells if (c.table, c.row, c.column) != (table, row, column)] + [cell]
        return cell

    def explain_misses(
        self,
        table: str,
        reason: str,
        *,
        rows: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> None:
        """Give the measured reason why cells of ``table`` (all, or those in ``rows`` and ``columns``)
        may miss the paper: ``table.md`` lists every cell outside the paper's tolerance with the
        reasons given for it, or "unexplained". A reason is a sentence with the numbers that show
        it, measured in this run (or named with the command that measured it); it is shown only
        for cells that miss.

        :param table: The table's title, as given to :meth:`add_cell`.
        :param reason: The reason, in words and measured numbers.
        :param rows: Only these rows (default: every row).
        :param columns: Only these columns (default: every column).
        """
        for name, value in (("rows", rows), ("columns", columns)):
            if value is not None and (isinstance(value, str) or not all(isinstance(v, str) for v in value)):
                raise TypeError(f"{name} must be a sequence of str or None; got {value!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"reason must be a non-empty str; got {reason!r}")
        self.miss_reasons.append(
            (table, None if rows is None else frozenset(rows), None if columns is None else frozenset(columns), reason)
        )

    def misses(self) -> list[tuple[Cell, list[str]]]:
        """Every cell outside the paper's tolerance, with the reasons given for it (empty: unexplained)."""
        return [
            (
                cell,
                [
                    reason
                    for table, rows, columns, reason in self.miss_reasons
                    if table == cell.table
                    and (rows is None or cell.row in rows)
                    and (columns is None or cell.column in columns)
                ],
            )
            for cell in self.cells
            if cell.within_tolerance is False
        ]

    def add_claim(self, text: str, decision: Decision, measured: str) -> Claim:
        """Record a paper claim with its :class:`~artx.claims.Decision` (from :mod:`artx.claims`:
        ``at_least``, ``at_most``, ``greater``, ``all_of``, ``at_scale``), which carries the
        verdict and the rule that decided it; ``measured`` says the values in words."""
        if not isinstance(decision, Decision):
            raise TypeError(
                "decision must be an artx.claims.Decision (e.g. claims.at_least(Estimate.from_seeds(values), "
                f"paper_value)), so that the verdict accounts for noise; got {type(decision).__name__}"
            )
        claim = Claim(text, decision.verdict, measured, decision.rule)
        self.claims.append(claim)
        logger.info("%s", claim.line())
        return claim

    def claim_counts(self) -> dict[str, int]:
        """How many claims got each verdict."""
        return {verdict: sum(claim.verdict == verdict for claim in self.claims) for verdict in VERDICTS}

    def claim_summary(self) -> str:
        """``3 PASS, 1 FAIL, 2 INCONCLUSIVE, 1 N/A of 7 claims`` (verdicts with no claim left out)."""
        counts = self.claim_counts()
        parts = [f"{counts[v]} {v}" for v in (PASS, FAIL, INCONCLUSIVE, NOT_APPLICABLE) if counts[v] or v == PASS]
        return f"{', '.join(parts)} of {len(self.claims)} claims"

    def add_note(self, text: str) -> None:
        """A sentence for the reader of ``table.md`` (settings chosen, known gaps and reasons)."""
        self.notes.append(text)

    def add_metric(self, name: str, value: Any) -> None:
        """A JSON-serialisable number or structure that belongs in ``results.json`` only."""
        self.metrics[name] = value

    def add_figure(self, name: str, figure: Any) -> Path:
        """Save a matplotlib ``Figure`` as ``<out_dir>/<name>.png`` (atomically)."""
        path = self.out_dir / f"{name}.png"
        with atomic.atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
        self.figures.append(path.name)
        return path

    @contextlib.contextmanager
    def timed(self, label: str) -> Iterator[None]:
        """Add the wall time of the block to ``timings[label]``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[label] = self.timings.get(label, 0.0) + time.perf_counter() - started

    # ---- output -------------------------------------------------------------------------------

    @property
    def wall_seconds(self) -> float:
        return time.perf_counter() - self._started

    def as_dict(self) -> dict[str, Any]:
        return {
            "reproduction": self.name,
            "title": self.title,
            "preset": self.preset,
            "seeds": self.seeds,
            "config": self.config,
            "cells": [cell.as_dict() for cell in self.cells],
            "misses": [
                {"table": cell.table, "row": cell.row, "column": cell.column, "reasons": reasons}
                for cell, reasons in self.misses()
            ],
            "claims": [dataclasses.asdict(claim) for claim in self.claims],
            "metrics": self.metrics,
            "notes": self.notes,
            "figures": sorted(self.figures),
            "versions": library_versions(),
            "timings": {"wall_seconds": self.wall_seconds, **self.timings},
            "provenance": {
                "command": self.command,
                "commit": self.commit,
                "cpu_threads": cpu_threads(),
                **self.runtime,
            },
        }

    def tables(self) -> dict[str, list[Cell]]:
        grouped: dict[str, list[Cell]] = {}
        for cell in self.cells:
            grouped.setdefault(cell.table, []).append(cell)
        return grouped

    def markdown(self) -> str:
        data = self.as_dict()
        minutes = data["timings"]["wall_seconds"] / 60
        threads = ", ".join(f"{k} {v}" for k, v in data["provenance"]["cpu_threads"].items())
        lines = [
            f"# {self.name}: {self.title}" if self.title else f"# {self.name}",
            "",
            f"- command: `{data['provenance']['command']}`",
            f"- commit: `{data['provenance']['commit']}`; wall time: {minutes:.1f} min{_resumed_text(self.runtime)}; "
            f"CPU threads: {threads}; "
            f"preset: `{self.preset}`; seeds: {self.seeds}"
            + (
                f"; units on {self.runtime['engine']}, {self.runtime['threads_per_unit']} torch thread(s) each"
                if self.runtime
                else ""
            ),
            "- versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()),
            "",
            "Each cell: ours (mean ± std over seeds when there are several), then in parentheses the paper's value "
            "and ours − paper.",
            "",
        ]
        for table, cells in self.tables().items():
            rows = list(dict.fromkeys(cell.row for cell in cells))
            columns = list(dict.fromkeys(cell.column for cell in cells))
            lookup = {(cell.row, cell.column): cell.markdown() for cell in cells}
            lines += [f"## {table}", "", "| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
            lines += [
                "| " + row + " | " + " | ".join(lookup.get((row, column), "—") for column in columns) + " |"
                for row in rows
            ]
            lines.append("")
        lines += self._misses_markdown()
        if self.claims:
            lines += ["## Claims", "", f"{self.claim_summary()}; {CLAIM_RULE}", ""]
            lines += [f"- {claim.line()}" for claim in self.claims] + [""]
        if self.notes:
            lines += ["## Notes", ""] + [f"- {note}" for note in self.notes] + [""]
        if self.figures:
            lines += ["## Figures", ""] + [f"![{Path(name).stem}]({name})" for name in sorted(self.figures)] + [""]
        return "\n".join(lines)

    def _misses_markdown(self) -> list[str]:
        """The section that lists each cell outside the paper's tolerance with its measured reason."""
        compared = [cell for cell in self.cells if cell.paper is not None]
        if not compared:
            return []
        misses = self.misses()
        lines = [
            "## Cells outside the paper's tolerance",
            "",
            f"{len(compared) - len(misses)} of {len(compared)} cells with a paper value are within tolerance "
            f"({TOLERANCE_RULE}).",
            "",
        ]
        for cell, reasons in misses:
            difference = cell.stats.mean - cell.paper
            lines.append(
                f"- {cell.table} · {cell.row} · {cell.column}: ours {cell.stats.mean:.{cell.digits}f}, paper "
                f"{cell.paper:.{cell.digits}f} ({difference:+.{cell.digits}f}) — "
                + (" ".join(reasons) if reasons else "unexplained")
            )
        return lines + [""] if misses else lines

    def check_writable(self) -> None:
        """Check, before any work, that ``out_dir`` can take ``results.json``, ``table.md`` and
        figures: no file where a folder must be, no folder where a file must be, writable.

        :raises OutputError: with one line naming the path.
        """
        for folder in (self.out_dir, *self.out_dir.parents):
            if folder.exists():
                if not folder.is_dir():
                    raise OutputError(f"output folder {str(self.out_dir)!r}: {str(folder)!r} is a file, not a folder")
                break
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.out_dir, prefix=".write-probe-"):
                pass
        except OSError as error:
            raise OutputError(
                f"output folder {str(self.out_dir)!r} is not writable ({error.strerror or error})"
            ) from None
        for name in ("results.json", "table.md"):
            if (self.out_dir / name).is_dir():
                raise OutputError(f"{str(self.out_dir / name)!r} is a folder; results would not be written there")

    def write(self) -> dict[str, Path]:
        """Write ``results.json`` and ``table.md`` (figures were written when added)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        paths = {"json": self.out_dir / "results.json", "markdown": self.out_dir / "table.md"}
        atomic.write_json(paths["json"], self.as_dict())
        atomic.write_text(paths["markdown"], self.markdown())
        return paths
