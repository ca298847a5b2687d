"""Shared pieces of the gradient-sign attacks ``illc``, ``fgsm-min`` and ``igs-min``.

They go through the estimator's own ART ``loss_gradient`` and ``predict``, one ``batch_size``
chunk at a time, so the classifier's preprocessing (normalisation, ``preprocessing_defences``
such as ``gaussian-smoothing``: the attack then differentiates through the defence) and its loss
are used as the classifier defines them, on its device, for any ART classifier with loss
gradients. ART's ``PyTorchClassifier.loss_gradient`` puts the model in eval mode. The loss is the
classifier's (cross-entropy for artx's ``to_art_classifier``); its batch-mean reduction scales
the gradient but not its sign.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def clip_range(estimator: Any) -> tuple[float, float]:
    """The estimator's (min, max) pixel range, (-inf, inf) when it has no ``clip_values``."""
    clip_values = getattr(estimator, "clip_values", None)
    if clip_values is None:
        return -np.inf, np.inf
    return float(clip_values[0]), float(clip_values[1])


def predicted_labels(estimator: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Predicted class indices (argmax of ``predict``)."""
    return np.argmax(estimator.predict(x, batch_size=batch_size), axis=1)


def loss_sign(estimator: Any, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``sign(∇ₓ J(x, labels))`` of one chunk, float32 (J: the estimator's loss)."""
    one_hot = np.eye(estimator.nb_classes, dtype=np.float32)[labels]
    return np.sign(estimator.loss_gradient(x, one_hot)).astype(np.float32)


def project(x_adv: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Kurakin's ``Clip_{X,ε}``: elementwise into [low, high] (the ε-ball ∩ pixel range), float32."""
    return np.minimum(np.maximum(x_adv, low), high).astype(np.float32)
