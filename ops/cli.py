"""``qtml backup | restore | clean | check``: the housekeeping commands of the operations manual.

Each prints what it did; bad input (an archive that is no backup, an unknown age unit) is one ``error:`` line
and exit status 2 (``quantumtrader.cli``). The scheduled deployments (``flows/housekeeping.py``) call the
same functions.
"""

from __future__ import annotations

from pathlib import Path

import typer

from quantumtrader.config import get_settings


def backup_cmd(
    dest: Path = typer.Option(None, "--dest", help="Folder for the archive (default: ops.backup_dir, var/backups)."),
) -> None:
    """One archive of the journal, the MLflow registry (+ artifacts and their index), promotions and config."""
    from ops.backup import create_backup
    from ops.clean import human_bytes

    result = create_backup(get_settings(), dest)
    for name, info in result.members.items():
        typer.echo(f"  {name:<40} {human_bytes(info['bytes']):>10}")
    for what, why in result.skipped.items():
        typer.echo(f"  skipped {what}: {why}")
    for old in result.deleted:
        typer.echo(f"  deleted old archive {old.name}")
    typer.echo(f"backup: {result.path} ({human_bytes(result.bytes)})")


def restore_cmd(
    archive: Path = typer.Argument(..., help="A qt-backup-*.tar.gz written by `qtml backup`."),
    force: bool = typer.Option(False, "--force", help="Move existing stores aside (<name>.before-restore-<stamp>) "
                                                      "and restore over them. Stop the engine first."),
) -> None:
    """Restore the journal, the MLflow registry and artifacts and the promotions db into the configured stores."""
    from ops.restore import restore_backup

    result = restore_backup(get_settings(), archive, force=force)
    for aside in result.moved_aside:
        typer.echo(f"  moved aside {aside}")
    for what, path in result.restored.items():
        typer.echo(f"  restored {what}: {path}")
    for what, why in result.skipped.items():
        typer.echo(f"  skipped {what}: {why}")
    typer.echo(f"restore: {len(result.restored)} parts from {archive}")


def clean_cmd(
    older_than: str = typer.Option(None, "--older-than", help="Age, e.g. 30d, 12h, 2w (default: ops.retention)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; remove nothing."),
) -> None:
    """Delete logs, reports, caches and backups older than the age; never the lake, journal or registry."""
    from datetime import UTC, datetime

    from ops.clean import clean, human_bytes, parse_age

    settings = get_settings()
    text = older_than or settings.ops.retention
    result = clean(settings, parse_age(text), now=datetime.now(UTC), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for path, size in result.removed:
        typer.echo(f"  {verb} {path} ({human_bytes(size)})")
    typer.echo(f"clean: {verb} {len(result.removed)} files, {human_bytes(result.bytes)}, older than {text}")


def check_cmd(
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on a WARN line too."),
) -> None:
    """The pre-market checklist: disk, feed, champion, risk config, clock; exit 1 on a FAIL line."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from ops.check import exit_code, render, run_checks

    items = run_checks(get_settings())
    when = datetime.now(UTC).astimezone(ZoneInfo("America/Sao_Paulo")).strftime("%Y-%m-%d %H:%M America/Sao_Paulo")
    typer.echo(render(items, when))
    raise typer.Exit(exit_code(items, strict=strict))
