"""Input-transformation preprocessors (``gaussian-smoothing``, ``brightness``, ``contrast``,
``gaussian-noise``, ``jpeg``, ``print-photo``), the ``illc`` attack, the minimal-ε ``fgsm-min`` /
``igs-min`` attacks and Kurakin et al.'s destruction rate (``artx.destruction``).

Everything runs on tiny linear models and small synthetic images, where the answers can be
computed independently (explicit convolution, Pillow, closed-form minimal ε, argmin of logits)."""

from __future__ import annotations

import inspect
import io
import math

import numpy as np
import pytest
import torch
from art.attacks.attack import EvasionAttack
from art.defences.preprocessor.preprocessor import PreprocessorPyTorch
from PIL import Image

from artx import registry
from artx.destruction import DestructionRate, destruction_rate
from artx.models import to_art_classifier

PREPROCESSORS = ("gaussian-smoothing", "brightness", "contrast", "gaussian-noise", "jpeg", "print-photo")
ATTACKS = ("illc", "fgsm-min", "igs-min")


def pre(name, **params):
    return registry.create("preprocessor", name, **params)


def grid_images(n=4, channels=1, side=12, seed=0, low=0.0, high=1.0):
    """Float32 images on the 1/255 grid (what an 8-bit image holds)."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(round(low * 255), round(high * 255) + 1, size=(n, channels, side, side))
    return (levels / np.float32(255)).astype(np.float32)


def linear_classifier(weight, bias, shape):
    """An ART classifier whose logits are ``weight @ x.flatten() + bias``."""
    weight = torch.as_tensor(np.asarray(weight, dtype=np.float32))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(weight.shape[1], weight.shape[0]))
    with torch.no_grad():
        model[1].weight.copy_(weight)
        model[1].bias.copy_(torch.as_tensor(np.asarray(bias, dtype=np.float32)))
    return to_art_classifier(model, input_shape=shape, nb_classes=weight.shape[0])


@pytest.fixture(scope="module")
def linear10():
    """A random 10-class linear model on 1×6×6 images."""
    rng = np.random.default_rng(1)
    return linear_classifier(rng.normal(size=(10, 36)), rng.normal(size=10) * 0.1, (1, 6, 6))


# ----------------------------------------------------------------------------- registration


@pytest.mark.parametrize("name", PREPROCESSORS)
def test_preprocessors_registered_with_whitelist_and_defaults(name):
    row = next(r for r in registry.list_plugins("preprocessor") if r.name == name)
    assert (row.distribution, row.status) == ("artx-plugins", "ok")
    instance = pre(name)
    assert isinstance(instance, PreprocessorPyTorch)
    assert (instance.apply_fit, instance.apply_predict) == (False, True)
    not_whitelisted = {"self", "apply_fit", "apply_predict", "device_type"}  # ART's read-only properties
    constructor = set(inspect.signature(type(instance).__init__).parameters) - not_whitelisted
    assert set(instance.params) == constructor
    assert "apply_fit" not in instance.params and "apply_predict" not in instance.params


@pytest.mark.parametrize("name", ATTACKS)
def test_attacks_registered_with_whitelist(name, linear10):
    attack = registry.create("evasion", name, linear10)
    assert isinstance(attack, EvasionAttack)
    constructor = set(inspect.signature(type(attack).__init__).parameters) - {"self", "estimator"}
    assert set(attack.attack_params) == constructor


# ----------------------------------------------------------------------------- gaussian smoothing


def explicit_blur(x: torch.Tensor, sigma: float, size: int) -> torch.Tensor:
    """Our own Gaussian filter: outer product of 1-D taps, reflect padding, grouped conv2d."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    taps = torch.exp(-(offsets**2) / (2 * sigma**2))
    taps = taps / taps.sum()
    kernel = torch.outer(taps, taps).to(torch.float32)
    channels = x.shape[1]
    padded = torch.nn.functional.pad(x, [size // 2] * 4, mode="reflect")
    return torch.nn.functional.conv2d(padded, kernel.expand(channels, 1, size, size), groups=channels)


@pytest.mark.parametrize("sigma, kernel_size", [(0.5, None), (1.0, None), (1.5, None), (0.8, 3), (2.0, 5)])
def test_smoothing_values_and_gradient_match_explicit_convolution(sigma, kernel_size):
    x = torch.from_numpy(grid_images(n=3, channels=2, side=16))
    smoother = pre("gaussian-smoothing", sigma=sigma, kernel_size=kernel_size)
    size = smoother.effective_kernel_size
    weights = torch.from_numpy(np.random.default_rng(2).normal(size=x.shape).astype(np.float32))
    ours_in, theirs_in = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours, _ = smoother.forward(ours_in)
    theirs = explicit_blur(theirs_in, sigma, size)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)
    (ours * weights).sum().backward()
    (theirs * weights).sum().backward()
    torch.testing.assert_close(ours_in.grad, theirs_in.grad, atol=1e-6, rtol=1e-5)
    assert float(ours.detach().min()) >= 0.0 and float(ours.detach().max()) <= 1.0


def test_smoothing_output_stays_in_range_despite_rounding_and_keeps_the_filter_gradient():
    # float32 rounding puts a blurred all-ones image at 1 + 3.6e-7 (σ = 2): the output is clamped ...
    ones = torch.ones(2, 1, 28, 28)
    smoother = pre("gaussian-smoothing", sigma=2.0)
    raw = explicit_blur(ones, 2.0, smoother.effective_kernel_size)
    assert float(raw.max()) > 1.0  # the rounding the clamp exists for (if torch stops overshooting, drop this)
    x = ones.clone().requires_grad_(True)
    out, _ = smoother.forward(x)
    assert float(out.detach().max()) <= 1.0
    np.testing.assert_array_equal(smoother(ones.numpy())[0].max(), np.float32(1.0))
    # ... but the gradient is the linear filter's, also where the clamp acted
    weights = torch.from_numpy(np.random.default_rng(3).normal(size=tuple(ones.shape)).astype(np.float32))
    (out * weights).sum().backward()
    reference = ones.clone().requires_grad_(True)
    (explicit_blur(reference, 2.0, smoother.effective_kernel_size) * weights).sum().backward()
    torch.testing.assert_close(x.grad, reference.grad, atol=1e-6, rtol=1e-5)


def test_smoothing_sigma_zero_is_identity_and_kernel_rule():
    from artx_plugins.gaussian_smoothing import default_kernel_size

    x = grid_images()
    np.testing.assert_array_equal(pre("gaussian-smoothing", sigma=0.0)(x)[0], x)
    np.testing.assert_array_equal(pre("gaussian-smoothing", sigma=0.0, kernel_size=5)(x)[0], x)
    # ⌈6σ⌉ rounded up to odd, at least 3
    expected = {0.1: 3, 0.25: 3, 0.5: 3, 0.6: 5, 0.7: 5, 1.0: 7, 1.5: 9, 2.0: 13, 2.5: 15, 3.0: 19}
    assert {sigma: default_kernel_size(sigma) for sigma in expected} == expected
    assert pre("gaussian-smoothing", sigma=1.0, kernel_size=3).effective_kernel_size == 3
    with pytest.raises(ValueError, match="kernel_size 19 needs images larger than 9 px"):
        pre("gaussian-smoothing", sigma=3.0)(grid_images(side=8))
    with pytest.raises(ValueError, match="kernel_size must be an odd int"):
        pre("gaussian-smoothing", kernel_size=4)


# ----------------------------------------------------------------------------- brightness, contrast


def test_brightness_and_contrast_formulas_on_hand_made_images():
    x = np.array([[[[0.0, 0.2], [0.6, 1.0]]]], dtype=np.float32)  # mean 0.45
    np.testing.assert_allclose(pre("brightness", delta=0.1)(x)[0], [[[[0.1, 0.3], [0.7, 1.0]]]], atol=1e-7)
    np.testing.assert_allclose(pre("brightness", delta=-0.3)(x)[0], [[[[0.0, 0.0], [0.3, 0.7]]]], atol=1e-7)
    np.testing.assert_allclose(pre("contrast", factor=0.5)(x)[0], [[[[0.225, 0.325], [0.525, 0.725]]]], atol=1e-7)
    np.testing.assert_allclose(pre("contrast", factor=2.0)(x)[0], [[[[0.0, 0.0], [0.75, 1.0]]]], atol=1e-7)
    np.testing.assert_allclose(pre("contrast", factor=0.0)(x)[0], np.full_like(x, 0.45), atol=1e-7)
    np.testing.assert_array_equal(pre("contrast", factor=1.0)(x)[0], x)
    # per image: the mean of one image does not leak into another
    two = np.concatenate([x, np.full_like(x, 0.8)])
    np.testing.assert_allclose(pre("contrast", factor=0.5)(two)[0][1], np.full((1, 2, 2), 0.8), atol=1e-7)
    # other clip range
    wide = np.array([[[[-1.0, 0.5]]]], dtype=np.float32)
    np.testing.assert_allclose(pre("brightness", delta=0.75, clip_values=(-1.0, 1.0))(wide)[0], [[[[-0.25, 1.0]]]])


# ----------------------------------------------------------------------------- gaussian noise


def test_noise_is_independent_of_batch_and_position_and_seeded():
    x = grid_images(n=5, channels=2, side=10)
    noise = pre("gaussian-noise", sigma=0.1, seed=3)
    alone = np.concatenate([noise(x[i : i + 1])[0] for i in range(5)])
    batch = noise(x)[0]
    np.testing.assert_array_equal(batch, alone)
    order = np.array([4, 2, 0, 3, 1])
    np.testing.assert_array_equal(noise(x[order])[0], batch[order])
    mixed = np.concatenate([grid_images(n=3, channels=2, side=10, seed=9), x[:2]])
    np.testing.assert_array_equal(noise(mixed)[0][3:], batch[:2])
    np.testing.assert_array_equal(pre("gaussian-noise", sigma=0.1, seed=3)(x)[0], batch)  # reproducible
    assert not np.array_equal(pre("gaussian-noise", sigma=0.1, seed=4)(x)[0], batch)
    twins = np.concatenate([x[:1], x[:1]])
    out = noise(twins)[0]
    np.testing.assert_array_equal(out[0], out[1])  # a content-derived seed: equal images, equal noise
    zero = np.zeros((1, 1, 4, 4), np.float32)
    np.testing.assert_array_equal(noise(zero)[0], noise(-zero)[0])  # -0.0 reads as 0.0


def test_noise_formula_statistics_and_global_rng_untouched():
    x = np.full((8, 1, 32, 32), 0.5, dtype=np.float32)
    x[:, 0, 0, 0] = np.linspace(0.1, 0.9, 8)  # distinct images
    noise = pre("gaussian-noise", sigma=0.05, seed=0)
    n = noise.noise(torch.from_numpy(x)).numpy()
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1.0) < 0.03
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    out = noise(x)[0]
    assert torch.equal(torch_state, torch.random.get_rng_state())
    np.testing.assert_array_equal(numpy_state, np.random.get_state()[1])
    np.testing.assert_allclose(out, np.clip(x + np.float32(0.05) * n, 0, 1), atol=1e-7)
    np.testing.assert_array_equal(pre("gaussian-noise", sigma=0.0)(x)[0], x)
    clipped = pre("gaussian-noise", sigma=1.0)(np.ones((1, 1, 8, 8), np.float32))[0]
    assert clipped.max() <= 1.0 and clipped.min() >= 0.0 and (clipped == 1.0).any()


