"""The engine process: ``python -m live_engine.service.main --feed sim --speed 60`` (the supervisor runs it).

Exit codes: 0 safe stop (SIGTERM, ``qtml engine stop``, a finite feed played out); 2 bad input or
configuration (not retried by the supervisor); anything else is a crash, restarted by the supervisor.
"""

from __future__ import annotations

import argparse
import signal
import sys
from contextlib import ExitStack
from typing import Any

from quantumtrader.errors import ConfigError, InputError
from quantumtrader.logging import get_logger

log = get_logger("live_engine.service.main")

EXIT_OK, EXIT_CRASH, EXIT_INPUT = 0, 1, 2


def make_feed(settings: Any, kind: str, speed: float | None) -> Any:
    """The feed ``kind`` (replay | sim | zmq) at ``speed`` (None: live.feeds.speed)."""
    cfg = settings.live.feeds
    pace = cfg.speed if speed is None else speed
    if kind == "replay":
        from live_engine.feeds.replay import ReplayFeed

        return ReplayFeed(settings, sessions=cfg.replay_sessions, speed=pace)
    if kind == "sim":
        from live_engine.feeds.sim import SimFeed

        return SimFeed(settings, sessions=cfg.sim_sessions, seed=cfg.sim_seed, speed=pace)
    if kind == "zmq":
        from live_engine.feeds.zmq_ingress import ZmqIngressFeed

        return ZmqIngressFeed.from_settings(settings)
    raise InputError(f"unknown feed {kind!r}: one of replay, sim, zmq")


def hold_journal(journal: Any) -> ExitStack:
    """Take the journal's cross-process lock ``engine-<mode>`` for the engine's lifetime, or refuse to start.

    A second engine on the same journal (another var dir, a PostgreSQL URL shared by two hosts, a start that
    bypassed the pidfile) would send the same deterministic client order ids twice. The lock is an flock
    beside a SQLite journal or a PostgreSQL advisory lock: a killed engine releases it with its process."""
    import hashlib

    from quantumtrader.db import exclusive_lock, sqlite_path
    from quantumtrader.errors import TransientError
    from quantumtrader.logging import redact

    name = f"engine-{journal.mode}"
    if sqlite_path(journal.url) is None:  # advisory keys are per database: the URL (schema included) names it
        name += "-" + hashlib.sha256(redact(journal.url).encode()).hexdigest()[:12]
    stack = ExitStack()
    holder: list[str] = []
    try:
        stack.enter_context(exclusive_lock(journal.engine, name, timeout_s=0.0, on_wait=holder.append))
    except TransientError:
        journal.close()
        raise InputError(f"another engine ({holder[0] if holder else 'another process'}) holds the journal "
                         f"{redact(journal.url)}: stop it first (`qtml engine stop`), or give this one its own "
                         "stores.journal_db_url") from None
    return stack


