"""Shared parts of the trainer plugins: the ART ``Trainer`` base with artx's parameter handling,
the α-mixed perturbed-input objectives (Goodfellow et al. 2015's adversarial training and its
two noise controls), and the checks every trainer runs on its classifier.

The trainers train ``classifier.model`` in place with :func:`artx.training.train` and can
describe what they do as a :class:`~artx.training.TrainingSpec` (:meth:`spec`), so that a
reproduction trains the same model through the trained-model cache
(:func:`artx.model_cache.train_cached`) instead of calling ``fit``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from art.defences.trainer import Trainer
from torch import nn

from artx.training import OPTIMIZERS, Objective, TrainingHistory, TrainingSpec, train
from artx.validation import (
    check_bool,
    check_choice,
    check_float,
    check_images_for,
    check_int,
    check_seed,
    class_indices,
)

logger = logging.getLogger(__name__)


# ---- classifier helpers ------------------------------------------------------------------------


def bare_model(classifier: Any) -> nn.Module:
    """The classifier's PyTorch module, refusing classifiers whose ART preprocessing would be
    bypassed: the trainers train the bare module on ``x`` as given, so a classifier with
    preprocessing defences or a non-identity normalisation would be trained in another input
    space than it predicts in."""
    model = getattr(classifier, "model", None)
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"classifier must be an ART PyTorchClassifier (its .model a torch.nn.Module); "
            f"got {type(classifier).__name__}"
        )
    for operation in getattr(classifier, "preprocessing_operations", None) or []:
        mean, std = getattr(operation, "mean", None), getattr(operation, "std", None)
        if mean is not None and std is not None and np.all(np.asarray(mean) == 0) and np.all(np.asarray(std) == 1):
            continue  # ART's default identity standardisation
        raise ValueError(
            f"classifier has ART preprocessing ({type(operation).__name__}), which training classifier.model "
            "directly would bypass; wrap the bare model (artx.models.to_art_classifier(model)) for training "
            "and add defences afterwards"
        )
    return model


def device_of(classifier: Any) -> str:
    """The classifier's device as a name :func:`artx.training.train` accepts."""
    device = getattr(classifier, "device", None)
    return "cpu" if device is None else str(device)


def clip_of(classifier: Any) -> tuple[float, float] | None:
    """The classifier's ``clip_values`` as two floats, or None when it has none."""
    clip = getattr(classifier, "clip_values", None)
    if clip is None:
        return None
    low, high = np.asarray(clip, dtype=np.float64).reshape(-1)[:2]
    return float(low), float(high)


def arch_of(model: nn.Module, arch: str | None, *, strict: bool) -> tuple[str, dict[str, Any]]:
    """(registry name, constructor parameters) of ``model``.

    ``arch=None`` takes the model's own ``registry_name``/``registry_params`` (recorded by
    :func:`artx.models.build_model`); a given ``arch`` other than the model's comes with no
    parameters. A model built otherwise has neither: ``strict`` raises, else its class name
    stands in (it only names the run in logs).
    """
    own = getattr(model, "registry_name", None)
    if arch is not None:
        if not isinstance(arch, str) or not arch:
            raise TypeError(f"arch must be a model registry name (str) or None; got {arch!r}")
        return arch, (dict(getattr(model, "registry_params", {}) or {}) if arch == own else {})
    if isinstance(own, str) and own:
        return own, dict(getattr(model, "registry_params", {}) or {})
    if strict:
        raise ValueError(
            f"classifier.model ({type(model).__name__}) records no registry name "
            "(models from artx.models.build_model do): "
            "pass arch='<model registry name>'"
        )
    return type(model).__name__, {}


