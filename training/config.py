"""Configuration of labels, cross-validation, models and tuning."""

from __future__ import annotations

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class TrainingConfig(FrozenModel):
    horizon: int = Field(5, gt=0, description="Label horizon H in bars.")
    registered_model_name: str = "quantumtrader"
