"""Sessions from the calendar, end to end: the gates quarantine non-trading days and out-of-hours
prints with their rule, the bars follow each day's hours, and a user-defined instrument ingests."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from market.calendar import session_bounds
from market.ingest import ingest_frames, ingest_path
from market.lake import Lake, bars_dataset
from quantumtrader.config import Settings, load_settings
from tests.market.ingest_samples import trades_frame

REPO = Path(__file__).resolve().parents[2]
BARS = bars_dataset("time:60s")


def _lenient(tmp_path: Path) -> Settings:
    return load_settings(root=tmp_path, market={"validation": {"max_bad_share": 1.0}})


def _day_trades(day: date, n: int = 50, first_id: int = 1, symbol: str = "WDO") -> pd.DataFrame:
    return trades_frame(n, day=day, first_id=first_id, symbol=symbol)


NON_TRADING = {date(2026, 1, 10): "Saturday", date(2026, 2, 16): "Carnival", date(2026, 4, 3): "Good Friday",
               date(2026, 4, 21): "Tiradentes", date(2026, 5, 1): "May 1", date(2026, 6, 4): "Corpus Christi",
               date(2030, 1, 7): "a Monday in the future"}


def test_prints_on_non_trading_days_are_quarantined_as_not_trading_day(tmp_path: Path) -> None:
    settings = _lenient(tmp_path)
    strays = [_day_trades(day, 4, first_id=1000 + 10 * k) for k, day in enumerate(NON_TRADING)]
    trades = pd.concat([_day_trades(date(2026, 1, 5)), *strays], ignore_index=True)
    report = ingest_frames(trades, None, symbol="WDO", settings=settings, check=False)
    lake = Lake(settings.lake_root)
    assert lake.days("trades", "WDO") == [date(2026, 1, 5)]
    assert lake.days(BARS, "WDO") == [date(2026, 1, 5)], "no stray print may become a session"
    for day, what in NON_TRADING.items():
        q = lake.read_day("quarantine/trades", "WDO", day)
        assert len(q) == 4 and set(q["rule"]) == {"not_trading_day"}, what
    assert sum(o.rule_counts.get("not_trading_day", 0) for o in report.trades) == 4 * len(NON_TRADING)


def test_prints_outside_that_days_hours_are_quarantined_as_session_hours(tmp_path: Path) -> None:
    settings = _lenient(tmp_path)
    ash = date(2026, 2, 18)  # Ash Wednesday: WDO opens at 13:00
    open_ts, close_ts = session_bounds(ash, "WDO")
    assert open_ts == pd.Timestamp("2026-02-18 16:00", tz="UTC")  # 13:00 in São Paulo
    morning = pd.Timestamp("2026-02-18 13:30", tz="UTC")  # 10:30 local: a normal day's hours, not this one's
    trades = _day_trades(ash, 40)
    early = _day_trades(ash, 3, first_id=500)
    early["ts"] = morning + pd.to_timedelta(np.arange(3), unit="s")
    trades = pd.concat([early, trades], ignore_index=True)
    ingest_frames(trades, None, symbol="WDO", settings=settings, check=False)
    lake = Lake(settings.lake_root)
    q = lake.read_day("quarantine/trades", "WDO", ash)
    assert sorted(q["trade_id"]) == [500, 501, 502] and set(q["rule"]) == {"session_hours"}
    bars = lake.read_day(BARS, "WDO", ash)
    assert bars["session_open_ts"].iloc[0] == open_ts and bars["session_close_ts"].iloc[0] == close_ts
    assert len(bars) == 330  # 13:00-18:30 in 60 s bars
    assert bars.index[0] == open_ts + pd.Timedelta(minutes=1)


def test_bars_follow_the_hours_of_their_day(tmp_path: Path) -> None:
    settings = _lenient(tmp_path)
    old, new = date(2018, 6, 4), date(2026, 1, 5)  # 09:00-18:00 (2018), 09:00-18:30 (2026)
    early = date(2013, 6, 3)  # before the calendar's old fixed 2015 bound
    trades = pd.concat([_day_trades(early, first_id=500), _day_trades(old), _day_trades(new, first_id=100)],
                       ignore_index=True)
    ingest_frames(trades, None, symbol="WDO", settings=settings)
    lake = Lake(settings.lake_root)
    assert lake.days("trades", "WDO") == [early, old, new]
    assert len(lake.read_day(BARS, "WDO", early)) == 540
    assert len(lake.read_day(BARS, "WDO", old)) == 540
    assert len(lake.read_day(BARS, "WDO", new)) == 570


CME_CONFIG = """
market:
  symbol: MES
  instruments:
    MES:
      description: Micro E-mini S&P 500 (CME Globex)
      tick_size: 0.25
      point_value: 5.0
      fee_per_contract: 0.62
      currency: USD
      calendar: CMES
      timezone: America/Chicago
      roll: quarterly
      hours:
        - {valid_from: 2010-01-01, open: "17:00", close: "16:00"}
