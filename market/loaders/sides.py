"""Aggressor side inference (``--side-rule tick``) and time order of one session day.

Both run on one whole session day (the ingest buffers one day), after the loaders and before the
validation gate. Pure functions over a TRADE_SCHEMA frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from market.schemas import TradeType

ASCENDING = "ascending"
NEWEST_FIRST = "newest_first"
SORTED = "sorted"


def tick_rule(price: np.ndarray) -> np.ndarray:
    """Aggressor of each trade of one session by the tick rule, as trade type codes (int8).

    Price up vs the previous trade -> aggressive buy (2), down -> aggressive sell (3), unchanged ->
    the previous inferred side; before the first price change of the session -> unknown (32).
    Rows without a usable price (NaN, <= 0: the gate rejects them) take the side of the trade before
    them and do not move the reference price.
    """
    price = np.asarray(price, dtype="float64")
    n = len(price)
    out = np.full(n, int(TradeType.UNKNOWN), dtype="int8")
    valid = np.flatnonzero(np.isfinite(price) & (price > 0))
    if len(valid) < 2:
        return out
    step = np.sign(np.diff(price[valid]))
    direction = pd.Series(np.concatenate([[0.0], step])).replace(0.0, np.nan).ffill().to_numpy()
    codes = np.where(direction > 0, int(TradeType.AGGRESSIVE_BUY),
                     np.where(direction < 0, int(TradeType.AGGRESSIVE_SELL), int(TradeType.UNKNOWN)))
    per_row = np.full(n, np.nan)
    per_row[valid] = codes
    filled = pd.Series(per_row).ffill().fillna(int(TradeType.UNKNOWN)).to_numpy()
    return filled.astype("int8")


def infer_sides(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``frame`` with the tick-rule side on rows whose trade type is unknown (32); how many got 2 or 3.

    Sides the source gave (any other code, including the -1 sentinel) are kept. The tick rule reads
    every trade's price, so ``frame`` must be one session in time order.
    """
    unknown = frame["trade_type"].to_numpy() == int(TradeType.UNKNOWN)
    if not unknown.any():
        return frame, 0
    inferred = tick_rule(frame["price"].to_numpy())
    codes = np.where(unknown, inferred, frame["trade_type"].to_numpy()).astype("int8")
    out = frame.copy()
    out["trade_type"] = codes
    return out, int((unknown & (inferred != int(TradeType.UNKNOWN))).sum())


def time_order(frame: pd.DataFrame) -> tuple[pd.DataFrame, str, int]:
    """One day in time order, how it came (:data:`ASCENDING`, :data:`NEWEST_FIRST`, :data:`SORTED`) and
    how many rows were behind an earlier one.

    A newest-first day is reversed (ties keep their original order); any other disorder is sorted by
    ``ts`` (stable: rows with equal timestamps keep the file's order). Rows without a timestamp do not
    count; after a sort they come last (the gate quarantines them: ``ts_not_null``).
    """
    ns = np.asarray(frame["ts"].array.asi8)  # type: ignore[attr-defined]
    dated = ns[frame["ts"].notna().to_numpy()]
    steps = np.diff(dated)
    if (steps >= 0).all():
        return frame, ASCENDING, 0
    if (steps <= 0).all():
        return frame.iloc[::-1].reset_index(drop=True), NEWEST_FIRST, int((steps < 0).sum())
    behind = int((dated < np.maximum.accumulate(dated)).sum())
    ordered = frame.sort_values("ts", kind="stable", na_position="last", ignore_index=True)
    return ordered, SORTED, behind
