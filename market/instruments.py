"""Instrument specifications for B3 futures (WDO mini-dollar, WIN mini-index)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from quantumtrader.errors import InputError

# B3 futures month codes.
MONTH_CODES = "FGHJKMNQUVXZ"


@dataclass(frozen=True)
class Instrument:
    """Static facts about a contract family.

    ``point_value`` is R$ per point per contract; ``fee_per_contract`` is R$ per contract per side
    (exchange + brokerage, a documented assumption for paper trading).
    """

    symbol: str
    tick_size: float
    point_value: float
    fee_per_contract: float
    session_open: time  # America/Sao_Paulo
    session_close: time  # America/Sao_Paulo
    timezone: str = "America/Sao_Paulo"
    # "monthly" (WDO: a contract for every month, expiring on its first business day) or
    # "bimonthly" (WIN: even months only, expiring on the Wednesday nearest the 15th).
    roll: str = "monthly"

    @property
    def tick_value(self) -> float:
        """R$ per tick per contract."""
        return self.tick_size * self.point_value

    def session_minutes(self) -> float:
        o = self.session_open.hour * 60 + self.session_open.minute
        c = self.session_close.hour * 60 + self.session_close.minute
        return float(c - o)

    def contract_code(self, day: date) -> str:
        """Front-month contract code traded on ``day`` (e.g. ``WDOG26`` in January 2026).

        WDO rolls monthly: during month M the liquid contract is the one expiring at the start of
        M+1. WIN trades even months and expires mid-month: the front is the next even month, or this
        one until the 15th (approximations: the exact roll day of either family is not modelled).
        """
        if self.roll == "bimonthly":
            if day.month % 2 == 0:
                month = day.month if day.day <= 15 else day.month + 2
            else:
                month = day.month + 1
        else:
            month = day.month + 1
        year = day.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        return f"{self.symbol}{MONTH_CODES[month - 1]}{year % 100:02d}"


INSTRUMENTS: dict[str, Instrument] = {
    "WDO": Instrument("WDO", tick_size=0.5, point_value=10.0, fee_per_contract=1.20,
                      session_open=time(9, 0), session_close=time(18, 0)),
    "WIN": Instrument("WIN", tick_size=5.0, point_value=0.20, fee_per_contract=0.30,
                      session_open=time(9, 0), session_close=time(18, 0), roll="bimonthly"),
}


def get_instrument(symbol: str) -> Instrument:
    """Return the spec of ``symbol`` (a family like ``WDO`` or a contract like ``WDOG26``)."""
    family = symbol[:3].upper()
    try:
        return INSTRUMENTS[family]
    except KeyError:
        raise InputError(f"unknown instrument {symbol!r}; known: {sorted(INSTRUMENTS)}") from None
