"""``fgsm-min`` and ``igs-min``: the smallest L∞ budget ε at which the fast gradient sign
method (FGS) or the iterative gradient sign method (IGS) succeeds, per image, as Carlini &
Wagner (2017) measure them for their Table IV/V "Fast Gradient Sign" and "Iterative Gradient
Sign" rows (mean of the minimal ε over successes, and the success rate).

Attacks at a given ε (d = +1 untargeted, away from the true label y; d = −1 targeted, towards
the target t, descending its loss; J is the classifier's loss, cross-entropy for artx):

- FGS: ``x' = clip(x + d · ε · sign(∇ₓ J(x, y or t)))``, one step; the gradient is taken once
  at the clean image, so the search only re-predicts.
- IGS: Kurakin et al.'s basic iterative method inside the ε-ball,
  ``x_{i+1} = Clip_{x,ε}{x_i + d · α · sign(∇ₓ J(x_i, ·))}`` for ``max_iter`` steps. With
  ``eps_step=None`` (default) α = ε / ``max_iter``, so every candidate ε gets the same number of
  steps and can reach the ball's boundary; a float ``eps_step`` fixes α for all ε, which is
  how we read C&W's search ("fixing α = 1/256"; C&W's text, not in the seed: check it) and
  then needs ``max_iter`` ≥ ``eps_max`` / α to reach the boundary.
  Success is judged on the last iterate.

Search (per image, all images of a chunk at once, each with its own bracket): an image already
misclassified (on target) at ε = 0 gets ε = 0 and is returned unchanged; one that still fails
at ``eps_max`` is a failure (``success_`` False, ``epsilon_`` NaN, returned unchanged, so
``np.nanmean(epsilon_)`` is C&W's "mean over successes"); the others are bisected
``search_steps`` times on [0, ``eps_max``], keeping the upper end where the attack was seen to
succeed. ``epsilon_`` is that upper end: within ``eps_max · 2^-search_steps`` above the
success boundary, and the returned image is the successful attack at exactly that ε. Bisection
assumes success is monotone in ε, which FGS need not be (a larger step can overshoot a thin
wrong-class region); then the result is the smallest successful ε bisection finds, an upper
bound on the true minimum.

Gradients and predictions come from the classifier's ART ``loss_gradient``/``predict`` in
``batch_size`` chunks (see ``artx_plugins._sign_steps``). ART's ``fgsm`` has ``minimal=True``,
a linear scan with a fixed step; this is a bisection to a stated tolerance, with IGS as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from art.attacks.attack import EvasionAttack
from art.estimators.classification.classifier import ClassifierMixin
from art.estimators.estimator import BaseEstimator, LossGradientsMixin
from tqdm.auto import tqdm

from artx.validation import check_bool, check_float, check_images_for, check_int, class_indices
from artx_plugins._sign_steps import clip_range, loss_sign, predicted_labels, project


class _MinimalEpsilon(EvasionAttack):
    """Per-image bisection of the smallest successful ε of a gradient-sign attack (base class)."""

    attack_params = EvasionAttack.attack_params + ["eps_max", "search_steps", "targeted", "batch_size", "verbose"]
    _estimator_requirements = (BaseEstimator, LossGradientsMixin, ClassifierMixin)
    _name = "minimal ε"

    def __init__(
        self,
        estimator: Any,
        eps_max: float = 1.0,
        search_steps: int = 12,
        targeted: bool = False,
        batch_size: int = 128,
        verbose: bool = False,
    ):
        super().__init__(estimator=estimator)
        self.eps_max = eps_max
        self.search_steps = search_steps
        self._targeted = targeted
        self.batch_size = batch_size
        self.verbose = verbose

    def _check_params(self) -> None:
        check_float(self.eps_max, "eps_max", minimum=0.0, min_inclusive=False)
        check_int(self.search_steps, "search_steps", minimum=1, maximum=60)
        check_bool(self.targeted, "targeted")
        check_int(self.batch_size, "batch_size", minimum=1)
        check_bool(self.verbose, "verbose")

    def _attack(self, x: np.ndarray, labels: np.ndarray, eps: np.ndarray, context: Any) -> np.ndarray:
        """The attack on ``x`` at per-image budgets ``eps`` (shape (N,))."""
        raise NotImplementedError

    def _prepare(self, x: np.ndarray, labels: np.ndarray) -> Any:
        """Per-chunk state computed once for all ε (FGS: the gradient sign at x)."""
        return None

    def _succeeded(self, x_adv: np.ndarray, labels: np.ndarray) -> np.ndarray:
        predicted = predicted_labels(self.estimator, x_adv, self.batch_size)
        return predicted == labels if self.targeted else predicted != labels

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Find each image's minimal ε and return the adversarial example at it.

        :param x: Float32 NCHW images in the classifier's clip range.
        :param y: Targets (``targeted=True``, required) or true labels (untargeted; None uses
            the classifier's predictions), as indices (N,), (N, 1) or one-hot rows.
        :return: Adversarial images at the minimal ε (the input where ε = 0 or the search
            failed); ``epsilon_`` (float64, NaN where failed) and ``success_`` (bool) per image.
        """
        x = check_images_for(self.estimator, x)
        if y is None:
            if self.targeted:
                raise ValueError("y (the target classes) is required when targeted=True")
            labels = predicted_labels(self.estimator, x, self.batch_size)
        else:
            labels = class_indices(y, "y", nb_classes=self.estimator.nb_classes, n_samples=len(x))
        eps_max, steps = float(self.eps_max), int(self.search_steps)
        x_adv = x.copy()
        epsilon = np.full(len(x), np.nan)
        success = np.zeros(len(x), dtype=bool)
        starts = range(0, len(x), self.batch_size)
        with tqdm(total=len(x), desc=self._name, unit="img", disable=not self.verbose) as bar:
            for start in starts:
                chunk = slice(start, start + self.batch_size)
                xb, lb = x[chunk], labels[chunk]
                at_zero = self._succeeded(xb, lb)
                eps_chunk = np.where(at_zero, 0.0, np.nan)
                success_chunk = at_zero.copy()
                index = np.flatnonzero(~at_zero)
                if len(index):
                    context = self._prepare(xb[index], lb[index])
                    best = self._attack(xb[index], lb[index], np.full(len(index), eps_max), context)
                    at_max = self._succeeded(best, lb[index])
                    keep = np.flatnonzero(at_max)
                    index, best = index[keep], best[keep]
                    context = self._select(context, keep)
                    lower, upper = np.zeros(len(index)), np.full(len(index), eps_max)
                    for _ in range(steps):
                        if len(index) == 0:
                            break
                        middle = (lower + upper) / 2
                        trial = self._attack(xb[index], lb[index], middle, context)
                        hit = self._succeeded(trial, lb[index])
                        upper = np.where(hit, middle, upper)
                        lower = np.where(hit, lower, middle)
                        best[hit] = trial[hit]
                    eps_chunk[index] = upper
                    success_chunk[index] = True
                    x_adv[start + index] = best
                epsilon[chunk] = eps_chunk
                success[chunk] = success_chunk
                bar.update(len(xb))
        self.epsilon_ = epsilon
        self.success_ = success
        return x_adv

    @staticmethod
    def _select(context: Any, keep: np.ndarray) -> Any:
        return None if context is None else context[keep]


