"""Trainer plugins: Goodfellow et al.'s FGSM adversarial training and its noise controls, and
Papernot et al.'s defensive distillation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from artx import data, registry
from artx.model_cache import train_cached
from artx.models import build_model, to_art_classifier
from artx.training import CrossEntropy, TrainingSpec, train
from artx_plugins._trainers import FGSMObjective, RandomSignObjective, UniformNoiseObjective

MIXES = ["fgsm-adversarial-training", "random-sign-training", "uniform-noise-training"]
CE = nn.functional.cross_entropy


@pytest.fixture(scope="module")
def tiny():
    return data.load("mnist-5k", "train", limit=96, seed=0)


def trainer(name: str, arch: str = "linear", init_seed: int = 0, model_params: dict | None = None, **params):
    """The trainer ``name`` on a classifier wrapping ``build_model(arch, seed=init_seed)``."""
    classifier = to_art_classifier(build_model(arch, seed=init_seed, **(model_params or {})))
    return registry.create("trainer", name, classifier, **params)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


# ---- the α-mixed objectives ------------------------------------------------------------------


def test_fgsm_objective_matches_the_closed_form_on_softmax_regression(tiny):
    """Linear softmax: ∇ₓCE = (softmax(Wx + b) − onehot(y))ᵀW, so FGSM needs no autograd."""
    x, y = tiny
    xb, yb = torch.from_numpy(x[:32]), torch.from_numpy(y[:32])
    model = build_model("linear", seed=0)
    objective = FGSMObjective(alpha=0.3, eps=0.1, clip_values=(0.0, 1.0))
    loss, logits = objective(model, xb, yb)
    with torch.no_grad():
        weight, bias = model.fc1.weight, model.fc1.bias
        p = torch.softmax(xb.flatten(1) @ weight.T + bias, dim=1)
        direction = ((p - nn.functional.one_hot(yb, 10)) @ weight).sign().view_as(xb)
        x_adv = (xb + 0.1 * direction).clamp(0, 1)
        expected = 0.3 * CE(model(xb), yb) + 0.7 * CE(model(x_adv), yb)
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(logits, model(xb))
    # the adversarial input is a constant of the loss: parameter gradients are α∇J(x) + (1−α)∇J(x_adv)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    want = torch.autograd.grad(0.3 * CE(model(xb), yb) + 0.7 * CE(model(x_adv), yb), list(model.parameters()))
    for g, w in zip(grads, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-7)


def test_fgsm_gradient_comes_from_the_training_forward_pass_with_dropout():
    """In train mode, ∇ₓJ is the gradient of the clean term's own forward pass (same dropout masks);
    the adversarial pass draws its own masks: replayed by hand with autograd under the same seed."""
    model = build_model("lenet5-dropout", seed=0).train()
    xb = torch.rand(8, 1, 28, 28)
    yb = torch.arange(8) % 10
    objective = FGSMObjective(alpha=0.5, eps=0.25)
    torch.manual_seed(11)
    loss, _ = objective(model, xb, yb)
    torch.manual_seed(11)
    x_var = xb.clone().requires_grad_(True)
    clean = CE(model(x_var), yb)
    (gradient,) = torch.autograd.grad(clean, x_var)
    x_adv = (xb + 0.25 * gradient.sign()).clamp(0, 1)
    expected = 0.5 * clean + 0.5 * CE(model(x_adv), yb)
    assert torch.equal(loss.detach(), expected.detach())


@pytest.mark.parametrize("objective_class", [RandomSignObjective, UniformNoiseObjective])
def test_noise_objective_loss_is_the_alpha_mix(objective_class):
    model = build_model("linear", seed=0)
    xb, yb = torch.rand(6, 1, 28, 28), torch.arange(6)
    objective = objective_class(alpha=0.25, eps=0.2)
    torch.manual_seed(3)
    loss, _ = objective(model, xb, yb)
    torch.manual_seed(3)
    noisy = objective.perturbed(xb)
    torch.testing.assert_close(loss, 0.25 * CE(model(xb), yb) + 0.75 * CE(model(noisy), yb))


def test_noise_controls_draw_the_stated_distributions_deterministically():
    x = torch.full((50, 1, 28, 28), 0.5)
    eps = 0.25
    sign, uniform = RandomSignObjective(eps=eps), UniformNoiseObjective(eps=eps)
    torch.manual_seed(0)
    d_sign = sign.perturbed(x) - x
    torch.manual_seed(0)
    d_uniform = uniform.perturbed(x) - x
    assert set(d_sign.unique().tolist()) == {-eps, eps}  # exactly ±ε, nothing else
    assert abs(float((d_sign > 0).float().mean()) - 0.5) < 0.02  # 39,200 fair coin flips
    assert float(d_uniform.abs().max()) <= eps and float(d_uniform.abs().min()) < 0.01
    assert abs(float(d_uniform.mean())) < 0.005 and abs(float(d_uniform.std()) - eps / 3**0.5) < 0.005
    counts = torch.histc(d_uniform, bins=10, min=-eps, max=eps)
    assert float(counts.min()) > 0.9 * float(counts.mean())  # flat
    torch.manual_seed(0)
    assert torch.equal(sign.perturbed(x) - x, d_sign)  # same seed, same draw
    assert not torch.equal(sign.perturbed(x) - x, d_sign)  # the next step draws afresh
    edge = torch.ones(2, 1, 4, 4)
    assert float(uniform.perturbed(edge).max()) <= 1.0 and float(sign.perturbed(edge).min()) >= 0.75


@pytest.mark.parametrize("name", MIXES)
def test_alpha_one_is_plain_training_bit_for_bit(name, tiny):
    x, y = tiny
    params = {"units": 8, "pieces": 2}  # dropout: the α = 1 path must not consume dropout randomness either
    t = trainer(name, "maxout-mlp", model_params=params, alpha=1.0, epochs=2, batch_size=32, seed=4)
    t.fit(x, y)
    plain = build_model("maxout-mlp", seed=0, **params)
    train(plain, x, y, t.spec().replace(objective=None), seed=4, progress=False)
    assert same_weights(t.get_classifier().model, plain)


@pytest.mark.parametrize("name", MIXES)
def test_mix_trainers_are_deterministic_and_their_spec_reproduces_fit(name, tiny):
    x, y = tiny
    runs = []
    for seed in (1, 1, 2):
        t = trainer(name, "mlp", init_seed=1, model_params={"hidden": (16,)}, epochs=2, batch_size=32, seed=seed)
        t.fit(x, y)
        runs.append(t)
    assert same_weights(runs[0].classifier.model, runs[1].classifier.model)
    changed = not same_weights(runs[0].classifier.model, runs[2].classifier.model)
    assert changed  # the seed reaches the batch order (and the noise)
    spec = runs[0].spec()
    assert spec.arch == "mlp" and spec.model_params == {"hidden": (16,)} and spec.epochs == 2
    key = spec.key_fields()["objective"]
    assert key["alpha"] == 0.5 and key["eps"] == 0.25 and key["clip_values"] == [0.0, 1.0]
    cached = train_cached(spec, x, y, seed=1, progress=False).model
    assert same_weights(cached, runs[0].classifier.model)
    # max_norm travels into the spec, and fit applies it
    bounded = trainer(name, "mlp", init_seed=1, model_params={"hidden": (16,)}, epochs=1, batch_size=32, max_norm=0.3)
    assert bounded.spec().max_norm == 0.3
    bounded.fit(x, y)
    assert float(bounded.classifier.model.get_submodule("fc1").weight.detach().norm(dim=1).max()) <= 0.3 + 1e-5


def test_fgsm_training_changes_the_model_differently_from_plain_training(tiny):
    x, y = tiny
    t = trainer("fgsm-adversarial-training", epochs=1, batch_size=32)
    t.fit(x, y)
    plain = build_model("linear", seed=0)
    train(plain, x, y, TrainingSpec("linear", epochs=1, batch_size=32), seed=0, progress=False)
    assert not same_weights(t.classifier.model, plain)
    assert t.history_.loss[0] > 0


# ---- defensive distillation ------------------------------------------------------------------


def test_distillation_is_teacher_at_t_then_student_at_t_on_soft_labels(tiny):
    x, y = tiny
    d = trainer("defensive-distillation", "shallow-mlp", init_seed=3, temperature=20.0, epochs=2, batch_size=32, seed=3)
    d.fit(x, y)
    teacher, student = d.teacher_, d.get_classifier().model
    with torch.no_grad():
        soft = torch.softmax(teacher(torch.from_numpy(x)) / 20.0, dim=1).numpy()
    np.testing.assert_allclose(d.soft_labels(teacher, x), soft, rtol=1e-6, atol=1e-7)
    assert d.soft_labels(teacher, x).dtype == np.float32
    # the same stages, run by hand through the cache, give the same two networks
    assert d.teacher_spec().objective == CrossEntropy(20.0) and d.student_spec() == d.teacher_spec()
    by_hand_teacher = train_cached(d.teacher_spec(), x, y, seed=3, progress=False).model
    assert same_weights(by_hand_teacher, teacher)
    by_hand_student = train_cached(d.student_spec(), x, d.soft_labels(by_hand_teacher, x), seed=3, progress=False).model
    assert same_weights(by_hand_student, student)
    # keyed by provenance (teacher entry, T, images) so the entry is found wherever the run moves
    teacher_entry = train_cached(d.teacher_spec(), x, y, seed=3, progress=False)
    identity = d.soft_label_identity(teacher_entry.key, x)
    assert teacher_entry.key in identity and identity == d.soft_label_identity(teacher_entry.key, x.copy())
    assert identity != d.soft_label_identity(teacher_entry.key, x[:-1])
    assert identity != trainer("defensive-distillation", temperature=10.0).soft_label_identity(teacher_entry.key, x)
    named = train_cached(
        d.student_spec(),
        x,
        lambda: d.soft_labels(teacher_entry.model, x),
        seed=3,
        data_identity=identity,
        progress=False,
    )
    assert same_weights(named.model, student)
    with pytest.raises(TypeError, match="teacher_key"):
        d.soft_label_identity("", x)
    # the student starts from the same initial weights as the teacher, not from the teacher
    wrong = build_model("shallow-mlp", seed=0)
    wrong.load_state_dict(teacher.state_dict())
    train(wrong, x, d.soft_labels(teacher, x), d.student_spec(), seed=3, progress=False)
    assert not same_weights(wrong, student)


def test_distillation_at_t1_on_one_hot_labels_is_plain_training(tiny):
    x, y = tiny
    d = trainer("defensive-distillation", temperature=1.0, epochs=2, batch_size=32)
    one_hot = np.eye(10, dtype=np.float32)[y]
    student = build_model("linear", seed=0)
    train(student, x, one_hot, d.student_spec(), seed=0, progress=False)
    plain = build_model("linear", seed=0)
    train(plain, x, y, TrainingSpec("linear", epochs=2, batch_size=32), seed=0, progress=False)
    for p, q in zip(student.parameters(), plain.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_distilled_logits_are_about_t_times_larger(tiny):
    """Training at T makes softmax(Z/T) confident, so Z grows ~T× an undistilled model's logits.

    Both models reach 100 % training accuracy here; the student is slightly less confident at T
    than the plain model at 1 (measured: ratio 12.2 for T = 20), so T/4 is a safe lower bound
    while plain training could never reach it (its logits are those of a model at T = 1).
    """
    x, y = data.load("mnist-5k", "train", limit=100, seed=0)
    settings = {"epochs": 8, "lr": 0.03, "batch_size": 25}
    d = trainer("defensive-distillation", "shallow-mlp", temperature=20.0, **settings)
    d.fit(x, y)
    plain = build_model("shallow-mlp", seed=0)
    train(plain, x, y, TrainingSpec("shallow-mlp", **settings), seed=0, progress=False)
    with torch.no_grad():
        z_student, z_plain = d.classifier.model(torch.from_numpy(x)), plain(torch.from_numpy(x))
    ratio = float(z_student.std(dim=1).mean() / z_plain.std(dim=1).mean())
    assert 20.0 / 4 < ratio < 20.0 * 2
    assert float((z_student.argmax(1).numpy() == y).mean()) > 0.95
    # deployed at T = 1 its softmax saturates (the gradient-masking effect C&W point out)
    assert float(torch.softmax(z_student, dim=1).max(dim=1).values.mean()) > 0.999


# ---- bad input and parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, params, error, match",
    [
        ("fgsm-adversarial-training", {"alpha": 1.5}, ValueError, "alpha"),
        ("fgsm-adversarial-training", {"alpha": "0.5"}, TypeError, "alpha"),
        ("random-sign-training", {"eps": -0.1}, ValueError, "eps"),
        ("uniform-noise-training", {"epochs": 0}, ValueError, "epochs"),
        ("uniform-noise-training", {"optimizer": "lbfgs"}, ValueError, "optimizer"),
        ("fgsm-adversarial-training", {"lr": 0.0}, ValueError, "lr"),
        ("fgsm-adversarial-training", {"seed": -1}, ValueError, "seed"),
        ("fgsm-adversarial-training", {"progress": 1}, TypeError, "progress"),
        ("defensive-distillation", {"temperature": 0.0}, ValueError, "temperature"),
        ("defensive-distillation", {"temperature": np.nan}, ValueError, "temperature"),
        ("defensive-distillation", {"weight_decay": -1.0}, ValueError, "weight_decay"),
        ("fgsm-adversarial-training", {"max_norm": 0.0}, ValueError, "max_norm"),
        ("defensive-distillation", {"max_norm": "1"}, TypeError, "max_norm"),
        ("defensive-distillation", {"batch_size": 2.0}, TypeError, "batch_size"),
    ],
)
def test_bad_parameters_are_refused_by_name(name, params, error, match):
    with pytest.raises(error, match=match):
        trainer(name, **params)
    t = trainer(name)
    with pytest.raises(error, match=match):
        t.set_params(**params)


@pytest.mark.parametrize("name", MIXES + ["defensive-distillation"])
def test_bad_inputs_are_refused_clearly(name, tiny):
    x, y = tiny
    t = trainer(name, epochs=1)
    with pytest.raises(ValueError, match="not a parameter"):
        t.set_params(ratio=0.5)
    with pytest.raises(TypeError, match=r"\bx\b"):
        t.fit(x.astype(np.float64), y)
    with pytest.raises(ValueError, match=r"\by\b"):
        t.fit(x, y[:-1])
    with pytest.raises(ValueError, match=r"\by\b"):
        t.fit(x, np.full(len(x), 10))
    with pytest.raises(TypeError, match=r"\by\b"):
        t.fit(x, y.astype(np.float32))
    with pytest.raises(TypeError, match="set_params"):
        t.fit(x, y, nb_epochs=3)
    before = {k: v.clone() for k, v in t.classifier.model.state_dict().items()}
    t.fit(x[:8], np.eye(10, dtype=np.float32)[y[:8]])  # one-hot labels are fine
    assert not same_weights(t.classifier.model, build_model("linear", seed=0))
    assert before.keys() == t.classifier.model.state_dict().keys()


def test_classifiers_with_preprocessing_or_without_registry_name_are_handled(tiny):
    from artx_plugins.gaussian_noise import GaussianNoise

    x, y = tiny
    noisy = to_art_classifier(build_model("linear", seed=0), preprocessing_defences=[GaussianNoise()])
    with pytest.raises(ValueError, match="preprocessing"):
        registry.create("trainer", "fgsm-adversarial-training", noisy, epochs=1).fit(x, y)
    anonymous = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    classifier = to_art_classifier(anonymous, input_shape=(1, 28, 28), nb_classes=10)
    t = registry.create("trainer", "defensive-distillation", classifier)
    with pytest.raises(ValueError, match="arch"):
        t.teacher_spec()
    assert t.teacher_spec("linear").arch == "linear"
    t.set_params(epochs=1)
    t.fit(x, y)  # training needs no registry name
    assert isinstance(t.teacher_, nn.Sequential)
