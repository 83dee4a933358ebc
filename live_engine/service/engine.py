"""The engine's loop: feed events through the streaming features and the decision core, on paper.

One thread owns the core, the broker and the journal; the control socket's thread only reads status
and queues commands. Per event: the feed's gate has dropped bad input; the recorder keeps the event;
the feature engine sees it first (a bar it closes is decided before the broker sees the print, as in
the backtest's replay); then the broker; then :class:`~live_engine.service.persistence.Persistence`
commits what the broker changed. Between event batches the loop serves queued commands and timers.

Engine states (``status``): WARMING (start-up warm-up), ACTIVE / REDUCING / HALTED (the risk engine's),
DEGRADED (the last bar's model or an agent failed), and HALTED with a reason when the engine itself
holds trading: reconciliation failed, the journal was corrupt, bad input N in a row, an emergency stop.
While held, bars still train the coordinator (``DecisionCore.warm_bar``) and resting stops still work.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from features.streaming import BarClose, FeatureEngine
from features.streaming_session import SessionLocator
from live_engine.decision.core import DecisionCore
from live_engine.execution.costs import aggressor_side
from live_engine.feeds.events import Book, Feed, Trade
from live_engine.risk.engine import HALTED
from live_engine.service.control import EMERGENCY, STATUS, STOP, Command, ControlServer
from live_engine.service.persistence import Persistence
from live_engine.service.status import EngineStatus
from quantumtrader.clock import SimulatedClock
from quantumtrader.logging import get_logger

log = get_logger("live_engine.service.engine")

Publish = Callable[[str, dict[str, Any]], None]
Alert = Callable[[str, str, str], None]  # level, code, message

MAX_BATCH = 2000  # events handled before the loop looks at commands and timers again


def _nan_none(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


@dataclass
class Timers:
    """Wall-clock periodic work (monotonic seconds)."""

    every: dict[str, float]
    last: dict[str, float] = field(default_factory=dict)

    def due(self, name: str, now: float) -> bool:
        if now - self.last.get(name, -math.inf) >= self.every[name]:
            self.last[name] = now
            return True
        return False


class Engine(EngineStatus):
    """The loop around one :class:`DecisionCore` (module docstring)."""

    def __init__(self, *, symbol: str, bar_spec: str, large_trade_qty: int, core: DecisionCore, feed: Feed,
                 persistence: Persistence, epoch: str, model_version: str, max_consecutive_bad: int,
                 stale_after_bars: int, stale_after_s: float | None = None, bar_close_grace_ms: int | None = None,
                 publish: Publish | None = None,
                 alert: Alert | None = None,
                 control: ControlServer | None = None, metrics: Any = None, recorder: Any = None,
                 swapper: Any = None, periodic: dict[str, Callable[[], None]] | None = None,
                 every: dict[str, float] | None = None) -> None:
        self.core, self.feed, self.persistence, self.epoch = core, feed, persistence, epoch
        self.model_version = model_version
        self.max_bad = max_consecutive_bad
        self.publish = publish or (lambda topic, data: None)
        self.alert = alert or (lambda level, code, msg: log.warning(f"{code}: {msg}"))
        self.clear_alert: Callable[[str, str], Any] = lambda code, msg: log.info(f"{code} cleared: {msg}")
        self.prometheus_port: int | None = None
        self._seen_trades = 0
        self.control, self.metrics, self.recorder, self.swapper = control, metrics, recorder, swapper
        self.periodic = periodic or {}
        self.timers = Timers({"fast": 0.25, **(every or {})})
        core.keep_features = False  # the recorder keeps each decision's vector (see _bar)
        clock = core.clock
        assert isinstance(clock, SimulatedClock)
        self.clock: SimulatedClock = clock
        self.locator = SessionLocator(core.instrument)
        self.bar_ns = core.bar_ns
        self.stale_ns = int(stale_after_s * 1e9) if stale_after_s else stale_after_bars * core.bar_ns
        self.grace_ns = None if bar_close_grace_ms is None else bar_close_grace_ms * 1_000_000
        self._timer_ns = 0  # feed time up to which the bar timer has closed bars
        self.features = FeatureEngine(symbol, bar_spec=bar_spec, large_trade_qty=large_trade_qty, on_bar=self._bar)
        self.started = time.time()
        self.phase = "STARTING"
        self.hold_reason: str | None = None  # no trading until cleared (reconciliation, corrupt journal)
        self.halt_reason: str | None = None  # the engine halted trading (bad input, emergency stop)
        self.stale = False
        self.warmup_progress = (0, 0)
        self.last_bar: dict[str, Any] | None = None
        self.errors = 0
        self.last_error = ""
        self._stop = False
        self._session: date | None = None
        self._closed: set[date] = set()
        self._last_event_wall = time.monotonic()
        self._last_event_ns = 0
        self._bar_t0 = 0
        self.bars = 0
        self.events = 0
        self.shadow: Any = None  # a challenger scored on every bar (hot-swap module), never trading
        self.bundle_live: dict[str, Any] = {}
        self.resume_after_ns = 0  # the last event handled before a restart (journal state)
        self.skipped = 0

    # ---- lifecycle --------------------------------------------------------------------------
    def hold(self, reason: str) -> None:
        """Trade nothing until :meth:`release` (bars only warm the coordinator)."""
        self.hold_reason = reason
        self.core.warming = True
        self.alert("ERROR", "trading_held", reason)

    def release(self) -> None:
        self.hold_reason = None
        self.core.warming = False

    def request_stop(self, why: str = "stop requested") -> None:
        if not self._stop:
            log.info(f"safe stop: {why}")
        self._stop = True

    def run(self) -> int:
        """The loop; returns the exit code (0: safe stop or a finite feed played out)."""
        self.phase = "RUNNING"
        self.publish("alerts", {"level": "INFO", "code": "engine_started", "message": f"epoch {self.epoch}"})
        feed = self.feed
        while not self._stop:
            events = feed.poll(0.05)
            n = len(events)
            for i in range(0, n, MAX_BATCH):
                for ev in events[i:i + MAX_BATCH]:
                    self._event(ev)
                self._between()
                if self._stop:
                    break
            if not n:
                self._between()
                if feed.exhausted:
                    self._end_session()
                    log.info(f"feed {feed.name} played out")
                    break
        self._shutdown()
        return 0

    def _shutdown(self) -> None:
        """Safe stop: no new entries; state, venue and recording flushed."""
        self.phase = "STOPPING"
        self.persistence.commit(self.state_doc())
        self.persistence.journal.save_states(self.state_doc())
        if self.recorder is not None:
            self.recorder.close()
        for name, fn in self.periodic.items():
            if name == "metrics":
                fn()
        self.publish("alerts", {"level": "INFO", "code": "engine_stopped", "message": "safe stop"})

    # ---- events (hot path) ------------------------------------------------------------------
    def _event(self, ev: Trade | Book) -> None:
        ts = ev.ts_ns
        if ts <= self.resume_after_ns:  # handled before a restart (a replay or sim feed plays from its start)
            self.skipped += 1
            return
        self.events += 1
        self._last_event_wall = time.monotonic()
        day = self.locator.local_day(ts)
        if day != self._session:
            if self._session is not None:
                self._end_session()
            self._session = day
            if self.metrics is not None:
                self.metrics.new_session()
        self._last_event_ns = ts
        if self.recorder is not None:
            self.recorder.add(ev)
        if self.metrics is not None:
            self.metrics.on_event()
        self._bar_t0 = time.perf_counter_ns()
        try:
            if isinstance(ev, Trade):
                self.features.on_trade(ts, ev.price, ev.qty, ev.trade_type, ev.buyer, ev.seller)
                self.core.on_trade(ts, ev.price, aggressor_side(ev.trade_type))
            else:
                self.features.on_book_levels(ts, ev.levels)
                self.core.on_book_levels(ts, ev.levels)
        except Exception as err:  # a broken feature path must not stop the engine (or its emergency stop)
            self._error(f"{type(err).__name__}: {err}")
        if self.persistence.dirty:
            self.persistence.commit(self.state_doc())

    def _bar(self, bar: BarClose) -> None:
        """A bar closed (called inside the feature engine): decide, journal, broadcast."""
        if bar.close_ts_ns > self.clock.now_ns():
            self.clock.advance_to(bar.close_ts_ns)
        if self.phase == "WARMING":
            self.core.handle_bar(bar)
            return
        x = bar.features
        shadow = self.shadow.score(x) if self.shadow is not None else None
        rec = self.core.handle_bar(bar)
        self.bars += 1
        latency = time.perf_counter_ns() - self._bar_t0
        session = bar.session.isoformat() if isinstance(bar.session, date) else str(bar.session)
        self.last_bar = {"ts_ns": bar.close_ts_ns, "session": session, "close": bar.close}
        feats = [_nan_none(float(v)) for v in x]
        self.publish("features", {"ts_ns": bar.close_ts_ns, "session": session, "features": feats})
        if rec is not None:
            sig = {k: _nan_none(float(rec[k])) for k in ("p_down", "p_flat", "p_up", "model_signal",
                                                          "agents_signal", "combined", "confidence")}
            sig["ts_ns"] = bar.close_ts_ns
            if shadow is not None:
                sig["shadow"] = shadow
            self.publish("signals", sig)
            self.publish("decisions", {k: rec[k] for k in ("ts_ns", "session", "direction", "reason", "action",
                                                           "denial", "state", "position", "band",
                                                           "close", "votes", "weights")}
                         | {"model_version": self.model_version})
        if self.recorder is not None:
            self.recorder.decision(bar.close_ts_ns, session, x, rec, self.model_version, shadow, latency)
        if self.metrics is not None:
            self.metrics.on_bar(latency, not (rec is not None and rec.get("degraded")))
            trades = self.core.broker.trades
            while self._seen_trades < len(trades):
                self.metrics.on_trade_closed(trades[self._seen_trades].pnl)
                self._seen_trades += 1
        self.persistence.journal.save_states(self.state_doc())
        # The core's per-bar history is the backtest's report; here the recorder and the journal keep it, and
        # a run of weeks must not hold every bar in memory (the soak test measures the growth).
        self.core.decisions.clear()
        self.core.equity.clear()
        self.core.trade_attribution.clear()

    def _error(self, msg: str) -> None:
        self.errors += 1
        if self.errors == 1 or self.errors % 100 == 0:
            self.alert("ERROR", "engine_error", f"event handling failed ({self.errors} so far): {msg}")
        self.last_error = msg
        self.core.degraded = True

    def _end_session(self) -> None:
        """Close the current session's remaining bars (its close), as the backtest does at a session end."""
        day = self._session
        if day is None or day in self._closed:
            return
        self._closed.add(day)
        close_ns = self.locator.bounds(day).close_ns
        try:
            self.features.advance_to(close_ns)
        except Exception as err:
            self._error(f"{type(err).__name__}: {err}")
        if close_ns > self.clock.now_ns():
            self.clock.advance_to(close_ns)
        if self.persistence.dirty:
            self.persistence.commit(self.state_doc())

    # ---- between batches --------------------------------------------------------------------
    def _between(self) -> None:
        if self.grace_ns is not None and self._last_event_ns:
            self._close_quiet_bars()
        if self.control is not None:
            for cmd in self.control.pending():
                self._command(cmd)
        stats = self.feed.stats
        if stats.consecutive_bad >= self.max_bad and self.halt_reason is None:
            self.halt(f"{stats.consecutive_bad} bad messages or ticks in a row from feed {self.feed.name}")
        now = time.monotonic()
        if self.timers.due("fast", now):
            self._check_stale(now)
            if self.swapper is not None:
                self.swapper.between_bars(self)
        for name, fn in self.periodic.items():
            if name in self.timers.every and self.timers.due(name, now):
                try:
                    fn()
                except Exception as err:
                    self._error(f"{name}: {type(err).__name__}: {err}")

    def _close_quiet_bars(self) -> None:
        """On a real-time feed (speed 1), decide a bar ``grace`` after its close when no event has: a quiet
        minute or the session's last bar would otherwise wait for the next print. The bar's features and
        the broker's state are those the next event would have found (it had not arrived), so the decision
        is the replay's; only an event older than the grace arriving later is late (dropped, counted)."""
        if float(getattr(self.feed, "speed", 0.0)) != 1.0 or self.phase != "RUNNING":
            return
        est = self._last_event_ns + int((time.monotonic() - self._last_event_wall) * 1e9)
        target = est - (self.grace_ns or 0)
        if target <= self._timer_ns or target <= self._last_event_ns:
            return
        self._timer_ns = target
        self._bar_t0 = time.perf_counter_ns()
        try:
            self.features.advance_to(target)
        except Exception as err:
            self._error(f"{type(err).__name__}: {err}")
        day = self._session
        if day is not None and day not in self._closed and target >= self.locator.bounds(day).close_ns:
            self._end_session()
        if self.persistence.dirty:
            self.persistence.commit(self.state_doc())

    def _check_stale(self, now: float) -> None:
        """No data for ``stale_after_bars`` bar intervals (in feed time) inside a session: no new entries,
        stops stay, alert "connection lost"."""
        if not self._last_event_ns:
            return
        speed = float(getattr(self.feed, "speed", 1.0) or 0.0)
        if speed <= 0:
            return  # flat out: feed time does not follow the wall clock
        est = self._last_event_ns + int((now - self._last_event_wall) * speed * 1e9)
        s = self.locator.bounds(self.locator.local_day(self._last_event_ns))
        in_session = s.open_ns <= self._last_event_ns and est < s.close_ns
        stale = in_session and est - self._last_event_ns > self.stale_ns
        if stale and not self.stale:
            self.stale = True
            self.core.block_entries = "STALE_FEED"
            self.alert("ERROR", "connection_lost", f"no data from feed {self.feed.name} for "
                       f"{(now - self._last_event_wall):.1f} s: no new entries, stops stay")
        elif not stale and self.stale:
            self.stale = False
            self.core.block_entries = None
            self.clear_alert("connection_lost", f"feed {self.feed.name} is sending again")

    def _command(self, cmd: Command) -> None:
        if cmd.name == STOP:
            self.request_stop("`qtml engine stop`")
            cmd.reply = {"stopping": True}
        elif cmd.name == EMERGENCY:
            cmd.reply = self.emergency_stop()
        elif cmd.name == STATUS:  # pragma: no cover - served on the control thread
            cmd.reply = {}
        cmd.done.set()

    def halt(self, reason: str) -> None:
        """HALTED: the core's next bar cancels and flattens once, then sends nothing."""
        self.halt_reason = reason
        self.core.risk.state = HALTED
        self.alert("CRITICAL", "trading_halted", reason)

    def emergency_stop(self) -> dict[str, Any]:
        """Cancel everything and flatten now, then HALTED. Needs neither the model nor the features;
        pressing it twice sends nothing more."""
        broker = self.core.broker
        already = self.halt_reason is not None and self.halt_reason.startswith("emergency stop")
        cancelled = broker.cancel_all()
        sent = None
        flattening = any(o.tag == "emergency" and o.status == "working" for o in broker.orders)
        if broker.position and not flattening:
            now = max(self.clock.now_ns(), self._last_event_ns)
            o = broker.submit_market(now, -1 if broker.position > 0 else 1, abs(broker.position), "emergency")
            sent = o.client_id
        self.persistence.commit(self.state_doc())
        if not already:
            self.halt_reason = "emergency stop"
            self.core.risk.state = HALTED
            self.alert("CRITICAL", "emergency_stop", f"cancelled {cancelled} order(s), flatten order {sent}")
        self.persistence.journal.save_states(self.state_doc())
        return {"cancelled": cancelled, "flatten_order": sent, "position": broker.position,
                "already_stopped": already}

    # ---- state ------------------------------------------------------------------------------
    def state_doc(self) -> dict[str, Any]:
        """What the journal keeps with every fill and bar: risk counters, weights, position, halts."""
        b = self.core.broker
        return {"core": self.core.state(), "position": {"qty": b.position, "avg_price": b.avg_price},
                "halt_reason": self.halt_reason, "epoch": self.epoch, "last_event_ns": self._last_event_ns,
                "stopped_cleanly": self.phase == "STOPPING"}
