"""The replay feed: the last N lake sessions (trades, and the book where the lake has it), paced.

The sessions are read the way the backtest reads them (``live_engine.backtest.replay.load_lake_sessions``'s
``_read_sessions``: sorted by ``ts``, stable) and played through the same :class:`~live_engine.feeds.tape.Tape`
merge, so the engine sees a lake day in the backtest's order. One session is in memory at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING

from live_engine.feeds.paced import PacedFeed
from live_engine.feeds.tape import Tape
from quantumtrader.config import Settings
from quantumtrader.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from market.lake import Lake


def lake_days(settings: Settings, sessions: int | Sequence[date], symbol: str | None = None) -> list[date]:
    """The lake days to play: the last ``sessions`` days with trades, or those dates (each must have trades)."""
    from market.lake import Lake

    symbol = symbol or settings.market.symbol
    available = Lake(settings.lake_root).days("trades", symbol)
    if isinstance(sessions, int):
        if not available:
            raise InputError(f"no trades for {symbol} in the lake at {settings.lake_root}: run `qtml ingest` "
                             "(or `qtml simulate` then `qtml ingest`) first")
        return available[-sessions:]
    missing = [d.isoformat() for d in sessions if d not in available]
    if missing:
        raise InputError(f"sessions {missing} have no trades for {symbol} in the lake at {settings.lake_root}; "
                         f"it has {len(available)} days" + (f", the last {available[-1]}" if available else ""))
    return sorted(sessions)


def read_lake_day(lake: Lake, symbol: str, day: date, book: bool) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One lake day as every player reads it: trades and (when ``book``) snapshots, each sorted by ``ts``
    (stable: rows of one timestamp keep the lake's order)."""
    trades = lake.read_day("trades", symbol, day).sort_values("ts", kind="stable")
    return trades, lake.read_day("book", symbol, day).sort_values("ts", kind="stable") if book else None


def lake_tapes(settings: Settings, days: Sequence[date], symbol: str | None = None) -> Iterator[Tape]:
    """Each day's tape, read when it is reached."""
    from market.lake import Lake

    symbol = symbol or settings.market.symbol
    lake = Lake(settings.lake_root)
    book_days = set(lake.days("book", symbol))
    for d in days:
        yield Tape.of(*read_lake_day(lake, symbol, d, d in book_days))


class ReplayFeed(PacedFeed):
    """The last ``sessions`` lake sessions (default ``live.feeds.replay_sessions``) or the given ``days``,
    at ``speed`` (default ``live.feeds.speed``; 0 = flat out)."""

    def __init__(self, settings: Settings, sessions: int | Sequence[date] | None = None, speed: float | None = None,
                 *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        cfg = settings.live.feeds
        self.days = lake_days(settings, sessions if sessions is not None else cfg.replay_sessions)
        super().__init__("replay", lake_tapes(settings, self.days), settings.market.symbol,
                         cfg.speed if speed is None else speed, max_batch=cfg.poll_max_events,
                         max_ts_regress_ns=int(cfg.max_ts_regress_ms * 1e6), clock=clock, sleep=sleep)
