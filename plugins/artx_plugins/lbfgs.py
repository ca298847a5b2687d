"""``lbfgs``: Szegedy et al. (2014)'s box-constrained L-BFGS adversarial examples.

Szegedy, Zaremba, Sutskever, Bruna, Erhan, Goodfellow, Fergus, "Intriguing Properties of Neural
Networks" (ICLR 2014), section 4.1. For an image x and a target label l the paper wants

    minimise ‖r‖₂  subject to  f(x + r) = l  and  x + r ∈ [0, 1]^m,

approximated by box-constrained L-BFGS on the penalty problem

    minimise c · |r| + loss_f(x + r, l)  subject to  x + r ∈ [0, 1]^m,

with "a line search to find the minimum c > 0 for which the minimiser r of [the penalty problem]
satisfies f(x + r) = l". Here loss_f is the cross-entropy of the target class on the model's
logits, the box is the classifier's ``clip_values`` and the solver is scipy's ``L-BFGS-B``
(bounds on x′ = x + r), starting at r = 0 for every solve.

**The penalty** (``norm_penalty``). ``"l2-squared"`` (default) uses c · ‖r‖²₂; ``"l2"`` uses
c · ‖r‖₂, the paper's c|r| read literally. Both are Lagrangian forms of "minimise the loss inside
a ball ‖r‖₂ ≤ ρ", so on a convex problem they trace the same path of minimisers as c varies (only
c's scale differs: c_l2 = 2 · c_sq · ρ) and their limit at the success threshold is the same
minimal-distortion point. We default to the square because L-BFGS(-B) builds a quasi-Newton
model of a smooth function: ‖r‖²₂ is smooth everywhere, ‖r‖₂ has a kink at r = 0 (the start of
every solve; its gradient r/‖r‖ is taken as 0 there) and curvature ∝ 1/‖r‖ next to it. The
square is also how Carlini & Wagner (2017) restate Szegedy's method and what cleverhans'
``LBFGS`` attack minimises.

**The line search over c.** With c on the distance, a small c lets the loss dominate (the
minimiser goes deep into class l: success, large ‖r‖) and a large c lets the distance dominate
(r → 0: failure). For exact minimisers ‖r(c)‖ is non-increasing and the loss non-decreasing in
c, so success holds on an interval (0, c*] and the smallest distortion is at the LARGEST c that
still succeeds. The paper's "minimum c" only makes sense for the weight on the loss (cleverhans
puts the constant there and minimises it): we read it as "the c giving the minimum distortion",
i.e. the largest successful c. Per image, a bisection on log c: the first solve is at
``c_init``; ``c_min`` is presumed to succeed and ``c_max`` to fail; after each solve, a success
raises the lower end to c, a failure lowers the upper end to c, and the next c is the geometric
mean of the ends. After ``c_steps`` solves the bracket is ln(c_max/c_min)/2^(c_steps−1) wide in
log c, at most (one step less when ``c_init`` is the geometric middle). Every solve's result that
reaches the target is a candidate; the image returned is the candidate of smallest ‖r‖₂
(``c_`` is its c), which need not be the one at the largest c when solves stop before
convergence or the problem is non-convex. An image that no solve brings to the target is
returned unchanged (``success_`` False, distances and ``c_`` NaN; lower ``c_min`` or raise
``max_iter``); an image already classified as the target (untargeted: already misclassified) is
returned unchanged with distance 0 and ``c_`` NaN.

**Untargeted** (``targeted=False``; the paper only defines the targeted attack): the loss is
−log(1 − p_y) = logsumexp(z) − logsumexp(z_{j≠y}) with y the true label (None: the model's
prediction), the cross-entropy of the event "any class but y". It decreases as the true class'
loss grows (maximising the true label's loss) but is bounded below by 0, so the penalty problem
keeps a minimiser; the solve moves toward whichever wrong class is nearest for the penalty, not a
class fixed in advance. With two classes it equals the targeted loss of the other class.

**Batching.** The images of a ``batch_size`` chunk are ONE L-BFGS-B problem whose objective is
the sum of the per-image objectives with per-image constants c_i (as in cleverhans). The problem
is separable, so its exact minimiser is the per-image minimisers, but the path differs from
per-image solves: L-BFGS-B's curvature pairs, line search and stopping tests (``max_iter``,
tolerances on the total) are shared, so at a finite ``max_iter`` the images' results differ from
separate solves, and on a non-convex model a solve may end in another local minimum. Measured:
linear models, the same c and distances within 1e-3 (tested); a LeNet-5 on MNIST (defaults),
per-image distances within 0.5 % of ``batch_size=1`` on 10 images and within 0.8 % between
batches of 40 and 10 on 40 images, the same mean. ``batch_size=1`` gives independent per-image
solves, at one small forward/backward per evaluation per image (7x the wall time of batches of
10 on that LeNet).

**A property of the loss, not of the solver.** Cross-entropy also pushes down the classes other
than y and l, so where a third class is close the result is the penalty problem's minimiser
(tested: stationarity on a linear model) but not the pairwise minimal distortion: on random
10-class linear models 2–6 % farther than |m|/‖w_l − w_y‖, cosine 0.95–0.98 with its direction;
with the other classes far it matches that closed form (tested, within 2 %).

**Cost.** Each solve is at most ``max_iter`` L-BFGS-B iterations of about 1–1.5 evaluations (a
forward and backward pass of the chunk), so an image costs up to ~``c_steps`` · ``max_iter`` ·
1.3 passes. The passes are small and sequential: on a CPU with few, shared cores
``torch.set_num_threads(1)`` can be much faster than the default (a second intra-op thread
spin-waits).

**Numerics.** The optimisation variable x′ = x + r is float64 on the scipy side (L-BFGS-B works
in float64, and r = x′ − x and the penalty are exact there); each evaluation casts x′ to the
model's parameter dtype (float32), computes the per-image losses and their input gradients in
torch on ``classifier.device`` and sums in float64. Success is judged on the float32 image that
is returned. The classifier's preprocessing (standardisation, ``PreprocessorPyTorch`` defences
applied at predict time) is applied differentiably with ``classifier._apply_preprocessing``, as
ART's gradients do; a numpy preprocessing defence applied at predict time is refused. The model
is the bare ``classifier.model`` (it must return logits) in eval mode, its modes restored after.

ART 1.20.1 has no L-BFGS attack; its ``CarliniL2Method`` optimises a different (margin) loss.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import scipy.optimize
import torch
from art.attacks.attack import EvasionAttack
from art.defences.preprocessor.preprocessor import PreprocessorPyTorch
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import tqdm

from artx.validation import check_bool, check_choice, check_float, check_images_for, check_int, class_indices

logger = logging.getLogger(__name__)

#: L-BFGS-B's relative objective-decrease tolerance, tighter than scipy's 2.2e-9: the test is on
#: the chunk's summed objective, where one image's progress is diluted by the others'. Below the
#: float32 rounding of the loss a solve may instead end on a failed line search ("ABNORMAL"),
#: which keeps the last accepted (lowest) point.
_FTOL = 1e-10
#: L-BFGS-B's projected-gradient tolerance (max-norm over all variables of the chunk).
_GTOL = 1e-6


class SzegedyLBFGS(EvasionAttack):
    """Szegedy et al.'s box-constrained L-BFGS attack: c·‖r‖² (or c·‖r‖) + cross-entropy, line search over c.

    :param classifier: ART ``PyTorchClassifier`` whose module returns logits.
    :param targeted: True (default, the paper's attack): ``y`` holds the target classes
        (required). False: ``y`` holds the true labels (None: the model's predictions) and the
        loss is −log(1 − p_y).
    :param norm_penalty: ``"l2-squared"`` (default, c·‖r‖²₂: smooth, as C&W and cleverhans
        state the method) or ``"l2"`` (c·‖r‖₂, the paper's c|r| read literally).
    :param c_init: c of the first solve of every image.
    :param c_steps: Solves per image (line-search steps over c).
    :param c_min: Lower end of the search over c (presumed to succeed).
    :param c_max: Upper end of the search over c (presumed to fail).
    :param max_iter: L-BFGS-B iterations per solve.
    :param batch_size: Images optimised together as one L-BFGS-B problem (1: per-image solves).
    :param verbose: Show a progress bar over solves.
    """

    attack_params = EvasionAttack.attack_params + [
        "targeted",
        "norm_penalty",
        "c_init",
        "c_steps",
        "c_min",
        "c_max",
        "max_iter",
        "batch_size",
        "verbose",
    ]
    _estimator_requirements = (PyTorchClassifier,)

    def __init__(
        self,
        classifier: PyTorchClassifier,
        targeted: bool = True,
        norm_penalty: str = "l2-squared",
        c_init: float = 1.0,
        c_steps: int = 10,
        c_min: float = 1e-3,
        c_max: float = 1e3,
        max_iter: int = 100,
        batch_size: int = 16,
        verbose: bool = False,
    ):
        super().__init__(estimator=classifier)
        self._targeted = targeted
        self.norm_penalty = norm_penalty
        self.c_init = c_init
        self.c_steps = c_steps
        self.c_min = c_min
        self.c_max = c_max
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self._check_params()

    def _check_params(self) -> None:
        check_bool(self.targeted, "targeted")
        check_choice(self.norm_penalty, "norm_penalty", ("l2", "l2-squared"))
        c_min = check_float(self.c_min, "c_min", minimum=0.0, min_inclusive=False)
        c_max = check_float(self.c_max, "c_max", minimum=0.0, min_inclusive=False)
        c_init = check_float(self.c_init, "c_init", minimum=0.0, min_inclusive=False)
        if not c_min < c_max:
            raise ValueError(f"c_min must be smaller than c_max; got c_min={c_min}, c_max={c_max}")
        if not c_min <= c_init <= c_max:
            raise ValueError(f"c_init must lie in [c_min, c_max] = [{c_min}, {c_max}]; got {c_init}")
        check_int(self.c_steps, "c_steps", minimum=1)
        check_int(self.max_iter, "max_iter", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_bool(self.verbose, "verbose")

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Craft adversarial examples.

        :param x: Float32 NCHW images inside the classifier's ``clip_values``.
        :param y: Targeted: target classes (indices (N,), (N, 1) or one-hot), required.
            Untargeted: true labels, or None for the model's predictions.
        :return: Float32 adversarial images inside ``clip_values`` (unchanged where the attack
            failed). Per image, after the call: ``success_`` (bool), ``distance_`` (‖x′ − x‖₂),
            ``rms_distortion_`` (Szegedy's distortion, sqrt(Σ(x′ − x)²/n) over the n pixel
            values), ``c_`` (the c of the returned solve); float64, NaN where the attack failed.
        """
        x = check_images_for(self.estimator, x)
        self._check_preprocessing()
        nb_classes = self.estimator.nb_classes
        if y is None and self.targeted:
            raise ValueError("y (target classes, indices or one-hot) is required when targeted=True")
        labels = None if y is None else class_indices(y, "y", nb_classes=nb_classes, n_samples=len(x))
        model = self.estimator.model
        modes = {module: module.training for module in model.modules()}
        model.eval()
        try:
            if labels is None:
                labels = self._predict(x)
            out = x.copy()
            success = np.zeros(len(x), dtype=bool)
            c_chosen = np.full(len(x), np.nan)
            starts = range(0, len(x), self.batch_size)
            total = len(x) * self.c_steps
            with tqdm(total=total, desc="L-BFGS (Szegedy)", unit="solve", disable=not self.verbose) as bar:
                for start in starts:
                    chunk = slice(start, start + self.batch_size)
                    out[chunk], success[chunk], c_chosen[chunk] = self._attack_chunk(x[chunk], labels[chunk], bar)
        finally:
            for module, mode in modes.items():
                module.train(mode)
        difference = (out.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
        distance = np.where(success, np.sqrt((difference**2).sum(axis=1)), np.nan)
        self.success_ = success
        self.distance_ = distance
        self.rms_distortion_ = distance / math.sqrt(difference.shape[1])
        self.c_ = c_chosen
        mean = float(np.nanmean(distance)) if success.any() else float("nan")
        logger.info("L-BFGS: %d/%d succeeded, mean L2 %.4g", success.sum(), len(x), mean)
        return out

    # -- pieces -------------------------------------------------------------------------------

    def _check_preprocessing(self) -> None:
        operations = self.estimator.preprocessing_operations
        numpy_ops = [op for op in operations if not isinstance(op, PreprocessorPyTorch) and op.apply_predict]
        if numpy_ops:
            names = ", ".join(type(op).__name__ for op in numpy_ops)
            raise ValueError(
                f"classifier has preprocessing that is not differentiable in torch ({names}); the L-BFGS attack needs "
                "gradients through the whole predict-time pipeline: use PreprocessorPyTorch defences"
            )

    def _dtype(self) -> torch.dtype:
        for parameter in self.estimator.model.parameters():
            if parameter.is_floating_point():
                return parameter.dtype
        return torch.float32

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        """Preprocessing (differentiable) + model."""
        inputs = images
        if self.estimator.preprocessing_operations:
            inputs, _ = self.estimator._apply_preprocessing(inputs, y=None, fit=False, no_grad=False)
        logits = self.estimator.model(inputs)
        if not isinstance(logits, torch.Tensor) or logits.shape != (len(images), self.estimator.nb_classes):
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            expected = f"(N, {self.estimator.nb_classes})"
            raise ValueError(f"classifier.model must return logits of shape {expected}; got {shape}")
        return logits

    def _predict(self, x: np.ndarray) -> np.ndarray:
        device, dtype = self.estimator.device, self._dtype()
        labels = []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                chunk = np.ascontiguousarray(x[start : start + self.batch_size])
                batch = torch.from_numpy(chunk).to(device=device, dtype=dtype)
                labels.append(self._logits(batch).argmax(dim=1).cpu().numpy())
        return np.concatenate(labels).astype(np.int64)

    def _reached(self, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        predicted = self._predict(images)
        return predicted == labels if self.targeted else predicted != labels

    def _losses(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-image loss_f: CE of the target, or −log(1 − p_y) (untargeted)."""
        if self.targeted:
            return torch.nn.functional.cross_entropy(logits, labels, reduction="none")
        others = logits.masked_fill(torch.nn.functional.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
        return torch.logsumexp(logits, dim=1) - torch.logsumexp(others, dim=1)

    def _bounds(self, x: np.ndarray) -> scipy.optimize.Bounds:
        clip = self.estimator.clip_values
        if clip is None:
            return scipy.optimize.Bounds(np.full(x.size, -np.inf), np.full(x.size, np.inf))
        low = np.broadcast_to(np.asarray(clip[0], dtype=np.float64), x.shape).ravel()
        high = np.broadcast_to(np.asarray(clip[1], dtype=np.float64), x.shape).ravel()
        return scipy.optimize.Bounds(low, high)

    def _to_box(self, flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """float64 solution → float32 image; clipped again since rounding may step outside a bound."""
        images = flat.reshape(shape).astype(np.float32)
        clip = self.estimator.clip_values
        if clip is not None:
            images = np.clip(images, np.asarray(clip[0], dtype=np.float32), np.asarray(clip[1], dtype=np.float32))
        return images

    def _solve(self, x: np.ndarray, labels: np.ndarray, c: np.ndarray) -> np.ndarray:
        """One L-BFGS-B solve of Σᵢ cᵢ·penalty(rᵢ) + loss_f(x + r)ᵢ for the images ``x``; float32 result."""
        device, dtype = self.estimator.device, self._dtype()
        shape = x.shape
        rows = len(x)
        x64 = x.astype(np.float64).reshape(rows, -1)
        target = torch.from_numpy(labels).to(device)
        squared = self.norm_penalty == "l2-squared"

        def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
            images = torch.from_numpy(flat.reshape(shape)).to(device=device, dtype=dtype).requires_grad_(True)
            with torch.enable_grad():
                losses = self._losses(self._logits(images), target)
                (gradient,) = torch.autograd.grad(losses.sum(), images)
            loss_grad = gradient.detach().to(device="cpu", dtype=torch.float64).numpy().reshape(rows, -1)
            r = flat.reshape(rows, -1) - x64
            norm_sq = (r**2).sum(axis=1)
            if squared:
                penalty, penalty_grad = c * norm_sq, 2.0 * c[:, None] * r
            else:
                norm = np.sqrt(norm_sq)
                penalty_grad = c[:, None] * r / np.where(norm > 0, norm, 1.0)[:, None]
                # At r = 0 (where every solve starts) c·‖r‖ has the subdifferential {c·u : ‖u‖ ≤ 1};
                # use the element that gives the total the smallest norm (steepest descent): the
                # loss gradient shortened by c, or zero when ‖∇loss‖ ≤ c (r = 0 is then optimal).
                at_zero = norm == 0
                if at_zero.any():
                    g = loss_grad[at_zero]
                    g_norm = np.sqrt((g**2).sum(axis=1, keepdims=True))
                    penalty_grad[at_zero] = -g * np.minimum(1.0, c[at_zero, None] / np.where(g_norm > 0, g_norm, 1.0))
                penalty = c * norm
            value = float(losses.detach().to(torch.float64).sum().item() + penalty.sum())
            return value, (loss_grad + penalty_grad).ravel()

        result = scipy.optimize.minimize(
            objective,
            x64.ravel().copy(),
            jac=True,
            method="L-BFGS-B",
            bounds=self._bounds(x),
            options={"maxiter": self.max_iter, "ftol": _FTOL, "gtol": _GTOL},
        )
        return self._to_box(result.x, shape)

    def _attack_chunk(self, x: np.ndarray, labels: np.ndarray, bar: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = x.copy()
        c_chosen = np.full(len(x), np.nan)
        success = self._reached(x, labels)  # already there: returned unchanged, distance 0
        index = np.flatnonzero(~success)
        bar.update(self.c_steps * int(success.sum()))
        if len(index) == 0:
            return out, success, c_chosen
        xs, ls = x[index], labels[index]
        log_low = np.full(len(index), math.log(self.c_min))
        log_high = np.full(len(index), math.log(self.c_max))
        c = np.full(len(index), float(self.c_init))
        best = np.full(len(index), np.inf)
        x64 = xs.astype(np.float64).reshape(len(index), -1)
        for _ in range(self.c_steps):
            candidate = self._solve(xs, ls, c)
            hit = self._reached(candidate, ls)
            distance = np.sqrt(((candidate.astype(np.float64).reshape(len(index), -1) - x64) ** 2).sum(axis=1))
            better = hit & (distance < best)
            best[better] = distance[better]
            out[index[better]] = candidate[better]
            c_chosen[index[better]] = c[better]
            success[index[better]] = True
            log_c = np.log(c)
            log_low = np.where(hit, log_c, log_low)
            log_high = np.where(hit, log_high, log_c)
            c = np.exp((log_low + log_high) / 2)
            bar.update(len(index))
        return out, success, c_chosen
