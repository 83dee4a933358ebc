"""Agents follow their documented rules and refuse inputs that are not in the feature set."""

from __future__ import annotations

import math

import numpy as np
import pytest

from features.spec import FEATURE_INDEX, FEATURE_NAMES
from live_engine.decision.agents import (
    FootprintAgent,
    LiquidityAgent,
    OrderFlowAgent,
    TapeReadingAgent,
    agent_from_config,
    load_agents,
)
from quantumtrader.errors import ConfigError


def row(**values: float) -> np.ndarray:
    x = np.zeros(len(FEATURE_NAMES))
    for k, v in values.items():
        x[FEATURE_INDEX[k]] = v
    return x


@pytest.fixture(scope="module")
def agents() -> dict[str, object]:
    return {a.name: a for a in load_agents()}


def test_default_agents_load_against_the_feature_spec(agents):
    assert set(agents) == {"order_flow", "liquidity", "tape_reading", "footprint"}
    for a in agents.values():
        assert all(f in FEATURE_NAMES for f in a.inputs.values())


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # raw = 0.5*0.2 + 0.5*0.1 = 0.15 -> signal 0.15/0.3 = 0.5; large leans up -> conf 0.5 + 0.25
        ({"ofi_5": 0.2, "ofi_20": 0.1, "large_trade_imbalance_20": 0.4}, (0.5, 0.75)),
        # same but large leans down -> no bonus
        ({"ofi_5": 0.2, "ofi_20": 0.1, "large_trade_imbalance_20": -0.4}, (0.5, 0.5)),
        # raw = -0.6 -> clipped to -1, conf 1 (bonus capped)
        ({"ofi_5": -0.6, "ofi_20": -0.6, "large_trade_imbalance_20": -1.0}, (-1.0, 1.0)),
        # inside the dead zone -> no view
        ({"ofi_5": 0.04, "ofi_20": 0.04}, (0.0, 0.0)),
    ],
)
def test_order_flow_rule_by_hand(agents, values, expected):
    s, c = agents["order_flow"].vote(row(**values))
    assert s == pytest.approx(expected[0]) and c == pytest.approx(expected[1])


def test_liquidity_rule_by_hand(agents):
    a = agents["liquidity"]
    # raw = 0.6*0.25 + 0.4*0.25 = 0.25 -> 0.25/0.5 = 0.5; microprice leans up -> +0.2
    s, c = a.vote(row(book_imb_l1=0.25, book_imb_l5=0.25, microprice_dev=0.1, spread_ticks=1.0))
    assert (s, c) == pytest.approx((0.5, 0.7))
    # spread too wide -> no view
    assert a.vote(row(book_imb_l1=0.9, book_imb_l5=0.9, spread_ticks=3.0)) == (0.0, 0.0)


def test_tape_reading_rule_by_hand(agents):
    a = agents["tape_reading"]
    # raw = 2*(0.6-0.5) = 0.2 -> 0.2/0.3; quiet tape (intensity 0.5) halves the confidence
    s, c = a.vote(row(aggr_buy_ratio_20=0.6, trade_intensity_ratio_50=0.5))
    assert s == pytest.approx(2 / 3) and c == pytest.approx(1 / 3)


def test_footprint_continuation_and_absorption_by_hand(agents):
    a = agents["footprint"]
    # buying near the highs: continuation, signal 0.15/0.3 = 0.5
    assert a.vote(row(ofi_10=0.15, range_pos_20=0.9)) == pytest.approx((0.5, 0.5))
    # buying near the lows: absorption, fade at half strength
    assert a.vote(row(ofi_10=0.15, range_pos_20=0.1)) == pytest.approx((-0.25, 0.25))


@pytest.mark.parametrize("cls", [OrderFlowAgent, LiquidityAgent, TapeReadingAgent, FootprintAgent])
def test_votes_stay_in_range_on_random_rows(agents, cls):
    agent = next(a for a in agents.values() if isinstance(a, cls))
    rng = np.random.default_rng(3)
    for _ in range(200):
        s, c = agent.vote(rng.normal(scale=2.0, size=len(FEATURE_NAMES)))
        assert -1 <= s <= 1 and 0 <= c <= 1 and not math.isnan(s)


def test_agent_reading_a_feature_that_does_not_exist_is_a_config_error():
    doc = {"name": "bad", "rule": "tape_reading",
           "inputs": {"aggr_ratio": "aggr_buy_ratio_20", "intensity_ratio": "trade_intensity_ratio_999"},
           "params": {"dead_zone": 0.0, "full_scale": 1.0, "busy_ratio": 1.0}}
    with pytest.raises(ConfigError, match="trade_intensity_ratio_999"):
        agent_from_config(doc, FEATURE_NAMES)


def test_agent_config_missing_a_role_or_param_is_a_config_error():
    base = {"name": "bad", "rule": "footprint", "inputs": {"delta": "ofi_10"},
            "params": {"dead_zone": 0.0, "full_scale": 1.0, "absorption_factor": 0.5}}
    with pytest.raises(ConfigError, match="range_pos"):
        agent_from_config(base, FEATURE_NAMES)
    base["inputs"] = {"delta": "ofi_10", "range_pos": "range_pos_20"}
    base["params"] = {"dead_zone": 0.0}
    with pytest.raises(ConfigError, match="full_scale"):
        agent_from_config(base, FEATURE_NAMES)
