"""The session hours reach the features and the risk window from the one template (both executions)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from features.batch import compute_batch
from features.spec import FEATURE_INDEX
from features.streaming import FeatureEngine
from live_engine.backtest.replay import build_core
from market.bars import build_bars
from market.calendar import session_bounds, session_bounds_ns
from market.simulator import simulate_session
from quantumtrader.config import Settings

ASH = date(2026, 2, 18)  # Ash Wednesday: WDO 13:00-18:30


def test_the_risk_window_uses_each_days_hours(settings: Settings) -> None:
    core = build_core(settings, scripted={})
    assert core.session_bounds(ASH) == session_bounds_ns(ASH, "WDO")
    assert core.session_bounds(date(2018, 6, 4)) == session_bounds_ns(date(2018, 6, 4), "WDO")
    o, c = core.session_bounds(ASH)
    assert (c - o) // 60_000_000_000 == 330


def test_temporal_features_follow_ash_wednesdays_late_open_in_batch_and_streaming() -> None:
    sim = simulate_session(ASH, symbol="WDO", seed=5, trades_per_session=3000, planted_strength=0.0)
    open_ts, close_ts = session_bounds(ASH, "WDO")
    assert sim.trades["ts"].min() > open_ts and sim.trades["ts"].max() <= close_ts  # the simulator follows too
    bars = build_bars(sim.trades, sim.book, spec="time:60s", symbol="WDO", large_trade_qty=10)
    assert len(bars) == 330
    feats = compute_batch(bars)
    progress = feats["session_progress"].to_numpy()
    assert np.isclose(progress[0], 1 / 330) and progress[-1] == 1.0
    closing = feats["is_closing_30"].to_numpy()
    assert closing[:300].sum() == 0 and closing[300:].all()

    closes: list[tuple[int, np.ndarray]] = []
    engine = FeatureEngine("WDO", on_bar=lambda bc: closes.append((bc.close_ts_ns, bc.features.copy())))
    t = sim.trades
    ts = pd.DatetimeIndex(t["ts"]).asi8
    for i in range(len(t)):
        engine.on_trade(int(ts[i]), float(t["price"].iat[i]), int(t["qty"].iat[i]), int(t["trade_type"].iat[i]),
                        int(t["buyer"].iat[i]), int(t["seller"].iat[i]))
    engine.advance_to(int(close_ts.value))
    assert [c for c, _ in closes] == list(pd.DatetimeIndex(bars.index).asi8)
    for name in ("session_progress", "is_opening_30", "is_closing_30", "tod_sin"):
        k = FEATURE_INDEX[name]
        np.testing.assert_allclose([f[k] for _, f in closes], feats[name].to_numpy(), atol=1e-12, err_msg=name)
