"""Our parameter sweep against vectorbt on the same signals: bar-candidates per second, side by side.

:func:`compare` writes the signal matrix to an .npz, runs ``benchmarks/vectorbt/run_vbt.py`` in the
separate vectorbt environment (:func:`benchmarks.vectorbt_env.ensure_env`; a subprocess, so the
project never imports vectorbt) and times a callable of ours the same way: one warm call, then the
median of ``repeats`` calls. vectorbt's first call (Numba compiling, or loading its cache) is
reported apart as ``compile_s``. When the environment cannot be built, the vectorbt side is
``None`` and ``vectorbt_status`` says why ("not measured (...)"); our side is still timed.

:func:`random_signals` makes signals shaped like a ``min_confidence`` sweep: one signed score per
bar, and candidate ``k`` is long while ``score >= threshold_k``, short while ``score <= -threshold_k``,
flat otherwise; the entries and exits are the crossings of those levels.

By hand: ``python -m benchmarks.sweep_compare [--bars 50000 --candidates 50]`` checks the vectorbt
call on a hand-made case, then times vectorbt against a numpy toy (cumulative sums, not our sweep).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from benchmarks.vectorbt_env import RUNNER, ensure_env_reason

VBT_TIMEOUT_S = 600


class SignalArrays(TypedDict):
    """The positional arguments of :func:`compare`, by name."""

    close: np.ndarray
    entries_long: np.ndarray
    exits_long: np.ndarray
    entries_short: np.ndarray
    exits_short: np.ndarray


@dataclass(frozen=True)
class SweepSignals:
    """One score series and the candidates' thresholds on it, as positions and as vectorbt's signals."""

    close: np.ndarray  # (n_bars,) float64, points
    score: np.ndarray  # (n_bars,) float64 in (-1, 1): a signed confidence
    thresholds: np.ndarray  # (n_candidates,) on |score|
    direction: np.ndarray  # (n_bars, n_candidates) int8: +1 long, -1 short, 0 flat (what our sweep takes)
    entries_long: np.ndarray  # (n_bars, n_candidates) bool
    exits_long: np.ndarray
    entries_short: np.ndarray
    exits_short: np.ndarray

    def signals(self) -> SignalArrays:
        """The positional arguments of :func:`compare`, by name: ``compare(**s.signals(), ...)``."""
        return {"close": self.close, "entries_long": self.entries_long, "exits_long": self.exits_long,
                "entries_short": self.entries_short, "exits_short": self.exits_short}


def signals_from_direction(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Entries and exits (long, short) that take each column of ``direction`` from flat at the start
    through its path: a long entry where it becomes +1, a long exit where it stops being +1, and so
    for -1. A jump from +1 to -1 is a long exit and a short entry on the same bar (vectorbt reverses)."""
    d = np.asarray(direction, dtype=np.int8)
    if d.ndim == 1:
        d = d[:, None]
    prev = np.empty_like(d)
    prev[0] = 0
    prev[1:] = d[:-1]
    is_long, was_long = d == 1, prev == 1
    is_short, was_short = d == -1, prev == -1
    return is_long & ~was_long, was_long & ~is_long, is_short & ~was_short, was_short & ~is_short


def random_signals(n_bars: int, n_candidates: int, seed: int, *, start: float = 5000.0, tick_size: float = 0.25,
                   persistence: float = 0.97, quantiles: tuple[float, float] = (0.5, 0.98)) -> SweepSignals:
    """A random price path on a tick grid and a persistent random score, thresholded per candidate.

    The score is ``tanh`` of a unit-variance AR(1) (``persistence`` per bar, so signals last a few
    dozen bars, as a model's confidence does); the thresholds are the quantiles of ``|score|`` from
    ``quantiles[0]`` to ``quantiles[1]``, so candidate 0 is in the market about half the time and the
    last one rarely, as in a ``min_confidence`` sweep.
    """
    if n_bars < 2 or n_candidates < 1:
        raise ValueError("need n_bars >= 2 and n_candidates >= 1")
    rng = np.random.default_rng(seed)
    close = start + tick_size * np.cumsum(rng.integers(-2, 3, size=n_bars)).astype(np.float64)
    noise = rng.standard_normal(n_bars) * np.sqrt(1.0 - persistence**2)
    ar = np.empty(n_bars)
    ar[0] = rng.standard_normal()
    for t in range(1, n_bars):  # 50k bars: a few ms
        ar[t] = persistence * ar[t - 1] + noise[t]
    score = np.tanh(ar)
    thresholds = np.quantile(np.abs(score), np.linspace(quantiles[0], quantiles[1], n_candidates))
    s = score[:, None]
    direction = np.where(s >= thresholds, 1, np.where(s <= -thresholds, -1, 0)).astype(np.int8)
    el, xl, es, xs = signals_from_direction(direction)
    return SweepSignals(close, score, thresholds, direction, el, xl, es, xs)


