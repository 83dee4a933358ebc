"""The reports' numbers as pure functions over plain tables (no I/O): round trips from the journal's fills,
win rate with its interval, drawdown, risk-limit usage, latency, agent performance.

Money is R$ net of the fees the journal records on each fill. A trade is a round trip from flat to flat,
accounted at the average entry price, as the paper broker accounts it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

TRADE_COLS = ["entry_ts_ns", "exit_ts_ns", "side", "qty", "entry_price", "exit_price", "points", "fees", "pnl",
              "exit_tag"]


def round_trips(fills: pd.DataFrame, point_value: float) -> pd.DataFrame:
    """Flat-to-flat trades from fills (time order): side of the entry, max quantity, average entry and exit
    prices, points, fees (every fill's) and net PnL in R$. A position still open at the end is no trade."""
    rows: list[dict[str, Any]] = []
    pos, avg, cur = 0, 0.0, None
    for f in fills.itertuples(index=False):
        signed = int(f.side) * int(f.qty)
        price, fee = float(f.price), float(f.fee)
        if pos == 0 or (pos > 0) == (signed > 0):
            new = pos + signed
            avg = (avg * abs(pos) + price * abs(signed)) / abs(new)
            pos = new
            if cur is None:
                cur = {"entry_ts_ns": int(f.ts_ns), "side": int(f.side), "qty": abs(signed), "entry_price": price,
                       "points": 0.0, "fees": 0.0, "exit_qty": 0, "exit_value": 0.0}
            cur["qty"] = max(cur["qty"], abs(pos))
            cur["fees"] += fee
            cur["entry_price"] = avg
            continue
        closed = min(abs(pos), abs(signed))
        assert cur is not None
        cur["points"] += (price - avg) * closed * (1 if pos > 0 else -1)
        cur["fees"] += fee
        cur["exit_qty"] += closed
        cur["exit_value"] += price * closed
        pos += signed
        if pos == 0 or (pos > 0) != (pos - signed > 0):
            rows.append(_close(cur, int(f.ts_ns), str(f.tag), point_value))
            cur = None
            if pos != 0:  # crossed zero: the remainder opens a new trade
                avg = price
                cur = {"entry_ts_ns": int(f.ts_ns), "side": 1 if pos > 0 else -1, "qty": abs(pos),
                       "entry_price": price, "points": 0.0, "fees": 0.0, "exit_qty": 0, "exit_value": 0.0}
            else:
                avg = 0.0
    return pd.DataFrame(rows, columns=TRADE_COLS)


def _close(cur: dict[str, Any], ts_ns: int, tag: str, point_value: float) -> dict[str, Any]:
    return {"entry_ts_ns": cur["entry_ts_ns"], "exit_ts_ns": ts_ns, "side": cur["side"], "qty": cur["qty"],
            "entry_price": cur["entry_price"], "exit_price": cur["exit_value"] / cur["exit_qty"],
            "points": cur["points"], "fees": cur["fees"],
            "pnl": cur["points"] * point_value - cur["fees"], "exit_tag": tag}


def max_drawdown(pnls: Sequence[float] | np.ndarray) -> float:
    """Largest fall (R$, >= 0) of the cumulative PnL from its running peak; the curve starts at 0."""
    cum = np.concatenate([[0.0], np.cumsum(np.asarray(pnls, dtype=np.float64))])
    return float(np.max(np.maximum.accumulate(cum) - cum))


def wilson(wins: int, n: int, level: float = 0.90) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN, NaN without observations)."""
    if n <= 0:
        return math.nan, math.nan
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    p = wins / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def rate(wins: int, n: int, *, level: float, small: int) -> dict[str, Any]:
    """A share with its count, Wilson interval and a small-sample label."""
    lo, hi = wilson(wins, n, level)
    return {"wins": wins, "n": n, "rate": wins / n if n else None, "lo": None if math.isnan(lo) else lo,
            "hi": None if math.isnan(hi) else hi, "level": level, "small_sample": n < small}


def trade_summary(trades: pd.DataFrame, *, level: float, small: int) -> dict[str, Any]:
    """Trades, PnL (net), gross, fees, win rate (a trade wins when its net PnL > 0), max drawdown."""
    pnl = trades["pnl"].to_numpy(dtype=np.float64)
    wins = int((pnl > 0).sum())
    return {"trades": len(trades), "pnl": float(pnl.sum()), "fees": float(trades["fees"].sum()),
            "gross_pnl": float(pnl.sum() + trades["fees"].sum()), "win_rate": rate(wins, len(pnl), level=level,
                                                                                     small=small),
            "max_drawdown": max_drawdown(pnl), "best_trade": float(pnl.max()) if len(pnl) else None,
            "worst_trade": float(pnl.min()) if len(pnl) else None,
            "avg_trade": float(pnl.mean()) if len(pnl) else None}


def equity_curve(fills: pd.DataFrame, bars: pd.DataFrame | None, point_value: float) -> pd.DataFrame:
    """PnL through the day (R$, net of fees paid so far): realised after each fill, and marked to the close at
    each decided bar (``bars``: ts_ns, close). Columns ts_ns, realised, marked."""
    events: list[tuple[int, int, Any]] = [(int(f.ts_ns), 0, f) for f in fills.itertuples(index=False)]
    if bars is not None:
        events += [(int(t), 1, float(c)) for t, c in zip(bars["ts_ns"], bars["close"], strict=True)]
    events.sort(key=lambda e: (e[0], e[1]))
    pos, avg, points, fees = 0, 0.0, 0.0, 0.0
    out = []
    for ts, kind, item in events:
        if kind == 0:
            signed = int(item.side) * int(item.qty)
            price = float(item.price)
            fees += float(item.fee)
            if pos == 0 or (pos > 0) == (signed > 0):
                avg = (avg * abs(pos) + price * abs(signed)) / abs(pos + signed)
            else:
                closed = min(abs(pos), abs(signed))
                points += (price - avg) * closed * (1 if pos > 0 else -1)
                if abs(signed) > abs(pos):
                    avg = price
            pos += signed
            mark = price
        else:
            mark = item
        realised = points * point_value - fees
        unreal = (mark - avg) * pos * point_value if pos else 0.0
        out.append((ts, realised, realised + unreal))
    return pd.DataFrame(out, columns=["ts_ns", "realised", "marked"])


def risk_usage(orders: pd.DataFrame, decisions: pd.DataFrame | None, trades: pd.DataFrame, equity: pd.DataFrame,
               limits: Mapping[str, Any]) -> dict[str, Any]:
    """Entries against ``max_daily_trades``; the day's loss (and its worst point) against ``daily_loss_limit``;
    the risk engine's denials by reason code (decision log) and the risk states the day went through."""
    entries = int((orders["tag"] == "entry").sum()) if len(orders) else 0
    day_pnl = float(trades["pnl"].sum()) if len(trades) else 0.0
    worst = float(equity["marked"].min()) if len(equity) else 0.0
    denials: dict[str, int] = {}
    states: dict[str, int] = {}
    if decisions is not None and len(decisions):
        if "denial" in decisions:
            d = decisions.loc[decisions["action"] == "denied", "denial"].fillna("").astype(str)
            denials = {str(k): int(v) for k, v in d.value_counts().sort_index().items()}
        states = {str(k): int(v) for k, v in decisions["state"].astype(str).value_counts().sort_index().items()}
    max_trades, loss_limit = int(limits["max_daily_trades"]), float(limits["daily_loss_limit"])
    return {"entries": entries, "max_daily_trades": max_trades, "entries_used": entries / max_trades,
            "daily_loss": max(0.0, -day_pnl), "worst_intraday_pnl": min(0.0, worst),
            "daily_loss_limit": loss_limit, "loss_used": max(0.0, -min(0.0, worst)) / loss_limit,
            "denials": denials, "denials_recorded": decisions is not None and "denial" in decisions,
            "bars_by_state": states}


