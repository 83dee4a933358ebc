"""The replay and sim feeds: the backtest's order, the pace, the days they play, determinism by seed."""

from __future__ import annotations

import math
import time
from datetime import date

import pandas as pd
import pytest

from live_engine.backtest.replay import SessionData, _play, load_lake_sessions
from live_engine.feeds.events import Book, Trade
from live_engine.feeds.paced import PacedFeed
from live_engine.feeds.replay import ReplayFeed
from live_engine.feeds.sim import SimFeed
from live_engine.feeds.tape import Tape
from market.calendar import is_trading_day
from market.lake import Lake
from market.simulator import simulate, simulate_session
from quantumtrader.errors import InputError

DAYS = [date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)]


@pytest.fixture
def lake_settings(settings):
    lake = Lake(settings.lake_root)
    for k, s in enumerate(simulate(3, DAYS[0], seed=3, trades_per_session=600)):
        lake.write_day("trades", "WDO", s.day, s.trades)
        if k != 1:  # the middle day is trades-only, as a ProfitDLL history
            lake.write_day("book", "WDO", s.day, s.book)
    return settings


def drain(feed, timeout_s: float = 0.05) -> list:
    out = []
    while not feed.exhausted:
        out.extend(feed.poll(timeout_s))
    return out


def as_rows(events) -> list[tuple]:
    """Events as the backtest's callbacks see them (no trade id on that path)."""
    rows = []
    for e in events:
        if isinstance(e, Trade):
            rows.append(("T", e.ts_ns, e.price, e.qty, e.trade_type, e.buyer, e.seller))
        else:
            rows.append(("B", e.ts_ns, tuple(-1.0 if math.isnan(x) else x for x in e.levels)))
    return rows


def backtest_order(s: SessionData) -> list[tuple]:
    rows: list[tuple] = []

    def e_trade(ts, px, q, tt, b, sl):
        rows.append(("T", ts, px, q, tt, b, sl))
        return 0

    def e_book(ts, lv):
        rows.append(("B", ts, tuple(-1.0 if math.isnan(x) else x for x in lv)))
        return 0

    _play(s, e_trade, e_book, lambda *a: None, lambda *a: None)
    return rows


def test_the_replay_feed_plays_lake_days_in_the_backtests_merged_order(lake_settings):
    feed = ReplayFeed(lake_settings, sessions=3, speed=0)
    events = drain(feed)
    expected = [row for s in load_lake_sessions(lake_settings, 3) for row in backtest_order(s)]
    assert feed.days == DAYS
    assert as_rows(events) == expected and len(expected) == 600 * 3 + 600 * 2
    assert feed.stats.trades == 1800 and feed.stats.books == 1200 and feed.stats.bad_ticks == 0
    assert [e.trade_id for e in events if isinstance(e, Trade)][:600] == sorted(
        Lake(lake_settings.lake_root).read_day("trades", "WDO", DAYS[0])["trade_id"])


def test_the_replay_feed_defaults_to_the_last_configured_sessions_and_names_missing_days(lake_settings):
    assert ReplayFeed(lake_settings, speed=0).days == [DAYS[-1]]  # live.feeds.replay_sessions = 1
    with pytest.raises(InputError, match="2027-01-04"):
        ReplayFeed(lake_settings, sessions=[date(2027, 1, 4)])


def test_equal_timestamps_play_trades_before_the_book_snapshot():
    ts = pd.to_datetime([0, 0, 1], unit="ms", utc=True)
    trades = pd.DataFrame({"ts": ts, "trade_id": [1, 2, 3], "price": [10.0, 10.5, 10.0], "qty": [1, 1, 1],
                           "trade_type": [2, 2, 3], "buyer": [1, 1, 1], "seller": [2, 2, 2]})
    cols = {c: [1.0, 1.0] for c in ("bid_px_1", "ask_px_1")}
    lv = pd.DataFrame({"ts": pd.to_datetime([0, 1], unit="ms", utc=True)})
    from live_engine.feeds.tape import BOOK_COLS
    for c in BOOK_COLS:
        lv[c] = cols.get(c, [float("nan")] * 2)
    kinds = ["T" if isinstance(e, Trade) else "B" for e in Tape.of(trades, lv).events("X")]
    assert kinds == ["T", "T", "B", "T", "B"]


