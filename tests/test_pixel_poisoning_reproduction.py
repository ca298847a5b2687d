"""The pixel-poisoning reproduction end to end on a tiny preset (the real quick preset takes
minutes): Table 1, Table 2, Figure 1 cells, the claims, the figures and the recorded pixels."""

import json
from pathlib import Path

import pytest

from artx import registry
from artx.cli import main
from tests.conftest import make_distribution

TINY = """
    from artx.reproduction import Preset
    from artx_reproductions.pixel_poisoning import QUICK, RANDOM_VARIANTS, PixelPoisoningReproduction


    class TinyPixel(PixelPoisoningReproduction):
        name = "tiny-pixel"
        presets = {
            "quick": Preset("quick", "mnist-5k", "tiny", seeds=2, settings=QUICK.replace(
                datasets=("mnist-5k",),
                train_limit=500,
                test_limit=200,
                cnn_epochs=1,
                length_epochs=2,
                search_size=300,
                generations=2,
                population_size=4,
                proxy_epochs=1,
                reevaluations=2,
                train_error_size=200,
                baseline_train_size={"linear-svm": 300, "random-forest": 300, "rbf-svm": 300},
                random_variants=tuple(RANDOM_VARIANTS),
                baselines={**QUICK.baselines, "random-forest": {"n_estimators": 10}},
                figure1_seeds=1,
            )),
        }
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    root = make_distribution(
        tmp_path / "site",
        "tiny-pixel",
        "[artx.reproductions]\ntiny-pixel = tiny_pixel:TinyPixel\n",
        {"tiny_pixel": TINY},
    )
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()


def test_tiny_pixel_poisoning(tiny, tmp_path, capsys):
    from artx_reproductions.pixel_poisoning import RANDOM_VARIANTS

    assert main(["reproduce", "tiny-pixel", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "a" / "tiny-pixel"
    results = json.loads((folder / "results.json").read_text())
    cells = {(c["table"].split(":")[0], c["row"], c["column"]): c for c in results["cells"]}
    table1 = {k: c for k, c in cells.items() if k[0] == "Table 1"}
    assert {k[1] for k in table1} == {"Clean", "Random", "Jacobsen", "Proposed"}
    assert table1[("Table 1", "Proposed", "MNIST (5k subset)")]["paper"] == 88.6
    assert all(len(c["values"]) == 2 for c in table1.values())  # one value per seed
    table2 = {k: c for k, c in cells.items() if k[0] == "Table 2"}
    assert len(table2) == 12 and table2[("Table 2", "Lin-SVM", "Proposed")]["paper"] == 90.3
    # each poisoned row: one fit per run on that run's poison; the clean row: one fit
    assert all(len(c["values"]) == (1 if k[2] == "Clean" else 2) for k, c in table2.items())
    figure1 = {k[1] for k in cells if k[0] == "Figure 1"}
    assert figure1 == {"Adam", "SGD", "RMSProp", "AdaBound"}
    # one search and one random pixel per seed (run); the runs' poisons differ
    pixels = {seed: results["metrics"][f"mnist-5k/seed {seed}/proposed pixels"] for seed in (0, 1)}
    assert all(len(p) == 10 and all(0 <= q["intensity"] <= 1 for q in p) for p in pixels.values())
    assert pixels[0] != pixels[1]
    assert results["metrics"]["mnist-5k/seed 0/random pixels"] != results["metrics"]["mnist-5k/seed 1/random pixels"]
    # the random-pixel variants, per seed; Table 1's Random row is the "anywhere, 1.0" variant (the same poisoned
    # data, hence the same cached model and error)
    variants = {k[1]: c for k, c in cells.items() if k[0] == "Random-pixel variants"}
    assert set(variants) == set(RANDOM_VARIANTS) and all(len(c["values"]) == 2 for c in variants.values())
    assert variants["anywhere, 1.0"]["values"] == table1[("Table 1", "Random", "MNIST (5k subset)")]["values"]
    white = results["metrics"]["mnist-5k/seed 0/random pixels (outside ROI, 1.0)"]
    assert all(q["intensity"] == 1.0 for q in white)
    assert (
        results["metrics"]["mnist-5k/seed 0/random pixels"]
        == results["metrics"]["mnist-5k/seed 0/random pixels (anywhere, 1.0)"]
    )
    assert any(note.startswith("MNIST (5k subset), random-pixel variants") for note in results["notes"])
    # every cell outside the paper's tolerance is listed with non-empty reasons; where the rows the reproduction
    # explains miss, they carry its measured reasons
    misses = {(m["table"].split(":")[0], m["row"], m["column"]): m["reasons"] for m in results["misses"]}
    assert set(misses) == {k for k, c in cells.items() if c["within_tolerance"] is False}
    assert all(isinstance(r, str) and r.strip() for reasons in misses.values() for r in reasons)
    expected = {
        ("Table 1", "Random"): ("Training length (seed 0): ", "The paper does not say how its random pixel is drawn"),
        ("Table 1", "Proposed"): ("Training length (seed 0): ", "The paper gives no search budget; ours (2 gen"),
        ("Table 1 (extra)", None): ("The paper gives no training length",),
        ("Table 2", None): ("trains on a seeded 300-image subset of the 500 training images",),
    }
    for (table, row, _), reasons in misses.items():
        for start in expected.get((table, row), expected.get((table, None), ())):
            assert any(start in reason for reason in reasons), (table, row, start, reasons)
    assert all(
        len(results["metrics"][f"mnist-5k/seed {seed}/search"]["best gap per generation"]) == 2 for seed in (0, 1)
    )
    assert results["config"]["generations"] == 2 and results["config"]["population_size"] == 4
    # training length: epochs 1..2 per poison; after 1 epoch (Table 1's length) it is Table 1's
    # seed-0 model, loaded from the snapshot, so the numbers agree exactly
    length = {(k[1], k[2]): c for k, c in cells.items() if k[0] == "Training length"}
    assert set(length) == {(f"MNIST (5k subset), {row}", str(e)) for row in ("Random", "Proposed") for e in (1, 2)}
    for row in ("Random", "Proposed"):
        assert (
            length[(f"MNIST (5k subset), {row}", "1")]["values"][0]
            == table1[("Table 1", row, "MNIST (5k subset)")]["values"][0]
        )
    assert any(
        note.startswith("MNIST (5k subset), training length (seed 0, test error): Random") for note in results["notes"]
    )
    assert {"gradcam_pixels_mnist-5k.png", "figure1_optimizers.png", "training_length.png"} <= set(results["figures"])
    assert all((folder / name).is_file() for name in results["figures"])
    # claims: 2 for Table 1, 3 for Table 2, 1 for Figure 1, each PASS or FAIL from measured values
    assert sum(out.count(f"- {verdict}: ") for verdict in ("PASS", "FAIL", "INCONCLUSIVE", "N/A")) == 6
    assert any(note.startswith("Search budget per dataset: 2 generations × population 4") for note in results["notes"])
    proposed = "/".join(f"{e:.1f}%" for e in table1[("Table 1", "Proposed", "MNIST (5k subset)")]["values"])
    assert any(
        note.startswith("MNIST (5k subset) search, per seed (0/1): ") and f"(Table 1, Proposed) {proposed}" in note
        for note in results["notes"]
    )

    # a second run reuses the finished units; a third with --fresh recomputes them, and the
    # searches resume from their checkpoints (all generations done); the numbers are identical
    # apart from timings and provenance
    assert main(["reproduce", "tiny-pixel", "-q", "--out", str(tmp_path / "b")]) == 0
    reused = json.loads((tmp_path / "b" / "tiny-pixel" / "results.json").read_text())
    assert main(["reproduce", "tiny-pixel", "-q", "--fresh", "--out", str(tmp_path / "c")]) == 0
    again = json.loads((tmp_path / "c" / "tiny-pixel" / "results.json").read_text())
    assert all(again["metrics"][f"mnist-5k/seed {seed}/search"]["resumed generations"] == 2 for seed in (0, 1))
    for block in ("cells", "claims", "notes"):
        assert again[block] == results[block] == reused[block]
    assert reused["metrics"] == results["metrics"]


def test_settings_refuse_unknown_random_variants():
    from artx_reproductions.pixel_poisoning import QUICK

    with pytest.raises(ValueError, match="random variant 'white' is not one of 'anywhere, U"):
        QUICK.replace(random_variant="white")
    with pytest.raises(ValueError, match="random variant 'nowhere'"):
        QUICK.replace(random_variants=("anywhere, 1.0", "nowhere"))


def test_epochs_per_dataset():
    from artx_reproductions.pixel_poisoning import PAPER

    both = PAPER.replace(cnn_epochs={"mnist": 3, "fashion-mnist": 12}, length_epochs=14)
    assert both.cnn_spec("mnist").epochs == 3 and both.cnn_spec("fashion-mnist").epochs == 12
    assert both.cnn_spec("fashion-mnist", 5).epochs == 5 and both.epochs("length_epochs", "mnist") == 14
    with pytest.raises(ValueError, match=r"cnn_epochs must give one number per dataset \['mnist', 'fashion-mnist'\]"):
        PAPER.replace(cnn_epochs={"mnist": 3})
    for bad in (0, 2.5, True, {"mnist": 0, "fashion-mnist": 3}):
        with pytest.raises(ValueError, match="cnn_epochs must be an int ≥ 1 or a mapping"):
            PAPER.replace(cnn_epochs=bad)


def test_poisons_replay_only_refuses_to_search(tiny, tmp_path):
    """benchmarks/search_signal.py reads a finished run's searches with replay_only: a search not
    stored is an error naming its checkpoint, a stored one replays without training a candidate."""
    from artx.reproduction import RunContext

    reproduction = registry.load("reproduction", "tiny-pixel")()
    preset = reproduction.presets["quick"]
    context = RunContext(preset=preset, seeds=[5], device="cpu", data_dir=None, out_dir=tmp_path, progress=False)
    x, y = context.load("train", limit=preset.settings.train_limit)
    missing = r"replay_only=True: checkpoint_path .*search-mnist-5k-.* holds 0 of \d+ generations"
    with pytest.raises(ValueError, match=missing):
        reproduction.poisons(context, {}, "mnist-5k", [5], x, y, replay_only=True)
    searched = reproduction.poisons(context, {}, "mnist-5k", [5], x, y)["Proposed"][0]
    assert searched.resumed_generations_ == 0
    replayed = reproduction.poisons(context, {}, "mnist-5k", [5], x, y, replay_only=True)["Proposed"][0]
    assert replayed.resumed_generations_ == preset.settings.generations
    assert replayed.pixels() == searched.pixels()
    checkpoint = Path(searched.checkpoint_path)
    for corrupt in ("{not json", "[1, 2]", '{"generations": 3}'):
        checkpoint.write_text(corrupt, encoding="utf-8")
        with pytest.raises(ValueError, match=r"checkpoint_path .* is not a readable gradcam-pixel checkpoint"):
            reproduction.poisons(context, {}, "mnist-5k", [5], x, y, replay_only=True)
