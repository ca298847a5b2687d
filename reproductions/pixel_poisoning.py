"""``artx reproduce pixel-poisoning``: interpretable single-pixel poisons (Chaudhury, AAAI 2020
doctoral consortium).

An attacker adds one class-wise pixel to every training image, outside the region GradCAM says
the clean model looks at, with positions and intensities found by CMA-ES to maximise the gap
between (poisoned) training and clean test performance. Plugins by registry name only:
``gradcam-pixel`` (the proposed poison), ``random-pixel`` and ``class-pixel`` (baselines),
``linear-svm``, ``rbf-svm``, ``random-forest`` (non-neural models).

Per dataset:

1. One run per seed repeats the whole pipeline: the clean model M_c (``paper-cnn`` trained on
   the clean training set with that seed; the "Clean" row's model), its GradCAM maps, and the
   search on ``search_size`` training images drawn with that seed, with the budget
   ``generations`` × ``population_size`` (proxy: ``proxy_arch`` trained ``proxy_epochs``
   epochs; see the plugin for the exact fitness); the random pixel is drawn with that seed too.
2. Table 1: ``paper-cnn`` trained on the training set with each poison of the run (clean,
   random pixel, class pixel, proposed); test error on the *clean* test set and training error
   on (a seeded ``train_error_size`` subset of) the poisoned training set.
3. Table 2 (MNIST only): the scikit-learn baselines trained on a seeded ``baseline_train_size``
   subset of the training set with each run's poisons (the pixels found with the CNN; one fit
   per model, poison and run, the clean row once), tested on the clean test set.
4. Figure 1: ``paper-cnn`` trained on the first run's proposed-poisoned training set with Adam,
   SGD, RMSProp and AdaBound; clean test accuracy.
5. Random-baseline variants (ours, not in the paper): ``paper-cnn`` trained per seed on the
   training set poisoned with ``random-pixel`` drawn six ways — position anywhere or only outside
   GradCAM's region of interest (the proposed search's own positions), intensity U[0, 1], 1.0 or
   U[0.5, 1] — since "random perturbations" does not say how. Table 1's Random row is the variant
   ``random_variant`` (default "anywhere, 1.0"), chosen a priori by this argument: the paper
   restricts only its own method to the GradCAM complement, so a random perturbation may go
   anywhere; its intensity is the class pixel's (Jacobsen et al.: 1.0), so the two baselines
   differ only in where the pixel goes, and every class's pixel is a visible change on a black
   background (U[0, 1] draws some near 0, which changes nothing there). The issue that asked for
   the variants had reported quick-scale numbers for U[0, 1] and 1.0 before this choice.
6. Training length (ours, not in the paper): test error of ``paper-cnn`` (first seed) after each
   of ``length_epochs`` epochs on the random- and proposed-poisoned training sets, from one run
   per poison (the intermediate epochs are cache snapshots). It measures how much of the gap to
   the paper comes from Table 1's short training.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from artx import claims, registry
from artx.claims import Estimate
from artx.data import CLASS_NAMES
from artx.evaluation import MeanStd, accuracy
from artx.model_cache import cache_key
from artx.paths import cache_dir
from artx.reproduction import Preset, Reproduction, RunContext, Settings, Unit, merge_outputs
from artx.results import ResultsWriter, tolerance
from artx.training import TrainingSpec

logger = logging.getLogger(__name__)

POISONS = ("Clean", "Random", "Jacobsen", "Proposed")
#: Poisons of the training-length curve.
LENGTH_ROWS = ("Random", "Proposed")
#: The random-pixel baselines measured beside Table 1: name → ``random-pixel`` parameters (besides the run's
#: seed); ``outside_roi`` draws the positions from the run's GradCAM complement (``gradcam-pixel``'s allowed sets).
RANDOM_VARIANTS: dict[str, dict[str, Any]] = {
    "anywhere, U[0, 1]": {"intensity": "uniform"},
    "anywhere, 1.0": {"intensity": 1.0},
    "anywhere, U[0.5, 1]": {"intensity": (0.5, 1.0)},
    "outside ROI, U[0, 1]": {"intensity": "uniform", "outside_roi": True},
    "outside ROI, 1.0": {"intensity": 1.0, "outside_roi": True},
    "outside ROI, U[0.5, 1]": {"intensity": (0.5, 1.0), "outside_roi": True},
}
#: Table 1 of the paper, test error (%) of the CNN: (mean, std) for MNIST and Fashion-MNIST.
PAPER_TABLE1 = {
    "mnist": {"Clean": (0.8, 0.0), "Random": (56.8, 0.6), "Jacobsen": (43.0, 13.9), "Proposed": (88.6, 1.2)},
    "fashion-mnist": {"Clean": (8.3, 0.3), "Random": (52.0, 1.7), "Jacobsen": (49.6, 2.6), "Proposed": (74.9, 0.8)},
}
#: Table 2 of the paper, MNIST test error (%).
PAPER_TABLE2 = {
    "linear-svm": {"Clean": 8.34, "Random": 59.77, "Jacobsen": 75.16, "Proposed": 90.3},
    "random-forest": {"Clean": 5.50, "Random": 12.55, "Jacobsen": 15.79, "Proposed": 14.64},
    "rbf-svm": {"Clean": 1.65, "Random": 2.30, "Jacobsen": 15.79, "Proposed": 2.06},
}
#: Table titles (reasons for misses name the table they explain).
TABLE1 = "Table 1: paper-cnn test error (%) on the clean test set"
TABLE1_TRAIN = "Table 1 (extra): paper-cnn training error (%) on the poisoned training set (paper: close to 0)"
BASELINE_LABELS = {"linear-svm": "Lin-SVM", "random-forest": "Random Forest", "rbf-svm": "RBF-SVM"}
OPTIMIZER_LABELS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSProp", "adabound": "AdaBound"}


@dataclasses.dataclass(frozen=True)
class PixelPoisoningSettings(Settings):
    datasets: tuple[str, ...] = dataclasses.field(
        metadata={"doc": "datasets of Table 1 (Table 2 uses the first MNIST one)"}
    )
    cnn_epochs: int | Mapping[str, int] = dataclasses.field(
        metadata={"doc": "paper-cnn epochs in Table 1 and Figure 1 (one number, or one per dataset)"}
    )
    length_epochs: int | Mapping[str, int] = dataclasses.field(
        metadata={"doc": "epochs of the training-length curve (one number, or one per dataset)"}
    )
    search_size: int = dataclasses.field(metadata={"doc": "training images the search sees"})
    generations: int = dataclasses.field(metadata={"doc": "CMA-ES generations"})
    proxy_epochs: int = dataclasses.field(metadata={"doc": "proxy training epochs per candidate"})
    train_error_size: int = dataclasses.field(metadata={"doc": "poisoned training images for the training error"})
    baseline_train_size: Mapping[str, int] = dataclasses.field(
        metadata={"doc": "training images per scikit-learn baseline"}
    )
    figure1_seeds: int = 1
    random_variant: str = dataclasses.field(
        default="anywhere, 1.0",
        metadata={"doc": "the random-pixel variant of Table 1's Random row (see the module doc)"},
    )
    random_variants: tuple[str, ...] = dataclasses.field(
        default=tuple(RANDOM_VARIANTS), metadata={"doc": "random-pixel variants of the variants table"}
    )
    cnn: str = "paper-cnn"
    optimizer: str = "adam"
    batch_size: int = 128
    gradcam_layer: str = "relu2"
    threshold: float = 0.5
    population_size: int = 16
    sigma0: float = 0.3
    position_encoding: str = "index"
    proxy_arch: str = "linear"
    proxy_optimizer: str = "adam"
    proxy_lr: float | None = None
    proxy_batch_size: int = 128
    validation_fraction: float = 0.2
    reevaluations: int = 3
    class_pixel: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: {"row": 1, "first_col": 4, "col_step": 2, "intensity": 1.0}
    )
    optimizers: tuple[str, ...] = ("adam", "sgd", "rmsprop", "adabound")
    baselines: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=lambda: {
            "linear-svm": {"C": 1.0, "max_iter": 2000},
            "random-forest": {"n_estimators": 100},
            "rbf-svm": {"C": 10.0, "gamma": "scale", "probability": False},
        }
    )
    train_limit: int | None = None
    test_limit: int | None = None

    def __post_init__(self) -> None:
        for name in (self.random_variant, *self.random_variants):
            if name not in RANDOM_VARIANTS:
                raise ValueError(f"random variant {name!r} is not one of {', '.join(map(repr, RANDOM_VARIANTS))}")
        for field in ("cnn_epochs", "length_epochs"):
            value = getattr(self, field)
            values = value.values() if isinstance(value, Mapping) else [value]
            if isinstance(value, Mapping) and set(value) != set(self.datasets):
                raise ValueError(f"{field} must give one number per dataset {list(self.datasets)}; got {dict(value)}")
            if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"{field} must be an int ≥ 1 or a mapping dataset → int ≥ 1; got {value!r}")

    def search_params(self, seed: int, **changes: Any) -> dict[str, Any]:
        """``gradcam-pixel``'s parameters for the search of run ``seed`` (``changes`` override some)."""
        return {
            "layer": self.gradcam_layer,
            "threshold": self.threshold,
            "generations": self.generations,
            "population_size": self.population_size,
            "sigma0": self.sigma0,
            "proxy": self.proxy,
            "validation_fraction": self.validation_fraction,
            "reevaluations": self.reevaluations,
            "seed": seed,
            # "index", the default, is left out: the search's cache key stays that of the searches made before
            # gradcam-pixel had the parameter
            **({} if self.position_encoding == "index" else {"position_encoding": self.position_encoding}),
            **changes,
        }

    def epochs(self, field: str, dataset: str) -> int:
        """``cnn_epochs`` or ``length_epochs`` for ``dataset``."""
        value = getattr(self, field)
        return int(value[dataset]) if isinstance(value, Mapping) else int(value)

    def cnn_spec(self, dataset: str, epochs: int | None = None, optimizer: str | None = None) -> TrainingSpec:
        """The CNN's training on ``dataset`` (Table 1; another optimizer for Figure 1, other epochs for the curve)."""
        return TrainingSpec(
            self.cnn,
            epochs=epochs or self.epochs("cnn_epochs", dataset),
            optimizer=optimizer or self.optimizer,
            batch_size=self.batch_size,
        )

    @property
    def proxy(self) -> TrainingSpec:
        """The search's proxy training."""
        return TrainingSpec(
            self.proxy_arch,
            epochs=self.proxy_epochs,
            optimizer=self.proxy_optimizer,
            lr=self.proxy_lr,
            batch_size=self.proxy_batch_size,
        )


