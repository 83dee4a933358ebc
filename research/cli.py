"""``qtml kb search TEXT | show KEY | ideas | link IDEA EXPERIMENT | status IDEA STATUS``: the research
knowledge base from the shell (docs/research.md).

Heavy imports (SQLAlchemy, the tables, rich) stay inside the commands so that ``qtml --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from research.kb.store import KnowledgeBase

app = typer.Typer(no_args_is_help=True, help="The research knowledge base: papers, the ideas they suggest and the "
                                             "experiments that tried them (docs/research.md).")

_JSON = typer.Option(False, "--json", help="Print the result as one JSON document on stdout.")


def _open() -> KnowledgeBase:
    from quantumtrader.config import get_settings
    from research.kb.store import KnowledgeBase

    return KnowledgeBase.for_settings(get_settings())


def _limit(given: int | None, field: str) -> int:
    from quantumtrader.config import get_settings

    return given if given is not None else int(getattr(get_settings().research, field))


@app.command("search")
def search_cmd(
    words: list[str] = typer.Argument(..., help="Words that must all appear (case-insensitive) in a paper's title or "
                                                "abstract, or an idea's title or target."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Rows of each kind (default: "
                                                                  "research.search_limit)."),
    as_json: bool = _JSON,
) -> None:
    """Find papers and ideas by words."""
    from rich.console import Console

    from quantumtrader.progress import print_json
    from research.kb.tables import ideas_table, papers_table

    text = " ".join(words)
    with _open() as kb:
        found = kb.search(text, _limit(limit, "search_limit"))
    if as_json:
        print_json({"query": text, **found})
        return
    console = Console()
    if not found["papers"] and not found["ideas"]:
        console.print(f"nothing matches {text!r}", highlight=False)
        return
    if found["papers"]:
        console.print(papers_table(found["papers"], title=f"papers matching {text!r}"))
    if found["ideas"]:
        console.print(ideas_table(found["ideas"], title=f"ideas matching {text!r}"))


@app.command("show")
def show_cmd(
    key: str = typer.Argument(..., help="An arXiv id (2401.01234), paper:N, idea:N, experiment:N, exp:REF, "
                                        "mlflow_run:REF or study:REF."),
    as_json: bool = _JSON,
) -> None:
    """One record and what it links to: a paper's ideas and their experiments, an idea's paper and experiments,
    an experiment's results and ideas."""
    from rich.console import Console

    from quantumtrader.progress import print_json
    from research.kb.tables import print_record

    with _open() as kb:
        rec = kb.show(key)
    if as_json:
        print_json(rec)
    else:
        print_record(rec, Console())


@app.command("ideas")
def ideas_cmd(
    status: str | None = typer.Option(None, "--status", help="new | tried | adopted | rejected."),
    kind: str | None = typer.Option(None, "--kind", help="feature | model | validation | training."),
    target: str | None = typer.Option(None, "--target", help="A feature group (order_flow, book, brokers, "
                                                             "volatility, ...) or a training option (purged_cv, ...)."),
    min_score: float | None = typer.Option(None, "--min-score", help="Only ideas scoring at least this."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Most ideas listed (default: research.list_limit)."),
    as_json: bool = _JSON,
) -> None:
    """Ideas, best score first."""
    from rich.console import Console

    from quantumtrader.progress import print_json
    from research.kb.tables import ideas_table

    with _open() as kb:
        rows = kb.ideas(status=status, kind=kind, target=target, min_score=min_score,
                        limit=_limit(limit, "list_limit"))
    if as_json:
        print_json(rows)
        return
    console = Console()
    if rows:
        console.print(ideas_table(rows, title=f"{len(rows)} ideas"))
    else:
        console.print("no idea matches" + ("" if any((status, kind, target, min_score)) else
                                           ": the weekly research flow stores them"), highlight=False)


@app.command("link")
def link_cmd(
    idea: str = typer.Argument(..., help="The idea: N or idea:N."),
    experiment: str = typer.Argument(..., help="The experiment that tried it: N or experiment:N (row id), a ref "
                                               "already recorded (exp:REF or REF), or mlflow_run:RUN_ID / "
                                               "study:STUDY_ID (recorded when new)."),
    name: str = typer.Option("", "--name", help="A name for an experiment recorded by this command."),
    as_json: bool = _JSON,
) -> None:
    """Record that an experiment tried an idea (a new idea becomes tried)."""
    from quantumtrader.progress import print_json
    from research.kb.keys import parse_idea_id
    from research.kb.models import EXPERIMENT_KINDS

    idea_id = parse_idea_id(idea)
    with _open() as kb:
        kb.idea(idea_id)  # an unknown idea fails before an experiment is recorded
        head, _, ref = experiment.partition(":")
        if head in EXPERIMENT_KINDS and ref:
            exp_id = kb.add_experiment(head, ref, name=name)
        else:
            exp_id = kb.experiment_id(experiment)
        linked = kb.link(idea_id, exp_id)
        i, e = kb.idea(idea_id), kb.experiment(exp_id)
    if as_json:
        print_json({"linked": linked, "idea": i, "experiment": e})
        return
    what = "linked" if linked else "already linked"
    typer.echo(f"{i['key']} ({i['title']}) ← {e['key']} ({e['kind']} {e['ref']}): {what}; idea status {i['status']}")


@app.command("status")
def status_cmd(
    idea: str = typer.Argument(..., help="The idea: N or idea:N."),
    status: str = typer.Argument(..., help="new | tried | adopted | rejected."),
    as_json: bool = _JSON,
) -> None:
    """Set an idea's status (e.g. adopted once its experiment is promoted, rejected once it failed)."""
    from quantumtrader.progress import print_json
    from research.kb.keys import parse_idea_id

    idea_id = parse_idea_id(idea)
    with _open() as kb:
        kb.set_status(idea_id, status)
        i = kb.idea(idea_id)
    if as_json:
        print_json(i)
    else:
        typer.echo(f"{i['key']} ({i['title']}): {i['status']}")


@app.command("fetch")
def fetch_cmd(
    query: list[str] = typer.Option([], "--query", "-q", help="arXiv query, repeatable (default: research.queries)."),
    limit: int | None = typer.Option(None, "--limit", help="Papers per query (default: research.arxiv.limit)."),
    pdf: bool = typer.Option(False, "--pdf", help="Also read each paper's PDF (one more request per paper)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run's counts as JSON."),
) -> None:
    """What the research-weekly deployment does, now: new arXiv papers, their ideas, and every idea linked to
    the training runs and studies that tried it. Offline, it says so and still links."""
    from quantumtrader.config import get_settings
    from quantumtrader.progress import print_json, step
    from research.pipeline import research_run

    with step("kb", "arXiv searched, ideas extracted, experiments linked") as s:
        run = research_run(get_settings(), queries=query or None, limit=limit, pdf=pdf)
        s.done(f"{run.status}: {run.papers} papers, {run.ideas} ideas, {run.experiments} experiments, "
               f"{run.links} new links")
    if as_json:
        print_json(run.as_dict())
        return
    for err in run.errors:
        typer.echo(err)