# ----------------------------------------------------------------------------- jpeg


def pillow_jpeg(u8: np.ndarray, quality: int, mode: str) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(u8, mode=mode).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert(mode))


@pytest.mark.parametrize("quality", [10, 75, 100])
def test_jpeg_equals_pillow_per_channel_and_rgb(quality):
    x = grid_images(n=3, channels=1, side=16)
    u8 = np.rint(x * 255).astype(np.uint8)
    expected = np.stack([pillow_jpeg(im[0], quality, "L") for im in u8])[:, None] / np.float32(255)
    np.testing.assert_array_equal(pre("jpeg", quality=quality)(x)[0], expected.astype(np.float32))
    rgb = grid_images(n=2, channels=3, side=16, seed=5)
    u8 = np.rint(rgb * 255).astype(np.uint8)
    expected = np.stack([pillow_jpeg(im.transpose(1, 2, 0), quality, "RGB").transpose(2, 0, 1) for im in u8])
    expected = expected / np.float32(255)
    np.testing.assert_array_equal(pre("jpeg", quality=quality)(rgb)[0], expected.astype(np.float32))


def test_jpeg_close_to_arts_jpeg_compression_and_quality_matters():
    from art.defences.preprocessor import JpegCompression

    x = grid_images(n=4, channels=1, side=16)
    ours = pre("jpeg", quality=75)(x)[0]
    art, _ = JpegCompression(clip_values=(0, 1), quality=75, channels_first=True)(x)
    # ART truncates x·255 to uint8 (ours rounds), so a pixel may be a level apart before encoding
    assert np.abs(ours - art).mean() < 2 / 255 and np.abs(ours - art).max() < 12 / 255
    assert np.abs(pre("jpeg", quality=5)(x)[0] - x).mean() > np.abs(ours - x).mean() > 0


