"""The ZMQ ingress over real sockets: ``qtml feed publish`` in a subprocess into the test's ingress; malformed
messages from a raw PUSH socket counted and dropped; gaps counted; non-loopback binds refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import zmq

from live_engine.feeds.events import Trade
from live_engine.feeds.replay import ReplayFeed
from live_engine.feeds.wire import encode_heartbeat, encode_trade
from live_engine.feeds.zmq_ingress import ZmqIngressFeed, check_bind_endpoint
from market.lake import Lake
from market.simulator import simulate
from quantumtrader.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
T0 = 1_767_618_000_000_000_000


@pytest.fixture
def ingress():
    feed = ZmqIngressFeed("tcp://127.0.0.1:0", symbol="WDO")
    yield feed
    feed.close()


@pytest.fixture
def push(ingress):
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(ingress.bound)
    yield sock
    sock.close(0)


def collect(feed, n_messages: int, timeout_s: float = 20.0) -> list:
    """Poll until ``n_messages`` were handled (events, drops and heartbeats) or the timeout."""
    out: list = []
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        out.extend(feed.poll(0.05))
        if feed.stats.received + feed.stats.heartbeats >= n_messages:
            break
    return out


def trade(i: int, **kw) -> Trade:
    return Trade(**{"ts_ns": T0 + i * 1_000_000, "symbol": "WDO", "trade_id": i, "price": 5250.0, "qty": 1,
                    "trade_type": 2, "buyer": 1, "seller": 2, **kw})


def test_qtml_feed_publish_delivers_every_lake_event_in_order_with_no_gap(settings, ingress):
    lake = Lake(settings.lake_root)
    for s in simulate(2, date(2026, 1, 5), seed=4, trades_per_session=1500):
        lake.write_day("trades", "WDO", s.day, s.trades)
        lake.write_day("book", "WDO", s.day, s.book)
    env = {**os.environ, "QT_ROOT": str(settings.root), "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "quantumtrader.cli", "feed", "publish", "--sessions", "2",
                             "--speed", "0", "--endpoint", ingress.bound, "--pub", "test-pub"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = collect(ingress, 6000 + 1)  # 3000 trades + 3000 snapshots + the closing heartbeat
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    expected = [e for e in _drain(ReplayFeed(settings, sessions=2, speed=0))]
    assert [(type(e).__name__, e.ts_ns) for e in events] == [(type(e).__name__, e.ts_ns) for e in expected]
    assert [e for e in events if isinstance(e, Trade)] == [e for e in expected if isinstance(e, Trade)]
    st = ingress.stats
    assert (st.trades, st.books, st.malformed, st.bad_ticks, st.gaps, st.heartbeats) == (3000, 3000, 0, 0, 0, 1)
    assert ingress.last_seq == {"test-pub": 6001}
    assert "published 6,001 messages (3,000 trades, 3,000 book snapshots, 1 heartbeats) of 2 sessions" in out
    assert "msg/s" in out and "sessions sent" in err


def _drain(feed) -> list:
    out = []
    while not feed.exhausted:
        out.extend(feed.poll(0.05))
    return out


def test_malformed_and_bad_messages_are_counted_and_dropped_and_good_ones_after_still_arrive(ingress, push):
    push.send_multipart(encode_trade(trade(1), pub="raw", seq=1))
    push.send_multipart([b"qt.v1.trade", b"{not json"])
    push.send_multipart([b"qt.v2.trade", b"{}"])
    push.send_multipart([b"only one frame"])
    push.send_multipart(encode_trade(trade(2, price=-1.0), pub="raw", seq=2))  # a bad tick
    push.send_multipart(encode_trade(trade(1), pub="raw", seq=3))  # duplicate trade id
    push.send_multipart(encode_trade(trade(3), pub="raw", seq=4))
    push.send_multipart(encode_heartbeat(T0, pub="raw", seq=5))
    events = collect(ingress, 8)
    assert [e.trade_id for e in events] == [1, 3]
    st = ingress.stats
    assert (st.received, st.malformed, st.bad_ticks, st.trades, st.gaps, st.heartbeats) == (7, 3, 2, 2, 0, 1)
    assert st.consecutive_bad == 0 and st.last_heartbeat_ns > 0
    assert st.reasons == {"malformed:not_json": 1, "malformed:unsupported_version": 1, "malformed:frame_count": 1,
                          "price_out_of_range": 1, "duplicate_trade_id": 1}


def test_lost_messages_show_as_gaps_per_publisher_and_bad_ones_in_a_row_accumulate(ingress, push):
    for seq in (1, 2, 5, 6):  # 3 and 4 never sent
        push.send_multipart(encode_trade(trade(seq), pub="a", seq=seq))
    push.send_multipart(encode_trade(trade(100), pub="b", seq=10))  # another publisher: its own sequence
    for _ in range(3):
        push.send_multipart([b"qt.v1.trade", b"garbage"])
    collect(ingress, 8)
    assert ingress.stats.gaps == 2 and ingress.last_seq == {"a": 6, "b": 10}
    assert ingress.stats.consecutive_bad == 3  # the engine halts when this reaches live.feeds.max_consecutive_bad


def test_poll_waits_at_most_its_timeout_when_nothing_comes(ingress):
    t0 = time.monotonic()
    assert ingress.poll(0.05) == []
    assert 0.04 <= time.monotonic() - t0 < 0.3


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:5560", "tcp://*:5560", "tcp://192.168.1.5:5560"])
def test_a_non_loopback_bind_is_refused_unless_allowed(endpoint):
    with pytest.raises(ConfigError, match="ingress_allow_any_interface"):
        check_bind_endpoint(endpoint)
    check_bind_endpoint(endpoint, allow_any_interface=True)


def test_a_taken_port_is_one_config_error(ingress):
    with pytest.raises(ConfigError, match="cannot bind"):
        ZmqIngressFeed(ingress.bound)


def test_publishing_to_nobody_fails_in_the_flush_timeout_with_one_clear_error(settings):
    from live_engine.feeds.publish import publish
    from quantumtrader.errors import TransientError

    lake = Lake(settings.lake_root)
    for s in simulate(1, date(2026, 1, 5), seed=4, trades_per_session=200):
        lake.write_day("trades", "WDO", s.day, s.trades)
    probe = ZmqIngressFeed("tcp://127.0.0.1:0")
    free = probe.bound
    probe.close()  # a port nobody listens on
    t0 = time.monotonic()
    with pytest.raises(TransientError, match="no ingress at"):
        publish(settings, sessions=1, speed=0, endpoint=free, flush_timeout_s=0.5)
    assert time.monotonic() - t0 < 5


def test_an_empty_lake_is_one_line_exit_2(settings):
    proc = subprocess.run([sys.executable, "-m", "quantumtrader.cli", "feed", "publish", "--endpoint",
                           "tcp://127.0.0.1:1"], cwd=REPO, env={**os.environ, "QT_ROOT": str(settings.root)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no trades for WDO in the lake" in errors[0], proc.stderr
