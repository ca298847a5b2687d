"""``illc``: Kurakin, Goodfellow & Bengio (2017)'s iterative least-likely class method.

    X₀ = X,   X_{N+1} = Clip_{X,ε}{ X_N − α · sign(∇ₓ J(X_N, y_LL)) },   y_LL = argmin_y p(y | X)

``y_LL`` is the class the classifier finds least likely on the CLEAN image, fixed for all
iterations (exposed after ``generate`` as ``targets_``); ``Clip_{X,ε}`` keeps every pixel within
ε of the clean one and inside the classifier's ``clip_values``. All ``max_iter`` steps are run
(no early stop), as in the paper.

Kurakin et al.'s defaults (ε in 0…255 pixel units): α = 1 and min(ε + 4, 1.25·ε) iterations.
Here on the classifier's scale: ``eps_step=None`` → α = 1/255 of the ``clip_values`` range,
``max_iter=None`` → ⌊min(e + 4, 1.25·e)⌋ with e = ε · 255 / range, at least 1. The paper states
the rule for integer ε without saying how to round a fractional count; we round down, as
common reimplementations do (torchattacks' BIM: ``int(min(eps*255 + 4, 1.25*eps*255))``); for
Kurakin's ε ∈ {2, 4, 8, 16, ...} only ε = 2 is affected (2.5 → 2, still enough 1/255 steps to
reach the ε-ball's boundary). ε = 16/255 → 20 iterations. The resolved count is ``n_iter_``.

Gradients and predictions come from the classifier's ART ``loss_gradient``/``predict`` in
``batch_size`` chunks (see ``artx_plugins._sign_steps``), so preprocessing defences are attacked
through. ART's stock attacks have no least-likely-class target; ART's ``bim`` with
``targeted=True`` and ``y = y_LL`` performs the same steps but needs the targets from outside.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from art.attacks.attack import EvasionAttack
from art.estimators.classification.classifier import ClassifierMixin
from art.estimators.estimator import BaseEstimator, LossGradientsMixin
from tqdm.auto import tqdm

from artx.validation import check_bool, check_float, check_images_for, check_int, class_indices
from artx_plugins._sign_steps import clip_range, loss_sign, project


def kurakin_iterations(eps: float, pixel_range: float = 1.0) -> int:
    """⌊min(e + 4, 1.25·e)⌋, at least 1, with e = ε in 0…255 units (ε · 255 / ``pixel_range``)."""
    e = eps * 255.0 / pixel_range
    # round to 9 decimals first: 16/255 · 255 is 16.000000000000004 or 15.999999999999998 in floats
    return max(1, math.floor(round(min(e + 4.0, 1.25 * e), 9)))


class IterativeLeastLikely(EvasionAttack):
    """Kurakin et al.'s iterative least-likely class attack (ILLC): BIM descending the loss of the clean argmin class.

    :param estimator: ART classifier with loss gradients.
    :param eps: L∞ budget ε on the classifier's scale (default 16/255, Kurakin's Fig. 6 value).
    :param eps_step: Step α, or None (default) for 1/255 of the ``clip_values`` range (Kurakin's α = 1).
    :param max_iter: Number of steps, or None (default) for Kurakin's ⌊min(ε·255 + 4, 1.25·ε·255)⌋.
    :param batch_size: Images per gradient/prediction chunk (default 128).
    :param verbose: Show a progress bar.
    """

    attack_params = EvasionAttack.attack_params + ["eps", "eps_step", "max_iter", "batch_size", "verbose"]
    _estimator_requirements = (BaseEstimator, LossGradientsMixin, ClassifierMixin)

    def __init__(
        self,
        estimator: Any,
        eps: float = 16 / 255,
        eps_step: float | None = None,
        max_iter: int | None = None,
        batch_size: int = 128,
        verbose: bool = False,
    ):
        super().__init__(estimator=estimator)
        self.eps = eps
        self.eps_step = eps_step
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self._check_params()

    def _check_params(self) -> None:
        check_float(self.eps, "eps", minimum=0.0, min_inclusive=False)
        if self.eps_step is not None:
            check_float(self.eps_step, "eps_step", minimum=0.0, min_inclusive=False)
        if self.max_iter is not None:
            check_int(self.max_iter, "max_iter", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_bool(self.verbose, "verbose")

    def _pixel_range(self) -> float:
        low, high = clip_range(self.estimator)
        return high - low if np.isfinite(high - low) else 1.0

    def resolved_eps_step(self) -> float:
        """α used by ``generate``: ``eps_step``, or 1/255 of the pixel range."""
        return float(self.eps_step) if self.eps_step is not None else self._pixel_range() / 255.0

    def resolved_max_iter(self) -> int:
        """Number of steps used by ``generate``: ``max_iter``, or Kurakin's rule for ``eps``."""
        if self.max_iter is not None:
            return int(self.max_iter)
        return kurakin_iterations(float(self.eps), self._pixel_range())

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Craft ILLC adversarial examples.

        :param x: Float32 NCHW images in the classifier's clip range.
        :param y: Ignored apart from being checked when given (indices or one-hot): the target
            y_LL comes from the classifier's prediction on the clean ``x``, as in the paper.
        :return: Adversarial images (float32); ``targets_`` holds y_LL, ``n_iter_`` the step count.
        """
        x = check_images_for(self.estimator, x)
        if y is not None:
            class_indices(y, "y", nb_classes=self.estimator.nb_classes, n_samples=len(x))
        eps, alpha, n_iter = float(self.eps), self.resolved_eps_step(), self.resolved_max_iter()
        clip_min, clip_max = clip_range(self.estimator)
        targets = np.argmin(self.estimator.predict(x, batch_size=self.batch_size), axis=1).astype(np.int64)
        x_adv = x.copy()
        starts = range(0, len(x), self.batch_size)
        with tqdm(total=len(starts) * n_iter, desc="ILLC", disable=not self.verbose) as bar:
            for start in starts:
                chunk = slice(start, start + self.batch_size)
                low = np.maximum(x[chunk] - eps, clip_min).astype(np.float32)
                high = np.minimum(x[chunk] + eps, clip_max).astype(np.float32)
                current = x[chunk]
                for _ in range(n_iter):
                    current = project(current - alpha * loss_sign(self.estimator, current, targets[chunk]), low, high)
                    bar.update(1)
                x_adv[chunk] = current
        self.targets_ = targets
        self.n_iter_ = n_iter
        return x_adv
