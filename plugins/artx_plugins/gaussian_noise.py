"""``gaussian-noise``: additive Gaussian noise, one of Kurakin, Goodfellow & Bengio (2017)'s
"additional transformations" (Experiment 2, Fig. 6).

``out = clip(x + sigma · n, clip_values)`` with ``n`` standard normal noise of the image's shape.

Seeding: the noise of an image depends only on ``seed`` and the image's own content, never on
the batch it is in or its position there. Each image gets its own ``torch.Generator`` (on the
CPU, so CPU and CUDA tensors get the same noise), seeded with the first 8 bytes of
SHA-256(``seed``, image shape, the image's float32 bytes; ``-0.0`` is read as ``0.0``). So the
same image gives the same noise in any batch, two equal images in one batch get equal noise,
and changing any pixel draws fresh, independent-looking noise: during an iterative attack every
iterate sees a new draw. No global RNG state is read or advanced. The per-image hash and
generator cost a Python loop over the batch (well under a millisecond per 28×28 image).

Gradients: the noise is treated as a constant (it is drawn from the input's bytes, which have
no gradient), so the Jacobian is the identity where the result is not clipped, 0 where it is:
the exact gradient for the drawn noise.

Defaults ``apply_fit=False, apply_predict=True``. In ``preprocessing_defences=[...]`` ART applies
preprocessors in list order; all artx transformations are ``PreprocessorPyTorch``, so the chain
stays differentiable.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from artx.validation import check_float, check_seed
from artx_plugins._transforms import ImageTransform


def image_seeds(x: torch.Tensor, seed: int) -> list[int]:
    """One 63-bit generator seed per image: SHA-256 of (seed, shape, float32 bytes)."""
    images = np.ascontiguousarray(x.detach().to(device="cpu", dtype=torch.float32).numpy())
    images = images + np.float32(0.0)  # -0.0 + 0.0 = 0.0: both zeros give the same bytes
    shape = np.asarray(images.shape[1:], dtype="<i8").tobytes()
    prefix = b"artx-gaussian-noise\0" + int(seed).to_bytes(8, "little") + shape
    return [int.from_bytes(hashlib.sha256(prefix + image.tobytes()).digest()[:8], "little") >> 1 for image in images]


class GaussianNoise(ImageTransform):
    """Additive Gaussian noise ``clip(x + sigma·n)``, seeded per image from (seed, content) (Kurakin et al. 2017).

    :param sigma: Noise standard deviation in pixel units (default 0.05; 0 is the identity).
    :param seed: Seed of the noise (default 0); with the image content it fixes each image's noise.
    :param clip_values: Pixel range of input and output (default (0, 1)).
    :param apply_fit: Apply to training data (default False).
    :param apply_predict: Apply at prediction time (default True).
    :param device_type: ``"cpu"`` or ``"gpu"`` (device of the numpy ``__call__``).
    """

    params = ["sigma", "seed", "clip_values"]

    def __init__(
        self,
        sigma: float = 0.05,
        seed: int = 0,
        clip_values: tuple[float, float] = (0.0, 1.0),
        apply_fit: bool = False,
        apply_predict: bool = True,
        device_type: str = "cpu",
    ):
        super().__init__(apply_fit=apply_fit, apply_predict=apply_predict, device_type=device_type)
        self.sigma = sigma
        self.seed = seed
        self.clip_values = clip_values
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        check_float(self.sigma, "sigma", minimum=0.0)
        check_seed(self.seed, "seed")

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        """The standard normal noise ``n`` of each image of ``x`` (float32, on ``x``'s device)."""
        draws = []
        for image_seed in image_seeds(x, self.seed):
            generator = torch.Generator(device="cpu").manual_seed(image_seed)
            draws.append(torch.randn(tuple(x.shape[1:]), generator=generator, dtype=torch.float32))
        return torch.stack(draws).to(x.device)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        if self.sigma == 0:
            return x
        low, high = self.clip_values
        return torch.clamp(x + float(self.sigma) * self.noise(x), float(low), float(high))
