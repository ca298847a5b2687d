"""Pieces shared by the uncertainty / crop-vote detectors (``hybrid-uncertainty``,
``uncertainty-only``, ``crop-only``): the classifier check, the five-crop vote, the input
checks and the threshold searches. Not a plugin itself.

The detectors of Alshemali, Graham & Kalita (2019), "Toward Robust Image Classification"
(reproduced by Wang & Zhang): Bayesian uncertainty from Monte-Carlo dropout, and a
crop-and-resize vote.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torchvision.transforms.functional as TF
from art.defences.detector.evasion import EvasionDetector
from torchvision.transforms import InterpolationMode

from artx.mc_dropout import MCDropoutResult, max_uncertainty, mc_dropout_predict, require_dropout
from artx.validation import check_float, check_images_for, check_int, check_seed

logger = logging.getLogger(__name__)

#: Order of the crops (torchvision's ``five_crop`` order).
CROP_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right", "centre")


def check_classifier(classifier: Any, *, needs_dropout: bool) -> Any:
    """An ART PyTorch classifier (``.model`` a ``torch.nn.Module``), with dropout if required."""
    from art.estimators.classification import PyTorchClassifier

    if not isinstance(classifier, PyTorchClassifier):
        raise TypeError(f"classifier must be an ART PyTorchClassifier; got {type(classifier).__name__}")
    if needs_dropout:
        require_dropout(classifier.model, "classifier.model")
    return classifier


def crop_side(side: int, crop_fraction: float) -> int:
    """Side of each crop: ``round(crop_fraction × side)``, at least 1."""
    return max(1, int(round(crop_fraction * side)))


def five_crops(x: torch.Tensor, crop_fraction: float) -> torch.Tensor:
    """The five crops of each image, each resized back to the input size (bilinear, antialiased).

    :param x: ``(N, C, H, W)`` tensor.
    :return: ``(5, N, C, H, W)`` tensor in :data:`CROP_NAMES` order; differentiable.
    """
    height, width = x.shape[-2:]
    size = (crop_side(height, crop_fraction), crop_side(width, crop_fraction))
    crops = TF.five_crop(x, list(size))
    return torch.stack(
        [TF.resize(crop, [height, width], interpolation=InterpolationMode.BILINEAR, antialias=True) for crop in crops]
    )


def crop_agreement(
    classifier: Any, x: np.ndarray, labels: np.ndarray, crop_fraction: float, batch_size: int
) -> np.ndarray:
    """How many of the five resized crops the classifier's model (dropout off) puts in ``labels``.

    ``x`` is already preprocessed (:func:`preprocessed`): the crops go straight through the bare
    torch model in eval mode, batch by batch, without ART's per-call copies.
    """
    agreement = np.zeros(len(x), dtype=np.int64)
    if len(x) == 0:
        return agreement
    model = classifier.model
    device = classifier.device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(x), batch_size):
                batch = torch.from_numpy(x[start : start + batch_size]).to(device)
                crops = five_crops(batch, crop_fraction).reshape(-1, *batch.shape[1:])  # (5·B, C, H, W)
                # At most batch_size rows per forward: one 5·B-row batch was measured ~25% slower
                # per row on the CPU (lenet5-dropout, B = 512) than five B-row ones.
                predicted = torch.cat(
                    [model(crops[row : row + batch_size]).argmax(dim=1) for row in range(0, len(crops), batch_size)]
                )
                predicted = predicted.reshape(5, -1).cpu().numpy()
                agreement[start : start + batch_size] = (predicted == labels[start : start + batch_size][None]).sum(
                    axis=0
                )
    finally:
        model.train(was_training)
    return agreement


def preprocessed(classifier: Any, x: np.ndarray) -> np.ndarray:
    """``x`` after the classifier's own preprocessing (defences, normalisation), as predict sees it."""
    x_prep, _ = classifier._apply_preprocessing(x, y=None, fit=False)
    return np.asarray(x_prep, dtype=np.float32)


