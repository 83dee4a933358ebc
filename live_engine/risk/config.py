"""Configuration of the risk rules (``live_engine/risk/engine.py``)."""

from __future__ import annotations

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class RiskConfig(FrozenModel):
    """Limits enforced by the risk rule objects (``live_engine/risk/engine.py``)."""

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
