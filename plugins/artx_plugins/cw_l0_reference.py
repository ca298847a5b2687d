"""``cw-l0-reference``: Carlini & Wagner's L0 attack as in their reference code (``l0_attack.py``).

ART's ``CarliniL0Method`` (artx's ``cw-l0``) is built on its line-searched L2 steps (10 × 10);
this is C&W's own iterative algorithm (Carlini & Wagner 2017, ``carlini/nn_robust_attacks``). Per image, with an allowed
set of pixels (initially all):

1. run an L2-style attack restricted to the allowed pixels: ``x' = tanh(w) · (hi − lo)/2 +
   (hi + lo)/2`` on allowed pixels, the input elsewhere; ``w`` warm-starts from the previous
   solution (``arctanh(x_prev · 0.999999)``) with fresh Adam state (TF 1's, ``learning_rate``
   1e-2); minimise ``c · max(0, max_{i≠t} Z_i − Z_t + 0.01 + κ) + ‖x' − x0‖²₂`` (untargeted:
   ``Z_y − max_{i≠y} Z_i``); each constant runs up to ``max_iter`` (1,000) iterations, and c
   starts at the last successful constant (``initial_const`` 1e-3 for the first run) and is
   multiplied by ``const_factor`` (2.0) after a constant that found nothing, until it reaches
   ``largest_const`` (2e6): then this run fails;
2. the run succeeds at the first iterate whose margin term is < 1e-4 (``abort_early``); from
   that iterate's change and the gradient g of the loss with respect to w, each pixel scores
   ``|Σ_channels (x' − x)| · Σ_channels |g|``;
3. the reference's removal loop: walk the allowed pixels in increasing score, remove each one,
   and stop after removing the first whose score exceeds 0.01 or once ``ceil(0.3 · √n_changed)``
   pixels are removed (``n_changed``: pixels with a channel changed by ≥ 1e-4 of the box width);
4. repeat until a restricted run fails; return the last successful example (the input itself
   when the first run fails, ``success_`` False). With ``reduce_const`` c is halved after a
   success. If an allowed set becomes empty and the input is already adversarial, the input is
   returned, as in the reference.

After ``generate``: ``success_``, ``distance_`` (the number of changed pixels, a pixel counting
once whatever its channels), ``const_`` (the c of the returned example) and ``iterations_``.
``tests/test_cw_reference.py`` checks the result against a literal per-image numpy
transcription of ``l0_attack.py`` on a linear model.

Deviations from the reference, and why:

- ties between equal scores are broken by the lowest pixel index (a stable sort; the reference's
  ``np.argsort`` default is not stable, so its tie order is an implementation detail);
- thresholds on pixel values (1e-4 for "changed") are scaled by the box width (the reference's
  box has width 1), so results on a [0, 255] model match those on [0, 1]; the score threshold
  0.01 and the margin-term threshold 1e-4 are the reference's numbers as they are;
- the reference's κ is fixed at 0.01 inside the margin term; κ (``confidence``) is added to it,
  so a success has a logit margin > κ (κ = 0 is the reference);
- ``abort_early=False``: the reference then never reports a success (it only returns from a
  run on an early abort); here each constant runs all ``max_iter`` iterations and the last
  iterate whose margin term was < 1e-4 counts as the success;
- the returned image is the reference's solution with every pixel value that differs from the
  input by < 1e-4 · box width (the round trip through tanh space moves every allowed pixel by
  ~1e-7) set back to the input's value, kept only if it still passes the success test, so that
  an exact count of changed pixels is the attack's L0;
- an image for which nothing was found is returned unchanged (the reference returns None);
- ``independent_channels`` (the reference's option to count channels, "not recommended") is
  not offered: pixels are removed with all their channels.

Batching: per-image allowed masks, constants, warm starts, Adam state and done flags are
tensors; all control flow runs on the device; a finished image leaves the batch and the next
takes its row.
"""

from __future__ import annotations

import math
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
    reset_optimiser,
    rows,
)

#: The reference's fixed margin inside the loss, its "works" threshold on the margin term, its
#: "changed a lot" score threshold and its pixel-equality threshold (for a box of width 1).
LOSS_MARGIN, WORKS_BELOW, SCORE_LIMIT, EQUAL_BELOW = 0.01, 1e-4, 0.01, 1e-4
REMOVE_FRACTION = 0.3


