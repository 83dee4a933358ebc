"""Bad input that used to slip through or crash the ingest: sentinel trade ids, bad financial volume,
foreign tickers, chunks without any timestamp, empty and truncated files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from ingest_samples import DAY, NEXT_DAY, trades_frame

from market.brokers import BrokerRegistry
from market.gates import gate_day
from market.ingest import UNDATED_DAY, ingest_file, ingest_frames, ingest_path, split_days
from market.lake import Lake
from market.loaders import write_profit_export
from quantumtrader.config import Settings, load_settings
from quantumtrader.errors import DataValidationError, InputError

TZ = "America/Sao_Paulo"


def lenient(tmp_path: Path, share: float = 0.5) -> Settings:
    return load_settings(root=tmp_path, market={"validation": {"max_bad_share": share}})


def profit_export(tmp_path: Path, trades: pd.DataFrame, edit: dict[int, dict[int, str]] | None = None) -> Path:
    """``trades`` as a Profit export; ``edit`` replaces fields: data row -> {field position: text}."""
    path = tmp_path / "wdo.csv"
    write_profit_export(trades, path, BrokerRegistry())
    lines = path.read_text(encoding="utf-8").splitlines()
    for row, fields in (edit or {}).items():
        values = lines[1 + row].split(",")
        for pos, text in fields.items():
            values[pos] = text
        lines[1 + row] = ",".join(values)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def quarantine(settings: Settings, day: date = DAY) -> pd.DataFrame:
    return Lake(settings.lake_root).read_day("quarantine/trades", "WDO", day)


# ---- trade id sentinel ----------------------------------------------------------------------------
def test_a_lone_sentinel_trade_id_is_quarantined_as_trade_id_valid(tmp_path: Path) -> None:
    settings = lenient(tmp_path)
    trades = trades_frame(200)
    trades.loc[40, "trade_id"] = -1  # the only -1: no repeat, so unique_trade_id cannot catch it

    report = ingest_frames(trades, None, symbol="WDO", settings=settings)

    q = quarantine(settings)
    assert q["trade_id"].tolist() == [-1] and q["rule"].tolist() == ["trade_id_valid"]
    assert "sentinel" in q["reason"].iloc[0]
    assert report.trades_written == 199


def test_several_sentinel_trade_ids_are_invalid_not_repeats(tmp_path: Path) -> None:
    settings = lenient(tmp_path)
    trades = trades_frame(200)
    trades.loc[[40, 41, 90], "trade_id"] = -1

    ingest_frames(trades, None, symbol="WDO", settings=settings)

    assert quarantine(settings)["rule"].tolist() == ["trade_id_valid"] * 3


def test_unreadable_trade_number_in_a_profit_export_is_quarantined(tmp_path: Path) -> None:
    settings = lenient(tmp_path)
    path = profit_export(tmp_path, trades_frame(200), {70: {3: "n/a"}})

    report = ingest_path(path, symbol="WDO", settings=settings)

    q = quarantine(settings)
    assert len(q) == 1 and q["rule"].iloc[0] == "trade_id_valid" and report.trades_written == 199


# ---- financial volume ---------------------------------------------------------------------------
def test_missing_vol_in_a_profit_export_is_quarantined(tmp_path: Path) -> None:
    settings = lenient(tmp_path)
    path = profit_export(tmp_path, trades_frame(200), {70: {6: ""}, 71: {6: "abc"}})

    ingest_path(path, symbol="WDO", settings=settings)

    q = quarantine(settings)
    assert len(q) == 2 and q["fin_volume"].isna().all()
    assert (q["rule"] == "fin_volume_positive_finite").all()


def test_fin_volume_within_the_one_percent_tolerance_passes(tmp_path: Path) -> None:
    trades = trades_frame(100)
    trades.loc[:9, "fin_volume"] = (trades.loc[:9, "fin_volume"] * 1.009).round()  # rounding, small drift
    trades.loc[10, "fin_volume"] *= 1.02  # 2 %: outside the tolerance

    outcome, good = gate_day(Lake(tmp_path), "trades", "WDO", DAY, trades, max_bad_share=0.5)

    assert outcome.rule_counts == {"fin_volume_consistent": 1} and len(good) == 99


# ---- symbol -------------------------------------------------------------------------------------
def test_foreign_ticker_in_a_wdo_export_is_quarantined_and_contract_months_map_to_wdo(tmp_path: Path) -> None:
    settings = lenient(tmp_path)
    trades = trades_frame(200)
    trades["symbol"] = "WDOG26"
    trades.loc[30, "symbol"] = "WINFUT"
    trades.loc[31, "symbol"] = "WDOH26"  # another WDO month: the loader files it under the family WDO
    path = profit_export(tmp_path, trades)

    report = ingest_path(path, symbol="WDO", settings=settings)

    q = quarantine(settings)
    assert q["symbol"].tolist() == ["WINFUT"] and q["rule"].tolist() == ["symbol_matches"]
    written = Lake(settings.lake_root).read_day("trades", "WDO", DAY)
    assert report.trades_written == 199 and (written["symbol"] == "WDO").all()


# ---- chunks without any timestamp ---------------------------------------------------------------
def test_split_days_holds_leading_undated_chunks_for_the_first_dated_day() -> None:
    trades = pd.concat([trades_frame(10), trades_frame(6, NEXT_DAY)], ignore_index=True)
    trades.loc[:3, "ts"] = pd.NaT
    chunks = [trades.iloc[:2], trades.iloc[2:4], trades.iloc[4:12], trades.iloc[12:]]

    days = [(d, len(f), int(f["ts"].isna().sum())) for d, f in split_days(chunks, "WDO")]

    assert days == [(DAY, 10, 4), (NEXT_DAY, 6, 0)]


def test_split_days_puts_a_stream_without_timestamps_on_the_undated_day() -> None:
    trades = trades_frame(8)
    trades["ts"] = pd.Series(pd.NaT, index=trades.index, dtype="datetime64[ns, UTC]")

    days = [(d, len(f)) for d, f in split_days([trades.iloc[:5], trades.iloc[5:]], "WDO")]

    assert days == [(UNDATED_DAY, 8)]


def _garble_dates(n: int) -> dict[int, dict[int, str]]:
    return {row: {1: "yesterday"} for row in range(n)}


def test_a_first_chunk_of_unreadable_timestamps_is_quarantined_not_raised(tmp_path: Path) -> None:
    settings = lenient(tmp_path)
    path = profit_export(tmp_path, trades_frame(200), _garble_dates(50))

    report = ingest_file(path, symbol="WDO", settings=settings, chunk_rows=50)

    q = quarantine(settings)
    assert len(q) == 50 and (q["rule"] == "ts_not_null").all() and q["ts"].isna().all()
    assert report.trades_written == 150 and report.days == [DAY]


def test_too_many_unreadable_timestamps_fail_the_run_by_threshold_naming_the_rule(
    settings: Settings, tmp_path: Path
) -> None:
    path = profit_export(tmp_path, trades_frame(200), _garble_dates(50))

    report = ingest_file(path, symbol="WDO", settings=settings, chunk_rows=50)

    with pytest.raises(DataValidationError, match=r"50 of 200 rows \(25.00%\).*ts_not_null \(50\)"):
        report.raise_for_failures()


def test_a_file_without_any_readable_timestamp_is_quarantined_on_the_undated_day(
    settings: Settings, tmp_path: Path
) -> None:
    path = profit_export(tmp_path, trades_frame(120), _garble_dates(120))

    with pytest.raises(DataValidationError, match=r"trades WDO 1970-01-01: 120 of 120 rows.*ts_not_null"):
        ingest_path(path, symbol="WDO", settings=settings)

    assert len(quarantine(settings, UNDATED_DAY)) == 120
    assert Lake(settings.lake_root).days("trades", "WDO") == []


# ---- empty and truncated files ------------------------------------------------------------------
def test_empty_and_header_only_files_say_empty_file(settings: Settings, tmp_path: Path) -> None:
    header_only = tmp_path / "wdo.csv"
    write_profit_export(trades_frame(0), header_only, BrokerRegistry())
    with pytest.raises(InputError, match=r"empty file: .*wdo\.csv"):
        ingest_path(header_only, symbol="WDO", settings=settings)

    folder = tmp_path / "sim"
    (folder / "trades").mkdir(parents=True)
    (folder / "book").mkdir()
    write_profit_export(trades_frame(10), folder / "trades" / "WDO_a.csv", BrokerRegistry())
    (folder / "book" / "WDO_a.parquet").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty file: .*WDO_a\.parquet"):
        ingest_path(folder, symbol="WDO", settings=settings)


def test_a_truncated_compressed_export_names_the_file_and_the_problem(settings: Settings, tmp_path: Path) -> None:
    import gzip

    path = profit_export(tmp_path, trades_frame(5000))
    packed = gzip.compress(path.read_bytes())
    cut = tmp_path / "wdo.csv.gz"
    cut.write_bytes(packed[: len(packed) // 2])

    with pytest.raises(InputError, match=r"wdo\.csv\.gz: rule 'readable_file': .*truncated"):
        ingest_path(cut, symbol="WDO", settings=settings)
