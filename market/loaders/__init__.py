"""Streaming trade loaders: Profit exports, ProfitDLL recordings, generic and canonical files.

Every loader yields TRADE_SCHEMA chunks of ``chunk_rows`` rows and never reads a file whole, so
memory stays bounded for 17 GB exports. Unreadable values become sentinels (NaT / NaN / -1) for the
validation gate to quarantine; no row is dropped. Formats and decisions: ``docs/data-formats.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from market.brokers import BrokerRegistry
from market.instruments import get_instrument
from market.loaders.detect import FORMATS, detect_format
from market.loaders.generic import iter_canonical, iter_generic
from market.loaders.options import LoaderOptions, LoadStats, check_zone, parse_column_map
from market.loaders.profit import iter_profit, write_profit_export
from market.loaders.profitdll import iter_profitdll
from market.loaders.reading import ensure_not_empty, is_parquet
from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger

__all__ = ["FORMATS", "BrokerRegistry", "LoadStats", "LoaderOptions", "detect_format", "iter_trades",
           "parse_column_map", "write_profit_export"]


def iter_trades(
    path: Path,
    *,
    symbol: str,
    fmt: str | None = None,
    brokers: BrokerRegistry,
    chunk_rows: int = 250_000,
    column_map: dict[str, str] | None = None,
    tz: str | None = None,
    stats: LoadStats | None = None,
) -> Iterator[pd.DataFrame]:
    """Stream the trades of ``path`` as DataFrames in TRADE_SCHEMA column order and dtypes.

    ``fmt`` is one of ``profit``, ``profitdll``, ``generic``, ``canonical`` (None: :func:`detect_format`).
    ``brokers`` maps broker names to stable ids; when it has a path it is saved (atomically) after
    every chunk that added a name, so ids already written to the lake are never lost.
    ``column_map`` maps canonical names to file columns for ``generic`` (``{"ts": "when", ...}``) and
    Profit fields to header names for ``profit`` (``{"date": "Data", ...}``); headers match ignoring
    case and surrounding spaces. Timestamps without a UTC offset are local times in ``tz`` (None: the
    instrument's zone, logged once per file as an assumption, with how to override it); timestamps
    with an offset are converted and ignore ``tz``. ``stats`` (optional) is filled while streaming.

    Raises InputError (``empty file: <path>``, ``<path>: not a CSV or Parquet file (...)``) and
    SchemaError (missing columns, a bad column map). Bad values never raise: they become NaT / NaN /
    -1 for the validation gate.
    """
    path = Path(path)
    ensure_not_empty(path)
    if chunk_rows <= 0:
        raise InputError(f"chunk_rows must be > 0, got {chunk_rows}")
    stats = stats if stats is not None else LoadStats()
    stats.tz_assumed = tz is None
    tz = check_zone(tz) if tz is not None else get_instrument(symbol).timezone
    stats.tz = tz
    fmt = fmt or detect_format(path)
    stats.fmt = fmt
    parquet = is_parquet(path)
    chunks: Iterator[pd.DataFrame]
    if fmt == "profit":
        if parquet:
            raise InputError(f"{path}: Profit exports are CSV text, not Parquet")
        chunks = iter_profit(path, symbol=symbol, brokers=brokers, chunk_rows=chunk_rows, tz=tz,
                             column_map=column_map, stats=stats)
    elif fmt == "profitdll":
        chunks = iter_profitdll(path, symbol=symbol, brokers=brokers, chunk_rows=chunk_rows, tz=tz, parquet=parquet,
                                stats=stats)
    elif fmt == "canonical" and parquet:
        chunks = iter_canonical(path, chunk_rows=chunk_rows, tz=tz, stats=stats)
    elif fmt in ("generic", "canonical"):
        chunks = iter_generic(path, symbol=symbol, brokers=brokers, chunk_rows=chunk_rows, tz=tz,
                              column_map=column_map, parquet=parquet, stats=stats)
    else:
        raise InputError(f"unknown trade file format {fmt!r}; known: {list(FORMATS)}")
    log = get_logger("market.loaders")
    rows = 0
    warned = False
    for chunk in chunks:
        rows += len(chunk)
        if brokers.dirty and brokers.path is not None:
            brokers.save()
        if stats.tz_assumed and stats.naive_rows and not warned:
            warned = True
            note = (f"{path}: timestamps without a UTC offset read as {tz} time (assumed: the instrument's zone); "
                    f"pass --tz ZONE if the file is in another zone")
            stats.notes.append(note)
            log.warning(note, data={"path": str(path), "tz": tz})
        yield chunk
    log.info("trades loaded", data={"path": str(path), "format": fmt, "rows": rows, "brokers": len(brokers)})
