"""``qtml model list | show VERSION | evaluate | promote VERSION | rollback``.

Heavy imports stay inside the commands so that ``qtml --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from quantumtrader.config import Settings
    from training.promotion.gate import Outcome

app = typer.Typer(no_args_is_help=True, help="The registry's versions and the promotion gate to @champion.")

_JSON = typer.Option(False, "--json", help="Print the result as one JSON object on stdout (progress goes to stderr).")
_SESSIONS = typer.Option(None, "--sessions",
                         help="A count of the newest out-of-sample sessions, or comma-separated dates YYYY-MM-DD "
                              "(default: promotion.sessions = every session after both training windows).")


def _settings() -> Settings:
    from quantumtrader.config import get_settings

    return get_settings()


def print_outcome(outcome: Outcome, console: Console) -> None:
    """The decision, its checks (a compact table), the evidence in one line, the reasons of a refusal and
    what happened to the alias."""
    from training.promotion.policy import DAYS, PROB_BEATS, PROB_POSITIVE
    from training.promotion.tables import decision_text, verdict_table

    v = outcome.verdict
    if v.checks:
        console.print(verdict_table(v))
        by = {c.name: c for c in v.checks}
        evidence = [by[n].detail for n in (DAYS, PROB_POSITIVE, PROB_BEATS) if n in by and by[n].value is not None]
        if evidence:
            console.print("evidence: " + "; ".join(evidence), highlight=False)
    for line in v.reasons:
        console.print(f"  [red]✗[/red] {line}", highlight=False)
    before, after = outcome.champion_before, outcome.champion_after
    if outcome.action == "evaluate":
        moved = "dry run: nothing moved"
    elif before != after:
        moved = f"@champion moved {'v' + before if before else 'none'} → v{after}"
    else:
        moved = f"@champion unchanged ({'v' + before if before else 'none yet'})"
    forced = " (forced)" if outcome.forced else ""
    console.print(f"decision: {decision_text(v.decision)}{forced} · {moved} · promotions row {outcome.row_id}",
                  highlight=False)
    for role, path in outcome.run_dirs.items():
        console.print(f"{role} replay → {path}", highlight=False)


def _emit(outcome: Outcome, as_json: bool) -> None:
    from rich.console import Console

    from quantumtrader.progress import print_json

    if as_json:
        print_json(outcome.as_dict())
    else:
        print_outcome(outcome, Console())


@app.command("evaluate")
def evaluate_cmd(
    challenger: str | None = typer.Option(None, "--challenger", help="Model URI (default models:/<name>@challenger)."),
    champion: str | None = typer.Option(None, "--champion", help="Model URI (default models:/<name>@champion)."),
    sessions: str | None = _SESSIONS,
    as_json: bool = _JSON,
) -> None:
    """Replay challenger and champion on the same out-of-sample sessions and apply the policy (a dry run)."""
    from live_engine.cli import parse_sessions
    from quantumtrader.progress import err_console
    from training.promotion.gate import evaluate

    outcome = evaluate(_settings(), challenger_uri=challenger, champion_uri=champion,
                       sessions=parse_sessions(sessions), console=err_console())
    _emit(outcome, as_json)


@app.command("promote")
def promote_cmd(
    version: str = typer.Argument(..., help="The registered version to promote (see `qtml model list`)."),
    force: bool = typer.Option(False, "--force", help="Skip the evidence (not the serving contract); recorded."),
    reason: str = typer.Option("", "--reason", help="Why (required with --force; recorded)."),
    sessions: str | None = _SESSIONS,
    as_json: bool = _JSON,
) -> None:
    """Run the gate on VERSION and move @champion to it if the policy says so (one alias move)."""
    from live_engine.cli import parse_sessions
    from quantumtrader.progress import err_console
    from training.promotion.gate import promote

    if not version.isdigit():
        raise typer.BadParameter(f"VERSION must be a version number, not {version!r}")
    outcome = promote(_settings(), version=version, force=force, reason=reason, sessions=parse_sessions(sessions),
                      console=err_console())
    _emit(outcome, as_json)


@app.command("rollback")
def rollback_cmd(
    reason: str = typer.Option("", "--reason", help="Why (recorded)."),
    as_json: bool = _JSON,
) -> None:
    """Move @champion back to the version the current champion replaced (recorded)."""
    from quantumtrader.progress import err_console
    from training.promotion.gate import rollback

    _emit(rollback(_settings(), reason=reason, console=err_console()), as_json)


def _runs(c: Any, mvs: list[Any]) -> dict[str, dict[str, str]]:
    out = {}
    for mv in mvs:
        out[str(mv.version)] = dict(c.get_run(mv.run_id).data.tags) if mv.run_id else {}
    return out


@app.command("list")
def list_cmd(
    limit: int = typer.Option(10, "--last", min=0, help="How many promotion records to show."),
    as_json: bool = _JSON,
) -> None:
    """Registered versions with their aliases, and the last promotion records."""
    from rich.console import Console

    from quantumtrader.db import create_engine
    from quantumtrader.progress import print_json
    from training.promotion import ledger, registry
    from training.promotion.tables import history_table, versions_table

    s = _settings()
    name = s.training.registered_model_name
    c = registry.client(s.mlflow_tracking_uri)
    mvs, aliases = registry.versions(c, name), registry.aliases(c, name)
    assert s.stores.promotions_db_url is not None
    rows = ledger.rows(create_engine(s.stores.promotions_db_url), name, limit=limit)
    if as_json:
        print_json({"model": name, "aliases": aliases,
                    "versions": [{"version": str(mv.version), "run_id": mv.run_id, "tags": dict(mv.tags or {})}
                                 for mv in mvs], "promotions": rows})
        return
    console = Console()
    if not mvs:
        console.print(f"no registered versions of {name} in {s.mlflow_tracking_uri}: train one (`qtml train`)")
        return
    console.print(versions_table(mvs, aliases, _runs(c, mvs)))
    if rows:
        console.print(history_table(rows, title=f"last {len(rows)} promotion records"))
    else:
        console.print("no promotion recorded yet: `qtml model promote VERSION`")


@app.command("show")
def show_cmd(
    version: str = typer.Argument(..., help="The registered version."),
    as_json: bool = _JSON,
) -> None:
    """One version: its aliases, tags, training lineage and every promotion record that names it."""
    from rich.console import Console
    from rich.table import Table

    from quantumtrader.db import create_engine
    from quantumtrader.progress import print_json
    from training.promotion import ledger, registry
    from training.promotion.tables import checks_table, history_table

    s = _settings()
    name = s.training.registered_model_name
    c = registry.client(s.mlflow_tracking_uri)
    ref = registry.resolve(c, f"models:/{name}/{version}")
    mv = c.get_model_version(name, ref.version)
    lin = registry.lineage(c, ref)
    held = sorted(a for a, v in registry.aliases(c, name).items() if v == ref.version)
    assert s.stores.promotions_db_url is not None
    rows = ledger.rows(create_engine(s.stores.promotions_db_url), name, version=ref.version)
    info = {"uri": ref.uri, "aliases": held, "run_id": lin.run_id, "source": mv.source,
            "train_window": "..".join(lin.train_window) if lin.train_window else None,
            "data_validation": lin.data_validation, "tuning_combos": lin.n_trials}
    if as_json:
        print_json({**info, "tags": dict(mv.tags or {}), "promotions": rows})
        return
    console = Console()
    table = Table(title=f"{name} v{ref.version}", show_header=False)
    for k, v in {**info, "aliases": " ".join("@" + a for a in held) or "none",
                 "data_validation": lin.validation_detail}.items():
        table.add_row(k, "n/a" if v is None else str(v))
    for k, v in sorted((mv.tags or {}).items()):
        table.add_row(f"tag {k}", str(v))
    console.print(table)
    if rows:
        console.print(history_table(rows, title=f"promotion records naming v{ref.version}"))
        judged = [r for r in rows if r["version"] == ref.version and r["checks"]]
        if judged:
            console.print(checks_table(judged[-1]["checks"], title=f"checks of row {judged[-1]['id']}"))
