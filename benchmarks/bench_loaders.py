"""Trade loader throughput (Profit export, 1M rows, target >= 500k rows/s) and peak memory vs file size.

The peak-memory figures come from a fresh subprocess per file (``ru_maxrss``) that streams the file
through ``iter_trades`` with the default 250k-row chunks: bounded memory means the 5M-row figure is
about the same as the 1M-row one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_bars import synthetic_trades
from benchmarks.report import BenchResult
from market.brokers import BrokerRegistry
from market.loaders import iter_trades, write_profit_export

TARGET = 500_000
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would report the parent's peak.
_PEAK_SCRIPT = """
import re, sys
from pathlib import Path
from market.brokers import BrokerRegistry
from market.loaders import iter_trades
rows = sum(len(c) for c in iter_trades(Path(sys.argv[1]), symbol="WDO", brokers=BrokerRegistry()))
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)
print(rows, int(hwm) / 1024)
"""


def _throughput(path: Path, n: int, brokers: BrokerRegistry) -> tuple[float, float]:
    """Best wall-clock seconds of two runs, and the process CPU seconds of that run."""
    best, cpu = float("inf"), 0.0
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        rows = sum(len(c) for c in iter_trades(path, symbol="WDO", brokers=brokers))
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
        assert rows == n
    return best, cpu


def _peak_mib(path: Path) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(path)], check=True, capture_output=True, text=True)
    rows, mib = out.stdout.split()[-2:]
    return int(rows), float(mib)


def run() -> list[BenchResult]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        brokers = BrokerRegistry()
        trades = synthetic_trades(1_000_000)
        for dialect in ("en", "pt-BR"):
            path = Path(tmp) / f"wdo_{dialect}.csv"
            write_profit_export(trades, path, brokers, dialect=dialect)  # type: ignore[arg-type]
            secs, cpu = _throughput(path, len(trades), brokers)
            rate = len(trades) / secs
            mib = path.stat().st_size / 2**20
            results.append(BenchResult("loaders", f"Profit export ({dialect}) -> TRADE_SCHEMA, 1M rows", rate,
                                       "rows/s", f">= {TARGET}", rate >= TARGET,
                                       f"{secs:.2f} s wall ({cpu:.2f} s CPU), {mib:.0f} MiB, best of 2, "
                                       f"load avg {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"))
        small = Path(tmp) / "wdo_en.csv"
        big = Path(tmp) / "wdo_5m.csv"
        write_profit_export(synthetic_trades(5_000_000), big, brokers)
        peaks = {}
        for label, path in (("1M", small), ("5M", big)):
            rows, peak = _peak_mib(path)
            peaks[label] = peak
            results.append(BenchResult("loaders", f"peak RSS streaming a {label}-row Profit export", peak, "MiB",
                                       notes=f"{rows} rows, {path.stat().st_size / 2**20:.0f} MiB file"))
        ratio = peaks["5M"] / peaks["1M"]
        results.append(BenchResult("loaders", "peak RSS ratio 5M / 1M rows", ratio, "x", "<= 1.3", ratio <= 1.3,
                                   "bounded memory: independent of file size"))
    return results


if __name__ == "__main__":
    for r in run():
        print(r)