def test_jpeg_bpda_gradient_is_identity_and_none_refuses():
    x = torch.from_numpy(grid_images(n=2, side=16))
    expected = torch.from_numpy(pre("jpeg")(x.numpy())[0])
    tensor = x.clone().requires_grad_(True)
    out, _ = pre("jpeg", gradient="bpda").forward(tensor)
    torch.testing.assert_close(out, expected, atol=1e-7, rtol=0)
    weights = torch.rand_like(out)
    (out * weights).sum().backward()
    torch.testing.assert_close(tensor.grad, weights)
    refusing = pre("jpeg", gradient="none")
    tensor = x.clone().requires_grad_(True)
    out, _ = refusing.forward(tensor)
    torch.testing.assert_close(out, expected, atol=0, rtol=0)  # the forward pass works
    with pytest.raises(RuntimeError, match="gradient='none' is not differentiable"):
        out.sum().backward()
    np.testing.assert_array_equal(refusing(x.numpy())[0], expected.numpy())


# ----------------------------------------------------------------------------- print-photo


def test_print_photo_is_the_composition_of_the_plugins():
    x = grid_images(n=3, channels=1, side=16)
    params = dict(
        blur_sigma=0.7, contrast_factor=0.8, brightness_delta=-0.05, noise_sigma=0.03, jpeg_quality=60, seed=7
    )
    chain = [
        pre("gaussian-smoothing", sigma=0.7),
        pre("contrast", factor=0.8),
        pre("brightness", delta=-0.05),
        pre("gaussian-noise", sigma=0.03, seed=7),
        pre("jpeg", quality=60),
    ]
    expected = x
    for stage in chain:
        expected = stage(expected)[0]
    photo = pre("print-photo", **params)
    np.testing.assert_array_equal(photo(x)[0], expected)
    order = ["GaussianSmoothing", "Contrast", "Brightness", "GaussianNoise", "Jpeg"]
    assert [type(stage).__name__ for stage in photo.stages()] == order
    np.testing.assert_array_equal(photo(x)[0], photo(x)[0])  # deterministic
    no_jpeg = pre("print-photo", **{**params, "jpeg_quality": None})
    expected = x
    for stage in chain[:-1]:
        expected = stage(expected)[0]
    np.testing.assert_array_equal(no_jpeg(x)[0], expected)
    # defaults as documented
    default = pre("print-photo")
    strengths = (default.blur_sigma, default.contrast_factor, default.brightness_delta, default.noise_sigma)
    assert strengths == (0.6, 0.9, 0.05, 0.02) and default.jpeg_quality == 75


