"""One denial test per risk rule, with its machine-readable reason code; states and brackets."""

from __future__ import annotations

import pytest

from live_engine.config import RiskConfig
from live_engine.risk.engine import (
    ACTIVE,
    HALTED,
    MINUTE_NS,
    R_COOLDOWN,
    R_DAILY_LOSS,
    R_ENTRY_CUTOFF,
    R_HALTED,
    R_MAX_DAILY_TRADES,
    R_MAX_DRAWDOWN,
    R_MAX_POSITION,
    R_OUTSIDE_SESSION,
    R_REDUCING,
    R_STALE_DATA,
    REDUCING,
    DailyLossLimit,
    MaxDrawdown,
    OrderIntent,
    RiskContext,
    RiskEngine,
)

OPEN = 1_000 * MINUTE_NS
CLOSE = OPEN + 540 * MINUTE_NS
BAR = MINUTE_NS
BUY = OrderIntent(1, 1, 0)


def ctx(now: int = OPEN + 60 * MINUTE_NS, **kw) -> RiskContext:
    c = RiskContext(now, OPEN, CLOSE, last_data_ns=now, bar_ns=BAR)
    for k, v in kw.items():
        setattr(c, k, v)
    return c


@pytest.fixture
def engine() -> RiskEngine:
    e = RiskEngine(RiskConfig(), tick_size=0.5)
    e.start_session(0.0)
    return e


def checked(engine: RiskEngine, c: RiskContext, intent: OrderIntent = BUY, pnl: float = 0.0) -> str | None:
    engine.mark(c, pnl)
    d = engine.check(c, intent)
    return None if d is None else d.code


def test_an_ordinary_entry_is_allowed(engine):
    assert checked(engine, ctx()) is None


def test_max_position_denies_a_second_contract(engine):
    assert checked(engine, ctx(), OrderIntent(1, 1, 1)) == R_MAX_POSITION


def test_exit_is_allowed_even_with_max_position_reached(engine):
    assert checked(engine, ctx(), OrderIntent(-1, 1, 1)) is None


def test_max_daily_trades_denies_the_eleventh_entry(engine):
    for _ in range(10):
        engine.record_entry()
    assert checked(engine, ctx()) == R_MAX_DAILY_TRADES
    engine.start_session(0.0)
    assert checked(engine, ctx()) is None


def test_daily_loss_limit_rule_denies_entries():
    c = ctx(daily_pnl=-1500.0)
    assert DailyLossLimit(1500.0).check(c, BUY).code == R_DAILY_LOSS  # type: ignore[union-attr]


def test_daily_loss_moves_the_engine_to_reducing_until_the_next_session(engine):
    assert checked(engine, ctx(), pnl=-1600.0) == R_REDUCING
    assert engine.state == REDUCING
    assert checked(engine, ctx(), OrderIntent(-1, 1, 1), pnl=-1600.0) is None  # exits still allowed
    engine.start_session(-1600.0)
    assert engine.state == ACTIVE


def test_max_drawdown_rule_denies_entries():
    c = ctx(equity=26_000.0, peak_equity=30_000.0)
    assert MaxDrawdown(0.10).check(c, BUY).code == R_MAX_DRAWDOWN  # type: ignore[union-attr]


def test_max_drawdown_halts_and_halted_denies_every_order(engine):
    assert checked(engine, ctx(), pnl=-3_100.0) == R_HALTED
    assert engine.state == HALTED
    assert checked(engine, ctx(), OrderIntent(-1, 1, 1), pnl=0.0) == R_HALTED  # sticky, even for exits
    engine.start_session(0.0)
    assert engine.state == HALTED


def test_outside_the_session_entries_are_denied(engine):
    assert checked(engine, ctx(now=OPEN - BAR)) == R_OUTSIDE_SESSION
    assert checked(engine, ctx(now=CLOSE)) == R_OUTSIDE_SESSION


def test_no_new_entries_in_the_last_minutes(engine):
    assert checked(engine, ctx(now=CLOSE - 15 * MINUTE_NS)) == R_ENTRY_CUTOFF
    assert checked(engine, ctx(now=CLOSE - 16 * MINUTE_NS)) is None


def test_forced_flat_before_the_close(engine):
    assert engine.must_flatten(ctx(now=CLOSE - 5 * MINUTE_NS))
    assert not engine.must_flatten(ctx(now=CLOSE - 6 * MINUTE_NS))


def test_cooldown_after_consecutive_losses(engine):
    now = OPEN + 60 * MINUTE_NS
    for _ in range(3):
        engine.record_closed_trade(-10.0, now)
    assert checked(engine, ctx(now=now + MINUTE_NS)) == R_COOLDOWN
    assert checked(engine, ctx(now=now + 15 * MINUTE_NS)) is None


def test_a_win_resets_the_losing_streak(engine):
    now = OPEN + 60 * MINUTE_NS
    for pnl in (-1.0, -1.0, 5.0, -1.0):
        engine.record_closed_trade(pnl, now)
    assert checked(engine, ctx(now=now + MINUTE_NS)) is None


def test_stale_data_denies_entries(engine):
    now = OPEN + 60 * MINUTE_NS
    c = ctx(now=now)
    c.last_data_ns = now - 4 * BAR
    assert checked(engine, c) == R_STALE_DATA


def test_bracket_is_half_a_percent_in_ticks_rounded_up(engine):
    # 5000 * 0.005 = 25 points = 50 ticks; target 0.75 % = 37.5 points = 75 ticks
    assert engine.bracket_ticks(5000.0) == (50, 75)
    assert engine.bracket_ticks(5001.0) == (51, 76)  # 25.005 points -> 50.01 ticks -> 51


def test_risk_counters_survive_a_restore(engine):
    engine.record_entry()
    engine.record_closed_trade(-5.0, OPEN)
    other = RiskEngine(RiskConfig(), tick_size=0.5)
    other.restore(engine.state_dict())
    assert other.state_dict() == engine.state_dict()
