"""RELIABILITY 9: a Hypothesis state machine over random prices, signals, latencies and fills.

Invariants checked after every step: |position| never exceeds the limit; once HALTED no order is
ever sent again; every resting stop that the tape crossed has been filled; no session has more
than ``max_daily_trades`` entries; no fill is applied twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from tiny_model import Bar

from live_engine.config import LiveConfig
from live_engine.decision.core import DecisionCore, ScriptedDecider
from live_engine.execution.broker import FILLED, STOP, WORKING
from live_engine.execution.config import CostConfig
from live_engine.risk.engine import HALTED
from market.instruments import get_instrument
from quantumtrader.clock import SimulatedClock

MIN = 60 * 10**9
MS = 10**6
FIRST = date(2026, 1, 5)
ZEROS = np.zeros(65)


def bounds(day: date) -> tuple[int, int]:
    o = int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()) * 10**9
    return o, o + 540 * MIN


class CoreMachine(RuleBasedStateMachine):
    @initialize(latency=st.sampled_from([0, 0, 150]), capital=st.sampled_from([1_500.0, 5_000.0, 30_000.0]),
                stop_pct=st.sampled_from([0.0005, 0.001, 0.005]), hold=st.sampled_from([0, 3]))
    def setup(self, latency: int, capital: float, stop_pct: float, hold: int) -> None:
        self.cfg = LiveConfig.model_validate({
            "risk": {"account_capital": capital, "stop_loss_pct": stop_pct, "take_profit_pct": 2 * stop_pct,
                     "max_holding_bars": hold, "cooldown_minutes": 2, "no_entry_last_minutes": 15}})
        self.direction = 0
        self.core = DecisionCore(instrument=get_instrument("WDO"), config=self.cfg,
                                 decider=ScriptedDecider(lambda ts: self.direction), clock=SimulatedClock(),
                                 bar_ns=MIN, session_bounds=bounds, id_prefix="P", costs=CostConfig(latency_ms=latency))
        self.day = FIRST
        self.bar_k = 0
        self.ts = bounds(self.day)[0]
        self.price = 5000.0
        self.halted_orders: int | None = None
        self.entries: dict[str, int] = {}
        self.core.on_book(self.ts + 1, self.price - 0.5, self.price)

    def _bar_end(self) -> int:
        return bounds(self.day)[0] + (self.bar_k + 1) * MIN

    def _print(self, ts: int, move: int) -> None:
        """One book update and one trade at ``ts``, checking every stop the print crosses."""
        self.ts = ts
        self.price = max(100.0, self.price + 0.5 * move)
        stops = [o for o in self.core.broker.resting if o.kind == STOP]
        self.core.on_book(self.ts, self.price - 0.5, self.price)
        self.core.on_trade(self.ts, self.price)
        for o in stops:  # every stop crossed by this print is filled
            crossed = self.price <= o.price if o.side < 0 else self.price >= o.price
            if crossed:
                assert o.status == FILLED, (o, self.price)
                event("a stop was crossed and filled")

    @rule(moves=st.lists(st.integers(-12, 12), min_size=1, max_size=8))
    def ticks(self, moves: list[int]) -> None:
        end = self._bar_end()
        for m in moves:
            if self.ts + 7 * MS >= end - MS:
                break
            self._print(self.ts + 7 * MS, m)

    @precondition(lambda self: self.bar_k < 539)
    @rule(direction=st.sampled_from([-1, 0, 1, 1]), skip=st.sampled_from([0, 0, 0, 1, 5]),
          move=st.integers(-16, 16))
    def bar(self, direction: int, skip: int, move: int) -> None:
        self.direction = direction
        self.bar_k = min(538, self.bar_k + skip)
        close_ts = self._bar_end()
        if close_ts - MS > self.ts:
            self._print(close_ts - MS, move)  # the bar's last print (keeps the feed fresh)
        self.ts = max(self.ts, close_ts)
        n_before = len(self.core.broker.orders)
        rec = self.core.on_bar(Bar(close_ts, self.day, self.price, ZEROS))
        new = self.core.broker.orders[n_before:]
        if self.halted_orders is not None:
            assert not new, "an order was sent while HALTED"
        if rec["state"] == HALTED and self.halted_orders is None:
            self.halted_orders = len(self.core.broker.orders)
            event("halted")
        if rec["denial"]:
            event(f"denied {rec['denial']}")
        key = self.day.isoformat()
        self.entries[key] = self.entries.get(key, 0) + sum(o.tag == "entry" for o in new)
        self.bar_k += 1

    @precondition(lambda self: self.bar_k > 25)
    @rule()
    def next_session(self) -> None:
        self.day += timedelta(days=1)
        self.bar_k = 0
        self.ts = max(self.ts, bounds(self.day)[0])

    @invariant()
    def position_within_limit(self) -> None:
        if hasattr(self, "core"):
            assert abs(self.core.broker.position) <= self.cfg.risk.max_position

    @invariant()
    def daily_entries_within_limit(self) -> None:
        if hasattr(self, "core"):
            assert all(n <= self.cfg.risk.max_daily_trades for n in self.entries.values())

    @invariant()
    def no_order_after_halt_and_fills_unique(self) -> None:
        if hasattr(self, "core"):
            if self.halted_orders is not None:
                assert len(self.core.broker.orders) == self.halted_orders
            ids = [f.fill_id for f in self.core.broker.fills]
            assert len(ids) == len(set(ids))
            assert all(o.status == WORKING for o in self.core.broker.resting)


TestCoreMachine = CoreMachine.TestCase
TestCoreMachine.settings = settings(max_examples=80, stateful_step_count=80, deadline=None,
                                    suppress_health_check=[HealthCheck.too_slow])
