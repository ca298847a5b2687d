"""``jpeg``: JPEG encoding and decoding, one of Kurakin, Goodfellow & Bengio (2017)'s
"additional transformations" (Experiment 2, Fig. 6).

Backend: Pillow, one image at a time (the format ART's ``JpegCompression`` also uses, but
called here so that the transformation is a ``PreprocessorPyTorch`` that chains in torch and
so that pixels are rounded, not truncated, to 8 bits): pixels are mapped to
``round(255 · (x − min) / (max − min))``, encoded with ``Image.save(format="JPEG",
quality=quality)`` (Pillow's other defaults: 4:2:0 chroma subsampling for RGB, standard
tables), decoded, and mapped back. 3-channel images are encoded as one RGB image, any other
channel count channel by channel as greyscale (``"L"``), as ART does. Even ``quality=100`` is
not the identity (8-bit rounding, DCT quantisation).

JPEG is not differentiable, so ``gradient`` says what the backward pass does:
``"bpda"`` (default) passes gradients straight through, as if the transformation were the
identity (BPDA, Athalye et al. 2018): the forward value is JPEG's, the Jacobian the identity's;
``"none"`` refuses: any backward pass through the output raises a ``RuntimeError`` that says
so (use it to make sure no attack silently differentiates through JPEG). Predictions (no
gradient) work with both. This mirrors ``minimal-dataset``'s ``gradient`` option.

Defaults ``quality=75`` (Pillow's own default), ``apply_fit=False, apply_predict=True``. In
``preprocessing_defences=[...]`` ART applies preprocessors in list order; all artx
transformations are ``PreprocessorPyTorch``, so the chain stays differentiable (through JPEG
by BPDA).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from artx.validation import check_choice, check_int
from artx_plugins._transforms import ImageTransform

GRADIENTS = ("bpda", "none")


def _encode_decode(image: np.ndarray, quality: int, mode: str) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image, mode=mode).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert(mode), dtype=np.uint8)


def jpeg_uint8(images: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip of uint8 NCHW images (RGB when C == 3, else each channel as greyscale)."""
    out = np.empty_like(images)
    for index, image in enumerate(images):
        if image.shape[0] == 3:
            rgb = np.ascontiguousarray(image.transpose(1, 2, 0))
            out[index] = _encode_decode(rgb, quality, "RGB").transpose(2, 0, 1)
        else:
            for channel in range(image.shape[0]):
                out[index, channel] = _encode_decode(np.ascontiguousarray(image[channel]), quality, "L")
    return out


class _RefuseGradient(torch.autograd.Function):
    """Identity on the forward pass (returns the JPEG value); refuses the backward pass."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:  # noqa: ARG004 - x links the graph
        return value.clone()

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        raise RuntimeError(
            "jpeg with gradient='none' is not differentiable and refuses gradient use; "
            "use gradient='bpda' (identity backward pass) for a gradient-based attack through JPEG"
        )


class Jpeg(ImageTransform):
    """JPEG round trip at ``quality`` via Pillow, BPDA or refused gradients (Kurakin et al. 2017's JPEG encoding).

    :param quality: JPEG quality, 1 (worst) … 100 (default 75).
    :param gradient: ``"bpda"`` (default; identity backward pass) or ``"none"`` (backward raises).
    :param clip_values: Pixel range of input and output (default (0, 1)); mapped to 0…255.
    :param apply_fit: Apply to training data (default False).
    :param apply_predict: Apply at prediction time (default True).
    :param device_type: ``"cpu"`` or ``"gpu"`` (device of the numpy ``__call__``).
    """

    params = ["quality", "gradient", "clip_values"]

    def __init__(
        self,
        quality: int = 75,
        gradient: str = "bpda",
        clip_values: tuple[float, float] = (0.0, 1.0),
        apply_fit: bool = False,
        apply_predict: bool = True,
        device_type: str = "cpu",
    ):
        super().__init__(apply_fit=apply_fit, apply_predict=apply_predict, device_type=device_type)
        self.quality = quality
        self.gradient = gradient
        self.clip_values = clip_values
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        check_int(self.quality, "quality", minimum=1, maximum=100)
        check_choice(self.gradient, "gradient", GRADIENTS)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        low, high = float(self.clip_values[0]), float(self.clip_values[1])
        scaled = (x.detach().to("cpu", torch.float64).numpy() - low) * (255.0 / (high - low))
        as_uint8 = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        decoded = jpeg_uint8(as_uint8, int(self.quality))
        value = torch.from_numpy(decoded).to(device=x.device, dtype=torch.float32) / 255.0 * (high - low) + low
        if not (x.requires_grad and torch.is_grad_enabled()):
            return value
        if self.gradient == "bpda":
            return x + (value - x).detach()  # JPEG's value, the identity's gradient
        return _RefuseGradient.apply(x, value)
