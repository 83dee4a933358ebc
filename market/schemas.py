"""Typed schemas of market data: the contracts between sources, the lake, bars and features.

Canonical in-memory form is a pandas DataFrame with exactly these columns and dtypes.
Timestamps are timezone-aware UTC (``datetime64[ns, UTC]``) with millisecond resolution in the data.
In the engine's hot path timestamps are ``int`` nanoseconds since the epoch.
"""

from __future__ import annotations

from enum import IntEnum

import pandas as pd

from quantumtrader.errors import SchemaError

UTC_NS = "datetime64[ns, UTC]"


class TradeType(IntEnum):
    """ProfitDLL trade type codes (``nTradeType`` of the trade callback)."""

    CROSS = 1
    AGGRESSIVE_BUY = 2
    AGGRESSIVE_SELL = 3
    AUCTION = 4
    SURVEILLANCE = 5
    EXPIT = 6
    OPTIONS_EXERCISE = 7
    OVER_THE_COUNTER = 8
    DERIVATIVE_TERM = 9
    INDEX = 10
    BTC = 11
    ON_BEHALF = 12
    RLP = 13
    UNKNOWN = 32


KNOWN_TRADE_TYPES: frozenset[int] = frozenset(int(t) for t in TradeType)

# Nelogica Profit export words -> code.
TRADE_TYPE_WORDS: dict[str, TradeType] = {
    "Cross": TradeType.CROSS,
    "AggressorBuyer": TradeType.AGGRESSIVE_BUY,
    "AggressorSeller": TradeType.AGGRESSIVE_SELL,
    "Auction": TradeType.AUCTION,
    "Surveillance": TradeType.SURVEILLANCE,
    "Expit": TradeType.EXPIT,
    "OptionsExercise": TradeType.OPTIONS_EXERCISE,
    "OverTheCounter": TradeType.OVER_THE_COUNTER,
    "DerivativeTerm": TradeType.DERIVATIVE_TERM,
    "Index": TradeType.INDEX,
    "BTC": TradeType.BTC,
    "OnBehalf": TradeType.ON_BEHALF,
    "RLP": TradeType.RLP,
    "Unknown": TradeType.UNKNOWN,
}

# ---- trades -------------------------------------------------------------------------------------
# One row per trade. ``fin_volume`` = price * qty * point value, in R$.
TRADE_SCHEMA: dict[str, str] = {
    "ts": UTC_NS,
    "symbol": "object",
    "trade_id": "int64",
    "price": "float64",
    "qty": "int64",
    "fin_volume": "float64",
    "buyer": "int32",
    "seller": "int32",
    "trade_type": "int8",
}


class BookAction(IntEnum):
    """Order-by-order book event kinds (ProfitDLL offer book callback)."""

    ADD = 0
    EDIT = 1
    DELETE = 2
    DELETE_FROM = 3
    FULL_BOOK = 4


class Side(IntEnum):
    BID = 0
    ASK = 1


# ---- book events (order by order) ---------------------------------------------------------------
BOOK_EVENT_SCHEMA: dict[str, str] = {
    "ts": UTC_NS,
    "symbol": "object",
    "action": "int8",  # BookAction
    "side": "int8",  # Side
    "price": "float64",
    "qty": "int64",
    "broker": "int32",
    "offer_id": "int64",
    "position": "int32",  # position in the side's queue (0 = best), as ProfitDLL reports it
}

BOOK_LEVELS = 5
BID_PX = [f"bid_px_{i}" for i in range(1, BOOK_LEVELS + 1)]
BID_QTY = [f"bid_qty_{i}" for i in range(1, BOOK_LEVELS + 1)]
ASK_PX = [f"ask_px_{i}" for i in range(1, BOOK_LEVELS + 1)]
ASK_QTY = [f"ask_qty_{i}" for i in range(1, BOOK_LEVELS + 1)]
BOOK_COLUMNS = BID_PX + BID_QTY + ASK_PX + ASK_QTY

# ---- 5-level book snapshots ---------------------------------------------------------------------
# Level 1 is the best price. Bids descend, asks ascend, bid_px_1 < ask_px_1 (never crossed).
BOOK_SNAPSHOT_SCHEMA: dict[str, str] = {
    "ts": UTC_NS,
    "symbol": "object",
    **{c: "float64" for c in BID_PX},
    **{c: "int64" for c in BID_QTY},
    **{c: "float64" for c in ASK_PX},
    **{c: "int64" for c in ASK_QTY},
}

