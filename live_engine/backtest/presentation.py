"""How a backtest's metrics read on screen and in the HTML report: labels, units, intervals, warnings.

One copy for both :func:`live_engine.cli.print_summary` and :mod:`live_engine.backtest.report`: a
metric is money (``R$ 1,350.00``), a count (``50``), a share (``56.0 %``), a probability or a ratio;
an undefined value (nan in Python, null in ``metrics.json``) reads "n/a". The Sharpe and Sortino
labels carry their unit (per day, or annualised x sqrt(252)) and the number of days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NA = "n/a"
MONEY, COUNT, SHARE, PROB, RATIO, MINUTES = "money", "count", "share", "prob", "ratio", "minutes"
EXIT_LABELS = {"time_exit": "time exit", "signal_exit": "opposite signal", "stop": "stop loss",
               "target": "take profit", "flatten": "flat before close", "halt": "halt (drawdown)"}


def number(v: Any) -> float:
    """A metric as a float; None (null in JSON), strings and booleans are nan."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return math.nan
    return float(v)


def fmt(v: Any, kind: str) -> str:
    """Format one value of ``kind``; "n/a" when it is undefined."""
    x = number(v)
    if not math.isfinite(x):
        return NA
    if kind == MONEY:
        return f"-R$ {-x:,.2f}" if x < 0 else f"R$ {x:,.2f}"
    if kind == COUNT:
        return f"{round(x):,}"
    if kind in (SHARE, PROB):
        return f"{x * 100:.1f} %"
    if kind == MINUTES:
        return f"{x:,.1f} min"
    return f"{x:,.2f}"


@dataclass(frozen=True)
class Row:
    label: str
    value: str
    interval: str = ""  # "[lo … hi]" for an estimate with a bootstrap interval


def _interval(m: Mapping[str, Any], key: str, kind: str) -> str:
    lo, hi = m.get(f"{key}_lo"), m.get(f"{key}_hi")
    if not math.isfinite(number(lo)) or not math.isfinite(number(hi)):
        return NA
    return f"[{fmt(lo, kind)} … {fmt(hi, kind)}]"


def _row(m: Mapping[str, Any], key: str, label: str, kind: str, interval: bool = False) -> Row:
    return Row(label, fmt(m.get(key), kind), _interval(m, key, kind) if interval else "")


def _count_share(m: Mapping[str, Any], key: str, of: float, label: str) -> Row:
    c = number(m.get(key))
    share = c / of if of > 0 and math.isfinite(c) else math.nan
    return Row(label, fmt(c, COUNT), f"{fmt(share, SHARE)} of signals" if math.isfinite(share) else "")


