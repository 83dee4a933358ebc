"""Paper broker: a simulated exchange for one instrument, driven by the tape and the book.

Every price comes from the one cost and fill model (``costs.py``, ``docs/costs-and-warmup.md``):

- A market order reaches the exchange ``latency_ms`` after it is sent and fills at the first book or
  trade event strictly after that, against the book standing when it arrived (walked level by level
  for size), plus ``slippage_ticks``. With no book known (a trades-only history) it fills at the
  first print after arrival: at the print when the print was on the side it takes, else the print
  plus the assumed spread. Never at the decision's own time.
- An entry may carry a bracket (stop-loss and take-profit distances in ticks). When the entry fills,
  both orders rest at the exchange as one OCO pair, priced from the fill.
- Resting orders trigger on the tape: a sell stop when a trade prints at or below its price (fill at
  the worse of stop and print, ``stop_slippage_ticks`` further), a sell target when a trade prints
  strictly above it (at it with ``touch_fills``), filled at the target; buys mirror this. When the
  position returns to 0 every resting order is cancelled.
- Fees: ``fee_per_contract`` R$ per contract per side. PnL in points and R$ (points * point value).
- Client order ids are deterministic (``<prefix>-<seq>``); fill ids are unique (``<client id>-F<n>``).

It implements :class:`live_engine.execution.protocol.Broker`. An optional ``listener``
(:class:`~live_engine.execution.protocol.BrokerListener`) hears every order *before* it is queued at
the simulated exchange (the engine journals the intent first), every status change and every fill.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from live_engine.execution import costs as fills_model
from live_engine.execution.config import CostConfig
from live_engine.execution.protocol import BrokerListener
from market.instruments import Instrument

MARKET, STOP, LIMIT = "market", "stop", "limit"
WORKING, FILLED, CANCELLED = "working", "filled", "cancelled"


@dataclass(slots=True)
class Order:
    client_id: str
    ts_ns: int
    side: int  # +1 buy, -1 sell
    qty: int
    kind: str
    price: float  # trigger for stop / limit; NaN for market
    tag: str  # entry, exit, flatten, time_exit, signal_exit, stop, target, halt
    due_ns: int = 0
    status: str = WORKING
    stop_ticks: int = 0
    target_ticks: int = 0


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    client_id: str
    ts_ns: int
    side: int
    qty: int
    price: float
    fee: float
    tag: str


@dataclass(slots=True)
class RoundTrip:
    """One trade from flat to flat (the core never reverses in one order)."""

    side: int
    qty: int
    entry_ts_ns: int
    entry_price: float
    exit_ts_ns: int = 0
    exit_price: float = math.nan
    points: float = 0.0
    fees: float = 0.0
    pnl: float = 0.0  # R$, net of fees
    exit_tag: str = ""
    entry_client_id: str = ""


@dataclass(slots=True)
class PaperBroker:
    instrument: Instrument
    config: CostConfig = field(default_factory=CostConfig)
    id_prefix: str = "QT"
    bid: float = math.nan
    ask: float = math.nan
    last: float = math.nan
    book: Sequence[float] | None = None  # the standing book as a packed 20-value row (None: never seen one)
    position: int = 0
    avg_price: float = 0.0
    realized_points: float = 0.0
    fees: float = 0.0
    orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    trades: list[RoundTrip] = field(default_factory=list)
    _seq: int = 0
    _pending: list[Order] = field(default_factory=list)  # market orders waiting for latency / a book
    _resting: list[Order] = field(default_factory=list)  # stop and limit orders
    _open: RoundTrip | None = None
    listener: BrokerListener | None = None

    # ---- market data ------------------------------------------------------------------------
    # Each event first fills the market orders that arrived before it, against the book standing
    # then (the state before this event), and only then applies itself.
    def on_book_levels(self, ts_ns: int, row: Sequence[float]) -> None:
        """A book snapshot as one packed row (bid px 1-5, bid qty 1-5, ask px 1-5, ask qty 1-5); kept, not copied."""
        if self._pending:
            self._fill_due(ts_ns)
        self.book = row
        self.bid = row[0]
        self.ask = row[10]

    def forget_book(self) -> None:
        """The standing book is gone (an earlier session's): fill from prints until a new snapshot."""
        self.book = None
        self.bid = self.ask = math.nan

    def on_book(self, ts_ns: int, bid: float, ask: float) -> None:
        """A best bid / ask update without sizes (level 1 then takes any size)."""
        self.on_book_levels(ts_ns, fills_model.level_one_row(bid, ask))

    def on_trade(self, ts_ns: int, price: float, side: int = 0) -> None:
        """A print; ``side`` is its aggressor (+1 buy at the ask, -1 sell at the bid, 0 unknown)."""
        if self._pending:
            self._fill_due(ts_ns, price, side)
        self.last = price
        if self._resting:
            self._check_resting(ts_ns, price)

    # ---- orders -----------------------------------------------------------------------------
    def _next_id(self) -> str:
        self._seq += 1
        return f"{self.id_prefix}-{self._seq:06d}"

    def submit_market(self, ts_ns: int, side: int, qty: int, tag: str, *, stop_ticks: int = 0,
                      target_ticks: int = 0) -> Order:
        """Send a market order; with ``stop_ticks``/``target_ticks`` its fill places an OCO bracket."""
        order = Order(self._next_id(), ts_ns, side, qty, MARKET, math.nan, tag,
                      due_ns=fills_model.arrival_ns(ts_ns, self.config),
                      stop_ticks=stop_ticks, target_ticks=target_ticks)
        self.orders.append(order)
        if self.listener is not None:
            self.listener.on_order(order)  # the intent is journalled before the exchange sees the order
        self._pending.append(order)  # it fills on a later event, never at the decision's own time
        return order

    def cancel_resting(self) -> int:
        """Cancel the working stop and target orders; returns how many were cancelled."""
        n = 0
        for o in self._resting:
            if o.status == WORKING:
                o.status = CANCELLED
                n += 1
                if self.listener is not None:
                    self.listener.on_order_update(o)
        self._resting.clear()
        return n

    def cancel_all(self) -> int:
        """Cancel every working order (resting and pending market)."""
        n = self.cancel_resting()
        for o in self._pending:
            if o.status == WORKING:
                o.status = CANCELLED
                n += 1
                if self.listener is not None:
                    self.listener.on_order_update(o)
        self._pending.clear()
        return n

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    @property
    def resting(self) -> list[Order]:
        return list(self._resting)

    # ---- matching ---------------------------------------------------------------------------
    def _fill_due(self, ts_ns: int, print_px: float = math.nan, print_side: int = 0) -> None:
        """Fill the pending market orders that reached the exchange before ``ts_ns`` (strictly)."""
        tick, cfg = self.instrument.tick_size, self.config
        keep: list[Order] = []
        for o in self._pending:
            if ts_ns <= o.due_ns:
                keep.append(o)
                continue
            px = fills_model.market_fill_price(o.side, o.qty, book=self.book, print_px=print_px,
                                               print_side=print_side, tick=tick, costs=cfg)
            if px != px:  # no book and no print yet: wait for one
                keep.append(o)
                continue
            self._execute(o, ts_ns, px)
        self._pending = keep

    def _check_resting(self, ts_ns: int, price: float) -> None:
        tick, cfg = self.instrument.tick_size, self.config
        for o in list(self._resting):
            if o.status != WORKING:
                continue
            if o.kind == STOP:
                if not fills_model.stop_triggered(o.side, o.price, price):
                    continue
                px = fills_model.stop_fill_price(o.side, o.price, price, tick, cfg)
            else:
                if not fills_model.limit_triggered(o.side, o.price, price, cfg):
                    continue
                px = o.price
            self._execute(o, ts_ns, px)
            if self.position == 0:
                break

    def _execute(self, o: Order, ts_ns: int, price: float) -> None:
        o.status = FILLED
        if o.kind != MARKET:
            self._resting.remove(o)
        fee = self.instrument.fee_per_contract * o.qty
        fill = Fill(f"{o.client_id}-F{len(self.fills) + 1}", o.client_id, ts_ns, o.side, o.qty, price, fee, o.tag)
        self.fills.append(fill)
        self.fees += fee
        opened = self.position == 0
        self._apply(fill)
        if self.listener is not None:
            self.listener.on_fill(o, fill)
        if self.position == 0:
            self.cancel_resting()
        elif opened and (o.stop_ticks or o.target_ticks):
            self._place_bracket(o, ts_ns, price)

    def _place_bracket(self, entry: Order, ts_ns: int, price: float) -> None:
        tick = self.instrument.tick_size
        side = -entry.side
        if entry.stop_ticks:
            stop = Order(self._next_id(), ts_ns, side, entry.qty, STOP, price - entry.side * entry.stop_ticks * tick,
                         "stop")
            self.orders.append(stop)
            if self.listener is not None:
                self.listener.on_order(stop)
            self._resting.append(stop)
        if entry.target_ticks:
            target = Order(self._next_id(), ts_ns, side, entry.qty, LIMIT,
                           price + entry.side * entry.target_ticks * tick, "target")
            self.orders.append(target)
            if self.listener is not None:
                self.listener.on_order(target)
            self._resting.append(target)

    def _apply(self, f: Fill) -> None:
        signed = f.side * f.qty
        pos = self.position
        if pos == 0 or (pos > 0) == (signed > 0):  # open or add
            new = pos + signed
            self.avg_price = (self.avg_price * abs(pos) + f.price * f.qty) / abs(new)
            self.position = new
            if self._open is None:
                self._open = RoundTrip(f.side, f.qty, f.ts_ns, f.price, fees=f.fee, entry_client_id=f.client_id)
            else:
                self._open.qty += f.qty
                self._open.fees += f.fee
            return
        closed = min(abs(pos), f.qty)
        pts = (f.price - self.avg_price) * closed * (1 if pos > 0 else -1)
        self.realized_points += pts
        self.position = pos + signed
        rt = self._open
        if rt is not None:
            rt.points += pts
            rt.fees += f.fee
        if self.position == 0:
            self.avg_price = 0.0
            if rt is not None:
                rt.exit_ts_ns, rt.exit_price, rt.exit_tag = f.ts_ns, f.price, f.tag
                rt.pnl = rt.points * self.instrument.point_value - rt.fees
                self.trades.append(rt)
            self._open = None
        elif (pos > 0) != (self.position > 0):  # crossed zero: remainder opens a new position
            self.avg_price = f.price
            if rt is not None:
                rt.exit_ts_ns, rt.exit_price, rt.exit_tag = f.ts_ns, f.price, f.tag
                rt.pnl = rt.points * self.instrument.point_value - rt.fees
                self.trades.append(rt)
            self._open = RoundTrip(f.side, abs(self.position), f.ts_ns, f.price, entry_client_id=f.client_id)

    # ---- accounting -------------------------------------------------------------------------
    def account(self) -> dict[str, Any]:
        """Position, average price, working orders and fill ids (``broker_state.account``)."""
        from live_engine.execution.broker_state import account

        return account(self)

    def unrealized_points(self, mark: float) -> float:
        return (mark - self.avg_price) * self.position if self.position else 0.0

    def equity_pnl(self, mark: float) -> float:
        """Realised + unrealised PnL in R$, net of fees paid so far."""
        pts = self.realized_points + self.unrealized_points(mark)
        return pts * self.instrument.point_value - self.fees
