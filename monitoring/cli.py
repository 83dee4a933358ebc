"""``qtml drift check [--day D] [--trigger T] [--json]``: the drift flow on one day, from the shell."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import typer

app = typer.Typer(no_args_is_help=True, help="Feature drift of the engine's logged vectors against the champion's "
                                            "training rows (Evidently; docs/drift.md).")


def verdict_lines(v: dict[str, Any]) -> list[str]:
    """The human summary of a verdict."""
    lines = [f"{v['day']} {v['symbol']}: {v['status']} · {v['message']}",
             f"reference: {v['n_reference']:,} training rows of {v['model_uri']} "
             f"({' to '.join(v['reference_window'] or [])}); current: {v['n_current']:,} logged decisions"]
    drifted = sorted((name, f) for name, f in v["features"].items() if f["drifted"])
    if drifted:
        shown = ", ".join(f"{name} ({f['score']:.3g})" for name, f in drifted[:12])
        lines.append(f"drifted: {shown}{' …' if len(drifted) > 12 else ''}")
    if v.get("retrain"):
        r = v["retrain"]
        lines.append(f"retrain ({r['mode']}): {'started' if r.get('started') else 'not started'}"
                     f"{' · ' + r['error'] if r.get('error') else ''}")
    lines.append(f"verdict → {v['path']}")
    if v.get("report_html"):
        lines.append(f"report  → {v['report_html']} (MLflow run {v['mlflow_run_id']})")
    return lines


@app.command("check")
def check(
    day: str | None = typer.Option(None, "--day", help="Session day YYYY-MM-DD (default: today in the exchange's "
                                                      "time zone)."),
    symbol: str | None = typer.Option(None, "--symbol", help="Instrument (default: market.symbol)."),
    trigger: str | None = typer.Option(None, "--trigger", help="On drift: deployment | subflow | none "
                                                              "(default: drift.trigger)."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
) -> None:
    """Compare one day's logged feature vectors with the champion's training rows; store the verdict."""
    from flows.drift import drift_flow
    from market.instruments import canonical_symbol, get_instrument
    from quantumtrader.config import get_settings
    from quantumtrader.errors import InputError
    from quantumtrader.progress import print_json

    settings = get_settings()
    sym = canonical_symbol(symbol or settings.market.symbol)
    if trigger is not None:
        if trigger not in ("deployment", "subflow", "none"):
            raise InputError(f"--trigger {trigger!r} is not one of deployment, subflow, none")
        settings = settings.model_copy(update={"drift": settings.drift.model_copy(update={"trigger": trigger})})
    the_day = day or datetime.now(ZoneInfo(get_instrument(sym).timezone)).date().isoformat()
    try:
        date.fromisoformat(the_day)
    except ValueError:
        raise InputError(f"--day {the_day!r}: give a date as YYYY-MM-DD") from None
    v = drift_flow(day=the_day, symbol=sym, settings=settings)
    if as_json:
        print_json(v)
        return
    for line in verdict_lines(v):
        typer.echo(line)
