"""Engine alerts: thresholds on real metrics snapshots, de-duplication, clearing, and the sinks (JSON log, the
broadcast, a webhook served by a real local HTTP server; a webhook that is down never blocks or raises)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from live_engine.service.alerts import (
    CONNECTION_LOST,
    DRAWDOWN_HIGH,
    ERROR_RATE_HIGH,
    LATENCY_HIGH,
    RESTARTS_EXHAUSTED,
    WIN_RATE_LOW,
    Alert,
    AlertManager,
    BroadcastSink,
    Level,
    LogSink,
    WebhookSink,
)
from live_engine.service.broadcast import Broadcaster, Subscriber
from live_engine.service.config import AlertsConfig
from live_engine.service.metrics import EngineMetrics
from quantumtrader.logging import setup_logging

MS = 1_000_000


class Collect:
    """A sink that keeps what it is sent."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def manager(**config: object) -> tuple[AlertManager, Collect, Clock]:
    sink, clock = Collect(), Clock()
    return AlertManager(AlertsConfig.model_validate(config), [sink], clock=clock), sink, clock


def healthy() -> EngineMetrics:
    m = EngineMetrics(30_000)
    for _ in range(10):
        m.on_bar(5 * MS)
        m.on_event()
    return m


def test_a_healthy_snapshot_raises_nothing():
    mgr, sink, _ = manager()
    assert mgr.evaluate(healthy().snapshot()) == [] and sink.alerts == []


def test_each_threshold_raises_its_code_at_its_level():
    m = healthy()
    for _ in range(100):
        m.on_bar(80 * MS)  # p99 80 ms > 50
    for i in range(20):
        m.on_trade_closed(10.0 if i < 8 else -10.0)  # 40 % over 20 trades
    m.set(equity=33_000)
    m.set(equity=29_000)  # 12.1 % below the peak
    for _ in range(10):
        m.on_event(ok=False)  # 10 bad of 130 inputs
    mgr, sink, _ = manager()
    raised = {a.code: a for a in mgr.evaluate(m.snapshot())}
    assert set(raised) == {LATENCY_HIGH, WIN_RATE_LOW, DRAWDOWN_HIGH, ERROR_RATE_HIGH}
    assert raised[LATENCY_HIGH].level == Level.WARNING and raised[WIN_RATE_LOW].level == Level.WARNING
    assert raised[DRAWDOWN_HIGH].level == Level.ERROR and raised[ERROR_RATE_HIGH].level == Level.ERROR
    assert raised[DRAWDOWN_HIGH].data["drawdown_pct"] == pytest.approx(4_000 / 33_000)
    assert "80.0 ms > 50 ms" in raised[LATENCY_HIGH].message
    assert [a.code for a in sink.alerts] == list(raised)


def test_a_low_win_rate_waits_for_the_minimum_number_of_trades():
    m = healthy()
    for _ in range(19):
        m.on_trade_closed(-1.0)
    mgr, _, _ = manager()
    assert mgr.evaluate(m.snapshot()) == []
    m.on_trade_closed(-1.0)
    assert [a.code for a in mgr.evaluate(m.snapshot())] == [WIN_RATE_LOW]


def test_an_alert_repeats_only_after_repeat_after_s_and_clears_once():
    mgr, sink, clock = manager(repeat_after_s=300)
    hot = {"latency_ms": {"p99": 90.0}}
    assert [a.code for a in mgr.evaluate(hot)] == [LATENCY_HIGH]
    clock.t += 299
    assert mgr.evaluate(hot) == []
    clock.t += 2
    assert [a.code for a in mgr.evaluate(hot)] == [LATENCY_HIGH]
    assert mgr.active == {LATENCY_HIGH}
    cleared = mgr.evaluate({"latency_ms": {"p99": 9.0}})
    assert [(a.code, a.level, a.cleared) for a in cleared] == [(LATENCY_HIGH, Level.INFO, True)]
    assert mgr.evaluate({"latency_ms": {"p99": 9.0}}) == [] and mgr.active == frozenset()
    # a new occurrence after clearing is news at once
    assert [a.code for a in mgr.evaluate(hot)] == [LATENCY_HIGH]
    assert len(sink.alerts) == 4


def test_explicit_alerts_are_de_duplicated_per_code_and_cleared_by_name():
    mgr, sink, clock = manager(repeat_after_s=60)
    assert mgr.raise_alert(Level.CRITICAL, RESTARTS_EXHAUSTED, "3 restarts failed: engine stays down") is not None
    assert mgr.raise_alert("CRITICAL", RESTARTS_EXHAUSTED, "again") is None
    assert mgr.raise_alert(Level.WARNING, CONNECTION_LOST, "no data for 3 bars") is not None
    clock.t += 61
    assert mgr.raise_alert(Level.CRITICAL, RESTARTS_EXHAUSTED, "still down") is not None
    done = mgr.clear(CONNECTION_LOST, "feed back")
    assert done is not None and done.cleared and done.level == Level.INFO
    assert mgr.clear(CONNECTION_LOST) is None
    assert [a.code for a in sink.alerts] == [RESTARTS_EXHAUSTED, CONNECTION_LOST, RESTARTS_EXHAUSTED,
                                             CONNECTION_LOST]


