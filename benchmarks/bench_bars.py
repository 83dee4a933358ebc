"""Bar building throughput on 1M synthetic WDO trades (target >= 500k trades/s)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from benchmarks.report import BenchResult
from market.bars import build_bars
from market.calendar import next_trading_days, session_bounds

N_TRADES = 1_000_000
PER_SESSION = 12_000
TARGET = 500_000


def synthetic_trades(n: int = N_TRADES, per_session: int = PER_SESSION, seed: int = 1) -> pd.DataFrame:
    """``n`` random-walk WDO trades spread over consecutive B3 sessions (bursts share timestamps)."""
    rng = np.random.default_rng(seed)
    n_sessions = -(-n // per_session)
    days = next_trading_days(pd.Timestamp("2024-01-02").date(), n_sessions)
    ts_parts = []
    for i, day in enumerate(days):
        o, c = session_bounds(day, "WDO")
        m = min(per_session, n - i * per_session)
        offs = np.sort(rng.integers(1, (c.value - o.value) // 1_000_000, size=m)) * 1_000_000
        ts_parts.append(o.value + offs)
    ts = np.concatenate(ts_parts)
    price = 5000.0 + 0.5 * np.cumsum(rng.integers(-1, 2, size=n))
    return pd.DataFrame({
        "ts": pd.to_datetime(ts, utc=True),
        "symbol": "WDO",
        "trade_id": np.arange(n, dtype=np.int64),
        "price": price,
        "qty": np.minimum(rng.pareto(1.5, size=n).astype(np.int64) + 1, 500),
        "fin_volume": 0.0,
        "buyer": rng.integers(1, 80, size=n).astype(np.int32),
        "seller": rng.integers(1, 80, size=n).astype(np.int32),
        "trade_type": rng.choice(np.array([1, 2, 3], dtype=np.int8), size=n, p=[0.05, 0.5, 0.45]),
    })


def _measure(trades: pd.DataFrame, spec: str) -> tuple[float, float, int]:
    best, cpu = float("inf"), float("inf")
    n_bars = 0
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        bars = build_bars(trades, None, spec=spec, symbol="WDO", large_trade_qty=10)
        best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        n_bars = len(bars)
    return best, cpu, n_bars


def run() -> list[BenchResult]:
    trades = synthetic_trades()
    out = []
    for spec in ("time:60s", "volume:100", "tick:50"):
        secs, cpu, n_bars = _measure(trades, spec)
        rate = len(trades) / secs
        out.append(BenchResult("bars", f"build_bars {spec}, 1M trades", rate, "trades/s", f">= {TARGET}",
                               rate >= TARGET, f"{secs:.2f} s wall, {cpu:.2f} s CPU, {n_bars} bars (best of 2)"))
    return out


if __name__ == "__main__":
    for r in run():
        print(r)
