"""Streaming execution of the ``qt65_v1`` feature set: O(1) amortised work per event.

:class:`FeatureEngine` builds its own bars from trades (same bar spec and rules as
``market.bars.build_bars``) and, at every bar close, writes the 65 features into one preallocated
``float64`` vector. Per trade it only updates the open bar's accumulators (plain ints, floats and
dicts); per book event it only swaps the book tuple. All window work happens at bar close.

Time semantics (shared with the batch path, see ``docs/features.md``):

- A bar holds trades with ``prev_close < ts <= close``; a session holds ``open <= ts <= close``, so a
  print at exactly the open (B3's opening auction) is in the session's first bar. An event at ``ts``
  first closes every bar whose close is ``< ts`` ("time passes first"), then applies itself. A bar whose
  close equals the event's ts stays open for more events at that ts; ``advance_to(ts)`` closes bars
  with close ``<= ts``.
- Time bars: a grid anchored at each session's open; a session starts with its first trade in
  ``[open, close]`` and then gets its full grid, empty bars included. Volume / tick bars close at the
  trade that completes them (later trades with that same ts join the bar, decision B1), so they are
  emitted by the next later event or timer; a session's last partial bar closes at its last trade and
  is emitted when the session ends (an event after the session close, or ``advance_to`` at or after it).
- The book at a bar's close is the last book state with ``ts <= close``.
- Trades outside every session are counted (``n_ignored``) and dropped; trades older than time
  already passed are counted (``n_late``) and dropped; trades with a NaN or non-positive price or a
  non-positive size are counted (``n_rejected``) and dropped (upstream validation quarantines them).
- Unknown is not a value: a trade of type 32 (unknown aggressor side) or with a negative (unknown)
  buyer / seller id is counted in its bar and left out of the side (resp. broker) statistics; a
  window whose trades all lack the side (resp. the ids) gives NaN in the features that need them
  (``docs/features.md``, "Unknown inputs").

No pandas and no per-trade numpy in this module: it runs in the live engine's hot path.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from math import nan

import numpy as np

from features.streaming_session import NS, TIME, VOLUME, Session, SessionLocator, parse_bar_spec
from features.streaming_windows import NAMES, BarInput, WindowState
from market.instruments import get_instrument

__all__ = ["NAMES", "BarClose", "FeatureEngine"]

_NEVER = 2**63 - 1
_MAX_HIST = 200_000
_NAN5 = (nan, nan, nan, nan, nan)


@dataclass(slots=True)
class BarClose:
    """One closed bar and its features. ``features`` is a view of the engine's preallocated vector,
    overwritten at the next close: copy it if you keep it."""

    close_ts_ns: int
    open_ts_ns: int
    session: date
    open: float
    high: float
    low: float
    close: float
    volume: int
    n_trades: int
    buy_vol: int
    sell_vol: int
    features: np.ndarray


def _levels(px: Sequence[float]) -> tuple[float, ...]:
    t = tuple(float(x) for x in px[:5])
    return t + _NAN5[: 5 - len(t)]


class FeatureEngine:
    """Incremental bars and ``qt65_v1`` features for one symbol.

    ``on_trade`` / ``on_book`` / ``advance_to`` return the number of bars they closed; after each
    close :attr:`vector` holds that bar's 65 features (in ``features.spec.FEATURE_NAMES`` order) and
    ``on_bar`` (if given) is called with a :class:`BarClose`. Events must arrive in time order.
    """

    def __init__(
        self,
        symbol: str,
        *,
        bar_spec: str = "time:60s",
        large_trade_qty: int = 10,
        on_bar: Callable[[BarClose], None] | None = None,
    ) -> None:
        inst = get_instrument(symbol)
        self.symbol = symbol
        self.bar_spec = parse_bar_spec(bar_spec)
        self._kind = self.bar_spec.kind
        self._size = self.bar_spec.size
        self._step_ns = self.bar_spec.size * NS
        self._large = large_trade_qty
        self._point_value = inst.point_value
        self._on_bar = on_bar
        self._sessions = SessionLocator(inst)
        self._win = WindowState(inst.tick_size)
        self._vector = np.full(len(NAMES), nan)
        self._out: list[float] = []
        # session and bar state
        self._session: Session | None = None
        self._s_open = 0
        self._s_close = -1  # no ts is in (0, -1]: "not in a session"
        self._quiet_from = 0
        self._quiet_to = -1
        self._bar: BarInput | None = None
        self._bar_close = _NEVER  # close of the open bar, once known (time bars: always)
        self._due = _NEVER  # smallest close that time passing must act on
        self._passed = -1  # every close <= this has been processed
        self._last_close = nan
        self._book: Sequence[float] | None = None
        # book states seen while no session is active: the empty bars that open a session are emitted
        # only when its first trade arrives and each needs the book as of its own close
        self._hist_ts: list[int] = []
        self._hist_book: list[Sequence[float] | None] = []
        self._hist_base: Sequence[float] | None = None
        self._trade_book: Sequence[float] | None = None
        self._last_trade_ts = -1
        self.n_bars = 0
        self.n_ignored = 0
        self.n_late = 0
        self.n_rejected = 0

    # ---- public API ---------------------------------------------------------------------------
    @property
    def vector(self) -> np.ndarray:
        """The preallocated (65,) vector of the last closed bar (NaN before the first close)."""
        return self._vector

    @property
    def last_session(self) -> Session | None:
        return self._session

    def on_trade(self, ts_ns: int, price: float, qty: int, trade_type: int, buyer: int, seller: int) -> int:
        """Apply one trade; return the number of bars closed (time passes first)."""
        closed = 0
        if ts_ns > self._due:
            closed = self._pass_time(ts_ns - 1)
        if ts_ns <= self._passed:
            self.n_late += 1
            return closed
        if not (price > 0.0 and qty > 0):  # NaN / non-positive price or size: would poison every window
            self.n_rejected += 1
            return closed
        if ts_ns < self._s_open or ts_ns > self._s_close:
            closed += self._enter(ts_ns)
            if ts_ns < self._s_open or ts_ns > self._s_close:
                self.n_ignored += 1
                return closed
        bar = self._bar
        assert bar is not None
        if bar.n:
            if price > bar.h:
                bar.h = price
            elif price < bar.l:
                bar.l = price
        else:
            bar.o = bar.h = bar.l = price
        # a trade with an unknown (negative) buyer or seller id is counted, never a broker: it is left
        # out of every broker statistic (dictionaries, switches, first / last buyer)
        known = buyer >= 0 and seller >= 0
        if known:
            if bar.n > bar.ub:  # the bar already holds a known-broker trade
                if buyer != bar.last_buyer:
                    bar.switches += 1
            else:
                bar.first_buyer = buyer
            bar.last_buyer = buyer
        else:
            bar.ub += 1
        bar.c = price
        bar.n += 1
        bar.v += qty
        bar.pq += price * qty
        if trade_type == 2:
            bar.vb += qty
            bar.nb += 1
            if qty >= self._large:
                bar.lb += qty
            if known:
                d = bar.abuy
                d[buyer] = d.get(buyer, 0) + qty
        elif trade_type == 3:
            bar.vs += qty
            if qty >= self._large:
                bar.ls += qty
            if known:
                d = bar.asell
                d[seller] = d.get(seller, 0) + qty
        elif trade_type == 32:  # TradeType.UNKNOWN: the source has no aggressor side
            bar.us += 1
        if known:
            traded, net = bar.traded, bar.net
            traded[buyer] = traded.get(buyer, 0) + qty
            net[buyer] = net.get(buyer, 0) + qty
            traded[seller] = traded.get(seller, 0) + qty
            net[seller] = net.get(seller, 0) - qty
        bar.close_ts = ts_ns
        self._trade_book = self._book
        self._last_trade_ts = ts_ns
        if (
            self._kind != TIME
            and self._bar_close == _NEVER
            and (bar.v if self._kind == VOLUME else bar.n) >= self._size
        ):
            # complete: trades at this same ts still join it (decision B1); the next later event closes it
            self._bar_close = self._due = ts_ns
        return closed

    def on_book(
        self,
        ts_ns: int,
        bid_px: Sequence[float],
        bid_qty: Sequence[float],
        ask_px: Sequence[float],
        ask_qty: Sequence[float],
    ) -> int:
        """Replace the book (best 5 levels per side, best first); return the number of bars closed."""
        if len(bid_px) == len(bid_qty) == len(ask_px) == len(ask_qty) == 5:
            return self.on_book_levels(ts_ns, (*bid_px, *bid_qty, *ask_px, *ask_qty))
        return self.on_book_levels(ts_ns, _levels(bid_px) + _levels(bid_qty) + _levels(ask_px) + _levels(ask_qty))

    def on_book_levels(self, ts_ns: int, levels: Sequence[float]) -> int:
        """:meth:`on_book` with the 20 values already packed (bid px 1-5, bid qty 1-5, ask px 1-5,
        ask qty 1-5): no per-event allocation. The engine keeps a reference: never mutate ``levels``."""
        closed = self._pass_time(ts_ns - 1) if ts_ns > self._due else 0
        if self._bar is None:  # no active session: remember the state for a later retroactive grid
            if not self._hist_ts:
                self._hist_base = self._book
            elif len(self._hist_ts) >= _MAX_HIST:
                half = _MAX_HIST // 2
                self._hist_base = self._hist_book[half - 1]
                del self._hist_ts[:half], self._hist_book[:half]
            self._hist_ts.append(ts_ns)
            self._hist_book.append(levels)
        self._book = levels
        if ts_ns == self._last_trade_ts:
            self._trade_book = levels
        return closed

    def advance_to(self, ts_ns: int) -> int:
        """Timer: every event with ts <= ``ts_ns`` has been delivered; close every bar with close <= ts_ns."""
        return self._pass_time(ts_ns) if ts_ns >= self._due else 0

    # ---- bars ---------------------------------------------------------------------------------
    def _enter(self, ts_ns: int) -> int:
        """``ts_ns`` lies outside the current session: start the session containing it, if any."""
        if self._quiet_from < ts_ns < self._quiet_to:  # quiet_to is the next open, inside its session
            return 0
        s, self._quiet_from, self._quiet_to = self._sessions.locate(ts_ns)
        if s is None:
            return 0
        self._session, self._s_open, self._s_close = s, s.open_ns, s.close_ns
        self._bar = self._new_bar(s.open_ns)
        if self._kind == TIME:
            self._bar_close = min(s.open_ns + self._step_ns, s.close_ns)
            self._due = self._bar_close
        else:
            self._bar_close, self._due = _NEVER, s.close_ns
        closed = self._pass_time(ts_ns - 1) if ts_ns > self._due else 0
        self._hist_ts.clear()
        self._hist_book.clear()
        return closed

    def _book_at(self, ts_ns: int) -> Sequence[float] | None:
        """The book as of ``ts_ns`` while replaying a session's opening grid."""
        i = bisect_right(self._hist_ts, ts_ns)
        return self._hist_book[i - 1] if i else self._hist_base

    def _new_bar(self, open_ts: int) -> BarInput:
        bar = BarInput()
        bar.session = self._session
        bar.open_ts = bar.close_ts = open_ts
        return bar

    def _pass_time(self, limit: int) -> int:
        """Close every bar whose close is <= ``limit`` (ns)."""
        closed = 0
        if self._kind == TIME:
            while self._bar_close <= limit:
                bar = self._bar
                assert bar is not None
                close = self._bar_close
                self._emit(bar, close, self._book_at(close) if self._hist_ts else self._book)
                closed += 1
                if close < self._s_close:
                    self._bar = self._new_bar(close)
                    self._bar_close = min(close + self._step_ns, self._s_close)
                else:
                    self._bar, self._bar_close = None, _NEVER
            self._due = self._bar_close
        else:
            if self._bar_close <= limit:  # a completed volume/tick bar
                bar = self._bar
                assert bar is not None
                close = self._bar_close
                self._emit(bar, close, self._book)
                closed += 1
                self._bar, self._bar_close = self._new_bar(close), _NEVER
            if self._s_close <= limit and self._bar is not None:  # the session's last, partial bar
                bar = self._bar
                if bar.n:
                    self._emit(bar, bar.close_ts, self._trade_book)
                    closed += 1
                self._bar = None
            self._due = self._bar_close if self._bar_close != _NEVER else (
                self._s_close if self._bar is not None else _NEVER
            )
        if limit > self._passed:
            self._passed = limit
        return closed

    def _emit(self, bar: BarInput, close_ts: int, book: Sequence[float] | None) -> None:
        open_ts = bar.open_ts
        bar.close_ts = close_ts
        bar.duration_s = (close_ts - open_ts) / NS
        if bar.n == 0:
            bar.o = bar.h = bar.l = bar.c = self._last_close
        self._last_close = bar.c
        bar.notional = bar.pq * self._point_value
        out = self._out
        out.clear()
        self._win.update(bar, book, out)
        self._vector[:] = out
        self.n_bars += 1
        if self._on_bar is not None:
            s = bar.session
            assert s is not None
            self._on_bar(
                BarClose(
                    close_ts, open_ts, s.day, bar.o, bar.h, bar.l, bar.c, bar.v, bar.n, bar.vb, bar.vs, self._vector
                )
            )

