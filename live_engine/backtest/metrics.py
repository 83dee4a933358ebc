"""Backtest metrics from round trips, a per-bar equity curve and the decision records (pure functions).

Shared by the replay and the vectorised sweep, so both report the same numbers for the same trades.
Undefined is ``nan`` (``null`` in ``metrics.json``, "n/a" on screen), never 0. The statistics of the
daily series come from :mod:`live_engine.backtest.stats`; docs/metrics.md defines every key.

Money is R$ net of fees, at the prices the paper broker filled. The daily series is the PnL earned in
each replayed session (R$; Sharpe, Sortino and the deflated Sharpe do not depend on dividing it by
the account capital).

- ``pnl``, ``pnl_points`` (gross), ``fees``, ``n_trades``, ``win_rate``, ``profit_factor``,
  ``max_drawdown`` (R$) / ``max_drawdown_pct`` (of the running equity peak, capital included),
  ``exposure`` (share of bar closes with a position), ``trades_per_day``, ``avg_holding_minutes``,
  ``sessions`` (the number of days every daily statistic is computed from).
- ``daily_pnl_mean`` with its bootstrap interval ``daily_pnl_mean_lo`` / ``_hi``, ``daily_pnl_sd``,
  ``prob_daily_pnl_positive``.
- ``sharpe_per_day`` (with ``_lo`` / ``_hi``) and ``sharpe_annualised`` (x sqrt(252));
  ``sortino_per_day`` / ``sortino_annualised``; ``deflated_sharpe`` for ``deflated_sharpe_trials``.
- ``pnl_per_trade`` (with ``_lo`` / ``_hi``), ``fees_per_trade``.
- ``exits_<tag>`` and ``exit_share_<tag>`` for every exit tag (time exit, stop, target, ...).
- :func:`signal_metrics`: ``signals``, ``signals_taken``, ``signals_denied``, ``signals_denied_share``,
  ``signals_denied_<REASON>``, ``exit_orders_denied``.
- ``interval_level``, ``bootstrap_replicates``, ``bootstrap_block_days``, ``bootstrap_effective_days``,
  ``bootstrap_seed``: how the intervals were computed. Every ``_lo`` / ``_hi`` pair is the expanded
  percentile interval of a circular block bootstrap (:func:`live_engine.backtest.stats.interval` with
  ``n_eff``), and ``prob_daily_pnl_positive`` uses the same small-sample correction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from live_engine.backtest import stats

NS_PER_MIN = 60_000_000_000
INTERVAL_LEVEL = 0.90
BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_SEED = 0
# the order the report lists exits in; a tag outside it (a future exit rule) is still counted
EXIT_TAGS = ("time_exit", "signal_exit", "stop", "target", "flatten", "halt")
NAN = math.nan


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


def _mean(a: np.ndarray) -> float:
    return float(a.mean()) if len(a) else NAN


def daily_metrics(daily: np.ndarray, *, n_trials: int = 1) -> dict[str, float]:
    """Statistics of the daily PnL series (R$ per session); see the module docstring for the keys."""
    d = np.asarray(daily, dtype=np.float64)
    n_boot, seed, n_eff = BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED, stats.effective_n(len(d))
    mean_lo, mean_hi = stats.interval(stats.block_bootstrap(d, n_boot=n_boot, seed=seed), INTERVAL_LEVEL, n_eff=n_eff)
    sr_lo, sr_hi = stats.interval(stats.sharpe_replicates(d, n_boot=n_boot, seed=seed), INTERVAL_LEVEL, n_eff=n_eff)
    return {
        "daily_pnl_mean": _mean(d),
        "daily_pnl_mean_lo": mean_lo,
        "daily_pnl_mean_hi": mean_hi,
        "daily_pnl_sd": float(d.std(ddof=1)) if len(d) > 1 else NAN,
        "prob_daily_pnl_positive": stats.prob_positive(d, n_boot=n_boot, seed=seed, expanded=True),
        "sharpe_per_day": stats.sharpe(d),
        "sharpe_per_day_lo": sr_lo,
        "sharpe_per_day_hi": sr_hi,
        "sharpe_annualised": stats.sharpe(d, annualised=True),
        "sortino_per_day": stats.sortino(d),
        "sortino_annualised": stats.sortino(d, annualised=True),
        "deflated_sharpe": stats.deflated_sharpe(d, n_trials),
        "deflated_sharpe_trials": float(max(1, int(n_trials))),
        "interval_level": INTERVAL_LEVEL,
        "bootstrap_replicates": float(BOOTSTRAP_REPLICATES),
        "bootstrap_block_days": float(stats.default_block(len(d))) if len(d) > 1 else NAN,
        "bootstrap_effective_days": n_eff if len(d) > 1 else NAN,
        "bootstrap_seed": float(BOOTSTRAP_SEED),
    }


def trade_metrics(trades: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Per-trade numbers: win rate, profit factor, PnL per trade after costs with its interval, exit mix.

    The interval of ``pnl_per_trade`` is a circular block bootstrap over the trades in time order
    (blocks of ``ceil(n ** (1/3))`` trades keep a session's neighbouring trades together)."""
    pnl_t = np.array([float(t["pnl"]) for t in trades], dtype=np.float64)
    n = len(pnl_t)
    wins, losses = pnl_t[pnl_t > 0], pnl_t[pnl_t <= 0]
    gross_loss = float(-losses.sum())
    lo, hi = stats.interval(stats.block_bootstrap(pnl_t, n_boot=BOOTSTRAP_REPLICATES, seed=BOOTSTRAP_SEED),
                            INTERVAL_LEVEL, n_eff=stats.effective_n(n))
    hold = [(t["exit_ts_ns"] - t["entry_ts_ns"]) / NS_PER_MIN for t in trades]
    fees = float(sum(float(t["fees"]) for t in trades))
    out = {
        "pnl_points": float(sum(float(t["points"]) for t in trades)),
        "fees": fees,
        "n_trades": float(n),
        "win_rate": float(len(wins) / n) if n else NAN,
        # undefined without a losing trade (or without any trade): not infinite, not 0
        "profit_factor": float(wins.sum()) / gross_loss if gross_loss > 0 else NAN,
        "pnl_per_trade": _mean(pnl_t),
        "pnl_per_trade_lo": lo,
        "pnl_per_trade_hi": hi,
        "fees_per_trade": fees / n if n else NAN,
        "avg_holding_minutes": float(np.mean(hold)) if hold else NAN,
    }
    out.update(exit_mix(str(t.get("exit_tag", "")) for t in trades))
    return out