def refuse_fit_kwargs(kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise TypeError(
            f"fit got unexpected keyword argument(s) {', '.join(map(repr, kwargs))}; "
            "set training parameters with set_params(...)"
        )


# ---- the trainer base --------------------------------------------------------------------------


class SpecTrainer(Trainer):
    """ART ``Trainer`` whose training is one :class:`~artx.training.TrainingSpec` family.

    Holds the training hyperparameters every artx trainer shares and ART's parameter protocol
    (``trainer_params`` whitelist, ``set_params``). Subclasses extend ``trainer_params`` and
    ``_check_params``.
    """

    trainer_params: list[str] = [
        "epochs",
        "optimizer",
        "lr",
        "batch_size",
        "weight_decay",
        "max_norm",
        "seed",
        "progress",
    ]

    def set_params(self, **kwargs: Any) -> None:
        """Set whitelisted parameters (as ART's ``set_params`` does), then check them all."""
        for key, value in kwargs.items():
            if key not in self.trainer_params:
                raise ValueError(
                    f"{key!r} is not a parameter of {type(self).__name__}; parameters: {', '.join(self.trainer_params)}"
                )
            setattr(self, key, value)
        self._check_params()

    def _check_params(self) -> None:
        check_int(self.epochs, "epochs", minimum=1)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        if self.lr is not None:
            check_float(self.lr, "lr", minimum=0.0, min_inclusive=False)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_float(self.weight_decay, "weight_decay", minimum=0.0)
        if self.max_norm is not None:
            check_float(self.max_norm, "max_norm", minimum=0.0, min_inclusive=False)
        check_seed(self.seed, "seed")
        check_bool(self.progress, "progress")

    def _training_spec(self, arch: str, model_params: dict[str, Any], objective: Objective | None) -> TrainingSpec:
        return TrainingSpec(
            arch,
            epochs=self.epochs,
            optimizer=self.optimizer,
            lr=self.lr,
            batch_size=self.batch_size,
            weight_decay=self.weight_decay,
            model_params=model_params,
            objective=objective,
            max_norm=self.max_norm,
        )

    def _checked_data(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        x = check_images_for(self.classifier, x)
        labels = class_indices(y, "y", nb_classes=int(self.classifier.nb_classes), n_samples=len(x))
        return x, labels


# ---- α-mixed perturbed-input objectives ---------------------------------------------------------


class PerturbedMixObjective(Objective):
    """``α·J(x, y) + (1 − α)·J(x̃, y)`` with ``x̃ = clip(x + δ)``, ``J`` the cross-entropy.

    Subclasses define δ (:meth:`perturbation`). ``x̃`` is detached: the loss is not
    differentiated through the construction of the perturbation. α = 1 returns the clean loss
    alone without computing ``x̃`` (so it is plain training bit for bit).

    Randomness (the noise controls) comes from torch's global RNG, which
    :func:`artx.training.train` forks and seeds per epoch: training is deterministic and the
    caller's RNG is untouched.

    :param alpha: Weight of the clean loss, in [0, 1].
    :param eps: L∞ size of δ, ≥ 0.
    :param clip_values: Pixel range ``(min, max)`` ``x̃`` is clipped to, or None.
    """

    name = "perturbed-mix"
    needs_input_gradient = False

    def __init__(self, alpha: float = 0.5, eps: float = 0.25, clip_values: tuple[float, float] | None = (0.0, 1.0)):
        self.alpha = check_float(alpha, "alpha", minimum=0.0, maximum=1.0)
        self.eps = check_float(eps, "eps", minimum=0.0)
        if clip_values is not None:
            if not isinstance(clip_values, (tuple, list)) or len(clip_values) != 2:
                raise TypeError(f"clip_values must be a (min, max) pair or None; got {clip_values!r}")
            low, high = (check_float(v, "clip_values") for v in clip_values)
            if not low < high:
                raise ValueError(f"clip_values must have min < max; got {clip_values!r}")
            clip_values = (low, high)
        self.clip_values = clip_values

    def params(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "eps": self.eps,
            "clip_values": None if self.clip_values is None else list(self.clip_values),
        }

    def perturbation(self, x: torch.Tensor, input_gradient: torch.Tensor | None) -> torch.Tensor:
        """δ for the batch ``x`` (``input_gradient`` is ∇ₓJ when :attr:`needs_input_gradient`)."""
        raise NotImplementedError

    def perturbed(self, x: torch.Tensor, input_gradient: torch.Tensor | None = None) -> torch.Tensor:
        """``x̃ = clip(x + δ)``, detached."""
        out = x.detach() + self.perturbation(x.detach(), input_gradient)
        if self.clip_values is not None:
            out = out.clamp(*self.clip_values)
        return out.detach()

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.alpha == 1.0:
            logits = model(x)
            return nn.functional.cross_entropy(logits, y), logits
        gradient = None
        if self.needs_input_gradient:
            # ∇ₓJ from the very forward pass whose loss is the clean term (same dropout masks,
            # same train/eval mode as the training step), as Theano's symbolic gradient of the
            # training cost did in Goodfellow et al.'s implementation.
            x = x.detach().requires_grad_(True)
        logits = model(x)
        clean = nn.functional.cross_entropy(logits, y)
        if self.needs_input_gradient:
            (gradient,) = torch.autograd.grad(clean, x, retain_graph=True)
        adversarial = nn.functional.cross_entropy(model(self.perturbed(x, gradient)), y)
        return self.alpha * clean + (1.0 - self.alpha) * adversarial, logits


class FGSMObjective(PerturbedMixObjective):
    """Goodfellow et al. (2015)'s adversarial objective: δ = ε·sign(∇ₓJ(θ, x, y)), regenerated
    from the current weights at every step."""

    name = "fgsm-adversarial"
    needs_input_gradient = True

    def perturbation(self, x: torch.Tensor, input_gradient: torch.Tensor | None) -> torch.Tensor:
        if input_gradient is None:
            raise ValueError("FGSMObjective needs the input gradient")
        return self.eps * input_gradient.sign()


class RandomSignObjective(PerturbedMixObjective):
    """Control: δ = ε·s, s uniform in {−1, +1} per pixel, drawn afresh at every step."""

    name = "random-sign-noise"

    def perturbation(self, x: torch.Tensor, input_gradient: torch.Tensor | None) -> torch.Tensor:
        signs = torch.randint(0, 2, x.shape, device=x.device).to(x.dtype) * 2 - 1
        return self.eps * signs


class UniformNoiseObjective(PerturbedMixObjective):
    """Control: δ ~ U(−ε, ε) per pixel, drawn afresh at every step."""

    name = "uniform-noise"

    def perturbation(self, x: torch.Tensor, input_gradient: torch.Tensor | None) -> torch.Tensor:
        return (torch.rand(x.shape, device=x.device, dtype=x.dtype) * 2 - 1) * self.eps


class PerturbedMixTrainer(SpecTrainer):
    """Trains ``classifier.model`` on a :class:`PerturbedMixObjective` (set by subclasses).

    :param classifier: ART ``PyTorchClassifier`` (no preprocessing) whose model is trained in place.
    :param alpha: Weight α of the clean loss (default 0.5, Goodfellow et al.'s value).
    :param eps: L∞ size ε of the perturbation, in pixel units (default 0.25, their MNIST value).
    :param epochs: Passes over the training data.
    :param optimizer: ``"adam"``, ``"sgd"`` (momentum 0.9), ``"rmsprop"`` or ``"adabound"``.
    :param lr: Learning rate; None for the optimizer's default (:data:`artx.training.DEFAULT_LR`).
    :param batch_size: Mini-batch size.
    :param weight_decay: Coupled L2 weight decay λ (λ/2·‖w‖² added to the loss).
    :param max_norm: Max-norm constraint on each unit's incoming weights (None: unconstrained; see
        :class:`artx.training.TrainingSpec`).
    :param seed: Seed of the batch order, dropout and noise.
    :param progress: Show progress bars.
    """

    trainer_params = ["alpha", "eps"] + SpecTrainer.trainer_params
    objective_class: type[PerturbedMixObjective] = PerturbedMixObjective

    def __init__(
        self,
        classifier: Any,
        alpha: float = 0.5,
        eps: float = 0.25,
        epochs: int = 10,
        optimizer: str = "adam",
        lr: float | None = None,
        batch_size: int = 128,
        weight_decay: float = 0.0,
        max_norm: float | None = None,
        seed: int = 0,
        progress: bool = False,
    ):
        super().__init__(classifier)
        self.alpha = alpha
        self.eps = eps
        self.epochs = epochs
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.max_norm = max_norm
        self.seed = seed
        self.progress = progress
        self._check_params()

    def _check_params(self) -> None:
        check_float(self.alpha, "alpha", minimum=0.0, maximum=1.0)
        check_float(self.eps, "eps", minimum=0.0)
        super()._check_params()

    def objective(self) -> PerturbedMixObjective:
        """The loss this trainer minimises (clipped to the classifier's ``clip_values``)."""
        return self.objective_class(alpha=self.alpha, eps=self.eps, clip_values=clip_of(self.classifier))

    def spec(self, arch: str | None = None) -> TrainingSpec:
        """The full :class:`~artx.training.TrainingSpec` of :meth:`fit`: with
        ``train_cached(trainer.spec(), x, y, seed=trainer.seed)`` a reproduction gets the model
        ``fit`` trains from ``build_model(arch, seed=trainer.seed)``, through the cache.

        :param arch: Registry name of the architecture; None takes the model's ``registry_name``
            (and ``registry_params``) recorded by :func:`artx.models.build_model`.
        """
        arch, params = arch_of(self.classifier.model, arch, strict=True)
        return self._training_spec(arch, params, self.objective())

    def fit(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> None:
        """Train ``classifier.model`` in place, starting from its current weights.

        :param x: float32 NCHW training images inside the classifier's ``clip_values``.
        :param y: Class indices (N,) / (N, 1) or one-hot rows.
        """
        refuse_fit_kwargs(kwargs)
        model = bare_model(self.classifier)
        x, labels = self._checked_data(x, y)
        arch, params = arch_of(model, None, strict=False)
        spec = self._training_spec(arch, params, self.objective())
        self.history_: TrainingHistory = train(
            model, x, labels, spec, seed=self.seed, device=device_of(self.classifier), progress=self.progress
        )
        model.eval()
