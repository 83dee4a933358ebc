"""What a trader checks in a backtest's outputs before trusting its PnL (docs/costs-and-warmup.md).

Usage: ``.venv/bin/python -m benchmarks.backtest_audit <reports_dir>/backtests/<run> [--symbol WDO]``.

Reads only the run folder (``metrics.json``, ``orders``/``fills``/``trades``/``features`` Parquet,
``decisions.jsonl``) and prints one JSON object: PnL, trades, trades per day, exits by tag, denials,
decision reasons, bars whose feature row has a NaN, entries taken on such a row, and for the market
fills: how many came at their decision's own timestamp (and at that bar's close price), and their
mean cost against the decision bar's close in ticks (positive = paid), per tag. Works on the outputs
of any version of the backtest, so the same command measures before and after a change.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from market.instruments import get_instrument


def audit(run_dir: Path, tick: float) -> dict[str, Any]:
    m = json.loads((run_dir / "metrics.json").read_text())
    trades = pd.read_parquet(run_dir / "trades.parquet")
    orders = pd.read_parquet(run_dir / "orders.parquet")
    fills = pd.read_parquet(run_dir / "fills.parquet")
    feats = pd.read_parquet(run_dir / "features.parquet")
    decisions = [json.loads(line) for line in (run_dir / "decisions.jsonl").read_text().splitlines()]
    nan_row = feats.isna().any(axis=1).to_numpy() if len(feats.columns) else [False] * len(decisions)
    close_at = {d["ts_ns"]: d["close"] for d in decisions}
    market = orders[orders["kind"] == "market"].set_index("client_id") if len(orders) else orders
    f = fills[fills["client_id"].isin(market.index)].copy() if len(fills) else fills
    out: dict[str, Any] = {
        "pnl": round(float(m["pnl"]), 2), "trades": int(m["n_trades"]), "trades_per_day": m["trades_per_day"],
        "sessions": int(m.get("sessions", 0)), "bars": len(decisions),
        "exits_by_tag": trades["exit_tag"].value_counts().to_dict() if len(trades) else {},
        "denials": {k.removeprefix("denials_"): int(v) for k, v in m.items() if k.startswith("denials_")},
        "reasons": pd.Series([d["reason"] for d in decisions]).value_counts().to_dict(),
        "bars_with_nan_features": int(sum(nan_row)),
        "entries_on_rows_with_nan": sum(1 for d, bad in zip(decisions, nan_row, strict=True)
                                        if bad and d["action"].startswith("enter")),
        "market_fills": len(f),
    }
    if len(f):
        f["decided"] = f["client_id"].map(market["ts_ns"])
        f["close"] = f["decided"].map(close_at)
        f["cost_ticks"] = f["side"] * (f["price"] - f["close"]) / tick
        at_decision = f["ts_ns"] == f["decided"]
        out["fills_at_decision_ts"] = int(at_decision.sum())
        out["fills_at_decision_ts_and_close"] = int((at_decision & (f["price"] == f["close"])).sum())
        out["fill_vs_close_ticks"] = round(float(f["cost_ticks"].mean()), 4)
        by_tag = f.groupby("tag")["cost_ticks"].mean()
        out["fill_vs_close_ticks_by_tag"] = {k: round(float(v), 4) for k, v in by_tag.items()}
        out["fill_delay_ms"] = round(float(((f["ts_ns"] - f["decided"]) / 1e6).mean()), 1)
    resting = set(orders.loc[orders["kind"] != "market", "client_id"]) if len(orders) else set()
    hit = fills[fills["client_id"].isin(resting)] if len(fills) else fills
    out["stop_target_fills"] = hit["tag"].value_counts().to_dict() if len(hit) else {}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--symbol", default="WDO")
    args = parser.parse_args()
    print(json.dumps(audit(args.run_dir, get_instrument(args.symbol).tick_size), indent=1, default=str))


if __name__ == "__main__":
    main()
