"""Where a reproduction's units run: in this process, in local worker processes, or on Ray.

A reproduction that splits its work into :class:`~artx.reproduction.Unit` s (independent pieces,
each a pure function of its inputs plus the content-addressed model cache) gets parallelism
from the runner, whatever the engine:

- :class:`SerialEngine` (default): one unit after another in this process;
- :class:`ProcessEngine` (``--workers N``): N local processes (``concurrent.futures`` with the
  ``spawn`` start method; no home-made scheduler);
- :class:`RayEngine` (``--ray [ADDRESS]``, the optional extra ``artx[ray]``): units as Ray tasks,
  on a local Ray instance or a cluster.

Identical results on every engine: each unit runs with the same number of torch threads
(``threads_per_unit``, default 1) whatever the engine, because the thread count changes the
order of floating-point sums; its outputs are gathered in the reproduction's unit order, not in
completion order. Nothing else differs between engines: a unit sees the same settings, seeds,
data and cache.

Resumable: every finished unit's output is stored (:class:`UnitStore`, JSON with numpy arrays
encoded, written atomically) under the cache folder, keyed by the reproduction, its settings,
seeds, device, the unit and a fingerprint of the code. A killed run, rerun with the same command,
only computes the missing units. A failed unit stops the run at once with its key and error (the other
running units are stopped; what they computed so far stays in the cache); the units already
finished are kept.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from artx import atomic
from artx.paths import cache_dir

logger = logging.getLogger(__name__)


class UnitError(RuntimeError):
    """A unit of a reproduction failed; the message names the unit and carries its error."""


class EngineError(ValueError):
    """An engine that cannot run this reproduction here (no units, Ray not installed)."""


@dataclasses.dataclass(frozen=True)
class UnitJob:
    """Everything a worker needs to rebuild the run context and run one unit."""

    reproduction: str
    preset: str
    seeds: tuple[int, ...]
    device: str
    data_dir: str | None
    options: Mapping[str, Any]
    unit_key: str
    unit_args: Mapping[str, Any]
    unit_phase: int
    threads: int
    cache_dir: str
    report: bool


#: The timing key of a unit's own wall time (beside its stage timings).
UNIT_SECONDS = "unit seconds"


def run_job(job: UnitJob) -> tuple[Any, dict[str, float]]:
    """Run one unit (in this process or a worker): rebuild the context, set the torch threads,
    call ``run_unit``; return its output and the unit's stage timings."""
    import torch

    from artx import registry
    from artx.reproduction import RunContext, Unit

    os.environ["ARTX_CACHE_DIR"] = job.cache_dir
    previous = torch.get_num_threads()
    torch.set_num_threads(job.threads)
    try:
        reproduction = registry.create("reproduction", job.reproduction)
        preset = reproduction.presets[job.preset]

        def report(line: str) -> None:
            if job.report:
                print(f"    {job.unit_key}: {line}", file=sys.stderr, flush=True)

        context = RunContext(
            preset=preset,
            seeds=list(job.seeds),
            device=job.device,
            data_dir=None if job.data_dir is None else Path(job.data_dir),
            out_dir=Path("."),
            progress=False,
            options=dict(job.options),
            report=report,
        )
        started = time.perf_counter()
        output = reproduction.run_unit(context, Unit(job.unit_key, dict(job.unit_args), job.unit_phase))
        return output, {**context.timings, UNIT_SECONDS: time.perf_counter() - started}
    finally:
        torch.set_num_threads(previous)


class Engine:
    """Runs unit jobs; yields ``(index, output, timings)`` as they finish (any order)."""

    name = "engine"

    def run(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[int, Any, dict[str, float]]]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class SerialEngine(Engine):
    """One unit after another in this process (the default)."""

    name = "serial"

    def run(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[int, Any, dict[str, float]]]:
        for index, job in enumerate(jobs):
            try:
                output, timings = run_job(job)
            except Exception as error:
                raise UnitError(f"unit {job.unit_key!r} failed: {type(error).__name__}: {error}") from error
            yield index, output, timings


