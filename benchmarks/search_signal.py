"""Measurement: how much signal pixel-poisoning's search fitness carries, and how it ranks the poisons.

Issue 19: in the paper preset the searched pixels lose to a random white pixel per class outside GradCAM's
region; find out why (does CMA-ES reach high intensities, does the proxy's fitness reward them?). This reads a
finished paper-preset run, its searches replayed from the checkpoints under ``ARTX_CACHE_DIR`` (nothing is
searched: a missing search is an error), and measures per run seed, on the search's own data (its seeded split
of the search set; fitness = the proxy's clean validation error − its poisoned training error, "the gap"):

1. The search's own noise, from its stored generations: the spread of the gap inside a generation (whose
   candidates share one training seed), the change of the generation's mean gap from the first to the last ten
   generations, and the correlation inside a generation between a candidate's mean intensity and its gap.
2. The gap of five poisons under each proxy of ``--proxies``, over ``--inits`` proxy trainings whose seeds all
   poisons share (paired): the searched pixels; the same positions at intensity 1.0; the run's own draws of
   the random-pixel variants "outside ROI, 1.0" and "anywhere, 1.0" (Table 1's Random row); no poison
   (intensity 0: the plain generalisation gap). The differences to the searched pixels are decided with
   ``artx.claims.greater`` (2 SE of the paired differences).
3. With ``--reliance``, a second reading of the same question, for each proxy: the proxy's *pixel reliance*
   per poison — trained as above (its own paired trainings), the share of the clean validation images of
   class y that it calls class y + 1 (mod K) when class y + 1's pixel is written into them. A proxy that has
   learned a poison's shortcut follows the pixel even where its clean error has not moved yet, so this asks
   whether a fitness other than the gap would carry the signal the gap lacks.
4. With ``--cnn-poisons``: Table 1's model (the preset's paper-cnn training on the whole poisoned training
   set, the run's seed) trained on those poisons, and its clean test error, as Table 1 measures it. Table 1
   and the variants table (docs/results/pixel-poisoning) already hold it for the searched pixels and the
   random variants; "searched positions at 1.0" is new.

With ``--search-proxy ARCH:EPOCHS`` the searches read are not the run's but the paper preset's with that
proxy instead (same search set, clean net, regions, budget and seed; searched here when the artx cache holds no
finished one, then checkpointed like the run's): "searched" is then that search's poison, so
``--cnn-poisons searched`` gives Table 1's error for a search with another proxy.

With ``--best-candidate``, a sixth poison: the last generation's best candidate (the search's result is its
distribution mean, which for a position encoded as an index into the allowed pixels averages indices).

The output and what it showed are in docs/benchmarks/search-signal.md.

    ARTX_CACHE_DIR=../runs-pixel-poisoning-cache python benchmarks/search_signal.py --data-dir ../shared/data \\
        --proxies lenet5:2,lenet5:10,paper-cnn:2 [--cnn-poisons "searched positions at 1.0"]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

#: The poisons whose gaps are compared; the first is the one the others are measured against.
POISONS = ("searched", "searched positions at 1.0", "outside ROI, 1.0", "anywhere, 1.0", "none")
#: With ``--best-candidate``: the candidate of the last generation with the best fitness (under that
#: generation's training seed), where the search's result is its distribution mean.
BEST = "best of the last generation"


def _proxies(text: str) -> list[tuple[str, int]]:
    proxies = []
    for item in filter(None, text.split(",")):
        arch, _, epochs = item.partition(":")
        if not arch or not epochs.isdigit() or int(epochs) < 1:
            raise SystemExit(f"--proxies: expected ARCH:EPOCHS[,...] with EPOCHS ≥ 1; got {item!r}")
        proxies.append((arch, int(epochs)))
    return proxies


def search_noise(history: list[dict], nb_classes: int) -> dict[str, float]:
    """Section 1 from a search's stored generations (``gradcam-pixel``'s ``history_``), gaps in points."""
    import numpy as np

    gaps = np.array([[-f for f in g["fitness"]] for g in history]) * 100
    correlations = []
    for generation, row in zip(history, gaps):
        intensity = np.clip(np.asarray(generation["solutions"])[:, -nb_classes:], 0, 1).mean(axis=1)
        if intensity.std() > 0 and row.std() > 0:
            correlations.append(np.corrcoef(intensity, row)[0, 1])
    first, last = gaps[:10].mean(axis=1), gaps[-10:].mean(axis=1)
    return {
        "within-generation std": float(gaps.std(axis=1, ddof=1).mean()),
        "mean gap, first 10 generations": float(first.mean()),
        "mean gap, last 10 generations": float(last.mean()),
        "corr(intensity, gap)": float(np.mean(correlations)),
        "corr SE": float(np.std(correlations, ddof=1) / np.sqrt(len(correlations))),
    }


def pixel_reliance(search, proxy, tables: list, inits: list[int], order_seed: int) -> list:
    """Section 3: per table, the share of the search's clean validation images that a proxy trained on that
    poison (one per init seed, paired across tables) assigns to the next class when that class's pixel is
    written in; one array over the inits per table."""
    import numpy as np

    from artx.population import train_population

    x_fit, y_fit, x_val, y_val = search._x_fit, search._y_fit, search._x_val, search._y_val
    members = [(table, init) for table in tables for init in inits]
    pixels = tuple(np.stack([np.asarray(table[i])[y_fit] for table, _ in members]) for i in range(3))
    population = train_population(
        proxy, x_fit, y_fit, init_seeds=[init for _, init in members], seed=order_seed, pixels=pixels
    )
    shifted = (y_val + 1) % search.nb_classes
    swapped = tuple(np.stack([np.asarray(table[i])[shifted] for table, _ in members]) for i in range(3))
    followed = (population.predict(x_val, pixels=swapped) == shifted[None]).mean(axis=1)
    return list(followed.reshape(len(tables), len(inits)))


def print_reading(label: str, values: dict) -> None:
    """One reading per poison (mean ± SE over the paired proxy trainings), then each poison against the
    first, decided with ``artx.claims.greater``."""
    import numpy as np

    from artx.claims import compare, greater

    cells = ", ".join(f"{p} {v.mean():.2f} ± {v.std(ddof=1) / np.sqrt(len(v)):.2f}" for p, v in values.items())
    print(f"{label} {cells}")
    first, *others = values
    for other in others:
        diff = compare(values[other], values[first])
        print(f"    {other} − {first}: {greater(diff).verdict} ({diff.format()})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder with full MNIST/Fashion-MNIST")
    parser.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    parser.add_argument("--seeds", default="0,1,2", help="the run seeds whose searches are read (comma-separated)")
    parser.add_argument(
        "--proxies",
        default="lenet5:2,lenet5:10,paper-cnn:2",
        help="proxies as ARCH:EPOCHS[,...] (zoo names; the paper preset searches with lenet5:2; empty: none)",
    )
    parser.add_argument(
        "--cnn-poisons",
        default="",
        help=f"poisons to train Table 1's CNN on, comma-separated, of: {', '.join(POISONS)} (default: none)",
    )
    parser.add_argument(
        "--reliance", action="store_true", help="also measure each proxy's pixel reliance per poison (section 3)"
    )
    parser.add_argument(
        "--search-proxy",
        default="",
        help="read (or run) the paper preset's searches with this proxy, ARCH:EPOCHS, instead of the run's",
    )
    parser.add_argument(
        "--position-encoding",
        choices=("index", "row-col"),
        default="index",
        help="with --search-proxy: gradcam-pixel's position_encoding for those searches (default: the preset's)",
    )
    parser.add_argument(
        "--best-candidate",
        action="store_true",
        help=f"also read the last generation's best candidate as a poison, {BEST!r} (after the others)",
    )
    parser.add_argument("--inits", type=int, default=5, help="proxy trainings per poison (≥ 2; paired seeds)")
    args = parser.parse_args(argv)
    if args.position_encoding != "index" and not args.search_proxy:
        parser.error("--position-encoding applies to the searches of --search-proxy (the run's own are 'index')")
    if args.inits < 2:
        parser.error(f"--inits must be ≥ 2 (the SE needs two trainings); got {args.inits}")
    cnn_poisons = [name.strip() for name in args.cnn_poisons.split(",") if name.strip()]
    poison_names = POISONS + ((BEST,) if args.best_candidate else ())
    unknown = [name for name in cnn_poisons if name not in poison_names]
    if unknown:
        parser.error(f"--cnn-poisons: {unknown} not among {list(poison_names)}")

    import numpy as np

    from artx import data
    from artx.evaluation import accuracy
    from artx.model_cache import train_cached
    from artx.models import to_art_classifier
    from artx.reproduction import RunContext
    from artx.training import TrainingSpec
    from artx_reproductions.pixel_poisoning import PixelPoisoningReproduction

    reproduction = PixelPoisoningReproduction()
    preset = reproduction.presets["paper"]
    if args.search_proxy:
        (arch, epochs), *rest = _proxies(args.search_proxy) or [(None, None)]
        if arch is None or rest:
            parser.error(f"--search-proxy: expected one ARCH:EPOCHS; got {args.search_proxy!r}")
        settings = dataclasses.replace(
            preset.settings, proxy_arch=arch, proxy_epochs=epochs, position_encoding=args.position_encoding
        )
        preset = dataclasses.replace(preset, settings=settings)
    s = preset.settings
    x_train, y_train = data.load(args.dataset, "train", data_dir=args.data_dir)
    x_test, y_test = data.load(args.dataset, "test", data_dir=args.data_dir)
    print(
        f"{args.dataset}: paper-preset searches ({s.generations} generations × {s.population_size}, {s.proxy_arch} "
        f"proxy {s.proxy_epochs} epochs) on {s.search_size:,} images; gaps in points (%), mean ± SE over {args.inits} "
        "paired proxy trainings"
    )
    with tempfile.TemporaryDirectory() as out:
        context = RunContext(
            preset=preset, seeds=[], device="cpu", data_dir=Path(args.data_dir), out_dir=Path(out), progress=False
        )
        context.report = lambda line: None
        for seed in [int(seed) for seed in args.seeds.split(",")]:
            poisons = reproduction.poisons(
                context, {}, args.dataset, [seed], x_train, y_train, replay_only=not args.search_proxy
            )
            search = poisons["Proposed"][0]
            K = search.nb_classes
            noise = search_noise(search.history_, K)
            intensities = [round(float(v), 2) for v in search.intensities_]
            print(
                f"seed {seed}: searched intensities {intensities}; search noise: gap std inside a generation "
                f"{noise['within-generation std']:.2f}, generation mean gap "
                f"{noise['mean gap, first 10 generations']:.2f} (first 10) → "
                f"{noise['mean gap, last 10 generations']:.2f} (last 10), corr(mean intensity, gap) inside a "
                f"generation {noise['corr(intensity, gap)']:.3f} ± {noise['corr SE']:.3f} SE"
            )
            tables = {
                "searched": (search.rows_, search.cols_, search.intensities_),
                "searched positions at 1.0": (search.rows_, search.cols_, np.ones(K, np.float32)),
                "none": (search.rows_, search.cols_, np.zeros(K, np.float32)),
            }
            for name in ("outside ROI, 1.0", "anywhere, 1.0"):
                pixels = poisons["variants"][name][0].pixels()
                tables[name] = tuple(np.array([p[key] for p in pixels]) for key in ("row", "col", "intensity"))
            if args.best_candidate:
                last = search.history_[-1]
                best = np.asarray(last["solutions"][int(np.argmin(last["fitness"]))], dtype=np.float64)
                tables[BEST] = search._decode(best)  # the search's own decoding of a CMA-ES vector
            inits = [1000 + i for i in range(args.inits)]
            for arch, epochs in _proxies(args.proxies):
                proxy = TrainingSpec(
                    arch, epochs=epochs, optimizer=s.proxy_optimizer, lr=s.proxy_lr, batch_size=s.proxy_batch_size
                )
                search.set_params(proxy=proxy)
                started = time.perf_counter()
                gaps = np.array(
                    search.proxy_gaps([tables[p] for p in poison_names for _ in inits], inits * len(poison_names), seed)
                ).reshape(len(poison_names), len(inits))
                seconds = time.perf_counter() - started
                print_reading(f"  {arch} ({epochs} epochs, {seconds:.0f} s):", dict(zip(poison_names, 100 * gaps)))
                if args.reliance:
                    started = time.perf_counter()
                    shares = pixel_reliance(search, proxy, [tables[p] for p in poison_names], inits, seed)
                    seconds = time.perf_counter() - started
                    print_reading(
                        f"  {arch} ({epochs} epochs, {seconds:.0f} s) pixel reliance %:",
                        {p: 100 * r for p, r in zip(poison_names, shares)},
                    )
            for name in cnn_poisons:
                rows, cols, values = tables[name]
                x_poisoned = x_train.copy()
                x_poisoned[np.arange(len(x_poisoned)), :, rows[y_train], cols[y_train]] = values[y_train, None]
                started = time.perf_counter()
                trained = train_cached(s.cnn_spec(args.dataset), x_poisoned, y_train, seed=seed, use_cache=False)
                error = 100 * (1 - accuracy(to_art_classifier(trained.model), x_test, y_test))
                print(
                    f"  Table 1's {s.cnn} ({s.epochs('cnn_epochs', args.dataset)} epochs, all {len(x_train):,} "
                    f"training images, seed {seed}, {time.perf_counter() - started:.0f} s) on {name}: clean test "
                    f"error {error:.2f}%"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
