"""Guess a trade file's format from its header (CSV) or schema (Parquet)."""

from __future__ import annotations

from pathlib import Path

from market.loaders.profit import is_profit_header
from market.loaders.profitdll import is_profitdll_header
from market.loaders.reading import is_parquet, parquet_columns, sniff_csv
from market.schemas import TRADE_SCHEMA

FORMATS = ("profit", "profitdll", "generic", "canonical")


def detect_format(path: Path) -> str:
    """One of :data:`FORMATS`, read from the file's head only.

    - ``canonical``: every TRADE_SCHEMA column is present (Parquet or CSV);
    - ``profit``: a CSV whose header has the Profit export columns (``<ticker>,<date>,<time>,...``);
    - ``profitdll``: the ProfitDLL trade-callback columns (``date,trade_number,price,qty,...``);
    - ``generic``: anything else (needs a ``column_map`` unless its columns use canonical names).

    Raises InputError ``empty file: <path>`` for a 0-byte or header-only file.
    """
    path = Path(path)
    names = parquet_columns(path) if is_parquet(path) else list(sniff_csv(path).header)
    if all(c in names for c in TRADE_SCHEMA):
        return "canonical"
    if not is_parquet(path) and is_profit_header(names):
        return "profit"
    if is_profitdll_header(names):
        return "profitdll"
    return "generic"
