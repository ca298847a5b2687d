"""Benchmark: the pairwise JSMA plugins (jsma-z, jsma-f) vs ART's SaliencyMapMethod, measured in one run.

On ``--images`` test images (20 by default: the embedded subset's test split, or full MNIST's with
``--data-dir``), a ``--arch`` model (``paper-cnn`` by default) trained with
:func:`artx.model_cache.train_cached` on the embedded training split, targets drawn at random
among the classes other than the true label (seeded), and the same θ, γ and batch size for all
three attacks:

- ART's ``SaliencyMapMethod`` (artx's ``jsma``: top-two features of the target-class gradient);
- ``jsma-z`` and ``jsma-f`` (Papernot et al.'s pair scores α·|β| on logits / softmax).

Printed per attack: success rate (the classifier predicts the target), mean L0 (features changed)
over the successes, wall time per image (median over ``--repeats`` runs, the attacks interleaved
so that load from other processes hits all of them alike) and the ratio to ART's time per image.

Target (issue): the pairwise search costs ≤ 2× ART's time per image.

    python benchmarks/jsma_speed.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

TARGET = 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with full MNIST (else the embedded subset)")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--arch", default="paper-cnn", help="zoo model (paper-cnn, lenet5, ...)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--theta", type=float, default=1.0)
    parser.add_argument(
        "--gamma", type=float, default=0.145, help="largest share of features changed (the paper's 14.5%%)"
    )
    parser.add_argument("--batch-size", type=int, default=20, help="images attacked together, for every attack")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="seed of the model and of the targets")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from art.attacks.evasion import SaliencyMapMethod

    from artx import data, registry
    from artx.model_cache import train_cached
    from artx.models import to_art_classifier
    from artx.training import TrainingSpec

    x_train, y_train = data.load("mnist-5k", "train")
    if args.data_dir:
        x, y = data.load("mnist", "test", data_dir=args.data_dir)
    else:
        x, y = data.load("mnist-5k", "test")
    x, y = np.ascontiguousarray(x[: args.images]), y[: args.images]
    classifier = to_art_classifier(
        train_cached(
            TrainingSpec(args.arch, epochs=args.epochs), x_train, y_train, seed=args.seed, progress=False
        ).model
    )
    targets = (y + np.random.default_rng(args.seed).integers(1, classifier.nb_classes, len(y))) % classifier.nb_classes

    attacks = {
        "ART SaliencyMapMethod (jsma)": SaliencyMapMethod(
            classifier, theta=args.theta, gamma=args.gamma, batch_size=args.batch_size, verbose=False
        ),
        "jsma-z (pairwise, logits)": registry.create(
            "evasion", "jsma-z", classifier, theta=args.theta, gamma=args.gamma, batch_size=args.batch_size
        ),
        "jsma-f (pairwise, softmax)": registry.create(
            "evasion", "jsma-f", classifier, theta=args.theta, gamma=args.gamma, batch_size=args.batch_size
        ),
    }
    labels = {
        name: np.eye(classifier.nb_classes, dtype=np.float32)[targets] if name.startswith("ART") else targets
        for name in attacks
    }
    times: dict[str, list[float]] = {name: [] for name in attacks}
    outputs = {}
    for _ in range(args.repeats):
        for name, attack in attacks.items():
            started = time.perf_counter()
            outputs[name] = attack.generate(x, labels[name])
            times[name].append(time.perf_counter() - started)

    clean = float(np.mean(classifier.predict(x).argmax(axis=1) == y))
    print(
        f"{args.arch} ({args.epochs} epochs on mnist-5k, clean accuracy {clean:.2f} on these images), {len(x)} images, "
        f"random targets != true label, theta={args.theta}, gamma={args.gamma}, batch {args.batch_size}, "
        f"{args.repeats} repeat(s); torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}:"
    )
    art_seconds = statistics.median(times[next(iter(attacks))]) / len(x)
    ratios = []
    for name in attacks:
        out = outputs[name]
        reached = classifier.predict(out).argmax(axis=1) == targets
        changed = (out != x).reshape(len(x), -1).sum(axis=1)
        l0 = float(changed[reached].mean()) if reached.any() else float("nan")
        seconds = statistics.median(times[name]) / len(x)
        ratio = seconds / art_seconds
        if not name.startswith("ART"):
            ratios.append(ratio)
        spread = f"{min(times[name]) / len(x):.3f}-{max(times[name]) / len(x):.3f}"
        print(
            f"  {name:<30} success {reached.mean():6.1%}  mean L0 {l0:6.1f}  "
            f"{seconds:7.3f} s/image (runs {spread})  {ratio:5.2f}x ART"
        )
    worst = max(ratios)
    verdict = "PASS" if worst <= TARGET else "FAIL"
    print(f"  pairwise search <= {TARGET:.0f}x ART's time per image: {verdict} (worst {worst:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
