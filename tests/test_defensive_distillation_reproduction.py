"""The defensive-distillation reproduction end to end on a tiny preset (the real quick preset takes
minutes): the paper's values beside ours, success rates and distortions, the κ transfer sweep,
Figure 1, the mechanism table, claims, determinism; and its settings refused when inconsistent."""

import json

import pytest

from artx import registry
from artx.cli import main
from tests.conftest import make_distribution

TINY = """
    from artx.reproduction import Preset
    from artx_reproductions.defensive_distillation import QUICK, DefensiveDistillationReproduction


    class TinyDistillation(DefensiveDistillationReproduction):
        name = "tiny-distillation"
        presets = {
            "quick": Preset("quick", "mnist-5k", "tiny", seeds=1, settings=QUICK.replace(
                train_limit=1000,
                test_limit=200,
                epochs=3,
                init_epochs=2,
                optimizer="adam",
                lr=0.001,
                attack_images=4,
                transfer_images=3,
                kappas=(0.0, 10.0),
                cw_l2={"binary_search_steps": 2, "max_iter": 20, "initial_const": 0.1},
                cw_l0={"max_iter": 10, "const_factor": 10.0},
                cw_linf={"max_iter": 10, "const_factor": 10.0, "decrease_factor": 0.5},
                budget_check_iter=30,
                fgsm_eps_step=0.1,
                attack_batch=4,
                mechanism_images=40,
                chunk_images=3,
            )),
        }


    class OneChunkDistillation(TinyDistillation):
        name = "one-chunk-distillation"
        presets = {
            "quick": Preset("quick", "mnist-5k", "tiny", seeds=1, settings=TinyDistillation.presets[
                "quick"].settings.replace(chunk_images=4)),
        }
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    root = make_distribution(
        tmp_path / "site",
        "tiny-distillation",
        "[artx.reproductions]\ntiny-distillation = tiny_distillation:TinyDistillation\n"
        "one-chunk-distillation = tiny_distillation:OneChunkDistillation\n",
        {"tiny_distillation": TINY},
    )
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()


def _deterministic(results: dict) -> dict:
    return {k: v for k, v in results.items() if k not in ("timings", "provenance")}


def test_tiny_defensive_distillation(tiny, tmp_path, capsys):
    from artx_reproductions.defensive_distillation import ATTACKS, CW_TABLE4, PAPERNOT

    assert main(["reproduce", "tiny-distillation", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "a" / "tiny-distillation"
    results = json.loads((folder / "results.json").read_text())
    tables = {c["table"] for c in results["cells"]}
    by_table = {}
    for cell in results["cells"]:
        by_table.setdefault(cell["table"].split(":")[0].split(",")[0], []).append(cell)

    # both nets' clean accuracy beside C&W's 99.5%
    accuracy = by_table["Clean test accuracy (%)"]
    assert {c["paper"] for c in accuracy if c["paper"] is not None} == {99.5}
    assert all(0.0 <= c["mean"] <= 100.0 for c in accuracy)

    # every attack of the main table on both nets: a success rate in [0, 100]
    success = [c for t, cells in by_table.items() if t.startswith("Targeted success") for c in cells]
    assert len(success) >= 2 * len(ATTACKS)
    assert all(0.0 <= c["mean"] <= 100.0 for c in success)

    # the paper's numbers stand beside ours: Papernot's 95% → 0.5% and C&W's Table IV distortions
    papers = {c["paper"] for c in results["cells"] if c["paper"] is not None}
    assert set(PAPERNOT.values()) <= papers
    # C&W's Table IV distances beside ours wherever an attack succeeded at least once (a mean over
    # no successes has no cell)
    distances = [c for c in results["cells"] if c["table"].startswith("Mean distortion") and c["paper"] is not None]
    assert len(distances) >= 3
    assert {c["paper"] for c in distances} <= {distance for distance, _ in CW_TABLE4.values()}

    # the budget check attacks exactly the images each reference attack missed, and hits at most as many
    budget = by_table["Reference attacks' misses"]
    assert budget, "the tiny preset's budget check ran"
    rates = {(c["row"], c["column"]): c["mean"] for c in success}
    for cell in budget:
        label, _, kind = cell["row"].partition(": ")
        if kind.startswith("misses"):
            assert cell["mean"] == pytest.approx(4 * (100 - rates[(label, cell["column"])]) / 100)
            hits = next(c for c in budget if c["row"] == f"{label}: of them hit at the larger budget" and
                        c["column"] == cell["column"])  # fmt: skip
            assert 0 <= hits["mean"] <= cell["mean"]
    assert len(budget) == 2 * 3 * 2  # misses and hits × three reference attacks × two nets
    # a reference attack's success cell that misses C&W's 100% carries the budget check's measured reason
    explained = {(m["table"], m["row"], m["column"]): m["reasons"] for m in results["misses"]}
    for cell in success:
        if "reference" in cell["row"] and cell["within_tolerance"] is False:
            reasons = explained[(cell["table"], cell["row"], cell["column"])]
            assert any("Measured reason: attacked again at" in r for r in reasons), reasons

    # the κ sweep has a row per κ
    transfer = [t for t in tables if t.startswith("Transfer")]
    assert transfer
    rows = {c["row"] for c in results["cells"] if c["table"] in transfer}
    assert any("10" in row for row in rows) and any("0" in row for row in rows)

    for figure in ("transfer_vs_confidence.png", "figure1_distilled.png", "loss_gradient_norms.png"):
        assert (folder / figure).is_file()
    assert sum(out.count(f"- {verdict}: ") for verdict in ("PASS", "FAIL", "INCONCLUSIVE", "N/A")) >= 5
    assert "T = 100" in (folder / "table.md").read_text()

    # the same command again (models now cached) gives the same results.json
    assert main(["reproduce", "tiny-distillation", "--out", str(tmp_path / "b")]) == 0
    again = json.loads((tmp_path / "b" / "tiny-distillation" / "results.json").read_text())
    assert _deterministic(again) == _deterministic(results)

    # attack units in chunks of 3 images (4 attacked, 3 in the κ sweep) give the results of one chunk of 4, up to
    # float rounding (a batch of 3 and one of 4 round differently in the convolutions)
    assert main(["reproduce", "one-chunk-distillation", "--out", str(tmp_path / "c")]) == 0
    one_chunk = json.loads((tmp_path / "c" / "one-chunk-distillation" / "results.json").read_text())
    assert [(c["table"], c["row"], c["column"]) for c in one_chunk["cells"]] == [
        (c["table"], c["row"], c["column"]) for c in results["cells"]
    ]
    for chunked, whole in zip(results["cells"], one_chunk["cells"]):
        assert chunked["values"] == pytest.approx(whole["values"], rel=1e-5), chunked["row"]
    assert [c["verdict"] for c in one_chunk["claims"]] == [c["verdict"] for c in results["claims"]]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"init_epochs": 6}, "init_epochs must lie in"),
        ({"chunk_images": 0}, "chunk_images must be an int ≥ 1"),
        ({"budget_check_iter": 0}, "budget_check_iter must be None or an int ≥ 1"),
        ({"budget_check_iter": 10.0}, "budget_check_iter must be None or an int ≥ 1"),
        ({"transfer_images": 21}, "transfer_images must lie in"),
        ({"kappas": (5.0, 10.0)}, "kappas must be increasing and start at 0"),
        ({"kappas": (0.0, 20.0, 10.0)}, "kappas must be increasing and start at 0"),
    ],
)
def test_settings_refuse_inconsistent_values(changes, message):
    from artx_reproductions.defensive_distillation import QUICK

    with pytest.raises(ValueError, match=message):
        QUICK.replace(**changes)
