"""The pairwise JSMA plugins ``jsma-z`` / ``jsma-f`` (Papernot et al. 2016): the pair choice against
hand computations and a brute-force double loop, success and budget on a trained LeNet, the
decreasing search, preprocessing, bad input, determinism and batch independence."""

import math

import numpy as np
import pytest
import torch
from art.attacks.attack import EvasionAttack
from art.defences.preprocessor import SpatialSmoothing
from art.defences.preprocessor.preprocessor import PreprocessorPyTorch
from art.estimators.classification import PyTorchClassifier
from torch import nn

from artx import registry
from artx_plugins.jsma_pairwise import JSMAF, JSMAZ, PairwiseJSMA, best_pairs


def toy_classifier(weight, bias, clip_values=(0.0, 1.0), dtype=torch.float32):
    """Linear logits Z = W x + c on a (1, 1, n) image: ∂Z_j/∂x_i = W[j, i] everywhere."""
    weight = torch.as_tensor(weight, dtype=dtype)
    linear = nn.Linear(weight.shape[1], weight.shape[0]).to(dtype)
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(torch.as_tensor(bias, dtype=dtype))
    model = nn.Sequential(nn.Flatten(), linear)
    return PyTorchClassifier(
        model,
        loss=nn.CrossEntropyLoss(),
        input_shape=(1, 1, weight.shape[1]),
        nb_classes=weight.shape[0],
        clip_values=clip_values,
    )


# α_i = W[0, i] = [1, 2, 0.5, 0] and β_i = W[1, i] + W[2, i] = [-1, -1, -1, 0] for target 0.
# Pair scores α·|β| (admissible: α > 0, β < 0): (0,1) 3·2 = 6, (0,2) 1.5·2 = 3, (1,2) 2.5·2 = 5,
# (0,3) 1·1 = 1, (1,3) 2·1 = 2, (2,3) 0.5·1 = 0.5. Best (0,1), then (2,3) once 0 and 1 are used.
TOY_W = [[1.0, 2.0, 0.5, 0.0], [0.0, -1.0, 1.0, 0.0], [-1.0, 0.0, -2.0, 0.0]]
ZEROS = np.zeros((1, 1, 1, 4), np.float32)


def test_registered_with_paper_defaults(trained_lenet):
    rows = {row.name: row for row in registry.list_plugins("evasion")}
    for name, cls, variant in (("jsma-z", JSMAZ, "z"), ("jsma-f", JSMAF, "f")):
        assert (rows[name].distribution, rows[name].status) == ("artx-plugins", "ok")
        attack = registry.create("evasion", name, trained_lenet)
        assert isinstance(attack, (EvasionAttack, PairwiseJSMA)) and type(attack) is cls
        assert (attack.variant, attack.theta, attack.gamma, attack.targeted) == (variant, 1.0, 1.0, True)
        assert "variant" not in attack.attack_params
        assert cls.__doc__.splitlines()[0].startswith("Papernot et al.'s pairwise JSMA")
    assert set(PairwiseJSMA(trained_lenet).attack_params) == {
        "variant",
        "theta",
        "gamma",
        "targeted",
        "batch_size",
        "verbose",
    }


def test_toy_linear_model_pairs_by_hand():
    # Target 0 unreachable (bias -10): step 1 takes (0, 1), step 2 the only pair left (2, 3).
    classifier = toy_classifier(TOY_W, [-10.0, 0.5, 0.0])
    target = np.array([0])
    out = JSMAZ(classifier, gamma=0.5).generate(ZEROS, target)  # ⌊0.5·4/2⌋ = 1 step
    np.testing.assert_array_equal(out.ravel(), [1, 1, 0, 0])
    out = JSMAZ(classifier, gamma=1.0).generate(ZEROS, target)
    np.testing.assert_array_equal(out.ravel(), [1, 1, 1, 1])
    np.testing.assert_array_equal(JSMAZ(classifier, gamma=0.4).generate(ZEROS, target), ZEROS)  # ⌊0.8⌋ = 0 steps
    # Reachable (bias +1 on class 1 only): Z = [3, 0, -1] after step 1, so it stops there.
    out = JSMAZ(toy_classifier(TOY_W, [0.0, 1.0, 0.0])).generate(ZEROS, target)
    np.testing.assert_array_equal(out.ravel(), [1, 1, 0, 0])
    # θ = 0.25 moves by 0.25 (no clipping needed); without clip_values θ = 2 moves past 1.
    out = JSMAZ(classifier, theta=0.25, gamma=0.5).generate(ZEROS, target)
    np.testing.assert_array_equal(out.ravel(), [0.25, 0.25, 0, 0])
    out = JSMAZ(toy_classifier(TOY_W, [-10.0, 0.5, 0.0], clip_values=None), theta=2.0, gamma=0.5).generate(
        ZEROS, target
    )
    np.testing.assert_array_equal(out.ravel(), [2, 2, 0, 0])
    # Features already at the bound are not in the domain: with x_0 = 1 the best pair is (1, 2).
    start = np.array([[[[1.0, 0.0, 0.0, 0.0]]]], np.float32)
    out = JSMAZ(classifier, gamma=0.5).generate(start, target)
    np.testing.assert_array_equal(out.ravel(), [1, 1, 1, 0])


