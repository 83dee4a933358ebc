"""``research.study``: what ``qtml study`` searches, how it screens and how it judges (docs/studies.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class StudyConfig(FrozenModel):
    """Defaults of ``qtml study``; every one has a command-line option."""

    params: dict[str, str] = Field(
        default_factory=lambda: {"consensus.min_confidence": "0.50:0.75:0.05"},
        description="Parameter -> values: 'a:b:step' (a grid, both ends included), 'v1,v2,...' (a list), or for "
                    "method random 'uniform(a,b)', 'loguniform(a,b)', 'int(a,b)'. Names are live.* paths: "
                    "consensus.*, risk.*, coordinator.*, or agents.<agent>.<param> (the agent YAML's params).")
    method: Literal["grid", "random"] = "grid"
    n_random: int = Field(50, gt=0, description="Candidates drawn by method random.")
    seed: int = 0
    max_candidates: int = Field(2000, gt=0, description="A larger search is refused (one line), not truncated.")
    sessions: int = Field(20, gt=1, description="The last N lake sessions when no dates are given.")
    metric: Literal["sharpe_per_day", "pnl", "daily_pnl_mean"] = Field(
        "sharpe_per_day", description="What 'best' means, in the screen and in each walk-forward selection.")
    top_k: int = Field(3, ge=1, description="The best candidates of the screen replayed in full (the confirmation).")
    folds: int = Field(4, ge=2, description="Walk-forward folds: fold f is traded by the candidate the sweep "
                                            "ranks best on folds before it; fold 1 only selects.")
    pbo_blocks: int = Field(8, ge=2, description="CSCV blocks of the overfitting probability (even; fewer when "
                                                 "the sessions cannot fill them with 2 days each).")
    significance: float = Field(0.95, gt=0.5, lt=1.0,
                                description="Deflated Sharpe at or above this = significant for the number of trials.")
    max_pbo: float = Field(0.5, gt=0.0, le=1.0, description="An overfitting probability above this = not significant.")
    config_from: Literal["bundle", "working-tree"] = "bundle"
    model_uri: str | None = Field(None, description="The model studied; null = live.backtest.model_uri.")
    experiment: str = Field("quantumtrader-studies", min_length=1)
    log_to_mlflow: bool = True
