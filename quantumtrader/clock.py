"""Clocks. The core never calls ``datetime.now()``: it receives a clock.

Timestamps in the hot path are integers: nanoseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current time in ns since the epoch (UTC)."""
        ...


class SystemClock:
    """Wall-clock time; used only by the live shell."""

    def now_ns(self) -> int:
        return time.time_ns()


class SimulatedClock:
    """A clock moved by the replay feed (backtests and tests)."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        """Move the clock forward; moving it backwards is a bug in the feed."""
        if ts_ns < self._now:
            raise ValueError(f"simulated clock cannot go back: {ts_ns} < {self._now}")
        self._now = ts_ns
