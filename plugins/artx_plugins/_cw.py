"""Shared machinery of the Carlini & Wagner reference attacks (``cw-l2-reference``,
``cw-l0-reference``, ``cw-linf-reference``).

The three attacks follow Carlini & Wagner's own code (``carlini/nn_robust_attacks``:
``l2_attack.py``, ``l0_attack.py``, ``li_attack.py``), re-written in torch so that a whole batch
runs as one tensor with per-image state (constants, binary-search bounds, τ, allowed pixels,
Adam moments, iteration counters). Everything that differs from image to image is a tensor
row; the per-image control flow of the reference (abort, restart with a new constant, warm
start, done) is applied with masks on the device, so the host only synchronises when it polls
for finished images. A finished image leaves the batch and the next queued image takes its row,
so finished images cost no compute.

What is shared here:

- :class:`Box`: the reference's change of variables, ``x = tanh(w) · (hi − lo)/2 + (hi + lo)/2``
  with the input mapped to tanh space as ``arctanh(x_box · 0.999999)`` (the reference's
  [-0.5, 0.5] box generalised to the estimator's ``clip_values``);
- :func:`adam_step`: TensorFlow 1's Adam (the reference uses ``tf.train.AdamOptimizer``), with a
  step count per image so that one image's restart does not disturb the others' bias correction;
- :func:`margin_terms` / :func:`reached`: the reference's ``real``/``other`` logits and its
  success test (``compare``: argmax of the logits after moving the label's logit by κ);
- :class:`CarliniWagnerReference`: the ``EvasionAttack`` base class (input checks, the bare
  model, labels, the row pool, the ``success_`` / ``distance_`` / ``const_`` attributes).

Model access: the attacks run the estimator's bare model (``estimator.model``, in eval mode,
its modes restored afterwards) on the logits. The classifier's preprocessing (the
``preprocessing=(mean, std)`` normalisation and any ``PreprocessorPyTorch`` defences with
``apply_predict=True``) is applied in torch through ``estimator._apply_preprocessing(...,
no_grad=False)``, i.e. exactly what the classifier's own ``predict`` and ``loss_gradient`` do,
so the attack sees the same function as ART. Numpy-only preprocessing defences (not
differentiable in torch) and postprocessing defences (they change ``predict``'s output, not the
logits the attack optimises) are refused with a clear message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from art.attacks.attack import EvasionAttack
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import tqdm

from artx.validation import check_bool, check_float, check_images_for, check_int, class_indices

logger = logging.getLogger(__name__)

#: The reference maps images to tanh space as arctanh(x_box · 0.999999) (``l2_attack.py``;
#: ``1.999999`` on [-0.5, 0.5] in the L0/L∞ code) so that pixels on the box edge stay finite.
TANH_SHRINK = 0.999999
#: The reference's ``other = max((1 - onehot) · Z − onehot · 10000)``: the label's entry reads −10000.
OTHER_FILL = -10000.0
#: TensorFlow 1 Adam defaults (``tf.train.AdamOptimizer``).
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8

Forward = Callable[[torch.Tensor], torch.Tensor]
State = dict[str, torch.Tensor]


@dataclasses.dataclass(frozen=True)
class Box:
    """The estimator's pixel box and the reference's tanh change of variables on it."""

    low: float
    high: float

    @property
    def mul(self) -> float:
        return (self.high - self.low) / 2.0

    @property
    def plus(self) -> float:
        return (self.high + self.low) / 2.0

    @property
    def width(self) -> float:
        return self.high - self.low

    def to_tanh(self, x: torch.Tensor) -> torch.Tensor:
        """``arctanh((x − plus)/mul · 0.999999)`` in float64 (as the reference, in numpy), as float32."""
        return torch.atanh((x.double() - self.plus) / self.mul * TANH_SHRINK).float()

    def from_tanh(self, w: torch.Tensor) -> torch.Tensor:
        return torch.tanh(w) * self.mul + self.plus


def estimator_box(estimator: Any) -> Box:
    """The estimator's ``clip_values`` as a :class:`Box`; refuses an estimator without them."""
    clip = getattr(estimator, "clip_values", None)
    if clip is None:
        raise ValueError(
            "Carlini & Wagner's attacks need the estimator's clip_values (the tanh box); got clip_values=None"
        )
    low_values, high_values = np.asarray(clip[0], dtype=np.float64), np.asarray(clip[1], dtype=np.float64)
    if np.ptp(low_values) > 0 or np.ptp(high_values) > 0:
        raise ValueError(
            f"Carlini & Wagner's reference attacks need one box for every pixel (scalar clip_values); got {clip!r}"
        )
    low, high = float(low_values.flat[0]), float(high_values.flat[0])
    if not high > low:
        raise ValueError(f"estimator clip_values must satisfy min < max; got {clip!r}")
    return Box(low, high)