def latency(decisions: pd.DataFrame | None) -> dict[str, Any]:
    """Bar decision latency (the engine's own measure, bar close event to decision) p50 / p99 / max, ms."""
    if decisions is None or "latency_ns" not in decisions:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    lat = decisions["latency_ns"].dropna().to_numpy(dtype=np.float64) / 1e6
    if not len(lat):
        return {"n": 0, "p50": None, "p99": None, "max": None}
    p50, p99 = np.percentile(lat, [50, 99])
    return {"n": len(lat), "p50": float(p50), "p99": float(p99), "max": float(lat.max())}


def agent_names(decisions: pd.DataFrame | None) -> list[str]:
    if decisions is None:
        return []
    return [c.removeprefix("vote_") for c in decisions.columns if c.startswith("vote_")]


def agent_performance(decisions: pd.DataFrame, *, level: float, small: int) -> list[dict[str, Any]]:
    """Per agent over the decided bars: votes cast (a finite signal), directional calls (|signal| > 0), how
    many pointed the way the next bar's close went (within the session; flat next bars are not counted),
    its edge (mean of signal x next log return, basis points) and its coordinator weight (first, last, mean)."""
    out = []
    d = decisions.sort_values("ts_ns", kind="stable")
    nxt = d.groupby("session", sort=False)["close"].shift(-1)
    ret = np.log(nxt.to_numpy(dtype=np.float64) / d["close"].to_numpy(dtype=np.float64))
    for name in agent_names(d):
        s = d[f"vote_{name}"].to_numpy(dtype=np.float64)
        voted = np.isfinite(s)
        called = voted & (s != 0) & np.isfinite(ret) & (ret != 0)
        hits = int((np.sign(s[called]) == np.sign(ret[called])).sum())
        usable = voted & np.isfinite(ret)
        edge = float(np.mean(s[usable] * ret[usable]) * 1e4) if usable.any() else None
        w = d[f"weight_{name}"].to_numpy(dtype=np.float64) if f"weight_{name}" in d else np.array([])
        w = w[np.isfinite(w)]
        out.append({"agent": name, "bars": len(d), "votes": int(voted.sum()), "calls": int(called.sum()),
                    "hit_rate": rate(hits, int(called.sum()), level=level, small=small), "edge_bps": edge,
                    "weight_first": float(w[0]) if len(w) else None, "weight_last": float(w[-1]) if len(w) else None,
                    "weight_mean": float(w.mean()) if len(w) else None})
    return out
