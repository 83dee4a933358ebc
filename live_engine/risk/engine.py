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

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from live_engine.config import RiskConfig
from live_engine.vectors import maximum, pick

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
    code: str

    def blocks(self, ctx: Any, is_entry: Any) -> Any: ...

    def detail(self, ctx: Any) -> str: ...

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None: ...


class _Rule:
    """A rule is one predicate, :meth:`blocks`, written with comparisons, ``&`` and ``|`` only, so that
    it runs on a :class:`RiskContext` of scalars (the core: one order) and on one whose fields are
    numpy arrays (the parameter sweep: every candidate at once, limits included). :meth:`check` turns
    it into the core's :class:`Denial`."""

    name = ""
    code = ""

    def blocks(self, ctx: Any, is_entry: Any) -> Any:
        raise NotImplementedError

    def detail(self, ctx: Any) -> str:
        return ""

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        if self.blocks(ctx, intent.is_entry):
            return Denial(self.code, self.name, self.detail(ctx))
        return None


class TradingStateRule(_Rule):
    name = "trading_state"
    code = R_HALTED

    def blocks(self, ctx: Any, is_entry: Any) -> Any:
        return (ctx.state == HALTED) | ((ctx.state == REDUCING) & is_entry)

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        if ctx.state == HALTED:
            return Denial(R_HALTED, self.name, "trading is halted")
        if ctx.state == REDUCING and intent.is_entry:
            return Denial(R_REDUCING, self.name, "state REDUCING allows only reducing orders")
        return None


class MaxPosition(_Rule):
    name = "max_position"
    code = R_MAX_POSITION

    def __init__(self, limit: Any) -> None:
        self.limit = limit

    def blocks(self, ctx: Any, is_entry: Any) -> Any:
        # every order the core sends is one contract from flat or the whole position back to flat
        return is_entry & (self.limit < 1)

    def check(self, ctx: RiskContext, intent: OrderIntent) -> Denial | None:
        after = intent.position + intent.side * intent.qty
        if abs(after) > self.limit:
            return Denial(R_MAX_POSITION, self.name, f"position would be {after}, limit {self.limit}")
        return None


class MaxDailyTrades(_Rule):
    name = "max_daily_trades"
    code = R_MAX_DAILY_TRADES

    def __init__(self, limit: Any) -> None:
        self.limit = limit

    def blocks(self, ctx: Any, is_entry: Any) -> Any:
        return is_entry & (ctx.daily_entries >= self.limit)

    def detail(self, ctx: Any) -> str:
        return f"{ctx.daily_entries} entries today, limit {self.limit}"


class DailyLossLimit(_Rule):
    name = "daily_loss_limit"
    code = R_DAILY_LOSS

    def __init__(self, limit: Any) -> None:
        self.limit = limit

    def blocks(self, ctx: Any, is_entry: Any) -> Any:
        return is_entry & (ctx.daily_pnl <= -self.limit)

    def detail(self, ctx: Any) -> str:
        return f"daily PnL {ctx.daily_pnl:.2f} <= -{self.limit:.2f}"


class MaxDrawdown(_Rule):
    name = "max_drawdown"
    code = R_MAX_DRAWDOWN

    def __init__(self, pct: Any) -> None:
        self.pct = pct

    def breached(self, ctx: Any) -> Any:
        return (ctx.peak_equity > 0) & ((ctx.peak_equity - ctx.equity) >= self.pct * ctx.peak_equity)

    def blocks(self, ctx: Any, is_entry: Any) -> Any:
        return is_entry & self.breached(ctx)

    def detail(self, ctx: Any) -> str:
        return f"drawdown {(ctx.peak_equity - ctx.equity) / ctx.peak_equity:.2%} >= {self.pct:.2%}"


class SessionWindow(_Rule):
    name = "session_window"
    code = R_OUTSIDE_SESSION

    def blocks(self, ctx: Any, is_entry: Any) -> Any:
        return is_entry & ((ctx.now_ns < ctx.session_open_ns) | (ctx.now_ns >= ctx.session_close_ns))

    def detail(self, ctx: Any) -> str:
        return "outside the trading session"


class EntryCutoff(_Rule):
    name = "entry_cutoff"
    code = R_ENTRY_CUTOFF

    def __init__(self, minutes: Any) -> None:
        self.minutes = minutes

    def blocks(self, ctx: Any, is_entry: Any) -> Any:
        return is_entry & (ctx.now_ns >= ctx.session_close_ns - self.minutes * MINUTE_NS)

    def detail(self, ctx: Any) -> str:
        return f"no new entries in the last {self.minutes} minutes"


