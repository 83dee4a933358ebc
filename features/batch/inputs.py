"""Check a bars DataFrame and turn it into the plain numpy arrays the batch features read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from market.schemas import ASK_PX, ASK_QTY, BID_PX, BID_QTY
from quantumtrader.errors import InputError, SchemaError

PRICE_COLUMNS = ("open", "high", "low", "close")
INT_COLUMNS = ("volume", "n_trades", "buy_vol", "sell_vol", "n_buy_trades", "n_sell_trades", "n_unknown_side",
               "n_unknown_broker", "large_buy_qty", "large_sell_qty", "buyer_switches", "first_buyer", "last_buyer")
UNKNOWN_COLUMNS = ("n_unknown_side", "n_unknown_broker")
LIST_COLUMNS = ("broker_ids", "broker_bought", "broker_sold", "broker_aggr_buy", "broker_aggr_sell")
REQUIRED_COLUMNS: tuple[str, ...] = (
    "session", "session_open_ts", "session_close_ts", "duration_s", *PRICE_COLUMNS, "first_price", *INT_COLUMNS,
    "notional", "pq_sum", *LIST_COLUMNS, *BID_PX, *BID_QTY, *ASK_PX, *ASK_QTY,
)


@dataclass(frozen=True)
class Brokers:
    """The aligned broker lists flattened: entry j belongs to bar ``bar[j]``; ``code`` indexes ``ids``."""

    bar: np.ndarray
    code: np.ndarray
    ids: np.ndarray
    bought: np.ndarray
    sold: np.ndarray
    aggr_buy: np.ndarray
    aggr_sell: np.ndarray


@dataclass(frozen=True)
class BarArrays:
    """Bar columns as numpy arrays (ints as int64, the rest float64, timestamps as int64 ns UTC)."""

    size: int
    close_ns: np.ndarray
    session_id: np.ndarray  # 0, 1, ... increasing at each session change
    session_open_ns: np.ndarray
    session_close_ns: np.ndarray
    f: dict[str, np.ndarray]  # float columns (prices, duration, notional, pq_sum, book)
    i: dict[str, np.ndarray]  # int64 columns
    brokers: Brokers


def _utc_ns(values: pd.Series | pd.Index, what: str) -> np.ndarray:
    idx = pd.DatetimeIndex(values)
    if idx.tz is None:
        raise InputError(f"bars: {what} must be timezone-aware UTC timestamps (got naive)")
    return idx.tz_convert("UTC").asi8


def flatten_lists(col: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values int64, offsets) of a column whose cells are lists / int arrays (or an Arrow list column)."""
    arr = col.array
    try:
        if isinstance(col.dtype, pd.ArrowDtype):
            la = arr._pa_array.combine_chunks()  # type: ignore[attr-defined]
        else:
            la = pa.array(col.to_numpy(dtype=object), type=pa.list_(pa.int64()))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as err:
        raise SchemaError(f"bars: column {name!r} must hold lists of integers: {err}") from None
    if la.null_count:
        raise InputError(f"bars: column {name!r} has {la.null_count} missing lists (use an empty list)")
    offsets = la.offsets.to_numpy().astype(np.int64)
    values = la.values.to_numpy(zero_copy_only=False).astype(np.int64)
    return values[offsets[0] : offsets[-1]], offsets - offsets[0]


def _brokers(bars: pd.DataFrame) -> Brokers:
    flat = {c: flatten_lists(bars[c], c) for c in LIST_COLUMNS}
    ids_v, off = flat["broker_ids"]
    for c in LIST_COLUMNS[1:]:
        if not np.array_equal(flat[c][1], off):
            raise InputError(f"bars: broker list {c!r} is not aligned with 'broker_ids' (different lengths)")
    bar = np.repeat(np.arange(len(bars), dtype=np.int64), np.diff(off))
    if len(ids_v) and ids_v.min() >= 0 and ids_v.max() < 10_000_000:  # broker ids are small: table, no sort
        seen = np.bincount(ids_v) > 0
        ids = np.flatnonzero(seen)
        lookup = np.cumsum(seen) - 1
        code = lookup[ids_v]
    else:
        ids, code = np.unique(ids_v, return_inverse=True)
    return Brokers(bar, code.astype(np.int64), ids, *(flat[c][0] for c in LIST_COLUMNS[1:]))


