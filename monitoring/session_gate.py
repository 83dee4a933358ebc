"""Is ``at`` inside a trading session? Asked of the one calendar / hours source (:mod:`market.calendar`)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from market.calendar import is_trading_day, session_bounds
from market.instruments import get_instrument


def session_state(at: datetime, symbol: str) -> tuple[bool, str]:
    """(inside, why) for the instant ``at`` (timezone-aware) and ``symbol``'s exchange calendar and hours."""
    ts = pd.Timestamp(at)
    if ts.tzinfo is None:
        raise ValueError(f"session_state needs a timezone-aware instant, got {at!r}")
    inst = get_instrument(symbol)
    day = ts.tz_convert(inst.timezone).date()
    if not is_trading_day(day, symbol):
        return False, f"{day} is not a {symbol} trading day ({inst.calendar} calendar)"
    open_, close = session_bounds(day, symbol)
    tz = inst.timezone
    hours = f"{open_.tz_convert(tz):%H:%M}-{close.tz_convert(tz):%H:%M} {tz}"
    if not open_ <= ts.tz_convert("UTC") <= close:
        return False, f"{ts.tz_convert(tz):%Y-%m-%d %H:%M} {tz} is outside the {symbol} session ({hours})"
    return True, f"inside the {symbol} session of {day} ({hours})"