@contextlib.contextmanager
def bare_model(estimator: PyTorchClassifier) -> Iterator[Forward]:
    """Yield ``forward(x) -> logits`` on the estimator's bare model in eval mode (modes restored).

    The classifier's torch preprocessing (normalisation, ``PreprocessorPyTorch`` defences) is
    applied differentiably, as in the classifier's own ``loss_gradient``.
    """
    if getattr(estimator, "postprocessing_defences", None):
        raise ValueError(
            "Carlini & Wagner's attacks optimise the model's logits; the estimator has postprocessing_defences, "
            "which change only predict()'s output: remove them (estimator.set_params(postprocessing_defences=None))"
        )
    operations = list(getattr(estimator, "preprocessing_operations", None) or [])
    if operations and not estimator.all_framework_preprocessing:
        raise ValueError(
            "the estimator has numpy preprocessing defences, which the attack cannot differentiate through in torch; "
            f"use PreprocessorPyTorch defences (got {[type(op).__name__ for op in operations]})"
        )
    model = estimator.model
    modes = [(module, module.training) for module in model.modules()]
    model.eval()

    def forward(x: torch.Tensor) -> torch.Tensor:
        if operations:
            x, _ = estimator._apply_preprocessing(x, None, fit=False, no_grad=False)
        return model(x)

    try:
        yield forward
    finally:
        for module, mode in modes:
            module.training = mode  # restore each module's own flag (train() would recurse)


