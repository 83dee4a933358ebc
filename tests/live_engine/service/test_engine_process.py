"""The engine as real processes: start, status, safe stop, SIGKILL and recovery, emergency stop, the
write-ahead order (RELIABILITY.md 1, 2, 3, 6, 10), and what the engine process imports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from engine_env import REPO, free_port, make_env

pytestmark = pytest.mark.slow

FORBIDDEN = ("prefect", "feast", "great_expectations", "training", "reports", "ops", "monitoring", "research")
# the settings object composes every section's declaration: these pydantic models are all of training it loads
SETTINGS_SECTIONS = {"training", "training.config", "training.promotion", "training.promotion.config",
                     "reports", "reports.config", "monitoring", "monitoring.config", "research",
                     "research.config", "research.study", "research.study.config"}


def _stop(env, p, timeout=60):
    os.killpg(p.pid, signal.SIGTERM)
    return p.wait(timeout)


def test_start_status_safe_stop_and_no_pipeline_imports(tmp_path):
    env = make_env(tmp_path)
    try:
        p = env.start("--feed", "replay", "--speed", "600")
        st = env.wait_status(lambda s: s["state"] != "WARMING" and s["bars"] > 3, what="bars after warm-up")
        assert st["model_version"] == "1" and st["feed"]["name"] == "replay"
        assert st["warmup"]["sessions_done"] == st["warmup"]["sessions"] >= 2
        assert st["state"] in ("ACTIVE", "DEGRADED", "REDUCING") and st["latency_ms"]["p50"] is not None
        from live_engine.service.control import default_endpoint, request

        mods = set(request(default_endpoint(env.var), "modules")["modules"])
        bad = sorted(m for m in mods - SETTINGS_SECTIONS if m.split(".")[0] in FORBIDDEN)
        assert not bad, f"the engine imported {bad}"
        assert {"zmq", "lightgbm", "features.streaming", "live_engine.service.engine"} <= mods
        import urllib.request

        env.wait_status(lambda s: (env.var / "metrics" / "current_metrics.json").exists(), what="a metrics file")
        with urllib.request.urlopen(st["prometheus"], timeout=5) as resp:  # the exporter, on loopback only
            assert st["prometheus"].startswith("http://127.0.0.1:") and b"qt_engine" in resp.read()
        out = env.qtml("engine", "status")
        assert out.returncode == 0 and "state" in out.stdout and "latency" in out.stdout, out.stderr
        assert _stop(env, p) == 0  # SIGTERM = safe stop, exit 0
        assert "safe stop" in (env.var / "logs" / "qt.jsonl").read_text()
        metrics = (env.var / "metrics" / "current_metrics.json").read_text()
        assert '"model_version"' in metrics and '"state"' in metrics
        j = env.journal()
        assert j.last_start() is not None
    finally:
        env.sigkill_all()


def test_status_and_stop_without_an_engine_say_so_in_one_line(tmp_path):
    env = make_env(tmp_path, sessions=1)
    for cmd in (["engine", "status"], ["engine", "stop"], ["engine", "emergency-stop"]):
        out = env.qtml(*cmd)
        assert out.returncode == 3, out
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "no engine is running" in lines[0], out.stderr


def _wait_position(env):
    return env.wait_status(lambda s: s["position"] != 0, timeout=240, what="an open position")


def test_sigkill_with_an_open_position_recovers_it_from_journal_and_venue(tmp_path):
    env = make_env(tmp_path)
    try:
        env.start("--feed", "replay", "--speed", "300")
        st = _wait_position(env)
        env.sigkill_all()  # supervisor and engine: no safe stop
        j = env.journal()
        orders_before = len(j.orders())
        saved = j.load_state()
        counters_before, resume = saved["core"]["risk"], int(saved["last_event_ns"])
        env.start("--feed", "replay", "--speed", "300")
        st2 = env.wait_status(lambda s: s["state"] != "WARMING", what="restart")
        assert st2["epoch"] != st["epoch"]
        from live_engine.journal.paper_venue import PaperVenueStore

        venue = PaperVenueStore.for_settings(env.settings).position()
        assert (st2["position"], round(st2["avg_price"], 6)) == (venue["qty"], round(venue["avg_price"], 6))
        assert st2["held"] is None, st2  # reconciled
        assert "unclean_stop" in (env.var / "logs" / "qt.jsonl").read_text()  # the recording may miss ~1 s
        j2 = env.journal()
        restored = j2.load_state()["core"]["risk"]
        assert restored["daily_entries"] >= counters_before["daily_entries"]  # RELIABILITY 6: counters kept
        # nothing was sent during recovery: every order after the kill comes from a bar after the restart
        new = [o for o in j2.orders() if o["epoch"] == st2["epoch"]]
        assert len(j2.orders()) >= orders_before and all(o["ts_ns"] > resume for o in new)
        ids = [o["client_id"] for o in j2.orders()]
        assert len(ids) == len(set(ids))
        fills = [f["fill_id"] for f in j2.fills()]
        assert len(fills) == len(set(fills))
    finally:
        env.sigkill_all()


@pytest.mark.parametrize("point", ["after_intent", "after_exchange"])
def test_sigkill_inside_the_write_ahead_order_never_duplicates_an_order(tmp_path, point):
    env = make_env(tmp_path)
    try:
        env.start("--feed", "replay", "--speed", "300", QT_ENGINE_TEST_PAUSE=point)
        deadline = time.monotonic() + 240
        while (f"engine paused at {point}" not in env.log() and time.monotonic() < deadline
               and env.procs[-1].poll() is None):
            time.sleep(0.2)
        assert f"engine paused at {point}" in env.log(), env.log()[-3000:]
        env.sigkill_all()
        j = env.journal()
        paused = j.orders()[-1]
        assert paused["status"] == "intent"
        env.start("--feed", "replay", "--speed", "300")
        env.wait_status(lambda s: s["state"] != "WARMING", what="restart")
        j2 = env.journal()
        again = {o["client_id"]: o for o in j2.orders()}[paused["client_id"]]
        from live_engine.journal.paper_venue import PaperVenueStore

        venue = PaperVenueStore.for_settings(env.settings)
        at_venue = {o["client_id"] for o in venue.orders()}
        if point == "after_intent":  # the exchange never saw it: unsent, never re-sent
            assert again["status"] == "unsent" and paused["client_id"] not in at_venue
        else:  # the exchange had it: found by its client order id, its fills applied once
            assert again["status"] != "intent" and paused["client_id"] in at_venue
            v_fills = {f["fill_id"] for f in venue.fills()}
            j_fills = [f["fill_id"] for f in j2.fills()]
            assert v_fills <= set(j_fills) and len(j_fills) == len(set(j_fills))
        ids = [o["client_id"] for o in j2.orders()]
        assert len(ids) == len(set(ids))
    finally:
        env.sigkill_all()


def test_emergency_stop_flattens_once_and_is_idempotent(tmp_path):
    env = make_env(tmp_path)
    try:
        p = env.start("--feed", "replay", "--speed", "120")
        _wait_position(env)
        out = env.qtml("engine", "emergency-stop")
        assert out.returncode == 0 and "emergency stop" in out.stdout, out.stderr
        st = env.wait_status(lambda s: s["position"] == 0, what="flat after the emergency stop")
        assert st["state"] == "HALTED" and "emergency" in (st["halted"] or "")
        n_orders = len(env.journal().orders())
        out2 = env.qtml("engine", "emergency-stop")
        assert out2.returncode == 0 and "already stopped" in out2.stdout
        time.sleep(2)
        assert len(env.journal().orders()) == n_orders  # nothing more sent
        assert env.wait_status(lambda s: True)["state"] == "HALTED"
        assert _stop(env, p) == 0
    finally:
        env.sigkill_all()


def test_detach_returns_once_the_engine_answers_and_stop_ends_it(tmp_path):
    env = make_env(tmp_path)
    try:
        out = env.qtml("engine", "start", "--feed", "sim", "--speed", "60", "--detach", timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "engine started" in out.stdout and "state" in out.stdout and "warm-up" in out.stdout
        pid = int((env.var / "run" / "engine.pid").read_text())
        again = env.qtml("engine", "start", "--detach")
        assert again.returncode == 2 and "already running" in again.stderr
        # another var dir (no pidfile to see) on the same journal: the journal's lock refuses it
        other = {**env.env, "QT_STORES__VAR_DIR": str(tmp_path / "other"),
                 "QT_STORES__JOURNAL_DB_URL": f"sqlite:///{env.var / 'journal' / 'paper.db'}",
                 "QT_LIVE__ZMQ_PUB_ENDPOINT": f"tcp://127.0.0.1:{free_port()}"}
        second = subprocess.run([sys.executable, "-m", "live_engine.service.main", "--feed", "sim"], cwd=REPO,
                                env=other, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "holds the journal" in second.stderr, second.stderr[-2000:]
        st = env.qtml("engine", "status", "--json")
        assert st.returncode == 0 and '"state"' in st.stdout
        stop = env.qtml("engine", "stop")
        assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stderr
        assert not (env.var / "run" / "engine.pid").exists()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        pid_file = env.var / "run" / "engine.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