def test_toy_linear_model_no_admissible_pair_and_untargeted_tie(caplog):
    # Untargeted, true class 1: α = W[1] = [0, -1, 1, 0], β = W[0] + W[2] = [0, 2, -1.5, 0];
    # θ > 0 admits α < 0, β > 0: (0,1) and (1,3) both score 1·2 = 2, the tie goes to (0, 1).
    # Then only (2, 3) is left, with α = 1 > 0: no admissible pair, the image stops.
    classifier = toy_classifier(TOY_W, [-10.0, 0.5, 0.0])
    with caplog.at_level("INFO", logger="artx_plugins.jsma_pairwise"):
        out = JSMAZ(classifier, targeted=False).generate(ZEROS, np.array([1]))
    np.testing.assert_array_equal(out.ravel(), [1, 1, 0, 0])
    assert "reached 0, steps 0, no pair 1, domain 0" in caplog.text
    out_none = JSMAZ(classifier, targeted=False).generate(ZEROS)  # y=None: the prediction, class 1
    np.testing.assert_array_equal(out_none, out)
    # Decreasing search on the mirrored model Z'(x') = Z(1 − x') from x' = 1 − x: the same pairs.
    mirrored = toy_classifier(-np.asarray(TOY_W), np.asarray([-10.0, 0.5, 0.0]) + np.asarray(TOY_W).sum(axis=1))
    out = JSMAZ(mirrored, theta=-1.0, gamma=0.5).generate(1 - ZEROS, np.array([0]))
    np.testing.assert_array_equal(out.ravel(), [0, 0, 1, 1])


def dense_reference(a, b, domain):
    """The paper's double loop over pairs p < q (strict >: the first best pair wins ties)."""
    best, pair = 0.0, None
    for p in range(len(a)):
        for q in range(p + 1, len(a)):
            if (
                domain[p]
                and domain[q]
                and a[p] + a[q] > 0
                and b[p] + b[q] < 0
                and (a[p] + a[q]) * -(b[p] + b[q]) > best
            ):
                best, pair = (a[p] + a[q]) * -(b[p] + b[q]), (p, q)
    return pair


@pytest.mark.parametrize("kind", ["independent", "ties", "anticorrelated", "exactly-opposite"])
def test_pair_search_equals_double_loop(kind):
    rng = np.random.default_rng(["independent", "ties", "anticorrelated", "exactly-opposite"].index(kind))
    for _ in range(25):
        n = int(rng.integers(2, 50))
        a, b = rng.normal(size=(6, n)), rng.normal(size=(6, n))
        if kind == "ties":
            a, b = np.round(a * 2) / 2, np.round(b * 2) / 2
        elif kind == "anticorrelated":  # JSMA-F: β ≈ −α
            b = -a + 1e-3 * b
        elif kind == "exactly-opposite":
            b = -a
        domain = rng.random((6, n)) < 0.8
        p, q, found = best_pairs(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(domain))
        for row in range(6):
            expected = dense_reference(a[row], b[row], domain[row])
            assert (None if not found[row] else (int(p[row]), int(q[row]))) == expected


def reference_jsma(model, x, label, variant, theta, gamma, targeted, clip=(0.0, 1.0)):
    """Papernot et al.'s algorithm, read independently: full Jacobian, Python double loop over pairs."""
    x = torch.from_numpy(x).to(torch.float64).flatten()
    shape, n = (1, *model.input_shape), x.numel()
    domain = [bool(v < clip[1]) if theta > 0 else bool(v > clip[0]) for v in x]
    for _ in range(math.floor(gamma * n / 2)):
        with torch.no_grad():
            predicted = int(model.model(x.view(shape)).argmax())
        if (predicted == label) if targeted else (predicted != label):
            break

        def output(z):
            logits = model.model(z.view(shape))[0]
            return torch.softmax(logits, dim=0) if variant == "f" else logits

        jacobian = torch.autograd.functional.jacobian(output, x)
        alpha = jacobian[label]
        beta = sum(jacobian[j] for j in range(len(jacobian)) if j != label)
        sign = (1.0 if theta > 0 else -1.0) * (1.0 if targeted else -1.0)  # θ > 0, targeted: α > 0, β < 0
        pair = dense_reference((sign * alpha).tolist(), (sign * beta).tolist(), domain)
        if pair is None:
            break
        for i in pair:
            x[i] = min(x[i] + theta, clip[1]) if theta > 0 else max(x[i] + theta, clip[0])
            domain[i] = False
    return x.to(torch.float32).numpy()