def _synthetic_tapes(n_sessions: int, span_s: float, n: int) -> list[Tape]:
    tapes = []
    for k in range(n_sessions):
        base = pd.Timestamp("2026-01-05 12:00", tz="UTC") + pd.Timedelta(days=k)
        ts = [base + pd.Timedelta(seconds=span_s * i / (n - 1)) for i in range(n)]
        tapes.append(Tape.of(pd.DataFrame({"ts": ts, "trade_id": range(n), "price": 10.0, "qty": 1, "trade_type": 2,
                                           "buyer": 1, "seller": 2}), None))
    return tapes


def test_at_speed_100_events_are_released_on_their_event_time_and_the_overnight_gap_is_skipped():
    feed = PacedFeed("t", _synthetic_tapes(2, 30.0, 31), "X", 100.0)  # 2 x 30 s of tape = 0.6 s at 100x
    day_ns = 86_400 * 10**9
    t0 = time.monotonic()
    lags = []
    while not feed.exhausted:
        for e in feed.poll(0.05):
            now = time.monotonic()
            k, in_session = divmod(e.ts_ns - _synthetic_tapes(1, 30.0, 31)[0].ts[0], day_ns)
            tape_s = k * 30.0 + in_session / 1e9  # session k starts where session k-1 ended
            lags.append(now - t0 - tape_s / 100)
    wall = time.monotonic() - t0
    assert len(lags) == 62
    assert 0.58 <= wall <= 0.9, wall  # not 864 s of overnight gap at 100x
    assert min(lags) >= -0.002 and max(lags) < 0.1, (min(lags), max(lags))  # never early, never far late


def test_poll_never_blocks_longer_than_its_timeout():
    feed = PacedFeed("t", _synthetic_tapes(1, 100.0, 2), "X", 1.0)  # the 2nd print is due in 100 s
    assert len(feed.poll(0.01)) == 1
    t0 = time.monotonic()
    assert feed.poll(0.05) == []
    assert 0.04 <= time.monotonic() - t0 < 0.2 and not feed.exhausted


def test_the_sim_feed_plays_the_trading_days_after_the_lake_chained_on_its_close(lake_settings):
    feed = SimFeed(lake_settings, sessions=3, seed=5, speed=0)
    assert feed.days[0] > DAYS[-1] and all(is_trading_day(d) for d in feed.days) and len(feed.days) == 3
    last = Lake(lake_settings.lake_root).read_day("trades", "WDO", DAYS[-1]).sort_values("ts")
    assert feed.prev_close == float(last["price"].iloc[-1])
    events = drain(feed)
    n = lake_settings.market.simulator.trades_per_session
    first = simulate_session(feed.days[0], seed=5, trades_per_session=n,
                             planted_strength=lake_settings.market.simulator.planted_strength,
                             prev_close=feed.prev_close)
    expected = as_rows(Tape.of(first.trades, first.book).events("WDO"))
    assert as_rows(events[: len(expected)]) == expected  # what the backtest of that session would see
    assert feed.stats.trades == 3 * n and feed.stats.bad_ticks == 0


def test_the_sim_feed_is_deterministic_by_seed(lake_settings):
    a = drain(SimFeed(lake_settings, sessions=1, seed=5, speed=0))
    b = drain(SimFeed(lake_settings, sessions=1, seed=5, speed=0))
    c = drain(SimFeed(lake_settings, sessions=1, seed=6, speed=0))
    assert as_rows(a) == as_rows(b) and as_rows(a) != as_rows(c)
    assert sum(isinstance(e, Book) for e in a) == sum(isinstance(e, Trade) for e in a)


def test_the_sim_feed_starts_today_or_after_on_an_empty_lake(settings):
    feed = SimFeed(settings, sessions=1, seed=1, speed=0)
    assert feed.prev_close is None and feed.days[0] >= date.today() and is_trading_day(feed.days[0])
