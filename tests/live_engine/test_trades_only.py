"""A model trained without book: the liquidity agent abstains (no vote, weight held), the others decide."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_core import bullish_row, consensus_core, feed_bar
from tiny_model import contract, train_booster

from features.contract import GROUP_FEATURES
from features.spec import FEATURE_INDEX
from live_engine.decision.agents import load_agents
from live_engine.decision.coordinator import HedgeCoordinator
from serving.predictor import Predictor

NO_BOOK = {"book": False, "brokers": True, "side": True}


@pytest.fixture(scope="module")
def no_book_model() -> Predictor:
    return Predictor.from_booster(train_booster(), contract(input_groups=NO_BOOK))


def trades_only_row(sign: float = 1.0) -> np.ndarray:
    x = bullish_row() * sign
    x[[FEATURE_INDEX[f] for f in GROUP_FEATURES["book"]]] = math.nan
    return x


def test_agents_know_the_input_groups_they_read() -> None:
    req = {a.name: a.requires for a in load_agents()}
    assert req == {"order_flow": {"side"}, "liquidity": {"book"}, "tape_reading": {"side"}, "footprint": {"side"}}
    liquidity = next(a for a in load_agents() if a.name == "liquidity")
    assert not liquidity.has_view(NO_BOOK) and liquidity.has_view(None)


def test_without_book_the_liquidity_agent_abstains_and_the_others_still_trade(no_book_model) -> None:
    core = consensus_core(no_book_model)
    assert core.decider.abstaining == ("liquidity",)
    start = core.decider.coordinator.weight_map()["liquidity"]
    recs = []
    for k in range(12):
        x = trades_only_row()
        up = k % 2 == 0  # the next bar goes up after a bullish order flow, down after a bearish one
        for f in ("ofi_5", "ofi_10", "ofi_20"):
            x[FEATURE_INDEX[f]] = abs(x[FEATURE_INDEX[f]]) * (1 if up else -1)
        recs.append(feed_bar(core, 10 + k, 5000.0 + (0.0 if up else 1.0), x))
    assert all(r["reason"] != "incomplete" and not r["degraded"] for r in recs)
    assert all(math.isnan(r["votes"]["liquidity"][0]) for r in recs)
    assert all(not math.isnan(r["votes"]["order_flow"][0]) for r in recs)
    weights = [r["weights"] for r in recs]
    assert all(w["liquidity"] == start for w in weights)  # held, not updated
    assert len({round(w["order_flow"], 12) for w in weights}) > 1  # the voters' weights move
    assert any(r["action"].startswith("enter") for r in recs)


def test_a_model_without_book_ignores_book_values_on_a_feed_with_book(no_book_model) -> None:
    with_book = consensus_core(no_book_model)
    without = consensus_core(no_book_model)
    a = feed_bar(with_book, 30, 5000.0, bullish_row())
    b = feed_bar(without, 30, 5000.0, trades_only_row())
    for key in ("p_down", "p_flat", "p_up", "agents_signal", "combined", "confidence", "direction", "action"):
        assert a[key] == b[key], key
    assert math.isnan(a["votes"]["liquidity"][0])


def test_a_model_with_book_on_a_bar_without_book_does_not_trade() -> None:
    model = Predictor.from_booster(train_booster(), contract())
    core = consensus_core(model)
    rec = feed_bar(core, 30, 5000.0, trades_only_row())
    assert rec["reason"] == "incomplete" and rec["direction"] == 0 and core.broker.orders == []


def test_an_abstaining_agent_is_not_a_vote_and_keeps_its_weight() -> None:
    coord = HedgeCoordinator(["a", "b", "c"])
    before = list(coord.weights)
    s, c = coord.combine([0.6, math.nan, 0.0], [0.8, math.nan, 0.0])
    assert s == pytest.approx(0.3) and c == pytest.approx(0.4)  # a and c share the weight, b is out
    coord.update([1.0, math.nan, -1.0], 0.0005)
    assert coord.weights[1] == before[1]
    assert coord.weights[0] > before[0] > coord.weights[2]
    assert sum(coord.weights) == pytest.approx(1.0)
    assert coord.combine([math.nan] * 3, [math.nan] * 3) == (0.0, 0.0)


@pytest.mark.slow
def test_backtest_refuses_a_model_trained_with_book_on_a_lake_without_book_by_name(settings) -> None:
    from datetime import date

    from tiny_model import register

    from live_engine.backtest.runner import run_backtest
    from market.lake import Lake
    from market.simulator import simulate
    from serving.predictor import ModelRefused

    lake = Lake(settings.lake_root)
    for s in simulate(2, date(2026, 1, 5), seed=3, trades_per_session=1500, book=False):
        assert s.book.empty
        lake.write_day("trades", "WDO", s.day, s.trades)
    uri = register(settings, train_booster(), contract())
    with pytest.raises(ModelRefused, match=r"input_groups\.book: model was trained with book features \(7\); "
                                           r"this data has no book.*sessions without book: 2026-01-05, 2026-01-06"):
        run_backtest(settings, model_uri=uri, sessions=2, log_mlflow=False)
    no_book = register(settings, train_booster(), contract(input_groups=NO_BOOK), alias="trades_only")
    res = run_backtest(settings, model_uri=no_book, sessions=2, log_mlflow=False, run_name="t")
    assert res.core.decider.abstaining == ("liquidity",) and res.stats.bars > 0
