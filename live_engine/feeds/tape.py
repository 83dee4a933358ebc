"""One session's recorded tape in the order every consumer plays it: trades and book snapshots merged by
time, trades first on equal timestamps.

The backtest (``live_engine.backtest.replay``), the replay and sim feeds and ``qtml feed publish`` all play
a session through :meth:`Tape.runs`, so the live engine sees a lake day in exactly the order the backtest
did. The columns are unpacked once into Python lists: the per-event loops that read them index lists,
not numpy arrays (a numpy scalar per event costs more than the work done with it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from live_engine.feeds.events import Book, Event, Trade
from market.schemas import ASK_PX, ASK_QTY, BID_PX, BID_QTY

BOOK_COLS = [*BID_PX, *BID_QTY, *ASK_PX, *ASK_QTY]  # the packed 20-value row of a Book event


def ts_ns(col: pd.Series) -> np.ndarray:
    """A timestamp column as int64 ns since the epoch."""
    return np.asarray(pd.DatetimeIndex(col).as_unit("ns").asi8, dtype=np.int64)


def merge_cuts(t_ts: np.ndarray, b_ts: np.ndarray) -> list[int]:
    """For each book snapshot, how many trades the time-ordered merge plays before it (trades first
    on equal timestamps): the first trade index ``>=`` the previous cut whose ts is ``>`` the snapshot's."""
    if len(t_ts) < 2 or bool(np.all(t_ts[1:] >= t_ts[:-1])):
        cut: list[int] = np.maximum.accumulate(np.searchsorted(t_ts, b_ts, side="right")).tolist()
        return cut
    t, nt, i, out = t_ts.tolist(), len(t_ts), 0, []  # unsorted tape (late trades): merge step by step
    for b in b_ts.tolist():
        while i < nt and t[i] <= b:
            i += 1
        out.append(i)
    return out


@dataclass(frozen=True, eq=False)
class Tape:
    """A session's trades (``TRADE_SCHEMA`` columns as lists) and book snapshots (timestamps, packed rows)
    with the merge cuts; build it with :meth:`of`."""

    ts: list[int]
    trade_id: list[int]
    price: list[float]
    qty: list[int]
    trade_type: list[int]
    buyer: list[int]
    seller: list[int]
    book_ts: list[int]
    levels: list[list[float]]
    cut: list[int]  # per snapshot: trades played before it

    @classmethod
    def of(cls, trades: pd.DataFrame, book: pd.DataFrame | None) -> Tape:
        """Unpack one session (rows in the frames' order; sort by ``ts`` first, as the lake readers do)."""
        t_ts = ts_ns(trades["ts"])
        levels: list[list[float]] = []
        cut: list[int] = []
        b_ts_l: list[int] = []
        if book is not None and len(book):
            b_ts = ts_ns(book["ts"])
            # one packed 20-value row per snapshot (the engine and the broker keep it as their book: no
            # per-event tuple), and how many trades the merge plays before each snapshot
            levels = book[BOOK_COLS].to_numpy(np.float64).tolist()
            cut = merge_cuts(t_ts, b_ts)
            b_ts_l = b_ts.tolist()

        def ints(col: str) -> list[int]:
            out: list[int] = trades[col].to_numpy(np.int64).tolist()
            return out

        return cls(ts=t_ts.tolist(), trade_id=ints("trade_id"), price=trades["price"].to_numpy(np.float64).tolist(),
                   qty=ints("qty"), trade_type=ints("trade_type"), buyer=ints("buyer"), seller=ints("seller"),
                   book_ts=b_ts_l, levels=levels, cut=cut)

    @property
    def n_events(self) -> int:
        return len(self.ts) + len(self.book_ts)

    def runs(self) -> Iterator[tuple[int, int, int]]:
        """The merge as runs ``(start, stop, j)``: play trades ``[start, stop)``, then snapshot ``j``
        (``j == -1`` on the last run: the trades after every snapshot)."""
        start = 0
        for j, stop in enumerate(self.cut):  # non-decreasing (merge_cuts)
            yield start, stop, j
            start = stop
        if start < len(self.ts):
            yield start, len(self.ts), -1

    def events(self, symbol: str) -> Iterator[Event]:
        """The session as feed events, in the merged order."""
        ts, tid, px, q, tt = self.ts, self.trade_id, self.price, self.qty, self.trade_type
        b, s = self.buyer, self.seller
        for start, stop, j in self.runs():
            for i in range(start, stop):
                yield Trade(ts[i], symbol, tid[i], px[i], q[i], tt[i], b[i], s[i])
            if j >= 0:
                yield Book(self.book_ts[j], symbol, self.levels[j])
