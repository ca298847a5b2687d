"""``brightness``: additive brightness shift, one of Kurakin, Goodfellow & Bengio (2017)'s
"additional transformations" (Experiment 2, Fig. 6).

``out = clip(x + delta, clip_values)``. Kurakin et al. give no strengths; ``delta`` is in
pixel units of ``clip_values`` (0.05 ≈ 13/255 on [0, 1] images). Differentiable (gradient 1
where the result is not clipped, 0 where it is).

Defaults ``apply_fit=False, apply_predict=True`` (a test-time transformation). In
``preprocessing_defences=[...]`` ART applies preprocessors in list order; all artx
transformations are ``PreprocessorPyTorch``, so the chain stays differentiable.
"""

from __future__ import annotations

import torch

from artx.validation import check_float
from artx_plugins._transforms import ImageTransform, check_clip_values


class Brightness(ImageTransform):
    """Brightness shift ``clip(x + delta)`` (Kurakin et al. 2017's brightness transformation).

    :param delta: Additive shift in pixel units (default 0.05; negative darkens, 0 is the identity).
    :param clip_values: Pixel range of input and output (default (0, 1)).
    :param apply_fit: Apply to training data (default False).
    :param apply_predict: Apply at prediction time (default True).
    :param device_type: ``"cpu"`` or ``"gpu"`` (device of the numpy ``__call__``).
    """

    params = ["delta", "clip_values"]

    def __init__(
        self,
        delta: float = 0.05,
        clip_values: tuple[float, float] = (0.0, 1.0),
        apply_fit: bool = False,
        apply_predict: bool = True,
        device_type: str = "cpu",
    ):
        super().__init__(apply_fit=apply_fit, apply_predict=apply_predict, device_type=device_type)
        self.delta = delta
        self.clip_values = clip_values
        self._check_params()

    def _check_params(self) -> None:
        low, high = check_clip_values(self.clip_values)
        check_float(self.delta, "delta", minimum=low - high, maximum=high - low)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.clip_values
        return torch.clamp(x + float(self.delta), float(low), float(high))
