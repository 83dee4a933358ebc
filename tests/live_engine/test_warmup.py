"""Warm starts and honest fills on replayed sessions: the headline does not depend on an arbitrary start,
the model is never asked about an incomplete row, and no decision fills at its own bar's close."""

from __future__ import annotations

from datetime import date

import numpy as np
import orjson
import pytest
from tiny_model import contract, train_booster

from features.contract import complete_rows, required_positions
from features.spec import FEATURE_NAMES, MAX_WARMUP
from live_engine.backtest.replay import SessionData, build_core, order_list_hash, replay
from live_engine.decision.warmup import (
    bars_in_session,
    derived_warmup_sessions,
    plan_warmup,
    warm_up,
)
from live_engine.execution.config import CostConfig
from market.instruments import get_instrument
from market.simulator import simulate
from serving.predictor import Predictor

WDO = get_instrument("WDO")
MIN = 60 * 10**9


@pytest.fixture(scope="module")
def days() -> list[SessionData]:
    """Five consecutive simulated sessions with book: three to warm up on, two to evaluate."""
    return [SessionData(s.day, s.trades, s.book)
            for s in simulate(5, date(2026, 1, 5), seed=21, trades_per_session=3000, planted_strength=0.8)]


@pytest.fixture(scope="module")
def model() -> Predictor:
    return Predictor.from_booster(train_booster(), contract())


def k_default(days: list[SessionData], settings) -> int:
    plan = plan_warmup([d.day for d in days[:3]], lambda d: bars_in_session(WDO, d, 60), days[3].day,
                       configured=None, coordinator_sessions=settings.live.backtest.warmup_coordinator_sessions)
    return plan.wanted


def run(settings, model, evaluated, warm):
    core = build_core(settings, model=model)
    stats = replay(core, evaluated, settings, warmup=warm)
    return core, stats


def canonical(decisions: list[dict]) -> bytes:
    return orjson.dumps(decisions)  # NaN -> null: comparable


def test_the_default_warm_up_is_derived_from_the_feature_spec(settings):
    assert MAX_WARMUP == 200  # vol_ratio_100_200
    assert bars_in_session(WDO, date(2026, 1, 5), 60) == 570  # 09:00-18:30
    # one session fills the 200-bar windows, one more trains the coordinator
    assert derived_warmup_sessions([570, 570, 570], 570, 1) == 2
    assert derived_warmup_sessions([150, 100, 570], 570, 1) == 3  # short sessions: more of them
    assert derived_warmup_sessions([], 570, 1) == 2
    plan = plan_warmup([date(2026, 1, 2)], lambda d: 570, date(2026, 1, 5), configured=None, coordinator_sessions=1)
    assert plan.wanted == 2 and plan.used == 1 and plan.short
    line = plan.shortfall("WDO", date(2026, 1, 5))
    assert "only 1 of the 2 WDO sessions" in line and "\n" not in line
    assert plan_warmup([date(2026, 1, 2)], lambda d: 570, date(2026, 1, 5), configured=0,
                       coordinator_sessions=1).days == ()


def test_decisions_and_orders_do_not_depend_on_one_more_earlier_session(settings, model, days):
    k = k_default(days, settings)
    assert k == 2
    evaluated = days[3:]
    core_k, stats_k = run(settings, model, evaluated, days[3 - k:3])
    core_k1, stats_k1 = run(settings, model, evaluated, days[3 - k - 1:3])
    assert stats_k.warmup_sessions == k and stats_k1.warmup_sessions == k + 1
    assert stats_k.bars == stats_k1.bars == len(core_k.decisions) == 2 * 570  # warm-up bars are not decisions
    assert len(core_k.broker.orders) > 0  # the evaluation trades: the equality covers real orders
    assert order_list_hash(core_k) == order_list_hash(core_k1)
    assert canonical(core_k.decisions) == canonical(core_k1.decisions)
    assert core_k.equity == core_k1.equity
    assert not any(d["reason"] == "incomplete" for d in core_k.decisions)
    # a cold start is what the warm-up removes: incomplete first bars and other orders
    cold, _ = run(settings, model, evaluated, [])
    assert sum(d["reason"] == "incomplete" for d in cold.decisions) >= MAX_WARMUP
    assert order_list_hash(cold) != order_list_hash(core_k)


def test_no_entry_is_taken_on_an_incomplete_row(settings, model, days):
    asked: list[np.ndarray] = []

    class Spy:
        input_groups = model.input_groups

        def predict_proba(self, row: np.ndarray) -> np.ndarray:
            asked.append(np.array(row))
            return model.predict_proba(row)

    core = build_core(settings, model=Spy())
    replay(core, days[:2], settings)  # a cold start: the first 200 bars are incomplete
    required = required_positions(FEATURE_NAMES, model.input_groups)
    rows = np.vstack(core.features)
    complete = complete_rows(rows, required)
    assert (~complete).sum() >= MAX_WARMUP
    assert asked and all(bool(complete_rows(r, required)) for r in asked)  # the model never saw one
    for d, ok in zip(core.decisions, complete, strict=True):
        if not ok:
            assert d["reason"] == "incomplete" and d["direction"] == 0 and not d["action"].startswith("enter")
    assert any(d["action"].startswith("enter") for d in core.decisions)


def test_warm_up_trades_nothing_and_records_nothing(settings, model, days):
    core = build_core(settings, model=model)
    plays: list[date] = []

    def play(s: SessionData) -> None:
        plays.append(s.day)
        assert core.warming

    warm_up(core, days[:3], play, coordinator_sessions=1)
    assert plays == [d.day for d in days[:3]] and not core.warming
    core2, stats = run(settings, model, [], days[:3])
    assert stats.warmup_bars == 3 * 570 and core2.warm_bars == 3 * 570
    assert core2.decisions == [] and core2.equity == [] and core2.broker.orders == []
    assert core2.decider.coordinator.updates > 0  # the coordinator learned on the last warm-up session
    assert core2.risk.state_dict() == build_core(settings, model=model).risk.state_dict()


def every_other_minute(ts: int) -> int:
    m = ts // MIN
    return 1 if m % 4 == 0 else (-1 if m % 4 == 2 else 0)


@pytest.mark.parametrize("latency_ms", [0, 100, 1500])
@pytest.mark.parametrize("book", [True, False], ids=["book", "trades-only"])
def test_a_decision_at_a_bar_close_never_fills_at_that_close_price_at_that_time(settings, days, latency_ms, book):
    sessions = days[3:] if book else [SessionData(d.day, d.trades, None) for d in days[3:]]
    s = settings.model_copy(update={"costs": CostConfig(latency_ms=latency_ms)})
    core = build_core(s, scripted=every_other_minute)
    replay(core, sessions, s)
    close_at = {d["ts_ns"]: d["close"] for d in core.decisions}
    market = {o.client_id: o for o in core.broker.orders if o.kind == "market"}
    fills = [f for f in core.broker.fills if f.client_id in market]
    assert len(fills) >= 30  # 10 entries a session (the risk cap) and their exits
    for f in fills:
        decided = market[f.client_id].ts_ns
        assert decided in close_at  # decided at a bar close
        assert f.ts_ns > decided + latency_ms * 10**6  # strictly after the decision plus the latency
        assert not (f.ts_ns == decided and f.price == close_at[decided])
    tick = WDO.tick_size
    cost = [f.side * (f.price - close_at[market[f.client_id].ts_ns]) / tick for f in fills]
    assert all(c == round(c) for c in cost)  # fills stay on the tick grid
