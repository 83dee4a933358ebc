"""Consensus bands and the confidence gate, as a table."""

from __future__ import annotations

import pytest

from live_engine.config import ConsensusConfig
from live_engine.decision.consensus import LOW_CONFIDENCE, NORMAL, STRONG, TRADE, WEAK, WEAK_BAND, band_of, decide

CFG = ConsensusConfig()


@pytest.mark.parametrize(
    ("combined", "band"),
    [(0.0, WEAK), (0.19, WEAK), (-0.19, WEAK), (0.20, NORMAL), (-0.35, NORMAL), (0.499, NORMAL),
     (0.50, STRONG), (-0.8, STRONG), (1.0, STRONG)],
)
def test_band_table(combined, band):
    assert band_of(combined, CFG) == band


@pytest.mark.parametrize(
    # p_down, p_flat, p_up, agents signal, agents confidence -> direction, band, reason
    ("probs", "agents", "expected"),
    [
        # m = 0.6, mc = 0.8/1.0 = 0.8; S = 0.24 + 0.6*0.8 = 0.72 strong; C = 0.32 + 0.6*0.8 = 0.8 -> buy
        ((0.1, 0.1, 0.7), (0.8, 0.8), (1, STRONG, TRADE)),
        # mirrored -> sell
        ((0.7, 0.1, 0.1), (-0.8, 0.8), (-1, STRONG, TRADE)),
        # S = 0.4*0.2 + 0.6*0.3 = 0.26 normal; C = 0.4*(0.5/0.8) + 0.6*0.7 = 0.67 -> buy
        ((0.3, 0.2, 0.5), (0.3, 0.7), (1, NORMAL, TRADE)),
        # normal band but confidence 0.4*0.625 + 0.6*0.5 = 0.55 < 0.60 -> no trade
        ((0.3, 0.2, 0.5), (0.3, 0.5), (0, NORMAL, LOW_CONFIDENCE)),
        # model and agents disagree: S = 0.4*0.6 - 0.6*0.3 = 0.06 weak -> no trade
        ((0.1, 0.1, 0.7), (-0.3, 0.9), (0, WEAK, WEAK_BAND)),
        # a flat model (p_up = p_down) with strong agents: S = 0.6, C = 0.4*0.5 + 0.6*1 = 0.8 -> buy
        ((0.1, 0.8, 0.1), (1.0, 1.0), (1, STRONG, TRADE)),
    ],
)
def test_consensus_table(probs, agents, expected):
    r = decide(*probs, *agents, CFG)
    assert (r.direction, r.band, r.reason) == expected


def test_weights_that_do_not_sum_to_one_are_rejected():
    with pytest.raises(ValueError, match="must be 1"):
        ConsensusConfig(model_weight=0.5, agents_weight=0.6)
