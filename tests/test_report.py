"""``artx report``: the HTML report's structure (parsed), its tolerance colouring, the committed
report being the one the committed results give, and every page opened in a real headless
browser (figures load, tables render)."""

from __future__ import annotations

import filecmp
import functools
import html.parser
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from artx import claims
from artx.cli import main
from artx.report import build_report, cell_class
from artx.results import ResultsWriter

ROOT = Path(__file__).resolve().parent.parent


class Page(html.parser.HTMLParser):
    """Tables (as lists of rows of (class, text)), images and links of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[tuple[str, str]]]] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None
        self._class = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell, self._class = [], attrs.get("class") or ""
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append((self._class, " ".join("".join(self._cell).split())))
            self._cell = None


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture
def results_dir(tmp_path):
    writer = ResultsWriter("demo", tmp_path / "results" / "demo", title="A paper", preset="paper", seeds=[0, 1])
    writer.add_cell("Table 1: accuracy (%)", "cnn", "clean", [99.0, 99.2], paper=99.36)  # within ±3
    writer.add_cell("Table 1: accuracy (%)", "cnn", "FGSM", [40.0, 42.0], paper=6.49)  # a miss
    writer.add_cell("Table 1: accuracy (%)", "mlp", "clean", [97.0], paper=None)  # no paper value
    writer.add_cell("Detection accuracy (%)", "hybrid", "detection accuracy (%)", [94.0], paper=96.0)  # miss at ±1.5
    writer.add_cell("Beyond the paper: adaptive attacker", "defended", "accuracy (%)", [12.0])
    writer.add_claim("cnn is accurate", claims.at_least(claims.Estimate.from_seeds([99.0, 99.2]), 95.0), "99.1")
    figure = Figure()
    figure.subplots().plot([0, 1], [1, 0])
    writer.add_figure("curve", figure)
    writer.write()
    return tmp_path / "results"


def test_report_pages_tables_colours_and_figures(results_dir, tmp_path, capsys):
    assert main(["report", "--results", str(results_dir), "--out", str(tmp_path / "site")]) == 0
    assert "wrote 2 pages" in capsys.readouterr().out
    page = parse(tmp_path / "site" / "demo.html")
    assert "index.html" in page.links
    adaptive, table1, detection = page.tables  # adaptive-attack tables come first
    assert adaptive[0][1][1] == "accuracy (%)"
    cells = {row[0][1]: row[1:] for row in table1[1:]}
    assert cells["cnn"][0][0] == "within" and "paper 99.36" in cells["cnn"][0][1]
    assert cells["cnn"][1][0] == "miss"
    assert cells["mlp"][0][0] == "" and "paper" not in cells["mlp"][0][1]
    assert detection[1][1][0] == "miss"  # 2 points off a detection accuracy: outside ±1.5
    assert page.images == ["demo/curve.png"] and (tmp_path / "site" / "demo" / "curve.png").is_file()
    index = parse(tmp_path / "site" / "index.html")
    row = index.tables[0][1]
    assert row[0][1] == "demo" and row[4][1] == "1 of 3" and row[5][1] == "1 PASS"


def test_wall_time_of_a_resumed_run_counts_its_resumed_units(results_dir, tmp_path):
    """A run carried over several invocations: the page and the index give its whole time (as README
    and table.md do), not only the last invocation's."""
    source = results_dir / "demo" / "results.json"
    blob = json.loads(source.read_text(encoding="utf-8"))
    blob["timings"]["wall_seconds"] = 600.0
    blob["provenance"]["resumed_units"] = {"units": 3, "timed": 3, "unit_seconds": 1200.0}
    source.write_text(json.dumps(blob), encoding="utf-8")
    build_report(results_dir, tmp_path / "site")
    assert "wall time 30.0 min (10.0 min the last invocation, 3 unit(s) resumed)" in (
        tmp_path / "site" / "demo.html"
    ).read_text(encoding="utf-8")
    assert parse(tmp_path / "site" / "index.html").tables[0][1][3][1] == "30 min"


def test_tolerances():
    assert cell_class("Table 2 accuracy (%)", 96.0, 99.0) == "within"
    assert cell_class("Table 2 accuracy (%)", 95.9, 99.0) == "miss"
    assert cell_class("detection accuracy (%)", 97.0, 98.2) == "within"
    assert cell_class("detection accuracy (%)", 96.6, 98.2) == "miss"
    assert cell_class("mean L2", 1.5, 1.36) == "miss" and cell_class("mean L2", 1.45, 1.36) == "within"


def test_no_results_is_one_clear_line(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path), "--out", str(tmp_path / "site")]) == 2
    assert "holds no <name>/results.json" in capsys.readouterr().err


def test_committed_report_is_the_one_the_committed_results_give(tmp_path):
    committed = ROOT / "docs" / "report"
    build_report(ROOT / "docs" / "results", tmp_path / "site")
    fresh = sorted(p.relative_to(tmp_path / "site") for p in (tmp_path / "site").rglob("*") if p.is_file())
    assert fresh == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for relative in fresh:
        assert filecmp.cmp(tmp_path / "site" / relative, committed / relative, shallow=False), relative


CHECK = """<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="page" src="PAGE" style="width:1200px;height:900px"></iframe>
<script>
document.getElementById("page").onload = function () {
  const doc = document.getElementById("page").contentDocument;
  const images = Array.from(doc.images);
  const loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  const tables = Array.from(doc.querySelectorAll("table"));
  const rendered = tables.filter(function (t) { return t.rows.length > 1 && t.offsetHeight > 0; }).length;
  document.getElementById("result").textContent =
    "images " + loaded + "/" + images.length + " tables " + rendered + "/" + tables.length;
};
</script></body></html>"""


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(_browser() is None, reason="no headless browser (Debian's chromium) installed")
def test_committed_report_in_a_headless_browser(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(ROOT / "docs" / "report", site)
    pages = sorted(p.name for p in site.glob("*.html"))
    assert "index.html" in pages and len(pages) >= 2
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name in pages:
            (site / f"check-{name}").write_text(CHECK.replace("PAGE", name))
            url = f"http://127.0.0.1:{server.server_address[1]}/check-{name}"
            command = [
                _browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000", "--dump-dom", url,
            ]  # fmt: skip
            dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
            result = Page()
            result.feed(dom)
            text = dom.split('<pre id="result">', 1)[1].split("</pre>", 1)[0]
            images, tables = text.split()[1], text.split()[3]
            loaded, total = (int(v) for v in images.split("/"))
            rendered, all_tables = (int(v) for v in tables.split("/"))
            assert loaded == total, f"{name}: {loaded} of {total} figures loaded"
            assert rendered == all_tables and all_tables >= 1, f"{name}: {rendered} of {all_tables} tables rendered"
    finally:
        server.shutdown()