def test_chain_in_art_classifier_is_differentiable_with_bpda(linear10):
    """[print-photo] as preprocessing defence: ART's loss gradient = autograd of model(chain(x))."""
    x = grid_images(n=4, side=6, low=0.2, high=0.8)
    y = np.arange(4)
    model = linear10.model
    photo = pre("print-photo", blur_sigma=0.5)
    defended = to_art_classifier(model, input_shape=(1, 6, 6), nb_classes=10, preprocessing_defences=[photo])
    np.testing.assert_allclose(defended.predict(x), linear10.predict(photo(x)[0]), rtol=1e-5, atol=1e-5)
    tensor = torch.from_numpy(x).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(photo.forward(tensor)[0]), torch.from_numpy(y))
    loss.backward()
    np.testing.assert_allclose(defended.loss_gradient(x, np.eye(10)[y]), tensor.grad.numpy(), rtol=1e-4, atol=1e-7)
    refusing = to_art_classifier(
        model, input_shape=(1, 6, 6), nb_classes=10, preprocessing_defences=[pre("print-photo", gradient="none")]
    )
    refusing.predict(x)
    with pytest.raises(RuntimeError, match="refuses gradient use"):
        refusing.loss_gradient(x, np.eye(10)[y])


# ----------------------------------------------------------------------------- illc


