"""Per-event checks and the gate: each drop reason, the counters, and agreement with the ingest's suites."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from live_engine.feeds.events import Book, FeedStats, Trade
from live_engine.feeds.validate import MAX_PRICE, SESSION_GAP_NS, EventGate, check_book, check_trade
from market.schemas import KNOWN_TRADE_TYPES

REPO = Path(__file__).resolve().parents[3]
NAN = math.nan
T0 = 1_767_618_000_000_000_000
GOOD = Trade(T0, "WDO", 1, 5250.0, 1, 2, 10, 20)
LEVELS = [5250.0, 5249.5, 5249.0, 5248.5, 5248.0, 5, 5, 5, 5, 5,
          5250.5, 5251.0, 5251.5, 5252.0, 5252.5, 5, 5, 5, 5, 5]


def book(**at) -> Book:
    lv = list(LEVELS)
    for k, v in at.items():
        lv[int(k.removeprefix("i"))] = v
    return Book(T0, "WDO", lv)


@pytest.mark.parametrize(("change", "reason"), [
    ({"price": NAN}, "price_not_finite"),
    ({"price": math.inf}, "price_not_finite"),
    ({"price": 0.0}, "price_out_of_range"),
    ({"price": -1.0}, "price_out_of_range"),
    ({"price": MAX_PRICE * 2}, "price_out_of_range"),
    ({"qty": 0}, "qty_not_positive"),
    ({"qty": -3}, "qty_not_positive"),
    ({"trade_type": 14}, "unknown_trade_type"),
    ({"trade_type": -1}, "unknown_trade_type"),
    ({"trade_id": -1}, "trade_id_invalid"),
])
def test_a_bad_print_is_named_by_its_reason(change, reason):
    assert check_trade(GOOD) is None
    assert check_trade(replace(GOOD, **change)) == reason


def test_unknown_side_and_unknown_brokers_are_valid_values_not_bad_ticks():
    assert check_trade(replace(GOOD, trade_type=32, buyer=-1, seller=-1)) is None


@pytest.mark.parametrize(("b", "reason"), [
    (book(), None),
    (book(i3=NAN, i4=NAN, i8=0, i9=0), None),  # empty levels
    (book(i0=NAN, i10=NAN), None),  # one-sided or empty book: not crossed
    (book(i0=5250.5), "book_crossed"),  # bid == ask
    (book(i0=5251.0), "book_crossed"),
    (book(i0=-5.0), "book_price_invalid"),
    (book(i12=math.inf), "book_price_invalid"),
    (book(i16=-1), "book_qty_negative"),
    (Book(T0, "WDO", LEVELS[:10]), "book_levels"),
])
def test_a_bad_snapshot_is_named_by_its_reason(b, reason):
    assert check_book(b) == reason


def test_the_gate_drops_out_of_order_and_duplicate_prints_and_counts_in_a_row():
    stats = FeedStats()
    gate = EventGate(stats, max_ts_regress_ns=1_000_000, wall_ns=lambda: 42)
    assert gate.admit(GOOD)
    assert gate.admit(replace(GOOD, ts_ns=T0 - 1_000_000, trade_id=2))  # within the 1 ms tolerance
    assert not gate.admit(replace(GOOD, ts_ns=T0 - 1_000_001, trade_id=3))
    assert not gate.admit(replace(GOOD, ts_ns=T0 + 5, trade_id=1))
    assert not gate.admit(replace(GOOD, price=NAN, trade_id=4))
    gate.malformed("not_json")
    assert (stats.received, stats.trades, stats.bad_ticks, stats.malformed, stats.consecutive_bad) == (6, 2, 3, 1, 4)
    assert stats.reasons == {"ts_out_of_order": 1, "duplicate_trade_id": 1, "price_not_finite": 1,
                             "malformed:not_json": 1}
    assert stats.last_event_ns == 42
    assert gate.admit(book())  # books have their own time line; a good event resets the run
    assert stats.consecutive_bad == 0 and stats.books == 1


def test_trade_ids_start_again_after_the_overnight_gap_and_other_symbols_are_dropped():
    gate = EventGate(symbol="WDO")
    assert gate.admit(GOOD)
    assert gate.admit(replace(GOOD, ts_ns=T0 + SESSION_GAP_NS + 1))  # next session: id 1 again
    assert not gate.admit(replace(GOOD, symbol="WIN", trade_id=9))
    assert gate.stats.reasons == {"wrong_symbol": 1}


def _rules(suite: str) -> dict[str, dict]:
    data = json.loads((REPO / "expectations" / f"{suite}.json").read_text())
    return {e["meta"]["rule"] + ":" + e["type"]: e["kwargs"] for e in data["expectations"]}


def test_the_per_event_rules_say_what_the_ingest_suites_say():
    trades = _rules("trades")
    assert set(trades["known_trade_type:expect_column_values_to_be_in_set"]["value_set"]) == KNOWN_TRADE_TYPES
    price = trades["price_positive_finite:expect_column_values_to_be_between"]
    assert (price["min_value"], price["strict_min"], price["max_value"]) == (0, True, MAX_PRICE)
    qty = trades["qty_positive:expect_column_values_to_be_between"]
    assert (qty["min_value"], qty["strict_min"]) == (0, True)
    assert trades["trade_id_valid:expect_column_values_to_be_between"]["min_value"] == 0
    assert trades["ts_ordered:expect_column_values_to_be_between"]["max_value"] == 0  # the default tolerance 0
    books = _rules("book")
    crossed = books["book_not_crossed:expect_column_pair_values_a_to_be_greater_than_b"]
    assert (crossed["column_A"], crossed["column_B"], crossed["or_equal"]) == ("ask_px_1", "bid_px_1", False)
    assert books["book_qty_nonnegative:expect_column_values_to_be_between"]["min_value"] == 0
    from live_engine.feeds.config import FeedsConfig

    assert FeedsConfig().max_ts_regress_ms == 0.0
