"""``print-photo``: a SIMULATION of Kurakin, Goodfellow & Bengio (2017)'s print-and-photograph
transformation (Experiment 1), which needs a printer and a phone camera and cannot run offline.

It is not the paper's transformation: it is a fixed chain of the artx transformations that each
model one effect of printing a digit and photographing it, applied in this order (the order the
effects happen in):

1. ``gaussian-smoothing`` σ = ``blur_sigma`` (0.6 px): print dot spread, lens defocus and the
   resampling of the auto-crop (taps ≈ 0.17 / 0.67 / 0.17 per axis: mild);
2. ``contrast`` × ``contrast_factor`` (0.9): ink is not fully black and paper not fully white,
   and the camera's tone curve compresses the range;
3. ``brightness`` + ``brightness_delta`` (+0.05 ≈ 13/255): ambient light lifts the blacks (MNIST's
   black background comes out dark grey);
4. ``gaussian-noise`` σ = ``noise_sigma`` (0.02 ≈ 5/255), seeded with ``seed``: sensor noise left
   after the phone's denoising;
5. ``jpeg`` at ``jpeg_quality`` (75, Pillow's default; None skips it): the phone stores a JPEG.

The strengths were fixed a priori from these physical arguments, before measuring any
destruction rate, and are not fitted to Kurakin et al.'s numbers (which come from real photos
of ImageNet images). Each stage clips to ``clip_values``. Every stage is the registered plugin
of that name (built from the parameters on each call), so the chain equals applying them one by
one. Gradients are exact through stages 1–4 (noise as a constant) and follow ``gradient``
through JPEG (``"bpda"``: identity; ``"none"``: backward raises).

Defaults ``apply_fit=False, apply_predict=True``. In ``preprocessing_defences=[...]`` ART applies
preprocessors in list order; all artx transformations are ``PreprocessorPyTorch``, so the chain
stays differentiable.
"""

from __future__ import annotations

import torch

from artx.validation import check_choice, check_float, check_int, check_seed
from artx_plugins._transforms import ImageTransform, check_clip_values
from artx_plugins.brightness import Brightness
from artx_plugins.contrast import Contrast
from artx_plugins.gaussian_noise import GaussianNoise
from artx_plugins.gaussian_smoothing import GaussianSmoothing
from artx_plugins.jpeg import GRADIENTS, Jpeg


class PrintPhoto(ImageTransform):
    """Simulated print-and-photo: blur → contrast → brightness → noise → JPEG (stand-in for Kurakin et al.'s photos).

    :param blur_sigma: Gaussian blur std in pixels (default 0.6; 0 skips the blur).
    :param contrast_factor: Contrast factor about the per-image mean (default 0.9).
    :param brightness_delta: Additive brightness shift (default 0.05).
    :param noise_sigma: Gaussian noise std (default 0.02; 0 skips the noise).
    :param jpeg_quality: JPEG quality 1…100 (default 75) or None to skip JPEG.
    :param seed: Seed of the noise stage (default 0).
    :param gradient: JPEG's backward pass: ``"bpda"`` (default) or ``"none"``.
    :param clip_values: Pixel range of input and output (default (0, 1)).
    :param apply_fit: Apply to training data (default False).
    :param apply_predict: Apply at prediction time (default True).
    :param device_type: ``"cpu"`` or ``"gpu"`` (device of the numpy ``__call__``).
    """

    params = [
        "blur_sigma",
        "contrast_factor",
        "brightness_delta",
        "noise_sigma",
        "jpeg_quality",
        "seed",
        "gradient",
        "clip_values",
    ]

    def __init__(
        self,
        blur_sigma: float = 0.6,
        contrast_factor: float = 0.9,
        brightness_delta: float = 0.05,
        noise_sigma: float = 0.02,
        jpeg_quality: int | None = 75,
        seed: int = 0,
        gradient: str = "bpda",
        clip_values: tuple[float, float] = (0.0, 1.0),
        apply_fit: bool = False,
        apply_predict: bool = True,
        device_type: str = "cpu",
    ):
        super().__init__(apply_fit=apply_fit, apply_predict=apply_predict, device_type=device_type)
        self.blur_sigma = blur_sigma
        self.contrast_factor = contrast_factor
        self.brightness_delta = brightness_delta
        self.noise_sigma = noise_sigma
        self.jpeg_quality = jpeg_quality
        self.seed = seed
        self.gradient = gradient
        self.clip_values = clip_values
        self._check_params()

    def _check_params(self) -> None:
        low, high = check_clip_values(self.clip_values)
        check_float(self.blur_sigma, "blur_sigma", minimum=0.0)
        check_float(self.contrast_factor, "contrast_factor", minimum=0.0)
        check_float(self.brightness_delta, "brightness_delta", minimum=low - high, maximum=high - low)
        check_float(self.noise_sigma, "noise_sigma", minimum=0.0)
        if self.jpeg_quality is not None:
            check_int(self.jpeg_quality, "jpeg_quality", minimum=1, maximum=100)
        check_seed(self.seed, "seed")
        check_choice(self.gradient, "gradient", GRADIENTS)

    def stages(self) -> list[ImageTransform]:
        """The chain's preprocessors, in the order they are applied (built from the current parameters)."""
        clip = tuple(self.clip_values)
        chain: list[ImageTransform] = [
            GaussianSmoothing(sigma=self.blur_sigma, clip_values=clip),
            Contrast(factor=self.contrast_factor, clip_values=clip),
            Brightness(delta=self.brightness_delta, clip_values=clip),
            GaussianNoise(sigma=self.noise_sigma, seed=self.seed, clip_values=clip),
        ]
        if self.jpeg_quality is not None:
            chain.append(Jpeg(quality=self.jpeg_quality, gradient=self.gradient, clip_values=clip))
        return chain

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages():
            x = stage.transform(x)
        return x
