"""Paper broker: fills at the opposite best, brackets on the tape, fees, PnL, ids."""

from __future__ import annotations

import pytest

from live_engine.config import BrokerConfig
from live_engine.execution.broker import CANCELLED, FILLED, PaperBroker
from market.instruments import get_instrument

WDO = get_instrument("WDO")


def broker(**cfg) -> PaperBroker:
    b = PaperBroker(WDO, BrokerConfig(**cfg), id_prefix="T")
    b.on_book(1, 5000.0, 5000.5)
    return b


def test_market_buy_fills_at_the_ask_plus_slippage_and_pays_the_fee():
    b = broker(slippage_ticks=1)
    o = b.submit_market(10, 1, 1, "entry")
    assert o.status == FILLED and b.fills[0].price == 5001.0
    assert b.position == 1 and b.fees == pytest.approx(WDO.fee_per_contract)


def test_market_order_waits_for_the_latency_then_fills_at_the_book_of_that_time():
    b = broker(latency_ms=5)
    b.submit_market(0, -1, 1, "entry")
    assert b.position == 0 and b.has_pending
    b.on_book(4_000_000, 5001.0, 5001.5)
    assert b.position == 0
    b.on_book(5_000_000, 5002.0, 5002.5)
    assert b.position == -1 and b.fills[0].price == 5002.0


def test_stop_triggers_on_the_tape_and_fills_at_the_worse_of_stop_and_print():
    b = broker()
    b.submit_market(10, 1, 1, "entry", stop_ticks=4, target_ticks=8)  # fill 5000.5: stop 4998.5, target 5004.5
    stop, target = b.resting
    assert (stop.price, target.price) == (4998.5, 5004.5)
    b.on_trade(20, 4999.0)
    assert b.position == 1
    b.on_trade(30, 4997.5)  # gaps through the stop
    assert b.position == 0 and b.fills[-1].price == 4997.5 and b.fills[-1].tag == "stop"
    assert target.status == CANCELLED and stop.status == FILLED  # OCO
    rt = b.trades[0]
    assert rt.points == pytest.approx(-3.0) and rt.pnl == pytest.approx(-3.0 * 10 - 2 * WDO.fee_per_contract)


def test_target_fills_at_its_price_when_the_tape_reaches_it():
    b = broker()
    b.submit_market(10, -1, 1, "entry", stop_ticks=4, target_ticks=6)  # sell 5000.0: target 4997.0
    b.on_trade(20, 4997.0)
    assert b.position == 0 and b.fills[-1].price == 4997.0 and b.fills[-1].tag == "target"
    assert b.realized_points == pytest.approx(3.0)


def test_client_order_ids_are_deterministic_and_fill_ids_unique():
    def run() -> tuple[list[str], list[str]]:
        b = broker()
        b.submit_market(1, 1, 1, "entry", stop_ticks=2, target_ticks=2)
        b.on_trade(2, 5001.5)
        b.submit_market(3, -1, 1, "entry")
        b.submit_market(4, 1, 1, "exit")
        return [o.client_id for o in b.orders], [f.fill_id for f in b.fills]

    a, b2 = run(), run()
    assert a == b2
    assert len(set(a[1])) == len(a[1])
    assert a[0][0] == "T-000001"


def test_unrealized_and_equity_pnl_in_reais():
    b = broker()
    b.submit_market(1, 1, 1, "entry")  # 5000.5
    assert b.unrealized_points(5003.0) == pytest.approx(2.5)
    assert b.equity_pnl(5003.0) == pytest.approx(25.0 - WDO.fee_per_contract)


def test_without_a_book_a_market_order_fills_at_the_next_print_one_tick_worse():
    b = PaperBroker(WDO, BrokerConfig(slippage_ticks=1), id_prefix="T")  # a trades-only history: no book ever
    b.on_trade(5, 5000.0)
    buy = b.submit_market(10, 1, 1, "entry")
    assert buy.status != FILLED and b.has_pending  # never at the decision's own time
    b.on_trade(11, 5000.5)
    assert b.fills[-1].price == 5000.5 + 0.5 + 0.5 and b.position == 1
    b.submit_market(20, -1, 1, "signal_exit")
    b.on_trade(21, 5002.0)
    assert b.fills[-1].price == 5002.0 - 1.0 and b.position == 0
