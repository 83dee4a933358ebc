"""Paper broker: the cost model's fills (after the latency, book walked), brackets on the tape, fees, PnL, ids."""

from __future__ import annotations

import math

import pytest

from live_engine.execution.broker import CANCELLED, FILLED, PaperBroker
from live_engine.execution.config import CostConfig
from market.instruments import get_instrument

WDO = get_instrument("WDO")
MS = 1_000_000


def book_row(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> list[float]:
    """A packed book row from (price, qty) levels, best first (missing levels NaN)."""
    def side(levels: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
        px = [p for p, _ in levels] + [math.nan] * (5 - len(levels))
        qty = [q for _, q in levels] + [math.nan] * (5 - len(levels))
        return px, qty

    bp, bq = side(bids)
    ap, aq = side(asks)
    return [*bp, *bq, *ap, *aq]


def broker(**cfg) -> PaperBroker:
    b = PaperBroker(WDO, CostConfig(**cfg), id_prefix="T")
    b.on_book(1, 5000.0, 5000.5)
    return b


def filled(b: PaperBroker, ts: int, price: float = 5000.0, side: int = 0) -> None:
    """The next print, after every pending order has arrived."""
    b.on_trade(ts, price, side)


def test_a_market_order_never_fills_at_its_own_time_only_after_the_latency():
    b = broker(latency_ms=100)
    o = b.submit_market(10 * MS, 1, 1, "entry")
    assert o.status != FILLED and b.has_pending and b.fills == []  # not at the decision's time
    b.on_trade(60 * MS, 5000.0)  # before the order reaches the exchange
    b.on_trade(110 * MS, 5000.0)  # exactly at arrival: still not after it
    assert b.position == 0
    b.on_book(150 * MS, 5002.0, 5002.5)  # the first event after arrival fills against the book standing then
    assert b.position == 1 and b.fills[0].price == 5000.5 and b.fills[0].ts_ns == 150 * MS
    assert b.fees == pytest.approx(WDO.fee_per_contract)


def test_a_market_order_fills_at_the_opposite_best_plus_slippage():
    b = broker(latency_ms=0, slippage_ticks=1)
    b.submit_market(10, 1, 1, "entry")
    filled(b, 11)
    assert b.fills[0].price == 5001.0
    b.submit_market(20, -1, 1, "exit")
    filled(b, 21)
    assert b.fills[1].price == 5000.0 - 0.5 and b.position == 0


def test_a_market_order_walks_the_recorded_book_for_size_beyond_level_one():
    b = PaperBroker(WDO, CostConfig(latency_ms=0), id_prefix="T")
    b.on_book_levels(1, book_row([(5000.0, 10)], [(5000.5, 2), (5001.0, 3), (5001.5, 50)]))
    b.submit_market(5, 1, 4, "entry")  # 2 at 5000.5, 2 at 5001.0
    filled(b, 6)
    assert b.fills[0].price == pytest.approx((2 * 5000.5 + 2 * 5001.0) / 4)
    thin = PaperBroker(WDO, CostConfig(latency_ms=0), id_prefix="T")
    thin.on_book_levels(1, book_row([(5000.0, 1)], [(5000.5, 1)]))
    thin.submit_market(5, -1, 3, "entry")  # 1 at the bid, 2 one tick past the last visible level
    filled(thin, 6)
    assert thin.fills[0].price == pytest.approx((5000.0 + 2 * 4999.5) / 3)


def test_without_a_book_a_market_order_pays_the_print_plus_the_spread_unless_the_print_was_on_its_side():
    b = PaperBroker(WDO, CostConfig(latency_ms=0), id_prefix="T")  # a trades-only history: no book ever
    b.on_trade(5, 5000.0, 1)
    buy = b.submit_market(10, 1, 1, "entry")
    assert buy.status != FILLED and b.has_pending
    b.on_trade(11, 5000.5, 1)  # an aggressive buy printed at the ask: we buy there too
    assert b.fills[-1].price == 5000.5 and b.position == 1
    b.submit_market(20, -1, 1, "signal_exit")
    b.on_trade(21, 5002.0, 1)  # printed at the ask: our sell hits the bid, one spread below
    assert b.fills[-1].price == 5001.5 and b.position == 0
    b.submit_market(30, 1, 1, "entry")
    b.on_trade(31, 5002.0, 0)  # unknown side (cross, RLP, auction): the worse side
    assert b.fills[-1].price == 5002.5
    b.submit_market(40, -1, 1, "exit")
    b.on_trade(41, 5003.0, -1)  # an aggressive sell printed at the bid: we sell there
    assert b.fills[-1].price == 5003.0


def test_stop_triggers_on_the_tape_and_fills_at_the_worse_of_stop_and_print_plus_slippage():
    b = broker(latency_ms=0, stop_slippage_ticks=1)
    b.submit_market(10, 1, 1, "entry", stop_ticks=4, target_ticks=8)
    filled(b, 11)  # fill 5000.5: stop 4998.5, target 5004.5
    stop, target = b.resting
    assert (stop.price, target.price) == (4998.5, 5004.5)
    b.on_trade(20, 4999.0)
    assert b.position == 1
    b.on_trade(30, 4997.5)  # gaps through the stop: the print, one tick further
    assert b.position == 0 and b.fills[-1].price == 4997.0 and b.fills[-1].tag == "stop"
    assert target.status == CANCELLED and stop.status == FILLED  # OCO
    rt = b.trades[0]
    assert rt.points == pytest.approx(-3.5) and rt.pnl == pytest.approx(-3.5 * 10 - 2 * WDO.fee_per_contract)
    at = broker(latency_ms=0, stop_slippage_ticks=0)
    at.submit_market(10, 1, 1, "entry", stop_ticks=4)
    filled(at, 11)
    at.on_trade(20, 4998.5)  # a print at the stop triggers it
    assert at.fills[-1].price == 4998.5 and at.position == 0


def test_a_target_fills_only_when_the_tape_trades_through_it():
    b = broker(latency_ms=0)
    b.submit_market(10, -1, 1, "entry", stop_ticks=4, target_ticks=6)
    filled(b, 11)  # sell 5000.0: target 4997.0
    b.on_trade(20, 4997.0)  # a touch: the resting buy may still be in the queue
    assert b.position == -1
    b.on_trade(30, 4996.5)  # through it
    assert b.position == 0 and b.fills[-1].price == 4997.0 and b.fills[-1].tag == "target"
    assert b.realized_points == pytest.approx(3.0)


def test_touch_fills_is_an_explicit_option():
    b = broker(latency_ms=0, touch_fills=True)
    b.submit_market(10, -1, 1, "entry", stop_ticks=4, target_ticks=6)
    filled(b, 11)
    b.on_trade(20, 4997.0)
    assert b.position == 0 and b.fills[-1].price == 4997.0


def test_client_order_ids_are_deterministic_and_fill_ids_unique():
    def run() -> tuple[list[str], list[str]]:
        b = broker()
        b.submit_market(1, 1, 1, "entry", stop_ticks=2, target_ticks=2)
        b.on_trade(200 * MS, 5001.5)
        b.on_trade(300 * MS, 5002.0)
        b.submit_market(400 * MS, -1, 1, "entry")
        b.on_trade(600 * MS, 5002.0)
        b.submit_market(700 * MS, 1, 1, "exit")
        b.on_trade(900 * MS, 5002.0)
        return [o.client_id for o in b.orders], [f.fill_id for f in b.fills]

    a, b2 = run(), run()
    assert a == b2
    assert len(set(a[1])) == len(a[1]) == 4
    assert a[0][0] == "T-000001"


def test_unrealized_and_equity_pnl_in_reais():
    b = broker(latency_ms=0)
    b.submit_market(1, 1, 1, "entry")
    filled(b, 2)  # 5000.5
    assert b.unrealized_points(5003.0) == pytest.approx(2.5)
    assert b.equity_pnl(5003.0) == pytest.approx(25.0 - WDO.fee_per_contract)
