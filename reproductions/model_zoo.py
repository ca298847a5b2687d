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

import sys

from artx.evaluation import MeanStd, accuracy, evaluate_attack
from artx.model_cache import train_cached
from artx.models import to_art_classifier
from artx.reproduction import Preset, Reproduction, RunContext
from artx.results import ResultsWriter

PAPER_ACCURACY = {"paper-cnn": 99.36, "lenet5": 99.13, "lenet5-dropout": 98.0, "cw-mnist": 99.5, "shallow-mlp": None}
ACCEPTANCE = {"paper-cnn": 99.0, "lenet5": 98.8}
FGSM_EPS = 0.1
TABLE = "Clean and FGSM test accuracy (%) on the preset's MNIST test set"


class ModelZoo(Reproduction):
    name = "model-zoo"
    title = "Clean accuracy of the artx model zoo on MNIST"
    presets = {
        "quick": Preset(
            "quick",
            "mnist-5k",
            "embedded 5k MNIST subset (4,000 train / 1,000 test): numbers sit below the papers', which use 60,000 training images",
            seeds=1,
            settings={"epochs": {"paper-cnn": 10, "lenet5": 30, "lenet5-dropout": 30, "shallow-mlp": 30, "cw-mnist": 20}, "fgsm_eps": FGSM_EPS, "batch_size": 128, "optimizer": "adam"},
        ),
        "paper": Preset(
            "paper",
            "mnist",
            "full MNIST (60,000 train / 10,000 test)",
            seeds=3,
            settings={"epochs": {"paper-cnn": 8, "lenet5": 20, "lenet5-dropout": 20, "shallow-mlp": 15, "cw-mnist": 12}, "fgsm_eps": FGSM_EPS, "batch_size": 128, "optimizer": "adam"},
        ),
    }

    def run(self, context: RunContext, results: ResultsWriter) -> None:
        settings = context.settings
        x_train, y_train = context.load("train")
        x_test, y_test = context.load("test")
        clean: dict[str, MeanStd] = {}
        for arch, epochs in settings["epochs"].items():
            clean_values, fgsm_values, train_seconds = [], [], []
            for seed in context.seeds:
                with results.timed(f"train {arch}"):
                    trained = train_cached(arch, x_train, y_train, epochs=epochs, optimizer=settings["optimizer"], batch_size=settings["batch_size"], seed=seed, device=context.device, progress=context.progress)
                train_seconds.append(trained.train_seconds)
                classifier = to_art_classifier(trained.model, device=context.device)
                clean_values.append(100 * accuracy(classifier, x_test, y_test))
                with results.timed(f"fgsm {arch}"):
                    outcome = evaluate_attack(classifier, x_test, y_test, "fgsm", {"eps": settings["fgsm_eps"], "batch_size": 256})
                fgsm_values.append(100 * outcome.adversarial_accuracy)
            clean[arch] = MeanStd(tuple(clean_values))
            results.add_cell(TABLE, arch, "clean", clean_values, paper=PAPER_ACCURACY.get(arch))
            results.add_cell(TABLE, arch, f"FGSM ε={settings['fgsm_eps']}", fgsm_values)
            results.add_metric(f"{arch}/epochs", epochs)
            # Training time of the (possibly cached) models: kept out of the deterministic part.
            results.timings[f"{arch}/original training seconds per seed"] = sum(train_seconds) / len(train_seconds)

        for arch, threshold in ACCEPTANCE.items():
            if arch in clean:
                results.add_claim(
                    f"{arch} reaches ≥ {threshold}% clean test accuracy (paper {PAPER_ACCURACY[arch]}%)",
                    clean[arch].mean >= threshold,
                    f"{clean[arch].format()}% on {context.preset.dataset}",
                )
        if "shallow-mlp" in clean:
            cnns = {arch: stats for arch, stats in clean.items() if arch != "shallow-mlp"}
            worst = min(cnns, key=lambda arch: cnns[arch].mean)
            results.add_claim(
                "every CNN beats the one-hidden-layer MLP on clean accuracy",
                cnns[worst].mean > clean["shallow-mlp"].mean,
                f"worst CNN {worst} {cnns[worst].format()}% vs shallow-mlp {clean['shallow-mlp'].format()}%",
            )
        results.add_note(f"Preset {context.preset.name}: {context.preset.description}.")
        results.add_note("Training: Adam (lr 1e-3), batch 128, cross-entropy, no augmentation; epochs per model in results.json config.")
        results.add_note(f"FGSM: ART FastGradientMethod, L∞, ε = {settings['fgsm_eps']}, untargeted with the true labels, on the whole test set.")


if __name__ == "__main__":
    from artx.cli import main

    sys.exit(main(["reproduce", "model-zoo", *sys.argv[1:]]))
