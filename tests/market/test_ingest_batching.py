"""The ingest works on batches of days (one check pass, one ``build_bars`` call, one write pass per
batch); every batched result must equal the per-day result it replaces."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_samples import DAY, NEXT_DAY, trades_frame

from market.bars import build_bars
from market.checks import trades_checks, trades_checks_days
from market.ingest_run import bars_of_days
from market.lake import Lake

THIRD_DAY = date(2026, 1, 7)
SATURDAY = date(2026, 1, 10)


def _build(trades: pd.DataFrame, book: pd.DataFrame | None) -> pd.DataFrame:
    return build_bars(trades, book, spec="time:60s", symbol="WDO", large_trade_qty=2)


def _from_open(n: int, day: date) -> pd.DataFrame:
    """Clean trades whose first print is in the session's first minute (the first bar is not empty)."""
    frame = trades_frame(n, day)
    frame["ts"] = frame["ts"] - pd.Timedelta(seconds=59)
    return frame


def test_bars_of_a_batch_equal_the_bars_of_each_day() -> None:
    days = [(NEXT_DAY, _from_open(500, NEXT_DAY), None), (DAY, _from_open(300, DAY), None),
            (THIRD_DAY, _from_open(400, THIRD_DAY), None)]
    got = bars_of_days(days, _build)
    assert set(got) == {DAY, NEXT_DAY, THIRD_DAY}
    for day, trades, book in days:
        pd.testing.assert_frame_equal(got[day], _build(trades, book), check_exact=True)
        assert got[day].attrs == {"n_outside_session": 0}


def test_a_day_whose_first_bar_is_empty_is_built_alone() -> None:
    # the second day starts three minutes after the open: the batched build would carry the previous
    # day's close into its empty first bars; the per-day build leaves them NaN
    late = trades_frame(300, NEXT_DAY)
    late["ts"] = late["ts"] + pd.Timedelta(minutes=2)
    days = [(DAY, _from_open(300, DAY), None), (NEXT_DAY, late, None)]
    got = bars_of_days(days, _build)
    expected = _build(days[1][1], None)
    assert np.isnan(expected["close"].iloc[0])
    pd.testing.assert_frame_equal(got[NEXT_DAY], expected, check_exact=True)
    pd.testing.assert_frame_equal(got[DAY], _build(days[0][1], None), check_exact=True)


def test_trades_checks_of_a_batch_equal_each_days_checks() -> None:
    rng = np.random.default_rng(5)
    days = [DAY, NEXT_DAY, SATURDAY, THIRD_DAY]
    frames = []
    for i, day in enumerate(days):
        f = trades_frame(400, day, first_id=1 + 1000 * (i % 2))  # repeated ids across days are fine
        f.loc[rng.integers(0, 400, 10), "ts"] = pd.NaT
        f.loc[rng.integers(0, 400, 10), "ts"] = f["ts"].iloc[0] - pd.Timedelta(hours=2)  # before the open
        f.loc[rng.integers(0, 400, 10), "trade_id"] = f["trade_id"].iloc[3]
        f.loc[rng.integers(0, 400, 5), "trade_id"] = -1
        f.loc[rng.integers(0, 400, 5), "symbol"] = None
        f.loc[rng.integers(0, 400, 5), "fin_volume"] = 1.0
        frames.append(f)
    frames.append(trades_frame(0, date(2026, 1, 8)))
    days.append(date(2026, 1, 8))
    expected = pd.concat([trades_checks(f, d, "WDO") for f, d in zip(frames, days, strict=True)], ignore_index=True)
    got = trades_checks_days(frames, days, "WDO")
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got["trade_id_repeat"].sum() > 0 and (got["trading_day"] == 0).sum() == 400
    assert got.loc[got["ts"].isna(), "ts_regress_ms"].isna().all()


def test_staged_files_are_invisible_until_committed(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    frames = [trades_frame(10, DAY), trades_frame(20, NEXT_DAY)]
    staged = lake.stage_days([("trades", "WDO", d, f, False) for d, f in zip((DAY, NEXT_DAY), frames, strict=True)])
    assert lake.days("trades", "WDO") == [] and all(s.tmp.exists() for s in staged)
    staged[0].commit()
    assert lake.days("trades", "WDO") == [DAY]
    staged[1].discard()
    assert lake.days("trades", "WDO") == [DAY] and not list(tmp_path.rglob("*.tmp"))
    pd.testing.assert_frame_equal(lake.read_day("trades", "WDO", DAY), frames[0])


def test_a_failed_staging_leaves_no_temporary_file(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    bad = pd.DataFrame({"x": [object()]})  # not convertible to Arrow
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error type
        lake.stage_days([("trades", "WDO", DAY, trades_frame(5, DAY), False), ("trades", "WDO", NEXT_DAY, bad, False)])
    assert not list(tmp_path.rglob("*.tmp")) and lake.days("trades", "WDO") == []


def test_categorical_columns_are_stored_as_their_plain_values(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    frame = trades_frame(6, DAY)
    frame["rule"] = pd.Categorical(["qty_positive", "known_trade_type"] * 3)
    lake.write_day("quarantine/trades", "WDO", DAY, frame)
    back = lake.read_day("quarantine/trades", "WDO", DAY)
    assert back["rule"].dtype == object and back["rule"].tolist() == ["qty_positive", "known_trade_type"] * 3
    pd.testing.assert_frame_equal(back, frame.astype({"rule": object}))
