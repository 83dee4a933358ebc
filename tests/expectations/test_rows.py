"""The rows run_suite quarantines are the rows Great Expectations itself lists (COMPLETE result),
whether they come from expectations.rows or from GE's second pass."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

import expectations.rows as rows_module
from expectations.runner import _COMPLETE, _batch_definition, _suite, run_suite
from market.checks import trades_checks

DAY = date(2026, 1, 5)


def _ge_rows(name: str, frame: pd.DataFrame) -> dict[str, set[int]]:
    """rule -> positions of its unexpected rows, from one GE COMPLETE validation of the whole suite."""
    result = _batch_definition().get_batch(batch_parameters={"dataframe": frame}).validate(
        _suite(name), result_format=_COMPLETE)
    out: dict[str, set[int]] = {}
    for r in result.results:
        listed = (r.result or {}).get("unexpected_index_list")
        if not r.success and listed is not None:
            out.setdefault(r.expectation_config.meta["rule"], set()).update(int(i) for i in listed)
    return out


def _suite_rows(result) -> dict[str, set[int]]:  # type: ignore[no-untyped-def]
    out: dict[str, set[int]] = {}
    for position, rules in result.row_rules.items():
        for rule in rules.split(";"):
            out.setdefault(rule, set()).add(int(position))
    return out


def _broken_trades(seed: int, n: int = 3000) -> pd.DataFrame:
    """Checked trades of one session with every kind of bad value, boundaries included."""
    rng = np.random.default_rng(seed)
    open_ts = pd.Timestamp("2026-01-05 12:00", tz="UTC")
    frame = pd.DataFrame({
        "ts": open_ts + pd.to_timedelta(np.sort(rng.integers(0, 8 * 3600 * 1000, n)), unit="ms"),
        "symbol": "WDO",
        "trade_id": np.arange(1, n + 1, dtype="int64"),
        "price": 5000.0 + rng.integers(-20, 20, n) * 0.5,
        "qty": rng.integers(1, 20, n).astype("int64"),
        "fin_volume": 0.0,
        "buyer": rng.integers(1, 50, n).astype("int32"),
        "seller": rng.integers(1, 50, n).astype("int32"),
        "trade_type": rng.choice([1, 2, 3, 4, 13, 32], n).astype("int8"),
    })
    frame["fin_volume"] = frame["price"] * frame["qty"] * 10.0
    pick = lambda k: rng.choice(n, k, replace=False)  # noqa: E731
    frame.loc[pick(40), "price"] = rng.choice([0.0, -1.0, np.nan, np.inf, 1e12, 1e13], 40)
    frame.loc[pick(40), "qty"] = rng.choice([0, -1], 40)
    frame.loc[pick(30), "trade_type"] = rng.choice([-1, 0, 14, 99], 30)
    frame.loc[pick(30), "trade_id"] = -1
    frame.loc[pick(30), "trade_id"] = frame["trade_id"].iloc[5]  # repeats
    frame.loc[pick(30), "fin_volume"] = rng.choice([np.nan, 0.0, 1.0, 1e15, 1e16], 30)
    frame.loc[pick(20), "symbol"] = rng.choice(["WINFUT", None], 20)
    frame.loc[pick(20), "ts"] = pd.NaT
    frame.loc[pick(20), "ts"] = open_ts - pd.Timedelta(hours=3)  # before the open
    return trades_checks(frame, DAY, "WDO")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quarantined_trades_rows_are_the_rows_ge_lists(seed: int) -> None:
    frame = _broken_trades(seed)
    result = run_suite("trades", frame)
    expected = _ge_rows("trades", frame)
    assert len(expected) >= 8  # the frame breaks most rules
    assert _suite_rows(result) == expected
    counts = {o.rule: 0 for o in result.outcomes}
    for o in result.outcomes:
        counts[o.rule] += o.unexpected_count
    assert all(counts[rule] >= len(rows) for rule, rows in expected.items())


def test_rows_come_from_numpy_when_it_agrees_with_ge(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = rows_module.unexpected_rows

    def spy(expectation_type, kwargs, frame):  # type: ignore[no-untyped-def]
        out = real(expectation_type, kwargs, frame)
        calls.append("numpy" if out is not None else "ge")
        return out

    monkeypatch.setattr(rows_module, "unexpected_rows", spy)
    frame = _broken_trades(4)
    assert _suite_rows(run_suite("trades", frame)) == _ge_rows("trades", frame)
    assert calls.count("numpy") >= 10


def test_a_disagreement_falls_back_to_ge_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong(expectation_type, kwargs, frame):  # type: ignore[no-untyped-def]
        return np.array([0, 1, 2], dtype=np.int64)  # claims rows for rules GE passes, too

    monkeypatch.setattr(rows_module, "unexpected_rows", wrong)
    frame = _broken_trades(5)
    assert _suite_rows(run_suite("trades", frame)) == _ge_rows("trades", frame)


def test_unsupported_arguments_are_left_to_ge() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, np.nan, 5.0]})
    assert rows_module.unexpected_rows("expect_column_values_to_be_between",
                                       {"column": "x", "max_value": 3, "mostly": 0.5}, frame) is None
    assert rows_module.unexpected_rows("expect_column_values_to_be_unique", {"column": "x"}, frame) is None
    small = pd.DataFrame({"x": np.array([1, 5], dtype="int32")})  # GE maps such columns row by row
    assert rows_module.unexpected_rows("expect_column_values_to_be_between",
                                       {"column": "x", "max_value": 3}, small) is None
    got = rows_module.unexpected_rows("expect_column_values_to_be_between",
                                      {"column": "x", "min_value": 1, "max_value": 3, "strict_min": True}, frame)
    assert got is not None and got.tolist() == [0, 3]  # NaN is missing, not unexpected


def test_bars_rows_with_a_rule_ge_lists_itself() -> None:
    bars = pd.DataFrame({
        "close_ts": pd.to_datetime(["2026-01-05 12:01", "2026-01-05 12:01", "2026-01-05 12:03"], utc=True),
        "open": [10.0, 10.0, 10.0], "high": [11.0, 11.0, 11.0], "low": [9.0, 9.0, 9.0], "close": [10.0, 10.0, 10.0],
        "volume": [5, -1, 5], "n_trades": [2, 2, 2], "buy_vol": [2, 2, 9], "sell_vol": [3, 3, 3],
        "ohlc_breaks": np.zeros(3, dtype="int8"), "aggressor_excess": [0, 0, 7],
    })
    result = run_suite("bars", bars)
    assert _suite_rows(result) == _ge_rows("bars", bars)
    assert _suite_rows(result)["unique_close_ts"] == {0, 1}
