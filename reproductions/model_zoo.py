"""``artx reproduce model-zoo``: clean accuracy of the zoo architectures on MNIST.

The baseline every paper reproduction builds on: each architecture trained with artx's cached
training (Adam, lr 1e-3, batch 128) and tested on the MNIST test set, next to the accuracy its
source paper reports, plus FGSM accuracy (ε = 0.1, stock ART attack by registry name).

Paper values: ``paper-cnn`` 99.36% and ``lenet5`` 99.13% ("Experimenting with Adversarial
Robustness ... Minimally Identifiable Dataset", Table 2, no attack); ``lenet5-dropout`` ≈98%
(Alshemali et al. 2019); ``cw-mnist`` 99.5% (Carlini & Wagner 2017, Table 1). ``shallow-mlp``
has no paper value.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from artx import claims
from artx.claims import Estimate
from artx.evaluation import accuracy, evaluate_attack
from artx.reproduction import Preset, Reproduction, RunContext, Settings, Unit
from artx.results import ResultsWriter
from artx.training import TrainingSpec

PAPER_ACCURACY = {"paper-cnn": 99.36, "lenet5": 99.13, "lenet5-dropout": 98.0, "cw-mnist": 99.5, "shallow-mlp": None}
TABLE = "Clean and FGSM test accuracy (%) on the preset's MNIST test set"


@dataclasses.dataclass(frozen=True)
class ZooSettings(Settings):
    epochs: Mapping[str, int] = dataclasses.field(metadata={"doc": "training epochs per architecture"})
    fgsm_eps: float = dataclasses.field(default=0.1, metadata={"doc": "L∞ budget of the FGSM column"})
    batch_size: int = 128
    optimizer: str = dataclasses.field(default="adam", metadata={"doc": "artx default learning rate"})

    def spec(self, arch: str) -> TrainingSpec:
        return TrainingSpec(arch, epochs=self.epochs[arch], optimizer=self.optimizer, batch_size=self.batch_size)


QUICK = ZooSettings(epochs={"paper-cnn": 10, "lenet5": 30, "lenet5-dropout": 30, "shallow-mlp": 30, "cw-mnist": 20})
PAPER = ZooSettings(epochs={"paper-cnn": 8, "lenet5": 20, "lenet5-dropout": 20, "shallow-mlp": 15, "cw-mnist": 12})


class ModelZoo(Reproduction):
    name = "model-zoo"
    title = "Clean accuracy of the artx model zoo on MNIST"
    presets = {
        "quick": Preset(
            "quick",
            "mnist-5k",
            "embedded 5k MNIST subset (4,000 train / 1,000 test): numbers sit below the papers', which use 60,000 "
            "training images",
            seeds=1,
            settings=QUICK,
        ),
        "paper": Preset("paper", "mnist", "full MNIST (60,000 train / 10,000 test)", seeds=3, settings=PAPER),
    }

    def units(self, context: RunContext) -> list[Unit]:
        """One unit per (architecture, seed): train it, test it clean and under FGSM."""
        return [
            Unit(f"{arch} · seed {seed}", {"arch": arch, "seed": seed})
            for arch in context.settings.epochs
            for seed in context.seeds
        ]

    def run_unit(self, context: RunContext, unit: Unit) -> dict:
        s: ZooSettings = context.settings
        arch, seed = unit.args["arch"], unit.args["seed"]
        x_train, y_train = context.load("train")
        x_test, y_test = context.load("test")
        trained = context.train(s.spec(arch), x_train, y_train, seed=seed)
        classifier = context.classifier(trained.model)
        clean = 100 * accuracy(classifier, x_test, y_test)
        with context.stage(f"FGSM ε={s.fgsm_eps} on {arch} seed {seed}", timing=f"fgsm {arch}"):
            outcome = evaluate_attack(classifier, x_test, y_test, "fgsm", {"eps": s.fgsm_eps, "batch_size": 256})
        return {
            "clean": clean,
            "fgsm": 100 * outcome.adversarial_accuracy,
            "train_seconds": trained.train_seconds,
            "n_test": len(x_test),
        }

    def report(self, context: RunContext, results: ResultsWriter, outputs: Mapping[str, dict]) -> None:
        s: ZooSettings = context.settings
        clean: dict[str, list[float]] = {}
        for arch in s.epochs:
            runs = [outputs[f"{arch} · seed {seed}"] for seed in context.seeds]
            clean[arch] = [run["clean"] for run in runs]
            results.add_cell(TABLE, arch, "clean", clean[arch], paper=PAPER_ACCURACY.get(arch))
            results.add_cell(TABLE, arch, f"FGSM ε={s.fgsm_eps}", [run["fgsm"] for run in runs])
            results.add_metric(f"{arch}/epochs", s.epochs[arch])
            # Training time of the (possibly cached) models: kept out of the deterministic part.
            results.timings[f"{arch}/original training seconds per seed"] = sum(
                run["train_seconds"] for run in runs
            ) / len(runs)

        self._figure(results, s, outputs, context.seeds)
        n_test = runs[0]["n_test"]
        for arch in ("paper-cnn", "lenet5"):
            if arch in clean:
                estimate = Estimate.measure(clean[arch], n=n_test)
                results.add_claim(
                    f"{arch} reaches the paper's {PAPER_ACCURACY[arch]}% clean test accuracy",
                    claims.at_scale(claims.at_least(estimate, PAPER_ACCURACY[arch]), context.paper_scale),
                    f"{estimate.format()}% on {context.preset.dataset}",
                )
        if "shallow-mlp" in clean:
            mlp = Estimate.measure(clean["shallow-mlp"], n=n_test)
            decisions, measured = [], []
            for arch, values in clean.items():
                if arch == "shallow-mlp":
                    continue
                cnn = Estimate.measure(values, n=n_test)
                diff = (
                    claims.paired_difference(values, clean["shallow-mlp"])
                    if len(values) > 1
                    else claims.difference(cnn, mlp)
                )
                decisions.append(claims.greater(diff))
                measured.append(f"{arch} {cnn.mean:.2f}")
            results.add_claim(
                "every CNN beats the one-hidden-layer MLP on clean accuracy",
                claims.all_of(decisions),
                f"{', '.join(measured)} vs shallow-mlp {mlp.mean:.2f}%",
            )
        results.add_note(f"Preset {context.preset.name}: {context.preset.description}.")
        results.add_note(
            f"Training: {s.optimizer} (artx default lr), batch {s.batch_size}, cross-entropy, no augmentation; epochs "
            "per model in results.json config."
        )
        results.add_note(
            f"FGSM: ART FastGradientMethod, L∞, ε = {s.fgsm_eps}, untargeted with the true labels, on the whole test "
            "set."
        )

    @staticmethod
    def _figure(results: ResultsWriter, s: ZooSettings, outputs: Mapping[str, dict], seeds: list[int]) -> None:
        """Clean and FGSM accuracy per architecture, the paper's clean accuracy as a marker."""
        archs = list(s.epochs)
        clean = [np.mean([outputs[f"{arch} · seed {seed}"]["clean"] for seed in seeds]) for arch in archs]
        fgsm = [np.mean([outputs[f"{arch} · seed {seed}"]["fgsm"] for seed in seeds]) for arch in archs]
        figure = Figure(figsize=(7, 3.5))
        axes = figure.subplots()
        positions = np.arange(len(archs))
        axes.bar(positions - 0.2, clean, width=0.4, label="clean", color="tab:blue")
        axes.bar(positions + 0.2, fgsm, width=0.4, label=f"FGSM ε={s.fgsm_eps}", color="tab:red")
        papers = [(i, PAPER_ACCURACY[a]) for i, a in enumerate(archs) if PAPER_ACCURACY.get(a) is not None]
        axes.scatter(
            [i - 0.2 for i, _ in papers],
            [v for _, v in papers],
            marker="_",
            s=400,
            color="black",
            label="paper (clean)",
        )
        axes.set_xticks(positions, archs, fontsize=8)
        axes.set_ylabel("test accuracy (%)")
        axes.set_ylim(0, 100)
        axes.legend(fontsize=7, loc="lower left")
        axes.set_title(f"model zoo: mean over {len(seeds)} seed(s)", fontsize=9)
        results.add_figure("accuracy_per_model", figure)


if __name__ == "__main__":
    from artx.cli import main

    sys.exit(main(["reproduce", "model-zoo", *sys.argv[1:]]))
