"""``qtml monitor`` end to end: a real broadcast, the monitor as a subprocess, headless Chromium on its page."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from features.spec import FEATURE_NAMES
from live_engine.service.broadcast import Broadcaster, Message
from live_engine.service.monitor import MonitorState

ROOT = Path(__file__).resolve().parents[3]
QTML = Path(sys.executable).with_name("qtml")
CHROMIUM = Path("/usr/bin/chromium")
DOC_SHOT = ROOT / "docs" / "images" / "monitor.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    return {**os.environ, "QT_STORES__VAR_DIR": str(tmp_path / "var"), "QT_LIVE__ZMQ_PUB_ENDPOINT": endpoint,
            "DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def _metrics(position: int, pnl: float) -> dict[str, Any]:
    return {"state": "NORMAL", "model_version": "7", "pnl": pnl, "drawdown_pct": 0.0123, "equity": 100_000 + pnl,
            "position": position, "latency_ms": {"p50": 1.8, "p99": 4.2}, "trades": 3, "win_rate": 0.5}


def _bar(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    ts = 1_767_614_400_000_000_000 + i * 60_000_000_000
    feats: list[float | None] = [((j * 7 + i) % 11 - 5) / 5 for j in range(len(FEATURE_NAMES))]
    feats[FEATURE_NAMES.index("spread_ticks")] = 1.0 + i % 3
    feats[FEATURE_NAMES.index("book_imb_l1")] = ((i * 3) % 9 - 4) / 4
    feats[-1] = None
    decision = {"ts_ns": ts, "session": "2026-01-05", "direction": 1, "reason": "consensus", "action": "BUY",
                "denial": None, "state": "NORMAL", "position": 1, "band": "high", "model_version": "7",
                "close": 5_500.0 + 2.5 * (i % 7) + 0.5 * i,
                "votes": {"momentum": [0.6, 0.8], "mean_reversion": [-0.2, 0.4], "order_flow": [0.5, 0.7],
                          "volatility": [0.0, 0.3]},
                "weights": {"momentum": 0.31, "mean_reversion": 0.19, "order_flow": 0.3, "volatility": 0.2}}
    return {"ts_ns": ts, "session": "2026-01-05", "features": feats}, decision


def _snapshot(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/snapshot", timeout=2) as resp:
        return dict(json.load(resp))


@pytest.mark.slow
def test_the_monitor_page_shows_the_broadcast_live_in_headless_chromium(tmp_path: Path) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`"
    from playwright.sync_api import expect, sync_playwright

    port = _free_port()
    with Broadcaster(f"tcp://127.0.0.1:{_free_port()}", "20260105T120000Z-abc123") as pub:
        proc = subprocess.Popen([str(QTML), "monitor", "--port", str(port)], env=_env(tmp_path, pub.endpoint),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == f"ready: http://127.0.0.1:{port}", (line, proc.stderr and proc.stderr.read())
            # a SUB socket gets only what is published after it connected: repeat until the monitor has it
            deadline = time.monotonic() + 20
            while _snapshot(port)["latest"].get("metrics") is None:
                assert time.monotonic() < deadline, "the monitor never received the broadcast"
                pub.publish("metrics", _metrics(0, 0.0))
                time.sleep(0.1)
            for i in range(40):
                features, decision = _bar(i)
                pub.publish("features", features)
                pub.publish("signals", {"ts_ns": decision["ts_ns"], "p_down": 0.2, "p_flat": 0.3, "p_up": 0.5,
                                        "model_signal": 0.3, "agents_signal": 0.41, "combined": 0.37,
                                        "confidence": 0.66})
                pub.publish("decisions", decision)
            pub.publish("orders", {"client_id": "e1-000001", "ts_ns": decision["ts_ns"], "side": 1, "qty": 2,
                                   "kind": "market", "price": None, "tag": "entry", "status": "WORKING"})
            pub.publish("fills", {"fill_id": "f1", "client_id": "e1-000001", "ts_ns": decision["ts_ns"], "side": 1,
                                  "qty": 2, "price": 5_529.5, "fee": 1.2, "tag": "entry"})
            pub.publish("alerts", {"level": "WARNING", "code": "latency_high", "message": "p99 4.2 ms over 3 ms"})
            while len(_snapshot(port)["series"]) < 40 or not _snapshot(port)["alerts"]:
                assert time.monotonic() < deadline, _snapshot(port)
                time.sleep(0.05)

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                            args=["--no-sandbox", "--disable-background-networking"])
                try:
                    page = browser.new_page(viewport={"width": 1280, "height": 1000})
                    page.goto(f"http://127.0.0.1:{port}/")
                    expect(page.locator("#conn")).to_have_text("live")
                    expect(page.locator("#state")).to_have_text("NORMAL")
                    expect(page.locator("#model-version")).to_have_text("7")
                    expect(page.locator("#position")).to_have_text("0")
                    expect(page.locator("#alerts")).to_contain_text("latency_high")
                    expect(page.locator("#agents")).to_contain_text("momentum")
                    expect(page.locator("#agents")).to_contain_text("0.310")
                    expect(page.locator("#features")).to_contain_text("spread_ticks")
                    expect(page.locator("#signal")).to_contain_text("0.660")
                    expect(page.locator("#orders li")).to_have_count(2)
                    expect(page.locator("#orders")).to_contain_text("BUY 2 @ 5,529.5")
                    assert page.locator("#strip div").count() == len(FEATURE_NAMES)
                    # published after the page loaded: it arrives over the event stream
                    pub.publish("metrics", _metrics(2, 1234.5) | {"state": "REDUCED"})
                    pub.publish("alerts", {"level": "ERROR", "code": "drawdown_max", "message": "drawdown 11 %"})
                    expect(page.locator("#position")).to_have_text("2")
                    expect(page.locator("#pnl")).to_have_text("1,234.50")
                    expect(page.locator("#state")).to_have_text("REDUCED")
                    expect(page.locator("#alerts")).to_contain_text("drawdown_max")
                    expect(page.locator("#chart-note")).to_contain_text("40 bars")
                    # the chart drew something: the canvas is not blank
                    inked = page.evaluate("""() => { const c = document.getElementById('chart');
                        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
                    assert inked > 2000, inked
                    shot = tmp_path / "monitor.png"
                    page.screenshot(path=str(shot), full_page=True)
                finally:
                    browser.close()
            assert shot.stat().st_size > 30_000
            if os.environ.get("REFRESH_DOC_SCREENSHOTS"):  # refresh docs/images/monitor.png on request only
                DOC_SHOT.parent.mkdir(exist_ok=True)
                shutil.copyfile(shot, DOC_SHOT)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, (out, err)  # a requested stop is a clean exit


def test_binding_beyond_loopback_without_a_token_is_refused_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([str(QTML), "monitor", "--host", "0.0.0.0", "--port", str(_free_port())],
                          env=_env(tmp_path, "tcp://127.0.0.1:1"), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "0.0.0.0" in lines[0] and "--token" in lines[0], proc.stderr
    assert "ready" not in proc.stdout


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_with_a_token_every_data_request_must_carry_it_and_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    port, token = _free_port(), "s3cret-monitor-token"
    proc = subprocess.Popen([str(QTML), "monitor", "--host", "0.0.0.0", "--port", str(port), "--token", token],
                            env=_env(tmp_path, "tcp://127.0.0.1:1"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"ready: http://0.0.0.0:{port}"
        base = f"http://127.0.0.1:{port}"
        for path in ("/", "/api/snapshot", "/events"):
            assert _status(base + path) == 401, path
            assert _status(f"{base}{path}?token=wrong-token-123") == 401, path
        assert _status(f"{base}/api/snapshot?token={token}") == 200
        assert _status(f"{base}/api/snapshot", {"Authorization": f"Bearer {token}"}) == 200
        assert _status(f"{base}/?token={token}") == 200
        assert _status(f"{base}/static/monitor.js") == 200  # the script holds no data
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, (out, err)


def _msg(topic: str, seq: int, data: dict[str, Any], epoch: str = "e1", lost: int = 0,
         new_epoch: bool = False) -> Message:
    return Message(topic, seq, seq, epoch, 0, data, b"", lost=lost, new_epoch=new_epoch)


def test_a_bar_is_one_chart_point_from_its_features_and_its_decision_and_a_new_epoch_starts_a_new_chart() -> None:
    state = MonitorState(history=3)
    features, decision = _bar(0)
    state.apply(_msg("features", 1, features, new_epoch=True))
    event = state.apply(_msg("decisions", 2, decision))
    spread, imbalance = (features["features"][FEATURE_NAMES.index(n)] for n in ("spread_ticks", "book_imb_l1"))
    assert event["point"] == [features["ts_ns"], decision["close"], spread, imbalance]
    for i in range(1, 5):
        state.apply(_msg("features", 2 * i + 1, _bar(i)[0]))
    snap = state.snapshot()
    assert len(snap["series"]) == 3 and snap["series"][-1][1] is None  # bounded; a bar without decision has no close
    state.apply(_msg("alerts", 20, {"level": "ERROR", "code": "x"}, lost=2))
    assert state.snapshot()["lost"] == 2 and state.snapshot()["alerts"][0]["code"] == "x"
    state.apply(_msg("features", 1, _bar(9)[0], epoch="e2", new_epoch=True))
    snap = state.snapshot()
    assert snap["epoch"] == "e2" and len(snap["series"]) == 1 and snap["received"] == 8