class ProcessEngine(Engine):
    """``workers`` local processes (spawned, so each starts clean and sets its own threads).

    :param workers: Number of processes (≥ 1).
    """

    name = "processes"

    def __init__(self, workers: int):
        self.workers = workers

    def describe(self) -> str:
        return f"{self.workers} local worker processes"

    def run(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[int, Any, dict[str, float]]]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        try:
            pending = {pool.submit(run_job, job): index for index, job in enumerate(jobs)}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    try:
                        output, timings = future.result()
                    except Exception as error:
                        raise UnitError(
                            f"unit {jobs[index].unit_key!r} failed: {type(error).__name__}: {error}"
                        ) from error
                    yield index, output, timings
        except BaseException:
            # A failed unit (or Ctrl-C) stops the run now: leaving the pool's context would wait for
            # the units still running, hours for a paper preset, before anyone sees the error. What
            # they computed so far is in the cache (trained nets, checkpoints) for the rerun.
            _stop_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _stop_workers(pool: Any) -> None:
    """Cancel a process pool's queued jobs and terminate its workers (Python < 3.14 has no public
    ``terminate_workers``; ``_processes`` is the executor's own map of its worker processes)."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    # shutdown() forgets the processes (``_processes = None``), so take them first; terminated,
    # they are joined, or this process would wait for them at exit (the executor's atexit join).
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)


class RayEngine(Engine):
    """Units as Ray tasks (``num_cpus`` = the unit's torch threads).

    :param address: A cluster's address for ``ray.init(address=...)``, or None to start a local
        Ray instance with ``num_cpus`` CPUs. On a cluster every node needs artx installed and
        ``ARTX_CACHE_DIR`` (and ``--data-dir``) on a folder all nodes see (the cache's atomic
        writes make concurrent workers safe).
    :param num_cpus: CPUs of a local instance (None: all).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        self.address = address
        self.num_cpus = num_cpus

    def describe(self) -> str:
        return f"Ray ({self.address or 'local'})"

    def run(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[int, Any, dict[str, float]]]:
        ray = require_ray()
        started_here = not ray.is_initialized()
        if started_here:
            # Local workers get this interpreter's import path, so plugins found here are found there.
            runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}}
            if self.address:
                ray.init(address=self.address, runtime_env=runtime_env, log_to_driver=True)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, runtime_env=runtime_env, log_to_driver=True)
        try:
            remote = ray.remote(run_job)
            refs = {remote.options(num_cpus=job.threads).remote(job): index for index, job in enumerate(jobs)}
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                for ref in ready:
                    index = refs.pop(ref)
                    try:
                        output, timings = ray.get(ref)
                    except Exception as error:
                        for other in refs:
                            ray.cancel(other)
                        raise UnitError(f"unit {jobs[index].unit_key!r} failed: {error}") from error
                    yield index, output, timings
        finally:
            if started_here:
                ray.shutdown()


def require_ray() -> Any:
    """Import Ray, or explain how to install it."""
    if importlib.util.find_spec("ray") is None:
        raise EngineError('--ray needs Ray, an optional extra: pip install "artx[ray]" (or pip install ray)')
    import ray

    return ray


def make_engine(workers: int = 1, ray_address: str | None = None, use_ray: bool = False) -> Engine:
    """The engine for ``--workers`` / ``--ray``."""
    if use_ray:
        return RayEngine(address=ray_address)
    if workers > 1:
        return ProcessEngine(workers)
    return SerialEngine()


