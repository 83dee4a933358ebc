"""``qtml clean --older-than 30d``: delete old logs, reports, caches and backups; never the data that matters.

Candidates are files last modified before ``now - older_than`` in:

- ``<var_dir>/logs`` (but never the JSON log file in use), the reports folder (``stores.reports_dir``),
- caches: ``<var_dir>/sim`` (simulator output, already ingested), ``<var_dir>/cache``,
- backups in ``ops.backup_dir``: ``qtml backup`` archives and the engine's journal snapshots older than the
  retention (newer ones are never touched).

Never touched, whatever the configuration points where: the lake, the journal, the MLflow database and
artifacts, the promotions database, the Feast and Prefect stores, and the engine's bundle cache (the engine's
fallback when the registry is unreachable). A candidate inside any of those is skipped. Empty folders left
behind are removed. ``dry_run`` lists what would go and removes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from quantumtrader.errors import InputError

if TYPE_CHECKING:
    from quantumtrader.config import Settings

__all__ = ["CleanResult", "clean", "human_bytes", "parse_age"]

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_AGE = re.compile(r"^\s*(\d+)\s*([A-Za-z]*)\s*$")


def parse_age(text: str) -> timedelta:
    """``30d`` -> 30 days; units s, m, h, d, w. Anything else is one :class:`InputError` line."""
    match = _AGE.match(text)
    if match is None or not match.group(2):
        raise InputError(f"--older-than {text!r}: write a number and a unit, e.g. 30d (units: s, m, h, d, w)")
    number, unit = int(match.group(1)), match.group(2)
    if unit not in _UNITS:
        raise InputError(f"--older-than {text!r}: unknown unit {unit!r}; use s, m, h, d or w (e.g. 30d)")
    if number <= 0:
        raise InputError(f"--older-than {text!r}: the age must be above 0")
    return timedelta(**{_UNITS[unit]: number})


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@dataclass
class CleanResult:
    """Files removed (or, in a dry run, that would be) with their sizes."""

    removed: list[tuple[Path, int]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.removed)


def _protected(settings: Settings) -> list[Path]:
    from live_engine.journal.journal import Journal
    from ops.backup import sqlite_file
    from serving.bundle_cache import cache_dir

    st = settings.stores
    keep = [settings.lake_root, cache_dir(settings.var_dir), settings.var_dir / "journal", settings.var_dir / "mlflow"]
    keep += [p for p in (st.mlflow_artifact_root, st.feast_dir, st.prefect_home) if p is not None]
    for url in (Journal.url_for(settings), settings.mlflow_tracking_uri, st.promotions_db_url or "",
                st.prefect_api_database_url or ""):
        db = sqlite_file(url)
        if db is not None:
            keep.append(db.parent if db.parent != settings.var_dir else db)
    return [p.resolve() for p in keep]


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def _candidates(settings: Settings) -> list[Path]:
    from ops.backup import archives

    var = settings.var_dir
    files: list[Path] = []
    for folder in (var / "logs", settings.reports_dir, var / "sim", var / "cache"):
        if folder.is_dir():
            files += [p for p in folder.rglob("*") if p.is_file() or p.is_symlink()]
    backup_dir = settings.backup_dir
    files += archives(backup_dir)
    if backup_dir.is_dir():  # the engine's journal snapshots (live_engine.journal.backup: <mode>-journal-<stamp>)
        files += [p for p in backup_dir.iterdir() if p.is_file() and "-journal-" in p.name
                  and p.suffix in (".db", ".json")]
    return sorted(set(files))


def _active_log(settings: Settings) -> Path | None:
    name = settings.logging.json_file
    if not name:
        return None
    p = Path(name)
    return (p if p.is_absolute() else settings.var_dir / p).resolve()


def clean(settings: Settings, older_than: timedelta, *, now: datetime, dry_run: bool = False) -> CleanResult:
    """Remove the candidates (module docstring) last modified before ``now - older_than``."""
    cutoff = (now - older_than).timestamp()
    protected = _protected(settings)
    active = _active_log(settings)
    result = CleanResult(dry_run=dry_run)
    folders: set[Path] = set()
    for path in _candidates(settings):
        real = path.resolve()
        if _inside(real, protected) or real == active:
            continue
        st = path.lstat()
        if st.st_mtime >= cutoff:
            continue
        result.removed.append((path, st.st_size))
        folders.add(path.parent)
        if not dry_run:
            path.unlink(missing_ok=True)
    if not dry_run:
        roots = {settings.var_dir.resolve(), settings.reports_dir.resolve(), settings.backup_dir.resolve()}
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            while folder.resolve() not in roots and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent
    return result
