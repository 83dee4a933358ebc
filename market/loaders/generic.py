"""Generic CSV/Parquet trades with a column mapping, and canonical TRADE_SCHEMA Parquet.

Generic: ``column_map`` maps canonical TRADE_SCHEMA names to the file's columns, e.g.
``{"ts": "time", "price": "px", "qty": "size"}``. ``ts``, ``price`` and ``qty`` are required; a
canonical name that the map does not mention is taken from a file column of the same name when there
is one, else defaulted:

=========== ============================================================
symbol      the ingested symbol
trade_id    running row number in the file, from 1
fin_volume  price * qty * point value of the instrument
buyer       -1 (unknown broker); seller likewise
trade_type  32 (``TradeType.UNKNOWN``: the source does not say)
=========== ============================================================

``ts`` may be a Parquet timestamp (naive = local ``tz``), epoch numbers (unit guessed from magnitude:
s, ms, us or ns; UTC) or text: ISO 8601 (an offset or ``Z`` is honoured, naive text is local ``tz``)
or ``dd/mm/yyyy HH:MM:SS[.fff]``. Trade types may be codes or Profit words; brokers ids or names.

Canonical: a Parquet file whose columns are TRADE_SCHEMA (what the simulator and the lake write);
values are cast, not parsed (a file that cannot be cast is a SchemaError).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from market.brokers import MISSING_BROKER, BrokerRegistry
from market.loaders import parsing as parse
from market.loaders.assemble import fin_volume_default, symbols, trade_frame
from market.loaders.reading import MALFORMED, iter_csv, iter_parquet, parquet_columns, sniff_csv
from market.schemas import TRADE_SCHEMA, TradeType, coerce
from quantumtrader.errors import SchemaError

GENERIC_REQUIRED = ("ts", "price", "qty")
_TEXT_FORMATS = ("ISO8601", "%d/%m/%Y %H:%M:%S.%f", "%d/%m/%Y %H:%M:%S")


def resolve_map(path: Path, names: list[str], column_map: dict[str, str] | None) -> dict[str, str]:
    """Canonical name -> file column, checked: unknown canonical names or absent columns raise SchemaError."""
    column_map = dict(column_map or {})
    unknown = [c for c in column_map if c not in TRADE_SCHEMA]
    if unknown:
        raise SchemaError(f"column_map has unknown canonical names {unknown}; known: {list(TRADE_SCHEMA)}")
    absent = [src for src in column_map.values() if src not in names]
    if absent:
        raise SchemaError(f"{path}: mapped columns {absent} are not in the file; columns are {names}")
    for name in TRADE_SCHEMA:
        if name not in column_map and name in names:
            column_map[name] = name
    missing = [c for c in GENERIC_REQUIRED if c not in column_map]
    if missing:
        raise SchemaError(f"{path}: no column for {missing}; map them with column_map (columns are {names})")
    return column_map


def _text_series(arr: pa.Array) -> pd.Series:
    try:
        return pd.Series(pc.cast(arr, pa.string()).to_pandas(), dtype=object)
    except pa.ArrowInvalid:
        return pd.Series([parse.decode(v) for v in arr.to_pylist()], dtype=object)


def _epoch_utc(arr: pa.Array) -> pd.Series:
    values = parse.to_float(arr)
    finite = np.abs(values[np.isfinite(values)])
    scale = float(np.median(finite)) if len(finite) else 0.0
    unit = "ns" if scale > 1e17 else "us" if scale > 1e14 else "ms" if scale > 1e11 else "s"
    exact = pa.types.is_integer(arr.type) and arr.null_count == 0  # int64 ns do not fit a float exactly
    source = arr.to_numpy() if exact else values
    return pd.Series(pd.to_datetime(source, unit=unit, utc=True, errors="coerce"))


def parse_ts(arr: pa.Array | pa.ChunkedArray, tz: str) -> pd.Series:
    """Generic timestamps -> UTC (see the module docstring); unreadable -> NaT."""
    arr = parse.flat(arr)
    if pa.types.is_timestamp(arr.type):
        return parse.timestamp_column_utc(arr, tz)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        return _epoch_utc(arr)
    text = _text_series(arr).str.strip()
    best = pd.Series(pd.NaT, index=text.index)
    for fmt in _TEXT_FORMATS:
        try:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        except ValueError:  # e.g. naive and offset-aware text mixed in one chunk
            parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
        if parsed.notna().sum() > best.notna().sum():
            best = parsed
        if best.notna().sum() == text.notna().sum():
            break
    if isinstance(best.dtype, pd.DatetimeTZDtype):
        return best.dt.tz_convert("UTC").astype(TRADE_SCHEMA["ts"]).reset_index(drop=True)
    local = best.astype("datetime64[ns]").to_numpy().view("int64")
    return parse.local_to_utc(local, tz)


def iter_generic(
    path: Path, *, symbol: str, brokers: BrokerRegistry, chunk_rows: int, tz: str,
    column_map: dict[str, str] | None, parquet: bool,
) -> Iterator[pd.DataFrame]:
    """Stream a generic CSV/Parquet trade file through ``column_map`` as TRADE_SCHEMA chunks."""
    if parquet:
        names = parquet_columns(path)
        cmap = resolve_map(path, names, column_map)
        tables = iter_parquet(path, sorted(set(cmap.values())), chunk_rows)
        comma = False
    else:
        dialect = sniff_csv(path)
        names = list(dialect.header)
        cmap = resolve_map(path, names, column_map)
        tables = iter_csv(path, dialect, names, chunk_rows)
        comma = dialect.decimal_comma
    row = 0
    for table in tables:
        n = table.num_rows
        col = {name: table[src] for name, src in cmap.items()}
        price = parse.to_float(col["price"], decimal_comma=comma)
        qty = parse.to_int(col["qty"], decimal_comma=comma)
        missing_broker = np.full(n, MISSING_BROKER, dtype="int32")
        yield trade_frame(
            table,
            ts=parse_ts(col["ts"], tz),
            symbol=symbols(col.get("symbol"), symbol, n),
            trade_id=parse.to_int(col["trade_id"]) if "trade_id" in col else np.arange(row + 1, row + n + 1),
            price=price,
            qty=qty,
            fin_volume=(parse.to_float(col["fin_volume"], decimal_comma=comma) if "fin_volume" in col
                        else fin_volume_default(symbol, price, qty)),
            buyer=parse.broker_ids(col["buyer"], brokers) if "buyer" in col else missing_broker,
            seller=parse.broker_ids(col["seller"], brokers) if "seller" in col else missing_broker,
            trade_type=(parse.trade_type_codes(col["trade_type"]) if "trade_type" in col
                        else np.full(n, int(TradeType.UNKNOWN), dtype="int8")),
        )
        row += n


def iter_canonical(path: Path, *, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream a TRADE_SCHEMA Parquet file (values are cast, not parsed)."""
    names = parquet_columns(path)
    missing = [c for c in TRADE_SCHEMA if c not in names]
    if missing:
        raise SchemaError(f"{path}: canonical trades file is missing columns {missing}")
    for table in iter_parquet(path, list(TRADE_SCHEMA), chunk_rows):
        frame = coerce(table.drop_columns([MALFORMED]).to_pandas(), TRADE_SCHEMA, f"trades in {path}")
        frame["ts"] = frame["ts"].astype(TRADE_SCHEMA["ts"])
        yield frame
