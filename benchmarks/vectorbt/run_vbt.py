"""Time ``vectorbt.Portfolio.from_signals`` on a signal matrix; runs INSIDE the vectorbt environment.

Imports only numpy, pandas and vectorbt (never the project): ``benchmarks/vectorbt_env.py`` builds
the environment from ``requirements.txt`` beside this file, and ``benchmarks/sweep_compare.py``
calls this script in a subprocess::

    python -I run_vbt.py signals.npz --out result.json [--repeats 5] [--cold-cache]

The .npz holds ``close`` (n_bars float64, in points), ``entries_long``, ``exits_long``,
``entries_short``, ``exits_short`` ((n_bars, n_candidates) bool, one column per candidate),
``fees`` (money per contract per side, as the instrument catalogue's ``fee_per_contract``),
``slippage`` (points per side, against us) and ``point_value`` (money per point); optionally
``init_cash`` and ``fee_mode``.

Every candidate is one column of a single ``from_signals`` call. One contract is traded
(``size=1, size_type='amount'``) at the bar's close in money (``close * point_value``), so P&L is in
money. No accumulation: an opposite entry reverses the position in one order of two contracts
(``upon_opposite_entry='reversereduce'``, vectorbt's default). The engine is pinned to Numba.

Fees: vectorbt's ``fixed_fees`` is charged per *order*, so a reversal (one order, two contracts)
would pay one fee where our cost model pays two. The default ``fee_mode='per_contract'`` therefore
passes the fee as vectorbt's proportional ``fees``, ``fee / (close * point_value)`` per bar, which
charges ``size * fee`` (exact without slippage; with slippage vectorbt applies the fraction to the
slipped price, an error of ``fee * slippage / close``). ``fee_mode='per_order'`` passes
``fixed_fees=fee`` instead. Slippage in points becomes vectorbt's fraction of price, ``slippage /
close`` per bar.

Timing: one warm-up call (Numba compiles, or loads its on-disk cache, here: reported as
``first_call_s`` and ``compile_s`` = first call minus the median), then ``--repeats`` timed calls
(median ``seconds_median``, wall clock; ``cpu_seconds_median``, process CPU time, for a shared
machine); ``seconds_with_metrics_median`` also reads total return and trade
counts off each portfolio, which is what a sweep needs in the end. With ``--cold-cache`` Numba's
cache goes to a fresh temporary directory, so ``compile_s`` is a true cold compile.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _load(path: Path) -> dict[str, Any]:
    import numpy as np

    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    close = np.ascontiguousarray(data["close"], dtype=np.float64)
    if close.ndim != 1:
        raise SystemExit(f"close must be 1-D (n_bars,), got shape {close.shape}")
    shape = None
    for key in ("entries_long", "exits_long", "entries_short", "exits_short"):
        arr = np.asarray(data[key], dtype=bool)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[0] != close.shape[0]:
            raise SystemExit(f"{key} must be (n_bars, n_candidates) with n_bars={close.shape[0]}, got {arr.shape}")
        if shape is not None and arr.shape != shape:
            raise SystemExit(f"{key} has shape {arr.shape}, expected {shape}")
        shape = arr.shape
        data[key] = arr
    data["close"] = close
    for key in ("fees", "slippage", "point_value"):
        data[key] = float(data.get(key, 0.0 if key != "point_value" else 1.0))
    data["fee_mode"] = str(data.get("fee_mode", "per_contract"))
    if data["fee_mode"] not in ("per_contract", "per_order"):
        raise SystemExit(f"fee_mode must be 'per_contract' or 'per_order', got {data['fee_mode']!r}")
    if "init_cash" in data:
        data["init_cash"] = float(data["init_cash"])
    else:
        # enough that cash never limits a one-contract order (a long buy needs price + fee in cash;
        # vectorbt would otherwise fill partially without saying so)
        data["init_cash"] = float(100.0 * np.max(np.abs(close)) * data["point_value"] + 1e6)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("npz", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cold-cache", action="store_true", help="Numba cache in a fresh temporary directory")
    args = parser.parse_args(argv)

    if args.cold_cache:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="vbt-numba-cache-")

    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd
    import vectorbt as vbt  # type: ignore[import-not-found]

    import_s = time.perf_counter() - t0

    d = _load(args.npz)
    n_bars, n_candidates = d["entries_long"].shape
    pv = d["point_value"]
    price = d["close"] * pv
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_close = np.nan_to_num(1.0 / np.abs(d["close"]), nan=0.0, posinf=0.0)[:, None]  # (n_bars, 1): broadcasts
    slip: Any = d["slippage"] * inv_close if d["slippage"] else 0.0
    if d["fee_mode"] == "per_contract":
        fees: Any = d["fees"] / pv * inv_close if d["fees"] else 0.0
        fixed_fees = 0.0
    else:
        fees, fixed_fees = 0.0, d["fees"]
    # DataFrames so every result comes back with one column per candidate
    index = pd.RangeIndex(n_bars)
    columns = pd.RangeIndex(n_candidates, name="candidate")
    close_df = pd.DataFrame(np.broadcast_to(price[:, None], (n_bars, n_candidates)), index=index, columns=columns)

    def frame(key: str) -> pd.DataFrame:
        return pd.DataFrame(d[key], index=index, columns=columns)

    entries, exits, short_entries, short_exits = (frame(k) for k in
                                                   ("entries_long", "exits_long", "entries_short", "exits_short"))

    def simulate() -> Any:
        return vbt.Portfolio.from_signals(
            close_df, entries=entries, exits=exits, short_entries=short_entries, short_exits=short_exits,
            size=1.0, size_type="amount", fees=fees, fixed_fees=fixed_fees, slippage=slip, init_cash=d["init_cash"],
            freq="1min", accumulate=False, upon_opposite_entry="reversereduce", engine="numba",
        )

    def metrics(pf: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        total_return = np.asarray(pf.total_return(), dtype=np.float64)
        total_profit = np.asarray(pf.total_profit(), dtype=np.float64)
        n_trades = np.asarray(pf.trades.count(), dtype=np.int64)  # closed trades + the one open at the end
        n_orders = np.asarray(pf.orders.count(), dtype=np.int64)
        return total_return, total_profit, n_trades, n_orders

    t0 = time.perf_counter()
    pf = simulate()
    first_call_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics(pf)
    first_metrics_s = time.perf_counter() - t0

    sim_times, full_times, cpu_times = [], [], []
    for _ in range(max(1, args.repeats)):
        c0 = time.process_time()
        t0 = time.perf_counter()
        pf = simulate()
        t1 = time.perf_counter()
        cpu_times.append(time.process_time() - c0)
        total_return, total_profit, n_trades, n_orders = metrics(pf)
        t2 = time.perf_counter()
        sim_times.append(t1 - t0)
        full_times.append(t2 - t0)

    # every order must have been filled at the full size (no cash-limited partial fills)
    sizes = pf.orders.values["size"]
    partial = int(np.count_nonzero(~np.isclose(sizes, 1.0) & ~np.isclose(sizes, 2.0)))
    final_position = np.asarray(pf.assets().iloc[-1], dtype=np.float64)

    seconds_median = statistics.median(sim_times)
    with_metrics = statistics.median(full_times)
    cells = n_bars * n_candidates
    out = {
        "n_bars": int(n_bars),
        "n_candidates": int(n_candidates),
        "repeats": len(sim_times),
        "import_s": import_s,
        "first_call_s": first_call_s,
        "first_metrics_s": first_metrics_s,
        "compile_s": max(0.0, first_call_s - seconds_median),
        "cold_cache": bool(args.cold_cache),
        "seconds_median": seconds_median,
        "seconds_all": sim_times,
        "cpu_seconds_median": statistics.median(cpu_times),  # the machine may be shared: CPU time beside wall
        "seconds_with_metrics_median": with_metrics,
        "bar_candidates_per_s": cells / seconds_median,
        "bar_candidates_per_s_with_metrics": cells / with_metrics,
        "bars_per_s": n_bars / seconds_median,  # all candidates at once
        "total_return": total_return.tolist(),
        "total_profit": total_profit.tolist(),
        "n_trades": n_trades.tolist(),
        "n_orders": n_orders.tolist(),
        "final_position": final_position.tolist(),
        "orders_not_full_size": partial,
        "init_cash": d["init_cash"],
        "fee_mode": d["fee_mode"],
        "vectorbt_version": vbt.__version__,
        "numpy_version": np.__version__,
        "pandas_version": pd.__version__,
        "numba_version": __import__("numba").__version__,
        "python": sys.version.split()[0],
        "engine": "numba",
    }
    args.out.write_text(json.dumps(out), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
