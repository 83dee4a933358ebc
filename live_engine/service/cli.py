"""``qtml engine``: start, stop, status, emergency-stop and tail the live engine (``docs/engine.md``).

Heavy imports (ZMQ, the engine) stay inside the commands so that ``qtml --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import typer

from quantumtrader.config import get_settings

app = typer.Typer(name="engine", help="Run the live engine on paper: start, stop, status, emergency-stop, tail.",
                  no_args_is_help=True, add_completion=False)


def _endpoint() -> str:
    from live_engine.service.control import endpoint_for

    s = get_settings()
    return endpoint_for(s.live.service.control_endpoint, s.var_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid() -> int | None:
    from live_engine.service.startup import pidfile

    p = pidfile(get_settings().var_dir)
    try:
        pid = int(p.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


@app.command("start")
def start(
    feed: str = typer.Option(None, "--feed", help="replay | sim | zmq (default: live.feeds.default)."),
    speed: float = typer.Option(None, "--speed", help="Replay / sim pace: 1 real time, 60 a minute per second, "
                                                     "0 flat out (default: live.feeds.speed)."),
    detach: bool = typer.Option(False, "--detach", help="Run in the background with a pidfile (var/run/)."),
    wait_s: float = typer.Option(180.0, "--wait", help="With --detach: seconds to wait for the engine to answer."),
) -> None:
    """Start the engine (foreground by default: systemd, Docker); a crash restarts it 3 times, 5 s apart."""
    from live_engine.service.startup import pidfile
    from live_engine.service.supervisor import main as supervisor_main
    from quantumtrader.errors import InputError

    if feed is not None and feed not in ("replay", "sim", "zmq"):
        raise InputError(f"--feed {feed!r}: one of replay, sim, zmq")
    running = _pid()
    if running is not None:
        raise InputError(f"an engine is already running (pid {running}): `qtml engine status`, or "
                         "`qtml engine stop` first")
    args = (["--feed", feed] if feed else []) + (["--speed", repr(speed)] if speed is not None else [])
    if not detach:
        raise typer.Exit(supervisor_main(args))
    s = get_settings()
    log_path = s.var_dir / "logs" / "engine.out"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "live_engine.service.supervisor", *args],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + wait_s
    from live_engine.service.control import request
    from quantumtrader.progress import step

    with step("engine start", "bundle, warm-up, reconciliation"):
        while True:
            if proc.poll() is not None:
                raise InputError(f"the engine exited with {proc.returncode} while starting: see {log_path}")
            try:
                st = request(_endpoint(), "status", timeout_s=2.0)
                if st.get("ok") and st.get("state") != "WARMING":
                    break
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise InputError(f"the engine did not answer within {wait_s:.0f} s (still running as pid "
                                 f"{proc.pid}): see {log_path}")
            time.sleep(0.5)
    typer.echo(f"engine started (pid {proc.pid}, pidfile {pidfile(s.var_dir)}, log {log_path})")
    _print_status(st)


def _fmt(x: Any, nd: int = 2) -> str:
    return "-" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def _print_status(st: dict[str, Any]) -> None:
    lat, feed, w = st.get("latency_ms") or {}, st.get("feed") or {}, st.get("warmup") or {}
    last = st.get("last_bar") or {}
    lines = [
        f"state        {st.get('state')}" + (f"  ({st.get('halted') or st.get('held')})"
                                              if st.get("halted") or st.get("held") else ""),
        f"model        v{st.get('model_version')}   epoch {st.get('epoch')}",
        f"position     {st.get('position')} @ {_fmt(st.get('avg_price'))}   day PnL R$ {_fmt(st.get('day_pnl'))}"
        f"   trades today {st.get('day_trades')}",
        f"last bar     {last.get('time', '-')}  close {_fmt(last.get('close'))}",
        f"latency      p50 {_fmt(lat.get('p50'), 3)} ms   p99 {_fmt(lat.get('p99'), 3)} ms",
        f"feed         {feed.get('name')}: {feed.get('received')} received, {feed.get('malformed')} malformed, "
        f"{feed.get('bad_ticks')} bad, {feed.get('gaps')} lost" + ("   STALE" if feed.get("stale") else ""),
        f"warm-up      {w.get('sessions_done')}/{w.get('sessions')} sessions",
    ]
    typer.echo("\n".join(lines))


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="The status as one JSON object.")) -> None:
    """Ask the running engine: state, model version, position, day's PnL and trades, latency, feed."""
    from live_engine.service.control import request

    st = request(_endpoint(), "status")
    if as_json:
        typer.echo(json.dumps(st, default=str))
    else:
        _print_status(st)


@app.command("stop")
def stop(wait_s: float = typer.Option(60.0, "--wait", help="Seconds to wait for the engine to exit.")) -> None:
    """Safe stop: no new entries, state flushed, exit 0 (open positions keep their stops at the broker)."""
    from live_engine.service.control import request
    from quantumtrader.errors import TransientError

    pid = _pid()
    try:
        request(_endpoint(), "stop", timeout_s=10.0)
    except TransientError:
        if pid is None:
            raise
        os.kill(pid, signal.SIGTERM)  # the control socket is gone: the supervisor passes SIGTERM on
    if pid is not None:
        deadline = time.monotonic() + wait_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            typer.echo(f"the engine (pid {pid}) is still stopping after {wait_s:.0f} s", err=True)
            raise typer.Exit(1)
    typer.echo("engine stopped (safe stop)")


@app.command("emergency-stop")
def emergency_stop() -> None:
    """Cancel every order and flatten now, then HALTED; works with a broken model or features; idempotent."""
    from live_engine.service.control import request

    r = request(_endpoint(), "emergency-stop", timeout_s=20.0)
    if not r.get("ok"):
        typer.echo(f"error: {r.get('error')}", err=True)
        raise typer.Exit(1)
    if r.get("already_stopped"):
        typer.echo(f"already stopped: position {r.get('position')}, nothing more sent")
    else:
        typer.echo(f"emergency stop: {r.get('cancelled')} order(s) cancelled, flatten order "
                   f"{r.get('flatten_order') or 'none (flat)'}; the engine is HALTED")


@app.command("replay-check")
def replay_check(
    day: str = typer.Option(..., "--day", help="A session the engine traded (YYYY-MM-DD)."),
    model_uri: str = typer.Option(None, "--model-uri", help="The version to replay (default: the one it traded)."),
) -> None:
    """Replay a day the engine recorded through the backtest and list where live and replay differ."""
    from datetime import date

    from live_engine.journal.journal import Journal
    from live_engine.service.live_replay import compare_day
    from quantumtrader.errors import InputError

    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise InputError(f"--day {day!r}: give a date as YYYY-MM-DD") from None
    s = get_settings()
    journal = Journal.for_settings(s)
    cmp = compare_day(s, d, model_uri=model_uri, journal=journal)
    typer.echo("\n".join(cmp.lines()))
    if not cmp.equal:
        raise typer.Exit(1)


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

    tail(endpoint or get_settings().live.zmq_pub_endpoint, parse_topics(topics), count=count, as_json=as_json)
