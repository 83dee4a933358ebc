"""The one answer to "is this a session, and what are its hours".

Trading days come from the instrument's exchange calendar (``exchange_calendars``: BVMF for B3,
CMES for CME, ...), its bounds widened on demand to the data (2013 data works); the hours come
from the instrument's dated session template (:meth:`market.instruments.Instrument.session_times`).
The gates, the bars, the temporal features, the risk session window and the simulator all ask here.

A session is labelled by its **trading day**: the local date of its close (an overnight session that
opens on Sunday evening is Monday's). Days after the calendar's horizon (today + 1 year) are not
trading days: nothing has traded there yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from market.instruments import get_instrument
from quantumtrader.errors import InputError

_DEFAULT_FIRST = date(2015, 1, 1)
_HORIZON_DAYS = 366
_calendars: dict[str, tuple[Any, date, date]] = {}  # name -> (calendar, first, last)


def _horizon() -> date:
    return date.today() + timedelta(days=_HORIZON_DAYS)


def exchange_calendar(name: str, first: date | None = None) -> Any:
    """The ``exchange_calendars`` calendar ``name`` covering ``first`` (built once, widened on demand)."""
    import exchange_calendars as xcals

    cached = _calendars.get(name)
    want_first = min(first or _DEFAULT_FIRST, cached[1] if cached else _DEFAULT_FIRST)
    if cached is not None and cached[1] <= want_first:
        return cached[0]
    want_first = want_first - timedelta(days=31)
    last = _horizon()
    try:
        cal = xcals.get_calendar(name, start=pd.Timestamp(want_first), end=pd.Timestamp(last))
    except xcals.errors.InvalidCalendarName:
        raise InputError(f"unknown exchange calendar {name!r}; use an exchange_calendars name such as "
                         f"BVMF (B3), CMES (CME), XCBT, XNYS") from None
    except ValueError:  # before the calendar's own lower bound: take what it has
        cal = xcals.get_calendar(name, end=pd.Timestamp(last))
        want_first = cal.first_session.date()
    _calendars[name] = (cal, want_first, last)
    return cal


def _calendar_for(symbol: str, first: date | None = None) -> Any:
    return exchange_calendar(get_instrument(symbol).calendar, first)


def is_trading_day(day: date, symbol: str = "WDO") -> bool:
    """Whether ``symbol``'s exchange holds a session on ``day`` (False past the horizon)."""
    if day > _horizon():
        return False
    cal = _calendar_for(symbol, day)
    if day < cal.first_session.date():
        return False
    return bool(cal.is_session(pd.Timestamp(day)))


def trading_day_flags(days: Sequence[date], symbol: str = "WDO") -> np.ndarray:
    """:func:`is_trading_day` for many days at once (bool array)."""
    if not len(days):
        return np.zeros(0, dtype=bool)
    cal = _calendar_for(symbol, min(days))
    sessions = cal.sessions
    idx = pd.DatetimeIndex([pd.Timestamp(d) for d in days])
    return np.asarray(idx.isin(sessions), dtype=bool)


def trading_days(start: date, end: date, symbol: str = "WDO") -> list[date]:
    """Trading days from ``start`` to ``end`` inclusive."""
    cal = _calendar_for(symbol, start)
    end = min(end, cal.last_session.date())
    if end < start:
        return []
    return [ts.date() for ts in cal.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def next_trading_days(start: date, n: int, symbol: str = "WDO") -> list[date]:
    """The first ``n`` trading days on or after ``start``."""
    cal = _calendar_for(symbol, start)
    first = cal.date_to_session(pd.Timestamp(start), direction="next")
    idx = cal.sessions.get_loc(first)
    return [ts.date() for ts in cal.sessions[idx : idx + n]]


def session_bounds(day: date, symbol: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(open, close) of ``symbol``'s regular session of trading day ``day`` as UTC timestamps."""
    s = get_instrument(symbol).session_times(day)
    return pd.Timestamp(s.open).tz_convert("UTC"), pd.Timestamp(s.close).tz_convert("UTC")


def session_bounds_ns(day: date, symbol: str) -> tuple[int, int]:
    o, c = session_bounds(day, symbol)
    return int(o.value), int(c.value)


def utc_index(ts: pd.Series | pd.DatetimeIndex | np.ndarray) -> pd.DatetimeIndex:
    """``ts`` as a UTC DatetimeIndex; a tz-aware column is wrapped without a copy (``pd.to_datetime``
    re-parses it: 5 ms per 100k rows, more than labelling them)."""
    values = ts.array if isinstance(ts, pd.Series) else ts
    if isinstance(values, pd.DatetimeIndex | pd.arrays.DatetimeArray) and values.tz is not None:
        return pd.DatetimeIndex(values, copy=False).tz_convert("UTC")
    return pd.DatetimeIndex(pd.to_datetime(ts, utc=True))


def session_days(ts: pd.Series | pd.DatetimeIndex | np.ndarray, symbol: str) -> np.ndarray:
    """The trading-day label (``datetime64[D]``, NaT for NaT) of each UTC timestamp.

    The local date, except that in an overnight template a print at or after the open belongs to the
    next day's session. Vectorised: one template lookup per distinct local date.
    """
    inst = get_instrument(symbol)
    idx = utc_index(ts)
    local = idx.tz_convert(inst.timezone)
    days = local.tz_localize(None).to_numpy().astype("datetime64[D]")
    if not any(r.close <= r.open for r in inst.hours):
        return days
    ns = idx.asi8
    out = days.copy()
    valid = ~np.isnat(days)
    for d in np.unique(days[valid]):
        nxt = pd.Timestamp(d).date() + timedelta(days=1)
        if not inst.crosses_midnight(nxt):
            continue
        open_ns = int(pd.Timestamp(inst.session_times(nxt).open).value)
        out[valid & (days == d) & (ns >= open_ns)] = np.datetime64(nxt, "D")
    return out


def session_of(ts: pd.Timestamp, symbol: str) -> date:
    """The trading day whose session a UTC timestamp falls in (or would, for out-of-hours prints)."""
    return pd.Timestamp(session_days(pd.DatetimeIndex([ts]), symbol)[0]).date()
