"""``artx report``: one static HTML report of every reproduction's committed results.

From each ``<results>/<name>/results.json`` (and its PNG figures) it writes ``<out>/<name>.html``
and ``<out>/index.html``, plain HTML and CSS, no JavaScript:

- per reproduction: how it was produced (command, commit, wall time, threads), the adaptive-
  attack tables first (a defence's number under an attacker who knows it belongs beside the
  defence's own number), then every table with each cell next to the paper's value, coloured
  "within" when |ours − paper| ≤ the tolerance and "miss" otherwise; the claims with their
  verdicts, the notes and the figures;
- the index: per reproduction, the preset, the wall time, the count of cells within tolerance
  and the claim verdicts.

Tolerance (the fidelity review's convention, :func:`artx.results.tolerance`): ±3 points for
accuracies and error rates (cells in %), ±1.5 for detection accuracies; other quantities
(distances, L0 counts) are compared relatively, ±10 %. A cell with no paper value is shown plain.
The cells outside tolerance are listed with the measured reasons the reproduction gave for them
(``results.json``'s ``misses``).
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from artx import atomic
from artx.results import tolerance, total_wall_seconds

logger = logging.getLogger(__name__)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 75em; line-height: 1.4; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; vertical-align: top; }
th:first-child, td:first-child, td.text { text-align: left; }
td.within { background: #e3f4e1; }
td.miss { background: #fbe3e1; }
.paper { color: #666; font-size: 0.85em; display: block; }
.verdict { font-weight: bold; padding: 0 0.3em; }
.PASS { color: #1a7f37; } .FAIL { color: #c62828; } .INCONCLUSIVE { color: #9a6700; } .NA { color: #666; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
.meta { color: #555; font-size: 0.9em; }
"""


@dataclasses.dataclass
class Summary:
    """One reproduction's line in the index."""

    name: str
    title: str
    preset: str
    minutes: float
    within: int
    compared: int
    verdicts: dict[str, int]


def cell_class(label: str, mean: float, paper: float | None) -> str:
    if paper is None:
        return ""
    return "within" if abs(mean - paper) <= tolerance(label, paper) else "miss"


def _escape(text: Any) -> str:
    return html.escape(str(text))


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_escape(title)}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _format(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def _table_html(name: str, cells: list[dict]) -> tuple[str, int, int]:
    rows = list(dict.fromkeys(c["row"] for c in cells))
    columns = list(dict.fromkeys(c["column"] for c in cells))
    lookup = {(c["row"], c["column"]): c for c in cells}
    within = compared = 0
    parts = [
        f"<h3>{_escape(name)}</h3>",
        "<table>",
        "<tr><th></th>" + "".join(f"<th>{_escape(c)}</th>" for c in columns) + "</tr>",
    ]
    for row in rows:
        parts.append(f"<tr><td>{_escape(row)}</td>")
        for column in columns:
            cell = lookup.get((row, column))
            if cell is None:
                parts.append("<td>—</td>")
                continue
            css = cell_class(f"{name} {column}", cell["mean"], cell["paper"])
            compared += css != ""
            within += css == "within"
            ours = _format(cell["mean"]) + (f" ± {_format(cell['std'])}" if len(cell["values"]) > 1 else "")
            paper = "" if cell["paper"] is None else f'<span class="paper">paper {_format(cell["paper"])}</span>'
            parts.append(f'<td class="{css}">{_escape(ours)}{paper}</td>')
        parts.append("</tr>")
    parts.append("</table>")
    return "\n".join(parts), within, compared


def reproduction_page(blob: dict[str, Any]) -> tuple[str, Summary]:
    """The HTML page of one results.json, and its index line."""
    tables: dict[str, list[dict]] = {}
    for cell in blob["cells"]:
        tables.setdefault(cell["table"], []).append(cell)
    adaptive = [t for t in tables if "adaptive" in t.lower()]
    ordered = adaptive + [t for t in tables if t not in adaptive]
    provenance, timings = blob.get("provenance", {}), blob.get("timings", {})
    # the whole run's time, resumed units included, as README and table.md give it
    minutes = total_wall_seconds(blob) / 60
    invocation = float(timings.get("wall_seconds", 0.0)) / 60
    resumed_units = int((provenance.get("resumed_units") or {}).get("units", 0))
    resumed = f" ({invocation:.1f} min the last invocation, {resumed_units} unit(s) resumed)" if resumed_units else ""
    threads = ", ".join(f"{k} {v}" for k, v in provenance.get("cpu_threads", {}).items()) or "not recorded"
    body = [
        f'<p><a href="index.html">all reproductions</a></p><h1>{_escape(blob["reproduction"])}</h1>',
        f"<p>{_escape(blob.get('title', ''))}</p>",
        '<p class="meta">'
        f"command: <code>{_escape(provenance.get('command', ''))}</code><br>"
        f"commit <code>{_escape(provenance.get('commit', ''))}</code>; wall time {minutes:.1f} min{resumed}; "
        f"CPU threads: {_escape(threads)}; preset <code>{_escape(blob.get('preset', ''))}</code>; "
        f"seeds {blob.get('seeds')}</p>",
    ]
    if adaptive:
        body.append("<h2>Adaptive attacks</h2><p>The defences under attackers who know them.</p>")
    within = compared = 0
    for index, name in enumerate(ordered):
        if index == len(adaptive):
            body.append("<h2>Tables (ours; the paper's value below, green within tolerance, red a miss)</h2>")
        html_table, w, c = _table_html(name, tables[name])
        body.append(html_table)
        within, compared = within + w, compared + c
    if blob.get("misses"):
        body.append("<h2>Cells outside the paper's tolerance, with their measured reasons</h2><ul>")
        for miss in blob["misses"]:
            reason = " ".join(miss["reasons"]) or "unexplained"
            where = " · ".join(miss[key] for key in ("table", "row", "column"))
            body.append(f"<li>{_escape(where)}: {_escape(reason)}</li>")
        body.append("</ul>")
    verdicts: dict[str, int] = {}
    if blob.get("claims"):
        body.append("<h2>Claims</h2><ul>")
        for claim in blob["claims"]:
            verdict = claim.get("verdict") or ("PASS" if claim.get("passed") else "FAIL")
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
            css = "NA" if verdict == "N/A" else verdict
            rule = f"<br><small>{_escape(claim['rule'])}</small>" if claim.get("rule") else ""
            body.append(
                f'<li><span class="verdict {css}">{_escape(verdict)}</span> {_escape(claim["text"])} — '
                f"measured: {_escape(claim['measured'])}{rule}</li>"
            )
        body.append("</ul>")
    if blob.get("notes"):
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_escape(n)}</li>" for n in blob["notes"]) + "</ul>")
    if blob.get("figures"):
        body.append("<h2>Figures</h2>")
        for figure in blob["figures"]:
            src = f"{blob['reproduction']}/{figure}"
            body.append(
                f'<figure><img src="{_escape(src)}" alt="{_escape(figure)}">'
                f"<figcaption>{_escape(figure)}</figcaption></figure>"
            )
    summary = Summary(
        blob["reproduction"], blob.get("title", ""), blob.get("preset", ""), minutes, within, compared, verdicts
    )
    return _page(f"artx · {blob['reproduction']}", "\n".join(body)), summary


