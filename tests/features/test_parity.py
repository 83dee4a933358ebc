"""Parity proof: the streaming engine and ``compute_batch(build_bars(...))`` agree on every bar.

Tolerance ``|a - b| <= 1e-9 + 1e-9 |b|`` per value, NaN exactly where NaN, the same bars (close times)
in the same order — on Hypothesis tapes (gaps over many bars, empty bars, session boundaries across a
weekend and a holiday, same-timestamp bursts, constant prices, big and small sizes, few brokers, book
updates before / between / inside sessions, empty level-1 books) and on simulated sessions, for time,
volume and tick bars.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stream_tapes import SYMBOL, Knobs, close_enough, make_tape, mismatch_report, run_stream

from features.batch import compute_batch
from features.spec import FEATURE_NAMES
from market.bars import build_bars
from market.calendar import next_trading_days
from market.simulator import simulate_session

SPECS = ("time:60s", "time:300s", "volume:25", "tick:9")


def assert_parity(trades: pd.DataFrame, book: pd.DataFrame | None, spec: str, *, book_first: bool = False) -> int:
    """Run both executions on one tape; fail with the first mismatches. Returns the number of bars."""
    bars = build_bars(trades, book, spec=spec, symbol=SYMBOL, large_trade_qty=10)
    batch = compute_batch(bars, symbol=SYMBOL)
    assert list(batch.columns) == list(FEATURE_NAMES)
    closes, stream = run_stream(trades, book, spec=spec, book_first=book_first)
    stream_ts = np.array([c.close_ts_ns for c in closes], dtype=np.int64)
    assert len(stream_ts) == len(batch), f"{spec}: streaming closed {len(stream_ts)} bars, batch has {len(batch)}"
    assert np.array_equal(stream_ts, batch.index.asi8), f"{spec}: bar close times differ"
    expected = batch.to_numpy(dtype=np.float64)
    ok = close_enough(stream, expected)
    assert ok.all(), f"{spec}: " + mismatch_report(stream, expected, FEATURE_NAMES, list(batch.index))
    return len(batch)


knobs = st.builds(
    Knobs,
    seed=st.integers(0, 2**32 - 1),
    n_days=st.integers(1, 4),
    trades_per_day=st.integers(1, 400),
    burst=st.sampled_from([0.0, 0.3, 0.8]),
    constant_price=st.booleans(),
    big_sizes=st.sampled_from([0.0, 0.1, 0.5]),
    n_brokers=st.integers(1, 8),
    book_per_trade=st.sampled_from([0.0, 0.3, 1.5]),
    quiet_day=st.booleans(),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(k=knobs, spec=st.sampled_from(SPECS), book_first=st.booleans())
def test_streaming_equals_batch_on_random_tapes(k: Knobs, spec: str, book_first: bool) -> None:
    trades, book = make_tape(k)
    assert_parity(trades, book if len(book) else None, spec, book_first=book_first)


@pytest.mark.parametrize("spec", SPECS)
def test_streaming_equals_batch_on_a_long_random_tape(spec: str) -> None:
    """Every window fills (200+ bars with trades), across four sessions with a weekend and a holiday."""
    trades, book = make_tape(Knobs(seed=20251122, n_days=4, trades_per_day=900, burst=0.3, big_sizes=0.2))
    n = assert_parity(trades, book, spec)
    assert n > 200


def test_streaming_equals_batch_on_constant_prices_and_one_broker() -> None:
    trades, book = make_tape(Knobs(seed=3, n_days=3, trades_per_day=600, constant_price=True, n_brokers=1))
    for spec in ("time:60s", "tick:5"):
        assert_parity(trades, book, spec)


def test_streaming_equals_batch_without_any_book() -> None:
    trades, _ = make_tape(Knobs(seed=11, n_days=2, trades_per_day=300))
    assert_parity(trades, None, "time:60s")


@pytest.fixture(scope="module")
def simulated() -> tuple[pd.DataFrame, pd.DataFrame]:
    trades, books, prev = [], [], None
    for day in next_trading_days(date(2025, 12, 29), 3):  # crosses the new-year holidays
        s = simulate_session(day, symbol=SYMBOL, seed=5, trades_per_session=3000, planted_strength=0.5, prev_close=prev)
        prev = s.close_price
        trades.append(s.trades)
        books.append(s.book)
    return pd.concat(trades, ignore_index=True), pd.concat(books, ignore_index=True)


@pytest.mark.parametrize("spec", ["time:60s", "volume:100", "tick:40"])
def test_streaming_equals_batch_on_simulated_sessions(simulated: tuple[pd.DataFrame, pd.DataFrame], spec: str) -> None:
    trades, book = simulated
    assert assert_parity(trades, book, spec) > 200
