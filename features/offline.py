"""The offline feature table: qt65_v1 rows in the lake, the input of Feast's DuckDB offline store.

Layout: dataset ``features/qt65_v1`` of :class:`market.lake.Lake`, partitioned ``symbol=/date=``
(date = the trading day of the bar, market.calendar.session_days). Columns: ``symbol``, ``event_timestamp`` (the bar's
close, ``datetime64[us, UTC]``: duckdb < 2 and Feast materialisation need microseconds),
``created_timestamp`` (when the row was built; the newest build wins a tie), ``spec_hash`` (the
feature spec the row was computed with) and the 65 features as float64 in spec order.

:func:`feature_table` is pure; :func:`compute_features` (reads bars), :func:`validate_features` and
:func:`write_features` (writes days) are the shell, run in that order by ``flows/features.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.spec import FEATURE_NAMES, MAX_WARMUP, VERSION, SpecMismatchError, spec_hash
from market.lake import Lake, bars_dataset
from quantumtrader.clock import Clock, SystemClock
from quantumtrader.config import Settings
from quantumtrader.errors import DataValidationError, InputError, SchemaError
from quantumtrader.logging import get_logger

FEATURES_DATASET = f"features/{VERSION}"
KEY_COLUMNS = ("symbol", "event_timestamp", "created_timestamp", "spec_hash")
TS_DTYPE = "datetime64[us, UTC]"
# Bars before this many from the start of the data may be NaN by construction (longest warm-up).

log = get_logger("features.offline")


def source_glob(lake_root: Path) -> str:
    """Absolute glob of every feature Parquet file (what the Feast FileSource reads)."""
    return str(Path(lake_root).resolve() / FEATURES_DATASET / "*" / "*" / "*.parquet")


def feature_table(features: pd.DataFrame, symbol: str, *, created: pd.Timestamp) -> pd.DataFrame:
    """Turn ``compute_batch`` output (index = bar close, 65 columns) into the stored row layout.

    Raises :class:`SchemaError` naming missing/unexpected feature columns or a bad index, and
    :class:`InputError` for infinite values (the spec never produces inf).
    """
    missing = [c for c in FEATURE_NAMES if c not in features.columns]
    extra = [c for c in features.columns if c not in FEATURE_NAMES]
    if missing or extra:
        raise SchemaError(f"{VERSION} features: missing columns {missing}; unexpected columns {extra}")
    idx = features.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise SchemaError(f"{VERSION} features: index must be a timezone-aware DatetimeIndex of bar closes")
    if not idx.is_monotonic_increasing or idx.has_duplicates:
        raise InputError(f"{VERSION} features for {symbol}: bar close index must be strictly increasing")
    values = features[list(FEATURE_NAMES)].astype("float64")
    inf_cols = [c for c in FEATURE_NAMES if np.isinf(values[c].to_numpy()).any()]
    if inf_cols:
        raise InputError(f"{VERSION} features for {symbol}: infinite values in columns {inf_cols}")
    out = pd.DataFrame(
        {
            "symbol": symbol,
            "event_timestamp": idx.tz_convert("UTC").astype(TS_DTYPE),
            "created_timestamp": pd.Timestamp(created).tz_convert("UTC"),
            "spec_hash": spec_hash(),
        },
        index=pd.RangeIndex(len(values)),
    )
    out["created_timestamp"] = out["created_timestamp"].astype(TS_DTYPE)
    return pd.concat([out, values.reset_index(drop=True)], axis=1)


def session_dates(event_ts: pd.Series, symbol: str) -> pd.Series:
    """The trading day of each bar close (:func:`market.calendar.session_days`): the lake's partition key."""
    from market.calendar import session_days

    days = session_days(event_ts, symbol)
    return pd.Series(pd.DatetimeIndex(days).date, index=event_ts.index)


def write_feature_table(lake: Lake, table: pd.DataFrame, symbol: str) -> list[date]:
    """Write ``table`` day by day (each day replaced atomically); return the days written."""
    days: list[date] = []
    for day, part in table.groupby(session_dates(table["event_timestamp"], symbol), sort=True):
        lake.write_day(FEATURES_DATASET, symbol, day, part.reset_index(drop=True))
        days.append(day)
    return days


