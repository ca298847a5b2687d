"""Input checks shared by the core and the plugins.

Every check raises ``TypeError`` (wrong type or dtype) or ``ValueError`` (wrong shape or value)
with a message that names the argument, the expected form and what was given. Nothing is
coerced silently: a float64 array is refused, not cast.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

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
    :return: ``x`` itself when it is C-contiguous, else a C-contiguous copy (a negative-stride
        view such as ``x[..., ::-1]`` is valid input, but torch cannot wrap it without a copy).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of float32 images (N, C, H, W); got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"{name} must have dtype float32 (N, C, H, W); got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W); got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one image; got shape {x.shape}")
    if x.shape[1] > 4 and x.shape[-1] in (1, 3, 4) and (channels is None or channels == x.shape[-1]):
        raise ValueError(
            f"{name} must be NCHW images (N, C, H, W); got shape {x.shape}, which looks like NHWC: use "
            "x.transpose(0, 3, 1, 2)"
        )
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
            # enough digits that a rounding overshoot (1.0000001) does not print as the bound itself
            raise ValueError(f"{name} pixels must lie in [{low}, {high}]; got values in [{x_min:.9g}, {x_max:.9g}]")
    return np.ascontiguousarray(x)


def check_images_for(estimator: object, x: object, name: str = "x") -> np.ndarray:
    """:func:`check_images` against an ART estimator: its ``input_shape`` (C, H, W) and its
    ``clip_values`` (when it has them). Returns C-contiguous images.

    :param estimator: An ART estimator with ``input_shape`` (and optionally ``clip_values``).
    :param x: The images.
    :param name: Argument name used in error messages.
    """
    shape = tuple(getattr(estimator, "input_shape", ()) or ())
    channels, height_width = (shape[0], tuple(shape[1:])) if len(shape) == 3 else (None, None)
    return check_images(
        x, name, channels=channels, height_width=height_width, clip_values=getattr(estimator, "clip_values", None)
    )


def check_labels(
    y: object, name: str = "y", *, n_samples: int | None = None, nb_classes: int | None = None
) -> np.ndarray:
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


def class_indices(y: object, name: str = "y", *, nb_classes: int, n_samples: int | None = None) -> np.ndarray:
    """Class labels in any of the forms ART accepts, as int64 indices ``(N,)``.

    Accepted: integer indices ``(N,)`` or ``(N, 1)``, and one-hot rows ``(N, nb_classes)``
    (integer, bool or float, exactly one 1 per row). Refused, with a message that names the
    argument: soft or all-zero rows, a one-hot width other than ``nb_classes``, indices
    outside ``[0, nb_classes)``, float indices, NaN, and anything else. The one parser of
    every artx plugin (ART's own ``check_and_transform_label_format`` reads an ``(N, 1)`` array
    as one-hot when ``nb_classes`` is 2 and does not check one-hot rows).

    :param y: The labels.
    :param name: Argument name used in error messages.
    :param nb_classes: Number of classes.
    :param n_samples: Required number of labels (the number of images), or None.
    """
    if not isinstance(y, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy array of class indices (N,) or one-hot rows (N, {nb_classes}); got "
            f"{type(y).__name__}"
        )
    if y.ndim == 2 and y.shape[1] == nb_classes and nb_classes > 1:
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
            raise TypeError(f"{name} one-hot rows must be numeric; got dtype {y.dtype}")
        values = y.astype(np.float64)
        if (
            not np.isfinite(values).all()
            or not np.isin(values, (0.0, 1.0)).all()
            or not (values.sum(axis=1) == 1).all()
        ):
            bad = int(np.flatnonzero(~(np.isin(values, (0.0, 1.0)).all(axis=1) & (values.sum(axis=1) == 1)))[0])
            raise ValueError(
                f"{name} one-hot rows must hold exactly one 1 and zeros elsewhere; row {bad} is {values[bad].tolist()}"
            )
        labels = values.argmax(axis=1).astype(np.int64)
    elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
        if not np.issubdtype(y.dtype, np.integer):
            raise TypeError(
                f"{name} must hold integer class indices (or one-hot rows of width {nb_classes}); got dtype {y.dtype} "
                f"with shape {y.shape}"
            )
        labels = y.reshape(-1).astype(np.int64)
    else:
        raise ValueError(
            f"{name} must have shape (N,) or (N, 1) (class indices) or (N, {nb_classes}) (one-hot); got shape {y.shape}"
        )
    if n_samples is not None and len(labels) != n_samples:
        raise ValueError(f"{name} must have one label per image ({n_samples}); got {len(labels)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= nb_classes):
        raise ValueError(
            f"{name} labels must lie in [0, {nb_classes - 1}]; got values in [{labels.min()}, {labels.max()}]"
        )
    return labels


#: Largest accepted seed: every library artx seeds (numpy's legacy generator, which cma uses,
#: torch, Python's random) takes it, also after artx adds small offsets to it.
MAX_SEED = 2**31 - 1


def check_seed(value: object, name: str = "seed") -> int:
    """Check a seed: an int (not bool) in ``[0, MAX_SEED]`` (2**31 - 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int seed in [0, {MAX_SEED}]; got {_describe(value)}")
    if not 0 <= value <= MAX_SEED:
        raise ValueError(
            f"{name} must be an int seed in [0, {MAX_SEED}] (2**31 - 1, what every seeded library here accepts); got "
            f"{value}"
        )
    return int(value)


def check_bool(value: object, name: str) -> bool:
    """Check that ``value`` is a bool (not an int or a string that would coerce)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool; got {_describe(value)}")
    return bool(value)


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
    """Check that ``value`` is one of the strings in ``choices`` (a non-string is a TypeError)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {', '.join(map(repr, choices))}; got {_describe(value)}")
    if value not in choices:
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
