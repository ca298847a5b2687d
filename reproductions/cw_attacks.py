"""``artx reproduce cw-attacks``: Carlini & Wagner (2017), "Towards Evaluating the Robustness of Neural
Networks", as the survey slides of seed 004 present it (spec: ``paper-specs-003-004.md``, B2, B3, B5, B6):
Table IV's MNIST columns, Figures 3–5 and the claims.

Plugins by registry name only: the zoo model ``cw-mnist`` (C&W's Table I), the plugins
``cw-l0-reference``, ``cw-l2-reference``, ``cw-linf-reference`` (C&W's algorithms as published),
``jsma-z``, ``jsma-f`` (Papernot et al.'s pairwise saliency map), ``fgsm-min``, ``igs-min`` (the
smallest ε per image, as C&W report FGS and IGS), and the stock ART attacks ``deepfool``,
``cw-l0``, ``cw-l2``, ``cw-linf`` and ``jsma`` (rows beside ours: they are not the papers' algorithms).

Protocol, per seed:

1. **Net**: ``cw-mnist`` trained per C&W's Table II (SGD, lr 0.1, momentum 0.9, dropout 0.5, batch
   128, ``epochs`` epochs): the same training spec, hence the same trained-model cache entry, as the
   undistilled net of the ``defensive-distillation`` reproduction.
2. **Attack set**: the first ``attack_images`` test images the net classifies correctly.
3. **Table IV**: every targeted attack from each image to each of the nine other classes. C&W's
   cases, per image: *best* = the target reached with the least distortion (a success when some
   target succeeds), *average* = a target drawn a priori with the seed, uniformly among the nine,
   *worst* = the target needing the most distortion (a failure when any target fails). Success:
   the net predicts the target on the returned image. Distortion: the attack's own norm of
   ``x′ − x`` (L0 = pixels changed, L2, L∞), its mean over the successes only (the table's
   caption). DeepFool is untargeted: one run per image, reported as the best case (C&W's table).
   ART's stock attacks run the average case only (their row beside ours).
4. **Figures 3/4/5**: the L2, L0 and L∞ attacks from the first test image of each label to every
   other label (10 × 10 grids; the diagonal is the original). Where that image is in the attack
   set (in the paper preset every one is, when the net classifies it correctly), its nine attacks
   are Table IV's own, kept by the table unit, not run a second time; the figure units attack
   only the sources outside the attack set (the quick preset's five images hold few of them).

Distances: C&W's images lie in [−0.5, 0.5], artx's in [0, 1]: the same width, so L0, L2 and L∞
are directly comparable.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from artx import claims, registry
from artx.claims import Estimate
from artx.evaluation import first_correct, numpy_seed, perturbation_norms, predict_labels, reattack_misses
from artx.reproduction import Preset, Reproduction, RunContext, Settings, Unit
from artx.results import ResultsWriter
from artx.training import TrainingSpec

logger = logging.getLogger(__name__)

ARCH = "cw-mnist"
CASES = ("best", "average", "worst")
#: Table IV's rows in C&W's order, then ART's stock attacks: registry name → (label, norm).
ATTACKS = {
    "cw-l0-reference": ("Our L0", "l0"),
    "jsma-z": ("JSMA-Z", "l0"),
    "jsma-f": ("JSMA-F", "l0"),
    "cw-l2-reference": ("Our L2", "l2"),
    "deepfool": ("DeepFool (untargeted)", "l2"),
    "cw-linf-reference": ("Our L∞", "linf"),
    "fgsm-min": ("Fast Gradient Sign", "linf"),
    "igs-min": ("Iterative Gradient Sign", "linf"),
    "cw-l0": ("ART CarliniL0Method", "l0"),
    "jsma": ("ART SaliencyMapMethod", "l0"),
    "cw-l2": ("ART CarliniL2Method", "l2"),
    "cw-linf": ("ART CarliniLInfMethod", "linf"),
}
#: The targeted attacks run toward all nine other classes (the three cases).
ALL_TARGETS = (
    "cw-l0-reference",
    "jsma-z",
    "jsma-f",
    "cw-l2-reference",
    "cw-linf-reference",
    "fgsm-min",
    "igs-min",
)
#: ART's stock attacks: the average case only (a random target per image).
ART_STOCK = ("cw-l0", "jsma", "cw-l2", "cw-linf")
OURS = {"l0": "cw-l0-reference", "l2": "cw-l2-reference", "linf": "cw-linf-reference"}
#: The earlier attacks C&W compare with, per norm (B6: "beat DeepFool, FGS, IGS and JSMA").
EARLIER = {"l0": ("jsma-z", "jsma-f"), "l2": ("deepfool",), "linf": ("fgsm-min", "igs-min")}
NORM_LABELS = {"l0": "L0 (pixels)", "l2": "L2", "linf": "L∞"}
#: Figures 3/4/5 (C&W's numbering): L2, L0, L∞.
FIGURES = {"figure3": "cw-l2-reference", "figure4": "cw-l0-reference", "figure5": "cw-linf-reference"}

#: C&W's Table IV, MNIST columns: attack → case → (mean distance over successes, success %). A mean
#: of None is the paper's "-" (no success). DeepFool: best case only.
TABLE4: dict[str, dict[str, tuple[float | None, float]]] = {
    "cw-l0-reference": {"best": (8.5, 100.0), "average": (16.0, 100.0), "worst": (33.0, 100.0)},
    "jsma-z": {"best": (20.0, 100.0), "average": (56.0, 100.0), "worst": (180.0, 98.0)},
    "jsma-f": {"best": (17.0, 100.0), "average": (45.0, 100.0), "worst": (100.0, 100.0)},
    "cw-l2-reference": {"best": (1.36, 100.0), "average": (1.76, 100.0), "worst": (2.60, 100.0)},
    "deepfool": {"best": (2.11, 100.0)},
    "cw-linf-reference": {"best": (0.13, 100.0), "average": (0.16, 100.0), "worst": (0.23, 100.0)},
    "fgsm-min": {"best": (0.22, 100.0), "average": (0.26, 42.0), "worst": (None, 0.0)},
    "igs-min": {"best": (0.14, 100.0), "average": (0.19, 100.0), "worst": (0.26, 100.0)},
}
#: C&W §V: "MNIST achieved 99.5% accuracy".
CW_ACCURACY = 99.5
#: B6: "L0 and L2 attacks require 2x to 10x fewer modifications than previous attacks".
FEWER = (2.0, 10.0)

T_ACCURACY = "Clean test accuracy (%)"
T_TABLE4 = "Table IV (MNIST): targeted attacks on {n} test images, mean distance over successes and success (%)"
T_ART = "ART's stock attacks beside ours, average case (random target), {n} test images"
T_BUDGET = (
    "Reference attacks' misses (any target), the first {pairs} per unit of {chunk} images attacked again at "
    "{budget} iterations per constant"
)
T_REACH = "Targeted PGD on the reference attacks' misses (any target), at the paper's worst-case distance in their norm"
#: The reach check's PGD (ART's, cross-entropy loss): its norm per reference attack, iterations (step ε / 20) and
#: starts (the clean image, then random starts). Measured on defensive-distillation's undistilled net (its 17
#: reference-L∞ misses, e09de16): at ε = 0.23 one start reached 12, three starts all 17.
REACH_NORMS = {"cw-l2-reference": 2, "cw-linf-reference": np.inf}
REACH_ITERATIONS, REACH_STARTS = 200, 3
T_FIGURES = "Figures 3–5: first test image of each label → every other label (90 attacks)"


@dataclasses.dataclass(frozen=True)
class CWAttacksSettings(Settings):
    epochs: int = dataclasses.field(metadata={"doc": "epochs of cw-mnist (C&W Table II: 50)"})
    attack_images: int = dataclasses.field(metadata={"doc": "test images of Table IV (each × 9 targets)"})
    cw_l2: Mapping[str, Any] = dataclasses.field(metadata={"doc": "cw-l2-reference parameters"})
    cw_l0: Mapping[str, Any] = dataclasses.field(metadata={"doc": "cw-l0-reference parameters"})
    cw_linf: Mapping[str, Any] = dataclasses.field(metadata={"doc": "cw-linf-reference parameters"})
    optimizer: str = dataclasses.field(default="sgd", metadata={"doc": "C&W Table II (momentum 0.9)"})
    lr: float = dataclasses.field(default=0.1, metadata={"doc": "C&W Table II"})
    batch_size: int = dataclasses.field(default=128, metadata={"doc": "C&W Table II"})
    jsma_theta: float = dataclasses.field(default=1.0, metadata={"doc": "JSMA feature change θ (Papernot et al.)"})
    jsma_gamma: float = dataclasses.field(
        default=1.0,
        metadata={
            "doc": "JSMA budget γ (share of pixels it may change): 1 = no budget, since C&W's worst-case JSMA-Z mean "
            "(180 pixels) exceeds Papernot's 14.5% (114 pixels)"
        },
    )
    min_eps: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: {"eps_max": 1.0, "search_steps": 12},
        metadata={"doc": "fgsm-min / igs-min binary search of the smallest ε (plugin defaults)"},
    )
    igs: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: {"max_iter": 20},
        metadata={"doc": "igs-min iterations per ε (step ε / iterations; plugin defaults)"},
    )
    deepfool: Mapping[str, Any] = dataclasses.field(
        default_factory=dict, metadata={"doc": "ART DeepFool parameters (empty: ART's defaults)"}
    )
    art_cw: Mapping[str, Any] = dataclasses.field(
        default_factory=dict, metadata={"doc": "ART cw-l0/l2/linf parameters besides targeted=True (ART's defaults)"}
    )
    chunk_images: int = dataclasses.field(
        default=10, metadata={"doc": "images per Table IV unit (× 9 targets in one batched attack)"}
    )
    figure_chunk: int = dataclasses.field(default=5, metadata={"doc": "source labels per figure unit"})
    budget_check_iter: int | None = dataclasses.field(
        default=None,
        metadata={
            "doc": "max_iter of a second attack on a reference attack's Table IV misses when it ran with fewer "
            "(None: no second attack): how many of its misses the iteration budget explains"
        },
    )
    budget_check_pairs: int = dataclasses.field(
        default=2, metadata={"doc": "misses per Table IV unit attacked again (the first, image by image)"}
    )
    reach_check: bool = dataclasses.field(
        default=True,
        metadata={
            "doc": "give the reference L2/L∞ attacks' Table IV misses to targeted PGD (ART, cross-entropy) at the "
            "paper's worst-case distance in that norm: a hit shows the target lies within C&W's own worst case"
        },
    )
    reach_iterations: int = dataclasses.field(
        default=REACH_ITERATIONS, metadata={"doc": "the reach check's PGD iterations per start (step ε / 20)"}
    )
    reach_starts: int = dataclasses.field(
        default=REACH_STARTS, metadata={"doc": "the reach check's PGD starts (the clean image, then random starts)"}
    )
    figures: bool = dataclasses.field(default=True, metadata={"doc": "compute Figures 3–5"})
    train_limit: int | None = None
    test_limit: int | None = None

    def __post_init__(self) -> None:
        for name in (
            "attack_images",
            "chunk_images",
            "figure_chunk",
            "epochs",
            "budget_check_pairs",
            "reach_iterations",
            "reach_starts",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int ≥ 1; got {value!r}")
        if not isinstance(self.reach_check, bool):
            raise ValueError(f"reach_check must be a bool; got {self.reach_check!r}")
        budget = self.budget_check_iter
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
            raise ValueError(f"budget_check_iter must be None or an int ≥ 1; got {budget!r}")

    @property
    def net(self) -> TrainingSpec:
        """C&W's Table II training (the defensive-distillation reproduction's undistilled net)."""
        return TrainingSpec(ARCH, epochs=self.epochs, optimizer=self.optimizer, lr=self.lr, batch_size=self.batch_size)

    def reference_params(self, attack: str) -> Mapping[str, Any]:
        return {"cw-l2-reference": self.cw_l2, "cw-l0-reference": self.cw_l0, "cw-linf-reference": self.cw_linf}[attack]


QUICK = CWAttacksSettings(
    # the defensive-distillation quick preset's undistilled net (same spec: one cache entry)
    epochs=6,
    attack_images=5,
    # 5 binary-search steps from c = 0.1 (the reference: 9 from 1e-3), 200 iterations each (10,000), at
    # Adam step 0.05 (the reference: 0.01), set by this argument: a background pixel sits at w = artanh(−0.999999)
    # ≈ −7.25 in C&W's tanh space, so 200 steps of ~0.01 cannot bring it to mid-grey (checked afterwards on
    # the quick cw-attacks net's first 5 test images × 9 targets: 56% success at 0.01, 100% at 0.05)
    cw_l2={"binary_search_steps": 5, "max_iter": 200, "initial_const": 0.1, "learning_rate": 0.05},
    cw_l0={"max_iter": 100},
    cw_linf={"max_iter": 100},
    chunk_images=5,
    # one figure unit per attack (the figures' sources outside the attack set in one batch): timed as the README
    # runs it, serially on an idle 2-core machine from an empty cache, 10.0 min with 5 labels per unit (the
    # issue's limit), 9.5 min with 10 (`--workers 2`: 5.5 min)
    figure_chunk=10,
)
# C&W's L2 at its reference class default, 10,000 iterations per binary-search step (CarliniL2's
# MAX_ITERATIONS; their example harness test_attack.py runs 1,000; the slides give none), as the
# defensive-distillation paper preset, on the same net. Chosen on held-out test images, never on the
# attack set: `python benchmarks/cw_budget.py --data-dir ../shared/data` on this preset's 50-epoch net, the
# last 20 correctly classified test images (9980-9999), seeded targets, 9 binary steps from c = 1e-3:
# 1,000 iterations → 14/20 hits (mean L2 0.914, 91 s); 10,000 → 18/20 (0.948, 577 s: 6.3× the time).
# L0 and L∞ keep their reference defaults (1,000 per constant); the first two misses of each unit of 10
# images are attacked again at 10,000 (budget_check_iter), so the notes say how much of a gap the budget
# explains (all misses would cost ~460 s each for L0: the sample keeps it to ~20 per attack).
# Measured per image at 1,000 iterations (batch 10, 3 processes on 2 cores): cw-l2-reference (9 x 1,000)
# ~10 s, cw-linf-reference ~28 s, cw-l0-reference ~46 s; one cw-mnist epoch on 60,000 images ~40 s alone,
# ~60 s with a second process.
PAPER_SETTINGS = CWAttacksSettings(
    epochs=50,
    attack_images=100,
    cw_l2={"binary_search_steps": 9, "max_iter": 10_000, "initial_const": 1e-3},
    cw_l0={"max_iter": 1000},
    cw_linf={"max_iter": 1000},
    budget_check_iter=10_000,
)


def _chunk_ranges(s: CWAttacksSettings) -> list[tuple[int, int]]:
    """The Table IV units' ranges of attack-set positions: ``chunk_images`` at a time."""
    return [(a, min(a + s.chunk_images, s.attack_images)) for a in range(0, s.attack_images, s.chunk_images)]


