"""Backtest metrics from round trips and a per-bar equity curve (pure functions, plain values).

Shared by the replay and the vectorised sweep, so both report the same numbers for the same trades.

- ``pnl``: final PnL in R$ (net of fees); ``pnl_points``: gross points.
- ``win_rate``: winning trades / trades (a trade wins when its net PnL > 0).
- ``profit_factor``: gross wins / |gross losses| (inf when no loss, 0 when no trade).
- ``sharpe_daily`` / ``sortino_daily``: on daily returns ``daily PnL / account capital``, annualised
  with sqrt(252); Sortino uses the downside deviation (sqrt of the mean of squared negative returns).
- ``max_drawdown`` (R$) and ``max_drawdown_pct`` (of the running equity peak, capital included),
  on the bar-close equity curve.
- ``exposure``: share of bar closes with an open position.
- ``trades_per_day``, ``avg_holding_minutes``, ``fees``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

NS_PER_MIN = 60_000_000_000


def daily_pnl(sessions: Sequence[str], pnl: np.ndarray | Sequence[float]) -> np.ndarray:
    """PnL earned in each session: last equity of the session minus the last of the previous one."""
    if len(pnl) == 0:
        return np.zeros(0)
    ends: list[float] = []
    for i, s in enumerate(sessions):
        if i + 1 == len(sessions) or sessions[i + 1] != s:
            ends.append(float(pnl[i]))
    e = np.asarray(ends)
    return np.diff(np.concatenate([[0.0], e]))


def compute_metrics(
    trades: Sequence[dict[str, Any]],
    equity_sessions: Sequence[str],
    equity_pnl: Sequence[float] | np.ndarray,
    positions: Sequence[int] | np.ndarray,
    *,
    capital: float,
) -> dict[str, float]:
    """Metrics of one backtest. ``trades`` rows need ``pnl``, ``points``, ``fees``, ``entry_ts_ns``,
    ``exit_ts_ns``; the equity arrays are aligned per bar close (session, total PnL R$, position)."""
    pnl_t = np.array([float(t["pnl"]) for t in trades], dtype=np.float64)
    wins, losses = pnl_t[pnl_t > 0], pnl_t[pnl_t <= 0]
    eq = np.asarray(equity_pnl, dtype=np.float64)
    sessions = list(equity_sessions)
    n_days = len(dict.fromkeys(sessions))
    daily = daily_pnl(sessions, eq) / capital
    sd = float(daily.std(ddof=1)) if len(daily) > 1 else 0.0
    downside = daily[daily < 0]
    dd_dev = float(np.sqrt(np.mean(np.square(downside)))) if len(downside) else 0.0
    total = capital + eq
    peak = np.maximum.accumulate(np.concatenate([[capital], total]))[1:] if len(total) else np.zeros(0)
    dd = peak - total
    gross_loss = float(-losses.sum())
    hold = [(t["exit_ts_ns"] - t["entry_ts_ns"]) / NS_PER_MIN for t in trades]
    return {
        "pnl": float(eq[-1]) if len(eq) else 0.0,
        "pnl_points": float(sum(float(t["points"]) for t in trades)),
        "fees": float(sum(float(t["fees"]) for t in trades)),
        "n_trades": float(len(trades)),
        "win_rate": float(len(wins) / len(pnl_t)) if len(pnl_t) else 0.0,
        "profit_factor": (float(wins.sum()) / gross_loss if gross_loss > 0 else (math.inf if len(wins) else 0.0)),
        "sharpe_daily": float(daily.mean() / sd * math.sqrt(252)) if sd > 0 else 0.0,
        "sortino_daily": float(daily.mean() / dd_dev * math.sqrt(252)) if dd_dev > 0 else 0.0,
        "max_drawdown": float(dd.max()) if len(dd) else 0.0,
        "max_drawdown_pct": float((dd / peak).max()) if len(dd) else 0.0,
        "exposure": float(np.mean(np.asarray(positions) != 0)) if len(positions) else 0.0,
        "trades_per_day": float(len(trades) / n_days) if n_days else 0.0,
        "avg_holding_minutes": float(np.mean(hold)) if hold else 0.0,
        "sessions": float(n_days),
    }


def agent_contribution(attribution: Sequence[dict[str, float]]) -> dict[str, float]:
    """Sum of each source's share of every trade's PnL (R$); shares come from the entry decision."""
    out: dict[str, float] = {}
    for row in attribution:
        for k, v in row.items():
            out[k] = out.get(k, 0.0) + float(v)
    return out
