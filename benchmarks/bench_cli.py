"""Command latencies as a user meets them: the real ``qtml`` in a fresh process, wall time.

Each command runs ``RUNS`` times (median reported) in two modes: without a bytecode cache (these
machines set ``PYTHONDONTWRITEBYTECODE=1``: every import compiles from source) and with one (a cache
under a temporary ``PYTHONPYCACHEPREFIX``, filled by one unmeasured run first). The store is a fresh
``qtml demo`` (which is itself measured, once per mode); the backtests write into a copy of it.

Run alone: ``python -m benchmarks --only bench_cli``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import BenchResult

GROUP = "Command latency (fresh process, wall)"
RUNS = 3
REPO = Path(__file__).resolve().parents[1]
QTML = [sys.executable, "-m", "quantumtrader.cli"]
# (label, argv, target seconds)
COMMANDS: list[tuple[str, list[str], float]] = [
    ("qtml --help", ["--help"], 1.0),
    ("qtml config", ["config"], 2.0),
    ("bad model URI fails", ["backtest", "--model-uri", "models:/no-such-model@champion", "--sessions", "5"], 5.0),
    ("qtml backtest --sessions 5", ["backtest", "--sessions", "5"], 15.0),
    ("qtml features show", ["features", "show"], 10.0),
]
DEMO_TARGET = 90.0


def _env(var: Path, cache: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "PREFECT_", "MLFLOW_"))}
    env.update(QT_STORES__VAR_DIR=str(var), DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true",
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _time(argv: list[str], env: dict[str, str], ok_codes: tuple[int, ...] = (0,)) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([*QTML, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in ok_codes:
        raise RuntimeError(f"qtml {' '.join(argv)} exited {proc.returncode}: {proc.stderr[-800:]}")
    return elapsed


def run() -> list[BenchResult]:
    results: list[BenchResult] = []
    with tempfile.TemporaryDirectory(prefix="qt-bench-cli-") as tmp:
        base = Path(tmp)
        for mode, cache in (("no bytecode cache", None), ("bytecode cache", base / "pycache")):
            var = base / f"demo-{'cache' if cache else 'nocache'}" / "var"
            if cache is not None:  # fill the cache (unmeasured) with every module the demo and commands import
                _time(["demo"], _env(base / "warm" / "var", cache))
            demo_s = _time(["demo"], _env(var, cache))
            results.append(BenchResult(GROUP, f"qtml demo (fresh store; {mode})", demo_s, "s",
                                       f"<= {DEMO_TARGET:g}", demo_s <= DEMO_TARGET, "make demo runs exactly this"))
            for label, argv, target in COMMANDS:
                work = base / f"copy-{len(results)}" / "var"
                shutil.copytree(var, work)
                env = _env(work, cache)
                ok = (2,) if any("no-such-model" in a for a in argv) else (0,)
                times = [_time(argv, env, ok) for _ in range(RUNS)]
                med = statistics.median(times)
                results.append(BenchResult(GROUP, f"{label} ({mode})", med, "s", f"<= {target:g}", med <= target,
                                           f"median of {RUNS}: " + ", ".join(f"{t:.2f}" for t in times)))
    return results
