"""Bars from trades: time, volume and tick bars carrying every per-bar input of ``qt65_v1``.

Vectorised over trades (``searchsorted`` / ``bincount`` / ``reduceat``); the only Python loops run
once per session (time grids) or once per bar (volume/tick boundaries). The semantics are written in
``docs/features.md`` section 1; the streaming engine builds identical bars.

A session holds the trades with ``open <= ts <= close``: a bar holds ``(prev_close, close]``, and a
session's first bar also holds a print at exactly the open (B3's opening auction prints there).
Unknown broker ids (negative: ``market.brokers.MISSING_BROKER``) and unknown aggressor sides
(``TradeType.UNKNOWN``) are counted per bar (``n_unknown_broker``, ``n_unknown_side``), never turned
into a broker or a side: a trade with an unknown buyer or seller id is in no broker list and not in
the buyer switches / first / last buyer; a trade of unknown side is in neither ``buy_vol`` nor ``sell_vol``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from market.barspec import split_bar_spec
from market.calendar import session_bounds_ns, session_days, utc_index
from market.instruments import get_instrument
from market.schemas import BAR_SCHEMA, BOOK_COLUMNS, TradeType, empty_frame
from quantumtrader.errors import InputError, SchemaError
from quantumtrader.logging import get_logger

log = get_logger("market.bars")

_NS = 1_000_000_000
_MINUTE_NS = 60 * _NS
_TRADE_COLUMNS = ("ts", "price", "qty", "buyer", "seller", "trade_type")
BROKER_LIST_COLUMNS = ("broker_ids", "broker_bought", "broker_sold", "broker_aggr_buy", "broker_aggr_sell")


@dataclass(frozen=True)
class BarSpec:
    """A parsed bar spec: ``kind`` is ``time`` (``size`` seconds), ``volume`` (contracts) or ``tick`` (trades)."""

    kind: str
    size: int

    @classmethod
    def parse(cls, spec: str) -> BarSpec:
        try:
            kind, size = split_bar_spec(spec)
        except ValueError as err:
            raise InputError(str(err)) from None
        return cls(kind, size)


@dataclass(frozen=True)
class Sessions:
    """Sessions (sorted) as int64 ns UTC bounds plus their ISO day labels."""

    days: list[date]
    open_ns: np.ndarray
    close_ns: np.ndarray


def sessions_for(ts_ns: np.ndarray, symbol: str) -> Sessions:
    """Candidate sessions for trades at ``ts_ns``: every trading-day label met by a trade
    (:func:`market.calendar.session_days`), with that day's hours from the session template."""
    if len(ts_ns) == 0:
        return Sessions([], np.empty(0, np.int64), np.empty(0, np.int64))
    hours = np.unique(ts_ns // _MINUTE_NS) * _MINUTE_NS  # a few hundred per session: cheap to label
    labels = np.unique(session_days(hours.view("datetime64[ns]"), symbol))
    days = [pd.Timestamp(d).date() for d in labels]
    bounds = [session_bounds_ns(d, symbol) for d in days]
    return Sessions(
        days,
        np.array([b[0] for b in bounds], dtype=np.int64),
        np.array([b[1] for b in bounds], dtype=np.int64),
    )


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    """int64 ns -> UTC DatetimeIndex (``pd.to_datetime`` takes 40x longer on integers)."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("M8[ns]")).tz_localize("UTC")


def _trades_arrays(trades: pd.DataFrame) -> dict[str, np.ndarray]:
    missing = [c for c in _TRADE_COLUMNS if c not in trades.columns]
    if missing:
        raise SchemaError(f"trades: missing columns {missing}")
    ts = utc_index(trades["ts"]).asi8
    out = {
        "ts": ts,
        "price": trades["price"].to_numpy(np.float64),
        "qty": trades["qty"].to_numpy(np.int64),
        "buyer": trades["buyer"].to_numpy(np.int64),
        "seller": trades["seller"].to_numpy(np.int64),
        "tt": trades["trade_type"].to_numpy(np.int64),
    }
    if len(ts) > 1 and bool(np.any(ts[1:] < ts[:-1])):
        order = np.argsort(ts, kind="stable")
        out = {k: v[order] for k, v in out.items()}
    return out


def _time_grid(sess: Sessions, used: np.ndarray, seconds: int) -> tuple[np.ndarray, np.ndarray]:
    """Closes and session index of every time bar of the sessions flagged in ``used``."""
    step = seconds * _NS
    closes, sidx = [], []
    for k in np.flatnonzero(used):
        o, c = int(sess.open_ns[k]), int(sess.close_ns[k])
        grid = np.arange(o + step, c, step, dtype=np.int64)
        grid = np.append(grid, np.int64(c))
        closes.append(grid)
        sidx.append(np.full(len(grid), k, dtype=np.int64))
    if not closes:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(closes), np.concatenate(sidx)


def _count_closes(ts: list[int], qty: np.ndarray, a: int, b: int, spec: BarSpec) -> list[int]:
    """Positions (in ``[a, b)``) of the last trade of each volume/tick bar of one session's trades."""
    ends: list[int] = []
    start = a
    if spec.kind == "volume":
        cum = np.cumsum(qty[a:b]).tolist()  # cum[i] = volume of trades a..a+i
    while start < b:
        if spec.kind == "tick":
            j = start + spec.size - 1
        else:
            before = cum[start - a - 1] if start > a else 0
            j = a + bisect.bisect_left(cum, before + spec.size)
        if j >= b - 1:
            ends.append(b - 1)
            break
        j = bisect.bisect_right(ts, ts[j], j, b) - 1  # same-timestamp trades join the bar (decision B1)
        ends.append(j)
        start = j + 1
    return ends


def _segment_sum(values: np.ndarray, starts: np.ndarray, n_bars: int, nonempty: np.ndarray) -> np.ndarray:
    out = np.zeros(n_bars, dtype=values.dtype)
    if len(starts):
        out[nonempty] = np.add.reduceat(values, starts)
    return out


def _lists(values: np.ndarray, offsets: np.ndarray, arrow: bool = False) -> Any:
    """An object array of int64 arrays (one per bar); Parquet stores it as ``list<int64>``.

    ``arrow``: the same lists as one Arrow ``list<int64>`` column (``pd.ArrowDtype``) made of the values
    and offsets, with no array per bar: what the lake writes, without a conversion per bar.
    """
    if arrow:
        return pd.arrays.ArrowExtensionArray(
            pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, pa.int64())))
    off = offsets.tolist()
    cells = np.empty(len(off) - 1, dtype=object)
    for i in range(len(off) - 1):  # per bar, but only a slice: np.split is 10x slower
        cells[i] = values[off[i] : off[i + 1]]
    return cells


