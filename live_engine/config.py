"""Configuration of the decision core, the paper broker, the backtest and the live engine.

Every value has a documented default; the ``live`` section of ``config/default.yaml`` mirrors it.
"""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from features.spec import FEATURE_NAMES
from quantumtrader.frozen import FrozenModel


class CoordinatorConfig(FrozenModel):
    """Hedge (multiplicative weights) over the four agents.

    After each bar, agent i earns ``g_i = clip(signal_i * r / return_scale, -1, 1)`` where ``r`` is the
    bar's log return; its weight becomes ``w_i * exp(learning_rate * g_i)``, then weights are
    normalised and clipped to ``[floor, cap]``.

    Optional volatility regimes: with ``regime_feature`` set, ``k`` thresholds split the bars into
    ``k + 1`` regimes by that feature's value (regime ``j`` holds ``t_{j-1} <= v < t_j``), and each
    regime has its own weight vector. Off by default: one weight vector, as before.
    """

    learning_rate: float = Field(0.05, gt=0.0, le=5.0)
    floor: float = Field(0.05, ge=0.0, lt=0.25, description="Minimum weight of any agent.")
    cap: float = Field(0.70, gt=0.25, le=1.0, description="Maximum weight of any agent.")
    return_scale: float = Field(0.0005, gt=0.0, description="Log return that counts as a full gain of 1.")
    regime_feature: str | None = Field(None, description="qt65 feature that picks the regime (e.g. atr_14_rel); "
                                                         "None: one weight vector for all bars.")
    regime_thresholds: tuple[float, ...] = Field((), description="Finite, strictly increasing; k values give "
                                                                 "k + 1 regimes. Required with regime_feature.")

    @field_validator("regime_feature")
    @classmethod
    def _known_feature(cls, v: str | None) -> str | None:
        if v is not None and v not in FEATURE_NAMES:
            raise ValueError(f"{v!r} is not a feature of the feature set (features.spec.FEATURE_NAMES)")
        return v

    @field_validator("regime_thresholds")
    @classmethod
    def _increasing(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not all(math.isfinite(t) for t in v):
            raise ValueError("thresholds must be finite")
        if any(b <= a for a, b in pairwise(v)):
            raise ValueError("thresholds must be sorted and strictly increasing")
        return v

    @model_validator(mode="after")
    def _regimes(self) -> CoordinatorConfig:
        if (self.regime_feature is None) != (not self.regime_thresholds):
            raise ValueError("regime_feature and regime_thresholds go together: set both (regimes on) "
                             "or neither (one weight vector)")
        return self

    @property
    def n_regimes(self) -> int:
        """Number of weight vectors: ``len(regime_thresholds) + 1`` with regimes on, else 1."""
        return len(self.regime_thresholds) + 1 if self.regime_feature is not None else 1


class ConsensusConfig(FrozenModel):
    """combined = model_weight * model_signal + agents_weight * agents_signal; bands on |combined|."""

    model_weight: float = Field(0.4, ge=0.0, le=1.0)
    agents_weight: float = Field(0.6, ge=0.0, le=1.0)
    min_confidence: float = Field(0.60, ge=0.0, le=1.0)
    strong_band: float = Field(0.50, gt=0.0, le=1.0, description="|combined| >= this is 'strong'.")
    normal_band: float = Field(0.20, gt=0.0, le=1.0, description="|combined| >= this is 'normal', below is 'weak'.")

    @model_validator(mode="after")
    def _check(self) -> ConsensusConfig:
        if abs(self.model_weight + self.agents_weight - 1.0) > 1e-9:
            raise ValueError("model_weight + agents_weight must be 1")
        if self.normal_band > self.strong_band:
            raise ValueError("normal_band must be <= strong_band")
        return self


class RiskConfig(FrozenModel):
    """Limits enforced by the risk rule objects (``live_engine/risk.py``)."""

    max_position: int = Field(1, gt=0, description="Contracts, absolute.")
    stop_loss_pct: float = Field(0.005, gt=0.0, lt=1.0,
                                 description="Stop distance as a share of entry price, rounded up to ticks.")
    take_profit_pct: float = Field(0.0075, ge=0.0, lt=1.0, description="Target distance; 0 disables targets.")
    max_daily_trades: int = Field(10, gt=0, description="Entries per session.")
    daily_loss_limit: float = Field(1500.0, gt=0.0, description="R$; reached -> REDUCING until the next session.")
    account_capital: float = Field(30_000.0, gt=0.0, description="R$; base of the drawdown limit.")
    max_drawdown_pct: float = Field(0.10, gt=0.0, lt=1.0, description="Peak-to-trough equity loss -> HALTED.")
    no_entry_last_minutes: int = Field(15, ge=0, description="No new entries this close to the session end.")
    flat_before_close_minutes: int = Field(5, ge=0, description="Positions are closed this close to the end.")
    cooldown_after_losses: int = Field(3, gt=0, description="Consecutive losing trades that start a cooldown.")
    cooldown_minutes: int = Field(15, ge=0)
    stale_after_bars: int = Field(3, gt=0, description="No market data for this many bar intervals -> stale.")
    max_holding_bars: int = Field(5, ge=0, description="Exit after this many bars; 0 keeps positions until a stop.")
    use_brackets: bool = Field(True, description="Attach stop-loss / take-profit orders to every entry.")


class BrokerConfig(FrozenModel):
    """Paper broker: market orders fill at the opposite best price plus slippage, after a latency."""

    slippage_ticks: int = Field(0, ge=0)
    latency_ms: int = Field(0, ge=0, description="A market order fills at the first book at or after submit + latency.")
    stop_slippage_ticks: int = Field(0, ge=0, description="Extra ticks against us when a stop triggers.")


class BacktestConfig(FrozenModel):
    """Defaults of ``qtml backtest`` and the demo stage."""

    model_uri: str = "models:/quantumtrader@challenger"
    sessions: int = Field(5, gt=0, description="Replay the last N sessions of the lake when no dates are given.")
    experiment: str = "quantumtrader-backtests"
    agents_dir: Path | None = Field(None, description="Folder of agent YAMLs; default: live_engine/agents.")


class LiveConfig(FrozenModel):
    coordinator: CoordinatorConfig = CoordinatorConfig()
    consensus: ConsensusConfig = ConsensusConfig()
    risk: RiskConfig = RiskConfig()
    broker: BrokerConfig = BrokerConfig()
    backtest: BacktestConfig = BacktestConfig()
    zmq_pub_endpoint: str = "tcp://127.0.0.1:5559"
