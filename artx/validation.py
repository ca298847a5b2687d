"""Input checks shared by the core and the plugins.

Every check raises ``TypeError`` (wrong type or dtype) or ``ValueError`` (wrong shape or value)
with a message that names the argument, the expected form and what was given. Nothing is
coerced silently: a float64 array is refused, not cast.
"""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_images(
    x: object,
    name: str = "x",
    *,
    channels: int | None = None,
    height_width: tuple[int, int] | None = None,
    clip_values: tuple[float, float] | None = (0.0, 1.0),
) -> np.ndarray:
    """Check a batch of images: float32 NCHW numpy array, finite, inside ``clip_values``.

    :param x: The images.
    :param name: Argument name used in error messages.
    :param channels: Required channel count, or None for any.
    :param height_width: Required (H, W), or None for any.
    :param clip_values: Inclusive (min, max) pixel range, or None to skip the range check.
    :return: ``x`` unchanged.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of float32 images (N, C, H, W); got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"{name} must have dtype float32 (N, C, H, W); got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W); got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one image; got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s) (N, {channels}, H, W); got shape {x.shape}")
    if height_width is not None and tuple(x.shape[2:]) != tuple(height_width):
        raise ValueError(f"{name} must have spatial size {tuple(height_width)}; got shape {x.shape}")
    if not np.isfinite(x).all():
        bad = int(np.size(x) - np.isfinite(x).sum())
        raise ValueError(f"{name} must be finite; got {bad} NaN/inf value(s)")
    if clip_values is not None:
        low, high = clip_values
        x_min, x_max = float(x.min()), float(x.max())
        if x_min < low or x_max > high:
            raise ValueError(f"{name} pixels must lie in [{low}, {high}]; got values in [{x_min:.4g}, {x_max:.4g}]")
    return x


def check_labels(y: object, name: str = "y", *, n_samples: int | None = None, nb_classes: int | None = None) -> np.ndarray:
    """Check integer class labels: 1-D integer numpy array with values in ``[0, nb_classes)``.

    :param y: The labels.
    :param name: Argument name used in error messages.
    :param n_samples: Required length (the number of images), or None.
    :param nb_classes: Number of classes, or None to only require non-negative labels.
    :return: ``y`` unchanged.
    """
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a 1-D numpy array of integer class labels; got {type(y).__name__}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must have an integer dtype (class indices, not one-hot); got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,); got shape {y.shape}")
    if n_samples is not None and len(y) != n_samples:
        raise ValueError(f"{name} must have one label per image ({n_samples}); got {len(y)}")
    if len(y):
        low, high = int(y.min()), int(y.max())
        upper = nb_classes if nb_classes is not None else None
        if low < 0 or (upper is not None and high >= upper):
            expected = f"[0, {upper - 1}]" if upper is not None else ">= 0"
            raise ValueError(f"{name} labels must lie in {expected}; got values in [{low}, {high}]")
    return y


def check_int(value: object, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check that ``value`` is an int (not bool) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; got {_describe(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "-inf" if minimum is None else minimum
        high = "inf" if maximum is None else maximum
        raise ValueError(f"{name} must be an int in [{low}, {high}]; got {value}")
    return int(value)


def check_float(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """Check that ``value`` is a finite real number inside the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {_describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    low_ok = minimum is None or (value >= minimum if min_inclusive else value > minimum)
    high_ok = maximum is None or (value <= maximum if max_inclusive else value < maximum)
    if not (low_ok and high_ok):
        left = "[" if min_inclusive else "("
        right = "]" if max_inclusive else ")"
        low = "-inf" if minimum is None else minimum
        high = "inf" if maximum is None else maximum
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}; got {value}")
    return value


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of the strings in ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_describe(value)}")
    return value


def resolve_device(device: object) -> str:
    """Check a device name ("cpu" or "cuda[:N]") and that CUDA is there when asked for.

    ART's ``device_type="gpu"`` falls back to the CPU silently; artx refuses instead, so a user
    who asked for a GPU knows they did not get one.
    """
    import torch

    if not isinstance(device, str) or not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
        raise ValueError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'); got {_describe(device)}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but torch sees no CUDA device; use device='cpu'")
    return device
