"""Daily-PnL statistics: undefined is nan, intervals cover, noise does not look like skill."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from live_engine.backtest import stats


def test_sharpe_and_sortino_are_nan_where_undefined() -> None:
    assert math.isnan(stats.sharpe([100.0]))
    assert math.isnan(stats.sharpe([5.0, 5.0, 5.0]))  # no variation
    assert math.isnan(stats.sortino([10.0, 20.0, 30.0]))  # no losing day: no downside deviation
    assert math.isnan(stats.deflated_sharpe([1.0, 2.0]))  # too few days


def test_sortino_uses_the_downside_deviation_over_every_day() -> None:
    daily = np.array([3.0, -1.0, 2.0, -2.0])
    dd = math.sqrt((1.0 + 4.0) / 4)  # squares of the shortfalls, averaged over all 4 days
    assert stats.downside_deviation(daily) == pytest.approx(dd)
    assert stats.sortino(daily) == pytest.approx(daily.mean() / dd)
    assert stats.sharpe(daily, annualised=True) == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(252))


def test_bootstrap_is_deterministic_and_its_interval_covers_the_mean() -> None:
    rng = np.random.default_rng(1)
    daily = rng.normal(50.0, 200.0, size=60)
    a = stats.block_bootstrap(daily, seed=3)
    b = stats.block_bootstrap(daily, seed=3)
    assert np.array_equal(a, b) and len(a) == 2000
    lo, hi = stats.interval(a, 0.90)
    assert lo < daily.mean() < hi
    assert stats.bootstrap_indices(10, n_boot=5, block=3, seed=0).shape == (5, 10)


def test_a_clear_edge_is_probable_and_noise_is_not() -> None:
    rng = np.random.default_rng(2)
    assert stats.prob_positive(rng.normal(100.0, 50.0, size=20)) > 0.99
    # zero-mean noise: P(mean > 0) > 0.95 should happen in about 5 % of worlds, not most of them
    hits = sum(stats.prob_positive(rng.normal(0.0, 100.0, size=20), n_boot=500, seed=k) > 0.95 for k in range(200))
    assert hits < 30


def test_paired_comparison_cancels_the_days_both_strategies_share() -> None:
    rng = np.random.default_rng(4)
    market = rng.normal(0.0, 500.0, size=30)  # big common swings
    better = market + 20.0
    assert stats.prob_greater(better, market) == 1.0
    assert stats.prob_greater(market, better) == 0.0
    with pytest.raises(ValueError, match="length"):
        stats.prob_greater([1.0, 2.0], [1.0])


def test_deflated_sharpe_with_one_trial_is_the_probabilistic_sharpe_and_falls_with_trials() -> None:
    rng = np.random.default_rng(5)
    daily = rng.normal(30.0, 100.0, size=40)
    sr, t = stats.sharpe(daily), len(daily)
    z = (daily - daily.mean()) / daily.std(ddof=0)
    skew, kurt = float(np.mean(z**3)), float(np.mean(z**4))
    psr = NormalDist().cdf(sr * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr * sr))
    assert stats.deflated_sharpe(daily, 1) == pytest.approx(psr)
    assert stats.deflated_sharpe(daily, 100) < stats.deflated_sharpe(daily, 10) < stats.deflated_sharpe(daily, 1)


def test_on_few_days_of_noise_the_expanded_probability_stays_honest_where_the_plain_one_flatters() -> None:
    rng = np.random.default_rng(11)
    worlds = [rng.normal(0.0, 100.0, size=5) for _ in range(300)]
    plain = sum(stats.prob_positive(d, n_boot=500) > 0.95 for d in worlds)
    expanded = sum(stats.prob_positive(d, n_boot=500, expanded=True) > 0.95 for d in worlds)
    assert plain > 30  # 52 of these 300 zero-mean 5-day worlds look "95 % sure" to the plain bootstrap
    assert expanded <= 15  # at most the 5 % a 0.95 threshold promises (0 here)
    assert stats.prob_positive(rng.normal(100.0, 50.0, size=30), expanded=True) > 0.99  # a real edge still shows


def test_the_expanded_interval_covers_the_true_mean_about_as_often_as_it_says() -> None:
    rng = np.random.default_rng(12)
    n, hits_plain, hits_expanded = 10, 0, 0
    for _ in range(300):
        reps = stats.block_bootstrap(rng.normal(0.0, 100.0, size=n), n_boot=500)
        lo, hi = stats.interval(reps, 0.90)
        hits_plain += lo <= 0 <= hi
        lo, hi = stats.interval(reps, 0.90, n_eff=stats.effective_n(n))
        hits_expanded += lo <= 0 <= hi
    assert hits_plain < 0.85 * 300 < 0.87 * 300 < hits_expanded  # plain: ~77 %; expanded: ~90 %
    assert stats.interval(np.array([1.0, 2.0]), 0.9, n_eff=1.0) != stats.interval(np.array([1.0, 2.0]), 0.9)
    assert all(math.isnan(x) for x in stats.interval(np.array([1.0, 2.0]), 0.9, n_eff=1.0))


def test_bootstrapped_sharpe_replicates_are_the_sharpe_of_each_resample() -> None:
    daily = np.random.default_rng(13).normal(20.0, 100.0, size=12)
    reps = stats.sharpe_replicates(daily, n_boot=50, seed=4)
    idx = stats.bootstrap_indices(12, n_boot=50, seed=4)
    assert reps == pytest.approx([stats.sharpe(daily[row]) for row in idx], nan_ok=True)
    assert len(stats.sharpe_replicates([1.0])) == 0
