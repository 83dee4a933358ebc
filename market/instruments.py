"""Instruments as configuration: the shipped catalogue (``market/instruments.yaml``) plus the user's.

An :class:`Instrument` holds the static facts of a contract family (tick size, point value, fees,
exchange calendar, time zone, roll rule) and its **session template**: a dated table of regular
hours, Ash Wednesday's late open and special days. :meth:`Instrument.session_times` answers "what are
the hours of this day" in pure Python (the streaming engine calls it at session changes);
:mod:`market.calendar` adds "is this a trading day" from the exchange calendar. Nothing else in the
platform knows session hours.

Symbols are resolved by parsing, not by prefix: ``wdo`` -> ``WDO``, ``WDOF26`` (root + month code +
year), ``WDOFUT``, ``WDO$`` and ``WDO$N`` (continuous series) -> ``WDO``; ``WDOX`` is unknown.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger

if TYPE_CHECKING:
    from market.config import InstrumentConfig

log = get_logger("market.instruments")

# B3 (and CME) futures month codes, January to December.
MONTH_CODES = "FGHJKMNQUVXZ"
CATALOGUE = Path(__file__).with_name("instruments.yaml")
_CONTRACT = re.compile(r"^(?P<root>[A-Z0-9]+?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{2}|\d{4})$")
_CONTINUOUS_SUFFIXES = ("FUT", "$N", "$")


@dataclass(frozen=True)
class HoursRow:
    """Regular hours from ``valid_from`` on (local time); ``close < open`` = opens the day before."""

    valid_from: date
    open: time
    close: time
    source: str = ""


@dataclass(frozen=True)
class SpecialDay:
    """A single day with its own open and/or close (``None`` keeps the regular one)."""

    day: date
    open: time | None = None
    close: time | None = None
    source: str = ""


@dataclass(frozen=True)
class SessionTimes:
    """The regular session of one trading day, as local aware datetimes, and why these hours."""

    day: date
    open: datetime
    close: datetime
    note: str  # "regular", "ash_wednesday", "special", "assumed" (past hours_confirmed_until)


@dataclass(frozen=True)
class Instrument:
    """Static facts about a contract family and its session template.

    ``point_value`` is money per point per contract; ``fee_per_contract`` is money per contract per
    side (exchange + brokerage, a documented assumption for paper trading).
    """

    symbol: str
    tick_size: float
    point_value: float
    fee_per_contract: float
    hours: tuple[HoursRow, ...]
    timezone: str = "America/Sao_Paulo"
    calendar: str = "BVMF"
    currency: str = "BRL"
    # "monthly" (WDO: every month, the front is next month's contract), "bimonthly" (WIN: even months,
    # expiring mid-month) or "quarterly" (H, M, U, Z; expiring mid-month).
    roll: str = "monthly"
    ash_wednesday_open: time | None = None
    special_days: tuple[SpecialDay, ...] = ()
    hours_confirmed_until: date | None = None
    description: str = ""
    _specials: dict[date, SpecialDay] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.hours:
            raise InputError(f"instrument {self.symbol}: the hours table is empty; give at least one row")
        self._specials.update({s.day: s for s in self.special_days})

    @property
    def tick_value(self) -> float:
        """Money per tick per contract."""
        return self.tick_size * self.point_value

    # ---- the session template ------------------------------------------------------------------
    def hours_row(self, day: date) -> HoursRow:
        """The table row in force on ``day`` (the first row for days before the table)."""
        row = self.hours[0]
        for candidate in self.hours:
            if candidate.valid_from > day:
                break
            row = candidate
        return row

    def crosses_midnight(self, day: date) -> bool:
        row = self.hours_row(day)
        return row.close <= row.open

    def session_times(self, day: date) -> SessionTimes:
        """Open and close of the regular session of trading day ``day`` (local time).

        Does not ask whether ``day`` trades: :func:`market.calendar.is_trading_day` does.
        """
        row = self.hours_row(day)
        open_t, close_t, note = row.open, row.close, "regular"
        if self.ash_wednesday_open is not None and day == ash_wednesday(day.year):
            open_t, note = self.ash_wednesday_open, "ash_wednesday"
        special = self._specials.get(day)
        if special is not None:
            open_t, close_t, note = special.open or open_t, special.close or close_t, "special"
        if self.hours_confirmed_until is not None and day > self.hours_confirmed_until and note == "regular":
            note = "assumed"
            _warn_assumed(self, day)
        tz = ZoneInfo(self.timezone)
        open_day = day - timedelta(days=1) if row.close <= row.open else day
        return SessionTimes(day, datetime.combine(open_day, open_t, tzinfo=tz),
                            datetime.combine(day, close_t, tzinfo=tz), note)

    def session_minutes(self, day: date) -> float:
        s = self.session_times(day)
        return (s.close - s.open).total_seconds() / 60.0

    def session_template(self) -> dict[str, object]:
        """Everything the session bounds depend on, as plain data (part of the feature contract)."""
        return {
            "calendar": self.calendar,
            "timezone": self.timezone,
            "hours": [[r.valid_from.isoformat(), r.open.isoformat(), r.close.isoformat()] for r in self.hours],
            "ash_wednesday_open": self.ash_wednesday_open.isoformat() if self.ash_wednesday_open else None,
            "special_days": [[s.day.isoformat(), s.open.isoformat() if s.open else None,
                              s.close.isoformat() if s.close else None] for s in self.special_days],
        }

    def session_template_hash(self) -> str:
        """A short, stable hash of :meth:`session_template` (``<symbol>:<12 hex>``)."""
        raw = json.dumps(self.session_template(), sort_keys=True).encode()
        return f"{self.symbol}:{hashlib.sha256(raw).hexdigest()[:12]}"

    # ---- contracts -------------------------------------------------------------------------------
    def contract_code(self, day: date) -> str:
        """Front contract code traded on ``day`` (e.g. ``WDOG26`` in January 2026).

        Monthly: during month M the liquid contract expires at the start of M+1. Bimonthly (WIN): the
        front is the next even month, or this one until the 15th. Quarterly: the next of March, June,
        September, December, or this one until the 15th. (The exact roll day is not modelled.)
        """
        if self.roll == "bimonthly":
            month = (day.month if day.day <= 15 else day.month + 2) if day.month % 2 == 0 else day.month + 1
        elif self.roll == "quarterly":
            month = day.month if day.month % 3 == 0 and day.day <= 15 else day.month + (3 - day.month % 3 or 3)
        else:
            month = day.month + 1
        year = day.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        return f"{self.symbol}{MONTH_CODES[month - 1]}{year % 100:02d}"


_assumed_warned: set[str] = set()


def _warn_assumed(inst: Instrument, day: date) -> None:
    if inst.symbol in _assumed_warned:
        return
    _assumed_warned.add(inst.symbol)
    row = inst.hours_row(day)
    log.warning(
        f"{inst.symbol} hours after {inst.hours_confirmed_until} are assumed from the table's last row "
        f"({row.open:%H:%M}-{row.close:%H:%M} from {row.valid_from}); add a row under "
        f"market.instruments.{inst.symbol}.hours when the exchange announces a change",
        data={"symbol": inst.symbol, "day": day.isoformat(), "confirmed_until": str(inst.hours_confirmed_until)},
    )


def ash_wednesday(year: int) -> date:
    """Ash Wednesday of ``year``: 46 days before Western Easter."""
    from dateutil.easter import easter

    return easter(year) - timedelta(days=46)


# ---- the registry ---------------------------------------------------------------------------------
def instrument_from_config(symbol: str, cfg: InstrumentConfig) -> Instrument:
    return Instrument(
        symbol=symbol,
        tick_size=cfg.tick_size,
        point_value=cfg.point_value,
        fee_per_contract=cfg.fee_per_contract,
        hours=tuple(HoursRow(r.valid_from, r.open, r.close, r.source) for r in cfg.hours),
        timezone=cfg.timezone,
        calendar=cfg.calendar,
        currency=cfg.currency,
        roll=cfg.roll,
        ash_wednesday_open=cfg.ash_wednesday_open,
        special_days=tuple(SpecialDay(s.day, s.open, s.close, s.source) for s in cfg.special_days),
        hours_confirmed_until=cfg.hours_confirmed_until,
        description=cfg.description,
    )


@lru_cache(maxsize=1)
def shipped_configs() -> dict[str, InstrumentConfig]:
    """The catalogue shipped in ``market/instruments.yaml``, validated."""
    import yaml
    from pydantic import TypeAdapter, ValidationError

    from market.config import InstrumentConfig

    raw = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    try:
        return TypeAdapter(dict[str, InstrumentConfig]).validate_python(raw)
    except ValidationError as err:  # a broken shipped file is a bug of ours: say where
        raise InputError(f"{CATALOGUE}: {err}") from None


_registry: dict[str, Instrument] = {}


def _ensure_loaded() -> dict[str, Instrument]:
    if not _registry:
        _registry.update({s: instrument_from_config(s, c) for s, c in shipped_configs().items()})
    return _registry


def register_instruments(configs: Mapping[str, InstrumentConfig]) -> None:
    """Add (or replace, by symbol) the user's instruments in the process registry (config load does)."""
    reg = _ensure_loaded()
    for symbol, cfg in configs.items():
        reg[symbol.strip().upper()] = instrument_from_config(symbol.strip().upper(), cfg)


def known_symbols() -> list[str]:
    return sorted(_ensure_loaded())


def resolve_symbol(symbol: str) -> str | None:
    """The configured family of ``symbol`` (a family, a contract code or a continuous series), or None."""
    reg = _ensure_loaded()
    text = symbol.strip().upper()
    if text in reg:
        return text
    for suffix in _CONTINUOUS_SUFFIXES:
        if text.endswith(suffix) and text[: -len(suffix)] in reg:
            return text[: -len(suffix)]
    m = _CONTRACT.match(text)
    if m and m.group("root") in reg:
        return m.group("root")
    return None


def get_instrument(symbol: str) -> Instrument:
    """The spec of ``symbol`` (``WDO``, ``wdo``, ``WDOG26``, ``WDOFUT``, ``WDO$N``); unknown raises."""
    family = resolve_symbol(symbol)
    if family is None:
        raise InputError(
            f"unknown instrument {symbol!r}; known: {known_symbols()}; add it under market.instruments "
            f"in your config file (docs/instruments.md)"
        )
    return _registry[family]


def canonical_symbol(symbol: str) -> str:
    """``wdo`` / ``WDOF26`` -> ``WDO``: the family the lake and the models are keyed by."""
    return get_instrument(symbol).symbol