class CarliniWagnerL0Reference(CarliniWagnerReference):
    """C&W's L0 attack as in their code (restricted L2 runs, pixels dropped by gradient·change); ART's `cw-l0` differs.

    :param classifier: ART ``PyTorchClassifier`` whose model returns logits, with ``clip_values``.
    :param confidence: κ added to the reference's fixed 0.01 margin (default 0).
    :param targeted: ``y`` holds target classes (default True) or true labels.
    :param learning_rate: Adam's learning rate (default 1e-2).
    :param max_iter: Adam iterations per constant (default 1,000).
    :param initial_const: First constant c (default 1e-3).
    :param largest_const: A restricted run fails when c reaches this (default 2e6).
    :param const_factor: c is multiplied by this after a constant that found nothing (default 2.0).
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
        "reduce_const",
        "abort_early",
        "batch_size",
        "verbose",
    ]
    norm_name = "L0"

    def __init__(
        self,
        classifier: Any,
        confidence: float = 0.0,
        targeted: bool = True,
        learning_rate: float = 1e-2,
        max_iter: int = 1000,
        initial_const: float = 1e-3,
        largest_const: float = 2e6,
        const_factor: float = 2.0,
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
        check_bool(self.reduce_const, "reduce_const")

    def _init_rows(self, x: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, box: Box) -> State:
        state = common_rows(x, labels, index, box)
        n, device = len(x), x.device
        state.update(
            valid=torch.ones((n, 1, *x.shape[2:]), dtype=torch.bool, device=device),
            start=box.to_tanh(x),  # warm start: the previous solution in tanh space
            const=torch.full((n,), float(self.initial_const), dtype=torch.float64, device=device),
            step=torch.zeros(n, dtype=torch.long, device=device),
            cand_found=torch.zeros(n, dtype=torch.bool, device=device),
            cand_image=x.clone(),
            cand_grad=torch.zeros_like(x),
        )
        return state

    def _remove_limit(self, changed: torch.Tensor) -> torch.Tensor:
        """ceil(0.3 · √n_changed), at least 1 (the reference's ``did >= .3*equal_count**.5``), in float64."""
        return torch.clamp(torch.ceil(REMOVE_FRACTION * changed.double().sqrt()), min=1).long()

    def _iterate(self, s: State, forward: Forward, box: Box) -> None:
        live = ~s["done"]
        with torch.no_grad():
            # a constant that ran max_iter iterations without success: raise c (or accept the
            # abort_early=False candidate)
            end = live & (s["step"] >= self.max_iter)
            from_candidate = end & s["cand_found"]
            bump = end & ~from_candidate
            s["const"] = torch.where(bump, s["const"] * self.const_factor, s["const"])
            s["step"] = torch.where(bump, 0, s["step"])
            failed = bump & (s["const"] >= self.largest_const)
            s["done"] = s["done"] | failed
            stepping = live & ~failed & ~from_candidate
        valid = s["valid"].float()
        mod = s["mod"].detach().requires_grad_(True)
        with torch.enable_grad():
            image = box.from_tanh(mod + s["start"]) * valid + (1.0 - valid) * s["x"]
            z = forward(image)
            margin_term = margin_loss(z, s["label"], self.targeted, LOSS_MARGIN + float(self.confidence))
            l2 = (image - s["x0"]).square().flatten(1).sum(1)
            loss = s["const"].float() * margin_term + l2
            (grad,) = torch.autograd.grad(loss.sum(), mod)
        with torch.no_grad():
            image = image.detach()
            works = stepping & (margin_term.detach() < WORKS_BELOW)
            if self.abort_early:
                now = works
            else:
                s["cand_image"] = torch.where(rows(works, image), image, s["cand_image"])
                s["cand_grad"] = torch.where(rows(works, grad), grad, s["cand_grad"])
                s["cand_found"] = s["cand_found"] | works
                now = torch.zeros_like(works)
            adam_step(s, grad, self.learning_rate)
            s["step"] = s["step"] + (stepping & ~now).long()

            success = now | from_candidate
            found_image = torch.where(rows(from_candidate, image), s["cand_image"], image)
            found_grad = torch.where(rows(from_candidate, grad), s["cand_grad"], grad)
            self._shrink(s, success, found_image, found_grad, box)

    def _shrink(self, s: State, success: torch.Tensor, image: torch.Tensor, grad: torch.Tensor, box: Box) -> None:
        """After a successful restricted run: the reference's pixel removal and restart."""
        if not may_hold(success):
            return
        n = len(success)
        valid = s["valid"].flatten(1)
        n_valid = valid.sum(1)
        empty = success & (n_valid == 0)  # the reference returns the input itself
        change = image - s["x"]
        changed = (change.abs() >= EQUAL_BELOW * box.width).any(1).flatten(1).sum(1)
        score = (change.sum(1).abs() * grad.abs().sum(1)).flatten(1)
        order = torch.argsort(torch.where(valid, score, math.inf), dim=1, stable=True)
        rank = torch.empty_like(order).scatter_(
            1, order, torch.arange(order.shape[1], device=order.device).expand(n, -1)
        )
        before_large = (valid & ~(score > SCORE_LIMIT)).sum(1)  # allowed pixels ranked before the first large score
        count = torch.minimum(torch.minimum(before_large + 1, self._remove_limit(changed)), n_valid)
        keep_valid = valid & ~(rank < count[:, None])
        shrink = success & ~empty
        s["valid"] = torch.where(shrink[:, None], keep_valid, valid).view_as(s["valid"])
        s["adv"] = torch.where(rows(shrink, image), image, torch.where(rows(empty, image), s["x"], s["adv"]))
        s["adv_const"] = torch.where(success, s["const"], s["adv_const"])
        s["found"] = s["found"] | success
        if self.reduce_const:
            s["const"] = torch.where(success, s["const"] / 2, s["const"])
        s["start"] = torch.where(rows(shrink, image), box.to_tanh(image), s["start"])
        reset_optimiser(s, shrink)
        s["step"] = torch.where(shrink, 0, s["step"])
        s["cand_found"] = s["cand_found"] & ~shrink
        s["done"] = s["done"] | empty | (shrink & (s["const"] >= self.largest_const))

    def _calls_before_poll(self, s: State) -> int:
        """Iterations before the first image can finish: a run fails only when a constant
        ending at ``max_iter`` iterations takes c to ``largest_const``; an empty allowed set
        can finish at any iteration."""
        if bool((s["valid"].flatten(1).sum(1) == 0).any()):
            return 1
        const = s["const"].cpu().numpy()
        step = s["step"].cpu().numpy()
        # constants still to try (rounded down, so the bound stays a lower bound)
        bumps = np.ceil(np.log(self.largest_const / const) / np.log(self.const_factor) - 1e-6).clip(min=1)
        # c is raised at the start of the call after a constant's last iteration
        calls = (self.max_iter - step) + 1 + (bumps - 1) * self.max_iter
        return int(max(1, calls.min()))

    def _postprocess(
        self,
        forward: Forward,
        x: np.ndarray,
        x_adv: np.ndarray,
        labels: np.ndarray,
        success: np.ndarray,
        box: Box,
        device: torch.device,
    ) -> np.ndarray:
        """Set pixel values moved by < 1e-4 · box width (tanh round trip) back to the input's,
        where the image still passes the reference's success test."""
        index = np.flatnonzero(success)
        out = x_adv.copy()
        for start in range(0, len(index), self.batch_size):
            chunk = index[start : start + self.batch_size]
            original = x[chunk]
            snapped = np.where(np.abs(x_adv[chunk] - original) < EQUAL_BELOW * box.width, original, x_adv[chunk])
            with torch.no_grad():
                z = forward(torch.from_numpy(snapped).to(device))
                term = margin_loss(
                    z, torch.from_numpy(labels[chunk]).to(device), self.targeted, LOSS_MARGIN + float(self.confidence)
                )
            ok = (term < WORKS_BELOW).cpu().numpy()
            out[chunk[ok]] = snapped[ok]
        return out

    def _distance(self, x: np.ndarray, x_adv: np.ndarray) -> np.ndarray:
        return np.any(x_adv != x, axis=1).reshape(len(x), -1).sum(axis=1).astype(np.float64)
