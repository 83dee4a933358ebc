"""Nelogica Profit tick ("times and trades") exports.

Header (angle brackets optional, case-insensitive, extra columns ignored)::

    <ticker>,<date>,<time>,<trade_number>,<price>,<qty>,<vol>,<buy_agent>,<sell_agent>,<trade_type>,<aft>

Two dialects, detected from the file's head:

- ``en``: ``,`` separator, decimal point, ``yyyy-mm-dd`` dates;
- ``pt-BR``: ``;`` separator, decimal comma (``6050,5``; a ``.`` is a thousands separator and is
  dropped), ``dd/mm/yyyy`` dates.

Dates and times are local ``America/Sao_Paulo`` (``tz``) and become UTC with millisecond resolution.
Trade types are words (``AggressorBuyer`` ...) mapped through ``TRADE_TYPE_WORDS``; an unknown word
becomes -1. Brokers are names mapped to stable ids by a :class:`~market.brokers.BrokerRegistry`.
``vol`` is the financial volume in R$ (kept as ``fin_volume``). ``aft`` (after-market flag) is not
part of TRADE_SCHEMA: no row is dropped because of it; rows outside session hours are the validation
gate's business.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from market.brokers import BrokerRegistry
from market.loaders import parsing as parse
from market.loaders.assemble import symbols, trade_frame
from market.loaders.options import LoadStats
from market.loaders.reading import iter_csv, sniff_csv
from market.schemas import TRADE_SCHEMA, TRADE_TYPE_WORDS, coerce
from quantumtrader.errors import SchemaError

PROFIT_COLUMNS = ("ticker", "date", "time", "trade_number", "price", "qty", "vol",
                  "buy_agent", "sell_agent", "trade_type", "aft")
REQUIRED = PROFIT_COLUMNS[:-1]  # ``aft`` may be absent
HEADER = ",".join(f"<{c}>" for c in PROFIT_COLUMNS)
_WORD_OF = {int(code): word for word, code in TRADE_TYPE_WORDS.items()}


def normal_name(name: str) -> str:
    """``<Trade_Number>`` -> ``trade_number``."""
    return name.strip().strip("<>").strip().lower()


def is_profit_header(names: list[str] | tuple[str, ...]) -> bool:
    """True when a CSV header carries the Profit export columns."""
    return set(REQUIRED) <= {normal_name(n) for n in names}


def _apply_map(path: Path, names: list[str], column_map: dict[str, str]) -> list[str]:
    """Rename header columns to Profit fields: ``column_map`` is Profit field -> the file's column."""
    lists = f"the file's headers are {names}; Profit fields are {list(PROFIT_COLUMNS)}"
    unknown = [f for f in column_map if f not in PROFIT_COLUMNS]
    if unknown:
        raise SchemaError(f"{path}: the column map names {unknown}, which are not Profit fields; {lists}")
    out = list(names)
    for field, source in column_map.items():
        if normal_name(source) not in names:
            raise SchemaError(f"{path}: the column map refers to {source!r}, not a header of the file; {lists}")
        out[names.index(normal_name(source))] = field
    return out


def iter_profit(
    path: Path, *, symbol: str, brokers: BrokerRegistry, chunk_rows: int, tz: str,
    column_map: dict[str, str] | None = None, stats: LoadStats | None = None,
) -> Iterator[pd.DataFrame]:
    """Stream a Profit export as TRADE_SCHEMA chunks of ``chunk_rows`` rows (times are naive local ``tz``).

    ``column_map`` (Profit field -> header name, e.g. ``{"date": "Data", "time": "Hora"}``) reads
    exports whose header is worded differently.
    """
    dialect = sniff_csv(path)
    names = [normal_name(n) for n in dialect.header]
    if column_map:
        names = _apply_map(path, names, column_map)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise SchemaError(f"{path}: Profit export is missing columns {missing}; header is {list(dialect.header)}")
    if len(set(names)) != len(names):
        raise SchemaError(f"{path}: duplicate columns in header {list(dialect.header)}")
    comma = dialect.decimal_comma
    for table in iter_csv(path, dialect, names, chunk_rows):
        if stats is not None:
            stats.note_ts(table.num_rows, naive=True)
        frame = trade_frame(
            table,
            ts=parse.timestamps_utc(table["date"], table["time"], tz),
            symbol=symbols(table["ticker"], symbol, table.num_rows),
            trade_id=parse.to_int(table["trade_number"], decimal_comma=comma),
            price=parse.to_float(table["price"], decimal_comma=comma),
            qty=parse.to_int(table["qty"], decimal_comma=comma),
            fin_volume=parse.to_float(table["vol"], decimal_comma=comma),
            buyer=parse.broker_ids(table["buy_agent"], brokers),
            seller=parse.broker_ids(table["sell_agent"], brokers),
            trade_type=parse.trade_type_codes(table["trade_type"]),
        )
        del table  # not held (with its text) while the caller gates and writes
        yield frame


