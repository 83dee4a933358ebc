"""A real small backtest for the metrics and report tests: simulated sessions in a real lake, a tiny
native LightGBM model registered as a bundle in a real MLflow (sqlite), its lineage recording the
tuning configurations tried, and the full shell (:func:`live_engine.backtest.runner.run_backtest`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tiny_model import contract, register, train_booster

from live_engine.backtest.runner import BacktestResult, run_backtest
from market.lake import Lake
from market.simulator import simulate
from quantumtrader.config import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
TUNING_COMBOS = 12


def small_backtest(root: Path, *, sessions: int = 3, run_name: str = "small", log_mlflow: bool = False,
                   combos: int | None = TUNING_COMBOS) -> tuple[Settings, BacktestResult]:
    """Simulate ``sessions`` WDO sessions into a lake under ``root``, register a tiny model (its lineage
    records ``combos`` tuning configurations unless ``combos`` is None) and backtest every session."""
    settings = load_settings(root=root, stores={"feast_repo": str(REPO_ROOT / "feature_repo")})
    lake = Lake(settings.lake_root)
    for s in simulate(sessions, date(2026, 1, 5), seed=3, trades_per_session=2500, planted_strength=0.6):
        lake.write_day("trades", "WDO", s.day, s.trades)
        lake.write_day("book", "WDO", s.day, s.book)
    lineage = {"dataset": "tiny_model", **({"tuning": {"configurations_tried": combos}} if combos is not None else {})}
    uri = register(settings, train_booster(), contract(), lineage=lineage)
    return settings, run_backtest(settings, model_uri=uri, sessions=sessions, run_name=run_name,
                                  log_mlflow=log_mlflow)