def read_feature_table(lake: Lake, symbol: str, start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """Read stored rows of ``symbol`` (all days when ``start``/``end`` are omitted)."""
    return lake.read(FEATURES_DATASET, symbol, start, end)


@dataclass(frozen=True)
class StoredSummary:
    """What the feature Parquet holds: per spec hash, the row count and event-time range."""

    rows: int
    hashes: dict[str, int] = field(default_factory=dict)
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None


def stored_summary(lake_root: Path) -> StoredSummary:
    """Scan the spec-hash column and the time range of every stored file (DuckDB, no feature columns)."""
    import duckdb

    glob = source_glob(lake_root)
    if not any(Path(lake_root, FEATURES_DATASET).glob("*/*/*.parquet")):
        return StoredSummary(rows=0)
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT spec_hash, count(*), min(event_timestamp), max(event_timestamp) "
            "FROM read_parquet(?, hive_partitioning = false) GROUP BY spec_hash",
            [glob],
        ).fetchall()
    finally:
        con.close()
    hashes = {str(h): int(n) for h, n, _, _ in rows}
    first = min(pd.Timestamp(r[2]) for r in rows)
    last = max(pd.Timestamp(r[3]) for r in rows)
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
    return StoredSummary(rows=sum(hashes.values()), hashes=hashes, first=first, last=last)


def check_stored_spec(summary: StoredSummary) -> None:
    """Raise :class:`SpecMismatchError` when any stored row was built with another feature spec."""
    mine = spec_hash()
    other = {h: n for h, n in summary.hashes.items() if h != mine}
    if other:
        raise SpecMismatchError(
            f"stored {VERSION} features were built with spec hash(es) {sorted(other)} ({sum(other.values())} rows), "
            f"but this code's spec hash is {mine!r}: rebuild them with `qtml features build`"
        )


def compute_features(settings: Settings, symbol: str | None = None, *, clock: Clock | None = None) -> pd.DataFrame:
    """Read the symbol's bars from the lake and compute its feature rows (nothing is written).

    Features are computed over the whole bar history at once: rolling windows run across sessions.
    Raises :class:`InputError` when there are no bars (``compute_batch`` names bad bar columns).
    """
    from features.batch import compute_batch

    symbol = symbol or settings.market.symbol
    dataset = bars_dataset(settings.market.bars.spec)
    bars = Lake(settings.lake_root).read(dataset, symbol)
    if bars.empty:
        raise InputError(f"no bars for {symbol} in {settings.lake_root / dataset}: run ingest first")
    if "close_ts" in bars.columns:
        bars = bars.set_index("close_ts")
    features = compute_batch(bars, symbol=symbol)
    created = pd.Timestamp((clock or SystemClock()).now_ns(), unit="ns", tz="UTC")
    table = feature_table(features, symbol, created=created)
    log.info("features computed", data={"symbol": symbol, "bars": len(bars), "rows": len(table)})
    return table


def validate_features(table: pd.DataFrame) -> dict[str, Any]:
    """Run the ``features`` expectation suite on the rows past the warm-up; raise when it fails.

    Returns the suite's JSON-ready summary. Raises :class:`DataValidationError` naming each failed
    rule and its row count.
    """
    from expectations.runner import run_suite

    rows = after_warmup(table)
    if rows.empty:
        log.warning("feature suite skipped", data={"rows": len(table), "warmup": MAX_WARMUP})
        return {"suite": "features", "rows": 0, "success": True, "skipped": f"fewer than {MAX_WARMUP} bars"}
    result = run_suite("features", rows[list(FEATURE_NAMES)])
    if not result.success:
        failed = [f"{o.rule} on {o.column} ({o.unexpected_count} rows)" for o in result.outcomes if not o.success]
        raise DataValidationError(f"{VERSION} features failed the 'features' suite: " + "; ".join(failed))
    summary = result.to_dict()
    summary.pop("expectations", None)
    log.info("feature suite passed", data={"rows": result.n_rows})
    return summary


def write_features(settings: Settings, table: pd.DataFrame, validation: dict[str, Any] | None = None) -> list[date]:
    """Write validated rows to the lake (one partition per symbol and session day)."""
    lake = Lake(settings.lake_root)
    days: list[date] = []
    for symbol, part in table.groupby("symbol", sort=True):
        written = write_feature_table(lake, part, str(symbol))
        if validation is not None:
            for day in written:
                lake.write_json(FEATURES_DATASET, str(symbol), day, "_validation.json", validation)
        days += written
    log.info("features written", data={"rows": len(table), "days": len(days)})
    return days


def after_warmup(table: pd.DataFrame, warmup: int = MAX_WARMUP) -> pd.DataFrame:
    """Rows past the longest warm-up of each symbol: where a NaN is a defect, not a window filling up."""
    rank = table.groupby("symbol", sort=False).cumcount()
    return table.loc[rank >= warmup]