def _figure_sources(context: RunContext) -> list[int]:
    """Figures 3–5's sources: the test index of the first test image of each label."""
    _, y = context.load("test", limit=context.settings.test_limit)
    return [int(np.flatnonzero(y == label)[0]) for label in range(context.nb_classes)]


class CWAttacksReproduction(Reproduction):
    name = "cw-attacks"
    title = "Carlini & Wagner (2017), 'Towards Evaluating the Robustness of Neural Networks': Table IV (MNIST)"
    presets = {
        "quick": Preset(
            "quick",
            "mnist-5k",
            "embedded 5k MNIST subset (4,000 train / 1,000 test); 6 epochs instead of 50; 5 attacked images × 9 "
            "targets; C&W reference attacks with far fewer iterations than the paper's (see settings)",
            seeds=1,
            settings=QUICK,
        ),
        "paper": Preset(
            "paper",
            "mnist",
            "full MNIST (60,000 train / 10,000 test); C&W Tables I/II, 50 epochs; 100 attacked images × 9 targets; "
            "C&W's reference attack settings (L2 9 × 10,000 iterations, L0 and L∞ 1,000 per constant); the first "
            "2 misses per 10 images of L0 / L∞ attacked again at 10,000",
            seeds=1,
            settings=PAPER_SETTINGS,
        ),
    }

    # ---- units -----------------------------------------------------------------------------------

    def units(self, context: RunContext) -> list[Unit]:
        """Per seed: phase 0 trains the net; phase 1 runs the attacks in image chunks (costliest first)."""
        s: CWAttacksSettings = context.settings
        chunks = _chunk_ranges(s)
        units = [Unit(f"seed {seed} · train", {"seed": seed, "part": "train"}) for seed in context.seeds]
        for seed in context.seeds:
            if s.figures:
                for figure, attack in sorted(FIGURES.items(), key=lambda item: item[1] != "cw-l0-reference"):
                    for first in range(0, context.nb_classes, s.figure_chunk):
                        last = min(first + s.figure_chunk, context.nb_classes)
                        units.append(
                            Unit(
                                f"seed {seed} · {figure} · labels {first}–{last - 1}",
                                {"seed": seed, "part": "figure", "attack": attack, "labels": [first, last]},
                                phase=1,
                            )
                        )
            for attack in (*ALL_TARGETS, "deepfool", *ART_STOCK):
                for start, stop in chunks:
                    units.append(self._table_unit(seed, attack, start, stop))
        return units

    @staticmethod
    def _table_unit(seed: int, attack: str, start: int, stop: int) -> Unit:
        args = {"seed": seed, "part": "table", "attack": attack, "images": [start, stop]}
        return Unit(f"seed {seed} · {attack} · images {start}–{stop - 1}", args, phase=1)

    def run_unit(self, context: RunContext, unit: Unit) -> dict[str, Any]:
        args = unit.args
        part, seed = args["part"], args["seed"]
        if part == "train":
            return self._train(context, seed)
        classifier = self._net(context, seed)
        if part == "table":
            return self._table(context, seed, classifier, args["attack"], *args["images"])
        if part == "figure":
            return self._figure_unit(context, seed, classifier, args["attack"], *args["labels"])
        raise ValueError(f"unknown unit part {part!r}")

    # ---- net and attack set ----------------------------------------------------------------------

    def _train(self, context: RunContext, seed: int) -> dict[str, Any]:
        s: CWAttacksSettings = context.settings
        x, y = context.load("train", limit=s.train_limit)
        trained = context.train(s.net, x, y, seed=seed, label=ARCH)
        x_test, y_test = context.load("test", limit=s.test_limit)
        accuracy = 100.0 * float(np.mean(predict_labels(self._net(context, seed), x_test) == y_test))
        return {"train_seconds": trained.train_seconds, "history": trained.history, "accuracy": accuracy}

    def _net(self, context: RunContext, seed: int) -> Any:
        """The trained net of ``seed`` (from the cache) as an ART classifier."""
        s: CWAttacksSettings = context.settings
        x, y = context.load("train", limit=s.train_limit)
        return context.classifier(context.train(s.net, x, y, seed=seed, label=ARCH).model)

    def _attack_set(self, context: RunContext, seed: int, classifier: Any) -> dict[str, np.ndarray]:
        """The first ``attack_images`` correctly classified test images and each one's average-case target."""
        s: CWAttacksSettings = context.settings
        x, y = context.load("test", limit=s.test_limit)
        # drawn for the whole test set a priori, so a target does not depend on the net or on N
        targets = (y + np.random.default_rng([seed, 2017]).integers(1, context.nb_classes, size=len(y))) % (
            context.nb_classes
        )
        index = first_correct([classifier], x, y, s.attack_images)
        if len(index) < s.attack_images:
            raise ValueError(f"only {len(index)} test images are classified correctly; need {s.attack_images}")
        return {"index": index, "x": x[index], "y": y[index], "target": targets[index].astype(np.int64)}

    # ---- attacks ---------------------------------------------------------------------------------

    def _make_attack(
        self, context: RunContext, classifier: Any, attack: str, batch: int, max_iter: int | None = None
    ) -> Any:
        s: CWAttacksSettings = context.settings
        if attack in ("jsma-z", "jsma-f"):
            return registry.create(
                "evasion", attack, classifier, theta=s.jsma_theta, gamma=s.jsma_gamma, batch_size=batch
            )
        if attack == "jsma":
            return registry.create(
                "evasion", "jsma", classifier, theta=s.jsma_theta, gamma=s.jsma_gamma, batch_size=batch, verbose=False
            )
        if attack == "fgsm-min":
            return registry.create("evasion", attack, classifier, targeted=True, batch_size=batch, **s.min_eps)
        if attack == "igs-min":
            return registry.create("evasion", attack, classifier, targeted=True, batch_size=batch, **s.min_eps, **s.igs)
        if attack == "deepfool":
            return registry.create("evasion", "deepfool", classifier, batch_size=batch, verbose=False, **s.deepfool)
        if attack in ("cw-l0", "cw-l2", "cw-linf"):
            return registry.create(
                "evasion", attack, classifier, targeted=True, batch_size=batch, verbose=False, **s.art_cw
            )
        params = {**s.reference_params(attack), **({} if max_iter is None else {"max_iter": max_iter})}
        return registry.create("evasion", attack, classifier, targeted=True, batch_size=batch, **params)

    def _run(
        self, context: RunContext, classifier: Any, attack: str, x: np.ndarray, target: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Attack ``x`` toward ``target`` (None: untargeted, away from the prediction) in one batched call;
        return the per-image success, the distortion in the attack's norm and the adversarial images."""
        instance = self._make_attack(context, classifier, attack, batch=len(x))
        if target is None:
            x_adv = instance.generate(x).astype(np.float32)
            clean = predict_labels(classifier, x)
            success = predict_labels(classifier, x_adv) != clean
        else:
            onehot = np.eye(context.nb_classes, dtype=np.float32)[target]
            x_adv = instance.generate(x, y=onehot).astype(np.float32)
            success = predict_labels(classifier, x_adv) == target
        return success, getattr(perturbation_norms(x, x_adv), ATTACKS[attack][1]).astype(np.float64), x_adv

    def _table(self, context: RunContext, seed: int, classifier: Any, attack: str, start: int, stop: int):
        chosen = self._attack_set(context, seed, classifier)
        x, y, average = chosen["x"][start:stop], chosen["y"][start:stop], chosen["target"][start:stop]
        k = context.nb_classes
        if attack in ALL_TARGETS:
            # each image toward each of the other classes, all in one batch: row i, column t
            others = np.array([[t for t in range(k) if t != label] for label in y])  # (n, k − 1)
            x_all = np.repeat(x, k - 1, axis=0)
            with context.stage(f"{attack}: {len(x)} images × {k - 1} targets", timing=attack):
                success, distortion, x_adv = self._run(context, classifier, attack, x_all, others.reshape(-1))
            output = {
                "label": y.tolist(),
                "average_target": average.tolist(),
                "targets": others.tolist(),
                "success": success.reshape(len(x), k - 1).astype(np.int64).tolist(),
                "distortion": distortion.reshape(len(x), k - 1).tolist(),
            }
            output.update(self._budget_check(context, classifier, attack, x_all, others.reshape(-1), success))
            output.update(
                self._reach_check(context, seed, start, classifier, attack, x_all, others.reshape(-1), success)
            )
            if attack in FIGURES.values():  # the figures' sources in this chunk: their nine attacks, kept
                sources = set(_figure_sources(context))
                x_adv = x_adv.reshape(len(x), k - 1, *x.shape[1:])
                output["figure"] = {
                    int(i): {"x_adv": x_adv[p], "success": output["success"][p], "distortion": output["distortion"][p]}
                    for p, i in enumerate(chosen["index"][start:stop])
                    if int(i) in sources
                }
            return output
        target = None if attack == "deepfool" else average
        with context.stage(f"{attack}: {len(x)} images", timing=attack):
            success, distortion, _ = self._run(context, classifier, attack, x, target)
        return {"label": y.tolist(), "success": success.astype(np.int64).tolist(), "distortion": distortion.tolist()}

    def _budget_check(
        self, context: RunContext, classifier: Any, attack: str, x: np.ndarray, target: np.ndarray, hit: np.ndarray
    ) -> dict[str, list[int]]:
        """A reference attack's first ``budget_check_pairs`` misses attacked again at ``budget_check_iter``
        iterations per constant: {"budget_checked": [misses attacked again], "budget_hits": [hits]}, or {}
        when the check is off, the budget no larger, or the attack not a reference one."""
        s: CWAttacksSettings = context.settings
        if s.budget_check_iter is None or not attack.endswith("-reference"):
            return {}
        if s.budget_check_iter <= self._make_attack(context, classifier, attack, batch=1).max_iter:
            return {}
        with context.stage(
            f"{attack} again on its first misses at {s.budget_check_iter} iterations", timing=f"{attack} · budget check"
        ):
            again = self._make_attack(context, classifier, attack, batch=len(x), max_iter=s.budget_check_iter)
            check = reattack_misses(again, classifier, x, target, hit, limit=s.budget_check_pairs)
        return {"budget_checked": [int(np.sum(check >= 0))], "budget_hits": [int(np.sum(check == 1))]}

    def _reach_check(
        self,
        context: RunContext,
        seed: int,
        unit_start: int,
        classifier: Any,
        attack: str,
        x: np.ndarray,
        target: np.ndarray,
        hit: np.ndarray,
    ) -> dict[str, list[int]]:
        """A reference L2/L∞ attack's misses given to targeted PGD at the paper's worst-case distance in
        that norm, from ``reach_starts`` starts: {"reach_checked": [misses], "reach_hits": [reached]}, or {}
        when the check is off or the attack has no PGD norm. A reached target was within C&W's worst
        case, so the reference attack's miss there is its optimisation, not the distance."""
        s: CWAttacksSettings = context.settings
        if not s.reach_check or attack not in REACH_NORMS:
            return {}
        eps = TABLE4[attack]["worst"][0]
        reached = np.zeros(len(x), dtype=bool)
        with context.stage(f"{attack}: its misses to PGD at ε = {eps:g}", timing=f"{attack} · reach check"):
            for start in range(s.reach_starts):
                pgd = registry.create(
                    "evasion", "pgd", classifier, norm=REACH_NORMS[attack], eps=eps, eps_step=eps / 20,
                    max_iter=s.reach_iterations, targeted=True, num_random_init=int(start > 0),
                    batch_size=max(1, len(x)), verbose=False,
                )  # fmt: skip
                with numpy_seed(np.random.SeedSequence([seed, unit_start, start, 2017]).generate_state(1)):
                    again = reattack_misses(pgd, classifier, x, target, hit | reached)
                reached |= again == 1
        return {"reach_checked": [int(np.sum(~hit))], "reach_hits": [int(np.sum(reached))]}

    def _figure_unit(self, context: RunContext, seed: int, classifier: Any, attack: str, first: int, last: int):
        """The figure's sources of labels ``first``…``last − 1`` that are not in the attack set
        (those come from the table units), each toward the nine other labels."""
        x, y = context.load("test", limit=context.settings.test_limit)
        k = context.nb_classes
        in_table = set(self._attack_set(context, seed, classifier)["index"].tolist())
        sources = [i for i in _figure_sources(context)[first:last] if i not in in_table]
        if not sources:
            return {"sources": [], "figure": {}}
        pairs = [(i, t) for i in sources for t in range(k) if t != y[i]]
        x_all = x[[i for i, _ in pairs]]
        target = np.array([t for _, t in pairs], dtype=np.int64)
        with context.stage(f"figure: {attack}, labels {first}–{last - 1} × {k - 1} targets", timing=f"fig {attack}"):
            success, distortion, x_adv = self._run(context, classifier, attack, x_all, target)
        x_adv = x_adv.reshape(len(sources), k - 1, *x.shape[1:])
        success = success.reshape(len(sources), k - 1).astype(np.int64)
        distortion = distortion.reshape(len(sources), k - 1)
        return {
            "sources": sources,
            "figure": {
                i: {"x_adv": x_adv[j], "success": success[j].tolist(), "distortion": distortion[j].tolist()}
                for j, i in enumerate(sources)
            },
        }

    # ---- report ----------------------------------------------------------------------------------

    def report(self, context: RunContext, results: ResultsWriter, outputs: Mapping[str, Any]) -> None:
        s: CWAttacksSettings = context.settings
        seeds, n = context.seeds, s.attack_images
        chunks = _chunk_ranges(s)

        def gathered(seed: int, attack: str) -> dict[str, np.ndarray]:
            parts = [outputs[self._table_unit(seed, attack, a, b).key] for a, b in chunks]
            return {key: np.concatenate([np.asarray(p[key]) for p in parts]) for key in parts[0] if key != "figure"}

        trains = [outputs[f"seed {seed} · train"] for seed in seeds]
        accuracy = [t["accuracy"] for t in trains]
        results.add_cell(T_ACCURACY, ARCH, "test", accuracy, paper=CW_ACCURACY)
        results.add_metric("training/final training loss", [t["history"]["loss"][-1] for t in trains])
        results.timings["original training seconds (mean over seeds)"] = float(
            np.mean([t["train_seconds"] for t in trains])
        )

        # per attack, per case: per seed, the per-image success (bool) and distortion arrays
        cases: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray]]]] = {}
        for attack in ATTACKS:
            cases[attack] = {}
            for seed in seeds:
                for case, value in _cases(attack, gathered(seed, attack)).items():
                    cases[attack].setdefault(case, []).append(value)
        self._report_table(results, cases, n)
        all_targets = {a: [gathered(seed, a) for seed in seeds] for a in ALL_TARGETS}
        budget = self._report_budget_check(context, results, all_targets)
        reach = self._report_reach_check(results, {a: all_targets[a] for a in REACH_NORMS})
        figures = self._report_figures(context, results, outputs) if s.figures else {}
        for attack in ATTACKS:
            results.timings[f"seconds per attacked image (× targets): {attack}"] = context.timings.get(attack, 0.0) / (
                n * len(seeds)
            )
        self._claims(context, results, accuracy, cases)
        self._notes(context, results, cases, figures, budget, reach)

    @staticmethod
    def _report_budget_check(context, results, runs) -> dict[str, tuple[int, int, int]]:
        """Per reference attack with a budget check: (misses, misses attacked again, hits), over seeds."""
        s: CWAttacksSettings = context.settings
        title = T_BUDGET.format(pairs=s.budget_check_pairs, chunk=s.chunk_images, budget=s.budget_check_iter)
        checked = {}
        for attack, per_seed in runs.items():
            if not all("budget_checked" in run for run in per_seed):
                continue
            label = ATTACKS[attack][0]
            misses = [int(np.sum(~np.asarray(run["success"], dtype=bool))) for run in per_seed]
            again = [int(np.sum(run["budget_checked"])) for run in per_seed]
            hits = [int(np.sum(run["budget_hits"])) for run in per_seed]
            results.add_cell(title, label, "misses", misses, digits=1)
            results.add_cell(title, label, "attacked again", again, digits=1)
            results.add_cell(title, label, "of them hit", hits, digits=1)
            checked[attack] = (sum(misses), sum(again), sum(hits))
        return checked

    @staticmethod
    def _report_reach_check(results, runs) -> dict[str, tuple[int, int]]:
        """Per reference attack with a reach check: (misses, of them reached by PGD), over seeds."""
        reached = {}
        for attack, per_seed in runs.items():
            if not all("reach_checked" in run for run in per_seed):
                continue
            row = f"{ATTACKS[attack][0]}, PGD at ε = {TABLE4[attack]['worst'][0]:g}"
            misses = [int(np.sum(run["reach_checked"])) for run in per_seed]
            hits = [int(np.sum(run["reach_hits"])) for run in per_seed]
            results.add_cell(T_REACH, row, "misses", misses, digits=1)
            results.add_cell(T_REACH, row, "reached by PGD", hits, digits=1)
            reached[attack] = (sum(misses), sum(hits))
        return reached

    def _report_table(self, results: ResultsWriter, cases, n: int) -> None:
        for attack, (label, norm) in ATTACKS.items():
            table = T_ART.format(n=n) if attack in ART_STOCK else T_TABLE4.format(n=n)
            row = f"{label} — {NORM_LABELS[norm]}"
            paper = TABLE4.get(attack, {})
            for case, runs in cases[attack].items():
                paper_mean, paper_success = paper.get(case, (None, None))
                rates = [100 * float(ok.mean()) for ok, _ in runs]
                results.add_cell(table, row, f"{case}: success (%)", rates, paper=paper_success)
                means = [float(d[ok].mean()) for ok, d in runs if ok.any()]
                if len(means) == len(runs):  # a mean over no success has no cell (the paper's "-")
                    digits = 1 if norm == "l0" else 3
                    results.add_cell(table, row, f"{case}: mean", means, paper=paper_mean, digits=digits)
        results.add_metric(
            "table IV per attack and case: successes / images",
            {
                attack: {case: [int(ok.sum()) for ok, _ in runs] for case, runs in by_case.items()}
                for attack, by_case in cases.items()
            },
        )

    def _report_figures(self, context, results, outputs) -> dict[str, dict[str, Any]]:
        s: CWAttacksSettings = context.settings
        seed, k = context.seeds[0], context.nb_classes
        x_test, y_test = context.load("test", limit=s.test_limit)
        figure_sources = _figure_sources(context)
        originals = x_test[figure_sources]
        summary = {}
        for figure, attack in FIGURES.items():
            # per source test image: its nine attacks (x_adv, success, distortion), from the table
            # units (sources in the attack set) or the figure units (the others)
            by_source: dict[int, Mapping[str, Any]] = {}
            for a, b in _chunk_ranges(s):
                by_source.update(outputs[self._table_unit(seed, attack, a, b).key]["figure"])
            from_table = sorted(int(y_test[int(i)]) for i in by_source)
            for first in range(0, k, s.figure_chunk):
                by_source.update(
                    outputs[f"seed {seed} · {figure} · labels {first}–{min(first + s.figure_chunk, k) - 1}"]["figure"]
                )
            by_source = {int(i): entry for i, entry in by_source.items()}
            source = np.repeat(np.arange(k), k - 1)
            target = np.array([t for label in range(k) for t in range(k) if t != label])
            x_adv = np.concatenate([np.asarray(by_source[i]["x_adv"]) for i in figure_sources])
            success = np.concatenate([np.asarray(by_source[i]["success"]) for i in figure_sources]).astype(bool)
            distortion = np.concatenate([np.asarray(by_source[i]["distortion"], float) for i in figure_sources])
            label, norm = ATTACKS[attack]
            plot = Figure(figsize=(8, 8.4))
            axes = plot.subplots(k, k)
            for row in range(k):
                for col in range(k):
                    ax = axes[row, col]
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if row == col:
                        ax.imshow(originals[row][0], cmap="gray", vmin=0, vmax=1)
                    else:
                        j = int(np.flatnonzero((source == row) & (target == col))[0])
                        ax.imshow(x_adv[j][0], cmap="gray", vmin=0, vmax=1)
                        if not success[j]:
                            for spine in ax.spines.values():
                                spine.set_edgecolor("red")
                                spine.set_linewidth(2)
                    if row == 0:
                        ax.set_title(f"→ {col}", fontsize=7)
                    if col == 0:
                        ax.set_ylabel(str(row), fontsize=7)
            number = figure.removeprefix("figure")
            plot.suptitle(
                f"Figure {number} (C&W): {label} targeted, source label (rows) → target (columns); diagonal: the "
                f"original; red frame: failed. Seed {seed}, {int(success.sum())}/{len(success)} succeeded",
                fontsize=8,
            )
            results.add_figure(figure, plot)
            results.add_cell(
                T_FIGURES, f"Figure {number}: {label}", "success (%)", 100 * float(success.mean()), paper=100.0
            )
            if success.any():
                results.add_cell(
                    T_FIGURES,
                    f"Figure {number}: {label}",
                    f"mean {NORM_LABELS[norm]}",
                    float(distortion[success].mean()),
                    digits=1 if norm == "l0" else 3,
                )
            summary[attack] = {"success": int(success.sum()), "n": len(success), "labels from Table IV": from_table}
        results.add_metric(f"figures 3-5 (seed {seed})", summary)
        return summary

    # ---- claims and notes ------------------------------------------------------------------------

    def _claims(self, context, results, accuracy, cases) -> None:
        s: CWAttacksSettings = context.settings
        n, scale = s.attack_images, context.paper_scale
        acc = Estimate.measure(accuracy, n=len(context.load("test", limit=s.test_limit)[1]))
        results.add_claim(
            f"the C&W MNIST net reaches {CW_ACCURACY}% test accuracy (C&W Tables I/II)",
            claims.at_scale(claims.at_least(acc, CW_ACCURACY), scale),
            f"{acc.format()}% on {context.preset.dataset}",
        )
        for norm, ours in OURS.items():
            decisions, texts = [], []
            for earlier in EARLIER[norm]:
                for case in cases[earlier]:
                    diff = _paired(cases[earlier][case], cases[ours][case], scale_ours=1.0)
                    decisions.append(claims.greater(diff))
                    texts.append(f"{ATTACKS[earlier][0]} {case} {_mean_text(cases[earlier][case], norm)}")
            label = ATTACKS[ours][0]
            results.add_claim(
                f"C&W: {label} needs less {NORM_LABELS[norm]} distortion than "
                + " and ".join(ATTACKS[e][0] for e in EARLIER[norm])
                + " (paired over images both attacks fooled; every case the earlier attack has)",
                claims.all_of(decisions),
                f"{label}: "
                + ", ".join(f"{case} {_mean_text(cases[ours][case], norm)}" for case in CASES)
                + "; "
                + ", ".join(texts),
            )
        for ours in OURS.values():
            decisions = [
                claims.at_scale(
                    claims.at_least(Estimate.measure([100 * float(ok.mean()) for ok, _ in runs], n=n), 100.0), scale
                )
                for runs in cases[ours].values()
            ]
            results.add_claim(
                f"C&W: {ATTACKS[ours][0]} succeeds on 100% of MNIST images in the best, average and worst case",
                claims.all_of(decisions),
                ", ".join(
                    f"{case} {np.mean([100 * ok.mean() for ok, _ in runs]):.1f}%" for case, runs in cases[ours].items()
                ),
            )
        low, high = FEWER
        for norm, case, earlier in (("l0", "average", ("jsma-z", "jsma-f")), ("l2", "best", ("deepfool",))):
            ours, decisions, texts = OURS[norm], [], []
            for attack in earlier:
                # mean(earlier) ≥ 2 · mean(ours)  ⇔  mean(earlier_i − 2 · ours_i) ≥ 0 on the paired images
                decisions.append(claims.greater(_paired(cases[attack][case], cases[ours][case], scale_ours=low)))
                decisions.append(claims.greater(_paired(cases[ours][case], cases[attack][case], scale_ours=1 / high)))
                ratio = _ratio(cases[attack][case], cases[ours][case])
                paper = TABLE4[attack][case][0] / TABLE4[ours][case][0]
                measured = f"{ratio:.2f}×" if math.isfinite(ratio) else "no image fooled by both"
                texts.append(f"{ATTACKS[attack][0]} / {ATTACKS[ours][0]}: {measured} (paper {paper:.2f}×)")
            results.add_claim(
                f"C&W: {ATTACKS[ours][0]} needs {low:g}× to {high:g}× less distortion than "
                + " and ".join(ATTACKS[a][0] for a in earlier)
                + f" ({case} case, ratio of means over images both fooled)",
                claims.all_of(decisions),
                "; ".join(texts),
            )

    def _notes(self, context, results, cases, figures, budget, reach) -> None:
        s: CWAttacksSettings = context.settings
        add = results.add_note
        table = T_TABLE4.format(n=s.attack_images)

        def explain_success(attack: str, reason: str) -> None:
            """A measured reason for the attack's Table IV success cells (shown where they miss the paper's)."""
            row = f"{ATTACKS[attack][0]} — {NORM_LABELS[ATTACKS[attack][1]]}"
            results.explain_misses(table, reason, rows=[row], columns=[f"{case}: success (%)" for case in CASES])

        add(f"Preset {context.preset.name}: {context.preset.description}.")
        add(
            f"Net: {ARCH} (C&W Table I, dropout 0.5 after the first fully connected layer), {s.net.describe()} — "
            "the defensive-distillation reproduction's undistilled net (one cache entry)."
        )
        add(
            f"Attack set: the first {s.attack_images} test images the net classifies correctly (C&W do not say how "
            "many images Table IV used; the issue asks ≥ 100 for the paper preset); every targeted attack runs toward "
            "all nine other classes. Best case: least distortion among the successful targets; average case: a "
            "target drawn a priori with the seed; worst case: most distortion, a failure when any target fails. "
            "Means are over successes only (C&W's caption)."
        )
        add(
            "Parameters: "
            + "; ".join(f"{a} {dict(s.reference_params(a))}" for a in OURS.values())
            + f"; JSMA θ = {s.jsma_theta:g}, γ = {s.jsma_gamma:g} (chosen a priori: C&W's worst-case JSMA-Z mean of "
            "180 pixels exceeds Papernot's 14.5% budget, so theirs was larger); fgsm-min / igs-min: the smallest ε by "
            f"binary search {dict(s.min_eps)}, IGS {dict(s.igs)}; DeepFool: ART's "
            + (f"{dict(s.deepfool)}" if s.deepfool else "defaults (overshoot 1e-6, 100 iterations)")
            + "; ART's CarliniL0/L2/LInfMethod: "
            + (f"{dict(s.art_cw)}" if s.art_cw else "ART's defaults")
            + ", targeted, average case only."
        )
        for attack, (misses, again, hits) in budget.items():
            if not misses:
                continue
            explained = (
                "the budget explains all of them"
                if hits == again
                else f"the budget explains {hits} and not the other {again - hits}"
                if hits
                else "the budget explains none of them"
            )
            reason = (
                f"{ATTACKS[attack][0]}: {misses} of its Table IV attacks (all targets) missed at "
                f"{dict(s.reference_params(attack))}. Measured reason: of the {again} attacked again at "
                f"{s.budget_check_iter} iterations per constant (the first {s.budget_check_pairs} misses of each unit "
                f"of {s.chunk_images} images), {hits} hit: {explained}."
            )
            add(reason)
            explain_success(attack, reason)
        for attack, (misses, hits) in reach.items():
            if not misses:
                continue
            eps = TABLE4[attack]["worst"][0]
            if hits == misses:
                verdict = "PGD reached every target: the misses are the reference attack's optimisation, not distance"
            elif hits:
                verdict = (
                    f"PGD reached {hits} (there the miss is the reference attack's optimisation) and not the other "
                    f"{misses - hits} (their targets may lie beyond the paper's worst case on this net)"
                )
            else:
                verdict = "PGD reached none of them (their targets may lie beyond the paper's worst case on this net)"
            reason = (
                f"{ATTACKS[attack][0]}: its {misses} Table IV misses given to targeted PGD (ART, cross-entropy, "
                f"{s.reach_iterations} steps of ε / 20 from {s.reach_starts} starts) at ε = {eps:g}, the paper's "
                f"worst-case {NORM_LABELS[ATTACKS[attack][1]]} distance: {verdict}."
            )
            add(reason)
            explain_success(attack, reason)
        # ours / paper for every Table IV mean distance: a gap every attack shares (within ±25 % of the
        # median ratio) belongs to the net and the attack set, not to one attack
        ratios = {
            (attack, case): _pooled_mean(runs) / TABLE4[attack][case][0]
            for attack, by_case in cases.items()
            if attack not in ART_STOCK
            for case, runs in by_case.items()
            if TABLE4[attack][case][0] is not None and math.isfinite(_pooled_mean(runs))
        }
        if ratios:
            median = float(np.median(list(ratios.values())))
            for (attack, case), ratio in ratios.items():
                shared = 0.75 <= ratio / median <= 1.25
                results.explain_misses(
                    table,
                    f"ours / paper = {ratio:.2f}×, against a median of {median:.2f}× over the {len(ratios)} Table IV "
                    "mean distances: "
                    + (
                        "a gap every attack shares (within ±25 % of the median), so a property of this net and "
                        "attack set rather than of this attack."
                        if shared
                        else "beyond the gap the attacks share (more than ±25 % from the median)."
                    ),
                    rows=[f"{ATTACKS[attack][0]} — {NORM_LABELS[ATTACKS[attack][1]]}"],
                    columns=[f"{case}: mean"],
                )
        for attack, by_case in cases.items():
            if attack in ART_STOCK:
                continue
            for case, runs in by_case.items():
                paper_mean, paper_success = TABLE4[attack][case]
                ours_success = float(np.mean([100 * ok.mean() for ok, _ in runs]))
                if paper_mean is None:
                    continue
                ours_mean = _pooled_mean(runs)
                if math.isfinite(ours_mean) and not 0.5 <= ours_mean / paper_mean <= 2.0:
                    add(
                        f"Gap: {ATTACKS[attack][0]} {case} case {ours_mean:.3g} vs the paper's {paper_mean:g} "
                        f"({ours_mean / paper_mean:.2f}×; success {ours_success:.0f}% vs {paper_success:g}%)"
                        + (
                            f"; this preset's budget is far below the paper's ({context.preset.description})"
                            if not context.paper_scale
                            else "; the net (our training of Table I) and the attack set differ from C&W's"
                        )
                        + "."
                    )
        if figures:
            add(
                "Figures 3–5: "
                + ", ".join(f"{ATTACKS[a][0]} {v['success']}/{v['n']} succeeded" for a, v in figures.items())
                + " (first test image of each label; red frames mark failures)."
            )


