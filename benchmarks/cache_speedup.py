"""Benchmark: loading a trained model from artx's cache vs training it.

Trains ``paper-cnn`` into a fresh, temporary cache, then loads the same entry ``--repeats``
times, and prints the ratio (training time) / (median load time) measured in this one run.
Target (issue 2): ≥ 20×.

    python benchmarks/cache_speedup.py                        # embedded subset, 1 epoch
    python benchmarks/cache_speedup.py --dataset mnist --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

TARGET = 20.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="paper-cnn")
    parser.add_argument("--dataset", default="mnist-5k", choices=["mnist-5k", "mnist", "fashion-mnist"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from artx import data
    from artx.model_cache import train_cached
    from artx.training import TrainingSpec

    x, y = data.load(args.dataset, "train", data_dir=args.data_dir)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ARTX_CACHE_DIR"] = cache
        started = time.perf_counter()
        trained = train_cached(TrainingSpec(args.arch, epochs=args.epochs), x, y, seed=0, progress=False)
        train_seconds = time.perf_counter() - started
        assert not trained.from_cache
        loads = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            loaded = train_cached(TrainingSpec(args.arch, epochs=args.epochs), x, y, seed=0, progress=False)
            loads.append(time.perf_counter() - started)
            assert loaded.from_cache
    load_seconds = statistics.median(loads)
    ratio = train_seconds / load_seconds
    print(f"{args.arch} on {args.dataset} ({len(x)} images, {args.epochs} epoch(s)):")
    print(
        f"  train+store {train_seconds:.2f} s; load from cache (median of {args.repeats}) {load_seconds * 1000:.1f} ms"
    )
    print(f"  (load time includes hashing the {x.nbytes / 1e6:.0f} MB of training data for the cache key)")
    print(f"  speed-up {ratio:.0f}x (target >= {TARGET:.0f}x): {'PASS' if ratio >= TARGET else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
