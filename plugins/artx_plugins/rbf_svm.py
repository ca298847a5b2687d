"""``rbf-svm``: RBF-kernel SVM baseline (scikit-learn ``SVC``) for NCHW images.

Hyperparameters (defaults): ``C=10.0``, ``gamma="scale"`` (1 / (n_features · Var(x))),
one-vs-one, ``cache_size=1000`` MB, ``probability=False`` passed explicitly: scikit-learn 1.9's
``SVC`` defaults to ``probability="deprecated"``, a truthy string that makes ART's wrapper call
``predict_proba`` and fail. Returns an ART ``ScikitlearnClassifier`` (flattening inside).
Kernel SVMs scale quadratically with the training-set size: train on a subset for large sets.
"""

from __future__ import annotations

from sklearn.svm import SVC

from artx.validation import check_bool, check_float
from artx_plugins._sklearn import wrap


def rbf_svm(
    C: float = 10.0,
    gamma: str | float = "scale",
    probability: bool = False,
    clip_values: tuple[float, float] = (0.0, 1.0),
    nb_classes: int = 10,
):
    """RBF SVM on flattened images, wrapped for ART.

    :param C: Regularisation parameter (> 0).
    :param gamma: Kernel coefficient: ``"scale"``, ``"auto"`` or a positive float.
    :param probability: Passed to ``SVC`` explicitly (True fits Platt scaling, 5× slower).
    :param clip_values: Pixel range.
    :param nb_classes: Number of classes.
    """
    check_float(C, "C", minimum=0.0, min_inclusive=False)
    if isinstance(gamma, str):
        if gamma not in ("scale", "auto"):
            raise ValueError(f"gamma must be 'scale', 'auto' or a positive float; got {gamma!r}")
    else:
        check_float(gamma, "gamma", minimum=0.0, min_inclusive=False)
    check_bool(probability, "probability")
    return wrap(
        SVC(C=C, kernel="rbf", gamma=gamma, probability=probability, cache_size=1000), "svc", clip_values, nb_classes
    )
