"""Measurement: fit time of pixel-poisoning's scikit-learn baselines against the training-set size.

Issue 19 asks for Table 2's linear SVM and random forest on all 60,000 MNIST training images and the
RBF-SVM on as many as fit in 30 minutes. This fits each model (the paper preset's parameters, by
registry name) on seeded subsets of the clean training set (the reproduction's draw,
``default_rng(2)``), prints the fit time per size (CPU and wall), fits t = a · n^b to the RBF-SVM's CPU times, and
prints the largest size whose predicted fit time is within ``--budget`` minutes. The chosen size
is written into the paper preset by hand, with this script's output in the comment beside it.

    python benchmarks/baseline_fit_time.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import math
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder with full MNIST")
    parser.add_argument("--rbf-sizes", default="2500,5000,10000", help="RBF-SVM subset sizes to time")
    parser.add_argument("--full-sizes", default="10000,60000", help="linear SVM / random forest sizes to time")
    parser.add_argument("--budget", type=float, default=30.0, help="RBF-SVM fit budget in minutes")
    args = parser.parse_args(argv)

    import numpy as np

    from artx import data, registry
    from artx_reproductions.pixel_poisoning import PAPER

    x, y = data.load("mnist", "train", data_dir=args.data_dir)

    def fit_seconds(name: str, size: int) -> tuple[float, float]:
        """Wall and CPU seconds of one fit (the models fit on one thread, so on a shared machine
        the CPU time is the cost and the wall time depends on the neighbours)."""
        index = np.sort(np.random.default_rng(2).choice(len(x), size=min(size, len(x)), replace=False))
        estimator = registry.create("estimator", name, **PAPER.baselines[name])
        wall, cpu = time.perf_counter(), time.process_time()
        estimator.fit(x[index], y[index])
        return time.perf_counter() - wall, time.process_time() - cpu

    rbf = [(int(n), *fit_seconds("rbf-svm", int(n))) for n in args.rbf_sizes.split(",")]
    for n, wall, cpu in rbf:
        print(f"rbf-svm        {n:6,d} images: fit {cpu:8.1f} s CPU ({wall:.1f} s wall)")
    if len(rbf) >= 2:  # least squares on log t = log a + b log n
        logs = np.log([[n, cpu] for n, _, cpu in rbf])
        b, log_a = np.polyfit(logs[:, 0], logs[:, 1], 1)
        largest = int(math.exp((math.log(args.budget * 60) - log_a) / b))
        print(f"rbf-svm fit time ~ n^{b:.2f}: {args.budget:g} min fits ~{min(largest, len(x)):,} images")
    for name in ("linear-svm", "random-forest"):
        for n in filter(None, args.full_sizes.split(",")):
            wall, cpu = fit_seconds(name, int(n))
            print(f"{name:<14} {int(n):6,d} images: fit {cpu:8.1f} s CPU ({wall:.1f} s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
