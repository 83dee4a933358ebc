"""How to read a foreign trades file: the ``qtml ingest`` options ``--tz``, ``--column-map``, ``--side-rule``.

:class:`LoaderOptions` is what the user says about a file; :class:`LoadStats` is what streaming it
found (filled by the loaders while they read). Both are documented in ``docs/data-formats.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from quantumtrader.errors import InputError

SideRule = Literal["none", "tick"]
SIDE_RULES: tuple[str, ...] = ("none", "tick")


@dataclass(frozen=True)
class LoaderOptions:
    """What the user tells the loaders about a file.

    - ``tz``: IANA zone of timestamps *without* a UTC offset (None: the instrument's zone, assumed,
      with a warning). Timestamps with an offset (``Z``, ``-03:00``), epoch numbers and tz-aware
      Parquet timestamps are converted to UTC and never use ``tz``.
    - ``column_map``: our column name -> the file's header (generic loader: TRADE_SCHEMA names;
      ``fmt="profit"``: Profit field names). Headers match ignoring case and surrounding spaces.
    - ``side_rule``: ``none`` (no side column = unknown, trade type 32) or ``tick`` (infer the
      aggressor of unknown-side trades by the tick rule, see :mod:`market.loaders.sides`).
    """

    tz: str | None = None
    column_map: Mapping[str, str] | None = None
    side_rule: SideRule = "none"

    def __post_init__(self) -> None:
        if self.tz is not None:
            check_zone(self.tz)
        if self.side_rule not in SIDE_RULES:
            raise InputError(f"--side-rule {self.side_rule!r} is not one of {', '.join(SIDE_RULES)}")


@dataclass
class LoadStats:
    """What the loaders met while streaming one file (for the warning and the day's ``_source.json``)."""

    fmt: str = ""
    tz: str = ""
    tz_assumed: bool = False
    naive_rows: int = 0
    aware_rows: int = 0
    notes: list[str] = field(default_factory=list)

    def note_ts(self, rows: int, naive: bool) -> None:
        """Count ``rows`` timestamps read as naive local time (``naive``) or converted from UTC/offsets."""
        if naive:
            self.naive_rows += rows
        else:
            self.aware_rows += rows


def check_zone(name: str) -> str:
    """``name`` when it is an IANA time zone known here, else InputError naming it."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InputError(
            f"--tz {name!r} is not an IANA time zone name (e.g. America/Sao_Paulo, UTC, Europe/London)"
        ) from None
    return name


def parse_column_map(text: str) -> dict[str, str]:
    """``"ts=DateTime,price=Price,qty=Volume"`` -> ``{"ts": "DateTime", ...}`` (InputError when malformed).

    Names are stripped of surrounding spaces; our names are lower-cased (headers keep their case and
    are matched case-insensitively by the loaders).
    """
    out: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        ours, sep, theirs = item.partition("=")
        ours, theirs = ours.strip().lower(), theirs.strip()
        if not sep or not ours or not theirs:
            raise InputError(f"--column-map item {item!r} is not OURS=HEADER (e.g. ts=DateTime,price=Price,qty=Volume)")
        if ours in out:
            raise InputError(f"--column-map maps {ours!r} twice ({out[ours]!r} and {theirs!r})")
        out[ours] = theirs
    if not out:
        raise InputError("--column-map is empty (e.g. ts=DateTime,price=Price,qty=Volume)")
    return out
