"""Recordings shaped like the ProfitDLL trade callback (CSV or Parquet).

One row per callback ``TNewTradeCallback(rAssetID, pwcDate, nTradeNumber, dPrice, dVol, nQtd,
nBuyAgent, nSellAgent, nTradeType, bEdit)``. Expected columns (case-insensitive; aliases accepted):

============= ============================================ =========== ==========================
column        aliases                                      required    meaning
============= ============================================ =========== ==========================
asset         ticker, symbol, asset_id                     no          contract, e.g. ``WDOF25``
date          trade_date, datetime, pwcdate                yes         ``dd/mm/yyyy HH:MM:SS.mmm``
                                                                       local time (or a timestamp)
trade_number  ntradenumber, trade_id                       yes         exchange trade number
price         dprice                                       yes         points
vol           dvol, volume, fin_volume                     no          financial volume, R$
qty           nqtd, qtd, quantity                          yes         contracts
buy_agent     nbuyagent, buyer                             yes         broker id (int; a name goes
                                                                       through the registry)
sell_agent    nsellagent, seller                           yes         int broker id
trade_type    ntradetype                                   yes         int code (2 = aggr. buy ...)
edit          bedit, is_edit                               no          correction of an earlier trade
============= ============================================ =========== ==========================

A missing ``vol`` is computed as price * qty * point value. ``edit`` rows are passed through like any
other row; a correction repeats an earlier trade number, so the validation gate's unique-trade-id
rule quarantines it (corrections are rare; see docs/data-formats.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa

from market.brokers import BrokerRegistry
from market.loaders import parsing as parse
from market.loaders.assemble import fin_volume_default, symbols, trade_frame
from market.loaders.options import LoadStats
from market.loaders.reading import iter_csv, iter_parquet, parquet_columns, sniff_csv
from quantumtrader.errors import SchemaError

ALIASES: dict[str, tuple[str, ...]] = {
    "asset": ("asset", "ticker", "symbol", "asset_id", "rassetid"),
    "date": ("date", "trade_date", "datetime", "pwcdate"),
    "trade_number": ("trade_number", "ntradenumber", "trade_id"),
    "price": ("price", "dprice"),
    "vol": ("vol", "dvol", "volume", "fin_volume"),
    "qty": ("qty", "nqtd", "qtd", "quantity"),
    "buy_agent": ("buy_agent", "nbuyagent", "buyer"),
    "sell_agent": ("sell_agent", "nsellagent", "seller"),
    "trade_type": ("trade_type", "ntradetype"),
    "edit": ("edit", "bedit", "is_edit"),
}
REQUIRED = ("date", "trade_number", "price", "qty", "buy_agent", "sell_agent", "trade_type")


def resolve_columns(names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Map each ProfitDLL field to the file's column that holds it (first alias found wins)."""
    lowered = {n.strip().lower(): n for n in names}
    found: dict[str, str] = {}
    for field, aliases in ALIASES.items():
        for alias in aliases:
            if alias in lowered:
                found[field] = lowered[alias]
                break
    return found


def is_profitdll_header(names: list[str] | tuple[str, ...]) -> bool:
    found = resolve_columns(names)
    return all(f in found for f in REQUIRED)


def _check(path: Path, names: list[str] | tuple[str, ...]) -> dict[str, str]:
    found = resolve_columns(names)
    missing = [f for f in REQUIRED if f not in found]
    if missing:
        raise SchemaError(f"{path}: ProfitDLL recording is missing columns {missing}; columns are {list(names)}")
    return found


def iter_profitdll(
    path: Path, *, symbol: str, brokers: BrokerRegistry, chunk_rows: int, tz: str, parquet: bool,
    stats: LoadStats,
) -> Iterator[pd.DataFrame]:
    """Stream a ProfitDLL-shaped recording as TRADE_SCHEMA chunks."""
    if parquet:
        names = parquet_columns(path)
        found = _check(path, names)
        tables = iter_parquet(path, sorted(set(found.values())), chunk_rows)
    else:
        dialect = sniff_csv(path)
        names = list(dialect.header)
        found = _check(path, names)
        tables = iter_csv(path, dialect, names, chunk_rows)
    for table in tables:
        col = {field: table[source] for field, source in found.items()}
        price = parse.to_float(col["price"])
        qty = parse.to_int(col["qty"])
        date = col["date"]
        naive = not (pa.types.is_timestamp(date.type) and date.type.tz is not None)
        stats.note_ts(table.num_rows, naive)
        if pa.types.is_timestamp(date.type):
            ts = parse.timestamp_column_utc(date, tz)
        else:
            day, tod = parse.split_datetime(date)
            ts = parse.timestamps_utc(day, tod, tz)
        frame = trade_frame(
            table,
            ts=ts,
            symbol=symbols(col.get("asset"), symbol, table.num_rows),
            trade_id=parse.to_int(col["trade_number"]),
            price=price,
            qty=qty,
            fin_volume=parse.to_float(col["vol"]) if "vol" in col else fin_volume_default(symbol, price, qty),
            buyer=parse.broker_ids(col["buy_agent"], brokers),
            seller=parse.broker_ids(col["sell_agent"], brokers),
            trade_type=parse.trade_type_codes(col["trade_type"]),
        )
        del table, col, date  # not held (with its text) while the caller gates and writes
        yield frame
