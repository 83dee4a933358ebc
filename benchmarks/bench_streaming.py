"""Streaming features: per-trade update, per-book update and per-bar vector latency over simulated sessions.

The tape comes from ``market.simulator.simulate_session`` (one book snapshot per trade). Bar closes
are driven by the clock (``advance_to(ts - 1)`` before an event that would close bars) so that the
trade timings hold only the per-trade accumulator work and the bar timings only the window work.
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pandas as pd

from benchmarks.report import BenchResult
from features.streaming import FeatureEngine
from market.calendar import next_trading_days
from market.schemas import ASK_PX, ASK_QTY, BID_PX, BID_QTY
from market.simulator import simulate_session

GROUP = "Streaming features (qt65_v1)"


def _tape(n_sessions: int, trades_per_session: int) -> list[tuple[int, int, tuple]]:
    events: list[tuple[int, int, tuple]] = []
    prev = None
    for day in next_trading_days(date(2025, 11, 3), n_sessions):
        s = simulate_session(day, trades_per_session=trades_per_session, prev_close=prev)
        prev = s.close_price
        t = s.trades
        tts = pd.DatetimeIndex(t["ts"]).asi8.tolist()
        rows = zip(tts, t["price"].tolist(), t["qty"].tolist(), t["trade_type"].tolist(),
                   t["buyer"].tolist(), t["seller"].tolist(), strict=True)
        events += [(r[0], 0, r[1:]) for r in rows]
        b = s.book
        bts = pd.DatetimeIndex(b["ts"]).asi8.tolist()
        levels = zip(b[BID_PX].to_numpy(float).tolist(), b[BID_QTY].to_numpy(float).tolist(),
                     b[ASK_PX].to_numpy(float).tolist(), b[ASK_QTY].to_numpy(float).tolist(), strict=True)
        events += [(ts, 1, lv) for ts, lv in zip(bts, levels, strict=True)]
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def measure(n_sessions: int = 3, trades_per_session: int = 12_000, spec: str = "time:60s") -> dict[str, float]:
    """Run the tape once; return percentiles in microseconds and the counts."""
    events = _tape(n_sessions, trades_per_session)
    eng = FeatureEngine("WDO", bar_spec=spec)
    clock, cpu = time.perf_counter_ns, time.thread_time_ns
    trade_ns: list[int] = []
    book_ns: list[int] = []
    bar_ns: list[float] = []
    bar_cpu_ns: list[float] = []
    for ts, kind, payload in events:
        c0 = cpu()
        t0 = clock()
        n = eng.advance_to(ts - 1)
        t1 = clock()
        c1 = cpu()
        if n:
            bar_ns.append((t1 - t0) / n)
            bar_cpu_ns.append((c1 - c0) / n)
        if kind == 0:
            t0 = clock()
            eng.on_trade(ts, *payload)
            trade_ns.append(clock() - t0)
        else:
            t0 = clock()
            eng.on_book(ts, *payload)
            book_ns.append(clock() - t0)
    eng.advance_to(events[-1][0] + 86_400 * 10**9)

    def pct(xs: list[int] | list[float], q: float) -> float:
        return float(np.percentile(np.asarray(xs, dtype=float), q)) / 1000.0

    return {
        "trade_p50": pct(trade_ns, 50), "trade_p99": pct(trade_ns, 99),
        "book_p50": pct(book_ns, 50), "book_p99": pct(book_ns, 99),
        "bar_p50": pct(bar_ns, 50), "bar_p99": pct(bar_ns, 99),
        "bar_cpu_p50": pct(bar_cpu_ns, 50), "bar_cpu_p99": pct(bar_cpu_ns, 99),
        "n_trades": float(len(trade_ns)), "n_bars": float(eng.n_bars),
    }  # fmt: skip


def run() -> list[BenchResult]:
    m = measure()
    note = f"{int(m['n_trades']):,} trades, {int(m['n_bars']):,} bars (time:60s), simulated WDO sessions"
    return [
        BenchResult(GROUP, "on_trade median", m["trade_p50"], "µs", "<= 5", m["trade_p50"] <= 5.0, note),
        BenchResult(GROUP, "on_trade p99", m["trade_p99"], "µs", notes="bar closes excluded (timed below)"),
        BenchResult(GROUP, "on_book median", m["book_p50"], "µs"),
        BenchResult(GROUP, "bar close (65-vector) p50", m["bar_p50"], "µs"),
        BenchResult(GROUP, "bar close (65-vector) p99", m["bar_p99"], "µs", "<= 200", m["bar_p99"] <= 200.0,
                    "wall clock: includes scheduler preemption on a loaded machine"),
        BenchResult(GROUP, "bar close (65-vector) CPU p50", m["bar_cpu_p50"], "µs", notes="thread CPU time"),
        BenchResult(GROUP, "bar close (65-vector) CPU p99", m["bar_cpu_p99"], "µs", "<= 200",
                    m["bar_cpu_p99"] <= 200.0, "thread CPU time: the work itself, without preemption"),
    ]


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: {r.value:.2f} {r.unit} {r.target} {r.notes}")
