"""The engine's live metrics: snapshot math on known inputs, the atomic metrics file, the Prometheus endpoint."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from live_engine.service.metrics import EngineMetrics, PrometheusExporter, metrics_path, write_metrics_file
from quantumtrader.errors import InputError

MS = 1_000_000
SECOND = 1_000_000_000


class FakeClock:
    def __init__(self) -> None:
        self.ns = 10 * SECOND

    def __call__(self) -> int:
        return self.ns


def test_latency_percentiles_are_over_the_last_window_of_bars():
    m = EngineMetrics(30_000, window=1000)
    assert m.snapshot()["latency_ms"] == {"p50": None, "p99": None, "max": None, "n": 0}
    for i in range(1, 101):
        m.on_bar(i * MS)
    lat = m.snapshot()["latency_ms"]
    assert lat["p50"] == pytest.approx(50.5) and lat["p99"] == pytest.approx(99.01) and lat["max"] == 100
    for i in range(101, 1501):  # 1..1500 ms: only the last 1000 (501..1500) count
        m.on_bar(i * MS)
    lat = m.snapshot()["latency_ms"]
    assert lat["n"] == 1000 and lat["p50"] == pytest.approx(1000.5) and lat["p99"] == pytest.approx(1490.01)


def test_win_rate_counts_net_wins_and_is_undefined_before_the_first_trade():
    m = EngineMetrics(30_000)
    assert m.snapshot()["win_rate"] is None
    for pnl in (120.0, -40.0, 0.0, 35.5):  # a flat trade is not a win
        m.on_trade_closed(pnl)
    snap = m.snapshot()
    assert snap["win_rate"] == 0.5 and snap["trades"] == 4 and snap["realised_pnl"] == pytest.approx(115.5)
    m.new_session()
    m.on_trade_closed(10.0)
    snap = m.snapshot()
    assert snap["trades"] == 1 and snap["trades_total"] == 5 and snap["win_rate"] == 0.6


def test_drawdown_is_from_the_running_equity_peak_starting_at_the_capital():
    m = EngineMetrics(30_000)
    m.set(equity=29_100)  # below the capital: the peak is the capital
    assert m.snapshot()["drawdown_pct"] == pytest.approx(0.03)
    for equity in (33_000, 29_700, 31_000):
        m.set(equity=equity)
    snap = m.snapshot()
    assert snap["drawdown_pct"] == pytest.approx(2_000 / 33_000)
    assert snap["max_drawdown_pct"] == pytest.approx(0.10) and snap["equity"] == 31_000
    m.set(equity=float("nan"))  # unknown is not a value: the last known equity stays
    assert m.snapshot()["equity"] == 31_000


def test_rates_and_error_rate_cover_the_last_minute():
    clock = FakeClock()
    m = EngineMetrics(30_000, n_features=65, clock=clock)
    for second in range(60):
        clock.ns = 10 * SECOND + second * SECOND
        for i in range(10):
            m.on_event(ok=i != 0)  # one bad message a second
        m.on_bar(2 * MS, features_ok=second % 2 == 0)
    snap = m.snapshot()
    assert snap["events_per_s"] == pytest.approx(10.0)
    assert snap["features_per_s"] == pytest.approx(30 * 65 / 60)
    assert snap["bars_per_min"] == pytest.approx(60.0)
    assert snap["error_rate"] == pytest.approx((60 + 30) / (600 + 60))
    clock.ns += 61 * SECOND  # a quiet minute later nothing is left in the window
    snap = m.snapshot()
    assert snap["events_per_s"] == 0 and snap["error_rate"] == 0 and snap["events"] == 600


def test_the_snapshot_has_the_operator_fields_and_the_sections_passed_in():
    m = EngineMetrics(30_000)
    m.set(state="ACTIVE", model_version="12", position=-1, day_pnl=-250.0, equity=29_750.0)
    snap = m.snapshot(feed={"kind": "sim", "received": 7}, extra={"broadcast": {"sent": 3, "dropped": 0}})
    for key in ("features_per_s", "latency_ms", "win_rate", "drawdown_pct", "pnl", "trades", "state",
                "model_version", "error_rate", "position", "uptime_s"):
        assert key in snap, key
    assert snap["state"] == "ACTIVE" and snap["model_version"] == "12" and snap["position"] == -1
    assert snap["pnl"] == -250.0 and snap["feed"] == {"kind": "sim", "received": 7}
    assert snap["broadcast"]["sent"] == 3
    with pytest.raises(InputError, match="account_capital"):
        EngineMetrics(0)


def test_the_metrics_file_is_replaced_atomically_and_always_parses(tmp_path: Path):
    path = metrics_path(tmp_path / "var")
    assert path == tmp_path / "var" / "metrics" / "current_metrics.json"
    m = EngineMetrics(30_000)
    write_metrics_file(path, m.snapshot())
    bad: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            text = path.read_text()
            try:
                json.loads(text)
            except ValueError:
                bad.append(text)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(300):
            m.on_bar(i * MS)
            m.set(equity=float("nan") if i % 2 else 30_000 + i)
            write_metrics_file(path, {**m.snapshot(), "i": i, "nan": float("nan"), "big": list(range(500))})
    finally:
        stop.set()
        thread.join()
    assert bad == []
    data = json.loads(path.read_text())
    assert data["i"] == 299 and data["nan"] is None and data["bars"] == 300
    assert [p.name for p in path.parent.iterdir()] == ["current_metrics.json"]  # no temp file left


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def _value(text: str, name: str) -> float:
    line = next(ln for ln in text.splitlines() if ln.startswith(name + " ") or ln.startswith(name + "{"))
    return float(line.rsplit(" ", 1)[1])


def test_prometheus_serves_the_snapshot_on_loopback_from_its_own_registry():
    from prometheus_client import REGISTRY

    m = EngineMetrics(30_000)
    for i in range(1, 101):
        m.on_bar(i * MS)
    m.on_trade_closed(50.0)
    m.set(state="ACTIVE", model_version="3", equity=27_000.0, position=2)
    exporter = PrometheusExporter(0)
    port = exporter.start()
    try:
        assert port > 0 and exporter.port == port
        exporter.update(m.snapshot(extra={"broadcast": {"sent": 9, "dropped": 1}}))
        text = _scrape(port)
        assert _value(text, "qt_engine_up") == 1
        assert _value(text, 'qt_engine_latency_ms{quantile="0.99"}') == pytest.approx(99.01)
        assert _value(text, "qt_engine_drawdown_ratio") == pytest.approx(0.10)
        assert _value(text, "qt_engine_win_rate") == 1.0 and _value(text, "qt_engine_position_contracts") == 2
        assert _value(text, "qt_engine_bars_total") == 100 and _value(text, "qt_engine_trades_total") == 1
        assert _value(text, "qt_engine_broadcast_dropped") == 1
        assert 'qt_engine_info{model_version="3",state="ACTIVE"} 1.0' in text
        assert REGISTRY.get_sample_value("qt_engine_up") is None  # the process-global registry is untouched
        m.on_bar(500 * MS)
        exporter.update(m.snapshot())
        assert _value(_scrape(port), "qt_engine_bars_total") == 101  # a scrape shows the latest update
    finally:
        exporter.close()
    with pytest.raises(urllib.error.URLError):
        _scrape(port)  # closed: the port is free again


def test_prometheus_on_a_port_in_use_is_one_line_naming_the_setting():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match=r"live\.service\.prometheus_port"):
            PrometheusExporter(port).start()