def check_is_adversarial(y: object, n_samples: int) -> np.ndarray:
    """``y`` of ``fit``: one is-adversarial flag per image (bool, or 0/1 ints), both kinds present."""
    if not isinstance(y, np.ndarray):
        raise TypeError(f"y must be a 1-D numpy array of is-adversarial flags (bool or 0/1); got {type(y).__name__}")
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(f"y must have shape ({n_samples},) (one flag per image); got shape {y.shape}")
    if y.dtype != np.bool_:
        if not np.issubdtype(y.dtype, np.integer) or not np.isin(y, (0, 1)).all():
            raise ValueError(
                f"y must hold is-adversarial flags (bool, or integers 0/1); got dtype {y.dtype} with values "
                f"{np.unique(y)[:5]}"
            )
        y = y.astype(bool)
    if y.all() or not y.any():
        raise ValueError(
            "y must contain both clean (0/False) and adversarial (1/True) examples to calibrate thresholds; got only "
            f"{'adversarial' if y.all() else 'clean'}"
        )
    return y


def threshold_candidates(scores: np.ndarray, extra: tuple[float, ...] = (), count: int = 257) -> np.ndarray:
    """Candidate thresholds: quantiles of the scores, ``extra`` values (the information-gain
    starting point, so the refined search can only improve on it) and ±inf (a rule switched off)."""
    quantiles = np.quantile(scores, np.linspace(0.0, 1.0, count))
    return np.unique(np.concatenate([[-np.inf], quantiles, list(extra), [np.inf]]))


def information_gain_splits(scores: np.ndarray, is_adversarial: np.ndarray, depth: int) -> list[float]:
    """Thresholds of a depth-``depth`` entropy decision tree on the single score, sorted.

    scikit-learn's tree picks, at each node, the split with the largest information gain; with
    one feature its thresholds are exactly the information-gain thresholds.
    """
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(criterion="entropy", max_depth=depth, random_state=0)
    tree.fit(scores.reshape(-1, 1), is_adversarial)
    internal = tree.tree_.children_left != tree.tree_.children_right
    return sorted(float(t) for t in tree.tree_.threshold[internal])


def best_single_threshold(scores: np.ndarray, is_adversarial: np.ndarray, start: float) -> tuple[float, float]:
    """Threshold T (adversarial iff score > T) with the best accuracy; ties go to the one closest to ``start``."""
    candidates = threshold_candidates(scores, (start,))
    order = np.sort(scores)
    adv_sorted = is_adversarial[np.argsort(scores, kind="stable")]
    clean_cum = np.concatenate([[0], np.cumsum(~adv_sorted)])
    adv_cum = np.concatenate([[0], np.cumsum(adv_sorted)])
    n_le = np.searchsorted(order, candidates, side="right")
    correct = clean_cum[n_le] + (adv_cum[-1] - adv_cum[n_le])
    best = np.flatnonzero(correct == correct.max())
    choice = best[np.argmin(np.abs(np.nan_to_num(candidates[best], posinf=1e9, neginf=-1e9) - start))]
    return float(candidates[choice]), float(correct[choice] / len(scores))


def best_band(
    scores: np.ndarray, is_adversarial: np.ndarray, band_correct: np.ndarray, start: tuple[float, float]
) -> tuple[float, float, float]:
    """(L, H) with the best detection accuracy of the hybrid rule; ties go to the pair closest to ``start``.

    Rule: score > H → adversarial, score < L → clean, L ≤ score ≤ H → the crop vote, whose
    per-image correctness is ``band_correct``. Exhaustive over quantile candidates, in
    O(K²) with prefix sums (K ≈ 260 candidates).
    """
    candidates = threshold_candidates(scores, start)
    order_index = np.argsort(scores, kind="stable")
    order = scores[order_index]
    adv = is_adversarial[order_index]
    band = band_correct[order_index]
    cum = lambda v: np.concatenate([[0], np.cumsum(v)])  # noqa: E731
    clean_cum, adv_cum, band_cum = cum(~adv), cum(adv), cum(band)
    n_lt = np.searchsorted(order, candidates, side="left")  # images with score < L
    n_le = np.searchsorted(order, candidates, side="right")  # images with score ≤ H
    low_correct = clean_cum[n_lt][:, None]
    high_correct = (adv_cum[-1] - adv_cum[n_le])[None, :]
    band_part = band_cum[n_le][None, :] - band_cum[n_lt][:, None]
    correct = (low_correct + high_correct + band_part).astype(np.float64)
    correct[candidates[:, None] > candidates[None, :]] = -1  # L ≤ H only
    best_l, best_h = np.nonzero(correct == correct.max())
    finite = np.nan_to_num(candidates, posinf=1e9, neginf=-1e9)
    distance = np.abs(finite[best_l] - start[0]) + np.abs(finite[best_h] - start[1])
    pick = int(np.argmin(distance))
    return (
        float(candidates[best_l[pick]]),
        float(candidates[best_h[pick]]),
        float(correct[best_l[pick], best_h[pick]] / len(scores)),
    )


