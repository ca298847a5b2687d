"""One contract for every plugin, checked by discovery: every plugin registered under an artx
entry-point group (artx's own, and any installed later, with no edit here) is built with its
documented defaults on a tiny model and held to its kind's contract:

- constructs with its defaults (given only the estimator, where its kind needs one);
- ``set_params`` round-trips every whitelisted parameter and re-validates; a bad value
  (``object()``) in the constructor or in ``set_params`` raises ``TypeError``/``ValueError``
  naming the parameter;
- its main method refuses wrong dtype, shape, NaN and out-of-range pixels with a clear error
  naming ``x``, accepts a negative-stride view, and accepts an empty batch or refuses it clearly;
- the same seed and input give the same output.

Stock ART classes registered by artx under the same groups (``fgsm``, ``cw-l2``, ...) are ART's,
not artx plugins, and are left out. Costly plugins run with small budgets, set through their
own whitelisted parameters when they have the usual names (:data:`SMALL_BUDGETS`).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from artx import registry
from artx.models import build_model, to_art_classifier
from artx.training import TrainingSpec

#: Whitelisted parameters that set an attack's or search's cost, and small values for them.
SMALL_BUDGETS = {
    "max_iter": 2,
    "binary_search_steps": 2,
    "search_steps": 3,
    "c_steps": 2,
    "generations": 1,
    "population_size": 2,
    "reevaluations": 1,
    "n_passes": 4,
    "n_samples": 2,
    "epochs": 1,
    "nb_epochs": 1,
    "proxy": TrainingSpec("linear", epochs=1),
    "n_estimators": 5,
}
N_IMAGES = 12


def discovered(kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """(kind, name) of every registered plugin of ``kinds`` that is not a stock ART class."""
    out = []
    for kind in kinds:
        for row in registry.list_plugins(kind, load_plugins=False):
            if row.status != "shadowed" and not row.target.startswith("art."):
                out.append((kind, row.name))
    return out


ESTIMATOR_BOUND = ("evasion", "detector", "poisoning", "preprocessor", "trainer", "estimator")


@pytest.fixture(scope="module")
def tiny():
    """Images, labels and an (untrained, seeded) LeNet-5 with dropout and conv layers as ART classifier."""
    from artx import data

    x, y = data.load("mnist-5k", "test", limit=N_IMAGES * 10, seed=0)
    # one image per class first (searches and per-class maps need every class), then the rest
    first = [int(np.flatnonzero(y == k)[0]) for k in range(10)]
    order = first + [i for i in range(len(y)) if i not in first]
    x, y = np.ascontiguousarray(x[order][: N_IMAGES * 4]), y[order][: N_IMAGES * 4]
    model = build_model("lenet5-dropout", seed=0)
    return x, y, model


def classifier_for(tiny):
    return to_art_classifier(tiny[2])


def build(kind: str, name: str, tiny, **params):
    """The plugin with its defaults (plus ``params``), given a classifier if its kind needs one."""
    factory = registry.load(kind, name)
    if kind in ("evasion", "detector", "trainer") or (kind == "poisoning" and _wants_estimator(factory)):
        return registry.create(kind, name, classifier_for(tiny), **params)
    return registry.create(kind, name, **params)


def _wants_estimator(factory) -> bool:
    parameters = list(inspect.signature(factory).parameters.values())
    return (
        bool(parameters)
        and parameters[0].name in ("classifier", "estimator")
        and parameters[0].default is inspect.Parameter.empty
    )


def whitelist(obj) -> list[str]:
    for attribute in ("attack_params", "defence_params", "params", "trainer_params"):
        names = getattr(obj, attribute, None)
        if isinstance(names, list) and names:
            return list(names)
    return []


def small(kind: str, name: str, tiny):
    """The plugin with small budgets for its usual cost parameters."""
    obj = build(kind, name, tiny)
    names = whitelist(obj)
    budget = {k: v for k, v in SMALL_BUDGETS.items() if k in names}
    if budget:
        obj.set_params(**budget)
    return obj


# ---- running the main method of each kind ----------------------------------------------------


def run_main(kind: str, obj, x: np.ndarray, y: np.ndarray):
    """Call the kind's main method; return what identifies its output (compared for determinism)."""
    if kind == "evasion":
        return obj.generate(x, y=(y + 1) % 10)
    if kind == "detector":
        _fit_detector(obj, x)
        report, flagged = obj.detect(x)
        return flagged
    if kind == "poisoning":
        try:
            return obj.poison(x, y)[0]
        except RuntimeError:  # learns its poison first
            obj.fit(x, y)
            return obj.poison(x, y)[0]
    if kind == "preprocessor":
        return obj(x)[0]
    if kind == "trainer":
        obj.fit(x, y)
        return obj.get_classifier().predict(x)
    if kind == "estimator":
        obj.fit(x, y)
        return obj.predict(x)
    raise AssertionError(kind)


