"""Fast backtest for parameter studies: a signal series over bars in, metrics out.

The input is a bar table (``market.bars.build_bars`` output: index ``close_ts``, columns ``session``,
``close``, ``bid_px_1``, ``ask_px_1``, ``session_open_ts``, ``session_close_ts``) and one direction per
bar (+1 buy, -1 sell, 0 no view). Bars are converted to numpy once; the position path is a tight loop
over *bars* (not ticks) applying the decision core's position rules, and PnL, equity and metrics are
computed from arrays. Thousands of signal series run in the time one replay takes.

Fills follow the one cost model (``live_engine/execution/costs.py``): :func:`market_fills` finds, for
each bar close, the first market event strictly after the close plus the latency and prices a buy
and a sell there with the broker's own :func:`~live_engine.execution.costs.market_fill_price` (the
standing book walked, or the print plus the spread on a trades-only tape, plus slippage). An order
decided at bar b fills at that time and price; until then the position waits, as the core's does.

It reproduces :class:`live_engine.decision.core.DecisionCore` exactly (a test shows it) when brackets are off
(``risk.use_brackets = false``: stops and targets trigger on the tape, which bars cannot see). Every
other rule is mirrored at the bar level: market fills after the latency, waiting for a pending fill,
exit on the opposite signal, max holding bars (counted from the entry decision), entry cut-off,
forced flat before the close, max daily trades, daily loss -> reduce-only, cooldown after losses,
max drawdown -> halt (cancel the pending order) and flatten, fees per contract per side. Promotion
decisions use the replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from live_engine.backtest.metrics import compute_metrics
from live_engine.config import LiveConfig
from live_engine.execution.config import CostConfig
from live_engine.execution.costs import aggressor_sides, arrival_ns, market_fill_price
from live_engine.risk.engine import MINUTE_NS
from market.instruments import Instrument
from market.schemas import ASK_PX, ASK_QTY, BID_PX, BID_QTY


@dataclass
class SweepResult:
    trades: list[dict[str, Any]]
    sessions: list[str]
    pnl: np.ndarray
    positions: np.ndarray
    metrics: dict[str, float]


_BOOK_COLS = [*BID_PX, *BID_QTY, *ASK_PX, *ASK_QTY]  # the packed row of live_engine.execution.costs
_NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class MarketFills:
    """For each bar close: when a market order decided there fills (``ts_ns``; -1: never, the tape
    ends first) and its price as a buy and as a sell (one contract)."""

    ts_ns: np.ndarray
    buy: np.ndarray
    sell: np.ndarray


def _ns(col: pd.Series | pd.Index) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(col).as_unit("ns").asi8, dtype=np.int64)


def market_fills(decision_ns: np.ndarray, trades: pd.DataFrame, book: pd.DataFrame | None, costs: CostConfig,
                 instrument: Instrument) -> MarketFills:
    """The paper broker's market fill for an order sent at each of ``decision_ns``, from the tape.

    ``trades`` / ``book`` are the replayed sessions' trades and snapshots, each in time order. The
    order fills at the first event (trades before a snapshot of the same timestamp, as the replay
    plays them) strictly after its arrival, against the snapshot standing at arrival.
    """
    t_ts = _ns(trades["ts"])
    t_px = trades["price"].to_numpy(np.float64).tolist()
    t_side = aggressor_sides(trades["trade_type"].to_numpy(np.int64)).tolist()
    b_ts, rows = np.zeros(0, dtype=np.int64), []
    if book is not None and len(book):
        b_ts, rows = _ns(book["ts"]), book[_BOOK_COLS].to_numpy(np.float64).tolist()
    arrive = np.asarray([arrival_ns(int(d), costs) for d in np.asarray(decision_ns, dtype=np.int64)], dtype=np.int64)
    first_t = np.searchsorted(t_ts, arrive, side="right").tolist()
    first_b = np.searchsorted(b_ts, arrive, side="right").tolist()
    t_ts_l, b_ts_l, nt, nb = t_ts.tolist(), b_ts.tolist(), len(t_ts), len(b_ts)
    tick = instrument.tick_size
    out_ts = np.full(len(arrive), -1, dtype=np.int64)
    out_px = {1: np.full(len(arrive), np.nan), -1: np.full(len(arrive), np.nan)}
    for k in range(len(arrive)):
        for side in (1, -1):
            i, j = first_t[k], first_b[k]
            while i < nt or j < nb:
                ti = t_ts_l[i] if i < nt else _NEVER
                tj = b_ts_l[j] if j < nb else _NEVER
                is_trade = ti <= tj
                px = market_fill_price(side, 1, book=rows[j - 1] if j > 0 else None,
                                       print_px=t_px[i] if is_trade else np.nan,
                                       print_side=t_side[i] if is_trade else 0, tick=tick, costs=costs)
                if px == px:
                    out_ts[k], out_px[side][k] = (ti if is_trade else tj), px
                    break
                i, j = (i + 1, j) if is_trade else (i, j + 1)  # nothing to fill against yet: the next event
    return MarketFills(out_ts, out_px[1], out_px[-1])


def sweep_backtest(bars: pd.DataFrame, signal: np.ndarray, config: LiveConfig, instrument: Instrument,
                   fills: MarketFills) -> SweepResult:
    """Backtest one direction series (aligned with ``bars``) under ``config``, filling market orders
    at ``fills`` (:func:`market_fills` of the same bars' close times and the cost config)."""
    sig = np.asarray(signal, dtype=np.int64)
    if len(sig) != len(bars) or len(fills.ts_ns) != len(bars):
        raise ValueError(f"signal has {len(sig)} values and fills {len(fills.ts_ns)} for {len(bars)} bars")
    ts_a = _ns(bars.index)
    sess_l = [str(s) for s in bars["session"].tolist()]
    close_l = bars["close"].to_numpy(np.float64).tolist()
    fill_ts_l = fills.ts_ns.tolist()
    buy_l, sell_l = fills.buy.tolist(), fills.sell.tolist()
    open_l = _ns(bars["session_open_ts"]).tolist()
    sclose_l = _ns(bars["session_close_ts"]).tolist()
    ts_l, sig_l = ts_a.tolist(), sig.tolist()

    r, pv = config.risk, instrument.point_value
    fee = instrument.fee_per_contract
    pos, avg, realized_pts, fees_paid = 0, 0.0, 0.0, 0.0
    held, day_entries, day_start, peak = 0, 0, 0.0, r.account_capital
    state, losses, cool_until = "ACTIVE", 0, 0
    trades: list[dict[str, Any]] = []
    open_trade: dict[str, Any] | None = None
    pending: tuple[int, float, int, int, str] | None = None  # fill ts, price, side, qty, tag
    pending_closed: list[float] = []
    pnl_out = np.zeros(len(ts_l))
    pos_out = np.zeros(len(ts_l), dtype=np.int64)
    prev_session = None
    for b, ts in enumerate(ts_l):
        if pending is not None and 0 <= pending[0] <= ts:  # the fill came before this close
            f_ts, px, side, qty, tag = pending
            pending = None
            fees_paid += fee * qty
            if pos == 0:
                pos, avg = side * qty, px
                open_trade = {"side": side, "qty": qty, "entry_ts_ns": f_ts, "entry_price": px, "fees": fee * qty}
            else:
                pts = (px - avg) * pos
                realized_pts += pts
                assert open_trade is not None
                open_trade.update(exit_ts_ns=f_ts, exit_price=px, points=pts, exit_tag=tag)
                open_trade["fees"] += fee * qty
                open_trade["pnl"] = pts * pv - open_trade["fees"]
                trades.append(open_trade)
                pending_closed.append(open_trade["pnl"])
                open_trade, pos, avg = None, 0, 0.0
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
            if state_before != "HALTED":
                pending = None  # the transition cancels everything, then flattens
                if pos:
                    side, qty, tag = (-1 if pos > 0 else 1), abs(pos), "halt"
        elif pending is not None:
            pass  # wait for the fill
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
            pending = (fill_ts_l[b], buy_l[b] if side > 0 else sell_l[b], side, qty, tag)
        held = held + 1 if pos else (1 if pending is not None else 0)  # bars since the entry decision
        pnl_out[b] = total
        pos_out[b] = pos
    metrics = compute_metrics(trades, sess_l, pnl_out, pos_out, capital=r.account_capital)
    return SweepResult(trades, sess_l, pnl_out, pos_out, metrics)


def sweep_grid(bars: pd.DataFrame, signals: Mapping[str, np.ndarray], config: LiveConfig,
               instrument: Instrument, fills: MarketFills) -> pd.DataFrame:
    """Metrics of many signal series (one row per series name), all filled at the same ``fills``."""
    rows = {name: sweep_backtest(bars, s, config, instrument, fills).metrics for name, s in signals.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def threshold_signal(score: np.ndarray, threshold: float) -> np.ndarray:
    """+1 where ``score >= threshold``, -1 where ``score <= -threshold``, else 0."""
    s = np.asarray(score, dtype=np.float64)
    out = np.zeros(len(s), dtype=np.int64)
    out[s >= threshold] = 1
    out[s <= -threshold] = -1
    return out
