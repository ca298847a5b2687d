import json
import math
import os

import pytest
from matplotlib.figure import Figure

from artx import claims
from artx.results import ResultsWriter


def fill(out_dir):
    writer = ResultsWriter("demo", out_dir, title="A paper", preset="quick", seeds=[0, 1], config={"eps": 0.1})
    writer.add_cell("Table 1", "cnn", "clean", [99.0, 99.2], paper=99.36)
    writer.add_cell("Table 1", "cnn", "FGSM", [40.0, 42.0])
    writer.add_cell("Table 1", "lenet", "clean", 98.5, paper=99.13)
    writer.add_claim("cnn beats lenet", claims.greater(claims.compare([99.0, 99.2], [97.0], n=1000)), "99.1 vs 98.5")
    writer.add_claim("lenet is perfect", claims.at_least(claims.Estimate.from_proportion(98.5, 1000), 100.0), "98.5")
    writer.add_claim("cnn reaches 99.2", claims.at_least(claims.Estimate.from_seeds([99.0, 99.2]), 99.2), "99.1")
    writer.add_note("settings chosen because ...")
    with writer.timed("stage"):
        pass
    figure = Figure()
    figure.subplots().plot([0, 1], [1, 0])
    writer.add_figure("curve", figure)
    writer.write()
    return writer


def test_files_and_table(tmp_path):
    writer = fill(tmp_path)
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((tmp_path / "results.json").read_text())
    cell = results["cells"][0]
    assert cell["mean"] == pytest.approx(99.1) and cell["difference"] == pytest.approx(99.1 - 99.36)
    assert results["versions"]["torch"] != "not installed"
    # CPU thread counts change floating-point reduction order, so they are part of provenance
    import torch

    threads = results["provenance"]["cpu_threads"]
    assert threads["torch"] == torch.get_num_threads() and threads["blas"] >= 1
    assert f"CPU threads: torch {threads['torch']}, blas {threads['blas']}" in (tmp_path / "table.md").read_text()
    assert results["claims"][1]["text"] == "lenet is perfect" and results["claims"][1]["verdict"] == "FAIL"
    assert "2 SE" in results["claims"][1]["rule"]
    assert [c["verdict"] for c in results["claims"]] == ["PASS", "FAIL", "INCONCLUSIVE"]
    table = (tmp_path / "table.md").read_text()
    assert "| cnn | 99.10 ± 0.14 (99.36, -0.26) | 41.00 ± 1.41 |" in table
    assert "| lenet | 98.50 (99.13, -0.63) | — |" in table
    assert (
        "- PASS: cnn beats lenet" in table
        and "- FAIL: lenet is perfect" in table
        and "- INCONCLUSIVE: cnn reaches 99.2" in table
    )
    assert "1 PASS, 1 FAIL, 1 INCONCLUSIVE of 3 claims" in table
    assert "![curve](curve.png)" in table
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"
    assert writer.claims[0].line().startswith("PASS: ")


def test_cells_outside_tolerance_are_listed_with_their_reasons(tmp_path):
    writer = ResultsWriter("demo", tmp_path, preset="paper", seeds=[0])
    writer.add_cell("Table 1 accuracy (%)", "cnn", "clean", 98.0, paper=99.0)  # within ±3 points
    writer.add_cell("Table 1 accuracy (%)", "cnn", "FGSM", 40.0, paper=52.0)  # a miss, explained
    writer.add_cell("Table 1 accuracy (%)", "lenet", "FGSM", 20.0, paper=30.0)  # a miss, no reason given
    writer.add_cell("Distances", "L2", "mean", 1.5, paper=1.36)  # +10.3 %: outside ±10 %
    writer.add_cell("Distances", "L2", "ours only", 1.0)  # no paper value: never a miss
    writer.explain_misses("Table 1 accuracy (%)", "the attack is stronger (measured: 12 points at ε 0.1)", rows=["cnn"])
    writer.explain_misses("Distances", "the net is more robust.", columns=["mean"])
    writer.explain_misses("Table 1 accuracy (%)", "never shown: no cell of this column misses", columns=["clean"])
    writer.write()
    results = json.loads((tmp_path / "results.json").read_text())
    assert [c["within_tolerance"] for c in results["cells"]] == [True, False, False, False, None]
    assert results["misses"] == [
        {
            "table": "Table 1 accuracy (%)",
            "row": "cnn",
            "column": "FGSM",
            "reasons": ["the attack is stronger (measured: 12 points at ε 0.1)"],
        },
        {"table": "Table 1 accuracy (%)", "row": "lenet", "column": "FGSM", "reasons": []},
        {"table": "Distances", "row": "L2", "column": "mean", "reasons": ["the net is more robust."]},
    ]
    table = (tmp_path / "table.md").read_text()
    assert "1 of 4 cells with a paper value are within tolerance" in table
    assert "- Table 1 accuracy (%) · cnn · FGSM: ours 40.00, paper 52.00 (-12.00) — the attack is stronger" in table
    assert "- Table 1 accuracy (%) · lenet · FGSM: ours 20.00, paper 30.00 (-10.00) — unexplained" in table
    assert "never shown" not in table


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"reason": ""}, ValueError),
        ({"reason": "r", "rows": "cnn"}, TypeError),
        ({"reason": "r", "columns": [1]}, TypeError),
    ],
)
def test_a_miss_reason_is_checked(tmp_path, kwargs, error):
    writer = ResultsWriter("demo", tmp_path)
    with pytest.raises(error, match="reason|rows|columns"):
        writer.explain_misses("Table 1", **kwargs)


def test_json_is_identical_across_runs_except_timings_and_provenance(tmp_path):
    fill(tmp_path / "a")
    fill(tmp_path / "b")
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    for blob in (a, b):
        blob.pop("timings")
        blob.pop("provenance")
    assert a == b


def test_non_finite_cell_is_refused(tmp_path):
    writer = ResultsWriter("demo", tmp_path)
    with pytest.raises(ValueError, match="finite"):
        writer.add_cell("t", "r", "c", [math.nan])


def test_a_bare_bool_is_not_a_claim_verdict(tmp_path):
    writer = ResultsWriter("demo", tmp_path)
    with pytest.raises(TypeError, match="artx.claims.Decision"):
        writer.add_claim("x", True, "1")


@pytest.mark.parametrize("make_bad", ["file", "nested-file", "results-folder"])
def test_output_that_cannot_be_written_fails_before_any_work(tmp_path, make_bad):
    from artx.results import OutputError

    if make_bad == "file":
        (tmp_path / "out").write_text("x")
        out = tmp_path / "out" / "demo"
    elif make_bad == "nested-file":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "demo").write_text("x")
        out = tmp_path / "out" / "demo"
    else:
        out = tmp_path / "out" / "demo"
        (out / "results.json").mkdir(parents=True)
    with pytest.raises(OutputError, match="is a file|is a folder"):
        ResultsWriter("demo", out).check_writable()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_output_fails_before_any_work(tmp_path):
    from artx.results import OutputError

    tmp_path.joinpath("ro").mkdir(mode=0o555)
    with pytest.raises(OutputError, match="not writable"):
        ResultsWriter("demo", tmp_path / "ro" / "demo").check_writable()


def test_output_files_follow_the_umask(tmp_path):
    import stat

    fill(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    for name in ("results.json", "table.md", "curve.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
