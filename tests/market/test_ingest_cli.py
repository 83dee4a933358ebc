"""``qtml ingest`` on foreign files, run as the user runs it: the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ingest_samples import DAY, trades_frame

from market.brokers import BrokerRegistry
from market.lake import Lake
from market.loaders import write_profit_export
from market.loaders.sides import NEWEST_FIRST, tick_rule

REPO = Path(__file__).resolve().parents[2]
QTML = REPO / ".venv" / "bin" / "qtml"


def qtml(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``qtml ingest ARGS`` with every store under ``tmp_path/var``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env.update({"QT_STORES__VAR_DIR": str(tmp_path / "var"), "NO_COLOR": "1", "COLUMNS": "250"})
    return subprocess.run([str(QTML), "ingest", *map(str, args)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)


def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "var" / "lake")


def vendor_csv(path: Path, n: int = 40, tz: str = "America/Sao_Paulo") -> Path:
    """A vendor's CSV: ``DateTime,Price,Volume`` with naive local times in ``tz`` and no side column."""
    trades = trades_frame(n)
    local = trades["ts"].dt.tz_convert(tz).dt.strftime("%d/%m/%Y %H:%M:%S.%f").str[:-3]
    rows = [f"{t},{p},{q}" for t, p, q in zip(local, trades["price"], trades["qty"], strict=True)]
    path.write_text("\n".join(["DateTime,Price,Volume", *rows]) + "\n", encoding="utf-8")
    return path


def assert_one_error_line(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert proc.stderr.rstrip().endswith(errors[0])
    for needle in needles:
        assert needle in errors[0]
    return errors[0]


def test_a_vendor_csv_ingests_with_a_column_map_a_zone_and_the_tick_rule(tmp_path: Path) -> None:
    path = vendor_csv(tmp_path / "vendor.csv", tz="America/New_York")
    proc = qtml(tmp_path, path, "--column-map", "ts=datetime,price=PRICE,qty=volume", "--tz", "America/New_York",
                "--side-rule", "tick")
    assert proc.returncode == 0, proc.stderr
    assert "read as" not in proc.stderr + proc.stdout  # the zone was given: nothing assumed
    written = lake(tmp_path).read_day("trades", "WDO", DAY)
    expected = trades_frame(40)
    assert list(written["ts"]) == list(expected["ts"])
    assert written["trade_type"].tolist() == tick_rule(expected["price"].to_numpy()).tolist()
    source = json.loads((lake(tmp_path).day_dir("trades", "WDO", DAY) / "_source.json").read_text())
    entry = source["files"][0]
    assert source["sides_inferred"] is True
    assert (entry["tz"], entry["tz_assumed"], entry["side_rule"]) == ("America/New_York", False, "tick")
    assert entry["column_map"] == {"ts": "datetime", "price": "PRICE", "qty": "volume"}


def test_a_newest_first_profit_export_ingests_and_the_assumed_zone_is_named(tmp_path: Path) -> None:
    trades = trades_frame(60)
    path = tmp_path / "profit.csv"
    write_profit_export(trades, path, BrokerRegistry())
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([header, *rows[::-1]]) + "\n", encoding="utf-8")

    proc = qtml(tmp_path, path)

    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line and "read as" in line]
    assert len(warnings) == 1 and "America/Sao_Paulo" in warnings[0] and "--tz" in warnings[0]
    assert "read as America/Sao_Paulo" in proc.stdout  # and in the summary the CLI prints
    written = lake(tmp_path).read_day("trades", "WDO", DAY)
    assert written["trade_id"].tolist() == trades["trade_id"].tolist()
    assert set(written["trade_type"]) == {2, 3}  # the export's own sides, not inferred
    source = json.loads((lake(tmp_path).day_dir("trades", "WDO", DAY) / "_source.json").read_text())
    assert source["files"][0]["order"] == NEWEST_FIRST and source["files"][0]["tz_assumed"] is True


BAD_INPUTS = {
    "unknown_zone": (["--tz", "Mars/Olympus"], ["'Mars/Olympus' is not an IANA time zone"]),
    "unknown_name": (["--column-map", "when=DateTime,price=Price,qty=Volume"],
                     ["['when']", "not our column names", "'DateTime'", "'fin_volume'"]),
    "header_not_in_file": (["--column-map", "ts=Time,price=Price,qty=Volume"],
                           ["['Time']", "not headers of the file", "['DateTime', 'Price', 'Volume']"]),
    "malformed_map": (["--column-map", "ts:DateTime"], ["--column-map item 'ts:DateTime' is not OURS=HEADER"]),
    "unknown_side_rule": (["--side-rule", "lee-ready"], ["--side-rule 'lee-ready' is not one of none, tick"]),
    "no_map_for_a_vendor_file": ([], ["no column for ['ts', 'qty']", "ts=DateTime,price=Price,qty=Volume"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_options_fail_with_one_line_naming_the_problem(tmp_path: Path, case: str) -> None:
    args, needles = BAD_INPUTS[case]
    proc = qtml(tmp_path, vendor_csv(tmp_path / "vendor.csv"), *args)
    assert_one_error_line(proc, *needles)
    assert not lake(tmp_path).days("trades", "WDO")


@pytest.mark.parametrize(("name", "content"), [
    ("trades.csv", bytes(np.random.default_rng(11).integers(0, 256, 8192, dtype=np.uint8))),
    ("trades.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)),
])
def test_binary_garbage_is_one_line_not_a_csv_or_parquet_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    line = assert_one_error_line(qtml(tmp_path, path), f"{path}: not a CSV or Parquet file (")
    message = line.split(" (full log: ")[0]  # the pointer to the JSON log is not part of the message
    assert len(message) < 200 and "column" not in message
