"""Monte-Carlo dropout (Gal & Ghahramani 2016) done right and fast.

*Right*: only the ``nn.Dropout`` modules sample; BatchNorm and everything else stay in eval
mode, and every module's mode is restored afterwards. (ART's ``predict(training_mode=True)``
would also put BatchNorm in training mode and update its running statistics, and ``predict``
resets ``model.train`` on every call, so artx does not go through it for the stochastic passes.)

*Fast*: in a sequential model the layers before the first dropout are deterministic, so
:func:`split_at_first_dropout` cuts the model there; the prefix runs once per image and only
the (small) suffix is sampled, for all ``n_passes`` at once as one batch of
``n_passes × batch`` rows. For ``lenet5-dropout`` that is the two convolutions and ``fc1`` once,
then 50 passes through ``fc2``/``fc3``: about 2× the cost of one plain prediction instead of 50×
(``benchmarks/mc_dropout_speed.py`` measures it). Models that are not ``nn.Sequential`` fall
back to running the whole model ``n_passes`` times (correct, slower).

*Per image, not per batch*: :func:`mc_dropout_predict` draws its N dropout masks once from its
seed (a :class:`MaskBank`) and applies the same N masks to every image, so the N passes are N
fixed sub-networks sampled from the seed. An image's uncertainty is then a function of the seed
and the image alone, never of the batch it is in or its position there (with masks drawn per
row, the same image got a different uncertainty in another batch). Per image it is the same
Monte-Carlo estimate as with fresh masks (N independent masks); images share the sample. The
adaptive attacker (:func:`mc_dropout_torch` without a bank) still draws fresh masks per call.

The uncertainty is the one of Alshemali et al. (2019, §4.2): the standard deviation over the
passes of each class's softmax output (population std, ``ddof=0``), averaged over the classes.
For K classes it lies in [0, √(K − 1)/K] (:func:`max_uncertainty`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from artx.validation import check_images, check_int, check_seed

logger = logging.getLogger(__name__)

__all__ = [
    "dropout_modules",
    "only_dropout_active",
    "split_at_first_dropout",
    "MaskBank",
    "mc_dropout_torch",
    "uncertainty_torch",
    "max_uncertainty",
    "MCDropoutResult",
    "mc_dropout_predict",
]

_DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def dropout_modules(model: nn.Module) -> list[nn.Module]:
    """The dropout modules of ``model`` with a non-zero rate, in registration order."""
    return [module for module in model.modules() if isinstance(module, _DROPOUT_TYPES) and module.p > 0]


def require_dropout(model: object, name: str = "model") -> nn.Module:
    """Check that ``model`` is a ``torch.nn.Module`` with at least one active dropout layer."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module; got {type(model).__name__}")
    if not dropout_modules(model):
        raise ValueError(
            f"{name} has no dropout layer with p > 0: Monte-Carlo dropout needs one "
            f"(e.g. the zoo's 'lenet5-dropout'); got {type(model).__name__} with no nn.Dropout"
        )
    return model