def time_callable(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], list[float], Any]:
    """``(warm-call seconds, the repeats' wall seconds, their process CPU seconds, the last return value)``:
    one warm call, then ``repeats`` timed calls."""
    t0 = time.perf_counter()
    value = fn()
    warm = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(max(1, repeats)):
        c0 = time.process_time()
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return warm, times, cpu, value


def run_vectorbt(npz: Path, *, repeats: int = 5, env_path: Path = Path(".venv-vectorbt"),
                 timeout_s: float = VBT_TIMEOUT_S, cold_cache: bool = False) -> tuple[dict[str, Any] | None, str]:
    """Run ``run_vbt.py`` on ``npz`` in the vectorbt environment: ``(its JSON, "measured")`` or
    ``(None, "not measured (reason)")``."""
    python, reason = ensure_env_reason(env_path)
    if python is None:
        return None, f"not measured ({reason})"
    out = npz.with_suffix(".vbt.json")
    cmd = [str(python), "-I", str(RUNNER), str(npz), "--out", str(out), "--repeats", str(repeats)]
    if cold_cache:
        cmd.append("--cold-cache")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return None, f"not measured (run_vbt.py took over {timeout_s:g} s)"
    if proc.returncode != 0 or not out.exists():
        tail = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        return None, f"not measured (run_vbt.py exit {proc.returncode}: {tail[-1].strip() if tail else 'no output'})"
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result, "measured"


def write_npz(path: Path, close: np.ndarray, entries_long: np.ndarray, exits_long: np.ndarray,
              entries_short: np.ndarray, exits_short: np.ndarray, *, fees: float, point_value: float,
              slippage: float = 0.0, fee_mode: str = "per_contract") -> Path:
    """The file ``run_vbt.py`` reads (see its docstring for the fields)."""
    np.savez(path, close=np.asarray(close, dtype=np.float64), entries_long=np.asarray(entries_long, dtype=bool),
             exits_long=np.asarray(exits_long, dtype=bool), entries_short=np.asarray(entries_short, dtype=bool),
             exits_short=np.asarray(exits_short, dtype=bool), fees=float(fees), slippage=float(slippage),
             point_value=float(point_value), fee_mode=fee_mode)
    return path


def compare(close: np.ndarray, entries_long: np.ndarray, exits_long: np.ndarray, entries_short: np.ndarray,
            exits_short: np.ndarray, *, fees: float, point_value: float, ours: Callable[[], Any], repeats: int = 5,
            slippage: float = 0.0, fee_mode: str = "per_contract", env_path: Path = Path(".venv-vectorbt"),
            timeout_s: float = VBT_TIMEOUT_S, cold_cache: bool = False) -> dict[str, Any]:
    """Time vectorbt's ``from_signals`` (every candidate a column of one call) and ``ours()`` on the same
    signals; ``ours`` is a closure over whatever our sweep needs for these signals.

    Returns ``n_bars``, ``n_candidates``, ``bar_candidates``; ``ours`` (``warm_s``, ``seconds_median``,
    ``seconds_all``, ``cpu_seconds_median``, ``bar_candidates_per_s``, ``bars_per_s``, ``value``: the last
    return value);
    ``vectorbt`` (``run_vbt.py``'s JSON: ``compile_s``, ``seconds_median``, ``bar_candidates_per_s``,
    ``total_return`` / ``total_profit`` / ``n_trades`` per candidate, versions ... or ``None``);
    ``vectorbt_status`` ("measured" or "not measured (reason)"); and ``ratio``: vectorbt's median
    seconds over ours (> 1: ours is faster), ``None`` when vectorbt was not measured.
    """
    el = np.asarray(entries_long, dtype=bool)
    n_bars = int(np.asarray(close).shape[0])
    n_candidates = int(el.shape[1]) if el.ndim == 2 else 1
    with tempfile.TemporaryDirectory(prefix="sweep-compare-") as tmp:
        npz = write_npz(Path(tmp) / "signals.npz", close, el, exits_long, entries_short, exits_short, fees=fees,
                        point_value=point_value, slippage=slippage, fee_mode=fee_mode)
        vbt, status = run_vectorbt(npz, repeats=repeats, env_path=env_path, timeout_s=timeout_s,
                                   cold_cache=cold_cache)
    warm, times, cpu, value = time_callable(ours, repeats)
    median = statistics.median(times)
    cells = n_bars * n_candidates
    ours_out = {"warm_s": warm, "seconds_median": median, "seconds_all": times,
                "cpu_seconds_median": statistics.median(cpu), "bar_candidates_per_s": cells / median,
                "bars_per_s": n_bars / median, "value": value}
    ratio = vbt["seconds_median"] / median if vbt is not None else None
    return {"n_bars": n_bars, "n_candidates": n_candidates, "bar_candidates": cells, "ours": ours_out,
            "vectorbt": vbt, "vectorbt_status": status, "ratio": ratio}


