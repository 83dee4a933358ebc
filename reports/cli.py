"""``qtml report daily | weekly [--date D]`` and ``qtml analyze features | agents [--from D --to D]``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import typer

report_app = typer.Typer(no_args_is_help=True, help="Daily and weekly trading reports (HTML, Excel, JSON; MLflow).")
analyze_app = typer.Typer(no_args_is_help=True, help="Feature contributions and agent performance over any days.")


def parse_day(text: str | None, option: str = "--date") -> date | None:
    from quantumtrader.errors import InputError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r}: give a date as YYYY-MM-DD") from None


def today_local(tz: str = "America/Sao_Paulo") -> date:
    """Today's date where the exchange is (reports are about sessions, not UTC days)."""
    return datetime.now(ZoneInfo(tz)).date()


def _money(v: Any) -> str:
    return "—" if v is None else f"R$ {v:,.2f}"


def summary_lines(doc: dict[str, Any]) -> list[str]:
    s = doc["summary"]
    wr = s["win_rate"]
    rate = "—" if not wr["n"] else (f"{100 * wr['rate']:.1f} % ({wr['wins']} of {wr['n']}, "
                                    f"{round(100 * wr['level'])} % interval {100 * wr['lo']:.0f}–{100 * wr['hi']:.0f} %"
                                    f"{', small sample' if wr['small_sample'] else ''})")
    return [f"trades {s['trades']}, PnL after costs {_money(s['pnl'])} (fees {_money(s['fees'])}), "
            f"win rate {rate}, max drawdown {_money(s['max_drawdown'])}"]


@report_app.command("daily")
def daily(date_: str = typer.Option(None, "--date", help="Session date YYYY-MM-DD (default: today in São Paulo)."),
          no_replay_check: bool = typer.Option(False, "--no-replay-check", help="Skip the live vs replay check."),
          ) -> None:
    """One session's report under var/reports/daily/<date>/: report.html, report.xlsx, report.json.

    Without --date: today in São Paulo, and a day that is no trading day is skipped (exit 0)."""
    from quantumtrader.config import get_settings
    from reports.daily import build_daily, skip_reason

    s = get_settings()
    d = parse_day(date_)
    if d is None:  # as the scheduled flow: today, unless the calendar says there is no session
        d = today_local()
        why = skip_reason(d, s.market.symbol)
        if why is not None:
            typer.echo(why)
            return
    rep = build_daily(s, d, replay_check=not no_replay_check)
    typer.echo(f"daily report {d}: " + summary_lines(rep.doc)[0])
    for name, path in rep.files.items():
        typer.echo(f"  {name}: {path}")


@report_app.command("weekly")
def weekly(date_: str = typer.Option(None, "--date", help="Any date in the ISO week (default: today in São Paulo)."),
           ) -> None:
    """The ISO week's report under var/reports/weekly/<YYYY-Www>/."""
    from quantumtrader.config import get_settings
    from reports.weekly import build_weekly

    s = get_settings()
    d = parse_day(date_) or today_local()
    rep = build_weekly(s, d)
    typer.echo(f"weekly report {rep.week} ({rep.doc['sessions']} sessions): " + summary_lines(rep.doc)[0])
    for name, path in rep.files.items():
        typer.echo(f"  {name}: {path}")


@analyze_app.command("features")
def features(first: str = typer.Option(None, "--from", help="First day (default: the first recorded)."),
             last: str = typer.Option(None, "--to", help="Last day (default: the last recorded)."),
             top: int = typer.Option(20, "--top", min=1, max=65, help="Features to print."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON (every feature).")) -> None:
    """Which features drove the model (LightGBM pred_contrib on the logged feature vectors)."""
    import json

    from quantumtrader.config import get_settings
    from reports.analyze import analyze_features

    res = analyze_features(get_settings(), parse_day(first, "--from"), parse_day(last, "--to"))
    table = res.pop("features")
    if as_json:
        typer.echo(json.dumps({**res, "features": table.to_dict("records")}, default=str))
        return
    typer.echo(f"{res['first']} to {res['last']}: {res['days']} day(s), {res['bars']} decided bars, "
               f"model version(s) {', '.join(res['model_versions'])}")
    typer.echo(f"{'feature':<32} {'mean |contrib|':>15} {'up - down':>11}")
    for r in table.head(top).to_dict("records"):
        typer.echo(f"{r['feature']:<32} {r['mean_abs']:>15.5f} {r['up_minus_down']:>+11.5f}")


@analyze_app.command("agents")
def agents(first: str = typer.Option(None, "--from", help="First day (default: the first recorded)."),
           last: str = typer.Option(None, "--to", help="Last day (default: the last recorded)."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Each agent's directional calls, how often they were right (with interval), edge and weights."""
    import json

    from quantumtrader.config import get_settings
    from reports.analyze import analyze_agents

    res = analyze_agents(get_settings(), parse_day(first, "--from"), parse_day(last, "--to"))
    if as_json:
        typer.echo(json.dumps(res, default=str))
        return
    typer.echo(f"{res['first']} to {res['last']}: {res['days']} day(s), {res['bars']} decided bars")
    typer.echo(f"{'agent':<14} {'calls':>6} {'right':>8} {'interval':>12} {'edge bp':>8} {'w last':>7}")
    for a in res["agents"]:
        h = a["hit_rate"]
        right = "—" if not h["n"] else f"{100 * h['rate']:.1f} %"
        iv = "—" if not h["n"] else f"{100 * h['lo']:.0f}–{100 * h['hi']:.0f} %"
        edge = "—" if a["edge_bps"] is None else f"{a['edge_bps']:+.3f}"
        w = "—" if a["weight_last"] is None else f"{a['weight_last']:.3f}"
        typer.echo(f"{a['agent']:<14} {a['calls']:>6} {right:>8} {iv:>12} {edge:>8} {w:>7}"
                   f"{'  small sample' if h['small_sample'] else ''}")