def _fit_detector(detector, x: np.ndarray) -> None:
    flags = np.arange(len(x)) % 2 == 1
    detector.fit(x, flags)


def main_method_call(kind: str, obj, x: np.ndarray, y: np.ndarray):
    """Only the part of the main method that takes ``x`` (fitting with valid data beforehand)."""
    if kind == "evasion":
        return obj.generate(x, y=(y + 1) % 10 if y is not None and len(y) == len(x) else None)
    if kind == "detector":
        return obj.detect(x)
    if kind == "poisoning":
        return obj.poison(x, y[: len(x)] if len(x) == len(y) else y[: len(x)])
    if kind == "preprocessor":
        return obj(x)
    if kind in ("trainer", "estimator"):
        return obj.fit(x, y[: len(x)])
    raise AssertionError(kind)


def prepared(kind: str, name: str, tiny):
    """A small-budget plugin, fitted where its main method needs it (detectors, learned poisons)."""
    x, y, _ = tiny
    obj = small(kind, name, tiny)
    if kind == "detector":
        _fit_detector(obj, x)
    if kind == "poisoning":
        try:
            obj.poison(x, y)
        except RuntimeError:
            obj.fit(x, y)
    return obj


PLUGINS = discovered(ESTIMATOR_BOUND)


def test_discovery_finds_artx_plugins_of_every_kind():
    kinds = {kind for kind, _ in PLUGINS}
    assert {"evasion", "detector", "poisoning", "preprocessor", "estimator"} <= kinds
    assert ("poisoning", "gradcam-pixel") in PLUGINS and ("evasion", "fgsm") not in PLUGINS


@pytest.mark.parametrize("kind, name", PLUGINS)
def test_constructs_with_defaults_and_has_a_description(kind, name, tiny):
    obj = build(kind, name, tiny)
    factory = registry.load(kind, name)
    doc = inspect.getdoc(factory) or ""
    assert doc.strip(), f"{name}: the class/factory docstring's first line is its description"
    if inspect.isclass(factory):
        assert whitelist(obj), f"{name}: needs a parameter whitelist"


@pytest.mark.parametrize("kind, name", [p for p in PLUGINS if p[0] != "estimator"])
def test_set_params_round_trips_and_revalidates(kind, name, tiny):
    obj = build(kind, name, tiny)
    names = whitelist(obj)
    for parameter in names:
        value = getattr(obj, parameter)
        obj.set_params(**{parameter: value})
        assert getattr(obj, parameter) is value or getattr(obj, parameter) == value, parameter
    for parameter in names:
        fresh = build(kind, name, tiny)
        with pytest.raises((TypeError, ValueError), match=parameter):
            fresh.set_params(**{parameter: object()})
        with pytest.raises((TypeError, ValueError), match=parameter):
            build(kind, name, tiny, **{parameter: object()})


@pytest.mark.parametrize("kind, name", [p for p in PLUGINS if p[0] == "estimator"])
def test_factory_parameters_are_validated(kind, name, tiny):
    factory = registry.load(kind, name)
    for parameter in inspect.signature(factory).parameters:
        with pytest.raises((TypeError, ValueError), match=parameter):
            registry.create(kind, name, **{parameter: object()})


