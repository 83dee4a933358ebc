"""Small hand-made trades and book frames for the ingest and validation tests."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from market.calendar import session_bounds
from market.schemas import ASK_PX, ASK_QTY, BID_PX, BID_QTY

DAY = date(2026, 1, 5)  # a B3 trading day (Monday)
NEXT_DAY = date(2026, 1, 6)


def trades_frame(n: int = 200, day: date = DAY, first_id: int = 1, symbol: str = "WDO") -> pd.DataFrame:
    """``n`` clean trades, one per second from 09:01 local, alternating aggressive buy / sell."""
    open_ts, _ = session_bounds(day, symbol)
    i = np.arange(n)
    price = 5000.0 + (i % 7) * 0.5
    qty = (1 + i % 3).astype("int64")
    return pd.DataFrame(
        {
            "ts": open_ts + pd.to_timedelta(60_000 + i * 1000, unit="ms"),
            "symbol": symbol,
            "trade_id": (first_id + i).astype("int64"),
            "price": price,
            "qty": qty,
            "fin_volume": price * qty * 10.0,
            "buyer": (1 + i % 5).astype("int32"),
            "seller": (6 + i % 4).astype("int32"),
            "trade_type": np.where(i % 2 == 0, 2, 3).astype("int8"),
        }
    )


def book_frame(trades: pd.DataFrame) -> pd.DataFrame:
    """One uncrossed 5-level snapshot per trade (same ts), 0.5 pt apart around the trade price."""
    n = len(trades)
    mid = trades["price"].to_numpy()
    data: dict[str, object] = {"ts": trades["ts"].to_numpy(), "symbol": trades["symbol"].to_numpy()}
    for k in range(5):
        data[BID_PX[k]] = mid - 0.5 * (k + 1)
        data[ASK_PX[k]] = mid + 0.5 * (k + 1)
        data[BID_QTY[k]] = np.full(n, 10 + k, dtype="int64")
        data[ASK_QTY[k]] = np.full(n, 12 + k, dtype="int64")
    frame = pd.DataFrame(data)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    order = ["ts", "symbol", *BID_PX, *BID_QTY, *ASK_PX, *ASK_QTY]
    return frame[order]
