"""Evaluation helpers: clean accuracy, accuracy under an attack given by registry name,
perturbation norms, and mean ± std over seeds."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from artx import registry
from artx.validation import check_images, check_int, check_labels

logger = logging.getLogger(__name__)


def predict_labels(classifier: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predicted class indices of an ART classifier."""
    check_images(x, "x", clip_values=getattr(classifier, "clip_values", None))
    check_int(batch_size, "batch_size", minimum=1)
    return np.argmax(classifier.predict(x, batch_size=batch_size), axis=1)


def first_correct(classifiers: Sequence[Any], x: np.ndarray, y: np.ndarray, n: int, block: int = 1000) -> np.ndarray:
    """Indices of the first ``n`` images (in order) that every classifier labels correctly (fewer
    when there are not enough). Predicts block by block and stops once ``n`` are found, so an
    attack set drawn from the start of a test set does not cost a pass over all of it."""
    check_labels(y, "y", n_samples=len(x))
    check_int(n, "n", minimum=0)
    check_int(block, "block", minimum=1)
    found: list[np.ndarray] = []
    count = 0
    for start in range(0, len(x), block):
        if count >= n:
            break
        correct = np.ones(min(block, len(x) - start), dtype=bool)
        for classifier in classifiers:
            correct &= predict_labels(classifier, x[start : start + block]) == y[start : start + block]
        found.append(start + np.flatnonzero(correct))
        count += int(correct.sum())
    return np.concatenate(found)[:n] if found else np.empty(0, dtype=np.int64)


@contextlib.contextmanager
def numpy_seed(seed: int | np.ndarray) -> Iterator[None]:
    """Seed numpy's global generator for a block and put the caller's state back afterwards: ART's PGD
    draws its random starts from it, so a run stays deterministic and leaves global state alone.

    :param seed: Anything ``np.random.seed`` takes (an int, or an array of uint32).
    """
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def reattack_misses(
    attack: Any, classifier: Any, x: np.ndarray, target: np.ndarray, hit: np.ndarray, limit: int | None = None
) -> np.ndarray:
    """Run a targeted ``attack`` (an ART evasion attack, typically the one that made ``hit`` at a
    larger budget) on the images ``hit`` marks as missed, the first ``limit`` of them (all when
    None), to measure how many of the misses that attack explains.

    :param attack: An ART evasion attack with ``generate(x, y=one_hot_targets)``.
    :param classifier: The ART classifier it attacks (its predictions decide a hit).
    :param x: Images, shape (n, ...).
    :param target: Target class per image, shape (n,).
    :param hit: Whether the first attack reached the target, bool of shape (n,).
    :param limit: At most this many misses attacked again (the first ones), or None.
    :return: Per image 1 (reached the target now), 0 (missed again) or -1 (not attacked again:
        hit before, or a miss past ``limit``).
    """
    check_labels(target, "target", n_samples=len(x), nb_classes=classifier.nb_classes)
    hit = np.asarray(hit)
    if hit.dtype != bool or hit.shape != (len(x),):
        raise ValueError(f"hit must be a bool array of shape ({len(x)},); got {hit.dtype} of shape {hit.shape}")
    if limit is not None:
        check_int(limit, "limit", minimum=0)
    missed = np.flatnonzero(~hit)[:limit]
    result = np.full(len(x), -1, dtype=np.int64)
    if missed.size:
        onehot = np.eye(classifier.nb_classes, dtype=np.float32)[target[missed]]
        x_again = attack.generate(x[missed], y=onehot).astype(np.float32)
        result[missed] = predict_labels(classifier, x_again) == target[missed]
    return result


