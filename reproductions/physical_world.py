"""``artx reproduce physical-world``: Kurakin, Goodfellow & Bengio (2017), "Adversarial Examples
in the Physical World" — an MNIST ANALOGUE.

The paper attacks Inception v3 on ImageNet and photographs printed adversarial images with a
phone. Neither the model, the data nor a printer and camera are available offline, so this
reproduction runs the same protocol on MNIST CNNs (``paper-cnn`` and ``lenet5`` from the zoo)
and replaces the photo by ``print-photo``, a labelled SIMULATION of print + photo (blur,
contrast, brightness, sensor noise, JPEG; strengths fixed a priori in the plugin). Its numbers
are evidence about MNIST CNNs, not about Inception v3 or real photos.

Methods (the paper's Section 2, ε in 0…255 units, ÷255 on our [0, 1] images): "fast" = ART's
``fgsm`` (L∞); "basic iterative" = ART's ``bim`` with Kurakin's α = 1/255 and
⌊min(ε + 4, 1.25 ε)⌋ iterations; "ILLC" = the ``illc`` plugin (iterative least-likely class, the
same α and iteration rule, resolved by the plugin and passed to ``bim`` so both agree).

1. Fig. 2 analogue: top-1 (and top-5, weak on 10 classes) accuracy vs ε for the three methods
   on ``fig2_size`` test images (a seeded order of the test set; the paper preset uses all
   10,000, as the paper used all 50,000 validation images).
2. Fig. 6 analogue: Kurakin's destruction rate (Eq. 1, ``artx.destruction.destruction_rate``)
   per method × transformation (brightness, contrast, Gaussian blur, Gaussian noise, JPEG, the
   simulated print-photo) at ε = 16, in the paper's two scenarios: *random* (a seeded draw of
   ``random_size`` images) and *prefiltered* (clean image correct, adversarial image wrong with
   confidence ≥ ``prefilter_confidence``, as Kurakin's Section 3.2; up to ``prefiltered_size``).
   Both scenarios draw from the same ``pool_size`` attacked test images. Ours, beyond the paper:
   the same tables at ``mnist_eps`` (64/255 ≈ 0.25), because ε = 16/255 fools few MNIST digits.
3. Photo table analogue: the simulated print-photo at ε = 16 and 8 next to the top-1
   destruction rates of Kurakin's Table 3 (real photos of ImageNet images).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from matplotlib.figure import Figure

from artx import claims, registry
from artx.claims import Decision, Estimate
from artx.destruction import DestructionRate, destruction_rate
from artx.evaluation import accuracy, perturbation_norms
from artx.reproduction import Preset, Reproduction, RunContext, Settings, Unit
from artx.results import ResultsWriter
from artx.training import TrainingSpec

logger = logging.getLogger(__name__)

METHODS = ("fast", "basic iterative", "ILLC")
SCENARIOS = ("random", "prefiltered")
#: Kurakin et al. (2017) Table 3 (original paper, not in the seed): top-1 destruction rate (%) of
#: adversarial images by printing + photographing (Inception v3, ImageNet), (average case, prefiltered case).
KURAKIN_TABLE3 = {
    ("fast", 16): (12.5, 5.1),
    ("fast", 8): (33.3, 14.6),
    ("basic iterative", 16): (40.4, 60.0),
    ("basic iterative", 8): (52.1, 64.7),
    ("ILLC", 16): (72.2, 87.5),
    ("ILLC", 8): (86.3, 88.9),
}
#: Kurakin et al. (2017) Section 4 (original paper, not in the seed): brightness and contrast destroy
#: "less than 5%" of fast and basic iterative adversarial examples and "less than 20%" of ILLC ones.
KURAKIN_SECTION4_BOUND = {"fast": 5.0, "basic iterative": 5.0, "ILLC": 20.0}
#: Transformation families: the seed's "most effective" ones and the ones it says matter little.
STRONG_FAMILIES = ("blur", "noise", "JPEG")
WEAK_FAMILIES = ("brightness", "contrast")


@dataclasses.dataclass(frozen=True)
class Transformation:
    """One transformation T of Eq. 1: a preprocessor plugin at one strength."""

    family: str
    plugin: str
    params: Mapping[str, Any]
    label: str

    def as_dict(self) -> dict[str, Any]:
        return {"family": self.family, "plugin": self.plugin, "params": dict(self.params), "label": self.label}


@dataclasses.dataclass(frozen=True)
class TransformationGrid:
    """The transformations of the Fig. 6 analogue, in table order."""

    items: tuple[Transformation, ...]

    def as_dict(self) -> list[dict[str, Any]]:
        return [t.as_dict() for t in self.items]

    def describe(self) -> str:
        return "; ".join(f"{t.label} ({t.plugin} {dict(t.params)})" for t in self.items)


# Strengths fixed a priori (before any destruction rate was measured). Kurakin et al. give none in
# the seed, and the original's Fig. 6 values are in a plot we could not read offline, so none is
# taken from the paper. Reasons, on [0, 1] MNIST images with ε = 16/255 ≈ 0.063:
# - brightness ±0.1 (≈ ±26/255): a clearly visible lighting change either way. A darkening by more
#   than ε is expected to erase the whole background part of a perturbation (background pixels
#   are 0, so the perturbation there is ≥ 0 and ≤ ε, and the shift clips it to 0): MNIST-specific.
# - contrast ×0.7 and ×1.3 about the image mean: ±30 %, visible, digits stay legible.
# - Gaussian blur σ = 0.5 px (taps ≈ 0.11/0.79/0.11: mild) and 1.0 px (visibly soft 2–3 px strokes).
# - Gaussian noise σ = 0.05 and 0.1 (≈ 13/255 and 26/255): bracketing ε.
# - JPEG quality 75 (Pillow's and ImageMagick's default: what a pipeline writes) and 25 (heavy).
# - print-photo at the plugin's defaults (its own a-priori physical choices).
TRANSFORMATIONS = TransformationGrid(
    (
        Transformation("brightness", "brightness", {"delta": 0.1}, "brightness +0.1"),
        Transformation("brightness", "brightness", {"delta": -0.1}, "brightness −0.1"),
        Transformation("contrast", "contrast", {"factor": 0.7}, "contrast ×0.7"),
        Transformation("contrast", "contrast", {"factor": 1.3}, "contrast ×1.3"),
        Transformation("blur", "gaussian-smoothing", {"sigma": 0.5}, "blur σ=0.5"),
        Transformation("blur", "gaussian-smoothing", {"sigma": 1.0}, "blur σ=1.0"),
        Transformation("noise", "gaussian-noise", {"sigma": 0.05}, "noise σ=0.05"),
        Transformation("noise", "gaussian-noise", {"sigma": 0.1}, "noise σ=0.1"),
        Transformation("JPEG", "jpeg", {"quality": 75}, "JPEG q=75"),
        Transformation("JPEG", "jpeg", {"quality": 25}, "JPEG q=25"),
        Transformation("photo", "print-photo", {}, "print-photo (simulated)"),
    )
)
PHOTO = "photo"


@dataclasses.dataclass(frozen=True)
class PhysicalWorldSettings(Settings):
    epochs: Mapping[str, int] = dataclasses.field(
        metadata={
            "doc": "models (zoo names) and their training epochs; Kurakin et al. attack one pre-trained Inception v3"
        }
    )
    fig2_size: int = dataclasses.field(metadata={"doc": "test images of the accuracy-vs-ε curves (Fig. 2)"})
    pool_size: int = dataclasses.field(
        metadata={"doc": "test images attacked at the destruction ε's; both scenarios draw from them"}
    )
    random_size: int = dataclasses.field(metadata={"doc": "images of the random scenario (seeded draw from the pool)"})
    prefiltered_size: int = dataclasses.field(metadata={"doc": "most images of the prefiltered scenario"})
    eps_grid: tuple[int, ...] = dataclasses.field(
        default=(2, 4, 8, 16, 32, 64, 128), metadata={"doc": "ε of Fig. 2 in 0…255 units (÷255 on [0, 1] images)"}
    )
    destruction_eps: int = dataclasses.field(default=16, metadata={"doc": "ε of the Fig. 6 analogue (0…255 units)"})
    mnist_eps: tuple[int, ...] = dataclasses.field(
        default=(64,),
        metadata={
            "doc": "ours: more Fig. 6 ε's on the MNIST scale (64/255 ≈ 0.25, the grid value nearest the usual MNIST "
            "budget), where the attacks fool most digits; ε = 16/255 fools few"
        },
    )
    photo_eps: tuple[int, ...] = dataclasses.field(
        default=(16, 8), metadata={"doc": "ε of the simulated-photo table (Kurakin's Table 3 has 16 and 8)"}
    )
    prefilter_confidence: float = dataclasses.field(
        default=0.8, metadata={"doc": "prefiltered scenario: softmax confidence of the adversarial image's top class"}
    )
    transformations: TransformationGrid = TRANSFORMATIONS
    optimizer: str = dataclasses.field(default="adam", metadata={"doc": "artx default learning rate"})
    batch_size: int = 128
    attack_batch_size: int = 250
    image_seed: int = dataclasses.field(
        default=0, metadata={"doc": "seed of the test-image order and the scenario draws (fixed across model seeds)"}
    )
    train_limit: int | None = None
    test_limit: int | None = None

    def spec(self, arch: str) -> TrainingSpec:
        """The training of ``arch`` (the model zoo's specs, so cached zoo models are reused)."""
        return TrainingSpec(arch, epochs=self.epochs[arch], optimizer=self.optimizer, batch_size=self.batch_size)

    def fig6_eps(self) -> list[int]:
        """The ε's of the Fig. 6 tables: the paper's, then ours."""
        return [self.destruction_eps, *(e for e in self.mnist_eps if e != self.destruction_eps)]

    def pool_eps(self) -> list[int]:
        """The ε's attacked on the whole pool (Fig. 6 and the simulated photos), ascending."""
        return sorted({*self.fig6_eps(), *self.photo_eps})

    def attack_eps(self) -> list[int]:
        """Every ε that is attacked, ascending."""
        return sorted(set(self.eps_grid) | set(self.pool_eps()))


# Same epochs as the model-zoo reproduction's presets: the trained models are shared through the cache.
QUICK = PhysicalWorldSettings(
    epochs={"paper-cnn": 10, "lenet5": 30},
    fig2_size=100,
    pool_size=400,
    random_size=400,
    prefiltered_size=400,
)
# Cost of the units on one CPU thread (OMP_NUM_THREADS=1), measured while others loaded this 2-core machine
# (load ≈ 5.5; a paper-cnn epoch on 60,000 images took ~200 s against 57 s measured idle for
# pixel-poisoning, so divide by ~3.5 for an idle machine): one loss-gradient pass over 1,000 full-MNIST test
# images ≈ 2.2–2.7 s for paper-cnn, 0.3 s for lenet5 (BIM and ILLC at ε = 16: 20 passes on 1,000 images
# = 44–54 s and 6 s). Fig. 2 needs 7 FGSM + 2 × 273 iterative passes over the 10,000 test images (the pool
# ε's 8, 16, 64 are among them, so the destruction rates need no extra attack): ≈ 3.7 h (paper-cnn) + 0.5 h
# (lenet5); training 8 × 200 s + 20 × 15 s ≈ 32 min (nothing when the model-zoo reproduction's models are
# cached: same specs); destruction rates (11 transformations × 3 methods × 2 scenarios × 2 ε + photos,
# 1,000-image scenarios, clean and adversarial predictions remembered) ≈ 5 min. Total ≈ 4.8 h loaded,
# ≈ 1.5 h idle; minutes with --device cuda. fig2_size is the knob if that is too long.
PAPER_SETTINGS = PhysicalWorldSettings(
    epochs={"paper-cnn": 8, "lenet5": 20},
    fig2_size=10000,
    pool_size=10000,
    random_size=1000,
    prefiltered_size=1000,
)


def _eps_label(eps: int) -> str:
    return f"ε={eps}"


class PhysicalWorldReproduction(Reproduction):
    name = "physical-world"
    title = (
        "Adversarial Examples in the Physical World (Kurakin, Goodfellow & Bengio 2017) — MNIST analogue: "
        "MNIST CNNs instead of Inception v3/ImageNet, a simulated print-and-photo instead of real photos"
    )
    presets = {
        "quick": Preset(
            "quick",
            "mnist-5k",
            "embedded 5k MNIST subset (4,000 train / 1,000 test); Fig. 2 on 100 test images, destruction rates on a "
            "pool of 400; numbers differ from a full-MNIST run and are not comparable with Inception v3 on ImageNet",
            seeds=1,
            settings=QUICK,
        ),
        "paper": Preset(
            "paper",
            "mnist",
            "full MNIST (60,000 train / 10,000 test); Fig. 2 on all 10,000 test images, destruction rates on "
            "1,000-image scenarios (Kurakin's Section 4 size); ~1.5 h on one idle CPU thread, minutes on a GPU",
            seeds=1,
            settings=PAPER_SETTINGS,
        ),
    }

    #: Image-passes (images × loss-gradient passes) per unit of an ε that only Fig. 2 uses: such an attack is
    #: split into chunks of whole attack batches of about this size. ART's fgsm and bim and the illc plugin
    #: attack (and predict) batch by batch, so chunks cut at batch boundaries give the adversarial images of one
    #: call on all the images. Paper preset: basic iterative and ILLC at ε = 128 (132 passes × 10,000 images)
    #: become 6 units each, at ε = 32 two; the largest units left are the pool's ε = 64 (68 passes × 10,000
    #: images, one unit each: Eq. 1's scenarios need the whole pool's adversarial images in one place).
    unit_image_passes: ClassVar[int] = 250_000

    # ---- units --------------------------------------------------------------------------------

    def units(self, context: RunContext) -> list[Unit]:
        """Phase 0: one training per (model, seed). Phase 1, per (model, seed): the clean predictions, then one
        unit per (method, ε) with the attack, its Fig. 2 accuracies and, at the pool's ε's, its destruction
        rates; an ε only Fig. 2 uses is split further into image chunks (:attr:`unit_image_passes`)."""
        s: PhysicalWorldSettings = context.settings
        x_test, _ = context.load("test", limit=s.test_limit)
        return self._plan(s, context.seeds, len(x_test))

    def _plan(self, s: PhysicalWorldSettings, seeds: Sequence[int], n_test: int) -> list[Unit]:
        n_fig2, n_pool = min(s.fig2_size, n_test), min(s.pool_size, n_test)
        units = [
            Unit(f"train {arch} · seed {seed}", {"arch": arch, "seed": seed}) for arch in s.epochs for seed in seeds
        ]
        for arch in s.epochs:
            for seed in seeds:
                common = {"arch": arch, "seed": seed}
                units.append(Unit(f"{arch} · seed {seed} · clean", {**common, "part": "clean"}, phase=1))
                for method in METHODS:
                    for eps in s.attack_eps():
                        chunks = self._chunks(s, method, eps, n_fig2, n_pool)
                        for start, stop in chunks:
                            key = f"{arch} · seed {seed} · {method} ε={eps}"
                            args = {
                                **common,
                                "part": "attack",
                                "method": method,
                                "eps": eps,
                                "start": start,
                                "stop": stop,
                            }
                            units.append(
                                Unit(key + (f" · images {start}–{stop}" if len(chunks) > 1 else ""), args, phase=1)
                            )
        return units

    def _chunks(
        self, s: PhysicalWorldSettings, method: str, eps: int, n_fig2: int, n_pool: int
    ) -> list[tuple[int, int]]:
        """The image ranges of the units attacking with ``method`` at ``eps`` (0…255 units)."""
        n = max(n_fig2 if eps in s.eps_grid else 0, n_pool if eps in s.pool_eps() else 0)
        if eps in s.pool_eps():  # Eq. 1's scenarios draw from the whole pool: one unit
            return [(0, n)]
        passes = 1 if method == "fast" else max(int(min(eps + 4, 1.25 * eps)), 1)  # Kurakin's iteration rule
        size = max(self.unit_image_passes // (passes * s.attack_batch_size), 1) * s.attack_batch_size
        return [(start, min(start + size, n)) for start in range(0, n, size)]

    def run_unit(self, context: RunContext, unit: Unit) -> dict[str, Any]:
        s: PhysicalWorldSettings = context.settings
        arch, seed = unit.args["arch"], unit.args["seed"]
        x_train, y_train = context.load("train", limit=s.train_limit)
        trained = context.train(s.spec(arch), x_train, y_train, seed=seed)
        if unit.phase == 0:
            return {"train": len(x_train)}
        classifier = context.classifier(trained.model)
        x, y, sizes, random_index = self._images(context)
        if unit.args["part"] == "clean":
            n_fig2 = sizes["fig2"]
            clean_logits = classifier.predict(x[: max(n_fig2, sizes["pool"])], batch_size=s.attack_batch_size)
            return {
                "sizes": {"train": len(x_train), "test": len(x), **sizes, "random": int(len(random_index))},
                "clean top1": _top_k(clean_logits[:n_fig2], y[:n_fig2], 1),
                "clean top5": _top_k(clean_logits[:n_fig2], y[:n_fig2], 5),
                "clean under T": {
                    label: 100 * accuracy(classifier, transform(x[random_index])[0], y[random_index])
                    for label, transform in self._transforms(s, seed).items()
                },
            }
        a = unit.args
        return self._measure(
            context, arch, seed, classifier, x, y, sizes, random_index, a["method"], a["eps"], a["start"], a["stop"]
        )

    def _images(self, context: RunContext) -> tuple[np.ndarray, np.ndarray, dict[str, int], np.ndarray]:
        """The test images in their seeded order, the Fig. 2 and pool sizes, and the random scenario's images."""
        s: PhysicalWorldSettings = context.settings
        x_test, y_test = context.load("test", limit=s.test_limit)
        order = np.random.default_rng(s.image_seed).permutation(len(x_test))
        x, y = x_test[order], y_test[order]
        sizes = {"fig2": min(s.fig2_size, len(x)), "pool": min(s.pool_size, len(x))}
        random_index = np.sort(
            np.random.default_rng(s.image_seed).choice(
                sizes["pool"], size=min(s.random_size, sizes["pool"]), replace=False
            )
        )
        return x, y, sizes, random_index

    def _attack(self, classifier: Any, method: str, eps: float, x: np.ndarray, y: np.ndarray, batch: int):
        """Adversarial images of ``method`` at ``eps`` (on the classifier's scale) and ILLC's targets."""
        # The illc plugin resolves Kurakin's α and iteration rule; BIM gets the same numbers.
        illc = registry.create("evasion", "illc", classifier, eps=eps, batch_size=batch)
        one_hot = np.eye(classifier.nb_classes, dtype=np.float32)[y]
        if method == "fast":
            attack = registry.create("evasion", "fgsm", classifier, eps=eps, batch_size=batch)
        elif method == "basic iterative":
            attack = registry.create(
                "evasion",
                "bim",
                classifier,
                eps=eps,
                eps_step=illc.resolved_eps_step(),
                max_iter=illc.resolved_max_iter(),
                batch_size=batch,
                verbose=False,
            )
        else:
            x_adv = illc.generate(x, y=y)
            return x_adv, illc.targets_
        return attack.generate(x, y=one_hot).astype(np.float32), None

    def _transforms(self, s: PhysicalWorldSettings, seed: int) -> dict[str, Any]:
        out = {}
        for t in s.transformations.items:
            transform = registry.create("preprocessor", t.plugin, **t.params)
            if "seed" in transform.params:  # random transformations draw with the run's seed
                transform.set_params(seed=seed)
            out[t.label] = transform
        return out

    def _measure(
        self, context, arch, seed, classifier, x, y, sizes, random_index, method, eps, start, stop
    ) -> dict[str, Any]:
        """One attack unit: ``method`` at ``eps`` on the images ``start:stop``; per image, whether Fig. 2's top-1
        and top-5 and ILLC's target are hit; at a pool ε (``start`` 0, the whole pool) also the perturbation
        statistics, the prefilter candidates and the destruction rates."""
        s: PhysicalWorldSettings = context.settings
        tag = f"{arch} seed {seed}"
        n_fig2, n_pool = sizes["fig2"], sizes["pool"]
        with context.stage(f"{tag}: {method} ε={eps}/255 on {stop - start} images", timing=f"attack {method}"):
            x_adv, targets = self._attack(
                classifier, method, eps / 255, x[start:stop], y[start:stop], s.attack_batch_size
            )
        logits = classifier.predict(x_adv, batch_size=s.attack_batch_size)
        fig2 = max(min(stop, n_fig2) - start, 0) if eps in s.eps_grid else 0
        out: dict[str, Any] = {
            "top1 hits": _hits(logits[:fig2], y[start : start + fig2], 1),
            "top5 hits": _hits(logits[:fig2], y[start : start + fig2], 5),
            "target hits": None if targets is None else np.argmax(logits, axis=1) == targets,
        }
        if eps not in s.pool_eps():
            return out
        clean_logits = classifier.predict(x[: max(n_fig2, n_pool)], batch_size=s.attack_batch_size)
        clean_correct = np.argmax(clean_logits[:n_pool], axis=1) == y[:n_pool]
        out["perturbation"] = _perturbation_stats(x[:n_pool], x_adv[:n_pool])
        probabilities = _softmax(logits[:n_pool])
        wrong = np.argmax(probabilities, axis=1) != y[:n_pool]
        candidates = np.flatnonzero(clean_correct & wrong & (probabilities.max(axis=1) >= s.prefilter_confidence))
        out["prefilter candidates"] = int(len(candidates))
        picked = np.sort(
            np.random.default_rng(s.image_seed).choice(
                candidates, size=min(s.prefiltered_size, len(candidates)), replace=False
            )
        )
        scenarios = {"random": random_index, "prefiltered": picked}
        labels = [
            t.label
            for t in s.transformations.items
            if eps in s.fig6_eps() or (t.family == PHOTO and eps in s.photo_eps)
        ]
        transforms = self._transforms(s, seed)
        # Eq. 1 predicts the same clean and adversarial images once per transformation: remember them.
        remembering = _RememberedPredictions(classifier)
        out["destruction"] = {}
        with context.stage(
            f"{tag}: destruction rates, {method} ε={eps}/255 ({len(labels)} transformations)",
            timing="destruction rates",
        ):
            for scenario, index in scenarios.items():
                for label in labels:
                    d = (
                        destruction_rate(
                            remembering, x[index], y[index], x_adv[index], transforms[label], batch_size=256
                        )
                        if len(index)
                        else DestructionRate(math.nan, 0, 0, 0)
                    )
                    out["destruction"][(scenario, label)] = (d.rate, d.numerator, d.denominator, d.n)
        return out

    # ---- reporting ----------------------------------------------------------------------------

    def report(self, context: RunContext, results: ResultsWriter, outputs: Mapping[str, Any]) -> None:
        s: PhysicalWorldSettings = context.settings
        sizes = outputs[f"{next(iter(s.epochs))} · seed {context.seeds[0]} · clean"]["sizes"]
        results.add_metric("sizes", sizes)
        plan = self._plan(s, context.seeds, sizes["test"])
        measured: dict[str, list[dict[str, Any]]] = {}
        for arch in s.epochs:
            for seed in context.seeds:
                measured.setdefault(arch, []).append(self._collect(context, results, arch, seed, plan, outputs))
        self._report(context, results, measured, {"fig2": sizes["fig2"], "pool": sizes["pool"]})

    def _collect(self, context, results, arch, seed, plan, outputs) -> dict[str, Any]:
        """One (model, seed)'s measurements from its units, with its metrics."""
        s: PhysicalWorldSettings = context.settings
        tag = f"{arch} seed {seed}"
        clean = outputs[f"{arch} · seed {seed} · clean"]
        parts: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for unit in plan:
            a = unit.args
            if a.get("part") == "attack" and (a["arch"], a["seed"]) == (arch, seed):
                parts.setdefault((a["method"], a["eps"]), []).append(outputs[unit.key])
        out: dict[str, Any] = {
            "top1": {},
            "top5": {},
            "clean top1": clean["clean top1"],
            "clean top5": clean["clean top5"],
            "illc hits": {},
            "perturbation": {},
            "destruction": {},
            "prefilter candidates": {},
        }
        for method in METHODS:
            for eps in s.attack_eps():
                chunks = parts[(method, eps)]
                if eps in s.eps_grid:
                    for k in (1, 5):
                        hits = np.concatenate([c[f"top{k} hits"] for c in chunks])
                        out[f"top{k}"][(method, eps)] = 100 * float(np.mean(hits))
                if chunks[0]["target hits"] is not None:
                    out["illc hits"][eps] = 100 * float(np.mean(np.concatenate([c["target hits"] for c in chunks])))
                if eps not in s.pool_eps():
                    continue
                pool = chunks[0]
                out["perturbation"][(method, eps)] = pool["perturbation"]
                out["prefilter candidates"][(method, eps)] = pool["prefilter candidates"]
                for (scenario, label), d in pool["destruction"].items():
                    out["destruction"][(eps, scenario, method, label)] = DestructionRate(*d)
        out["clean under T"] = clean["clean under T"]
        results.add_metric(
            f"{tag}/destruction counts",
            {
                f"ε={eps}, {scenario}, {method}, {label}": {"numerator": d.numerator, "denominator": d.denominator}
                for (eps, scenario, method, label), d in out["destruction"].items()
            },
        )
        results.add_metric(
            f"{tag}/prefilter candidates (clean correct, adversarial wrong, confidence ≥ threshold, in the pool)",
            {f"{method}, ε={eps}": count for (method, eps), count in out["prefilter candidates"].items()},
        )
        results.add_metric(f"{tag}/ILLC target hit rate (%) per ε", {str(k): v for k, v in out["illc hits"].items()})
        results.add_metric(
            f"{tag}/perturbation statistics on the pool",
            {f"{method}, ε={eps}": stats for (method, eps), stats in out["perturbation"].items()},
        )
        return out

    def _report(self, context, results, measured, sizes) -> None:
        s: PhysicalWorldSettings = context.settings
        eps_d = s.destruction_eps
        photo = _photo_label(s)
        n_random = results.metrics["sizes"]["random"]
        for arch, runs in measured.items():
            for k in (1, 5):
                table = f"Fig. 2 analogue: top-{k} accuracy (%) on {sizes['fig2']:,} test images, {arch}" + (
                    " (top-5 of 10 classes: weak)" if k == 5 else ""
                )
                results.add_cell(table, "clean", "ε=0", [r[f"clean top{k}"] for r in runs])
                for method in METHODS:
                    for eps in s.eps_grid:
                        results.add_cell(table, method, _eps_label(eps), [r[f"top{k}"][(method, eps)] for r in runs])
            for eps in s.fig6_eps():
                for scenario in SCENARIOS:
                    table = _fig6_table(eps, eps_d, arch, scenario)
                    for t in s.transformations.items:
                        for method in METHODS:
                            values = _rates(runs, (eps, scenario, method, t.label))
                            if values:
                                results.add_cell(table, t.label, method, values, digits=1)
            table = (
                "Photos (SIMULATED print-photo on MNIST vs Kurakin's Table 3, real photos of ImageNet): "
                f"top-1 destruction rate (%), {arch}"
            )
            for method in METHODS:
                for eps in s.photo_eps:
                    paper = KURAKIN_TABLE3.get((method, eps))
                    for scenario, column, paper_value in zip(
                        SCENARIOS, ("average case", "prefiltered case"), paper or (None, None)
                    ):
                        values = _rates(runs, (eps, scenario, method, photo))
                        if values:
                            results.add_cell(table, f"{method} ε={eps}", column, values, paper=paper_value, digits=1)
            table = (
                "Eq. 1 denominators (images with the clean image correct and the adversarial image wrong; "
                "the SE of each destruction rate follows from it)"
            )
            for method in METHODS:
                for eps in s.pool_eps():
                    for scenario in SCENARIOS:
                        results.add_cell(
                            table,
                            f"{method} ε={eps}",
                            f"{arch}, {scenario}",
                            [r["destruction"][(eps, scenario, method, photo)].denominator for r in runs],
                            digits=0,
                        )
            table = (
                f"Clean top-1 accuracy (%) under each transformation ({n_random:,} random-scenario "
                "images; a transformation that breaks clean digits cannot restore adversarial ones)"
            )
            for t in s.transformations.items:
                results.add_cell(table, t.label, arch, [r["clean under T"][t.label] for r in runs], digits=1)
        self._figures(s, results, measured, sizes)
        misses = self._claims(context, results, measured)
        self._notes(context, results, measured, sizes, misses)

    # ---- claims -------------------------------------------------------------------------------

    def _claims(self, context, results, measured) -> dict[str, list[str]]:
        """Decide the claims; return, per model, a note for each missed claim with its measured reason."""
        s: PhysicalWorldSettings = context.settings
        eps_d = s.destruction_eps
        photo = _photo_label(s)
        artificial = [t for t in s.transformations.items if t.family != PHOTO]
        labels = [t.label for t in artificial]
        n_fig2 = results.metrics["sizes"]["fig2"]
        misses: dict[str, list[str]] = {}
        for arch, runs in measured.items():
            miss = misses.setdefault(arch, [])
            pert = _mean_perturbation(runs)

            def claim(text: str, decision: Decision, measured_text: str, reason: str, arch=arch, miss=miss) -> None:
                added = results.add_claim(f"{arch}, {text}", decision, measured_text)
                if added.verdict in (claims.FAIL, claims.INCONCLUSIVE):
                    empty = " Some comparisons have no image to measure (Eq. 1's denominator 0)."
                    where, what = text.split(": ", 1)
                    miss.append(
                        f"{arch}, {where}, '{what.split(' (')[0]}': {added.verdict}."
                        f"{empty if _NO_DATA in decision.rule else ''} {reason}"
                    )

            def cells(method, names, scenario, eps=eps_d, runs=runs):  # per seed: (%, denominator) of each cell
                return [[_cell(r["destruction"][(eps, scenario, method, name)]) for name in names] for r in runs]

            # Fig. 2: mean top-1 accuracy over the ε grid (the area under each curve).
            grid = {m: [[(r["top1"][(m, e)], n_fig2) for e in s.eps_grid] for r in runs] for m in METHODS}
            hits = {e: float(np.mean([r["illc hits"][e] for r in runs])) for e in runs[0]["illc hits"]}
            claim(
                "Fig. 2: the least-likely class iterative method reduces top-1 accuracy the most (mean accuracy over "
                f"ε = {', '.join(map(str, s.eps_grid))} lower than fast's and basic iterative's)",
                claims.all_of([_greater(grid[other], grid["ILLC"]) for other in ("fast", "basic iterative")]),
                _means_text(grid)
                + "; per ε (ILLC/basic iterative/fast): "
                + ", ".join(
                    "/".join(f"{np.mean([r['top1'][(m, e)] for r in runs]):.0f}" for m in reversed(METHODS))
                    + f" at {e}"
                    for e in s.eps_grid
                ),
                "ILLC reaches its target (the clean image's least likely class) on "
                + ", ".join(f"{v:.0f}% at ε={e}" for e, v in hits.items())
                + " of the images. Likely reason (not isolated by an experiment): untargeted basic iterative may stop "
                "at any wrong class, ILLC is pulled towards one fixed, most dissimilar class; on ImageNet's 1,000 "
                "classes that cost is small and ILLC's top-1 advantage shows, on 10 classes it is not.",
            )

            def fast_reason(eps, pert=pert):
                share = {m: pert[(m, eps)]["share moved ≥ ε/2"] for m in METHODS}
                premise = "holds" if all(share["fast"] > share[m] for m in METHODS[1:]) else "does not hold"
                return (
                    f"Pixels moved by ≥ ε/2 at ε={eps}: "
                    + ", ".join(f"{m} {v:.0%}" for m, v in share.items())
                    + "; the premise of the paper's explanation (iterative perturbations are subtler, so "
                    f"transformations destroy them more easily) {premise} here; beyond that unexplained."
                )

            def fast_fewest(eps, scenario, where, cells=cells):
                claim(
                    f"{where} ({scenario} images): the fast method loses the fewest adversarial examples (lowest "
                    f"mean destruction rate over the {len(labels)} brightness/contrast/blur/noise/JPEG settings)",
                    claims.all_of(
                        [
                            _greater(cells(other, labels, scenario, eps), cells("fast", labels, scenario, eps))
                            for other in ("basic iterative", "ILLC")
                        ]
                    ),
                    _means_text({m: cells(m, labels, scenario, eps) for m in METHODS}),
                    fast_reason(eps),
                )

            def strong_families(eps, scenario, where, cells=cells, pert=pert, runs=runs):
                # per seed: every (method, strength) cell of the family
                family = {
                    f: [
                        [c for m in METHODS for c in cells(m, _labels(artificial, f), scenario, eps)[i]]
                        for i in range(len(runs))
                    ]
                    for f in (*STRONG_FAMILIES, *WEAK_FAMILIES)
                }
                means = {f: _mean_estimate(v) for f, v in family.items()}
                beaten = [
                    f"{a} ≤ {b}"
                    for a in STRONG_FAMILIES
                    for b in WEAK_FAMILIES
                    if means[a] is not None and means[b] is not None and means[a].mean <= means[b].mean
                ]
                darkening = [t.label for t in artificial if t.family == "brightness" and t.params.get("delta", 0) < 0]
                dark = {m: _mean_estimate(cells(m, darkening, scenario, eps)) for m in METHODS if darkening}
                claim(
                    f"{where} ({scenario} images): Gaussian blur, Gaussian noise and JPEG are the most destructive "
                    "transformations (each family's mean destruction rate over methods and strengths above "
                    "brightness's and contrast's)",
                    claims.all_of([_greater(family[a], family[b]) for a in STRONG_FAMILIES for b in WEAK_FAMILIES]),
                    _means_text(family),
                    (f"Means in the wrong order: {', '.join(beaten)}. " if beaten else "")
                    + (
                        f"The darkening ({', '.join(darkening)}) alone destroys "
                        + ", ".join(f"{m} {_fmt(e)}" for m, e in dark.items())
                        + (
                            "; as stated a priori it clears the background part of every perturbation"
                            if min(-t.params["delta"] for t in artificial if t.label in darkening) >= eps / 255
                            else "; it removes up to its shift from the background part of every perturbation "
                            "(which is ≥ 0 there)"
                        )
                        + " (background pixels carry "
                        + ", ".join(f"{m} {pert[(m, eps)]['background share of L1']:.0%}" for m in METHODS)
                        + " of the perturbation's L1 mass here), an MNIST effect with no ImageNet counterpart. "
                        if darkening
                        else ""
                    )
                    + "Otherwise unexplained.",
                )

            for scenario in SCENARIOS:
                fast_fewest(eps_d, scenario, "Fig. 6")
            claim(
                "Fig. 6 (Kurakin Section 4, not in the seed): ILLC adversarial examples are the least robust (highest "
                "mean destruction rate, both scenarios)",
                claims.all_of(
                    [
                        _greater(cells("ILLC", labels, sc), cells(other, labels, sc))
                        for sc in SCENARIOS
                        for other in ("fast", "basic iterative")
                    ]
                ),
                "; ".join(f"{sc}: " + _means_text({m: cells(m, labels, sc) for m in METHODS}) for sc in SCENARIOS),
                "Unexplained.",
            )
            for scenario in SCENARIOS:
                strong_families(eps_d, scenario, "Fig. 6")
            for eps in s.fig6_eps()[1:]:
                fast_fewest(eps, "random", f"Fig. 6, ours at ε={eps}/255")
                strong_families(eps, "random", f"Fig. 6, ours at ε={eps}/255")
            photo_cells = {
                (m, e, sc): cells(m, [photo], sc, eps=e) for m in METHODS for e in s.photo_eps for sc in SCENARIOS
            }
            claim(
                "photos (SIMULATED print-photo): the fast method loses the fewest adversarial examples (both "
                f"scenarios, ε = {', '.join(map(str, s.photo_eps))})",
                claims.all_of(
                    [
                        _greater(photo_cells[(other, e, sc)], photo_cells[("fast", e, sc)])
                        for other in ("basic iterative", "ILLC")
                        for e in s.photo_eps
                        for sc in SCENARIOS
                    ]
                ),
                _photo_text(photo_cells, s.photo_eps),
                fast_reason(eps_d),
            )
            claim(
                "photos (SIMULATED print-photo): randomly chosen basic iterative and ILLC images stay adversarial "
                "better than prefiltered ones (destruction rate random < prefiltered)",
                claims.all_of(
                    [
                        _greater(photo_cells[(m, e, "prefiltered")], photo_cells[(m, e, "random")])
                        for m in ("basic iterative", "ILLC")
                        for e in s.photo_eps
                    ]
                ),
                _photo_text(photo_cells, s.photo_eps, methods=("basic iterative", "ILLC")),
                "Unexplained (Kurakin's explanation, subtle co-adaptations of high-confidence iterative examples, is "
                "not tested here).",
            )
            weak = [t.label for t in artificial if t.family in WEAK_FAMILIES]
            decisions, worst = [], {}
            for m in METHODS:
                for name in weak:
                    estimate = _mean_estimate(cells(m, [name], "random"))
                    if estimate is None:
                        decisions.append(_no_data())
                        continue
                    decisions.append(claims.at_most(estimate, KURAKIN_SECTION4_BOUND[m]))
                    if estimate.mean > worst.get(m, (-1.0, ""))[0]:
                        worst[m] = (estimate.mean, name)
            claim(
                "Fig. 6 (Kurakin Section 4, not in the seed; ImageNet numbers): brightness and contrast destroy "
                "< 5% of fast and basic iterative and < 20% of ILLC adversarial examples (random images, every "
                "setting)",
                claims.at_scale(claims.all_of(decisions), context.paper_scale),
                "highest: " + ", ".join(f"{m} {v:.1f}% ({name})" for m, (v, name) in worst.items()),
                "The bound is Inception v3's on ImageNet; see the darkening note above for the MNIST-specific part.",
            )
        return misses

    def _figures(self, s: PhysicalWorldSettings, results, measured, sizes) -> None:
        eps_grid = s.eps_grid
        colors = {"fast": "tab:blue", "basic iterative": "tab:orange", "ILLC": "tab:red"}
        figure = Figure(figsize=(5 * len(measured), 3.8))
        axes = np.atleast_1d(figure.subplots(1, len(measured), squeeze=False)[0])
        for ax, (arch, runs) in zip(axes, measured.items()):
            for k, style in ((1, "-"), (5, ":")):
                clean = float(np.mean([r[f"clean top{k}"] for r in runs]))
                ax.axhline(clean, color="black", linestyle=style, linewidth=1, label=f"clean top-{k}")
                for method in METHODS:
                    values = [float(np.mean([r[f"top{k}"][(method, e)] for r in runs])) for e in eps_grid]
                    ax.plot(
                        eps_grid,
                        values,
                        style,
                        marker="o" if k == 1 else None,
                        color=colors[method],
                        label=f"{method} top-{k}",
                    )
            ax.set_xscale("log", base=2)
            ax.set_xticks(eps_grid, [str(e) for e in eps_grid])
            ax.set_ylim(0, 102)
            ax.set_xlabel("ε (0…255 units)")
            ax.set_ylabel("accuracy (%)")
            ax.set_title(f"{arch} ({sizes['fig2']:,} test images)", fontsize=9)
            ax.legend(fontsize=6, ncol=2)
        figure.suptitle("Fig. 2 analogue (MNIST): accuracy under fast, basic iterative and ILLC", fontsize=10)
        results.add_figure("fig2_accuracy_vs_eps", figure)

        labels = [t.label for t in s.transformations.items]
        panels = [(eps, scenario) for eps in s.fig6_eps() for scenario in SCENARIOS]
        figure = Figure(figsize=(3.6 * len(panels), 0.4 * len(labels) * len(measured) + 1.5))
        grid = figure.subplots(len(measured), len(panels), squeeze=False)
        for row, (arch, runs) in enumerate(measured.items()):
            for col, (eps, scenario) in enumerate(panels):
                ax = grid[row][col]
                values = np.array(
                    [
                        [_nanmean(_rates(runs, (eps, scenario, m, label), keep_nan=True)) for m in METHODS]
                        for label in labels
                    ]
                )
                ax.imshow(np.nan_to_num(values, nan=0.0), vmin=0, vmax=100, cmap="Reds", aspect="auto")
                for i in range(len(labels)):
                    for j in range(len(METHODS)):
                        text = "n/a" if math.isnan(values[i, j]) else f"{values[i, j]:.0f}"
                        ax.text(j, i, text, ha="center", va="center", fontsize=7)
                ax.set_xticks(range(len(METHODS)), METHODS, fontsize=7)
                ax.set_yticks(range(len(labels)), labels if col == 0 else [], fontsize=7)
                ours = "" if eps == s.destruction_eps else " (ours)"
                ax.set_title(f"{arch}, ε={eps}/255{ours}, {scenario}", fontsize=8)
        figure.suptitle(
            "Fig. 6 analogue: destruction rate (%) per method and transformation (print-photo is a simulation; "
            "n/a: no adversarial example to destroy)",
            fontsize=10,
        )
        results.add_figure("fig6_destruction_heatmap", figure)

    # ---- notes --------------------------------------------------------------------------------

    def _notes(self, context, results, measured, sizes, misses) -> None:
        s: PhysicalWorldSettings = context.settings
        results.add_note(
            "MNIST ANALOGUE: Kurakin et al. attack Inception v3 on ImageNet (50,000 validation images) and photograph "
            "printed images with a phone; none of that is available offline. Here: MNIST CNNs ("
            + "; ".join(s.spec(a).describe() for a in s.epochs)
            + "), and the photo is `print-photo`, a SIMULATION (blur → contrast → brightness → sensor noise → JPEG at "
            "strengths fixed a priori in the plugin), not a photo. Absolute numbers are not comparable with the "
            "paper's; the claims decided here are its relative ones."
        )
        results.add_note(f"Preset {context.preset.name}: {context.preset.description}.")
        results.add_note(
            "Methods: fast = ART FastGradientMethod (L∞, true labels); basic iterative = ART BasicIterativeMethod "
            "with α = 1/255 and ⌊min(ε + 4, 1.25 ε)⌋ iterations (ε in 0…255 units); ILLC = the `illc` plugin "
            "(target: the clean image's least likely class, same α and iterations). α and the iteration rule are "
            "from the original paper (not in the seed); for ε = 2 the rule gives 2.5, rounded down to 2. Our images "
            "are in [0, 1], so every ε is divided by 255."
        )
        results.add_note(
            f"Scenarios, both drawn from the same {sizes['pool']:,} attacked test images (image order and draws "
            f"seeded with image_seed = {s.image_seed}, the same for every model): random = "
            f"{results.metrics['sizes']['random']:,} images drawn once (Kurakin's 'average case'; his Section 4 used "
            "one random 1,000-image subset); prefiltered = images whose clean version is classified correctly and "
            "whose adversarial version is misclassified with softmax confidence ≥ "
            f"{s.prefilter_confidence} (Kurakin Section 3.2), at most {s.prefiltered_size:,} per method. The seed "
            "and the specs define prefiltered as 'clean correct, adversarial wrong' only; for the top-1 Eq. 1 that "
            "changes nothing, since Eq. 1's denominator keeps exactly those images anyway (the prefiltered rate "
            "would equal the random one up to sampling), so the original's confidence threshold is what makes the "
            "scenario differ, and we use it. The original also requires the adversarial image to be wrong in top-5; "
            "on 10 classes that is a much stronger, different condition (true class in the bottom half), so it is "
            "dropped. Prefilter candidates per method and ε are in results.json."
        )
        results.add_note(
            "Destruction rate: Eq. 1 (artx.destruction), top-1; the clean images are not transformed (as in Eq. 1). "
            "Kurakin also reports top-5 destruction rates; with 10 classes top-5 is close to trivial, so only top-1 "
            "is measured. Fig. 2's top-5 accuracy is reported for completeness and is weak for the same reason. The "
            "paper's Fig. 6 values exist only as a plot (not in the seed, not in the original's text), so the Fig. 6 "
            "tables carry no paper value; the simulated-photo table carries Kurakin's Table 3 (original paper, not in "
            "the seed: real photos of ImageNet images, 102 images per cell). Claims over several cells use the mean "
            "of the cells with SE = the mean of their Agresti–Coull binomial SEs (one seed), an upper bound on the "
            "SE of the mean whatever the cells' correlation; differences add SEs in quadrature (artx.claims)."
        )
        results.add_note(
            "Transformation strengths, chosen a priori before any destruction rate was measured (neither the seed nor "
            "the specs give them, and the original's Fig. 6 plot could not be read offline): "
            + s.transformations.describe()
            + ". Reasons: brightness ±0.1 ≈ ±26/255 and contrast ×0.7/×1.3 are visible lighting changes that keep "
            "digits legible; blur σ 0.5 (mild) and 1.0 px (visibly soft 2–3 px strokes); noise σ 0.05/0.1 ≈ 13/255 "
            "and 26/255 bracket ε = 16/255; JPEG 75 is Pillow's/ImageMagick's default, 25 is heavy compression. "
            "Expected a priori: a darkening larger than ε erases the background part of every perturbation (MNIST's "
            "background is 0, where the perturbation is ≥ 0 and ≤ ε), an MNIST-specific effect. Gaussian noise and "
            "print-photo draw with the run's seed."
        )
        if s.fig6_eps()[1:]:
            results.add_note(
                "Ours, beyond the paper: the Fig. 6 tables are repeated at ε = "
                + ", ".join(f"{e}/255" for e in s.fig6_eps()[1:])
                + f" (the grid value nearest the usual MNIST budget 0.25). At the paper's ε = {s.destruction_eps}/255 "
                "(barely visible noise on ImageNet photos) MNIST CNNs are rarely fooled, so Eq. 1's denominators "
                "(table above) are small, for ILLC often 0; this ε was added after the first quick run showed that, "
                "and was not chosen by looking at destruction rates. Its claims (random images) are ours, not the "
                "paper's."
            )
        for arch, runs in measured.items():
            pert = _mean_perturbation(runs)
            eps_d = s.destruction_eps
            results.add_note(
                f"{arch}, perturbations at ε = {eps_d}/255 on the pool (mean per image): "
                + "; ".join(
                    f"{m}: L2 {pert[(m, eps_d)]['l2']:.2f}, pixels moved by ≥ ε/2 "
                    f"{pert[(m, eps_d)]['share moved ≥ ε/2']:.0%}, background (clean = 0) share of the L1 mass "
                    f"{pert[(m, eps_d)]['background share of L1']:.0%}"
                    for m in METHODS
                )
                + ". Kurakin explain the robustness of fast examples by the iterative methods' subtler perturbations."
            )
            for text in misses.get(arch, []):
                results.add_note(text)


# ---- helpers ------------------------------------------------------------------------------------


class _RememberedPredictions:
    """An ART classifier whose ``predict`` remembers its answer per input (by content): Eq. 1 classifies
    the same clean and adversarial images once per transformation, and ``artx.destruction`` takes a
    classifier, so the memory sits in front of it. Everything else is the wrapped classifier's."""

    def __init__(self, classifier: Any) -> None:
        self._classifier = classifier
        self._answers: dict[tuple, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._classifier, name)

    def predict(self, x: np.ndarray, batch_size: int = 256, **kwargs: Any) -> np.ndarray:
        x = np.ascontiguousarray(x)
        key = (x.shape, x.dtype.str, hashlib.sha256(x.view(np.uint8)).hexdigest(), batch_size, tuple(sorted(kwargs)))
        if key not in self._answers:
            self._answers[key] = self._classifier.predict(x, batch_size=batch_size, **kwargs)
        return self._answers[key]


def _fig6_table(eps: int, paper_eps: int, arch: str, scenario: str) -> str:
    if eps == paper_eps:
        return f"Fig. 6 analogue: destruction rate (%) at ε={eps}/255, {arch}, {scenario} images"
    return f"Fig. 6, ours at ε={eps}/255 (MNIST scale): destruction rate (%), {arch}, {scenario} images"


_NO_DATA = "no adversarial example to destroy"


def _photo_label(s: PhysicalWorldSettings) -> str:
    return next(t.label for t in s.transformations.items if t.family == PHOTO)


def _hits(logits: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Per image, whether the true class is among the ``k`` top logits."""
    top = np.argsort(logits, axis=1)[:, -k:]
    return (top == y[:, None]).any(axis=1)


def _top_k(logits: np.ndarray, y: np.ndarray, k: int) -> float:
    """Top-k accuracy (%)."""
    return 100 * float(np.mean(_hits(logits, y, k)))


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _perturbation_stats(x: np.ndarray, x_adv: np.ndarray) -> dict[str, float]:
    """Mean L2 and L∞ per image, the share of pixels moved by at least half the largest move, and the
    share of each perturbation's L1 mass on background pixels (clean value 0)."""
    norms = perturbation_norms(x, x_adv)
    delta = np.abs(x_adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
    eps = max(float(norms.linf.max()), 1e-12)
    background = (x.reshape(len(x), -1) == 0).astype(np.float64)
    l1 = delta.sum(axis=1)
    share_background = np.divide((delta * background).sum(axis=1), l1, out=np.zeros_like(l1), where=l1 > 0)
    return {
        "l2": float(norms.l2.mean()),
        "linf": float(norms.linf.mean()),
        "share moved ≥ ε/2": float(np.mean(delta >= eps / 2)),
        "background share of L1": float(share_background.mean()),
    }


def _mean_perturbation(runs: Sequence[dict]) -> dict[tuple[str, int], dict[str, float]]:
    keys = runs[0]["perturbation"]
    return {key: {k: float(np.mean([r["perturbation"][key][k] for r in runs])) for k in keys[key]} for key in keys}


def _cell(d: DestructionRate) -> tuple[float, int]:
    """A destruction rate as (%, denominator)."""
    return 100 * d.rate, d.denominator


def _rates(runs: Sequence[dict], key: tuple, keep_nan: bool = False) -> list[float]:
    values = [100 * r["destruction"][key].rate for r in runs]
    return values if keep_nan else [v for v in values if math.isfinite(v)]


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _labels(items: Sequence[Transformation], family: str) -> list[str]:
    return [t.label for t in items if t.family == family]


def _agresti_coull_se(percent: float, n: int) -> float:
    """SE (%) of a proportion over n items, Agresti–Coull (two successes and two failures added): unlike the
    plain binomial SE it is not 0 at 0 % or 100 %, where a handful of items would otherwise look noiseless."""
    p = (percent / 100 * n + 2) / (n + 4)
    return 100 * math.sqrt(p * (1 - p) / (n + 4))


def _mean_estimate(per_seed: Sequence[Sequence[tuple[float, int]]]) -> Estimate | None:
    """The mean of several proportions (%, each over its own n items) as an Estimate.

    Several seeds: the per-seed means' spread. One seed: SE = the mean of the cells' Agresti–Coull SEs, an
    upper bound whatever their correlation (the SD of a mean is at most the mean of the SDs). Cells with
    no item (n = 0, an undefined destruction rate) are left out; None if a seed has nothing left.
    """
    kept = [[(v, n) for v, n in cells if n > 0 and math.isfinite(v)] for cells in per_seed]
    if not kept or any(not cells for cells in kept):
        return None
    means = [float(np.mean([v for v, _ in cells])) for cells in kept]
    if len(kept) >= 2:
        return Estimate.from_seeds(means)
    cells = kept[0]
    se = float(np.mean([_agresti_coull_se(v, n) for v, n in cells]))
    return Estimate(means[0], se, f"mean of {len(cells)}, SE ≤ mean Agresti–Coull SE")


def _no_data() -> Decision:
    return Decision(claims.INCONCLUSIVE, f"{_NO_DATA} (Eq. 1's denominator is 0)")


def _greater(a: Sequence[Sequence[tuple[float, int]]], b: Sequence[Sequence[tuple[float, int]]]) -> Decision:
    """The claim "mean of a's cells > mean of b's cells", decided with their noise (paired over seeds)."""
    ea, eb = _mean_estimate(a), _mean_estimate(b)
    if ea is None or eb is None:
        return _no_data()
    if len(a) >= 2:
        per_seed = [[_mean_estimate([cells]).mean for cells in side] for side in (a, b)]
        return claims.greater(claims.paired_difference(per_seed[0], per_seed[1]))
    return claims.greater(claims.difference(ea, eb))


def _fmt(estimate: Estimate | None) -> str:
    return "n/a" if estimate is None else f"{estimate.mean:.1f}%"


def _means_text(groups: Mapping[str, Sequence[Sequence[tuple[float, int]]]]) -> str:
    return ", ".join(f"{name} {_fmt(_mean_estimate(cells))}" for name, cells in groups.items())


def _photo_text(photo_cells, photo_eps, methods=METHODS) -> str:
    return "; ".join(
        f"ε={eps} {scenario}: "
        + ", ".join(f"{m} {_fmt(_mean_estimate(photo_cells[(m, eps, scenario)]))}" for m in methods)
        for eps in photo_eps
        for scenario in SCENARIOS
    )


if __name__ == "__main__":
    from artx.cli import main

    sys.exit(main(["reproduce", "physical-world", *sys.argv[1:]]))
