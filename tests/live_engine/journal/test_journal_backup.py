"""Backups of the journal: consistent snapshots under var/backups/, the oldest beyond ``keep`` deleted.

A backup is not the recovery path: deleting every backup leaves the journal whole.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from live_engine.journal.backup import backup, backup_dir, backups
from live_engine.journal.journal import Journal
from quantumtrader.config import load_settings
from quantumtrader.errors import InputError


def _trade(j: Journal, i: int) -> None:
    j.record_intent({"client_id": f"QT-{i}", "ts_ns": i, "side": 1, "qty": 1, "kind": "market", "tag": "entry"})
    j.apply_fill({"fill_id": f"QT-{i}-F1", "client_id": f"QT-{i}", "ts_ns": i, "side": 1, "qty": 1,
                  "price": 5000.0, "fee": 1.0, "tag": "entry"}, state={"n": i + 1})


def test_backups_are_consistent_snapshots_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    settings = load_settings(root=tmp_path)
    dest = backup_dir(settings)
    assert dest == settings.var_dir / "backups"
    made = []
    with Journal.for_settings(settings) as j:
        j.record_start("e1", {})
        for i in range(5):
            _trade(j, i)
            made.append(backup(j, dest, keep=3))
        assert backups(j, dest) == made[-3:]  # the two oldest were deleted
        with pytest.raises(InputError, match="keep at least 1"):
            backup(j, dest, keep=0)
    assert sorted(dest.iterdir()) == made[-3:]  # no temporary file left beside them
    for k, path in enumerate(made[-3:], start=3):
        assert path.name.startswith("paper-journal-") and path.suffix == ".db"
        with sqlite3.connect(path) as conn:  # a self-contained SQLite file, readable without the engine
            assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
            assert conn.execute("SELECT count(*) FROM fills").fetchone() == (k,)
        with Journal.open(f"sqlite:///{path}", mode="paper") as copy:  # the journal as it was then
            assert copy.load_state() == {"n": k}


def test_deleting_every_backup_changes_nothing_for_recovery(tmp_path: Path) -> None:
    settings = load_settings(root=tmp_path)
    with Journal.for_settings(settings) as j:
        j.record_start("e1", {})
        _trade(j, 0)
        backup(j, backup_dir(settings), keep=2)
        _trade(j, 1)
    for p in backup_dir(settings).iterdir():
        p.unlink()
    with Journal.for_settings(settings) as j:
        assert len(j.fills()) == 2 and j.load_state() == {"n": 2}


@pytest.mark.postgres
def test_a_postgresql_journal_is_backed_up_as_json_of_every_table(pg_url: str, tmp_path: Path) -> None:
    with Journal.open(pg_url, mode="live") as j:
        j.record_start("e1", {"a": 1})
        _trade(j, 0)
        _trade(j, 1)
        first = backup(j, tmp_path / "backups", keep=1)
        second = backup(j, tmp_path / "backups", keep=1)
    assert not first.exists() and second.name.startswith("live-journal-") and second.suffix == ".json"
    doc = json.loads(second.read_text())
    assert doc["mode"] == "live" and set(doc["tables"]) == {"meta", "starts", "orders", "fills", "state"}
    assert [f["fill_id"] for f in doc["tables"]["fills"]] == ["QT-0-F1", "QT-1-F1"]
    assert doc["tables"]["meta"][0]["mode"] == "live" and doc["tables"]["state"][0]["key"] == "n"