def index_page(summaries: list[Summary]) -> str:
    rows = []
    for s in summaries:
        verdicts = ", ".join(f"{n} {v}" for v, n in sorted(s.verdicts.items()))
        rows.append(
            f'<tr><td><a href="{_escape(s.name)}.html">{_escape(s.name)}</a></td>'
            f'<td class="text">{_escape(s.title)}</td><td class="text">{_escape(s.preset)}</td>'
            f"<td>{s.minutes:.0f} min</td><td>{s.within} of {s.compared}</td>"
            f'<td class="text">{_escape(verdicts)}</td></tr>'
        )
    body = (
        "<h1>artx: paper reproductions</h1>"
        "<p>Committed results of each reproduction (regenerated by the command on its page). A cell is within "
        "tolerance when it is within ±3 points of the paper's (±1.5 for detection accuracy, ±10 % for other "
        "quantities).</p><table><tr><th>reproduction</th><th>paper</th><th>preset</th><th>wall time</th>"
        "<th>cells within tolerance</th><th>claims</th></tr>" + "".join(rows) + "</table>"
    )
    return _page("artx reproductions", body)


def build_report(results_dir: str | os.PathLike, out_dir: str | os.PathLike) -> list[Path]:
    """Write the report of every ``<results_dir>/*/results.json`` into ``out_dir``; return the pages."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    sources = sorted(results_dir.glob("*/results.json"))
    if not sources:
        raise ValueError(f"--results {str(results_dir)!r} holds no <name>/results.json")
    out_dir.mkdir(parents=True, exist_ok=True)
    pages, summaries = [], []
    for source in sources:
        blob = json.loads(source.read_text(encoding="utf-8"))
        page, summary = reproduction_page(blob)
        figures = out_dir / blob["reproduction"]
        figures.mkdir(exist_ok=True)
        for figure in blob.get("figures", []):
            if (source.parent / figure).is_file():
                shutil.copyfile(source.parent / figure, figures / figure)
            else:
                logger.warning("%s lists figure %s, which is missing", source, figure)
        path = out_dir / f"{blob['reproduction']}.html"
        atomic.write_text(path, page)
        pages.append(path)
        summaries.append(summary)
    index = out_dir / "index.html"
    atomic.write_text(index, index_page(summaries))
    return [index, *pages]
