"""Playing recorded or simulated sessions at a pace: the shared part of the replay and sim feeds and of
``qtml feed publish``.

At speed ``S`` an event at time ``ts`` is released when the wall clock reaches
``start_wall + (ts - first_ts) / S``, where the tape's time runs without the gaps between sessions: the
first event of a session is due right after the last event of the one before (an overnight gap played
at 60x would be a quarter of an hour of silence). Speed 0 plays flat out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from live_engine.feeds.events import Event, Feed, FeedStats
from live_engine.feeds.tape import Tape
from live_engine.feeds.validate import EventGate

NS = 1_000_000_000


class Pacer:
    """Event time -> the wall time (``clock`` seconds) it is due at ``speed``; sessions joined without gaps."""

    def __init__(self, speed: float, clock: Callable[[], float] = time.monotonic) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self.speed = speed
        self._clock = clock
        self._start: float | None = None
        self._first_vts = 0
        self._offset = 0  # added to an event's ts: the gaps skipped so far
        self._last_vts: int | None = None
        self._new_session = False

    def new_session(self) -> None:
        """The next event opens a session: it is due right after the previous event."""
        self._new_session = True

    def due(self, ts_ns: int) -> float:
        """When the event at ``ts_ns`` (the next in tape order) is due; the first call starts the clock."""
        if self._new_session and self._last_vts is not None:
            self._offset = self._last_vts - ts_ns
        self._new_session = False
        vts = ts_ns + self._offset
        self._last_vts = vts
        if self._start is None:
            self._start, self._first_vts = self._clock(), vts
        if self.speed == 0:
            return self._start
        return self._start + (vts - self._first_vts) / NS / self.speed


def session_events(tapes: Iterable[Tape], symbol: str) -> Iterator[Event | None]:
    """Every tape's events in the merged order, with ``None`` before each session's first event."""
    for tape in tapes:
        yield None
        yield from tape.events(symbol)


class PacedFeed:
    """A finite feed over sessions (:class:`Tape` iterable, read lazily) released at ``speed``; every event
    goes through an :class:`EventGate` (the lake's and the simulator's data pass it: it keeps the stats)."""

    def __init__(self, name: str, tapes: Iterable[Tape], symbol: str, speed: float, *, max_batch: int = 10_000,
                 max_ts_regress_ns: int = 0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.speed = float(speed)
        self.stats = FeedStats()
        self.gate = EventGate(self.stats, max_ts_regress_ns=max_ts_regress_ns)
        self._events = session_events(tapes, symbol)
        self._pacer = Pacer(self.speed, clock)
        self._clock, self._sleep = clock, sleep
        self._max_batch = max_batch
        self._next: Event | None = None
        self._due = 0.0
        self._done = False
        self._started = False  # the pace's clock starts at the first poll, not at construction

    def _pull(self) -> None:
        for ev in self._events:
            if ev is None:
                self._pacer.new_session()
                continue
            self._next = ev
            self._due = self._pacer.due(ev.ts_ns)
            return
        self._next, self._done = None, True

    @property
    def exhausted(self) -> bool:
        return self._done

    def poll(self, timeout_s: float) -> list[Event]:
        """The events due by now (at most ``max_batch``); waits up to ``timeout_s`` for the next one."""
        if not self._started:
            self._started = True
            self._pull()
        out: list[Event] = []
        clock = self._clock
        deadline = clock() + max(0.0, timeout_s)
        admit = self.gate.admit
        while True:
            now = clock()
            while self._next is not None and self._due <= now and len(out) < self._max_batch:
                ev = self._next
                self._pull()
                if admit(ev):
                    out.append(ev)
            if out or self._next is None or now >= deadline or len(out) >= self._max_batch:
                return out
            self._sleep(max(0.0, min(deadline, self._due) - now))

    def close(self) -> None:
        self._next, self._done = None, True
        self._events = iter(())


def _as_feed(f: PacedFeed) -> Feed:  # mypy checks here that PacedFeed is a Feed
    return f
