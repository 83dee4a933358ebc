"""Start-up of the engine process, in order (``docs/engine.md``):

1. the journal (a corrupt one is quarantined: the engine starts HALTED, not looping) and the paper
   venue; the start is journalled with the config's hash and its diff against the previous start;
2. the bundle: ``live.service.model_uri`` (``@champion``) through the bundle loader (every file
   verified, feature contract checked, smoke prediction), cached locally; with the registry
   unreachable, the cached bundle, verified again, and an alert;
3. the decision core with the bundle's agents and decision / risk config;
4. the warm-up: the lake's sessions before the first one traded, then what the recording holds of the
   current session, through the features and the coordinator without trading;
5. restore: coordinator weights and risk counters from the journal, the broker from the venue;
6. reconciliation (``live_engine.execution.reconcile``): missing fills applied once, unsent intents
   marked, and HALTED until the journal and the broker agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from live_engine.backtest.replay import SessionData, _play, build_core, load_warmup_sessions
from live_engine.decision.warmup import warm_up
from live_engine.execution.broker_state import restore as restore_broker
from live_engine.execution.reconcile import reconcile
from live_engine.feeds.events import Feed
from live_engine.service.engine import Engine
from live_engine.service.persistence import Persistence
from quantumtrader.config import Settings
from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger

log = get_logger("live_engine.service.startup")


def new_epoch() -> str:
    """This start's id: UTC time and pid (sorts by time; every broadcast and record carries it)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{os.getpid()}"


def config_snapshot(settings: Settings) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(settings.model_dump_json())
    return doc


