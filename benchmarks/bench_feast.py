"""Feast: point-in-time retrieval of 100k rows (DuckDB offline store) and online lookup latency.

Synthetic qt65_v1 rows (100k one-minute bars of one symbol, 540 per day) are written to a temporary
lake, the repo is applied and materialised, then:

- ``features.store.get_historical_features`` for 10k and 100k (symbol, time) rows, each 30 s after a
  bar close, over as many stored rows (Feast's join matches asked and stored rows on the symbol
  first, so one symbol with many bars is the worst case);
- ``features.store.get_online_features`` (one symbol, 65 features) p50/p99 on SQLite and on Redis
  (127.0.0.1:6379, a throw-away project torn down afterwards).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import BenchResult

GROUP = "Feast feature store"
N_ROWS = 100_000
BARS_PER_DAY = 540
N_LOOKUPS = 2_000
REPO = Path(__file__).resolve().parents[1] / "feature_repo"


def _closes(n: int) -> pd.DatetimeIndex:
    days = -(-n // BARS_PER_DAY)
    opens = pd.date_range("2025-01-06 12:00", periods=days, freq="D", tz="UTC")
    minutes = pd.to_timedelta(np.arange(1, BARS_PER_DAY + 1), unit="min")
    return pd.DatetimeIndex((opens.values[:, None] + minutes.values[None, :]).ravel()[:n], tz="UTC")


def _write(settings, n: int) -> pd.DatetimeIndex:  # type: ignore[no-untyped-def]
    from features.offline import feature_table, write_feature_table
    from features.spec import FEATURE_NAMES
    from market.lake import Lake

    closes = _closes(n)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.standard_normal((n, len(FEATURE_NAMES))), index=closes, columns=list(FEATURE_NAMES))
    write_feature_table(Lake(settings.lake_root), feature_table(frame, "WDO", created=closes[-1]), "WDO")
    return closes


def _latency(fn, n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    fn()  # warm the registry cache and the connection
    samples = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        fn()
        samples[i] = time.perf_counter() - t
    return float(np.percentile(samples, 50) * 1e3), float(np.percentile(samples, 99) * 1e3)


def _historical(settings, n: int) -> BenchResult:  # type: ignore[no-untyped-def]
    """Write ``n`` stored rows, apply, and time a retrieval of ``n`` rows (30 s after each close)."""
    from features import store

    closes = _write(settings, n)
    fs = store.open_store(settings)
    store.apply_repo(settings, fs)
    entity = pd.DataFrame({"symbol": "WDO", "event_timestamp": closes + pd.Timedelta(seconds=30)})
    t = time.perf_counter()
    got = store.get_historical_features(entity, settings, store=fs)
    seconds = time.perf_counter() - t
    joined = int(got["vol_10"].notna().sum())
    return BenchResult(
        GROUP,
        f"historical retrieval, {n:,} rows of one symbol (DuckDB)",
        seconds,
        "s",
        notes=f"{joined:,} of {n:,} rows joined; {n / seconds:,.0f} rows/s; one symbol is the worst case",
    )


def run() -> list[BenchResult]:
    from features import store
    from quantumtrader.config import load_settings

    results: list[BenchResult] = []
    with tempfile.TemporaryDirectory(prefix="bench_feast_") as tmp:
        small = load_settings(root=Path(tmp) / "small", stores={"feast_repo": str(REPO)})
        results.append(_historical(small, 10_000))  # about what 20 sessions of 1-minute bars give training
        settings = load_settings(root=Path(tmp) / "large", stores={"feast_repo": str(REPO)})
        results.append(_historical(settings, N_ROWS))

        fs = store.open_store(settings)
        t = time.perf_counter()
        store.materialize_online(settings, fs)
        results.append(
            BenchResult(GROUP, f"materialize backfill from {N_ROWS:,} rows (SQLite)", time.perf_counter() - t, "s")
        )

        p50, p99 = _latency(lambda: store.get_online_features("WDO", settings), N_LOOKUPS)
        results.append(BenchResult(GROUP, "online lookup p50 (SQLite, 65 features)", p50, "ms"))
        results.append(BenchResult(GROUP, "online lookup p99 (SQLite, 65 features)", p99, "ms"))

        redis_settings = load_settings(
            root=Path(tmp) / "large", stores={"feast_repo": str(REPO)}, features={"online_store": "redis"}
        )
        project = f"qt_bench_{uuid.uuid4().hex[:8]}"
        rfs = store.open_store(redis_settings, project=project)
        try:
            store.apply_repo(redis_settings, rfs)
            store.materialize_online(redis_settings, rfs)
            p50, p99 = _latency(lambda: store.get_online_features("WDO", redis_settings, project=project), N_LOOKUPS)
            results.append(BenchResult(GROUP, "online lookup p50 (Redis, 65 features)", p50, "ms"))
            results.append(BenchResult(GROUP, "online lookup p99 (Redis, 65 features)", p99, "ms"))
        finally:
            rfs.teardown()
            store.forget_online_stores()
    return results


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: {r.value:.4g} {r.unit} {r.notes}")
