"""``cw-linf-reference``: Carlini & Wagner's L∞ attack as in their reference code (``li_attack.py``).

ART's ``CarliniLInfMethod`` (artx's ``cw-linf``) is "a modified version" with 10 iterations of
its own Adam per step by default; this is C&W's own τ search (Carlini & Wagner 2017,
``carlini/nn_robust_attacks``). Per image, starting with τ = 1.0 (× the box width) and
c = ``initial_const`` (1e-5):

1. with ``x' = tanh(w) · (hi − lo)/2 + (hi + lo)/2``, ``w`` warm-started from the previous
   solution (``arctanh(x_prev · 0.999999)``) with fresh Adam state (TF 1's, ``learning_rate``
   5e-3), minimise ``c · max(0, max_{i≠t} Z_i − Z_t + κ) + Σ_i max(|x'_i − x0_i| − τ, 0)``
   (untargeted: ``Z_y − max_{i≠y} Z_i``); each constant runs up to ``max_iter`` (1,000)
   iterations and c is multiplied by ``const_factor`` (2.0) after one that found nothing,
   until it reaches ``largest_const`` (20): then this run fails;
2. the run succeeds (``abort_early``) when the loss at an iterate is < 1e-4 · c and the
   iterate after the Adam step passes the reference's ``compare`` (argmax of the logits with κ
   subtracted from the target's logit is the target; untargeted: with κ added to the true
   class's, not the true class); that post-step iterate is the solution;
3. after a success, τ ← min(τ, max|x' − x|) · ``decrease_factor`` (0.9) and c is kept (halved
   with ``reduce_const``); stop when τ ≤ 1/256 (× the box width) or when a run fails, and return
   the last solution (the input itself, ``success_`` False, if the first run fails).

After ``generate``: ``success_``, ``distance_`` (``max|x_adv − x|``), ``const_`` (the c of the
returned example) and ``iterations_``. ``tests/test_cw_reference.py`` checks the result
against a literal per-image numpy transcription of ``li_attack.py`` on a linear model.

Deviations from the reference, and why:

- τ and its 1/256 floor are in units of the box width (the reference's box has width 1), so
  results on a [0, 255] model match those on [0, 1]; the 1e-4 · c loss threshold is the
  reference's number;
- κ (``confidence``) enters the margin term and the success test as in the reference's L2
  attack; the reference's L∞ has no κ (κ = 0 is the reference);
- ``abort_early=False``: the reference then never reports a success (it only returns from a run
  on an early abort); here each constant runs all ``max_iter`` iterations and the last verified
  iterate counts as the success;
- an image for which nothing was found is returned unchanged (as the reference returns its
  ``prev``).

Batching: per-image τ, c, warm starts, Adam state and done flags are tensors; the post-step
check uses the next iteration's forward pass of the same batch (no extra pass); a finished
image leaves the batch and the next takes its row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from art.attacks.attack import EvasionAttack

from artx.validation import check_bool, check_float
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

#: The reference's success threshold on the loss (× c), first τ and τ floor (box of width 1).
WORKS_BELOW, FIRST_TAU, SMALLEST_TAU = 1e-4, 1.0, 1.0 / 256
#: Iterations between polls for finished images on a GPU (an image can finish at any success).
POLL_EVERY = 8


class CarliniWagnerLInfReference(CarliniWagnerReference):
    """C&W's L∞ attack as their reference code (τ penalty, 1,000 Adam iterations per c); ART's `cw-linf` runs 10.

    :param classifier: ART ``PyTorchClassifier`` whose model returns logits, with ``clip_values``.
    :param confidence: κ: the logit margin an example must have (default 0, as the reference).
    :param targeted: ``y`` holds target classes (default True) or true labels.
    :param learning_rate: Adam's learning rate (default 5e-3).
    :param max_iter: Adam iterations per constant (default 1,000).
    :param initial_const: First constant c (default 1e-5).
    :param largest_const: A run fails when c reaches this (default 20).
    :param const_factor: c is multiplied by this after a constant that found nothing (default 2.0).
    :param decrease_factor: τ is multiplied by this after a success (default 0.9).
    :param reduce_const: Halve c after each success (default False, as the reference).
    :param abort_early: Stop a run at its first valid iterate (default True; see the module notes).
    :param batch_size: Images optimised together (results do not depend on it).
    :param verbose: Show a progress bar (images finished).
    """

    attack_params = EvasionAttack.attack_params + [
        "confidence",
        "targeted",
        "learning_rate",
        "max_iter",
        "initial_const",
        "largest_const",
        "const_factor",
        "decrease_factor",
        "reduce_const",
        "abort_early",
        "batch_size",
        "verbose",
    ]
    norm_name = "L∞"

    def __init__(
        self,
        classifier: Any,
        confidence: float = 0.0,
        targeted: bool = True,
        learning_rate: float = 5e-3,
        max_iter: int = 1000,
        initial_const: float = 1e-5,
        largest_const: float = 20.0,
        const_factor: float = 2.0,
        decrease_factor: float = 0.9,
        reduce_const: bool = False,
        abort_early: bool = True,
        batch_size: int = 128,
        verbose: bool = False,
    ):
        super().__init__(estimator=classifier)
        self.confidence = confidence
        self._targeted = targeted
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.initial_const = initial_const
        self.largest_const = largest_const
        self.const_factor = const_factor
        self.decrease_factor = decrease_factor
        self.reduce_const = reduce_const
        self.abort_early = abort_early
        self.batch_size = batch_size
        self.verbose = verbose
        self._check_params()

    def _check_params(self) -> None:
        check_common(self)
        check_float(self.largest_const, "largest_const", minimum=0.0, min_inclusive=False)
        if self.largest_const <= self.initial_const:
            raise ValueError(
                f"largest_const must exceed initial_const ({self.initial_const}); got {self.largest_const}"
            )
        check_float(self.const_factor, "const_factor", minimum=1.0, min_inclusive=False)
        check_float(
            self.decrease_factor, "decrease_factor", minimum=0.0, maximum=1.0, min_inclusive=False, max_inclusive=False
        )
        check_bool(self.reduce_const, "reduce_const")

    def _init_rows(self, x: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, box: Box) -> State:
        state = common_rows(x, labels, index, box)
        n, device = len(x), x.device
        state.update(
            start=box.to_tanh(x),
            const=torch.full((n,), float(self.initial_const), dtype=torch.float64, device=device),
            tau=torch.full((n,), FIRST_TAU * box.width, dtype=torch.float64, device=device),
            step=torch.zeros(n, dtype=torch.long, device=device),
            pending=torch.zeros(n, dtype=torch.bool, device=device),
            cand_found=torch.zeros(n, dtype=torch.bool, device=device),
            cand_image=x.clone(),
        )
        return state

    def _iterate(self, s: State, forward: Forward, box: Box) -> None:
        live = ~s["done"]
        mod = s["mod"].detach().requires_grad_(True)
        with torch.enable_grad():
            image = box.from_tanh(mod + s["start"])
            z = forward(image)
        with torch.no_grad():
            # the reference's check after the Adam step, on this iteration's forward pass
            verified = live & s["pending"] & reached(z.detach(), s["label"], self.targeted, float(self.confidence))
            if self.abort_early:
                now = verified
            else:
                s["cand_image"] = torch.where(rows(verified, image), image.detach(), s["cand_image"])
                s["cand_found"] = s["cand_found"] | verified
                now = torch.zeros_like(verified)
            s["pending"] = s["pending"] & ~live
            # a constant that ran max_iter iterations without success: raise c before this step
            end = live & ~now & (s["step"] >= self.max_iter)
            from_candidate = end & s["cand_found"]
            bump = end & ~from_candidate
            s["const"] = torch.where(bump, s["const"] * self.const_factor, s["const"])
            s["step"] = torch.where(bump, 0, s["step"])
            failed = bump & (s["const"] >= self.largest_const)
            stepping = live & ~now & ~from_candidate & ~failed
        with torch.enable_grad():
            penalty = (
                torch.clamp((image - s["x0"]).abs() - s["tau"].float().view(-1, 1, 1, 1), min=0.0).flatten(1).sum(1)
            )
            loss = s["const"].float() * margin_loss(z, s["label"], self.targeted, float(self.confidence)) + penalty
            (grad,) = torch.autograd.grad(loss.sum(), mod)
        with torch.no_grad():
            image = image.detach()
            works = stepping & (loss.detach().double() < WORKS_BELOW * s["const"])
            adam_step(s, grad, self.learning_rate)
            s["step"] = s["step"] + stepping.long()
            s["pending"] = works

            success = now | from_candidate
            s["done"] = s["done"] | failed
            if not may_hold(success):
                return
            found = torch.where(rows(from_candidate, image), s["cand_image"], image)
            actual = (found - s["x"]).abs().flatten(1).amax(1).double()
            tau = torch.where(actual < s["tau"], actual, s["tau"]) * self.decrease_factor
            s["tau"] = torch.where(success, tau, s["tau"])
            s["adv"] = torch.where(rows(success, found), found, s["adv"])
            s["adv_const"] = torch.where(success, s["const"], s["adv_const"])
            s["found"] = s["found"] | success
            if self.reduce_const:
                s["const"] = torch.where(success, s["const"] / 2, s["const"])
            small = success & (s["tau"] <= SMALLEST_TAU * box.width)
            restart = success & ~small
            s["start"] = torch.where(rows(restart, found), box.to_tanh(found), s["start"])
            reset_optimiser(s, restart)
            s["step"] = torch.where(restart, 0, s["step"])
            s["pending"] = s["pending"] & ~restart
            s["cand_found"] = s["cand_found"] & ~restart
            s["done"] = s["done"] | small | (restart & (s["const"] >= self.largest_const))

    def _calls_before_poll(self, s: State) -> int:
        # an image can finish at any success; on the CPU a poll is free, elsewhere it syncs
        return 1 if s["done"].device.type == "cpu" else POLL_EVERY

    def _distance(self, x: np.ndarray, x_adv: np.ndarray) -> np.ndarray:
        return np.abs(x_adv.astype(np.float64) - x).reshape(len(x), -1).max(axis=1)