def test_kurakin_iteration_rule():
    from artx_plugins.illc import kurakin_iterations

    # min(ε + 4, 1.25 ε) in 0…255 units, rounded down, at least 1
    expected = {2: 2, 4: 5, 8: 10, 16: 20, 32: 36, 64: 68, 128: 132, 0.5: 1, 1: 1}
    assert {e: kurakin_iterations(e / 255) for e in expected} == expected
    assert kurakin_iterations(16 / 127.5, pixel_range=2.0) == 20


def illc_reference(model, x, target, eps, alpha, steps):
    """Independent torch implementation of the ILLC update."""
    x0 = torch.from_numpy(x)
    current = x0.clone()
    for _ in range(steps):
        current.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(current), torch.from_numpy(target))
        (gradient,) = torch.autograd.grad(loss, current)
        current = current.detach() - alpha * gradient.sign()
        current = torch.min(torch.max(current, torch.clamp(x0 - eps, min=0)), torch.clamp(x0 + eps, max=1))
    return current.numpy()


def test_illc_targets_least_likely_class_and_follows_the_update(linear10):
    x = grid_images(n=6, side=6)
    weight = linear10.model[1].weight.detach().numpy()
    bias = linear10.model[1].bias.detach().numpy()
    logits = x.reshape(6, -1) @ weight.T + bias
    default = registry.create("evasion", "illc", linear10)
    assert (default.eps, default.resolved_max_iter()) == (16 / 255, 20)
    assert default.resolved_eps_step() == pytest.approx(1 / 255)
    calls = []
    # on the Linear layer: ART's wrapper runs an nn.Sequential's children one by one
    hook = linear10.model[1].register_forward_hook(lambda *args: calls.append(1))
    try:
        attack = registry.create("evasion", "illc", linear10, eps=4 / 255, batch_size=4)
        x_adv = attack.generate(x)
    finally:
        hook.remove()
    np.testing.assert_array_equal(attack.targets_, logits.argmin(axis=1))
    assert attack.n_iter_ == 5  # min(4 + 4, 1.25 · 4)
    assert len(calls) == 2 + 2 * 5  # clean prediction (chunks of 4 and 2), then 5 gradients per chunk
    eps = 4 / 255
    assert np.abs(x_adv - x).max() <= eps + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    reference = illc_reference(linear10.model, x, attack.targets_, eps, 1 / 255, 5)
    np.testing.assert_allclose(x_adv, reference, atol=1e-6)
    adv_logits = x_adv.reshape(6, -1) @ weight.T + bias
    rows = np.arange(6)
    assert (adv_logits[rows, attack.targets_] - logits[rows, attack.targets_] > 0).all()  # pushed towards y_LL
    again = registry.create("evasion", "illc", linear10, max_iter=3, eps_step=0.01, eps=0.02)
    x_short = again.generate(x, y=np.zeros(6, dtype=np.int64))  # y is checked, not used
    assert again.n_iter_ == 3
    np.testing.assert_allclose(x_short, illc_reference(linear10.model, x, again.targets_, 0.02, 0.01, 3), atol=1e-6)


def test_illc_negative_stride_and_determinism(linear10):
    x = grid_images(n=4, side=6)
    flipped = x[..., ::-1]
    attack = registry.create("evasion", "illc", linear10, eps=2 / 255)
    out = attack.generate(flipped)
    np.testing.assert_array_equal(out, attack.generate(np.ascontiguousarray(flipped)))
    np.testing.assert_array_equal(out, registry.create("evasion", "illc", linear10, eps=2 / 255).generate(flipped))


# ----------------------------------------------------------------------------- minimal ε


@pytest.fixture(scope="module")
def binary_linear():
    """A 2-class linear model on 1×4×4 images, and images in [0.3, 0.7] (ε* below 0.3: nothing clips)."""
    rng = np.random.default_rng(4)
    weight = rng.normal(size=(2, 16))
    classifier = linear_classifier(weight, [0.05, -0.05], (1, 4, 4))
    x = (0.3 + 0.4 * rng.random((12, 1, 4, 4))).astype(np.float32)
    w = classifier.model[1].weight.detach().numpy().astype(np.float64)
    b = classifier.model[1].bias.detach().numpy().astype(np.float64)
    logits = x.reshape(12, -1).astype(np.float64) @ w.T + b
    label = logits.argmax(axis=1)
    margin = np.abs(logits[:, 0] - logits[:, 1])
    closed_form = margin / np.abs(w[0] - w[1]).sum()  # FGSM moves the margin by ε·‖w_y − w_o‖₁
    return classifier, x, label, closed_form


