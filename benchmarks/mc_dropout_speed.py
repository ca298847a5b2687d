"""Benchmark: Monte-Carlo dropout detection vs one plain prediction, measured in one run.

On ``--images`` images (10,000 by default: the MNIST test set with ``--data-dir``, otherwise
the embedded subset tiled to that count), times with ``lenet5-dropout`` trained ``--epochs``
(20) epochs on the embedded subset. The MC-dropout passes cost the same whatever the weights,
but the hybrid detector's cost depends on how many images fall in its uncertain band (each is
classified five more times, once per crop): a barely trained model is uncertain about almost
everything, a trained one (as in the reproductions) about few clean images. The band's share is
printed; the hybrid is calibrated on 500 clean and 500 FGSM images.

- one plain ``predict`` of the ART classifier (dropout off);
- naive MC dropout: N ART ``predict(training_mode=True)`` calls (the whole model N times);
- artx's MC dropout (:func:`artx.mc_dropout.mc_dropout_predict`: prefix once, suffix batched);
- ``detect`` of the ``uncertainty-only`` and ``hybrid-uncertainty`` detectors (the hybrid also
  classifies the five crops of the images in its uncertain band; thresholds calibrated on FGSM).

Target (issues 4 and 18): ``mc_dropout_predict`` and both detectors' ``detect``, N = 50, on 10,000
images, each ≤ 3× one plain predict. The timed calls run in interleaved rounds (median of
``--repeats``), so a change of load during the run does not favour one of them.

    python benchmarks/mc_dropout_speed.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

TARGET = 3.0


def _seconds(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _interleaved_medians(functions: dict, repeats: int) -> dict:
    """Median wall time of each function over ``repeats`` rounds, every round timing all of them
    in turn: a change of machine load during the run then hits the plain predict and the
    detectors alike, instead of whichever happened to be timed at that moment."""
    times = {label: [] for label in functions}
    for _ in range(repeats):
        for label, function in functions.items():
            times[label].append(_seconds(function))
    return {label: statistics.median(values) for label, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with full MNIST (else the embedded subset, tiled)")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (median of each)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of lenet5-dropout (default 20)")
    args = parser.parse_args(argv)

    import numpy as np

    from artx import data, registry
    from artx.mc_dropout import mc_dropout_predict
    from artx.model_cache import train_cached
    from artx.models import to_art_classifier
    from artx.training import TrainingSpec

    x_train, y_train = data.load("mnist-5k", "train")
    if args.data_dir:
        x, _ = data.load("mnist", "test", data_dir=args.data_dir)
    else:
        x, _ = data.load("mnist-5k", "test")
    x = np.ascontiguousarray(np.resize(x, (args.images, *x.shape[1:])))
    classifier = to_art_classifier(
        train_cached(TrainingSpec("lenet5-dropout", epochs=args.epochs), x_train, y_train, seed=0, progress=False).model
    )

    def naive() -> None:
        for _ in range(args.passes):
            classifier.predict(x, batch_size=args.batch_size, training_mode=True)

    fgsm = registry.create("evasion", "fgsm", classifier, eps=0.3)
    calibration_x = np.concatenate([x[:500], fgsm.generate(x[500:1000])])
    is_adversarial = np.r_[np.zeros(500, bool), np.ones(500, bool)]
    detectors = {}
    for name in ("uncertainty-only", "hybrid-uncertainty"):
        detectors[name] = registry.create(
            "detector", name, classifier, n_passes=args.passes, batch_size=args.batch_size
        )
        detectors[name].fit(calibration_x, is_adversarial)

    plain_label = "plain predict (dropout off)"
    functions = {
        plain_label: lambda: classifier.predict(x, batch_size=args.batch_size),
        f"artx mc_dropout_predict, N={args.passes}": lambda: mc_dropout_predict(
            classifier.model, x, n_passes=args.passes, batch_size=args.batch_size
        ),
    }
    reports = {}
    for name, detector in detectors.items():
        reports[name] = report = {}

        def run(detector=detector, report=report) -> None:
            report.update(detector.detect(x)[0])

        functions[f"{name} detect, N={args.passes}"] = run
    medians = _interleaved_medians(functions, args.repeats)
    plain = medians[plain_label]
    rows = [(label, seconds) for label, seconds in medians.items()]
    rows.insert(1, (f"naive MC dropout: {args.passes} x predict(training_mode=True)", _seconds(naive)))
    for name, report in reports.items():
        if "band" in report:
            index = next(i for i, (label, _) in enumerate(rows) if label.startswith(name))
            rows[index] = (
                rows[index][0] + f" ({int(np.sum(report['band'] == 'uncertain'))} images in the crop band)",
                rows[index][1],
            )

    print(f"lenet5-dropout, {len(x)} images, batch {args.batch_size}:")
    for label, seconds in rows:
        print(f"  {label:<78} {seconds:7.3f} s  {seconds / plain:5.1f}x plain")
    # The three: artx's MC dropout and both detectors (the naive loop is the reference).
    targeted = [(label, seconds) for label, seconds in rows if label != plain_label and not label.startswith("naive")]
    worst_label, worst_seconds = max(targeted, key=lambda row: row[1])
    worst = worst_seconds / plain
    print(
        f"  MC dropout and detect cost <= {TARGET:.0f}x plain predict: {'PASS' if worst <= TARGET else 'FAIL'} "
        f"(worst {worst:.2f}x: {worst_label.split(',')[0]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
