"""Relabelling a distorted dataset: keep only the images whose label survives the distortion.

The "minimally identifiable" method distorts training images, has people label each distorted
image alone, and keeps the images labelled correctly. Three ways to get those labels:

- human labels from a CSV file (``index,label``; ``label`` is 0–9 or ``skip``) —
  :func:`read_labels_csv`, the paper's method;
- :func:`relabel_interactive`, a terminal labeller that writes such a CSV atomically after every
  key and resumes where it stopped (``artx relabel``);
- a proxy labeller, :func:`proxy_labels`: a classifier trained on distorted images of a
  disjoint part of the data.

Indices always refer to positions in the full training split, so a CSV stays valid across runs.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from artx import atomic
from artx.validation import check_int

SKIP = "skip"
_SHADES = " ░▒▓█"


class LabelsFileError(ValueError):
    """A human-labels CSV with a bad row (the message names the file and line)."""


def disjoint_subsets(n_total: int, sizes: Sequence[int], seed: int) -> list[np.ndarray]:
    """Disjoint random subsets of ``range(n_total)`` with the given sizes, each sorted.

    Drawn from one seeded permutation, so the first subset does not depend on the later sizes.
    """
    check_int(n_total, "n_total", minimum=1)
    check_int(seed, "seed", minimum=0)
    for size in sizes:
        check_int(size, "size", minimum=1)
    if sum(sizes) > n_total:
        raise ValueError(f"subset sizes {list(sizes)} add up to more than the {n_total} available images")
    order = np.random.default_rng(seed).permutation(n_total)
    bounds = np.cumsum([0, *sizes])
    return [np.sort(order[start:end]) for start, end in zip(bounds[:-1], bounds[1:])]


def read_labels_csv(
    path: str | os.PathLike, valid_indices: Iterable[int] | None = None, nb_classes: int = 10
) -> dict[int, int | None]:
    """Read human labels: rows ``index,label`` (an optional header ``index,label`` first).

    :param path: The CSV file.
    :param valid_indices: The indices that may appear (the distorted images), or None.
    :param nb_classes: Labels must lie in ``[0, nb_classes)``; ``skip`` means "not identifiable".
    :return: index → label (None for ``skip``).
    :raises LabelsFileError: a bad row, naming the file and line: wrong column count, an index that is
        not an integer or not among ``valid_indices``, a label outside the range, a duplicate.
    """
    path = Path(path)
    valid = None if valid_indices is None else {int(i) for i in valid_indices}
    labels: dict[int, int | None] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line_number, row in enumerate(csv.reader(handle), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if line_number == 1 and [cell.strip().lower() for cell in row] == ["index", "label"]:
                continue
            where = f"{path}, line {line_number}"
            if len(row) != 2:
                raise LabelsFileError(f"{where}: expected 2 columns 'index,label'; got {row!r}")
            index_text, label_text = (cell.strip() for cell in row)
            try:
                index = int(index_text)
            except ValueError:
                raise LabelsFileError(f"{where}: index must be an integer; got {index_text!r}") from None
            if valid is not None and index not in valid:
                raise LabelsFileError(f"{where}: index {index} is not one of the distorted images to label")
            if index in labels:
                raise LabelsFileError(f"{where}: duplicate index {index}")
            if label_text.lower() == SKIP:
                labels[index] = None
                continue
            try:
                label = int(label_text)
            except ValueError:
                label = -1
            if not 0 <= label < nb_classes:
                raise LabelsFileError(
                    f"{where}: label must be an integer in [0, {nb_classes - 1}] or '{SKIP}'; got {label_text!r}"
                )
            labels[index] = label
    return labels


def write_labels_csv(path: str | os.PathLike, labels: Mapping[int, int | None]) -> None:
    """Atomically write ``index,label`` rows (in insertion order; ``None`` as ``skip``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "label"])
    for index, label in labels.items():
        writer.writerow([index, SKIP if label is None else label])
    atomic.write_text(path, buffer.getvalue())


def agreeing_mask(indices: Sequence[int], true_labels: np.ndarray, given: Mapping[int, int | None]) -> np.ndarray:
    """Which of ``indices`` were given their true label (missing or skipped ones are dropped)."""
    return np.array([given.get(int(index)) == int(label) for index, label in zip(indices, true_labels)], dtype=bool)


