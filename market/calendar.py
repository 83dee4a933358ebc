"""The B3 trading-day calendar (``exchange_calendars`` BVMF) and session bounds in UTC."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd

from market.instruments import get_instrument


@lru_cache(maxsize=1)
def _bvmf():  # type: ignore[no-untyped-def]
    import exchange_calendars as xcals

    return xcals.get_calendar("BVMF", start="2015-01-01")


def trading_days(start: date, end: date) -> list[date]:
    """B3 sessions from ``start`` to ``end`` inclusive."""
    sessions = _bvmf().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    return [ts.date() for ts in sessions]


def next_trading_days(start: date, n: int) -> list[date]:
    """The first ``n`` B3 sessions on or after ``start``."""
    cal = _bvmf()
    first = cal.date_to_session(pd.Timestamp(start), direction="next")
    idx = cal.sessions.get_loc(first)
    return [ts.date() for ts in cal.sessions[idx : idx + n]]


def is_trading_day(day: date) -> bool:
    return bool(_bvmf().is_session(pd.Timestamp(day)))


def session_bounds(day: date, symbol: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(open, close) of ``symbol``'s regular session on ``day`` as UTC timestamps."""
    inst = get_instrument(symbol)
    tz = ZoneInfo(inst.timezone)
    open_local = datetime.combine(day, inst.session_open, tzinfo=tz)
    close_local = datetime.combine(day, inst.session_close, tzinfo=tz)
    return pd.Timestamp(open_local).tz_convert("UTC"), pd.Timestamp(close_local).tz_convert("UTC")


def session_of(ts: pd.Timestamp, symbol: str) -> date:
    """The local (America/Sao_Paulo) calendar date of a UTC timestamp."""
    inst = get_instrument(symbol)
    return ts.tz_convert(inst.timezone).date()
