"""What the parameter sweep needs to know of the recorded tape, computed once for every candidate.

The replay plays the sessions event by event; the sweep decides only at bar closes, so everything it
needs between two closes is looked up here in advance, with the functions of the one cost and fill
model (``live_engine/execution/costs.py``) applied to the same events in the same order
(:meth:`live_engine.feeds.tape.Tape.runs`: trades before the book snapshot that shares their time):

- per bar close: the last event at or before it (the stale-data rule), the session's bounds, and
  where a market order decided there fills as a buy and as a sell (:class:`MarketFills`: the first
  event strictly after the close plus the latency, against the standing book, which an earlier
  session's snapshot is not, ``BOOK_STALE_NS``);
- per entry fill and bracket distance: the print at which the stop or the target triggers and its
  fill price (:meth:`SweepTape.bracket_exit`, cached: every candidate entering at the same bar with the
  same distances shares it). The sweep cancels the bracket itself when it decides an exit first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from live_engine.decision.core import BOOK_STALE_NS
from live_engine.execution.config import CostConfig
from live_engine.execution.costs import (
    aggressor_sides,
    arrival_ns,
    limit_triggered,
    market_fill_price,
    stop_fill_price,
    stop_triggered,
)
from live_engine.feeds.tape import Tape
from market.instruments import Instrument

NEVER = np.iinfo(np.int64).max
STOP, TARGET = 1, 2  # bracket exit kinds


@dataclass(frozen=True)
class MarketFills:
    """For each bar close, a market order decided there as a buy and as a sell (one contract): when it
    fills (``buy_ts`` / ``sell_ts``; -1: never, the tape ends first), at what price, and the merged
    event of that fill (``buy_at`` / ``sell_at``), from which an entry's bracket watches the prints."""

    buy_ts: np.ndarray
    sell_ts: np.ndarray
    buy: np.ndarray
    sell: np.ndarray
    buy_at: np.ndarray
    sell_at: np.ndarray


@dataclass(frozen=True, eq=False)
class Events:
    """Every session's trades and snapshots merged in the replay's order (:meth:`Tape.runs`)."""

    ts: np.ndarray  # int64, per event
    is_trade: np.ndarray  # bool
    price: np.ndarray  # the print's price (NaN for a snapshot)
    side: np.ndarray  # the print's aggressor side (0 for a snapshot)
    book_before: np.ndarray  # index into ``rows`` of the snapshot standing before the event (-1: none)
    last_trade_ts: np.ndarray  # ts of the last print at or before the event (its own when a print; 0: none)
    rows: list[list[float]]  # packed book rows, in time order
    book_ts: np.ndarray  # per row
    trade_at: np.ndarray  # merged index of every print, in order
    trade_px: np.ndarray  # every print's price, in order

    @classmethod
    def of(cls, sessions: Sequence[tuple[object, object]]) -> Events:
        """From ``(trades, book)`` pairs (``SessionData`` fields), oldest session first."""
        ts_parts, trade_parts, px_parts, side_parts, rows = [], [], [], [], []
        book_ts_parts = []
        for trades, book in sessions:
            tape = Tape.of(trades, book)  # type: ignore[arg-type]
            nt, nb = len(tape.ts), len(tape.book_ts)
            cut = np.asarray(tape.cut, dtype=np.int64)
            is_trade = np.ones(nt + nb, dtype=bool)
            is_trade[cut + np.arange(nb, dtype=np.int64)] = False  # snapshot j comes after cut[j] prints
            ts = np.empty(nt + nb, dtype=np.int64)
            ts[is_trade] = np.asarray(tape.ts, dtype=np.int64)
            ts[~is_trade] = np.asarray(tape.book_ts, dtype=np.int64)
            px = np.full(nt + nb, np.nan)
            px[is_trade] = np.asarray(tape.price, dtype=np.float64)
            side = np.zeros(nt + nb, dtype=np.int64)
            side[is_trade] = aggressor_sides(np.asarray(tape.trade_type, dtype=np.int64))
            ts_parts.append(ts)
            trade_parts.append(is_trade)
            px_parts.append(px)
            side_parts.append(side)
            rows.extend(tape.levels)
            book_ts_parts.append(np.asarray(tape.book_ts, dtype=np.int64))
        ts = np.concatenate(ts_parts) if ts_parts else np.zeros(0, np.int64)
        is_trade = np.concatenate(trade_parts) if trade_parts else np.zeros(0, bool)
        # the snapshot standing before event e: the count of snapshots strictly before e, minus one
        n_books_through = np.cumsum(~is_trade)
        book_before = (n_books_through - (~is_trade).astype(np.int64)) - 1
        idx = np.arange(len(ts))
        last_trade = np.maximum.accumulate(np.where(is_trade, idx, -1)) if len(ts) else np.zeros(0, np.int64)
        last_trade_ts = np.where(last_trade >= 0, ts[np.maximum(last_trade, 0)], 0)
        return cls(ts, is_trade, np.concatenate(px_parts) if px_parts else np.zeros(0),
                   np.concatenate(side_parts) if side_parts else np.zeros(0, np.int64), book_before.astype(np.int64),
                   last_trade_ts.astype(np.int64), rows,
                   np.concatenate(book_ts_parts) if book_ts_parts else np.zeros(0, np.int64), idx[is_trade],
                   np.concatenate(px_parts)[is_trade] if px_parts else np.zeros(0))

    def standing_book(self, e: int) -> list[float] | None:
        """The book the broker holds when event ``e`` arrives: the last snapshot before it, unless a
        print more than ``BOOK_STALE_NS`` after that snapshot (this one included) made the core forget it."""
        j = int(self.book_before[e])
        if j < 0 or self.last_trade_ts[e] > self.book_ts[j] + BOOK_STALE_NS:
            return None
        return self.rows[j]