@pytest.mark.parametrize(
    "name, extra", [("fgsm-min", {}), ("igs-min", {"max_iter": 5}), ("fgsm-min", {"targeted": True})]
)
def test_minimal_epsilon_matches_closed_form_on_linear_model(binary_linear, name, extra):
    classifier, x, label, closed_form = binary_linear
    assert closed_form.max() < 0.3  # so no pixel is clipped at the boundary
    steps = 16
    attack = registry.create("evasion", name, classifier, eps_max=0.5, search_steps=steps, batch_size=5, **extra)
    y = 1 - label if extra.get("targeted") else label
    x_adv = attack.generate(x, y=y)
    tolerance = 0.5 / 2**steps
    assert attack.success_.all()
    assert (attack.epsilon_ >= closed_form - 1e-5).all() and (attack.epsilon_ <= closed_form + tolerance + 1e-5).all()
    predicted = classifier.predict(x_adv).argmax(axis=1)
    np.testing.assert_array_equal(predicted, 1 - label)
    np.testing.assert_allclose(np.abs(x_adv - x).reshape(12, -1).max(axis=1), attack.epsilon_, atol=1e-6)


def test_minimal_epsilon_zero_and_failures(binary_linear):
    classifier, x, label, closed_form = binary_linear
    y = label.copy()
    y[0] = 1 - y[0]  # "already misclassified": ε = 0
    eps_max = float(np.median(closed_form))
    for name in ("fgsm-min", "igs-min"):
        attack = registry.create("evasion", name, classifier, eps_max=eps_max, search_steps=8)
        x_adv = attack.generate(x, y=y)
        assert attack.epsilon_[0] == 0 and attack.success_[0]
        failed = closed_form > eps_max + 1e-6
        failed[0] = False
        assert failed.any()
        np.testing.assert_array_equal(attack.success_, ~failed)
        assert np.isnan(attack.epsilon_[failed]).all() and not np.isnan(attack.epsilon_[~failed]).any()
        np.testing.assert_array_equal(x_adv[failed], x[failed])
        np.testing.assert_array_equal(x_adv[0], x[0])


def test_minimal_epsilon_batch_independent_negative_stride_deterministic(linear10):
    x = grid_images(n=4, side=6)
    y = np.arange(4)
    one = registry.create("evasion", "igs-min", linear10, batch_size=1, search_steps=4, max_iter=3, targeted=True)
    out_one = one.generate(x[..., ::-1], y=y)
    every = registry.create("evasion", "igs-min", linear10, batch_size=4, search_steps=4, max_iter=3, targeted=True)
    out_all = every.generate(np.ascontiguousarray(x[..., ::-1]), y=np.eye(10)[y])
    np.testing.assert_allclose(out_one, out_all, atol=1e-6)
    np.testing.assert_array_equal(one.epsilon_, every.epsilon_)
    hit = every.success_
    assert hit.any()
    np.testing.assert_array_equal(linear10.predict(out_all[hit]).argmax(axis=1), y[hit])
    fixed = registry.create("evasion", "igs-min", linear10, eps_step=1 / 32, max_iter=6, search_steps=3, targeted=True)
    first = fixed.generate(x, y=y)
    np.testing.assert_array_equal(first, fixed.generate(x, y=y))


# ----------------------------------------------------------------------------- destruction rate


class LookupClassifier:
    """Fake classifier: the class of an image is round(9 · pixel[0, 0, 0])."""

    nb_classes = 10
    input_shape = (1, 2, 2)
    clip_values = (0.0, 1.0)

    def predict(self, x, batch_size=256):
        return np.eye(10, dtype=np.float32)[np.rint(x[:, 0, 0, 0] * 9).astype(int)]


def remember(x):
    """T: copy pixel (0, 1) (which holds a class code) into pixel (0, 0)."""
    out = x.copy()
    out[:, 0, 0, 0] = x[:, 0, 0, 1]
    return out


def coded(classes, after_t):
    images = np.zeros((len(classes), 1, 2, 2), np.float32)
    images[:, 0, 0, 0] = np.asarray(classes) / 9
    images[:, 0, 0, 1] = np.asarray(after_t) / 9
    return images