def accuracy(classifier: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Fraction of ``x`` that ``classifier`` labels ``y`` (in [0, 1])."""
    check_labels(y, "y", n_samples=len(x))
    return float(np.mean(predict_labels(classifier, x, batch_size) == y))


@dataclasses.dataclass
class PerturbationNorms:
    """Per-image norms of ``x_adv - x`` (flattened over C, H, W)."""

    l0: np.ndarray  # number of changed values
    l2: np.ndarray
    linf: np.ndarray

    def summary(self, mask: np.ndarray | None = None) -> dict[str, float]:
        """Means of the three norms, over the images selected by ``mask`` (all by default)."""
        select = slice(None) if mask is None else mask
        if mask is not None and not np.any(mask):
            return {"l0": math.nan, "l2": math.nan, "linf": math.nan}
        return {name: float(np.mean(getattr(self, name)[select])) for name in ("l0", "l2", "linf")}


def perturbation_norms(x: np.ndarray, x_adv: np.ndarray, tolerance: float = 1e-6) -> PerturbationNorms:
    """L0 / L2 / L∞ norms of ``x_adv - x`` per image; L0 counts values changed by more than ``tolerance``."""
    if x.shape != x_adv.shape:
        raise ValueError(f"x_adv must have the shape of x {x.shape}; got {x_adv.shape}")
    delta = (x_adv.astype(np.float64) - x.astype(np.float64)).reshape(len(x), -1)
    return PerturbationNorms(
        l0=np.sum(np.abs(delta) > tolerance, axis=1).astype(np.int64),
        l2=np.linalg.norm(delta, axis=1),
        linf=np.max(np.abs(delta), axis=1),
    )


@dataclasses.dataclass
class AttackOutcome:
    """What an attack did to a batch of images."""

    attack: str
    params: dict
    clean_accuracy: float
    adversarial_accuracy: float
    success_rate: float  # among the images classified correctly before the attack, share misclassified after
    norms: PerturbationNorms
    mean_norms_successful: dict[str, float]  # mean L0/L2/L∞ over the images the attack fooled
    x_adv: np.ndarray
    seconds: float
    fooled: np.ndarray  # per image: classified correctly before the attack, misclassified after

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers (no arrays); norms are means over the successful attacks."""
        return {
            "attack": self.attack,
            "params": self.params,
            "clean_accuracy": self.clean_accuracy,
            "adversarial_accuracy": self.adversarial_accuracy,
            "success_rate": self.success_rate,
            "mean_norms_successful": self.mean_norms_successful,
        }


def evaluate_attack(
    classifier: Any,
    x: np.ndarray,
    y: np.ndarray,
    attack: str,
    attack_params: Mapping[str, Any] | None = None,
    *,
    attack_labels: np.ndarray | str | None = "true",
    batch_size: int = 256,
) -> AttackOutcome:
    """Run the evasion attack registered as ``attack`` and measure accuracy on its output.

    :param classifier: An ART classifier.
    :param x: Clean float32 images.
    :param y: True labels.
    :param attack: Registry name (kind ``evasion``), e.g. ``"fgsm"``, ``"cw-l2"``, ``"jsma"``.
    :param attack_params: Constructor parameters of the attack (``eps``, ``max_iter``, ...).
    :param attack_labels: Labels given to ``generate``: ``"true"`` (the true labels, which
        avoids label leaking in untargeted attacks), None (the attack uses the model's own
        predictions, or random targets for JSMA), or an array of target labels.
    """
    check_images(x, "x", clip_values=getattr(classifier, "clip_values", None))
    check_labels(y, "y", n_samples=len(x), nb_classes=getattr(classifier, "nb_classes", None))
    params = dict(attack_params or {})
    instance = registry.create("evasion", attack, classifier, **params)
    if isinstance(attack_labels, str):
        if attack_labels != "true":
            raise ValueError(f"attack_labels must be 'true', None or an array of labels; got {attack_labels!r}")
        generate_y = y
    else:
        generate_y = attack_labels
    if generate_y is not None:
        nb_classes = classifier.nb_classes
        generate_y = np.eye(nb_classes, dtype=np.float32)[
            check_labels(generate_y, "attack_labels", n_samples=len(x), nb_classes=nb_classes)
        ]
    started = time.perf_counter()
    x_adv = instance.generate(x, y=generate_y).astype(np.float32)
    seconds = time.perf_counter() - started
    clean_pred = predict_labels(classifier, x, batch_size)
    adv_pred = predict_labels(classifier, x_adv, batch_size)
    correct = clean_pred == y
    fooled = correct & (adv_pred != y)
    norms = perturbation_norms(x, x_adv)
    outcome = AttackOutcome(
        attack=attack,
        params=params,
        clean_accuracy=float(np.mean(correct)),
        adversarial_accuracy=float(np.mean(adv_pred == y)),
        success_rate=float(fooled.sum() / max(int(correct.sum()), 1)),
        norms=norms,
        mean_norms_successful=norms.summary(fooled),
        x_adv=x_adv,
        seconds=seconds,
        fooled=fooled,
    )
    logger.info(
        "%s %s: accuracy %.4f -> %.4f (%.1f s)",
        attack,
        params,
        outcome.clean_accuracy,
        outcome.adversarial_accuracy,
        seconds,
    )
    return outcome


@dataclasses.dataclass(frozen=True)
class MeanStd:
    """Mean and sample standard deviation of per-seed values (std 0 for a single value)."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def format(self, digits: int = 2, scale: float = 1.0) -> str:
        text = f"{self.mean * scale:.{digits}f}"
        return text + (f" ± {self.std * scale:.{digits}f}" if len(self.values) > 1 else "")


def over_seeds(function: Callable[[int], float], seeds: Iterable[int]) -> MeanStd:
    """Call ``function(seed)`` for each seed and collect the results as :class:`MeanStd`."""
    values = tuple(float(function(seed)) for seed in seeds)
    if not values:
        raise ValueError("seeds must hold at least one seed")
    return MeanStd(values)
