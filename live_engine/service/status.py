"""What the engine reports: its state name, the day's numbers, feed health and the status dict that
``qtml engine status`` prints (served on the control socket's thread: it only reads)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from live_engine.risk.engine import HALTED

if TYPE_CHECKING:
    from live_engine.decision.core import DecisionCore
    from live_engine.feeds.events import Feed


class EngineStatus:
    """Mixed into :class:`live_engine.service.engine.Engine`."""

    core: DecisionCore
    feed: Feed
    phase: str
    hold_reason: str | None
    halt_reason: str | None
    stale: bool
    metrics: Any
    last_bar: dict[str, Any] | None
    warmup_progress: tuple[int, int]
    epoch: str
    model_version: str
    errors: int
    bars: int
    events: int
    started: float
    prometheus_port: int | None
    _last_event_wall: float

    def state_name(self) -> str:
        if self.phase in ("STARTING", "WARMING"):
            return "WARMING"
        if self.hold_reason or self.halt_reason:
            return HALTED
        if self.core.degraded:
            return "DEGRADED"
        return str(self.core.risk.state)

    def day_stats(self) -> tuple[float, int]:
        """(today's PnL in R$, today's entries)."""
        b, risk = self.core.broker, self.core.risk
        mark = b.last if b.last == b.last else b.avg_price
        return b.equity_pnl(mark) - risk.day_start_pnl, int(risk.daily_entries)

    def feed_health(self) -> dict[str, Any]:
        s = self.feed.stats
        return {"name": self.feed.name, "received": s.received, "trades": s.trades, "books": s.books,
                "malformed": s.malformed, "bad_ticks": s.bad_ticks, "gaps": s.gaps,
                "heartbeats": s.heartbeats, "consecutive_bad": s.consecutive_bad, "stale": self.stale,
                "seconds_since_event": round(time.monotonic() - self._last_event_wall, 3)}

    def latency_ms(self) -> dict[str, float | None]:
        snap = self.metrics.latency_ms() if self.metrics is not None and hasattr(self.metrics, "latency_ms") else {}
        return {"p50": snap.get("p50"), "p99": snap.get("p99")}

    def status(self) -> dict[str, Any]:
        pnl, trades = self.day_stats()
        b = self.core.broker
        last = None
        if self.last_bar is not None:  # the exchange's local time, with its offset
            t = datetime.fromtimestamp(self.last_bar["ts_ns"] / 1e9, ZoneInfo(self.core.instrument.timezone))
            last = {**self.last_bar, "time": t.isoformat(timespec="seconds")}
        done, total = self.warmup_progress
        return {"state": self.state_name(), "epoch": self.epoch, "model_version": self.model_version,
                "position": b.position, "avg_price": b.avg_price, "day_pnl": round(pnl, 2), "day_trades": trades,
                "last_bar": last, "latency_ms": self.latency_ms(), "feed": self.feed_health(),
                "warmup": {"sessions_done": done, "sessions": total},
                "held": self.hold_reason, "halted": self.halt_reason, "errors": self.errors,
                "bars": self.bars, "events": self.events, "uptime_s": round(time.time() - self.started, 1),
                "prometheus": f"http://127.0.0.1:{self.prometheus_port}/metrics" if self.prometheus_port else None}
