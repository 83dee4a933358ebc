"""One real run of the ``features`` Prefect flow on simulated sessions: bars -> Parquet -> Feast.

The bars are built straight from simulated trades (the ingest flow has its own tests), then the
flow computes, validates, writes, applies and materialises; the online vector and a point-in-time
read must both equal the rows the flow wrote.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features import offline, store
from features.spec import FEATURE_NAMES
from market.bars import build_bars
from market.lake import Lake, bars_dataset
from market.simulator import simulate
from quantumtrader.config import Settings


def write_simulated_bars(settings: Settings, sessions: int) -> int:
    lake = Lake(settings.lake_root)
    cfg = settings.market.bars
    n = 0
    for session in simulate(sessions, date(2026, 1, 5), symbol="WDO", seed=3, trades_per_session=2000):
        bars = build_bars(
            session.trades, session.book, spec=cfg.spec, symbol="WDO", large_trade_qty=cfg.large_trade_qty
        )
        lake.write_day(bars_dataset(cfg.spec), "WDO", session.day, bars, index=True)
        n += len(bars)
    return n


@pytest.mark.slow
def test_features_flow_run_fills_the_lake_and_both_feast_stores(prefect_harness: None, settings: Settings) -> None:
    from flows.features import features_flow

    n_bars = write_simulated_bars(settings, sessions=2)
    try:
        summary = features_flow(settings=settings, symbol="WDO")
        assert summary["rows"] == n_bars
        assert summary["days"] == 2
        assert summary["validated_rows"] == n_bars - offline.MAX_WARMUP
        assert summary["materialize"] == "backfill"

        written = offline.read_feature_table(Lake(settings.lake_root), "WDO").reset_index(drop=True)
        assert len(written) == n_bars
        online = store.get_online_features("WDO", settings)
        np.testing.assert_array_equal(list(online.values()), written[list(FEATURE_NAMES)].iloc[-1].to_numpy())

        asked = written["event_timestamp"].iloc[[300, 700]].reset_index(drop=True)
        entity = pd.DataFrame({"symbol": "WDO", "event_timestamp": asked + pd.Timedelta(seconds=30)})
        got = store.get_historical_features(entity, settings)
        np.testing.assert_array_equal(
            got[list(FEATURE_NAMES)].to_numpy(), written[list(FEATURE_NAMES)].iloc[[300, 700]].to_numpy()
        )

        again = features_flow(settings=settings, symbol="WDO")
        assert again["materialize"] == "incremental"
    finally:
        store.forget_online_stores()
