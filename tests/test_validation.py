import numpy as np
import pytest

from artx.validation import check_choice, check_float, check_images, check_int, check_labels


def test_images_accept_valid_and_refuse_each_fault():
    x = np.zeros((2, 1, 28, 28), dtype=np.float32)
    assert check_images(x, channels=1, height_width=(28, 28)) is x
    with pytest.raises(TypeError, match="numpy array"):
        check_images(x.tolist())
    with pytest.raises(ValueError, match="1 channel"):
        check_images(np.zeros((2, 3, 28, 28), dtype=np.float32), channels=1)
    with pytest.raises(ValueError, match=r"spatial size \(28, 28\)"):
        check_images(np.zeros((2, 1, 10, 10), dtype=np.float32), height_width=(28, 28))
    with pytest.raises(ValueError, match="at least one image"):
        check_images(np.zeros((0, 1, 28, 28), dtype=np.float32))
    inf = x.copy()
    inf[1, 0, 3, 3] = np.inf
    with pytest.raises(ValueError, match="1 NaN/inf"):
        check_images(inf, "x_train")
    with pytest.raises(ValueError, match=r"x pixels must lie in \[0.0, 1.0\]; got values in \[-0.5"):
        check_images(x - 0.5)
    assert check_images(x - 0.5, clip_values=None) is not None
    # a rounding overshoot is printed as such, not as the bound it exceeds
    overshoot = np.full_like(x, 1.0 + np.finfo(np.float32).eps)
    with pytest.raises(ValueError, match=r"got values in \[1.00000012, 1.00000012\]"):
        check_images(overshoot)


def test_labels():
    with pytest.raises(ValueError, match="1-D"):
        check_labels(np.zeros((3, 10), dtype=np.int64))
    with pytest.raises(ValueError, match=">= 0"):
        check_labels(np.array([-1, 0]))
    assert check_labels(np.array([0, 9]), nb_classes=10) is not None


def test_scalars():
    assert check_int(3, "n", minimum=1) == 3
    with pytest.raises(TypeError, match="n must be an int; got True"):
        check_int(True, "n")
    with pytest.raises(ValueError, match=r"n must be an int in \[1, 5\]; got 7"):
        check_int(7, "n", minimum=1, maximum=5)
    assert check_float(0.5, "p", minimum=0, maximum=1) == 0.5
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\); got 1.0"):
        check_float(1.0, "p", minimum=0, maximum=1, max_inclusive=False)
    with pytest.raises(ValueError, match="finite"):
        check_float(float("nan"), "p")
    with pytest.raises(ValueError, match="mode must be one of 'a', 'b'"):
        check_choice("c", "mode", ["a", "b"])
    with pytest.raises(TypeError, match="mode must be a str, one of 'a', 'b'; got 1"):
        check_choice(1, "mode", ["a", "b"])
