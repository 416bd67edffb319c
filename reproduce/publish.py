"""`python -m reproduce.publish [--results DIR] [PAPER ...]`: puts each paper's latest tables on its docs page.

`python -m reproduce PAPER` writes OUT/PAPER/tableN.json (and .md, .csv); this copies those tables, in the paper's
order and with their headers (data, budget, resolution, commit, command) and notes, into docs/papers/PAPER.md
between the markers below, replacing what a previous publish put there. Tables not computed yet are listed as such.
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common.atomic import write_text

START, END = "<!-- latest-tables:start -->", "<!-- latest-tables:end -->"
DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "papers")


def tables_markdown(paper, results):
    """The paper's tables from `results` (the --out of python -m reproduce) as markdown, headings one level down."""
    from reproduce import papers
    from reproduce.tables import to_markdown

    parts, missing = [], []
    for table in papers.module(paper).TABLES:
        path = os.path.join(results, paper, f"{table.key}.json")
        if not os.path.isfile(path):
            missing.append(table.key)
            continue
        with open(path, encoding="utf-8") as handle:
            text = to_markdown(json.load(handle))
        parts.append("###" + text[1:] if text.startswith("# ") else text)
    if missing:
        parts.append(f"Not computed in {results} yet: {', '.join(missing)}.\n")
    return "\n".join(parts)


def publish(paper, results, docs=DOCS):
    """Replaces the latest-tables block of docs/papers/PAPER.md; returns the page's path."""
    page = os.path.join(docs, f"{paper}.md")
    with open(page, encoding="utf-8") as handle:
        text = handle.read()
    if START not in text or END not in text:
        raise ValueError(f"{page} has no {START} ... {END} block to put the tables in")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    write_text(page, f"{before}{START}\n{tables_markdown(paper, results)}{END}{after}")
    return page


def main(argv=None):
    from reproduce import papers

    parser = argparse.ArgumentParser(prog="python -m reproduce.publish", description=__doc__.split("\n\n")[1])
    parser.add_argument("papers", nargs="*", metavar="PAPER", help=f"{', '.join(papers.PAPERS)} (default: all)")
    parser.add_argument("--results", default="results", help="the --out of python -m reproduce (default: results)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.papers) - set(papers.PAPERS))
    if unknown:
        parser.error(f"unknown paper(s) {', '.join(unknown)}; choose from {', '.join(papers.PAPERS)}")
    if not os.path.isdir(args.results):
        parser.error(f"--results {args.results}: no such folder (run python -m reproduce first)")
    for paper in args.papers or papers.PAPERS:
        print(publish(paper, args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
