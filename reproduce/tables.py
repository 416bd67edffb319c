"""A paper's table as data (rows, columns, and for every cell the run and score it shows beside the paper's
printed number), and its rendering to OUT/PAPER/tableN.md, .csv, .json and tableN_scores.csv.

Cells read "ours (paper)". A cell whose run has not been run reads "not run", one whose run failed
"failed: reason"; where the paper prints "-" the cell prints "-" (our value, when there is one, is still in the
scores CSV). Numbers are scaled to the paper's unit (percent or fraction) and rounded to its digits.
"""
import csv
import dataclasses
import io
import math
import os

from reproduce import paper_numbers
from common.atomic import write_json, write_text


@dataclasses.dataclass(frozen=True)
class Cell:
    """experiment + metric: a score of one run; derive(results) -> float for cells computed from several runs
    (results maps experiment name -> metrics dict); measure(plan) -> value for cells computed from the data or the
    networks rather than from runs (dataset sizes); text: a fixed text instead of ours (e.g. "not run yet");
    formatter(value) -> text instead of the number rounded to `digits` (e.g. parameter counts beside a printed
    "23.77M")."""

    experiment: str = None
    metric: str = None
    paper: object = None
    scale: float = 1.0
    digits: int = 2
    derive: object = None
    needs: tuple = ()
    text: str = None
    measure: object = None
    formatter: object = None

    def experiments(self):
        return ((self.experiment,) if self.experiment else ()) + tuple(self.needs)


@dataclasses.dataclass(frozen=True)
class Row:
    labels: tuple
    cells: tuple


@dataclasses.dataclass(frozen=True)
class Table:
    paper: str
    key: str
    title: str
    label_columns: tuple
    columns: tuple
    rows: tuple
    datasets: tuple
    notes: tuple = ()

    def experiments(self):
        names = []
        for row in self.rows:
            for cell in row.cells:
                names += [n for n in cell.experiments() if n not in names]
        return names


#: the paper's printed value of a cell (paper_numbers.paper_number), under the name the paper modules read best
printed = paper_numbers.paper_number


def format_number(value, digits):
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if not math.isfinite(value):
        return "nan"
    return f"{value:.{digits}f}"


def ours(cell, results, statuses, plan=None):
    """(text, number or None) of our side of a cell; `plan` (a runner.Plan) serves the `measure` cells."""
    if cell.text is not None:
        return cell.text, None
    if cell.measure is not None:
        if plan is None:
            return "not measured", None
        value = cell.measure(plan)
        return (cell.formatter(value) if cell.formatter else format_number(value, cell.digits)), value
    for name in cell.experiments():
        status = statuses.get(name, "not run")
        if status.startswith("failed"):
            return status, None
        if status != "done":
            return "not run", None
    if cell.derive is not None:
        value = cell.derive(results)
    else:
        value = results[cell.experiment].get(cell.metric)
    if value is None:
        return "n/a", None
    if isinstance(value, float):
        value = value * cell.scale
    return (cell.formatter(value) if cell.formatter else format_number(value, cell.digits)), value


def cell_text(cell, results, statuses, plan=None):
    if cell.paper == paper_numbers.DASH:
        return "-"
    text, _ = ours(cell, results, statuses, plan)
    if cell.paper is None:
        return text
    # an empty `text`: the row is not ours (e.g. another method's number the paper quotes), only the paper's shows
    return f"{text} ({format_number(cell.paper, cell.digits if isinstance(cell.paper, float) else 0)})".strip()


def render(table, results, statuses, header, plan=None):
    """The table as the JSON the report reads: title, header lines, columns, rows of "ours (paper)" cells."""
    rows = [list(row.labels) + [cell_text(cell, results, statuses, plan) for cell in row.cells] for row in table.rows]
    quoted = any(cell.paper is not None for row in table.rows for cell in row.cells)
    return {"paper": table.paper, "key": table.key, "title": table.title, "header": list(header),
            "columns": list(table.label_columns) + list(table.columns), "rows": rows, "notes": list(table.notes),
            "quotes_paper": quoted}


def to_markdown(rendered):
    lines = [f"# {rendered['title']}", ""]
    lines += [f"- {line}" for line in rendered["header"]]
    # a benchmark beyond the papers quotes no printed value
    lines += ["", "Cells: ours (paper's printed value).", ""] if rendered.get("quotes_paper", True) else [""]
    lines.append("| " + " | ".join(rendered["columns"]) + " |")
    lines.append("|" + "---|" * len(rendered["columns"]))
    for row in rendered["rows"]:
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    if rendered["notes"]:
        lines += [""] + [f"{line}" for line in rendered["notes"]]
    return "\n".join(lines) + "\n"


def to_csv(rows):
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def score_rows(table, results, statuses, run_ids, plan=None):
    """Long format: one line per cell with ours, the paper's, the run and metric, and every score of that run."""
    lines = [list(table.label_columns) + ["column", "ours", "paper", "status", "run", "metric", "all scores"]]
    for row in table.rows:
        for column, cell in zip(table.columns, row.cells):
            _, value = ours(cell, results, statuses, plan)
            names = cell.experiments()
            status = "; ".join(statuses.get(n, "not run") for n in names) or (cell.text or "")
            scores = results.get(cell.experiment, {}) if cell.experiment else {}
            lines.append(list(row.labels) + [column, "" if value is None else value,
                                             "" if cell.paper is None else cell.paper, status,
                                             "; ".join(run_ids.get(n, "") for n in names), cell.metric or "",
                                             " ".join(f"{k}={v}" for k, v in sorted(scores.items()))])
    return lines


def write_table(folder, table, results, statuses, run_ids, header, plan=None):
    rendered = render(table, results, statuses, header, plan)
    base = os.path.join(folder, table.key)
    write_json(base + ".json", rendered)
    write_text(base + ".md", to_markdown(rendered))
    write_text(base + ".csv", to_csv([rendered["columns"]] + rendered["rows"]))
    write_text(base + "_scores.csv", to_csv(score_rows(table, results, statuses, run_ids, plan)))
    return rendered
