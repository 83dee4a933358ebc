"""The parameter sweep gives the replay's trades, fills, positions and equity for every candidate at
once, on the default configuration (brackets, stale-data rule, cooldown, ...) and on others chosen to
fire every rule: stops, targets, halts, reduce-only days, cooldowns, forced flats, stale data."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

import numpy as np
import pytest
from tiny_model import contract, train_booster

from features.streaming_session import SessionLocator
from live_engine.backtest.replay import ReplayStats, SessionData, build_core, replay
from live_engine.backtest.runner import summarize
from live_engine.backtest.sweep import sweep
from live_engine.backtest.sweep_tape import decision_inputs, last_event_ns, sweep_tape
from live_engine.decision.consensus import directions
from live_engine.execution.config import CostConfig
from market.instruments import get_instrument
from market.simulator import simulate
from serving.predictor import Predictor

WDO = get_instrument("WDO")
KEYS = ("entry_ts_ns", "exit_ts_ns", "side", "entry_price", "exit_price", "exit_tag")


@pytest.fixture(scope="module")
def days() -> list[SessionData]:
    return [SessionData(s.day, s.trades, s.book)
            for s in simulate(6, date(2026, 1, 5), seed=21, trades_per_session=3000, planted_strength=0.8)]


def tape_of(core, settings, evaluated, warm):
    inp = decision_inputs(core.decisions)
    loc = SessionLocator(WDO)
    tape = sweep_tape(inp["ts_ns"], inp["session"], inp["close"], [(s.trades, s.book) for s in evaluated],
                      costs=settings.costs, instrument=WDO, bar_ns=60 * 10**9,
                      bounds=lambda d: (loc.bounds(d).open_ns, loc.bounds(d).close_ns),
                      prior_last_data_ns=last_event_ns([(s.trades, s.book) for s in warm]))
    return inp, tape


def assert_same(core, batch, k):
    replayed = [asdict(t) for t in core.broker.trades]
    swept = batch.trades_of(k)
    assert [tuple(t[c] for c in KEYS) for t in replayed] == [tuple(t[c] for c in KEYS) for t in swept]
    assert [t["pnl"] for t in replayed] == pytest.approx([t["pnl"] for t in swept], abs=1e-9)
    assert [e[3] for e in core.equity] == batch.positions[:, k].tolist()
    assert np.abs(np.array([e[4] for e in core.equity]) - batch.pnl[:, k]).max() < 1e-9


def test_the_sweep_equals_the_replay_for_every_candidate_at_once(settings, days):
    warm, evaluated = days[:2], days[2:]
    model = Predictor.from_booster(train_booster(), contract())
    live = settings.live

    def cand(risk=None, consensus=None):
        return live.model_copy(update={"risk": live.risk.model_copy(update=risk or {}),
                                       "consensus": live.consensus.model_copy(update=consensus or {})})

    candidates = [
        live,  # the default configuration: brackets on, stale-data rule on
        cand({"stop_loss_pct": 0.0004, "take_profit_pct": 0.0006, "max_holding_bars": 8}),  # stops and targets
        cand({"daily_loss_limit": 40.0, "cooldown_after_losses": 1, "cooldown_minutes": 7}),  # reduce-only, cooldown
        cand({"max_drawdown_pct": 0.004, "stop_loss_pct": 0.0003}),  # halted: cancel everything and flatten
        cand({"max_holding_bars": 0, "stale_after_bars": 1, "take_profit_pct": 0.0}, {"min_confidence": 0.5}),
        cand({"use_brackets": False, "max_daily_trades": 3}),
    ]
    cores = []
    for c in candidates:
        core = build_core(settings, model=model, config=c)
        replay(core, evaluated, settings, warmup=warm)
        cores.append(core)
    inp, tape = tape_of(cores[0], settings, evaluated, warm)
    dirs = directions(inp["probs"], inp["agents_signal"], inp["agents_confidence"], inp["decided"],
                      [c.consensus for c in candidates])
    batch = sweep(tape, dirs, [c.risk for c in candidates])
    for k, core in enumerate(cores):
        assert dirs[:, k].tolist() == [d["direction"] for d in core.decisions]  # the consensus, vectorised
        assert_same(core, batch, k)
    tags = {t.exit_tag for c in cores for t in c.broker.trades}
    assert {"stop", "target", "halt", "time_exit", "signal_exit"} <= tags
    assert {"REDUCING", "HALTED"} <= {d["state"] for c in cores for d in c.decisions}
    assert {"STALE_DATA", "COOLDOWN", "REDUCE_ONLY", "MAX_DAILY_TRADES"} <= {k for c in cores for k in c.risk.denials}
    assert len(cores[0].broker.trades) > 20
    # the screening numbers are compute_metrics' on every candidate
    screen = batch.screen(n_trials=1)
    for k, core in enumerate(cores):
        m = summarize(core, ReplayStats())
        for key in ("pnl", "n_trades", "win_rate", "sessions", "trades_per_day", "sharpe_per_day", "max_drawdown",
                    "max_drawdown_pct", "exposure", "deflated_sharpe"):
            assert screen.loc[k, key] == pytest.approx(m[key], rel=1e-9, abs=1e-9, nan_ok=True), (k, key)
        assert batch.metrics(k)["pnl_per_trade"] == pytest.approx(m["pnl_per_trade"], abs=1e-9, nan_ok=True)


@pytest.mark.parametrize("costs,book", [(CostConfig(latency_ms=65_000), True), (CostConfig(slippage_ticks=1), False)],
                         ids=["fills-after-the-next-bar", "trades-only-tape"])
def test_the_sweep_follows_the_cost_model_of_the_replay(settings, days, costs, book):
    """Scripted directions, so that the tape is the only input: a latency longer than a bar (orders wait
    for their fill, across a session's end too) and a trades-only history (fills from the prints)."""
    evaluated = [SessionData(s.day, s.trades, s.book if book else None) for s in days[2:4]]
    risk = settings.live.risk.model_copy(update={"no_entry_last_minutes": 1, "flat_before_close_minutes": 20,
                                                 "max_holding_bars": 0, "max_daily_trades": 1000})
    s = settings.model_copy(update={"costs": costs, "live": settings.live.model_copy(update={"risk": risk})})
    minute = 60 * 10**9

    def signal_at(ts: int) -> int:
        m = ts // minute
        return 1 if m % 13 == 0 else (-1 if m % 7 == 0 else 0)

    core = build_core(s, scripted=signal_at, config=s.live)
    replay(core, evaluated, s)
    _inputs, tape = tape_of(core, s, evaluated, [])
    batch = sweep(tape, np.array([d["direction"] for d in core.decisions]), [s.live.risk])
    assert_same(core, batch, 0)
    assert len(core.broker.trades) > 10 and "flatten" in {t.exit_tag for t in core.broker.trades}
    if costs.latency_ms > 60_000:
        assert any(d["action"] == "wait_fill" for d in core.decisions)