def test_destruction_rate_counts_eq1_on_hand_built_case():
    y = np.array([1, 2, 3, 4, 5, 6])
    # clean: 5 correct, image 5 wrong; T(clean) would be wrong everywhere (must not matter: Eq. 1 does not transform X)
    x = coded([1, 2, 3, 4, 5, 0], after_t=[0, 0, 0, 0, 0, 0])
    # adversarial: images 0-2 wrong, 3 still correct, 4 wrong, 5 wrong; T(adv) correct for 0, 1, 3, 5
    x_adv = coded([7, 7, 7, 4, 7, 7], after_t=[1, 2, 0, 4, 0, 6])
    result = destruction_rate(LookupClassifier(), x, y, x_adv, remember)
    assert result == DestructionRate(rate=2 / 4, numerator=2, denominator=4, n=6)
    one_hot = destruction_rate(LookupClassifier(), x, np.eye(10)[y], x_adv, remember)
    assert (one_hot.numerator, one_hot.denominator) == (2, 4)
    identity = destruction_rate(LookupClassifier(), x, y, x_adv, pre("brightness", delta=0.0))  # an ART preprocessor
    assert (identity.rate, identity.numerator, identity.denominator) == (0.0, 0, 4)
    nothing = destruction_rate(LookupClassifier(), x, y, x, remember)  # no adversarial image: undefined
    assert math.isnan(nothing.rate) and (nothing.numerator, nothing.denominator, nothing.n) == (0, 0, 6)


def test_destruction_rate_bad_inputs():
    y = np.array([1, 2])
    x = coded([1, 2], [1, 2])
    classifier = LookupClassifier()
    nan = x.copy()
    nan[0, 0, 1, 1] = np.nan
    cases = [
        (dict(x_adv=x[:1]), ValueError, "x_adv must have the shape of x"),
        (dict(x_adv=nan), ValueError, "x_adv must be finite"),
        (dict(x_adv=x.astype(np.float64)), TypeError, "x_adv must have dtype float32"),
        (dict(x=x + 1), ValueError, r"x pixels must lie in \[0.0, 1.0\]"),
        (dict(y=np.array([1, 12])), ValueError, "y labels must lie in"),
        (dict(y=np.array([1.0, 2.0])), TypeError, "y must hold integer class indices"),
        (dict(y=np.array([1])), ValueError, "y must have one label per image"),
        (dict(transform=lambda v: v[:1]), ValueError, "transform must return images of the shape"),
        (dict(transform=lambda v: v + 1), ValueError, r"transform\(x_adv\) pixels must lie"),
        (dict(transform="jpeg"), TypeError, "transform must be a callable"),
        (dict(batch_size=0), ValueError, "batch_size"),
    ]
    for change, error, match in cases:
        arguments = dict(x=x, y=y, x_adv=x, transform=remember) | change
        batch_size = arguments.pop("batch_size", 256)
        with pytest.raises(error, match=match):
            destruction_rate(classifier, batch_size=batch_size, **arguments)


# ----------------------------------------------------------------------------- bad parameters and inputs


@pytest.mark.parametrize(
    "name, params, error, match",
    [
        ("gaussian-smoothing", {"sigma": -1.0}, ValueError, "sigma"),
        ("gaussian-smoothing", {"sigma": "1"}, TypeError, "sigma must be a real number"),
        ("gaussian-smoothing", {"kernel_size": 2.0}, TypeError, "kernel_size must be an int"),
        ("brightness", {"delta": 2.0}, ValueError, "delta"),
        ("brightness", {"delta": object()}, TypeError, "delta"),
        ("contrast", {"factor": -0.5}, ValueError, "factor"),
        ("contrast", {"clip_values": (1.0, 0.0)}, ValueError, "min < max"),
        ("gaussian-noise", {"seed": -1}, ValueError, "seed"),
        ("gaussian-noise", {"seed": 1.5}, TypeError, "seed"),
        ("gaussian-noise", {"sigma": float("nan")}, ValueError, "sigma must be finite"),
        ("jpeg", {"quality": 0}, ValueError, "quality"),
        ("jpeg", {"quality": 101}, ValueError, "quality"),
        ("jpeg", {"gradient": "exact"}, ValueError, "gradient must be one of 'bpda', 'none'"),
        ("print-photo", {"jpeg_quality": 0}, ValueError, "jpeg_quality"),
        ("print-photo", {"noise_sigma": -0.1}, ValueError, "noise_sigma"),
        ("print-photo", {"apply_predict": "yes"}, TypeError, "apply_predict must be a bool"),
        ("print-photo", {"clip_values": 1.0}, TypeError, "clip_values must be a"),
    ],
)
def test_bad_preprocessor_parameters(name, params, error, match):
    with pytest.raises(error, match=match):
        pre(name, **params)


