"""The suites in expectations/ and the one function that runs them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from expectations.runner import load_suite_json, run_suite, suite_path
from market.schemas import KNOWN_TRADE_TYPES, TRADE_SCHEMA


@pytest.mark.parametrize("name", ["trades", "book", "bars"])
def test_every_expectation_names_a_rule_and_a_reason(name: str) -> None:
    suite = json.loads(suite_path(name).read_text(encoding="utf-8"))
    assert suite["name"] == name and suite["expectations"]
    for e in suite["expectations"]:
        assert e["type"].startswith("expect_") and e["meta"]["rule"] and e["meta"]["reason"]


def test_trades_suite_knows_exactly_the_schema_trade_types_and_columns() -> None:
    suite = json.loads(load_suite_json("trades"))
    by_rule = {e["meta"]["rule"]: e for e in suite["expectations"]}
    assert set(by_rule["known_trade_type"]["kwargs"]["value_set"]) == set(KNOWN_TRADE_TYPES)
    assert by_rule["schema_columns"]["kwargs"]["column_set"] == list(TRADE_SCHEMA)


def _bars(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({
        "close_ts": pd.date_range("2026-01-05 12:01", periods=n, freq="60s", tz="UTC"),
        "open": np.full(n, 10.0), "high": np.full(n, 11.0), "low": np.full(n, 9.0), "close": np.full(n, 10.0),
        "volume": np.full(n, 5), "n_trades": np.full(n, 2), "buy_vol": np.full(n, 2), "sell_vol": np.full(n, 3),
        "ohlc_breaks": np.zeros(n, dtype="int8"), "aggressor_excess": np.zeros(n, dtype="int64"),
    }, index=pd.RangeIndex(100, 100 + n))


def test_run_suite_reports_failing_rows_by_position_with_joined_rules() -> None:
    bars = _bars()
    bars.loc[101, ["volume", "aggressor_excess"]] = [-1, 4]  # fails two rules
    bars.loc[103, "ohlc_breaks"] = 2

    result = run_suite("bars", bars)

    assert not result.success and result.table_failures == ()
    assert result.row_rules.to_dict() == {1: "aggressor_volume_within_volume;volume_nonnegative", 3: "ohlc_consistent"}
    assert "volume must be >= 0" in result.row_reasons[1]
    assert result.rule_counts()["volume_nonnegative"] == 1
    summary = result.to_dict()
    assert summary["bad_rows"] == 2 and summary["great_expectations_version"].startswith("1.")


def test_clean_frame_passes() -> None:
    result = run_suite("bars", _bars())
    assert result.success and result.n_bad_rows == 0 and result.n_rows == 5


def test_missing_column_is_a_table_failure_naming_rule_and_column() -> None:
    result = run_suite("bars", _bars().drop(columns=["volume"]))
    assert "schema_columns" in result.table_failures
    message = result.table_failure_message()
    assert "schema_columns" in message and "volume" in message


SENTINELS = {  # every loader sentinel (market/loaders/parsing.py) and the trades rule that must reject it
    "ts": (pd.NaT, "ts_not_null"),
    "price": (np.nan, "price_positive_finite"),
    "qty": (-1, "qty_positive"),
    "trade_type": (-1, "known_trade_type"),
    "trade_id": (-1, "trade_id_valid"),
    "fin_volume": (np.nan, "fin_volume_positive_finite"),
    "symbol": ("WINFUT", "symbol_matches"),  # a foreign ticker is kept raw by the loaders
}


@pytest.mark.parametrize("column", list(SENTINELS))
def test_trades_suite_rejects_each_loader_sentinel_alone(column: str) -> None:
    from datetime import date

    from market.calendar import session_bounds
    from market.checks import trades_checks

    day = date(2026, 1, 5)
    open_ts, _ = session_bounds(day, "WDO")
    n = 6
    price = np.full(n, 5000.0)
    qty = np.full(n, 2, dtype="int64")
    trades = pd.DataFrame({
        "ts": open_ts + pd.to_timedelta(np.arange(1, n + 1), unit="min"), "symbol": "WDO",
        "trade_id": np.arange(1, n + 1, dtype="int64"), "price": price, "qty": qty,
        "fin_volume": price * qty * 10.0, "buyer": np.full(n, 3, dtype="int32"),
        "seller": np.full(n, 8, dtype="int32"), "trade_type": np.full(n, 2, dtype="int8"),
    })
    value, rule = SENTINELS[column]
    trades.loc[3, column] = value

    result = run_suite("trades", trades_checks(trades, day, "WDO"))

    assert list(result.row_rules.index) == [3] and rule in result.row_rules[3].split(";")