def exit_mix(tags: Iterable[str]) -> dict[str, float]:
    """``exits_<tag>`` (count) and ``exit_share_<tag>`` (of all exits; nan without a trade) for every
    tag in :data:`EXIT_TAGS` plus any other tag seen."""
    counts: dict[str, int] = dict.fromkeys(EXIT_TAGS, 0)
    for tag in tags:
        key = tag or "unknown"
        counts[key] = counts.get(key, 0) + 1
    total = sum(counts.values())
    out: dict[str, float] = {}
    for tag, c in counts.items():
        out[f"exits_{tag}"] = float(c)
        out[f"exit_share_{tag}"] = c / total if total else NAN
    return out


def compute_metrics(
    trades: Sequence[Mapping[str, Any]],
    equity_sessions: Sequence[str],
    equity_pnl: Sequence[float] | np.ndarray,
    positions: Sequence[int] | np.ndarray,
    *,
    capital: float,
    n_trials: int = 1,
) -> dict[str, float]:
    """Metrics of one backtest. ``trades`` rows need ``pnl``, ``points``, ``fees``, ``entry_ts_ns``,
    ``exit_ts_ns`` (``exit_tag`` for the exit mix); the equity arrays are aligned per bar close
    (session, total PnL R$, position). ``n_trials``: configurations tried in tuning (deflated Sharpe)."""
    eq = np.asarray(equity_pnl, dtype=np.float64)
    sessions = list(equity_sessions)
    n_days = len(dict.fromkeys(sessions))
    total = capital + eq
    peak = np.maximum.accumulate(np.concatenate([[capital], total]))[1:] if len(total) else np.zeros(0)
    dd = peak - total
    m: dict[str, float] = {
        "pnl": float(eq[-1]) if len(eq) else 0.0,
        "sessions": float(n_days),
        "trades_per_day": float(len(trades) / n_days) if n_days else NAN,
        "max_drawdown": float(dd.max()) if len(dd) else NAN,
        "max_drawdown_pct": float((dd / peak).max()) if len(dd) else NAN,
        "exposure": float(np.mean(np.asarray(positions) != 0)) if len(positions) else NAN,
    }
    m.update(trade_metrics(trades))
    m.update(daily_metrics(daily_pnl(sessions, eq), n_trials=n_trials))
    return m


def signal_metrics(decisions: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """How many entry signals the risk rules let through, and which rule denied the others.

    An entry signal is a bar at which the core was flat, no order was pending and the consensus gave
    a direction: it became an entry, a denial by a rule (``signals_denied_<REASON>``), or, once
    trading was halted, nothing (counted under ``HALTED``). ``exit_orders_denied``: exits a rule refused."""
    signals = taken = exits_refused = 0
    denied: dict[str, int] = {}
    for d in decisions:
        action, pos = d.get("action"), d.get("position", 0)
        if action in ("enter_long", "enter_short"):
            signals += 1
            taken += 1
        elif action == "denied":
            if pos:
                exits_refused += 1
                continue
            signals += 1
            code = str(d.get("denial") or "UNKNOWN")
            denied[code] = denied.get(code, 0) + 1
        elif action == "none" and d.get("state") == "HALTED" and not pos and d.get("direction", 0):
            signals += 1
            denied["HALTED"] = denied.get("HALTED", 0) + 1
    n_denied = sum(denied.values())
    out = {"signals": float(signals), "signals_taken": float(taken), "signals_denied": float(n_denied),
           "signals_denied_share": n_denied / signals if signals else NAN,
           "exit_orders_denied": float(exits_refused)}
    for code, c in sorted(denied.items(), key=lambda kv: -kv[1]):
        out[f"signals_denied_{code}"] = float(c)
    return out


def agent_contribution(attribution: Sequence[dict[str, float]]) -> dict[str, float]:
    """Sum of each source's share of every trade's PnL (R$); shares come from the entry decision."""
    out: dict[str, float] = {}
    for row in attribution:
        for k, v in row.items():
            out[k] = out.get(k, 0.0) + float(v)
    return out
