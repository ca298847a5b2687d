"""Benchmark: a reproduction's quick preset serially, on 2 local worker processes and on a local
Ray instance, measured in one run; the three results.json must be identical.

Each engine gets a fresh trained-model cache (so every engine trains its models itself) and
``--fresh`` units; every unit runs with one torch thread on every engine (artx's default), so the
serial run uses one core and the parallel ones two.

    python benchmarks/scale_out.py                      # minimal-dataset, 3 seeds
    python benchmarks/scale_out.py --reproduction model-zoo --seeds 1

Target (scale-out issue): ≥ 1.6× for 2 workers on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.6


def stable(path: Path) -> dict:
    blob = json.loads(path.read_text())
    blob.pop("timings")
    blob.pop("provenance")
    return blob


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reproduction", default="minimal-dataset")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    engines = {"serial": [], f"{args.workers} workers": ["--workers", str(args.workers)]}
    if importlib.util.find_spec("ray") is not None:
        engines["ray (local)"] = ["--ray"]
    seconds, blobs = {}, {}
    with tempfile.TemporaryDirectory() as work:
        for label, extra in engines.items():
            env = {**os.environ, "ARTX_CACHE_DIR": str(Path(work) / f"cache-{len(seconds)}")}
            out = Path(work) / f"out-{len(seconds)}"
            command = [sys.executable, "-m", "artx.cli", "reproduce", args.reproduction, "--preset", "quick"]
            command += ["--seeds", str(args.seeds), "--fresh", "-q", "--out", str(out), *extra]
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
            seconds[label] = time.perf_counter() - started
            blobs[label] = stable(out / args.reproduction / "results.json")
            print(f"  {label:<14} {seconds[label]:7.1f} s", flush=True)
    serial = seconds["serial"]
    identical = all(blob == blobs["serial"] for blob in blobs.values())
    print(f"{args.reproduction} quick, {args.seeds} seed(s), {os.cpu_count()} CPU cores:")
    for label, value in seconds.items():
        print(f"  {label:<14} {value:7.1f} s  {serial / value:4.2f}x serial")
    print(f"  results.json identical across engines (minus timings/provenance): {identical}")
    speedup = serial / seconds[f"{args.workers} workers"]
    print(f"  {args.workers} workers >= {TARGET}x serial: {'PASS' if speedup >= TARGET else 'FAIL'} ({speedup:.2f}x)")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
