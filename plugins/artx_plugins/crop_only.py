"""``crop-only``: the five-crop vote of Alshemali et al. (2019) on every image, no uncertainty.

The provisional class is the classifier's ordinary prediction (dropout off); the five crops
(top-left, top-right, bottom-left, bottom-right, centre; side ``crop_fraction`` of the image's,
each resized back to the input size) are classified too, and the image is clean iff at least
``agreement`` (C) of them agree with the provisional class. A baseline for
``hybrid-uncertainty``, with the same interface; it needs no dropout and learns nothing, so
``fit`` only checks its input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from artx_plugins._detection import UncertaintyDetectorBase, check_is_adversarial, preprocessed


class CropOnlyDetector(UncertaintyDetectorBase):
    """Adversarial iff fewer than ``agreement`` of the five resized crops keep the predicted class.

    :param classifier: ART ``PyTorchClassifier``.
    :param agreement: C (0–5, default 5: all five crops, the paper's choice).
    :param crop_fraction: Crop side as a fraction of the image side, in (0, 1] (default 0.93: 26 of 28 pixels).
    :param batch_size: Images per batch.
    """

    needs_dropout = False
    defence_params = ["agreement", "crop_fraction", "batch_size"]

    def __init__(self, classifier: Any, agreement: int = 5, crop_fraction: float = 0.93, batch_size: int = 512):
        super().__init__(classifier, agreement=agreement, crop_fraction=crop_fraction, batch_size=batch_size)
        self._check_params()

    def fit(self, x: np.ndarray, y: np.ndarray, batch_size: int = 128, nb_epochs: int = 1, **kwargs: Any) -> None:
        """Nothing to learn (C is a parameter); checks the input like the other detectors."""
        check_is_adversarial(y, len(self._check_x(x)))

    def detect(self, x: np.ndarray, batch_size: int = 128, **kwargs: Any) -> tuple[dict, np.ndarray]:
        """Flag adversarial images; the report holds ``provisional_label`` and ``crop_agreement``."""
        x = self._check_x(x)
        labels = np.argmax(self.classifier.predict(x, batch_size=self.batch_size), axis=1)
        agreement = self._crop_agreement(preprocessed(self.classifier, x), labels)
        report = {"provisional_label": labels, "crop_agreement": agreement, "agreement": self.agreement}
        return report, agreement < self.agreement
