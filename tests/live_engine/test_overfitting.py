"""The probability of backtest overfitting by CSCV: noise is overfit about half the time, a real edge almost
never, and the inputs it cannot judge are refused by name."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from live_engine.backtest.overfitting import probability_of_backtest_overfitting


def test_choosing_the_best_of_pure_noise_is_overfit_about_half_the_time() -> None:
    pbos = []
    for seed in range(6):
        noise = np.random.default_rng(seed).normal(0.0, 100.0, size=(160, 20))
        r = probability_of_backtest_overfitting(noise, n_blocks=10)
        assert r.n_splits == math.comb(10, 5) == len(r.logits)
        pbos.append(r.pbo)
    assert 0.3 < float(np.mean(pbos)) < 0.7, pbos
    assert min(pbos) > 0.1


def test_a_configuration_with_a_real_edge_is_chosen_and_holds_out_of_sample() -> None:
    rng = np.random.default_rng(7)
    m = rng.normal(0.0, 100.0, size=(240, 20))
    m[:, 3] += 60.0  # Sharpe 0.6 a day against 19 noise configurations
    r = probability_of_backtest_overfitting(m, n_blocks=12)
    assert r.pbo < 0.02 and r.prob_oos_loss < 0.02
    assert float(np.median(r.logits)) > 2.0


def test_the_pbo_is_the_share_of_splits_whose_pick_is_at_or_below_the_out_of_sample_median() -> None:
    # a brute-force CSCV on a small matrix, day by day, equals the block-sum implementation
    rng = np.random.default_rng(3)
    m = rng.normal(0.0, 1.0, size=(24, 5))
    r = probability_of_backtest_overfitting(m, n_blocks=6)
    blocks = np.split(m, 6)
    below = 0
    for combo in combinations(range(6), 3):
        ins = np.vstack([blocks[i] for i in combo])
        oos = np.vstack([blocks[i] for i in range(6) if i not in combo])
        best = int(np.argmax(ins.mean(0) / ins.std(0, ddof=1)))
        sr_out = oos.mean(0) / oos.std(0, ddof=1)
        rank = 1 + int(np.sum(sr_out < sr_out[best]))
        below += rank / 6 <= 0.5
    assert r.pbo == pytest.approx(below / math.comb(6, 3))


def test_a_configuration_that_never_trades_cannot_win_a_split() -> None:
    rng = np.random.default_rng(1)
    m = np.column_stack([np.zeros(64), rng.normal(0, 1, 64), rng.normal(0, 1, 64)])
    r = probability_of_backtest_overfitting(m, n_blocks=4)
    assert r.n_days == 64 and np.isfinite(r.logits).all()


@pytest.mark.parametrize(("shape", "blocks", "message"), [
    ((100, 1), 10, "give at least 2"),
    ((100, 4), 7, "an even number"),
    ((15, 4), 8, "cannot make 8 blocks"),
])
def test_inputs_it_cannot_judge_are_refused_naming_what_to_change(shape, blocks, message) -> None:
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(np.ones(shape), n_blocks=blocks)


def test_a_missing_result_is_refused() -> None:
    m = np.ones((40, 3))
    m[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        probability_of_backtest_overfitting(m, n_blocks=4)
