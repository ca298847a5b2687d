"""Shared base of the input-transformation preprocessors (``gaussian-smoothing``, ``brightness``,
``contrast``, ``gaussian-noise``, ``jpeg``, ``print-photo``).

Each is an ART ``PreprocessorPyTorch`` whose ``forward`` works on a float32 NCHW tensor on any
device, so a list of them in a classifier's ``preprocessing_defences=[...]`` is applied in list
order inside torch and the chain stays differentiable (``jpeg`` through its ``gradient`` option).
This module holds what they share: the tensor and array checks, the ``clip_values`` check and
the numpy ``__call__``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from art.defences.preprocessor.preprocessor import PreprocessorPyTorch

from artx.validation import check_float, check_images

#: Float rounding an attack's own clipping may leave outside the pixel range.
RANGE_TOLERANCE = 1e-6


def check_clip_values(clip_values: object) -> tuple[float, float]:
    """``clip_values`` must be a (min, max) pair of finite reals with min < max."""
    if not isinstance(clip_values, (tuple, list)) or len(clip_values) != 2:
        raise TypeError(f"clip_values must be a (min, max) pair; got {clip_values!r}")
    low = check_float(clip_values[0], "clip_values[0]")
    high = check_float(clip_values[1], "clip_values[1]")
    if low >= high:
        raise ValueError(f"clip_values must satisfy min < max; got {clip_values!r}")
    return low, high


def check_flag(value: object, name: str) -> None:
    # ART's base class would coerce apply_fit/apply_predict with bool() ("no" → True): check first.
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {value!r}")


def check_tensor(x: object, clip_values: tuple[float, float], name: str = "x") -> None:
    """A float32 NCHW tensor, finite, non-empty, inside ``clip_values`` (to :data:`RANGE_TOLERANCE`)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (N, C, H, W); got {type(x).__name__}")
    if x.dtype != torch.float32:
        raise TypeError(f"{name} must have dtype float32; got {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W); got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one image; got shape {tuple(x.shape)}")
    values = x.detach()
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} must be finite; got NaN/inf values")
    low, high = clip_values
    x_min, x_max = float(values.min()), float(values.max())
    if x_min < low - RANGE_TOLERANCE or x_max > high + RANGE_TOLERANCE:
        raise ValueError(f"{name} pixels must lie in [{low}, {high}]; got values in [{x_min:.4g}, {x_max:.4g}]")


class ImageTransform(PreprocessorPyTorch):
    """Base of the artx image transformations: checks, ``clip_values``, numpy ``__call__``.

    Subclasses define ``params`` (with ``"clip_values"``), store their parameters, call
    ``self._check_params()`` at the end of ``__init__`` and implement :meth:`transform`.
    """

    params: list[str] = ["clip_values"]

    def __init__(self, apply_fit: bool, apply_predict: bool, device_type: str) -> None:
        check_flag(apply_fit, "apply_fit")
        check_flag(apply_predict, "apply_predict")
        super().__init__(device_type=device_type, is_fitted=True, apply_fit=apply_fit, apply_predict=apply_predict)

    def _check_params(self) -> None:
        check_clip_values(self.clip_values)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The transformation of a checked float32 NCHW tensor (torch, on ``x``'s device)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, y: Any = None) -> tuple[torch.Tensor, Any]:
        """Apply the transformation to a float32 NCHW batch in ``clip_values``."""
        check_tensor(x, check_clip_values(self.clip_values))
        return self.transform(x), y

    def __call__(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Apply the transformation to float32 NCHW numpy images (any strides)."""
        x = check_images(x, "x", clip_values=check_clip_values(self.clip_values))
        return super().__call__(x, y)
