"""``qtml restore ARCHIVE``: put a ``qtml backup`` archive back into the configured stores.

The archive is checked first (a tar.gz with a ``manifest.json`` of format ``quantumtrader-backup``, every
member's SHA-256 as recorded); anything else is one :class:`~quantumtrader.errors.InputError` line and nothing
is written. Then each SQLite store it holds is written to where the configuration puts it: the journal
(``stores.journal_db_url``), the MLflow database (``stores.mlflow_tracking_uri``) and its artifact files
(``stores.mlflow_artifact_root``), the promotions database. The MLflow database records absolute artifact
locations: when the artifact root differs from the backed-up one, every such location is rewritten to the new
root, so the registry's bundles resolve where they now are. The backed-up configuration goes to
``<var_dir>/restored-config/`` for the operator to compare (it never replaces the configuration in use).

A store that already exists is refused unless ``force``; with ``force`` it is moved aside to
``<name>.before-restore-<stamp>`` first, never deleted. Stop the engine before restoring its journal.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ops.backup import FORMAT, sha256_of, sqlite_file
from quantumtrader.errors import InputError

if TYPE_CHECKING:
    from quantumtrader.config import Settings

__all__ = ["RestoreResult", "read_manifest", "restore_backup"]


@dataclass
class RestoreResult:
    restored: dict[str, Path] = field(default_factory=dict)
    moved_aside: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _not_a_backup(archive: Path, why: str) -> InputError:
    return InputError(f"{archive} is not a QuantumTrader backup ({why}): pass a qt-backup-*.tar.gz written by "
                      "`qtml backup`")


def read_manifest(archive: Path) -> dict[str, Any]:
    """The archive's manifest; :class:`InputError` if ``archive`` is not a readable ``qtml backup`` archive."""
    if not archive.is_file():
        raise InputError(f"backup {archive} does not exist")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                raise _not_a_backup(archive, "manifest.json is not a file")
            doc = json.loads(member.read())
    except KeyError:
        raise _not_a_backup(archive, "no manifest.json") from None
    except (tarfile.TarError, OSError, EOFError) as err:
        raise _not_a_backup(archive, f"not a gzip tar archive: {err}") from None
    except ValueError as err:
        raise _not_a_backup(archive, f"manifest.json is not JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _not_a_backup(archive, f"manifest format is not {FORMAT!r}")
    return doc


def _extract(archive: Path, dest: Path, manifest: dict[str, Any]) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")  # no absolute paths, no .., no devices
    except (tarfile.TarError, OSError, EOFError) as err:
        raise _not_a_backup(archive, f"unreadable member: {err}") from None
    for name, info in manifest.get("members", {}).items():
        path = dest / name
        if not path.is_file() or sha256_of(path) != info.get("sha256"):
            raise InputError(f"backup {archive}: member {name} is missing or its SHA-256 differs from the manifest; "
                             "the archive is damaged: restore another one")


def _place(src: Path, dst: Path, force: bool, stamp: str, result: RestoreResult, what: str) -> None:
    if dst.exists():
        if not force:
            raise InputError(f"restore: {what} {dst} already exists: pass --force to move it aside and restore "
                             "over it (stop the engine first)")
        aside = dst.with_name(f"{dst.name}.before-restore-{stamp}")
        dst.rename(aside)
        result.moved_aside.append(aside)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))
    result.restored[what] = dst


def _rewrite_artifact_locations(db: Path, old_uri: str, new_uri: str) -> int:
    """Replace the ``old_uri`` prefix by ``new_uri`` in every text column of the MLflow database; rows changed."""
    changed = 0
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')
                    if str(r[2]).upper() in ("", "TEXT") or "CHAR" in str(r[2]).upper()]
            for col in cols:
                cur = conn.execute(f'UPDATE "{table}" SET "{col}" = ? || substr("{col}", ?) '
                                   f'WHERE substr("{col}", 1, ?) = ?',
                                   (new_uri, len(old_uri) + 1, len(old_uri), old_uri))
                changed += cur.rowcount
        conn.commit()
    finally:
        conn.close()
    return changed


