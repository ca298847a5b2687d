"""``gaussian-smoothing``: a Gaussian low-pass filter on the input (Alzantot, Chakraborty &
Srivastava, "Mitigating Adversarial Examples in Neural Networks"; also Kurakin et al. 2017's
"Gaussian blur" transformation).

Each channel of each image is convolved with a 2-D Gaussian of standard deviation ``sigma``
pixels, via ``torchvision.transforms.functional.gaussian_blur``: kernel taps
``exp(-t²/2σ²)`` at integer offsets ``t = -(k-1)/2 … (k-1)/2``, normalised to sum 1; the 2-D
kernel is their outer product, applied by one grouped ``conv2d`` (per channel) after torchvision's
**reflect** padding
(``d c b | a b c d | c b a``: the edge pixel itself is not repeated). The paper gives neither a
kernel size nor a padding; ``kernel_size=None`` uses ⌈6σ⌉ rounded up to the next odd number
(at least 3), which keeps the taps out to ±3σ. ``sigma=0`` is the identity.

A convex combination of pixels cannot leave the pixel range, but float32 rounding can (an
all-ones image at σ = 2 comes out at 1 + 3.6e-7), so the output is clamped to ``clip_values``
with the gradient passed straight through: the filter is linear and gradients through it are
exact (plain torch autograd), so an adaptive attacker differentiates straight through the defence.

Defaults ``apply_fit=False, apply_predict=True``: a test-time input transformation, as in the
paper (adversarial images crafted on the bare model are smoothed before classification).

Composition: in ``PyTorchClassifier(..., preprocessing_defences=[a, b, ...])`` ART applies the
preprocessors in list order; all artx transformations are ``PreprocessorPyTorch``, so the whole
chain runs in torch and stays differentiable.
"""

from __future__ import annotations

import math

import torch
import torchvision.transforms.functional as TF

from artx.validation import check_float, check_int
from artx_plugins._transforms import ImageTransform


def default_kernel_size(sigma: float) -> int:
    """⌈6σ⌉ rounded up to odd, at least 3 (1 for σ = 0, where nothing is filtered)."""
    if sigma == 0:
        return 1
    # The 1e-9 keeps float noise (6 · 0.5000000001) from adding a whole tap pair.
    size = max(3, math.ceil(6.0 * sigma - 1e-9))
    return size if size % 2 == 1 else size + 1


class GaussianSmoothing(ImageTransform):
    """Gaussian low-pass filter of std ``sigma`` px, reflect padding (Alzantot et al.'s smoothing defence).

    :param sigma: Standard deviation in pixels (default 1.0); 0 is the identity.
    :param kernel_size: Odd kernel side, or None (default) for ⌈6σ⌉ rounded up to odd, at least 3.
    :param clip_values: Pixel range of the input (default (0, 1)); the output stays in it.
    :param apply_fit: Apply to training data (default False).
    :param apply_predict: Apply at prediction time (default True).
    :param device_type: ``"cpu"`` or ``"gpu"`` (the device of the numpy ``__call__``; ``forward``
        works on the tensor's own device).
    """

    params = ["sigma", "kernel_size", "clip_values"]

    def __init__(
        self,
        sigma: float = 1.0,
        kernel_size: int | None = None,
        clip_values: tuple[float, float] = (0.0, 1.0),
        apply_fit: bool = False,
        apply_predict: bool = True,
        device_type: str = "cpu",
    ):
        super().__init__(apply_fit=apply_fit, apply_predict=apply_predict, device_type=device_type)
        self.sigma = sigma
        self.kernel_size = kernel_size
        self.clip_values = clip_values
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        check_float(self.sigma, "sigma", minimum=0.0)
        if self.kernel_size is not None:
            size = check_int(self.kernel_size, "kernel_size", minimum=1)
            if size % 2 == 0:
                raise ValueError(f"kernel_size must be an odd int >= 1 or None; got {size}")

    @property
    def effective_kernel_size(self) -> int:
        """The kernel side used: ``kernel_size``, or the ⌈6σ⌉-odd rule when it is None."""
        return default_kernel_size(float(self.sigma)) if self.kernel_size is None else int(self.kernel_size)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        if self.sigma == 0:
            return x
        size = self.effective_kernel_size
        if size // 2 >= min(x.shape[2], x.shape[3]):
            # torch's reflect padding needs pad < side; say so instead of failing inside torch.
            raise ValueError(
                f"kernel_size {size} needs images larger than {size // 2} px per side (reflect padding); "
                f"got shape {tuple(x.shape)}: lower sigma or pass a smaller odd kernel_size"
            )
        blurred = TF.gaussian_blur(x, kernel_size=[size, size], sigma=[float(self.sigma)] * 2)
        low, high = self.clip_values
        # undo float rounding's overshoot of the pixel range; the gradient stays the filter's own
        return blurred + (blurred.clamp(low, high) - blurred).detach()
