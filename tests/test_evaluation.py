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


class _ReadsPixel:
    """A classifier that predicts the class written (× 0.1) in an image's first pixel."""

    clip_values = (0.0, 1.0)
    nb_classes = 4

    def predict(self, x, batch_size=256):
        return np.eye(4, dtype=np.float32)[np.rint(x[:, 0, 0, 0] * 10).astype(int)]


class _WritesTarget:
    """An attack that reaches the target only for images whose second pixel is 1 (records what it saw)."""

    def __init__(self):
        self.seen = None

    def generate(self, x, y):
        self.seen = x.copy()
        out = x.copy()
        reach = x[:, 0, 0, 1] == 1.0
        out[reach, 0, 0, 0] = np.argmax(y[reach], axis=1) / 10
        return out


def test_reattack_misses_attacks_only_the_misses_up_to_limit():
    from artx.evaluation import reattack_misses

    x = np.zeros((5, 1, 2, 2), dtype=np.float32)
    x[[1, 3], 0, 0, 1] = 1.0  # the attack can reach the target on images 1 and 3 only
    target = np.array([2, 3, 1, 2, 3])
    hit = np.array([True, False, False, False, True])
    attack = _WritesTarget()
    np.testing.assert_array_equal(reattack_misses(attack, _ReadsPixel(), x, target, hit), [-1, 1, 0, 1, -1])
    np.testing.assert_array_equal(attack.seen, x[[1, 2, 3]])  # the misses only
    np.testing.assert_array_equal(reattack_misses(attack, _ReadsPixel(), x, target, hit, limit=2), [-1, 1, 0, -1, -1])
    assert reattack_misses(attack, _ReadsPixel(), x, target, np.ones(5, bool)).tolist() == [-1] * 5


@pytest.mark.parametrize(
    "hit, target, limit, error, message",
    [
        (np.zeros(4, bool), np.zeros(5, np.int64), None, ValueError, r"hit must be a bool array of shape \(5,\)"),
        (np.zeros(5, np.int64), np.zeros(5, np.int64), None, ValueError, "hit must be a bool array"),
        (np.zeros(5, bool), np.full(5, 4), None, ValueError, "target"),
        (np.zeros(5, bool), np.zeros(5, np.float32), None, TypeError, "target"),
        (np.zeros(5, bool), np.zeros(5, np.int64), -1, ValueError, "limit"),
    ],
)
def test_reattack_misses_refuses_bad_arguments(hit, target, limit, error, message):
    from artx.evaluation import reattack_misses

    x = np.zeros((5, 1, 2, 2), dtype=np.float32)
    with pytest.raises(error, match=message):
        reattack_misses(_WritesTarget(), _ReadsPixel(), x, target, hit, limit=limit)


def test_numpy_seed_is_deterministic_and_restores_the_callers_state():
    from artx.evaluation import numpy_seed

    np.random.seed(123)
    with numpy_seed(7):
        first = np.random.rand(3)
    after = np.random.rand(3)
    with numpy_seed(7):
        second = np.random.rand(3)
    np.random.seed(123)
    assert np.array_equal(first, second)
    assert np.array_equal(after, np.random.rand(3))  # the caller's stream went on as if untouched
