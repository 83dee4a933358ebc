"""``compute_batch`` on 1M synthetic 60 s bars (target <= 5 s)."""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pandas as pd

from benchmarks.report import BenchResult
from features.batch import compute_batch
from market.calendar import next_trading_days, session_bounds
from market.schemas import BAR_SCHEMA

N_BARS = 1_000_000
TARGET_S = 5.0
BARS_PER_SESSION = 540


def _cells(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    off = offsets.tolist()
    cells = np.empty(len(off) - 1, dtype=object)
    for i in range(len(off) - 1):
        cells[i] = values[off[i] : off[i + 1]]
    return cells


def synthetic_bars(n: int = N_BARS, seed: int = 3, n_brokers: int = 60) -> pd.DataFrame:
    """``n`` WDO-like 60 s bars over consecutive B3 sessions, with ~10% empty bars, brokers and a book."""
    rng = np.random.default_rng(seed)
    n_sessions = -(-n // BARS_PER_SESSION)
    days = next_trading_days(date(2015, 1, 5), n_sessions)
    bounds = np.array([[b.value for b in session_bounds(d, "WDO")] for d in days], dtype=np.int64)
    sid = np.arange(n) // BARS_PER_SESSION
    k = np.arange(n) % BARS_PER_SESSION
    close_ns = bounds[sid, 0] + (k + 1) * 60_000_000_000
    n_trades = np.where(rng.random(n) < 0.1, 0, rng.integers(1, 40, n))
    traded = n_trades > 0
    volume = np.where(traded, n_trades + rng.integers(0, 30, n), 0)
    buy = (volume * rng.random(n) * 0.9).astype(np.int64)
    sell = ((volume - buy) * 0.9).astype(np.int64)
    close = 5000.0 + 0.5 * np.cumsum(np.where(traded, rng.integers(-3, 4, n), 0))
    high = close + np.where(traded, 0.5 * rng.integers(0, 3, n), 0.0)
    low = close - np.where(traded, 0.5 * rng.integers(0, 3, n), 0.0)
    # brokers: up to 8 per traded bar, sorted ids
    n_br = np.where(traded, rng.integers(1, 9, n), 0)
    off = np.concatenate([[0], np.cumsum(n_br)]).astype(np.int64)
    key = np.repeat(np.arange(n), n_br) * n_brokers + rng.integers(0, n_brokers, off[-1])
    ids = np.sort(key) % n_brokers
    bought = rng.integers(0, 20, off[-1])
    sold = rng.integers(0, 20, off[-1])
    cols: dict[str, object] = {
        "symbol": "WDO",
        "session": np.array([d.isoformat() for d in days], dtype=object)[sid],
        "open_ts": pd.to_datetime(close_ns - 60_000_000_000, utc=True),
        "session_open_ts": pd.to_datetime(bounds[sid, 0], utc=True),
        "session_close_ts": pd.to_datetime(bounds[sid, 1], utc=True),
        "duration_s": np.full(n, 60.0),
        "open": np.where(traded, close + 0.5 * rng.integers(-1, 2, n), close).clip(low, high),
        "high": high, "low": low, "close": close,
        "first_price": np.where(traded, close, np.nan),
        "volume": volume, "n_trades": n_trades, "buy_vol": buy, "sell_vol": sell,
        "n_buy_trades": (n_trades * 0.5).astype(np.int64), "n_sell_trades": (n_trades * 0.4).astype(np.int64),
        "n_unknown_side": np.zeros(n, dtype=np.int64), "n_unknown_broker": np.zeros(n, dtype=np.int64),
        "notional": volume * close * 10.0, "pq_sum": volume * close,
        "large_buy_qty": buy // 3, "large_sell_qty": sell // 3,
        "buyer_switches": np.maximum(n_trades - 1, 0) // 2,
        "first_buyer": np.where(traded, rng.integers(0, n_brokers, n), -1),
        "last_buyer": np.where(traded, rng.integers(0, n_brokers, n), -1),
        "broker_ids": _cells(ids, off), "broker_bought": _cells(bought, off), "broker_sold": _cells(sold, off),
        "broker_aggr_buy": _cells(bought // 2, off), "broker_aggr_sell": _cells(sold // 2, off),
    }
    spread = 0.5 * rng.integers(1, 3, n)
    for i in range(1, 6):
        cols[f"bid_px_{i}"] = close - 0.5 * (i - 1)
        cols[f"ask_px_{i}"] = close + spread + 0.5 * (i - 1)
        cols[f"bid_qty_{i}"] = rng.integers(0, 50, n).astype(np.float64)
        cols[f"ask_qty_{i}"] = rng.integers(0, 50, n).astype(np.float64)
    df = pd.DataFrame(cols, index=pd.DatetimeIndex(pd.to_datetime(close_ns, utc=True), name="close_ts"))
    return df[list(BAR_SCHEMA)]


def run() -> list[BenchResult]:
    bars = synthetic_bars()
    best, cpu = float("inf"), float("inf")
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        feats = compute_batch(bars)
        best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    assert feats.shape == (len(bars), 65)
    return [BenchResult("features", "compute_batch, 1M bars x 65 features", best, "s", f"<= {TARGET_S}",
                        best <= TARGET_S, f"CPU {cpu:.2f} s; 60 s bars, ~4.5 brokers per bar of 60; best of 2")]


if __name__ == "__main__":
    for r in run():
        print(r)
