"""``class-pixel``: a class-encoding single pixel, after Jacobsen et al. (2018) (baseline).

One fixed position per class, at full intensity: class ``k`` gets the pixel at
``(row, first_col + k · col_step)``. The defaults put the ten MNIST classes on row 1 (second
row from the top), columns 4, 6, …, 22: background in (nearly) every MNIST digit, whose strokes
lie in the central 20×20 box. Jacobsen et al. encode the label in the position of one pixel; the
exact positions are not given, so this placement is our choice.
"""

from __future__ import annotations

import numpy as np
from art.attacks.attack import PoisoningAttackBlackBox

from artx.validation import check_float, check_int
from artx_plugins._class_pixels import ClassPixelTable


class ClassPixelPoisoning(ClassPixelTable, PoisoningAttackBlackBox):
    """Class-encoding pixel at a fixed position per class.

    :param nb_classes: Number of classes (default 10).
    :param height: Image height (default 28).
    :param width: Image width (default 28).
    :param row: Row of every class's pixel (default 1).
    :param first_col: Column of class 0's pixel (default 4).
    :param col_step: Column step from one class to the next (default 2).
    :param intensity: Pixel value written (default 1.0, full intensity).
    """

    _estimator_requirements = ()  # no model needed (ART refuses to build an attack without this attribute)
    attack_params = PoisoningAttackBlackBox.attack_params + [
        "nb_classes",
        "height",
        "width",
        "row",
        "first_col",
        "col_step",
        "intensity",
    ]

    def __init__(
        self,
        nb_classes: int = 10,
        height: int = 28,
        width: int = 28,
        row: int = 1,
        first_col: int = 4,
        col_step: int = 2,
        intensity: float = 1.0,
    ):
        super().__init__()
        self.nb_classes = nb_classes
        self.height = height
        self.width = width
        self.row = row
        self.first_col = first_col
        self.col_step = col_step
        self.intensity = intensity
        self._check_params()

    def _table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        classes = np.arange(self.nb_classes)
        return (
            np.full(self.nb_classes, self.row),
            self.first_col + classes * self.col_step,
            np.full(self.nb_classes, self.intensity),
        )

    def _check_params(self) -> None:
        check_int(self.nb_classes, "nb_classes", minimum=2)
        check_int(self.height, "height", minimum=1)
        check_int(self.width, "width", minimum=1)
        check_int(self.row, "row", minimum=0, maximum=self.height - 1)
        check_int(self.first_col, "first_col", minimum=0, maximum=self.width - 1)
        check_int(self.col_step, "col_step", minimum=1)
        check_float(self.intensity, "intensity", minimum=0.0, maximum=1.0)
        last = self.first_col + (self.nb_classes - 1) * self.col_step
        if last >= self.width:
            raise ValueError(f"first_col + (nb_classes - 1) · col_step must be < width ({self.width}); got {last}")
