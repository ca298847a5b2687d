"""``random-forest``: random-forest baseline (scikit-learn ``RandomForestClassifier``) for NCHW images.

Hyperparameters (defaults): ``n_estimators=100``, ``max_depth=None``, ``max_features="sqrt"``,
Gini impurity, bootstrap, ``random_state=seed``, ``n_jobs=1``. Returns an ART
``ScikitlearnClassifier`` (flattening inside). Trees have no gradients: evaluate poisoning by
training and testing only.
"""

from __future__ import annotations

from sklearn.ensemble import RandomForestClassifier

from artx.validation import check_int, check_seed
from artx_plugins._sklearn import wrap


def random_forest(
    n_estimators: int = 100,
    max_depth: int | None = None,
    seed: int = 0,
    n_jobs: int = 1,
    clip_values: tuple[float, float] = (0.0, 1.0),
    nb_classes: int = 10,
):
    """Random forest on flattened images, wrapped for ART.

    :param n_estimators: Number of trees.
    :param max_depth: Maximum tree depth (None: grow until pure).
    :param seed: ``random_state``.
    :param n_jobs: Parallel jobs for fit and predict.
    :param clip_values: Pixel range.
    :param nb_classes: Number of classes.
    """
    check_int(n_estimators, "n_estimators", minimum=1)
    if max_depth is not None:
        check_int(max_depth, "max_depth", minimum=1)
    check_seed(seed, "seed")
    check_int(n_jobs, "n_jobs", minimum=1)
    return wrap(
        RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=seed, n_jobs=n_jobs),
        "random_forest",
        clip_values,
        nb_classes,
    )
