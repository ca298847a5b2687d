"""The uncertainty / crop-vote detector plugins and the two attacks that go with them
(``bim-early-stop``, ``detector-aware-pgd``): registration, the decision rules, calibration,
determinism and bad input."""

import numpy as np
import pytest
import torch
from art.defences.detector.evasion import EvasionDetector

from artx import registry
from artx.models import build_model, to_art_classifier
from artx.training import TrainingSpec, train

DETECTORS = ("hybrid-uncertainty", "uncertainty-only", "crop-only")


@pytest.fixture(scope="module")
def dropout_classifier(mnist_small):
    x_train, y_train, _, _ = mnist_small
    model = build_model("lenet5-dropout", seed=0)
    train(model, x_train, y_train, TrainingSpec("model", epochs=8), seed=0, progress=False)
    return to_art_classifier(model)


@pytest.fixture(scope="module")
def calibration_mix(dropout_classifier, mnist_small):
    """60 clean test images and FGSM (ε = 0.3) versions of 60 others."""
    _, _, x_test, y_test = mnist_small
    fgsm = registry.create("evasion", "fgsm", dropout_classifier, eps=0.3)
    x_adv = fgsm.generate(x_test[60:120], y=np.eye(10, dtype=np.float32)[y_test[60:120]])
    x = np.concatenate([x_test[:60], x_adv])
    return x, np.r_[np.zeros(60, bool), np.ones(60, bool)], np.concatenate([y_test[:60], y_test[60:120]])


@pytest.mark.parametrize("name", DETECTORS)
def test_detectors_are_registered_evasion_detectors(name, dropout_classifier):
    detector = registry.create("detector", name, dropout_classifier, batch_size=64)
    assert isinstance(detector, EvasionDetector)
    assert set(detector.get_params()) == set(detector.defence_params)


def test_hybrid_fit_calibrates_and_detect_follows_the_rule(dropout_classifier, calibration_mix):
    x, is_adversarial, _ = calibration_mix
    detector = registry.create("detector", "hybrid-uncertainty", dropout_classifier, n_passes=20)
    detector.fit(x, is_adversarial)
    calibration = detector.calibration
    assert 0 <= detector.low <= detector.high
    assert calibration["refined"]["accuracy"] >= calibration["information_gain"]["accuracy"]
    report, flagged = detector.detect(x)
    assert flagged.dtype == bool and flagged.shape == (len(x),)
    assert np.mean(flagged == is_adversarial) == pytest.approx(calibration["refined"]["accuracy"])
    uncertainty, band, agreement = report["uncertainty"], report["band"], report["crop_agreement"]
    np.testing.assert_array_equal(band == "adversarial", uncertainty > detector.high)
    np.testing.assert_array_equal(band == "clean", uncertainty < detector.low)
    np.testing.assert_array_equal(agreement >= 0, band == "uncertain")
    np.testing.assert_array_equal(
        flagged, (band == "adversarial") | ((band == "uncertain") & (agreement < detector.agreement))
    )
    again, flagged_again = detector.detect(x)
    np.testing.assert_array_equal(again["uncertainty"], uncertainty)  # seeded dropout masks
    np.testing.assert_array_equal(flagged_again, flagged)


@pytest.mark.parametrize("agreement", [0, 3, 5])
def test_crop_vote_is_at_least_c_of_five(dropout_classifier, calibration_mix, agreement):
    x, _, _ = calibration_mix
    # Thresholds that put every image in the uncertain band: the verdict is the crop vote alone.
    detector = registry.create(
        "detector", "hybrid-uncertainty", dropout_classifier, n_passes=4, low=0.0, high=0.3, agreement=agreement
    )
    report, flagged = detector.detect(x)
    assert (report["band"] == "uncertain").all() and report["crop_agreement"].min() >= 0
    np.testing.assert_array_equal(flagged, report["crop_agreement"] < agreement)
    if agreement == 0:
        assert not flagged.any()


