"""``contrast``: contrast change about each image's mean, one of Kurakin, Goodfellow & Bengio
(2017)'s "additional transformations" (Experiment 2, Fig. 6).

``out = clip(m + factor · (x − m), clip_values)`` with ``m`` the mean of the image over all its
channels and pixels (computed per image, on the input). ``factor`` 1 is the identity, < 1
lowers the contrast, > 1 raises it, 0 gives a flat image of its mean. Unlike
``minimal-dataset``'s PIL-style contrast, ``m`` is not rounded to a grey level. Differentiable,
including through ``m``.

Defaults ``apply_fit=False, apply_predict=True``. In ``preprocessing_defences=[...]`` ART applies
preprocessors in list order; all artx transformations are ``PreprocessorPyTorch``, so the chain
stays differentiable.
"""

from __future__ import annotations

import torch

from artx.validation import check_float
from artx_plugins._transforms import ImageTransform


class Contrast(ImageTransform):
    """Contrast ``clip(m + factor·(x − m))`` about the per-image mean (Kurakin et al. 2017's contrast transformation).

    :param factor: Contrast factor (default 0.9; 1 is the identity, 0 a flat image).
    :param clip_values: Pixel range of input and output (default (0, 1)).
    :param apply_fit: Apply to training data (default False).
    :param apply_predict: Apply at prediction time (default True).
    :param device_type: ``"cpu"`` or ``"gpu"`` (device of the numpy ``__call__``).
    """

    params = ["factor", "clip_values"]

    def __init__(
        self,
        factor: float = 0.9,
        clip_values: tuple[float, float] = (0.0, 1.0),
        apply_fit: bool = False,
        apply_predict: bool = True,
        device_type: str = "cpu",
    ):
        super().__init__(apply_fit=apply_fit, apply_predict=apply_predict, device_type=device_type)
        self.factor = factor
        self.clip_values = clip_values
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        check_float(self.factor, "factor", minimum=0.0)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.clip_values
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return torch.clamp(mean + float(self.factor) * (x - mean), float(low), float(high))
