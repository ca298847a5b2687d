import numpy as np
import pytest

from artx import registry
from artx.evaluation import MeanStd, accuracy, evaluate_attack, over_seeds, perturbation_norms


def test_perturbation_norms_known_values():
    x = np.zeros((2, 1, 2, 2), dtype=np.float32)
    x_adv = x.copy()
    x_adv[0, 0, 0, 0] = 0.3
    x_adv[0, 0, 1, 1] = -0.4
    norms = perturbation_norms(x, x_adv)
    assert norms.l0.tolist() == [2, 0]
    assert norms.l2 == pytest.approx([0.5, 0.0])
    assert norms.linf == pytest.approx([0.4, 0.0])
    assert norms.summary(np.array([True, False]))["l2"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shape"):
        perturbation_norms(x, x_adv[:1])


def test_mean_std_and_seed_loop():
    stats = over_seeds(lambda seed: seed * 2.0, [1, 2, 3])
    assert stats.values == (2.0, 4.0, 6.0)
    assert stats.mean == pytest.approx(4.0) and stats.std == pytest.approx(2.0)
    assert stats.format(1) == "4.0 ± 2.0"
    assert MeanStd((0.5,)).format(1, scale=100) == "50.0"
    with pytest.raises(ValueError):
        over_seeds(lambda seed: 1.0, [])


def test_fgsm_by_name_lowers_accuracy(trained_lenet, mnist_small):
    _, _, x, y = mnist_small
    clean = accuracy(trained_lenet, x, y)
    zero = evaluate_attack(trained_lenet, x, y, "fgsm", {"eps": 0.0})
    strong = evaluate_attack(trained_lenet, x, y, "fgsm", {"eps": 0.3})
    assert clean > 0.8
    assert zero.adversarial_accuracy == pytest.approx(clean)
    assert zero.success_rate == 0.0
    assert strong.adversarial_accuracy < clean - 0.3
    assert strong.success_rate > 0.3
    assert strong.norms.linf.max() == pytest.approx(0.3, abs=1e-5)
    assert strong.summary()["mean_norms_successful"]["linf"] == pytest.approx(0.3, abs=1e-5)


def test_targeted_labels_and_bad_arguments(trained_lenet, mnist_small):
    _, _, x, y = mnist_small
    with pytest.raises(registry.PluginNotFoundError, match="fgsm"):
        evaluate_attack(trained_lenet, x, y, "fgsn")
    with pytest.raises(ValueError, match="attack_labels"):
        evaluate_attack(trained_lenet, x, y, "fgsm", attack_labels="false")
    with pytest.raises(ValueError, match="one label per image"):
        evaluate_attack(trained_lenet, x, y[:-1], "fgsm")
    with pytest.raises(TypeError, match="float32"):
        accuracy(trained_lenet, x.astype(np.float64), y)
    targets = (y + 1) % 10
    outcome = evaluate_attack(
        trained_lenet, x[:20], y[:20], "fgsm", {"eps": 0.3, "targeted": True}, attack_labels=targets[:20]
    )
    assert outcome.adversarial_accuracy < accuracy(trained_lenet, x[:20], y[:20])


def test_first_correct_matches_a_full_pass_and_stops_early():
    from artx.evaluation import first_correct

    class Fixed:  # a classifier whose predictions are given per image (through predict's one-hot output)
        clip_values = (0.0, 1.0)

        def __init__(self, labels):
            self.labels = labels
            self.seen = 0

        def predict(self, x, batch_size=256):
            index = np.rint(x[:, 0, 0, 0] * 1000).astype(int)
            self.seen += len(x)
            return np.eye(3, dtype=np.float32)[self.labels[index]]

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=1000)
    x = np.zeros((1000, 1, 2, 2), dtype=np.float32)
    x[:, 0, 0, 0] = np.arange(1000) / 1000
    a = Fixed(np.where(rng.random(1000) < 0.8, y, (y + 1) % 3))
    b = Fixed(np.where(rng.random(1000) < 0.9, y, (y + 2) % 3))
    full = np.flatnonzero((a.labels == y) & (b.labels == y))
    a.seen = b.seen = 0
    np.testing.assert_array_equal(first_correct([a, b], x, y, 50, block=100), full[:50])
    assert a.seen == b.seen < 1000  # stopped once 50 were found
    np.testing.assert_array_equal(first_correct([a, b], x, y, 5000, block=64), full)  # fewer than asked: all of them