@pytest.mark.parametrize("variant", ["z", "f"])
@pytest.mark.parametrize("targeted,theta", [(True, 1.0), (True, -0.4), (False, 0.7), (False, -1.0)])
def test_step_by_step_equals_brute_force_reference(variant, targeted, theta):
    """A float64 MLP on 8 features: the state after k = 1, 2, ... steps (γ = (2k + ½)/n) and the
    final result equal the reference's."""
    for seed in range(3):
        with torch.random.fork_rng(devices=[]):  # test-local weights; the attack itself uses no randomness
            torch.manual_seed(seed)
            model = nn.Sequential(nn.Flatten(), nn.Linear(8, 12), nn.Tanh(), nn.Linear(12, 4)).double()
        classifier = PyTorchClassifier(
            model, loss=nn.CrossEntropyLoss(), input_shape=(1, 2, 4), nb_classes=4, clip_values=(0.0, 1.0)
        )
        rng = np.random.default_rng(seed)
        x = rng.random((1, 1, 2, 4)).astype(np.float32)
        x[0, 0, 0, :2] = (1.0, 0.0)  # one feature at each bound
        with torch.no_grad():
            predicted = int(model(torch.from_numpy(x).double()).argmax())
        label = (predicted + 1 + seed) % 4 if targeted else predicted
        y = np.array([label])
        for steps in range(1, 5):
            gamma = min(1.0, (2 * steps + 0.5) / 8)
            ours = PairwiseJSMA(classifier, variant=variant, theta=theta, gamma=gamma, targeted=targeted).generate(x, y)
            expected = reference_jsma(classifier, x, label, variant, theta, gamma, targeted)
            np.testing.assert_array_equal(ours.ravel(), expected, err_msg=f"seed {seed}, after {steps} step(s)")


@pytest.fixture(scope="module")
def digits(mnist_small, trained_lenet):
    """10 test digits the LeNet classifies correctly, random targets ≠ the true label (seeded)."""
    _, _, x_test, y_test = mnist_small
    keep = np.flatnonzero(trained_lenet.predict(x_test).argmax(axis=1) == y_test)[:10]
    x, y = x_test[keep], y_test[keep]
    targets = (y + np.random.default_rng(0).integers(1, 10, len(y))) % 10
    return x, y, targets


def no_admissible_pair(classifier, x, target, variant):
    """Independent check of a dead end: α, β from the full Jacobian, dense search over all pairs
    (pairs whose β is inside float32 rounding do not count)."""
    x = torch.from_numpy(x).flatten()

    def output(z):
        logits = classifier.model(z.view(1, 1, 28, 28))[0]
        return torch.softmax(logits, dim=0) if variant == "f" else logits

    jacobian = torch.autograd.functional.jacobian(output, x).double()
    alpha, beta = jacobian[target], jacobian.sum(dim=0) - jacobian[target]
    # β sums the other classes' float32 derivatives; its sign is decided by float32 arithmetic only
    # beyond its rounding bound (~ classes · eps · Σ|∂F_j|). Near a saturated softmax (target
    # probability ~1e-7) α is ~1e-12 and β's rounding ~1e-11, so whether such a pair is admissible
    # depends on the summation order (it flipped between two CPUs): only pairs clear of it count.
    rounding = len(jacobian) * torch.finfo(torch.float32).eps * jacobian.abs().sum(dim=0)
    domain = x < 1
    pair_alpha, pair_beta = alpha[:, None] + alpha[None, :], beta[:, None] + beta[None, :]
    pair_rounding = rounding[:, None] + rounding[None, :]
    admissible = (
        (pair_alpha > 0)
        & (pair_beta < -pair_rounding)
        & domain[:, None]
        & domain[None, :]
        & ~torch.eye(len(x), dtype=torch.bool)
    )
    return not bool(admissible.any())


