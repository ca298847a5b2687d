"""The cw-attacks reproduction (Carlini & Wagner 2017, Table IV) end to end on a tiny preset (the real
quick preset takes minutes): Table IV's cells beside the paper's, the three cases, ART's stock rows,
Figures 3–5, claims, determinism; its case definitions on hand-made runs; bad settings refused."""

import json

import numpy as np
import pytest

from artx import registry
from artx.cli import main
from tests.conftest import make_distribution

TINY = """
    from artx.reproduction import Preset
    from artx_reproductions.cw_attacks import QUICK, CWAttacksReproduction


    class TinyCWAttacks(CWAttacksReproduction):
        name = "tiny-cw-attacks"
        presets = {
            "quick": Preset("quick", "mnist-5k", "tiny", seeds=1, settings=QUICK.replace(
                train_limit=1000,
                test_limit=200,
                epochs=3,
                optimizer="adam",
                lr=0.001,
                attack_images=3,
                chunk_images=2,
                cw_l2={"binary_search_steps": 2, "max_iter": 20, "initial_const": 0.1},
                cw_l0={"max_iter": 10, "const_factor": 10.0},
                cw_linf={"max_iter": 10, "const_factor": 10.0, "decrease_factor": 0.5},
                jsma_gamma=0.1,
                min_eps={"eps_max": 1.0, "search_steps": 4},
                igs={"max_iter": 5},
                deepfool={"max_iter": 20},
                art_cw={"max_iter": 2},
                figure_chunk=10,
                budget_check_iter=30,
                budget_check_pairs=1,
                reach_iterations=20,
                reach_starts=2,
            )),
        }
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    root = make_distribution(
        tmp_path / "site",
        "tiny-cw-attacks",
        "[artx.reproductions]\ntiny-cw-attacks = tiny_cw_attacks:TinyCWAttacks\n",
        {"tiny_cw_attacks": TINY},
    )
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()


def _deterministic(results: dict) -> dict:
    return {k: v for k, v in results.items() if k not in ("timings", "provenance")}


@pytest.mark.slow
def test_tiny_cw_attacks(tiny, tmp_path, capsys):
    from artx_reproductions.cw_attacks import ART_STOCK, ATTACKS, TABLE4

    assert main(["reproduce", "tiny-cw-attacks", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "a" / "tiny-cw-attacks"
    results = json.loads((folder / "results.json").read_text())
    cells = results["cells"]

    table4 = [c for c in cells if c["table"].startswith("Table IV")]
    # every attack of C&W's table has a success cell for each case it has in the paper, beside the paper's value
    for attack, by_case in TABLE4.items():
        label = ATTACKS[attack][0]
        for case, (_, paper_success) in by_case.items():
            [cell] = [c for c in table4 if c["row"].startswith(label) and c["column"] == f"{case}: success (%)"]
            assert cell["paper"] == paper_success and 0.0 <= cell["mean"] <= 100.0
    # distances beside the paper's wherever the attack succeeded; L0 counts are whole pixels
    distances = [c for c in table4 if ": mean" in c["column"] and c["paper"] is not None]
    assert distances
    for cell in distances:
        if "L0" in cell["row"]:
            assert cell["mean"] >= 1.0
    # the cases are ordered: best ≤ average ≤ worst in distortion and best ≥ average ≥ worst in success
    ours = ATTACKS["cw-l2-reference"][0]
    by_column = {c["column"]: c["mean"] for c in table4 if c["row"].startswith(ours)}
    assert by_column["best: success (%)"] >= by_column["average: success (%)"] >= by_column["worst: success (%)"]
    if {"best: mean", "worst: mean"} <= by_column.keys():
        assert by_column["best: mean"] <= by_column["worst: mean"]
    # ART's stock attacks beside ours, without paper values (they are not the papers' algorithms)
    art = [c for c in cells if c["table"].startswith("ART's stock")]
    assert {c["row"].split(" — ")[0] for c in art} == {ATTACKS[a][0] for a in ART_STOCK}
    assert all(c["paper"] is None for c in art)

    # the budget check: each reference attack's misses, the first one per unit (two units) attacked again
    budget = {(c["row"], c["column"]): c["mean"] for c in cells if c["table"].startswith("Reference attacks' misses")}
    notes = (folder / "table.md").read_text()
    for attack in ("cw-l0-reference", "cw-l2-reference", "cw-linf-reference"):
        label = ATTACKS[attack][0]
        misses, again, hits = (budget[(label, column)] for column in ("misses", "attacked again", "of them hit"))
        assert 0 <= hits <= again <= min(misses, 2) and (again >= 1) == (misses >= 1)
        assert (f"{label}: {misses:.0f} of its Table IV attacks" in notes) == (misses >= 1)

    # the reach check: every L2/L∞ reference miss given to PGD at the paper's worst-case distance
    reach = {(c["row"], c["column"]): c["mean"] for c in cells if c["table"].startswith("Targeted PGD on")}
    assert {row for row, _ in reach} == {
        f"{ATTACKS[a][0]}, PGD at ε = {TABLE4[a]['worst'][0]:g}" for a in ("cw-l2-reference", "cw-linf-reference")
    }
    for attack in ("cw-l2-reference", "cw-linf-reference"):
        label = ATTACKS[attack][0]
        row = f"{label}, PGD at ε = {TABLE4[attack]['worst'][0]:g}"
        misses = reach[(row, "misses")]
        assert misses == budget[(label, "misses")]
        assert 0 <= reach[(row, "reached by PGD")] <= misses
        assert (f"{label}: its {misses:.0f} Table IV misses given to targeted PGD" in notes) == (misses >= 1)

    # every cell outside the paper's tolerance carries its reasons: this preset's scale (all of them), the budget
    # and reach checks (a reference attack's success cells), the gap the attacks share (a mean distance)
    explained = {(m["table"], m["row"], m["column"]): m["reasons"] for m in results["misses"]}
    assert explained and all(reasons and all(r.strip() for r in reasons) for reasons in explained.values())
    for (table, row, column), reasons in explained.items():
        if table.startswith("Table IV") and column.endswith(": mean"):
            assert any(r.startswith("ours / paper = ") for r in reasons)
        for attack in ("cw-l0-reference", "cw-l2-reference", "cw-linf-reference"):
            if table.startswith("Table IV") and row.startswith(ATTACKS[attack][0]) and "success" in column:
                assert any(r.startswith(f"{ATTACKS[attack][0]}: ") and "Measured reason" in r for r in reasons)

    for figure in ("figure3.png", "figure4.png", "figure5.png"):
        assert (folder / figure).is_file()
    # a figure source in the attack set (three images, from the test set's start, where the first images of labels
    # 7, 2, 1, 0, 4 lie) reuses Table IV's nine attacks; the figure units attack the other labels' sources
    figures = results["metrics"]["figures 3-5 (seed 0)"]
    for attack in ("cw-l2-reference", "cw-l0-reference", "cw-linf-reference"):
        assert figures[attack]["n"] == 90
        assert 1 <= len(figures[attack]["labels from Table IV"]) <= 3
    assert sum(out.count(f"- {verdict}: ") for verdict in ("PASS", "FAIL", "INCONCLUSIVE", "N/A")) == 9
    assert "99.5" in (folder / "table.md").read_text()

    # the same command again (the net now cached) gives the same results.json
    assert main(["reproduce", "tiny-cw-attacks", "--out", str(tmp_path / "b")]) == 0
    again = json.loads((tmp_path / "b" / "tiny-cw-attacks" / "results.json").read_text())
    assert _deterministic(again) == _deterministic(results)


def test_cases_follow_carlini_and_wagner():
    from artx_reproductions.cw_attacks import _cases

    # two images, labels 0 and 1; three "other" targets each for brevity; the average target is the second
    run = {
        "targets": [[1, 2, 3], [0, 2, 3]],
        "average_target": [2, 3],
        "success": [[1, 1, 0], [1, 1, 1]],
        "distortion": [[2.0, 1.0, 9.0], [4.0, 3.0, 5.0]],
    }
    cases = _cases("cw-l2-reference", run)
    best_ok, best = cases["best"]
    assert best_ok.tolist() == [True, True] and best.tolist() == [1.0, 3.0]  # least distortion among successes
    average_ok, average = cases["average"]
    assert average_ok.tolist() == [True, True] and average.tolist() == [1.0, 5.0]
    worst_ok, worst = cases["worst"]
    assert worst_ok.tolist() == [False, True] and worst[1] == 5.0  # a failed target fails the worst case
    # untargeted DeepFool is the best case; ART's stock rows the average case
    single = {"success": [1, 0], "distortion": [0.5, 0.7]}
    assert list(_cases("deepfool", single)) == ["best"]
    assert list(_cases("cw-l2", single)) == ["average"]


def test_ratio_claim_uses_the_paired_images():
    from artx_reproductions.cw_attacks import _paired, _ratio

    earlier = [(np.array([True, True, True, False]), np.array([4.0, 6.0, 8.0, 100.0]))]
    ours = [(np.array([True, True, True, True]), np.array([1.0, 2.0, 3.0, 1.0]))]
    assert _ratio(earlier, ours) == pytest.approx(3.0)  # the 4th image (earlier failed) is left out
    assert _paired(earlier, ours, scale_ours=2.0).mean == pytest.approx(2.0)  # mean of 4-2, 6-4, 8-6


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"attack_images": 0}, "attack_images"),
        ({"chunk_images": 1.5}, "chunk_images"),
        ({"epochs": True}, "epochs"),
        ({"budget_check_pairs": 0}, "budget_check_pairs must be an int ≥ 1"),
        ({"budget_check_iter": 0}, "budget_check_iter must be None or an int ≥ 1"),
        ({"reach_check": 1}, "reach_check must be a bool"),
        ({"reach_iterations": 0}, "reach_iterations must be an int ≥ 1"),
        ({"reach_starts": 2.0}, "reach_starts must be an int ≥ 1"),
        ({"budget_check_iter": "10000"}, "budget_check_iter must be None or an int ≥ 1"),
    ],
)
def test_settings_refuse_bad_values(changes, message):
    from artx_reproductions.cw_attacks import QUICK

    with pytest.raises(ValueError, match=message):
        QUICK.replace(**changes)
