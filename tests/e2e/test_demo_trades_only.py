"""`qtml demo --trades-only` end to end, the real CLI in a subprocess: a history without book trains and trades.

Simulates sessions without book, ingests them as trade files, builds the features, trains (the model's
contract says book=false) and backtests the held-out sessions with the liquidity agent abstaining.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_on_a_trades_only_lake_trains_a_no_book_model_and_backtests_without_the_liquidity_agent(
    tmp_path: Path,
) -> None:
    var = tmp_path / "var"
    env = {**os.environ, "QT_STORES__VAR_DIR": str(var), "QT_MARKET__SIMULATOR__SESSIONS": "8",
           "QT_MARKET__SIMULATOR__TRADES_PER_SESSION": "4000", "QT_TRAINING__HOLDOUT_SESSIONS": "3",
           "QT_LIVE__BACKTEST__SESSIONS": "3", "QT_TRAINING__CV__N_FOLDS": "3"}
    proc = subprocess.run([sys.executable, "-m", "quantumtrader.cli", "demo", "--trades-only"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not list((var / "lake" / "book").glob("**/*.parquet"))  # the lake really has no book

    import mlflow
    from mlflow.models import get_model_info

    mlflow.set_tracking_uri(f"sqlite:///{var / 'mlflow' / 'mlflow.db'}")
    meta = get_model_info("models:/quantumtrader@challenger").metadata
    assert meta["feature_contract"]["input_groups"] == {"book": False, "brokers": True, "side": True}
    assert meta["feature_contract"]["bar_spec"] == "time:60s" and meta["feature_contract"]["tick_size"] == 0.5

    runs = sorted(p for p in (var / "reports" / "backtests").glob("*/decisions.jsonl") if "-gate-" not in str(p))
    assert len(runs) == 1  # the backtest stage's (the promote stage's replay is named ...-gate-v1-challenger)
    decisions = [json.loads(line) for line in runs[0].read_text().splitlines()]
    assert decisions and all(d["votes"]["liquidity"] == [None, None] for d in decisions if d["votes"])
    voted = [d for d in decisions if d["votes"]]
    assert voted and all(d["votes"]["order_flow"][0] is not None for d in voted)
    assert len({d["weights"]["liquidity"] for d in decisions}) == 1  # held from the first bar to the last
    assert not any(d["degraded"] for d in decisions)
    assert any(d["reason"] not in ("incomplete", "degraded") for d in decisions)
    import pandas as pd

    fills = pd.read_parquet(runs[0].parent / "fills.parquet")
    assert len(fills) > 0  # without book the paper broker fills at the prints: the model trades
