"""The single-pixel poisoning plugins (gradcam-pixel, random-pixel, class-pixel) and the
scikit-learn baseline factories (linear-svm, rbf-svm, random-forest)."""

import json

import numpy as np
import pytest
from art.attacks.attack import PoisoningAttack
from art.estimators.classification.scikitlearn import ScikitlearnClassifier
from matplotlib.figure import Figure

from artx import data, registry
from artx.models import build_model, to_art_classifier
from artx.training import TrainingSpec, train

POISONS = ("gradcam-pixel", "random-pixel", "class-pixel")
ESTIMATORS = ("linear-svm", "rbf-svm", "random-forest")


@pytest.fixture(scope="module")
def digits():
    """400 training digits (40 per class, shuffled) and 100 test digits."""
    x, y = data.load("mnist-5k", "train", limit=400, seed=1)
    xt, yt = data.load("mnist-5k", "test", limit=100, seed=1)
    return x, y, xt, yt


@pytest.fixture(scope="module")
def clean_cnn(digits):
    x, y, _, _ = digits
    model = build_model("paper-cnn", seed=0)
    train(model, x, y, TrainingSpec("model", epochs=6), seed=0, progress=False)
    return to_art_classifier(model)


def search(classifier, **params):
    settings = {
        "generations": 2,
        "population_size": 4,
        "proxy": TrainingSpec("linear", epochs=1),
        "reevaluations": 2,
        "seed": 3,
        **params,
    }
    return registry.create("poisoning", "gradcam-pixel", classifier, **settings)


def test_plugins_are_registered_and_load_by_name():
    rows = {(r.kind, r.name): r for r in registry.list_plugins()}
    for kind, names in (("poisoning", POISONS), ("estimator", ESTIMATORS)):
        for name in names:
            assert (rows[(kind, name)].distribution, rows[(kind, name)].status) == ("artx-plugins", "ok")
    assert isinstance(registry.create("poisoning", "class-pixel"), PoisoningAttack)
    assert isinstance(registry.create("estimator", "linear-svm"), ScikitlearnClassifier)
    with pytest.raises(registry.PluginNotFoundError, match="Did you mean 'class-pixel'"):
        registry.create("poisoning", "class-pixels")


def changed_pixels(x, x_poisoned):
    return [tuple(index) for index in np.argwhere(x != x_poisoned)]


def test_class_pixel_writes_only_the_label_pixel(digits):
    x, y, _, _ = digits
    attack = registry.create("poisoning", "class-pixel")
    original = x.copy()
    x_poisoned, y_out = attack.poison(x, y)
    np.testing.assert_array_equal(x, original)  # input untouched
    np.testing.assert_array_equal(y_out, y)
    assert x_poisoned.dtype == np.float32 and x_poisoned.shape == x.shape
    for i in range(len(x)):
        diff = np.argwhere(x[i] != x_poisoned[i])
        assert [tuple(d) for d in diff] in ([(0, 1, 4 + 2 * int(y[i]))], [])  # documented placement
        assert x_poisoned[i, 0, 1, 4 + 2 * int(y[i])] == 1.0
    assert attack.pixels()[3] == {"class": 3, "row": 1, "col": 10, "intensity": 1.0}


def test_random_pixel_is_seeded_and_class_wise(digits):
    x, y, _, _ = digits
    first, again, other = (registry.create("poisoning", "random-pixel", seed=s) for s in (4, 4, 5))
    assert first.pixels() == again.pixels() and first.pixels() != other.pixels()
    positions = {(p["row"], p["col"]) for p in first.pixels()}
    assert len(positions) == 10 and all(0 <= p["intensity"] <= 1 for p in first.pixels())
    x_poisoned, _ = first.poison(x, y)
    for i in range(20):
        pixel = first.pixels()[int(y[i])]
        assert np.isclose(x_poisoned[i, 0, pixel["row"], pixel["col"]], pixel["intensity"])
        mask = np.ones(x[i].shape, dtype=bool)
        mask[0, pixel["row"], pixel["col"]] = False
        np.testing.assert_array_equal(x_poisoned[i][mask], x[i][mask])


