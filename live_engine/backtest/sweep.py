"""The parameter sweep: the decision core's position and risk rules run for many candidate configurations
at once, vectorised over the candidates, one step per bar close.

What a trading path does at a bar depends on what it did before (position, pending order, counters,
state), so the sweep walks the bars in order once; every candidate is a column of numpy arrays and each
step is a handful of array operations whatever their number. It reads no events: everything that
happens between two closes (market fills, bracket triggers, the last data time) was looked up once in
:class:`~live_engine.backtest.sweep_tape.SweepTape` with the cost and fill model's own functions.

It re-codes no rule. The pre-trade rules are the risk engine's (:func:`live_engine.risk.engine.build_rules`
with one limit per candidate, each rule's ``blocks`` predicate), and so are the state transition
(``next_state``), the losing-streak cooldown (``losing_streak``), the bracket distances
(``bracket_distance``) and the forced flat (``flatten_due``); the directions come from
:func:`live_engine.decision.consensus.directions`, built from the consensus's own primitives. What is
the sweep's own is the bookkeeping the core delegates to the broker: one contract per entry, a market
order waits for its fill, an exit cancels the bracket, a halt cancels everything and flattens, fees
per contract per side. On the same decisions it gives the replay's trades, fills, equity and positions,
on the default configuration (brackets, stale-data rule and all): ``tests/live_engine/test_sweep.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from live_engine.backtest import stats
from live_engine.backtest.metrics import compute_metrics
from live_engine.backtest.sweep_tape import NEVER, STOP, SweepTape
from live_engine.config import RiskConfig
from live_engine.risk.engine import (
    ACTIVE,
    HALTED,
    REDUCING,
    RiskRule,
    bracket_distance,
    build_rules,
    flatten_due,
    losing_streak,
    next_state,
)

TAGS = ("", "entry", "flatten", "time_exit", "signal_exit", "halt", "stop", "target")
ENTRY, FLATTEN, TIME_EXIT, SIGNAL_EXIT, HALT, STOP_TAG, TARGET_TAG = range(1, 8)
_LIMITS = ("max_position", "stop_loss_pct", "take_profit_pct", "max_daily_trades", "daily_loss_limit",
           "account_capital", "max_drawdown_pct", "no_entry_last_minutes", "flat_before_close_minutes",
           "cooldown_after_losses", "cooldown_minutes", "stale_after_bars", "max_holding_bars", "use_brackets")


def risk_columns(risks: Sequence[RiskConfig]) -> SimpleNamespace:
    """The candidates' risk configs as one object whose every limit is an array (one value per candidate)."""
    return SimpleNamespace(**{f: np.asarray([getattr(r, f) for r in risks]) for f in _LIMITS})