def proxy_labels(
    x_pool: np.ndarray,
    y_pool: np.ndarray,
    x_target: np.ndarray,
    *,
    arch: str = "paper-cnn",
    epochs: int = 5,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """Label ``x_target`` with a classifier trained (cached) on the distorted images ``x_pool``.

    Stands in for human labellers: the images it labels correctly are those whose class a
    model can still read after the distortion.
    """
    from artx.evaluation import predict_labels
    from artx.model_cache import train_cached
    from artx.models import to_art_classifier
    from artx.training import TrainingSpec

    trained = train_cached(
        TrainingSpec(arch, epochs=epochs), x_pool, y_pool, seed=seed, device=device, progress=progress
    )
    return predict_labels(to_art_classifier(trained.model, device=device), x_target)


def render_image(image: np.ndarray) -> str:
    """A greyscale image in [0, 1] as Unicode shade blocks, two characters per pixel."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3:
        image = image[0]
    levels = np.clip((image * (len(_SHADES) - 1)).round().astype(int), 0, len(_SHADES) - 1)
    return "\n".join("".join(_SHADES[level] * 2 for level in row) for row in levels)


def read_single_key(prompt: str) -> str:
    """Show ``prompt`` and return one key press, without waiting for Enter on a terminal.

    Falls back to ``input`` (a line) when standard input is not a terminal or the platform has
    no ``termios`` (Windows). Ctrl-D ends input (``EOFError``); Ctrl-C still interrupts.
    """
    try:
        import termios
        import tty
    except ImportError:
        return input(prompt)
    if not sys.stdin.isatty():
        return input(prompt)
    sys.stdout.write(prompt)
    sys.stdout.flush()
    descriptor = sys.stdin.fileno()
    saved = termios.tcgetattr(descriptor)
    try:
        tty.setcbreak(descriptor)
        key = sys.stdin.read(1)
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)
    if key in ("", "\x04"):
        raise EOFError
    sys.stdout.write(key + "\n")
    return key


def relabel_interactive(
    images: np.ndarray,
    indices: Sequence[int],
    csv_path: str | os.PathLike,
    *,
    read: Callable[[str], str] | None = None,
    write: Callable[[str], None] | None = None,
) -> dict[int, int | None]:
    """Ask a person for the digit in each distorted image; resumable, with skip and undo.

    Keys: ``0``–``9`` label, ``s`` skip (not identifiable), ``u`` undo the last answer,
    ``q`` quit. The CSV is rewritten atomically after every answer, and a later call with the
    same file resumes at the first unlabelled image.

    :param images: Distorted images, float32 (N, 1, H, W) in [0, 1], aligned with ``indices``.
    :param indices: Training-set indices of the images (what the CSV records).
    :param csv_path: Where the labels are kept.
    :param read: Prompt-and-read function (default ``input``).
    :param write: Output function (default ``print``).
    :return: The labels given so far (index → label, None for skipped).
    """
    read = read or input
    write = write or print
    if len(images) != len(indices):
        raise ValueError(f"images and indices must have the same length; got {len(images)} and {len(indices)}")
    csv_path = Path(csv_path)
    labels = read_labels_csv(csv_path, indices) if csv_path.is_file() else {}
    while True:
        pending = [i for i, index in enumerate(indices) if int(index) not in labels]
        if not pending:
            write(f"all {len(indices)} images are labelled; labels are in {csv_path}")
            return labels
        current = pending[0]
        write(render_image(images[current]))
        prompt = f"[{len(labels) + 1}/{len(indices)}] image {indices[current]}: digit 0-9, s=skip, u=undo, q=quit > "
        try:
            key = read(prompt).strip().lower()
        except EOFError:
            key = "q"
        if key == "q":
            write(f"stopped with {len(labels)}/{len(indices)} labelled; run again to resume ({csv_path})")
            return labels
        if key == "u":
            if labels:
                undone = next(reversed(labels))
                del labels[undone]
                write(f"undid image {undone}")
                write_labels_csv(csv_path, labels)
            else:
                write("nothing to undo")
            continue
        if key in ("s", SKIP):
            labels[int(indices[current])] = None
        elif len(key) == 1 and key.isdigit():
            labels[int(indices[current])] = int(key)
        else:
            write(f"unknown key {key!r}: type a digit 0-9, s, u or q")
            continue
        write_labels_csv(csv_path, labels)  # dict order is answer order: undo removes the latest
