"""The order of writes that makes a SIGKILL harmless (``docs/engine.md``, RELIABILITY.md 1-3, 6).

1. **intent**: the broker tells the listener about an order before the exchange queues it; the intent
   (deterministic client order id) is committed to the engine's journal first;
2. **exchange**: after the broker call returns, the paper venue (a separate database standing for the
   exchange) stores the broker's new state, orders and fills included;
3. **journal**: the journal marks the order acknowledged and applies each fill once, with the risk
   counters, coordinator weights and position of that moment, in one transaction.

A kill between 1 and 2 leaves an intent the venue never saw: reconciliation marks it ``unsent`` and
nothing is re-sent. A kill between 2 and 3 leaves fills at the venue the journal lacks: reconciliation
applies them once, by fill id. ``QT_ENGINE_TEST_PAUSE`` names a point where the engine prints
"engine paused at <point>" and sleeps, so a test can SIGKILL it exactly there.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol

from live_engine.execution.broker import Fill, Order, PaperBroker
from live_engine.execution.broker_state import snapshot
from quantumtrader import testhooks

PAUSE_ENV = "QT_ENGINE_TEST_PAUSE"
PAUSE_POINTS = ("after_intent", "after_exchange")


def pause_point(point: str) -> None:
    """Sleep at ``point`` when :data:`PAUSE_ENV` asks for it (``quantumtrader.testhooks``)."""
    testhooks.pause_point(PAUSE_ENV, point, "engine")


def order_doc(o: Order, epoch: str) -> dict[str, Any]:
    d = asdict(o)
    d["price"] = None if o.price != o.price else o.price
    d["epoch"] = epoch
    return d


def fill_doc(f: Fill) -> dict[str, Any]:
    return asdict(f)


class JournalLike(Protocol):
    def record_intent(self, order: dict[str, Any]) -> None: ...

    def set_order_status(self, client_id: str, status: str) -> None: ...

    def apply_fill(self, fill: dict[str, Any], state: dict[str, Any] | None = None) -> bool: ...

    def save_states(self, states: dict[str, Any]) -> None: ...


class VenueLike(Protocol):
    def record_order(self, order: dict[str, Any]) -> None: ...

    def record_fill(self, fill: dict[str, Any]) -> bool: ...

    def save_snapshot(self, doc: dict[str, Any]) -> None: ...


class Persistence:
    """The broker's listener plus :meth:`commit`, called by the engine after every broker call."""

    def __init__(self, broker: PaperBroker, journal: JournalLike, venue: VenueLike, epoch: str) -> None:
        self.broker, self.journal, self.venue, self.epoch = broker, journal, venue, epoch
        self._orders: list[Order] = []  # new or changed since the last commit
        self._fills: list[Fill] = []
        self.intents = 0
        self.fills_applied = 0
        self.on_new_order: list[Any] = []  # callbacks(order) for the broadcast
        self.on_new_fill: list[Any] = []
        broker.listener = self

    # ---- BrokerListener ---------------------------------------------------------------------
    def on_order(self, order: Order) -> None:
        self.journal.record_intent(order_doc(order, self.epoch))  # 1. before the exchange sees it
        self.intents += 1
        pause_point("after_intent")
        self._orders.append(order)

    def on_order_update(self, order: Order) -> None:
        self._orders.append(order)

    def on_fill(self, order: Order, fill: Fill) -> None:
        self._orders.append(order)
        self._fills.append(fill)

    # ---- after each broker call -------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self._orders or self._fills)

    def commit(self, state: dict[str, Any]) -> None:
        """Steps 2 and 3 for everything the last broker call changed; ``state`` is what the journal keeps
        with the fills (risk counters, coordinator weights, position)."""
        if not self.dirty:
            return
        orders, fills = self._orders, self._fills
        self._orders, self._fills = [], []
        for o in orders:  # 2. the exchange's record
            self.venue.record_order(order_doc(o, self.epoch))
        for f in fills:
            self.venue.record_fill(fill_doc(f))
        self.venue.save_snapshot(snapshot(self.broker))
        pause_point("after_exchange")
        seen: set[str] = set()
        for o in orders:  # 3. the journal
            if o.client_id not in seen:
                seen.add(o.client_id)
                self.journal.set_order_status(o.client_id, "acked" if o.status == "working" else o.status)
        for f in fills:
            if self.journal.apply_fill(fill_doc(f), state=state):
                self.fills_applied += 1
        if not fills:
            self.journal.save_states(state)
        for cb in self.on_new_order:
            for o in orders:
                cb(o)
        for cb in self.on_new_fill:
            for f in fills:
                cb(f)
