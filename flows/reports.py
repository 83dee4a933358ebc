"""Prefect flows ``report-daily`` and ``report-weekly``: thin wrappers over :mod:`reports.daily` and
:mod:`reports.weekly` (the same functions ``qtml report daily | weekly`` calls).

Every parameter is JSON with a default (deployments in ``prefect.yaml``); the settings come from the config
file and ``QT_`` environment, read at each run. Cron fires every weekday evening; a holiday is skipped here, by
the calendar (``reports.daily.skip_reason`` asks ``market.calendar.is_trading_day``), not by the schedule.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger

from quantumtrader.errors import InputError
from reports.daily import skip_reason


def resolve_day(day: str | None, today: date | None = None) -> date:
    """``day`` as a date; without one, today's date in São Paulo (``today`` injects it in tests)."""
    if day:
        try:
            return date.fromisoformat(day)
        except ValueError:
            raise InputError(f"day {day!r}: give a date as YYYY-MM-DD") from None
    if today is not None:
        return today
    from reports.cli import today_local

    return today_local()


@flow(name="report-daily", log_prints=False)
def daily_report_flow(day: str | None = None, replay_check: bool = True) -> dict[str, Any]:
    """The daily report of session ``day`` (default: today in São Paulo); a non-trading day is skipped."""
    from quantumtrader.config import load_settings
    from reports.daily import build_daily

    settings = load_settings()
    d = resolve_day(day)
    log = get_run_logger()
    why = skip_reason(d, settings.market.symbol)
    if why is not None:
        log.info(why)
        return {"day": d.isoformat(), "skipped": True, "message": why}
    rep = build_daily(settings, d, replay_check=replay_check)
    log.info(f"daily report {d}: {rep.doc['summary']['trades']} trades, PnL R$ {rep.doc['summary']['pnl']:,.2f}; "
             f"{rep.files['html']}")
    return {"day": d.isoformat(), "skipped": False, "files": {k: str(v) for k, v in rep.files.items()},
            "summary": rep.doc["summary"], "mlflow_run_id": rep.doc.get("mlflow_run_id")}


@flow(name="report-weekly", log_prints=False)
def weekly_report_flow(day: str | None = None) -> dict[str, Any]:
    """The weekly report of the ISO week holding ``day`` (default: today in São Paulo)."""
    from quantumtrader.config import load_settings
    from reports.weekly import build_weekly

    settings = load_settings()
    d = resolve_day(day)
    rep = build_weekly(settings, d)
    get_run_logger().info(f"weekly report {rep.week}: {rep.doc['sessions']} sessions, "
                          f"{rep.doc['summary']['trades']} trades; {rep.files['html']}")
    return {"week": rep.week, "sessions": rep.doc["sessions"], "skipped_days": rep.doc["skipped"],
            "files": {k: str(v) for k, v in rep.files.items()}, "summary": rep.doc["summary"],
            "mlflow_run_id": rep.doc.get("mlflow_run_id")}