# ---- helpers ---------------------------------------------------------------------------------------


def _cases(attack: str, run: Mapping[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per image: (success, distortion) of each case the attack's run gives."""
    success, distortion = np.asarray(run["success"], dtype=bool), np.asarray(run["distortion"], dtype=np.float64)
    if success.ndim == 1:  # untargeted (DeepFool: the best case) or the average case only (ART's stock)
        return {"best" if attack == "deepfool" else "average": (success, distortion)}
    chosen = np.asarray(run["targets"]) == np.asarray(run["average_target"])[:, None]
    best_distortion = np.where(success, distortion, np.inf).min(axis=1)
    return {
        "best": (success.any(axis=1), np.where(success.any(axis=1), best_distortion, np.nan)),
        "average": (success[chosen], distortion[chosen]),
        "worst": (success.all(axis=1), distortion.max(axis=1)),
    }


def _paired(
    earlier: Sequence[tuple[np.ndarray, np.ndarray]], ours: Sequence[tuple[np.ndarray, np.ndarray]], scale_ours: float
) -> Estimate:
    """``mean(earlier_i − scale · ours_i)`` over the images both attacks fooled, pooled over seeds."""
    samples = np.concatenate(
        [d_e[ok_e & ok_o] - scale_ours * d_o[ok_e & ok_o] for (ok_e, d_e), (ok_o, d_o) in zip(earlier, ours)]
    )
    if len(samples) < 2:
        return Estimate(0.0, 1e9, f"{len(samples)} image(s) fooled by both: undecidable")
    return Estimate.from_samples(samples)


def _ratio(earlier, ours) -> float:
    pairs = [(d_e[ok_e & ok_o], d_o[ok_e & ok_o]) for (ok_e, d_e), (ok_o, d_o) in zip(earlier, ours)]
    e, o = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
    return float(e.mean() / o.mean()) if len(e) and o.mean() > 0 else math.nan


def _pooled_mean(runs: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    values = np.concatenate([d[ok] for ok, d in runs])
    return float(values.mean()) if len(values) else math.nan


def _mean_text(runs: Sequence[tuple[np.ndarray, np.ndarray]], norm: str) -> str:
    mean = _pooled_mean(runs)
    success = np.mean([100 * ok.mean() for ok, _ in runs])
    if not math.isfinite(mean):
        return f"no success ({success:.0f}%)"
    return f"{mean:.{1 if norm == 'l0' else 3}f} ({success:.0f}%)"


if __name__ == "__main__":
    from artx.cli import main

    sys.exit(main(["reproduce", "cw-attacks", *sys.argv[1:]]))
