"""Backtest metrics on hand-made trades, equity and decisions: labelled Sharpe, n/a where undefined,
intervals, deflated Sharpe, PnL per trade after costs, cap denials and the exit mix."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from live_engine.backtest import stats
from live_engine.backtest.metrics import compute_metrics, daily_metrics, exit_mix, signal_metrics
from live_engine.backtest.presentation import fmt, notes, sections
from live_engine.backtest.runner import finite_metrics

MIN = 60_000_000_000
CAPITAL = 30_000.0


def trade(pnl: float, *, fees: float = 2.4, tag: str = "time_exit", start: int = 0) -> dict[str, float | str]:
    return {"pnl": pnl, "points": (pnl + fees) / 10.0, "fees": fees, "entry_ts_ns": start,
            "exit_ts_ns": start + 5 * MIN, "exit_tag": tag}


def equity(daily: list[float], bars_per_day: int = 3) -> tuple[list[str], list[float], list[int]]:
    """Bar-close sessions and cumulative PnL whose session ends earn ``daily``."""
    sessions, pnl, total = [], [], 0.0
    for k, d in enumerate(daily):
        for b in range(bars_per_day):
            sessions.append(f"2026-01-{5 + k:02d}")
            pnl.append(total + d * (b + 1) / bars_per_day)
        total += d
    return sessions, pnl, [0] * len(pnl)


def test_sharpe_is_per_day_with_its_day_count_and_the_annualised_one_is_sqrt_252_times_it() -> None:
    daily = [100.0, -50.0, 200.0, 50.0]
    m = compute_metrics([trade(100.0), trade(-50.0), trade(250.0)], *equity(daily), capital=CAPITAL)
    d = np.array(daily)
    assert m["sessions"] == 4 and m["pnl"] == pytest.approx(300.0)
    assert m["daily_pnl_mean"] == pytest.approx(75.0)
    assert m["sharpe_per_day"] == pytest.approx(d.mean() / d.std(ddof=1))
    assert m["sharpe_annualised"] == pytest.approx(m["sharpe_per_day"] * math.sqrt(252))
    # Sortino: downside deviation over every day, sqrt(50^2 / 4), not the sd of the losing days
    assert m["sortino_per_day"] == pytest.approx(75.0 / math.sqrt(2500.0 / 4))
    labels = [r.label for _, rows in sections(m) for r in rows]
    assert "Sharpe per day (4 days)" in labels and "Sharpe annualised (×√252, 4 days)" in labels


def test_undefined_metrics_are_nan_in_python_null_in_json_and_na_on_screen() -> None:
    m = compute_metrics([], *equity([0.0]), capital=CAPITAL)  # one session, no trade
    undefined = ("win_rate", "profit_factor", "pnl_per_trade", "pnl_per_trade_lo", "fees_per_trade",
                 "avg_holding_minutes", "daily_pnl_sd", "sharpe_per_day", "sharpe_per_day_lo", "sharpe_annualised",
                 "sortino_per_day", "deflated_sharpe", "prob_daily_pnl_positive", "daily_pnl_mean_lo",
                 "exit_share_time_exit")
    for key in undefined:
        assert math.isnan(m[key]), key
    assert m["n_trades"] == 0 and m["trades_per_day"] == 0 and m["pnl"] == 0  # defined: nothing happened
    back = orjson.loads(orjson.dumps(m))
    assert back["sharpe_per_day"] is None and back["profit_factor"] is None
    assert fmt(back["sharpe_per_day"], "ratio") == "n/a" and fmt(m["win_rate"], "share") == "n/a"
    assert all(not math.isnan(v) for v in finite_metrics(m).values()) and "sharpe_per_day" not in finite_metrics(m)


def test_no_losing_day_leaves_sortino_undefined_and_no_losing_trade_leaves_profit_factor_undefined() -> None:
    m = compute_metrics([trade(10.0), trade(20.0)], *equity([10.0, 20.0, 15.0]), capital=CAPITAL)
    assert math.isnan(m["sortino_per_day"]) and math.isnan(m["sortino_annualised"])
    assert math.isfinite(m["sharpe_per_day"])
    assert math.isnan(m["profit_factor"]) and m["win_rate"] == 1.0
    flat = compute_metrics([], *equity([5.0, 5.0, 5.0]), capital=CAPITAL)  # no variation: no Sharpe
    assert math.isnan(flat["sharpe_per_day"]) and flat["daily_pnl_mean"] == pytest.approx(5.0)


def test_pnl_per_trade_is_after_costs_with_an_interval_that_holds_it() -> None:
    rng = np.random.default_rng(3)
    pnls = rng.normal(20.0, 60.0, size=40)
    trades = [trade(float(p), fees=2.4, start=k * 10 * MIN) for k, p in enumerate(pnls)]
    m = compute_metrics(trades, *equity([float(pnls.sum())]), capital=CAPITAL)
    assert m["pnl_per_trade"] == pytest.approx(pnls.mean())  # net: fees are already out of each trade's pnl
    assert m["fees_per_trade"] == pytest.approx(2.4) and m["fees"] == pytest.approx(2.4 * 40)
    assert m["pnl_per_trade_lo"] < m["pnl_per_trade"] < m["pnl_per_trade_hi"]


def test_intervals_hold_the_estimate_and_are_wider_from_fewer_days() -> None:
    rng = np.random.default_rng(8)
    long = rng.normal(50.0, 200.0, size=60)
    few = daily_metrics(long[:8])
    many = daily_metrics(long)
    for m in (few, many):
        assert m["daily_pnl_mean_lo"] < m["daily_pnl_mean"] < m["daily_pnl_mean_hi"]
        assert m["sharpe_per_day_lo"] < m["sharpe_per_day"] < m["sharpe_per_day_hi"]
    width = lambda m: m["daily_pnl_mean_hi"] - m["daily_pnl_mean_lo"]  # noqa: E731
    assert width(few) > width(many)
    assert many["bootstrap_block_days"] == stats.default_block(60) == 4 and many["bootstrap_replicates"] == 2000
    # the expanded interval is wider than the plain percentile one on the same replicates
    plain = stats.interval(stats.block_bootstrap(long[:8]), 0.90)
    assert few["daily_pnl_mean_lo"] < plain[0] and few["daily_pnl_mean_hi"] > plain[1]


def test_two_days_give_no_interval_rather_than_a_false_one() -> None:
    m = daily_metrics(np.array([100.0, 300.0]))  # one block of two days: one effective observation
    assert math.isfinite(m["sharpe_per_day"])
    assert math.isnan(m["daily_pnl_mean_lo"]) and math.isnan(m["prob_daily_pnl_positive"])


def test_deflated_sharpe_falls_with_the_configurations_tried() -> None:
    daily = list(np.random.default_rng(5).normal(40.0, 100.0, size=30))
    one = compute_metrics([], *equity(daily), capital=CAPITAL, n_trials=1)
    many = compute_metrics([], *equity(daily), capital=CAPITAL, n_trials=50)
    assert one["deflated_sharpe_trials"] == 1 and many["deflated_sharpe_trials"] == 50
    assert many["deflated_sharpe"] < one["deflated_sharpe"]
    assert one["deflated_sharpe"] == pytest.approx(stats.deflated_sharpe(daily, 1))


def test_exit_mix_counts_every_reason_and_shares_sum_to_one() -> None:
    m = exit_mix(["time_exit"] * 6 + ["stop", "target", "flatten", "signal_exit"])
    assert m["exits_time_exit"] == 6 and m["exit_share_time_exit"] == pytest.approx(0.6)
    assert sum(v for k, v in m.items() if k.startswith("exit_share_")) == pytest.approx(1.0)
    assert m["exits_halt"] == 0 and m["exit_share_halt"] == 0
    assert math.isnan(exit_mix([])["exit_share_stop"])


def decision(action: str, *, denial: str = "", position: int = 0, state: str = "ACTIVE", direction: int = 1
             ) -> dict[str, object]:
    return {"action": action, "denial": denial, "position": position, "state": state, "direction": direction}


def test_signal_metrics_count_denials_per_reason_and_as_a_share_of_entry_signals() -> None:
    decisions = [
        decision("enter_long", position=1), decision("hold", position=1), decision("time_exit"),
        *[decision("denied", denial="MAX_DAILY_TRADES") for _ in range(6)],
        decision("denied", denial="COOLDOWN"), decision("none", direction=0),
        decision("denied", denial="STALE_DATA", position=1),  # an exit refused: not an entry signal
        decision("enter_short", position=-1), decision("wait_fill"),
        decision("halt_flatten", state="HALTED"), decision("none", state="HALTED", direction=-1),
    ]
    m = signal_metrics(decisions)
    assert m["signals"] == 10 and m["signals_taken"] == 2 and m["signals_denied"] == 8
    assert m["signals_denied_MAX_DAILY_TRADES"] == 6 and m["signals_denied_COOLDOWN"] == 1
    assert m["signals_denied_HALTED"] == 1 and m["exit_orders_denied"] == 1
    assert m["signals_denied_share"] == pytest.approx(0.8)
    assert math.isnan(signal_metrics([])["signals_denied_share"])


def test_a_trader_is_told_when_the_cap_and_the_time_exit_set_the_trades_and_when_the_edge_may_be_luck() -> None:
    m = {**compute_metrics([trade(5.0)] * 9 + [trade(-3.0, tag="stop")], *equity([30.0, -20.0, -10.0, 25.0]),
                           capital=CAPITAL),
         **signal_metrics([decision("enter_long", position=1)] * 10 + [decision("denied", denial="MAX_DAILY_TRADES")]
                          * 40)}
    text = " ".join(notes(m, {"deflated_sharpe_trials": "unknown (no run): 1 assumed"}))
    assert "cap, not the signal" in text and "40 of 50 entry signals" in text
    assert "9 of 10 exits" in text and "time exit" in text
    assert "includes 0" in text  # a mean daily PnL whose interval holds 0 is called what it is
    assert "Only 4 days" in text and "unknown" in text
    calm = compute_metrics([trade(5.0, tag="target")], *equity(list(np.full(30, 10.0) + np.arange(30))),
                           capital=CAPITAL)
    assert not notes(calm, {"deflated_sharpe_trials": "param tuning.combos of training run x"})
    losing = compute_metrics([trade(-5.0, tag="target")], *equity(list(-np.full(30, 10.0) - np.arange(30))),
                             capital=CAPITAL)
    assert notes(losing) == ["The 90 % interval of the mean daily PnL is below 0: after costs this loses money."]


def test_money_counts_and_shares_read_as_a_trader_expects() -> None:
    assert fmt(1350.0, "money") == "R$ 1,350.00" and fmt(-82.154, "money") == "-R$ 82.15"
    assert fmt(50.0, "count") == "50" and fmt(0.56, "share") == "56.0 %" and fmt(None, "money") == "n/a"
    assert fmt(math.inf, "ratio") == "n/a" and fmt("x", "count") == "n/a"
