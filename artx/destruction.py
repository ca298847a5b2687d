"""Kurakin, Goodfellow & Bengio (2017)'s destruction rate (Eq. 1): the share of adversarial
images that a transformation turns back into correctly classified ones.

    d = Σₖ C(Xᵏ, yᵏ) · ¬C(X_advᵏ, yᵏ) · C(T(X_advᵏ), yᵏ)  /  Σₖ C(Xᵏ, yᵏ) · ¬C(X_advᵏ, yᵏ)

C(X, y) = 1 iff the classifier labels X as y. As in the paper's Eq. 1, the clean images are
NOT transformed: the denominator counts the images classified correctly clean and
misclassified adversarial (both untransformed), the numerator those of them classified
correctly after T is applied to the adversarial image.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from artx.validation import check_images_for, check_int, class_indices


@dataclasses.dataclass(frozen=True)
class DestructionRate:
    """Eq. 1's rate and its counts.

    ``rate`` is NaN when ``denominator`` is 0: no image is both correctly classified clean and
    misclassified adversarial, so there is no adversarial example that T could destroy and the
    rate is undefined (not 0 and not 1).
    """

    rate: float  # numerator / denominator, NaN when denominator == 0
    numerator: int  # correct clean, wrong adversarial, correct after T(adversarial)
    denominator: int  # correct clean, wrong adversarial
    n: int  # images evaluated


def _transformed(transform: Any, x_adv: np.ndarray) -> Any:
    from art.defences.preprocessor import Preprocessor

    if isinstance(transform, Preprocessor):
        return transform(x_adv)[0]  # ART preprocessors return (x, y)
    if callable(transform):
        return transform(x_adv)
    kind = type(transform).__name__
    raise TypeError(f"transform must be a callable on numpy images or an ART preprocessor; got {kind}")


def destruction_rate(
    classifier: Any,
    x: np.ndarray,
    y: np.ndarray,
    x_adv: np.ndarray,
    transform: Callable[[np.ndarray], np.ndarray] | Any,
    batch_size: int = 256,
) -> DestructionRate:
    """Kurakin et al.'s destruction rate of ``transform`` on the adversarial images ``x_adv``.

    :param classifier: ART classifier (``predict``, ``nb_classes``, ``input_shape``, ``clip_values``).
    :param x: Clean float32 NCHW images (not transformed, as in Eq. 1).
    :param y: True labels: indices (N,), (N, 1) or one-hot rows.
    :param x_adv: Adversarial images of ``x``, same shape.
    :param transform: T: a callable mapping float32 NCHW images to images of the same shape, or
        an ART preprocessor instance (called as ``transform(x_adv)[0]``), e.g. an artx
        ``jpeg``, ``gaussian-noise`` or ``print-photo``. Its output is checked like an input.
    :param batch_size: Prediction batch size.
    :return: :class:`DestructionRate` (rate NaN when no image qualifies for the denominator).
    """
    check_int(batch_size, "batch_size", minimum=1)
    x = check_images_for(classifier, x, "x")
    x_adv = check_images_for(classifier, x_adv, "x_adv")
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv must have the shape of x {x.shape}; got {x_adv.shape}")
    labels = class_indices(y, "y", nb_classes=classifier.nb_classes, n_samples=len(x))
    x_t = _transformed(transform, x_adv)
    if not isinstance(x_t, np.ndarray) or x_t.shape != x_adv.shape:
        shape = x_t.shape if isinstance(x_t, np.ndarray) else type(x_t).__name__
        raise ValueError(f"transform must return images of the shape of x_adv {x_adv.shape}; got {shape}")
    x_t = check_images_for(classifier, x_t, "transform(x_adv)")

    def correct(images: np.ndarray) -> np.ndarray:
        return np.argmax(classifier.predict(images, batch_size=batch_size), axis=1) == labels

    eligible = correct(x) & ~correct(x_adv)
    destroyed = eligible & correct(x_t)
    numerator, denominator = int(destroyed.sum()), int(eligible.sum())
    rate = numerator / denominator if denominator else math.nan
    return DestructionRate(rate=rate, numerator=numerator, denominator=denominator, n=len(x))
