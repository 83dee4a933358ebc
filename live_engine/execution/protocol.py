"""The broker interface the engine trades through.

The paper broker (``broker.PaperBroker``) implements it; a ProfitDLL order-routing bridge would too
(``docs/broker-interface.md``). The engine never reaches past it: orders go out through
:meth:`Broker.submit_market` / the cancels, and come back as :class:`BrokerListener` events. At start-up
the engine reconciles its journal with :meth:`Broker.account` (``reconcile.py``) before it trades.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from live_engine.execution.broker import Fill, Order


class BrokerListener(Protocol):
    """What a broker tells the engine. ``on_order`` comes before the order reaches the exchange."""

    def on_order(self, order: Order) -> None: ...

    def on_order_update(self, order: Order) -> None: ...

    def on_fill(self, order: Order, fill: Fill) -> None: ...


class Broker(Protocol):
    """Submit, cancel, order and fill events, and the account for reconciliation."""

    position: int
    avg_price: float
    listener: BrokerListener | None

    def submit_market(self, ts_ns: int, side: int, qty: int, tag: str, *, stop_ticks: int = 0,
                      target_ticks: int = 0) -> Order: ...

    def cancel_resting(self) -> int: ...

    def cancel_all(self) -> int: ...

    @property
    def has_pending(self) -> bool: ...

    def equity_pnl(self, mark: float) -> float: ...

    def account(self) -> dict[str, Any]:
        """Position, average price, working orders and every fill id: what reconciliation compares."""
        ...