@pytest.mark.parametrize("name", ["jsma-z", "jsma-f"])
def test_targeted_success_and_budget_on_trained_lenet(name, trained_lenet, digits):
    """γ = 1, θ = +1. The increasing search only adds ink, so some targets cannot be reached (on
    these 10 digits: 3 of 10 for both variants, all three with target 1, a digit made by removing
    ink); the paper's 97% is over a model trained on 60,000 images. We require ≥ 6/10 and check
    that every failure is a dead end: no pair left on the returned image is admissible beyond float32
    rounding (see :func:`no_admissible_pair`)."""
    x, _, targets = digits
    out = registry.create("evasion", name, trained_lenet, gamma=1.0, batch_size=10).generate(x, targets)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    changed = out != x
    assert (out[changed] == 1.0).all()  # θ = +1 sets the chosen pixels to the bound
    n = x[0].size
    assert (changed.reshape(len(x), -1).sum(axis=1) <= n).all()
    reached = trained_lenet.predict(out).argmax(axis=1) == targets
    assert reached.sum() >= 6
    variant = name[-1]
    for i in np.flatnonzero(~reached):
        assert no_admissible_pair(trained_lenet, out[i], targets[i], variant), f"image {i} stopped with a pair left"
    # the check can fail: an image the attack went on from (one it changed, then reached) had pairs
    first_reached = np.flatnonzero(reached & changed.reshape(len(x), -1).any(axis=1))[0]
    assert not no_admissible_pair(trained_lenet, x[first_reached], targets[first_reached], variant)


@pytest.mark.parametrize("name", ["jsma-z", "jsma-f"])
def test_paper_gamma_caps_modified_features(name, trained_lenet, digits):
    """γ = 0.145 (the paper's 14.5%) on the three digits whose target (1) is out of reach: each
    stops after exactly ⌊0.145·784/2⌋ = 56 steps, 112 ≤ γ·n = 113.7 pixels."""
    x, _, targets = digits
    out = registry.create("evasion", name, trained_lenet, gamma=0.145, batch_size=10).generate(x[5:8], targets[5:8])
    modified = (out != x[5:8]).reshape(3, -1).sum(axis=1)
    np.testing.assert_array_equal(modified, 112)


def test_decreasing_search_moves_pixels_down_only(trained_lenet, digits):
    x, _, targets = digits
    out = JSMAZ(trained_lenet, theta=-1.0, batch_size=10).generate(x, targets)
    assert (out <= x).all() and (out < x).any()
    assert (out[out != x] == 0.0).all()
    reached = trained_lenet.predict(out).argmax(axis=1) == targets
    assert reached.sum() >= 3  # removing ink alone: 6 of these 10 on the fixture


def test_untargeted_misclassifies(trained_lenet, digits):
    x, y, _ = digits
    out = JSMAF(trained_lenet, targeted=False, batch_size=10).generate(x, y)
    assert (trained_lenet.predict(out).argmax(axis=1) != y).all()
    np.testing.assert_array_equal(
        JSMAF(trained_lenet, targeted=False, batch_size=10).generate(x), out
    )  # y=None: predictions


def test_batch_independence_determinism_and_strides(trained_lenet, digits):
    x, _, targets = digits
    x, targets = x[:4], targets[:4]
    together = JSMAF(trained_lenet, batch_size=4).generate(x, targets)
    alone = np.concatenate(
        [JSMAF(trained_lenet, batch_size=1).generate(x[i : i + 1], targets[i : i + 1]) for i in range(4)]
    )
    np.testing.assert_array_equal(alone, together)
    np.testing.assert_array_equal(
        JSMAF(trained_lenet, batch_size=3).generate(x, targets), together
    )  # batches of 3 and 1
    flipped = x[..., ::-1]  # a negative-stride view
    np.testing.assert_array_equal(
        JSMAF(trained_lenet).generate(flipped, targets),
        JSMAF(trained_lenet).generate(np.ascontiguousarray(flipped), targets),
    )
    # One-hot targets, and a model left in train mode: run in eval mode, mode given back.
    trained_lenet.model.train()
    try:
        np.testing.assert_array_equal(JSMAF(trained_lenet).generate(x, np.eye(10, dtype=np.float32)[targets]), together)
        assert trained_lenet.model.training
    finally:
        trained_lenet.model.eval()


