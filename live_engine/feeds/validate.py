"""Per-event checks of what a feed delivers, and the gate that drops and counts the bad ones.

The ingest's rules (``expectations/trades.json``, ``expectations/book.json`` over the derived columns of
``market.checks``) are Great Expectations suites evaluated on whole session frames: the engine process
does not import Great Expectations, and a frame per event would cost milliseconds where an event has
microseconds. So the same rules are written once more here, per event, and
``tests/live_engine/feeds/test_feed_validate.py`` reads the suites' JSON to check both say the same
(price bound, trade-type set, trade id >= 0, crossed book, negative level quantity, timestamp order).

Halting is not decided here: the gate keeps ``FeedStats.consecutive_bad`` (malformed messages and bad
ticks in a row, reset by a good event) and the engine halts trading when it reaches
``live.feeds.max_consecutive_bad``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from live_engine.feeds.events import Book, Event, FeedStats, Trade
from market.schemas import BOOK_LEVELS, KNOWN_TRADE_TYPES

MAX_PRICE = 1e12  # the trades suite's price_positive_finite upper bound
# Trade ids are unique within a session (B3 numbers them per day): the ids seen are forgotten when the
# tape moves on by more than this in event time (the overnight gap), so memory stays one session's.
SESSION_GAP_NS = 4 * 3600 * 1_000_000_000
_N = BOOK_LEVELS


def check_trade(t: Trade) -> str | None:
    """The reason a print is bad on its own, or None."""
    px = t.price
    if not math.isfinite(px):
        return "price_not_finite"
    if px <= 0.0 or px > MAX_PRICE:
        return "price_out_of_range"
    if t.qty <= 0:
        return "qty_not_positive"
    if t.trade_type not in KNOWN_TRADE_TYPES:
        return "unknown_trade_type"
    if t.trade_id < 0:
        return "trade_id_invalid"
    return None


def check_book(b: Book) -> str | None:
    """The reason a snapshot is bad on its own, or None. Empty levels are NaN prices (quantity ignored)."""
    lv = b.levels
    if len(lv) != 4 * _N:
        return "book_levels"
    for k in (*range(_N), *range(2 * _N, 3 * _N)):
        px = lv[k]
        if px == px and not (0.0 < px <= MAX_PRICE):  # NaN = an empty level; inf and <= 0 are not prices
            return "book_price_invalid"
        if px == px and not lv[k + _N] >= 0.0:
            return "book_qty_negative"
    bid, ask = lv[0], lv[2 * _N]
    if bid == bid and ask == ask and bid >= ask:
        return "book_crossed"
    return None


class EventGate:
    """Admits good events and drops bad ones, counting both in ``stats``.

    On top of :func:`check_trade` / :func:`check_book` it keeps the context a single event lacks: per
    symbol and kind (trades, book) the latest timestamp, so that an event more than ``max_ts_regress_ns``
    behind it is ``ts_out_of_order``, and the session's trade ids, so that a repeat is
    ``duplicate_trade_id``. With ``symbol`` set, other symbols are ``wrong_symbol``."""

    def __init__(self, stats: FeedStats | None = None, *, max_ts_regress_ns: int = 0, symbol: str | None = None,
                 wall_ns: Callable[[], int] = time.time_ns) -> None:
        self.stats = stats if stats is not None else FeedStats()
        self.max_ts_regress_ns = max_ts_regress_ns
        self.symbol = symbol
        self._wall_ns = wall_ns
        self._last_ts: dict[tuple[str, bool], int] = {}
        self._ids: dict[str, set[int]] = {}

    def _bad(self, reason: str) -> bool:
        st = self.stats
        st.bad_ticks += 1
        st.consecutive_bad += 1
        st.reasons[reason] = st.reasons.get(reason, 0) + 1
        return False

    def malformed(self, code: str) -> None:
        """Count a message that could not be decoded (reason ``malformed:<code>``)."""
        st = self.stats
        st.received += 1
        st.malformed += 1
        st.consecutive_bad += 1
        key = f"malformed:{code}"
        st.reasons[key] = st.reasons.get(key, 0) + 1

    def admit(self, ev: Event) -> bool:
        """Whether ``ev`` is good; counts it either way (a good one resets ``consecutive_bad``)."""
        st = self.stats
        st.received += 1
        is_trade = type(ev) is Trade
        reason = check_trade(ev) if is_trade else check_book(ev)  # type: ignore[arg-type]
        if reason is not None:
            return self._bad(reason)
        if self.symbol is not None and ev.symbol != self.symbol:
            return self._bad("wrong_symbol")
        key = (ev.symbol, is_trade)
        last = self._last_ts.get(key)
        ts = ev.ts_ns
        if last is not None and ts < last - self.max_ts_regress_ns:
            return self._bad("ts_out_of_order")
        if is_trade:
            ids = self._ids.get(ev.symbol)
            if ids is None or (last is not None and ts - last > SESSION_GAP_NS):
                ids = self._ids[ev.symbol] = set()
            tid = ev.trade_id  # type: ignore[union-attr]
            if tid in ids:
                return self._bad("duplicate_trade_id")
            ids.add(tid)
            st.trades += 1
        else:
            st.books += 1
        if last is None or ts > last:
            self._last_ts[key] = ts
        st.consecutive_bad = 0
        st.last_event_ns = self._wall_ns()
        return True