def test_full_size_crops_always_agree(dropout_classifier, calibration_mix):
    x, _, _ = calibration_mix
    detector = registry.create("detector", "crop-only", dropout_classifier, crop_fraction=1.0, agreement=5)
    report, flagged = detector.detect(x)
    assert (report["crop_agreement"] == 5).all() and not flagged.any()


def test_uncertainty_only_and_crop_only(dropout_classifier, calibration_mix, trained_lenet):
    x, is_adversarial, _ = calibration_mix
    detector = registry.create("detector", "uncertainty-only", dropout_classifier, n_passes=20)
    detector.fit(x, is_adversarial)
    report, flagged = detector.detect(x)
    np.testing.assert_array_equal(flagged, report["uncertainty"] > detector.threshold)
    assert detector.calibration["refined"]["accuracy"] >= detector.calibration["information_gain"]["accuracy"]
    assert np.mean(flagged == is_adversarial) > 0.6  # FGSM raises the uncertainty of this model
    # crop-only needs no dropout: the plain LeNet-5 works.
    crop = registry.create("detector", "crop-only", trained_lenet)
    crop.fit(x, is_adversarial)
    report, flagged = crop.detect(x)
    np.testing.assert_array_equal(flagged, report["crop_agreement"] < crop.agreement)
    np.testing.assert_array_equal(report["provisional_label"], trained_lenet.predict(x).argmax(1))


def test_threshold_searches_on_synthetic_scores():
    from artx_plugins._detection import best_band, best_single_threshold, information_gain_splits

    rng = np.random.default_rng(0)
    scores = np.r_[rng.uniform(0, 1, 200), rng.uniform(2, 3, 200)]
    is_adversarial = np.r_[np.zeros(200, bool), np.ones(200, bool)]
    (split,) = information_gain_splits(scores, is_adversarial, depth=1)
    assert 1 < split < 2
    threshold, accuracy = best_single_threshold(scores, is_adversarial, split)
    assert accuracy == 1.0 and 1 <= threshold < 2
    # Overlapping scores where a perfect vote settles the middle: the best band covers the overlap.
    scores = np.r_[rng.uniform(0, 2, 200), rng.uniform(1, 3, 200)]
    band_correct = (scores >= 1) & (scores <= 2)
    low, high, accuracy = best_band(scores, is_adversarial, band_correct, (1.0, 2.0))
    assert accuracy == 1.0 and low <= 1.0 + 0.02 and high >= 2.0 - 0.02


def test_detector_bad_input(dropout_classifier, trained_lenet, calibration_mix):
    x, is_adversarial, _ = calibration_mix
    create = lambda name, **kw: registry.create("detector", name, dropout_classifier, **kw)  # noqa: E731
    with pytest.raises(ValueError, match="dropout"):
        registry.create("detector", "hybrid-uncertainty", trained_lenet)
    with pytest.raises(ValueError, match="dropout"):
        registry.create("detector", "uncertainty-only", trained_lenet)
    with pytest.raises(TypeError, match="PyTorchClassifier"):
        registry.create("detector", "hybrid-uncertainty", dropout_classifier.model)
    with pytest.raises(ValueError, match="low must not exceed high"):
        create("hybrid-uncertainty", low=0.2, high=0.1)
    with pytest.raises(ValueError, match="given together"):
        create("hybrid-uncertainty", low=0.2)
    for bad in (-1, 6):
        with pytest.raises(ValueError, match="agreement"):
            create("hybrid-uncertainty", agreement=bad)
    with pytest.raises(ValueError, match="n_passes"):
        create("hybrid-uncertainty", n_passes=1)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="crop_fraction"):
            create("crop-only", crop_fraction=bad)
    with pytest.raises(
        registry.PluginNotFoundError,
        match="unknown detector plugin 'hybrid-uncertainty-typo'. Did you mean 'hybrid-uncertainty'",
    ):
        registry.create("detector", "hybrid-uncertainty-typo", dropout_classifier)
    detector = create("hybrid-uncertainty", n_passes=4)
    with pytest.raises(ValueError, match="call fit"):
        detector.detect(x)
    with pytest.raises(ValueError, match="both clean"):
        detector.fit(x, np.zeros(len(x), bool))
    with pytest.raises(ValueError, match="is-adversarial"):
        detector.fit(x, np.full(len(x), 0.5))
    with pytest.raises(ValueError, match="shape"):
        detector.fit(x, is_adversarial[:-1])
    detector = create("hybrid-uncertainty", n_passes=4, low=0.01, high=0.1)
    with pytest.raises(TypeError, match="float32"):
        detector.detect(x.astype(np.float64))
    with pytest.raises(ValueError, match="spatial size"):
        detector.detect(x[:, :, :27, :])
    with pytest.raises(ValueError, match="4-D"):
        detector.detect(x[0])
    bad = x.copy()
    bad[0, 0, 5, 5] = np.inf
    with pytest.raises(ValueError, match="finite"):
        detector.detect(bad)
    with pytest.raises(ValueError, match=r"pixels must lie in"):
        detector.detect(x * 2 - 0.5)