def test_preprocessing_is_applied_differentiably(trained_lenet, digits):
    x, _, targets = digits
    x, targets = x[:3], targets[:3]
    mean, std = 0.1307, 0.3081

    class Standardise(nn.Module):
        def forward(self, z):
            return (z - torch.tensor(mean)) / torch.tensor(std)

    normalised = PyTorchClassifier(
        trained_lenet.model,
        loss=nn.CrossEntropyLoss(),
        input_shape=(1, 28, 28),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        preprocessing=(mean, std),
    )
    folded = PyTorchClassifier(
        nn.Sequential(Standardise(), trained_lenet.model),
        loss=nn.CrossEntropyLoss(),
        input_shape=(1, 28, 28),
        nb_classes=10,
        clip_values=(0.0, 1.0),
    )
    np.testing.assert_allclose(normalised.predict(x), folded.predict(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(JSMAZ(normalised).generate(x, targets), JSMAZ(folded).generate(x, targets))

    # A torch defence is differentiated through and decides when to stop: predict agrees.
    class BoxBlur(PreprocessorPyTorch):
        def __init__(self):
            super().__init__(device_type="cpu", apply_fit=False, apply_predict=True)

        def forward(self, z, y=None):
            return torch.nn.functional.avg_pool2d(z, 3, stride=1, padding=1, count_include_pad=False), y

    smoothing = BoxBlur()
    defended = PyTorchClassifier(
        trained_lenet.model,
        loss=nn.CrossEntropyLoss(),
        input_shape=(1, 28, 28),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        preprocessing_defences=[smoothing],
    )
    out = JSMAF(defended, batch_size=3).generate(x, targets)
    reached = defended.predict(out).argmax(axis=1) == targets
    assert reached.any() and not np.array_equal(out, JSMAF(trained_lenet).generate(x, targets))
    numpy_defence = PyTorchClassifier(
        trained_lenet.model,
        loss=nn.CrossEntropyLoss(),
        input_shape=(1, 28, 28),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        preprocessing_defences=[SpatialSmoothing(window_size=3, channels_first=True)],
    )
    with pytest.raises(ValueError, match="preprocessing.*SpatialSmoothing"):
        JSMAZ(numpy_defence).generate(x, targets)


@pytest.mark.parametrize(
    "params,error,name",
    [
        ({"variant": "x"}, ValueError, "variant"),
        ({"variant": None}, TypeError, "variant"),
        ({"theta": 0}, ValueError, "theta"),
        ({"theta": float("nan")}, ValueError, "theta"),
        ({"theta": "1"}, TypeError, "theta"),
        ({"gamma": 0.0}, ValueError, "gamma"),
        ({"gamma": 1.5}, ValueError, "gamma"),
        ({"gamma": object()}, TypeError, "gamma"),
        ({"targeted": "yes"}, TypeError, "targeted"),
        ({"targeted": 1}, TypeError, "targeted"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.0}, TypeError, "batch_size"),
        ({"verbose": 1}, TypeError, "verbose"),
    ],
)
def test_bad_parameters(params, error, name, trained_lenet):
    with pytest.raises(error, match=f"^{name}"):
        PairwiseJSMA(trained_lenet, **params)
    attack = PairwiseJSMA(trained_lenet)
    with pytest.raises(error, match=f"^{name}"):
        attack.set_params(**params)


def test_set_params_whitelist(trained_lenet):
    attack = JSMAZ(trained_lenet)
    attack.set_params(gamma=0.5, theta=-1.0)
    assert (attack.gamma, attack.theta) == (0.5, -1.0)
    with pytest.raises(ValueError, match="variant"):
        attack.set_params(variant="f")
    with pytest.raises(TypeError, match="PyTorchClassifier"):  # ART's EstimatorError
        JSMAZ(object())


def test_bad_inputs(trained_lenet, digits):
    x, _, targets = digits
    x, targets = x[:2], targets[:2]
    attack = JSMAZ(trained_lenet)
    bad_x = [
        (x.astype(np.float64), TypeError),
        (x[:, 0], ValueError),
        (x.transpose(0, 2, 3, 1), ValueError),
        (x * 2, ValueError),
        (np.where(x > 0.5, np.nan, x).astype(np.float32), ValueError),
        (x[:0], ValueError),
        (x.tolist(), TypeError),
    ]
    for images, error in bad_x:
        with pytest.raises(error, match="^x"):
            attack.generate(images, targets)
    with pytest.raises(ValueError, match="^y"):
        attack.generate(x)  # targeted needs targets
    for labels, error in [
        (targets[:1], ValueError),
        (np.array([0, 10]), ValueError),
        (targets.astype(np.float32), TypeError),
        (np.full((2, 10), 0.1), ValueError),
        ([1, 2], TypeError),
    ]:
        with pytest.raises(error, match="^y"):
            attack.generate(x, labels)
