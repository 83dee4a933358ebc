"""Build TRADE_SCHEMA chunks from converted columns (shared by every loader)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from market.instruments import get_instrument, resolve_symbol
from market.loaders.parsing import INT_SENTINEL, TRADE_TYPE_SENTINEL, map_unique
from market.loaders.reading import MALFORMED
from market.schemas import TRADE_SCHEMA


def symbols(tickers: pa.Array | pa.ChunkedArray | None, symbol: str, n: int) -> np.ndarray:
    """The ``symbol`` column: the family of ``symbol`` where the file's ticker belongs to it, else the raw ticker.

    A ticker belongs to ``symbol`` when it parses as one of its contracts or series
    (``market.instruments.resolve_symbol``: ``WDOF25``, ``WDO$N``, ``WDOFUT`` belong to ``WDO``; ``DOLF25``
    does not); a missing ticker is assumed to. Other tickers are kept as written so that the validation
    gate can reject them (rule: symbol matches the ingested symbol) instead of filing them under
    ``symbol``.
    """
    if tickers is None:
        return np.full(n, symbol, dtype=object)
    wanted = resolve_symbol(symbol) or symbol.strip().upper()
    uniques: list[str] = []

    def index(text: str | None) -> int:
        value = wanted if text is None or not text.strip() or resolve_symbol(text) == wanted else text.strip()
        uniques.append(value)
        return len(uniques) - 1

    idx = map_unique(tickers, index, "int64")
    return np.asarray(uniques, dtype=object)[idx]


def fin_volume_default(symbol: str, price: np.ndarray, qty: np.ndarray) -> np.ndarray:
    """price * qty * point value when the source has no financial volume (NaN for unknown instruments)."""
    if resolve_symbol(symbol) is None:
        return np.full(len(price), np.nan)
    return np.where(qty > 0, price * qty * get_instrument(symbol).point_value, np.nan)


def trade_frame(
    table: pa.Table,
    *,
    ts: pd.Series,
    symbol: np.ndarray,
    trade_id: np.ndarray,
    price: np.ndarray,
    qty: np.ndarray,
    fin_volume: np.ndarray,
    buyer: np.ndarray,
    seller: np.ndarray,
    trade_type: np.ndarray,
) -> pd.DataFrame:
    """Assemble one chunk in TRADE_SCHEMA order and dtypes.

    Rows the CSV parser flagged malformed (wrong field count, e.g. a truncated line) keep what could
    be read but get ``qty = -1`` and ``trade_type = -1`` so validation always quarantines them.
    """
    if MALFORMED in table.column_names:
        bad = table.column(MALFORMED).to_numpy(zero_copy_only=False).astype(bool)
        if bad.any():
            qty = np.where(bad, INT_SENTINEL, qty)
            trade_type = np.where(bad, TRADE_TYPE_SENTINEL, trade_type)
    frame = pd.DataFrame(
        {
            "ts": ts.array,
            "symbol": symbol,
            "trade_id": np.asarray(trade_id, dtype="int64"),
            "price": np.asarray(price, dtype="float64"),
            "qty": np.asarray(qty, dtype="int64"),
            "fin_volume": np.asarray(fin_volume, dtype="float64"),
            "buyer": np.asarray(buyer, dtype="int32"),
            "seller": np.asarray(seller, dtype="int32"),
            "trade_type": np.asarray(trade_type, dtype="int8"),
        },
        copy=False,
    )
    if str(frame["ts"].dtype) != TRADE_SCHEMA["ts"]:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True).astype(TRADE_SCHEMA["ts"])
    return frame