class Cooldown(_Rule):
    name = "cooldown"
    code = R_COOLDOWN

    def blocks(self, ctx: Any, is_entry: Any) -> Any:
        return is_entry & (ctx.now_ns < ctx.cooldown_until_ns)

    def detail(self, ctx: Any) -> str:
        return "cooling down after consecutive losses"


class StaleData(_Rule):
    name = "stale_data"
    code = R_STALE_DATA

    def __init__(self, bars: Any) -> None:
        self.bars = bars

    def blocks(self, ctx: Any, is_entry: Any) -> Any:
        return is_entry & (ctx.now_ns - ctx.last_data_ns > self.bars * ctx.bar_ns)

    def detail(self, ctx: Any) -> str:
        return f"no market data for {(ctx.now_ns - ctx.last_data_ns) / 1e9:.0f} s"


def build_rules(config: Any) -> tuple[MaxDrawdown, list[RiskRule]]:
    """The pre-trade rules in the order they are checked, from a :class:`RiskConfig` (the core) or an
    object whose limits are arrays, one value per candidate (the sweep). Returns (drawdown rule, rules)."""
    drawdown = MaxDrawdown(config.max_drawdown_pct)
    rules: list[RiskRule] = [
        TradingStateRule(), MaxPosition(config.max_position), SessionWindow(),
        EntryCutoff(config.no_entry_last_minutes), StaleData(config.stale_after_bars),
        MaxDailyTrades(config.max_daily_trades), DailyLossLimit(config.daily_loss_limit),
        drawdown, Cooldown(),
    ]
    return drawdown, rules


def next_state(state: Any, breached: Any, daily_pnl: Any, daily_loss_limit: Any) -> Any:
    """The trading state after a mark: HALTED on a drawdown breach (sticky), REDUCING at the daily loss
    limit (from ACTIVE), else unchanged."""
    return pick((state != HALTED) & breached, HALTED,
                pick((state == ACTIVE) & (daily_pnl <= -daily_loss_limit), REDUCING, state))


def losing_streak(losses: Any, cooldown_until_ns: Any, pnl: Any, now_ns: Any, after: Any,
                  minutes: Any) -> tuple[Any, Any]:
    """(consecutive losses, cooldown end) after a closed trade of ``pnl`` noticed at ``now_ns``: ``after``
    losses in a row start a cooldown of ``minutes`` and reset the count."""
    losses = pick(pnl < 0, losses + 1, 0)
    start = losses >= after
    return pick(start, 0, losses), pick(start, now_ns + minutes * MINUTE_NS, cooldown_until_ns)


def bracket_distance(price: Any, pct: Any, tick: float) -> Any:
    """A stop or target ``pct`` away from ``price``, in whole ticks rounded up, at least 1."""
    return maximum(1, np.ceil(price * pct / tick - 1e-9))


def flatten_due(now_ns: Any, session_close_ns: Any, minutes: Any) -> Any:
    """True in the last ``minutes`` of the session: positions are closed."""
    return now_ns >= session_close_ns - minutes * MINUTE_NS


class RiskEngine:
    """Runs the rules, owns the counters and the trading state."""

    def __init__(self, config: RiskConfig, tick_size: float) -> None:
        self.config = config
        self.tick_size = tick_size
        self.drawdown, self.rules = build_rules(config)
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
        self.state = next_state(self.state, self.drawdown.breached(ctx), ctx.daily_pnl, self.config.daily_loss_limit)
        ctx.state = self.state
        return self.state

    def record_entry(self) -> None:
        self.daily_entries += 1

    def record_closed_trade(self, pnl: float, now_ns: int) -> None:
        """Count losing streaks; N in a row start a cooldown."""
        self.consecutive_losses, self.cooldown_until_ns = losing_streak(
            self.consecutive_losses, self.cooldown_until_ns, pnl, now_ns, self.config.cooldown_after_losses,
            self.config.cooldown_minutes)

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
        stop = int(bracket_distance(price, self.config.stop_loss_pct, self.tick_size))
        tp = self.config.take_profit_pct
        target = int(bracket_distance(price, tp, self.tick_size)) if tp > 0 else 0
        return stop, target

    def must_flatten(self, ctx: RiskContext) -> bool:
        """True in the last ``flat_before_close_minutes`` of the session."""
        return bool(flatten_due(ctx.now_ns, ctx.session_close_ns, self.config.flat_before_close_minutes))

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
