"""``uniform-noise-training``: the U(−ε, ε) noise control of Goodfellow et al. (2015).

Same α-mix as ``fgsm-adversarial-training`` with uniform noise instead of the FGSM direction:
``α·J(x) + (1 − α)·J(clip(x + u))``, ``u ~ U(−ε, ε)`` per pixel, drawn afresh at every step
(from the per-epoch seeded RNG of :func:`artx.training.train`). Goodfellow et al. report 90.4 %
error on FGSM examples after it.
"""

from __future__ import annotations

from artx_plugins._trainers import PerturbedMixTrainer, UniformNoiseObjective


class UniformNoiseTraining(PerturbedMixTrainer):
    """Control for FGSM training: α·J(x) + (1−α)·J(x + u), u ~ U(−ε, ε) per pixel, fresh every step.

    :param classifier: ART ``PyTorchClassifier`` (no preprocessing) whose model is trained in place.
    :param alpha: Weight α of the clean loss (default 0.5).
    :param eps: Noise bound ε in pixel units (default 0.25).
    :param epochs: Passes over the training data.
    :param optimizer: ``"adam"``, ``"sgd"`` (momentum 0.9), ``"rmsprop"`` or ``"adabound"``.
    :param lr: Learning rate; None for the optimizer's default.
    :param batch_size: Mini-batch size.
    :param weight_decay: Coupled L2 weight decay λ.
    :param max_norm: Max-norm constraint on each unit's incoming weights (None: unconstrained; see
        :class:`artx.training.TrainingSpec`).
    :param seed: Seed of the batch order, dropout and noise.
    :param progress: Show progress bars.
    """

    objective_class = UniformNoiseObjective