@dataclass
class SweepBatch:
    """Every candidate's path: PnL (R$, total at each close) and position per bar, and the round trips."""

    tape: SweepTape
    pnl: np.ndarray  # (bars, candidates)
    positions: np.ndarray  # (bars, candidates), int8
    trades: pd.DataFrame  # candidate, side, qty, entry/exit ts and price, points, fees, pnl, exit_tag
    capital: np.ndarray  # (candidates,)

    @property
    def n_candidates(self) -> int:
        return self.pnl.shape[1]

    def trades_of(self, k: int) -> list[dict[str, Any]]:
        """Candidate ``k``'s round trips, as the broker's ``RoundTrip`` dicts (time order)."""
        rows = self.trades[self.trades["candidate"] == k].drop(columns="candidate")
        return list(rows.to_dict("records"))

    def session_ends(self) -> np.ndarray:
        s = self.tape.session
        return np.flatnonzero(np.r_[s[1:] != s[:-1], True]) if len(s) else np.zeros(0, np.int64)

    def daily(self) -> np.ndarray:
        """(sessions, candidates): the PnL earned in each session (``metrics.daily_pnl`` of every column)."""
        ends = self.pnl[self.session_ends()]
        return np.diff(np.vstack([np.zeros((1, self.n_candidates)), ends]), axis=0)

    def metrics(self, k: int, *, n_trials: int = 1) -> dict[str, float]:
        """The replay's full metrics (``metrics.compute_metrics``) of candidate ``k``."""
        sessions = [self.tape.sessions[i] for i in self.tape.session]
        return compute_metrics(self.trades_of(k), sessions, self.pnl[:, k], self.positions[:, k],
                               capital=float(self.capital[k]), n_trials=n_trials)

    def screen(self, *, n_trials: int | None = None) -> pd.DataFrame:
        """The screening numbers of every candidate at once (the same definitions as ``compute_metrics``):
        pnl, n_trades, win_rate, sessions, trades_per_day, sharpe_per_day, max_drawdown(_pct), exposure,
        and the deflated Sharpe for ``n_trials`` (default: the number of candidates)."""
        k = self.n_candidates
        t = self.trades
        n_tr = np.bincount(t["candidate"].to_numpy(np.int64), minlength=k).astype(np.float64)
        wins = np.bincount(t["candidate"].to_numpy(np.int64), weights=(t["pnl"] > 0).to_numpy(np.float64),
                           minlength=k)
        daily = self.daily()
        n_days = daily.shape[0]
        total = self.capital[None, :] + self.pnl
        peak = np.maximum.accumulate(np.vstack([self.capital[None, :], total]), axis=0)[1:]
        dd = peak - total
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = daily.std(axis=0, ddof=1) if n_days > 1 else np.full(k, np.nan)
            sharpe = np.where(sd > 0, daily.mean(axis=0) / np.where(sd > 0, sd, 1.0), np.nan)
            out = pd.DataFrame({
                "pnl": self.pnl[-1] if len(self.pnl) else np.zeros(k),
                "n_trades": n_tr,
                "win_rate": np.where(n_tr > 0, wins / np.maximum(n_tr, 1), np.nan),
                "sessions": float(n_days),
                "trades_per_day": n_tr / n_days if n_days else np.nan,
                "sharpe_per_day": sharpe,
                "max_drawdown": dd.max(axis=0) if len(dd) else np.nan,
                "max_drawdown_pct": (dd / peak).max(axis=0) if len(dd) else np.nan,
                "exposure": (self.positions != 0).mean(axis=0) if len(dd) else np.nan,
            })
        trials = k if n_trials is None else n_trials
        out["deflated_sharpe"] = [stats.deflated_sharpe(daily[:, j], trials) for j in range(k)]
        return out


def _blocked(rules: Sequence[RiskRule], ctx: Any, is_entry: np.ndarray) -> np.ndarray:
    """Candidates whose order some rule denies (the core takes the first denial; any one denies)."""
    out = np.zeros(len(is_entry), dtype=bool)
    for rule in rules:
        out |= rule.blocks(ctx, is_entry)  # an array, or one bool for all (a rule on shared values)
    return out