def run(feed_kind: str | None, speed: float | None) -> int:
    from live_engine.journal.journal import Journal
    from live_engine.journal.paper_venue import PaperVenueStore
    from live_engine.service.alerts import AlertManager
    from live_engine.service.broadcast import Broadcaster
    from live_engine.service.control import ControlServer, endpoint_for
    from live_engine.service.metrics import EngineMetrics, PrometheusExporter, metrics_path, write_metrics_file
    from live_engine.service.startup import build_engine, config_snapshot, new_epoch, pidfile
    from live_engine.service.swap import Shadow, Swapper
    from quantumtrader.config import get_settings
    from quantumtrader.runtime import bootstrap

    settings = get_settings()
    bootstrap(settings)
    svc = settings.live.service
    epoch = new_epoch()
    broadcaster = Broadcaster.from_config(settings.live, epoch)
    alerts = AlertManager.with_default_sinks(svc.alerts, broadcaster=broadcaster)

    def alert(level: str, code: str, message: str) -> None:
        alerts.raise_alert(level, code, message)

    journal, quarantined = Journal.open_or_quarantine(Journal.url_for(settings), mode=settings.live.journal.mode)
    held = hold_journal(journal)  # one engine per journal, whatever the var dir or the pidfile say
    venue = PaperVenueStore.for_settings(settings)
    start = journal.record_start(epoch, config_snapshot(settings))
    if start.diff:
        log.info("configuration changed since the previous start", data={"diff": start.diff})
    feed = make_feed(settings, feed_kind or settings.live.feeds.default, speed)
    engine, bundle = build_engine(settings, feed, epoch=epoch, journal=journal, venue=venue, quarantined=quarantined,
                                  alert=alert, publish=broadcaster.publish)
    engine.clear_alert = alerts.clear
    capital = engine.core.config.risk.account_capital
    metrics = EngineMetrics(capital, window=svc.metrics_window_bars)
    engine.metrics = metrics
    path = metrics_path(settings.var_dir)
    prom: PrometheusExporter | None = None
    seen_bad = [0]

    def write_metrics() -> None:
        b, stats = engine.core.broker, feed.stats
        bad = stats.malformed + stats.bad_ticks
        for _ in range(bad - seen_bad[0]):
            metrics.on_event(ok=False)
        seen_bad[0] = bad
        day_pnl, day_trades = engine.day_stats()
        mark = b.last if b.last == b.last else b.avg_price
        metrics.set(state=engine.state_name(), model_version=engine.model_version, position=b.position,
                    day_pnl=day_pnl, equity=capital + b.equity_pnl(mark))
        snap = metrics.snapshot(feed=engine.feed_health(), extra={
            "epoch": epoch, "day_trades": day_trades, "latency_target_ms": svc.latency_target_ms,
            "broadcast": {"sent": broadcaster.stats.sent, "dropped": broadcaster.stats.dropped},
            "halted": engine.halt_reason or engine.hold_reason})
        write_metrics_file(path, snap)
        broadcaster.publish("metrics", snap)
        if prom is not None:
            prom.update(snap)
        alerts.evaluate(snap)

    engine.periodic["metrics"] = write_metrics
    engine.timers.every["metrics"] = svc.metrics_every_s
    if svc.record:
        from live_engine.service.recording import Recorder

        engine.recorder = Recorder(settings.lake_root, settings.market.symbol, epoch, flush_s=svc.record_flush_s)
        engine.periodic["record"] = engine.recorder.flush_if_due
        engine.timers.every["record"] = min(0.25, svc.record_flush_s)
    from live_engine.journal.backup import backup

    def hourly_backup() -> None:
        backup(journal, settings.var_dir / "backups", settings.live.journal.backup_keep)

    engine.periodic["backup"] = hourly_backup
    engine.timers.every["backup"] = settings.live.journal.backup_every_minutes * 60.0
    engine.timers.last["backup"] = __import__("time").monotonic()  # the first backup after one interval
    from serving.bundle_cache import cache_dir

    engine.swapper = Swapper(model_uri=svc.model_uri, tracking_uri=settings.mlflow_tracking_uri,
                             current_version=str(bundle.version), poll_s=svc.champion_poll_s,
                             serving_contract=None, cache=cache_dir(settings.var_dir), alert=alert).start()
    if svc.shadow_challenger:
        try:
            from serving.bundle import load_bundle

            ch = load_bundle(settings.live.backtest.model_uri, settings.mlflow_tracking_uri)
            engine.shadow = Shadow(ch.predictor, str(ch.version))
        except Exception as err:
            alert("WARNING", "shadow_unavailable", f"no challenger to score in shadow: {err}")
    if svc.prometheus_port is not None:
        prom = PrometheusExporter(svc.prometheus_port)
        engine.prometheus_port = prom.start()
    control = ControlServer(endpoint_for(svc.control_endpoint, settings.var_dir), engine.status).start()
    engine.control = control
    pid = pidfile(settings.var_dir)
    signal.signal(signal.SIGTERM, lambda *_: engine.request_stop("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: engine.request_stop("SIGINT"))
    print(f"engine ready: epoch {epoch}, model {bundle.uri}, feed {feed.name}, state {engine.state_name()}",
          file=sys.stderr, flush=True)
    try:
        code = engine.run()
        write_metrics()
    finally:
        engine.swapper.close()
        control.close()
        feed.close()
        if prom is not None:
            prom.close()
        broadcaster.close()
        alerts.close()
        held.close()
        journal.close()
        venue.close()
        if pid.exists() and pid.read_text().strip() == str(__import__("os").getpid()):
            pid.unlink(missing_ok=True)
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="live_engine.service.main")
    p.add_argument("--feed", choices=("replay", "sim", "zmq"), default=None)
    p.add_argument("--speed", type=float, default=None)
    a = p.parse_args(argv)
    try:
        return run(a.feed, a.speed)
    except (InputError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
