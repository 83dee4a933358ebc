"""kill -9 of a real ``qtml ingest`` at any point leaves every day with trades and bars consistent:
either the bars are the bars of the day's trades, or the day is marked incomplete and the next
ingest repairs it. The kill lands at the ingest's test pause points (``market.append.PAUSE_ENV``):
after a day is marked, after the trades of a batch are written, after the bars are written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "market"))
from ingest_samples import DAY, NEXT_DAY, trades_frame

from market.append import PAUSE_ENV
from market.bars import build_bars
from market.brokers import BrokerRegistry
from market.lake import Lake, bars_dataset
from market.loaders import write_profit_export

REPO = Path(__file__).resolve().parents[2]
QTML = Path(sys.executable).with_name("qtml")
BARS = bars_dataset("time:60s")


def _env(root: Path, pause: str | None = None) -> dict[str, str]:
    env = {**os.environ, "QT_ROOT": str(root), "QT_LOGGING__LEVEL": "WARNING", "GX_ANALYTICS_ENABLED": "false"}
    env.pop(PAUSE_ENV, None)
    if pause:
        env[PAUSE_ENV] = pause
    return env


def _qtml_ingest(path: Path, root: Path) -> None:
    proc = subprocess.run([str(QTML), "ingest", str(path), "--symbol", "WDO"], env=_env(root), cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def _kill_at(path: Path, root: Path, point: str) -> None:
    proc = subprocess.Popen([str(QTML), "ingest", str(path), "--symbol", "WDO"], env=_env(root, point), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 600
    for line in proc.stderr:  # wait for the pause line, then kill -9
        if f"ingest paused at {point}" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _consistent_days(lake: Lake) -> list[date]:
    """Days whose stored bars are exactly the bars of their stored trades."""
    out = []
    for day in lake.days("trades", "WDO"):
        trades = lake.read_day("trades", "WDO", day)
        expected = build_bars(trades, None, spec="time:60s", symbol="WDO", large_trade_qty=10)
        if lake.day_path(BARS, "WDO", day).exists():
            try:
                pd.testing.assert_frame_equal(lake.read_day(BARS, "WDO", day), expected, check_freq=False)
            except AssertionError:
                continue
            out.append(day)
    return out


@pytest.mark.parametrize("point", ["after_mark", "after_trades", "after_bars"])
def test_kill_9_while_appending_leaves_every_day_consistent_or_repairable(tmp_path: Path, point: str) -> None:
    both = pd.concat([trades_frame(400), trades_frame(300, NEXT_DAY)], ignore_index=True)
    is_morning = pd.Series([i < 200 if i < 400 else i < 550 for i in range(len(both))])  # half of each day
    morning, afternoon = tmp_path / "am.csv", tmp_path / "pm.csv"
    write_profit_export(both[is_morning], morning, BrokerRegistry())
    write_profit_export(both[~is_morning], afternoon, BrokerRegistry())
    lake = Lake(tmp_path / "var" / "lake")
    _qtml_ingest(morning, tmp_path)

    _kill_at(afternoon, tmp_path, point)

    marked = lake.incomplete_days("WDO")
    assert marked, "the kill should have interrupted a rewrite"
    # every day is either consistent now or marked for repair
    assert set(lake.days("trades", "WDO")) <= set(_consistent_days(lake)) | set(marked)
    _qtml_ingest(afternoon, tmp_path)  # repairs, then appends what is missing

    assert lake.incomplete_days("WDO") == []
    assert set(_consistent_days(lake)) == {DAY, NEXT_DAY}
    assert [len(lake.read_day("trades", "WDO", d)) for d in (DAY, NEXT_DAY)] == [400, 300]
    assert not list(lake.root.rglob("*.tmp"))
