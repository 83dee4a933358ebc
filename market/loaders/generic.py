"""Generic CSV/Parquet trades with a column mapping, and canonical TRADE_SCHEMA Parquet.

Generic: ``column_map`` maps canonical TRADE_SCHEMA names to the file's columns, e.g.
``{"ts": "time", "price": "px", "qty": "size"}``. Headers match ignoring case and surrounding spaces.
``ts`` (or ``date`` + ``time``: a local date column and a time-of-day column, read like a Profit
export's), ``price`` and ``qty`` are required; a canonical name that the map does not mention is taken
from a file column of the same name (any case) when there is one, else defaulted:

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
from market.loaders.options import LoadStats
from market.loaders.reading import MALFORMED, iter_csv, iter_parquet, parquet_columns, sniff_csv
from market.schemas import TRADE_SCHEMA, TradeType, coerce
from quantumtrader.errors import SchemaError

GENERIC_REQUIRED = ("ts", "price", "qty")
SPLIT_TS = ("date", "time")  # may stand in for ``ts``: a local date column and a time-of-day column
_TEXT_FORMATS = ("ISO8601", "%d/%m/%Y %H:%M:%S.%f", "%d/%m/%Y %H:%M:%S")


def header_lookup(names: list[str]) -> dict[str, str]:
    """Normalised header (case and surrounding spaces ignored) -> the file's column; the first one wins."""
    found: dict[str, str] = {}
    for name in names:
        found.setdefault(name.strip().casefold(), name)
    return found


def resolve_map(path: Path, names: list[str], column_map: dict[str, str] | None) -> dict[str, str]:
    """Canonical name -> file column, checked. Headers match ignoring case and surrounding spaces.

    Unknown canonical names, mapped headers the file does not have, or no column for a required name
    raise SchemaError naming the problem, the file's headers and our names.
    """
    ours = [*TRADE_SCHEMA, *SPLIT_TS]
    lists = f"the file's headers are {names}; our names are {ours}"
    headers = header_lookup(names)
    given = {k.strip().lower(): v for k, v in (column_map or {}).items()}
    unknown = [c for c in given if c not in ours]
    if unknown:
        raise SchemaError(f"{path}: the column map names {unknown}, which are not our column names; {lists}")
    absent = [src for src in given.values() if src not in names and src.strip().casefold() not in headers]
    if absent:
        raise SchemaError(f"{path}: the column map refers to {absent}, which are not headers of the file; {lists}")
    cmap = {name: src if src in names else headers[src.strip().casefold()] for name, src in given.items()}
    for name in TRADE_SCHEMA:
        if name not in cmap and name in headers and not (name == "ts" and set(SPLIT_TS) <= set(cmap)):
            cmap[name] = headers[name]
    if "ts" not in cmap:  # a date column and a time-of-day column instead of one timestamp
        for name in SPLIT_TS:
            if name not in cmap and name in headers:
                cmap[name] = headers[name]
    split_ts = "ts" not in cmap and all(name in cmap for name in SPLIT_TS)
    missing = [c for c in GENERIC_REQUIRED if c not in cmap and not (c == "ts" and split_ts)]
    if missing:
        raise SchemaError(f"{path}: no column for {missing}; map them with a column map such as "
                          f"ts=DateTime,price=Price,qty=Volume ({lists})")
    return cmap


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


def parse_ts(arr: pa.Array | pa.ChunkedArray, tz: str) -> tuple[pd.Series, bool]:
    """Generic timestamps -> UTC (see the module docstring), and whether they were naive local ``tz``
    times; unreadable -> NaT."""
    arr = parse.flat(arr)
    if pa.types.is_timestamp(arr.type):
        return parse.timestamp_column_utc(arr, tz), arr.type.tz is None
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        return _epoch_utc(arr), False
    text = _text_series(arr).str.strip()
    best = pd.Series(pd.NaT, index=text.index)
    for fmt in _TEXT_FORMATS:
        try:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        except ValueError:  # e.g. naive and offset-aware text mixed in one chunk
            parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
        if parsed.dtype == object:  # several UTC offsets in one chunk (e.g. -03:00 and Z)
            parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
        if parsed.notna().sum() > best.notna().sum():
            best = parsed
        if best.notna().sum() == text.notna().sum():
            break
    if isinstance(best.dtype, pd.DatetimeTZDtype):
        return best.dt.tz_convert("UTC").astype(TRADE_SCHEMA["ts"]).reset_index(drop=True), False
    local = best.astype("datetime64[ns]").to_numpy().view("int64")
    return parse.local_to_utc(local, tz), True


def iter_generic(
    path: Path, *, symbol: str, brokers: BrokerRegistry, chunk_rows: int, tz: str,
    column_map: dict[str, str] | None, parquet: bool, stats: LoadStats,
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
        if "ts" in col:
            ts, naive = parse_ts(col["ts"], tz)
        else:
            ts, naive = parse.timestamps_utc(col["date"], col["time"], tz), True
        stats.note_ts(n, naive)
        frame = trade_frame(
            table,
            ts=ts,
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
        del table, col  # not held (with its text) while the caller gates and writes
        yield frame


def iter_canonical(path: Path, *, chunk_rows: int, tz: str, stats: LoadStats) -> Iterator[pd.DataFrame]:
    """Stream a TRADE_SCHEMA Parquet file (values are cast, not parsed; a naive ``ts`` is local ``tz``)."""
    names = parquet_columns(path)
    missing = [c for c in TRADE_SCHEMA if c not in names]
    if missing:
        raise SchemaError(f"{path}: canonical trades file is missing columns {missing}")
    for table in iter_parquet(path, list(TRADE_SCHEMA), chunk_rows):
        table = table.drop_columns([MALFORMED])
        ts_col = parse.flat(table["ts"])
        naive = pa.types.is_timestamp(ts_col.type) and ts_col.type.tz is None
        stats.note_ts(table.num_rows, naive)
        frame = table.drop_columns(["ts"]).to_pandas() if naive else table.to_pandas()
        if naive:
            frame.insert(0, "ts", parse.timestamp_column_utc(ts_col, tz).array)
        frame = coerce(frame, TRADE_SCHEMA, f"trades in {path}")
        frame["ts"] = frame["ts"].astype(TRADE_SCHEMA["ts"])
        yield frame
