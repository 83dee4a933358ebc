"""Reconciliation of the journal with the broker (pure), and the broker's snapshot round trip."""

from __future__ import annotations

import json
import math

from live_engine.execution.broker import PaperBroker
from live_engine.execution.broker_state import account, restore, snapshot
from live_engine.execution.reconcile import position_of, reconcile
from market.instruments import get_instrument

WDO = get_instrument("WDO")


def _traded_broker() -> PaperBroker:
    b = PaperBroker(WDO)
    b.on_book(1, 5000.0, 5000.5)
    b.submit_market(2, 1, 1, "entry", stop_ticks=10, target_ticks=20)
    b.on_trade(200_000_000, 5000.5, 1)  # fills the entry, places the bracket
    return b


def test_a_snapshot_restores_a_broker_that_trades_on_identically():
    a = _traded_broker()
    doc = json.loads(json.dumps(snapshot(a)))  # through JSON, as the venue stores it
    b = PaperBroker(WDO)
    restore(b, doc)
    assert snapshot(b) == snapshot(a) and account(b)["working"] == ["QT-000002", "QT-000003"]
    for x in (a, b):  # the stop triggers the same way in both
        x.on_trade(300_000_000, 4994.5, -1)
    assert snapshot(b) == snapshot(a)
    assert a.position == 0 and b.trades[0].pnl == a.trades[0].pnl and not math.isnan(b.trades[0].pnl)
    assert b.submit_market(4, 1, 1, "entry").client_id == "QT-000004"  # ids stay unique after a restore


def test_reconcile_applies_missing_fills_once_and_marks_unsent_intents():
    b = _traded_broker()
    venue_orders = [{"client_id": o.client_id, "status": o.status} for o in b.orders]
    venue_fills = [{"fill_id": f.fill_id, "side": f.side, "qty": f.qty} for f in b.fills]
    journal_orders = [{"client_id": "QT-000001", "status": "intent"}, {"client_id": "QT-000009", "status": "intent"}]
    r = reconcile(journal_orders, [], venue_orders, venue_fills, b.position)
    assert [f["fill_id"] for f in r.missing_fills] == ["QT-000001-F1"]
    assert r.unsent == ["QT-000009"] and [o["client_id"] for o in r.adopted] == ["QT-000002", "QT-000003"]
    assert r.consistent and r.journal_position == 1 and r.statuses == {"QT-000001": "filled"}
    again = reconcile(journal_orders, r.missing_fills, venue_orders, venue_fills, b.position)
    assert again.missing_fills == [] and again.consistent


def test_reconcile_refuses_a_position_the_fills_do_not_explain():
    r = reconcile([], [{"fill_id": "X-F1", "side": 1, "qty": 1}], [], [], 0)
    assert not r.consistent and "position 1" in r.summary() and "reports 0" in r.summary()
    assert position_of([{"side": -1, "qty": 2}, {"side": 1, "qty": 1}]) == -1
