"""Cases of the hardening issue that the generic plugin contract does not cover: dataset
identity, failing before the work, label forms, seeds, the scikit-learn baselines' inputs and
gradcam-pixel's up-front checks."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging

import numpy as np
import pytest

from artx import data, registry
from artx.cli import main
from artx.training import TrainingSpec
from tests.conftest import make_distribution
from tests.test_data import FILES, write_tiny_mnist


def _content_md5(path) -> str:
    with gzip.open(path, "rb") as handle:
        return hashlib.md5(handle.read()).hexdigest()


def test_a_known_file_of_another_dataset_is_refused_and_an_unknown_one_warned(tmp_path, monkeypatch, caplog):
    write_tiny_mnist(tmp_path, folder="MNIST")
    raw = tmp_path / "MNIST" / "raw"
    # Pretend the tiny files are Fashion-MNIST's official ones: the MNIST folder then holds
    # another dataset's files.
    fashion = {("fashion-mnist", stem): _content_md5(raw / f"{stem}.gz") for split in FILES.values() for stem in split}
    monkeypatch.setattr(data, "OFFICIAL_MD5", fashion)
    with pytest.raises(data.CorruptDatasetError, match="is fashion-mnist's train-images-idx3-ubyte, not mnist's"):
        data.load("mnist", "train", data_dir=tmp_path)
    monkeypatch.setattr(data, "OFFICIAL_MD5", {})
    data._warned_unofficial.clear()
    with caplog.at_level(logging.WARNING):
        data.load("mnist", "train", data_dir=tmp_path)
        data.load("mnist", "train", data_dir=tmp_path)
    assert caplog.text.count("is not the official mnist file train-images-idx3-ubyte") == 1


def test_official_digests_tell_the_two_datasets_apart():
    for stem in {stem for split in FILES.values() for stem in split}:
        assert data.OFFICIAL_MD5[("mnist", stem)] != data.OFFICIAL_MD5[("fashion-mnist", stem)]


TWO_DATASETS = """
    import dataclasses
    from artx.reproduction import Preset, Reproduction, Settings

    TRAINED = []

    @dataclasses.dataclass(frozen=True)
    class TwoSettings(Settings):
        datasets: tuple = ("mnist", "fashion-mnist")

    class Two(Reproduction):
        name = "two-datasets"
        title = "needs MNIST and Fashion-MNIST"
        presets = {"quick": Preset("quick", "mnist-5k", "x", settings=TwoSettings(("mnist-5k",))),
                   "paper": Preset("paper", "mnist", "x", settings=TwoSettings())}

        def datasets(self, preset):
            return list(preset.settings.datasets)

        def run(self, context, results):
            TRAINED.append("started")  # must never be reached when a dataset is missing
            raise AssertionError("ran without its datasets")
