"""The gaussian-smoothing reproduction end to end on a tiny preset (the quick preset takes minutes):
cells next to the paper's numbers, the claims, the figures, determinism; and the fitted-ε rule."""

import json

import pytest

from artx import registry
from artx.cli import main
from artx_reproductions.gaussian_smoothing import QUICK, fitted_eps
from tests.conftest import make_distribution

TINY = """
    import dataclasses

    from artx.reproduction import Preset
    from artx_reproductions.gaussian_smoothing import QUICK, GaussianSmoothingReproduction, ModelChoice


    class TinySmoothing(GaussianSmoothingReproduction):
        name = "tiny-smoothing"
        presets = {
            "quick": Preset("quick", "mnist-5k", "tiny", seeds=1, settings=QUICK.replace(
                train_limit=600,
                test_limit=150,
                validation_size=150,
                candidates=tuple(dataclasses.replace(c, epochs=2) for c in QUICK.candidates),
                extra_models=(ModelChoice("lenet5", "lenet5", 1),),
                sweep_eps=(0.05, 0.1, 0.3),
                figure3_eps=(0.1,),
                small_eps=(0.1,),
                sigmas=(0.0, 1.0, 3.0),
                adaptive_images=30,
                jsma_images=10,
                pgd_steps=5,
            )),
        }
"""


def test_fitted_eps_interpolates_the_first_crossing():
    # 30 → 10 between ε = 0.1 and 0.2: 17.9 is reached at 0.1 + 0.1 · (30 − 17.9) / 20 = 0.1605
    assert fitted_eps([0.0, 0.1, 0.2, 0.3], [90.0, 30.0, 10.0, 5.0], 17.9) == pytest.approx(0.1605)
    assert fitted_eps([0.0, 0.1], [90.0, 17.9], 17.9) is None  # never strictly below
    assert fitted_eps([0.0, 0.1, 0.2], [90.0, 50.0, 20.0], 17.9) is None


def test_settings_refuse_grids_the_claims_cannot_read():
    with pytest.raises(ValueError, match="small_eps"):
        QUICK.replace(small_eps=(0.07,))
    with pytest.raises(ValueError, match="standard_eps"):
        QUICK.replace(standard_eps=0.12)
    with pytest.raises(ValueError, match="sigmas"):
        QUICK.replace(sigmas=(0.5, 1.0))


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    root = make_distribution(
        tmp_path / "site",
        "tiny-smoothing",
        "[artx.reproductions]\ntiny-smoothing = tiny_smoothing:TinySmoothing\n",
        {"tiny_smoothing": TINY},
    )
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()


def test_tiny_gaussian_smoothing(tiny, tmp_path, capsys):
    assert main(["reproduce", "tiny-smoothing", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "a" / "tiny-smoothing"
    results = json.loads((folder / "results.json").read_text())
    cells = {(c["table"].split(",")[0], c["row"], c["column"]): c for c in results["cells"]}
    candidates = ("linear (softmax regression)", "shallow-mlp (30 hidden)")
    main_table = {k: c for k, c in cells.items() if k[0].startswith("Text and Fig. 1")}
    for (_, row, column), cell in main_table.items():
        assert row.startswith(candidates)
        expected = {"clean": 95.16}.get(column, 17.9 if column.startswith("FGSM") else None)
        assert cell["paper"] == expected
    assert sum(1 for k in main_table if k[1].endswith("selected on validation")) >= 1
    # Fig. 1 and Fig. 3 come from the same adversarial sets: σ = 0 of Fig. 3 is Fig. 1's point
    for label in (*candidates, "lenet5"):
        fig1 = {k[2]: c["mean"] for k, c in cells.items() if k[0].startswith("Fig. 1") and k[1] == label}
        fig3 = {
            (c["row"], c["column"]): c["mean"]
            for c in results["cells"]
            if c["table"].startswith("Fig. 3: test accuracy (%) vs σ") and f", {label}, " in c["table"]
        }
        assert fig3[("clean", "σ=0")] == fig1["clean"]
        assert fig3[("FGSM ε=0.1", "σ=0")] == fig1["ε=0.1"]
        assert fig1["ε=0.3"] <= fig1["ε=0.05"] <= fig1["clean"]
        sigma_star = cells[("σ* chosen on validation", label, "σ*")]["mean"]
        assert sigma_star in (1.0, 3.0)
    cited = [c for c in results["cells"] if c["table"].startswith("Numbers the paper cites")]
    assert {c["paper"] for c in cited} <= {99.9, 97.0, 4.02} and 99.9 in {c["paper"] for c in cited}
    # 6 claims per candidate (C3.1, C3.2 at paper scale, C3.2', C3.3, C3.4, adaptive)
    assert sum(out.count(f"- {verdict}: ") for verdict in ("PASS", "FAIL", "INCONCLUSIVE", "N/A")) == 12
    assert [c["verdict"] for c in results["claims"] if c["text"].startswith("C3.2 (")] == ["N/A", "N/A"]
    # one seed: the same-image comparisons are paired over the 150 test images
    assert "paired over 150 images" in next(c["rule"] for c in results["claims"] if c["text"].startswith("C3.1"))
    assert {"figure1_fgsm_vs_eps.png", "figure3_accuracy_vs_sigma.png", "figure4_success_rates.png"} <= set(
        results["figures"]
    )
    assert all((folder / name).is_file() for name in results["figures"])
    assert any(note.startswith("The paper does not give the shallow network") for note in results["notes"])

    # --fresh: recompute every unit (the trained models still come from the cache), not reuse the stored ones
    assert main(["reproduce", "tiny-smoothing", "--fresh", "--out", str(tmp_path / "b")]) == 0
    again = json.loads((tmp_path / "b" / "tiny-smoothing" / "results.json").read_text())
    for block in ("cells", "claims", "notes", "metrics"):
        assert again[block] == results[block]


def test_units_one_per_dataset_model_seed_extras_on_the_first_seeds(tmp_path):
    from artx.reproduction import RunContext
    from artx_reproductions.gaussian_smoothing import PAPER_SETTINGS, GaussianSmoothingReproduction

    reproduction = GaussianSmoothingReproduction()
    preset = reproduction.presets["paper"]
    context = RunContext(preset=preset, seeds=[0, 1, 2], device="cpu", data_dir=None, out_dir=tmp_path)
    units = reproduction.units(context)
    keys = [unit.key for unit in units]
    assert len(set(keys)) == len(keys) and {unit.phase for unit in units} == {0}
    # 2 datasets × (2 candidates × 3 seeds + 2 extra models × 1 seed), the CNNs first
    assert len(units) == 2 * (2 * 3 + 2 * PAPER_SETTINGS.extra_seeds)
    assert [unit.args["model"] for unit in units[:2]] == ["paper-cnn", "paper-cnn"]
    assert {unit.args["seed"] for unit in units if unit.args["model"] == "lenet5"} == {0}