def margin_terms(z: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's ``real = Z_label`` and ``other = max(max_{i≠label} Z_i, −10000)``."""
    real = z.gather(1, labels[:, None]).squeeze(1)
    other = z.scatter(1, labels[:, None], OTHER_FILL).amax(1)
    return real, other


def margin_loss(z: torch.Tensor, labels: torch.Tensor, targeted: bool, margin: float) -> torch.Tensor:
    """``max(0, other − real + margin)`` (targeted) or ``max(0, real − other + margin)`` per image."""
    real, other = margin_terms(z, labels)
    gap = other - real if targeted else real - other
    return torch.clamp(gap + margin, min=0.0)


def reached(z: torch.Tensor, labels: torch.Tensor, targeted: bool, confidence: float) -> torch.Tensor:
    """The reference's ``compare``: argmax of the logits after subtracting κ from the target's
    logit (targeted) or adding κ to the true class's (untargeted); ties go to the first index,
    as ``np.argmax``. Targeted: argmax == label; untargeted: argmax != label."""
    shift = -confidence if targeted else confidence
    adjusted = z.scatter_add(1, labels[:, None], torch.full_like(z[:, :1], shift))
    predicted = adjusted.argmax(1)
    return predicted == labels if targeted else predicted != labels


def logit_margin(z: np.ndarray, labels: np.ndarray, targeted: bool) -> np.ndarray:
    """Per image ``Z_t − max_{i≠t} Z_i`` (targeted) or ``max_{i≠y} Z_i − Z_y`` (untargeted)."""
    real = z[np.arange(len(z)), labels]
    others = z.copy()
    others[np.arange(len(z)), labels] = -np.inf
    gap = real - others.max(axis=1)
    return gap if targeted else -gap


def adam_step(state: State, grad: torch.Tensor, learning_rate: float) -> None:
    """One step of TensorFlow 1's Adam on ``state["mod"]`` with a step count per image.

    TF folds the bias correction into the learning rate, ``lr_t = lr · √(1 − β2^t)/(1 − β1^t)``,
    and adds ε to ``√v`` (not to the corrected ``√v̂`` as ``torch.optim.Adam`` does); written by
    hand because torch's optimisers keep one step count for the whole tensor.
    """
    t = state["t"] + 1.0
    state["m"] = state["m"] * ADAM_BETA1 + grad * (1.0 - ADAM_BETA1)
    state["v"] = state["v"] * ADAM_BETA2 + grad.square() * (1.0 - ADAM_BETA2)
    lr_t = learning_rate * torch.sqrt(1.0 - ADAM_BETA2**t) / (1.0 - ADAM_BETA1**t)
    state["mod"] = state["mod"] - lr_t.view(-1, *([1] * (grad.dim() - 1))) * state["m"] / (
        state["v"].sqrt() + ADAM_EPSILON
    )
    state["t"] = t


def rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-image mask shaped to broadcast against ``like`` (N, ...)."""
    return mask.view(-1, *([1] * (like.dim() - 1)))


def may_hold(mask: torch.Tensor) -> bool:
    """Whether any image is masked: exact on the CPU (a free check), always True elsewhere (a
    host sync per iteration would stall the device; the masked updates are no-ops instead)."""
    return mask.device.type != "cpu" or bool(mask.any())


def reset_optimiser(state: State, mask: torch.Tensor) -> None:
    """Zero the modifier and Adam's state of the masked images (the reference's ``sess.run(init)``)."""
    for key in ("mod", "m", "v"):
        state[key] = torch.where(rows(mask, state[key]), 0.0, state[key])
    state["t"] = torch.where(mask, 0.0, state["t"])


def check_logits(z: np.ndarray) -> None:
    """The reference's pre-softmax check: refuse a model whose outputs look like probabilities."""
    if np.all(z >= -1e-4) and np.all(z <= 1.0001) and np.allclose(z.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(
            "the estimator's model must return logits (pre-softmax); its outputs lie in [0, 1] and sum to 1, "
            "which looks like probabilities (Carlini & Wagner's reference refuses these too)"
        )


class CarliniWagnerReference(EvasionAttack):
    """Base class of the C&W reference attacks (not registered itself).

    Subclasses implement ``_init_rows`` (the state of new images), ``_iterate`` (one iteration of
    every row, in place), ``_calls_before_poll`` (how many iterations may run before some row
    can finish) and ``_distance``.

    After :meth:`generate`: ``success_`` (bool per image: an adversarial example was found and
    returned), ``distance_`` (the norm of ``x_adv − x`` per image: 0 where nothing was found),
    ``const_`` (the constant c at which the returned example was found; NaN where none) and
    ``iterations_`` (batched iterations run: one forward + backward pass of the batch each).
    """

    _estimator_requirements = (PyTorchClassifier,)
    norm_name = ""

    success_: np.ndarray
    distance_: np.ndarray
    const_: np.ndarray
    iterations_: int

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Craft adversarial examples.

        :param x: Float32 NCHW images inside the estimator's clip range.
        :param y: Targets (targeted, required) or true labels (untargeted; None uses the model's
            predictions): indices (N,), (N, 1) or one-hot (N, nb_classes).
        :return: The adversarial examples; an image for which no example was found is returned
            unchanged (``success_`` says which).
        """
        if kwargs:
            raise TypeError(f"generate() got unexpected keyword argument(s) {sorted(kwargs)}; it takes x and y")
        self._check_params()
        x = check_images_for(self.estimator, x)
        box = estimator_box(self.estimator)
        device = self.estimator.device
        with bare_model(self.estimator) as forward:
            clean = self._logits(forward, x, device)
            if clean.shape[1] != self.estimator.nb_classes:
                declared, outputs = self.estimator.nb_classes, clean.shape[1]
                raise ValueError(
                    f"the model returns {outputs} outputs per image; the estimator declares nb_classes={declared}"
                )
            check_logits(clean)
            if y is None:
                if self.targeted:
                    raise ValueError("y (the target classes) is required when targeted=True")
                labels = clean.argmax(axis=1).astype(np.int64)
            else:
                labels = class_indices(y, "y", nb_classes=self.estimator.nb_classes, n_samples=len(x))
            self.iterations_ = 0
            x_adv, success, const = self._run(forward, x, labels, box, device)
            x_adv = self._postprocess(forward, x, x_adv, labels, success, box, device)
        self.success_ = success
        self.distance_ = np.where(success, self._distance(x, x_adv), 0.0)
        self.const_ = const
        if success.any():
            logger.info(
                "%s: %d/%d succeeded, mean %s %.4g",
                type(self).__name__,
                success.sum(),
                len(x),
                self.norm_name,
                self.distance_[success].mean(),
            )
        else:
            logger.info("%s: 0/%d succeeded", type(self).__name__, len(x))
        return x_adv

    def _logits(self, forward: Forward, x: np.ndarray, device: torch.device) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                out.append(
                    forward(torch.from_numpy(x[start : start + self.batch_size]).to(device)).float().cpu().numpy()
                )
        return np.concatenate(out)

    def _run(
        self, forward: Forward, x: np.ndarray, labels: np.ndarray, box: Box, device: torch.device
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The row pool: keep up to ``batch_size`` images in the batch, replace finished ones."""
        n = len(x)
        x_adv = x.copy()
        success = np.zeros(n, dtype=bool)
        const = np.full(n, np.nan)
        state: State | None = None
        queued = 0
        with tqdm(total=n, desc=type(self).__name__, disable=not self.verbose) as bar:
            while True:
                held = 0 if state is None else len(state["index"])
                if queued < n and held < self.batch_size:
                    take = np.arange(queued, min(n, queued + self.batch_size - held))
                    queued = int(take[-1]) + 1
                    new = self._init_rows(
                        torch.from_numpy(x[take]).to(device),
                        torch.from_numpy(labels[take]).to(device),
                        torch.from_numpy(take).to(device),
                        box,
                    )
                    state = new if state is None else {key: torch.cat([state[key], new[key]]) for key in state}
                    held = len(state["index"])
                if state is None or held == 0:
                    break
                calls = max(1, self._calls_before_poll(state))
                for _ in range(calls):
                    self._iterate(state, forward, box)
                self.iterations_ += calls
                done = state["done"]
                if bool(done.any()):
                    index = state["index"][done].cpu().numpy()
                    found = state["found"][done].cpu().numpy()
                    x_adv[index[found]] = state["adv"][done][torch.from_numpy(found).to(device)].cpu().numpy()
                    success[index] = found
                    const[index] = np.where(found, state["adv_const"][done].cpu().numpy(), np.nan)
                    keep = ~done
                    state = {key: value[keep] for key, value in state.items()}
                    bar.update(len(index))
        # tanh(w)·mul + plus can leave the box by one rounding step for boxes other than [0, 1]
        return np.clip(x_adv, box.low, box.high).astype(np.float32), success, const

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
        return x_adv

    # --- implemented by each attack -------------------------------------------------------
    def _init_rows(self, x: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, box: Box) -> State:
        raise NotImplementedError

    def _iterate(self, state: State, forward: Forward, box: Box) -> None:
        raise NotImplementedError

    def _calls_before_poll(self, state: State) -> int:
        raise NotImplementedError

    def _distance(self, x: np.ndarray, x_adv: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def common_rows(x: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, box: Box) -> State:
    """State every attack keeps: the images, labels, the distance origin ``x0`` (the input after
    the round trip through tanh space, as the reference measures distances), the optimiser, the
    returned example so far and the done flag."""
    n = len(x)
    x0 = box.from_tanh(box.to_tanh(x))
    zeros = torch.zeros_like(x)
    return {
        "index": index,
        "label": labels,
        "x": x,
        "x0": x0,
        "mod": zeros,
        "m": zeros.clone(),
        "v": zeros.clone(),
        "t": torch.zeros(n, device=x.device),
        "adv": x.clone(),
        "found": torch.zeros(n, dtype=torch.bool, device=x.device),
        "adv_const": torch.full((n,), math.nan, dtype=torch.float64, device=x.device),
        "done": torch.zeros(n, dtype=torch.bool, device=x.device),
    }


def check_common(attack: Any) -> None:
    """Validate the parameters every C&W reference attack has."""
    check_float(attack.confidence, "confidence", minimum=0.0)
    check_bool(attack.targeted, "targeted")
    check_float(attack.learning_rate, "learning_rate", minimum=0.0, min_inclusive=False)
    check_int(attack.max_iter, "max_iter", minimum=1)
    check_float(attack.initial_const, "initial_const", minimum=0.0, min_inclusive=False)
    check_bool(attack.abort_early, "abort_early")
    check_int(attack.batch_size, "batch_size", minimum=1)
    check_bool(attack.verbose, "verbose")