def check_threshold(value: object, name: str, nb_classes: int) -> float:
    """An uncertainty threshold in [0, √(K − 1)/K], the range of the uncertainty: a larger one
    could never be crossed."""
    bound = max_uncertainty(nb_classes)
    value = check_float(value, name, minimum=0.0)
    if value > bound:
        raise ValueError(
            f"{name} must lie in [0, {bound:.4f}]: the MC-dropout uncertainty of a {nb_classes}-class model never "
            f"exceeds √(K − 1)/K = {bound:.4f}, so this threshold could never be crossed; got {value}"
        )
    return value


def clamp_threshold(value: float, nb_classes: int) -> float:
    """A calibrated threshold moved into [0, √(K − 1)/K] (±inf from the search mean "rule off")."""
    return float(min(max(value, 0.0), max_uncertainty(nb_classes)))


class UncertaintyDetectorBase(EvasionDetector):
    """Shared parameters and checks of the three detectors.

    :param classifier: ART ``PyTorchClassifier``.
    :param n_passes: Monte-Carlo dropout passes N (≥ 2).
    :param agreement: Crop vote: an image is clean iff at least ``agreement`` of its five crops
        agree with its provisional class (0–5).
    :param crop_fraction: Side of each crop as a fraction of the image side, in (0, 1].
    :param batch_size: Images per batch.
    :param seed: Seed of the dropout masks.
    """

    needs_dropout: bool = True
    defence_params = ["n_passes", "agreement", "crop_fraction", "batch_size", "seed"]

    def __init__(
        self,
        classifier: Any,
        n_passes: int = 50,
        agreement: int = 5,
        crop_fraction: float = 0.93,
        batch_size: int = 512,
        seed: int = 0,
    ):
        super().__init__()
        self.classifier = check_classifier(classifier, needs_dropout=self.needs_dropout)
        self.n_passes = n_passes
        self.agreement = agreement
        self.crop_fraction = crop_fraction
        self.batch_size = batch_size
        self.seed = seed
        # Not the virtual self._check_params(): a subclass has not set its own parameters yet
        # (ART's habit); each subclass checks everything at the end of its own __init__.
        UncertaintyDetectorBase._check_params(self)

    def _check_params(self) -> None:
        check_int(self.n_passes, "n_passes", minimum=2)
        check_int(self.agreement, "agreement", minimum=0, maximum=5)
        check_float(self.crop_fraction, "crop_fraction", minimum=0.0, maximum=1.0, min_inclusive=False)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_seed(self.seed, "seed")

    def _check_x(self, x: object) -> np.ndarray:
        return check_images_for(self.classifier, x)

    def _mc_dropout(self, x_preprocessed: np.ndarray) -> MCDropoutResult:
        return mc_dropout_predict(
            self.classifier.model,
            x_preprocessed,
            n_passes=self.n_passes,
            batch_size=self.batch_size,
            seed=self.seed,
            clip_values=None,
        )

    def _crop_agreement(self, x_preprocessed: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return crop_agreement(self.classifier, x_preprocessed, labels, self.crop_fraction, self.batch_size)
