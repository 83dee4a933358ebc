"""The paper venue's own book on both backends: orders by client id, fills once, snapshot, position from fills."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import pytest

from live_engine.execution.broker import PaperBroker
from live_engine.execution.config import CostConfig
from live_engine.journal.paper_venue import PaperVenueStore
from market.instruments import get_instrument
from quantumtrader.config import load_settings
from quantumtrader.errors import InputError

WDO = get_instrument("WDO")


def _session() -> PaperBroker:
    """A real paper broker through entries, an add, a partial exit and a reversal."""
    b = PaperBroker(WDO, CostConfig(latency_ms=0), id_prefix="V")
    b.on_book(1, 5000.0, 5000.5)
    for ts, side, qty, px in [(10, 1, 1, 5001.0), (20, 1, 2, 5003.0), (30, -1, 1, 5006.0), (40, -1, 4, 4999.0),
                              (50, 1, 1, 4995.5)]:
        b.submit_market(ts, side, qty, "entry")
        b.on_book(ts + 1, px - 0.5, px)
        b.on_trade(ts + 2, px)
    return b


def test_orders_are_upserted_by_client_id_and_fills_recorded_once(journal_url: str) -> None:
    with PaperVenueStore.open(journal_url) as v:
        o = {"client_id": "V-1", "ts_ns": 10, "side": 1, "qty": 1, "kind": "market", "price": math.nan, "tag": "entry",
             "status": "working", "stop_ticks": 8}
        v.record_order(o)
        v.record_order({**o, "status": "filled"})
        [got] = v.orders()
        assert got["status"] == "filled" and got["stop_ticks"] == 8 and math.isnan(got["price"])
        f = {"fill_id": "V-1-F1", "client_id": "V-1", "ts_ns": 11, "side": 1, "qty": 1, "price": 5000.5, "fee": 1.2,
             "tag": "entry"}
        assert v.record_fill(f) is True and v.record_fill(f) is False
        assert v.record_fill({**f, "fill_id": "V-1-F2", "ts_ns": 12}) is True
    with PaperVenueStore.open(journal_url) as v:
        assert v.record_fill(f) is False  # across a reopen too
        assert [x["fill_id"] for x in v.fills()] == ["V-1-F1", "V-1-F2"]
        assert [x["fill_id"] for x in v.fills(since="V-1-F1")] == ["V-1-F2"]
        assert v.fills(since="V-1-F2") == []
        with pytest.raises(InputError, match="'V-9-F1' is not in the paper venue's book"):
            v.fills(since="V-9-F1")
        with pytest.raises(InputError, match="lacks price"):
            v.record_fill({k: x for k, x in f.items() if k != "price"})


def test_the_snapshot_round_trips_the_brokers_full_state(journal_url: str) -> None:
    b = _session()
    state = {"position": b.position, "avg_price": b.avg_price, "bid": math.nan, "seq": b._seq,
             "orders": [asdict(o) for o in b.orders]}
    with PaperVenueStore.open(journal_url) as v:
        assert v.load_snapshot() is None
        v.save_snapshot({"position": 0})
        v.save_snapshot(state)  # replaces
    with PaperVenueStore.open(journal_url) as v:
        got = v.load_snapshot()
    assert got is not None and math.isnan(got.pop("bid"))
    assert {k: x for k, x in got.items() if k != "orders"} == {k: x for k, x in state.items()
                                                                if k not in ("orders", "bid")}
    assert [o["client_id"] for o in got["orders"]] == [o.client_id for o in b.orders]


def test_the_position_from_the_books_fills_equals_the_paper_brokers(journal_url: str) -> None:
    b = _session()
    assert len(b.fills) == 5 and b.position == -1  # the session did reverse
    with PaperVenueStore.open(journal_url) as v:
        for f in b.fills:
            v.record_fill(asdict(f))
        pos = v.position()
    assert pos["qty"] == b.position and pos["avg_price"] == pytest.approx(b.avg_price)
    assert pos["realized_points"] == pytest.approx(b.realized_points) and pos["fees"] == pytest.approx(b.fees)


def test_the_default_book_is_its_own_file_under_var_paper(tmp_path: Path) -> None:
    s = load_settings(root=tmp_path)
    with PaperVenueStore.for_settings(s) as v:
        v.save_snapshot({"position": 0})
    assert (s.var_dir / "paper" / "venue.db").exists() and not (s.var_dir / "journal").exists()
