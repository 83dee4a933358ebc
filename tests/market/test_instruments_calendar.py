"""Instruments as configuration, symbol parsing, the exchange calendars and the dated session hours."""

from __future__ import annotations

from datetime import date, time

import numpy as np
import pandas as pd
import pytest

from market.calendar import (
    is_trading_day,
    next_trading_days,
    session_bounds,
    session_days,
    session_of,
    trading_day_flags,
    trading_days,
)
from market.instruments import ash_wednesday, canonical_symbol, get_instrument, resolve_symbol
from quantumtrader.config import load_settings
from quantumtrader.errors import ConfigError, InputError


def test_wdo_and_win_specs() -> None:
    wdo, win = get_instrument("WDO"), get_instrument("WINFUT")
    assert wdo.tick_value == 5.0  # 0.5 point x R$10
    assert win.tick_value == 1.0  # 5 points x R$0.20
    assert wdo.session_minutes(date(2020, 1, 6)) == 540.0  # 09:00-18:00 before the dated changes
    assert wdo.session_minutes(date(2026, 1, 5)) == 570.0  # 09:00-18:30
    with pytest.raises(InputError, match="unknown instrument 'PETR4'"):
        get_instrument("PETR4")


def test_dol_and_ind_are_shipped_next_to_the_minis() -> None:
    dol, ind = get_instrument("DOLF26"), get_instrument("IND")
    assert (dol.symbol, dol.tick_size, dol.point_value) == ("DOL", 0.5, 50.0)
    assert (ind.symbol, ind.tick_size, ind.point_value) == ("IND", 5.0, 1.0)
    # the full contracts share their minis' session templates
    assert dol.session_template()["hours"] == get_instrument("WDO").session_template()["hours"]


@pytest.mark.parametrize(
    ("text", "family"),
    [("WDO", "WDO"), ("wdo", "WDO"), (" WDOF26 ", "WDO"), ("WINV25", "WIN"), ("WDOFUT", "WDO"),
     ("DOLF26", "DOL"), ("WDO$N", "WDO"), ("WIN$", "WIN"), ("INDJ2026", "IND"),
     ("WDOX", None), ("WDOFF26", None), ("PETR4", None), ("WD", None)],
)
def test_contract_codes_resolve_by_parsing_not_by_prefix(text: str, family: str | None) -> None:
    assert resolve_symbol(text) == family


def test_symbols_are_normalised_in_the_configuration() -> None:
    assert load_settings(market={"symbol": "wdo"}).market.symbol == "WDO"
    assert canonical_symbol("winz25") == "WIN"
    with pytest.raises(ConfigError, match="no configured instrument"):
        load_settings(market={"symbol": "FOO"})


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
    assert not is_trading_day(date(2026, 4, 3))  # Good Friday
    assert not is_trading_day(date(2026, 4, 21))  # Tiradentes
    assert not is_trading_day(date(2026, 5, 1))  # Labour day
    assert not is_trading_day(date(2026, 6, 4))  # Corpus Christi
    assert not is_trading_day(date(2026, 1, 10))  # Saturday
    assert is_trading_day(date(2026, 2, 18))  # Ash Wednesday trades (late open)
    feb = trading_days(date(2026, 2, 9), date(2026, 2, 20))
    assert date(2026, 2, 16) not in feb and len(feb) == 8
    assert next_trading_days(date(2026, 2, 14), 2) == [date(2026, 2, 18), date(2026, 2, 19)]


def test_the_calendar_reaches_back_to_the_data_and_not_into_the_future() -> None:
    assert is_trading_day(date(2013, 6, 3))  # before the old fixed 2015 bound
    assert not is_trading_day(date(2013, 2, 12))  # Carnival 2013
    assert trading_days(date(2013, 1, 2), date(2013, 1, 4)) == [date(2013, 1, 2), date(2013, 1, 3),
                                                               date(2013, 1, 4)]
    assert not is_trading_day(date(2030, 1, 7))  # a Monday that has not happened: no session yet
    flags = trading_day_flags([date(2026, 1, 5), date(2026, 1, 10), date(2030, 1, 7), date(2013, 6, 3)])
    assert flags.tolist() == [True, False, False, True]


