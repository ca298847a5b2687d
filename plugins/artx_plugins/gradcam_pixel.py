"""``gradcam-pixel``: class-wise single-pixel poisons placed outside the region GradCAM says the
clean model looks at, with positions and intensities searched by CMA-ES (Chaudhury, AAAI 2020
doctoral consortium, "interpretable single-pixel poisons").

``fit(x, y)`` runs the search; ``poison(x, y)`` then writes each image's class pixel.

1. **Allowed region.** captum's ``LayerGradCam`` on ``layer`` of the clean model (default
   ``"relu2"``, the rectified output of ``paper-cnn``'s last conv layer: Grad-CAM's feature maps
   are the rectified ones, as Selvaraju et al.'s reference code reads ``relu5_3`` of VGG-16.
   Measured on pixel-poisoning's clean MNIST paper-cnn (2 epochs, 10,000 images): on the pre-ReLU
   ``"conv2"`` the class maps peak at ≤ 6e-4, class 6's is zero everywhere and the regions of
   interest hold 0-164 of 784 pixels; on ``"relu2"`` they peak at 3e-4 to 0.023 and hold 19-284),
   with the true label as target and ReLU on
   the map, upsampled bilinearly to the image size (``LayerAttribution.interpolate``). Per class,
   the mean map over that class's images; the region of interest is where the mean map is
   ≥ ``threshold`` × its maximum; the class's pixel may only go in the complement (its
   *allowed set*, in raster order).
2. **Search space.** Per class ``k`` a position and an intensity in [0, 1], CMA-ES
   (``cma.CMAEvolutionStrategy``, ask/tell), ``population_size`` candidates per generation for
   ``generations`` generations, starting at the middle of each range (intensity 0.5), step sizes
   ``sigma0`` × each range (``CMA_stds``). The position is encoded as ``position_encoding`` says:
   ``"index"`` (default): one integer variable, an index into the class's allowed set in raster
   order, bounds ``[0, n_k − 1]`` (2K variables); ``"row-col"``: two integer variables, a row in
   ``[0, H − 1]`` and a column in ``[0, W − 1]``, decoded to the nearest allowed pixel (Euclidean;
   3K variables). Why the second: raster-index neighbours are neighbours within a row only, and the
   result (the distribution mean) averages indices of unrelated pixels; with rows and columns,
   nearby values are nearby pixels (docs/benchmarks/search-signal.md measures both).
3. **Fitness** (minimised): ``−gap`` with ``gap = clean validation error − poisoned training
   error`` of a proxy model trained as ``proxy`` says (a :class:`~artx.training.TrainingSpec`;
   default ``linear``, 5 epochs, Adam) on the search set's training part (a ``1 − validation_fraction`` share of
   ``x``, seeded split) with the candidate's pixels written in; the validation part stays clean.
   The poisoned training error is measured on that same poisoned training part. All candidates
   of a generation share one training seed (same initial weights, same batch order), so that
   they differ only by their poison; the ``population_size`` proxies of a generation are trained
   together (:func:`artx.population.train_population`, stacked parameters).
4. **Result.** The distribution mean (``es.result.xfavorite``) after the last generation,
   rounded, is the poison; it is re-evaluated ``reevaluations`` times with fresh training seeds
   and the gaps are stored as ``final_gaps_``.

Checkpointing: with ``checkpoint_path``, every generation's candidates and fitness values are
written there atomically as JSON, together with the search's parameters and fingerprints of the
data, the clean model and the allowed regions. A restarted ``fit`` replays the stored generations through a fresh
CMA-ES with the same seed (ask, check that it proposes the stored candidates up to float rounding
— another CPU's BLAS rounds cma's linear algebra differently — and decodes them to the same pixels,
tell the stored fitness values) instead of unpickling an optimizer object, so the file holds only numbers and is
safe to read; a checkpoint written with different parameters or data is refused. cma draws from
numpy's global generator: the search keeps its own copy of that generator's state and swaps it in
around each cma call, so code running between generations cannot change the search.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as metadata
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art.attacks.attack import PoisoningAttackWhiteBox
from art.estimators.classification import PyTorchClassifier
from scipy import ndimage
from tqdm.auto import tqdm

from artx import atomic, registry
from artx.data import fingerprint
from artx.population import check_population_model, train_population
from artx.training import TrainingSpec
from artx.validation import check_bool, check_choice, check_float, check_images, check_int, check_seed, class_indices
from artx_plugins._class_pixels import ClassPixelTable, check_table

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 2
# Largest difference between a replayed and a stored CMA-ES coordinate that counts as float
# rounding (see GradCamPixelPoisoning._check_replay); coordinates are pixel indices and intensities.
REPLAY_TOLERANCE = 1e-5

#: The default proxy: multinomial logistic regression, 5 epochs of Adam (lr 1e-3), batch 128.
DEFAULT_PROXY = TrainingSpec("linear", epochs=5)

#: The values of ``position_encoding``.
POSITION_ENCODINGS = ("index", "row-col")


class GradCamPixelPoisoning(ClassPixelTable, PoisoningAttackWhiteBox):
    """CMA-ES search for class-wise single pixels outside the clean model's GradCAM region.

    :param classifier: The clean model M_c, an ART ``PyTorchClassifier``.
    :param layer: Name of the module GradCAM looks at, a rectified conv feature map (default ``"relu2"``).
    :param threshold: Region of interest = mean map ≥ ``threshold`` × its max (default 0.5, in [0, 1]).
    :param generations: CMA-ES generations (≥ 1, default 10).
    :param population_size: Candidates per generation (≥ 2, default 16).
    :param sigma0: Initial step size as a fraction of each variable's range (default 0.3).
    :param position_encoding: How CMA-ES encodes a class's position: ``"index"`` (default, an
        index into the allowed pixels in raster order) or ``"row-col"`` (row and column, decoded
        to the nearest allowed pixel). See the module doc.
    :param proxy: How the proxy is trained, a :class:`~artx.training.TrainingSpec` (default
        :data:`DEFAULT_PROXY`: ``linear``, multinomial logistic regression, 5 epochs of Adam,
        batch 128: cheap, trained together with the sparse single-pixel path of
        :mod:`artx.population`, and on MNIST it ranks poisons as the CNN does: class pixel >
        random pixel > none). Its architecture must have no dropout or batch norm.
    :param validation_fraction: Share of the search set kept clean to measure the validation
        error (default 0.2).
    :param reevaluations: Trainings of the final candidate (default 3).
    :param seed: Seed of CMA-ES, the split and the proxy trainings (default 0).
    :param checkpoint_path: JSON file for the per-generation checkpoint, or None (its folder
        must be writable; it must not be a folder).
    :param replay_only: Refuse to search: ``fit`` replays the checkpoint and raises ``ValueError``
        where it holds fewer than ``generations`` generations (for reading a finished search
        without risking hours of CMA-ES). Needs ``checkpoint_path``.
    :param batch_size: Batch size of the GradCAM pass (default 256).
    :param progress: Show a tqdm bar over generations.
    :param eval_chunks: Each generation's candidates are trained in this many populations of
        consecutive candidates (default 1: all together). Part of the search's identity (it
        changes rounding), unlike ``n_jobs``.
    :param n_jobs: Worker processes training the chunks (default 1: in this process); the
        search is bit-identical for any ``n_jobs`` at the same ``eval_chunks``.
    :param threads_per_job: Torch threads of each worker.
    """

    _estimator_requirements = (PyTorchClassifier,)
    attack_params = PoisoningAttackWhiteBox.attack_params + [
        "layer",
        "threshold",
        "generations",
        "population_size",
        "sigma0",
        "position_encoding",
        "proxy",
        "validation_fraction",
        "reevaluations",
        "seed",
        "checkpoint_path",
        "replay_only",
        "batch_size",
        "progress",
        "eval_chunks",
        "n_jobs",
        "threads_per_job",
    ]

    def __init__(
        self,
        classifier: PyTorchClassifier,
        layer: str = "relu2",
        threshold: float = 0.5,
        generations: int = 10,
        population_size: int = 16,
        sigma0: float = 0.3,
        position_encoding: str = "index",
        proxy: TrainingSpec = DEFAULT_PROXY,
        validation_fraction: float = 0.2,
        reevaluations: int = 3,
        seed: int = 0,
        checkpoint_path: str | os.PathLike | None = None,
        replay_only: bool = False,
        batch_size: int = 256,
        progress: bool = False,
        eval_chunks: int = 1,
        n_jobs: int = 1,
        threads_per_job: int = 1,
    ):
        super().__init__(classifier)
        self.layer = layer
        self.threshold = threshold
        self.generations = generations
        self.population_size = population_size
        self.sigma0 = sigma0
        self.position_encoding = position_encoding
        self.proxy = proxy
        self.validation_fraction = validation_fraction
        self.reevaluations = reevaluations
        self.seed = seed
        self.checkpoint_path = checkpoint_path
        self.replay_only = replay_only
        self.batch_size = batch_size
        self.progress = progress
        self.eval_chunks = eval_chunks
        self.n_jobs = n_jobs
        self.threads_per_job = threads_per_job
        self.cam_maps_: np.ndarray | None = None
        self.allowed_: np.ndarray | None = None
        self.history_: list[dict] = []
        self.final_gaps_: list[float] = []
        self.resumed_generations_ = 0
        self._check_params()

    # The estimator's shape, read when needed (not stored: set_params stays true).
    @property
    def nb_classes(self) -> int:  # type: ignore[override]
        return int(self.estimator.nb_classes)

    @property
    def channels(self) -> int:
        return int(self.estimator.input_shape[0])

    @property
    def height(self) -> int:  # type: ignore[override]
        return int(self.estimator.input_shape[1])

    @property
    def width(self) -> int:  # type: ignore[override]
        return int(self.estimator.input_shape[2])

    # ---- parameters ---------------------------------------------------------------------------

    def _check_params(self) -> None:
        shape = tuple(self.estimator.input_shape)
        if len(shape) != 3:
            raise ValueError(f"classifier.input_shape must be (C, H, W); got {shape}")
        self._check_layer()
        check_float(self.threshold, "threshold", minimum=0.0, maximum=1.0)
        check_int(self.generations, "generations", minimum=1)
        check_int(self.population_size, "population_size", minimum=2)
        check_float(self.sigma0, "sigma0", minimum=0.0, min_inclusive=False)
        check_choice(self.position_encoding, "position_encoding", POSITION_ENCODINGS)
        if not isinstance(self.proxy, TrainingSpec):
            raise TypeError(
                "proxy must be an artx.training.TrainingSpec, e.g. TrainingSpec('linear', epochs=5); got "
                f"{self.proxy!r}"
            )
        if self.proxy.arch not in registry.names("model"):
            raise ValueError(
                f"proxy.arch must be a registered model ({', '.join(registry.names('model'))}); got {self.proxy.arch!r}"
            )
        if self.proxy.trainable is not None or self.proxy.objective is not None:
            raise ValueError("proxy must train every layer with plain cross-entropy (trainable=None, objective=None)")
        check_population_model(self.proxy.build_model(0), "proxy.arch")
        check_float(
            self.validation_fraction,
            "validation_fraction",
            minimum=0.0,
            maximum=1.0,
            min_inclusive=False,
            max_inclusive=False,
        )
        check_int(self.reevaluations, "reevaluations", minimum=1)
        check_seed(self.seed, "seed")
        check_int(self.batch_size, "batch_size", minimum=1)
        check_bool(self.progress, "progress")
        check_int(self.eval_chunks, "eval_chunks", minimum=1)
        check_int(self.n_jobs, "n_jobs", minimum=1)
        check_int(self.threads_per_job, "threads_per_job", minimum=1)
        self._check_checkpoint_path()
        check_bool(self.replay_only, "replay_only")
        if self.replay_only and self.checkpoint_path is None:
            raise ValueError("replay_only=True needs checkpoint_path (the search to replay); got checkpoint_path=None")

    def _check_layer(self) -> None:
        """``layer`` names a module of the model whose output is a 4-D feature map (GradCAM needs
        one): checked with one forward pass of a blank image, before any work."""
        if not isinstance(self.layer, str):
            raise TypeError(f"layer must be a module name (str), e.g. 'relu2'; got {self.layer!r}")
        model = self.estimator.model
        modules = dict(model.named_modules())
        convs = [name for name, m in modules.items() if isinstance(m, torch.nn.Conv2d)]
        if self.layer not in modules or self.layer == "":
            raise ValueError(
                f"layer must name a module of the classifier's model; got {self.layer!r}; conv layers: "
                f"{', '.join(convs) or '(none)'}"
            )
        shapes: list[tuple[int, ...]] = []
        handle = modules[self.layer].register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad():
                model(torch.zeros((1, *self.estimator.input_shape), device=self.estimator.device))
        finally:
            handle.remove()
            model.train(was_training)
        if not shapes or len(shapes[0]) != 4:
            raise ValueError(
                f"layer must be a convolutional layer (output (N, C, H, W)) for GradCAM; {self.layer!r} outputs shape "
                f"{shapes[0] if shapes else 'nothing'}; conv layers: {', '.join(convs) or '(none)'}"
            )

    def _check_checkpoint_path(self) -> None:
        if self.checkpoint_path is None:
            return
        if not isinstance(self.checkpoint_path, (str, os.PathLike)):
            raise TypeError(f"checkpoint_path must be a path or None; got {self.checkpoint_path!r}")
        path = Path(self.checkpoint_path)
        if path.is_dir():
            raise ValueError(f"checkpoint_path must be a file path, not a folder; got {str(path)!r}")
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ValueError(f"checkpoint_path {str(path)!r} lies under {str(parent)!r}, which is a file")
                if not os.access(parent, os.W_OK | os.X_OK):
                    raise ValueError(f"checkpoint_path {str(path)!r}: the folder {str(parent)!r} is not writable")
                break

    def _search_spec(self, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Everything that determines the search's results (stored in, and compared with, the checkpoint)."""
        model = self.estimator.model
        weights = fingerprint(*[v.detach().cpu().numpy() for v in model.state_dict().values()])
        names = (
            "layer",
            "threshold",
            "generations",
            "population_size",
            "sigma0",
            "validation_fraction",
            "reevaluations",
            "seed",
        )
        # parameters added after searches were stored: at their defaults (which search as before the
        # parameter existed) they stay out, so those searches still replay
        added_later = {
            name: getattr(self, name)
            for name, default in (("eval_chunks", 1), ("position_encoding", "index"))
            if getattr(self, name) != default
        }
        return {
            **{name: getattr(self, name) for name in names},
            **added_later,
            "proxy": self.proxy.key_fields(),
            "data": fingerprint(x, y),
            "clean_model": weights,
            # the allowed regions too: the same weights on another CPU could round a GradCAM value
            # across the threshold, and the stored candidates would then decode to other pixels
            "regions": fingerprint(self.allowed_),
            "cma": metadata.version("cma"),
        }

    # ---- GradCAM ------------------------------------------------------------------------------

    def class_cams(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per class, the mean GradCAM map (ReLU, upsampled to H × W) over that class's images for
        the true label: array (K, H, W). Every class needs at least one image."""
        from captum.attr import LayerAttribution, LayerGradCam

        x = check_images(x, "x", channels=self.channels, height_width=(self.height, self.width))
        y = class_indices(y, "y", n_samples=len(x), nb_classes=self.nb_classes)
        counts = np.bincount(y, minlength=self.nb_classes)
        empty = [k for k in range(self.nb_classes) if counts[k] == 0]
        if empty:
            raise ValueError(
                f"y must hold images of every class 0..{self.nb_classes - 1} (a class's GradCAM map is a mean over "
                f"its images); classes without images: {empty}"
            )
        model = self.estimator.model
        was_training = model.training
        model.eval()
        gradcam = LayerGradCam(model, dict(model.named_modules())[self.layer])
        sums = np.zeros((self.nb_classes, self.height, self.width), dtype=np.float64)
        try:
            for start in range(0, len(x), self.batch_size):
                xb = torch.from_numpy(x[start : start + self.batch_size]).to(self.estimator.device)
                yb = torch.from_numpy(y[start : start + self.batch_size].astype(np.int64)).to(self.estimator.device)
                maps = gradcam.attribute(xb, target=yb, relu_attributions=True)
                maps = LayerAttribution.interpolate(maps, (self.height, self.width), interpolate_mode="bilinear")
                maps = maps.detach().cpu().numpy().sum(axis=1)  # (B, H, W)
                np.add.at(sums, y[start : start + self.batch_size], maps)
        finally:
            model.train(was_training)
        return (sums / counts[:, None, None]).astype(np.float32)

    def allowed_masks(self, cams: np.ndarray) -> np.ndarray:
        """Boolean (K, H, W): True where class ``k``'s pixel may go (outside its region of interest)."""
        allowed = np.empty(cams.shape, dtype=bool)
        for k, cam in enumerate(cams):
            peak = float(cam.max())
            if peak <= 0:  # the model's evidence for this class is nowhere positive: no region
                logger.warning("class %d: GradCAM map is zero everywhere; every pixel is allowed", k)
                allowed[k] = True
            else:
                allowed[k] = cam < self.threshold * peak
        short = [k for k in range(len(cams)) if not allowed[k].any()]
        if short:
            raise ValueError(
                f"threshold={self.threshold} leaves no allowed pixel outside the GradCAM region for classes {short}; "
                "raise threshold (in (0, 1])"
            )
        return allowed

    # ---- search -------------------------------------------------------------------------------

    def fit(self, x: np.ndarray, y: np.ndarray) -> GradCamPixelPoisoning:
        """Compute the allowed regions and search the pixels on the search set ``(x, y)``.

        :param x: float32 images (N, C, H, W) in [0, 1] (the attacker's training data).
        :param y: Integer labels (N,) in ``[0, nb_classes)``; every class must occur.
        """
        import cma

        x = check_images(x, "x", channels=self.channels, height_width=(self.height, self.width))
        y = class_indices(y, "y", n_samples=len(x), nb_classes=self.nb_classes)
        self.cam_maps_ = self.class_cams(x, y)
        self.allowed_ = self.allowed_masks(self.cam_maps_)
        self._flat_allowed = [np.flatnonzero(mask.ravel()) for mask in self.allowed_]
        sizes = np.array([len(f) for f in self._flat_allowed])
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(x))
        n_val = max(1, int(round(self.validation_fraction * len(x))))
        if n_val >= len(x):
            raise ValueError(f"x must hold at least 2 images to split off a validation part; got {len(x)}")
        self._x_val, self._y_val = x[order[:n_val]], y[order[:n_val]]
        self._x_fit, self._y_fit = x[order[n_val:]], y[order[n_val:]]

        spec = self._search_spec(x, y)
        stored = self._read_checkpoint(spec)
        if self.replay_only and len(stored) < self.generations:
            raise ValueError(
                f"replay_only=True: checkpoint_path {str(self.checkpoint_path)!r} holds {len(stored)} of "
                f"{self.generations} generations of this search; run the search first (replay_only=False)"
            )
        K = self.nb_classes
        if self.position_encoding == "index":
            upper = [float(n - 1) for n in sizes]
        else:
            upper = [float(self.height - 1)] * K + [float(self.width - 1)] * K
            # per class, the nearest allowed pixel of every pixel (scipy's exact Euclidean distance transform)
            self._nearest_allowed = [
                np.ravel_multi_index(
                    ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True),
                    (self.height, self.width),
                )
                for mask in self.allowed_
            ]
        P = len(upper)  # position variables
        x0 = np.concatenate([np.asarray(upper) / 2.0, np.full(K, 0.5)])
        options = {
            "bounds": [[0.0] * P + [0.0] * K, upper + [1.0] * K],
            "integer_variables": list(range(P)),
            "popsize": self.population_size,
            "seed": self.seed + 1,  # cma treats seed 0 as "seed from the clock"
            "CMA_stds": [max(u, 1.0) for u in upper] + [1.0] * K,
            "verbose": -9,
            "verb_disp": 0,
            "verb_log": 0,
        }
        outer = np.random.get_state()
        es = cma.CMAEvolutionStrategy(x0, self.sigma0, options)
        self._cma_state = np.random.get_state()
        np.random.set_state(outer)

        self.history_ = []
        self.resumed_generations_ = len(stored)
        bar = tqdm(
            range(self.generations),
            desc="CMA-ES generations",
            unit="gen",
            leave=False,
            disable=not self.progress or None,
        )
        for generation in bar:
            with self._cma_random():
                solutions = [np.asarray(s, dtype=np.float64) for s in es.ask()]
            if generation < len(stored):
                record = stored[generation]
                self._check_replay(solutions, record["solutions"], generation)
                fitness = list(record["fitness"])
            else:
                record = {
                    "generation": generation,
                    "training_seed": self._training_seed(generation),
                    "solutions": [s.tolist() for s in solutions],
                }
                gaps = self._evaluate(
                    [self._decode(s) for s in solutions],
                    [record["training_seed"]] * len(solutions),
                    record["training_seed"],
                )
                fitness = [-g for g in gaps]
                record["fitness"] = fitness
            with self._cma_random():
                es.tell(solutions, fitness)
            self.history_.append(record)
            if generation >= len(stored) and self.checkpoint_path is not None:
                atomic.write_json(
                    self.checkpoint_path, {"format": CHECKPOINT_FORMAT, "spec": spec, "generations": self.history_}
                )
            bar.set_postfix(best_gap=f"{-min(fitness):.3f}")
            logger.info(
                "generation %d/%d: best gap %.4f, mean gap %.4f",
                generation + 1,
                self.generations,
                -min(fitness),
                -float(np.mean(fitness)),
            )

        rows, cols, intensities = self._decode(np.asarray(es.result.xfavorite, dtype=np.float64))
        final_seed = self._training_seed(self.generations)
        seeds = [final_seed + r for r in range(self.reevaluations)]
        self.final_gaps_ = self._evaluate([(rows, cols, intensities)] * self.reevaluations, seeds, final_seed)
        self._set_table(rows, cols, intensities)
        logger.info(
            "final poison: gap %.4f ± %.4f over %d proxy trainings",
            np.mean(self.final_gaps_),
            np.std(self.final_gaps_),
            self.reevaluations,
        )
        return self

    def _check_replay(self, proposed: list[np.ndarray], stored: list[list[float]], generation: int) -> None:
        """Refuse a checkpoint whose stored candidates are not the ones this CMA-ES proposes.

        On another CPU, numpy's BLAS kernels round cma's eigendecompositions differently, so the
        replayed candidates drift from the stored ones by float noise (measured: 2e-7 after 42
        generations, AVX2 → AVX-512); a different cma version or seed differs by about ``sigma0``.
        So the candidates must agree within ``REPLAY_TOLERANCE`` and decode to the same pixels:
        then the stored fitness values are those of the poisons this search proposes.
        """
        proposed_array, stored_array = np.array(proposed), np.array(stored, dtype=np.float64)
        drift = (
            float(np.max(np.abs(proposed_array - stored_array)))
            if proposed_array.shape == stored_array.shape
            else np.inf
        )
        replays = drift <= REPLAY_TOLERANCE and all(
            np.array_equal(a, b)
            for p, s in zip(proposed_array, stored_array)
            for a, b in zip(self._decode(p)[:2], self._decode(s)[:2])
        )
        if not replays:
            raise ValueError(
                f"checkpoint {self.checkpoint_path} cannot be replayed: at generation {generation} CMA-ES proposes "
                f"other candidates than it stores (largest difference {drift:.3g}, tolerance {REPLAY_TOLERANCE:g}, "
                "or the same candidates decode to other pixels; was it written by another cma version?); "
                "delete it to restart"
            )
        if drift > 0:
            logger.debug("generation %d replays with a float drift of %.3g", generation, drift)

    @contextlib.contextmanager
    def _cma_random(self) -> Iterator[None]:
        """Run a cma call on the search's own copy of numpy's global generator."""
        outer = np.random.get_state()
        np.random.set_state(self._cma_state)
        try:
            yield
        finally:
            self._cma_state = np.random.get_state()
            np.random.set_state(outer)

    def _training_seed(self, generation: int) -> int:
        return int(np.random.SeedSequence([self.seed, generation]).generate_state(1)[0] % (2**31))

    def _decode(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A CMA-ES vector → (rows, cols, intensities); indices rounded and clipped into the allowed sets."""
        K = self.nb_classes
        rows, cols = np.empty(K, dtype=np.int64), np.empty(K, dtype=np.int64)
        for k, flat in enumerate(self._flat_allowed):
            if self.position_encoding == "index":
                pixel = flat[int(np.clip(np.rint(z[k]), 0, len(flat) - 1))]
            else:
                row = int(np.clip(np.rint(z[k]), 0, self.height - 1))
                col = int(np.clip(np.rint(z[K + k]), 0, self.width - 1))
                pixel = self._nearest_allowed[k][row, col]
            rows[k], cols[k] = divmod(int(pixel), self.width)
        return rows, cols, np.clip(z[-K:], 0.0, 1.0).astype(np.float32)

    def proxy_gaps(
        self,
        tables: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
        init_seeds: Sequence[int],
        order_seed: int,
    ) -> list[float]:
        """The search's fitness, as a gap, for any pixel tables: after :meth:`fit`, on its split of the
        search set, with the current ``proxy`` (``set_params(proxy=...)`` to try another).

        :param tables: One ``(rows, cols, intensities)`` per candidate, each of length ``nb_classes``.
        :param init_seeds: The proxy's weight-initialisation seed per candidate (equal seeds: paired).
        :param order_seed: Seed of the batch order, shared by all candidates.
        :return: Clean validation error − poisoned training error (fractions), in candidate order.
        """
        if not hasattr(self, "_x_fit"):
            raise RuntimeError("proxy_gaps needs the search's data split: call fit(x, y) first")
        if len(init_seeds) != len(tables):
            raise ValueError(f"init_seeds needs one seed per table ({len(tables)}); got {len(init_seeds)}")
        shape = {"nb_classes": self.nb_classes, "height": self.height, "width": self.width}
        checked = [check_table(*table, **shape) for table in tables]
        return self._evaluate(checked, [int(seed) for seed in init_seeds], int(order_seed))

    def _evaluate(
        self,
        candidates: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
        init_seeds: Sequence[int],
        order_seed: int,
    ) -> list[float]:
        """Gap (clean validation error − poisoned training error) of a proxy trained on each
        candidate's poisoned data, in candidate order.

        The candidates are trained in ``eval_chunks`` populations of consecutive candidates, each
        trained together (:func:`artx.population.train_population`); with ``n_jobs`` > 1 the chunks
        are trained by that many worker processes (joblib's loky, ``threads_per_job`` torch threads
        each). The gaps depend on the chunking (a chunk's batched products round like its own
        width), never on where the chunks ran: the same ``eval_chunks`` gives bit-identical searches
        serially and in parallel.
        """
        y = self._y_fit
        rows = np.stack([c[0][y] for c in candidates])  # (P, N): each member's pixel for each image
        cols = np.stack([c[1][y] for c in candidates])
        values = np.stack([c[2][y] for c in candidates])
        bounds = np.linspace(0, len(candidates), min(self.eval_chunks, len(candidates)) + 1).round().astype(int)
        jobs = [
            (
                self.proxy,
                list(init_seeds[a:b]),
                order_seed,
                (rows[a:b], cols[a:b], values[a:b]),
            )
            for a, b in zip(bounds[:-1], bounds[1:])
        ]
        data = (self._x_fit, y, self._x_val, self._y_val)
        if self.n_jobs == 1:
            gaps = [_chunk_gaps(*job, *data, threads=None) for job in jobs]
        else:
            from joblib import Parallel, delayed

            run = Parallel(n_jobs=self.n_jobs, backend="loky")
            gaps = run(delayed(_chunk_gaps)(*job, *data, threads=self.threads_per_job) for job in jobs)
        return [gap for chunk in gaps for gap in chunk]

    def _read_checkpoint(self, spec: dict) -> list[dict]:
        if self.checkpoint_path is None or not Path(self.checkpoint_path).is_file():
            return []
        path = Path(self.checkpoint_path)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            saved_spec, generations = state["spec"], state["generations"]
            if state.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"format {state.get('format')!r}")
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"checkpoint_path {str(path)!r} is not a readable gradcam-pixel checkpoint ({error}); delete it to "
                "restart"
            ) from error
        if saved_spec != spec:
            keys = sorted(k for k in set(spec) | set(saved_spec) if spec.get(k) != saved_spec.get(k))
            raise ValueError(
                f"checkpoint_path {str(path)!r} belongs to a search with other parameters or data (differs in: "
                f"{', '.join(keys)}); refusing to mix them. Use another path or delete it"
            )
        if not isinstance(generations, list):
            raise ValueError(
                f"checkpoint_path {str(path)!r} is malformed: 'generations' must be a list; delete it to restart"
            )
        for index, record in enumerate(generations):
            problem = self._record_problem(record, index)
            if problem:
                raise ValueError(
                    f"checkpoint_path {str(path)!r} is malformed: generation {index} {problem}; delete it to restart"
                )
        logger.info("resuming the search from %s after %d generation(s)", path, len(generations))
        return generations[: self.generations]

    def _record_problem(self, record: Any, index: int) -> str | None:
        """What is wrong with one stored generation, or None."""
        n_variables = (2 if self.position_encoding == "index" else 3) * self.nb_classes
        if not isinstance(record, dict):
            return "is not an object"
        solutions, fitness = record.get("solutions"), record.get("fitness")
        if not isinstance(solutions, list) or len(solutions) != self.population_size:
            return f"must hold {self.population_size} solutions"
        if any(
            not isinstance(s, list)
            or len(s) != n_variables
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in s)
            for s in solutions
        ):
            return f"must hold solutions of {n_variables} numbers"
        if (
            not isinstance(fitness, list)
            or len(fitness) != self.population_size
            or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and np.isfinite(f) for f in fitness)
        ):
            return f"must hold {self.population_size} finite fitness values"
        if record.get("training_seed") != self._training_seed(index):
            return "has a training seed other than this search's"
        return None

    # ---- inspection ---------------------------------------------------------------------------

    def plot_maps(self, class_names: Sequence[str] | None = None):
        """Figure: each class's mean GradCAM map, its region of interest outlined, the chosen pixel marked."""
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        if self.cam_maps_ is None or self.rows_ is None:
            raise RuntimeError("plot_maps needs a fitted search; call fit(x, y) first")
        names = list(class_names) if class_names is not None else [str(k) for k in range(self.nb_classes)]
        columns = min(5, self.nb_classes)
        rows = (self.nb_classes + columns - 1) // columns
        figure = Figure(figsize=(2.2 * columns, 2.4 * rows))
        axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
        for k in range(self.nb_classes):
            ax = axes[k]
            ax.imshow(self.cam_maps_[k], cmap="viridis")
            ax.contour(~self.allowed_[k], levels=[0.5], colors="white", linewidths=0.8)
            # the pixel itself, outlined: a box of one pixel stays inside the image even at its border
            ax.add_patch(
                Rectangle((self.cols_[k] - 0.5, self.rows_[k] - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.5)
            )
            ax.set_title(f"{names[k]}: ({self.rows_[k]},{self.cols_[k]}) v={self.intensities_[k]:.2f}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in axes[self.nb_classes :]:
            ax.axis("off")
        figure.suptitle(
            f"mean GradCAM ({self.layer}) per class; white: region of interest (≥ {self.threshold} × max); red: "
            "poison pixel",
            fontsize=8,
        )
        return figure


def _chunk_gaps(
    proxy: TrainingSpec,
    init_seeds: list[int],
    order_seed: int,
    pixels: tuple[np.ndarray, np.ndarray, np.ndarray],
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    threads: int | None,
) -> list[float]:
    """Train one chunk of a generation together and return its gaps (in a worker, or here)."""
    if threads is not None:
        torch.set_num_threads(threads)
    population = train_population(proxy, x_fit, y_fit, init_seeds=init_seeds, seed=order_seed, pixels=pixels)
    train_error = (population.predict(x_fit, pixels=pixels) != y_fit[None]).mean(axis=1)
    val_error = (population.predict(x_val) != y_val[None]).mean(axis=1)
    return [float(v - t) for v, t in zip(val_error, train_error)]
