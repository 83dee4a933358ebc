"""The weekly report: the week's sessions side by side and the week as a whole (docs/reports.md).

The week is the ISO week (Monday to Friday, key ``YYYY-Www``) holding the given date; its trading days come
from the calendar (``market.calendar.trading_days``) and stop at that date. A trading day without an engine
session is listed as skipped. Week-level numbers are computed on the week's trades in time order (the max
drawdown runs across days), not averaged from the days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from quantumtrader.config import Settings
from quantumtrader.errors import InputError
from reports import numbers as nb
from reports.contributions import combine
from reports.daily import DayReport, day_report
from reports.journal_day import open_journal


@dataclass
class WeekReport:
    week: str
    doc: dict[str, Any]
    trades: pd.DataFrame
    features: pd.DataFrame
    days: list[DayReport]
    files: dict[str, Path] = field(default_factory=dict)


def iso_week(day: date) -> tuple[str, date, date]:
    """(``YYYY-Www``, Monday, Friday) of the ISO week holding ``day``."""
    y, w, _ = day.isocalendar()
    monday = day - timedelta(days=day.weekday())
    return f"{y}-W{w:02d}", monday, monday + timedelta(days=4)


def _drift_word(doc: dict[str, Any]) -> str:
    d = doc["drift"]
    return "not checked" if not d["checked"] else ("detected" if d["drift_detected"] else "none")


def week_report(settings: Settings, day: date, journal: Any) -> WeekReport:
    from market.calendar import trading_days

    cfg = settings.reports
    key, monday, friday = iso_week(day)
    days = trading_days(monday, min(friday, day), settings.market.symbol)
    reps: list[DayReport] = []
    skipped: list[str] = []
    for d in days:
        try:
            reps.append(day_report(settings, d, journal, replay_check=False))
        except InputError as err:
            if not str(err).startswith("no engine session"):
                raise
            skipped.append(d.isoformat())
    if not reps:
        raise InputError(f"no engine session in week {key} ({monday} to {min(friday, day)}): the journal and the "
                         "decision log hold nothing for its trading days; give --date inside a week the engine traded")
    trades = pd.concat([r.trades for r in reps], ignore_index=True)
    decisions = [r.decisions for r in reps if r.decisions is not None and "close" in r.decisions]
    dec = pd.concat(decisions, ignore_index=True) if decisions else None
    agents = nb.agent_performance(dec, level=cfg.interval_level, small=cfg.small_sample_trades) \
        if dec is not None else []
    features = combine([r.features for r in reps])
    rows = [{"day": r.doc["day"], "trades": r.doc["summary"]["trades"], "pnl": r.doc["summary"]["pnl"],
             "fees": r.doc["summary"]["fees"], "win_rate": r.doc["summary"]["win_rate"],
             "max_drawdown": r.doc["summary"]["max_drawdown"], "entries": r.doc["risk"]["entries"],
             "denials": sum(r.doc["risk"]["denials"].values()), "latency_p99": r.doc["latency_ms"]["p99"],
             "drift": _drift_word(r.doc)} for r in reps]
    doc = {"kind": "weekly", "week": key, "first": monday.isoformat(), "last": min(friday, day).isoformat(),
           "symbol": settings.market.symbol, "currency": "BRL",
           "summary": nb.trade_summary(trades, level=cfg.interval_level, small=cfg.small_sample_trades),
           "sessions": len(reps), "skipped": skipped, "days": rows, "agents": agents,
           "model_versions": sorted({v for r in reps for v in r.doc["model_versions"]}),
           "features_top": features.head(cfg.top_features).to_dict("records")}
    return WeekReport(key, doc, trades, features, reps)


def build_weekly(settings: Settings, day: date, *, log_mlflow: bool | None = None) -> WeekReport:
    """Compute, write ``<reports>/weekly/<iso-week>/`` and log to MLflow."""
    from reports.publish import publish

    journal = open_journal(settings)
    try:
        rep = week_report(settings, day, journal)
    finally:
        journal.close()
    out = settings.reports_dir / "weekly" / rep.week
    rep.files = publish(settings, "weekly", rep.week, out, rep.doc, weekly=rep,
                        log_mlflow=settings.reports.log_to_mlflow if log_mlflow is None else log_mlflow)
    return rep
