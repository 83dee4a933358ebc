"""The paper broker's state as plain data: a snapshot the paper venue stores, and its restore.

Pure functions (no I/O): ``live_engine/journal/paper_venue.py`` persists what :func:`snapshot` returns.
Everything the broker needs to go on where it stopped is in it: position, average price, realised
points, fees, the id sequence (client order ids stay unique across restarts), every order and fill,
closed round trips, the working market orders and the resting stop / target orders.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from live_engine.execution.broker import WORKING, Fill, Order, PaperBroker, RoundTrip

VERSION = 1


def _num(x: float) -> float | None:
    return None if isinstance(x, float) and math.isnan(x) else x


def _order_doc(o: Order) -> dict[str, Any]:
    d = asdict(o)
    d["price"] = _num(o.price)
    return d


def _order(d: dict[str, Any]) -> Order:
    d = dict(d)
    d["price"] = math.nan if d.get("price") is None else float(d["price"])
    return Order(**d)


def _rt_doc(rt: RoundTrip) -> dict[str, Any]:
    d = asdict(rt)
    d["exit_price"] = _num(rt.exit_price)
    return d


def _rt(d: dict[str, Any]) -> RoundTrip:
    d = dict(d)
    d["exit_price"] = math.nan if d.get("exit_price") is None else float(d["exit_price"])
    return RoundTrip(**d)


def snapshot(b: PaperBroker) -> dict[str, Any]:
    """Everything :func:`restore` needs, JSON-ready (NaN as null)."""
    return {
        "version": VERSION, "id_prefix": b.id_prefix, "seq": b._seq,
        "position": b.position, "avg_price": b.avg_price, "realized_points": b.realized_points, "fees": b.fees,
        "bid": _num(b.bid), "ask": _num(b.ask), "last": _num(b.last),
        "book": None if b.book is None else [_num(float(v)) for v in b.book],
        "orders": [_order_doc(o) for o in b.orders],
        "fills": [asdict(f) for f in b.fills],
        "trades": [_rt_doc(t) for t in b.trades],
        "pending": [o.client_id for o in b._pending],
        "resting": [o.client_id for o in b._resting],
        "open": None if b._open is None else _rt_doc(b._open),
    }


def restore(b: PaperBroker, doc: dict[str, Any]) -> None:
    """Put ``b`` (a fresh broker for the same instrument and prefix) in the state of :func:`snapshot`."""
    if doc.get("version") != VERSION:
        raise ValueError(f"paper broker snapshot version {doc.get('version')!r}, expected {VERSION}")
    if doc["id_prefix"] != b.id_prefix:
        raise ValueError(f"paper broker snapshot of prefix {doc['id_prefix']!r}, this broker is {b.id_prefix!r}")
    b._seq = int(doc["seq"])
    b.position, b.avg_price = int(doc["position"]), float(doc["avg_price"])
    b.realized_points, b.fees = float(doc["realized_points"]), float(doc["fees"])
    b.bid, b.ask, b.last = (math.nan if doc[k] is None else float(doc[k]) for k in ("bid", "ask", "last"))
    b.book = None if doc["book"] is None else [math.nan if v is None else float(v) for v in doc["book"]]
    b.orders = [_order(d) for d in doc["orders"]]
    by_id = {o.client_id: o for o in b.orders}
    b.fills = [Fill(**d) for d in doc["fills"]]
    b.trades = [_rt(d) for d in doc["trades"]]
    b._pending = [by_id[i] for i in doc["pending"] if by_id[i].status == WORKING]
    b._resting = [by_id[i] for i in doc["resting"] if by_id[i].status == WORKING]
    b._open = None if doc["open"] is None else _rt(doc["open"])


def account(b: PaperBroker) -> dict[str, Any]:
    """What reconciliation compares: net position, average price, working orders, fill ids."""
    return {"position": b.position, "avg_price": b.avg_price,
            "working": sorted(o.client_id for o in (*b._pending, *b._resting) if o.status == WORKING),
            "fill_ids": [f.fill_id for f in b.fills]}
