"""Ingest pipeline: validation gates on purposely broken input, quarantine, threshold, schema errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_samples import DAY, NEXT_DAY, book_frame, trades_frame

from market.brokers import BrokerRegistry
from market.gates import gate_day
from market.ingest import ingest_frames, ingest_path, plan_files, split_days
from market.lake import VALIDATION, Lake, bars_dataset
from market.loaders import write_profit_export
from quantumtrader.config import Settings, load_settings
from quantumtrader.errors import DataValidationError, InputError, SchemaError

BARS = bars_dataset("time:60s")


def lenient(tmp_path: Path, share: float = 0.5) -> Settings:
    return load_settings(root=tmp_path, market={"validation": {"max_bad_share": share}})


def test_clean_session_writes_trades_book_bars_and_validation_results(settings: Settings) -> None:
    trades = trades_frame(300)
    report = ingest_frames(trades, book_frame(trades), symbol="WDO", settings=settings)

    lake = Lake(settings.lake_root)
    assert report.days == [DAY] and report.quarantined == 0
    assert lake.read_day("trades", "WDO", DAY)["trade_id"].tolist() == trades["trade_id"].tolist()
    assert len(lake.read_day("book", "WDO", DAY)) == 300
    bars = lake.read_day(BARS, "WDO", DAY)
    assert bars["volume"].sum() == trades["qty"].sum()
    assert bars["bid_px_1"].notna().any()  # the book reached the bars
    result = lake.read_json("trades", "WDO", DAY, VALIDATION)
    assert result is not None and result["passed"] and result["bad_rows"] == 0 and result["suite"] == "trades"
    assert lake.read_json(BARS, "WDO", DAY, VALIDATION) is not None
    assert lake.days("quarantine/trades", "WDO") == []


def _nan_price(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "price"] = np.nan


def _inf_price(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "price"] = np.inf


def _zero_price(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "price"] = 0.0


def _negative_qty(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "qty"] = -5


def _duplicate_ids(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "trade_id"] = 1  # trade 1 is the first row: the repeats are quarantined, not it


def _unknown_type(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "trade_type"] = 99


def _out_of_order(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "ts"] = df.loc[rows, "ts"] - pd.Timedelta(minutes=30)


def _outside_session(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "ts"] = df.loc[rows, "ts"] + pd.Timedelta(hours=10)  # after 18:00 local, same local day


def _missing_ts(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "ts"] = pd.NaT


def _nan_fin_volume(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "fin_volume"] = np.nan


def _negative_fin_volume(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "fin_volume"] = -df.loc[rows, "fin_volume"]


def _fin_volume_without_point_value(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "fin_volume"] = df.loc[rows, "price"] * df.loc[rows, "qty"]  # R$ 10 per point forgotten


def _foreign_symbol(df: pd.DataFrame, rows: list[int]) -> None:
    df.loc[rows, "symbol"] = "WINFUT"


BROKEN = {
    "nan price": (_nan_price, "price_positive_finite"),
    "infinite price": (_inf_price, "price_positive_finite"),
    "zero price": (_zero_price, "price_positive_finite"),
    "negative qty": (_negative_qty, "qty_positive"),
    "duplicate trade ids": (_duplicate_ids, "unique_trade_id"),
    "unknown trade type": (_unknown_type, "known_trade_type"),
    "out of order": (_out_of_order, "ts_ordered"),
    "outside session hours": (_outside_session, "session_hours"),
    "missing timestamp": (_missing_ts, "ts_not_null"),
    "nan financial volume": (_nan_fin_volume, "fin_volume_positive_finite"),
    "negative financial volume": (_negative_fin_volume, "fin_volume_positive_finite"),
    "financial volume not price x qty x point value": (_fin_volume_without_point_value, "fin_volume_consistent"),
    "foreign symbol": (_foreign_symbol, "symbol_matches"),
}
BAD_ROWS = [50, 51, 120, 121, 122, 190]  # 6 of 200 rows = 3 %, above the default 1 %


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_trades_fail_the_run_naming_the_rule_and_are_quarantined(settings: Settings, case: str) -> None:
    breaker, rule = BROKEN[case]
    trades = trades_frame(200)
    breaker(trades, BAD_ROWS)

    with pytest.raises(DataValidationError) as info:
        ingest_frames(trades, None, symbol="WDO", settings=settings)

    message = str(info.value)
    assert rule in message and "3.00%" in message and "max_bad_share 1.00%" in message
    lake = Lake(settings.lake_root)
    assert lake.days("trades", "WDO") == []  # nothing written for the rejected day
    quarantine = lake.read_day("quarantine/trades", "WDO", DAY)
    assert sorted(quarantine["trade_id"]) == sorted(trades_frame(200).loc[BAD_ROWS, "trade_id"].tolist()) or (
        case == "duplicate trade ids"
    )
    assert len(quarantine) == len(BAD_ROWS)
    assert all(rule in r.split(";") for r in quarantine["rule"])
    assert quarantine["reason"].str.len().gt(0).all()
    result = lake.read_json("quarantine/trades", "WDO", DAY, VALIDATION)
    assert result is not None and not result["passed"] and result["rule_counts"][rule] == len(BAD_ROWS)


def test_below_threshold_bad_rows_are_quarantined_and_the_rest_written(tmp_path: Path) -> None:
    settings = lenient(tmp_path)
    trades = trades_frame(200)
    _negative_qty(trades, [10])
    _unknown_type(trades, [10, 11])

    report = ingest_frames(trades, None, symbol="WDO", settings=settings)

    lake = Lake(settings.lake_root)
    written = lake.read_day("trades", "WDO", DAY)
    assert len(written) == 198 and not written["trade_id"].isin([11, 12]).any()
    raw = lake.read_day("quarantine/trades", "WDO", DAY)
    assert list(raw.columns) == [*trades.columns, "rule", "reason"]  # original columns, then rule and reason
    quarantine = raw.set_index("trade_id")
    assert quarantine.loc[11, "rule"] == "known_trade_type;qty_positive"
    assert "quantity must be > 0" in quarantine.loc[11, "reason"]
    assert quarantine.loc[12, "rule"] == "known_trade_type"
    assert report.quarantined == 2 and report.trades_written == 198


def test_book_gates_quarantine_crossed_unordered_and_negative_levels(tmp_path: Path) -> None:
    settings = lenient(tmp_path)
    trades = trades_frame(100)
    book = book_frame(trades)
    book.loc[5, "bid_px_1"] = book.loc[5, "ask_px_1"] + 1.0  # crossed
    book.loc[6, "bid_px_3"] = book.loc[6, "bid_px_2"] + 0.5  # bids not descending
    book.loc[7, "ask_px_2"] = book.loc[7, "ask_px_1"]  # asks not strictly ascending
    book.loc[8, "ask_qty_4"] = -1

    ingest_frames(trades, book, symbol="WDO", settings=settings)

    q = Lake(settings.lake_root).read_day("quarantine/book", "WDO", DAY)
    rules = dict(zip(q["ts"], q["rule"], strict=True))
    assert "book_not_crossed" in rules[book.loc[5, "ts"]]
    assert rules[book.loc[6, "ts"]] == "bid_levels_ordered"
    assert rules[book.loc[7, "ts"]] == "ask_levels_ordered"
    assert rules[book.loc[8, "ts"]] == "book_qty_nonnegative"


def test_crossed_book_above_threshold_fails_naming_the_rule(settings: Settings) -> None:
    trades = trades_frame(100)
    book = book_frame(trades)
    book.loc[:9, "ask_px_1"] = book.loc[:9, "bid_px_1"]
    with pytest.raises(DataValidationError, match="book_not_crossed"):
        ingest_frames(trades, book, symbol="WDO", settings=settings)


def test_inconsistent_bars_are_caught_by_the_bars_suite(tmp_path: Path) -> None:
    close = pd.date_range("2026-01-05 12:01", periods=4, freq="60s", tz="UTC", name="close_ts")
    bars = pd.DataFrame(
        {"open": [10.0, 10, 10, 10], "high": [11.0, 9, 11, 11], "low": [9.0, 9, 9, 9], "close": [10.0, 9, 10, 10],
         "volume": [5, 5, 5, 5], "n_trades": [2, 2, 2, 2], "buy_vol": [2, 2, 4, 2], "sell_vol": [3, 3, 4, 3]},
        index=close,
    )
    outcome, good = gate_day(Lake(tmp_path), BARS, "WDO", DAY, bars, max_bad_share=0.6, index=True)
    q = Lake(tmp_path).read_day(f"quarantine/{BARS}", "WDO", DAY)
    assert q["rule"].tolist() == ["ohlc_consistent", "aggressor_volume_within_volume"]
    assert q["close_ts"].tolist() == [close[1], close[2]]
    assert outcome.passed and list(good.index) == [close[0], close[3]]


def test_missing_column_raises_schema_error_naming_it(settings: Settings) -> None:
    with pytest.raises(SchemaError, match=r"missing columns \['price'\]"):
        ingest_frames(trades_frame(10).drop(columns="price"), None, symbol="WDO", settings=settings)


def test_wrong_column_type_raises_schema_error_naming_it(settings: Settings) -> None:
    trades = trades_frame(10)
    trades["qty"] = "many"
    with pytest.raises(SchemaError, match="column 'qty' cannot be read as int64"):
        ingest_frames(trades, None, symbol="WDO", settings=settings)


def test_empty_frame_and_empty_file_raise(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="non_empty"):
        ingest_frames(trades_frame(0), None, symbol="WDO", settings=settings)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        ingest_path(empty, symbol="WDO", settings=settings)


def test_truncated_parquet_raises_naming_the_file(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "trades.parquet"
    pq.write_table(pa.Table.from_pandas(trades_frame(500), preserve_index=False), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"trades\.parquet: rule 'readable_file': truncated or corrupt Parquet"):
        ingest_path(path, symbol="WDO", settings=settings)
    assert Lake(settings.lake_root).days("trades", "WDO") == []


def test_truncated_profit_export_quarantines_the_cut_row(tmp_path: Path) -> None:
    settings = lenient(tmp_path)
    path = tmp_path / "wdo.csv"
    write_profit_export(trades_frame(200), path, BrokerRegistry())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])  # cut inside the last row

    report = ingest_path(path, symbol="WDO", settings=settings)

    q = Lake(settings.lake_root).read_day("quarantine/trades", "WDO", DAY)
    assert report.trades_written == 199 and len(q) == 1
    assert "qty_positive" in q["rule"].iloc[0] or "known_trade_type" in q["rule"].iloc[0]


def test_profit_export_is_ingested_with_bars(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "wdo.csv"
    trades = pd.concat([trades_frame(150), trades_frame(120, NEXT_DAY, first_id=1)], ignore_index=True)
    write_profit_export(trades, path, BrokerRegistry())
    report = ingest_path(path, symbol="WDO", settings=settings)
    lake = Lake(settings.lake_root)
    assert report.days == [DAY, NEXT_DAY]
    assert [len(lake.read_day("trades", "WDO", d)) for d in report.days] == [150, 120]
    assert lake.days(BARS, "WDO") == [DAY, NEXT_DAY]


def test_a_day_split_across_two_files_is_merged_not_replaced(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    trades = trades_frame(300)
    pq.write_table(pa.Table.from_pandas(trades.iloc[:180], preserve_index=False), folder / "WDO_a.parquet")
    pq.write_table(pa.Table.from_pandas(trades.iloc[180:], preserve_index=False), folder / "WDO_b.parquet")

    report = ingest_path(folder, symbol="WDO", settings=settings)

    written = Lake(settings.lake_root).read_day("trades", "WDO", DAY)
    assert written["trade_id"].tolist() == trades["trade_id"].tolist()
    assert report.trades_written == 300 and len(report.trades) == 1


def test_simulator_folder_plan_puts_book_first(tmp_path: Path) -> None:
    for kind in ("trades", "book"):
        (tmp_path / kind).mkdir()
        for d in ("2026-01-05", "2026-01-06"):
            (tmp_path / kind / f"WDO_{d}.parquet").write_bytes(b"x")
    plan = plan_files(tmp_path, "WDO")
    assert [k for k, _ in plan] == ["book", "book", "trades", "trades"]
    with pytest.raises(InputError, match="no such file"):
        plan_files(tmp_path / "nope", "WDO")


def test_split_days_regroups_chunks_by_local_session_date() -> None:
    both = pd.concat([trades_frame(10), trades_frame(7, NEXT_DAY)], ignore_index=True)
    chunks = [both.iloc[:4], both.iloc[4:13], both.iloc[13:]]
    days = [(d, len(f)) for d, f in split_days(chunks, "WDO")]
    assert days == [(DAY, 10), (NEXT_DAY, 7)]


def test_qtml_ingest_prints_a_summary_of_a_simulator_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from quantumtrader.cli import app
    from quantumtrader.config import get_settings

    folder = tmp_path / "sim"
    (folder / "trades").mkdir(parents=True)
    (folder / "book").mkdir()
    trades = trades_frame(120)
    pq.write_table(pa.Table.from_pandas(trades, preserve_index=False), folder / "trades" / "WDO_2026-01-05.parquet")
    pq.write_table(pa.Table.from_pandas(book_frame(trades), preserve_index=False),
                   folder / "book" / "WDO_2026-01-05.parquet")
    monkeypatch.setenv("QT_ROOT", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["ingest", str(folder), "--symbol", "WDO"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    assert "120 written of 120 read" in result.output
    lake = Lake(tmp_path / "var" / "lake")
    assert lake.days("book", "WDO") == [DAY] and lake.days(BARS, "WDO") == [DAY]