# --- by hand -----------------------------------------------------------------------------------------------


def check_vectorbt_call(env_path: Path = Path(".venv-vectorbt")) -> str:
    """Run the vectorbt call on three hand-made candidates whose trades are known; raise if it disagrees.

    Close rises one point a bar from 100, point value 50, fee 2.5 per contract per side:
    0) long at bar 2, out at bar 5: 1 trade, +3 points = 150 - 2 fees = 145;
    1) long at 2, reversed to short at 5 (one order of 2 contracts), covered at 8: 2 trades,
       +150 - 150 - 4 fees = -10;
    2) short at 1, still open at the end (bar 9): 1 trade, -8 points = -400 - 1 fee = -402.5.
    """
    n, k = 10, 3
    close = np.arange(100.0, 100.0 + n)
    el, xl, es, xs = (np.zeros((n, k), dtype=bool) for _ in range(4))
    el[2, 0] = xl[5, 0] = True
    el[2, 1] = xl[5, 1] = es[5, 1] = xs[8, 1] = True
    es[1, 2] = True
    with tempfile.TemporaryDirectory(prefix="vbt-check-") as tmp:
        npz = write_npz(Path(tmp) / "hand.npz", close, el, xl, es, xs, fees=2.5, point_value=50.0)
        got, status = run_vectorbt(npz, repeats=1, env_path=env_path)
    if got is None:
        return status
    expect = {"n_trades": [1, 2, 1], "n_orders": [2, 3, 1], "total_profit": [145.0, -10.0, -402.5],
              "final_position": [0.0, 0.0, -1.0], "orders_not_full_size": 0}
    bad = {key: (got[key], want) for key, want in expect.items()
           if not np.allclose(np.asarray(got[key], dtype=float), np.asarray(want, dtype=float))}
    if bad:
        raise AssertionError(f"vectorbt call disagrees with the hand-made case: {bad}")
    return "ok: " + ", ".join(f"{key}={got[key]}" for key in expect)


def toy_ours(s: SweepSignals, *, fees: float, point_value: float) -> Callable[[], np.ndarray]:
    """A numpy stand-in for our sweep (not it): P&L per candidate by cumulative sums over the positions,
    a fill at the decision bar's close as vectorbt fills, fees per contract per side."""
    pos = s.direction.astype(np.float64)
    diff = np.diff(s.close)[:, None]

    def run() -> np.ndarray:
        pnl_pts = np.cumsum(pos[:-1] * diff, axis=0)[-1]
        contracts = np.abs(np.diff(pos, axis=0, prepend=0.0)).sum(axis=0)
        return pnl_pts * point_value - fees * contracts

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=50_000)
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cold-cache", action="store_true", help="vectorbt's Numba cache in a fresh directory")
    parser.add_argument("--env", type=Path, default=Path(".venv-vectorbt"))
    args = parser.parse_args()
    print("hand-made case:", check_vectorbt_call(args.env))
    s = random_signals(args.bars, args.candidates, args.seed)
    fees, pv = 2.5, 50.0
    res = compare(**s.signals(), fees=fees, point_value=pv, ours=toy_ours(s, fees=fees, point_value=pv),
                  repeats=args.repeats, env_path=args.env, cold_cache=args.cold_cache)
    vbt = res["vectorbt"]
    summary: dict[str, Any] = {k: res[k] for k in ("n_bars", "n_candidates", "vectorbt_status", "ratio")}
    summary["ours_toy"] = {k: v for k, v in res["ours"].items() if k != "value"}
    if vbt is not None:
        keys = ("vectorbt_version", "engine", "import_s", "first_call_s", "compile_s", "cold_cache", "seconds_median",
                "cpu_seconds_median", "seconds_with_metrics_median", "bar_candidates_per_s",
                "bar_candidates_per_s_with_metrics", "orders_not_full_size")
        summary["vectorbt"] = {k: vbt[k] for k in keys}
        summary["vectorbt"]["n_trades_first_last"] = [vbt["n_trades"][0], vbt["n_trades"][-1]]
        # the toy fills as vectorbt does (at the decision bar's close), so the P&L must agree
        toy = np.asarray(res["ours"]["value"])
        summary["max_abs_pnl_diff_toy_vs_vectorbt"] = float(np.max(np.abs(toy - np.asarray(vbt["total_profit"]))))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