@pytest.mark.parametrize("kind, name", PLUGINS)
def test_main_method_refuses_bad_images_clearly(kind, name, tiny):
    x, y, _ = tiny
    obj = prepared(kind, name, tiny)
    sample = x[:4]
    nan = sample.copy()
    nan[0, 0, 5, 5] = np.nan
    cases = [
        (sample.astype(np.float64), TypeError),
        (sample[:, 0], ValueError),
        (nan, ValueError),
        (np.clip(sample * 255, 0, 255), ValueError),  # 0..255 instead of [0, 1]
        (sample - 0.5, ValueError),  # [-0.5, 0.5]
    ]
    if kind != "preprocessor":
        cases.append((np.ascontiguousarray(sample.transpose(0, 2, 3, 1)), ValueError))  # NHWC
    for bad, error in cases:
        with pytest.raises(error, match=r"\bx\b"):
            main_method_call(kind, obj, bad, y)


@pytest.mark.parametrize("kind, name", PLUGINS)
def test_negative_stride_and_empty_inputs(kind, name, tiny):
    x, y, _ = tiny
    obj = prepared(kind, name, tiny)
    flipped = x[:6, :, :, ::-1]
    assert not flipped.flags.c_contiguous
    main_method_call(kind, obj, flipped, y[:6])  # valid images: must work
    empty = np.zeros((0, *x.shape[1:]), dtype=np.float32)
    try:
        out = main_method_call(kind, obj, empty, y[:0])
    except (TypeError, ValueError) as error:
        assert "x" in str(error)
    else:
        if isinstance(out, np.ndarray):
            assert len(out) == 0


@pytest.mark.parametrize("kind, name", PLUGINS)
def test_same_seed_same_output(kind, name, tiny):
    x, y, _ = tiny
    if kind == "trainer":  # trains the classifier in place: compare two fresh ones
        from artx.models import build_model

        outputs = []
        for _ in range(2):
            local = (x, y, build_model("lenet5-dropout", seed=0))
            outputs.append(run_main(kind, small(kind, name, local), x[:N_IMAGES], y[:N_IMAGES]))
    else:
        outputs = [run_main(kind, small(kind, name, tiny), x[:N_IMAGES], y[:N_IMAGES]) for _ in range(2)]
    np.testing.assert_array_equal(np.asarray(outputs[0]), np.asarray(outputs[1]))


@pytest.mark.parametrize("kind, name", [p for p in PLUGINS if p[0] == "detector"])
def test_detector_verdict_does_not_depend_on_the_batch(kind, name, tiny):
    x, _, _ = tiny
    detector = prepared(kind, name, tiny)
    report, flagged = detector.detect(x)
    reversed_report, reversed_flagged = detector.detect(np.ascontiguousarray(x[::-1]))
    np.testing.assert_array_equal(flagged, reversed_flagged[::-1])
    detector.set_params(batch_size=3)
    small_batches, small_flagged = detector.detect(x)
    np.testing.assert_array_equal(flagged, small_flagged)
    if "uncertainty" in report:
        np.testing.assert_allclose(report["uncertainty"], small_batches["uncertainty"], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(report["uncertainty"], reversed_report["uncertainty"][::-1], rtol=1e-5, atol=1e-7)


# ---- models and reproductions ----------------------------------------------------------------


@pytest.mark.parametrize("name", registry.names("model"))
def test_models_build_seeded_and_return_logits(name):
    first, second = build_model(name, seed=3), build_model(name, seed=3)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    shape, classes = tuple(first.input_shape), int(first.num_classes)
    first.eval()
    with torch.no_grad():
        assert tuple(first(torch.zeros((2, *shape))).shape) == (2, classes)


@pytest.mark.parametrize("name", registry.names("reproduction"))
def test_reproductions_have_offline_quick_and_paper_presets(name):
    from artx import data
    from artx.reproduction import Reproduction, Settings

    reproduction: Reproduction = registry.create("reproduction", name)
    assert reproduction.title and {"quick", "paper"} <= set(reproduction.presets)
    quick = reproduction.presets["quick"]
    assert set(reproduction.datasets(quick)) <= {"mnist-5k"}, "the quick preset runs offline on the embedded subset"
    for preset in reproduction.presets.values():
        assert set(reproduction.datasets(preset)) <= set(data.DATASETS)
        assert isinstance(preset.settings, Settings), "typed settings (artx.reproduction.Settings)"
        assert preset.config() == preset.settings.as_config()
