"""Shared by the class-wise single-pixel poisons (``gradcam-pixel``, ``random-pixel``,
``class-pixel``); not a plugin itself.

A class-wise single-pixel poison is a table: for each class ``k`` one pixel ``(row_k, col_k)``
and an intensity ``v_k``. ``poison(x, y)`` writes ``v_k`` at ``(row_k, col_k)`` (every channel)
of each image whose label is ``k`` and leaves every other pixel as it was. ART's own
``add_single_bd`` overwrites a whole row on NCHW input, so this is written here.
"""

from __future__ import annotations

import numpy as np

from artx.validation import check_images, class_indices


def check_table(
    rows, cols, intensities, *, nb_classes: int, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pixel table as arrays (int64 rows and columns, float32 intensities), or a ValueError
    naming what is wrong: one entry per class, integer positions inside the image, intensities in [0, 1]."""
    for name, values in (("rows", rows), ("cols", cols)):
        dtype = np.asarray(values).dtype
        if not np.issubdtype(dtype, np.integer):  # a float position would be truncated silently
            raise TypeError(f"pixel table {name} must be integers; got dtype {dtype}")
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    intensities = np.asarray(intensities, dtype=np.float32)
    if not (rows.shape == cols.shape == intensities.shape == (nb_classes,)):
        raise ValueError(
            f"the pixel table needs one row, column and intensity per class ({nb_classes}); got shapes "
            f"{rows.shape}, {cols.shape}, {intensities.shape}"
        )
    if rows.min() < 0 or rows.max() >= height or cols.min() < 0 or cols.max() >= width:
        raise ValueError(f"pixel positions must lie inside the {height}x{width} image")
    if not np.all(np.isfinite(intensities)) or intensities.min() < 0 or intensities.max() > 1:
        raise ValueError(f"pixel intensities must lie in [0, 1]; got {intensities.tolist()}")
    return rows, cols, intensities


class ClassPixelTable:
    """Mixin: the per-class pixel table and ``poison``. Subclasses either set ``rows_``,
    ``cols_``, ``intensities_`` (arrays of length ``nb_classes``) with :meth:`_set_table` when
    they learn them (``fit``), or compute the table from their parameters in :meth:`_table`,
    which is called afresh whenever the table is needed, so ``set_params`` never leaves a
    stale table behind."""

    nb_classes: int
    height: int
    width: int
    rows_: np.ndarray | None = None
    cols_: np.ndarray | None = None
    intensities_: np.ndarray | None = None

    def _table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The table derived from the parameters, or None for a table learned by ``fit``."""
        return None

    def _current_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        derived = self._table()
        if derived is not None:
            self._set_table(*derived)
        if self.rows_ is None:
            raise RuntimeError(f"{type(self).__name__} has no pixels yet; call fit(x, y) first")
        return self.rows_, self.cols_, self.intensities_

    def _set_table(self, rows, cols, intensities) -> None:
        self.rows_, self.cols_, self.intensities_ = check_table(
            rows, cols, intensities, nb_classes=self.nb_classes, height=self.height, width=self.width
        )

    def pixels(self) -> list[dict]:
        """The poison: one ``{"class", "row", "col", "intensity"}`` dict per class."""
        rows, cols, intensities = self._current_table()
        return [
            {"class": k, "row": int(rows[k]), "col": int(cols[k]), "intensity": float(intensities[k])}
            for k in range(self.nb_classes)
        ]

    def poison(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """Write each image's class pixel (chosen by its label ``y``); return ``(x_poisoned, y)``.

        :param x: float32 images (N, C, H, W) in [0, 1].
        :param y: Class labels in ``[0, nb_classes)``: indices (N,) or one-hot rows.
        :return: A poisoned copy of ``x`` and ``y`` unchanged.
        """
        if kwargs:
            raise TypeError(f"poison() got unexpected keyword arguments {sorted(kwargs)}")
        rows, cols, intensities = self._current_table()
        if y is None:
            raise ValueError("y (the labels) is required: each image gets the pixel of its own class")
        x = check_images(x, "x", height_width=(self.height, self.width))
        labels = class_indices(y, "y", n_samples=len(x), nb_classes=self.nb_classes)
        out = x.copy()
        out[np.arange(len(x)), :, rows[labels], cols[labels]] = intensities[labels][:, None]
        return out, y