"""


def test_every_dataset_is_resolved_before_any_work(tmp_path, monkeypatch, capsys):
    import torchvision

    root = make_distribution(
        tmp_path / "site", "two", "[artx.reproductions]\ntwo-datasets = two:Two\n", {"two": TWO_DATASETS}
    )
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()
    write_tiny_mnist(tmp_path / "data", folder="MNIST")  # MNIST present, Fashion-MNIST missing

    def offline(*args, **kwargs):
        raise RuntimeError("no network")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    assert (
        main(
            [
                "reproduce",
                "two-datasets",
                "--preset",
                "paper",
                "--data-dir",
                str(tmp_path / "data"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "'fashion-mnist' not found" in err
    import two

    assert two.TRAINED == []


@pytest.mark.parametrize("where", ["file", "results-folder"])
def test_bad_output_folder_fails_before_the_run(tmp_path, monkeypatch, capsys, where):
    root = make_distribution(
        tmp_path / "site", "two", "[artx.reproductions]\ntwo-datasets = two:Two\n", {"two": TWO_DATASETS}
    )
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()
    if where == "file":
        (tmp_path / "out").write_text("x")
    else:
        (tmp_path / "out" / "two-datasets" / "results.json").mkdir(parents=True)
    assert main(["reproduce", "two-datasets", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("is a file" in err[0] or "is a folder" in err[0])


# ---- labels ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier():
    from artx.models import build_model, to_art_classifier
    from artx.training import train

    x, y = data.load("mnist-5k", "train", limit=400, seed=0)
    model = build_model("lenet5-dropout", seed=0)
    train(model, x, y, TrainingSpec("lenet5-dropout", epochs=3), seed=0, progress=False)
    return to_art_classifier(model)


@pytest.mark.parametrize("attack", ["bim-early-stop", "detector-aware-pgd"])
def test_label_forms_are_read_the_same_and_bad_ones_refused(classifier, attack):
    x, y = data.load("mnist-5k", "test", limit=6, seed=0)
    params = {"max_iter": 2, "eps_step": 0.05}
    indices = registry.create("evasion", attack, classifier, **params).generate(x, y=y)
    column = registry.create("evasion", attack, classifier, **params).generate(x, y=y[:, None])
    one_hot = registry.create("evasion", attack, classifier, **params).generate(x, y=np.eye(10, dtype=np.float32)[y])
    np.testing.assert_array_equal(indices, column)  # (N, 1) integer labels are indices, not one-hot
    np.testing.assert_array_equal(indices, one_hot)
    attack_obj = registry.create("evasion", attack, classifier, **params)
    for bad, match in [
        (np.eye(9, dtype=np.float32)[y % 9], r"shape \(N,\)"),
        (np.zeros((len(x), 10), dtype=np.float32), "exactly one 1"),
        (y + 10, r"labels must lie in \[0, 9\]"),
    ]:
        with pytest.raises(ValueError, match=match):
            attack_obj.generate(x, y=bad)
    for bad_x in (
        np.ascontiguousarray(x.transpose(0, 2, 3, 1)),
        np.repeat(x, 3, axis=1),
        np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))),
    ):
        with pytest.raises(ValueError, match=r"\bx\b"):
            attack_obj.generate(bad_x, y=y)


def test_seeds_beyond_what_libraries_take_are_refused(classifier):
    for kind, name, extra in [
        ("poisoning", "random-pixel", {}),
        ("evasion", "detector-aware-pgd", {"_estimator": classifier}),
        ("detector", "uncertainty-only", {"_estimator": classifier}),
    ]:
        args = [extra.pop("_estimator")] if "_estimator" in extra else []
        with pytest.raises(ValueError, match=r"seed must be an int seed in \[0, 2147483647\]"):
            registry.create(kind, name, *args, seed=2**63)


def test_uncertainty_thresholds_outside_the_score_range_are_refused(classifier):
    with pytest.raises(ValueError, match=r"threshold must lie in \[0, 0.3000\].*could never be crossed"):
        registry.create("detector", "uncertainty-only", classifier, threshold=1.5)
    with pytest.raises(ValueError, match=r"high must lie in \[0, 0.3000\]"):
        registry.create("detector", "hybrid-uncertainty", classifier, low=0.0, high=0.5)
    assert registry.create("detector", "uncertainty-only", classifier, threshold=0.2).threshold == 0.2


# ---- scikit-learn baselines -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["linear-svm", "rbf-svm", "random-forest"])
def test_sklearn_baselines_take_integer_labels_and_refuse_bad_images(name):
    x, y = data.load("mnist-5k", "train", limit=200, seed=0)
    x_test, y_test = data.load("mnist-5k", "test", limit=100, seed=0)
    estimator = registry.create("estimator", name)
    estimator.fit(x, y)  # integer labels, as documented
    assert np.mean(estimator.predict(x_test).argmax(1) == y_test) > 0.5
    for bad, error, match in [
        (x * 255, ValueError, r"x pixels must lie in \[0.0, 1.0\]"),
        (x - 0.5, ValueError, r"x pixels must lie in \[0.0, 1.0\]"),
        (x.astype(np.float64), TypeError, "float32"),
        (np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x).astype(np.float32), ValueError, "finite"),
    ]:
        with pytest.raises(error, match=match):
            registry.create("estimator", name).fit(bad, y)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\]"):
        registry.create("estimator", name).fit(x, y + 1)
    with pytest.raises(ValueError, match="spatial size"):
        estimator.predict(x_test[:, :, :20])


# ---- gradcam-pixel: up-front checks -------------------------------------------------------------


@pytest.fixture(scope="module")
def cnn():
    from artx.models import build_model, to_art_classifier

    return to_art_classifier(build_model("paper-cnn", seed=0))


def test_gradcam_checkpoint_path_problems_fail_in_the_constructor(cnn, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="lies under .*which is a file"):
        registry.create("poisoning", "gradcam-pixel", cnn, checkpoint_path=blocker / "search.json")
    with pytest.raises(ValueError, match="not a folder"):
        registry.create("poisoning", "gradcam-pixel", cnn, checkpoint_path=tmp_path)
    with pytest.raises(ValueError, match="proxy must train every layer"):
        registry.create("poisoning", "gradcam-pixel", cnn, proxy=TrainingSpec("linear", epochs=1, trainable=("fc1",)))
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainingSpec("linear", epochs=1, optimizer="lbfgs")


def test_malformed_checkpoint_with_the_right_parameters_is_refused_clearly(cnn, tmp_path):
    x, y = data.load("mnist-5k", "train", limit=60, seed=0)
    path = tmp_path / "search.json"
    params = {
        "generations": 2,
        "population_size": 2,
        "proxy": TrainingSpec("linear", epochs=1),
        "reevaluations": 1,
        "checkpoint_path": path,
    }
    registry.create("poisoning", "gradcam-pixel", cnn, **params).fit(x, y)
    state = json.loads(path.read_text())
    for breaking, match in [
        (lambda s: s["generations"][0].pop("fitness"), "finite fitness values"),
        (lambda s: s["generations"][1].update(solutions=[[0.0]]), "must hold 2 solutions|numbers"),
        (lambda s: s.update(generations={"0": 1}), "must be a list"),
        (lambda s: s["generations"][0].update(training_seed=123), "training seed"),
    ]:
        broken = json.loads(json.dumps(state))
        breaking(broken)
        path.write_text(json.dumps(broken))
        with pytest.raises(ValueError, match=f"malformed.*({match})"):
            registry.create("poisoning", "gradcam-pixel", cnn, **params).fit(x, y)
