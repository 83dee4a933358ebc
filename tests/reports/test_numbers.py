"""The reports' pure numbers: round trips from fills, drawdown, the win-rate interval, risk usage."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from reports import numbers as nb

PV = 10.0  # WDO: R$ per point per contract


def fills(*rows: tuple[int, int, int, float, float]) -> pd.DataFrame:
    return pd.DataFrame([{"fill_id": f"F{i}", "client_id": f"C{i}", "ts_ns": t, "side": s, "qty": q, "price": p,
                          "fee": fee, "tag": "x"} for i, (t, s, q, p, fee) in enumerate(rows)])


def test_a_long_then_a_short_round_trip_are_two_trades_net_of_every_fee() -> None:
    f = fills((1, 1, 1, 5000.0, 1.2), (2, -1, 1, 5003.5, 1.2), (3, -1, 2, 5010.0, 2.4), (4, 1, 1, 5012.0, 1.2),
              (5, 1, 1, 5008.0, 1.2))
    t = nb.round_trips(f, PV)
    assert len(t) == 2
    assert t["pnl"].tolist() == pytest.approx([3.5 * PV - 2.4, (-2.0 + 2.0) * PV - 4.8])
    assert t["side"].tolist() == [1, -1] and t["qty"].tolist() == [1, 2]
    assert t["exit_price"].iat[1] == pytest.approx(5010.0)


def test_an_open_position_at_the_end_is_no_trade() -> None:
    t = nb.round_trips(fills((1, 1, 1, 5000.0, 1.2)), PV)
    assert t.empty


def test_a_fill_that_crosses_zero_closes_one_trade_and_opens_the_next() -> None:
    t = nb.round_trips(fills((1, 1, 1, 5000.0, 0.0), (2, -1, 2, 5002.0, 0.0), (3, 1, 1, 4999.0, 0.0)), PV)
    assert t["pnl"].tolist() == pytest.approx([20.0, 30.0]) and t["side"].tolist() == [1, -1]


def test_max_drawdown_is_the_largest_fall_from_the_running_peak_starting_at_zero() -> None:
    assert nb.max_drawdown([-50.0, 100.0, -30.0, -40.0, 10.0]) == pytest.approx(70.0)
    assert nb.max_drawdown([10.0, 20.0]) == 0.0
    assert nb.max_drawdown([]) == 0.0


def test_the_win_rate_carries_its_count_an_interval_and_a_small_sample_label() -> None:
    r = nb.rate(6, 10, level=0.90, small=30)
    assert r["rate"] == 0.6 and r["n"] == 10 and r["small_sample"]
    assert 0.30 < r["lo"] < 0.6 < r["hi"] < 0.85  # Wilson 90 %: 0.352 to 0.806
    assert r["lo"] == pytest.approx(0.35164, abs=1e-4) and r["hi"] == pytest.approx(0.80577, abs=1e-4)
    assert not nb.rate(60, 100, level=0.9, small=30)["small_sample"]
    empty = nb.rate(0, 0, level=0.9, small=30)
    assert empty["rate"] is None and empty["lo"] is None


def test_equity_is_marked_to_each_bar_close_and_realised_at_each_fill() -> None:
    f = fills((10, 1, 1, 5000.0, 1.0), (30, -1, 1, 5002.0, 1.0))
    bars = pd.DataFrame({"ts_ns": [20, 40], "close": [4990.0, 5005.0]})
    eq = nb.equity_curve(f, bars, PV)
    assert eq["ts_ns"].tolist() == [10, 20, 30, 40]
    assert eq["marked"].tolist() == pytest.approx([-1.0, -101.0, 18.0, 18.0])
    assert eq["realised"].tolist() == pytest.approx([-1.0, -1.0, 18.0, 18.0])


def test_risk_usage_counts_entries_against_the_limit_and_denials_by_reason() -> None:
    orders = pd.DataFrame({"tag": ["entry", "stop", "entry", "signal_exit"]})
    dec = pd.DataFrame({"action": ["denied", "denied", "none", "denied"],
                        "denial": ["MAX_DAILY_TRADES", "MAX_DAILY_TRADES", "", "ENTRY_CUTOFF"],
                        "state": ["ACTIVE"] * 4})
    trades = pd.DataFrame({"pnl": [-300.0]})
    eq = pd.DataFrame({"marked": [-10.0, -450.0, -300.0]})
    u = nb.risk_usage(orders, dec, trades, eq, {"max_daily_trades": 10, "daily_loss_limit": 1500.0})
    assert u["entries"] == 2 and u["entries_used"] == 0.2
    assert u["denials"] == {"ENTRY_CUTOFF": 1, "MAX_DAILY_TRADES": 2}
    assert u["daily_loss"] == 300.0 and u["worst_intraday_pnl"] == -450.0 and u["loss_used"] == 0.3


def test_an_agent_is_right_when_the_next_close_of_the_session_moves_its_way() -> None:
    dec = pd.DataFrame({"ts_ns": [1, 2, 3, 4, 5], "session": ["d1", "d1", "d1", "d2", "d2"],
                        "close": [100.0, 101.0, 100.0, 50.0, 50.0],
                        "vote_a": [1.0, 1.0, -1.0, 1.0, math.nan], "weight_a": [0.5, 0.6, 0.7, 0.4, 0.4]})
    (a,) = nb.agent_performance(dec, level=0.9, small=30)
    # bar 1 up (right), bar 2 down (wrong), bar 3 is d1's last (no next bar), bar 4 unchanged, bar 5 abstained
    assert a["votes"] == 4 and a["calls"] == 2 and a["hit_rate"]["wins"] == 1
    assert a["weight_first"] == 0.5 and a["weight_last"] == 0.4
