"""Train a population of small models together: stacked parameters + ``torch.func.vmap``.

Search methods that score a candidate by training a small proxy model (e.g. CMA-ES over data
poisons) train many models of one architecture on data sets of the same size. Trained one
after another, each small model runs tiny kernels and CPU time goes to per-operation overhead.
:func:`train_population` instead stacks the members' parameters (``torch.func.stack_module_state``)
and runs one vmapped forward/backward pass per mini-batch for all of them, so matrix products
become batched ones (convolutional models instead run member by member on the stacked
parameters: vmap's grouped convolutions are slower on a CPU; either way one optimizer step
updates all members).

Numerically this is the same as training each member alone with the same initial weights,
batch order and optimizer: the loss is the *sum* of the members' mean losses, so each member's
gradient is its own, and Adam / SGD / RMSprop act element-wise on the stacked tensors
(see ``tests/test_population.py``). Models with batch normalisation or dropout are refused: their
running statistics / random masks are not handled here.

Single-pixel data (``pixels=``): when every member sees the same images except for one pixel
per image (member ``k``'s copy of image ``i`` has value ``v[k, i]`` at ``(r[k, i], c[k, i])``
in every channel, as in a search over class-wise pixel poisons), the images are not copied per
member. If the model starts with ``Flatten`` → ``Linear`` (``linear``, ``shallow-mlp``), its
first layer is computed as ``W_k x + W_k[:, p] · (v − x[p])``: one wide matrix product of the
shared batch with all members' weights plus a gathered column per image. This identity is
exact (up to float rounding) and is written by hand because neither torch nor functorch
exploits it; other architectures get the pixels written into per-member copies of each batch.

Determinism: member ``k`` is initialised with ``spec.build_model`` and seed
``init_seeds[k]``; the batch order of epoch ``e`` comes from a generator seeded with
``(seed, e)``, shared by all members (the same training seed across a population).
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from artx.training import CrossEntropy, TrainingSpec, make_optimizer
from artx.validation import check_images, check_int, check_labels, check_seed

logger = logging.getLogger(__name__)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch * 7_919) % (2**63 - 1))


def check_population_model(model: nn.Module, name: str = "model") -> nn.Module:
    """Refuse models with batch norm or dropout: population training does not handle their
    running statistics / random masks."""
    for layer, module in model.named_modules():
        if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)):
            raise ValueError(
                f"{name}: train_population supports models without batch norm or dropout; layer {layer!r} is "
                f"{type(module).__name__}"
            )
    return model


class Population:
    """``size`` models of one architecture as stacked parameters (leading dimension = member).

    :param base: A model of the architecture (its weights are not used; it is the template).
    :param members: The member models (same architecture as ``base``).
    """

    def __init__(self, base: nn.Module, members: Sequence[nn.Module]):
        check_population_model(base)
        self.base = copy.deepcopy(base).to("meta")
        self.params, self.buffers = torch.func.stack_module_state(list(members))
        self.size = len(members)

        # Conv nets run member by member on views of the stacked parameters: vmap turns their
        # convolutions into grouped ones, whose CPU kernels are slower than P plain calls (lenet5,
        # 16 members, batch 128, one thread: 1.08 s vs 0.65 s per training step, measured
        # 2026-12-07); matrix products batch well, so other models keep vmap.
        self.member_loop = any(isinstance(m, nn.modules.conv._ConvNd) for m in self.base.modules())
        children = list(self.base.named_children())
        # Flatten → Linear first: the sparse single-pixel path applies (see the module docstring)
        self.sparse_first = (
            isinstance(self.base, nn.Sequential)
            and len(children) >= 2
            and isinstance(children[0][1], nn.Flatten)
            and isinstance(children[1][1], nn.Linear)
        )
        if self.sparse_first:
            self._first = children[1][0]
            self._rest = nn.Sequential(OrderedDict(children[2:]))

    def _one(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(self.base, (params, buffers), (x,))

    def _rest_one(self, params: dict, buffers: dict, h: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(self._rest, (params, buffers), (h,))

    def forward_pixels(
        self, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor
    ) -> torch.Tensor:
        """Logits (P, B, classes) of every member on the shared batch ``x`` (B, C, H, W) where
        member ``k``'s image ``i`` has value ``values[k, i]`` at ``(rows[k, i], cols[k, i])`` in every channel."""
        if not self.sparse_first:
            batch = x.unsqueeze(0).expand(self.size, *x.shape).clone()
            member = torch.arange(self.size)[:, None].expand_as(rows)
            image = torch.arange(x.shape[0])[None].expand_as(rows)
            batch[member, image, :, rows, cols] = values[..., None]
            return self.forward(batch)
        channels, height, width = x.shape[1:]
        flat = x.reshape(x.shape[0], -1)  # (B, D)
        weight = self.params[f"{self._first}.weight"]  # (P, out, D)
        bias = self.params[f"{self._first}.bias"]  # (P, out)
        # one wide (B, D) x (D, P·out) product for all members instead of P narrow ones
        hidden = (flat @ weight.reshape(-1, weight.shape[2]).T).reshape(x.shape[0], self.size, -1).transpose(
            0, 1
        ).contiguous() + bias[:, None, :]
        image = torch.arange(x.shape[0])[None].expand_as(rows)
        for channel in range(channels):
            index = channel * height * width + rows * width + cols  # (P, B) flat positions
            delta = values - flat[image, index]  # (P, B): new value − old value
            columns = torch.gather(weight, 2, index[:, None, :].expand(-1, weight.shape[1], -1))  # (P, out, B)
            hidden = hidden + delta[..., None] * columns.transpose(1, 2)
        if len(self._rest) == 0:  # the model is Flatten → Linear only
            return hidden
        prefix = self._first + "."
        rest_params = {k: v for k, v in self.params.items() if not k.startswith(prefix)}
        rest_buffers = {k: v for k, v in self.buffers.items() if not k.startswith(prefix)}
        return torch.vmap(self._rest_one)(rest_params, rest_buffers, hidden)

    def forward(self, x: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """Logits of every member → (P, B, classes).

        :param x: (P, B, C, H, W), one batch per member, or with ``shared=True`` one batch
            (B, C, H, W) that every member sees (vmap then runs the first layer as one wide
            layer instead of P small ones).
        """
        if self.member_loop:
            return torch.stack(
                [
                    self._one(
                        {name: value[k] for name, value in self.params.items()},
                        {name: value[k] for name, value in self.buffers.items()},
                        x if shared else x[k],
                    )
                    for k in range(self.size)
                ]
            )
        return torch.vmap(self._one, in_dims=(0, 0, None if shared else 0))(self.params, self.buffers, x)

    @torch.no_grad()
    def predict(
        self, x: np.ndarray, batch_size: int = 512, pixels: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray:
        """Predicted labels (P, N) of every member on shared images ``x`` (N, C, H, W) or
        per-member images (P, N, C, H, W); ``pixels`` as in :func:`train_population`."""
        shared = x.ndim == 4
        n = x.shape[0] if shared else x.shape[1]
        tensors = None if pixels is None else _pixel_tensors(pixels, self.size, n)
        out = []
        for start in range(0, n, batch_size):
            xb = torch.from_numpy(
                np.ascontiguousarray(x[start : start + batch_size] if shared else x[:, start : start + batch_size])
            )
            if tensors is not None:
                out.append(self.forward_pixels(xb, *(t[:, start : start + batch_size] for t in tensors)).argmax(-1))
            else:
                out.append(self.forward(xb, shared=shared).argmax(-1))
        return torch.cat(out, dim=1).numpy()

    def member(self, k: int) -> nn.Module:
        """Member ``k`` as an ordinary module (a copy, on the CPU)."""
        check_int(k, "k", minimum=0, maximum=self.size - 1)
        model = copy.deepcopy(self.base).to_empty(device="cpu")
        state = {name: value[k].detach().clone() for name, value in {**self.params, **self.buffers}.items()}
        model.load_state_dict(state)
        for attr in ("input_shape", "num_classes"):
            if hasattr(self.base, attr):
                setattr(model, attr, getattr(self.base, attr))
        return model.eval()


def _pixel_tensors(pixels, size: int, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if not isinstance(pixels, (tuple, list)) or len(pixels) != 3:
        raise TypeError("pixels must be a (rows, cols, values) triple of (P, N) arrays")
    rows, cols, values = (np.asarray(a) for a in pixels)
    for name, array in (("rows", rows), ("cols", cols), ("values", values)):
        if array.shape != (size, n):
            raise ValueError(f"pixels {name} must have shape (P, N) = ({size}, {n}); got {array.shape}")
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise ValueError("pixels values must lie in [0, 1]")
    return (
        torch.from_numpy(rows.astype(np.int64)),
        torch.from_numpy(cols.astype(np.int64)),
        torch.from_numpy(values.astype(np.float32)),
    )


def train_population(
    spec: TrainingSpec,
    x: np.ndarray,
    y: np.ndarray,
    *,
    init_seeds: Sequence[int],
    seed: int = 0,
    pixels: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    progress: bool = False,
) -> Population:
    """Train ``len(init_seeds)`` models as ``spec`` says, together, one per data set.

    :param spec: Architecture and training (epochs, optimizer, lr, batch size — the same
        batches for every member —, weight decay); frozen layers and custom objectives are not
        supported here.
    :param x: Training images: float32 in [0, 1], either shared (N, C, H, W) or one set per
        member (P, N, C, H, W).
    :param y: Labels (N,), shared by all members.
    :param init_seeds: Weight-initialisation seed of each member (P of them).
    :param seed: Seed of the batch order (shared by all members).
    :param pixels: Optional single-pixel data: ``(rows, cols, values)``, each (P, N): member
        ``k`` trains on the shared ``x`` with ``values[k, i]`` written at ``(rows[k, i],
        cols[k, i])`` of image ``i`` (every channel). Needs shared ``x``.
    :param progress: Show a tqdm bar.
    :return: The trained :class:`Population`.
    """
    if not isinstance(spec, TrainingSpec):
        raise TypeError(f"spec must be an artx.training.TrainingSpec; got {type(spec).__name__}")
    if (
        spec.trainable is not None
        or spec.max_norm is not None
        or (spec.objective is not None and spec.objective != CrossEntropy())
    ):
        raise ValueError(
            "train_population trains every layer with plain cross-entropy, unconstrained: spec.trainable, "
            f"spec.objective and spec.max_norm must be None; got {spec.trainable!r}, {spec.objective!r}, "
            f"{spec.max_norm!r}"
        )
    seeds = [check_seed(s, "init_seeds[]") for s in init_seeds]
    if not seeds:
        raise ValueError("init_seeds must hold at least one seed (one per member)")
    if not isinstance(x, np.ndarray) or x.ndim not in (4, 5):
        raise ValueError(
            f"x must be (N, C, H, W) or (P, N, C, H, W) images; got {getattr(x, 'shape', type(x).__name__)}"
        )
    shared = x.ndim == 4
    if not shared and x.shape[0] != len(seeds):
        raise ValueError(f"x must hold one data set per member ({len(seeds)}) on its first axis; got shape {x.shape}")
    check_images(x if shared else x.reshape(-1, *x.shape[2:]), "x")
    n = x.shape[0] if shared else x.shape[1]
    check_labels(y, "y", n_samples=n)
    check_seed(seed, "seed")
    epochs, batch_size = spec.epochs, spec.batch_size
    if pixels is not None and not shared:
        raise ValueError("pixels needs shared images x (N, C, H, W)")
    tensors = None if pixels is None else _pixel_tensors(pixels, len(seeds), n)
    if tensors is not None and (
        tensors[0].min() < 0 or tensors[0].max() >= x.shape[2] or tensors[1].min() < 0 or tensors[1].max() >= x.shape[3]
    ):
        raise ValueError(f"pixels rows/cols must lie inside the {x.shape[2]}x{x.shape[3]} image")
    members = [spec.build_model(s) for s in seeds]
    population = Population(members[0], members)
    for value in population.params.values():
        value.requires_grad_(True)
    opt = make_optimizer(spec.optimizer, list(population.params.values()), spec.lr, spec.weight_decay)
    x_all = torch.from_numpy(x)
    y_all = torch.from_numpy(y.astype(np.int64))
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    bar = tqdm(
        total=epochs * ((n + batch_size - 1) // batch_size),
        desc=f"population of {len(seeds)}",
        unit="batch",
        leave=False,
        disable=not progress or None,
    )
    for epoch in range(epochs):
        order = torch.randperm(n, generator=_epoch_generator(seed, epoch))
        # reorder once per epoch; the batches are then contiguous slices (no per-batch gathers)
        x_epoch = x_all[order] if shared else x_all[:, order]
        y_epoch = y_all[order]
        t_epoch = None if tensors is None else [t[:, order] for t in tensors]
        for start in range(0, n, batch_size):
            stop = start + batch_size
            xb = x_epoch[start:stop] if shared else x_epoch[:, start:stop]
            yb = y_epoch[start:stop]
            opt.zero_grad(set_to_none=True)
            if t_epoch is not None:
                logits = population.forward_pixels(xb, *(t[:, start:stop] for t in t_epoch))
            else:
                logits = population.forward(xb, shared=shared)  # (P, B, classes)
            # classes on dim 1 and the batch as a trailing dim: log-softmax then vectorises over the
            # batch instead of over the (few) classes
            per_member = loss_fn(logits.transpose(1, 2), yb.expand(len(seeds), -1)).mean(1)
            per_member.sum().backward()  # sum of independent losses: each member gets its own gradient
            opt.step()
            bar.update(1)
    bar.close()
    for value in population.params.values():
        value.requires_grad_(False)
    return population
