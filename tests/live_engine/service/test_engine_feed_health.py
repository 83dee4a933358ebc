"""The engine on its ZMQ ingress, as real processes (RELIABILITY.md 12, 13, 21): a stale feed stops new
entries and raises connection_lost until data returns; bad messages are dropped and counted and N in a
row halt trading; every broadcast carries the engine's epoch and a gap-free sequence."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import zmq
from engine_env import make_env

from live_engine.feeds.events import Trade
from live_engine.feeds.wire import encode_trade
from live_engine.service.broadcast import Subscriber
from market.lake import Lake

pytestmark = pytest.mark.slow

DAY_NS = int(datetime(2026, 1, 9, 13, 0, tzinfo=UTC).timestamp() * 1e9)  # 10:00 in São Paulo, after the lake


def _push(endpoint: str) -> zmq.Socket:
    s = zmq.Context.instance().socket(zmq.PUSH)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    return s


def test_stale_feed_bad_messages_and_the_broadcast_sequence(tmp_path):
    env = make_env(tmp_path, QT_LIVE__FEEDS__STALE_AFTER_S="2", QT_LIVE__FEEDS__MAX_CONSECUTIVE_BAD="5",
                   QT_LIVE__FEEDS__SPEED="1")
    try:
        env.start("--feed", "zmq")
        env.wait_status(lambda s: s["state"] != "WARMING", what="warm-up")
        sub = Subscriber(env.env["QT_LIVE__ZMQ_PUB_ENDPOINT"], ["decisions", "alerts", "metrics"])
        push = _push(env.env["QT_LIVE__FEEDS__INGRESS_ENDPOINT"])
        lake = Lake(env.settings.lake_root)
        seq, px = 0, float(lake.read_day("trades", "WDO", lake.days("trades", "WDO")[-1])["price"].iloc[-1])
        for i in range(120):  # prints from 10:00:00 to 10:01:59 São Paulo, one a second, all sent at once
            seq += 1
            push.send_multipart(encode_trade(Trade(DAY_NS + i * 1_000_000_000, "WDO", 10_000 + i, px + (i % 3) * 0.5,
                                                   1, 2, 10, 20), pub="test", seq=seq))
        sent_at = time.monotonic()
        # the feed counts a print when it arrives, the bar counter moves once the engine has processed the
        # 10:01:00 print that closes the 10:00 bar: status may be read between the two, so wait for both
        st = env.wait_status(lambda s: s["feed"]["trades"] >= 120 and s["bars"] >= 1, what="120 prints and a bar")
        assert st["feed"]["gaps"] == 0 and st["feed"]["malformed"] == 0
        # no print closes the 10:01 bar: the real-time bar timer decides it ~1.5 s later (its close + grace)
        st = env.wait_status(lambda s: (s["last_bar"] or {}).get("ts_ns") == DAY_NS + 120 * 1_000_000_000,
                             timeout=20, what="the quiet bar decided by the timer")
        st = env.wait_status(lambda s: s["feed"]["stale"], timeout=30, what="stale after 2 s without data")
        assert st["state"] != "HALTED", (st["halted"], st["held"], st["feed"])  # stale stops entries, it does not halt
        seq += 1
        now_ns = DAY_NS + 119 * 1_000_000_000 + int((time.monotonic() - sent_at) * 1e9)  # the feed's "now"
        push.send_multipart(encode_trade(Trade(now_ns, "WDO", 20_000, px, 1, 2, 10, 20), pub="test", seq=seq))
        env.wait_status(lambda s: not s["feed"]["stale"], timeout=30, what="fresh data clears stale")
        for _ in range(5):  # five malformed messages in a row halt trading
            push.send_multipart([b"qt.v1.trade", b"{not json"])
        st = env.wait_status(lambda s: s["state"] == "HALTED", timeout=30, what="halt after 5 bad messages")
        assert st["feed"]["malformed"] == 5 and "bad" in st["halted"]
        time.sleep(6)  # a metrics tick publishes on the broadcast
        msgs = []
        while (m := sub.recv(timeout_ms=500)) is not None:
            msgs.append(m)
        assert {m.topic for m in msgs} >= {"alerts", "metrics"}
        assert {m.epoch for m in msgs} == {st["epoch"]} and sub.stats.lost == 0
        decisions = [m.data for m in msgs if m.topic == "decisions"]  # with the agents' votes, weights, close
        assert decisions and all(len(d["votes"]) == 4 and set(d["weights"]) == set(d["votes"])
                                 and px <= d["close"] <= px + 1 for d in decisions), decisions
        codes = [m.data.get("code") for m in msgs if m.topic == "alerts"]
        assert "connection_lost" in codes and "trading_halted" in codes, codes
        log = (env.var / "logs" / "qt.jsonl").read_text()
        assert "connection_lost" in log and "trading_halted" in log
    finally:
        env.sigkill_all()
