"""``qtml engine tail`` as a real subprocess against a real broadcast in the test."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from live_engine.service.broadcast import Broadcaster, Message
from live_engine.service.tail import format_line, parse_topics
from quantumtrader.errors import InputError

REPO = Path(__file__).resolve().parents[3]


def qtml(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "QT_STORES__VAR_DIR": str(tmp_path / "var"), "COLUMNS": "80"}
    return subprocess.Popen([sys.executable, "-m", "quantumtrader.cli", "engine", "tail", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def engine() -> Iterator[Broadcaster]:
    """A broadcast that keeps publishing every topic (an engine at work) until the test ends."""
    stop = threading.Event()
    b = Broadcaster("tcp://127.0.0.1:*", "tail-epoch", hwm=1000)

    def run() -> None:
        for i in itertools.count():
            if stop.is_set():
                return
            b.publish("fills", {"fill_id": f"F-{i}", "side": "buy", "qty": 1, "price": 5123.5})
            b.publish("metrics", {"state": "ACTIVE", "latency_ms": {"p50": 1.2, "p99": 3.4, "n": 10}, "pnl": 15.0})
            time.sleep(0.005)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield b
    finally:
        stop.set()
        thread.join()
        b.close()


def test_tail_count_json_prints_that_many_envelopes_and_exits_0(tmp_path, engine):
    proc = qtml(tmp_path, "--count", "5", "--json", "--endpoint", engine.endpoint)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 5
    envelopes = [json.loads(line) for line in lines]
    assert all(e["v"] == 1 and e["epoch"] == "tail-epoch" for e in envelopes)
    seqs = [e["seq"] for e in envelopes]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert "tail: engine epoch tail-epoch" in err and "5 received, 0 lost" in err


def test_tail_prints_one_readable_line_per_message_of_the_chosen_topics(tmp_path, engine):
    proc = qtml(tmp_path, "--topics", "fills", "--count", "3", "--endpoint", engine.endpoint)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert line.startswith("fills ") and "fill_id=F-" in line and "price=5124" in line
        assert len(line) <= 80


def test_ctrl_c_stops_tail_cleanly_with_exit_0(tmp_path, engine):
    proc = qtml(tmp_path, "--endpoint", engine.endpoint)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # it is following the broadcast
    assert first.startswith(("fills", "metrics"))
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "received" in err


def test_an_unknown_topic_is_one_line_exit_2(tmp_path):
    proc = qtml(tmp_path, "--topics", "fills,ticks", "--count", "1")
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "ticks" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_parse_topics_and_the_line_format():
    assert parse_topics(None) == parse_topics("") == ("features", "signals", "decisions", "orders", "fills",
                                                      "metrics", "alerts")
    assert parse_topics("fills, orders,fills") == ("fills", "orders")
    with pytest.raises(InputError, match="trades"):
        parse_topics("trades")
    msg = Message("metrics", 12, 3, "e", 0, {"state": "ACTIVE", "latency_ms": {"p50": 1.25, "p99": 9.5, "n": 7},
                                             "win_rate": None, "series": [1, 2]}, b"")
    assert format_line(msg) == "metrics   #12     state=ACTIVE latency_ms=1.25/9.5 win_rate=n/a"
