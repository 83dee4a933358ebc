"""``qtml engine ...``: run and watch the live engine.

Heavy imports (ZMQ, the engine) stay inside the commands so that ``qtml --help`` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(name="engine", no_args_is_help=True,
                  help="Run and watch the live engine: follow its broadcast.")


@app.command("tail")
def tail_command(
    topics: str = typer.Option(None, "--topics", help="Comma-separated topics (default: all): features, "
                                                      "signals, decisions, orders, fills, metrics, alerts."),
    count: int = typer.Option(None, "--count", min=1, help="Stop after N messages (default: until Ctrl-C)."),
    as_json: bool = typer.Option(False, "--json", help="Print each message's JSON envelope, one per line."),
    endpoint: str = typer.Option(None, "--endpoint", help="Broadcast to follow (default: live.zmq_pub_endpoint)."),
) -> None:
    """Follow the engine's broadcast: one line per message; sequence gaps are reported on stderr."""
    from live_engine.service.tail import parse_topics, tail
    from quantumtrader.config import get_settings

    tail(endpoint or get_settings().live.zmq_pub_endpoint, parse_topics(topics), count=count, as_json=as_json)
