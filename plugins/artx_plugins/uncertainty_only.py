"""``uncertainty-only``: one threshold on Monte-Carlo-dropout uncertainty (the Bayesian-uncertainty
detector of Feinman et al. 2017, with the uncertainty measure of Alshemali et al. 2019 §4.2).

An image is adversarial iff its uncertainty (mean over classes of the standard deviation over N
dropout passes of the softmax, see :mod:`artx.mc_dropout`) exceeds the threshold T. ``fit``
picks T by information gain (a depth-1 entropy decision tree on the uncertainty), then refines
it by an exhaustive search for the best detection accuracy (ties towards the information-gain
value). A baseline for ``hybrid-uncertainty``, with the same interface.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from artx_plugins._detection import (
    UncertaintyDetectorBase,
    best_single_threshold,
    check_is_adversarial,
    check_threshold,
    clamp_threshold,
    information_gain_splits,
    preprocessed,
)

logger = logging.getLogger(__name__)


class UncertaintyOnlyDetector(UncertaintyDetectorBase):
    """Adversarial iff the MC-dropout uncertainty exceeds ``threshold``.

    :param classifier: ART ``PyTorchClassifier`` whose model has dropout.
    :param n_passes: Monte-Carlo dropout passes N (≥ 2; default 50).
    :param threshold: T, or None until :meth:`fit`.
    :param batch_size: Images per batch.
    :param seed: Seed of the dropout masks.
    """

    defence_params = ["n_passes", "threshold", "batch_size", "seed"]

    def __init__(
        self, classifier: Any, n_passes: int = 50, threshold: float | None = None, batch_size: int = 512, seed: int = 0
    ):
        super().__init__(classifier, n_passes=n_passes, batch_size=batch_size, seed=seed)
        self.threshold = threshold
        self.calibration: dict[str, Any] = {}
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        if self.threshold is not None:
            check_threshold(self.threshold, "threshold", self.classifier.nb_classes)

    def fit(self, x: np.ndarray, y: np.ndarray, batch_size: int = 128, nb_epochs: int = 1, **kwargs: Any) -> None:
        """Calibrate T on clean and adversarial examples (``y`` = is-adversarial flag per image)."""
        x = preprocessed(self.classifier, self._check_x(x))
        is_adversarial = check_is_adversarial(y, len(x))
        uncertainty = self._mc_dropout(x).uncertainty
        splits = information_gain_splits(uncertainty, is_adversarial, depth=1) or [float(np.median(uncertainty))]
        gain = splits[0]
        gain_accuracy = float(np.mean((uncertainty > gain) == is_adversarial))
        threshold, accuracy = best_single_threshold(uncertainty, is_adversarial, gain)
        self.threshold = clamp_threshold(threshold, self.classifier.nb_classes)
        self.calibration = {
            "information_gain": {"threshold": gain, "accuracy": gain_accuracy},
            "refined": {"threshold": self.threshold, "accuracy": accuracy},
            "n_clean": int((~is_adversarial).sum()),
            "n_adversarial": int(is_adversarial.sum()),
        }
        logger.info(
            "uncertainty-only calibrated: information gain T=%.4g (acc %.4f) → refined T=%.4g (acc %.4f)",
            gain,
            gain_accuracy,
            self.threshold,
            accuracy,
        )

    def detect(self, x: np.ndarray, batch_size: int = 128, **kwargs: Any) -> tuple[dict, np.ndarray]:
        """Flag adversarial images; the report holds ``uncertainty``, ``provisional_label``, ``threshold``."""
        if self.threshold is None:
            raise ValueError("threshold is not set: call fit(x, is_adversarial) or pass threshold=")
        x = preprocessed(self.classifier, self._check_x(x))
        mc = self._mc_dropout(x)
        is_adversarial = mc.uncertainty > self.threshold
        report = {
            "uncertainty": mc.uncertainty,
            "provisional_label": mc.labels,
            "threshold": self.threshold,
            "n_passes": self.n_passes,
        }
        return report, is_adversarial
