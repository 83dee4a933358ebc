"""Bars from trades, checked against a hand-computed example (two WDO sessions, 09:00-18:00 SP = 12:00-21:00 UTC)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from market.bars import BarSpec, build_bars
from market.schemas import BAR_SCHEMA, BOOK_COLUMNS
from quantumtrader.errors import InputError, SchemaError

D1, D2 = "2020-01-06", "2020-01-07"  # Monday, Tuesday (09:00-18:00 in the hours table)

# (utc time, price, qty, buyer, seller, trade type)
TAPE = [
    (f"{D1} 12:00:00", 4990.0, 7, 1, 2, 2),  # t0 exactly at the open (opening auction): in bar 1
    (f"{D1} 12:00:10", 5000.0, 2, 10, 20, 2),  # t1
    (f"{D1} 12:00:30", 5000.5, 12, 11, 20, 2),  # t2 (large buy)
    (f"{D1} 12:01:00", 4999.5, 1, 11, 21, 3),  # t3 exactly at the first close: in bar 1
    (f"{D1} 12:02:30", 5001.0, 5, 10, 22, 1),  # t4 cross: unsigned
    (f"{D1} 12:04:10", 5002.0, 3, 12, 10, 3),  # t5
    (f"{D1} 12:04:10", 5001.5, 10, 12, 21, 3),  # t6 same ts as t5 (large sell)
    (f"{D1} 20:59:59", 5003.0, 1, 10, 20, 2),  # t7 last bar of day 1
    (f"{D1} 21:00:05", 5005.0, 1, 10, 20, 2),  # after the close: in no bar
    (f"{D2} 12:00:45", 5010.0, 4, 20, 10, 2),  # t8 first bar of day 2
    (f"{D2} 12:01:20", 5009.5, 2, 21, 11, 3),  # t9
]


def _trades() -> pd.DataFrame:
    rows = [
        {"ts": pd.Timestamp(ts, tz="UTC"), "symbol": "WDO", "trade_id": i, "price": p, "qty": q,
         "fin_volume": p * q * 10.0, "buyer": b, "seller": s, "trade_type": tt}
        for i, (ts, p, q, b, s, tt) in enumerate(TAPE)
    ]
    return pd.DataFrame(rows)


def _book() -> pd.DataFrame:
    def snap(ts: str, bid: float, bq: int, aq: int) -> dict[str, object]:
        row: dict[str, object] = {"ts": pd.Timestamp(ts, tz="UTC"), "symbol": "WDO"}
        for i in range(1, 6):
            row[f"bid_px_{i}"] = bid - 0.5 * (i - 1)
            row[f"ask_px_{i}"] = bid + 0.5 * i
            row[f"bid_qty_{i}"] = bq
            row[f"ask_qty_{i}"] = aq
        return row

    return pd.DataFrame([snap(f"{D1} 12:00:50", 5000.0, 5, 7), snap(f"{D1} 12:04:00", 5001.0, 3, 9)])


def _ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


@pytest.fixture(scope="module")
def time_bars() -> pd.DataFrame:
    return build_bars(_trades(), _book(), spec="time:60s", symbol="WDO", large_trade_qty=10)


def test_time_bars_cover_every_session_with_a_full_grid(time_bars: pd.DataFrame) -> None:
    assert list(time_bars.columns) == list(BAR_SCHEMA)
    assert len(time_bars) == 2 * 540
    assert time_bars.index[0] == _ts(f"{D1} 12:01:00")
    assert time_bars.index[539] == _ts(f"{D1} 21:00:00")
    assert time_bars.index[540] == _ts(f"{D2} 12:01:00")
    assert time_bars.index.is_monotonic_increasing and time_bars.index.is_unique
    assert list(time_bars["session"].unique()) == [D1, D2]
    assert time_bars["n_trades"].sum() == 10  # only the trade after the close is in no bar
    assert time_bars.attrs["n_outside_session"] == 1


def test_first_time_bar_matches_hand_computation(time_bars: pd.DataFrame) -> None:
    b = time_bars.iloc[0]
    # [open, 12:01]: t0 at the open, t1, t2 and t3 at the bar's close
    assert (b.open, b.high, b.low, b.close, b.first_price) == (4990.0, 5000.5, 4990.0, 4999.5, 4990.0)
    assert (b.volume, b.n_trades, b.buy_vol, b.sell_vol, b.n_buy_trades, b.n_sell_trades) == (22, 4, 21, 1, 3, 1)
    assert b.notional == pytest.approx((4990.0 * 7 + 5000.0 * 2 + 5000.5 * 12 + 4999.5) * 10)
    assert b.pq_sum == pytest.approx(4990.0 * 7 + 5000.0 * 2 + 5000.5 * 12 + 4999.5)
    assert (b.large_buy_qty, b.large_sell_qty) == (12, 0)
    assert (b.buyer_switches, b.first_buyer, b.last_buyer) == (2, 1, 11)
    assert (b.n_unknown_side, b.n_unknown_broker) == (0, 0)
    assert b.open_ts == _ts(f"{D1} 12:00:00") and b.duration_s == 60.0
    assert list(b.broker_ids) == [1, 2, 10, 11, 20, 21]
    assert list(b.broker_bought) == [7, 0, 2, 13, 0, 0]
    assert list(b.broker_sold) == [0, 7, 0, 0, 14, 1]
    assert list(b.broker_aggr_buy) == [7, 0, 2, 12, 0, 0]
    assert list(b.broker_aggr_sell) == [0, 0, 0, 0, 0, 1]
    # book at close: the 12:00:50 snapshot
    assert (b.bid_px_1, b.ask_px_1, b.bid_qty_1, b.ask_qty_5) == (5000.0, 5000.5, 5.0, 7.0)


def test_empty_bar_carries_the_previous_close(time_bars: pd.DataFrame) -> None:
    b = time_bars.iloc[1]  # (12:01, 12:02]: no trade
    assert (b.open, b.high, b.low, b.close) == (4999.5,) * 4
    assert (b.volume, b.n_trades, b.first_buyer, b.last_buyer) == (0, 0, -1, -1)
    assert math.isnan(b.first_price)
    assert list(b.broker_ids) == [] and b.open_ts == _ts(f"{D1} 12:01:00")


def test_cross_trade_counts_in_volume_but_not_in_flow(time_bars: pd.DataFrame) -> None:
    b = time_bars.iloc[2]  # (12:02, 12:03]: t4
    assert (b.volume, b.buy_vol, b.sell_vol, b.n_buy_trades, b.n_sell_trades) == (5, 0, 0, 0, 0)
    assert list(b.broker_ids) == [10, 22] and list(b.broker_bought) == [5, 0] and list(b.broker_sold) == [0, 5]
    assert list(b.broker_aggr_buy) == [0, 0] and list(b.broker_aggr_sell) == [0, 0]


def test_same_timestamp_trades_share_a_bar_and_the_later_book(time_bars: pd.DataFrame) -> None:
    b = time_bars.iloc[4]  # (12:04, 12:05]: t5, t6
    assert (b.open, b.high, b.low, b.close) == (5002.0, 5002.0, 5001.5, 5001.5)
    assert (b.volume, b.sell_vol, b.n_sell_trades, b.large_sell_qty, b.buyer_switches) == (13, 13, 2, 10, 0)
    assert list(b.broker_ids) == [10, 12, 21]
    assert list(b.broker_aggr_sell) == [3, 0, 10]
    assert (b.bid_px_1, b.bid_qty_1) == (5001.0, 3.0)


def test_session_boundary_keeps_the_close_and_the_book(time_bars: pd.DataFrame) -> None:
    last = time_bars.iloc[539]
    assert (last.close, last.volume, last.duration_s) == (5003.0, 1, 60.0)
    gap = time_bars.iloc[538]
    assert (gap.close, gap.volume) == (5001.5, 0)
    first = time_bars.iloc[540]
    assert first.open_ts == _ts(f"{D2} 12:00:00") and first.session_open_ts == _ts(f"{D2} 12:00:00")
    assert first.session_close_ts == _ts(f"{D2} 21:00:00")
    assert (first.open, first.close, first.volume, first.buy_vol) == (5010.0, 5010.0, 4, 4)
    assert first.bid_px_1 == 5001.0  # snapshot from the previous session


def test_bars_before_the_first_book_snapshot_have_nan_book() -> None:
    bars = build_bars(_trades(), _book().iloc[1:], spec="time:60s", symbol="WDO", large_trade_qty=10)
    assert bars.iloc[:3][BOOK_COLUMNS].isna().all().all()
    assert not bars.iloc[3][BOOK_COLUMNS].isna().any()  # snapshot at 12:04:00 = the bar's close: ts <= close


def test_bars_without_book_have_nan_book_columns() -> None:
    bars = build_bars(_trades(), None, spec="time:60s", symbol="WDO", large_trade_qty=10)
    assert bars[BOOK_COLUMNS].isna().all().all()


def test_volume_bars_close_at_the_trade_reaching_the_size() -> None:
    bars = build_bars(_trades(), _book(), spec="volume:10", symbol="WDO", large_trade_qty=10)
    assert list(bars.index) == [_ts(f"{D1} 12:00:30"), _ts(f"{D1} 12:04:10"), _ts(f"{D1} 20:59:59"),
                                _ts(f"{D2} 12:01:20")]
    assert list(bars["volume"]) == [21, 19, 1, 6]  # the first bar starts with the print at the open
    assert list(bars["n_trades"]) == [3, 4, 1, 2]
    assert list(bars["duration_s"]) == [30.0, 220.0, (20 * 3600 + 59 * 60 + 59) - (12 * 3600 + 4 * 60 + 10), 80.0]
    assert list(bars["session"]) == [D1, D1, D1, D2]


def test_volume_bar_takes_trades_with_the_closing_timestamp() -> None:
    bars = build_bars(_trades(), None, spec="volume:3", symbol="WDO", large_trade_qty=10)
    # t0 alone at the open (7), t1+t2 (14), t3+t4 (6), t5 reaches 3 but t6 has the same ts and joins: (13),
    # t7 partial; day 2 t8 (4), t9 (2)
    assert list(bars["volume"]) == [7, 14, 6, 13, 1, 4, 2]
    assert bars.index.is_unique
    first = bars.iloc[0]  # a bar closing at the session open: zero duration, still in the session
    assert bars.index[0] == _ts(f"{D1} 12:00:00") and first.open_ts == first.session_open_ts
    assert first.duration_s == 0.0


def test_tick_bars_count_trades_and_never_span_sessions() -> None:
    bars = build_bars(_trades(), None, spec="tick:4", symbol="WDO", large_trade_qty=10)
    assert list(bars["n_trades"]) == [4, 4, 2]
    assert list(bars.index) == [_ts(f"{D1} 12:01:00"), _ts(f"{D1} 20:59:59"), _ts(f"{D2} 12:01:20")]
    bars6 = build_bars(_trades(), None, spec="tick:6", symbol="WDO", large_trade_qty=10)
    assert list(bars6["n_trades"]) == [7, 1, 2]  # t5 closes the bar, t6 (same ts) joins it


def test_unsorted_trades_give_the_same_bars_as_sorted_ones(time_bars: pd.DataFrame) -> None:
    shuffled = _trades().iloc[::-1]
    # reversing also reverses same-ts trades; restore their tape order for the comparison
    shuffled = pd.concat([shuffled.drop(index=[5, 6]), _trades().loc[[5, 6]]])
    bars = build_bars(shuffled, _book(), spec="time:60s", symbol="WDO", large_trade_qty=10)
    pd.testing.assert_frame_equal(bars, time_bars)


def test_no_trades_give_an_empty_frame_with_the_schema() -> None:
    bars = build_bars(_trades().iloc[:0], None, spec="time:60s", symbol="WDO", large_trade_qty=10)
    assert len(bars) == 0 and list(bars.columns) == list(BAR_SCHEMA)


def test_bad_spec_and_missing_columns_are_named() -> None:
    with pytest.raises(InputError, match="bar spec"):
        BarSpec.parse("minutes:5")
    with pytest.raises(SchemaError, match="trade_type"):
        build_bars(_trades().drop(columns=["trade_type"]), None, spec="tick:3", symbol="WDO", large_trade_qty=10)


def test_bar_close_prices_are_finite_once_trading_started(time_bars: pd.DataFrame) -> None:
    assert np.isfinite(time_bars["close"].to_numpy()).all()


def test_a_print_at_a_bar_boundary_belongs_to_the_bar_closing_there(time_bars: pd.DataFrame) -> None:
    first, second = time_bars.iloc[0], time_bars.iloc[1]
    assert first.close == 4999.5 and first.last_buyer == 11  # t3 at 12:01:00 closes bar 1
    assert second.n_trades == 0


def test_trades_outside_every_session_are_counted_not_silently_dropped(caplog: pytest.LogCaptureFixture) -> None:
    trades = _trades()
    trades.loc[0, "ts"] = _ts(f"{D1} 11:59:59.999")  # 1 ms before the open
    bars = build_bars(trades, None, spec="time:60s", symbol="WDO", large_trade_qty=10)
    assert bars.attrs["n_outside_session"] == 2 and bars["n_trades"].sum() == 9
    warned = [r for r in caplog.records if r.name.endswith("market.bars")]
    assert len(warned) == 1 and warned[0].levelname == "WARNING"
    inside = build_bars(_trades().iloc[:8], None, spec="time:60s", symbol="WDO", large_trade_qty=10)
    assert inside.attrs["n_outside_session"] == 0


def test_a_trade_with_an_unknown_broker_id_is_counted_and_left_out_of_the_broker_lists() -> None:
    trades = _trades()
    trades.loc[1, "buyer"] = -1  # t1: buyer unknown
    trades.loc[2, "seller"] = -1  # t2: seller unknown
    b = build_bars(trades, None, spec="time:60s", symbol="WDO", large_trade_qty=10).iloc[0]
    assert (b.n_unknown_broker, b.n_unknown_side) == (2, 0)
    # t1 and t2 are left out with both their parties: the lists are the known trades t0 and t3 only
    assert list(b.broker_ids) == [1, 2, 11, 21]  # no -1, and neither t1's seller 20 nor t2's buyer 11's 12
    assert list(b.broker_bought) == [7, 0, 1, 0]
    assert list(b.broker_sold) == [0, 7, 0, 1]
    assert list(b.broker_aggr_buy) == [7, 0, 0, 0]
    assert list(b.broker_aggr_sell) == [0, 0, 0, 1]
    assert (b.buyer_switches, b.first_buyer, b.last_buyer) == (1, 1, 11)  # buyers 1 -> 11 of t0, t3
    assert (b.volume, b.buy_vol, b.sell_vol, b.n_trades) == (22, 21, 1, 4)  # the trades themselves still count


def test_first_and_last_buyer_are_those_of_the_bars_first_and_last_known_broker_trades() -> None:
    trades = _trades()
    trades.loc[0, ["buyer", "seller"]] = -1  # t0: an opening print without brokers
    trades.loc[3, "buyer"] = -1  # t3: buyer unknown
    bars = build_bars(trades, None, spec="time:60s", symbol="WDO", large_trade_qty=10)
    b = bars.iloc[0]
    assert (b.n_unknown_broker, b.first_buyer, b.last_buyer, b.buyer_switches) == (2, 10, 11, 1)  # t1, t2
    everything = trades.copy()
    everything.loc[:3, ["buyer", "seller"]] = -1
    b = build_bars(everything, None, spec="time:60s", symbol="WDO", large_trade_qty=10).iloc[0]
    assert (b.n_unknown_broker, b.first_buyer, b.last_buyer, b.buyer_switches) == (4, -1, -1, 0)
    assert len(b.broker_ids) == 0 and b.n_trades == 4


def test_unknown_side_is_counted_and_known_unsigned_types_are_not_unknown() -> None:
    trades = _trades()
    trades.loc[1, "trade_type"] = 32  # the source did not say
    bars = build_bars(trades, None, spec="time:60s", symbol="WDO", large_trade_qty=10)
    b = bars.iloc[0]
    assert (b.n_unknown_side, b.buy_vol, b.n_buy_trades, b.volume) == (1, 19, 2, 22)
    assert bars.iloc[2].n_unknown_side == 0  # t4 is a cross (type 1): known, just unsigned
    assert bars["n_unknown_side"].sum() == 1 and bars["n_unknown_broker"].sum() == 0
