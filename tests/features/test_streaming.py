"""Behaviour of the streaming feature engine: bar boundaries, sessions, book at close, the vector."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from features.spec import FEATURE_INDEX, FEATURE_NAMES
from features.streaming import NAMES, BarClose, FeatureEngine
from features.streaming_session import SessionLocator, parse_bar_spec
from market.calendar import session_bounds
from market.instruments import get_instrument
from quantumtrader.errors import ConfigError

NS = 1_000_000_000
DAY = date(2020, 11, 16)  # a Monday (09:00-18:00 in the hours table)
NEXT = date(2020, 11, 17)
OPEN, CLOSE = (int(t.value) for t in session_bounds(DAY, "WDO"))
OPEN2, CLOSE2 = (int(t.value) for t in session_bounds(NEXT, "WDO"))
BOOK = ([5000.0, 4999.5, 4999.0, 4998.5, 4998.0], [10, 20, 30, 40, 50],
        [5000.5, 5001.0, 5001.5, 5002.0, 5002.5], [5, 10, 15, 20, 25])  # fmt: skip


def _engine(spec: str = "time:60s") -> tuple[FeatureEngine, list[BarClose]]:
    bars: list[BarClose] = []

    def keep(bc: BarClose) -> None:
        bars.append(BarClose(**{f: getattr(bc, f) for f in BarClose.__slots__}))  # type: ignore[attr-defined]
        bars[-1].features = bc.features.copy()

    return FeatureEngine("WDO", bar_spec=spec, on_bar=keep), bars


def _f(bar: BarClose, name: str) -> float:
    return float(bar.features[FEATURE_INDEX[name]])


def test_feature_order_is_the_spec_order() -> None:
    assert NAMES == FEATURE_NAMES
    eng, _ = _engine()
    assert eng.vector.shape == (65,) and eng.vector.dtype == np.float64


def test_bad_bar_spec_is_a_config_error() -> None:
    from market.bars import BarSpec
    from quantumtrader.errors import InputError

    for bad in ("time:60", "minutes:5", "volume:0", "tick:x", "TIME:60s", "tick:+5"):
        with pytest.raises(ConfigError, match="bar_spec"):
            parse_bar_spec(bad)
        with pytest.raises(InputError, match="bar spec"):  # the batch path refuses exactly the same specs
            BarSpec.parse(bad)


def test_session_bounds_agree_with_the_pandas_calendar_including_old_dst_days() -> None:
    loc = SessionLocator(get_instrument("WDO"))
    for day in (DAY, date(2018, 11, 5), date(2018, 2, 16), date(2019, 2, 18), date(2026, 1, 5)):
        o, c = session_bounds(day, "WDO")
        s = loc.bounds(day)
        assert (s.open_ns, s.close_ns) == (o.value, c.value)


def test_a_trade_at_a_bar_close_belongs_to_that_bar_and_time_passes_first() -> None:
    eng, bars = _engine()
    assert eng.on_trade(OPEN + 60 * NS, 5000.0, 1, 2, 1, 2) == 0  # exactly at the first close: bar 1
    assert eng.on_trade(OPEN + 60 * NS, 5001.0, 2, 3, 3, 4) == 0  # same ts: still bar 1
    assert eng.on_trade(OPEN + 60 * NS + 1, 5002.0, 3, 2, 1, 2) == 1  # later: bar 1 closes first
    assert [b.n_trades for b in bars] == [2]
    assert (bars[0].close, bars[0].volume, bars[0].buy_vol, bars[0].sell_vol) == (5001.0, 3, 1, 2)
    assert eng.advance_to(OPEN + 120 * NS) == 1
    assert bars[1].open == bars[1].close == 5002.0 and bars[1].open_ts_ns == OPEN + 60 * NS


def test_a_session_gets_its_full_grid_with_empty_bars_carrying_the_close() -> None:
    eng, bars = _engine()
    closed = eng.on_trade(OPEN + 90 * 60 * NS + 1, 5000.0, 1, 2, 1, 2)  # first trade 90 min in
    assert closed == 90  # the 90 empty bars before it close when it arrives
    assert all(np.isnan(b.close) for b in bars)  # no trade yet: prices are NaN
    assert eng.advance_to(CLOSE) == 540 - 90
    assert len(bars) == 540 and bars[-1].close_ts_ns == CLOSE
    assert all(b.close == 5000.0 and b.volume == 0 for b in bars[91:])
    assert _f(bars[-1], "session_progress") == 1.0 and _f(bars[-1], "is_closing_30") == 1.0
    assert _f(bars[0], "is_opening_30") == 1.0 and _f(bars[0], "day_of_week") == 0.0


def test_trades_outside_the_session_are_counted_and_belong_to_no_bar() -> None:
    eng, bars = _engine()
    for ts in (OPEN - NS, OPEN - 1, CLOSE + 1):  # before, 1 ns before the open, after the close
        assert eng.on_trade(ts, 5000.0, 1, 2, 1, 2) == 0
    assert eng.n_ignored == 3 and bars == [] and eng.n_bars == 0
    eng.on_trade(CLOSE2, 5000.0, 1, 2, 1, 2)  # exactly at the close: inside [open, close]
    eng.advance_to(CLOSE2)
    assert len(bars) == 540 and bars[-1].n_trades == 1


def test_the_opening_print_belongs_to_the_first_bar() -> None:
    for spec, n_first in (("time:60s", 2), ("tick:1", 1), ("volume:5", 2)):
        eng, bars = _engine(spec)
        assert eng.on_trade(OPEN - 1, 4990.0, 9, 4, 1, 2) == 0  # the pre-open instant: no session
        eng.on_trade(OPEN, 5000.0, 3, 4, 1, 2)  # the opening auction print, exactly at the open
        eng.on_trade(OPEN + 30 * NS, 5001.0, 2, 2, 3, 4)
        eng.advance_to(OPEN + 60 * NS)
        assert eng.n_ignored == 1, spec
        first = bars[0]
        assert (first.open_ts_ns, first.open, first.n_trades) == (OPEN, 5000.0, n_first), spec
        assert sum(b.volume for b in bars) == 5, spec


def test_a_trade_older_than_time_already_passed_is_counted_and_dropped() -> None:
    eng, bars = _engine()
    eng.on_trade(OPEN + NS, 5000.0, 1, 2, 1, 2)
    eng.advance_to(OPEN + 120 * NS)
    assert eng.on_trade(OPEN + 100 * NS, 5000.0, 7, 2, 1, 2) == 0
    assert eng.n_late == 1
    eng.advance_to(OPEN + 180 * NS)
    assert [b.volume for b in bars] == [1, 0, 0]


def test_the_next_session_first_closes_the_rest_of_the_previous_grid() -> None:
    eng, bars = _engine()
    eng.on_trade(OPEN + NS, 5000.0, 4, 2, 1, 2)
    eng.on_trade(OPEN + 2 * NS, 5000.0, 1, 3, 1, 2)
    closed = eng.on_trade(OPEN2 + 30 * NS, 5010.0, 2, 3, 1, 2)
    assert closed == 540
    assert _f(bars[-1], "cum_signed_volume_session") == 3.0
    eng.advance_to(OPEN2 + 60 * NS)
    first = bars[540]
    assert first.session == NEXT and first.open_ts_ns == OPEN2
    assert _f(first, "cum_signed_volume_session") == -2.0  # reset at the open
    assert _f(first, "ret_session") == 0.0  # its only trade is the first of the session
    assert _f(first, "ret_1") == pytest.approx(np.log(5010.0 / 5000.0))  # the overnight return


def test_book_at_close_is_the_last_state_at_or_before_the_close() -> None:
    eng, bars = _engine()
    eng.on_book(OPEN - 3600 * NS, *BOOK)  # before the session: still the book at the first close
    eng.on_trade(OPEN + NS, 5000.0, 1, 2, 1, 2)
    wide = ([4990.0] * 5, [1] * 5, [5010.0] * 5, [1] * 5)
    eng.on_book(OPEN + 60 * NS, *wide)  # at the close: counts
    eng.on_book(OPEN + 60 * NS + 1, *BOOK)  # after it: next bar
    assert len(bars) == 1
    assert _f(bars[0], "spread_ticks") == 40.0
    eng.advance_to(OPEN + 120 * NS)
    assert _f(bars[1], "spread_ticks") == 1.0
    assert _f(bars[1], "book_imb_l1") == pytest.approx((10 - 5) / 15)


def test_volume_bars_close_at_the_completing_trade_and_same_ts_trades_join() -> None:
    eng, bars = _engine("volume:5")
    eng.on_trade(OPEN + NS, 5000.0, 3, 2, 1, 2)
    eng.on_trade(OPEN + 2 * NS, 5000.5, 2, 2, 1, 2)  # cumulative 5: complete
    eng.on_trade(OPEN + 2 * NS, 5001.0, 4, 3, 1, 2)  # same ts: joins it (decision B1)
    assert bars == []
    assert eng.on_trade(OPEN + 3 * NS, 5001.5, 1, 2, 1, 2) == 1
    assert (bars[0].volume, bars[0].n_trades, bars[0].close_ts_ns) == (9, 3, OPEN + 2 * NS)


def test_the_last_partial_volume_bar_closes_at_its_last_trade_with_that_book() -> None:
    eng, bars = _engine("tick:100")
    eng.on_book(OPEN + NS, *BOOK)
    eng.on_trade(OPEN + 5 * NS, 5000.0, 1, 2, 1, 2)
    eng.on_book(OPEN + 5 * NS, *BOOK)  # same ts as the last trade: part of its book
    eng.on_book(OPEN + 9 * NS, [4990.0] * 5, [1] * 5, [5010.0] * 5, [1] * 5)  # later: not
    assert eng.advance_to(CLOSE - NS) == 0  # the session may still trade
    assert eng.advance_to(CLOSE) == 1
    assert bars[0].close_ts_ns == OPEN + 5 * NS and _f(bars[0], "spread_ticks") == 1.0
    assert _f(bars[0], "trade_intensity") == pytest.approx(1 / 5)


def test_the_vector_is_preallocated_and_overwritten_at_each_close() -> None:
    seen: list[np.ndarray] = []
    eng = FeatureEngine("WDO", on_bar=lambda bc: seen.append(bc.features))
    vec = eng.vector
    eng.on_trade(OPEN + NS, 5000.0, 1, 2, 1, 2)
    eng.advance_to(OPEN + 180 * NS)
    assert len(seen) == 3 and all(v is vec for v in seen) and eng.vector is vec
    assert vec[FEATURE_INDEX["signed_volume"]] == 0.0  # the last (empty) bar's values


def test_importing_the_engine_loads_neither_pandas_nor_the_calendar() -> None:
    import subprocess
    import sys

    code = (
        "import sys, features.streaming; "
        "bad = [m for m in ('pandas', 'scipy', 'exchange_calendars', 'features.batch') if m in sys.modules]; "
        "assert not bad, bad"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_a_trade_with_a_nan_or_non_positive_price_or_size_is_counted_and_dropped() -> None:
    eng, bars = _engine()
    eng.on_trade(OPEN + NS, 5000.0, 1, 2, 1, 2)
    for price, qty in ((float("nan"), 1), (0.0, 1), (-5.0, 1), (5000.0, 0)):
        eng.on_trade(OPEN + 2 * NS, price, qty, 2, 1, 2)
    eng.advance_to(OPEN + 60 * NS)
    assert eng.n_rejected == 4 and bars[0].volume == 1 and bars[0].close == 5000.0


def test_an_unknown_side_opening_print_leaves_the_session_flow_known_once_a_sided_trade_arrives() -> None:
    """``--side-rule tick``: the session's first print has no side (type 32); it is left out, not NaN-making."""
    eng, bars = _engine()
    eng.on_trade(OPEN, 5000.0, 5, 32, 1, 2)  # bar 1: the opening print only, side unknown
    eng.on_trade(OPEN + 70 * NS, 5000.5, 3, 2, 1, 2)  # bar 2: an aggressive buy
    eng.on_trade(OPEN + 80 * NS, 5000.0, 1, 3, 2, 1)  # and an aggressive sell
    eng.advance_to(OPEN + 120 * NS)
    first, second = bars[0], bars[1]
    assert np.isnan(_f(first, "signed_volume")) and np.isnan(_f(first, "cum_signed_volume_session"))
    assert _f(second, "signed_volume") == 2.0 and _f(second, "cum_signed_volume_session") == 2.0


def test_trades_with_unknown_broker_ids_are_skipped_by_the_buyer_switches() -> None:
    eng, bars = _engine()
    for k, buyer in enumerate([7, -1, 7, 8, -1]):  # known buyers 7, 7, 8: one switch in two known pairs
        eng.on_trade(OPEN + (k + 1) * NS, 5000.0, 1, 2, buyer, 3)
    for m in range(1, 20):  # 19 more bars, each one known trade by buyer 8 (no switch), one without ids
        eng.on_trade(OPEN + (60 * m + 10) * NS, 5000.0, 1, 2, 8, 3)
        eng.on_trade(OPEN + (60 * m + 20) * NS, 5000.0, 1, 2, -1, -1)
    eng.advance_to(OPEN + 20 * 60 * NS)
    last = bars[19]
    # the 20-bar window: 3 + 19 known trades (22), one switch (7 -> 8); ids {3, 7, 8} over 22 known trades
    assert _f(last, "buyer_switch_rate_20") == pytest.approx(1 / 21)
    assert _f(last, "broker_turnover_20") == pytest.approx(3 / 22)
