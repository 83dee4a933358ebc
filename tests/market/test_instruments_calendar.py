"""Instrument specs (tick value, monthly/bimonthly roll) and the B3 calendar (exchange_calendars BVMF)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from market.calendar import is_trading_day, next_trading_days, session_bounds, session_of, trading_days
from market.instruments import get_instrument
from quantumtrader.errors import InputError


def test_wdo_and_win_specs() -> None:
    wdo, win = get_instrument("WDO"), get_instrument("WINFUT")
    assert wdo.tick_value == 5.0  # 0.5 point x R$10
    assert win.tick_value == 1.0  # 5 points x R$0.20
    assert wdo.session_minutes() == 540.0
    with pytest.raises(InputError, match="unknown instrument 'PETR4'"):
        get_instrument("PETR4")


@pytest.mark.parametrize(
    ("symbol", "day", "code"),
    [
        ("WDO", date(2026, 1, 15), "WDOG26"),  # January trades the February contract
        ("WDO", date(2026, 12, 3), "WDOF27"),  # December rolls into next year's January
        ("WIN", date(2026, 1, 10), "WING26"),  # odd month: the next even month
        ("WIN", date(2026, 2, 10), "WING26"),  # even month, before expiry
        ("WIN", date(2026, 2, 20), "WINJ26"),  # even month, after expiry: two months on
        ("WIN", date(2026, 12, 20), "WING27"),
    ],
)
def test_front_contract_follows_each_familys_roll(symbol: str, day: date, code: str) -> None:
    assert get_instrument(symbol).contract_code(day) == code


def test_b3_holidays_come_from_the_maintained_calendar() -> None:
    assert not is_trading_day(date(2026, 1, 1))  # Confraternização Universal
    assert not is_trading_day(date(2026, 2, 16)) and not is_trading_day(date(2026, 2, 17))  # Carnival
    assert not is_trading_day(date(2026, 4, 21))  # Tiradentes
    assert is_trading_day(date(2026, 2, 18))  # Ash Wednesday trades (late open)
    feb = trading_days(date(2026, 2, 9), date(2026, 2, 20))
    assert date(2026, 2, 16) not in feb and len(feb) == 8
    assert next_trading_days(date(2026, 2, 14), 2) == [date(2026, 2, 18), date(2026, 2, 19)]


def test_session_bounds_are_utc_and_session_of_maps_back() -> None:
    open_, close = session_bounds(date(2026, 1, 5), "WDO")
    assert open_ == pd.Timestamp("2026-01-05 12:00", tz="UTC")  # 09:00 in São Paulo (UTC-3)
    assert close == pd.Timestamp("2026-01-05 21:00", tz="UTC")
    assert session_of(pd.Timestamp("2026-01-06 02:30", tz="UTC"), "WDO") == date(2026, 1, 5)
