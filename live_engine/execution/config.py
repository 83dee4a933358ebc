"""Configuration of the paper broker's fills."""

from __future__ import annotations

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class BrokerConfig(FrozenModel):
    """Paper broker: market orders fill at the opposite best price plus slippage, after a latency."""

    slippage_ticks: int = Field(0, ge=0)
    latency_ms: int = Field(0, ge=0, description="A market order fills at the first book at or after submit + latency.")
    stop_slippage_ticks: int = Field(0, ge=0, description="Extra ticks against us when a stop triggers.")