QUICK = PixelPoisoningSettings(
    datasets=("mnist-5k",),
    cnn_epochs=5,
    length_epochs=10,
    search_size=4000,
    generations=60,
    proxy_epochs=5,
    train_error_size=4000,
    baseline_train_size={"linear-svm": 4000, "random-forest": 4000, "rbf-svm": 4000},
    # three of the six random-pixel variants (each is one more CNN per seed: the six took 315 s of a 763 s quick run
    # measured while another process shared the 2 cores)
    random_variants=("anywhere, U[0, 1]", "anywhere, 1.0", "outside ROI, 1.0"),
)
PAPER = PixelPoisoningSettings(
    datasets=("mnist", "fashion-mnist"),
    # The paper: "training errors are close to 0%". Epochs = the first at which paper-cnn's eval-mode training
    # error on the clean training set (the reproduction's seeded 10,000-image subset) is ≤ 1%, chosen on training
    # error alone: `python benchmarks/training_length.py --data-dir ../shared/data --dataset D --epochs 20|10`
    # (seed 0): MNIST 1.67% after 1 epoch, 0.66% after 2; Fashion-MNIST 12.09, 8.53, 7.69, 6.77, 4.94, 4.89, 3.63,
    # 2.77, 2.32, 2.09, 1.63, 1.36, 0.91% after 1..13 (1.55, 1.34 after 14, 15; ≤ 0.8% from 16). At ~57 s per
    # 60k-image epoch (1 thread), 9 CNNs per seed (4 poisons, 5 more random variants) × 3 seeds + 3 optimizers:
    # ≈ 1 h of one core on MNIST and ≈ 6 h on Fashion-MNIST.
    cnn_epochs={"mnist": 2, "fashion-mnist": 13},
    # training length, beyond Table 1's epochs: 2 poisons × 10 / 20 epochs ≈ 19 / 38 min
    length_epochs={"mnist": 10, "fashion-mnist": 20},
    search_size=10000,
    generations=150,
    # The proxy: lenet5, 2 epochs, chosen over the linear proxy (5 epochs) by `benchmarks/proxy_comparison.py`
    # at this search budget on MNIST, by a rule fixed before the CNN proxy's result (replace linear only if
    # paper-cnn's held-out error on the poisoned set is higher by > 2 SE of the paired per-seed differences):
    # 49.15 ± 4.23% vs 42.48 ± 1.82% over paper-cnn seeds 0-2, difference 6.68 ± 1.81 SE, PASS. Its output and
    # commands: docs/benchmarks/proxy-comparison.md. Cost: a search takes ~2.7 h of a core (linear: ~2 min).
    # Its fitness still carries about one point of signal against paper-cnn's 30-55 (`benchmarks/search_signal.py`,
    # docs/benchmarks/search-signal.md): why the searched pixels lose to a random white pixel outside the region.
    proxy_arch="lenet5",
    proxy_epochs=2,
    train_error_size=10000,
    # Table 2 on all 60,000 training images (the paper's clean RBF-SVM error, 1.65%, points at more than the
    # 10,000 used before). `python benchmarks/baseline_fit_time.py --data-dir ../shared/data --rbf-sizes
    # 10000,20000,60000` (one thread, clean data): RBF-SVM fit 7.1 / 36.9 / 243.9 s of CPU on 10,000 / 20,000 /
    # 60,000 images (t ~ n^1.95), so all 60,000 fit well within the 30 minutes allowed; linear SVM 129.5 s and
    # random forest 58.0 s (wall, a shared machine) on 60,000.
    baseline_train_size={"linear-svm": 60000, "random-forest": 60000, "rbf-svm": 60000},
)