# ---- bars ---------------------------------------------------------------------------------------
# Index: ``close_ts`` (datetime64[ns, UTC]), the bar's close; a bar holds trades in (prev close, close].
# Time bars exist only inside the session, on a grid anchored at the session open; a bar without
# trades has open = high = low = close = previous close and volume = n_trades = 0.
# ``duration_s`` = close_ts - open_ts where open_ts is the previous bar's close in the session or the
# session open for the session's first bar. Broker columns are aligned int64 arrays (one entry per
# broker that traded in the bar, sorted by broker id; ``list<int64>`` in Parquet); an unknown broker id
# (-1) is never a list entry, it is counted in ``n_unknown_broker``. Full semantics:
# docs/features.md section 1 (market.bars.build_bars).
BAR_SCHEMA: dict[str, str] = {
    "symbol": "object",
    "session": "object",  # trading day of the session (market.calendar), ISO string YYYY-MM-DD
    "open_ts": UTC_NS,
    "session_open_ts": UTC_NS,
    "session_close_ts": UTC_NS,
    "duration_s": "float64",
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "first_price": "float64",  # first trade price of the bar (NaN when empty)
    "volume": "int64",
    "n_trades": "int64",
    "buy_vol": "int64",  # aggressive-buy volume (trade type 2)
    "sell_vol": "int64",  # aggressive-sell volume (trade type 3)
    "n_buy_trades": "int64",
    "n_sell_trades": "int64",
    "n_unknown_side": "int64",  # trades whose aggressor side the source did not give (trade type 32)
    "n_unknown_broker": "int64",  # trades whose buyer or seller broker id is unknown (-1)
    "notional": "float64",  # sum price * qty * point value (R$)
    "pq_sum": "float64",  # sum price * qty (for VWAP)
    "large_buy_qty": "int64",  # aggressive-buy qty of trades with qty >= large_trade_qty
    "large_sell_qty": "int64",
    "buyer_switches": "int64",  # consecutive trades inside the bar whose buyer differs
    "first_buyer": "int64",  # -1 when empty
    "last_buyer": "int64",  # -1 when empty
    "broker_ids": "object",  # int64 array: brokers that bought or sold in the bar
    "broker_bought": "object",  # int64 array: volume bought by each broker (any trade type)
    "broker_sold": "object",  # int64 array: volume sold by each broker
    "broker_aggr_buy": "object",  # int64 array: aggressive-buy volume by each broker as buyer
    "broker_aggr_sell": "object",  # int64 array: aggressive-sell volume by each broker as seller
    **{c: "float64" for c in BID_PX},  # book at close: last snapshot at or before close_ts (NaN if none)
    **{c: "float64" for c in BID_QTY},
    **{c: "float64" for c in ASK_PX},
    **{c: "float64" for c in ASK_QTY},
}


def check_columns(df: pd.DataFrame, schema: dict[str, str], what: str) -> None:
    """Raise :class:`SchemaError` naming missing and unexpected columns."""
    missing = [c for c in schema if c not in df.columns]
    extra = [c for c in df.columns if c not in schema]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"unexpected columns {extra}")
        raise SchemaError(f"{what}: " + "; ".join(parts))


def empty_frame(schema: dict[str, str]) -> pd.DataFrame:
    """An empty DataFrame with the schema's columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in schema.items()})


def coerce(df: pd.DataFrame, schema: dict[str, str], what: str) -> pd.DataFrame:
    """Check columns, then cast to the schema's dtypes (raising :class:`SchemaError` on failure)."""
    check_columns(df, schema, what)
    out = df[list(schema)].copy()
    for col, dtype in schema.items():
        if dtype == "object" or str(out[col].dtype) == dtype:
            continue
        try:
            if dtype == UTC_NS:
                out[col] = pd.to_datetime(out[col], utc=True)
            else:
                out[col] = out[col].astype(dtype)
        except (ValueError, TypeError) as err:
            raise SchemaError(f"{what}: column {col!r} cannot be read as {dtype}: {err}") from None
    return out