def _check_index(bars: pd.DataFrame) -> np.ndarray:
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise InputError(f"bars: the index must be the close_ts DatetimeIndex (got {type(bars.index).__name__})")
    close_ns = _utc_ns(bars.index, "the close_ts index")
    if len(close_ns) > 1:
        back = np.flatnonzero(close_ns[1:] < close_ns[:-1])
        if len(back):
            raise InputError(f"bars: the close_ts index is not sorted ascending (first at position {back[0] + 1}, "
                             f"{bars.index[back[0] + 1]})")
        dup = np.flatnonzero(close_ns[1:] == close_ns[:-1])
        if len(dup):
            raise InputError(f"bars: the close_ts index has {len(dup)} duplicated timestamps (first "
                             f"{bars.index[dup[0] + 1]})")
    return close_ns


def _check_prices(bars: pd.DataFrame, f: dict[str, np.ndarray], n_trades: np.ndarray) -> None:
    for c in PRICE_COLUMNS:
        bad = np.flatnonzero(np.isnan(f[c]) & (n_trades > 0))
        if len(bad):
            raise InputError(f"bars: {len(bad)} bars with trades have NaN {c!r} (first at {bars.index[bad[0]]})")
        if (f[c][~np.isnan(f[c])] <= 0).any():
            raise InputError(f"bars: column {c!r} has prices <= 0")


def _ffill(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """``x`` with the rows flagged ``missing`` replaced by the last earlier row not flagged (NaN if none)."""
    src = np.where(missing, -1, np.arange(len(x)))
    src = np.maximum.accumulate(src)
    return np.where(src >= 0, x[np.maximum(src, 0)], np.nan)


def _carry_forward(f: dict[str, np.ndarray], n_trades: np.ndarray) -> None:
    """Bars built day by day and concatenated: give empty bars the previous close and book-less bars the
    previous book, as :func:`market.bars.build_bars` does over a whole history (a no-op on its output)."""
    no_price = (n_trades == 0) & np.isnan(f["close"])
    if no_price.any():
        close = _ffill(f["close"], no_price)
        for c in PRICE_COLUMNS:
            f[c] = np.where(no_price, close, f[c])
    book_cols = (*BID_PX, *BID_QTY, *ASK_PX, *ASK_QTY)
    no_book = np.logical_and.reduce([np.isnan(f[c]) for c in book_cols])
    if no_book.any() and not no_book.all():
        for c in book_cols:
            f[c] = _ffill(f[c], no_book)


def bar_arrays(bars: pd.DataFrame) -> BarArrays:
    """Validate ``bars`` (BAR_SCHEMA columns, close_ts index) and return its arrays.

    Raises :class:`SchemaError` listing missing columns and :class:`InputError` for an unsorted or
    duplicated index, NaN prices in bars that have trades, prices <= 0. Bars built per day and
    concatenated are accepted: NaN prices of empty bars and all-NaN book rows are carried forward.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in bars.columns]
    if missing:
        hint = ""
        if set(missing) & set(UNKNOWN_COLUMNS):
            hint = ("; bars written before the unknown side / broker counts existed: rebuild them from the "
                    "lake's trades (ingest the days again)")
        raise SchemaError(f"bars: missing columns {missing}{hint}")
    close_ns = _check_index(bars)
    f: dict[str, np.ndarray] = {}
    for c in (*PRICE_COLUMNS, "first_price", "duration_s", "notional", "pq_sum", *BID_PX, *BID_QTY, *ASK_PX,
              *ASK_QTY):
        try:
            f[c] = bars[c].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as err:
            raise SchemaError(f"bars: column {c!r} cannot be read as float64: {err}") from None
    i: dict[str, np.ndarray] = {}
    for c in INT_COLUMNS:
        col = bars[c]
        if col.isna().any():
            raise InputError(f"bars: column {c!r} has missing values")
        try:
            i[c] = col.to_numpy(dtype=np.int64)
        except (TypeError, ValueError) as err:
            raise SchemaError(f"bars: column {c!r} cannot be read as int64: {err}") from None
    _check_prices(bars, f, i["n_trades"])
    _carry_forward(f, i["n_trades"])
    session = bars["session"].astype(str).to_numpy()
    change = np.ones(len(bars), dtype=bool)
    change[1:] = session[1:] != session[:-1]
    return BarArrays(
        size=len(bars),
        close_ns=close_ns,
        session_id=np.cumsum(change) - 1,
        session_open_ns=_utc_ns(bars["session_open_ts"], "session_open_ts"),
        session_close_ns=_utc_ns(bars["session_close_ts"], "session_close_ts"),
        f=f,
        i=i,
        brokers=_brokers(bars),
    )