def test_random_pixel_intensity_and_allowed_positions():
    uniform = registry.create("poisoning", "random-pixel", seed=3).pixels()
    white = registry.create("poisoning", "random-pixel", seed=3, intensity=1.0).pixels()
    bright = registry.create("poisoning", "random-pixel", seed=3, intensity=(0.5, 1.0)).pixels()
    # the positions are drawn first: the intensity variants of one seed share them
    assert [(p["row"], p["col"]) for p in white] == [(p["row"], p["col"]) for p in uniform]
    assert [(p["row"], p["col"]) for p in bright] == [(p["row"], p["col"]) for p in uniform]
    assert all(p["intensity"] == 1.0 for p in white)
    assert all(0.5 <= p["intensity"] <= 1.0 for p in bright)
    # positions only where the mask allows: one mask for all classes, or one per class
    border = np.zeros((28, 28), dtype=bool)
    border[0, :] = True
    assert all(p["row"] == 0 for p in registry.create("poisoning", "random-pixel", allowed=border).pixels())
    per_class = np.zeros((10, 28, 28), dtype=bool)
    for k in range(10):
        per_class[k, k, 20:] = True
    pixels = registry.create("poisoning", "random-pixel", seed=1, allowed=per_class).pixels()
    assert [p["row"] for p in pixels] == list(range(10)) and all(p["col"] >= 20 for p in pixels)
    assert len({(p["row"], p["col"]) for p in pixels}) == 10
    # one allowed pixel shared by two classes cannot give both a distinct position
    shared = np.zeros((10, 28, 28), dtype=bool)
    shared[:, 5, 5] = True
    shared[2:, 6, :] = True
    with pytest.raises(ValueError, match="no position that earlier classes have not taken"):
        registry.create("poisoning", "random-pixel", allowed=shared).pixels()


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"intensity": "white"}, ValueError, "intensity must be 'uniform', a number in"),
        ({"intensity": 1.5}, ValueError, "intensity must be"),
        ({"intensity": float("nan")}, ValueError, "intensity must be"),
        ({"intensity": True}, TypeError, "got bool"),
        ({"intensity": (0.8, 0.2)}, ValueError, "low ≤ high"),
        ({"intensity": (0.1, 0.2, 0.3)}, TypeError, "intensity must be"),
        ({"allowed": np.ones((28, 28))}, TypeError, "boolean numpy array"),
        ({"allowed": [[True]]}, TypeError, "boolean numpy array"),
        ({"allowed": np.ones((27, 28), dtype=bool)}, ValueError, r"shape \(28, 28\) or \(10, 28, 28\)"),
        ({"allowed": np.zeros((28, 28), dtype=bool)}, ValueError, "no position for classes"),
        ({"allowed": np.arange(784).reshape(28, 28) < 5}, ValueError, "5 distinct positions in all"),
    ],
)
def test_random_pixel_bad_intensity_or_allowed(params, error, match):
    with pytest.raises(error, match=match):
        registry.create("poisoning", "random-pixel", **params)


@pytest.mark.parametrize("name", ["random-pixel", "class-pixel"])
def test_poison_bad_inputs(digits, name):
    x, y, _, _ = digits
    attack = registry.create("poisoning", name)
    nan = x.copy()
    nan[0, 0, 0, 0] = np.nan
    cases = [
        ((x, np.where(y == 0, 10, y)), ValueError, r"labels must lie in \[0, 9\]; got values in \[1, 10\]"),
        ((x, y - 1), ValueError, "labels must lie in"),
        ((x * 2, y), ValueError, r"pixels must lie in \[0.0, 1.0\]"),
        ((nan, y), ValueError, "finite"),
        ((x.astype(np.float64), y), TypeError, "float32"),
        ((x[:, 0], y), ValueError, "4-D"),
        ((x[:, :, :20], y), ValueError, r"spatial size \(28, 28\)"),
        ((x, np.eye(9, dtype=np.int64)[y % 9]), ValueError, r"shape \(N,\) or \(N, 1\)"),
        ((x, np.eye(10, dtype=np.float32)[y] * 0.5), ValueError, "exactly one 1"),
        ((x, y.astype(np.float32)), TypeError, "integer class indices"),
        ((x, y[:5]), ValueError, "one label per image"),
        ((x, None), ValueError, "y \\(the labels\\) is required"),
    ]
    for args, error, match in cases:
        with pytest.raises(error, match=match):
            attack.poison(*args)


@pytest.mark.parametrize(
    "name, params, error, match",
    [
        ("class-pixel", {"first_col": 10}, ValueError, "must be < width"),
        ("class-pixel", {"intensity": 1.5}, ValueError, "intensity"),
        ("class-pixel", {"row": 28}, ValueError, "row must be an int in"),
        ("random-pixel", {"nb_classes": 1}, ValueError, "nb_classes"),
        ("random-pixel", {"seed": -1}, ValueError, "seed"),
        ("random-pixel", {"height": 2, "width": 2}, ValueError, "one distinct pixel per class"),
    ],
)
def test_baseline_bad_parameters(name, params, error, match):
    with pytest.raises(error, match=match):
        registry.create("poisoning", name, **params)