def market_fills(decision_ns: np.ndarray, events: Events, costs: CostConfig, instrument: Instrument) -> MarketFills:
    """The paper broker's market fill for an order sent at each of ``decision_ns``: at the first event
    strictly after its arrival (a print, or a snapshot, against the book standing then); an event that
    prices nothing yet (no book, a snapshot without that side) passes the order on to the next."""
    d = np.asarray(decision_ns, dtype=np.int64)
    arrive = np.asarray([arrival_ns(int(x), costs) for x in d], dtype=np.int64)
    first = np.searchsorted(events.ts, arrive, side="right").tolist()
    ev_ts, is_trade = events.ts.tolist(), events.is_trade.tolist()
    px_l, side_l, n = events.price.tolist(), events.side.tolist(), len(events.ts)
    tick = instrument.tick_size
    out_ts = {1: np.full(len(d), -1, dtype=np.int64), -1: np.full(len(d), -1, dtype=np.int64)}
    out_px = {1: np.full(len(d), np.nan), -1: np.full(len(d), np.nan)}
    out_at = {1: np.full(len(d), -1, dtype=np.int64), -1: np.full(len(d), -1, dtype=np.int64)}
    for k, e0 in enumerate(first):
        for side in (1, -1):
            e = e0
            while e < n:
                trade = is_trade[e]
                px = market_fill_price(side, 1, book=events.standing_book(e), print_px=px_l[e] if trade else np.nan,
                                       print_side=side_l[e] if trade else 0, tick=tick, costs=costs)
                if px == px:
                    out_px[side][k], out_at[side][k], out_ts[side][k] = px, e, ev_ts[e]
                    break
                e += 1
    return MarketFills(out_ts[1], out_ts[-1], out_px[1], out_px[-1], out_at[1], out_at[-1])


@dataclass(eq=False)
class SweepTape:
    """The bar closes the core decided at, with everything the sweep reads between them."""

    ts_ns: np.ndarray  # int64, per bar close
    session: np.ndarray  # int64 index into ``sessions``
    sessions: list[str]
    close: np.ndarray
    open_ns: np.ndarray  # the bar's session bounds
    close_ns: np.ndarray
    last_data_ns: np.ndarray  # the last event at or before the close (the stale-data rule)
    bar_ns: int
    fills: MarketFills
    events: Events
    instrument: Instrument
    costs: CostConfig
    _brackets: dict[tuple[int, int, int, int], tuple[int, float, int]] = field(default_factory=dict)

    @property
    def n_bars(self) -> int:
        return len(self.ts_ns)

    def bracket_exit(self, fill_at: int, side: int, entry_px: float, stop_ticks: int,
                     target_ticks: int) -> tuple[int, float, int]:
        """(ts, price, STOP | TARGET) of the first print from merged event ``fill_at`` on (the entry's own
        fill print included, as the broker checks its resting orders after filling) at which the entry's
        bracket triggers; ``(NEVER, nan, 0)`` when none does."""
        key = (fill_at, side, stop_ticks, target_ticks)
        hit = self._brackets.get(key)
        if hit is not None:
            return hit
        tick, ev = self.instrument.tick_size, self.events
        stop = entry_px - side * stop_ticks * tick
        target = entry_px + side * target_ticks * tick
        exit_side = -side
        t0 = int(np.searchsorted(ev.trade_at, fill_at, side="left"))
        prices = ev.trade_px
        out: tuple[int, float, int] = (int(NEVER), float("nan"), 0)
        width, j = 256, t0
        while j < len(prices):
            seg = prices[j:j + width]
            hit_stop = _stop_mask(exit_side, stop, seg) if stop_ticks else np.zeros(len(seg), bool)
            hit_target = _limit_mask(exit_side, target, seg, self.costs) if target_ticks else np.zeros(len(seg), bool)
            any_hit = hit_stop | hit_target
            if any_hit.any():
                i = int(any_hit.argmax())
                p = float(seg[i])
                ts = int(ev.ts[ev.trade_at[j + i]])
                if hit_stop[i]:  # the stop is checked first (it rests first), as in the broker
                    assert stop_triggered(exit_side, stop, p)
                    out = (ts, stop_fill_price(exit_side, stop, p, tick, self.costs), STOP)
                else:
                    assert limit_triggered(exit_side, target, p, self.costs)
                    out = (ts, target, TARGET)
                break
            j += width
            width *= 2
        self._brackets[key] = out
        return out


