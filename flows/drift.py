"""Prefect flow ``drift``: the session gate -> Evidently on the day's logged vectors -> verdict -> retrain.

Thin: :mod:`monitoring.session_gate` answers "is this a session" from the market calendar (outside it
the hourly run is skipped and says so), :func:`monitoring.drift.check_drift` compares and writes the
verdict, and a detected drift starts a retrain as ``drift.trigger`` says: ``deployment`` runs the
``drift.retrain_deployment`` deployment (``retrain/retrain-monthly``) without waiting for it,
``subflow`` runs :func:`flows.retrain.retrain_flow` in this process, ``none`` only records the verdict.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from prefect import flow

from quantumtrader.config import Settings, get_settings
from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger

log = get_logger("flows.drift")


def _parse_day(day: str | None, at: datetime, tz: str) -> date:
    if day is None:
        return at.astimezone(ZoneInfo(tz)).date()
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise InputError(f"drift day {day!r} is not a date: give it as YYYY-MM-DD") from None


def _parse_at(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        ts = datetime.fromisoformat(at)
    except ValueError:
        raise InputError(f"drift at={at!r} is not an ISO timestamp: give it as 2026-01-05T15:00:00+00:00") from None
    if ts.tzinfo is None:
        raise InputError(f"drift at={at!r} has no time zone: add one, e.g. +00:00 or -03:00")
    return ts


def trigger_retrain(settings: Settings, symbol: str) -> dict[str, Any]:
    """Start the retrain the configured way; returns what was started (never raises for a missing server)."""
    mode = settings.drift.trigger
    if mode == "none":
        return {"mode": mode, "started": False}
    if mode == "subflow":
        from flows.retrain import retrain_flow

        result = retrain_flow(reason="drift", symbol=symbol, settings=settings)
        return {"mode": mode, "started": "skipped" not in result, "result": result}
    from prefect.deployments import run_deployment

    name = settings.drift.retrain_deployment
    try:
        run = run_deployment(name=name, parameters={"reason": "drift", "symbol": symbol}, timeout=0)
    except Exception as err:  # no server or no such deployment: the verdict keeps the drift and says why
        msg = (f"could not run deployment {name!r}: {type(err).__name__}: {err}; deploy it (prefect.yaml) or set "
               "drift.trigger to subflow")
        log.error(msg)
        return {"mode": mode, "started": False, "error": msg}
    return {"mode": mode, "started": True, "deployment": name, "flow_run_id": str(getattr(run, "id", run))}


@flow(name="drift", validate_parameters=False, log_prints=False)
def drift_flow(day: str | None = None, symbol: str | None = None, at: str | None = None,
               settings: Any = None) -> dict[str, Any]:
    """Check ``day`` (YYYY-MM-DD; default: today in the instrument's time zone).

    Without ``day`` the run is the hourly one: it first asks whether ``at`` (ISO instant, default now)
    is inside a session and is skipped when it is not. An explicit ``day`` is checked whenever asked.
    """
    from market.instruments import get_instrument
    from monitoring.drift import check_drift, write_verdict
    from monitoring.session_gate import session_state

    # ``settings`` is for in-process callers (tests, the CLI); typed Any so that the deployment's parameter
    # schema stays JSON-small: a deployment leaves it unset and reads config + QT_ environment
    settings = cast(Settings, settings) if settings is not None else get_settings()
    symbol = symbol or settings.market.symbol
    now = _parse_at(at)
    if day is None:
        inside, why = session_state(now, symbol)
        if not inside:
            log.info(f"drift check skipped: {why}")
            return {"skipped": True, "why": why, "checked_at": now.isoformat()}
    the_day = _parse_day(day, now, get_instrument(symbol).timezone)
    verdict = check_drift(settings, the_day, symbol=symbol, now=now)
    if verdict.drift_detected:
        verdict.retrain = trigger_retrain(settings, symbol)
        verdict.retrain_triggered = bool(verdict.retrain.get("started"))
        assert verdict.path is not None
        write_verdict(verdict, Path(verdict.path).parent)
    return verdict.as_dict()
