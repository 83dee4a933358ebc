"""The ``promotion`` section: what evidence a challenger needs before it becomes ``champion``.

The thresholds were chosen from measured replays of the demo's simulated data, with and without a
planted signal and over several seeds (docs/promotion.md, "Why these thresholds").
"""

from __future__ import annotations

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class BootstrapConfig(FrozenModel):
    """The circular block bootstrap of daily PnL (:mod:`live_engine.backtest.stats`)."""

    n_boot: int = Field(2000, ge=200, description="Bootstrap replicates.")
    block: int | None = Field(None, gt=0, description="Days per block; None = ceil(days ** (1/3)).")
    seed: int = Field(0, description="Seed of the resampling: the same evidence always gives the same verdict.")


class PromotionConfig(FrozenModel):
    """The promotion policy and where its records go (``stores.promotions_db_url``)."""

    champion_alias: str = Field("champion", pattern=r"^[A-Za-z][\w-]*$",
                                description="The alias the live engine serves; the challenger is training.alias.")
    sessions: int | None = Field(
        None, gt=0,
        description="Evaluate on the last N lake sessions after both models' training windows; None = all of them.")
    min_days: int = Field(8, ge=3, description="Out-of-sample sessions needed (the bootstrap and DSR need days).")
    min_trades: int = Field(30, ge=1, description="Round trips the challenger must make on those sessions.")
    min_prob_positive: float = Field(
        0.90, gt=0, lt=1,
        description="No champion yet: bootstrap probability that the mean daily PnL after costs is above 0.")
    min_prob_beats_champion: float = Field(
        0.90, gt=0, lt=1,
        description="Bootstrap probability (days paired) that the challenger's mean daily PnL beats the champion's.")
    max_drawdown_pct: float = Field(0.03, gt=0, le=1,
                                    description="Largest drawdown allowed, as a share of live.risk.account_capital.")
    min_deflated_sharpe: float = Field(
        0.60, gt=0, lt=1,
        description="Deflated Sharpe ratio of the daily PnL, deflated by the tuning configurations tried.")
    lock_timeout_s: float = Field(1800.0, gt=0, description="How long a promotion waits for another to finish.")
    bootstrap: BootstrapConfig = BootstrapConfig()