def config_hash(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def engine_contract(settings: Settings) -> dict[str, Any]:
    """The feature contract this engine serves (its bars and instrument; every input group may arrive)."""
    from features.contract import all_present, feature_contract

    bars = settings.market.bars
    return feature_contract(bar_spec=bars.spec, large_trade_qty=bars.large_trade_qty, input_groups=all_present(),
                            symbol=settings.market.symbol)


def load_engine_bundle(settings: Settings, alert: Any) -> Any:
    """The bundle to trade: from the registry (and cached), else the cached copy with an alert."""
    from quantumtrader.stores import endpoint, require_reachable
    from serving.bundle_cache import cache_dir, load_and_cache, load_cached

    uri, tracking = settings.live.service.model_uri, settings.mlflow_tracking_uri
    cache, contract = cache_dir(settings.var_dir), engine_contract(settings)
    try:
        if endpoint(tracking) is not None:
            require_reachable(tracking, setting="stores.mlflow_tracking_uri",
                              timeout_s=settings.stores.connect_timeout_s)
        bundle = load_and_cache(uri, tracking, cache, serving_contract=contract)
    except InputError:
        raise  # the registry answered: no such model, or a refused bundle
    except Exception as err:
        bundle = load_cached(cache, serving_contract=contract)
        alert("WARNING", "registry_unreachable", f"the registry at {tracking} is unreachable ({err}); trading the "
              f"cached bundle {bundle.uri}")
    bundle.predictor.smoke_test()
    return bundle


def _warm(engine: Engine, settings: Settings, first_day: date, resume_after_ns: int) -> None:
    """Step 4: lake sessions before ``first_day``; then the recording of the session in progress."""
    from live_engine.service.recording import read_recorded

    core, feats = engine.core, engine.features
    plan, sessions = load_warmup_sessions(settings, first_day)
    if plan.short:
        engine.alert("WARNING", "short_warmup", f"the lake has {len(sessions)} of the {plan.wanted} sessions the "
                     "warm-up wants before the first traded session: early features may be NaN")
    engine.warmup_progress = (0, len(sessions))

    def play(s: SessionData) -> tuple[int, int]:
        out = _play(s, feats.on_trade, feats.on_book_levels, core.on_trade, core.on_book_levels)
        close_ns = engine.locator.bounds(s.day).close_ns
        feats.advance_to(close_ns)
        if close_ns > engine.clock.now_ns():  # the engine's clock is simulated: event time
            engine.clock.advance_to(close_ns)
        engine.warmup_progress = (engine.warmup_progress[0] + 1, len(sessions))
        return out

    warm_up(core, sessions, play, coordinator_sessions=settings.live.backtest.warmup_coordinator_sessions)
    if resume_after_ns:
        today = engine.locator.local_day(resume_after_ns)
        trades, book = read_recorded(settings.lake_root, settings.market.symbol, today)
        if trades is not None:  # the session in progress, up to the last event handled before the restart
            cut = trades["ts"].astype("int64") <= resume_after_ns
            bk = None if book is None else book[book["ts"].astype("int64") <= resume_after_ns]
            core.warming = True
            _play(SessionData(today, trades[cut], bk), feats.on_trade, feats.on_book_levels, core.on_trade,
                  core.on_book_levels)
            core.warming = False
            engine._session = today


def first_traded_day(settings: Settings, feed: Feed) -> date:
    """The first session the feed plays (replay, sim), or tomorrow (a live ingress: every lake day warms)."""
    days = getattr(feed, "days", None)
    if days:
        return date.fromisoformat(str(days[0])) if not isinstance(days[0], date) else days[0]
    return datetime.now(UTC).date() + timedelta(days=1)


def build_engine(settings: Settings, feed: Feed, *, epoch: str, journal: Any, venue: Any, quarantined: str | None,
                 alert: Any, publish: Any = None) -> tuple[Engine, Any]:
    """Steps 2-6 (module docstring); the journal and venue are opened by the caller (step 1)."""
    t0 = time.perf_counter()
    bundle = load_engine_bundle(settings, alert)
    live = bundle.live_config(settings.live)
    core = build_core(settings, model=bundle.predictor, agents=list(bundle.agents), config=live, id_prefix="QT")
    saved = journal.load_state()
    persistence = Persistence(core.broker, journal, venue, epoch)
    engine = Engine(symbol=settings.market.symbol, bar_spec=settings.market.bars.spec,
                    large_trade_qty=settings.market.bars.large_trade_qty, core=core, feed=feed,
                    persistence=persistence, epoch=epoch, model_version=str(bundle.version),
                    max_consecutive_bad=settings.live.feeds.max_consecutive_bad,
                    stale_after_bars=live.risk.stale_after_bars,
                    stale_after_s=settings.live.feeds.stale_after_s,
                    bar_close_grace_ms=settings.live.feeds.bar_close_grace_ms, publish=publish, alert=alert)
    engine.bundle_live = bundle.live_sections()
    if publish is not None:
        from live_engine.service.persistence import fill_doc, order_doc

        persistence.on_new_order.append(lambda o: publish("orders", order_doc(o, epoch)))
        persistence.on_new_fill.append(lambda f: publish("fills", fill_doc(f)))
    engine.phase = "WARMING"
    resume_after = int(saved.get("last_event_ns") or 0) if saved else 0
    note = recorded_loss_note(settings, saved)
    if note:
        alert("WARNING", "unclean_stop", note)
    _warm(engine, settings, first_traded_day(settings, feed), resume_after)
    engine.resume_after_ns = engine._last_event_ns = resume_after
    # step 5: what the journal and the venue kept
    if saved and saved.get("core"):
        core.restore(saved["core"])
    snap = venue.load_snapshot()
    if snap is not None:
        restore_broker(core.broker, snap)
        core.broker.forget_book()  # the book is the market's, not the account's: the next snapshot brings it
    if saved and saved.get("halt_reason"):
        engine.halt_reason = str(saved["halt_reason"])
    # step 6
    rec = reconcile(journal.orders(), journal.fills(), venue.orders(), venue.fills(), core.broker.position)
    for f in rec.missing_fills:
        journal.apply_fill(f, state=engine.state_doc())
    for cid in rec.unsent:
        journal.set_order_status(cid, "unsent")
    for cid, status in rec.statuses.items():
        journal.set_order_status(cid, status)
    for o in rec.adopted:
        journal.record_intent(o)
        journal.set_order_status(str(o["client_id"]), str(o.get("status") or "acked"))
    log.info(rec.summary(), data={"missing_fills": len(rec.missing_fills), "unsent": rec.unsent,
                                  "adopted": len(rec.adopted)})
    if quarantined:
        engine.hold(f"the journal was corrupt and was moved to {quarantined}: reconcile by hand, then restart")
    elif not rec.consistent:
        engine.hold(rec.summary())
    engine.phase = "RUNNING"
    log.info("engine ready", data={"epoch": epoch, "model": bundle.uri, "warmup_s": round(time.perf_counter() - t0, 2),
                                   "state": engine.state_name()})
    return engine, bundle


def recorded_loss_note(settings: Settings, saved: dict[str, Any] | None) -> str | None:
    """What a kill may have lost: events after the last recorded part (at most ``record_flush_s``)."""
    if not saved or saved.get("stopped_cleanly"):
        return None
    return (f"the previous run stopped without a safe stop: events received in its last "
            f"{settings.live.service.record_flush_s:g} s may be missing from the recording")


def pidfile(var_dir: Path) -> Path:
    return var_dir / "run" / "engine.pid"
