"""No look-ahead: features at bar b computed from the tape cut at b's close equal the full-history ones.

Checked for both executions (batch: ``compute_batch(build_bars(cut))``; streaming: the engine fed the
cut tape, its clock then advanced to the end of b's session, which adds time but no data). Cut points
include a session's first and last bars, bars right after a gap and random bars.

A session's bars exist once it has a trade (holidays have none), so the empty bars that open a
session before its first trade are absent from a tape cut before that trade; their values, once they
exist, use only data up to their own close (checked through the later cut points).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stream_tapes import SYMBOL, Knobs, close_enough, make_tape, mismatch_report, run_stream

from features.batch import compute_batch
from features.spec import FEATURE_NAMES
from market.bars import build_bars


def _batch(trades: pd.DataFrame, book: pd.DataFrame, spec: str) -> pd.DataFrame:
    return compute_batch(build_bars(trades, book, spec=spec, symbol=SYMBOL, large_trade_qty=10), symbol=SYMBOL)


def _cut_points(full: pd.DataFrame, bars: pd.DataFrame, rng: np.random.Generator) -> list[int]:
    """Positions to cut at: first and last bar of each session, the bar after the largest gap, random ones."""
    sess = bars["session"].to_numpy()
    firsts = np.flatnonzero(np.r_[True, sess[1:] != sess[:-1]])
    lasts = np.r_[firsts[1:] - 1, len(sess) - 1]
    vol = bars["volume"].to_numpy()
    after_gap = [i for i in range(1, len(vol)) if vol[i] > 0 and vol[i - 1] == 0][:2]
    rand = rng.choice(len(full), size=min(3, len(full)), replace=False).tolist()
    picks = sorted({*firsts.tolist()[:2], *lasts.tolist()[:2], *after_gap, *rand})
    return picks[:8]


def assert_no_lookahead(trades: pd.DataFrame, book: pd.DataFrame, spec: str, seed: int) -> None:
    bars = build_bars(trades, book, spec=spec, symbol=SYMBOL, large_trade_qty=10)
    full = compute_batch(bars, symbol=SYMBOL)
    _, stream_full = run_stream(trades, book, spec=spec)
    tts = pd.DatetimeIndex(trades["ts"]).asi8
    bts = pd.DatetimeIndex(book["ts"]).asi8
    s_open = pd.DatetimeIndex(bars["session_open_ts"]).asi8
    s_close = pd.DatetimeIndex(bars["session_close_ts"]).asi8
    for b in _cut_points(full, bars, np.random.default_rng(seed)):
        cut_ns = int(full.index.asi8[b])
        t_cut, b_cut = trades[tts <= cut_ns], book[bts <= cut_ns]
        # the bars the cut tape can know: all up to b, except the empty bars opening b's session when
        # its first trade comes after the cut (a session exists once it trades; holidays have no bars)
        sess_first = int(tts[(tts >= int(s_open[b])) & (tts <= int(s_close[b]))].min())
        if sess_first > cut_ns:
            keep = np.flatnonzero(s_open[: b + 1] < s_open[b])
            assert (bars["volume"].to_numpy()[len(keep) : b + 1] == 0).all()
        else:
            keep = np.arange(b + 1)
        want = full.iloc[keep].to_numpy(np.float64)
        # batch on the cut tape
        part = _batch(t_cut, b_cut, spec)
        got = part.loc[part.index <= full.index[b]]
        assert got.index.equals(full.index[keep]), f"{spec}: cut at bar {b} gives other bars"
        got_v = got.to_numpy(np.float64)
        ok = close_enough(got_v, want)
        assert ok.all(), f"batch, cut at bar {b}: " + mismatch_report(got_v, want, FEATURE_NAMES, list(got.index))
        # streaming on the cut tape, clock advanced to the end of b's session
        closes, vec = run_stream(t_cut, b_cut, spec=spec, end_ns=int(s_close[b]))
        n = len(keep)
        assert [c.close_ts_ns for c in closes[:n]] == full.index.asi8[keep].tolist()
        assert np.array_equal(vec[:n], stream_full[keep], equal_nan=True), f"streaming, cut at bar {b}"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    spec=st.sampled_from(["time:300s", "volume:25", "tick:9"]),
    burst=st.sampled_from([0.0, 0.5]),
)
def test_features_never_read_the_future_on_random_tapes(seed: int, spec: str, burst: float) -> None:
    trades, book = make_tape(Knobs(seed=seed, n_days=3, trades_per_day=250, burst=burst, book_per_trade=1.0,
                                   open_prints=True, unknown_side=0.01, unknown_broker=0.01))
    assert_no_lookahead(trades, book, spec, seed)


@pytest.mark.parametrize("spec", ["time:60s", "volume:20"])
def test_features_never_read_the_future_with_every_window_full(spec: str) -> None:
    trades, book = make_tape(Knobs(seed=77, n_days=3, trades_per_day=800, book_per_trade=1.0))
    assert_no_lookahead(trades, book, spec, 77)
