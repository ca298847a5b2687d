"""``detector-aware-pgd``: an adaptive L∞ PGD against the MC-dropout + five-crop detectors.

ART has no attack that knows an uncertainty detector, so this one is written here (Athalye et
al. 2018's advice: attack the whole defended system, with expectation over its randomness).
It targets, per image, a wrong class t (the most likely wrong class of the clean image under the
undefended model, unless targets are given) and minimises, by signed-gradient steps projected
on the ε-ball and [clip_min, clip_max],

    CE(mean_k logits_k(x'), t)                        # provisional class = t (EOT over masks)
  + crop_weight       · mean_j CE(logits(crop_j(x')), t)   # the five crops vote for t
  + uncertainty_weight · u(x')                        # stay under the low threshold

where logits_k are ``n_samples`` Monte-Carlo dropout passes (fresh masks at every step) and u
is the MC-dropout uncertainty of :mod:`artx.mc_dropout`. It returns, per image, the iterate with
the lowest uncertainty among those whose provisional class is already t, or the last iterate if
none is.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from art.attacks.attack import EvasionAttack
from art.estimators.classification import PyTorchClassifier
from tqdm.auto import tqdm

from artx.mc_dropout import mc_dropout_torch, only_dropout_active, require_dropout, uncertainty_torch
from artx.validation import check_bool, check_float, check_images_for, check_int, check_seed, class_indices
from artx_plugins._detection import five_crops

logger = logging.getLogger(__name__)


class DetectorAwarePGD(EvasionAttack):
    """PGD that fools the classifier while keeping MC-dropout uncertainty low and crops in agreement.

    :param estimator: ART ``PyTorchClassifier`` whose model has dropout.
    :param eps: L∞ budget.
    :param eps_step: Step size.
    :param max_iter: Number of steps.
    :param n_samples: Dropout samples per step (expectation over masks).
    :param uncertainty_weight: Weight of the uncertainty term.
    :param crop_weight: Weight of the five-crop term (0 ignores the crop vote).
    :param crop_fraction: Crop side as a fraction of the image side (match the detector's).
    :param batch_size: Images per batch.
    :param seed: Seed of the dropout masks.
    :param verbose: Show a progress bar.
    """

    attack_params = EvasionAttack.attack_params + [
        "eps",
        "eps_step",
        "max_iter",
        "n_samples",
        "uncertainty_weight",
        "crop_weight",
        "crop_fraction",
        "batch_size",
        "seed",
        "verbose",
    ]
    _estimator_requirements = (PyTorchClassifier,)

    def __init__(
        self,
        estimator: PyTorchClassifier,
        eps: float = 0.3,
        eps_step: float = 0.01,
        max_iter: int = 100,
        n_samples: int = 10,
        uncertainty_weight: float = 10.0,
        crop_weight: float = 1.0,
        crop_fraction: float = 0.93,
        batch_size: int = 256,
        seed: int = 0,
        verbose: bool = False,
    ):
        super().__init__(estimator=estimator)
        self.eps = eps
        self.eps_step = eps_step
        self.max_iter = max_iter
        self.n_samples = n_samples
        self.uncertainty_weight = uncertainty_weight
        self.crop_weight = crop_weight
        self.crop_fraction = crop_fraction
        self.batch_size = batch_size
        self.seed = seed
        self.verbose = verbose
        self._check_params()

    def _check_params(self) -> None:
        require_dropout(self.estimator.model, "estimator.model")
        check_float(self.eps, "eps", minimum=0.0, min_inclusive=False)
        check_float(self.eps_step, "eps_step", minimum=0.0, min_inclusive=False)
        check_int(self.max_iter, "max_iter", minimum=1)
        check_int(self.n_samples, "n_samples", minimum=2)
        check_float(self.uncertainty_weight, "uncertainty_weight", minimum=0.0)
        check_float(self.crop_weight, "crop_weight", minimum=0.0)
        check_float(self.crop_fraction, "crop_fraction", minimum=0.0, maximum=1.0, min_inclusive=False)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_seed(self.seed, "seed")
        check_bool(self.verbose, "verbose")

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Craft adversarial examples.

        :param x: Clean float32 NCHW images in the estimator's clip range.
        :param y: Target classes (indices or one-hot) to reach; None picks, per image, the most
            likely wrong class of the undefended model (its prediction counts as the true class).
        """
        clip_min, clip_max = self.estimator.clip_values if self.estimator.clip_values is not None else (0.0, 1.0)
        x = check_images_for(self.estimator, x)
        if y is None:
            logits = self.estimator.predict(x, batch_size=self.batch_size)
            ranked = np.argsort(-logits, axis=1)
            targets = ranked[:, 1]  # most likely class other than the predicted one
        else:
            targets = class_indices(y, "y", nb_classes=self.estimator.nb_classes, n_samples=len(x))
        model = self.estimator.model
        device = self.estimator.device
        out = np.empty_like(x)
        fork_devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(self.seed)
            starts = range(0, len(x), self.batch_size)
            for start in tqdm(starts, desc="detector-aware PGD", disable=not self.verbose):
                batch = slice(start, start + self.batch_size)
                out[batch] = self._attack_batch(model, x[batch], targets[batch], clip_min, clip_max, device)
        return out

    def _attack_batch(
        self,
        model: torch.nn.Module,
        x: np.ndarray,
        targets: np.ndarray,
        clip_min: float,
        clip_max: float,
        device: torch.device,
    ) -> np.ndarray:
        x0 = torch.from_numpy(x).to(device)
        target = torch.from_numpy(targets.astype(np.int64)).to(device)
        x_adv = x0.clone()
        best = x0.clone()
        best_uncertainty = torch.full((len(x),), float("inf"), device=device)
        cross_entropy = torch.nn.CrossEntropyLoss(reduction="none")
        for _ in range(self.max_iter):
            x_adv.requires_grad_(True)
            with only_dropout_active(model):
                samples = mc_dropout_torch(model, x_adv, self.n_samples)
            uncertainty = uncertainty_torch(samples)
            loss = cross_entropy(samples.mean(dim=0), target) + self.uncertainty_weight * uncertainty
            if self.crop_weight > 0:
                model.eval()
                crops = five_crops(x_adv, self.crop_fraction)
                crop_logits = model(crops.reshape(-1, *x_adv.shape[1:]))
                crop_loss = cross_entropy(crop_logits, target.repeat(5)).reshape(5, -1).mean(dim=0)
                loss = loss + self.crop_weight * crop_loss
            (gradient,) = torch.autograd.grad(loss.sum(), x_adv)
            with torch.no_grad():
                # Keep the lowest-uncertainty iterate that already reaches the target class.
                reached = (samples.mean(dim=0).argmax(dim=1) == target) & (uncertainty < best_uncertainty)
                best[reached] = x_adv[reached].detach()
                best_uncertainty[reached] = uncertainty[reached]
                x_adv = x_adv.detach() - self.eps_step * gradient.sign()
                x_adv = torch.clamp(torch.min(torch.max(x_adv, x0 - self.eps), x0 + self.eps), clip_min, clip_max)
        never = torch.isinf(best_uncertainty)
        best[never] = x_adv[never]
        model.eval()
        return best.detach().cpu().numpy()
