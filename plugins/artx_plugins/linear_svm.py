"""``linear-svm``: linear SVM baseline (scikit-learn ``LinearSVC``) for NCHW images.

Hyperparameters (defaults): ``C=1.0``, squared hinge loss, L2 penalty, ``dual="auto"``,
``max_iter=2000``, one-vs-rest. Returns an ART ``ScikitlearnClassifier`` (flattening inside).
"""

from __future__ import annotations

from sklearn.svm import LinearSVC

from artx.validation import check_float, check_int, check_seed
from artx_plugins._sklearn import wrap


def linear_svm(
    C: float = 1.0,
    max_iter: int = 2000,
    seed: int = 0,
    clip_values: tuple[float, float] = (0.0, 1.0),
    nb_classes: int = 10,
):
    """Linear SVM on flattened images, wrapped for ART.

    :param C: Inverse regularisation strength (> 0).
    :param max_iter: Maximum liblinear iterations.
    :param seed: ``random_state`` of liblinear's coordinate descent.
    :param clip_values: Pixel range.
    :param nb_classes: Number of classes.
    """
    check_float(C, "C", minimum=0.0, min_inclusive=False)
    check_int(max_iter, "max_iter", minimum=1)
    check_seed(seed, "seed")
    return wrap(
        LinearSVC(C=C, max_iter=max_iter, dual="auto", random_state=seed), "linear_svc", clip_values, nb_classes
    )
