"""``reports:``: the daily and weekly reports and ``qtml analyze`` (docs/reports.md)."""

from __future__ import annotations

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class ReportsConfig(FrozenModel):
    """Where reports go is ``stores.reports_dir`` (``var/reports``); these are what they show."""

    experiment: str = Field("quantumtrader-reports", min_length=1,
                            description="MLflow experiment the reports are logged to.")
    log_to_mlflow: bool = Field(True, description="Log each report's numbers and files as an MLflow run.")
    top_features: int = Field(15, gt=0, le=65, description="Features shown in the contributions chart and table.")
    small_sample_trades: int = Field(30, gt=0, description="Below this many trades a rate is labelled a small sample.")
    interval_level: float = Field(0.90, gt=0.5, lt=1.0, description="Level of the win-rate (Wilson) interval.")
