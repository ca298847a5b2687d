"""``cw-l2-reference``: Carlini & Wagner's L2 attack as in their reference code (``l2_attack.py``).

ART's ``CarliniL2Method`` (artx's ``cw-l2``) takes line-searched gradient steps, 10 iterations ×
10 binary-search steps by default; this is C&W's own algorithm (Carlini & Wagner 2017, "Towards
Evaluating the Robustness of Neural Networks", and ``carlini/nn_robust_attacks``):

- change of variables ``x' = tanh(w) · (hi − lo)/2 + (hi + lo)/2`` on the estimator's clip range
  (the reference's [-0.5, 0.5]); ``w`` starts at ``arctanh(x_box · 0.999999)``;
- Adam (TensorFlow 1's, ``learning_rate`` 1e-2) on ``w``, minimising per image
  ``‖x' − x0‖²₂ + c · max(0, max_{i≠t} Z_i − Z_t + κ)`` (targeted; untargeted
  ``max(0, Z_y − max_{i≠y} Z_i + κ)``) on the logits Z. ``x0`` is the input after the round
  trip through tanh space (within ~1e-6 of it), from which the reference measures distance;
  ``max(0, · + κ)`` is the reference's form of the paper's ``max(·, −κ)`` (same minimiser);
- ``binary_search_steps`` (9) searches per image on c from ``initial_const`` (1e-3): a step
  that found an adversarial example sets ``upper = min(upper, c)``, one that did not sets
  ``lower = max(lower, c)``; then ``c = (lower + upper)/2`` once an upper bound (< 1e9) exists,
  else ``c · 10``. With ``binary_search_steps >= 10`` the last step runs at ``c = upper`` (the
  reference's ``repeat``). Each step starts from ``w0`` with fresh Adam state;
- up to ``max_iter`` (10,000) iterations per step; with ``abort_early`` the step stops when,
  at a multiple of ``max_iter // 10`` iterations, the loss is not below 0.9999 × its value at
  the previous check;
- success as the reference's ``compare``: the argmax of the logits with κ subtracted from
  the target's logit is the target (untargeted: the argmax with κ added to the true class's
  logit is not the true class); the smallest-L2 successful iterate over all steps is returned.

After ``generate``: ``success_`` (bool per image), ``distance_`` (‖x_adv − x‖₂; 0 where nothing
was found), ``const_`` (the c of the returned example; NaN where none) and ``iterations_``
(batched iterations run). ``tests/test_cw_reference.py`` checks the result against a literal
per-image numpy transcription of ``l2_attack.py`` on a linear model.

Deviations from the reference, and why:

- the early-abort loss is each image's own loss (the reference compares the sum over its
  batch, so its batch_size changes results); results here are those of the reference run with
  batch_size 1 for every image, however many images share a batch;
- ``max_iter // 10`` is taken as at least 1 (the reference divides by zero below 10 iterations);
- images for which nothing was found are returned unchanged (the reference returns zeros);
- the other-class maximum is ``max(max_{i≠t} Z_i, −10000)`` exactly as the reference computes
  it; Adam is TF 1's (ε added to √v, bias correction in the step size) with a step count per
  image; the model is refused if its outputs look like probabilities (the reference raises too).

Batching: all images of a batch are one tensor; per-image constants, bounds, Adam state and
counters are tensors; a finished image (all binary steps done) leaves the batch and the next
image takes its row; the host synchronises only when some image can have finished.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from art.attacks.attack import EvasionAttack

from artx.validation import check_int
from artx_plugins._cw import (
    Box,
    CarliniWagnerReference,
    Forward,
    State,
    adam_step,
    check_common,
    common_rows,
    margin_loss,
    may_hold,
    reached,
    reset_optimiser,
    rows,
)

#: Upper bound of c before any success (the reference's 1e10) and the "has an upper bound" test (< 1e9).
NO_UPPER, HAS_UPPER = 1e10, 1e9
ABORT_TOLERANCE = 0.9999


class CarliniWagnerL2Reference(CarliniWagnerReference):
    """C&W's L2 attack as their reference code (tanh, Adam, 9 × 10,000, abort early); ART's `cw-l2` line-searches.

    :param classifier: ART ``PyTorchClassifier`` whose model returns logits, with ``clip_values``.
    :param confidence: κ: the logit margin an example must have (default 0).
    :param targeted: ``y`` holds target classes (default True, as C&W evaluate) or true labels.
    :param learning_rate: Adam's learning rate on the tanh-space variables (default 1e-2).
    :param binary_search_steps: Binary-search steps on the constant c (default 9).
    :param max_iter: Adam iterations per binary-search step (default 10,000).
    :param initial_const: First value of c (default 1e-3).
    :param abort_early: Stop a step when the loss stopped decreasing (checked every max_iter // 10).
    :param batch_size: Images optimised together (results do not depend on it).
    :param verbose: Show a progress bar (images finished).
    """

    attack_params = EvasionAttack.attack_params + [
        "confidence",
        "targeted",
        "learning_rate",
        "binary_search_steps",
        "max_iter",
        "initial_const",
        "abort_early",
        "batch_size",
        "verbose",
    ]
    norm_name = "L2"

    def __init__(
        self,
        classifier: Any,
        confidence: float = 0.0,
        targeted: bool = True,
        learning_rate: float = 1e-2,
        binary_search_steps: int = 9,
        max_iter: int = 10_000,
        initial_const: float = 1e-3,
        abort_early: bool = True,
        batch_size: int = 128,
        verbose: bool = False,
    ):
        super().__init__(estimator=classifier)
        self.confidence = confidence
        self._targeted = targeted
        self.learning_rate = learning_rate
        self.binary_search_steps = binary_search_steps
        self.max_iter = max_iter
        self.initial_const = initial_const
        self.abort_early = abort_early
        self.batch_size = batch_size
        self.verbose = verbose
        self._check_params()

    def _check_params(self) -> None:
        check_common(self)
        check_int(self.binary_search_steps, "binary_search_steps", minimum=1)

    @property
    def _period(self) -> int:
        return max(1, self.max_iter // 10)

    def _init_rows(self, x: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, box: Box) -> State:
        state = common_rows(x, labels, index, box)
        n, device = len(x), x.device
        state.update(
            timg=box.to_tanh(x),
            const=torch.full((n,), float(self.initial_const), dtype=torch.float64, device=device),
            lower=torch.zeros(n, dtype=torch.float64, device=device),
            upper=torch.full((n,), NO_UPPER, dtype=torch.float64, device=device),
            prev=torch.full((n,), math.inf, device=device),
            it=torch.zeros(n, dtype=torch.long, device=device),
            step=torch.zeros(n, dtype=torch.long, device=device),
            best_l2=torch.full((n,), NO_UPPER, device=device),  # this binary step's best (the reference's bestl2)
            step_found=torch.zeros(n, dtype=torch.bool, device=device),
            adv_l2=torch.full((n,), NO_UPPER, device=device),  # over all steps (o_bestl2)
        )
        return state

    def _iterate(self, s: State, forward: Forward, box: Box) -> None:
        live = ~s["done"]
        mod = s["mod"].detach().requires_grad_(True)
        with torch.enable_grad():
            image = box.from_tanh(mod + s["timg"])
            z = forward(image)
            l2 = (image - s["x0"]).square().flatten(1).sum(1)
            loss = l2 + s["const"].float() * margin_loss(z, s["label"], self.targeted, float(self.confidence))
            (grad,) = torch.autograd.grad(loss.sum(), mod)
        with torch.no_grad():
            image, l2, loss, z = image.detach(), l2.detach(), loss.detach(), z.detach()
            if self.abort_early:
                check = live & (s["it"] % self._period == 0)
                abort = check & (loss > s["prev"] * ABORT_TOLERANCE)
                s["prev"] = torch.where(check & ~abort, loss, s["prev"])
            else:
                abort = torch.zeros_like(live)
            hit = live & ~abort & reached(z, s["label"], self.targeted, float(self.confidence))
            better = hit & (l2 < s["best_l2"])
            s["best_l2"] = torch.where(better, l2, s["best_l2"])
            s["step_found"] = s["step_found"] | better
            best = hit & (l2 < s["adv_l2"])
            s["adv_l2"] = torch.where(best, l2, s["adv_l2"])
            s["adv"] = torch.where(rows(best, image), image, s["adv"])
            s["adv_const"] = torch.where(best, s["const"], s["adv_const"])
            s["found"] = s["found"] | best

            adam_step(s, grad, self.learning_rate)
            s["it"] = s["it"] + 1
            end = live & (abort | (s["it"] >= self.max_iter))
            if not may_hold(end):
                return
            # the reference's update of c after a binary-search step
            ok, const = s["step_found"], s["const"]
            s["upper"] = torch.where(end & ok, torch.minimum(s["upper"], const), s["upper"])
            s["lower"] = torch.where(end & ~ok, torch.maximum(s["lower"], const), s["lower"])
            bisect = (s["lower"] + s["upper"]) / 2
            new_const = torch.where(s["upper"] < HAS_UPPER, bisect, torch.where(ok, const, const * 10))
            s["const"] = torch.where(end, new_const, const)
            s["step"] = s["step"] + end.long()
            finished = end & (s["step"] >= self.binary_search_steps)
            s["done"] = s["done"] | finished
            restart = end & ~finished
            reset_optimiser(s, restart)
            s["best_l2"] = torch.where(restart, NO_UPPER, s["best_l2"])
            s["step_found"] = s["step_found"] & ~restart
            s["prev"] = torch.where(restart, math.inf, s["prev"])
            s["it"] = torch.where(restart, 0, s["it"])
            if self.binary_search_steps >= 10:  # the reference's "repeat": the last step runs at c = upper
                last = restart & (s["step"] == self.binary_search_steps - 1)
                s["const"] = torch.where(last, s["upper"], s["const"])

    def _calls_before_poll(self, s: State) -> int:
        """Iterations before the first image can finish (exact lower bound from the counters)."""
        it = s["it"].cpu().numpy()
        remaining = self.binary_search_steps - 1 - s["step"].cpu().numpy()
        period = self._period
        if self.abort_early:
            next_check = np.maximum(period, -(-it // period) * period)  # no abort at iteration 0 (prev = inf)
            first = np.minimum(next_check - it + 1, self.max_iter - it)
            per_step = min(period + 1, self.max_iter)
        else:
            first, per_step = self.max_iter - it, self.max_iter
        return int((first + remaining * per_step).min())

    def _distance(self, x: np.ndarray, x_adv: np.ndarray) -> np.ndarray:
        return np.sqrt(np.square(x_adv.astype(np.float64) - x).reshape(len(x), -1).sum(axis=1))
