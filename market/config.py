"""Configuration of market data: instrument, bars, simulator and validation gates."""

from __future__ import annotations

from datetime import date

from pydantic import Field, field_validator

from market.barspec import split_bar_spec
from quantumtrader.frozen import FrozenModel


class BarsConfig(FrozenModel):
    """How trades become bars. ``spec`` is ``time:<seconds>s``, ``volume:<contracts>`` or ``tick:<trades>``."""

    spec: str = "time:60s"
    large_trade_qty: int = Field(10, gt=0, description="A trade with qty >= this is 'large' (WDO default 10).")

    @field_validator("spec")
    @classmethod
    def _check_spec(cls, value: str) -> str:
        split_bar_spec(value)  # ValueError names the accepted forms
        return value


class SimulatorConfig(FrozenModel):
    """Defaults of the market simulator (``qtml simulate`` and ``make demo``)."""

    sessions: int = Field(20, gt=0)
    start: date = date(2026, 1, 5)
    seed: int = 7
    trades_per_session: int = Field(12_000, gt=0)
    planted_strength: float = Field(0.6, ge=0.0, le=1.0, description="0 = no predictable component.")


class ValidationConfig(FrozenModel):
    """Validation gates: the run fails when the bad-row share crosses ``max_bad_share``."""

    max_bad_share: float = Field(0.01, ge=0.0, le=1.0)


class MarketConfig(FrozenModel):
    symbol: str = Field("WDO", pattern=r"^[A-Z0-9]{2,12}$")
    bars: BarsConfig = BarsConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    validation: ValidationConfig = ValidationConfig()
