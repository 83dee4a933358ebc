"""Hedge weights: bounded, restorable, and moving toward the agent that is right (per regime if asked)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from features.spec import FEATURE_INDEX, FEATURE_NAMES
from live_engine.config import CoordinatorConfig
from live_engine.decision.coordinator import HedgeCoordinator, project_weights

NAMES = ["order_flow", "liquidity", "tape_reading", "footprint"]
GOLDEN_WEIGHTS = [0.11925761486478376, 0.11695298824785534, 0.2567938684396886, 0.5069955284476723]
GOLDEN_COMBINE = (-0.2634943600420885, 0.3781583066984628)


def test_projected_weights_sum_to_one_inside_floor_and_cap():
    w = project_weights([100.0, 1e-9, 1e-9, 1e-9], floor=0.05, cap=0.7)
    assert sum(w) == pytest.approx(1.0)
    assert max(w) == pytest.approx(0.7) and min(w) >= 0.05 - 1e-12


def test_weights_move_toward_the_agent_that_is_right_in_a_planted_regime():
    rng = np.random.default_rng(0)
    coord = HedgeCoordinator(NAMES, CoordinatorConfig(learning_rate=0.1, floor=0.05, cap=0.7))
    prev = None
    for _ in range(300):
        r = rng.normal(scale=0.0005)
        if prev is not None:
            coord.update(prev, r)
        # the next return's sign is known only to "liquidity" (planted), others are noise
        nxt = rng.normal(scale=0.0005)
        prev = [rng.uniform(-1, 1), float(np.sign(nxt)), rng.uniform(-1, 1), -float(np.sign(nxt)) * 0.5]
        coord.update(prev, nxt)
        prev = None
    w = coord.weight_map()
    assert w["liquidity"] == max(w.values()) and w["liquidity"] > 0.5
    assert w["footprint"] == pytest.approx(0.05)  # the contrarian is held at the floor, not killed


def test_weights_round_trip_through_state():
    coord = HedgeCoordinator(NAMES)
    coord.update([1, -1, 0.5, 0], 0.001)
    other = HedgeCoordinator(NAMES)
    other.restore(coord.state())
    assert other.weights == coord.weights and other.updates == 1


def test_state_of_other_agents_is_rejected():
    coord = HedgeCoordinator(NAMES)
    with pytest.raises(ValueError, match="agents"):
        HedgeCoordinator(["a", "b"]).restore(coord.state())


def test_combined_vote_is_the_weighted_sum():
    coord = HedgeCoordinator(NAMES)
    s, c = coord.combine([1, 1, -1, 0], [1, 0.5, 0.5, 0])
    assert s == pytest.approx(0.25) and c == pytest.approx(0.5)


def test_regimes_off_gives_the_single_vector_results_bit_for_bit():
    # golden values from the coordinator before regimes existed (same updates, same floats)
    coord = HedgeCoordinator(NAMES, CoordinatorConfig(learning_rate=0.5))
    for t in range(60):
        coord.update([math.sin(0.7 * t + i) for i in range(4)], 0.0009 * math.cos(1.3 * t))
    assert coord.n_regimes == 1 and coord.select_regime(np.full(len(FEATURE_NAMES), 1.0)) == 0
    assert coord.weights == GOLDEN_WEIGHTS
    assert coord.combine([0.3, -0.2, 0.9, -1.0], [0.5, 0.1, 0.8, 0.2]) == GOLDEN_COMBINE
    assert sorted(coord.state()) == ["cum_gain", "names", "updates", "weights"]  # the old state format


ATR = FEATURE_INDEX["atr_14_rel"]
REGIMES = CoordinatorConfig(learning_rate=0.1, regime_feature="atr_14_rel", regime_thresholds=(0.0004,))


def row(atr: float) -> np.ndarray:
    x = np.zeros(len(FEATURE_NAMES))
    x[ATR] = atr
    return x


def test_each_regime_learns_its_own_winner():
    # planted: "order_flow" knows the next return's sign only in high volatility, "liquidity" only in low
    rng = np.random.default_rng(1)
    coord = HedgeCoordinator(NAMES, REGIMES)
    for _ in range(600):
        high = rng.random() < 0.5
        regime = coord.select_regime(row(0.0007 if high else 0.0002))
        assert regime == int(high)
        nxt = rng.normal(scale=0.0008 if high else 0.0003)
        right = float(np.sign(nxt))
        votes = [right if high else rng.uniform(-1, 1), rng.uniform(-1, 1) if high else right,
                 rng.uniform(-1, 1), rng.uniform(-1, 1)]
        coord.combine(votes, [0.5] * 4)
        coord.select_regime(row(0.0002 if high else 0.0007))  # the next bar may be in the other regime ...
        coord.update(votes, nxt, regime)  # ... the votes are scored in the regime they were cast in
    low_w, high_w = (dict(zip(NAMES, w, strict=True)) for w in coord.regime_weights)
    assert high_w["order_flow"] == max(high_w.values()) and high_w["order_flow"] > 0.5
    assert low_w["liquidity"] == max(low_w.values()) and low_w["liquidity"] > 0.5
    assert low_w["order_flow"] < 0.3 and high_w["liquidity"] < 0.3
    for w in coord.regime_weights:
        assert sum(w) == pytest.approx(1.0) and min(w) >= 0.05 - 1e-12 and max(w) <= 0.7 + 1e-12


def test_regime_is_the_threshold_bucket_and_nan_keeps_the_previous_one():
    coord = HedgeCoordinator(NAMES, REGIMES.model_copy(update={"regime_thresholds": (0.0003, 0.0006)}))
    assert coord.n_regimes == 3 and coord.regime == 0  # regime 0 before any finite value
    assert coord.select_regime(row(math.nan)) == 0
    assert [coord.select_regime(row(v)) for v in (0.0001, 0.0003, 0.0005, 0.0006, 0.002)] == [0, 1, 1, 2, 2]
    assert coord.select_regime(row(math.nan)) == 2  # warm-up NaN: keep the previous regime


def test_combine_uses_the_current_regimes_weights():
    coord = HedgeCoordinator(NAMES, REGIMES)
    coord.select_regime(row(0.001))
    for _ in range(50):
        coord.update([1.0, 0.0, 0.0, 0.0], 0.001)  # only the high regime learns
    assert coord.combine([1, 0, 0, 0], [1, 0, 0, 0]) == (pytest.approx(0.7), pytest.approx(0.7))
    coord.select_regime(row(0.0001))
    assert coord.combine([1, 0, 0, 0], [1, 0, 0, 0]) == (pytest.approx(0.25), pytest.approx(0.25))


def test_all_regimes_round_trip_through_state():
    coord = HedgeCoordinator(NAMES, REGIMES)
    coord.update([1, -1, 0.5, 0], 0.001, 0)
    coord.update([-1, 1, 0.5, 0.3], 0.0007, 1)
    coord.select_regime(row(0.0009))
    st = coord.state()
    assert st["regime"] == 1 and len(st["regime_weights"]) == 2 and st["weights"] == coord.regime_weights[1]
    other = HedgeCoordinator(NAMES, REGIMES)
    other.restore(st)
    assert other.regime_weights == coord.regime_weights and other.regime == 1 and other.updates == 2
    assert other.state() == st


def test_state_with_another_number_of_regimes_is_rejected():
    two = HedgeCoordinator(NAMES, REGIMES)
    three = HedgeCoordinator(NAMES, REGIMES.model_copy(update={"regime_thresholds": (0.0003, 0.0006)}))
    single = HedgeCoordinator(NAMES)
    for target, source in ((three, two), (single, two), (two, single)):
        with pytest.raises(ValueError, match="regime"):
            target.restore(source.state())
    bad = {**two.state(), "regime_weights": [[0.25] * 4, [0.5] * 2]}
    with pytest.raises(ValueError, match="malformed"):
        two.restore(bad)
