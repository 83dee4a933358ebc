"""The engine's alerts: thresholds on the metrics snapshot plus explicit events, de-duplicated, to sinks.

:class:`AlertManager` raises ``latency_high``, ``win_rate_low``, ``drawdown_high`` and ``error_rate_high``
from :meth:`~AlertManager.evaluate` and anything else (``connection_lost``, ``swap_failed``,
``restarts_exhausted``, ...) from :meth:`~AlertManager.raise_alert`. One code is sent again at most every
``repeat_after_s`` while it holds; when it stops holding an INFO alert with ``cleared=True`` follows.

Sinks never make the engine wait or fail: :class:`LogSink` (the JSON log), :class:`BroadcastSink` (topic
``alerts``) and :class:`WebhookSink` (a POST from a background thread, failures counted and logged).
Messages and data pass through the log redaction; the webhook URL is logged as ``scheme://host/***``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from quantumtrader.logging import get_logger, redact, redact_data, redact_url

if TYPE_CHECKING:
    from live_engine.service.broadcast import Broadcaster
    from live_engine.service.config import AlertsConfig

log = get_logger("engine.alerts")


class Level(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


# codes evaluated on the snapshot
LATENCY_HIGH = "latency_high"
WIN_RATE_LOW = "win_rate_low"
DRAWDOWN_HIGH = "drawdown_high"
ERROR_RATE_HIGH = "error_rate_high"
# codes the engine raises explicitly
CONNECTION_LOST = "connection_lost"
SWAP_FAILED = "swap_failed"
RESTARTS_EXHAUSTED = "restarts_exhausted"
REGISTRY_UNREACHABLE = "registry_unreachable"
TRADING_HALTED = "trading_halted"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. ``cleared``: the condition named by ``code`` went away (level INFO)."""

    level: Level
    code: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)
    ts_ns: int = field(default_factory=time.time_ns)
    cleared: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"level": str(self.level), "code": self.code, "message": self.message, "data": dict(self.data),
                "ts_ns": self.ts_ns, "cleared": self.cleared}


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None: ...


_LOG_LEVEL = {Level.INFO: logging.INFO, Level.WARNING: logging.WARNING, Level.ERROR: logging.ERROR,
              Level.CRITICAL: logging.CRITICAL}


class LogSink:
    """Each alert as one record of the JSON log (component ``engine.alerts``)."""

    def send(self, alert: Alert) -> None:
        log.log(_LOG_LEVEL[alert.level], "alert %s: %s", alert.code, alert.message,
                data={"alert": alert.code, "level": str(alert.level), "cleared": alert.cleared, **alert.data})


class BroadcastSink:
    """Each alert on the broadcast's ``alerts`` topic."""

    def __init__(self, broadcaster: Broadcaster) -> None:
        self.broadcaster = broadcaster

    def send(self, alert: Alert) -> None:
        self.broadcaster.publish("alerts", alert.to_dict())


