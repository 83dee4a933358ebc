"""Configuration of the decision core: the Hedge coordinator over the agents and the consensus."""

from __future__ import annotations

import math
from itertools import pairwise

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
