"""``random-pixel``: a random single-pixel poison per class (baseline).

For each class, one position drawn uniformly over the image (distinct positions for distinct
classes) and one intensity drawn uniformly in [0, 1], from a generator seeded with ``seed``.
``poison(x, y)`` writes each image's class pixel.
"""

from __future__ import annotations

import numpy as np
from art.attacks.attack import PoisoningAttackBlackBox

from artx.validation import check_int, check_seed
from artx_plugins._class_pixels import ClassPixelTable


class RandomPixelPoisoning(ClassPixelTable, PoisoningAttackBlackBox):
    """Random class-wise single-pixel poison.

    :param nb_classes: Number of classes (default 10).
    :param height: Image height (default 28).
    :param width: Image width (default 28).
    :param seed: Seed of the positions and intensities (default 0).
    """

    _estimator_requirements = ()  # no model needed (ART refuses to build an attack without this attribute)
    attack_params = PoisoningAttackBlackBox.attack_params + ["nb_classes", "height", "width", "seed"]

    def __init__(self, nb_classes: int = 10, height: int = 28, width: int = 28, seed: int = 0):
        super().__init__()
        self.nb_classes = nb_classes
        self.height = height
        self.width = width
        self.seed = seed
        self._check_params()

    def _table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        flat = rng.choice(self.height * self.width, size=self.nb_classes, replace=False)
        return flat // self.width, flat % self.width, rng.uniform(0.0, 1.0, size=self.nb_classes)

    def _check_params(self) -> None:
        check_int(self.nb_classes, "nb_classes", minimum=2)
        check_int(self.height, "height", minimum=1)
        check_int(self.width, "width", minimum=1)
        check_seed(self.seed, "seed")
        if self.height * self.width < self.nb_classes:
            raise ValueError(
                f"height × width must offer one distinct pixel per class ({self.nb_classes}); got "
                f"{self.height}x{self.width}"
            )
