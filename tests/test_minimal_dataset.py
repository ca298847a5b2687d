"""The ``minimal-dataset`` preprocessor plugin (artx-plugins)."""

import numpy as np
import pytest
import torch
from art.defences.preprocessor.preprocessor import PreprocessorPyTorch
from PIL import Image, ImageEnhance

from artx import data, registry
from artx.models import build_model, to_art_classifier


@pytest.fixture(scope="module")
def digits():
    x, y = data.load("mnist-5k", "test", limit=100, seed=0)
    return x, y


def make(**params):
    return registry.create("preprocessor", "minimal-dataset", **params)


def test_registered_with_paper_defaults():
    row = next(r for r in registry.list_plugins("preprocessor") if r.name == "minimal-dataset")
    assert (row.distribution, row.status) == ("artx-plugins", "ok")
    pre = make()
    assert isinstance(pre, PreprocessorPyTorch)
    assert (pre.low_res, pre.contrast, pre.apply_fit, pre.apply_predict) == (10, 4.0, True, False)


def test_contrast_matches_pil_on_real_digits(digits):
    x, _ = digits
    u8 = np.rint(x[:, 0] * 255).astype(np.uint8)
    for factor in (0.5, 2.0, 4.0):
        expected = (
            np.stack([np.asarray(ImageEnhance.Contrast(Image.fromarray(im)).enhance(factor)) for im in u8]) / 255.0
        )
        ours = make(contrast=factor).contrast_only(torch.from_numpy(u8[:, None] / np.float32(255))).numpy()[:, 0]
        assert np.abs(ours - expected).max() <= 1 / 255


def test_whole_pipeline_matches_pil(digits):
    """PIL rounds to uint8 after each resize; ×4 contrast amplifies that rounding, hence 6/255."""
    x, _ = digits
    u8 = np.rint(x[:, 0] * 255).astype(np.uint8)

    def pil(im):
        small = Image.fromarray(im).resize((10, 10), Image.BILINEAR).resize((28, 28), Image.NEAREST)
        return np.asarray(ImageEnhance.Contrast(small).enhance(4.0)) / 255.0

    expected = np.stack([pil(im) for im in u8])
    ours = make()(x)[0][:, 0]
    difference = np.abs(ours - expected)
    assert difference.max() <= 6 / 255
    assert difference.mean() <= 0.5 / 255


def test_output_is_blocky_and_in_range(digits):
    x, _ = digits
    out, _ = make()(x)
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert max(len(np.unique(image)) for image in out) <= 100  # at most one value per 10x10 cell
    assert not np.allclose(out, x)


def test_forward_is_differentiable(digits):
    x, _ = digits
    tensor = torch.from_numpy(x[:4]).requires_grad_(True)
    out, _ = make().forward(tensor)
    out.sum().backward()
    assert tensor.grad is not None and float(tensor.grad.abs().sum()) > 0


def test_bpda_keeps_the_output_and_passes_gradients_through(digits):
    x, _ = digits
    tensor = torch.from_numpy(x[:4]).requires_grad_(True)
    exact, _ = make().forward(tensor)
    bpda, _ = make(gradient="bpda").forward(tensor)
    torch.testing.assert_close(bpda, exact)
    weights = torch.rand_like(bpda)
    (bpda * weights).sum().backward()
    torch.testing.assert_close(tensor.grad, weights)  # identity Jacobian
    with pytest.raises(ValueError, match="gradient must be one of 'exact', 'bpda'"):
        make(gradient="straight")


def test_drop_in_with_art_classifier_fgsm_and_pgd(digits):
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent

    x, y = digits
    x, y = x[:16], y[:16]
    model = build_model("lenet5", seed=0)
    pre = make(apply_fit=False, apply_predict=True)
    defended = to_art_classifier(model, preprocessing_defences=[pre])
    bare = to_art_classifier(model)
    # predictions are the model's on the transformed images
    np.testing.assert_allclose(defended.predict(x), bare.predict(pre(x)[0]), rtol=1e-5, atol=1e-5)
    # the loss gradient goes through the preprocessor (chain rule, computed by torch here)
    tensor = torch.from_numpy(x).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(pre.forward(tensor)[0]), torch.from_numpy(y))  # mean, as ART's loss
    loss.backward()
    np.testing.assert_allclose(defended.loss_gradient(x, np.eye(10)[y]), tensor.grad.numpy(), rtol=1e-4, atol=1e-6)
    for attack in (
        FastGradientMethod(defended, eps=0.2),
        ProjectedGradientDescent(defended, eps=0.2, eps_step=0.05, max_iter=5, verbose=False),
    ):
        x_adv = attack.generate(x, y=y)
        assert x_adv.shape == x.shape and np.abs(x_adv - x).max() <= 0.2 + 1e-6
        assert np.abs(x_adv - x).max() > 0


def test_fit_and_predict_flags(digits):
    x, _ = digits
    model = build_model("lenet5", seed=0)
    default = to_art_classifier(model, preprocessing_defences=[make()])
    bare = to_art_classifier(model)
    np.testing.assert_allclose(default.predict(x), bare.predict(x), rtol=1e-6)  # apply_predict=False
    transformed, _ = default._apply_preprocessing(x, None, fit=True)  # apply_fit=True
    np.testing.assert_allclose(transformed, make()(x)[0], rtol=1e-6)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"low_res": 0}, ValueError, "low_res"),
        ({"low_res": 2.5}, TypeError, "low_res must be an int"),
        ({"contrast": -1.0}, ValueError, "contrast"),
        ({"clip_values": (1.0, 0.0)}, ValueError, "min < max"),
        ({"apply_predict": "yes"}, TypeError, "apply_predict must be a bool"),
    ],
)
def test_bad_parameters(params, error, match):
    with pytest.raises(error, match=match):
        make(**params)


def test_bad_inputs(digits):
    x, _ = digits
    pre = make()
    nan = x.copy()
    nan[0, 0, 5, 5] = np.nan
    cases = [
        (x[:, 0], ValueError, "4-D"),
        (np.repeat(x, 3, axis=1), ValueError, "1 channel"),
        (x * 2, ValueError, r"pixels must lie in \[0.0, 1.0\]"),
        (nan, ValueError, "finite"),
        (x.astype(np.float64), TypeError, "float32"),
        (x.tolist(), TypeError, "numpy array"),
    ]
    for value, error, match in cases:
        with pytest.raises(error, match=match):
            pre(value)
    with pytest.raises(ValueError, match="low_res must be below the input side 28"):
        make(low_res=28)(x)
