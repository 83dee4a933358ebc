"""The daily report: one session's numbers from the journal and the decision log (docs/reports.md).

:func:`day_report` gathers and computes (no file written); :func:`build_daily` also writes
``<reports>/daily/<date>/`` (report.json, report.html, report.xlsx) and logs it to MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from quantumtrader.config import Settings
from reports import numbers as nb
from reports.journal_day import EngineDay, gather_day, open_journal


@dataclass
class DayReport:
    """A computed day: ``doc`` (JSON-ready numbers) and the tables the charts and the workbook show."""

    day: date
    doc: dict[str, Any]
    trades: pd.DataFrame
    equity: pd.DataFrame
    features: pd.DataFrame
    agents: list[dict[str, Any]]
    weights: pd.DataFrame  # ts_ns + one column per agent
    decisions: pd.DataFrame | None = None
    files: dict[str, Path] = field(default_factory=dict)


def _weights(decisions: pd.DataFrame | None) -> pd.DataFrame:
    if decisions is None:
        return pd.DataFrame(columns=["ts_ns"])
    cols = [c for c in decisions.columns if c.startswith("weight_")]
    out = decisions[["ts_ns", *cols]].copy()
    return out.rename(columns={c: c.removeprefix("weight_") for c in cols})


def skip_reason(day: date, symbol: str) -> str | None:
    """Why no daily report is due on ``day`` (None: the calendar says it is a trading day)."""
    from market.calendar import is_trading_day

    return None if is_trading_day(day, symbol) else f"{day} is not a trading day: skipped"


def journal_weights(journal: Any) -> dict[str, Any] | None:
    """The coordinator's weights the journal holds now (its ``state``: what a restart resumes from), with the
    feed time of the last event the engine handled; None when the journal has none."""
    state = journal.load_state()
    coord = (state.get("core") or {}).get("coordinator")
    if not coord:
        return None
    return {"weights": dict(zip(coord["names"], coord["weights"], strict=True)), "updates": coord.get("updates"),
            "last_event_ns": state.get("last_event_ns")}


def _risk_limits(settings: Settings, bundle: Any) -> tuple[dict[str, Any], str]:
    """The limits the engine traded with: the bundle's risk section (the engine runs ``bundle.live_config``)."""
    if bundle is not None:
        return bundle.risk.model_dump(mode="json"), f"bundle {bundle.uri}"
    return settings.live.risk.model_dump(mode="json"), "configuration live.risk (no decision logged)"


def day_report(settings: Settings, day: date, journal: Any, *, replay_check: bool = True) -> DayReport:
    """Compute the report of session ``day`` (raises ``InputError`` when the engine had no session then)."""
    from reports.contributions import decision_contributions
    from reports.day_status import data_quality, drift_status, live_vs_replay

    cfg = settings.reports
    ed: EngineDay = gather_day(settings, day, journal)
    trades = nb.round_trips(ed.fills, ed.point_value)
    dec = ed.decisions
    bars = dec[["ts_ns", "close"]] if dec is not None and "close" in dec else None
    equity = nb.equity_curve(ed.fills, bars, ed.point_value)
    bundle = None
    if dec is not None and len(dec):
        features, versions, bundle = decision_contributions(settings, dec)
    else:
        features, versions = pd.DataFrame(columns=["feature", "mean_abs", "up_minus_down", "rows"]), []
    limits, limits_from = _risk_limits(settings, bundle)
    agents = nb.agent_performance(dec, level=cfg.interval_level, small=cfg.small_sample_trades) \
        if dec is not None and len(dec) and "close" in dec else []
    summary = nb.trade_summary(trades, level=cfg.interval_level, small=cfg.small_sample_trades)
    summary["max_drawdown_marked"] = nb.max_drawdown(equity["marked"].diff().fillna(equity["marked"]).to_numpy()) \
        if len(equity) else 0.0
    summary["open_position_at_end"] = int((ed.fills["side"] * ed.fills["qty"]).sum()) if len(ed.fills) else 0
    doc: dict[str, Any] = {
        "kind": "daily", "day": day.isoformat(), "symbol": ed.symbol, "currency": "BRL",
        "journal": ed.journal_url, "model_versions": versions,
        "summary": summary,
        "orders": {"total": len(ed.orders), "by_status": {str(k): int(v) for k, v in
                                                          ed.orders["status"].value_counts().sort_index().items()}
                   if len(ed.orders) else {}, "fills": len(ed.fills)},
        "risk": {**nb.risk_usage(ed.orders, dec, trades, equity, limits), "limits_from": limits_from},
        "latency_ms": nb.latency(dec),
        "data_quality": data_quality(settings, day, dec),
        "drift": drift_status(settings.reports_dir, day),
        "live_vs_replay": live_vs_replay(settings, day, journal) if replay_check and dec is not None
        else {"checked": False, "why": "not run" if not replay_check else "no decision log for the day"},
        "agents": agents,
        "weights_journal": journal_weights(journal),
        "features_top": features.head(cfg.top_features).to_dict("records"),
    }
    return DayReport(day, doc, trades, equity, features, agents, _weights(dec), dec)


def build_daily(settings: Settings, day: date, *, replay_check: bool = True, log_mlflow: bool | None = None
                ) -> DayReport:
    """Compute, write ``<reports>/daily/<date>/`` and log to MLflow (``reports.log_to_mlflow``)."""
    from reports.publish import publish

    journal = open_journal(settings)
    try:
        rep = day_report(settings, day, journal, replay_check=replay_check)
    finally:
        journal.close()
    out = settings.reports_dir / "daily" / day.isoformat()
    rep.files = publish(settings, "daily", day.isoformat(), out, rep.doc, daily=rep,
                        log_mlflow=settings.reports.log_to_mlflow if log_mlflow is None else log_mlflow)
    return rep
