"""Prefect flows ``backup``, ``clean`` and ``check``: the housekeeping deployments (backup-daily, clean-weekly,
check-premarket). Thin wrappers over :mod:`ops`; settings come from config + ``QT_`` env, as on the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger

from quantumtrader.config import get_settings


@flow(name="backup", log_prints=False)
def backup_flow(keep: int | None = None) -> dict[str, Any]:
    """``qtml backup``: one archive into ``ops.backup_dir``; keep the newest ``keep`` (``ops.backup_keep``)."""
    from ops.backup import create_backup

    result = create_backup(get_settings(), keep=keep)
    get_run_logger().info("backup %s (%d bytes, skipped: %s)", result.path, result.bytes, result.skipped or "none")
    return {"path": str(result.path), "bytes": result.bytes, "members": sorted(result.members),
            "skipped": result.skipped, "deleted": [str(p) for p in result.deleted]}


@flow(name="clean", log_prints=False)
def clean_flow(older_than: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """``qtml clean``: remove logs, reports, caches, backups older than ``older_than`` (``ops.retention``)."""
    from ops.clean import clean, parse_age

    settings = get_settings()
    age = older_than or settings.ops.retention
    result = clean(settings, parse_age(age), now=datetime.now(UTC), dry_run=dry_run)
    logger = get_run_logger()
    for path, size in result.removed:
        logger.info("%s %s (%d bytes)", "would remove" if dry_run else "removed", path, size)
    return {"removed": [str(p) for p, _ in result.removed], "bytes": result.bytes, "dry_run": dry_run,
            "older_than": age}


@flow(name="check", log_prints=False)
def check_flow(strict: bool = False) -> list[dict[str, str]]:
    """``qtml check``: the pre-market checklist; the run fails on a FAIL line (on a WARN too with ``strict``)."""
    from ops.check import exit_code, render, run_checks

    items = run_checks(get_settings())
    text = render(items, datetime.now(UTC).isoformat(timespec="seconds"))
    get_run_logger().info("%s", text)
    if exit_code(items, strict=strict):
        raise RuntimeError("pre-market check failed:\n" + text)
    return [{"name": i.name, "status": i.status, "detail": i.detail} for i in items]
