"""Defaults of ``qtml backtest`` and the demo's backtest stage."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class BacktestConfig(FrozenModel):
    """Defaults of ``qtml backtest`` and the demo stage."""

    model_uri: str = "models:/quantumtrader@challenger"
    sessions: int = Field(10, gt=0, description="Replay the last N sessions of the lake when no dates are given "
                                               "(the demo's held-out ones, training.holdout_sessions).")
    experiment: str = "quantumtrader-backtests"
    agents_dir: Path | None = Field(None, description="Folder of the agent YAMLs a training puts in the bundle and "
                                                      "`--config-from working-tree` runs; default: "
                                                      "live_engine/decision/agents.")
    warmup_sessions: int | None = Field(
        None, ge=0,
        description="Lake sessions replayed before the first evaluated one, without trading and outside every "
        "output, to fill the feature windows and train the coordinator. None = derived "
        "(live_engine.decision.warmup.derived_warmup_sessions): the fewest sessions whose bars cover the "
        "longest feature warm-up of features.spec, plus warmup_coordinator_sessions.",
    )
    warmup_coordinator_sessions: int = Field(
        1, ge=0,
        description="The last N warm-up sessions, on which the Hedge coordinator learns from equal weights (the "
        "earlier ones only fill feature windows), so the weights entering the evaluation never depend on how "
        "far back the lake reaches.",
    )