class WebhookSink:
    """POSTs each alert as JSON to ``url`` from one background thread; ``send`` only enqueues.

    A full queue (the endpoint is down and alerts keep coming) drops the alert and counts it; a POST that
    fails or times out is counted in ``failed`` and logged with the URL redacted, never raised."""

    def __init__(self, url: str, *, timeout_s: float = 2.0, max_queued: int = 100) -> None:
        self._url = url
        self.shown_url = redact_url(url)
        self.timeout_s = timeout_s
        self.sent = self.failed = self.dropped = 0
        self._q: queue.Queue[Alert | None] = queue.Queue(maxsize=max_queued)
        self._thread = threading.Thread(target=self._run, name="alert-webhook", daemon=True)
        self._thread.start()

    def send(self, alert: Alert) -> None:
        try:
            self._q.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            log.warning("alert webhook queue full: %s not posted", alert.code,
                        data={"webhook": self.shown_url, "dropped": self.dropped})

    def _run(self) -> None:
        from live_engine.service.broadcast import to_json

        while (alert := self._q.get()) is not None:
            req = urllib.request.Request(self._url, data=to_json(alert.to_dict()), method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    resp.read()
                self.sent += 1
            except Exception as err:  # any failure of the endpoint: counted, logged, never raised
                self.failed += 1
                reason = getattr(err, "reason", None) or err
                log.warning("alert webhook %s failed: %s", self.shown_url, redact(str(reason)).replace(self._url, ""),
                            data={"alert": alert.code, "failed": self.failed})
            finally:
                self._q.task_done()
        self._q.task_done()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued alert was posted or failed; False on timeout (for tests and shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._q.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._q.unfinished_tasks

    def close(self, timeout_s: float = 5.0) -> None:
        with contextlib.suppress(queue.Full):
            self._q.put(None, timeout=timeout_s)
        self._thread.join(timeout=timeout_s)


def _number(snapshot: Mapping[str, Any], *path: str) -> float | None:
    value: Any = snapshot
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class AlertManager:
    """Turns snapshots and explicit events into de-duplicated alerts sent to every sink.

    ``clock``: monotonic seconds (injected in tests) for the ``repeat_after_s`` window."""

    def __init__(self, config: AlertsConfig, sinks: Sequence[AlertSink] = (), *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.sinks = list(sinks)
        self._clock = clock
        self._lock = threading.Lock()
        self._last_sent: dict[str, float] = {}
        self._active: set[str] = set()
        self.sink_failures = 0

    @classmethod
    def with_default_sinks(cls, config: AlertsConfig, broadcaster: Broadcaster | None = None) -> AlertManager:
        """The JSON log, the broadcast (when given) and the webhook (when ``config.webhook_url`` is set)."""
        sinks: list[AlertSink] = [LogSink()]
        if broadcaster is not None:
            sinks.append(BroadcastSink(broadcaster))
        if config.webhook_url:
            sinks.append(WebhookSink(config.webhook_url, timeout_s=config.webhook_timeout_s))
        return cls(config, sinks)

    @property
    def active(self) -> frozenset[str]:
        """Codes whose condition holds now."""
        return frozenset(self._active)

    def _conditions(self, snap: Mapping[str, Any]) -> list[tuple[str, Level, bool, str, dict[str, Any]]]:
        c = self.config
        p99 = _number(snap, "latency_ms", "p99")
        win, trades = _number(snap, "win_rate"), _number(snap, "trades_total") or _number(snap, "trades") or 0
        dd, err = _number(snap, "drawdown_pct"), _number(snap, "error_rate")
        return [
            (LATENCY_HIGH, Level.WARNING, p99 is not None and p99 > c.latency_ms,
             f"decision latency p99 {p99 or 0:.1f} ms > {c.latency_ms:g} ms",
             {"latency_p99_ms": p99, "threshold_ms": c.latency_ms}),
            (WIN_RATE_LOW, Level.WARNING,
             win is not None and trades >= c.win_rate_min_trades and win < c.win_rate_min,
             f"win rate {win or 0:.1%} < {c.win_rate_min:.0%} over {trades:.0f} trades",
             {"win_rate": win, "trades": trades, "threshold": c.win_rate_min}),
            (DRAWDOWN_HIGH, Level.ERROR, dd is not None and dd > c.drawdown_max_pct,
             f"drawdown {dd or 0:.2%} > {c.drawdown_max_pct:.0%}",
             {"drawdown_pct": dd, "threshold": c.drawdown_max_pct}),
            (ERROR_RATE_HIGH, Level.ERROR, err is not None and err > c.error_rate_max,
             f"error rate {err or 0:.1%} > {c.error_rate_max:.0%} over the last minute",
             {"error_rate": err, "threshold": c.error_rate_max}),
        ]

    def evaluate(self, snapshot: Mapping[str, Any]) -> list[Alert]:
        """Check every threshold on ``snapshot``; returns the alerts sent (raised, repeated or cleared)."""
        out: list[Alert] = []
        for code, level, holds, message, data in self._conditions(snapshot):
            alert = self.raise_alert(level, code, message, data) if holds else self.clear(code)
            if alert is not None:
                out.append(alert)
        return out

    def raise_alert(self, level: Level | str, code: str, message: str,
                    data: Mapping[str, Any] | None = None) -> Alert | None:
        """Send an alert unless ``code`` was sent less than ``repeat_after_s`` ago (then None).
        The code stays active until :meth:`clear`."""
        now = self._clock()
        with self._lock:
            last = self._last_sent.get(code)
            self._active.add(code)
            if last is not None and now - last < self.config.repeat_after_s:
                return None
            self._last_sent[code] = now
        alert = Alert(Level(level), code, redact(message), redact_data(data or {}))
        self._send(alert)
        return alert

    def clear(self, code: str, message: str | None = None) -> Alert | None:
        """``code``'s condition went away: an INFO ``cleared`` alert if it was active, else None."""
        with self._lock:
            if code not in self._active:
                return None
            self._active.discard(code)
            self._last_sent.pop(code, None)  # a new occurrence is news, whenever it comes
        alert = Alert(Level.INFO, code, redact(message or f"{code} cleared"), {}, cleared=True)
        self._send(alert)
        return alert

    def _send(self, alert: Alert) -> None:
        for sink in self.sinks:
            try:
                sink.send(alert)
            except Exception as err:  # a sink must never stop the engine or the other sinks
                self.sink_failures += 1
                log.warning("alert sink %s failed: %s", type(sink).__name__, err,
                            data={"alert": alert.code, "sink_failures": self.sink_failures})

    def close(self) -> None:
        """Stop the webhook thread (if any) after it posted what was queued."""
        for sink in self.sinks:
            if isinstance(sink, WebhookSink):
                sink.flush()
                sink.close()
