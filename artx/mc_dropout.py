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

The uncertainty is the one of Alshemali et al. (2019, §4.2): the standard deviation over the
passes of each class's softmax output (population std, ``ddof=0``), averaged over the classes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Iterator

import numpy as np
import torch
from torch import nn

from artx.validation import check_images, check_int

logger = logging.getLogger(__name__)

__all__ = [
    "dropout_modules",
    "only_dropout_active",
    "split_at_first_dropout",
    "mc_dropout_torch",
    "uncertainty_torch",
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


def mc_dropout_torch(model: nn.Module, x: torch.Tensor, n_passes: int) -> torch.Tensor:
    """Logits of ``n_passes`` dropout samples, shape ``(n_passes, batch, classes)``.

    Differentiable (an adaptive attacker can back-propagate through it). Call it inside
    :func:`only_dropout_active`; the dropout masks come from torch's global RNG.
    """
    halves = split_at_first_dropout(model)
    if halves is None:
        return torch.stack([model(x) for _ in range(n_passes)])
    prefix, suffix = halves
    features = prefix(x)
    # One batch of n_passes × batch rows: each copy of a row gets its own dropout mask.
    hidden = features.unsqueeze(0).expand(n_passes, *features.shape).reshape(n_passes * features.shape[0], *features.shape[1:])
    for layer in suffix:
        hidden = _inverted_dropout(hidden, layer.p) if type(layer) is nn.Dropout else layer(hidden)
    return hidden.reshape(n_passes, features.shape[0], -1)


def _inverted_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """``nn.Dropout`` in training mode (zero with probability p, scale the rest by 1/(1−p)).

    Written out because torch's CPU dropout draws its mask with ``bernoulli_``, measured 4–5×
    slower than ``rand`` + compare here, and the masks are most of the cost of 50 passes.
    Same distribution; different random stream than ``nn.Dropout``.
    """
    if p <= 0.0:
        return x
    keep = torch.rand(x.shape, device=x.device, dtype=x.dtype) >= p
    return x * (keep.to(x.dtype) * (1.0 / (1.0 - p)))


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
    :param seed: Seeds the dropout masks (the caller's RNG state is left untouched).
    :param clip_values: Allowed pixel range, checked; None skips the check.
    """
    require_dropout(model)
    check_images(x, "x", clip_values=clip_values)
    check_int(n_passes, "n_passes", minimum=2)
    check_int(batch_size, "batch_size", minimum=1)
    check_int(seed, "seed", minimum=0)
    device = _model_device(model)
    mean_logits, uncertainty = [], []
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices), torch.inference_mode(), only_dropout_active(model):
        torch.manual_seed(seed)
        for start in range(0, len(x), batch_size):
            batch = torch.from_numpy(x[start : start + batch_size]).to(device)
            logits = mc_dropout_torch(model, batch, n_passes)
            mean_logits.append(logits.mean(dim=0).cpu().numpy())
            uncertainty.append(uncertainty_torch(logits).cpu().numpy())
    return MCDropoutResult(np.concatenate(mean_logits), np.concatenate(uncertainty).astype(np.float64), n_passes)
