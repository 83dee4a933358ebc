"""Configuration of market data: instrument, bars, simulator and validation gates."""

from __future__ import annotations

from datetime import date, time
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from market.barspec import split_bar_spec
from quantumtrader.frozen import FrozenModel


class BarsConfig(FrozenModel):
    """How trades become bars. ``spec`` is ``time:<seconds>s``, ``volume:<contracts>`` or ``tick:<trades>``."""

    spec: str = "time:60s"
    large_trade_qty: int = Field(10, gt=0, description="A trade with qty >= this is 'large' (WDO default 10).")

    @field_validator("spec")
    @classmethod
    def _check_spec(cls, value: str) -> str:
        split_bar_spec(value)  # ValueError names the accepted forms
        return value


class SimulatorConfig(FrozenModel):
    """Defaults of the market simulator (``qtml simulate`` and ``make demo``)."""

    sessions: int = Field(20, gt=0)
    start: date = date(2026, 1, 5)
    seed: int = 7
    trades_per_session: int = Field(12_000, gt=0)
    planted_strength: float = Field(0.6, ge=0.0, le=1.0, description="0 = no predictable component.")


class ValidationConfig(FrozenModel):
    """Validation gates: the run fails when the bad-row share crosses ``max_bad_share``."""

    max_bad_share: float = Field(0.01, ge=0.0, le=1.0)


class HoursRowConfig(FrozenModel):
    """One row of an instrument's dated hours table (local time of the instrument)."""

    valid_from: date
    open: time
    close: time = Field(description="Earlier than open = the session opens the previous calendar day.")
    source: str = ""


class SpecialDayConfig(FrozenModel):
    """One day with its own open and/or close."""

    day: date
    open: time | None = None
    close: time | None = None
    source: str = ""


class InstrumentConfig(FrozenModel):
    """A contract family: the shipped ones are in ``market/instruments.yaml``; docs/instruments.md."""

    description: str = ""
    tick_size: float = Field(gt=0)
    point_value: float = Field(gt=0, description="Money per point per contract.")
    fee_per_contract: float = Field(0.0, ge=0, description="Money per contract per side (paper assumption).")
    currency: str = "BRL"
    calendar: str = Field("BVMF", pattern=r"^[A-Za-z0-9_/]+$",
                          description="An exchange_calendars name: BVMF, CMES, XCBT, ... (checked on first use)")
    timezone: str = "America/Sao_Paulo"
    roll: Literal["monthly", "bimonthly", "quarterly"] = "monthly"
    hours: tuple[HoursRowConfig, ...] = Field(min_length=1)
    hours_confirmed_until: date | None = None
    ash_wednesday_open: time | None = None
    special_days: tuple[SpecialDayConfig, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception:  # ZoneInfoNotFoundError, ValueError for malformed keys
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as America/Sao_Paulo)") from None
        return value

    @field_validator("hours")
    @classmethod
    def _check_hours(cls, rows: tuple[HoursRowConfig, ...]) -> tuple[HoursRowConfig, ...]:
        days = [r.valid_from for r in rows]
        if days != sorted(set(days)):
            raise ValueError("hours rows must have strictly increasing valid_from dates")
        for r in rows:
            if r.open == r.close:
                raise ValueError(f"hours row from {r.valid_from}: open equals close ({r.open})")
        return rows


class MarketConfig(FrozenModel):
    symbol: str = Field("WDO", description="The instrument family (a contract code like WDOF26 resolves to WDO).")
    instruments: dict[str, InstrumentConfig] = Field(
        default_factory=dict, description="Your instruments, added to (or replacing) the shipped catalogue.")
    bars: BarsConfig = BarsConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    validation: ValidationConfig = ValidationConfig()

    @model_validator(mode="after")
    def _resolve_symbol(self) -> MarketConfig:
        from market.instruments import known_symbols, register_instruments, resolve_symbol

        register_instruments(self.instruments)
        family = resolve_symbol(self.symbol)
        if family is None:
            raise ValueError(f"symbol {self.symbol!r} is no configured instrument; known: {known_symbols()} "
                             f"(add one under market.instruments)")
        object.__setattr__(self, "symbol", family)
        return self