def sweep(tape: SweepTape, directions: np.ndarray, risks: Sequence[RiskConfig]) -> SweepBatch:
    """Trade ``directions`` ((bars,) for all, or (bars, candidates); +1 buy, -1 sell, 0 no view, the
    consensus's direction at each close) under each of ``risks`` (one :class:`RiskConfig` per candidate)."""
    k, n = len(risks), tape.n_bars
    dirs = np.asarray(directions, dtype=np.int64)
    if dirs.ndim == 1:
        dirs = np.repeat(dirs[:, None], k, axis=1)
    if dirs.shape != (n, k):
        raise ValueError(f"directions have shape {dirs.shape}; the tape has {n} bars and there are {k} candidates")
    cfg = risk_columns(risks)
    drawdown, rules = build_rules(cfg)
    inst, f = tape.instrument, tape.fills
    pv, fee, tick = inst.point_value, inst.fee_per_contract, inst.tick_size
    capital = cfg.account_capital.astype(np.float64)
    use_br = cfg.use_brackets.astype(bool)
    has_tp = cfg.take_profit_pct > 0

    pos = np.zeros(k, np.int64)
    avg, realized, fees = np.zeros(k), np.zeros(k), np.zeros(k)
    pend = np.zeros(k, bool)
    pend_ts, pend_at = np.full(k, -1, np.int64), np.full(k, -1, np.int64)
    pend_px, pend_side, pend_tag = np.zeros(k), np.zeros(k, np.int64), np.zeros(k, np.int64)
    pend_st, pend_tt = np.zeros(k, np.int64), np.zeros(k, np.int64)
    br_ts, br_px, br_kind = np.full(k, NEVER, np.int64), np.zeros(k), np.zeros(k, np.int64)
    held, day_entries, losses = np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64)
    day_start, peak = np.zeros(k), capital.copy()
    cool_until = np.zeros(k, np.int64)
    state = np.full(k, ACTIVE, dtype="<U8")
    ent_ts, ent_px, ent_fee = np.zeros(k, np.int64), np.zeros(k), np.zeros(k)
    closed_pnl = np.zeros(k)
    rows: list[tuple[np.ndarray, ...]] = []
    pnl_out, pos_out = np.zeros((n, k)), np.zeros((n, k), np.int8)
    ctx = SimpleNamespace(bar_ns=tape.bar_ns)
    sess_l, ts_l, close_l = tape.session.tolist(), tape.ts_ns.tolist(), tape.close.tolist()
    prev_session = -1
    total = np.zeros(k)
    quiet = False  # the previous bar left every candidate flat with nothing pending and no bracket

    def close_positions(idx: np.ndarray, ts: np.ndarray, px: np.ndarray, tags: np.ndarray) -> None:
        pts = (px - avg[idx]) * pos[idx]
        realized[idx] += pts
        fees[idx] += fee
        rt_fees = ent_fee[idx] + fee
        pnl = pts * pv - rt_fees
        rows.append((idx, pos[idx].copy(), ent_ts[idx].copy(), ent_px[idx].copy(), ts, px, pts, rt_fees, pnl, tags))
        closed[idx] = True
        closed_pnl[idx] = pnl
        pos[idx], avg[idx], br_ts[idx] = 0, 0.0, NEVER

    for b in range(n):
        now = ts_l[b]
        d = dirs[b]
        if quiet and sess_l[b] == prev_session and not d.any():
            # nothing can change: no fill, no mark-to-market, the same inputs to the state rule as the
            # previous bar (which already applied them), no order; only the rows are written
            pnl_out[b] = total
            continue
        closed = np.zeros(k, bool)
        due = pend & (pend_ts >= 0) & (pend_ts <= now)
        if due.any():  # market orders that filled before this close
            idx = np.flatnonzero(due)
            pend[idx] = False
            opening = idx[pos[idx] == 0]
            exiting = idx[pos[idx] != 0]
            if len(exiting):
                close_positions(exiting, pend_ts[exiting], pend_px[exiting], pend_tag[exiting])
            if len(opening):
                side = pend_side[opening]
                pos[opening], avg[opening] = side, pend_px[opening]
                fees[opening] += fee
                ent_ts[opening], ent_px[opening], ent_fee[opening] = pend_ts[opening], pend_px[opening], fee
                for j in opening[(pend_st[opening] > 0) | (pend_tt[opening] > 0)].tolist():
                    br_ts[j], br_px[j], br_kind[j] = tape.bracket_exit(int(pend_at[j]), int(pend_side[j]),
                                                                       float(pend_px[j]), int(pend_st[j]),
                                                                       int(pend_tt[j]))
        hit = (pos != 0) & (br_ts <= now)
        if hit.any():  # a stop or a target triggered on a print before this close
            idx = np.flatnonzero(hit)
            close_positions(idx, br_ts[idx], br_px[idx], np.where(br_kind[idx] == STOP, STOP_TAG, TARGET_TAG))
        close = close_l[b]
        total = (realized + np.where(pos != 0, (close - avg) * pos, 0.0)) * pv - fees
        if sess_l[b] != prev_session:  # the core's start_session
            prev_session = sess_l[b]
            day_entries[:] = 0
            day_start = total.copy()
            state = np.where(state == REDUCING, ACTIVE, state)
        if closed.any():
            idx = np.flatnonzero(closed)
            losses[idx], cool_until[idx] = losing_streak(losses[idx], cool_until[idx], closed_pnl[idx], now,
                                                         cfg.cooldown_after_losses[idx], cfg.cooldown_minutes[idx])
        equity = capital + total
        peak = np.maximum(peak, equity)
        daily = total - day_start
        ctx.now_ns, ctx.session_open_ns, ctx.session_close_ns = now, int(tape.open_ns[b]), int(tape.close_ns[b])
        ctx.last_data_ns, ctx.equity, ctx.peak_equity, ctx.daily_pnl = int(tape.last_data_ns[b]), equity, peak, daily
        ctx.daily_entries, ctx.cooldown_until_ns = day_entries, cool_until
        before = state
        state = next_state(state, drawdown.breached(ctx), daily, cfg.daily_loss_limit)
        ctx.state = state
        halted = state == HALTED
        order_side, order_tag = np.zeros(k, np.int64), np.zeros(k, np.int64)
        trans = halted & (before != HALTED)
        if trans.any():  # the transition cancels everything, then flattens
            pend[trans], br_ts[trans] = False, NEVER
            out = trans & (pos != 0)
            order_side[out], order_tag[out] = -np.sign(pos[out]), HALT
        free = ~halted & ~pend
        inpos = free & (pos != 0)
        want_entry = free & (pos == 0) & (d != 0)
        tag = np.zeros(k, np.int64)
        if inpos.any():
            exit_side = -np.sign(pos)
            tag = np.select([flatten_due(now, ctx.session_close_ns, cfg.flat_before_close_minutes),
                             (cfg.max_holding_bars > 0) & (held >= cfg.max_holding_bars), d == exit_side],
                            [FLATTEN, TIME_EXIT, SIGNAL_EXIT], 0)
            tag = np.where(inpos, tag, 0)
        want_exit = tag > 0
        if want_exit.any() or want_entry.any():
            blocked = _blocked(rules, ctx, want_entry)
            go_exit, go_entry = want_exit & ~blocked, want_entry & ~blocked
            br_ts[go_exit] = NEVER  # the core cancels the bracket before it sends the exit
            order_side[go_exit], order_tag[go_exit] = -np.sign(pos[go_exit]), tag[go_exit]
            order_side[go_entry], order_tag[go_entry] = d[go_entry], ENTRY
            day_entries[go_entry] += 1
            st = np.where(use_br, bracket_distance(close, cfg.stop_loss_pct, tick), 0).astype(np.int64)
            tt = np.where(use_br & has_tp, bracket_distance(close, cfg.take_profit_pct, tick), 0).astype(np.int64)
            pend_st[go_entry], pend_tt[go_entry] = st[go_entry], tt[go_entry]
            pend_st[go_exit], pend_tt[go_exit] = 0, 0
        sent = order_side != 0
        if sent.any():
            buy = order_side > 0
            pend[sent] = True
            pend_side[sent], pend_tag[sent] = order_side[sent], order_tag[sent]
            pend_ts[sent] = np.where(buy, f.buy_ts[b], f.sell_ts[b])[sent]
            pend_px[sent] = np.where(buy, f.buy[b], f.sell[b])[sent]
            pend_at[sent] = np.where(buy, f.buy_at[b], f.sell_at[b])[sent]
            if trans.any():
                pend_st[trans], pend_tt[trans] = 0, 0
        held = np.where(pos != 0, held + 1, np.where(pend, 1, 0))  # bars since the entry decision
        pnl_out[b] = total
        pos_out[b] = pos
        quiet = not (pend.any() or pos.any())
    return SweepBatch(tape, pnl_out, pos_out, _trade_frame(rows), capital)


def _trade_frame(rows: list[tuple[np.ndarray, ...]]) -> pd.DataFrame:
    cols = ["candidate", "side", "entry_ts_ns", "entry_price", "exit_ts_ns", "exit_price", "points", "fees", "pnl",
            "exit_tag"]
    if not rows:
        ints = {"candidate": "int64", "side": "int64", "entry_ts_ns": "int64", "exit_ts_ns": "int64"}
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols}).astype({**ints, "exit_tag": "object"})
    parts = [np.concatenate([r[i] for r in rows]) for i in range(len(cols))]
    df = pd.DataFrame(dict(zip(cols, parts, strict=True)))
    df["exit_tag"] = np.asarray(TAGS, dtype=object)[df["exit_tag"].to_numpy(np.int64)]
    df["qty"] = 1
    return df.sort_values(["candidate", "exit_ts_ns", "entry_ts_ns"], kind="stable").reset_index(drop=True)
