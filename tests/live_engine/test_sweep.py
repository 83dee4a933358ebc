"""The vectorised sweep gives the replay's results on the same simple signals, under the same cost model."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from live_engine.backtest.replay import SessionData, build_core, replay
from live_engine.backtest.sweep import market_fills, sweep_backtest, sweep_grid, threshold_signal
from live_engine.config import LiveConfig
from live_engine.execution.config import CostConfig
from market.bars import build_bars
from market.instruments import get_instrument
from market.simulator import simulate

MIN = 60 * 10**9


@pytest.fixture(scope="module")
def sessions() -> list[SessionData]:
    sims = simulate(2, date(2026, 1, 5), seed=11, trades_per_session=3000, planted_strength=0.6)
    return [SessionData(s.day, s.trades, s.book) for s in sims]


def signal_at(ts: int) -> int:
    """A simple deterministic pattern: long every 13th minute, short every 7th."""
    m = ts // MIN
    return 1 if m % 13 == 0 else (-1 if m % 7 == 0 else 0)


@pytest.mark.parametrize("costs", [CostConfig(slippage_ticks=1), CostConfig(latency_ms=2500),
                                   CostConfig(latency_ms=65_000)],
                         ids=["default-latency-slippage", "long-latency", "fills-after-the-next-bar"])
def test_sweep_equals_replay_on_the_same_scripted_signals(settings, sessions, costs):
    live = settings.live.model_copy(update={
        "risk": settings.live.risk.model_copy(update={"use_brackets": False, "stale_after_bars": 10_000,
                                                      "max_holding_bars": 4}),
    })
    s = settings.model_copy(update={"live": live, "costs": costs})
    core = build_core(s, scripted=signal_at, config=live)
    replay(core, sessions, s)

    trades, book = pd.concat([x.trades for x in sessions]), pd.concat([x.book for x in sessions])
    bars = build_bars(trades, book, spec="time:60s", symbol="WDO", large_trade_qty=10)
    ts = np.asarray(bars.index.as_unit("ns").asi8)
    fills = market_fills(ts, trades, book, costs, get_instrument("WDO"))
    res = sweep_backtest(bars, np.array([signal_at(int(t)) for t in ts]), live, get_instrument("WDO"), fills)

    from dataclasses import asdict

    from live_engine.backtest.replay import ReplayStats
    from live_engine.backtest.runner import summarize

    replay_trades = [asdict(t) for t in core.broker.trades]
    assert len(replay_trades) == len(res.trades) > 10
    for a, b in zip(replay_trades, res.trades, strict=True):
        assert (a["entry_ts_ns"], a["exit_ts_ns"], a["side"]) == (b["entry_ts_ns"], b["exit_ts_ns"], b["side"])
        assert a["entry_price"] == b["entry_price"] and a["exit_price"] == b["exit_price"]
        assert a["pnl"] == pytest.approx(b["pnl"], abs=1e-9)
    m_replay = summarize(core, ReplayStats(bars=len(bars)))
    for key, value in res.metrics.items():
        assert m_replay[key] == pytest.approx(value, rel=1e-12, abs=1e-9, nan_ok=True), key
    assert [e[3] for e in core.equity] == res.positions.tolist()
    # the cost model at work in both: every fill strictly after its decision plus the latency
    decided = {o.client_id: o.ts_ns for o in core.broker.orders}
    assert all(f.ts_ns > decided[f.client_id] + costs.latency_ms * 10**6 for f in core.broker.fills)
    if costs.latency_ms > 60_000:  # orders still pending at the next close: the core waits, the sweep too
        assert any(d["action"] == "wait_fill" for d in core.decisions)


def test_market_fills_price_a_trades_only_tape_from_the_print_and_its_side():
    trades = pd.DataFrame({"ts": pd.to_datetime([10, 200_000_000, 300_000_000], unit="ns", utc=True),
                           "price": [5000.0, 5001.0, 5002.0], "trade_type": [2, 3, 2]})
    f = market_fills(np.array([0, 150_000_000]), trades, None, CostConfig(latency_ms=100), get_instrument("WDO"))
    # decided at 0: arrives at 100 ms; the first print after is 5001.0, an aggressive sell at the bid
    assert f.ts_ns.tolist() == [200_000_000, 300_000_000]
    assert f.buy.tolist() == [5001.5, 5002.0] and f.sell.tolist() == [5001.0, 5001.5]


def test_sweep_grid_runs_many_signal_series(sessions):
    bars = build_bars(sessions[0].trades, sessions[0].book, spec="time:60s", symbol="WDO", large_trade_qty=10)
    rng = np.random.default_rng(0)
    score = rng.normal(size=len(bars))
    fills = market_fills(np.asarray(bars.index.as_unit("ns").asi8), sessions[0].trades, sessions[0].book,
                         CostConfig(), get_instrument("WDO"))
    grid = sweep_grid(bars, {f"th={t}": threshold_signal(score, t) for t in (0.5, 1.0, 2.0)}, LiveConfig(),
                      get_instrument("WDO"), fills)
    assert list(grid.index) == ["th=0.5", "th=1.0", "th=2.0"]
    assert grid.loc["th=0.5", "n_trades"] >= grid.loc["th=2.0", "n_trades"]
    assert (grid["n_trades"] <= 10 * grid["sessions"]).all()