@contextlib.contextmanager
def only_dropout_active(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode except its dropout modules; restore every module's mode on exit."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        for module in dropout_modules(model):
            module.train()
        yield model
    finally:
        for module, mode in modes:
            module.training = mode


def split_at_first_dropout(model: nn.Module) -> tuple[nn.Module, nn.Module] | None:
    """Split a sequential model into (deterministic prefix, stochastic suffix) at its first dropout.

    :return: The two halves (sharing the model's parameters), or None when ``model`` is not an
        ``nn.Sequential`` whose dropout layers are direct children.
    """
    if not isinstance(model, nn.Sequential):
        return None
    children = list(model.children())
    for position, child in enumerate(children):
        if isinstance(child, _DROPOUT_TYPES) and child.p > 0:
            return nn.Sequential(*children[:position]), nn.Sequential(*children[position:])
        if dropout_modules(child):  # dropout nested inside a block: cannot cut cleanly
            return None
    return None


class MaskBank:
    """N dropout keep-masks per dropout layer, drawn once from ``seed`` and shared by every image.

    ``keep(layer, shape, p)`` returns a float tensor (N, *shape) holding 0 or 1/(1 − p) (inverted
    dropout), drawn the first time a layer asks and reused afterwards, so every batch (and every
    image in it) sees the same N masks. Masks are element-wise (``nn.Dropout``'s semantics) for
    every dropout layer type.

    :param n_passes: N.
    :param seed: Seed of the masks.
    :param device: Device of the masks.
    """

    def __init__(self, n_passes: int, seed: int, device: torch.device | str = "cpu"):
        self.n_passes = n_passes
        self.seed = seed
        self.device = torch.device(device)
        self._masks: dict[int, torch.Tensor] = {}

    def keep(self, layer: int, shape: tuple[int, ...], p: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        mask = self._masks.get(layer)
        if mask is None or tuple(mask.shape[1:]) != tuple(shape):
            # One generator per layer, seeded from (seed, layer): a layer's masks do not depend on
            # which other layers drew before it.
            generator = torch.Generator().manual_seed((self.seed * 1_000_003 + layer * 7_919) % (2**63 - 1))
            kept = torch.rand((self.n_passes, *shape), generator=generator) >= p
            mask = (kept.to(dtype) * (1.0 / (1.0 - p))).to(self.device)
            self._masks[layer] = mask
        return mask


def mc_dropout_torch(model: nn.Module, x: torch.Tensor, n_passes: int, masks: MaskBank | None = None) -> torch.Tensor:
    """Logits of ``n_passes`` dropout samples, shape ``(n_passes, batch, classes)``.

    Differentiable (an adaptive attacker can back-propagate through it). Call it inside
    :func:`only_dropout_active`. With ``masks`` the passes use the bank's fixed masks (the same
    for every image); without, each row draws a fresh mask from torch's global RNG.
    """
    halves = split_at_first_dropout(model)
    if halves is None:
        if masks is not None:
            return _hooked_passes(model, x, n_passes, masks)
        return torch.stack([model(x) for _ in range(n_passes)])
    prefix, suffix = halves
    features = prefix(x)
    batch = features.shape[0]
    layers = list(suffix)
    start = 0
    if masks is not None and _folds(layers, features):
        # Fixed masks, then a linear layer, on features every pass shares: (h ⊙ m_k) Wᵀ = h (W ⊙ m_k)ᵀ,
        # so all passes are one wide product with the N masked weight matrices (no N× copy of h).
        dropout, linear = layers[0], layers[1]
        keep = masks.keep(0, tuple(features.shape[1:]), dropout.p, features.dtype)  # (N, in)
        weights = (linear.weight.unsqueeze(0) * keep.unsqueeze(1)).reshape(-1, linear.weight.shape[1])  # (N·out, in)
        wide = features @ weights.T  # (batch, N·out)
        hidden = wide.reshape(batch, n_passes, -1).transpose(0, 1) + (0 if linear.bias is None else linear.bias)
        hidden = hidden.reshape(n_passes * batch, -1)
        start = 2
    else:
        # One batch of n_passes × batch rows: copy k of every row goes through pass k's mask.
        hidden = features.unsqueeze(0).expand(n_passes, *features.shape).reshape(n_passes * batch, *features.shape[1:])
    for index, layer in enumerate(layers[start:], start=start):
        if masks is not None and isinstance(layer, _DROPOUT_TYPES):
            if layer.p > 0:
                keep = masks.keep(index, tuple(hidden.shape[1:]), layer.p, hidden.dtype)
                hidden = (hidden.reshape(n_passes, batch, *hidden.shape[1:]) * keep.unsqueeze(1)).reshape(hidden.shape)
        elif type(layer) is nn.Dropout:
            hidden = _inverted_dropout(hidden, layer.p)
        else:
            hidden = layer(hidden)
    return hidden.reshape(n_passes, batch, -1)


def _folds(layers: list[nn.Module], features: torch.Tensor) -> bool:
    """Whether the suffix starts with dropout → linear on flat features (the weight-folding path)."""
    return (
        len(layers) >= 2
        and isinstance(layers[0], _DROPOUT_TYPES)
        and layers[0].p > 0
        and isinstance(layers[1], nn.Linear)
        and features.ndim == 2
    )


def _hooked_passes(model: nn.Module, x: torch.Tensor, n_passes: int, masks: MaskBank) -> torch.Tensor:
    """Whole-model passes for models that cannot be split: dropout layers off, a forward hook
    multiplies their output by the bank's mask of the current pass."""
    layers = dropout_modules(model)
    current = {"pass": 0}

    def hook_for(index: int, p: float):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
            return output * masks.keep(index, tuple(output.shape[1:]), p, output.dtype)[current["pass"]]

        return hook

    modes = [(module, module.training) for module in layers]
    handles = [module.register_forward_hook(hook_for(i, module.p)) for i, module in enumerate(layers)]
    try:
        for module in layers:
            module.eval()  # the hook applies the mask; the module itself passes inputs through
        outputs = []
        for k in range(n_passes):
            current["pass"] = k
            outputs.append(model(x))
        return torch.stack(outputs)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes:
            module.training = mode


def _inverted_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """``nn.Dropout`` in training mode (zero with probability p, scale the rest by 1/(1−p)).

    Written out because torch's CPU dropout draws its mask with ``bernoulli_``, measured 4–5×
    slower than ``rand`` + compare here. Same distribution; different random stream than
    ``nn.Dropout``.
    """
    if p <= 0.0:
        return x
    keep = torch.rand(x.shape, device=x.device, dtype=x.dtype) >= p
    return x * (keep.to(x.dtype) * (1.0 / (1.0 - p)))


def max_uncertainty(nb_classes: int) -> float:
    """The largest possible uncertainty for ``nb_classes`` classes: √(K − 1)/K.

    Σ_k std_k ≤ √(K · Σ_k var_k) (Cauchy–Schwarz) and Σ_k var_k = E‖p‖² − ‖E p‖² ≤ 1 − 1/K for
    probability vectors p, so the mean over classes of the std is at most √(K − 1)/K (0.3 for
    ten classes), reached when the passes spread uniformly over one-hot outputs.
    """
    return float(np.sqrt(nb_classes - 1) / nb_classes)


def uncertainty_torch(logits: torch.Tensor) -> torch.Tensor:
    """Per-image uncertainty from ``(n_passes, batch, classes)`` logits: mean over classes of the
    population std over passes of the softmax."""
    return torch.softmax(logits, dim=-1).std(dim=0, correction=0).mean(dim=-1)


@dataclasses.dataclass
class MCDropoutResult:
    """Per-image summary of the Monte-Carlo passes."""

    mean_logits: np.ndarray  # (N, classes), mean over passes
    uncertainty: np.ndarray  # (N,), see the module docstring
    n_passes: int

    @property
    def labels(self) -> np.ndarray:
        """Provisional class: argmax of the mean logits."""
        return np.argmax(self.mean_logits, axis=1)


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def mc_dropout_predict(
    model: nn.Module,
    x: np.ndarray,
    *,
    n_passes: int = 50,
    batch_size: int = 512,
    seed: int = 0,
    clip_values: tuple[float, float] | None = (0.0, 1.0),
) -> MCDropoutResult:
    """Run ``n_passes`` Monte-Carlo dropout passes over ``x`` and summarise them.

    :param model: A PyTorch model with dropout, returning logits.
    :param x: Float32 NCHW images.
    :param n_passes: Number of stochastic passes N (≥ 2: one pass has no spread).
    :param batch_size: Images per batch (the suffix sees ``n_passes × batch_size`` rows).
    :param seed: Seeds the N dropout masks, shared by every image (:class:`MaskBank`); an
        image's result does not depend on the batch it is in. The caller's RNG is untouched.
    :param clip_values: Allowed pixel range, checked; None skips the check.
    """
    require_dropout(model)
    x = check_images(x, "x", clip_values=clip_values)
    check_int(n_passes, "n_passes", minimum=2)
    check_int(batch_size, "batch_size", minimum=1)
    check_seed(seed, "seed")
    device = _model_device(model)
    masks = MaskBank(n_passes, seed, device)
    mean_logits, uncertainty = [], []
    with torch.inference_mode(), only_dropout_active(model):
        for start in range(0, len(x), batch_size):
            batch = torch.from_numpy(x[start : start + batch_size]).to(device)
            logits = mc_dropout_torch(model, batch, n_passes, masks)
            mean_logits.append(logits.mean(dim=0).cpu().numpy())
            uncertainty.append(uncertainty_torch(logits).cpu().numpy())
    return MCDropoutResult(np.concatenate(mean_logits), np.concatenate(uncertainty).astype(np.float64), n_passes)
