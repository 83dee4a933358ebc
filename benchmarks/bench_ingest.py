"""Ingest benchmarks: validation + lake + bars throughput on 1M trades, and the peak memory of
ingesting a 5M-row Profit export against a 1M-row one (each in a fresh subprocess).

Trades are synthetic WDO-like sessions of ``TRADES_PER_DAY`` trades (times sorted inside the
session, price on the 0.5 tick grid, heavy-tailed sizes, a few brokers), so a bigger file has more
days, not bigger days: the ingest buffers one day, so its peak memory must not grow with the file.

Run alone: ``python -m benchmarks --only bench_ingest``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import BenchResult

GROUP = "Ingest and validation"
TRADES_PER_DAY = 250_000
THROUGHPUT_TARGET = 200_000.0


def synthetic_day(day: date, n: int, seed: int) -> pd.DataFrame:
    """``n`` plausible WDO trades inside ``day``'s session (TRADE_SCHEMA)."""
    from market.calendar import session_bounds

    rng = np.random.default_rng(seed)
    open_ts, close_ts = session_bounds(day, "WDO")
    span_ms = int((close_ts - open_ts).value // 1_000_000)
    ms = np.sort(rng.integers(0, span_ms, n))
    ticks = np.cumsum(rng.choice([-1, 0, 0, 0, 1], n))
    price = 5_250.0 + 0.5 * ticks
    qty = np.minimum(1 + rng.pareto(1.5, n).astype("int64"), 500)
    brokers = np.array([3, 8, 15, 27, 40, 72, 85, 114, 120, 1099], dtype="int32")
    return pd.DataFrame({
        "ts": open_ts + pd.to_timedelta(ms, unit="ms"),
        "symbol": "WDO",
        "trade_id": np.arange(1, n + 1, dtype="int64") * 10,
        "price": price,
        "qty": qty,
        "fin_volume": price * qty * 10.0,
        "buyer": rng.choice(brokers, n),
        "seller": rng.choice(brokers, n),
        "trade_type": rng.choice([2, 3, 1, 4, 13], n, p=[0.47, 0.47, 0.03, 0.01, 0.02]).astype("int8"),
    })


def _days(n_days: int) -> list[date]:
    from market.calendar import next_trading_days

    return next_trading_days(date(2026, 1, 5), n_days)


def write_export(path: Path, n_rows: int) -> None:
    """A Profit export of ``n_rows`` trades, written one day at a time (bounded memory here too)."""
    from market.brokers import BrokerRegistry
    from market.loaders import write_profit_export

    brokers = BrokerRegistry()
    n_days = max(1, n_rows // TRADES_PER_DAY)
    with open(path, "wb") as out:
        for i, day in enumerate(_days(n_days)):
            part = path.with_name(f"{path.name}.{i}.part")
            write_profit_export(synthetic_day(day, TRADES_PER_DAY, seed=i), part, brokers)
            with open(part, "rb") as fh:
                if i:
                    fh.readline()  # header only once
                while block := fh.read(1 << 24):
                    out.write(block)
            part.unlink()


def _throughput(tmp: Path) -> list[BenchResult]:
    from expectations.runner import run_suite
    from market.gates import trades_checks
    from market.ingest import ingest_frames
    from quantumtrader.config import load_settings

    n_days = 1_000_000 // TRADES_PER_DAY
    days = [synthetic_day(d, TRADES_PER_DAY, seed=i) for i, d in enumerate(_days(n_days))]
    settings = load_settings(root=tmp / "throughput")
    warm = days[0].iloc[:1000]
    ingest_frames(warm, None, symbol="WDO", settings=settings)  # imports and the GE context, not measured

    t0 = time.perf_counter()
    for i, frame in enumerate(days):
        run_suite("trades", trades_checks(frame, _days(n_days)[i], "WDO"))
    validate_s = time.perf_counter() - t0

    t0, c0 = time.perf_counter(), time.process_time()
    total = 0
    for frame in days:
        total += ingest_frames(frame, None, symbol="WDO", settings=settings).trades_written
    ingest_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    n = sum(len(f) for f in days)
    assert total == n, f"expected every synthetic trade written, got {total} of {n}"
    rate = n / ingest_s
    load = os.getloadavg()[0]
    return [
        BenchResult(GROUP, "GE trades suite alone (1M trades, 4 days)", n / validate_s, "trades/s",
                    notes=f"{validate_s:.2f} s"),
        BenchResult(GROUP, "ingest: validate + quarantine + lake write + bars + bar gate (1M trades)", rate,
                    "trades/s", f">= {THROUGHPUT_TARGET:,.0f}", rate >= THROUGHPUT_TARGET,
                    f"{ingest_s:.2f} s wall, {cpu_s:.2f} s CPU ({n / cpu_s:,.0f} trades/CPU-s), in-memory frames, "
                    f"{TRADES_PER_DAY:,} trades/day, load average {load:.1f} on {os.cpu_count()} cores"),
    ]


def _child_ingest(path: Path, root: Path) -> dict[str, float]:
    """Run one Profit-export ingest in a fresh interpreter; return its peak RSS and timings."""
    code = (
        "import json, time, sys\n"
        "from pathlib import Path\n"
        "from market.ingest import ingest_path\n"
        "from quantumtrader.config import load_settings\n"
        "import expectations.runner\n"
        "expectations.runner._batch_definition()  # GE import + context: ~6 s once per process, not timed\n"
        f"s = load_settings(root=Path({str(root)!r}))\n"
        "t = time.perf_counter()\n"
        f"r = ingest_path(Path({str(path)!r}), symbol='WDO', settings=s)\n"
        "el = time.perf_counter() - t\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so the child would report the peak
        # of the benchmark process that started it (seen: 3,268 MiB for both files).
        "import re\n"
        "hwm = int(re.search(r'VmHWM:\\s+(\\d+) kB', Path('/proc/self/status').read_text()).group(1))\n"
        "print(json.dumps({'peak_rss_mib': hwm / 1024, 'rows': r.trades_written, 'seconds': el}))\n"
    )
    env = {**os.environ, "QT_LOGGING__LEVEL": "WARNING", "GX_ANALYTICS_ENABLED": "false"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False,
                          cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        raise RuntimeError(f"ingest subprocess failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _memory(tmp: Path) -> list[BenchResult]:
    out: dict[int, dict[str, float]] = {}
    sizes = (1_000_000, 5_000_000)
    for n in sizes:
        path = tmp / f"wdo_{n}.csv"
        write_export(path, n)
        mib = path.stat().st_size / 2**20
        out[n] = {**_child_ingest(path, tmp / f"mem_{n}"), "file_mib": mib}
        path.unlink()
    small, big = out[sizes[0]], out[sizes[1]]
    ratio = big["peak_rss_mib"] / small["peak_rss_mib"]
    results = [
        BenchResult(GROUP, f"peak RSS, {n / 1e6:.0f}M-row Profit export", o["peak_rss_mib"], "MiB",
                    notes=f"file {o['file_mib']:,.0f} MiB; {o['rows'] / o['seconds']:,.0f} trades/s end to end "
                          f"(CSV parse + validate + lake + bars)")
        for n, o in out.items()
    ]
    results.append(BenchResult(GROUP, "peak RSS ratio 5M / 1M rows", ratio, "x", "<= 1.25", ratio <= 1.25,
                               "peak memory independent of file size"))
    return results


def run() -> list[BenchResult]:
    with tempfile.TemporaryDirectory(prefix="qt-bench-ingest-") as d:
        tmp = Path(d)
        return _throughput(tmp) + _memory(tmp)


if __name__ == "__main__":
    for r in run():
        print(r)
