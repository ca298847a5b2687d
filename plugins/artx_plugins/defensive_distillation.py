"""``defensive-distillation``: Papernot, McDaniel, Wu, Jha & Swami (2016)'s defensive distillation,
the defence Carlini & Wagner (2017) break.

1. Teacher: the classifier's architecture, trained on the hard labels with the softmax at
   temperature T, i.e. cross-entropy of ``softmax(Z(x) / T)``.
2. Soft labels: the teacher's ``softmax(Z(x) / T)`` on the training set.
3. Student: the same architecture, from the same initial weights as the teacher (the
   classifier's model as it was when ``fit`` began; for a model from
   ``build_model(arch, seed=s)`` that is "fresh weights from seed s"), trained at T on the soft
   labels with the same seed.
4. Deployment at T = 1: the classifier's model is loaded with the student and used as it is,
   its logits ``Z(x)`` unscaled. Training at T makes the logits about T times larger than an
   undistilled network's, so the softmax at T = 1 saturates and its gradients vanish: the
   source of the defence's apparent robustness (Carlini & Wagner attack the logits instead).

Defaults follow Papernot et al. and Carlini & Wagner: T = 100, the same epochs for both stages.
The teacher is kept as :attr:`teacher_` after ``fit``. For the trained-model cache a
reproduction runs the stages itself::

    teacher = train_cached(d.teacher_spec(arch), x, y, seed=s)
    student = train_cached(
        d.student_spec(arch), x, d.soft_labels(teacher.model, x), seed=s,
        data_identity=d.soft_label_identity(teacher.key, x),
    ).model

which gives bit for bit (on the CPU) what ``fit`` gives for a classifier wrapping
``build_model(arch, seed=s)`` with ``seed=s``. The student's entry is keyed by where its labels
came from (the teacher's entry, T and the images), not by their bytes: those differ in the last
bits between machines and thread counts, and a key on them misses wherever the run moves.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from artx.data import fingerprint
from artx.training import CrossEntropy, TrainingHistory, TrainingSpec, train
from artx.validation import check_float, check_images_for
from artx_plugins._trainers import SpecTrainer, arch_of, bare_model, device_of, refuse_fit_kwargs


class DefensiveDistillation(SpecTrainer):
    """Papernot et al.'s defensive distillation: teacher at temperature T, student on its soft labels, used at T = 1.

    :param classifier: ART ``PyTorchClassifier`` (no preprocessing); its model becomes the student.
    :param temperature: Softmax temperature T of both stages (default 100).
    :param epochs: Epochs of each stage (teacher and student).
    :param optimizer: ``"adam"``, ``"sgd"`` (momentum 0.9), ``"rmsprop"`` or ``"adabound"``.
    :param lr: Learning rate; None for the optimizer's default.
    :param batch_size: Mini-batch size (also of the soft-labelling pass).
    :param weight_decay: Coupled L2 weight decay λ.
    :param max_norm: Max-norm constraint on each unit's incoming weights (None: unconstrained; see
        :class:`artx.training.TrainingSpec`).
    :param seed: Seed of the batch order and dropout of both stages.
    :param progress: Show progress bars.
    """

    trainer_params = ["temperature"] + SpecTrainer.trainer_params

    #: The teacher network after :meth:`fit` (None before).
    teacher_: nn.Module | None = None

    def __init__(
        self,
        classifier: Any,
        temperature: float = 100.0,
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
        self.temperature = temperature
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
        check_float(self.temperature, "temperature", minimum=0.0, min_inclusive=False)
        super()._check_params()

    def objective(self) -> CrossEntropy:
        """The loss of both stages: cross-entropy of ``softmax(Z / T)``."""
        return CrossEntropy(temperature=self.temperature)

    def teacher_spec(self, arch: str | None = None) -> TrainingSpec:
        """The teacher's :class:`~artx.training.TrainingSpec` (train it on the hard labels).

        :param arch: Registry name; None takes the model's recorded ``registry_name`` and
            ``registry_params`` (see :func:`artx.models.build_model`).
        """
        arch, params = arch_of(self.classifier.model, arch, strict=True)
        return self._training_spec(arch, params, self.objective())

    def student_spec(self, arch: str | None = None) -> TrainingSpec:
        """The student's :class:`~artx.training.TrainingSpec` (train it on :meth:`soft_labels`).

        The same spec as the teacher's: the stages differ by their labels (hence cache keys).
        """
        return self.teacher_spec(arch)

    def soft_label_identity(self, teacher_key: str, x: np.ndarray) -> str:
        """A name for :meth:`soft_labels` of the cached teacher ``teacher_key`` on ``x``, stable
        across machines (``data_identity`` of :func:`artx.model_cache.train_cached`).

        :param teacher_key: The teacher's trained-model cache key (``TrainedModel.key``).
        :param x: The images the soft labels are computed on.
        """
        if not isinstance(teacher_key, str) or not teacher_key:
            raise TypeError(f"teacher_key must be a non-empty str (a cache key); got {teacher_key!r}")
        x = check_images_for(self.classifier, x)
        return f"images {fingerprint(x)} labelled softmax(Z/{self.temperature!r}) by cached model {teacher_key}"

    def soft_labels(self, teacher: nn.Module, x: np.ndarray) -> np.ndarray:
        """The teacher's ``softmax(Z(x) / T)``: float32 probability rows (N, classes).

        :param teacher: The trained teacher network (run in eval mode; its mode is restored).
        :param x: float32 NCHW images, as for :meth:`fit`.
        """
        if not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher must be a torch.nn.Module; got {type(teacher).__name__}")
        x = check_images_for(self.classifier, x)
        parameter = next(teacher.parameters(), None)
        device = parameter.device if parameter is not None else torch.device(device_of(self.classifier))
        was_training = teacher.training
        teacher.eval()
        rows = []
        try:
            with torch.no_grad():
                for start in range(0, len(x), self.batch_size):
                    batch = torch.from_numpy(x[start : start + self.batch_size]).to(device)
                    rows.append(torch.softmax(teacher(batch) / self.temperature, dim=1).cpu())
        finally:
            teacher.train(was_training)
        return torch.cat(rows).numpy().astype(np.float32, copy=False)

    def fit(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> None:
        """Train the teacher, label ``x`` with it, train the student in ``classifier.model``.

        :param x: float32 NCHW training images inside the classifier's ``clip_values``.
        :param y: Class indices (N,) / (N, 1) or one-hot rows.
        """
        refuse_fit_kwargs(kwargs)
        model = bare_model(self.classifier)
        x, labels = self._checked_data(x, y)
        arch, params = arch_of(model, None, strict=False)
        spec = self._training_spec(arch, params, self.objective())
        device = device_of(self.classifier)
        initial = copy.deepcopy(model.state_dict())
        teacher = copy.deepcopy(model)
        self.teacher_history_: TrainingHistory = train(
            teacher, x, labels, spec, seed=self.seed, device=device, progress=self.progress
        )
        soft = self.soft_labels(teacher, x)
        model.load_state_dict(initial)
        self.history_: TrainingHistory = train(
            model, x, soft, spec, seed=self.seed, device=device, progress=self.progress
        )
        model.eval()
        teacher.eval()
        self.teacher_ = teacher
