"""Random tapes and the streaming driver shared by the parity / no-look-ahead tests.

A tape is a pair of DataFrames (trades in ``TRADE_SCHEMA`` columns, 5-level book snapshots in
``BOOK_SNAPSHOT_SCHEMA`` columns), generated from a seed and a few knobs so Hypothesis can vary them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.streaming import BarClose, FeatureEngine
from market.calendar import session_bounds
from market.schemas import ASK_PX, ASK_QTY, BID_PX, BID_QTY

SYMBOL = "WDO"
NS = 1_000_000_000
MS = 1_000_000
# Fri, Mon (after a weekend), Wed (after Tue 2025-11-18), Fri (after the Thu 2025-11-20 holiday)
DAYS = (date(2025, 11, 14), date(2025, 11, 17), date(2025, 11, 19), date(2025, 11, 21))


@dataclass(frozen=True)
class Knobs:
    seed: int
    n_days: int = 3
    trades_per_day: int = 300
    burst: float = 0.2  # share of trades repeating the previous timestamp
    constant_price: bool = False
    big_sizes: float = 0.1  # share of trades with qty in [10, 200]
    n_brokers: int = 6
    book_per_trade: float = 0.5  # book snapshots per trade
    quiet_day: bool = False  # one day whose trades fall only outside the session (no bars)
    open_prints: bool = False  # every day: two prints exactly at the open, one exactly at a bar boundary
    unknown_side: float = 0.0  # share of trades of unknown aggressor side (type 32)
    unknown_broker: float = 0.0  # share of trades with an unknown (-1) buyer or seller


def make_tape(k: Knobs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trades and book snapshots over ``k.n_days`` of :data:`DAYS`, with gaps, bursts and edges."""
    rng = np.random.default_rng(k.seed)
    tick = 0.5
    price = 5000.0 + tick * int(rng.integers(-40, 40))
    t_rows: list[tuple[int, float, int, int, int, int]] = []
    b_ts: list[int] = []
    for di, day in enumerate(DAYS[: k.n_days]):
        o, c = (int(x.value) for x in session_bounds(day, SYMBOL))
        span_ms = (c - o) // MS
        n = int(rng.integers(1, k.trades_per_day + 1))
        # trades cluster in a few windows so that long runs of empty bars appear
        centers = rng.integers(1, span_ms, size=int(rng.integers(1, 5)))
        ts_ms = np.clip(rng.choice(centers, n) + rng.integers(-600_000, 600_000, n), 1, span_ms)
        ts = np.sort(o + ts_ms * MS)
        for i in range(1, n):
            if rng.random() < k.burst:
                ts[i] = ts[i - 1]
        edges = [o, o + MS, c, c - MS, o - 60 * NS, c + 60 * NS]  # at open and at close: inside
        extra = rng.choice(edges, size=int(rng.integers(0, 3)), replace=False) if di % 2 else []
        all_ts = np.sort(np.concatenate([ts, np.asarray(extra, dtype=np.int64)]))
        if k.open_prints:  # the opening auction and a print at a boundary of the 60 s and 300 s grids
            all_ts = np.sort(np.concatenate([all_ts, np.asarray([o, o, o + 300 * NS], dtype=np.int64)]))
        if k.quiet_day and di == 1:
            all_ts = np.sort(np.asarray([o - 3600 * NS, o - 1, c + NS], dtype=np.int64))
        for t in all_ts.tolist():
            if not k.constant_price and rng.random() < 0.4:
                price = max(tick, price + tick * int(rng.choice([-2, -1, 1, 2])))
            qty = int(rng.integers(10, 201)) if rng.random() < k.big_sizes else int(rng.integers(1, 4))
            tt = int(rng.choice([2, 3, 2, 3, 1, 13, 4]))
            buyer = int(rng.integers(1, k.n_brokers + 1))
            seller = int(rng.integers(1, k.n_brokers + 1))
            if k.unknown_side and rng.random() < k.unknown_side:
                tt = 32
            if k.unknown_broker and rng.random() < k.unknown_broker:
                if rng.random() < 0.5:
                    buyer = -1
                else:
                    seller = -1
            t_rows.append((t, price, qty, tt, buyer, seller))
        nb = int(len(all_ts) * k.book_per_trade)
        if nb:
            same = rng.choice(all_ts, nb)  # many at a trade's own timestamp
            anywhere = o + rng.integers(-3600, (c - o) // NS + 3600, nb) * NS
            b_ts += np.where(rng.random(nb) < 0.5, same, anywhere).tolist()
    trades = pd.DataFrame(t_rows, columns=["ts", "price", "qty", "trade_type", "buyer", "seller"])
    trades["ts"] = pd.to_datetime(trades["ts"], utc=True)
    trades.insert(1, "symbol", SYMBOL)
    trades.insert(2, "trade_id", np.arange(len(trades), dtype=np.int64))
    trades["fin_volume"] = trades["price"] * trades["qty"] * 10.0
    b_ts.sort()
    m = len(b_ts)
    book = pd.DataFrame({"ts": pd.to_datetime(np.asarray(b_ts, dtype=np.int64), utc=True), "symbol": SYMBOL})
    mid = 5000.0 + tick * rng.integers(-40, 40, m)
    for i in range(5):
        book[BID_PX[i]] = mid - tick * (i + 1)
        book[ASK_PX[i]] = mid + tick * (i + 1)
    for i in range(5):
        book[BID_QTY[i]] = rng.integers(0 if i == 0 else 1, 60, m)
        book[ASK_QTY[i]] = rng.integers(0 if i == 0 else 1, 60, m)
    zero = rng.random(m) < 0.05  # level 1 empty on both sides sometimes: the 0-denominator fallbacks
    book.loc[zero, BID_QTY[0]] = 0
    book.loc[zero, ASK_QTY[0]] = 0
    return trades, book


def run_stream(
    trades: pd.DataFrame,
    book: pd.DataFrame | None,
    *,
    spec: str,
    large_trade_qty: int = 10,
    end_ns: int | None = None,
    book_first: bool = False,
) -> tuple[list[BarClose], np.ndarray]:
    """Feed a tape to a :class:`FeatureEngine` in time order; return the closed bars and their vectors.

    At equal timestamps trades come before book snapshots (or after, with ``book_first``). At the end
    the clock advances to ``end_ns`` (default: far after the last event) to flush the last bars.
    """
    closes: list[BarClose] = []
    vectors: list[np.ndarray] = []

    def on_bar(bc: BarClose) -> None:
        closes.append(bc)
        vectors.append(bc.features.copy())

    eng = FeatureEngine(SYMBOL, bar_spec=spec, large_trade_qty=large_trade_qty, on_bar=on_bar)
    tts = pd.DatetimeIndex(trades["ts"]).asi8.tolist()
    cols = [trades[c].tolist() for c in ("price", "qty", "trade_type", "buyer", "seller")]
    t_events = [(t, 0 if not book_first else 1, i) for i, t in enumerate(tts)]
    b_events: list[tuple[int, int, int]] = []
    if book is not None and len(book):
        bts = pd.DatetimeIndex(book["ts"]).asi8.tolist()
        b_events = [(t, 1 if not book_first else 0, i) for i, t in enumerate(bts)]
        bp = book[BID_PX].to_numpy(float).tolist()
        bq = book[BID_QTY].to_numpy(float).tolist()
        ap = book[ASK_PX].to_numpy(float).tolist()
        aq = book[ASK_QTY].to_numpy(float).tolist()
    n_closed = 0
    for t, kind, i in sorted(t_events + b_events):
        if (kind == 0) != book_first:
            p, q, tt, b, s = (col[i] for col in cols)
            n_closed += eng.on_trade(t, p, q, tt, b, s)
        else:
            n_closed += eng.on_book(t, bp[i], bq[i], ap[i], aq[i])
    last = max([e[0] for e in t_events + b_events], default=0)
    n_closed += eng.advance_to(end_ns if end_ns is not None else last + 10 * 86_400 * NS)
    assert n_closed == len(closes) == eng.n_bars
    return closes, (np.vstack(vectors) if vectors else np.empty((0, 65)))


def close_enough(a: np.ndarray, b: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Elementwise parity: both NaN, or ``|a - b| <= tol + tol * |b|``."""
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        ok = np.abs(a - b) <= tol + tol * np.abs(b)
    return both_nan | ok


def mismatch_report(a: np.ndarray, b: np.ndarray, names: Sequence[str], index: Sequence[object]) -> str:
    """Human-readable list of the first mismatches (bar, feature, streaming, batch)."""
    bad = ~close_enough(a, b)
    rows, cols = np.nonzero(bad)
    lines = [f"{int(bad.sum())} mismatches over {bad.shape[0]} bars; first ones:"]
    seen: set[int] = set()
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if c in seen:
            continue
        seen.add(c)
        lines.append(f"  bar {r} ({index[r]}): {names[c]}: streaming={a[r, c]!r} batch={b[r, c]!r}")
    return "\n".join(lines)