def _stop_mask(side: int, stop: float, prices: np.ndarray) -> np.ndarray:
    """:func:`~live_engine.execution.costs.stop_triggered` on many prints."""
    return prices <= stop if side < 0 else prices >= stop


def _limit_mask(side: int, limit: float, prices: np.ndarray, costs: CostConfig) -> np.ndarray:
    """:func:`~live_engine.execution.costs.limit_triggered` on many prints."""
    if costs.touch_fills:
        return prices >= limit if side < 0 else prices <= limit
    return prices > limit if side < 0 else prices < limit


def sweep_tape(bar_ts: np.ndarray, bar_sessions: Sequence[str] | np.ndarray, bar_close: np.ndarray,
               sessions: Sequence[tuple[object, object]], *, costs: CostConfig, instrument: Instrument,
               bounds: Callable[[date], tuple[int, int]], bar_ns: int, prior_last_data_ns: int = 0) -> SweepTape:
    """The :class:`SweepTape` of bars (their close times, session labels and closes, e.g. a replay's
    decision records) over the recorded ``sessions`` (``(trades, book)`` pairs, oldest first).
    ``prior_last_data_ns``: the last event before these sessions (a warm-up's), for the stale rule."""
    ts = np.asarray(bar_ts, dtype=np.int64)
    names = list(dict.fromkeys(str(s) for s in bar_sessions))
    index = {s: i for i, s in enumerate(names)}
    sess = np.asarray([index[str(s)] for s in bar_sessions], dtype=np.int64)
    b = [bounds(date.fromisoformat(s)) for s in names]
    open_ns = np.asarray([b[i][0] for i in sess], dtype=np.int64)
    close_ns = np.asarray([b[i][1] for i in sess], dtype=np.int64)
    events = Events.of(sessions)
    upto = np.searchsorted(events.ts, ts, side="right")
    last = np.where(upto > 0, events.ts[np.maximum(upto - 1, 0)], prior_last_data_ns).astype(np.int64)
    last = np.where(last > 0, last, ts)  # the core's "last data or now"
    fills = market_fills(ts, events, costs, instrument)
    return SweepTape(ts, sess, names, np.asarray(bar_close, dtype=np.float64), open_ns, close_ns, last, bar_ns,
                     fills, events, instrument, costs)


DECIDED = ("trade", "weak_band", "low_confidence")  # the consensus's own reasons: it was asked on this bar


def decision_inputs(decisions: Sequence[dict[str, object]]) -> dict[str, np.ndarray]:
    """What the consensus read at each of a replay's decisions: ``probs`` (bars, 3), ``agents_signal``,
    ``agents_confidence`` and ``decided`` (the core asked the consensus: a complete row, nothing degraded),
    plus the bars' ``ts_ns``, ``session`` and ``close``. The model's probabilities and the agents' weighted
    vote do not depend on the consensus or risk configuration, so one replay serves every such candidate."""
    def col(key: str) -> np.ndarray:
        return np.asarray([float(d[key]) for d in decisions], dtype=np.float64)  # type: ignore[arg-type]

    return {"probs": np.column_stack([col("p_down"), col("p_flat"), col("p_up")]) if decisions else np.zeros((0, 3)),
            "agents_signal": col("agents_signal"), "agents_confidence": col("agents_confidence"),
            "decided": np.asarray([d["reason"] in DECIDED for d in decisions], dtype=bool),
            "ts_ns": np.asarray([int(d["ts_ns"]) for d in decisions], dtype=np.int64),  # type: ignore[call-overload]
            "session": np.asarray([str(d["session"]) for d in decisions], dtype=object),
            "close": col("close")}


def last_event_ns(sessions: Sequence[tuple[object, object]]) -> int:
    """The time of the last print or snapshot of ``sessions`` (0: none): a warm-up's, for the stale rule."""
    last = 0
    for trades, book in sessions:
        for frame in (trades, book):
            if frame is not None and len(frame):  # type: ignore[arg-type]
                last = max(last, int(np.asarray(pd.DatetimeIndex(frame["ts"]).as_unit("ns").asi8).max()))  # type: ignore[index]
    return last
