"""``bim-early-stop``: the Basic Iterative Method that stops each image at its first success
("BIM-A" of Feinman et al. 2017).

ART's ``BasicIterativeMethod`` always runs ``max_iter`` steps, which drives an image deep into
the wrong class (a confident, low-uncertainty adversarial example: "BIM-B"). Uncertainty
detectors are evaluated against both in the literature, and they behave oppositely (the
hybrid-detector reproduction's ROC-AUC table in docs/results measures it), so artx provides the
early-stopping variant; ART has no option for it.

Each step is ``x ← clip(Π_ε(x + eps_step · sign(∇ loss)))`` using the estimator's own
``loss_gradient`` (so it works for any ART classifier with gradients); an image leaves the loop
as soon as the classifier no longer predicts its true class (untargeted) or predicts the
target (targeted).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from art.attacks.attack import EvasionAttack
from art.estimators.classification.classifier import ClassifierMixin
from art.estimators.estimator import BaseEstimator, LossGradientsMixin
from tqdm.auto import trange

from artx.validation import check_bool, check_float, check_images_for, check_int, class_indices


class EarlyStopBIM(EvasionAttack):
    """L∞ BIM whose images stop at their first misclassified (or on-target) iterate.

    :param estimator: ART classifier with loss gradients.
    :param eps: L∞ budget.
    :param eps_step: Step size.
    :param max_iter: Maximum number of steps.
    :param targeted: Whether ``y`` holds targets (else true labels, or the predictions if None).
    :param batch_size: Batch size for predictions and gradients.
    :param verbose: Show a progress bar.
    """

    attack_params = EvasionAttack.attack_params + ["eps", "eps_step", "max_iter", "targeted", "batch_size", "verbose"]
    _estimator_requirements = (BaseEstimator, LossGradientsMixin, ClassifierMixin)

    def __init__(
        self,
        estimator: Any,
        eps: float = 0.3,
        eps_step: float = 0.01,
        max_iter: int = 100,
        targeted: bool = False,
        batch_size: int = 256,
        verbose: bool = False,
    ):
        super().__init__(estimator=estimator)
        self.eps = eps
        self.eps_step = eps_step
        self.max_iter = max_iter
        self._targeted = targeted
        self.batch_size = batch_size
        self.verbose = verbose
        self._check_params()

    def _check_params(self) -> None:
        check_float(self.eps, "eps", minimum=0.0, min_inclusive=False)
        check_float(self.eps_step, "eps_step", minimum=0.0, min_inclusive=False)
        check_int(self.max_iter, "max_iter", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_bool(self.targeted, "targeted")
        check_bool(self.verbose, "verbose")

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Craft adversarial examples.

        :param x: Float32 images in the estimator's clip range.
        :param y: One-hot or index labels: true labels (untargeted) or targets (targeted); None
            uses the classifier's predictions (untargeted only).
        """
        clip_min, clip_max = self.estimator.clip_values if self.estimator.clip_values is not None else (-np.inf, np.inf)
        x = check_images_for(self.estimator, x)
        nb_classes = self.estimator.nb_classes
        if y is None:
            if self.targeted:
                raise ValueError("y (target classes) is required when targeted=True")
            labels = np.argmax(self.estimator.predict(x, batch_size=self.batch_size), axis=1)
        else:
            labels = class_indices(y, "y", nb_classes=nb_classes, n_samples=len(x))
        one_hot = np.eye(nb_classes, dtype=np.float32)[labels]
        x_adv = x.copy()
        active = np.ones(len(x), dtype=bool)
        direction = -1.0 if self.targeted else 1.0
        for _ in trange(self.max_iter, desc="BIM (early stop)", disable=not self.verbose):
            index = np.flatnonzero(active)
            if len(index) == 0:
                break
            gradient = self.estimator.loss_gradient(x_adv[index], one_hot[index])
            stepped = x_adv[index] + direction * self.eps_step * np.sign(gradient)
            stepped = np.clip(np.clip(stepped, x[index] - self.eps, x[index] + self.eps), clip_min, clip_max).astype(
                np.float32
            )
            x_adv[index] = stepped
            predicted = np.argmax(self.estimator.predict(stepped, batch_size=self.batch_size), axis=1)
            succeeded = predicted == labels[index] if self.targeted else predicted != labels[index]
            active[index[succeeded]] = False
        return x_adv