def test_allowed_region_logic(clean_cnn, digits):
    attack = search(clean_cnn, threshold=0.5)
    cams = np.zeros((10, 28, 28), dtype=np.float32)
    cams[:, 10:14, 10:14] = 1.0  # region of interest: a 4x4 square
    cams[:, 9, 9] = 0.49  # just below half the peak: allowed
    cams[:, 14, 14] = 0.5  # exactly half the peak: in the region
    cams[2] = 0.0  # a class whose map is zero everywhere: every pixel allowed
    allowed = attack.allowed_masks(cams)
    assert allowed[0].sum() == 784 - 17 and allowed[0, 9, 9] and not allowed[0, 14, 14] and not allowed[0, 11, 11]
    assert allowed[2].all()
    with pytest.raises(ValueError, match=r"threshold=0.0 leaves no allowed pixel .* classes \[0, 1, 3"):
        search(clean_cnn, threshold=0.0).allowed_masks(cams)
    x, y, _, _ = digits
    maps = attack.class_cams(x, y)
    assert maps.shape == (10, 28, 28) and maps.min() >= 0 and np.all(maps.reshape(10, -1).max(1) > 0)


def test_default_maps_are_grad_cam_on_the_last_rectified_feature_maps(clean_cnn, digits):
    """Grad-CAM as Selvaraju et al. define it, written out by hand: A = the last conv layer's
    rectified maps (their code reads VGG-16's relu5_3), α_k = spatial mean of ∂Z_y/∂A_k,
    map = ReLU(Σ_k α_k A_k), upsampled bilinearly; the plugin's default layer must give the same."""
    import torch

    x, y, _, _ = digits
    model = clean_cnn.model.eval()
    features = {}
    handle = model.relu2.register_forward_hook(lambda _m, _i, out: features.setdefault("A", out))
    try:
        logits = model(torch.from_numpy(x))
    finally:
        handle.remove()
    activations = features["A"]
    assert activations.min() >= 0  # rectified
    chosen = logits.gather(1, torch.from_numpy(y.astype(np.int64))[:, None]).sum()
    (grads,) = torch.autograd.grad(chosen, activations)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    maps = torch.relu((weights * activations).sum(dim=1, keepdim=True))
    maps = torch.nn.functional.interpolate(maps, size=(28, 28), mode="bilinear").squeeze(1).detach().numpy()
    expected = np.stack([maps[y == k].mean(axis=0) for k in range(10)])
    np.testing.assert_allclose(search(clean_cnn).class_cams(x, y), expected, rtol=1e-4, atol=1e-6)


def test_search_result_lies_in_allowed_set_and_poison_uses_it(clean_cnn, digits, tmp_path):
    x, y, _, _ = digits
    attack = search(clean_cnn)
    attack.fit(x, y)
    pixels = attack.pixels()
    for p in pixels:
        assert attack.allowed_[p["class"], p["row"], p["col"]]  # outside the GradCAM region
        assert 0.0 <= p["intensity"] <= 1.0
    assert len(attack.history_) == 2 and all(len(g["fitness"]) == 4 for g in attack.history_)
    assert len(attack.final_gaps_) == 2 and all(-1 <= g <= 1 for g in attack.final_gaps_)
    x_poisoned, _ = attack.poison(x[:50], y[:50])
    for i in range(50):
        p = pixels[int(y[i])]
        assert changed_pixels(x[i], x_poisoned[i]) in ([(0, p["row"], p["col"])], [])
        assert np.isclose(x_poisoned[i, 0, p["row"], p["col"]], p["intensity"])
    assert isinstance(attack.plot_maps(), Figure)
    # determinism: the same seed gives the same search, another seed another one
    again = search(clean_cnn).fit(x, y)
    assert again.pixels() == pixels and again.history_ == attack.history_
    other = search(clean_cnn, seed=4).fit(x, y)
    assert other.history_ != attack.history_


