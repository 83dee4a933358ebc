"""Console tables of the knowledge base (``qtml kb``): papers, ideas, experiments and one record in full.

Dates are shown as the day (UTC, as arXiv gives them); unknown values read ``n/a``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

_STATUS_STYLE = {"new": "cyan", "tried": "yellow", "adopted": "bold green", "rejected": "red"}


def _day(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d") if ts is not None else "n/a"


def _num(v: float | None) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.4g}"


def status_text(status: str) -> str:
    style = _STATUS_STYLE.get(status, "bold")
    return f"[{style}]{status}[/{style}]"


def _authors(names: list[str]) -> str:
    return ", ".join(names[:3]) + (" et al." if len(names) > 3 else "")


def papers_table(papers: list[dict[str, Any]], title: str = "papers") -> Table:
    from rich.table import Table

    table = Table(title=title)
    for col in ("arxiv id", "v", "published", "title", "authors", "category"):
        table.add_column(col, overflow="fold", no_wrap=col not in ("title", "authors"),
                         justify="right" if col == "v" else "left")
    for p in papers:
        table.add_row(p["arxiv_id"], str(p["version"]), _day(p["published"]), p["title"], _authors(p["authors"]),
                      p["primary_category"] or "")
    return table


def ideas_table(ideas: list[dict[str, Any]], title: str = "ideas") -> Table:
    from rich.table import Table

    table = Table(title=title)
    for col in ("idea", "score", "status", "kind", "target", "title", "paper"):  # the rule: `qtml kb show idea:N`
        table.add_column(col, overflow="fold", ratio=3 if col == "title" else None,
                         justify="right" if col in ("idea", "score") else "left")
    for i in ideas:
        table.add_row(i["key"], f"{i['score']:.2f}", status_text(i["status"]), i["kind"], i["target"], i["title"],
                      i["arxiv_id"] or f"paper:{i['paper_id']}")
    return table


def experiments_table(experiments: list[dict[str, Any]], title: str = "experiments") -> Table:
    from rich.table import Table

    table = Table(title=title)
    for col in ("experiment", "kind", "ref", "name", "results"):
        table.add_column(col, overflow="fold")
    for e in experiments:
        results = ", ".join(f"{r['metric']}={_num(r['value'])}" for r in e["results"])
        table.add_row(e["key"], e["kind"], e["ref"], e["name"], results or "none yet")
    return table


def _fields(title: str, rows: list[tuple[str, Any]]) -> Table:
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for k, v in rows:
        table.add_row(k, "n/a" if v is None or v == "" else str(v))
    return table


def print_record(rec: dict[str, Any], console: Console) -> None:
    """One record of :meth:`research.kb.store.KnowledgeBase.show`, with what it links to."""
    if rec["type"] == "paper":
        console.print(_fields(f"{rec['arxiv_id']}v{rec['version']}: {rec['title']}", [
            ("authors", ", ".join(rec["authors"])), ("published", _day(rec["published"])),
            ("updated", _day(rec["updated"])), ("categories", " ".join(rec["categories"])),
            ("pdf", rec["pdf_url"]), ("doi", rec["doi"]), ("comment", rec["comment"]),
            ("sections", ", ".join(rec["section_names"])), ("abstract", rec["abstract"])]))
        if rec["ideas"]:
            console.print(ideas_table(rec["ideas"], title=f"ideas of {rec['arxiv_id']}"))
            tried = [e for i in rec["ideas"] for e in i["experiments"]]
            if tried:
                console.print(experiments_table(list({e["id"]: e for e in tried}.values()),
                                                title="experiments that tried them"))
        else:
            console.print("no ideas from this paper yet", highlight=False)
    elif rec["type"] == "idea":
        console.print(_fields(f"{rec['key']}: {rec['title']}", [
            ("status", status_text(rec["status"])), ("kind", rec["kind"]), ("target", rec["target"]),
            ("score", f"{rec['score']:.3f}"), ("rule", rec["rule"]),
            ("paper", f"{rec['arxiv_id']}: {rec['paper_title']}"), ("evidence", rec["evidence"])]))
        if rec["experiments"]:
            console.print(experiments_table(rec["experiments"], title=f"experiments that tried {rec['key']}"))
        else:
            console.print(f"not tried yet: `qtml kb link {rec['id']} mlflow_run:RUN_ID`", highlight=False)
    else:
        console.print(_fields(f"{rec['key']}: {rec['name']}", [
            ("kind", rec["kind"]), ("ref", rec["ref"]),
            ("params", ", ".join(f"{k}={v}" for k, v in rec["params"].items()))]))
        if rec["results"]:
            from rich.table import Table

            table = Table(title="results")
            table.add_column("metric")
            table.add_column("value", justify="right")
            for r in rec["results"]:
                table.add_row(r["metric"], _num(r["value"]))
            console.print(table)
        if rec["ideas"]:
            console.print(ideas_table(rec["ideas"], title=f"ideas tried by {rec['key']}"))
        else:
            console.print("linked to no idea yet", highlight=False)
