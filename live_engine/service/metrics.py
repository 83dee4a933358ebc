"""The engine's live metrics: rolling counters the loop feeds, a snapshot, its file and a Prometheus endpoint.

:class:`EngineMetrics` is fed by the engine (``on_event``, ``on_bar``, ``on_trade_closed``, ``set``) and
derives what the operator watches (docs/engine-monitoring.md): feature and event rates and the error rate
over the last minute, decision latency p50 / p99 over the last ``window`` bars, win rate, drawdown and PnL.
Undefined values (no bar yet, no trade yet) are ``None`` in the snapshot, never 0.

:func:`write_metrics_file` replaces ``var/metrics/current_metrics.json`` atomically; :class:`PrometheusExporter`
serves the latest snapshot on 127.0.0.1 from its own registry (never the process-global one).
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from quantumtrader.errors import InputError

RATE_WINDOW_S = 60
METRICS_FILE = Path("metrics") / "current_metrics.json"  # under stores.var_dir


def metrics_path(var_dir: Path) -> Path:
    """Where the engine writes its snapshot: ``<var_dir>/metrics/current_metrics.json``."""
    return var_dir / METRICS_FILE


class _Buckets:
    """Per-second sums of a few counters over the last ``RATE_WINDOW_S`` seconds (O(1) per update)."""

    FIELDS = ("events", "bad", "bars", "degraded", "features")

    def __init__(self) -> None:
        self._q: deque[list[int]] = deque()  # [second, *FIELDS]

    def add(self, now_s: int, **counts: int) -> None:
        if not self._q or self._q[-1][0] != now_s:
            self._q.append([now_s, 0, 0, 0, 0, 0])
        row = self._q[-1]
        for name, n in counts.items():
            row[1 + self.FIELDS.index(name)] += n

    def sums(self, now_s: int) -> dict[str, int]:
        while self._q and self._q[0][0] <= now_s - RATE_WINDOW_S:
            self._q.popleft()
        return {name: sum(row[1 + i] for row in self._q) for i, name in enumerate(self.FIELDS)}


class EngineMetrics:
    """Rolling counters of one engine run. ``clock``: monotonic ns (injected in tests).

    Drawdown is the fall of ``equity`` (capital + total PnL, as the risk engine marks it) from its
    running peak, as a share of that peak; the peak starts at the account capital."""

    def __init__(self, capital: float, *, n_features: int = 65, window: int = 1000,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        if not capital > 0:
            raise InputError(f"account capital {capital} must be > 0 (live.risk.account_capital)")
        self.capital = float(capital)
        self.n_features = n_features
        self._clock = clock
        self._start_ns = clock()
        self._latency: deque[int] = deque(maxlen=window)
        self._buckets = _Buckets()
        self.events = self.bad_messages = self.bars = self.degraded_bars = 0
        self.trades_total = self.trades_today = self.wins_total = 0
        self.realised_pnl = 0.0
        self.state = "STARTING"
        self.model_version: str | None = None
        self.position = 0
        self.day_pnl = 0.0
        self.equity = self.capital
        self.peak_equity = self.capital
        self.max_drawdown_pct = 0.0

    def _now_s(self) -> int:
        return (self._clock() - self._start_ns) // 1_000_000_000

    # ---- fed by the engine ------------------------------------------------------------------
    def on_event(self, ok: bool = True) -> None:
        """One feed message received; ``ok=False``: it was malformed or a bad tick (dropped)."""
        self.events += 1
        if not ok:
            self.bad_messages += 1
        self._buckets.add(self._now_s(), events=1, bad=0 if ok else 1)

    def on_bar(self, latency_ns: int, features_ok: bool = True) -> None:
        """One bar decided in ``latency_ns`` (bar close to decision); ``features_ok=False``: degraded bar."""
        self.bars += 1
        self._latency.append(int(latency_ns))
        if not features_ok:
            self.degraded_bars += 1
        self._buckets.add(self._now_s(), bars=1, degraded=0 if features_ok else 1,
                          features=self.n_features if features_ok else 0)

    def on_trade_closed(self, pnl: float) -> None:
        """One round trip closed with net ``pnl`` (R$); a win is pnl > 0 (docs/metrics.md)."""
        self.trades_total += 1
        self.trades_today += 1
        self.wins_total += pnl > 0
        self.realised_pnl += pnl

    def new_session(self) -> None:
        """A trading session starts: the day's trade count and PnL restart."""
        self.trades_today = 0
        self.day_pnl = 0.0

    def set(self, *, state: str | None = None, model_version: str | None = None, position: int | None = None,
            day_pnl: float | None = None, equity: float | None = None) -> None:
        """Current values the engine owns; equity also moves the peak and the drawdown."""
        if state is not None:
            self.state = state
        if model_version is not None:
            self.model_version = model_version
        if position is not None:
            self.position = int(position)
        if day_pnl is not None:
            self.day_pnl = float(day_pnl)
        if equity is not None and math.isfinite(equity):
            self.equity = float(equity)
            self.peak_equity = max(self.peak_equity, self.equity)
            self.max_drawdown_pct = max(self.max_drawdown_pct, self.drawdown_pct)

    # ---- derived ----------------------------------------------------------------------------
    @property
    def drawdown_pct(self) -> float:
        return (self.peak_equity - self.equity) / self.peak_equity if self.peak_equity > 0 else 0.0

    def latency_ms(self) -> dict[str, float | None]:
        """p50 / p99 / max of the last ``window`` bars (numpy's linear percentile), ms."""
        if not self._latency:
            return {"p50": None, "p99": None, "max": None, "n": 0}
        arr = np.fromiter(self._latency, dtype=np.float64, count=len(self._latency)) / 1e6
        p50, p99 = np.percentile(arr, [50, 99])
        return {"p50": float(p50), "p99": float(p99), "max": float(arr.max()), "n": len(arr)}

    def snapshot(self, feed: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Everything at once, JSON-ready; ``feed`` (the feed's own counters) and ``extra`` (e.g. the
        broadcast's stats) are copied in as sections."""
        now = self._now_s()
        sums = self._buckets.sums(now)
        span = max(1, min(RATE_WINDOW_S, now + 1))  # a young engine divides by the seconds it has run
        inputs = sums["events"] + sums["bars"]
        snap: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "uptime_s": round((self._clock() - self._start_ns) / 1e9, 3),
            "state": self.state,
            "model_version": self.model_version,
            "features_per_s": sums["features"] / span,
            "events_per_s": sums["events"] / span,
            "bars_per_min": sums["bars"] * 60 / span,
            "latency_ms": self.latency_ms(),
            "error_rate": (sums["bad"] + sums["degraded"]) / inputs if inputs else 0.0,
            "win_rate": self.wins_total / self.trades_total if self.trades_total else None,
            "trades": self.trades_today,
            "trades_total": self.trades_total,
            "pnl": self.day_pnl,
            "realised_pnl": self.realised_pnl,
            "equity": self.equity,
            "drawdown_pct": self.drawdown_pct,
            "max_drawdown_pct": self.max_drawdown_pct,
            "position": self.position,
            "events": self.events,
            "bad_messages": self.bad_messages,
            "bars": self.bars,
            "degraded_bars": self.degraded_bars,
        }
        if feed is not None:
            snap["feed"] = dict(feed)
        for key, value in (extra or {}).items():
            snap[key] = dict(value) if isinstance(value, Mapping) else value
        return snap


def write_metrics_file(path: Path, snapshot: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``snapshot`` as JSON atomically: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = orjson.dumps(snapshot, default=str,
                        option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- Prometheus -------------------------------------------------------------------------------
def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


# gauge name (prefix qt_engine_) -> (snapshot key, help)
_GAUGES = {
    "features_per_second": ("features_per_s", "Feature values computed per second, last minute."),
    "events_per_second": ("events_per_s", "Feed messages received per second, last minute."),
    "error_rate": ("error_rate", "Share of bad messages and degraded bars, last minute."),
    "win_rate": ("win_rate", "Share of closed trades with net PnL > 0 (NaN before the first)."),
    "trades_today": ("trades", "Round trips closed this session."),
    "pnl_brl": ("pnl", "PnL of this session, R$ net of fees."),
    "realised_pnl_brl": ("realised_pnl", "Net PnL of the trades closed since start, R$."),
    "equity_brl": ("equity", "Account capital + total PnL, R$."),
    "drawdown_ratio": ("drawdown_pct", "Fall of equity from its peak, share of the peak."),
    "max_drawdown_ratio": ("max_drawdown_pct", "Largest drawdown since start, share of the peak."),
    "position_contracts": ("position", "Signed position, contracts."),
    "uptime_seconds": ("uptime_s", "Seconds since the engine started."),
}
_COUNTERS = {
    "events": ("events", "Feed messages received."),
    "bad_messages": ("bad_messages", "Feed messages dropped as malformed or bad ticks."),
    "bars": ("bars", "Bars decided."),
    "degraded_bars": ("degraded_bars", "Bars decided with missing features or a failed agent."),
    "trades": ("trades_total", "Round trips closed since start."),
}


class _SnapshotCollector:
    """Turns the latest snapshot into metric families when Prometheus scrapes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snap: dict[str, Any] = {}

    def update(self, snapshot: Mapping[str, Any]) -> None:
        with self._lock:
            self._snap = dict(snapshot)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self._lock:
            snap = dict(self._snap)
        yield GaugeMetricFamily("qt_engine_up", "1 while the engine process serves metrics.", value=1)
        for name, (key, doc) in _GAUGES.items():
            yield GaugeMetricFamily(f"qt_engine_{name}", doc, value=_num(snap.get(key)))
        for name, (key, doc) in _COUNTERS.items():
            yield CounterMetricFamily(f"qt_engine_{name}", doc, value=_num(snap.get(key, 0)))
        lat = GaugeMetricFamily("qt_engine_latency_ms", "Bar decision latency over the last bars, ms.",
                                labels=["quantile"])
        for q, key in (("0.5", "p50"), ("0.99", "p99"), ("1", "max")):
            lat.add_metric([q], _num((snap.get("latency_ms") or {}).get(key)))
        yield lat
        info = GaugeMetricFamily("qt_engine_info", "The engine's state and model version (value 1).",
                                 labels=["state", "model_version"])
        info.add_metric([str(snap.get("state", "")), str(snap.get("model_version") or "")], 1)
        yield info
        for section in ("feed", "broadcast"):
            values = snap.get(section) or {}
            for key, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool) and key.isidentifier():
                    yield GaugeMetricFamily(f"qt_engine_{section}_{key}", f"{section} counter {key}.", value=value)


class PrometheusExporter:
    """An HTTP endpoint for Prometheus on ``addr`` (127.0.0.1) with its own registry.

    ``start()`` returns the bound port (a free one when ``port`` is 0); ``update(snapshot)`` is what the
    next scrape shows; ``close()`` stops the server and frees the port."""

    def __init__(self, port: int, *, addr: str = "127.0.0.1") -> None:
        from prometheus_client import CollectorRegistry

        self.requested_port = port
        self.addr = addr
        self.port: int | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self._collector = _SnapshotCollector()
        self.registry.register(self._collector)  # type: ignore[arg-type]
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        from prometheus_client import start_http_server

        try:
            # prometheus_client >= 0.20 returns the WSGI server and its thread
            self._server, self._thread = start_http_server(self.requested_port, addr=self.addr,
                                                           registry=self.registry)
        except OSError as err:
            raise InputError(f"cannot serve Prometheus metrics on {self.addr}:{self.requested_port}: "
                             f"{err.strerror}; set live.service.prometheus_port to a free port (0 picks one, "
                             "null disables it)") from None
        self.port = int(self._server.server_port)
        return self.port

    def update(self, snapshot: Mapping[str, Any]) -> None:
        self._collector.update(snapshot)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> PrometheusExporter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