# ---- finished units --------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {
            "__ndarray__": base64.b64encode(data.tobytes()).decode("ascii"),
            "dtype": str(data.dtype),
            "shape": list(data.shape),
        }
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return {"__float__": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        "a unit's output must be made of numbers, strings, lists, tuples, dicts and numpy arrays; "
        f"got {type(value).__name__}"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__ndarray__" in value:
            array = np.frombuffer(base64.b64decode(value["__ndarray__"]), dtype=np.dtype(value["dtype"]))
            return array.reshape(value["shape"]).copy()
        if "__dict__" in value:
            return {_decode(k): _decode(v) for k, v in value["__dict__"]}
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__float__" in value:
            return float(value["__float__"])
    return value


def encode_output(output: Any) -> str:
    """A unit's output as JSON text (numpy arrays, tuples, non-string keys and inf/NaN kept)."""
    return json.dumps(_encode(output), sort_keys=False)


def decode_output(text: str) -> Any:
    """The inverse of :func:`encode_output` (plain JSON: nothing is unpickled)."""
    return _decode(json.loads(text))


def code_fingerprint(*modules: Any) -> str:
    """Hash of the Python sources of artx, artx_plugins and the given modules: finished units
    are reused only by the same code."""
    import artx

    folders = {Path(artx.__file__).resolve().parent}
    try:
        import artx_plugins

        folders.add(Path(artx_plugins.__file__).resolve().parent)
    except ImportError:  # artx without its plugins distribution
        pass
    files = sorted(
        {f for folder in folders for f in folder.rglob("*.py")} | {Path(m.__file__).resolve() for m in modules}
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class UnitStore:
    """Finished units of one run identity, as JSON files under ``<cache>/units/<reproduction>/``.

    :param reproduction: Reproduction name.
    :param identity: Everything that determines the units' outputs (settings, seeds, device,
        data folder, code fingerprint), JSON-serialisable.
    :param enabled: False neither reads nor writes (``--fresh`` reads nothing but still writes).
    """

    def __init__(self, reproduction: str, identity: Mapping[str, Any], *, read: bool = True, write: bool = True):
        self.folder = cache_dir() / "units" / reproduction
        self.identity = json.dumps(identity, sort_keys=True, default=str)
        self.read, self.write = read, write

    def path(self, unit_key: str, unit_args: Mapping[str, Any]) -> Path:
        text = json.dumps({"identity": self.identity, "unit": unit_key, "args": unit_args}, sort_keys=True, default=str)
        return self.folder / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"

    def load(self, unit_key: str, unit_args: Mapping[str, Any]) -> tuple[Any, dict[str, float]] | None:
        if not self.read:
            return None
        path = self.path(unit_key, unit_args)
        if not path.is_file():
            return None
        try:
            blob = json.loads(path.read_text(encoding="utf-8"))
            if blob.get("unit") != unit_key or "output" not in blob:
                raise ValueError("not this unit's file")
            return decode_output(blob["output"]), dict(blob.get("timings", {}))
        except (OSError, ValueError, TypeError, KeyError) as error:
            logger.warning("ignoring the stored output of unit %r (%s); computing it again", unit_key, error)
            return None

    def save(self, unit_key: str, unit_args: Mapping[str, Any], output: Any, timings: Mapping[str, float]) -> None:
        if not self.write:
            return
        try:
            blob = {"unit": unit_key, "output": encode_output(output), "timings": dict(timings)}
            atomic.write_text(self.path(unit_key, unit_args), json.dumps(blob))
        except OSError as error:  # an unwritable cache costs the resume, not the run
            logger.warning("could not store unit %r (%s)", unit_key, error)


@dataclasses.dataclass
class Resumed:
    """Units taken from the store instead of computed: how many, and the unit time they took in
    the runs that computed them (``timed``: how many of them recorded it)."""

    units: int = 0
    timed: int = 0
    unit_seconds: float = 0.0

    def add(self, other: Resumed) -> None:
        self.units += other.units
        self.timed += other.timed
        self.unit_seconds += other.unit_seconds


def run_units(
    jobs: Sequence[UnitJob],
    engine: Engine,
    store: UnitStore,
    report: Callable[[str], None],
    progress: bool = True,
) -> tuple[list[Any], dict[str, float], Resumed]:
    """Run the jobs not already finished in ``store`` on ``engine``; outputs in job order, the
    summed stage timings of the units run here (with their wall times under
    :data:`UNIT_SECONDS`) and what was resumed. One progress line per unit (and a tqdm bar on a
    terminal)."""
    from tqdm.auto import tqdm

    outputs: list[Any] = [None] * len(jobs)
    timings: dict[str, float] = {}
    resumed = Resumed()
    missing = []
    for index, job in enumerate(jobs):
        stored = store.load(job.unit_key, job.unit_args)
        if stored is None:
            missing.append(index)
        else:  # its stage timings belong to the run that computed it, not to this one
            outputs[index] = stored[0]
            resumed.units += 1
            if UNIT_SECONDS in stored[1]:
                resumed.timed += 1
                resumed.unit_seconds += float(stored[1][UNIT_SECONDS])
    if len(missing) < len(jobs):
        report(f"resuming: {len(jobs) - len(missing)} of {len(jobs)} units already finished (stored in {store.folder})")
    report(
        f"{len(missing)} unit(s) to run on {engine.describe()}, {jobs[0].threads if jobs else 1} torch thread(s) each"
    )
    started = time.perf_counter()
    bar = tqdm(total=len(missing), desc="units", unit="unit", disable=not progress or None)
    try:
        for done, (position, output, unit_timings) in enumerate(engine.run([jobs[i] for i in missing]), start=1):
            index = missing[position]
            # Through the same encoding as a stored output: a resumed run sees identical objects.
            outputs[index] = decode_output(encode_output(output))
            _add(timings, unit_timings)
            store.save(jobs[index].unit_key, jobs[index].unit_args, output, unit_timings)
            bar.update(1)
            report(
                f"[unit {done}/{len(missing)}] {jobs[index].unit_key} done "
                f"({time.perf_counter() - started:.0f} s into the run)"
            )
    finally:
        bar.close()
    return outputs, timings, resumed


def _add(total: dict[str, float], part: Mapping[str, float]) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0.0) + float(value)
