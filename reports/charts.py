"""The reports' charts as base64 PNGs (matplotlib, Agg). The price-with-trades and per-session PnL charts are the
backtest report's (``live_engine.backtest.report_charts``); the intraday equity with its drawdown, the agent
weights through the day and the feature contributions are drawn here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from live_engine.backtest.report_charts import DPI, WIDTH, daily_chart, local_times, session_chart

__all__ = ["contributions_chart", "equity_chart", "session_chart", "week_chart", "weights_of"]


def _subplots() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots


def _png(fig: Any) -> str:
    import base64
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def equity_chart(equity: pd.DataFrame, tz: str, title: str) -> str:
    """PnL after costs through the day: marked to every bar close (line) and realised (steps), drawdown below."""
    subplots = _subplots()
    import matplotlib.dates as mdates

    fig, (ax, ax2) = subplots(2, 1, figsize=(WIDTH, 4.6), sharex=True, height_ratios=[3, 1.2])
    if len(equity):
        t = local_times(equity["ts_ns"], tz)
        marked = equity["marked"].to_numpy(np.float64)
        ax.plot(t, marked, lw=1.1, color="tab:blue", label="marked to the bar close")
        ax.step(t, equity["realised"].to_numpy(np.float64), where="post", lw=1.0, color="tab:orange",
                label="realised (closed trades, fees paid)")
        peak = np.maximum.accumulate(np.maximum(marked, 0.0))
        ax2.fill_between(t, marked - peak, 0, color="tab:red", alpha=0.4, lw=0, step="post")
        ax.legend(loc="upper left", fontsize=8)
        ax2.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_ylabel("PnL after costs (R$)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax2.set_ylabel("drawdown (R$)")
    ax2.set_xlabel(f"time ({tz})")
    ax2.grid(alpha=0.3)
    return _png(fig)


def contributions_chart(features: pd.DataFrame, top: int, rows: int) -> str:
    """Mean |contribution| of the top features, coloured by the way they pushed (up minus down)."""
    subplots = _subplots()
    f = features.head(top).iloc[::-1]
    fig, ax = subplots(figsize=(WIDTH, max(2.4, 0.28 * len(f) + 1.0)))
    colors = ["tab:green" if v > 0 else "tab:red" if v < 0 else "0.6" for v in f["up_minus_down"].to_numpy(np.float64)]
    ax.barh(f["feature"].astype(str), f["mean_abs"].to_numpy(np.float64), color=colors)
    ax.set_xlabel("mean |contribution| to the raw score, summed over down / flat / up")
    ax.set_title(f"Features that drove the model on {rows} decided bars (LightGBM pred_contrib); "
                 "green pushed toward up, red toward down, grey neither", fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def weights_of(weights: pd.DataFrame, tz: str) -> str:
    """The agents' coordinator weights at every decided bar of one session, on the session's clock."""
    subplots = _subplots()
    import matplotlib.dates as mdates

    fig, ax = subplots(figsize=(WIDTH, 2.8))
    t = local_times(weights["ts_ns"], tz)
    cols = [c for c in weights.columns if c != "ts_ns"]
    for col in cols:
        ax.plot(t, weights[col].to_numpy(np.float64), lw=1.1, label=col)
    if cols:
        ax.legend(loc="upper left", fontsize=8, ncol=len(cols))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.set_title("Agent weights (Hedge coordinator) at every decided bar", fontsize=10)
    ax.set_xlabel(f"time ({tz})")
    ax.set_ylabel("weight")
    ax.grid(alpha=0.3)
    return _png(fig)


def week_chart(days: Sequence[str], pnl: Sequence[float]) -> str:
    """PnL per session of the week (no interval: too few days for one)."""
    return daily_chart(list(days), np.asarray(pnl, dtype=np.float64), float(np.mean(pnl)) if len(pnl) else np.nan,
                       np.nan, np.nan)
