"""Shared by the scikit-learn baseline factories (``linear-svm``, ``rbf-svm``,
``random-forest``); not a plugin itself.

Each factory returns an :class:`ImageScikitlearnClassifier`: ART's ``ScikitlearnClassifier``
around a scikit-learn ``Pipeline`` whose first step flattens NCHW images to rows
(``FunctionTransformer``), so the baselines take the same (N, C, H, W) float32 images in
[0, 1] as the CNNs. Unlike ART's wrapper it validates what it is given (images: float32, 4-D,
finite, inside ``clip_values``; labels: indices (N,) or one-hot rows, via
:func:`artx.validation.class_indices`) instead of fitting 0–255 images or float64 data silently
or failing inside numpy on integer labels.
"""

from __future__ import annotations

import numpy as np
from art.estimators.classification.scikitlearn import ScikitlearnClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from artx.validation import check_images, check_int, class_indices


def flatten_images(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) → (N, C·H·W); anything but a 4-D array is refused."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be 4-D images (N, C, H, W); got {getattr(x, 'shape', type(x).__name__)}")
    return x.reshape(len(x), -1)


class ImageScikitlearnClassifier(ScikitlearnClassifier):
    """ART's ``ScikitlearnClassifier`` for NCHW images, with artx's input checks.

    :param model: A scikit-learn pipeline that starts by flattening the images.
    :param clip_values: Pixel range (min, max).
    :param nb_classes: Number of classes (labels are checked against it).
    """

    def __init__(self, model: Pipeline, clip_values: tuple[float, float], nb_classes: int = 10):
        super().__init__(model, clip_values=tuple(clip_values))
        self.nb_classes = check_int(nb_classes, "nb_classes", minimum=2)

    def fit(self, x: np.ndarray, y: np.ndarray, **kwargs) -> None:
        """Fit on float32 images (N, C, H, W) in ``clip_values`` and labels (indices or one-hot)."""
        x = check_images(x, "x", clip_values=self.clip_values)
        labels = class_indices(y, "y", nb_classes=self.nb_classes, n_samples=len(x))
        super().fit(x, np.eye(self.nb_classes, dtype=np.float32)[labels], **kwargs)
        self._fitted_shape = tuple(x.shape[1:])

    def predict(self, x: np.ndarray, **kwargs) -> np.ndarray:
        """Class scores (N, nb_classes) of float32 images in ``clip_values``, of the shape fitted on."""
        shape = getattr(self, "_fitted_shape", None)
        x = check_images(
            x,
            "x",
            channels=None if shape is None else shape[0],
            height_width=None if shape is None else shape[1:],
            clip_values=self.clip_values,
        )
        return super().predict(x, **kwargs)


def wrap(model, name: str, clip_values: tuple[float, float], nb_classes: int = 10) -> ImageScikitlearnClassifier:
    """``Pipeline([flatten, (name, model)])`` wrapped in :class:`ImageScikitlearnClassifier`."""
    if not isinstance(clip_values, (tuple, list)) or len(clip_values) != 2 or not clip_values[0] < clip_values[1]:
        raise ValueError(f"clip_values must be a (min, max) pair with min < max; got {clip_values!r}")
    pipeline = Pipeline([("flatten", FunctionTransformer(flatten_images)), (name, model)])
    return ImageScikitlearnClassifier(pipeline, clip_values=tuple(clip_values), nb_classes=nb_classes)
