"""What a feed delivers to the engine: trades and 5-level book snapshots, in time order per feed.

These are the engine's in-process events; ``live_engine/feeds/wire.py`` is their versioned encoding on
the ZMQ ingress (``docs/wire-format.md``). Unknown is not a value: a print without broker ids carries
-1 for each, without an aggressor side ``TradeType.UNKNOWN`` (32); the features that need them are NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Trade:
    """One print (``market.schemas.TRADE_SCHEMA`` without the derived ``fin_volume``)."""

    ts_ns: int
    symbol: str
    trade_id: int
    price: float
    qty: int
    trade_type: int  # market.schemas.TradeType
    buyer: int = -1  # broker id; -1 unknown
    seller: int = -1


@dataclass(frozen=True, slots=True)
class Book:
    """A 5-level book snapshot as one packed row: bid prices (best first), bid sizes, ask prices, ask sizes
    (``market.schemas`` BID_PX, BID_QTY, ASK_PX, ASK_QTY; NaN / 0 where a level is empty)."""

    ts_ns: int
    symbol: str
    levels: Sequence[float]  # 20 values


Event = Trade | Book


@dataclass
class FeedStats:
    """Counters every feed keeps; the engine reports them (status, metrics) and halts on ``consecutive_bad``."""

    received: int = 0  # messages / rows read, good or bad
    trades: int = 0
    books: int = 0
    malformed: int = 0  # could not be decoded (dropped)
    bad_ticks: int = 0  # decoded but invalid: NaN/inf/<=0 price, <=0 qty, crossed book, out-of-order or duplicate id
    consecutive_bad: int = 0  # malformed or bad in a row; reset by a good event
    gaps: int = 0  # sequence numbers skipped on the ingress (messages lost before the engine)
    last_event_ns: int = 0  # wall clock (time.time_ns) of the last good event
    heartbeats: int = 0  # ingress heartbeats (liveness only: not events, not in ``received``)
    last_heartbeat_ns: int = 0  # wall clock of the last heartbeat
    reasons: dict[str, int] = field(default_factory=dict)  # drop reason -> count


class Feed(Protocol):
    """A source of market events. ``poll`` never blocks longer than ``timeout_s`` (the engine's loop also
    serves the control socket, timers and the stale-feed check), and returns the events whose time has come
    (in order, possibly none). ``exhausted`` is true once a finite feed (replay, sim) has nothing left.
    ``speed`` is the pace (event seconds per wall second; 1 for the ingress, 0 = flat out): the engine
    judges a stale feed in event time, i.e. wall time x speed."""

    name: str
    stats: FeedStats
    speed: float

    def poll(self, timeout_s: float) -> list[Event]: ...

    @property
    def exhausted(self) -> bool: ...

    def close(self) -> None: ...
