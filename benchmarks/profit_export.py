"""Realistic multi-day Profit exports for the ingest benchmarks, made from ``market.simulator`` output.

``write_sim_export(path, sessions=250, trades_per_session=16_000)`` simulates ``sessions`` WDO
sessions and writes them as one Profit export (``market.loaders.write_profit_export`` format: the
file ``qtml ingest`` reads from a Profit "times and trades" window), one session at a time so that
memory stays flat. ``bad_share`` breaks that share of rows, spread over several gate rules (zero
quantity, unknown trade type, foreign ticker, financial volume without the point value), to measure
the quarantine path.

Command line: ``python -m benchmarks.profit_export OUT.csv --sessions 250 [--bad-share 0.3]``.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

START = date(2025, 1, 2)


def _break(trades: pd.DataFrame, share: float, rng: np.random.Generator) -> pd.DataFrame:
    """A copy of ``trades`` with ``share`` of its rows broken (four rules, in turn)."""
    out = trades.copy()
    bad = np.flatnonzero(rng.random(len(out)) < share)
    kinds = np.arange(len(bad)) % 4
    rows = {k: bad[kinds == k] for k in range(4)}
    out.loc[rows[0], "qty"] = 0
    out.loc[rows[1], "trade_type"] = 99
    out.loc[rows[2], "symbol"] = "WINFUT"
    out.loc[rows[3], "fin_volume"] = out.loc[rows[3], "price"] * out.loc[rows[3], "qty"]
    return out


def write_sim_export(
    path: Path,
    *,
    sessions: int,
    trades_per_session: int = 16_000,
    bad_share: float = 0.0,
    seed: int = 7,
    start: date = START,
) -> int:
    """Write ``sessions`` simulated sessions as one Profit export at ``path``; return the row count."""
    from market.brokers import BrokerRegistry
    from market.loaders import write_profit_export
    from market.simulator import simulate

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    brokers = BrokerRegistry()
    rng = np.random.default_rng(seed)
    rows = 0
    part = path.with_name(f".{path.name}.part")
    with open(path, "wb") as out:
        for i, session in enumerate(simulate(sessions, start, seed=seed, trades_per_session=trades_per_session)):
            trades = _break(session.trades, bad_share, rng) if bad_share > 0 else session.trades
            write_profit_export(trades, part, brokers)
            with open(part, "rb") as fh:
                if i:
                    fh.readline()  # one header for the whole file
                while block := fh.read(1 << 24):
                    out.write(block)
            rows += len(trades)
    part.unlink(missing_ok=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--sessions", type=int, default=250)
    parser.add_argument("--trades-per-session", type=int, default=16_000)
    parser.add_argument("--bad-share", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    n = write_sim_export(args.out, sessions=args.sessions, trades_per_session=args.trades_per_session,
                         bad_share=args.bad_share, seed=args.seed)
    print(f"{args.out}: {n:,} trades in {args.sessions} sessions")


if __name__ == "__main__":
    main()
