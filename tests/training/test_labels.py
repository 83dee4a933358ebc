"""Labels: classes, flat band against costs, no label across a session's end, triple barrier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from live_engine.execution.config import CostConfig
from live_engine.execution.costs import round_trip_cost_ticks
from market.instruments import get_instrument
from quantumtrader.errors import InputError
from training.labels import (
    default_flat_band_ticks,
    fixed_horizon_labels,
    make_labels,
    triple_barrier_labels,
)


def _bars(closes: list[float], sessions: list[str], highs=None, lows=None) -> pd.DataFrame:
    idx = pd.date_range("2026-01-05 12:00", periods=len(closes), freq="60s", tz="UTC", name="close_ts")
    c = np.asarray(closes, dtype=float)
    return pd.DataFrame(
        {
            "session": sessions,
            "close": c,
            "high": c if highs is None else np.asarray(highs, dtype=float),
            "low": c if lows is None else np.asarray(lows, dtype=float),
        },
        index=idx,
    )


def test_round_trip_cost_of_wdo_counts_two_fees_and_two_expected_fills() -> None:
    wdo = get_instrument("WDO")  # fee 1.20 R$ per side, tick value 5 R$
    # the broker's default costs: half the one-tick spread per side, no extra slippage
    assert round_trip_cost_ticks(wdo, CostConfig()) == pytest.approx(2 * 1.2 / 5 + 1.0)
    assert round_trip_cost_ticks(wdo, CostConfig(slippage_ticks=1)) == pytest.approx(2 * 1.2 / 5 + 3.0)
    assert default_flat_band_ticks(1.48) == 2.0
    assert default_flat_band_ticks(2.0) == 2.0


def test_fixed_horizon_classes_use_the_band_in_ticks() -> None:
    closes = [100.0, 100.5, 101.0, 99.0, 100.0, 100.0]
    lab = fixed_horizon_labels(_bars(closes, ["d1"] * 6), horizon=2, flat_band_ticks=2, tick_size=0.5)
    # moves over 2 bars in ticks: +2 (up), -3 (down), -2 (down), +2 (up); last 2 bars have no horizon
    assert lab["label"].tolist() == [1, -1, -1, 1]
    assert lab["fwd_ticks"].tolist() == [2.0, -3.0, -2.0, 2.0]
    assert lab["end_pos"].tolist() == [2, 3, 4, 5]
    assert np.allclose(lab["fwd_ret"], np.log(np.array([101.0, 99.0, 100.0, 100.0]) / closes[:4]))


def test_a_move_inside_the_band_is_flat() -> None:
    lab = fixed_horizon_labels(_bars([100.0, 100.5, 100.5], ["d1"] * 3), horizon=1, flat_band_ticks=2, tick_size=0.5)
    assert lab["label"].tolist() == [0, 0]


def test_no_label_crosses_a_session_end() -> None:
    closes = [100.0, 101.0, 102.0, 90.0, 91.0, 92.0]
    sessions = ["d1", "d1", "d1", "d2", "d2", "d2"]
    lab = fixed_horizon_labels(_bars(closes, sessions), horizon=2, flat_band_ticks=1, tick_size=0.5)
    # only the first bar of each session has 2 more bars inside its session
    assert lab["pos"].tolist() == [0, 3]
    assert lab["label"].tolist() == [1, 1]


def test_flat_band_below_the_cost_is_refused() -> None:
    with pytest.raises(InputError, match="below the round-trip cost"):
        make_labels(
            _bars([100.0] * 10, ["d1"] * 10), method="fixed_horizon", horizon=2, instrument=get_instrument("WDO"),
            flat_band_ticks=1.0, costs=CostConfig(), stop_ticks=4, target_ticks=4,
        )


def test_triple_barrier_takes_the_first_barrier_touched() -> None:
    closes = [100.0, 100.5, 100.0, 100.0, 100.0, 100.0, 100.0]
    highs = [100.0, 101.0, 100.0, 100.0, 100.0, 100.0, 100.0]  # bar 1 touches +2 ticks
    lows = [100.0, 100.0, 100.0, 99.0, 100.0, 100.0, 100.0]  # bar 3 touches -2 ticks
    lab = triple_barrier_labels(
        _bars(closes, ["d1"] * 7, highs, lows), time_limit=3, stop_ticks=2, target_ticks=2, tick_size=0.5,
        touch_fills=True,
    )
    # bar 0: target at bar 1 -> up; bar 1 (entry 100.5): stop 99.5 hit at bar 3 -> down;
    # bar 2: stop at bar 3 -> down; bar 3: nothing within 3 bars -> flat (exit at close)
    assert lab["label"].tolist() == [1, -1, -1, 0]
    assert lab["fwd_ticks"].tolist() == [2.0, -2.0, -2.0, 0.0]


def test_a_triple_barrier_target_counts_only_when_the_tape_trades_through_it() -> None:
    closes = [100.0, 100.0, 100.0, 100.0]
    highs = [100.0, 101.0, 100.0, 101.5]  # bar 1 touches the +2 tick target, bar 3 trades through it
    bars = _bars(closes, ["d1"] * 4, highs)
    through = triple_barrier_labels(bars, time_limit=3, stop_ticks=2, target_ticks=2, tick_size=0.5, touch_fills=False)
    touch = triple_barrier_labels(bars, time_limit=3, stop_ticks=2, target_ticks=2, tick_size=0.5, touch_fills=True)
    assert through["label"].tolist() == [1] and touch["label"].tolist() == [1]
    assert triple_barrier_labels(bars.iloc[:3], time_limit=2, stop_ticks=2, target_ticks=2, tick_size=0.5,
                                 touch_fills=False)["label"].tolist() == [0]  # a touch alone: no fill, flat
    with_costs = make_labels(bars.iloc[:3], method="triple_barrier", horizon=2, instrument=get_instrument("WDO"),
                             flat_band_ticks=None, costs=CostConfig(touch_fills=True), stop_ticks=2, target_ticks=2)
    assert with_costs["label"].tolist() == [1]


def test_triple_barrier_never_reads_the_next_session() -> None:
    closes = [100.0, 100.0, 100.0, 200.0, 200.0, 200.0]
    lab = triple_barrier_labels(
        _bars(closes, ["d1"] * 3 + ["d2"] * 3), time_limit=2, stop_ticks=2, target_ticks=2, tick_size=0.5,
        touch_fills=False,
    )
    assert lab["pos"].tolist() == [0, 3]
    assert lab["label"].tolist() == [0, 0]
