"""Benchmark: training a population of proxy models together vs one after another.

Trains ``--population`` models of ``--arch`` (default ``linear``, the gradcam-pixel search's
default proxy) for ``--epochs`` on ``--images`` embedded MNIST digits, each member on its own
data (a different poison pixel, as in the CMA-ES search), three ways, in this one run:

1. sequential with :func:`artx.training.train` (the ordinary trainer), one model after another;
2. sequential with :func:`artx.population.train_population` and a population of one (same code
   path as 3, so the ratio isolates the batching);
3. all members at once with :func:`artx.population.train_population` on per-member copies of
   the images (stacked parameters + vmap);
4. all members at once with ``pixels=`` (shared images + each member's pixel), as the
   gradcam-pixel search trains its proxies.

Prints the wall times (best of ``--repeats``) and the ratios. Target (issue 5): ≥ 4× for a population of 16 on 2
cores, (1)/(4). The default architecture is ``linear``, the search's default proxy; for a
compute-bound proxy (``shallow-mlp``) batching gains much less on a CPU, and a convolutional one
(``lenet5``) runs member by member on the stacked parameters (vmap's grouped convolutions were
slower, see :mod:`artx.population`), so paths 3 and 4 gain little over 1 there.

    python benchmarks/population_training.py
    python benchmarks/population_training.py --arch lenet5        # a small CNN proxy
"""

from __future__ import annotations

import argparse
import sys
import time

TARGET = 4.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="linear")
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per path; the fastest counts")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from artx import data
    from artx.models import build_model
    from artx.population import train_population
    from artx.training import TrainingSpec, train

    x, y = data.load("mnist-5k", "train", limit=args.images, seed=0)
    rng = np.random.default_rng(0)
    stacked = np.repeat(x[None], args.population, axis=0)
    rows, cols = rng.integers(0, 28, size=(2, args.population))
    for k in range(args.population):  # one poison pixel per member, like a CMA-ES generation
        stacked[k, :, 0, rows[k], cols[k]] = 1.0
    spec = TrainingSpec(args.arch, epochs=args.epochs, batch_size=args.batch_size)
    warm_up = spec.replace(epochs=1)
    # warm-up (lazy initialisation, allocator) so that the first timed path is not penalised
    train(build_model(args.arch, seed=0), np.ascontiguousarray(stacked[0, :256]), y[:256], warm_up, progress=False)
    pixels = tuple(
        np.repeat(a[:, None], len(x), axis=1) for a in (rows, cols, np.ones(args.population, dtype=np.float32))
    )
    train_population(
        warm_up, x[:256], y[:256], init_seeds=list(range(args.population)), pixels=tuple(a[:, :256] for a in pixels)
    )

    def fastest(run) -> float:
        """Best of ``--repeats`` wall times: the least disturbed by other processes."""
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return min(times)

    def sequential_with_train() -> None:
        for k in range(args.population):
            train(build_model(args.arch, seed=k), np.ascontiguousarray(stacked[k]), y, spec, progress=False)

    def sequential_with_population() -> None:
        for k in range(args.population):
            train_population(spec, stacked[k : k + 1], y, init_seeds=[k])

    sequential_train = fastest(sequential_with_train)
    sequential_population = fastest(sequential_with_population)
    together_copies = fastest(lambda: train_population(spec, stacked, y, init_seeds=list(range(args.population))))
    together = fastest(lambda: train_population(spec, x, y, init_seeds=list(range(args.population)), pixels=pixels))

    ratio = sequential_train / together
    print(
        f"{args.population} x {args.arch}, {len(x)} images, {args.epochs} epoch(s), batch {args.batch_size}, torch "
        f"threads {torch.get_num_threads()}, best of {args.repeats}:"
    )
    print(f"  (1) sequential, artx.training.train:           {sequential_train:.2f} s")
    print(f"  (2) sequential, train_population of one:       {sequential_population:.2f} s")
    print(f"  (3) together, per-member copies (vmap):        {together_copies:.2f} s")
    print(f"  (4) together, pixels= (shared images):         {together:.2f} s")
    print(
        f"  ratios (2)/(3) {sequential_population / together_copies:.1f}x (vmap batching alone), (1)/(3) "
        f"{sequential_train / together_copies:.1f}x"
    )
    print(f"  speed-up (1)/(4) {ratio:.1f}x (target >= {TARGET:.0f}x): {'PASS' if ratio >= TARGET else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
