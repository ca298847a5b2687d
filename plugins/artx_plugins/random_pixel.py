"""``random-pixel``: a random single-pixel poison per class (baseline).

For each class, one position drawn uniformly (distinct positions for distinct classes) and one
intensity, from a generator seeded with ``seed``. ``poison(x, y)`` writes each image's class pixel.

- Positions: anywhere in the image (``allowed=None``), or only where a boolean mask allows, one
  mask for every class (H, W) or one per class (nb_classes, H, W) — e.g. the complement of
  GradCAM's region of interest that ``gradcam-pixel`` searches in (its ``allowed_``), so that the
  baseline samples the proposed poison's own search space.
- Intensities: ``"uniform"`` draws each class's from U[0, 1] (the search's intensity range); a
  number in [0, 1] gives every class that intensity (1.0: white, as Jacobsen et al.'s class
  pixel); a pair ``(low, high)`` draws from U[low, high] (e.g. (0.5, 1.0): at least 0.5 away from
  a black background).

With ``allowed=None`` the positions are the same whatever ``intensity`` is (they are drawn first),
so intensity variants of one seed differ only in intensity.
"""

from __future__ import annotations

import numbers
from typing import Any

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
    :param intensity: ``"uniform"`` (U[0, 1], default), a number in [0, 1] (every class's
        intensity), or a pair ``(low, high)`` with 0 ≤ low ≤ high ≤ 1 (U[low, high]).
    :param allowed: None (positions anywhere, default) or a boolean mask of the positions the
        draw may use: shape (height, width) for every class or (nb_classes, height, width).
    """

    _estimator_requirements = ()  # no model needed (ART refuses to build an attack without this attribute)
    attack_params = PoisoningAttackBlackBox.attack_params + [
        "nb_classes",
        "height",
        "width",
        "seed",
        "intensity",
        "allowed",
    ]

    def __init__(
        self,
        nb_classes: int = 10,
        height: int = 28,
        width: int = 28,
        seed: int = 0,
        intensity: str | float | tuple[float, float] = "uniform",
        allowed: np.ndarray | None = None,
    ):
        super().__init__()
        self.nb_classes = nb_classes
        self.height = height
        self.width = width
        self.seed = seed
        self.intensity = intensity
        self.allowed = allowed
        self._check_params()

    def _table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        if self.allowed is None:
            flat = rng.choice(self.height * self.width, size=self.nb_classes, replace=False)
        else:
            masks = self._class_masks().reshape(self.nb_classes, -1).copy()
            flat = np.empty(self.nb_classes, dtype=np.int64)
            for k in range(self.nb_classes):
                choices = np.flatnonzero(masks[k])
                if not len(choices):
                    raise ValueError(
                        f"allowed leaves class {k} no position that earlier classes have not taken; give the classes "
                        "more (or less overlapping) allowed pixels"
                    )
                flat[k] = rng.choice(choices)
                masks[:, flat[k]] = False  # distinct positions for distinct classes
        return flat // self.width, flat % self.width, self._intensities(rng)

    def _intensities(self, rng: np.random.Generator) -> np.ndarray:
        if isinstance(self.intensity, str):
            return rng.uniform(0.0, 1.0, size=self.nb_classes)
        if isinstance(self.intensity, numbers.Real):
            return np.full(self.nb_classes, float(self.intensity))
        low, high = self.intensity
        return rng.uniform(float(low), float(high), size=self.nb_classes)

    def _class_masks(self) -> np.ndarray:
        mask = np.asarray(self.allowed)
        return np.broadcast_to(mask, (self.nb_classes, self.height, self.width)) if mask.ndim == 2 else mask

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
        _check_intensity(self.intensity)
        if self.allowed is not None:
            self._check_allowed()

    def _check_allowed(self) -> None:
        mask = self.allowed
        shapes = f"({self.height}, {self.width}) or ({self.nb_classes}, {self.height}, {self.width})"
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            got = f"an array of dtype {mask.dtype}" if isinstance(mask, np.ndarray) else type(mask).__name__
            raise TypeError(f"allowed must be None or a boolean numpy array of shape {shapes}; got {got}")
        if mask.shape not in ((self.height, self.width), (self.nb_classes, self.height, self.width)):
            raise ValueError(f"allowed must have shape {shapes}; got {mask.shape}")
        per_class = self._class_masks().reshape(self.nb_classes, -1)
        empty = [k for k in range(self.nb_classes) if not per_class[k].any()]
        if empty:
            raise ValueError(f"allowed leaves no position for classes {empty}")
        if per_class.any(axis=0).sum() < self.nb_classes:
            raise ValueError(
                f"allowed offers {int(per_class.any(axis=0).sum())} distinct positions in all; {self.nb_classes} "
                "classes need one each"
            )


def _check_intensity(value: Any) -> None:
    expected = "'uniform', a number in [0, 1] or a pair (low, high) with 0 ≤ low ≤ high ≤ 1"
    if isinstance(value, str):
        if value != "uniform":
            raise ValueError(f"intensity must be {expected}; got {value!r}")
        return
    if isinstance(value, bool):
        raise TypeError(f"intensity must be {expected}; got bool {value!r}")
    if isinstance(value, numbers.Real):
        if not (np.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"intensity must be {expected}; got {value!r}")
        return
    if isinstance(value, (tuple, list)) and len(value) == 2:
        if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
            low, high = (float(v) for v in value)
            if np.isfinite(low) and np.isfinite(high) and 0.0 <= low <= high <= 1.0:
                return
            raise ValueError(f"intensity must be {expected}; got {tuple(value)!r}")
    raise TypeError(f"intensity must be {expected}; got {type(value).__name__} {value!r}")
