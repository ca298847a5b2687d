import numpy as np
import pytest

from artx.cli import main
from artx.relabel import (
    LabelsFileError,
    agreeing_mask,
    disjoint_subsets,
    proxy_labels,
    read_labels_csv,
    relabel_interactive,
    render_image,
    write_labels_csv,
)


def test_disjoint_subsets_are_disjoint_sorted_and_prefix_stable():
    a, b = disjoint_subsets(100, [10, 20], seed=0)
    assert len(set(a) | set(b)) == 30 and list(a) == sorted(a)
    (alone,) = disjoint_subsets(100, [10], seed=0)
    assert np.array_equal(a, alone)  # the first subset does not depend on the others
    with pytest.raises(ValueError, match="more than the 100"):
        disjoint_subsets(100, [60, 50], seed=0)


def test_read_labels_csv(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("index,label\n5,3\n9,skip\n\n12,0\n")
    assert read_labels_csv(path, [5, 9, 12, 20]) == {5: 3, 9: None, 12: 0}
    write_labels_csv(tmp_path / "again.csv", {5: 3, 9: None})
    assert (tmp_path / "again.csv").read_text() == "index,label\n5,3\n9,skip\n"


@pytest.mark.parametrize(
    "body, match",
    [
        ("5,3\n6,10\n", "line 2: label must be an integer in \\[0, 9\\]"),
        ("5,3\n6,seven\n", "line 2: label must be"),
        ("5,3\n5,4\n", "line 2: duplicate index 5"),
        ("5,3\n99,4\n", "line 2: index 99 is not one of the distorted images"),
        ("x,3\n", "line 1: index must be an integer"),
        ("5,3,1\n", "line 1: expected 2 columns"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, body, match):
    path = tmp_path / "labels.csv"
    path.write_text(body)
    with pytest.raises(LabelsFileError, match=match) as info:
        read_labels_csv(path, [5, 6])
    assert "labels.csv" in str(info.value)


def test_agreeing_mask():
    mask = agreeing_mask([1, 2, 3, 4], np.array([0, 1, 2, 3]), {1: 0, 2: 7, 3: None})
    assert mask.tolist() == [True, False, False, False]


def test_render_image_is_readable_size():
    image = np.zeros((1, 28, 28), dtype=np.float32)
    image[0, 10:18, 12:14] = 1.0
    lines = render_image(image).splitlines()
    assert len(lines) == 28 and all(len(line) == 56 for line in lines)
    assert "█" in lines[12] and "█" not in lines[0]


def keys(*answers):
    queue = list(answers)

    def read(prompt):
        if not queue:
            raise EOFError
        return queue.pop(0)

    return read


def test_interactive_labelling_with_skip_undo_quit_and_resume(tmp_path):
    images = np.zeros((4, 1, 28, 28), dtype=np.float32)
    indices = [10, 20, 30, 40]
    path = tmp_path / "labels.csv"
    shown = []
    labels = relabel_interactive(images, indices, path, read=keys("3", "x", "s", "u", "7", "q"), write=shown.append)
    assert labels == {10: 3, 20: 7}
    assert read_labels_csv(path) == {10: 3, 20: 7}
    assert any("unknown key 'x'" in line for line in shown) and any("undid image 20" in line for line in shown)
    # resume: starts at image 30; end of input counts as quit
    labels = relabel_interactive(images, indices, path, read=keys("1"), write=shown.append)
    assert labels == {10: 3, 20: 7, 30: 1}
    labels = relabel_interactive(images, indices, path, read=keys("2"), write=shown.append)
    assert labels == {10: 3, 20: 7, 30: 1, 40: 2} and "all 4 images are labelled" in shown[-1]


def test_proxy_labels_read_clean_digits(mnist_small):
    x, y, x_test, y_test = mnist_small
    predicted = proxy_labels(x, y, x_test, arch="shallow-mlp", epochs=5, seed=0, progress=False)
    assert predicted.shape == y_test.shape and (predicted == y_test).mean() > 0.8


def test_cli_relabel_writes_csv(tmp_path, monkeypatch, capsys):
    answers = iter(["4", "s", "q"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    out = tmp_path / "labels.csv"
    assert main(["relabel", "--dataset", "mnist-5k", "--count", "3", "--out", str(out)]) == 0
    labels = read_labels_csv(out)
    assert list(labels.values()) == [4, None]
    assert "█" in capsys.readouterr().out


def test_cli_relabel_and_reproduce_bad_arguments(tmp_path, capsys):
    assert main(["relabel", "--transform", "nope", "--dataset", "mnist-5k"]) == 2
    assert "unknown preprocessor plugin 'nope'" in capsys.readouterr().err
    assert main(["relabel", "--dataset", "cifar"]) == 2
    assert "--dataset must be one of" in capsys.readouterr().err
    labels = tmp_path / "l.csv"
    labels.write_text("1,1\n")
    assert main(["reproduce", "model-zoo", "--labels", str(labels)]) == 2
    assert "takes no labels file" in capsys.readouterr().err
    assert main(["reproduce", "minimal-dataset", "--labels", str(tmp_path / "missing.csv")]) == 2
    assert "existing CSV file" in capsys.readouterr().err