def test_set_params_is_checked():
    smoother = pre("gaussian-smoothing")
    smoother.set_params(sigma=0.5)
    assert smoother.effective_kernel_size == 3
    with pytest.raises(ValueError, match="sigma"):
        smoother.set_params(sigma=-2.0)


@pytest.mark.parametrize("name", PREPROCESSORS)
def test_preprocessor_bad_inputs_and_negative_strides(name):
    x = grid_images(n=2, side=12)
    transform = pre(name)
    nan = x.copy()
    nan[0, 0, 1, 1] = np.nan
    cases = [
        (x[:, 0], ValueError, "4-D"),
        (x * 2, ValueError, r"pixels must lie in \[0.0, 1.0\]"),
        (nan, ValueError, "finite"),
        (x.astype(np.float64), TypeError, "float32"),
        (x.tolist(), TypeError, "numpy array"),
        (x[:0], ValueError, "at least one image"),
    ]
    for value, error, match in cases:
        with pytest.raises(error, match=match):
            transform(value)
    tensor_cases = [
        (torch.from_numpy(x).double(), TypeError, "float32"),
        (torch.from_numpy(x)[0], ValueError, "4-D"),
        (torch.from_numpy(nan), ValueError, "finite"),
        (x, TypeError, "torch.Tensor"),
    ]
    for value, error, match in tensor_cases:
        with pytest.raises(error, match=match):
            transform.forward(value)
    flipped = x[..., ::-1]
    np.testing.assert_array_equal(transform(flipped)[0], transform(np.ascontiguousarray(flipped))[0])


@pytest.mark.parametrize(
    "name, params, error, match",
    [
        ("illc", {"eps": 0.0}, ValueError, "eps"),
        ("illc", {"eps_step": -1.0}, ValueError, "eps_step"),
        ("illc", {"max_iter": 0}, ValueError, "max_iter"),
        ("illc", {"max_iter": 2.5}, TypeError, "max_iter"),
        ("illc", {"verbose": 1}, TypeError, "verbose must be a bool"),
        ("fgsm-min", {"eps_max": -0.1}, ValueError, "eps_max"),
        ("fgsm-min", {"search_steps": 0}, ValueError, "search_steps"),
        ("fgsm-min", {"targeted": "yes"}, TypeError, "targeted must be a bool"),
        ("igs-min", {"max_iter": 0}, ValueError, "max_iter"),
        ("igs-min", {"eps_step": object()}, TypeError, "eps_step"),
        ("igs-min", {"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_bad_attack_parameters(linear10, name, params, error, match):
    with pytest.raises(error, match=match):
        registry.create("evasion", name, linear10, **params)


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_bad_inputs(linear10, name):
    attack = registry.create("evasion", name, linear10, **({} if name == "illc" else {"search_steps": 2}))
    x = grid_images(n=2, side=6)
    nan = x.copy()
    nan[0, 0, 0, 0] = np.inf
    cases = [
        (dict(x=x[:, 0]), ValueError, "4-D"),
        (dict(x=grid_images(n=2, side=7)), ValueError, "spatial size"),
        (dict(x=nan), ValueError, "finite"),
        (dict(x=x.astype(np.float64)), TypeError, "float32"),
        (dict(x=x + 1), ValueError, "pixels must lie"),
        (dict(x=x, y=np.array([0, 10])), ValueError, "y labels must lie"),
        (dict(x=x, y=np.array([[0.5, 0.5] + [0] * 8] * 2)), ValueError, "one-hot rows"),
        (dict(x=x, y=np.array([0])), ValueError, "one label per image"),
    ]
    for arguments, error, match in cases:
        with pytest.raises(error, match=match):
            attack.generate(**arguments)
    if name != "illc":
        targeted = registry.create("evasion", name, linear10, targeted=True)
        with pytest.raises(ValueError, match="y .* is required when targeted=True"):
            targeted.generate(x)