def sections(m: Mapping[str, Any], info: Mapping[str, Any] | None = None) -> list[tuple[str, list[Row]]]:
    """The metrics as titled groups of rows, in reading order."""
    days = number(m.get("sessions"))
    nd = f"{round(days)} day{'s' if days != 1 else ''}" if math.isfinite(days) else "? days"
    trials = number(m.get("deflated_sharpe_trials"))
    nt = f"{round(trials)}" if math.isfinite(trials) else "1"
    source = str((info or {}).get("deflated_sharpe_trials", ""))
    known = "" if not source or not source.startswith("unknown") else ", unknown"
    result = [
        _row(m, "pnl", "PnL after costs", MONEY),
        _row(m, "n_trades", "Trades", COUNT),
        _row(m, "trades_per_day", "Trades per day", RATIO),
        _row(m, "pnl_per_trade", "PnL per trade after costs", MONEY, True),
        _row(m, "fees", "Fees", MONEY),
        _row(m, "fees_per_trade", "Fees per trade", MONEY),
        _row(m, "win_rate", "Win rate", SHARE),
        _row(m, "profit_factor", "Profit factor", RATIO),
        _row(m, "max_drawdown", "Max drawdown", MONEY),
        _row(m, "max_drawdown_pct", "Max drawdown, % of peak equity", SHARE),
        _row(m, "exposure", "Exposure (bars in a position)", SHARE),
        _row(m, "avg_holding_minutes", "Average holding time", MINUTES),
    ]
    daily = [
        _row(m, "daily_pnl_mean", f"Mean daily PnL ({nd})", MONEY, True),
        _row(m, "daily_pnl_sd", "Daily PnL standard deviation", MONEY),
        _row(m, "prob_daily_pnl_positive", "P(mean daily PnL > 0)", PROB),
        _row(m, "sharpe_per_day", f"Sharpe per day ({nd})", RATIO, True),
        _row(m, "sharpe_annualised", f"Sharpe annualised (×√252, {nd})", RATIO),
        _row(m, "sortino_per_day", f"Sortino per day ({nd})", RATIO),
        _row(m, "sortino_annualised", f"Sortino annualised (×√252, {nd})", RATIO),
        _row(m, "deflated_sharpe", f"Deflated Sharpe ({nt} config{'s' if nt != '1' else ''} tried{known})", PROB),
    ]
    signals = number(m.get("signals"))
    caps = [Row("Entry signals", fmt(signals, COUNT)),
            _count_share(m, "signals_taken", signals, "taken"),
            _count_share(m, "signals_denied", signals, "denied by the risk rules")]
    for key in m:
        if key.startswith("signals_denied_") and key != "signals_denied_share":
            caps.append(_count_share(m, key, signals, f"denied: {key.removeprefix('signals_denied_')}"))
    if number(m.get("exit_orders_denied")) > 0:
        caps.append(_row(m, "exit_orders_denied", "exit orders denied", COUNT))
    exits = number(m.get("n_trades"))
    for key in m:
        if key.startswith("exits_"):
            tag = key.removeprefix("exits_")
            c = number(m[key])
            if c > 0 or tag in ("time_exit", "stop", "target", "flatten"):
                share = c / exits if exits > 0 else math.nan
                caps.append(Row(f"exits: {EXIT_LABELS.get(tag, tag)}", fmt(c, COUNT),
                                f"{fmt(share, SHARE)} of exits" if math.isfinite(share) else ""))
    contrib = [Row(k.removeprefix("contribution_"), fmt(v, MONEY)) for k, v in m.items()
               if k.startswith("contribution_")]
    out = [("Result", result), ("Daily PnL and risk-adjusted", daily), ("Signals, caps and exits", caps)]
    if contrib:
        out.append(("PnL attributed to each source", contrib))
    return out


def notes(m: Mapping[str, Any], info: Mapping[str, Any] | None = None) -> list[str]:
    """Plain-language warnings a trader should read before any number."""
    info = info or {}
    out: list[str] = []
    if info.get("sample") == "in-sample":
        out.append("In-sample: the replayed sessions overlap the model's training sessions.")
    days = number(m.get("sessions"))
    if math.isfinite(days) and days < 2:
        out.append(f"{round(days)} day: the daily statistics (Sharpe, Sortino, intervals) are undefined.")
    elif math.isfinite(days) and days < 20:
        out.append(f"Only {round(days)} days: the daily Sharpe and the daily intervals rest on {round(days)} "
                   "numbers (the intervals are widened for it; see docs/metrics.md).")
    lo, hi = number(m.get("daily_pnl_mean_lo")), number(m.get("daily_pnl_mean_hi"))
    if math.isfinite(lo) and math.isfinite(hi) and lo <= 0 <= hi:
        out.append("The 90 % interval of the mean daily PnL includes 0: this result is not distinguishable "
                   "from luck.")
    elif math.isfinite(hi) and hi < 0:
        out.append("The 90 % interval of the mean daily PnL is below 0: after costs this loses money.")
    signals, taken = number(m.get("signals")), number(m.get("signals_taken"))
    cap = number(m.get("signals_denied_MAX_DAILY_TRADES"))
    if math.isfinite(cap) and cap > taken:
        out.append(f"The daily trade cap, not the signal, sets the trade count: {fmt(cap, COUNT)} of "
                   f"{fmt(signals, COUNT)} entry signals ({fmt(cap / signals, SHARE)}) were denied by "
                   f"MAX_DAILY_TRADES, {fmt(taken, COUNT)} were taken.")
    time_exits, n = number(m.get("exits_time_exit")), number(m.get("n_trades"))
    if n > 0 and time_exits / n >= 0.5:
        out.append(f"{fmt(time_exits, COUNT)} of {fmt(n, COUNT)} exits ({fmt(time_exits / n, SHARE)}) are the "
                   "time exit: the holding limit, not a stop, a target or the signal, closes most trades.")
    source = str(info.get("deflated_sharpe_trials", ""))
    if source.startswith("unknown"):
        out.append(f"Configurations tried in tuning: {source}; the deflated Sharpe is then the probabilistic "
                   "Sharpe against 0 and flatters.")
    return out
