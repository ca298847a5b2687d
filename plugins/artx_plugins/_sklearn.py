"""Shared by the scikit-learn baseline factories (``linear-svm``, ``rbf-svm``,
``random-forest``); not a plugin itself.

Each factory returns an ART ``ScikitlearnClassifier`` around a scikit-learn ``Pipeline``
whose first step flattens NCHW images to rows (``FunctionTransformer``), so the baselines take
the same (N, C, H, W) float32 images in [0, 1] as the CNNs: ``fit(x, one_hot_or_labels)``,
``predict(x)`` → (N, classes).
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer


def flatten_images(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) → (N, C·H·W); anything but a 4-D array is refused."""
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be 4-D images (N, C, H, W); got {getattr(x, 'shape', type(x).__name__)}")
    return x.reshape(len(x), -1)


def wrap(model, name: str, clip_values: tuple[float, float]):
    """``Pipeline([flatten, (name, model)])`` wrapped in ART's ``ScikitlearnClassifier``."""
    from art.estimators.classification.scikitlearn import ScikitlearnClassifier

    if not isinstance(clip_values, (tuple, list)) or len(clip_values) != 2 or not clip_values[0] < clip_values[1]:
        raise ValueError(f"clip_values must be a (min, max) pair with min < max; got {clip_values!r}")
    pipeline = Pipeline([("flatten", FunctionTransformer(flatten_images)), (name, model)])
    return ScikitlearnClassifier(pipeline, clip_values=tuple(clip_values))
