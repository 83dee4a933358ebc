"""Fast backtest for parameter studies: a signal series over bars in, metrics out.

The input is a bar table (``market.bars.build_bars`` output: index ``close_ts``, columns ``session``,
``close``, ``bid_px_1``, ``ask_px_1``, ``session_open_ts``, ``session_close_ts``) and one direction per
bar (+1 buy, -1 sell, 0 no view). Bars are converted to numpy once; the position path is a tight loop
over *bars* (not ticks) applying the decision core's position rules, and PnL, equity and metrics are
computed from arrays. Thousands of signal series run in the time one replay takes.

It reproduces :class:`live_engine.decision.core.DecisionCore` exactly (a test shows it) when brackets are off
(``risk.use_brackets = false``: stops and targets trigger on the tape, which bars cannot see) and the
broker latency is 0. Every other rule is mirrored at the bar level: entries at the opposite best of
the book at the close plus slippage, exit on the opposite signal, max holding bars, entry cut-off,
forced flat before the close, max daily trades, daily loss -> reduce-only, cooldown after losses,
max drawdown -> halt and flatten, fees per contract per side. Promotion decisions use the replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from live_engine.backtest.metrics import compute_metrics
from live_engine.config import LiveConfig
from live_engine.risk.engine import MINUTE_NS
from market.instruments import Instrument


@dataclass
class SweepResult:
    trades: list[dict[str, Any]]
    sessions: list[str]
    pnl: np.ndarray
    positions: np.ndarray
    metrics: dict[str, float]


def _ns(col: pd.Series | pd.Index) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(col).as_unit("ns").asi8, dtype=np.int64)


def sweep_backtest(bars: pd.DataFrame, signal: np.ndarray, config: LiveConfig, instrument: Instrument) -> SweepResult:
    """Backtest one direction series (aligned with ``bars``) under ``config``."""
    sig = np.asarray(signal, dtype=np.int64)
    if len(sig) != len(bars):
        raise ValueError(f"signal has {len(sig)} values for {len(bars)} bars")
    ts_a = _ns(bars.index)
    sess_l = [str(s) for s in bars["session"].tolist()]
    close_l = bars["close"].to_numpy(np.float64).tolist()
    bid_l = bars["bid_px_1"].to_numpy(np.float64).tolist()
    ask_l = bars["ask_px_1"].to_numpy(np.float64).tolist()
    open_l = _ns(bars["session_open_ts"]).tolist()
    sclose_l = _ns(bars["session_close_ts"]).tolist()
    ts_l, sig_l = ts_a.tolist(), sig.tolist()

    r, pv = config.risk, instrument.point_value
    slip = config.broker.slippage_ticks * instrument.tick_size
    fee = instrument.fee_per_contract
    pos, avg, realized_pts, fees_paid = 0, 0.0, 0.0, 0.0
    held, day_entries, day_start, peak = 0, 0, 0.0, r.account_capital
    state, losses, cool_until = "ACTIVE", 0, 0
    trades: list[dict[str, Any]] = []
    open_trade: dict[str, Any] | None = None
    pending_closed: list[float] = []
    pnl_out = np.zeros(len(ts_l))
    pos_out = np.zeros(len(ts_l), dtype=np.int64)
    prev_session = None
    for b, ts in enumerate(ts_l):
        close = close_l[b]
        total = (realized_pts + ((close - avg) * pos if pos else 0.0)) * pv - fees_paid
        if sess_l[b] != prev_session:
            prev_session = sess_l[b]
            day_entries, day_start = 0, total
            if state == "REDUCING":
                state = "ACTIVE"
        for tp in pending_closed:  # trades closed since the last bar, as the core sees them
            losses = losses + 1 if tp < 0 else 0
            if losses >= r.cooldown_after_losses:
                cool_until, losses = ts + r.cooldown_minutes * MINUTE_NS, 0
        pending_closed.clear()
        equity = r.account_capital + total
        peak = max(peak, equity)
        daily = total - day_start
        state_before = state
        if state != "HALTED" and peak > 0 and peak - equity >= r.max_drawdown_pct * peak:
            state = "HALTED"
        elif state == "ACTIVE" and daily <= -r.daily_loss_limit:
            state = "REDUCING"
        side, qty, tag = 0, 0, ""
        if state == "HALTED":
            if state_before != "HALTED" and pos:
                side, qty, tag = (-1 if pos > 0 else 1), abs(pos), "halt"
        elif pos:
            s = -1 if pos > 0 else 1
            if ts >= sclose_l[b] - r.flat_before_close_minutes * MINUTE_NS:
                side, qty, tag = s, abs(pos), "flatten"
            elif r.max_holding_bars and held >= r.max_holding_bars:
                side, qty, tag = s, abs(pos), "time_exit"
            elif sig_l[b] == s:
                side, qty, tag = s, abs(pos), "signal_exit"
        elif sig_l[b] != 0:
            d = 1 if sig_l[b] > 0 else -1
            allowed = (state == "ACTIVE" and r.max_position >= 1
                       and open_l[b] <= ts < sclose_l[b]
                       and ts < sclose_l[b] - r.no_entry_last_minutes * MINUTE_NS
                       and day_entries < r.max_daily_trades and daily > -r.daily_loss_limit
                       and ts >= cool_until)
            if allowed:
                side, qty, tag = d, 1, "entry"
                day_entries += 1
        if side:
            px = ask_l[b] + slip if side > 0 else bid_l[b] - slip
            fees_paid += fee * qty
            if pos == 0:
                pos, avg = side * qty, px
                open_trade = {"side": side, "qty": qty, "entry_ts_ns": ts, "entry_price": px, "fees": fee * qty}
            else:
                pts = (px - avg) * pos
                realized_pts += pts
                assert open_trade is not None
                open_trade.update(exit_ts_ns=ts, exit_price=px, points=pts, exit_tag=tag)
                open_trade["fees"] += fee * qty
                open_trade["pnl"] = pts * pv - open_trade["fees"]
                trades.append(open_trade)
                pending_closed.append(open_trade["pnl"])
                open_trade, pos, avg = None, 0, 0.0
        held = held + 1 if pos else 0
        pnl_out[b] = total
        pos_out[b] = pos
    metrics = compute_metrics(trades, sess_l, pnl_out, pos_out, capital=r.account_capital)
    return SweepResult(trades, sess_l, pnl_out, pos_out, metrics)


def sweep_grid(bars: pd.DataFrame, signals: Mapping[str, np.ndarray], config: LiveConfig,
               instrument: Instrument) -> pd.DataFrame:
    """Metrics of many signal series: one row per series name."""
    rows = {name: sweep_backtest(bars, s, config, instrument).metrics for name, s in signals.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def threshold_signal(score: np.ndarray, threshold: float) -> np.ndarray:
    """+1 where ``score >= threshold``, -1 where ``score <= -threshold``, else 0."""
    s = np.asarray(score, dtype=np.float64)
    out = np.zeros(len(s), dtype=np.int64)
    out[s >= threshold] = 1
    out[s <= -threshold] = -1
    return out
