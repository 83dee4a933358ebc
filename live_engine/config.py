"""Configuration of the decision core and the live engine."""

from __future__ import annotations

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class ConsensusConfig(FrozenModel):
    model_weight: float = Field(0.4, ge=0.0, le=1.0)
    agents_weight: float = Field(0.6, ge=0.0, le=1.0)
    min_confidence: float = Field(0.60, ge=0.0, le=1.0)


class RiskConfig(FrozenModel):
    max_position: int = Field(1, gt=0)
    stop_loss_pct: float = Field(0.005, gt=0.0, lt=1.0)
    max_daily_trades: int = Field(10, gt=0)


class LiveConfig(FrozenModel):
    consensus: ConsensusConfig = ConsensusConfig()
    risk: RiskConfig = RiskConfig()
    zmq_pub_endpoint: str = "tcp://127.0.0.1:5559"
