"""Unknown is not a value, the design card's rule: a trade without broker ids / without an aggressor side
is left out of the statistics that need them, and only a window whose trades all lack them is NaN.

Scenarios of ``docs/features.md`` section 3b, each checked in both executions (parity) and against an
equivalent tape where the unknown trades are absent from those statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from stream_tapes import SYMBOL, Knobs, make_tape
from test_parity import NEEDS_BROKERS, NEEDS_SIDE, assert_parity

from features.batch import compute_batch
from market.bars import build_bars

BROKER_ONLY = [n for n in NEEDS_BROKERS if n not in NEEDS_SIDE]
SIDE_ONLY = [n for n in NEEDS_SIDE if n not in NEEDS_BROKERS]


def _features(trades: pd.DataFrame, book: pd.DataFrame, spec: str = "time:60s") -> tuple[pd.DataFrame, pd.DataFrame]:
    bars = build_bars(trades, book, spec=spec, symbol=SYMBOL, large_trade_qty=10)
    return bars, compute_batch(bars, symbol=SYMBOL)


def _tape() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_tape(Knobs(seed=33, n_days=3, trades_per_day=1500, burst=0.2, open_prints=True))


@pytest.mark.parametrize("spec", ["time:60s", "time:300s"])
def test_trades_without_broker_ids_give_the_broker_features_of_the_tape_without_those_trades(spec: str) -> None:
    trades, book = _tape()
    rng = np.random.default_rng(1)
    lost = rng.random(len(trades)) < 0.05  # auction-like prints without brokers, and half-known ones
    blind = trades.copy()
    blind.loc[lost, ["buyer", "seller"]] = -1
    half = ~lost & (rng.random(len(trades)) < 0.03)
    blind.loc[half, "seller"] = -1
    assert_parity(blind, book, spec)
    bars, got = _features(blind, book, spec)
    _, without = _features(trades[~(lost | half)], book, spec)  # the same bars: time grid per session
    assert got.index.equals(without.index)
    traded = bars["n_trades"].rolling(20).sum() > 0
    affected = bars["n_unknown_broker"].rolling(20).sum() > 0
    assert affected[traded].iloc[60:].mean() > 0.5  # the strict rule would have made these windows NaN
    for name in NEEDS_BROKERS:
        assert got[name].iloc[60:].notna().all(), name  # windows with some known trades keep a value
        np.testing.assert_array_equal(got[name].to_numpy(), without[name].to_numpy(), err_msg=name)


def test_a_window_whose_trades_all_lack_broker_ids_is_nan_and_the_value_returns_after_it() -> None:
    trades, book = _tape()
    day = trades["ts"].dt.tz_convert("America/Sao_Paulo").dt.date
    second = day == sorted(set(day))[1]
    trades.loc[second, ["buyer", "seller"]] = -1  # a whole session from a source without broker ids
    assert_parity(trades, book, "time:60s")
    bars, f = _features(trades, book)
    n_tr, known = bars["n_trades"], bars["n_trades"] - bars["n_unknown_broker"]
    for name in BROKER_ONLY:
        n = 50 if name.endswith("_50") else 20
        expected_nan = (n_tr.rolling(n).sum() > 0) & (known.rolling(n).sum() == 0)
        got_nan = f[name].isna() & (np.arange(len(f)) >= n - 1)
        assert expected_nan.sum() > 10 and (got_nan == expected_nan).all(), name
        third = bars["session"] == bars["session"].iloc[-1]
        assert f[name][third].iloc[n:].notna().all(), name  # the value returns once known trades are back
        quiet = (n_tr.rolling(n).sum() == 0) & (np.arange(len(f)) >= n - 1)
        assert (f[name][quiet] == 0.0).all(), name  # no trade at all: the documented fallback


def test_one_unknown_side_print_per_session_keeps_the_order_flow_finite() -> None:
    """``--side-rule tick`` leaves each session's first print without a side: not 50 bars of NaN."""
    trades, book = _tape()
    day = trades["ts"].dt.tz_convert("America/Sao_Paulo").dt.date
    first = np.flatnonzero(np.r_[True, day.to_numpy()[1:] != day.to_numpy()[:-1]])
    tick_rule = trades.copy()
    tick_rule.loc[first, "trade_type"] = 32
    cross = trades.copy()
    cross.loc[first, "trade_type"] = 1  # the same print, known to be unsigned
    assert_parity(tick_rule, book, "time:60s")
    bars, got = _features(tick_rule, book)
    _, as_cross = _features(cross, book)
    assert bars["n_unknown_side"].sum() == len(first) == 3
    assert (bars.groupby("session")["n_trades"].head(1) >= 2).all()  # the opening bar also has known trades
    assert np.isfinite(got[NEEDS_SIDE].iloc[60:].to_numpy()).all()
    for name in NEEDS_SIDE:  # in neither buy nor sell volume, as a cross
        if name != "aggr_buy_ratio_20":
            np.testing.assert_array_equal(got[name].to_numpy(), as_cross[name].to_numpy(), err_msg=name)
    # the ratio's denominator is the trades of known side (a cross is one, an unknown print is not)
    sn = bars["n_trades"].rolling(20).sum() - bars["n_unknown_side"].rolling(20).sum()
    expected = (bars["n_buy_trades"].rolling(20).sum() / sn).where(sn > 0, 0.5)
    np.testing.assert_allclose(got["aggr_buy_ratio_20"].iloc[19:], expected.iloc[19:], rtol=1e-12)
    assert (got["aggr_buy_ratio_20"] != as_cross["aggr_buy_ratio_20"]).iloc[19:].any()


def test_a_tape_whose_sides_are_all_unknown_has_nan_order_flow_where_it_traded() -> None:
    trades, book = _tape()
    trades["trade_type"] = 32
    assert_parity(trades, book, "volume:25")
    bars, f = _features(trades, book, "volume:25")
    assert (bars["n_trades"] > 0).all()  # volume bars: every window holds trades, none with a side
    assert f[NEEDS_SIDE].isna().all().all()
    assert f[[c for c in f.columns if c not in NEEDS_SIDE]].iloc[200:].notna().all().all()


def test_a_tape_of_crosses_only_keeps_its_order_flow_values() -> None:
    trades, book = _tape()
    trades["trade_type"] = 1  # known: unsigned
    bars, f = _features(trades, book)
    assert (f["ofi_50"].iloc[49:] == 0.0).all() and (f["signed_volume"] == 0.0).all()
    traded = (bars["n_trades"].rolling(20).sum() > 0).to_numpy()
    ratio = f["aggr_buy_ratio_20"].to_numpy()
    assert (ratio[19:][traded[19:]] == 0.0).all() and (ratio[19:][~traded[19:]] == 0.5).all()