def test_bim_early_stop_stops_at_first_success(dropout_classifier, mnist_small):
    _, _, x_test, y_test = mnist_small
    x, y = x_test[:40], y_test[:40]
    one_hot = np.eye(10, dtype=np.float32)[y]
    early = registry.create(
        "evasion", "bim-early-stop", dropout_classifier, eps=0.3, eps_step=0.02, max_iter=40
    ).generate(x, y=one_hot)
    full = registry.create(
        "evasion", "bim", dropout_classifier, eps=0.3, eps_step=0.02, max_iter=40, verbose=False
    ).generate(x, y=one_hot)
    assert np.abs(early - x).max() <= 0.3 + 1e-6 and early.min() >= 0 and early.max() <= 1
    predicted = dropout_classifier.predict(early).argmax(1)
    assert np.mean(predicted != y) > 0.9
    # Stopping early leaves smaller perturbations and less confident predictions than all 40 steps.
    assert np.abs(early - x).sum() < np.abs(full - x).sum()
    confidence = lambda z: torch.softmax(torch.from_numpy(dropout_classifier.predict(z)), 1).max(1).values.mean().item()  # noqa: E731
    assert confidence(early) < confidence(full)
    with pytest.raises(ValueError, match="eps_step"):
        registry.create("evasion", "bim-early-stop", dropout_classifier, eps_step=0.0)
    with pytest.raises(ValueError, match="targeted=True"):
        registry.create("evasion", "bim-early-stop", dropout_classifier, targeted=True).generate(x)


def test_detector_aware_pgd_stays_in_budget_and_lowers_uncertainty(dropout_classifier, mnist_small):
    from artx.mc_dropout import mc_dropout_predict

    _, _, x_test, _ = mnist_small
    x = x_test[:16]
    params = dict(eps=0.2, eps_step=0.02, max_iter=15, n_samples=4, seed=0)
    plain = registry.create(
        "evasion", "detector-aware-pgd", dropout_classifier, uncertainty_weight=0.0, crop_weight=0.0, **params
    ).generate(x)
    adaptive = registry.create(
        "evasion", "detector-aware-pgd", dropout_classifier, uncertainty_weight=50.0, **params
    ).generate(x)
    for x_adv in (plain, adaptive):
        assert np.abs(x_adv - x).max() <= 0.2 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    again = registry.create(
        "evasion", "detector-aware-pgd", dropout_classifier, uncertainty_weight=50.0, **params
    ).generate(x)
    np.testing.assert_array_equal(again, adaptive)
    model = dropout_classifier.model
    u_plain = mc_dropout_predict(model, plain, n_passes=30).uncertainty.mean()
    u_adaptive = mc_dropout_predict(model, adaptive, n_passes=30).uncertainty.mean()
    assert u_adaptive < u_plain
    assert not model.training  # mode restored after the attack
    with pytest.raises(ValueError, match="dropout"):
        registry.create("evasion", "detector-aware-pgd", to_art_classifier(build_model("lenet5", seed=0)))
    with pytest.raises(ValueError, match="n_samples"):
        registry.create("evasion", "detector-aware-pgd", dropout_classifier, n_samples=1)
