"""Defaults of ``qtml backtest`` and the demo's backtest stage."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class BacktestConfig(FrozenModel):
    """Defaults of ``qtml backtest`` and the demo stage."""

    model_uri: str = "models:/quantumtrader@challenger"
    sessions: int = Field(5, gt=0, description="Replay the last N sessions of the lake when no dates are given.")
    experiment: str = "quantumtrader-backtests"
    agents_dir: Path | None = Field(None, description="Folder of the agent YAMLs a training puts in the bundle and "
                                                      "`--config-from working-tree` runs; default: "
                                                      "live_engine/decision/agents.")
