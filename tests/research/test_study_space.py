"""The study's search space: specs parsed, grids and random draws expanded, candidates validated like the
config, the baseline always a trial; agent and coordinator settings get their own decision replay."""

from __future__ import annotations

from datetime import date

import pytest
from tiny_model import contract, train_booster

from live_engine.backtest.replay import SessionData
from live_engine.config import LiveConfig
from live_engine.decision.agents import agent_configs
from market.simulator import simulate
from quantumtrader.errors import InputError
from research.study.config import StudyConfig
from research.study.run import run_study
from research.study.space import candidates, parse_dimension
from serving.predictor import Predictor

BASE, AGENTS = LiveConfig(), agent_configs()


def test_specs_give_grids_lists_and_distributions() -> None:
    assert parse_dimension("consensus.min_confidence", "0.50:0.75:0.05").values == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)
    assert parse_dimension("risk.max_holding_bars", "3:9:3").values == (3, 6, 9)
    assert parse_dimension("risk.use_brackets", "true,false").values == (True, False)
    d = parse_dimension("coordinator.learning_rate", "loguniform(0.01, 0.5)")
    assert d.dist == "loguniform" and (d.low, d.high) == (0.01, 0.5)
    for bad, msg in (("0.7:0.5:0.05", "a <= b"), ("uniform(2,1)", "low < high"), ("x,y", "not a number")):
        with pytest.raises(InputError, match=msg):
            parse_dimension("consensus.min_confidence", bad)


def test_candidates_are_validated_and_the_baseline_is_a_trial() -> None:
    grid = candidates(BASE, AGENTS, {"consensus.min_confidence": "0.50,0.55"}, method="grid", n_random=0, seed=0,
                      max_candidates=100)
    assert [c.name for c in grid] == ["consensus.min_confidence=0.5", "consensus.min_confidence=0.55",
                                      "consensus.min_confidence=0.6"] and grid[-1].baseline  # 0.60 added
    on_grid = candidates(BASE, AGENTS, {"consensus.min_confidence": "0.55:0.65:0.05"}, method="grid", n_random=0,
                         seed=0, max_candidates=100)
    assert len(on_grid) == 3 and [c.baseline for c in on_grid] == [False, True, False]
    drawn = candidates(BASE, AGENTS, {"coordinator.learning_rate": "uniform(0.01,0.2)",
                                      "agents.order_flow.dead_zone": "uniform(0.02,0.1)"},
                       method="random", n_random=5, seed=3, max_candidates=100)
    again = candidates(BASE, AGENTS, {"coordinator.learning_rate": "uniform(0.01,0.2)",
                                      "agents.order_flow.dead_zone": "uniform(0.02,0.1)"},
                       method="random", n_random=5, seed=3, max_candidates=100)
    assert [c.name for c in drawn] == [c.name for c in again] and len(drawn) == 6  # seeded; + the baseline
    dz = dict(drawn[0].overrides)["agents.order_flow.dead_zone"]
    assert drawn[0].agent_configs["order_flow"]["params"]["dead_zone"] == dz
    assert dz != AGENTS["order_flow"]["params"]["dead_zone"]
    assert len({c.decider_key for c in drawn}) == 6  # each its own votes: one decision replay each
    with pytest.raises(InputError, match=r"live\.consensus\.min_confidence"):  # validated like the config (<= 1)
        candidates(BASE, AGENTS, {"consensus.min_confidence": "0.5,1.5"}, method="grid", n_random=0, seed=0,
                   max_candidates=100)
    with pytest.raises(InputError, match="no such agent parameter"):
        candidates(BASE, AGENTS, {"agents.order_flow.nope": "1,2"}, method="grid", n_random=0, seed=0,
                   max_candidates=100)
    with pytest.raises(InputError, match=r"more than research\.study\.max_candidates"):
        candidates(BASE, AGENTS, {"risk.max_daily_trades": "1:100:1", "risk.max_holding_bars": "1:30:1"},
                   method="grid", n_random=0, seed=0, max_candidates=2000)


def test_an_agent_parameter_is_screened_by_its_own_replay_and_the_sweep_still_equals_it(settings) -> None:
    sims = [SessionData(s.day, s.trades, s.book)
            for s in simulate(6, date(2026, 3, 2), seed=9, trades_per_session=1500, planted_strength=0.5)]
    cfg = StudyConfig(params={"agents.order_flow.dead_zone": "0.02,0.2"}, folds=2, top_k=3, pbo_blocks=2,
                      log_to_mlflow=False)
    res = run_study(settings, cfg, data=sims[2:], warmup=sims[:2], model=Predictor.from_booster(train_booster(),
                                                                                                  contract()))
    assert res.screen.groups == 3  # 0.02, 0.2 and the YAML's own 0.05: three sets of votes
    assert len(res.confirmation.replayed) == 3
    assert all(r.sweep_max_daily_diff < 1e-6 for r in res.confirmation.replayed.values())
    pnl = res.screen.table.set_index("name")["pnl"]  # the trade count is the daily cap's; the votes differ
    assert pnl["agents.order_flow.dead_zone=0.02"] != pnl["agents.order_flow.dead_zone=0.2"]
