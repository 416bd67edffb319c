"""One self-contained HTML page with every table and figure a reproduction has written so far.

The page inlines figures as base64, so it can be mailed or archived as a single file. It only reads
`PAPER/table*.json` and `PAPER/fig*.png`; run folders and generated data sets are not part of it.
"""
import base64
import datetime
import html
import json
import os
import re

from common.atomic import write_text

PAPERS = {
    "neurall": "NeurAll (Sistu et al. 2019)",
    "multinet_pp": "MultiNet++ (Chennupati et al. 2019)",
    "auxnet": "AuxNet (Chennupati et al. 2019)",
    "task_weighting": "Dynamic task weighting (Leang et al. 2020)",
    "selfsup": "Self-supervised boosting (Novosel et al. 2019)",
}
CELL_LEGEND = "Cells read 'ours (paper)': our number first, the paper's printed number in parentheses."

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1400px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #555; }
ul.header { font-size: 0.9em; color: #444; padding-left: 1.2em; }
ul.header li.synthetic { background: #fff3cd; border-left: 4px solid #e0a800; padding: 0.1em 0.4em;
                         list-style: none; margin-left: -1.2em; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th { background: #e9ecef; text-align: center; }
td { font-family: "SFMono-Regular", Menlo, Consolas, monospace; }
td:first-child, td:nth-child(2) { text-align: left; }
tr:nth-child(even) td { background: #f6f8fa; }
td.failed { color: #c00; }
td.not-run { color: #999; }
p.notes, ul.notes { font-size: 0.85em; color: #555; }
p.error { color: #c00; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-family: monospace; color: #555; font-size: 0.85em; }
"""


def write_report(out_dir):
    """Builds `out_dir/report.html` from the papers' table JSON files and figure PNGs; returns its path."""
    sections = [_paper_section(out_dir, paper, name) for paper, name in PAPERS.items()]
    sections = [section for section in sections if section]
    generated = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Multi-task perception reproduction report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Multi-task perception reproduction report</h1>",
        f'<p class="meta">Generated {html.escape(generated)} from {html.escape(os.path.abspath(out_dir))}.</p>',
        f"<p>{html.escape(CELL_LEGEND)}</p>",
    ]
    if sections:
        parts.extend(sections)
    else:
        parts.append("<p>No tables or figures have been written yet.</p>")
    parts.append("</body></html>")
    path = os.path.join(out_dir, "report.html")
    write_text(path, "\n".join(parts) + "\n")
    return path


def _paper_section(out_dir, paper, paper_name):
    folder = os.path.join(out_dir, paper)
    if not os.path.isdir(folder):
        return ""
    names = os.listdir(folder)
    tables = sorted((name for name in names if re.fullmatch(r"table.*\.json", name)), key=_natural_key)
    figures = sorted((name for name in names if re.fullmatch(r"fig.*\.png", name)), key=_natural_key)
    if not tables and not figures:
        return ""
    parts = [f'<section id="{html.escape(paper)}"><h2>{html.escape(paper_name)}</h2>']
    parts.extend(_table_html(os.path.join(folder, name)) for name in tables)
    parts.extend(_figure_html(os.path.join(folder, name)) for name in figures)
    parts.append("</section>")
    return "\n".join(parts)


def _table_html(path):
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as handle:
            table = json.load(handle)
    except (OSError, ValueError) as error:
        # One unreadable table should not cost the reader the rest of the report.
        return f'<p class="error">Could not read {html.escape(name)}: {html.escape(str(error))}</p>'
    title = table.get("title") or table.get("key") or os.path.splitext(name)[0]
    parts = [f"<h3>{_escape(title)}</h3>"]
    header = table.get("header") or []
    if header:
        parts.append('<ul class="header">')
        for line in header:
            line = _text(line)
            css = ' class="synthetic"' if "SYNTHETIC" in line else ""
            parts.append(f"<li{css}>{html.escape(line)}</li>")
        parts.append("</ul>")
    columns = table.get("columns") or []
    rows = table.get("rows") or []
    parts.append('<div class="table-wrap"><table>')
    if columns:
        parts.append("<thead><tr>" + "".join(f"<th>{_escape(column)}</th>" for column in columns) + "</tr></thead>")
    parts.append("<tbody>")
    for row in rows:
        row = list(row) + [""] * (len(columns) - len(row))
        parts.append("<tr>" + "".join(_cell_html(cell) for cell in row) + "</tr>")
    parts.append("</tbody></table></div>")
    notes = table.get("notes") or []
    if notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{_escape(note)}</li>" for note in notes) + "</ul>")
    return "\n".join(parts)


def _cell_html(cell):
    text = _text(cell)
    lowered = text.strip().lower()
    if lowered.startswith("failed"):
        return f'<td class="failed">{html.escape(text)}</td>'
    if lowered.startswith("not run"):
        return f'<td class="not-run">{html.escape(text)}</td>'
    return f"<td>{html.escape(text)}</td>"


def _figure_html(path):
    name = os.path.basename(path)
    try:
        with open(path, "rb") as handle:
            encoded = base64.b64encode(handle.read()).decode("ascii")
    except OSError as error:
        return f'<p class="error">Could not read {html.escape(name)}: {html.escape(str(error))}</p>'
    return (f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(name)}">'
            f"<figcaption>{html.escape(name)}</figcaption></figure>")


def _natural_key(name):
    # table2 before table10: compare digit runs as numbers.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _text(value):
    return "" if value is None else str(value)


def _escape(value):
    return html.escape(_text(value))
