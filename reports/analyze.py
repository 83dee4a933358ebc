"""``qtml analyze features | agents``: feature contributions and agent performance over any range of days the
engine recorded (its decision log), without the journal."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from quantumtrader.config import Settings
from quantumtrader.errors import InputError
from reports import numbers as nb


def recorded_range(settings: Settings, first: date | None, last: date | None) -> list[date]:
    """The days in [first, last] with a decision log (default: every recorded day)."""
    from live_engine.service.recording import recorded_days

    days = recorded_days(settings.lake_root, settings.market.symbol, "decisions")
    if not days:
        raise InputError(f"no decision log under {settings.lake_root / 'recorded' / settings.market.symbol}: the "
                         "engine has recorded no decided bar here; run `qtml engine start` (with live.service.record)")
    lo, hi = first or days[0], last or days[-1]
    if lo > hi:
        raise InputError(f"--from {lo} is after --to {hi}: give the earlier date first")
    picked = [d for d in days if lo <= d <= hi]
    if not picked:
        raise InputError(f"no recorded session between {lo} and {hi}: the engine recorded {days[0]} to {days[-1]} "
                         f"({len(days)} days); pick dates inside that range")
    return picked


def decisions_of(settings: Settings, days: list[date]) -> pd.DataFrame:
    from live_engine.service.recording import read_decisions

    frames = []
    for d in days:
        df = read_decisions(settings.lake_root, settings.market.symbol, d)
        if df is not None:
            frames.append(df[df["traded"].astype(bool)])
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if out.empty:
        raise InputError(f"no decided bar in {days[0]} to {days[-1]}: the engine only warmed up or was held then")
    return out.sort_values("ts_ns", kind="stable").reset_index(drop=True)


def analyze_features(settings: Settings, first: date | None = None, last: date | None = None) -> dict[str, Any]:
    """Mean |contribution| and direction of every feature over the range's decided bars."""
    from reports.contributions import decision_contributions

    days = recorded_range(settings, first, last)
    dec = decisions_of(settings, days)
    table, versions, _bundle = decision_contributions(settings, dec)
    return {"first": days[0].isoformat(), "last": days[-1].isoformat(), "days": len(days), "bars": len(dec),
            "model_versions": versions, "features": table}


def analyze_agents(settings: Settings, first: date | None = None, last: date | None = None) -> dict[str, Any]:
    """Each agent's votes, directional calls, right-direction rate (with interval), edge and weights."""
    days = recorded_range(settings, first, last)
    dec = decisions_of(settings, days)
    if not nb.agent_names(dec) or "close" not in dec:
        raise InputError(f"the decision log of {days[0]} to {days[-1]} has no agent votes: it was written by an engine "
                         "that did not log them; analyse days recorded by this version")
    cfg = settings.reports
    return {"first": days[0].isoformat(), "last": days[-1].isoformat(), "days": len(days), "bars": len(dec),
            "agents": nb.agent_performance(dec, level=cfg.interval_level, small=cfg.small_sample_trades)}