def test_row_col_encoding_decodes_to_the_nearest_allowed_pixel(clean_cnn, digits, tmp_path):
    """position_encoding="row-col": 3K variables (rows, columns, intensities); a (row, col) in the
    region of interest becomes the allowed pixel nearest to it; the encoding is part of the search's
    checkpoint identity, and "index" (the default) leaves the identity as before the parameter."""
    x, y, _, _ = digits
    path = tmp_path / "rc.json"
    attack = search(clean_cnn, position_encoding="row-col", checkpoint_path=path).fit(x, y)
    K, H, W = attack.nb_classes, attack.height, attack.width
    assert all(len(s) == 3 * K for g in attack.history_ for s in g["solutions"])
    for p in attack.pixels():
        assert attack.allowed_[p["class"], p["row"], p["col"]]
    for k in range(K):
        allowed = np.argwhere(attack.allowed_[k])
        blocked = np.argwhere(~attack.allowed_[k])
        for row, col in (blocked[0], blocked[len(blocked) // 2], (0, 0), (H - 1, W - 1)):
            z = np.zeros(3 * K)
            z[k], z[K + k], z[2 * K + k] = row, col, 0.7
            rows, cols, values = attack._decode(z)
            nearest = np.min(np.hypot(*(allowed - (row, col)).T))
            assert attack.allowed_[k, rows[k], cols[k]]
            assert np.isclose(np.hypot(rows[k] - row, cols[k] - col), nearest)
            assert np.isclose(values[k], 0.7)
    assert json.loads(path.read_text())["spec"]["position_encoding"] == "row-col"
    replayed = search(clean_cnn, position_encoding="row-col", checkpoint_path=path, replay_only=True).fit(x, y)
    assert replayed.pixels() == attack.pixels() and replayed.resumed_generations_ == 2
    with pytest.raises(ValueError, match="differs in: position_encoding"):
        search(clean_cnn, checkpoint_path=path).fit(x, y)  # an "index" search refuses a "row-col" checkpoint
    index_path = tmp_path / "index.json"
    search(clean_cnn, checkpoint_path=index_path).fit(x, y)
    assert "position_encoding" not in json.loads(index_path.read_text())["spec"]


def test_proxy_gaps_is_the_search_fitness_for_any_table(clean_cnn, digits):
    """proxy_gaps trains the search's proxy on its split: the found table at the final seeds gives
    the final re-evaluations bit for bit; another table another gap; bad tables are refused."""
    x, y, _, _ = digits
    attack = search(clean_cnn)
    with pytest.raises(RuntimeError, match="call fit"):
        attack.proxy_gaps([], [], 0)
    attack.fit(x, y)
    found = (attack.rows_, attack.cols_, attack.intensities_)
    final_seed = attack._training_seed(attack.generations)
    seeds = [final_seed + r for r in range(attack.reevaluations)]
    assert attack.proxy_gaps([found] * len(seeds), seeds, final_seed) == attack.final_gaps_
    unpoisoned = (attack.rows_, attack.cols_, np.zeros(10, np.float32))
    assert attack.proxy_gaps([unpoisoned] * len(seeds), seeds, final_seed) != attack.final_gaps_
    with pytest.raises(ValueError, match=r"init_seeds needs one seed per table \(2\); got 1"):
        attack.proxy_gaps([found, found], [0], 0)
    with pytest.raises(ValueError, match=r"intensities must lie in \[0, 1\]"):
        attack.proxy_gaps([(attack.rows_, attack.cols_, np.full(10, 1.5))], [0], 0)
    with pytest.raises(ValueError, match="one row, column and intensity per class"):
        attack.proxy_gaps([(attack.rows_[:3], attack.cols_[:3], attack.intensities_[:3])], [0], 0)
    with pytest.raises(TypeError, match="pixel table rows must be integers; got dtype float64"):
        attack.proxy_gaps([(attack.rows_ + 0.5, attack.cols_, attack.intensities_)], [0], 0)


def test_checkpoint_resume_after_kill_and_refused_resume(clean_cnn, digits, tmp_path, monkeypatch):
    x, y, _, _ = digits
    reference = search(clean_cnn, generations=3).fit(x, y)
    path = tmp_path / "search.json"

    from artx_plugins import gradcam_pixel

    calls = {"n": 0}
    real = gradcam_pixel.GradCamPixelPoisoning._evaluate

    def dies_in_third_generation(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gradcam_pixel.GradCamPixelPoisoning, "_evaluate", dies_in_third_generation)
    with pytest.raises(KeyboardInterrupt):
        search(clean_cnn, generations=3, checkpoint_path=path).fit(x, y)
    saved = json.loads(path.read_text())
    assert len(saved["generations"]) == 2 and saved["spec"]["generations"] == 3

    def never_trains(self, *args, **kwargs):
        raise AssertionError("replay_only trained a candidate")

    monkeypatch.setattr(gradcam_pixel.GradCamPixelPoisoning, "_evaluate", never_trains)
    with pytest.raises(ValueError, match=r"replay_only=True: checkpoint_path .* holds 2 of 3 generations"):
        search(clean_cnn, generations=3, checkpoint_path=path, replay_only=True).fit(x, y)
    monkeypatch.setattr(gradcam_pixel.GradCamPixelPoisoning, "_evaluate", real)

    resumed = search(clean_cnn, generations=3, checkpoint_path=path).fit(x, y)
    assert resumed.resumed_generations_ == 2
    assert resumed.history_ == reference.history_ and resumed.pixels() == reference.pixels()
    assert len(json.loads(path.read_text())["generations"]) == 3
    replayed = search(clean_cnn, generations=3, checkpoint_path=path, replay_only=True).fit(x, y)
    assert replayed.resumed_generations_ == 3 and replayed.pixels() == reference.pixels()

    # another CPU's float rounding (stored candidates off by 1e-8) replays; another cma's candidates do not
    complete = path.read_text()
    for offset, replays in [(1e-8, True), (0.1, False)]:
        drifted = json.loads(complete)
        drifted["generations"][1]["solutions"][0][-1] += offset
        path.write_text(json.dumps(drifted))
        if replays:
            assert search(clean_cnn, generations=3, checkpoint_path=path).fit(x, y).pixels() == reference.pixels()
        else:
            with pytest.raises(ValueError, match="at generation 1 CMA-ES proposes other candidates .* difference 0.1"):
                search(clean_cnn, generations=3, checkpoint_path=path).fit(x, y)
    path.write_text(complete)

    with pytest.raises(ValueError, match="other parameters or data \\(differs in: regions, threshold\\); refusing"):
        search(clean_cnn, generations=3, threshold=0.4, checkpoint_path=path).fit(x, y)
    with pytest.raises(ValueError, match="differs in: data"):
        search(clean_cnn, generations=3, checkpoint_path=path).fit(x[::2], y[::2])
    # the same model and data, but one allowed pixel less (GradCAM rounded otherwise): refused
    real_masks = gradcam_pixel.GradCamPixelPoisoning.allowed_masks

    def one_pixel_less(self, maps):
        masks = real_masks(self, maps).copy()
        masks[0].flat[np.flatnonzero(masks[0])[0]] = False
        return masks

    monkeypatch.setattr(gradcam_pixel.GradCamPixelPoisoning, "allowed_masks", one_pixel_less)
    with pytest.raises(ValueError, match="differs in: regions"):
        search(clean_cnn, generations=3, checkpoint_path=path).fit(x, y)
    monkeypatch.setattr(gradcam_pixel.GradCamPixelPoisoning, "allowed_masks", real_masks)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable gradcam-pixel checkpoint"):
        search(clean_cnn, checkpoint_path=path).fit(x, y)


def test_gradcam_pixel_bad_inputs(clean_cnn, digits):
    x, y, _, _ = digits
    for params, error, match in [
        ({"layer": "conv9"}, ValueError, r"layer must name a module .* got 'conv9'; conv layers: conv1, conv2"),
        ({"generations": 0}, ValueError, "generations must be an int in \\[1, inf\\]; got 0"),
        ({"population_size": 0}, ValueError, "population_size"),
        ({"threshold": 1.5}, ValueError, "threshold"),
        ({"threshold": float("nan")}, ValueError, "threshold must be finite"),
        ({"reevaluations": 0}, ValueError, "reevaluations"),
        ({"validation_fraction": 1.0}, ValueError, "validation_fraction"),
        ({"proxy": "linear"}, TypeError, "proxy must be an artx.training.TrainingSpec"),
        ({"proxy": TrainingSpec("no-such-model", epochs=1)}, ValueError, "proxy.arch must be a registered model"),
        (
            {"proxy": TrainingSpec("lenet5-dropout", epochs=1)},
            ValueError,
            "proxy.arch: train_population supports models without batch norm or dropout",
        ),
        ({"layer": "fc1"}, ValueError, r"layer must be a convolutional layer .* 'fc1' outputs shape \(1, 1024\)"),
        ({"seed": 2**63}, ValueError, "seed must be an int seed"),
        ({"checkpoint_path": "."}, ValueError, "checkpoint_path must be a file path, not a folder"),
        ({"replay_only": True}, ValueError, "replay_only=True needs checkpoint_path"),
        ({"replay_only": 1, "checkpoint_path": "s.json"}, TypeError, "replay_only must be a bool; got 1"),
        ({"position_encoding": "xy"}, ValueError, "position_encoding must be one of 'index', 'row-col'; got 'xy'"),
        ({"position_encoding": 1}, TypeError, "position_encoding must be a str, one of .*; got 1"),
    ]:
        with pytest.raises(error, match=match):
            search(clean_cnn, **params)
    with pytest.raises(Exception, match="PyTorchClassifier|estimator"):
        registry.create("poisoning", "gradcam-pixel", registry.create("estimator", "linear-svm"))
    attack = search(clean_cnn)
    with pytest.raises(RuntimeError, match="call fit"):
        attack.poison(x, y)
    with pytest.raises(ValueError, match=r"classes without images: \[0\]"):
        attack.fit(x[y != 0], y[y != 0])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\]"):
        attack.fit(x, y + 1)
    with pytest.raises(ValueError, match=r"pixels must lie in \[0.0, 1.0\]"):
        attack.fit(x - 0.5, y)
    nan = x.copy()
    nan[3, 0, 3, 3] = np.inf
    with pytest.raises(ValueError, match="finite"):
        attack.fit(nan, y)
    with pytest.raises(ValueError, match="leaves no allowed pixel"):
        search(clean_cnn, threshold=0.0).fit(x, y)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_sklearn_factories_take_nchw_images(digits, name):
    x, y, xt, yt = digits
    estimator = registry.create("estimator", name)
    assert estimator.clip_values is not None and tuple(estimator.clip_values) == (0.0, 1.0)
    estimator.fit(x, np.eye(10)[y])
    predictions = estimator.predict(xt)
    assert predictions.shape == (len(xt), 10)
    assert np.mean(predictions.argmax(1) == yt) > 0.6  # real digits: far above chance
    with pytest.raises(ValueError, match=r"x must be 4-D \(N, C, H, W\)"):
        estimator.predict(xt.reshape(len(xt), -1))


def test_rbf_svm_passes_probability_explicitly(digits):
    x, y, xt, _ = digits
    default = registry.create("estimator", "rbf-svm")
    assert default.model.named_steps["svc"].probability is False
    calibrated = registry.create("estimator", "rbf-svm", probability=True, C=1.0)
    assert calibrated.model.named_steps["svc"].probability is True
    calibrated.fit(x, np.eye(10)[y])
    probabilities = calibrated.predict(xt[:10])
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-6)
    for params, error, match in [
        ({"probability": "deprecated"}, TypeError, "probability must be a bool"),
        ({"C": 0.0}, ValueError, "C must be"),
        ({"gamma": "wide"}, ValueError, "gamma must be 'scale', 'auto' or a positive float"),
    ]:
        with pytest.raises(error, match=match):
            registry.create("estimator", "rbf-svm", **params)
    with pytest.raises(ValueError, match="n_estimators"):
        registry.create("estimator", "random-forest", n_estimators=0)
    with pytest.raises(ValueError, match="clip_values"):
        registry.create("estimator", "linear-svm", clip_values=(1.0, 0.0))


def test_generation_split_over_workers_is_bit_identical(clean_cnn, digits):
    """A generation trained in chunks gives the same search whether the chunks run here or in
    worker processes (the chunking, not the workers, is part of the search's identity)."""
    x, y, _, _ = digits
    common = {
        "generations": 2,
        "population_size": 4,
        "proxy": TrainingSpec("linear", epochs=1),
        "reevaluations": 2,
        "seed": 5,
    }
    serial = registry.create("poisoning", "gradcam-pixel", clean_cnn, eval_chunks=2, **common).fit(x, y)
    workers = registry.create("poisoning", "gradcam-pixel", clean_cnn, eval_chunks=2, n_jobs=2, **common).fit(x, y)
    assert [g["fitness"] for g in serial.history_] == [g["fitness"] for g in workers.history_]
    assert serial.pixels() == workers.pixels() and serial.final_gaps_ == workers.final_gaps_
    whole = registry.create("poisoning", "gradcam-pixel", clean_cnn, **common).fit(x, y)
    # one population or two: the same candidates; fitness equal up to float rounding
    np.testing.assert_allclose(
        [g["fitness"] for g in whole.history_], [g["fitness"] for g in serial.history_], atol=0.02
    )
