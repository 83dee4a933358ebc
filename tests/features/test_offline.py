"""The feature Parquet: row layout, partitions, spec-hash bookkeeping and the feature suite (no Feast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features import offline
from features.spec import FEATURE_NAMES, SpecMismatchError, spec_hash
from market.lake import Lake
from quantumtrader.config import Settings
from quantumtrader.errors import DataValidationError, InputError, SchemaError

CREATED = pd.Timestamp("2026-02-01 10:00", tz="UTC")


def frame(n: int = 5, start: str = "2026-01-05 12:01", value: float = 0.5) -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq="60s", tz="UTC", name="close_ts")
    return pd.DataFrame(value, index=index, columns=list(FEATURE_NAMES))


def test_rows_carry_symbol_microsecond_utc_times_spec_hash_and_features_in_order() -> None:
    table = offline.feature_table(frame(), "WDO", created=CREATED)
    assert list(table.columns) == [*offline.KEY_COLUMNS, *FEATURE_NAMES]
    assert str(table["event_timestamp"].dtype) == "datetime64[us, UTC]"
    assert str(table["created_timestamp"].dtype) == "datetime64[us, UTC]"
    assert set(table["spec_hash"]) == {spec_hash()}
    assert (table[list(FEATURE_NAMES)].dtypes == "float64").all()
    assert table["event_timestamp"].iloc[0] == pd.Timestamp("2026-01-05 12:01", tz="UTC")


@pytest.mark.parametrize(
    ("mutate", "error", "words"),
    [
        (lambda f: f.drop(columns=["rsi_14"]), SchemaError, "missing columns ['rsi_14']"),
        (lambda f: f.assign(extra=1.0), SchemaError, "unexpected columns ['extra']"),
        (lambda f: f.tz_localize(None), SchemaError, "timezone-aware"),
        (lambda f: f.iloc[::-1], InputError, "strictly increasing"),
        (lambda f: f.assign(vol_10=np.inf), InputError, "infinite values in columns ['vol_10']"),
    ],
)
def test_bad_feature_frames_are_rejected_with_the_problem_named(mutate, error, words) -> None:
    with pytest.raises(error) as info:
        offline.feature_table(mutate(frame()), "WDO", created=CREATED)
    assert words in str(info.value)


def test_days_are_partitioned_by_the_sao_paulo_session_date(tmp_path: Path) -> None:
    # 02:30 UTC on the 6th is still the 5th in Sao Paulo (UTC-3).
    index = pd.DatetimeIndex(["2026-01-05 20:59", "2026-01-06 02:30", "2026-01-06 12:01"], tz="UTC")
    table = offline.feature_table(pd.DataFrame(1.0, index=index, columns=list(FEATURE_NAMES)), "WDO", created=CREATED)
    lake = Lake(tmp_path)
    days = offline.write_feature_table(lake, table, "WDO")
    assert [d.isoformat() for d in days] == ["2026-01-05", "2026-01-06"]
    first = pq.read_table(lake.day_path(offline.FEATURES_DATASET, "WDO", days[0]))
    assert first.num_rows == 2
    assert str(first.schema.field("event_timestamp").type) == "timestamp[us, tz=UTC]"


def test_stored_summary_counts_rows_per_spec_hash_and_the_time_range(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    assert offline.stored_summary(tmp_path).rows == 0
    offline.write_feature_table(lake, offline.feature_table(frame(3), "WDO", created=CREATED), "WDO")
    stale = offline.feature_table(frame(2, start="2026-01-06 12:01"), "WIN", created=CREATED)
    stale["spec_hash"] = "old"
    offline.write_feature_table(lake, stale, "WIN")
    summary = offline.stored_summary(tmp_path)
    assert summary.rows == 5
    assert summary.hashes == {spec_hash(): 3, "old": 2}
    assert summary.first == pd.Timestamp("2026-01-05 12:01", tz="UTC")
    assert summary.last == pd.Timestamp("2026-01-06 12:02", tz="UTC")
    with pytest.raises(SpecMismatchError, match="'old'"):
        offline.check_stored_spec(summary)


def test_compute_without_bars_is_an_input_error_that_says_to_ingest(settings: Settings) -> None:
    with pytest.raises(InputError, match="run ingest first"):
        offline.compute_features(settings, "WDO")


def test_after_warmup_drops_the_first_bars_of_each_symbol() -> None:
    a = offline.feature_table(frame(5), "WDO", created=CREATED)
    b = offline.feature_table(frame(3), "WIN", created=CREATED)
    kept = offline.after_warmup(pd.concat([a, b], ignore_index=True), warmup=2)
    assert kept["symbol"].tolist() == ["WDO", "WDO", "WDO", "WIN"]


def test_feature_suite_covers_every_feature_once() -> None:
    import json

    suite = json.loads(
        Path(offline.__file__).resolve().parents[1].joinpath("expectations", "features.json").read_text()
    )
    ranged = [e["kwargs"]["column"] for e in suite["expectations"] if e["type"] == "expect_column_values_to_be_between"]
    assert ranged == list(FEATURE_NAMES)


def test_feature_suite_passes_clean_rows_and_names_out_of_range_and_null_rules() -> None:
    n = offline.MAX_WARMUP + 200
    good = offline.feature_table(frame(n), "WDO", created=CREATED)
    assert offline.validate_features(good)["rows"] == 200

    bad = good.copy()
    bad.loc[n - 1, "rsi_14"] = 250.0  # RSI lives in [0, 100]
    bad.loc[n - 10 :, "ret_1"] = np.nan  # 10 of 200 rows past warm-up: 5 % > 1 %
    with pytest.raises(DataValidationError) as info:
        offline.validate_features(bad)
    message = str(info.value)
    assert "out_of_range on rsi_14 (1 rows)" in message
    assert "null_after_warmup on ret_1" in message


def test_feature_suite_ignores_nan_inside_the_warmup() -> None:
    table = offline.feature_table(frame(offline.MAX_WARMUP + 50), "WDO", created=CREATED)
    table.loc[: offline.MAX_WARMUP - 1, "vol_ratio_100_200"] = np.nan
    assert offline.validate_features(table)["success"]
