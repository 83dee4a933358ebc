"""qtml clean (what goes, what never goes, dry run) and qtml check (each item PASS / WARN / FAIL for real)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zmq
from tiny_model import contract, register, train_booster

from ops import check
from ops.clean import clean, parse_age
from quantumtrader.config import Settings, load_settings
from quantumtrader.errors import InputError

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _file(path: Path, age_days: float, size: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    t = NOW.timestamp() - age_days * 86400
    os.utime(path, (t, t))
    return path


def test_clean_removes_old_logs_reports_caches_and_backups_and_nothing_else(settings: Settings) -> None:
    var = settings.var_dir
    backups = settings.backup_dir
    old = [_file(var / "logs" / "ui-mlflow.log", 40, 1000),
           _file(settings.reports_dir / "2026-10-01" / "daily.html", 40),
           _file(var / "sim" / "WDO_2026-10-01.csv", 45), _file(backups / "qt-backup-20261001T000000.0Z.tar.gz", 31),
           _file(backups / "paper-journal-20261001T000000.0Z.db", 31)]
    new = [_file(var / "logs" / "today.log", 1), _file(backups / "qt-backup-20261202T000000.0Z.tar.gz", 1)]
    never = [_file(settings.lake_root / "trades" / "WDO" / "2026-10-01.parquet", 400),
             _file(var / "journal" / "paper.db", 400), _file(var / "mlflow" / "mlflow.db", 400),
             _file(var / "mlflow" / "artifacts" / "1" / "model.txt", 400), _file(var / "promotions.db", 400),
             _file(var / "engine" / "bundle-cache" / "model.txt", 400), _file(var / "logs" / "qt.jsonl", 400)]
    dry = clean(settings, parse_age("30d"), now=NOW, dry_run=True)
    assert sorted(p for p, _ in dry.removed) == sorted(old) and all(p.exists() for p in old)
    done = clean(settings, parse_age("30d"), now=NOW)
    assert sorted(p for p, _ in done.removed) == sorted(old) and done.bytes == 1000 + 4 * 100
    assert not any(p.exists() for p in old) and all(p.exists() for p in new + never)
    assert not (settings.reports_dir / "2026-10-01").exists()  # the empty folder went too


@pytest.mark.parametrize(("text", "expected"), [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)),
                                                 ("2w", timedelta(weeks=2)), ("90m", timedelta(minutes=90))])
def test_ages_read_as_a_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["30x", "30", "d", "0d", "-3d", "30 days"])
def test_a_bad_age_is_one_line(text: str) -> None:
    with pytest.raises(InputError, match="--older-than") as err:
        parse_age(text)
    assert "\n" not in str(err.value)


def _item(settings: Settings, name: str) -> check.Item:
    return next(i for i in check.run_checks(settings) if i.name == name)


def test_disk_space_fails_below_the_minimum(tmp_path: Path) -> None:
    ok = load_settings(root=tmp_path, ops={"min_free_disk_gb": 0, "warn_free_disk_gb": 0})
    assert check.check_disk(ok).status == check.PASS
    assert check.check_disk(load_settings(root=tmp_path, ops={"warn_free_disk_gb": 1e9})).status == check.WARN
    assert check.check_disk(load_settings(root=tmp_path, ops={"min_free_disk_gb": 1e9})).status == check.FAIL


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_zmq_ingress_must_be_bindable(tmp_path: Path) -> None:
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    s = load_settings(root=tmp_path, live={"feeds": {"default": "zmq", "ingress_endpoint": endpoint}})
    assert check.check_feed(s).status == check.PASS
    ctx = zmq.Context.instance()
    holder = ctx.socket(zmq.PULL)
    holder.bind(endpoint)
    try:
        item = check.check_feed(s)
        assert item.status == check.WARN and "already bound" in item.detail
    finally:
        holder.close(0)


def test_a_replay_feed_needs_lake_sessions(tmp_path: Path) -> None:
    s = load_settings(root=tmp_path, live={"feeds": {"default": "replay"}})
    item = check.check_feed(s)
    assert item.status == check.FAIL and "0 WDO sessions" in item.detail


def test_the_champion_must_load_as_the_engine_loads_it(settings: Settings) -> None:
    assert check.check_champion(settings).status == check.FAIL
    register(settings, train_booster(), contract(), alias="champion")
    item = check.check_champion(settings)
    assert item.status == check.PASS and "version 1" in item.detail


def test_risk_limits_that_cannot_work_together_fail(tmp_path: Path) -> None:
    assert check.check_risk(load_settings(root=tmp_path)).status == check.PASS
    bad = load_settings(root=tmp_path, live={"risk": {"daily_loss_limit": 40_000.0, "account_capital": 30_000.0}})
    item = check.check_risk(bad)
    assert item.status == check.FAIL and "daily_loss_limit" in item.detail


def test_the_clock_is_compared_with_postgresql_when_nothing_local_can_tell(tmp_path: Path, pg_url: str) -> None:
    s = load_settings(root=tmp_path, stores={"journal_db_url": pg_url})
    t0 = time.monotonic()
    item = check._postgres_time(s, 1.0)
    assert item is not None and item.status == check.PASS and "PostgreSQL 127.0.0.1:5432" in item.detail
    assert time.monotonic() - t0 < 10


def test_the_clock_says_unknown_when_nothing_can_tell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no timedatectl, no chronyc
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    item = check.check_clock(load_settings(root=tmp_path))
    assert item.status == check.WARN and item.detail.startswith("unknown")


def test_the_checklist_prints_every_item_and_fails_on_a_fail_line(settings: Settings) -> None:
    items = check.run_checks(settings)
    text = check.render(items, "now")
    assert [i.name for i in items] == ["disk space", "feed", "champion", "risk config", "clock"]
    assert all(f"[{i.status}] {i.name}" in text for i in items) and text.splitlines()[-1].startswith("result: ")
    assert check.exit_code(items) == 1  # no champion here
    assert check.exit_code([check.Item("x", check.WARN, "")]) == 0
    assert check.exit_code([check.Item("x", check.WARN, "")], strict=True) == 1
