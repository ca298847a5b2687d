"""The reproduction runner end to end: a reproduction registered by a third party, and the
README's main job (``artx reproduce model-zoo --preset quick``) run twice."""

import json

import pytest

from artx import registry
from artx.cli import main
from artx.reproduction import run_reproduction
from tests.conftest import make_distribution

TINY = """
    from artx import claims
    from artx.evaluation import accuracy
    from artx.model_cache import train_cached
    from artx.training import TrainingSpec
    from artx.models import to_art_classifier
    from artx.reproduction import Preset, Reproduction


    class Tiny(Reproduction):
        name = "tiny"
        title = "A tiny test reproduction"
        presets = {
            "quick": Preset("quick", "mnist-5k", "300 images", seeds=2, settings={"limit": 300}),
            "paper": Preset("paper", "mnist", "full MNIST", seeds=1, settings={"limit": 300}),
        }

        def run(self, context, results):
            x, y = context.load("train", limit=context.settings["limit"])
            x_test, y_test = context.load("test", limit=100)
            values = []
            for seed in context.seeds:
                trained = train_cached(TrainingSpec("shallow-mlp", epochs=2), x, y, seed=seed, device=context.device, progress=False)
                values.append(100 * accuracy(to_art_classifier(trained.model), x_test, y_test))
            results.add_cell("Accuracy", "shallow-mlp", "clean", values, paper=98.0)
            results.add_claim("above chance", claims.at_least(claims.Estimate.measure(values, n=100), 10.0), f"{min(values):.1f}%")


    class NotAReproduction:
        pass
"""  # noqa: E501 (embedded plugin source: its text is written verbatim)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    entry_points = "[artx.reproductions]\ntiny = tiny_repro:Tiny\nbad = tiny_repro:NotAReproduction\n"
    root = make_distribution(tmp_path / "site", "tiny-repro", entry_points, {"tiny_repro": TINY})
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()


def load_stable(path):
    blob = json.loads(path.read_text())
    blob.pop("timings")
    blob.pop("provenance")
    return blob


def test_third_party_reproduction_runs_and_is_deterministic(tiny, tmp_path, monkeypatch, capsys):
    assert main(["reproduce", "tiny", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "PASS: above chance" in out and "1 PASS of 1 claims" in out
    monkeypatch.setenv("ARTX_CACHE_DIR", str(tmp_path / "fresh-cache"))  # retrain from scratch
    assert main(["reproduce", "tiny", "--out", str(tmp_path / "b")]) == 0
    a = load_stable(tmp_path / "a" / "tiny" / "results.json")
    b = load_stable(tmp_path / "b" / "tiny" / "results.json")
    assert a == b
    assert a["seeds"] == [0, 1] and len(a["cells"][0]["values"]) == 2
    # 300 training images cannot reach the paper's 98%: the miss says it is the preset's scale
    assert a["misses"] == [
        {
            "table": "Accuracy",
            "row": "shallow-mlp",
            "column": "clean",
            "reasons": ["Preset quick, not the paper's scale: 300 images."],
        }
    ]


def test_seeds_and_preset_validation(tiny, tmp_path):
    results = run_reproduction("tiny", seeds=1, out_dir=tmp_path)
    assert results.seeds == [0]
    with pytest.raises(ValueError, match="preset must be one of 'quick', 'paper'"):
        run_reproduction("tiny", preset="huge", out_dir=tmp_path)
    with pytest.raises(registry.PluginLoadError, match="must subclass artx.reproduction.Reproduction"):
        run_reproduction("bad", out_dir=tmp_path)


def test_paper_preset_without_full_data_fails_clearly(tiny, tmp_path, monkeypatch, capsys):
    import torchvision

    def offline(*args, **kwargs):
        raise RuntimeError("no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    assert (
        main(["reproduce", "tiny", "--preset", "paper", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ARTX_DATA_DIR" in err[0] and "--data-dir" in err[0]


@pytest.mark.slow
def test_main_job_model_zoo_quick(tmp_path):
    """README's main job on the embedded subset: no FAIL caused by scale (paper-scale numbers read
    N/A); a second run reuses the finished units, a third with fresh units loads every model from
    the cache; all three give the same results.json."""
    first = run_reproduction("model-zoo", preset="quick", out_dir=tmp_path / "a", progress=False)
    second = run_reproduction("model-zoo", preset="quick", out_dir=tmp_path / "b", progress=False)
    third = run_reproduction("model-zoo", preset="quick", out_dir=tmp_path / "c", progress=False, resume=False)
    cells = {(c.row, c.column): c for c in first.cells}
    assert {row for row, _ in cells} == {"paper-cnn", "lenet5", "lenet5-dropout", "shallow-mlp", "cw-mnist"}
    assert cells[("paper-cnn", "clean")].paper == 99.36
    assert cells[("paper-cnn", "clean")].stats.mean > 90  # 4,000 training images
    assert cells[("paper-cnn", "FGSM ε=0.1")].stats.mean < cells[("paper-cnn", "clean")].stats.mean
    assert [c.verdict for c in first.claims] == ["N/A", "N/A", "PASS"]
    assert (tmp_path / "a" / "model-zoo" / "table.md").is_file()
    blobs = [load_stable(tmp_path / run / "model-zoo" / "results.json") for run in ("a", "b", "c")]
    assert blobs[0] == blobs[1] == blobs[2]
    assert "train paper-cnn" not in second.timings  # every unit was reused
    assert third.timings["train paper-cnn"] < first.timings["train paper-cnn"]  # models from the cache
