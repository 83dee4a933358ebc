"""``qtml backup``: one archive of everything a restore needs, ``<backup_dir>/qt-backup-<UTC stamp>.tar.gz``.

Members (``manifest.json`` lists each with its size and SHA-256):

- ``journal/<mode>.db`` — the engine's journal, snapshotted by :func:`live_engine.journal.backup.backup` (SQLite
  online backup; a PostgreSQL journal is dumped as JSON by the same function, ``journal/<mode>.json``),
- ``mlflow/mlflow.db`` — the MLflow tracking and registry database (SQLite online backup),
- ``mlflow/artifacts-index.json`` — every file under the artifact root with its size and SHA-256, and
  ``mlflow/artifacts/...`` — the files themselves (``ops.backup_artifacts``; the registered bundles live there),
- ``promotions.db`` — the append-only promotions table,
- ``kb.db`` — the research knowledge base (``stores.kb_db_url``: papers, ideas, experiments, results),
- ``config/<file>.yaml`` (the YAML file in use) and ``config/resolved.yaml`` (every value, passwords masked).

A store on a server (PostgreSQL MLflow or promotions) is not copied: the manifest lists it under ``skipped``
with the reason, and the operator backs it up with the server's tools (``pg_dump``). The archive is written under
a temporary name and renamed: it is whole or absent. The oldest archives beyond ``ops.backup_keep`` are deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantumtrader.errors import InputError

if TYPE_CHECKING:
    from quantumtrader.config import Settings

__all__ = ["FORMAT", "PREFIX", "BackupResult", "archives", "create_backup", "sha256_of", "sqlite_file"]

FORMAT = "quantumtrader-backup"
VERSION = 1
PREFIX = "qt-backup-"
SUFFIX = ".tar.gz"


@dataclass
class BackupResult:
    """What one backup wrote."""

    path: Path
    members: dict[str, dict[str, Any]]
    skipped: dict[str, str] = field(default_factory=dict)
    deleted: list[Path] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return self.path.stat().st_size


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (any driver), None for a server store or an empty URL."""
    from quantumtrader.db import sqlite_path

    return sqlite_path(url) if url else None


