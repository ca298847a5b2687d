"""``hybrid-uncertainty``: Monte-Carlo-dropout uncertainty with two thresholds, and a five-crop
vote for the uncertain band in between (Alshemali, Graham & Kalita 2019, "Toward Robust Image
Classification", as reproduced by Wang & Zhang).

Per image, from N dropout passes (only the dropout layers sample, see :mod:`artx.mc_dropout`):

- provisional class = argmax of the mean logits over the passes;
- uncertainty u = mean over classes of the standard deviation over passes of the softmax (§4.2);
- u > H → adversarial; u < L → clean; L ≤ u ≤ H → the image and its five crops (top-left,
  top-right, bottom-left, bottom-right, centre; side ``crop_fraction`` of the image's, each
  resized back) are classified with dropout off, and the image is clean iff **at least**
  ``agreement`` (C) of the five crops agree with the provisional class.

The paper's algorithm writes "counter > C" while its text sets C = 5, "which means that all of 5
classifications ... need to be the same"; "≥ C" is the reading consistent with the text (and the
only one under which C = 5 can ever hold), and the one used here, with C = 5 by default.

``fit(x, y)`` calibrates L and H on clean and adversarial examples (``y`` = is-adversarial):
first a depth-2 entropy decision tree on u gives the information-gain thresholds (the outer
two of the tree's splits), then an exhaustive search over quantile candidates picks the (L, H)
with the best detection accuracy, ties broken towards the information-gain pair. Both pairs are
kept in :attr:`calibration`. Thresholds can also be passed to the constructor.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from artx_plugins._detection import (
    UncertaintyDetectorBase,
    best_band,
    check_is_adversarial,
    check_threshold,
    clamp_threshold,
    information_gain_splits,
    preprocessed,
)

logger = logging.getLogger(__name__)

BANDS = ("clean", "uncertain", "adversarial")


class HybridUncertaintyDetector(UncertaintyDetectorBase):
    """MC-dropout uncertainty thresholds (L, H) with a five-crop vote between them.

    :param classifier: ART ``PyTorchClassifier`` whose model has dropout.
    :param n_passes: Monte-Carlo dropout passes N (≥ 2; default 50).
    :param low: Threshold L (uncertainty below it → clean), or None until :meth:`fit`.
    :param high: Threshold H (uncertainty above it → adversarial), or None until :meth:`fit`.
    :param agreement: C, crops (of 5) that must agree with the provisional class (default 5, the paper's:
        all five).
    :param crop_fraction: Crop side as a fraction of the image side, in (0, 1] (default 0.93:
        26 of 28 pixels).
    :param batch_size: Images per batch.
    :param seed: Seed of the N dropout masks, shared by all images: an image's verdict depends
        only on the seed and the image, not on its batch or position.
    """

    defence_params = ["n_passes", "low", "high", "agreement", "crop_fraction", "batch_size", "seed"]

    def __init__(
        self,
        classifier: Any,
        n_passes: int = 50,
        low: float | None = None,
        high: float | None = None,
        agreement: int = 5,
        crop_fraction: float = 0.93,
        batch_size: int = 512,
        seed: int = 0,
    ):
        super().__init__(
            classifier,
            n_passes=n_passes,
            agreement=agreement,
            crop_fraction=crop_fraction,
            batch_size=batch_size,
            seed=seed,
        )
        self.low = low
        self.high = high
        self.calibration: dict[str, Any] = {}
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        if (self.low is None) != (self.high is None):
            raise ValueError(
                f"low and high must be given together (or both None until fit); got low={self.low!r}, "
                f"high={self.high!r}"
            )
        if self.low is not None:
            check_threshold(self.low, "low", self.classifier.nb_classes)
            check_threshold(self.high, "high", self.classifier.nb_classes)
            if self.low > self.high:
                raise ValueError(f"low must not exceed high (L ≤ H); got low={self.low}, high={self.high}")

    def fit(self, x: np.ndarray, y: np.ndarray, batch_size: int = 128, nb_epochs: int = 1, **kwargs: Any) -> None:
        """Calibrate L and H on clean and adversarial examples.

        :param x: Images (float32 NCHW in the classifier's clip range).
        :param y: Is-adversarial flag per image (bool or 0/1), both kinds present.
        :param batch_size: Unused (the detector's own ``batch_size`` applies); ART's signature.
        :param nb_epochs: Unused; ART's signature.
        """
        x = preprocessed(self.classifier, self._check_x(x))
        is_adversarial = check_is_adversarial(y, len(x))
        mc = self._mc_dropout(x)
        agreement = self._crop_agreement(x, mc.labels)
        band_correct = np.where(is_adversarial, agreement < self.agreement, agreement >= self.agreement)
        splits = information_gain_splits(mc.uncertainty, is_adversarial, depth=2) or [float(np.median(mc.uncertainty))]
        gain_low, gain_high = splits[0], splits[-1]
        gain_accuracy = _accuracy(mc.uncertainty, agreement, is_adversarial, gain_low, gain_high, self.agreement)
        low, high, accuracy = best_band(mc.uncertainty, is_adversarial, band_correct, (gain_low, gain_high))
        nb_classes = self.classifier.nb_classes
        self.low, self.high = clamp_threshold(low, nb_classes), clamp_threshold(high, nb_classes)
        self.calibration = {
            "information_gain": {"low": gain_low, "high": gain_high, "accuracy": gain_accuracy},
            "refined": {"low": self.low, "high": self.high, "accuracy": accuracy},
            "n_clean": int((~is_adversarial).sum()),
            "n_adversarial": int(is_adversarial.sum()),
        }
        logger.info(
            "hybrid-uncertainty calibrated: information gain L=%.4g H=%.4g (acc %.4f) → refined L=%.4g H=%.4g (acc "
            "%.4f)",
            gain_low,
            gain_high,
            gain_accuracy,
            self.low,
            self.high,
            accuracy,
        )

    def detect(self, x: np.ndarray, batch_size: int = 128, **kwargs: Any) -> tuple[dict, np.ndarray]:
        """Flag adversarial images.

        :param x: Images (float32 NCHW in the classifier's clip range).
        :param batch_size: Unused (the detector's own ``batch_size`` applies); ART's signature.
        :return: ``(report, is_adversarial)``; the report holds per image ``uncertainty``,
            ``provisional_label``, ``band`` ("clean"/"uncertain"/"adversarial"),
            ``crop_agreement`` (−1 outside the uncertain band), and the thresholds used.
        """
        if self.low is None:
            raise ValueError("thresholds low/high are not set: call fit(x, is_adversarial) or pass low= and high=")
        x = preprocessed(self.classifier, self._check_x(x))
        mc = self._mc_dropout(x)
        band_index = np.where(mc.uncertainty > self.high, 2, np.where(mc.uncertainty < self.low, 0, 1))
        uncertain = band_index == 1
        agreement = np.full(len(x), -1, dtype=np.int64)
        agreement[uncertain] = self._crop_agreement(x[uncertain], mc.labels[uncertain])
        is_adversarial = (band_index == 2) | (uncertain & (agreement < self.agreement))
        report = {
            "uncertainty": mc.uncertainty,
            "provisional_label": mc.labels,
            "band": np.asarray(BANDS)[band_index],
            "crop_agreement": agreement,
            "low": self.low,
            "high": self.high,
            "agreement": self.agreement,
            "n_passes": self.n_passes,
        }
        return report, is_adversarial


def _accuracy(
    uncertainty: np.ndarray, agreement: np.ndarray, is_adversarial: np.ndarray, low: float, high: float, needed: int
) -> float:
    flagged = (uncertainty > high) | ((uncertainty >= low) & (uncertainty <= high) & (agreement < needed))
    return float(np.mean(flagged == is_adversarial))
