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

from common.doc_blocks import markers, update_block

BLOCK = "latest-tables"
START, END = markers(BLOCK)
DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "papers")


def tables_markdown(paper, results):
    """The paper's tables from `results` (the --out of python -m reproduce) as markdown, headings one level down."""
    from reproduce import papers
    from reproduce.tables import to_markdown

    parts, missing = [], []
    if paper in papers.BENCHMARKS:  # its tables depend on the options it ran with: those it wrote
        folder = os.path.join(results, paper)
        written = [name[:-5] for name in os.listdir(folder) if name.endswith(".json")] if os.path.isdir(folder) else []
        order = papers.table_keys(paper)  # the benchmark's own order, every dataset chosen
        keys = sorted(written, key=lambda key: (order.index(key) if key in order else len(order), key))
    else:
        keys = [table.key for table in papers.module(paper).TABLES]
    for key in keys:
        path = os.path.join(results, paper, f"{key}.json")
        if not os.path.isfile(path):
            missing.append(key)
            continue
        with open(path, encoding="utf-8") as handle:
            text = to_markdown(json.load(handle))
        parts.append("###" + text[1:] if text.startswith("# ") else text)
    if missing or not keys:
        parts.append(f"Not computed in {results} yet: {', '.join(missing) or 'any table'}.\n")
    return "\n".join(parts)


def publish(paper, results, docs=DOCS):
    """Replaces the latest-tables block of docs/papers/PAPER.md (or docs/papers/mtl_benchmark.md); returns the
    page's path."""
    page = os.path.join(docs, f"{paper}.md")
    update_block(page, BLOCK, tables_markdown(paper, results).rstrip("\n"))
    return page


def main(argv=None):
    from reproduce import papers

    parser = argparse.ArgumentParser(prog="python -m reproduce.publish", description=__doc__.split("\n\n")[1])
    parser.add_argument("papers", nargs="*", metavar="PAPER", help=f"{', '.join(papers.PAPERS + papers.BENCHMARKS)} "
                        f"(default: the five papers)")
    parser.add_argument("--results", default="results", help="the --out of python -m reproduce (default: results)")
    args = parser.parse_args(argv)
    known = papers.PAPERS + papers.BENCHMARKS
    unknown = sorted(set(args.papers) - set(known))
    if unknown:
        parser.error(f"unknown paper(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if not os.path.isdir(args.results):
        parser.error(f"--results {args.results}: no such folder (run python -m reproduce first)")
    for paper in args.papers or papers.PAPERS:
        print(publish(paper, args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