def test_session_bounds_are_utc_and_session_of_maps_back() -> None:
    open_, close = session_bounds(date(2026, 1, 5), "WDO")
    assert open_ == pd.Timestamp("2026-01-05 12:00", tz="UTC")  # 09:00 in São Paulo (UTC-3)
    assert close == pd.Timestamp("2026-01-05 21:30", tz="UTC")  # 18:30 since 2024-11-04
    assert session_of(pd.Timestamp("2026-01-06 02:30", tz="UTC"), "WDO") == date(2026, 1, 5)


@pytest.mark.parametrize(
    ("symbol", "day", "hours"),
    [
        ("WDO", date(2018, 6, 4), ("09:00", "18:00")),  # 2018 March-November: dollar 18:00
        ("WIN", date(2018, 6, 4), ("09:00", "17:55")),  # ... index 17:55
        ("WDO", date(2024, 11, 4), ("09:00", "18:30")),  # from 2024-11-04 dollar 09:00-18:30
        ("WIN", date(2025, 6, 2), ("09:00", "18:25")),  # 2025 March-November: index 18:25
        ("WIN", date(2025, 12, 1), ("09:00", "18:30")),
        ("WDO", date(2026, 2, 18), ("13:00", "18:30")),  # Ash Wednesday opens at 13:00
        ("WIN", date(2019, 3, 6), ("13:00", "18:00")),
        ("WIN", date(2018, 11, 30), ("09:00", "18:25")),  # MSCI rebalancing: a special close
    ],
)
def test_session_hours_come_from_the_dated_table(symbol: str, day: date, hours: tuple[str, str]) -> None:
    s = get_instrument(symbol).session_times(day)
    assert (f"{s.open:%H:%M}", f"{s.close:%H:%M}") == hours
    assert s.open.date() == day == s.close.date()


def test_ash_wednesday_is_46_days_before_easter() -> None:
    assert [ash_wednesday(y) for y in (2018, 2024, 2026)] == [date(2018, 2, 14), date(2024, 2, 14),
                                                               date(2026, 2, 18)]


def test_a_day_past_the_confirmed_table_uses_its_last_row_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    wdo = get_instrument("WDO")
    assert wdo.hours_confirmed_until is not None
    later = date(2026, 6, 1)
    s = wdo.session_times(later)
    assert s.note == "assumed" and (s.open.time(), s.close.time()) == (time(9, 0), time(18, 30))


def _cme_settings() -> None:
    load_settings(market={"instruments": {"MES": {
        "tick_size": 0.25, "point_value": 5.0, "fee_per_contract": 0.62, "currency": "USD",
        "calendar": "CMES", "timezone": "America/Chicago", "roll": "quarterly",
        "hours": [{"valid_from": "2010-01-01", "open": "17:00", "close": "16:00"}]}}})


def test_a_user_defined_overnight_instrument_labels_sessions_by_their_close() -> None:
    _cme_settings()
    mes = get_instrument("MESH26")
    assert mes.symbol == "MES" and mes.contract_code(date(2026, 1, 20)) == "MESH26"
    s = mes.session_times(date(2026, 1, 5))  # Monday's session opens Sunday 17:00 Chicago time
    assert s.open.isoformat() == "2026-01-04T17:00:00-06:00" and s.close.isoformat() == "2026-01-05T16:00:00-06:00"
    ts = pd.to_datetime(["2026-01-04 23:30", "2026-01-05 21:00", "2026-01-05 23:10"], utc=True)
    labels = session_days(ts, "MES")
    assert labels.tolist() == [np.datetime64("2026-01-05"), np.datetime64("2026-01-05"),
                               np.datetime64("2026-01-06")]
    assert is_trading_day(date(2026, 1, 5), "MES") and not is_trading_day(date(2026, 1, 4), "MES")


def test_bad_instrument_definitions_fail_with_the_field_path() -> None:
    with pytest.raises(ConfigError, match=r"market.instruments.XX.hours"):
        load_settings(market={"instruments": {"XX": {"tick_size": 1, "point_value": 1, "hours": []}}})
    with pytest.raises(ConfigError, match="unknown time zone"):
        load_settings(market={"instruments": {"XX": {"tick_size": 1, "point_value": 1, "timezone": "Mars/Base",
                                                     "hours": [{"valid_from": "2020-01-01", "open": "09:00",
                                                                "close": "17:00"}]}}})
