"""RELIABILITY.md #14: re-running ingestion for the same day adds no duplicate rows; a crash while
writing a day leaves the previous version of the day intact (writes are atomic)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from market.brokers import BrokerRegistry
from market.calendar import session_bounds
from market.ingest import ingest_frames, ingest_path
from market.lake import Lake, bars_dataset
from market.loaders import write_profit_export
from quantumtrader.config import Settings

DAY = date(2026, 1, 5)
BARS = bars_dataset("time:60s")


def _trades(n: int, price: float = 5000.0) -> pd.DataFrame:
    open_ts, _ = session_bounds(DAY, "WDO")
    i = np.arange(n)
    return pd.DataFrame({
        "ts": open_ts + pd.to_timedelta(30_000 + i * 2_000, unit="ms"), "symbol": "WDO",
        "trade_id": (1 + i).astype("int64"), "price": price + (i % 5) * 0.5, "qty": np.full(n, 2, dtype="int64"),
        "fin_volume": (price + (i % 5) * 0.5) * 20.0, "buyer": np.full(n, 3, dtype="int32"),
        "seller": np.full(n, 8, dtype="int32"), "trade_type": np.where(i % 2 == 0, 2, 3).astype("int8"),
    })


def _no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob("*.tmp")]


def test_reingesting_the_same_export_twice_gives_the_same_rows(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "wdo.csv"
    write_profit_export(_trades(400), path, BrokerRegistry())
    lake = Lake(settings.lake_root)

    ingest_path(path, symbol="WDO", settings=settings)
    first, first_bars = lake.read_day("trades", "WDO", DAY), lake.read_day(BARS, "WDO", DAY)
    ingest_path(path, symbol="WDO", settings=settings)
    second, second_bars = lake.read_day("trades", "WDO", DAY), lake.read_day(BARS, "WDO", DAY)

    assert len(second) == 400 and second["trade_id"].is_unique
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(first_bars, second_bars)
    assert lake.days("trades", "WDO") == [DAY] and _no_temp_files(settings.lake_root)


def test_reingesting_corrected_data_replaces_the_day_and_clears_its_quarantine(settings: Settings) -> None:
    lake = Lake(settings.lake_root)
    dirty = _trades(300)
    dirty.loc[7, "qty"] = 0
    ingest_frames(dirty, None, symbol="WDO", settings=settings)
    assert len(lake.read_day("quarantine/trades", "WDO", DAY)) == 1

    ingest_frames(_trades(250), None, symbol="WDO", settings=settings, replace=True)

    assert len(lake.read_day("trades", "WDO", DAY)) == 250
    assert lake.days("quarantine/trades", "WDO") == []


def test_a_crash_while_writing_leaves_the_old_day_intact(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = Lake(settings.lake_root)
    ingest_frames(_trades(300), None, symbol="WDO", settings=settings)
    before = lake.read_day("trades", "WDO", DAY)
    before_bars = lake.read_day(BARS, "WDO", DAY)
    real_write = pq.write_table

    def crash_halfway(table: Any, where: Any, **kwargs: Any) -> None:
        real_write(table.slice(0, len(table) // 2), where, **kwargs)  # half a file on disk, then the crash
        raise OSError("disk went away")

    monkeypatch.setattr("market.lake.pq.write_table", crash_halfway)
    with pytest.raises(OSError, match="disk went away"):
        ingest_frames(_trades(500, price=5100.0), None, symbol="WDO", settings=settings)
    monkeypatch.undo()

    pd.testing.assert_frame_equal(lake.read_day("trades", "WDO", DAY), before)
    pd.testing.assert_frame_equal(lake.read_day(BARS, "WDO", DAY), before_bars)
    assert _no_temp_files(settings.lake_root)