class MinimalEpsilonFGSM(_MinimalEpsilon):
    """Smallest-ε fast gradient sign per image by bisection (C&W's "FGS"; ART's `fgsm` minimal=True scans linearly).

    :param estimator: ART classifier with loss gradients.
    :param eps_max: Upper end of the search (default 1.0, the whole [0, 1] range).
    :param search_steps: Bisection steps; ε is found to ``eps_max · 2^-search_steps`` (default 12).
    :param targeted: Whether ``y`` holds targets (default False: true labels, or predictions if None).
    :param batch_size: Images per gradient/prediction chunk (default 128).
    :param verbose: Show a progress bar.
    """

    _name = "FGS minimal ε"

    def __init__(
        self,
        estimator: Any,
        eps_max: float = 1.0,
        search_steps: int = 12,
        targeted: bool = False,
        batch_size: int = 128,
        verbose: bool = False,
    ):
        super().__init__(
            estimator,
            eps_max=eps_max,
            search_steps=search_steps,
            targeted=targeted,
            batch_size=batch_size,
            verbose=verbose,
        )
        self._check_params()

    def _prepare(self, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        size = self.batch_size
        chunks = range(0, len(x), size)
        return np.concatenate([loss_sign(self.estimator, x[s : s + size], labels[s : s + size]) for s in chunks])

    def _attack(self, x: np.ndarray, labels: np.ndarray, eps: np.ndarray, context: np.ndarray) -> np.ndarray:
        clip_min, clip_max = clip_range(self.estimator)
        direction = -1.0 if self.targeted else 1.0
        return np.clip(x + direction * eps[:, None, None, None] * context, clip_min, clip_max).astype(np.float32)


class MinimalEpsilonIGS(_MinimalEpsilon):
    """Smallest-ε iterative gradient sign (BIM in the ε-ball) per image by bisection (C&W's "IGS" rows).

    :param estimator: ART classifier with loss gradients.
    :param eps_max: Upper end of the search (default 1.0, the whole [0, 1] range).
    :param search_steps: Bisection steps; ε is found to ``eps_max · 2^-search_steps`` (default 12).
    :param max_iter: Gradient-sign steps per candidate ε (default 20).
    :param eps_step: Step α, or None (default) for ε / ``max_iter`` at each candidate ε.
    :param targeted: Whether ``y`` holds targets (default False: true labels, or predictions if None).
    :param batch_size: Images per gradient/prediction chunk (default 128).
    :param verbose: Show a progress bar.
    """

    attack_params = _MinimalEpsilon.attack_params + ["max_iter", "eps_step"]
    _name = "IGS minimal ε"

    def __init__(
        self,
        estimator: Any,
        eps_max: float = 1.0,
        search_steps: int = 12,
        max_iter: int = 20,
        eps_step: float | None = None,
        targeted: bool = False,
        batch_size: int = 128,
        verbose: bool = False,
    ):
        super().__init__(
            estimator,
            eps_max=eps_max,
            search_steps=search_steps,
            targeted=targeted,
            batch_size=batch_size,
            verbose=verbose,
        )
        self.max_iter = max_iter
        self.eps_step = eps_step
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        check_int(self.max_iter, "max_iter", minimum=1)
        if self.eps_step is not None:
            check_float(self.eps_step, "eps_step", minimum=0.0, min_inclusive=False)

    def _attack(self, x: np.ndarray, labels: np.ndarray, eps: np.ndarray, context: Any) -> np.ndarray:
        clip_min, clip_max = clip_range(self.estimator)
        direction = -1.0 if self.targeted else 1.0
        radius = eps[:, None, None, None]
        step = radius / self.max_iter if self.eps_step is None else np.full_like(radius, float(self.eps_step))
        out = np.empty_like(x)
        for s in range(0, len(x), self.batch_size):
            chunk = slice(s, s + self.batch_size)
            low = np.maximum(x[chunk] - radius[chunk], clip_min).astype(np.float32)
            high = np.minimum(x[chunk] + radius[chunk], clip_max).astype(np.float32)
            current = x[chunk]
            for _ in range(self.max_iter):
                signs = loss_sign(self.estimator, current, labels[chunk])
                current = project(current + direction * step[chunk] * signs, low, high)
            out[chunk] = current
        return out
