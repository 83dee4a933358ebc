"""Warm start: earlier sessions replayed through the features and the coordinator, without trading.

A fresh :class:`~features.streaming.FeatureEngine` gives NaN until its longest window is full
(:data:`features.spec.MAX_WARMUP`: ``vol_ratio_100_200`` needs 200 bars), and a
fresh Hedge coordinator starts from equal weights. The backtest (``live_engine.backtest.replay``)
and the live engine at start-up both call :func:`warm_up` on the sessions just before the first one
they trade, so the first evaluated bar sees the features and weights it would see in a running engine.

The plan (:func:`plan_warmup`) has two spans, oldest first:

1. **feature span**: the fewest sessions whose bars cover the longest feature warm-up
   (:func:`feature_warmup_sessions`); they only fill windows;
2. **coordinator span**: the last ``coordinator_sessions`` sessions; the coordinator starts from
   equal weights at their open and scores every complete bar's votes, as it does live.

Because the coordinator's span is fixed and the feature windows are full when it starts, the state
entering the evaluation does not depend on how far back the lake reaches: one more earlier session
changes nothing (``tests/live_engine/test_warmup.py``). Nothing here trades or writes a record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol, TypeVar

from features.spec import MAX_WARMUP
from market.instruments import Instrument

S = TypeVar("S")


class WarmableCore(Protocol):
    """What :func:`warm_up` needs of a :class:`~live_engine.decision.core.DecisionCore`."""

    warming: bool

    def reset_learning(self) -> None: ...


def bars_in_session(instrument: Instrument, day: date, bar_seconds: int) -> int:
    """Time bars in ``day``'s session (its full grid, empty bars included)."""
    return math.ceil(instrument.session_minutes(day) * 60 / bar_seconds)


def feature_warmup_sessions(session_bars: Sequence[int], default_bars: int) -> int:
    """The fewest sessions, counted back from the newest of ``session_bars`` (bars per session, oldest
    first), whose bars reach :data:`features.spec.MAX_WARMUP`; sessions missing from the list count
    ``default_bars`` each."""
    need, n = MAX_WARMUP, 0
    for bars in reversed(session_bars):
        if need <= 0:
            break
        need -= bars
        n += 1
    if need > 0:
        n += math.ceil(need / max(1, default_bars))
    return n


def derived_warmup_sessions(session_bars: Sequence[int], default_bars: int, coordinator_sessions: int) -> int:
    """The default warm-up: the coordinator span plus the feature span that fills every window before it.

    ``session_bars`` are the bars of the sessions before the first evaluated one (oldest first); the
    last ``coordinator_sessions`` of them are the coordinator's, the feature span is counted before.
    For WDO on ``time:60s`` bars (540-570 bars a session): 1 + 1 = 2 sessions.
    """
    before = session_bars[: max(0, len(session_bars) - coordinator_sessions)]
    return feature_warmup_sessions(before, default_bars) + coordinator_sessions


@dataclass(frozen=True)
class WarmupPlan:
    """Which earlier sessions warm the engine: ``wanted`` of them, ``days`` found (oldest first)."""

    wanted: int
    days: tuple[date, ...]
    coordinator_sessions: int

    @property
    def used(self) -> int:
        return len(self.days)

    @property
    def short(self) -> bool:
        """Fewer sessions than wanted were available: the first evaluated bars may be incomplete."""
        return self.used < self.wanted

    def shortfall(self, symbol: str, first_day: date) -> str:
        """One line saying what is missing and what it means (empty when nothing is)."""
        if not self.short:
            return ""
        return (f"warm-up: only {self.used} of the {self.wanted} {symbol} sessions wanted before {first_day} are in "
                "the lake (live.backtest.warmup_sessions): the first evaluated bars have incomplete features "
                "(no trade) and the coordinator learns on fewer bars; ingest earlier sessions to fix it")


def plan_warmup(earlier_days: Sequence[date], bars_of: Callable[[date], int], first_day: date, *,
                configured: int | None, coordinator_sessions: int) -> WarmupPlan:
    """The warm-up before ``first_day``: ``configured`` sessions, or :func:`derived_warmup_sessions`,
    taken from ``earlier_days`` (the sessions available before it, oldest first)."""
    days = sorted(d for d in earlier_days if d < first_day)
    wanted = configured if configured is not None else derived_warmup_sessions(
        [bars_of(d) for d in days], bars_of(first_day), coordinator_sessions)
    chosen = tuple(days[-wanted:]) if wanted > 0 else ()
    return WarmupPlan(wanted, chosen, min(coordinator_sessions, wanted))


def warm_up(core: WarmableCore, sessions: Sequence[S], play: Callable[[S], object], *,
            coordinator_sessions: int) -> None:
    """Play ``sessions`` (oldest first) through ``play`` with ``core`` warming: bar closes fill the
    feature windows and, over the last ``coordinator_sessions`` sessions, train the coordinator from
    equal weights (``0``: keep the coordinator as it is, e.g. restored from a saved state). The core
    trades nothing and records nothing meanwhile; it is back to normal when this returns or raises."""
    start = len(sessions) - coordinator_sessions if coordinator_sessions > 0 else len(sessions)
    core.warming = True
    try:
        for i, s in enumerate(sessions):
            if i == max(0, start):
                core.reset_learning()
            play(s)
    finally:
        core.warming = False
