import json
import math

import pytest
from matplotlib.figure import Figure

from artx.results import ResultsWriter


def fill(out_dir):
    writer = ResultsWriter("demo", out_dir, title="A paper", preset="quick", seeds=[0, 1], config={"eps": 0.1})
    writer.add_cell("Table 1", "cnn", "clean", [99.0, 99.2], paper=99.36)
    writer.add_cell("Table 1", "cnn", "FGSM", [40.0, 42.0])
    writer.add_cell("Table 1", "lenet", "clean", 98.5, paper=99.13)
    writer.add_claim("cnn beats lenet", True, "99.1 vs 98.5")
    writer.add_claim("lenet is perfect", False, "98.5")
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
    assert results["claims"][1] == {"text": "lenet is perfect", "passed": False, "measured": "98.5"}
    table = (tmp_path / "table.md").read_text()
    assert "| cnn | 99.10 ± 0.14 (99.36, -0.26) | 41.00 ± 1.41 |" in table
    assert "| lenet | 98.50 (99.13, -0.63) | — |" in table
    assert "- PASS: cnn beats lenet" in table and "- FAIL: lenet is perfect" in table
    assert "![curve](curve.png)" in table
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"
    assert writer.claims[0].line().startswith("PASS: ")


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
