"""The one cost and fill model: how a simulated order fills, and what the labels assume it costs.

Pure functions over plain values. The paper broker (``broker.py``) applies them event by event, the
vectorised sweep (``live_engine/backtest/sweep.py``) applies the same functions to the tape at each
bar close, and the training labels take their round-trip cost from :func:`round_trip_cost_ticks` of
the same :class:`~live_engine.execution.config.CostConfig`. ``docs/costs-and-warmup.md`` explains
each rule and its default.

- **Market orders** reach the exchange ``latency_ms`` after the decision
  (:func:`arrival_ns`) and fill at the first market event *strictly after* that time, against the
  book standing when they arrived: :func:`walk_book` takes size level by level beyond level 1. With
  no book recorded (a trades-only history) they fill at the first print after arrival:
  :func:`print_fill` pays the print when it was on the side we take (an aggressive buy printed at
  the ask), else the print plus ``spread_ticks``. ``slippage_ticks`` is added against us on top.
- **Stops** trigger when a print reaches them and fill at the worse of stop and print, plus
  ``stop_slippage_ticks`` (:func:`stop_fill_price`).
- **Limit orders** (targets) fill at their price only when a print trades *through* it, strictly
  beyond; ``touch_fills`` lets a touch fill them (:func:`limit_triggered`).
- **Expected cost.** Measured from the decision bar's close (the last print, at the bid or the
  ask), a market order pays on average half the spread plus the slippage, per side
  (:func:`expected_side_cost_ticks`), plus the instrument's fee: :func:`round_trip_cost_ticks`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import numpy as np

from live_engine.execution.config import CostConfig
from market.instruments import Instrument

NS_PER_MS = 1_000_000
# A packed book row (what ``FeatureEngine.on_book_levels`` and the broker read): bid prices 1-5, bid
# quantities 1-5, ask prices 1-5, ask quantities 1-5.
BOOK_LEVELS = 5
_BID_PX, _BID_QTY, _ASK_PX, _ASK_QTY = 0, 5, 10, 15
_AGGRESSIVE_BUY, _AGGRESSIVE_SELL = 2, 3  # market.schemas.TradeType
NAN = math.nan


def arrival_ns(decision_ns: int, costs: CostConfig) -> int:
    """When an order decided at ``decision_ns`` reaches the exchange; it fills strictly after this."""
    return decision_ns + costs.latency_ms * NS_PER_MS


def aggressor_side(trade_type: int) -> int:
    """+1 for an aggressive buy (printed at the ask), -1 for an aggressive sell (at the bid), 0 unknown."""
    return 1 if trade_type == _AGGRESSIVE_BUY else (-1 if trade_type == _AGGRESSIVE_SELL else 0)


def aggressor_sides(trade_types: np.ndarray) -> np.ndarray:
    """:func:`aggressor_side` of every trade type in an array (int64)."""
    tt = np.asarray(trade_types)
    return np.where(tt == _AGGRESSIVE_BUY, 1, np.where(tt == _AGGRESSIVE_SELL, -1, 0)).astype(np.int64)


def level_one_row(bid: float, ask: float) -> list[float]:
    """A packed book row that knows only the best bid and ask (sizes unknown: level 1 takes any size)."""
    row = [NAN] * (4 * BOOK_LEVELS)
    row[_BID_PX], row[_ASK_PX] = bid, ask
    return row


def walk_book(side: int, qty: int, book: Sequence[float], tick: float) -> float:
    """Average price of taking ``qty`` from ``book`` (a packed row): asks for a buy, bids for a sell.

    Levels are taken best first; a level with an unknown (NaN) size takes whatever is left. Size
    beyond the visible levels fills one tick past the last one. NaN when the side has no price.
    """
    px_at, qty_at = (_ASK_PX, _ASK_QTY) if side > 0 else (_BID_PX, _BID_QTY)
    left, paid, last = float(qty), 0.0, NAN
    for i in range(BOOK_LEVELS):
        px = book[px_at + i]
        if px != px:  # NaN: no more levels
            break
        last = px
        size = book[qty_at + i]
        take = left if size != size else min(left, max(0.0, size))
        paid += take * px
        left -= take
        if left <= 0:
            return paid / qty
    if last != last:
        return NAN
    return (paid + left * (last + side * tick)) / qty


def print_fill(side: int, price: float, print_side: int, tick: float, costs: CostConfig) -> float:
    """A market order's price at a print when no book is known: the print if it was on the side we
    take (a buy at an aggressive buy's price, the ask), else the print plus the assumed spread."""
    return price if print_side == side else price + side * costs.spread_ticks * tick


def market_fill_price(side: int, qty: int, *, book: Sequence[float] | None, print_px: float, print_side: int,
                      tick: float, costs: CostConfig) -> float:
    """Fill price of a market order that has arrived: walk the standing ``book`` when one is known,
    else price it from the print that follows its arrival; plus ``slippage_ticks`` against us.
    NaN when neither is known yet (the order waits for the next event)."""
    px = walk_book(side, qty, book, tick) if book is not None else NAN
    if px != px:
        if print_px != print_px:
            return NAN
        px = print_fill(side, print_px, print_side, tick, costs)
    return px + side * costs.slippage_ticks * tick


def stop_triggered(side: int, stop: float, price: float) -> bool:
    """A sell stop (``side`` -1) triggers on a print at or below it, a buy stop at or above."""
    return price <= stop if side < 0 else price >= stop


def stop_fill_price(side: int, stop: float, price: float, tick: float, costs: CostConfig) -> float:
    """The worse of stop and print (a gap fills at the print), ``stop_slippage_ticks`` further."""
    worse = min(stop, price) if side < 0 else max(stop, price)
    return worse + side * costs.stop_slippage_ticks * tick


def limit_triggered(side: int, limit: float, price: float, costs: CostConfig) -> bool:
    """A sell limit fills on a print strictly above it (a buy limit: strictly below); at it with ``touch_fills``."""
    if costs.touch_fills:
        return price >= limit if side < 0 else price <= limit
    return price > limit if side < 0 else price < limit


def expected_side_cost_ticks(costs: CostConfig) -> float:
    """Expected cost of one market fill against the decision bar's close, in ticks.

    The close is the last print, at the bid or at the ask; a market order pays the opposite side, so
    on average half the spread, plus the slippage. Latency adds a move of either sign (no bias on a
    martingale price), so it is not in the expectation; ``docs/costs-and-warmup.md`` has the measured value.
    """
    return costs.spread_ticks / 2.0 + costs.slippage_ticks


def round_trip_cost_ticks(instrument: Instrument, costs: CostConfig) -> float:
    """Entering and leaving one contract, in ticks: two fees plus two expected market fills."""
    return 2.0 * instrument.fee_per_contract / instrument.tick_value + 2.0 * expected_side_cost_ticks(costs)


class _Order(Protocol):
    @property
    def client_id(self) -> str: ...
    @property
    def ts_ns(self) -> int: ...
    @property
    def kind(self) -> str: ...


class _Fill(Protocol):
    @property
    def client_id(self) -> str: ...
    @property
    def ts_ns(self) -> int: ...
    @property
    def side(self) -> int: ...
    @property
    def price(self) -> float: ...
    @property
    def tag(self) -> str: ...


def fill_cost_vs_close(orders: Iterable[_Order], fills: Iterable[_Fill], close_at: Mapping[int, float],
                       tick: float) -> dict[str, float]:
    """What the market fills cost against the close of the bar that decided them, in ticks (positive =
    paid), for entries, exits and all; and the mean delay from decision to fill in ms. NaN when none."""
    decided = {o.client_id: o.ts_ns for o in orders if o.kind == "market"}
    costs: dict[str, list[float]] = {"entry": [], "exit": []}
    delays: list[float] = []
    for f in fills:
        ts = decided.get(f.client_id)
        close = close_at.get(ts, NAN) if ts is not None else NAN
        if ts is None or close != close:
            continue
        costs["entry" if f.tag == "entry" else "exit"].append(f.side * (f.price - close) / tick)
        delays.append((f.ts_ns - ts) / NS_PER_MS)

    def mean(xs: list[float]) -> float:
        return math.fsum(xs) / len(xs) if xs else NAN

    every = costs["entry"] + costs["exit"]
    return {"fill_vs_close_ticks": mean(every), "fill_vs_close_ticks_entry": mean(costs["entry"]),
            "fill_vs_close_ticks_exit": mean(costs["exit"]), "fill_delay_ms": mean(delays),
            "market_fills": float(len(every))}