def _sqlite_copy(src: Path, dst: Path) -> None:
    """One consistent state of ``src`` (writers may keep going) as a self-contained file."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        source.close()


def archives(backup_dir: Path) -> list[Path]:
    """``qtml backup`` archives in ``backup_dir``, oldest first (the stamp sorts as time does)."""
    if not backup_dir.is_dir():
        return []
    return sorted(p for p in backup_dir.iterdir() if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX))


def _stage_journal(settings: Settings, stage: Path, skipped: dict[str, str]) -> None:
    from live_engine.journal.backup import backup
    from live_engine.journal.journal import Journal

    url = Journal.url_for(settings)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        skipped["journal"] = f"no journal at {path} yet (the engine has not run)"
        return
    with Journal.open(url, mode=settings.live.journal.mode) as journal:
        snap = backup(journal, stage / "journal-tmp", keep=1)
    (stage / "journal").mkdir()
    snap.rename(stage / "journal" / f"{settings.live.journal.mode}{snap.suffix}")
    (stage / "journal-tmp").rmdir()


def _artifact_root(settings: Settings) -> Path | None:
    root = settings.stores.mlflow_artifact_root
    return root if root is not None and root.is_dir() else None


def _stage_mlflow(settings: Settings, stage: Path, skipped: dict[str, str]) -> dict[str, Any]:
    info: dict[str, Any] = {}
    db = sqlite_file(settings.mlflow_tracking_uri)
    if db is None:
        scheme = settings.mlflow_tracking_uri.split("://")[0]
        skipped["mlflow"] = f"{scheme} server store: back it up with its server's tools"
    elif not db.exists():
        skipped["mlflow"] = f"no MLflow database at {db} yet"
    else:
        (stage / "mlflow").mkdir()
        _sqlite_copy(db, stage / "mlflow" / "mlflow.db")
    root = _artifact_root(settings)
    if root is None:
        skipped.setdefault("mlflow_artifacts", "no local artifact root")
        return info
    (stage / "mlflow").mkdir(exist_ok=True)
    index = [{"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_of(p)}
             for p in sorted(root.rglob("*")) if p.is_file()]
    (stage / "mlflow" / "artifacts-index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    info["artifact_root_uri"] = root.resolve().as_uri()
    info["artifacts_included"] = settings.ops.backup_artifacts
    return info


def _stage_sqlite(name: str, url: str, what: str, target: Path, skipped: dict[str, str]) -> None:
    db = sqlite_file(url)
    if db is None:
        skipped[name] = "server store: back it up with its server's tools"
    elif not db.exists():
        skipped[name] = f"no {what} at {db} yet"
    else:
        _sqlite_copy(db, target)


def _stage_promotions(settings: Settings, stage: Path, skipped: dict[str, str]) -> None:
    _stage_sqlite("promotions", settings.stores.promotions_db_url or "", "promotions database",
                  stage / "promotions.db", skipped)
    _stage_sqlite("kb", settings.stores.kb_db_url or "", "knowledge base", stage / "kb.db", skipped)


def _stage_config(settings: Settings, stage: Path) -> None:
    import yaml

    from quantumtrader.config import _yaml_file
    from quantumtrader.logging import redact

    (stage / "config").mkdir()
    src = _yaml_file()
    src = src if src.is_absolute() else settings.root / src
    if src.is_file():
        (stage / "config" / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    dump = redact(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False))
    (stage / "config" / "resolved.yaml").write_text(dump, encoding="utf-8")


def _members(stage: Path) -> dict[str, dict[str, Any]]:
    return {p.relative_to(stage).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256_of(p)}
            for p in sorted(stage.rglob("*")) if p.is_file()}


def create_backup(settings: Settings, dest_dir: Path | None = None, *, keep: int | None = None) -> BackupResult:
    """Write one archive into ``dest_dir`` (``ops.backup_dir``); keep the newest ``keep`` (``ops.backup_keep``)."""
    from live_engine.journal.sql import fsync_path, utc_stamp

    dest = dest_dir or settings.backup_dir
    keep = settings.ops.backup_keep if keep is None else keep
    if keep < 1:
        raise InputError(f"backup keep={keep}: keep at least 1 archive (ops.backup_keep)")
    dest.mkdir(parents=True, exist_ok=True)
    skipped: dict[str, str] = {}
    stamp = utc_stamp()
    with tempfile.TemporaryDirectory(prefix=".qt-backup-", dir=dest) as tmp:
        stage = Path(tmp) / "stage"
        stage.mkdir()
        _stage_journal(settings, stage, skipped)
        mlflow = _stage_mlflow(settings, stage, skipped)
        _stage_promotions(settings, stage, skipped)
        _stage_config(settings, stage)
        members = _members(stage)
        manifest = {"format": FORMAT, "version": VERSION, "created_utc": stamp, "journal_mode":
                    settings.live.journal.mode, "mlflow": mlflow, "members": members, "skipped": skipped}
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        final = dest / f"{PREFIX}{stamp}{SUFFIX}"
        part = Path(tmp) / final.name
        with tarfile.open(part, "w:gz") as tar:
            tar.add(stage / "manifest.json", arcname="manifest.json")
            for name in members:
                tar.add(stage / name, arcname=name)
            root = _artifact_root(settings)
            if root is not None and settings.ops.backup_artifacts:
                tar.add(root, arcname="mlflow/artifacts")
        fsync_path(part)
        os.replace(part, final)
    fsync_path(dest)
    deleted = archives(dest)[:-keep]
    for old in deleted:
        old.unlink()
    return BackupResult(final, members, skipped, deleted)
