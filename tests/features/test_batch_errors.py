"""Bad bars get a clear error naming the problem; edge inputs do not crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.bench_features import synthetic_bars
from features.batch import compute_batch
from features.spec import FEATURE_NAMES
from quantumtrader.errors import InputError, SchemaError


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return synthetic_bars(120)


def test_missing_columns_are_listed(bars: pd.DataFrame) -> None:
    with pytest.raises(SchemaError, match=r"missing columns \['close', 'bid_qty_3'\]"):
        compute_batch(bars.drop(columns=["bid_qty_3", "close"]))


def test_nan_price_in_a_bar_with_trades_is_named(bars: pd.DataFrame) -> None:
    bad = bars.copy()
    k = int(np.flatnonzero(bad["n_trades"].to_numpy() > 0)[5])
    bad.iloc[k, bad.columns.get_loc("close")] = np.nan
    with pytest.raises(InputError, match="NaN 'close'"):
        compute_batch(bad)


def test_empty_bars_without_prices_carry_the_previous_close(bars: pd.DataFrame) -> None:
    holed = bars.copy()
    k = int(np.flatnonzero(holed["n_trades"].to_numpy() == 0)[3])
    for c in ("open", "high", "low", "close"):
        holed.iloc[k, holed.columns.get_loc(c)] = np.nan
    pd.testing.assert_frame_equal(compute_batch(holed), compute_batch(bars))


def test_unsorted_index_is_named(bars: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="not sorted"):
        compute_batch(bars.iloc[[1, 0, *range(2, len(bars))]])


def test_duplicated_index_is_named(bars: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="duplicated"):
        compute_batch(bars.iloc[[0, 0, *range(1, len(bars))]])


def test_naive_index_is_rejected(bars: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        compute_batch(bars.tz_localize(None))


def test_non_datetime_index_is_rejected(bars: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="DatetimeIndex"):
        compute_batch(bars.reset_index(drop=True))


def test_unknown_or_mixed_symbols_are_rejected(bars: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="unknown instrument"):
        compute_batch(bars, symbol="XYZ")
    mixed = bars.copy()
    mixed.iloc[0, mixed.columns.get_loc("symbol")] = "WIN"
    with pytest.raises(InputError, match="several symbols"):
        compute_batch(mixed)


def test_misaligned_broker_lists_are_named(bars: pd.DataFrame) -> None:
    bad = bars.copy()
    cells = bad["broker_sold"].to_numpy().copy()
    cells[3] = np.append(cells[3], 1)
    bad["broker_sold"] = cells
    with pytest.raises(InputError, match="broker_sold"):
        compute_batch(bad)


def test_broker_column_without_lists_is_a_schema_error(bars: pd.DataFrame) -> None:
    bad = bars.copy()
    bad["broker_ids"] = "x"
    with pytest.raises(SchemaError, match="broker_ids"):
        compute_batch(bad)


def test_no_bars_give_an_empty_frame_with_the_65_columns(bars: pd.DataFrame) -> None:
    out = compute_batch(bars.iloc[:0], symbol="WDO")
    assert list(out.columns) == list(FEATURE_NAMES) and len(out) == 0


def test_fewer_bars_than_any_window_give_nan_not_errors(bars: pd.DataFrame) -> None:
    out = compute_batch(bars.iloc[:3])
    assert out.shape == (3, 65)
    assert np.isnan(out["vol_10"]).all() and np.isfinite(out["signed_volume"]).all()


def test_bars_read_back_from_parquet_compute_the_same(bars: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    bars.to_parquet(path)
    again = pd.read_parquet(path)
    pd.testing.assert_frame_equal(compute_batch(again), compute_batch(bars))
