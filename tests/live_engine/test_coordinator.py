"""Hedge weights: bounded, restorable, and moving toward the agent that is right."""

from __future__ import annotations

import numpy as np
import pytest

from live_engine.config import CoordinatorConfig
from live_engine.coordinator import HedgeCoordinator, project_weights

NAMES = ["order_flow", "liquidity", "tape_reading", "footprint"]


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