def _dataset_label(name: str) -> str:
    return {"mnist": "MNIST", "mnist-5k": "MNIST (5k subset)", "fashion-mnist": "Fashion-MNIST"}.get(name, name)


def _per_dataset(value: int | Mapping[str, int]) -> str:
    """A setting that is one number or one per dataset, as text."""
    if isinstance(value, Mapping):
        return ", ".join(f"{_dataset_label(dataset)} {number}" for dataset, number in value.items())
    return str(value)


def _table2_seeds(row: str, seeds: list[int]) -> list[int]:
    """The runs of a Table 2 row: every run for a poison, the first for the clean row (no poison)."""
    return list(seeds[:1]) if row == "Clean" else list(seeds)


def _table2_title(settings: PixelPoisoningSettings) -> str:
    subsets = ", ".join(f"{BASELINE_LABELS[n]} {settings.baseline_train_size[n]:,}" for n in settings.baselines)
    return f"Table 2: MNIST test error (%) of non-neural models (training subsets: {subsets})"


def _paper_key(name: str) -> str:
    return "fashion-mnist" if name == "fashion-mnist" else "mnist"


class PixelPoisoningReproduction(Reproduction):
    name = "pixel-poisoning"
    title = "Interpretable single-pixel poisons: CMA-ES pixels outside the GradCAM region (Chaudhury, AAAI 2020 DC)"
    presets = {
        "quick": Preset(
            "quick",
            "mnist-5k",
            "embedded 5k MNIST subset (4,000 train / 1,000 test); one search per seed on the 4,000 training images, "
            "60 generations × 16; numbers differ from the paper's (60,000 training images, unknown search budget)",
            seeds=3,
            settings=QUICK,
        ),
        "paper": Preset(
            "paper",
            "mnist",
            "full MNIST and Fashion-MNIST (60,000 train / 10,000 test); one search per seed on 10,000 training "
            "images, 150 generations × 16 with a lenet5 proxy (2 epochs); paper-cnn 2 epochs on MNIST, 13 on "
            "Fashion-MNIST (the first with ≤ 1% training error; ~57 s per epoch on one CPU thread); baselines on "
            "all 60,000 training images",
            seeds=3,
            settings=PAPER,
        ),
    }

    def datasets(self, preset: Preset) -> list[str]:
        return list(preset.settings.datasets)

    # ------------------------------------------------------------------------------------------

    def units(self, context: RunContext) -> list[Unit]:
        """Phase 0: one unit per (dataset, seed) — the run's clean model, its search and random
        pixels. Phase 1 (searches replay from their checkpoints): per (dataset, seed), one unit per
        CNN of Table 1 and of the random-pixel variants; per dataset, Figure 1 and the
        training-length curve (on run 0's poisons); for the first MNIST dataset Table 2, one unit
        per model, poison and run."""
        s = context.settings
        units = [
            Unit(f"{dataset} · seed {seed}", {"dataset": dataset, "seed": seed})
            for dataset in s.datasets
            for seed in context.seeds
        ]
        # One unit per CNN of Table 1 and of the random-pixel variants (a Fashion-MNIST CNN: 13 epochs
        # of ~1 min on one thread): a run spread over several machines loses at most one CNN's training.
        units += [
            Unit(
                f"{dataset} · seed {seed} · {table} · {row}",
                {"dataset": dataset, "seed": seed, "part": table, "row": row},
                phase=1,
            )
            for dataset in s.datasets
            for seed in context.seeds
            for table, rows in (("table 1", POISONS), ("variant", s.random_variants))
            for row in rows
        ]
        for dataset in s.datasets:
            units.append(Unit(f"{dataset} · Figure 1", {"dataset": dataset, "part": "figure 1"}, phase=1))
            units.append(Unit(f"{dataset} · training length", {"dataset": dataset, "part": "training length"}, phase=1))
        mnist = next((d for d in s.datasets if d.startswith("mnist")), None)
        if mnist is not None:
            # One unit per model, poison and run (the clean row once): the paper preset's fits take
            # minutes each (RBF-SVM on 60,000 images ~4 min of CPU), so a killed run loses one fit.
            for name in s.baselines:
                for row in POISONS:
                    for seed in _table2_seeds(row, context.seeds):
                        units.append(
                            Unit(
                                f"{mnist} · Table 2 · {name} · {row} · seed {seed}",
                                {"dataset": mnist, "part": "table 2", "model": name, "row": row, "seed": seed},
                                phase=1,
                            )
                        )
        return units

    def run_unit(self, context: RunContext, unit: Unit) -> dict:
        s = context.settings
        dataset = unit.args["dataset"]
        x_train, y_train = context.load("train", dataset=dataset, limit=s.train_limit)
        x_test, y_test = context.load("test", dataset=dataset, limit=s.test_limit)
        if "part" not in unit.args:  # a run's search: (dataset, seed)
            metrics = {f"{dataset}/sizes": {"train": len(x_train), "test": len(x_test)}}
            self.poisons(context, metrics, dataset, [unit.args["seed"]], x_train, y_train)
            return {"metrics": metrics}
        part = unit.args["part"]
        if part in ("table 1", "variant"):  # one CNN of a run: (dataset, seed, poison)
            seed, row = unit.args["seed"], unit.args["row"]
            poisons = self.poisons(context, {}, dataset, [seed], x_train, y_train)
            poison = (poisons if part == "table 1" else poisons["variants"])[row][0]
            timing = f"{dataset}: table 1" if part == "table 1" else f"{dataset}: random variants"
            with context.stage(f"{dataset}: {part} ({row}) seed {seed}", timing=timing):
                return self._table1_error(context, dataset, seed, row, poison, x_train, y_train, x_test, y_test)
        if part == "table 2":
            args = unit.args
            poison = None
            if args["row"] != "Clean":  # the run's own poison (its search replays from the checkpoint)
                poison = self.poisons(context, {}, dataset, [args["seed"]], x_train, y_train)[args["row"]][0]
            with context.stage(f"{dataset}: Table 2 ({args['model']}, {args['row']})", timing=f"{dataset}: table 2"):
                return self._table2_error(context, args["model"], poison, x_train, y_train, x_test, y_test)
        poisons = self.poisons(context, {}, dataset, context.seeds[:1], x_train, y_train)
        if part == "figure 1":
            with context.stage(f"{dataset}: Figure 1 (optimizers)", timing=f"{dataset}: figure 1"):
                return self._figure1(context, dataset, poisons["Proposed"][0], x_train, y_train, x_test, y_test)
        if part == "training length":
            with context.stage(f"{dataset}: training length", timing=f"{dataset}: training length"):
                return self._training_length(context, dataset, poisons, x_train, y_train, x_test, y_test)
        raise ValueError(f"unknown unit part {part!r}")

    def report(self, context: RunContext, results: ResultsWriter, outputs: Mapping[str, Any]) -> None:
        s = context.settings
        table1: dict[str, dict[str, dict[str, list[float]]]] = {}
        figure1: dict[str, dict[str, list[float]]] = {}
        length: dict[str, dict[str, list[float]]] = {}
        table2: dict[str, dict[str, list[float]]] | None = None
        variants: dict[str, dict[str, dict[str, list[float]]]] = {}
        for dataset in s.datasets:
            seeds = context.seeds
            for seed in seeds:
                for name, value in outputs[f"{dataset} · seed {seed}"]["metrics"].items():
                    results.add_metric(name, value)
            for table, rows, merged in (("table 1", POISONS, table1), ("variant", s.random_variants, variants)):
                merged[dataset] = {
                    row: merge_outputs([outputs[f"{dataset} · seed {seed} · {table} · {row}"] for seed in seeds])
                    for row in rows
                }
            figure1[dataset] = outputs[f"{dataset} · Figure 1"]
            length[dataset] = outputs[f"{dataset} · training length"]
            table2_prefix = f"{dataset} · Table 2 · "
            if any(key.startswith(table2_prefix) for key in outputs):
                table2 = {
                    name: {
                        row: [
                            outputs[f"{table2_prefix}{name} · {row} · seed {seed}"]["error"]
                            for seed in _table2_seeds(row, context.seeds)
                        ]
                        for row in POISONS
                    }
                    for name in s.baselines
                }
            # The GradCAM figure of run 0: its search replays from the checkpoint (no training).
            x_train, y_train = context.load("train", dataset=dataset, limit=s.train_limit)
            proposed = self._search(context, {}, dataset, context.seeds[0], x_train, y_train)
            results.add_figure(f"gradcam_pixels_{dataset}", proposed.plot_maps(CLASS_NAMES.get(dataset)))
        self._report(context, results, table1, table2, figure1, length)
        self._report_variants(context, results, table1, variants)
        self._explain_misses(context, results, table1, table2, length, variants)

    # ---- poisons ------------------------------------------------------------------------------

    def poisons(
        self, context, metrics, dataset, seeds, x_train, y_train, *, replay_only: bool = False
    ) -> dict[str, list[Any]]:
        """Per poison, one poisoner per seed of ``seeds`` (``None`` for Clean); metrics about them
        go into ``metrics``; ``replay_only``: refuse to search where no finished search is stored
        (``benchmarks/search_signal.py`` reads a run's searches this way).

        A run repeats the whole pipeline with its seed (clean model, GradCAM, search sample,
        CMA-ES, random pixel, CNN), so Table 1's spread includes how much the found poison varies,
        not only the CNN's training noise (docs/results/pixel-poisoning lists the per-run errors).
        The class pixel has no randomness; its runs differ only in the CNN's seed.
        """
        s = context.settings
        height, width = x_train.shape[2:]
        out: dict[str, Any] = {row: [] for row in POISONS}
        out["variants"] = {name: [] for name in s.random_variants}
        for seed in seeds:
            proposed = self._search(context, metrics, dataset, seed, x_train, y_train, replay_only=replay_only)
            nb_classes = int(proposed.estimator.nb_classes)

            def random_pixel(variant: str, proposed=proposed, nb_classes=nb_classes, seed=seed) -> Any:
                params = dict(RANDOM_VARIANTS[variant])
                allowed = proposed.allowed_ if params.pop("outside_roi", False) else None
                return registry.create(
                    "poisoning", "random-pixel", nb_classes=nb_classes, height=height, width=width, seed=seed,
                    allowed=allowed, **params,
                )  # fmt: skip

            for name in s.random_variants:
                out["variants"][name].append(random_pixel(name))
                metrics[f"{dataset}/seed {seed}/random pixels ({name})"] = out["variants"][name][-1].pixels()
            out["Clean"].append(None)
            out["Random"].append(random_pixel(s.random_variant))
            metrics[f"{dataset}/seed {seed}/random pixels"] = out["Random"][-1].pixels()
            out["Proposed"].append(proposed)
        class_pixel = registry.create(
            "poisoning", "class-pixel", nb_classes=nb_classes, height=height, width=width, **s.class_pixel
        )
        metrics[f"{dataset}/class pixels"] = class_pixel.pixels()
        out["Jacobsen"] = [class_pixel] * len(seeds)
        return out

    def _search(self, context, metrics, dataset, seed, x_train, y_train, replay_only: bool = False):
        """The proposed poison of one run: GradCAM of the clean model of ``seed``, then CMA-ES on
        a ``search_size`` sample drawn with ``seed``, checkpointed under the artx cache (a second
        call replays the checkpoint instead of searching again; with ``replay_only``, a missing or
        unfinished checkpoint is an error instead of hours of search)."""
        s = context.settings
        clean = context.train(s.cnn_spec(dataset), x_train, y_train, seed=seed, label=f"clean ({dataset})")
        classifier = context.classifier(clean.model)
        search_index = np.sort(
            np.random.default_rng(seed).choice(len(x_train), size=min(s.search_size, len(x_train)), replace=False)
        )
        search_params = s.search_params(seed)
        identity = {**search_params, "proxy": s.proxy.key_fields()}
        key = cache_key({"search": identity, "clean_model": clean.key, "search_index": search_index.tolist()})
        checkpoint = cache_dir() / "pixel-poisoning" / f"search-{dataset}-{key}.json"
        proposed = registry.create(
            "poisoning",
            "gradcam-pixel",
            classifier,
            **search_params,
            checkpoint_path=checkpoint,
            replay_only=replay_only,
            progress=context.progress,
        )
        with context.stage(
            f"{dataset}: CMA-ES search seed {seed} ({s.generations} generations × {s.population_size})",
            timing=f"{dataset}: CMA-ES search (seed {seed})",
        ):
            proposed.fit(x_train[search_index], y_train[search_index])
        metrics[f"{dataset}/seed {seed}/proposed pixels"] = proposed.pixels()
        metrics[f"{dataset}/seed {seed}/search"] = {
            "budget": f"{s.generations} generations × {s.population_size} candidates",
            "best gap per generation": [-min(g["fitness"]) for g in proposed.history_],
            "mean gap per generation": [-float(np.mean(g["fitness"])) for g in proposed.history_],
            "final candidate gaps (re-evaluations)": proposed.final_gaps_,
            "allowed pixels per class": proposed.allowed_.reshape(len(proposed.allowed_), -1).sum(1).tolist(),
            "resumed generations": proposed.resumed_generations_,
        }
        return proposed

    @staticmethod
    def _apply(poison, x, y):
        return (x, y) if poison is None else poison.poison(x, y)

    # ---- Table 1 and Figure 1 -----------------------------------------------------------------

    def _table1_error(self, context, dataset, seed, row, poison, x_train, y_train, x_test, y_test):
        """Test and training error (%) of the paper-cnn of run ``seed`` trained on the poison of
        ``row`` (None: clean data); training error on a fixed ``train_error_size`` sample."""
        s = context.settings
        error_index = np.sort(
            np.random.default_rng(1).choice(len(x_train), size=min(s.train_error_size, len(x_train)), replace=False)
        )
        x_poisoned, _ = self._apply(poison, x_train, y_train)
        trained = context.train(s.cnn_spec(dataset), x_poisoned, y_train, seed=seed, label=f"on {row}")
        classifier = context.classifier(trained.model)
        cell = {
            "test": [100 * (1 - accuracy(classifier, x_test, y_test))],
            "train": [100 * (1 - accuracy(classifier, x_poisoned[error_index], y_train[error_index]))],
        }
        logger.info(
            "%s, %s, seed %d: test error %.2f%%, training error %.2f%%",
            dataset,
            row,
            seed,
            cell["test"][0],
            cell["train"][0],
        )
        return cell

    def _figure1(self, context, dataset, proposed, x_train, y_train, x_test, y_test):
        s = context.settings
        x_poisoned, _ = proposed.poison(x_train, y_train)
        out: dict[str, list[float]] = {}
        for optimizer in s.optimizers:
            for seed in context.seeds[: s.figure1_seeds]:
                trained = context.train(
                    s.cnn_spec(dataset, optimizer=optimizer), x_poisoned, y_train, seed=seed, label="on Proposed"
                )
                out.setdefault(optimizer, []).append(100 * accuracy(context.classifier(trained.model), x_test, y_test))
        return out

    def _training_length(self, context, dataset, poisons, x_train, y_train, x_test, y_test):
        """Test error (%) after each of 1..``length_epochs`` epochs, per poison in LENGTH_ROWS."""
        s = context.settings
        epochs = s.epochs("length_epochs", dataset)
        seed = context.seeds[0]
        out: dict[str, list[float]] = {}
        for row in LENGTH_ROWS:
            x_poisoned, _ = self._apply(poisons[row][0], x_train, y_train)
            # One run stores every shorter run as a snapshot; the loop below loads them.
            context.train(
                s.cnn_spec(dataset, epochs),
                x_poisoned,
                y_train,
                seed=seed,
                snapshot_epochs=range(1, epochs),
                label=f"on {row}",
            )
            for k in range(1, epochs + 1):
                trained = context.train(s.cnn_spec(dataset, k), x_poisoned, y_train, seed=seed, label=f"on {row}")
                out.setdefault(row, []).append(100 * (1 - accuracy(context.classifier(trained.model), x_test, y_test)))
        return out

    # ---- Table 2 ------------------------------------------------------------------------------

    def _table2_error(self, context, name, poison, x_train, y_train, x_test, y_test) -> dict[str, float]:
        """Test error (%) of one scikit-learn model trained on the seeded ``baseline_train_size``
        subset with ``poison`` applied (None: clean); the unit's wall time is the engine's record."""
        s = context.settings
        size = min(s.baseline_train_size[name], len(x_train))
        index = np.sort(np.random.default_rng(2).choice(len(x_train), size=size, replace=False))
        x_poisoned, y_sub = self._apply(poison, x_train[index], y_train[index])
        estimator = registry.create("estimator", name, **s.baselines[name])
        estimator.fit(x_poisoned, y_sub)
        error = 100 * float(np.mean(estimator.predict(x_test).argmax(1) != y_test))
        logger.info("table 2: %s on %d images: test error %.2f%%", name, size, error)
        return {"error": error}

    # ---- report -------------------------------------------------------------------------------

    def _report(self, context, results, table1, table2, figure1, length):
        s = context.settings
        for dataset, rows in table1.items():
            paper = PAPER_TABLE1[_paper_key(dataset)]
            label = _dataset_label(dataset)
            for row in POISONS:
                results.add_cell(
                    TABLE1,
                    row,
                    label,
                    rows[row]["test"],
                    paper=paper[row][0],
                )
                results.add_cell(
                    TABLE1_TRAIN,
                    row,
                    label,
                    rows[row]["train"],
                    paper=0.0,
                )
        if table2 is not None:
            for name, rows in table2.items():
                for row in POISONS:
                    results.add_cell(
                        _table2_title(s),
                        BASELINE_LABELS[name],
                        row,
                        rows[row],
                        paper=PAPER_TABLE2[name][row],
                    )
        for dataset, by_optimizer in figure1.items():
            for optimizer, values in by_optimizer.items():
                results.add_cell(
                    "Figure 1: clean test accuracy (%) of paper-cnn trained on proposed-poisoned data",
                    OPTIMIZER_LABELS[optimizer],
                    _dataset_label(dataset),
                    values,
                )
        self._figure(results, figure1)
        for dataset, by_row in length.items():
            for row, errors in by_row.items():
                for k, error in enumerate(errors, start=1):
                    results.add_cell(
                        f"Training length: paper-cnn test error (%) after each epoch (seed {context.seeds[0]}; "
                        f"Table 1 trains {s.epochs('cnn_epochs', dataset)})",
                        f"{_dataset_label(dataset)}, {row}",
                        f"{k}",
                        error,
                    )
        self._length_figure(results, length)

        for dataset, rows in table1.items():
            test = {row: MeanStd(tuple(rows[row]["test"])) for row in POISONS}
            label = _dataset_label(dataset)
            n_test = results.metrics[f"{dataset}/sizes"]["test"]
            for other in ("Random", "Jacobsen"):
                results.add_claim(
                    f"{label}: the proposed poison gives a higher CNN test error than the "
                    f"{'random pixel' if other == 'Random' else 'class pixel (Jacobsen)'}",
                    claims.greater(claims.compare(rows["Proposed"]["test"], rows[other]["test"], n=n_test)),
                    f"proposed {test['Proposed'].format()}%, {other.lower()} {test[other].format()}%",
                )
        if table2 is not None:
            mnist = next(d for d in table1 if d.startswith("mnist"))
            n_test = results.metrics[f"{mnist}/sizes"]["test"]
            linear = table2["linear-svm"]
            paper = PAPER_TABLE2["linear-svm"]["Proposed"]
            results.add_claim(
                f"the proposed poison breaks the linear SVM: the paper's {paper}% test error",
                claims.at_scale(
                    claims.at_least(Estimate.measure(linear["Proposed"], n=n_test), paper), context.paper_scale
                ),
                f"clean {MeanStd(tuple(linear['Clean'])).format()}%, proposed "
                f"{MeanStd(tuple(linear['Proposed'])).format()}%",
            )
            for name in ("rbf-svm", "random-forest"):
                errors = table2[name]
                paper = PAPER_TABLE2[name]["Proposed"]
                results.add_claim(
                    f"{BASELINE_LABELS[name]} resists: test error under the proposed poison at most the paper's "
                    f"{paper}%",
                    claims.at_scale(
                        claims.at_most(Estimate.measure(errors["Proposed"], n=n_test), paper), context.paper_scale
                    ),
                    f"clean {MeanStd(tuple(errors['Clean'])).format()}%, proposed "
                    f"{MeanStd(tuple(errors['Proposed'])).format()}%",
                )
        for dataset, by_optimizer in figure1.items():
            mean = {o: float(np.mean(v)) for o, v in by_optimizer.items()}
            n_test = results.metrics[f"{dataset}/sizes"]["test"]
            if set(mean) >= {"adam", "sgd", "rmsprop", "adabound"}:

                def better(a: str, b: str, by_optimizer=by_optimizer, n_test=n_test) -> claims.Decision:
                    return claims.greater(claims.compare(by_optimizer[a], by_optimizer[b], n=n_test))

                results.add_claim(
                    f"{_dataset_label(dataset)}, Figure 1: SGD resists best, AdaBound next, Adam and RMSProp worst "
                    "(clean test accuracy)",
                    claims.all_of(
                        [better("sgd", "adabound"), better("adabound", "adam"), better("adabound", "rmsprop")]
                    ),
                    ", ".join(f"{OPTIMIZER_LABELS[o]} {v:.1f}%" for o, v in mean.items()),
                )
        self._notes(context, results, table1, table2, length)

    def _report_variants(self, context, results, table1, variants) -> None:
        """The random-pixel variants beside Table 1's Random row and the proposed poison."""
        s = context.settings
        table = (
            "Random-pixel variants: paper-cnn test error (%) on the clean test set "
            f"(Table 1's Random: {s.random_variant})"
        )
        for dataset, by_variant in variants.items():
            label = _dataset_label(dataset)
            for name in s.random_variants:
                results.add_cell(table, name, label, by_variant[name]["test"])
            proposed = table1[dataset]["Proposed"]["test"]
            beaten = [name for name in s.random_variants if np.mean(by_variant[name]["test"]) >= np.mean(proposed)]
            intensities = {
                name: [
                    p["intensity"]
                    for seed in context.seeds
                    for p in results.metrics[f"{dataset}/seed {seed}/random pixels ({name})"]
                ]
                for name in s.random_variants
            }
            results.add_note(
                f"{label}, random-pixel variants (mean test error over seeds): "
                + ", ".join(f"{name} {np.mean(by_variant[name]['test']):.1f}%" for name in s.random_variants)
                + f"; proposed {np.mean(proposed):.1f}%. "
                + (
                    f"Variants at least as strong as the proposed poison: {', '.join(beaten)}."
                    if beaten
                    else "The proposed poison is stronger than every variant."
                )
                + " Lowest class intensity per variant: "
                + ", ".join(f"{name} {min(values):.3f}" for name, values in intensities.items())
                + "."
            )

    def _explain_misses(self, context, results, table1, table2, length, variants) -> None:
        """Reasons, from this run's measurements or the protocol, for the cells that can miss the paper
        (``table.md`` shows them only beside cells that do)."""
        s = context.settings
        cells = {(cell.table, cell.row, cell.column): cell for cell in results.cells}
        for dataset, rows in table1.items():
            label = _dataset_label(dataset)
            paper = {row: mean for row, (mean, _) in PAPER_TABLE1[_paper_key(dataset)].items()}
            epochs = s.epochs("cnn_epochs", dataset)
            results.explain_misses(
                TABLE1_TRAIN,
                f"The paper gives no training length, only that training errors are close to 0%; paper-cnn trains "
                f"{epochs} epoch(s) here ({s.optimizer}, batch {s.batch_size}).",
                columns=[label],
            )
            for row in POISONS:
                # the paper's models fit their (poisoned) training set; where ours do not, the test error says so too
                train = cells[(TABLE1_TRAIN, row, label)]
                if train.within_tolerance is False:
                    results.explain_misses(
                        TABLE1,
                        f"These models' training error on the poisoned training set is {train.stats.mean:.2f}% "
                        "(Table 1 (extra); the paper's: close to 0%).",
                        rows=[row],
                        columns=[label],
                    )
            for row, errors in length[dataset].items():
                at_table1 = min(epochs, len(errors))
                closest = int(np.argmin([abs(error - paper[row]) for error in errors]))
                results.explain_misses(
                    TABLE1,
                    f"Training length (seed {context.seeds[0]}): {errors[at_table1 - 1]:.1f}% test error after "
                    f"{at_table1} epoch(s) (Table 1 trains {epochs}), {errors[-1]:.1f}% after {len(errors)}; of epochs "
                    f"1–{len(errors)}, the closest to the paper's {paper[row]:.1f}% is {errors[closest]:.1f}% "
                    f"(epoch {closest + 1}).",
                    rows=[row],
                    columns=[label],
                )
            means = {name: float(np.mean(variants[dataset][name]["test"])) for name in s.random_variants}
            nearest = min(means, key=lambda name: abs(means[name] - paper["Random"]))
            within = tolerance(f"{TABLE1} {label}", paper["Random"])
            results.explain_misses(
                TABLE1,
                f"The paper does not say how its random pixel is drawn (this row: {s.random_variant!r}); of the "
                f"{len(means)} random-pixel variant(s) measured here, the closest to the paper's "
                f"{paper['Random']:.1f}% is {nearest!r} at {means[nearest]:.1f}% (mean over seeds), "
                f"{'within' if abs(means[nearest] - paper['Random']) <= within else 'outside'} ±{within:g} points.",
                rows=["Random"],
                columns=[label],
            )
            searches = [results.metrics[f"{dataset}/seed {seed}/search"] for seed in context.seeds]
            proposed = rows["Proposed"]
            results.explain_misses(
                TABLE1,
                f"The paper gives no search budget; ours ({s.generations} generations × {s.population_size}, a "
                f"{s.proxy_arch} proxy trained {s.proxy_epochs} epoch(s)) finds poisons whose proxy gap (clean "
                "validation error − poisoned training error) is "
                + "/".join(f"{100 * np.mean(g['final candidate gaps (re-evaluations)']):.1f}" for g in searches)
                + f" points per seed ({'/'.join(map(str, context.seeds))}); paper-cnn's gap on them (clean test "
                "error − poisoned training error) is "
                + "/".join(f"{test - fit:.1f}" for test, fit in zip(proposed["test"], proposed["train"]))
                + " points.",
                rows=["Proposed"],
                columns=[label],
            )
        if table2 is not None:
            mnist = next(d for d in table1 if d.startswith("mnist"))
            n_train = results.metrics[f"{mnist}/sizes"]["train"]
            for name, rows in table2.items():
                model = BASELINE_LABELS[name]
                size = min(s.baseline_train_size[name], n_train)
                if size < n_train:
                    results.explain_misses(
                        _table2_title(s),
                        f"{model} trains on a seeded {size:,}-image subset of the {n_train:,} training images.",
                        rows=[model],
                    )
                for row in POISONS[1:]:
                    # Table 2 uses Table 1's poisons: where they miss the paper the same way on the CNN, say so
                    cnn = cells[(TABLE1, row, _dataset_label(mnist))]
                    higher = cnn.stats.mean > cnn.paper
                    if cnn.within_tolerance is False and higher == (np.mean(rows[row]) > PAPER_TABLE2[name][row]):
                        results.explain_misses(
                            _table2_title(s),
                            f"The same poisons give paper-cnn a {'higher' if higher else 'lower'} test error than "
                            f"the paper's too (Table 1: {cnn.stats.mean:.1f}% against {cnn.paper:.1f}%).",
                            rows=[model],
                            columns=[row],
                        )

    def _figure(self, results, figure1):
        figure = Figure(figsize=(4 + 2 * len(figure1), 3.5))
        axes = np.atleast_1d(figure.subplots(1, len(figure1)))
        for ax, (dataset, by_optimizer) in zip(axes, figure1.items()):
            names = list(by_optimizer)
            means = [float(np.mean(by_optimizer[o])) for o in names]
            ax.bar([OPTIMIZER_LABELS[o] for o in names], means, color="tab:blue")
            for i, value in enumerate(means):
                ax.text(i, value + 1, f"{value:.1f}", ha="center", fontsize=8)
            ax.set_ylim(0, 105)
            ax.set_ylabel("clean test accuracy (%)")
            ax.set_title(f"{_dataset_label(dataset)}: trained on proposed-poisoned data", fontsize=9)
        figure.suptitle("Figure 1: optimizers vs the single-pixel poison", fontsize=10)
        results.add_figure("figure1_optimizers", figure)

    def _length_figure(self, results, length):
        figure = Figure(figsize=(4 + 2 * len(length), 3.5))
        axes = np.atleast_1d(figure.subplots(1, len(length)))
        for ax, (dataset, by_row) in zip(axes, length.items()):
            paper = PAPER_TABLE1[_paper_key(dataset)]
            for (row, errors), color in zip(by_row.items(), ("tab:orange", "tab:red")):
                ax.plot(range(1, len(errors) + 1), errors, marker="o", color=color, label=f"{row} (ours)")
                ax.axhline(paper[row][0], color=color, linestyle="--", linewidth=1, label=f"{row} (paper)")
            ax.set_ylim(0, 100)
            ax.set_xlabel("training epochs")
            ax.set_ylabel("clean test error (%)")
            ax.set_title(_dataset_label(dataset), fontsize=9)
            ax.legend(fontsize=7)
        figure.suptitle("paper-cnn test error vs training length on poisoned data", fontsize=10)
        results.add_figure("training_length", figure)

    def _notes(self, context, results, table1, table2, length):
        s = context.settings
        results.add_note(f"Preset {context.preset.name}: {context.preset.description}.")
        results.add_note(
            f"Search budget per dataset: {s.generations} generations × population {s.population_size} "
            f"({s.generations * s.population_size} proxy trainings + {s.reevaluations} re-evaluations of the final "
            f"mean), on {s.search_size:,} training images ({1 - s.validation_fraction:.0%} poisoned for the proxy, "
            f"{s.validation_fraction:.0%} kept clean for the validation error). Proxy: {s.proxy_arch}, "
            f"{s.proxy_epochs} epochs, {s.proxy_optimizer} (lr {s.proxy_lr or 'default'}), batch "
            f"{s.proxy_batch_size}; fitness = −(clean validation error − poisoned training error), the same training "
            "seed for all candidates of a generation; the result is CMA-ES's distribution mean after the last "
            "generation. One search per seed (run). The paper gives no budget, nor a proxy: the paper preset's "
            "lenet5 proxy won against the linear one at this budget (benchmarks/proxy_comparison.py; its output in "
            "docs/benchmarks/proxy-comparison.md)."
        )
        results.add_note(
            f"GradCAM: captum LayerGradCam on {s.gradcam_layer} of the run's clean paper-cnn, true-label target, "
            f"ReLU, bilinear upsampling; per-class mean map; pixels allowed where the mean map < {s.threshold} × its "
            "max."
        )
        placement = s.class_pixel
        results.add_note(
            f"Baselines: random pixel = {s.random_variant!r} (see the variants table): one uniform position per "
            "class (distinct per class) and its intensity, drawn with the run's seed; class pixel (Jacobsen et al. "
            f"2018 style) = class k at row {placement['row']}, column "
            f"{placement['first_col']} + {placement['col_step']}·k, intensity {placement['intensity']} (our "
            "placement: background in MNIST). Every poison is applied to every training image; the test set stays "
            "clean."
        )
        results.add_note(
            f"CNN: paper-cnn, {s.optimizer} (artx defaults), {_per_dataset(s.cnn_epochs)} epochs, batch "
            f"{s.batch_size}, one model "
            f"per seed and poison; training error on {s.train_error_size:,} poisoned training images. Figure 1: the "
            "same with each optimizer (artx.training defaults: Adam 1e-3, SGD 1e-2 momentum 0.9, RMSProp 1e-3, "
            f"AdaBound 1e-3 → 0.1), the first run's proposed poison, {s.figure1_seeds} seed(s)."
        )
        if table2 is not None:
            params = s.baselines
            results.add_note(
                f"Table 2 models (scikit-learn, flattened pixels): Lin-SVM = LinearSVC(C={params['linear-svm']['C']}, "
                f"squared hinge, max_iter={params['linear-svm']['max_iter']}); RBF-SVM = "
                f"SVC(C={params['rbf-svm']['C']}, gamma={params['rbf-svm']['gamma']!r}, "
                f"probability={params['rbf-svm']['probability']}); Random Forest = "
                f"{params['random-forest']['n_estimators']} trees, unlimited depth, sqrt features. Training subsets "
                "(seeded draw): "
                + ", ".join(f"{BASELINE_LABELS[n]} {s.baseline_train_size[n]:,}" for n in params)
                + " images; tested on the whole clean test set. Each poisoned row is the mean ± std over the runs, "
                "each model trained on its own run's poison (found with the CNN); the clean row is one fit."
            )
        for dataset in table1:
            searches = [results.metrics[f"{dataset}/seed {seed}/search"] for seed in context.seeds]
            window = max(1, min(5, len(searches[0]["mean gap per generation"]) // 2))

            def per_seed(value, searches=searches) -> str:
                return "/".join(f"{value(search):.3f}" for search in searches)

            results.add_note(
                f"{_dataset_label(dataset)} search, per seed ({'/'.join(map(str, context.seeds))}): mean proxy gap of "
                f"the candidates {per_seed(lambda g, window=window: np.mean(g['mean gap per generation'][:window]))} "
                f"in the first {window} generation(s), "
                f"{per_seed(lambda g, window=window: np.mean(g['mean gap per generation'][-window:]))} in the last "
                f"{window}; best single candidate {per_seed(lambda g: max(g['best gap per generation']))}; the final "
                "distribution mean re-evaluated with fresh training seeds "
                f"{per_seed(lambda g: np.mean(g['final candidate gaps (re-evaluations)']))}; the run's paper-cnn test "
                "error (Table 1, Proposed) "
                + "/".join(f"{e:.1f}%" for e in table1[dataset]["Proposed"]["test"])
                + " (the proxy's gap is the search's only signal: where the two orders disagree, the proxy misjudges "
                "the CNN). Each generation trains with its own seed, so generation-to-generation changes mix search "
                "progress and training noise."
            )
        for dataset, rows in table1.items():
            paper = PAPER_TABLE1[_paper_key(dataset)]
            gaps = ", ".join(
                f"{row} {np.mean(rows[row]['test']) - paper[row][0]:+.1f} (ours "
                f"{MeanStd(tuple(rows[row]['test'])).format(1)}, paper {paper[row][0]:.1f} ± {paper[row][1]:.1f})"
                for row in POISONS
            )
            train_max = max(max(rows[row]["train"]) for row in POISONS)
            results.add_note(
                f"{_dataset_label(dataset)}: ours − paper (test error points): {gaps}; the highest training error of "
                f"any model is {train_max:.2f}% (paper: close to 0%). CNNs trained {s.epochs('cnn_epochs', dataset)} "
                "epochs" + (" on the 4,000-image subset" if dataset == "mnist-5k" else "") + "."
            )
        for dataset, by_row in length.items():
            paper = PAPER_TABLE1[_paper_key(dataset)]
            epochs = s.epochs("length_epochs", dataset)
            at_table1 = min(s.epochs("cnn_epochs", dataset), epochs)
            curves = "; ".join(
                f"{row} {errors[at_table1 - 1]:.1f}% after {at_table1} → {errors[-1]:.1f}% after {epochs} (highest "
                f"{max(errors):.1f}%; paper {paper[row][0]:.1f}%)"
                for row, errors in by_row.items()
            )
            results.add_note(
                f"{_dataset_label(dataset)}, training length (seed {context.seeds[0]}, test error): {curves}. The "
                "part of the gap to the paper that longer training closes is the part due to Table 1's short "
                "training; the rest is not explained by training length."
            )


if __name__ == "__main__":
    from artx.cli import main

    sys.exit(main(["reproduce", "pixel-poisoning", *sys.argv[1:]]))
