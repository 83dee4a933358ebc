"""The backtest report's charts as base64 PNGs (matplotlib, Agg), from the run folder's tables.

Times are in the instrument's zone (America/Sao_Paulo for B3). The equity curve runs on trading
time: the sessions are joined end to end (no overnight gaps) and each boundary is a dashed line
labelled with the session's date.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

WIDTH = 12.0  # inches; at DPI 96 the PNGs are about 1150 px wide and are scaled down to the page
DPI = 96


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def local_times(ts_ns: pd.Series | np.ndarray | Sequence[int], tz: str) -> pd.DatetimeIndex:
    """UTC nanoseconds -> local wall-clock times (naive, for the axes)."""
    idx = pd.to_datetime(np.asarray(ts_ns, dtype=np.int64), utc=True).tz_convert(tz)
    return pd.DatetimeIndex(idx.tz_localize(None))


def _session_marks(ax: Any, sessions: Sequence[str]) -> None:
    """Dashed lines at each session's first bar, the date below the axis."""
    starts = [i for i, s in enumerate(sessions) if i == 0 or sessions[i - 1] != s]
    for i in starts[1:]:
        ax.axvline(i - 0.5, color="0.45", ls="--", lw=0.8)
    ax.set_xticks(starts, [sessions[i] for i in starts], rotation=0, fontsize=8, ha="left")


def equity_chart(equity: pd.DataFrame, capital: float) -> str:
    """PnL after costs (R$) at every bar close, with the drawdown below, sessions marked."""
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(WIDTH, 4.6), sharex=True, height_ratios=[3, 1.2])
    sessions = [str(s) for s in equity["session"]] if len(equity) else []
    pnl = equity["pnl"].to_numpy(np.float64) if len(equity) else np.zeros(0)
    ax.plot(np.arange(len(pnl)), pnl, lw=1.1, color="tab:blue")
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_ylabel("PnL after costs (R$)")
    ax.set_title("Equity: PnL after costs at every bar close (sessions joined, overnight gaps removed)",
                 fontsize=10)
    ax.grid(alpha=0.3)
    if len(pnl):
        total = capital + pnl
        peak = np.maximum.accumulate(np.maximum(total, capital))
        ax2.fill_between(np.arange(len(pnl)), (total - peak), 0, color="tab:red", alpha=0.4, lw=0)
        _session_marks(ax, sessions)
        _session_marks(ax2, sessions)
    ax2.set_ylabel("drawdown (R$)")
    ax2.set_xlabel("session (date, America/Sao_Paulo)")
    ax2.grid(alpha=0.3)
    return _png(fig)


def daily_chart(days: Sequence[str], daily: np.ndarray, mean: float, lo: float, hi: float) -> str:
    """PnL per session with the mean and its bootstrap interval."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH, 2.8))
    colors = ["tab:green" if v > 0 else "tab:red" for v in daily]
    ax.bar(range(len(daily)), daily, color=colors, width=0.6)
    if np.isfinite(lo) and np.isfinite(hi):
        ax.axhspan(lo, hi, color="tab:blue", alpha=0.12, label="90 % interval of the mean")
    if np.isfinite(mean):
        ax.axhline(mean, color="tab:blue", lw=1.2, label=f"mean R$ {mean:,.2f}")
        ax.legend(loc="upper left", fontsize=8)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xticks(range(len(days)), list(days), fontsize=8)
    ax.set_ylabel("R$")
    ax.set_title("PnL after costs per session", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def session_chart(bars: pd.DataFrame, trades: pd.DataFrame, tz: str, day: str) -> str:
    """One session's bar closes with every entry (BUY ▲ / SELL ▼) and exit (x) marked."""
    plt = _plt()
    import matplotlib.dates as mdates

    fig, ax = plt.subplots(figsize=(WIDTH, 4.0))
    t = local_times(bars["ts_ns"], tz)
    ax.plot(t, bars["close"].to_numpy(np.float64), lw=0.9, color="0.25", label="bar close")
    if len(trades):
        et, xt = local_times(trades["entry_ts_ns"], tz), local_times(trades["exit_ts_ns"], tz)
        buy = trades["side"].to_numpy() > 0
        ep, xp = trades["entry_price"].to_numpy(np.float64), trades["exit_price"].to_numpy(np.float64)
        for k in range(len(trades)):
            ax.plot([et[k], xt[k]], [ep[k], xp[k]], lw=1.0, alpha=0.7,
                    color="tab:green" if trades["pnl"].iat[k] > 0 else "tab:red")
        ax.scatter(et[buy], ep[buy], marker="^", s=46, color="tab:green", zorder=3, label="BUY entry")
        ax.scatter(et[~buy], ep[~buy], marker="v", s=46, color="tab:red", zorder=3, label="SELL entry")
        ax.scatter(xt, xp, marker="x", s=40, color="black", zorder=3, label="exit")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.set_xlabel(f"time ({tz})")
    ax.set_ylabel("price (points)")
    ax.set_title(f"Session {day}: price, entries and exits (line from entry to exit: green won, red lost)",
                 fontsize=10)
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    ax.grid(alpha=0.3)
    return _png(fig)


def weights_chart(weights: pd.DataFrame, sessions: Sequence[str]) -> str:
    """The Hedge coordinator's agent weights at every bar, sessions marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH, 2.8))
    for col in weights.columns:
        ax.plot(range(len(weights)), weights[col].to_numpy(np.float64), lw=1, label=col)
    if len(weights.columns):
        ax.legend(loc="upper left", fontsize=8, ncol=len(weights.columns))
    if len(sessions) == len(weights) and len(sessions):
        _session_marks(ax, list(sessions))
    ax.set_title("Agent weights (Hedge coordinator) at every bar", fontsize=10)
    ax.set_xlabel("session (date)")
    ax.grid(alpha=0.3)
    return _png(fig)
