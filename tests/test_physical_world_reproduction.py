"""The physical-world reproduction (Kurakin et al. 2017, MNIST analogue) end to end on a tiny
preset: Fig. 2 and Fig. 6 cells, Kurakin's Table 3 beside the simulated photo, the claims, the
figures, an independent recomputation of one destruction rate, and run-to-run determinism."""

import json

import pytest

from artx import registry
from artx.cli import main
from tests.conftest import make_distribution

TINY = """
    from artx.reproduction import Preset
    from artx_reproductions.physical_world import QUICK, PhysicalWorldReproduction, Transformation, TransformationGrid

    GRID = TransformationGrid((
        Transformation("brightness", "brightness", {"delta": -0.1}, "brightness −0.1"),
        Transformation("contrast", "contrast", {"factor": 0.7}, "contrast ×0.7"),
        Transformation("blur", "gaussian-smoothing", {"sigma": 1.0}, "blur σ=1.0"),
        Transformation("noise", "gaussian-noise", {"sigma": 0.1}, "noise σ=0.1"),
        Transformation("JPEG", "jpeg", {"quality": 25}, "JPEG q=25"),
        Transformation("photo", "print-photo", {}, "print-photo (simulated)"),
    ))


    class TinyPhysical(PhysicalWorldReproduction):
        name = "tiny-physical"
        presets = {
            "quick": Preset("quick", "mnist-5k", "tiny", seeds=1, settings=QUICK.replace(
                epochs={"lenet5": 3, "shallow-mlp": 3},
                train_limit=500,
                test_limit=80,
                fig2_size=30,
                pool_size=60,
                random_size=50,
                prefiltered_size=40,
                eps_grid=(2, 16),
                mnist_eps=(32,),
                prefilter_confidence=0.5,
                transformations=GRID,
            )),
        }
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    root = make_distribution(
        tmp_path / "site",
        "tiny-physical",
        "[artx.reproductions]\ntiny-physical = tiny_physical:TinyPhysical\n",
        {"tiny_physical": TINY},
    )
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()


def _cells(results):
    return {(c["table"], c["row"], c["column"]): c for c in results["cells"]}


LABELS = {"brightness −0.1", "contrast ×0.7", "blur σ=1.0", "noise σ=0.1", "JPEG q=25", "print-photo (simulated)"}


def test_tiny_physical_world(tiny, tmp_path, capsys):
    assert main(["reproduce", "tiny-physical", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "a" / "tiny-physical"
    results = json.loads((folder / "results.json").read_text())
    assert "MNIST analogue" in results["title"]
    assert results["metrics"]["sizes"] == {"train": 500, "test": 80, "fig2": 30, "pool": 60, "random": 50}
    cells = _cells(results)

    for arch in ("lenet5", "shallow-mlp"):
        top1 = {k[1:]: c for k, c in cells.items() if k[0].startswith("Fig. 2 analogue: top-1") and arch in k[0]}
        top5 = {k[1:]: c for k, c in cells.items() if k[0].startswith("Fig. 2 analogue: top-5") and arch in k[0]}
        methods = ("fast", "basic iterative", "ILLC")
        assert set(top1) == {("clean", "ε=0")} | {(m, f"ε={e}") for m in methods for e in (2, 16)}
        assert all(top5[k]["mean"] >= top1[k]["mean"] for k in top1)  # top-5 contains top-1
        # BIM at ε = 16/255 (20 steps) cannot leave the model more accurate than at ε = 2/255 (2 steps) here
        assert top1[("basic iterative", "ε=16")]["mean"] <= top1[("basic iterative", "ε=2")]["mean"]

        fig6 = {
            k[1:]: c for k, c in cells.items() if k[0].startswith("Fig. 6 analogue") and f", {arch}, random" in k[0]
        }
        assert {k[0] for k in fig6} <= LABELS and {k[1] for k in fig6} <= set(methods)
        assert all(0 <= c["mean"] <= 100 and c["paper"] is None for c in fig6.values())

        photo = {k[1:]: c for k, c in cells.items() if k[0].startswith("Photos (SIMULATED") and k[0].endswith(arch)}
        expected = {("fast ε=16", "average case"): 12.5, ("ILLC ε=8", "prefiltered case"): 88.9}
        assert all(photo[k]["paper"] == v for k, v in expected.items() if k in photo)
        assert photo and all(c["paper"] is not None for c in photo.values())
        clean_t = {k[1] for k in cells if k[0].startswith("Clean top-1 accuracy") and k[2] == arch}
        assert clean_t == LABELS

    # Eq. 1 from the recorded counts: every Fig. 6 cell is numerator / denominator, and the
    # denominators table repeats the counts
    counts = results["metrics"]["lenet5 seed 0/destruction counts"]
    for label in LABELS:
        for method in ("fast", "basic iterative", "ILLC"):
            count = counts[f"ε=16, random, {method}, {label}"]
            key = ("Fig. 6 analogue: destruction rate (%) at ε=16/255, lenet5, random images", label, method)
            if count["denominator"]:
                assert cells[key]["mean"] == pytest.approx(100 * count["numerator"] / count["denominator"])
            else:
                assert key not in cells
    denominators = {
        k[1]: c for k, c in cells.items() if k[0].startswith("Eq. 1 denominators") and k[2] == "lenet5, random"
    }
    assert denominators["fast ε=16"]["mean"] == counts["ε=16, random, fast, print-photo (simulated)"]["denominator"]
    assert max(c["mean"] for c in denominators.values()) > 0  # something to destroy at all

    # the MNIST-scale ε has its own Fig. 6 tables (both scenarios) and is attacked on the whole pool
    ours = [k for k in cells if k[0].startswith("Fig. 6, ours at ε=32/255") and "lenet5, random" in k[0]]
    assert ours and {k[1] for k in ours} <= LABELS
    assert "ε=32, prefiltered, ILLC, blur σ=1.0" in counts

    # claims: 11 per model, each decided from measured values; the Section 4 bounds are N/A on quick
    n_claims = sum(out.count(f"- {verdict}: ") for verdict in ("PASS", "FAIL", "INCONCLUSIVE", "N/A"))
    assert n_claims == 22 == len(results["claims"])
    assert sum("ours at ε=32/255" in c["text"] for c in results["claims"]) == 4
    section4 = [c for c in results["claims"] if "Section 4, not in the seed; ImageNet numbers" in c["text"]]
    assert len(section4) == 2 and all(c["verdict"] == "N/A" for c in section4)
    assert any(note.startswith("MNIST ANALOGUE") for note in results["notes"])
    assert any("confidence ≥ 0.5 (Kurakin Section 3.2)" in note for note in results["notes"])
    assert set(results["figures"]) == {"fig2_accuracy_vs_eps.png", "fig6_destruction_heatmap.png"}
    assert all((folder / name).is_file() for name in results["figures"])
    assert results["config"]["transformations"][0] == {
        "family": "brightness",
        "plugin": "brightness",
        "params": {"delta": -0.1},
        "label": "brightness −0.1",
    }

    # the same numbers again (models come from the cache; attacks, draws and noise are seeded)
    assert main(["reproduce", "tiny-physical", "--out", str(tmp_path / "b")]) == 0
    again = json.loads((tmp_path / "b" / "tiny-physical" / "results.json").read_text())
    for block in ("cells", "claims", "notes", "metrics"):
        assert again[block] == results[block]


def test_claim_helpers_against_hand_computed_values():
    from artx_reproductions.physical_world import _agresti_coull_se, _greater, _mean_estimate

    # Agresti–Coull: 0 of 1 → p̃ = 2/5 over 5 → SE = √(0.4 · 0.6 / 5) = 21.9 %
    assert _agresti_coull_se(0.0, 1) == pytest.approx(100 * (0.24 / 5) ** 0.5)
    # 50 of 100 → p̃ = 52/104 = 0.5 → SE = √(0.25 / 104)
    assert _agresti_coull_se(50.0, 100) == pytest.approx(100 * (0.25 / 104) ** 0.5)
    # one seed, two cells: mean of values, mean of SEs; n = 0 cells (undefined rates) are dropped
    estimate = _mean_estimate([[(10.0, 100), (30.0, 100), (float("nan"), 0)]])
    assert estimate.mean == pytest.approx(20.0)
    assert estimate.se == pytest.approx((_agresti_coull_se(10.0, 100) + _agresti_coull_se(30.0, 100)) / 2)
    assert _mean_estimate([[(float("nan"), 0)]]) is None
    # 60 % vs 10 % of 100 images each: difference 50 ± ~8 → PASS one way, FAIL the other
    assert _greater([[(60.0, 100)]], [[(10.0, 100)]]).verdict == "PASS"
    assert _greater([[(10.0, 100)]], [[(60.0, 100)]]).verdict == "FAIL"
    # 0 of 2 vs 0 of 2: no difference, not noiseless → INCONCLUSIVE (the plain binomial SE would say FAIL)
    assert _greater([[(0.0, 2)]], [[(0.0, 2)]]).verdict == "INCONCLUSIVE"
    assert _greater([[(float("nan"), 0)]], [[(5.0, 10)]]).verdict == "INCONCLUSIVE"
    # several seeds: paired per-seed differences of the means
    assert _greater([[(50.0, 10)], [(52.0, 10)], [(51.0, 10)]], [[(10.0, 10)], [(11.0, 10)], [(9.0, 10)]]).verdict == (
        "PASS"
    )