def _server(url: str) -> bool:
    return sqlite_file(url) is None


def restore_backup(settings: Settings, archive: Path, *, force: bool = False) -> RestoreResult:
    """Restore ``archive`` into the stores ``settings`` names (module docstring)."""
    from live_engine.journal.journal import Journal
    from live_engine.journal.sql import utc_stamp

    manifest = read_manifest(archive)
    result = RestoreResult()
    stamp = utc_stamp()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".qt-restore-", dir=settings.var_dir) as tmp:
        root = Path(tmp)
        _extract(archive, root, manifest)
        mode = settings.live.journal.mode
        journal_src = root / "journal" / f"{mode}.db"
        if manifest.get("journal_mode") != mode:
            result.skipped["journal"] = f"the backup holds the {manifest.get('journal_mode')} journal, " \
                                        f"live.journal.mode is {mode}"
        elif journal_src.is_file():
            url = Journal.url_for(settings)
            dst = sqlite_file(url)
            if dst is None:
                result.skipped["journal"] = "stores.journal_db_url is a server: restore its JSON dump by hand"
            else:
                _place(journal_src, dst, force, stamp, result, "journal")
        else:
            result.skipped["journal"] = manifest.get("skipped", {}).get("journal", "not in the backup")
        _restore_mlflow(settings, root, manifest, force, stamp, result)
        promotions = root / "promotions.db"
        target = sqlite_file(settings.stores.promotions_db_url or "")
        if promotions.is_file() and target is not None:
            _place(promotions, target, force, stamp, result, "promotions")
        else:
            result.skipped["promotions"] = "not in the backup" if not promotions.is_file() else "server store"
        kb = root / "kb.db"
        kb_target = sqlite_file(settings.stores.kb_db_url or "")
        if kb.is_file() and kb_target is not None:
            _place(kb, kb_target, force, stamp, result, "kb")
        else:
            result.skipped["kb"] = "not in the backup" if not kb.is_file() else "server store"
        if (root / "config").is_dir():
            cfg = settings.var_dir / "restored-config"
            if cfg.exists():
                cfg.rename(cfg.with_name(f"{cfg.name}.before-restore-{stamp}"))
            shutil.move(str(root / "config"), str(cfg))
            result.restored["config (for comparison)"] = cfg
    return result


def _restore_mlflow(settings: Settings, root: Path, manifest: dict[str, Any], force: bool, stamp: str,
                    result: RestoreResult) -> None:
    db_src = root / "mlflow" / "mlflow.db"
    db_dst = sqlite_file(settings.mlflow_tracking_uri)
    if not db_src.is_file():
        result.skipped["mlflow"] = manifest.get("skipped", {}).get("mlflow", "not in the backup")
        return
    if db_dst is None or _server(settings.mlflow_tracking_uri):
        result.skipped["mlflow"] = "stores.mlflow_tracking_uri is a server: load mlflow.db into it by hand"
        return
    art_root = settings.stores.mlflow_artifact_root
    old_uri = manifest.get("mlflow", {}).get("artifact_root_uri")
    if art_root is not None and old_uri:
        new_uri = art_root.resolve().as_uri()
        if new_uri != old_uri:  # both spellings MLflow writes: file:///abs/path and /abs/path
            _rewrite_artifact_locations(db_src, old_uri, new_uri)
            _rewrite_artifact_locations(db_src, old_uri.removeprefix("file://"), new_uri.removeprefix("file://"))
    _place(db_src, db_dst, force, stamp, result, "mlflow")
    art_src = root / "mlflow" / "artifacts"
    if art_src.is_dir() and art_root is not None:
        _place(art_src, art_root, force, stamp, result, "mlflow artifacts")
    elif not art_src.is_dir():
        result.skipped["mlflow artifacts"] = "the backup holds the artifact index only (ops.backup_artifacts false)"
