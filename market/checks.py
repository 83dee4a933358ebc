"""Derived check columns: what the validation suites read beside a dataset's own columns (pure).

GE evaluates row-wise conditions; ordering within the session, repeats, session hours and the
consistency of the financial volume need a little context, which these functions add as columns
(``market.gates`` runs the suites on them). Each ``*_checks`` function takes one day of a dataset
and returns it with the derived columns; :func:`trades_checks_days` does several days at once.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from market.calendar import is_trading_day, session_bounds
from market.instruments import get_instrument
from market.schemas import ASK_PX, ASK_QTY, BID_PX, BID_QTY


def _ts_regress_ms(ts: pd.Series, reference: np.ndarray | None = None) -> np.ndarray:
    """How far (ms) each timestamp lies behind the latest earlier one; > 0 means out of order.

    Only rows where ``reference`` is True set the pace (rows outside the session, which fail their
    own rule, must not make every later row look out of order). A late row is flagged alone; a row
    that jumps ahead inside the session flags the rows after it until time catches up.
    """
    ns = ts.astype("int64").to_numpy().astype("float64")
    ns[ts.isna().to_numpy()] = np.nan
    pace = ns if reference is None else np.where(reference, ns, np.nan)
    prev_max = pd.Series(pace).cummax().shift(1).ffill().to_numpy()
    return (prev_max - ns) / 1e6


def _fin_volume_rel_error(df: pd.DataFrame, symbol: str) -> np.ndarray:
    """|fin_volume - price * qty * point value| / (price * qty * point value).

    NaN where the expected value cannot be computed (price or qty invalid: their own rules reject the
    row) or fin_volume is NaN (rejected by ``fin_volume_positive_finite``).
    """
    price = df["price"].to_numpy(dtype="float64")
    qty = df["qty"].to_numpy(dtype="float64")
    expected = price * qty * get_instrument(symbol).point_value
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(df["fin_volume"].to_numpy(dtype="float64") - expected) / expected
    return np.where(np.isfinite(expected) & (expected > 0), rel, np.nan)


def _symbol_mismatch(symbols: pd.Series, symbol: str) -> np.ndarray:
    """1 where the row's symbol is not ``symbol`` (case and surrounding spaces ignored; missing = 1).

    Only the distinct values are compared (a day holds one or a few tickers)."""
    wanted = symbol.strip().upper()
    codes, uniques = pd.factorize(symbols, use_na_sentinel=True)
    ok = np.array([isinstance(u, str) and u.strip().upper() == wanted for u in uniques] + [False])
    return (~ok[codes]).astype("int8")  # code -1 (missing) picks the trailing False


def trades_checks(df: pd.DataFrame, day: date, symbol: str) -> pd.DataFrame:
    """Trades plus the derived columns of the trades suite.

    - ``trading_day``: 1 when ``day`` is a session of the instrument's exchange calendar, else 0 (every
      row of a weekend, holiday or future day fails ``not_trading_day``);
    - ``session_position``: 0 at the open, 1 at the close of that day's hours (NaN on a non-trading
      day, so such rows fail only ``not_trading_day``);
    - ``ts_regress_ms``: see :func:`_ts_regress_ms`;
    - ``trade_id_repeat``: 1 when a valid (>= 0) trade id appeared earlier in the session (the first
      copy is kept; the loaders' ``-1`` sentinel is rejected by ``trade_id_valid`` instead);
    - ``symbol_mismatch``: 1 when the row's symbol is not the ingested ``symbol`` (case-insensitive);
    - ``fin_volume_rel_error``: see :func:`_fin_volume_rel_error`.
    """
    return trades_checks_days([df], [day], symbol)


def trades_checks_days(frames: list[pd.DataFrame], days: list[date], symbol: str) -> pd.DataFrame:
    """:func:`trades_checks` of several days at once, stacked in order (the same values as stacking
    each day's checks: the per-day context, i.e. bounds, ordering and repeats, is kept per day).

    Whole-column numpy passes over the batch instead of a dozen pandas calls per day: the per-call
    overhead, not the rows, was the cost of checking many small days.
    """
    out = frames[0].reset_index(drop=True) if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    lengths = np.array([len(f) for f in frames], dtype=np.int64)
    bounds = [session_bounds(d, symbol) for d in days]
    trading = np.array([is_trading_day(d, symbol) for d in days], dtype=bool)
    open_ns = np.repeat(np.array([o.value for o, _ in bounds], dtype=np.int64), lengths)
    span = np.repeat(np.array([float((c - o).value) for o, c in bounds]), lengths)
    ts = out["ts"]
    nat = ts.isna().to_numpy()
    ns = ts.array.asi8 if isinstance(ts.dtype, pd.DatetimeTZDtype) else ts.astype("int64").to_numpy()
    with np.errstate(invalid="ignore"):
        position = (ns - open_ns) / 1e9 * 1e9 / span  # as (ts - open).total_seconds() * 1e9 / span
    position[nat | np.repeat(~trading, lengths)] = np.nan
    out["trading_day"] = np.repeat(trading.astype("int8"), lengths)
    out["session_position"] = position
    stamps = ns.astype("float64")
    stamps[nat] = np.nan
    with np.errstate(invalid="ignore"):
        pace = np.where((position >= 0) & (position <= 1), stamps, np.nan)
    regress = np.empty(len(out))
    ids = out["trade_id"].to_numpy()
    repeat = np.zeros(len(out), dtype=bool)
    start = 0
    for n in lengths.tolist():
        stop = start + n
        if n:
            # latest earlier in-session time: a NaN-skipping running max, shifted by one row
            prev_max = np.empty(n)
            prev_max[0] = np.nan
            prev_max[1:] = np.fmax.accumulate(pace[start:stop - 1])
            regress[start:stop] = (prev_max - stamps[start:stop]) / 1e6
            repeat[start:stop] = pd.Series(ids[start:stop]).duplicated(keep="first").to_numpy()
        start = stop
    out["ts_regress_ms"] = regress
    out["trade_id_repeat"] = (repeat & (ids >= 0)).astype("int8")
    out["symbol_mismatch"] = _symbol_mismatch(out["symbol"], symbol)
    out["fin_volume_rel_error"] = _fin_volume_rel_error(out, symbol)
    return out


def book_checks(df: pd.DataFrame, day: date, symbol: str) -> pd.DataFrame:
    """Book snapshots plus ``min_level_qty``, ``bid_order_breaks`` / ``ask_order_breaks`` (count of
    adjacent levels out of order, missing levels ignored) and ``ts_regress_ms``."""
    out = df.reset_index(drop=True)
    out["min_level_qty"] = out[BID_QTY + ASK_QTY].min(axis=1)
    bids = out[BID_PX].to_numpy(dtype="float64")
    asks = out[ASK_PX].to_numpy(dtype="float64")
    out["bid_order_breaks"] = (bids[:, :-1] <= bids[:, 1:]).sum(axis=1).astype("int8")
    out["ask_order_breaks"] = (asks[:, :-1] >= asks[:, 1:]).sum(axis=1).astype("int8")
    out["ts_regress_ms"] = _ts_regress_ms(out["ts"])
    return out


def bars_checks(df: pd.DataFrame, day: date, symbol: str) -> pd.DataFrame:
    """Bars with the ``close_ts`` index as a column plus ``ohlc_breaks`` (how many of high >= open,
    close, low and low <= open, close fail; NaN prices ignored) and ``aggressor_excess``
    (buy_vol + sell_vol - volume, > 0 is wrong)."""
    # only the checked columns, selected before the index becomes a column (the broker list columns
    # are slow to copy and make GE's fingerprint slow)
    if "close_ts" in df.columns:
        out = df[[c for c in BAR_CHECK_COLUMNS if c in df.columns]].reset_index(drop=True)
    else:
        out = df[[c for c in BAR_CHECK_COLUMNS if c in df.columns]].reset_index()
        out = out[[c for c in BAR_CHECK_COLUMNS if c in out.columns]]
    o, h, lo, c = (out[k].to_numpy(dtype="float64") for k in ("open", "high", "low", "close"))
    breaks = (h < o).astype("int8") + (h < c) + (h < lo) + (lo > o) + (lo > c)
    out["ohlc_breaks"] = breaks.astype("int8")
    out["aggressor_excess"] = out["buy_vol"] + out["sell_vol"] - out["volume"]
    return out


BAR_CHECK_COLUMNS = ["close_ts", "open", "high", "low", "close", "volume", "n_trades", "buy_vol", "sell_vol"]
CHECKS = {"trades": trades_checks, "book": book_checks, "bars": bars_checks}