# (bar, broker) cells counted at once by the dense broker-list pass: bounds its memory (~5 arrays of
# this many int64) whatever the number of brokers
_BROKER_CELLS = 1 << 19


def _broker_lists(bi: np.ndarray, t: dict[str, np.ndarray], n_bars: int, arrow: bool = False) -> dict[str, Any]:
    """Per-bar aligned broker lists (int64 arrays), sorted by broker id. A trade with an unknown buyer or
    seller id is left out of them entirely (both its parties), so every list total is a known sample.

    Dense over (bar, broker) cells in blocks of bars (``bi`` is sorted): one ``bincount`` per list and
    block instead of sorting the trades' (bar, broker) keys.
    """
    whole = (t["buyer"] >= 0) & (t["seller"] >= 0)  # MISSING_BROKER (-1), or any negative id: unknown
    bars, qty, tt = bi[whole], t["qty"][whole], t["tt"][whole]
    buyer, seller = t["buyer"][whole], t["seller"][whole]
    ids = np.unique(np.concatenate([buyer, seller]))
    nb = max(len(ids), 1)
    b_idx, s_idx = np.searchsorted(ids, buyer), np.searchsorted(ids, seller)
    aggr_buy = np.where(tt == TradeType.AGGRESSIVE_BUY, qty, 0)
    aggr_sell = np.where(tt == TradeType.AGGRESSIVE_SELL, qty, 0)
    per_block = max(1, _BROKER_CELLS // nb)
    cells: list[tuple[np.ndarray, ...]] = []
    for b0 in range(0, n_bars, per_block):
        b1 = min(n_bars, b0 + per_block)
        lo, hi = np.searchsorted(bars, [b0, b1])
        if lo == hi:
            continue
        base = (bars[lo:hi] - b0) * nb
        kb, ks, size = base + b_idx[lo:hi], base + s_idx[lo:hi], (b1 - b0) * nb
        q = qty[lo:hi]
        seen = np.bincount(kb, minlength=size) + np.bincount(ks, minlength=size)
        used = np.flatnonzero(seen)  # sorted: by bar, then broker id
        sums = [np.bincount(k, weights=w, minlength=size)[used].astype(np.int64)  # exact below 2**53
                for k, w in ((kb, q), (ks, q), (kb, aggr_buy[lo:hi]), (ks, aggr_sell[lo:hi]))]
        cells.append((b0 + used // nb, used % nb, *sums))
    if cells:
        bar_of, broker, bought, sold, a_buy, a_sell = (np.concatenate(c) for c in zip(*cells, strict=True))
    else:
        bar_of = broker = bought = sold = a_buy = a_sell = np.zeros(0, np.int64)
    offsets = np.searchsorted(bar_of, np.arange(n_bars + 1, dtype=np.int64))
    return {
        "broker_ids": _lists(ids[broker].astype(np.int64) if len(ids) else broker, offsets, arrow),
        "broker_bought": _lists(bought, offsets, arrow),
        "broker_sold": _lists(sold, offsets, arrow),
        "broker_aggr_buy": _lists(a_buy, offsets, arrow),
        "broker_aggr_sell": _lists(a_sell, offsets, arrow),
    }


def _book_at(book: pd.DataFrame | None, close_ns: np.ndarray) -> dict[str, np.ndarray]:
    """The last snapshot with ts <= close for each bar (NaN when there is none)."""
    n = len(close_ns)
    if book is None or len(book) == 0:
        return {c: np.full(n, np.nan) for c in BOOK_COLUMNS}
    missing = [c for c in ("ts", *BOOK_COLUMNS) if c not in book.columns]
    if missing:
        raise SchemaError(f"book snapshots: missing columns {missing}")
    bts = utc_index(book["ts"]).asi8
    order = np.argsort(bts, kind="stable")
    idx = np.searchsorted(bts[order], close_ns, side="right") - 1
    has = idx >= 0
    rows = order[np.where(has, idx, 0)]
    out = {}
    for c in BOOK_COLUMNS:
        col = book[c].to_numpy(np.float64)[rows]
        out[c] = np.where(has, col, np.nan)
    return out


def build_bars(
    trades: pd.DataFrame,
    book: pd.DataFrame | None,
    *,
    spec: str,
    symbol: str,
    large_trade_qty: int,
    arrow_lists: bool = False,
) -> pd.DataFrame:
    """Bars of ``symbol`` from ``trades`` (TRADE_SCHEMA) and optional 5-level ``book`` snapshots.

    Returns a DataFrame indexed by ``close_ts`` (UTC) with the columns of ``BAR_SCHEMA``. ``spec`` is
    ``time:<N>s``, ``volume:<N>`` or ``tick:<N>``; a trade is "large" when ``qty >= large_trade_qty``.
    A trade outside every session (``open <= ts <= close``) is in no bar: the validation gate
    quarantines such rows upstream, so any that reach this point are counted in
    ``attrs["n_outside_session"]`` of the result and logged as a warning, never silently dropped.
    The broker lists are object arrays of int64 arrays, or with ``arrow_lists`` Arrow ``list<int64>``
    columns holding the same lists (the ingest's form: the lake writes them as they are).
    """
    bar_spec = BarSpec.parse(spec)
    inst = get_instrument(symbol)
    t = _trades_arrays(trades)
    sess = sessions_for(t["ts"], symbol)
    k = np.searchsorted(sess.close_ns, t["ts"], side="left")
    inside = k < len(sess.days)
    inside[inside] = t["ts"][inside] >= sess.open_ns[k[inside]]  # a print at the open is the first bar's
    n_outside = int(len(inside) - np.count_nonzero(inside))
    if n_outside:
        outside_ts = t["ts"][~inside]
        log.warning("trades outside every session are in no bar", data={
            "symbol": symbol, "trades": n_outside, "first": str(pd.Timestamp(int(outside_ts[0]), tz="UTC")),
            "last": str(pd.Timestamp(int(outside_ts[-1]), tz="UTC"))})
        t = {name: v[inside] for name, v in t.items()}
        k = k[inside]
    if len(k) == 0:
        empty = empty_frame(BAR_SCHEMA).set_index(pd.DatetimeIndex([], tz="UTC", name="close_ts"))
        empty.attrs["n_outside_session"] = n_outside
        return empty
    ts = t["ts"]
    used = np.zeros(len(sess.days), dtype=bool)
    used[k] = True

    if bar_spec.kind == "time":
        close_ns, bar_sess = _time_grid(sess, used, bar_spec.size)
        bi = np.searchsorted(close_ns, ts, side="left")
    else:
        bounds = np.searchsorted(k, np.arange(len(sess.days) + 1))
        ts_list = ts.tolist()
        ends: list[int] = []
        for s in np.flatnonzero(used):
            ends += _count_closes(ts_list, t["qty"], int(bounds[s]), int(bounds[s + 1]), bar_spec)
        end_pos = np.asarray(ends, dtype=np.int64)
        close_ns = ts[end_pos]
        bar_sess = k[end_pos]
        bi = np.searchsorted(end_pos, np.arange(len(ts)), side="left")
    n_bars = len(close_ns)
    first_in_session = np.ones(n_bars, dtype=bool)
    first_in_session[1:] = bar_sess[1:] != bar_sess[:-1]
    open_ns = np.where(first_in_session, sess.open_ns[bar_sess], np.roll(close_ns, 1))

    counts = np.bincount(bi, minlength=n_bars).astype(np.int64)
    nonempty = counts > 0
    starts = np.searchsorted(bi, np.flatnonzero(nonempty), side="left")
    ends_last = starts + counts[nonempty] - 1
    price, qty, tt, buyer = t["price"], t["qty"], t["tt"], t["buyer"]
    is_buy = tt == TradeType.AGGRESSIVE_BUY
    is_sell = tt == TradeType.AGGRESSIVE_SELL
    no_side = tt == TradeType.UNKNOWN
    no_broker = (buyer < 0) | (t["seller"] < 0)
    large = qty >= large_trade_qty

    close = np.full(n_bars, np.nan)
    close[nonempty] = price[ends_last]
    close = pd.Series(close).ffill().to_numpy()  # empty bars carry the previous close (across sessions)
    first_price = np.full(n_bars, np.nan)
    first_price[nonempty] = price[starts]
    open_ = np.where(nonempty, first_price, close)
    high, low = close.copy(), close.copy()
    if len(starts):
        high[nonempty] = np.maximum.reduceat(price, starts)
        low[nonempty] = np.minimum.reduceat(price, starts)

    # buyer switches, first / last buyer: over the bar's trades whose broker ids are both known
    kb, kbuyer = bi[~no_broker], buyer[~no_broker]
    same_bar = kb[1:] == kb[:-1]
    switches = np.bincount(kb[1:][same_bar & (kbuyer[1:] != kbuyer[:-1])], minlength=n_bars).astype(np.int64)
    first_buyer = np.full(n_bars, -1, dtype=np.int64)
    last_buyer = np.full(n_bars, -1, dtype=np.int64)
    if len(kb):
        k_first = np.flatnonzero(np.r_[True, kb[1:] != kb[:-1]])
        k_last = np.r_[k_first[1:] - 1, len(kb) - 1]
        first_buyer[kb[k_first]] = kbuyer[k_first]
        last_buyer[kb[k_last]] = kbuyer[k_last]
    pq = price * qty  # summed in trade order (bincount), as the streaming builder does
    notional = pq * inst.point_value

    day_labels = np.array([d.isoformat() for d in sess.days], dtype=object)
    cols: dict[str, object] = {
        "symbol": np.full(n_bars, symbol, dtype=object),
        "session": day_labels[bar_sess],
        "open_ts": _utc(open_ns),
        "session_open_ts": _utc(sess.open_ns[bar_sess]),
        "session_close_ts": _utc(sess.close_ns[bar_sess]),
        "duration_s": (close_ns - open_ns) / _NS,
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "first_price": first_price,
        "volume": _segment_sum(qty, starts, n_bars, nonempty),
        "n_trades": counts,
        "buy_vol": _segment_sum(np.where(is_buy, qty, 0), starts, n_bars, nonempty),
        "sell_vol": _segment_sum(np.where(is_sell, qty, 0), starts, n_bars, nonempty),
        "n_buy_trades": _segment_sum(is_buy.astype(np.int64), starts, n_bars, nonempty),
        "n_sell_trades": _segment_sum(is_sell.astype(np.int64), starts, n_bars, nonempty),
        "n_unknown_side": _segment_sum(no_side.astype(np.int64), starts, n_bars, nonempty),
        "n_unknown_broker": _segment_sum(no_broker.astype(np.int64), starts, n_bars, nonempty),
        "notional": np.bincount(bi, weights=notional, minlength=n_bars),
        "pq_sum": np.bincount(bi, weights=pq, minlength=n_bars),
        "large_buy_qty": _segment_sum(np.where(is_buy & large, qty, 0), starts, n_bars, nonempty),
        "large_sell_qty": _segment_sum(np.where(is_sell & large, qty, 0), starts, n_bars, nonempty),
        "buyer_switches": switches,
        "first_buyer": first_buyer,
        "last_buyer": last_buyer,
    }
    cols.update(_broker_lists(bi, t, n_bars, arrow_lists))
    cols.update(_book_at(book, close_ns))
    out = pd.DataFrame(cols, index=_utc(close_ns).rename("close_ts"))
    out = out[list(BAR_SCHEMA)]
    out.attrs["n_outside_session"] = n_outside
    return out


__all__ = ["BROKER_LIST_COLUMNS", "BarSpec", "Sessions", "build_bars", "sessions_for"]
