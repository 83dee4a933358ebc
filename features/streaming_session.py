"""Pure helpers of the streaming engine: bar spec parsing, session bounds in integer nanoseconds.

No pandas here: this module runs inside the live engine's hot path. Session bounds come from the
instrument's session template (:meth:`market.instruments.Instrument.session_times`, the same source
as :func:`market.calendar.session_bounds`; the parity tests check both agree), looked up once per
session change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from market.barspec import split_bar_spec
from market.instruments import Instrument
from quantumtrader.errors import ConfigError

NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TIME, VOLUME, TICK = 0, 1, 2


@dataclass(frozen=True, slots=True)
class BarSpec:
    """A parsed bar spec: ``time:<N>s``, ``volume:<N>`` or ``tick:<N>``."""

    kind: int  # TIME, VOLUME or TICK
    size: int  # seconds (time), contracts (volume) or trades (tick)
    text: str


def parse_bar_spec(text: str) -> BarSpec:
    """Parse ``time:60s`` / ``volume:500`` / ``tick:100``; a bad spec raises :class:`ConfigError`."""
    try:
        kind_s, size = split_bar_spec(text)
    except ValueError as err:
        raise ConfigError(f"bar_spec {text!r}: {err}") from None
    kind = {"time": TIME, "volume": VOLUME, "tick": TICK}[kind_s]
    return BarSpec(kind, size, text)


def to_ns(dt: datetime) -> int:
    """Integer nanoseconds since the epoch of an aware datetime (exact, no float rounding)."""
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000


@dataclass(frozen=True, slots=True)
class Session:
    """One regular session: trading day and bounds in ns; it holds events in [open, close]."""

    day: date
    open_ns: int
    close_ns: int

    @property
    def weekday(self) -> int:
        return self.day.weekday()


class SessionLocator:
    """Maps a timestamp to the session containing it, with a small cache for the quiet hours.

    The label of a session is its trading day (the local date of its close): an overnight template
    puts a print at or after the open into the next day's session. Whether the day trades at all is
    the gates' question (the exchange calendar); the locator only knows hours.
    """

    def __init__(self, inst: Instrument) -> None:
        self._inst = inst
        self._tz = ZoneInfo(inst.timezone)
        self._overnight = any(r.close <= r.open for r in inst.hours)
        self._cache: dict[date, Session] = {}

    def bounds(self, day: date) -> Session:
        s = self._cache.get(day)
        if s is None:
            t = self._inst.session_times(day)
            s = Session(day, to_ns(t.open), to_ns(t.close))
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[day] = s
        return s

    def local_day(self, ts_ns: int) -> date:
        """The trading-day label of ``ts_ns``."""
        day = datetime.fromtimestamp(ts_ns // NS, tz=self._tz).date()
        if self._overnight:
            nxt = day + timedelta(days=1)
            if self._inst.crosses_midnight(nxt) and ts_ns >= self.bounds(nxt).open_ns:
                return nxt
        return day

    def locate(self, ts_ns: int) -> tuple[Session | None, int, int]:
        """``(session or None, quiet_from, quiet_to)``. A session holds ``open <= ts <= close`` (a print
        at exactly the open belongs to its first bar). When outside any session, every ts in the open
        interval ``(quiet_from, quiet_to)`` is outside too (lets the caller skip the lookup): ``quiet_to``
        is the next session's open, which is inside it."""
        day = self.local_day(ts_ns)
        s = self.bounds(day)
        if s.open_ns <= ts_ns <= s.close_ns:
            return s, 0, -1
        if ts_ns <= s.open_ns:
            return None, self.bounds(day - timedelta(days=1)).close_ns, s.open_ns
        return None, s.close_ns, self.bounds(day + timedelta(days=1)).open_ns
