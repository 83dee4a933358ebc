"""Risk engine: small rule objects, each allowing or denying an order with a machine-readable reason.

Every pre-trade rule is a class with one method ``check(ctx, intent) -> Denial | None`` (zipline
``finance/controls.py`` style). The :class:`RiskEngine` runs them in order, keeps the counters
(daily entries, daily PnL, equity peak, consecutive losses) and the trading state:

- ``ACTIVE``: everything the rules allow;
- ``REDUCING``: only orders that reduce the position (daily loss limit reached; resets next session);
- ``HALTED``: no orders at all (max drawdown reached; sticky until an operator resets it).

Stop loss and take profit are not denials: :meth:`RiskEngine.bracket_ticks` turns the percentages
into tick distances that the broker rests with every entry. Forced flat before the close is
:meth:`RiskEngine.must_flatten`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from live_engine.config import RiskConfig

ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"
MINUTE_NS = 60 * 1_000_000_000

# Reason codes.
R_HALTED = "HALTED"
R_REDUCING = "REDUCE_ONLY"
R_MAX_POSITION = "MAX_POSITION"
R_MAX_DAILY_TRADES = "MAX_DAILY_TRADES"
R_DAILY_LOSS = "DAILY_LOSS_LIMIT"
R_MAX_DRAWDOWN = "MAX_DRAWDOWN"
R_OUTSIDE_SESSION = "OUTSIDE_SESSION"
R_ENTRY_CUTOFF = "ENTRY_CUTOFF"
R_COOLDOWN = "COOLDOWN"
R_STALE_DATA = "STALE_DATA"


@dataclass(frozen=True, slots=True)
class Denial:
    code: str
    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class OrderIntent:
    side: int  # +1 buy, -1 sell
    qty: int
    position: int  # position before the order

    @property
    def is_entry(self) -> bool:
        """True when the order opens or increases exposure."""
        after = self.position + self.side * self.qty
        return abs(after) > abs(self.position)


@dataclass(slots=True)
class RiskContext:
    """What the rules see; filled by the engine at each decision."""

    now_ns: int
    session_open_ns: int
    session_close_ns: int
    last_data_ns: int
    bar_ns: int
    state: str = ACTIVE
    daily_entries: int = 0
    daily_pnl: float = 0.0  # R$, realised + unrealised since the session's open
    equity: float = 0.0  # R$, capital + total PnL
    peak_equity: float = 0.0
    cooldown_until_ns: int = 0


class RiskRule(Protocol):
    name: str

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None: ...


class TradingStateRule:
    name = "trading_state"

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        if ctx.state == HALTED:
            return Denial(R_HALTED, self.name, "trading is halted")
        if ctx.state == REDUCING and intent.is_entry:
            return Denial(R_REDUCING, self.name, "state REDUCING allows only reducing orders")
        return None


class MaxPosition:
    name = "max_position"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        after = intent.position + intent.side * intent.qty
        if abs(after) > self.limit:
            return Denial(R_MAX_POSITION, self.name, f"position would be {after}, limit {self.limit}")
        return None


class MaxDailyTrades:
    name = "max_daily_trades"

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        if intent.is_entry and ctx.daily_entries >= self.limit:
            return Denial(R_MAX_DAILY_TRADES, self.name, f"{ctx.daily_entries} entries today, limit {self.limit}")
        return None


class DailyLossLimit:
    name = "daily_loss_limit"

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        if intent.is_entry and ctx.daily_pnl <= -self.limit:
            return Denial(R_DAILY_LOSS, self.name, f"daily PnL {ctx.daily_pnl:.2f} <= -{self.limit:.2f}")
        return None


class MaxDrawdown:
    name = "max_drawdown"

    def __init__(self, pct: float) -> None:
        self.pct = pct

    def breached(self, ctx: RiskContext) -> bool:
        return ctx.peak_equity > 0 and (ctx.peak_equity - ctx.equity) >= self.pct * ctx.peak_equity

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        if intent.is_entry and self.breached(ctx):
            dd = (ctx.peak_equity - ctx.equity) / ctx.peak_equity
            return Denial(R_MAX_DRAWDOWN, self.name, f"drawdown {dd:.2%} >= {self.pct:.2%}")
        return None


class SessionWindow:
    name = "session_window"

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        if intent.is_entry and not (ctx.session_open_ns <= ctx.now_ns < ctx.session_close_ns):
            return Denial(R_OUTSIDE_SESSION, self.name, "outside the trading session")
        return None


class EntryCutoff:
    name = "entry_cutoff"

    def __init__(self, minutes: int) -> None:
        self.minutes = minutes

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        if intent.is_entry and ctx.now_ns >= ctx.session_close_ns - self.minutes * MINUTE_NS:
            return Denial(R_ENTRY_CUTOFF, self.name, f"no new entries in the last {self.minutes} minutes")
        return None


class Cooldown:
    name = "cooldown"

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        if intent.is_entry and ctx.now_ns < ctx.cooldown_until_ns:
            return Denial(R_COOLDOWN, self.name, "cooling down after consecutive losses")
        return None


class StaleData:
    name = "stale_data"

    def __init__(self, bars: int) -> None:
        self.bars = bars

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        if intent.is_entry and ctx.now_ns - ctx.last_data_ns > self.bars * ctx.bar_ns:
            age = (ctx.now_ns - ctx.last_data_ns) / 1e9
            return Denial(R_STALE_DATA, self.name, f"no market data for {age:.0f} s")
        return None


class RiskEngine:
    """Runs the rules, owns the counters and the trading state."""

    def __init__(self, config: RiskConfig, tick_size: float) -> None:
        self.config = config
        self.tick_size = tick_size
        self.drawdown = MaxDrawdown(config.max_drawdown_pct)
        self.rules: list[RiskRule] = [
            TradingStateRule(), MaxPosition(config.max_position), SessionWindow(),
            EntryCutoff(config.no_entry_last_minutes), StaleData(config.stale_after_bars),
            MaxDailyTrades(config.max_daily_trades), DailyLossLimit(config.daily_loss_limit),
            self.drawdown, Cooldown(),
        ]
        self.state = ACTIVE
        self.daily_entries = 0
        self.day_start_pnl = 0.0
        self.peak_equity = config.account_capital
        self.consecutive_losses = 0
        self.cooldown_until_ns = 0
        self.denials: dict[str, int] = {}

    # ---- counters ---------------------------------------------------------------------------
    def start_session(self, total_pnl: float) -> None:
        """New session: daily counters reset; REDUCING returns to ACTIVE (HALTED stays)."""
        self.daily_entries = 0
        self.day_start_pnl = total_pnl
        if self.state == REDUCING:
            self.state = ACTIVE

    def mark(self, ctx: RiskContext, total_pnl: float) -> str:
        """Update equity, peak and daily PnL in ``ctx``; move the state. Returns the new state."""
        equity = self.config.account_capital + total_pnl
        self.peak_equity = max(self.peak_equity, equity)
        ctx.equity, ctx.peak_equity = equity, self.peak_equity
        ctx.daily_pnl = total_pnl - self.day_start_pnl
        ctx.daily_entries, ctx.cooldown_until_ns = self.daily_entries, self.cooldown_until_ns
        if self.state != HALTED and self.drawdown.breached(ctx):
            self.state = HALTED
        elif self.state == ACTIVE and ctx.daily_pnl <= -self.config.daily_loss_limit:
            self.state = REDUCING
        ctx.state = self.state
        return self.state

    def record_entry(self) -> None:
        self.daily_entries += 1

    def record_closed_trade(self, pnl: float, now_ns: int) -> None:
        """Count losing streaks; N in a row start a cooldown."""
        self.consecutive_losses = self.consecutive_losses + 1 if pnl < 0 else 0
        if self.consecutive_losses >= self.config.cooldown_after_losses:
            self.cooldown_until_ns = now_ns + self.config.cooldown_minutes * MINUTE_NS
            self.consecutive_losses = 0

    # ---- decisions --------------------------------------------------------------------------
    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        """The first rule that denies, or None when the order is allowed."""
        ctx.state = self.state
        for rule in self.rules:
            denial = rule.check(ctx, intent)
            if denial is not None:
                self.denials[denial.code] = self.denials.get(denial.code, 0) + 1
                return denial
        return None

    def bracket_ticks(self, price: float) -> tuple[int, int]:
        """(stop, target) distances in ticks for an entry near ``price`` (rounded up, at least 1)."""
        if not self.config.use_brackets:
            return 0, 0
        stop = max(1, math.ceil(price * self.config.stop_loss_pct / self.tick_size - 1e-9))
        tp = self.config.take_profit_pct
        target = max(1, math.ceil(price * tp / self.tick_size - 1e-9)) if tp > 0 else 0
        return stop, target

    def must_flatten(self, ctx: RiskContext) -> bool:
        """True in the last ``flat_before_close_minutes`` of the session."""
        return ctx.now_ns >= ctx.session_close_ns - self.config.flat_before_close_minutes * MINUTE_NS

    # ---- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Counters that must survive a restart."""
        return {"state": self.state, "daily_entries": self.daily_entries, "day_start_pnl": self.day_start_pnl,
                "peak_equity": self.peak_equity, "consecutive_losses": self.consecutive_losses,
                "cooldown_until_ns": self.cooldown_until_ns, "denials": dict(self.denials)}

    def restore(self, state: dict[str, Any]) -> None:
        for key in ("state", "daily_entries", "day_start_pnl", "peak_equity", "consecutive_losses",
                    "cooldown_until_ns"):
            setattr(self, key, state[key])
        self.denials = dict(state.get("denials", {}))
