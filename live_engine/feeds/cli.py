"""CLI commands of the feeds: ``qtml feed publish``. Heavy imports stay inside the commands."""

from __future__ import annotations

from datetime import date

import typer

from quantumtrader.config import get_settings
from quantumtrader.progress import step

app = typer.Typer(no_args_is_help=True)


def parse_days(text: str | None) -> list[date] | None:
    """``"2026-01-05,2026-01-06"`` -> those dates."""
    if text is None or not text.strip():
        return None
    try:
        return [date.fromisoformat(p.strip()) for p in text.split(",") if p.strip()]
    except ValueError:
        raise typer.BadParameter(f"--days {text!r}: give ISO dates, e.g. 2026-01-05,2026-01-06") from None


@app.command("publish")
def publish_cmd(
    sessions: int | None = typer.Option(None, "--sessions", min=1,
                                        help="Play the last N lake sessions (default: live.feeds.replay_sessions)."),
    days: str | None = typer.Option(None, "--days", help="Play these lake days instead (2026-01-05,2026-01-06)."),
    speed: float | None = typer.Option(None, "--speed", min=0.0,
                                       help="1 = real time, 0 = flat out (default: live.feeds.speed)."),
    endpoint: str | None = typer.Option(None, "--endpoint",
                                        help="Ingress to connect to (default: live.feeds.ingress_endpoint)."),
    symbol: str | None = typer.Option(None, "--symbol", help="Symbol to play (default: market.symbol)."),
    pub: str | None = typer.Option(None, "--pub", help="Publisher id (default: qtml-publish@host:pid)."),
) -> None:
    """Send lake sessions to the engine's ZMQ ingress as v1 messages (docs/wire-format.md)."""
    if sessions is not None and days is not None:
        raise typer.BadParameter("give --sessions or --days, not both")
    from live_engine.feeds.publish import publish

    chosen: int | list[date] | None = parse_days(days) if days is not None else sessions
    with step("feed publish", "sessions sent", total=None) as s:
        res = publish(get_settings(), sessions=chosen, speed=speed, endpoint=endpoint, symbol=symbol, pub=pub,
                      progress=lambda k, n: s.update(k, description=f"session {k}, {n:,} messages"))
        s.done(f"{len(res.days)} sessions sent")
    typer.echo(res.summary())