def _broker_names(ids: np.ndarray, brokers: BrokerRegistry | None) -> pa.Array:
    uniques, inverse = np.unique(ids, return_inverse=True)
    names = []
    for ident in uniques.tolist():
        if ident < 0:
            names.append("")
            continue
        name = brokers.name_for(ident) if brokers is not None else None
        if name is None:
            name = f"Agent {ident}"
            if brokers is not None:
                brokers.register(name, ident)
        names.append(name)
    return pa.array(np.asarray(names, dtype=object)[inverse], pa.string())


def _trade_words(codes: np.ndarray) -> pa.Array:
    uniques, inverse = np.unique(codes, return_inverse=True)
    words = np.asarray([_WORD_OF.get(c, str(c)) for c in uniques.tolist()], dtype=object)
    return pa.array(words[inverse], pa.string())


def _number_text(values: np.ndarray, comma: bool) -> pa.Array:
    text = pc.cast(pa.array(values), pa.string())
    return pc.replace_substring(text, ".", ",") if comma else text


def write_profit_export(
    trades: pd.DataFrame,
    path: Path,
    brokers: BrokerRegistry | None = None,
    *,
    dialect: Literal["en", "pt-BR"] = "en",
    tz: str = "America/Sao_Paulo",
    chunk_rows: int = 250_000,
) -> None:
    """Write TRADE_SCHEMA ``trades`` as a Profit export (the inverse of the Profit loader).

    Broker ids become names from ``brokers``; an id without a name becomes ``Agent <id>`` and, when a
    registry is given, is registered under that id so that loading with the same registry gives the
    ids back. Timestamps are written in local ``tz`` with milliseconds. The file is written to a
    temporary name and moved into place. Used for fixtures and benchmarks.
    """
    trades = coerce(trades[[c for c in trades.columns if c in TRADE_SCHEMA]], TRADE_SCHEMA, "trades")
    comma = dialect == "pt-BR"
    sep = ";" if comma else ","
    date_fmt = "%d/%m/%Y" if comma else "%Y-%m-%d"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    options = pacsv.WriteOptions(include_header=False, delimiter=sep, quoting_style="none")
    try:
        with open(tmp, "wb") as fh:
            fh.write((HEADER.replace(",", sep) + "\n").encode())
            for start in range(0, len(trades), chunk_rows):
                part = trades.iloc[start:start + chunk_rows]
                ts = pc.cast(pa.array(part["ts"]), pa.timestamp("ms", tz=tz), safe=False)
                table = pa.table({
                    "ticker": pa.array(part["symbol"].astype(str), pa.string()),
                    "date": pc.strftime(ts, date_fmt),
                    "time": pc.strftime(ts, "%H:%M:%S"),
                    "trade_number": pc.cast(pa.array(part["trade_id"].to_numpy()), pa.string()),
                    "price": _number_text(part["price"].to_numpy(), comma),
                    "qty": pc.cast(pa.array(part["qty"].to_numpy()), pa.string()),
                    "vol": _number_text(part["fin_volume"].to_numpy(), comma),
                    "buy_agent": _broker_names(part["buyer"].to_numpy(), brokers),
                    "sell_agent": _broker_names(part["seller"].to_numpy(), brokers),
                    "trade_type": _trade_words(part["trade_type"].to_numpy()),
                    "aft": pa.array(np.full(len(part), "N", dtype=object), pa.string()),
                })
                pacsv.write_csv(table, fh, write_options=options)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
