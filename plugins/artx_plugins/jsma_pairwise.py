"""``jsma-z`` / ``jsma-f``: Papernot et al.'s JSMA with the pairwise saliency map, batched in torch.

Papernot, McDaniel, Jha, Fredrikson, Celik, Swami (2016), "The Limitations of Deep Learning in
Adversarial Settings" (Algorithms 2 and 3); the variant names follow Carlini & Wagner (2017):
JSMA-Z takes the derivatives of the logits Z, JSMA-F those of the softmax output F.

At each step and for each image, with t the target class, the search scores every pair (p, q)
of features still in the search domain Γ by

    α = Σ_{i∈{p,q}} ∂Z_t/∂x_i,     β = Σ_{i∈{p,q}} Σ_{j≠t} ∂Z_j/∂x_i

(F instead of Z for JSMA-F). The increasing search (θ > 0) admits the pairs with α > 0 and
β < 0 and picks the one maximising α·|β|; the decreasing search (θ < 0) admits α < 0, β > 0 and
maximises |α|·β. Both features of the chosen pair move by θ, are clipped to the estimator's
``clip_values`` and leave Γ (each feature is modified at most once). Γ starts as every feature
not already at the bound the search moves towards (θ > 0: below ``clip_max``; θ < 0: above
``clip_min``); without ``clip_values`` it starts as every feature and nothing is clipped.

ART's ``SaliencyMapMethod`` (artx's ``jsma``) differs: it picks the two features with the largest
target-class gradient alone (no β, no pair score) and keeps a feature in the domain until it
reaches the bound.

Stopping rule, per image (checked before every step): the model predicts the target (targeted)
or no longer predicts the true class (untargeted); or ⌊γ·n/2⌋ steps have been made (n features,
two per step: at most γ·n features are modified, as in the paper's ``max_iter`` and cleverhans'
``jsma_symbolic``); or fewer than two features are left in Γ; or no pair is admissible (the
paper leaves this case open; cleverhans then modifies an arbitrary pair, we stop).

Untargeted (``targeted=False``, our choice: the paper only defines the targeted attack): ``y``
holds the true labels (None: the model's predictions); the true class plays the role of t with
the sign conditions swapped (θ > 0 admits α < 0, β > 0 and maximises |α|·β: features that lower
the true class and raise the others), and an image stops as soon as it is misclassified.

Computation: α and β per feature are two vector-Jacobian products of the batch (cotangents
``one_hot(t)`` and ``1 − one_hot(t)``) instead of the full K-row Jacobian (they are exactly the
two row sums the pair score needs; for JSMA-F, β is computed as the paper defines it, although
Σ_j F_j = 1 makes it −α). The pair search (:func:`best_pairs`) returns exactly the pair that
scoring all n² pairs would, ties going to the smallest first feature index, then the smallest
second; instead of (B, n, n) tensors it scores the features that a bound and a dominance
argument leave (typically a few hundred rows against a few dozen partners per image). Only
images still running are forwarded.

Estimator: ART's ``PyTorchClassifier``; its bare module (``estimator.model``, assumed to return
logits, as with ART's cross-entropy loss) runs in eval mode, its modes restored afterwards. The
classifier's preprocessing (standardisation and ``PreprocessorPyTorch`` defences that apply at
predict time) is applied differentiably, as ART's ``class_gradient`` does; a numpy preprocessing
defence that applies at predict time is refused (ValueError), since the saliency map would
ignore it. Postprocessing defences are not applied (they only change ``predict``'s output).
Computations run in the model's parameter dtype on ``estimator.device``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
from art.attacks.attack import EvasionAttack
from art.defences.preprocessor.preprocessor import PreprocessorPyTorch
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import tqdm

from artx.validation import check_bool, check_choice, check_float, check_images_for, check_int, class_indices

logger = logging.getLogger(__name__)

#: Largest number of pair scores held at once (elements of a (B, rows, partners) block):
#: 2**20 float32 values are 4 MiB, close to the CPU caches.
_PAIR_BLOCK = 2**20
#: Features per image whose pairs give the first incumbent of the pruned search.
_TOP_CANDIDATES = 32
#: Why an image stopped (counts logged per ``generate``): the model predicts the target
#: (untargeted: not the true class) before a step; the step budget ⌊γ·n/2⌋ is used up; no
#: admissible pair; fewer than two features left in the domain. The last two are not checked
#: for success after their final step: measure success on the output.
_STOPS = ("reached", "steps", "no pair", "domain")


def best_pairs(
    alpha: torch.Tensor, beta: torch.Tensor, domain: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The admissible pair maximising α·|β| per row, for the increasing orientation; exact.

    The caller orients the sums (multiplies α and β by −1 for the decreasing search) so that a
    pair (p, q), p ≠ q, both in the domain, is admissible iff a_p + a_q > 0 and b_p + b_q < 0;
    its score is (a_p + a_q)·|b_p + b_q|. Computed in the negative form
    s(p, q) = max(a_p + a_q, 0)·min(b_p + b_q, 0) ≤ 0, admissible iff s < 0, best = smallest s
    (a product that underflows to 0 counts as inadmissible); ties go to the smallest p, then q.

    The result is that of scoring all n² pairs, computed without doing so (all arguments hold
    after rounding, since floating-point sums and products are monotone):

    1. Bound: L(p) = max(a_p + max_Γ a, 0)·min(b_p + min_Γ b, 0) ≤ s(p, q) for every q. The
       best pair among the ``_TOP_CANDIDATES`` features of smallest L is an incumbent v; only
       the features with L ≤ v, L < 0 ("rows") can belong to a pair at least as good.
    2. Partners: if a_r ≥ a_q and b_r ≤ b_q then s(p, r) ≤ s(p, q). A feature with two such
       dominators can be replaced by one of them (one differs from p), so the best partner of
       any p is found among the features with fewer than two dominators (the first two Pareto
       layers in (max a, min b), a few dozen in practice), restricted to the rows (L is
       monotone under dominance).
    3. R(p) = best s(p, r) over those partners, for every row p; v* = min R is the optimum and
       the features with R(p) = v* are exactly those in optimal pairs (usually two).
    4. Those features' pairs are scored in feature order: the first minimum is the answer.

    :param alpha: (B, n) oriented per-feature target sums ∂Z_t/∂x_i.
    :param beta: (B, n) oriented per-feature sums over the other classes.
    :param domain: (B, n) bool, the search domain Γ.
    :return: ``(p, q, found)``: (B,) int64 feature indices with p < q, and (B,) bool, False
        where no pair is admissible (p, q are then 0).
    """
    rows, n = alpha.shape
    device = alpha.device
    p = torch.zeros(rows, dtype=torch.long, device=device)
    q = torch.zeros_like(p)
    found = torch.zeros(rows, dtype=torch.bool, device=device)
    if rows == 0 or n < 2:
        return p, q, found
    inf = torch.tensor(float("inf"), dtype=alpha.dtype, device=device)
    # Outside Γ: a = −inf, b = +inf, so every pair with such a feature scores 0 (inadmissible).
    a = torch.where(domain, alpha, -inf)
    b = torch.where(domain, beta, inf)

    # 1. Bound and incumbent.
    a_max, b_min = a.max(dim=1, keepdim=True).values, b.min(dim=1, keepdim=True).values
    bound = (a + a_max).clamp_(min=0) * (b + b_min).clamp_(max=0)
    top = bound.topk(min(_TOP_CANDIDATES, n), dim=1, largest=False).indices
    incumbent = _pair_scores(a.gather(1, top), b.gather(1, top), top, top).flatten(1).min(dim=1).values
    candidate_rows = (bound <= incumbent[:, None]) & (bound < 0)

    # 2. Features with fewer than two dominators: in order of decreasing a, b must be below the
    # second smallest b before it (prefix second minimum = cummin of max(b_j, min of b before j)).
    order = torch.argsort(a, dim=1, descending=True, stable=True)
    b_sorted = b.gather(1, order)
    first_before = _shift(torch.cummin(b_sorted, dim=1).values, inf)
    second_before = _shift(torch.cummin(torch.maximum(b_sorted, first_before), dim=1).values, inf)
    pareto = torch.zeros_like(domain).scatter_(1, order, second_before > b_sorted)
    partners = candidate_rows & pareto

    # 3. Best partner of every candidate row.
    row_index, row_valid = _compact(candidate_rows)
    partner_index, partner_valid = _compact(partners)
    best_row = torch.empty(row_index.shape, dtype=alpha.dtype, device=device)
    a_rows, b_rows = _masked(a, b, row_index, row_valid, inf)
    a_partners, b_partners = _masked(a, b, partner_index, partner_valid, inf)
    step = max(1, _PAIR_BLOCK // max(1, row_index.shape[1] * partner_index.shape[1]))
    for start in range(0, rows, step):
        block = slice(start, start + step)
        scores = _pair_scores(
            a_rows[block], b_rows[block], row_index[block], partner_index[block], a_partners[block], b_partners[block]
        )
        best_row[block] = scores.min(dim=2).values if scores.shape[2] else 0
    optimum = best_row.min(dim=1).values if best_row.shape[1] else torch.zeros(rows, dtype=alpha.dtype, device=device)
    found = optimum < 0
    in_optimal_pair = torch.zeros_like(domain).scatter_(
        1, row_index, (best_row == optimum[:, None]) & row_valid & found[:, None]
    )

    # 4. Exact tie-break among the features of optimal pairs (in feature order).
    index, valid = _compact(in_optimal_pair)
    if index.shape[1] >= 2:
        a_best, b_best = _masked(a, b, index, valid, inf)
        scores = _pair_scores(a_best, b_best, index, index).flatten(1)
        flat = scores.argmin(dim=1)
        width = index.shape[1]
        p = index.gather(1, (flat // width)[:, None])[:, 0]
        q = index.gather(1, (flat % width)[:, None])[:, 0]
    p, q = torch.where(found, p, 0), torch.where(found, q, 0)
    return p, q, found


def _pair_scores(
    a_rows: torch.Tensor,
    b_rows: torch.Tensor,
    row_index: torch.Tensor,
    column_index: torch.Tensor,
    a_columns: torch.Tensor | None = None,
    b_columns: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, r, c) scores max(a_p + a_q, 0)·min(b_p + b_q, 0); 0 where p and q are the same feature."""
    a_columns = a_rows if a_columns is None else a_columns
    b_columns = b_rows if b_columns is None else b_columns
    scores = (a_rows[:, :, None] + a_columns[:, None, :]).clamp_(min=0)
    scores.mul_((b_rows[:, :, None] + b_columns[:, None, :]).clamp_(max=0))
    return scores.masked_fill_(row_index[:, :, None] == column_index[:, None, :], 0)


def _shift(values: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """values[:, j − 1] at column j, ``fill`` at column 0 (an exclusive prefix)."""
    return torch.cat([fill.expand(len(values), 1), values[:, :-1]], dim=1)


def _compact(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the indices of the True entries in increasing order, padded to the longest row.

    :return: ``(index, valid)``, both (B, m); padding has ``valid`` False (and an arbitrary index).
    """
    width = int(mask.sum(dim=1).max()) if len(mask) else 0
    index = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :width]
    return index, mask.gather(1, index)


def _masked(
    a: torch.Tensor, b: torch.Tensor, index: torch.Tensor, valid: torch.Tensor, inf: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """a and b gathered at ``index``, padding set to (−inf, +inf) so that its pairs score 0."""
    return torch.where(valid, a.gather(1, index), -inf), torch.where(valid, b.gather(1, index), inf)


class PairwiseJSMA(EvasionAttack):
    """Papernot et al.'s pairwise JSMA, α/β pair scores on logits or softmax (ART's `jsma` scores single features).

    :param classifier: ART ``PyTorchClassifier`` (its module must return logits).
    :param variant: ``"z"`` (derivatives of the logits, JSMA-Z) or ``"f"`` (of the softmax, JSMA-F).
    :param theta: Change of each chosen feature (then clipped to ``clip_values``); its sign picks
        the increasing (> 0) or decreasing (< 0) search. +1 on [0, 1] images sets features to 1.
    :param gamma: Largest share of the features that may be modified, in (0, 1]: at most
        ⌊γ·n/2⌋ pair steps.
    :param targeted: True: ``y`` holds target classes (required). False: ``y`` holds true labels
        (None: the model's predictions) and the search moves away from the true class.
    :param batch_size: Images attacked together.
    :param verbose: Show a progress bar over batches.
    """

    attack_params = EvasionAttack.attack_params + ["variant", "theta", "gamma", "targeted", "batch_size", "verbose"]
    _estimator_requirements = (PyTorchClassifier,)

    def __init__(
        self,
        classifier: PyTorchClassifier,
        variant: str = "z",
        theta: float = 1.0,
        gamma: float = 1.0,
        targeted: bool = True,
        batch_size: int = 128,
        verbose: bool = False,
    ):
        super().__init__(estimator=classifier)
        self.variant = variant
        self.theta = theta
        self.gamma = gamma
        self._targeted = targeted
        self.batch_size = batch_size
        self.verbose = verbose
        self._check_params()

    def _check_params(self) -> None:
        check_choice(self.variant, "variant", ("z", "f"))
        check_float(self.theta, "theta")
        if self.theta == 0:
            raise ValueError(
                "theta must be a non-zero real number (its sign picks the increasing or decreasing search); got 0"
            )
        check_float(self.gamma, "gamma", minimum=0.0, maximum=1.0, min_inclusive=False)
        check_bool(self.targeted, "targeted")
        check_int(self.batch_size, "batch_size", minimum=1)
        check_bool(self.verbose, "verbose")

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Craft adversarial examples.

        :param x: Float32 NCHW images inside the classifier's ``clip_values``.
        :param y: Targeted: target classes (indices (N,), (N, 1) or one-hot), required.
            Untargeted: true labels, or None for the model's predictions.
        :return: Float32 adversarial images, same shape as ``x``.
        """
        x = check_images_for(self.estimator, x)
        self._check_preprocessing()
        nb_classes = self.estimator.nb_classes
        if y is None and self.targeted:
            raise ValueError("y (target classes, indices or one-hot) is required when targeted=True")
        model = self.estimator.model
        modes = {module: module.training for module in model.modules()}
        model.eval()
        try:
            if y is None:
                labels = self._predict(x)
            else:
                labels = class_indices(y, "y", nb_classes=nb_classes, n_samples=len(x))
            out = np.empty_like(x)
            stops = np.zeros(len(_STOPS), dtype=np.int64)
            starts = range(0, len(x), self.batch_size)
            for start in tqdm(starts, desc=f"JSMA-{self.variant.upper()}", disable=not self.verbose):
                batch = slice(start, start + self.batch_size)
                out[batch], batch_stops = self._attack_batch(x[batch], labels[batch])
                stops += batch_stops
        finally:
            for module, mode in modes.items():
                module.train(mode)
        logger.info(
            "JSMA-%s on %d images, stopped by (reached: before a step): %s",
            self.variant.upper(),
            len(x),
            ", ".join(f"{why} {count}" for why, count in zip(_STOPS, stops)),
        )
        return out

    def _check_preprocessing(self) -> None:
        numpy_ops = [
            op
            for op in self.estimator.preprocessing_operations
            if not isinstance(op, PreprocessorPyTorch) and op.apply_predict
        ]
        if numpy_ops:
            names = ", ".join(type(op).__name__ for op in numpy_ops)
            raise ValueError(
                f"classifier has preprocessing that is not differentiable in torch ({names}); the pairwise "
                "JSMA needs the Jacobian through the whole predict-time pipeline: use PreprocessorPyTorch defences"
            )

    def _dtype(self) -> torch.dtype:
        for parameter in self.estimator.model.parameters():
            if parameter.is_floating_point():
                return parameter.dtype
        return torch.float32

    def _logits(self, x_flat: torch.Tensor) -> torch.Tensor:
        """Preprocessing (differentiable) + model, for flattened images."""
        inputs = x_flat.view(-1, *self.estimator.input_shape)
        if self.estimator.preprocessing_operations:
            inputs, _ = self.estimator._apply_preprocessing(inputs, y=None, fit=False, no_grad=False)
        logits = self.estimator.model(inputs)
        if not isinstance(logits, torch.Tensor) or logits.shape != (len(x_flat), self.estimator.nb_classes):
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(
                f"classifier.model must return logits of shape (N, {self.estimator.nb_classes}); got {shape}"
            )
        return logits

    def _predict(self, x: np.ndarray) -> np.ndarray:
        device, dtype = self.estimator.device, self._dtype()
        labels = []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                batch = torch.from_numpy(x[start : start + self.batch_size]).to(device=device, dtype=dtype)
                labels.append(self._logits(batch.flatten(1)).argmax(dim=1).cpu().numpy())
        return np.concatenate(labels).astype(np.int64)

    def _attack_batch(self, x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Attack one batch; returns the images and how many stopped for each of ``_STOPS``."""
        device, dtype = self.estimator.device, self._dtype()
        x_adv = torch.from_numpy(x).to(device=device, dtype=dtype).flatten(1).clone()
        label = torch.from_numpy(labels).to(device)
        images, n = x_adv.shape
        clip = self.estimator.clip_values
        increasing = self.theta > 0
        if clip is not None:
            low, high = float(np.min(clip[0])), float(np.max(clip[1]))
            domain = x_adv < high if increasing else x_adv > low
        else:
            domain = torch.ones_like(x_adv, dtype=torch.bool)
        # Oriented so that admissible ⇔ α > 0 and β < 0 (targeted, θ > 0 is the paper's case).
        orientation = (1.0 if increasing else -1.0) * (1.0 if self.targeted else -1.0)
        max_steps = math.floor(self.gamma * n / 2)
        if max_steps == 0:
            logger.warning(
                "gamma=%s allows no pair of the %d features to change: images returned unchanged", self.gamma, n
            )
        steps = torch.zeros(images, dtype=torch.long, device=device)
        stop = torch.full((images,), _STOPS.index("steps"), dtype=torch.long, device=device)
        stop[domain.sum(dim=1) < 2] = _STOPS.index("domain")
        active = torch.arange(images, device=device)[(domain.sum(dim=1) >= 2) & (max_steps > 0)]
        with torch.enable_grad():
            while len(active):
                x_active = x_adv[active].requires_grad_(True)
                logits = self._logits(x_active)
                predicted = logits.argmax(dim=1)
                going = predicted != label[active] if self.targeted else predicted == label[active]
                stop[active[~going]] = _STOPS.index("reached")
                if not going.any():
                    break
                output = torch.softmax(logits, dim=1) if self.variant == "f" else logits
                # Cotangents zero on the images that just finished (their gradients are not used).
                target = torch.nn.functional.one_hot(label[active], self.estimator.nb_classes).to(output.dtype)
                keep = going[:, None].to(output.dtype)
                alpha = torch.autograd.grad(output, x_active, target * keep, retain_graph=True)[0]
                beta = torch.autograd.grad(output, x_active, (1 - target) * keep)[0]
                index = active[going]
                p, q, found = best_pairs(orientation * alpha[going], orientation * beta[going], domain[index])
                stop[index[~found]] = _STOPS.index("no pair")
                index, p, q = index[found], p[found], q[found]
                with torch.no_grad():
                    for feature in (p, q):
                        moved = x_adv[index, feature] + self.theta
                        if clip is not None:
                            moved = moved.clamp(max=high) if increasing else moved.clamp(min=low)
                        x_adv[index, feature] = moved
                        domain[index, feature] = False
                steps[index] += 1
                exhausted = domain[index].sum(dim=1) < 2
                stop[index[exhausted]] = _STOPS.index("domain")
                active = index[(steps[index] < max_steps) & ~exhausted]
        counts = torch.bincount(stop, minlength=len(_STOPS)).cpu().numpy()
        return x_adv.view(x.shape).to(torch.float32).cpu().numpy(), counts


class JSMAZ(PairwiseJSMA):
    """Papernot et al.'s pairwise JSMA on the logits, JSMA-Z (ART's `jsma` scores single features).

    :param classifier: ART ``PyTorchClassifier`` (its module must return logits).
    :param theta: See :class:`PairwiseJSMA`.
    :param gamma: See :class:`PairwiseJSMA`.
    :param targeted: See :class:`PairwiseJSMA`.
    :param batch_size: See :class:`PairwiseJSMA`.
    :param verbose: See :class:`PairwiseJSMA`.
    """

    attack_params = [name for name in PairwiseJSMA.attack_params if name != "variant"]

    def __init__(
        self,
        classifier: PyTorchClassifier,
        theta: float = 1.0,
        gamma: float = 1.0,
        targeted: bool = True,
        batch_size: int = 128,
        verbose: bool = False,
    ):
        super().__init__(
            classifier, variant="z", theta=theta, gamma=gamma, targeted=targeted, batch_size=batch_size, verbose=verbose
        )


class JSMAF(PairwiseJSMA):
    """Papernot et al.'s pairwise JSMA on the softmax output, JSMA-F (ART's `jsma` scores single features).

    :param classifier: ART ``PyTorchClassifier`` (its module must return logits; the softmax is taken here).
    :param theta: See :class:`PairwiseJSMA`.
    :param gamma: See :class:`PairwiseJSMA`.
    :param targeted: See :class:`PairwiseJSMA`.
    :param batch_size: See :class:`PairwiseJSMA`.
    :param verbose: See :class:`PairwiseJSMA`.
    """

    attack_params = [name for name in PairwiseJSMA.attack_params if name != "variant"]

    def __init__(
        self,
        classifier: PyTorchClassifier,
        theta: float = 1.0,
        gamma: float = 1.0,
        targeted: bool = True,
        batch_size: int = 128,
        verbose: bool = False,
    ):
        super().__init__(
            classifier, variant="f", theta=theta, gamma=gamma, targeted=targeted, batch_size=batch_size, verbose=verbose
        )
