"""A second file for a day is appended (merged, de-duplicated), never silently replacing the first;
``replace=True`` (``qtml ingest --replace``) keeps replacing on request."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "market"))
from ingest_samples import DAY, NEXT_DAY, trades_frame

from market.bars import build_bars
from market.brokers import BrokerRegistry
from market.ingest import ingest_path
from market.lake import Lake, bars_dataset
from market.loaders import write_profit_export
from quantumtrader.config import Settings, load_settings

BARS = bars_dataset("time:60s")


def _export(trades: pd.DataFrame, path: Path) -> Path:
    write_profit_export(trades, path, BrokerRegistry())
    return path


def _bars_match_trades(lake: Lake, day: object) -> None:
    trades = lake.read_day("trades", "WDO", day)  # type: ignore[arg-type]
    expected = build_bars(trades, None, spec="time:60s", symbol="WDO", large_trade_qty=10)
    stored = lake.read_day(BARS, "WDO", day)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(stored, expected, check_freq=False)


def test_second_file_for_a_day_appends(settings: Settings, tmp_path: Path) -> None:
    day = trades_frame(400)
    morning, afternoon = _export(day.iloc[:250], tmp_path / "am.csv"), _export(day.iloc[250:], tmp_path / "pm.csv")
    lake = Lake(settings.lake_root)

    ingest_path(morning, symbol="WDO", settings=settings)
    report = ingest_path(afternoon, symbol="WDO", settings=settings)

    stored = lake.read_day("trades", "WDO", DAY)
    assert stored["trade_id"].tolist() == day["trade_id"].tolist()
    assert stored["ts"].is_monotonic_increasing
    assert lake.read_day(BARS, "WDO", DAY)["volume"].sum() == day["qty"].sum()  # bars rebuilt from all trades
    _bars_match_trades(lake, DAY)
    assert report.appended == {DAY: (150, 0)}
    assert report.append_lines() == [f"{DAY}: appended 150 new trades (0 duplicates)"]
    assert lake.incomplete_days("WDO") == []


def test_overlapping_exports_keep_each_trade_id_once(settings: Settings, tmp_path: Path) -> None:
    day = trades_frame(400)
    lake = Lake(settings.lake_root)
    ingest_path(_export(day.iloc[:300], tmp_path / "am.csv"), symbol="WDO", settings=settings)

    report = ingest_path(_export(day, tmp_path / "full.csv"), symbol="WDO", settings=settings)

    stored = lake.read_day("trades", "WDO", DAY)
    assert len(stored) == 400 and stored["trade_id"].is_unique
    assert report.appended == {DAY: (100, 300)}
    assert report.summary()["duplicate_trades"] == 300 and report.quarantined == 0


def test_reingesting_a_file_with_bad_rows_changes_no_byte(tmp_path: Path) -> None:
    settings = load_settings(root=tmp_path, market={"validation": {"max_bad_share": 0.5}})
    trades = pd.concat([trades_frame(200), trades_frame(100, NEXT_DAY)], ignore_index=True)
    trades.loc[10, "qty"] = 0  # quarantined: qty_positive
    trades.loc[20, "trade_id"] = -1  # no usable trade id: recognised by its full row
    trades.loc[30, "trade_id"] = trades.loc[29, "trade_id"]  # a repeat inside the file: unique_trade_id
    path = _export(trades, tmp_path / "wdo.csv")
    lake_root = settings.lake_root

    ingest_path(path, symbol="WDO", settings=settings)
    snapshot = {p: p.read_bytes() for p in sorted(lake_root.rglob("*.parquet"))}
    report = ingest_path(path, symbol="WDO", settings=settings)

    assert {p: p.read_bytes() for p in sorted(lake_root.rglob("*.parquet"))} == snapshot
    assert report.appended == {DAY: (0, 200), NEXT_DAY: (0, 100)}
    assert len(Lake(lake_root).read_day("quarantine/trades", "WDO", DAY)) == 3


def test_earlier_quarantine_rows_survive_an_append(tmp_path: Path) -> None:
    settings = load_settings(root=tmp_path, market={"validation": {"max_bad_share": 0.5}})
    day = trades_frame(400)
    day.loc[[5, 300], "trade_type"] = 99
    ingest_path(_export(day.iloc[:250], tmp_path / "am.csv"), symbol="WDO", settings=settings)
    ingest_path(_export(day.iloc[250:], tmp_path / "pm.csv"), symbol="WDO", settings=settings)

    lake = Lake(settings.lake_root)
    quarantine = lake.read_day("quarantine/trades", "WDO", DAY)
    assert sorted(quarantine["trade_id"]) == [6, 301]
    assert len(lake.read_day("trades", "WDO", DAY)) == 398
    result = lake.read_json("trades", "WDO", DAY, "_validation.json")
    assert result is not None and result["rows"] == 400 and result["bad_rows"] == 2


def test_replace_drops_what_the_day_held(settings: Settings, tmp_path: Path) -> None:
    day = trades_frame(400)
    lake = Lake(settings.lake_root)
    ingest_path(_export(day, tmp_path / "full.csv"), symbol="WDO", settings=settings)

    report = ingest_path(_export(day.iloc[:120], tmp_path / "am.csv"), symbol="WDO", settings=settings,
                         replace=True)

    assert lake.read_day("trades", "WDO", DAY)["trade_id"].tolist() == list(range(1, 121))
    _bars_match_trades(lake, DAY)
    assert report.appended == {}


def test_qtml_ingest_says_what_it_appended_and_replace_replaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from quantumtrader.cli import app
    from quantumtrader.config import get_settings

    day = trades_frame(300)
    am, full = _export(day.iloc[:100], tmp_path / "am.csv"), _export(day, tmp_path / "full.csv")
    monkeypatch.setenv("QT_ROOT", str(tmp_path))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(app, ["ingest", str(am), "--symbol", "WDO"]).exit_code == 0
        appended = runner.invoke(app, ["ingest", str(full), "--symbol", "WDO"])
        replaced = runner.invoke(app, ["ingest", str(am), "--symbol", "WDO", "--replace"])
    finally:
        get_settings.cache_clear()

    assert appended.exit_code == 0, appended.output
    assert f"{DAY}: appended 200 new trades (100 duplicates)" in appended.output
    assert replaced.exit_code == 0 and "appended" not in replaced.output
    stored = Lake(tmp_path / "var" / "lake").read_day("trades", "WDO", DAY)
    assert np.array_equal(stored["trade_id"].to_numpy(), np.arange(1, 101))
