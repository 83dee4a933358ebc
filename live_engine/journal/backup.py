"""Consistent snapshots of the journal under ``var/backups/``; the oldest beyond ``keep`` are deleted.

A backup is a copy for people (inspection, disaster): recovery always reads the journal itself, and
deleting every backup changes nothing for a restart.

- SQLite: the online backup API copies one consistent state of the database (writers keep going) to
  ``<mode>-journal-<UTC stamp>.db``, a journal that ``Journal.open`` or ``sqlite3`` can read.
- PostgreSQL: every table as JSON, read in one REPEATABLE READ transaction, to ``...-<stamp>.json``.

Each is written under a temporary name, fsynced, then renamed: a backup file is whole or absent.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from live_engine.journal import models as m
from live_engine.journal.sql import fsync_path, utc_stamp
from quantumtrader.errors import InputError

if TYPE_CHECKING:
    from live_engine.journal.journal import Journal
    from quantumtrader.config import Settings

__all__ = ["backup", "backup_dir", "backups"]


def backup_dir(settings: Settings) -> Path:
    """``<var>/backups``: where the engine's snapshots go."""
    return settings.var_dir / "backups"


def _prefix(journal: Journal) -> str:
    return f"{journal.mode}-journal-"


def backups(journal: Journal, dest_dir: Path) -> list[Path]:
    """This journal's mode's backups in ``dest_dir``, oldest first (the stamp sorts as time does)."""
    if not dest_dir.is_dir():
        return []
    return sorted(p for p in dest_dir.iterdir()
                  if p.name.startswith(_prefix(journal)) and p.suffix in (".db", ".json"))


def _sqlite_copy(journal: Journal, tmp: Path) -> None:
    raw = journal.engine.raw_connection()
    try:
        dst = sqlite3.connect(tmp)
        try:
            raw.driver_connection.backup(dst)  # one consistent state, even while the engine writes
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file, no -wal beside it
        finally:
            dst.close()
    finally:
        raw.close()


def _json_value(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def _pg_dump(journal: Journal, tmp: Path) -> None:
    with journal.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        tables = {name: [{k: _json_value(v) for k, v in row._mapping.items()}
                         for row in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
                  for name, t in ((n, m.Base.metadata.tables[n]) for n in m.TABLES)}
    doc = {"format": "quantumtrader-journal-backup", "schema_version": m.SCHEMA_VERSION, "mode": journal.mode,
           "tables": tables}
    tmp.write_text(json.dumps(doc, sort_keys=True, default=str), encoding="utf-8")


def backup(journal: Journal, dest_dir: Path, keep: int) -> Path:
    """Write a snapshot of ``journal`` into ``dest_dir`` and keep only the newest ``keep``; returns its path."""
    if keep < 1:
        raise InputError(f"backup keep={keep}: keep at least 1 snapshot (live.journal.backup_keep)")
    dest_dir.mkdir(parents=True, exist_ok=True)
    sqlite = journal.engine.dialect.name == "sqlite"
    final = dest_dir / f"{_prefix(journal)}{utc_stamp()}{'.db' if sqlite else '.json'}"
    tmp = dest_dir / f".{final.name}.tmp"
    try:
        (_sqlite_copy if sqlite else _pg_dump)(journal, tmp)
        fsync_path(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_path(dest_dir)
    for old in backups(journal, dest_dir)[:-keep]:
        old.unlink()
    return final