"""


def _cme_file(path: Path) -> None:
    """A generic CSV of MES prints: Sunday evening (Monday's session), Monday, and a Saturday print."""
    rows = []
    stamps = [*pd.date_range("2026-01-04 17:05", periods=30, freq="7min", tz="America/Chicago"),
              *pd.date_range("2026-01-05 08:30", periods=30, freq="3min", tz="America/Chicago"),
              pd.Timestamp("2026-01-10 10:00", tz="America/Chicago")]
    for i, ts in enumerate(stamps):
        rows.append({"ts": ts.tz_convert("UTC").isoformat(), "symbol": "MESH26", "trade_id": i + 1,
                     "price": 6000.0 + 0.25 * (i % 9), "qty": 1 + i % 4, "buyer": -1, "seller": -1,
                     "trade_type": 2 + i % 2})
    pd.DataFrame(rows).to_csv(path, index=False)


def test_a_user_defined_cme_instrument_ingests_through_the_cli(tmp_path: Path) -> None:
    cfg = tmp_path / "cme.yaml"
    cfg.write_text(CME_CONFIG, encoding="utf-8")
    src = tmp_path / "mes.csv"
    _cme_file(src)
    env = {**os.environ, "QT_CONFIG": str(cfg), "QT_ROOT": str(tmp_path),
           "QT_STORES__FEAST_REPO": str(REPO / "feature_repo"),
           "QT_MARKET__VALIDATION__MAX_BAD_SHARE": "0.05"}
    proc = subprocess.run([sys.executable, "-m", "quantumtrader.cli", "ingest", str(src), "--symbol", "mesh26"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lake = Lake(tmp_path / "var" / "lake")
    assert lake.days("trades", "MES") == [date(2026, 1, 5)]  # Sunday-evening prints are Monday's
    assert len(lake.read_day("trades", "MES", date(2026, 1, 5))) == 60
    q = lake.read_day("quarantine/trades", "MES", date(2026, 1, 10))
    assert list(q["rule"]) == ["not_trading_day"]
    bars = lake.read_day(BARS, "MES", date(2026, 1, 5))
    assert bars["session_open_ts"].iloc[0] == pd.Timestamp("2026-01-04 23:00", tz="UTC")  # 17:00 CST Sunday
    assert bars["session_close_ts"].iloc[0] == pd.Timestamp("2026-01-05 22:00", tz="UTC")  # 16:00 CST Monday
    assert len(bars) == 23 * 60


def test_ingest_path_files_a_lowercase_symbol_under_its_family(tmp_path: Path) -> None:
    settings = _lenient(tmp_path)
    src = tmp_path / "wdo.parquet"
    _day_trades(date(2026, 1, 5)).to_parquet(src)
    report = ingest_path(src, symbol="wdo", settings=settings)
    assert report.symbol == "WDO"
    assert Lake(settings.lake_root).symbols("trades") == ["symbol=WDO".removeprefix("symbol=")]
