"""RELIABILITY 12 at the ingress: bad ticks and malformed messages over a real socket are dropped and counted,
never crash the feed, and the good events between them arrive in order."""

from __future__ import annotations

import random
import time
from dataclasses import replace

import zmq

from live_engine.feeds.events import Book, Trade
from live_engine.feeds.wire import encode_book, encode_trade
from live_engine.feeds.zmq_ingress import ZmqIngressFeed

T0 = 1_767_614_400_000_000_000
GOOD = Trade(T0, "WDO", 0, 5250.0, 1, 2, 3, 85)
BAD = [replace(GOOD, price=-1.0), replace(GOOD, price=0.0), replace(GOOD, qty=0),
       replace(GOOD, trade_type=99), replace(GOOD, symbol="WIN")]
CROSSED = Book(T0, "WDO", [5251.0] * 5 + [1.0] * 5 + [5250.0] * 5 + [1.0] * 5)


def test_a_flood_of_garbage_and_bad_ticks_is_counted_and_the_good_prints_still_arrive_in_order():
    rng = random.Random(12)
    feed = ZmqIngressFeed("tcp://127.0.0.1:0", symbol="WDO")
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(feed.bound)
    sent_good, n_garbage, n_bad, seq = [], 0, 0, 0
    try:
        for i in range(1, 3001):
            kind = rng.random()
            if kind < 0.4:  # random frames: any count, any bytes (a topic that parses is rare and still bad)
                push.send_multipart([rng.randbytes(rng.randint(0, 40)) for _ in range(rng.randint(1, 3))])
                n_garbage += 1
                continue
            seq += 1
            if kind < 0.6:
                ev = replace(rng.choice(BAD), ts_ns=T0 + i * 1_000_000, trade_id=i)
                push.send_multipart(encode_trade(ev, pub="flood", seq=seq))
                n_bad += 1
            elif kind < 0.65:
                push.send_multipart(encode_book(replace(CROSSED, ts_ns=T0 + i * 1_000_000), pub="flood", seq=seq))
                n_bad += 1
            else:
                ev = replace(GOOD, ts_ns=T0 + i * 1_000_000, trade_id=i)
                push.send_multipart(encode_trade(ev, pub="flood", seq=seq))
                sent_good.append(ev)
        push.send_multipart(encode_trade(replace(GOOD, price=float("nan"), trade_id=0), pub="flood", seq=seq + 1))
        n_garbage += 1  # JSON has no NaN: encoded as null, a wrong type (malformed), still in the sequence
        got: list = []
        end = time.monotonic() + 20
        while feed.stats.received < 3000 and time.monotonic() < end:
            got.extend(feed.poll(0.05))
        st = feed.stats
        assert got == sent_good
        assert (st.received, st.malformed, st.bad_ticks, st.trades, st.gaps) == (3001, n_garbage, n_bad,
                                                                                 len(sent_good), 0)
        assert sum(st.reasons.values()) == n_garbage + n_bad
    finally:
        push.close(0)
        feed.close()
