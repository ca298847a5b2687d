"""``fgsm-adversarial-training``: Goodfellow, Shlens & Szegedy (2015)'s adversarial training.

Each step minimises

    J̃(θ, x, y) = α·J(θ, x, y) + (1 − α)·J(θ, clip(x + ε·sign(∇ₓJ(θ, x, y))), y)

with ``J`` the cross-entropy, the adversarial term regenerated from the current weights at every
step (Goodfellow et al.: α = 0.5, ε = 0.25 on MNIST).

Choices: ∇ₓJ is taken from the same forward pass as the clean term, i.e. on the training
network in training mode (dropout active, the same dropout masks as the clean term), as the
symbolic gradient of the training cost was in the original Theano/pylearn2 code; the adversarial
forward pass draws its own dropout masks. The adversarial input is clipped to the classifier's
``clip_values`` and detached (the loss is not differentiated through ``sign(∇ₓJ)``). α = 1 is
plain training, bit for bit.

ART's ``AdversarialTrainer(classifier, attacks, ratio=0.5)`` is a different method: it replaces
a random ``ratio`` share of each batch's images by their adversarial versions (crafted on the
current classifier through its ``loss_gradient``, i.e. in eval mode, or precomputed once when the
attack targets another model) and trains on the mixed batch, so each image contributes either
its clean or its adversarial loss; here every image contributes both, weighted by α.
"""

from __future__ import annotations

from artx_plugins._trainers import FGSMObjective, PerturbedMixTrainer


class FGSMAdversarialTraining(PerturbedMixTrainer):
    """Goodfellow's α·J(x) + (1−α)·J(FGSM(x)), FGSM redone every step (ART's `AdversarialTrainer` swaps images).

    :param classifier: ART ``PyTorchClassifier`` (no preprocessing) whose model is trained in place.
    :param alpha: Weight α of the clean loss (default 0.5).
    :param eps: FGSM step ε in pixel units (default 0.25).
    :param epochs: Passes over the training data.
    :param optimizer: ``"adam"``, ``"sgd"`` (momentum 0.9), ``"rmsprop"`` or ``"adabound"``.
    :param lr: Learning rate; None for the optimizer's default.
    :param batch_size: Mini-batch size.
    :param weight_decay: Coupled L2 weight decay λ.
    :param max_norm: Max-norm constraint on each unit's incoming weights (None: unconstrained; see
        :class:`artx.training.TrainingSpec`).
    :param seed: Seed of the batch order and dropout.
    :param progress: Show progress bars.
    """

    objective_class = FGSMObjective