def test_secrets_never_reach_an_alert():
    mgr, _sink, _ = manager()
    alert = mgr.raise_alert(Level.ERROR, "registry_unreachable", "postgresql://qt:hunter2@db:5432/mlflow is down",
                            {"password": "hunter2", "api_token": "abc", "host": "db"})
    assert alert is not None
    text = json.dumps(alert.to_dict())
    assert "hunter2" not in text and "abc" not in text and "db" in text


def test_a_failing_sink_is_counted_and_the_others_still_get_the_alert():
    class Broken:
        def send(self, alert: Alert) -> None:
            raise RuntimeError("sink down")

    good = Collect()
    mgr = AlertManager(AlertsConfig(), [Broken(), good])
    assert mgr.raise_alert(Level.ERROR, "swap_failed", "smoke prediction failed") is not None
    assert mgr.sink_failures == 1 and [a.code for a in good.alerts] == ["swap_failed"]


def test_alerts_go_to_the_json_log_and_the_broadcast(tmp_path: Path):
    log_file = tmp_path / "qt.jsonl"
    setup_logging("INFO", console=False, json_path=log_file)
    try:
        with Broadcaster("tcp://127.0.0.1:*", "e-alerts", hwm=100) as b, Subscriber(b.endpoint, ["alerts"]) as sub:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # join: probe on the alerts topic until one arrives
                b.publish("alerts", {"probe": True})
                if sub.recv(timeout_ms=20) is not None:
                    break
            while sub.recv(timeout_ms=50) is not None:
                pass
            mgr = AlertManager(AlertsConfig(), [LogSink(), BroadcastSink(b)])
            mgr.raise_alert(Level.CRITICAL, RESTARTS_EXHAUSTED, "3 restarts failed", {"attempts": 3})
            msg = sub.recv(timeout_ms=2000)
    finally:
        setup_logging("INFO", console=False)
    assert msg is not None and msg.topic == "alerts"
    assert msg.data["code"] == RESTARTS_EXHAUSTED and msg.data["level"] == "CRITICAL"
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    rec = next(r for r in records if r["data"].get("alert") == RESTARTS_EXHAUSTED)
    assert rec["level"] == "CRITICAL" and rec["component"] == "engine.alerts" and rec["data"]["attempts"] == 3


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    delay_s = 0.0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.delay_s)
        type(self).received.append({"path": self.path, "type": self.headers["Content-Type"],
                                    "json": json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "delay_s": 0.0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/T000/secret-token-123", handler
    finally:
        server.shutdown()
        server.server_close()


def test_the_webhook_receives_each_alert_as_json(hook):
    url, handler = hook
    mgr = AlertManager.with_default_sinks(AlertsConfig(webhook_url=url))
    try:
        mgr.evaluate({"drawdown_pct": 0.2})
        mgr.raise_alert(Level.CRITICAL, RESTARTS_EXHAUSTED, "down")
        webhook = next(s for s in mgr.sinks if isinstance(s, WebhookSink))
        assert webhook.flush(5)
    finally:
        mgr.close()
    assert [r["json"]["code"] for r in handler.received] == [DRAWDOWN_HIGH, RESTARTS_EXHAUSTED]
    first = handler.received[0]
    assert first["path"] == "/hooks/T000/secret-token-123" and first["type"] == "application/json"
    assert first["json"]["level"] == "ERROR" and first["json"]["data"]["drawdown_pct"] == 0.2
    assert webhook.sent == 2 and webhook.failed == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_webhook_that_is_down_never_blocks_or_raises_and_its_url_is_redacted_in_the_log(tmp_path: Path):
    log_file = tmp_path / "qt.jsonl"
    setup_logging("INFO", console=False, json_path=log_file)
    url = f"http://127.0.0.1:{_closed_port()}/hooks/secret-token-123?token=s3cr3t"
    mgr = AlertManager.with_default_sinks(AlertsConfig(webhook_url=url, repeat_after_s=0))
    webhook = next(s for s in mgr.sinks if isinstance(s, WebhookSink))
    try:
        worst = 0.0
        for _ in range(20):
            t0 = time.perf_counter()
            mgr.evaluate({"drawdown_pct": 0.5, "error_rate": 0.5})
            worst = max(worst, time.perf_counter() - t0)
        assert webhook.flush(10)
    finally:
        mgr.close()
        setup_logging("INFO", console=False)
    assert worst < 0.05, worst
    assert webhook.failed == 40 and webhook.sent == 0
    text = log_file.read_text()
    assert "alert webhook" in text and "secret-token-123" not in text and "s3cr3t" not in text


def test_a_webhook_that_hangs_times_out_in_the_background(hook):
    url, handler = hook
    handler.delay_s = 1.5
    mgr = AlertManager(AlertsConfig(), [WebhookSink(url, timeout_s=0.3)])
    webhook = mgr.sinks[0]
    assert isinstance(webhook, WebhookSink)
    t0 = time.perf_counter()
    mgr.raise_alert(Level.ERROR, "swap_failed", "bundle hash mismatch")
    assert time.perf_counter() - t0 < 0.05
    assert webhook.flush(5)
    assert webhook.failed == 1
    mgr.close()


def test_a_full_webhook_queue_drops_and_counts():
    webhook = WebhookSink(f"http://127.0.0.1:{_closed_port()}/x", timeout_s=0.2, max_queued=2)
    try:
        for i in range(50):
            webhook.send(Alert(Level.INFO, f"c{i}", "m"))
        assert webhook.dropped > 0
        assert webhook.flush(10)
        assert webhook.failed + webhook.dropped == 50
    finally:
        webhook.close()
