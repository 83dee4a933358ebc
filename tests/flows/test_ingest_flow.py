"""The Prefect ingest flow: real flow runs on the test API, and retries only for transient errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prefect.states import Completed, Failed

from flows.ingest import ingest_flow, only_transient
from market.brokers import BrokerRegistry
from market.calendar import session_bounds
from market.lake import Lake, bars_dataset
from market.loaders import write_profit_export
from quantumtrader.config import load_settings
from quantumtrader.errors import DataValidationError, SchemaError, TransientError


@pytest.mark.slow
def test_simulate_flow_run_validates_and_writes_sessions_and_bars(prefect_harness: None, tmp_path: Path) -> None:
    settings = load_settings(root=tmp_path, market={"simulator": {"sessions": 2, "trades_per_session": 1500}})

    state = ingest_flow(source="simulate", settings=settings, return_state=True)

    assert state.is_completed()
    summary = state.result()
    lake = Lake(settings.lake_root)
    days = lake.days("trades", "WDO")
    assert summary["sessions"] == 2 and summary["trades_written"] == 3000 and summary["quarantined_rows"] == 0
    assert len(days) == 2 and lake.days("book", "WDO") == days
    assert lake.days(bars_dataset(settings.market.bars.spec), "WDO") == days


@pytest.mark.slow
def test_path_flow_run_fails_loudly_on_bad_data(prefect_harness: None, tmp_path: Path) -> None:
    settings = load_settings(root=tmp_path)
    day = date(2026, 1, 5)
    open_ts, _ = session_bounds(day, "WDO")
    n = 100
    trades = pd.DataFrame({
        "ts": open_ts + pd.to_timedelta(np.arange(n) * 1000 + 5000, unit="ms"), "symbol": "WDO",
        "trade_id": np.arange(1, n + 1, dtype="int64"), "price": np.full(n, 5000.0), "qty": np.full(n, 1),
        "fin_volume": np.full(n, 50000.0), "buyer": np.full(n, 3, dtype="int32"),
        "seller": np.full(n, 4, dtype="int32"), "trade_type": np.full(n, 2, dtype="int8"),
    })
    trades.loc[:9, "qty"] = -1
    path = tmp_path / "wdo.csv"
    write_profit_export(trades, path, BrokerRegistry())

    with pytest.raises(DataValidationError, match="qty_positive"):
        ingest_flow(source="path", path=str(path), settings=settings)
    assert Lake(settings.lake_root).days("trades", "WDO") == []


def test_only_transient_errors_are_retried() -> None:
    assert only_transient(None, None, Failed(data=TransientError("database is locked")))
    assert not only_transient(None, None, Failed(data=SchemaError("missing columns ['price']")))
    assert not only_transient(None, None, Failed(data=DataValidationError("too many bad rows")))
    assert not only_transient(None, None, Completed(data=None))
