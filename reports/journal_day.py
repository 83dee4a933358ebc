"""One trading day as the engine recorded it: the journal's orders and fills of that session and the
decision log (``live_engine.service.recording.read_decisions``: feature vectors, votes, weights, latency).

A fill or order belongs to the session its timestamp falls in (the instrument's session locator, the same
rule the engine's ``replay-check`` uses). Bad input gets one line naming what is wrong and what to do:
no journal file, or no engine session on that date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from quantumtrader.config import Settings
from quantumtrader.errors import InputError

FILL_COLS = ["fill_id", "client_id", "ts_ns", "side", "qty", "price", "fee", "tag"]
ORDER_COLS = ["client_id", "ts_ns", "side", "qty", "kind", "tag", "status"]


@dataclass
class EngineDay:
    """What the engine left for one session."""

    day: date
    symbol: str
    point_value: float
    tz: str
    fills: pd.DataFrame  # the session's journal fills, time order (FILL_COLS)
    orders: pd.DataFrame  # the session's journal orders (ORDER_COLS)
    decisions: pd.DataFrame | None  # the decision log of decided bars, time order (None: none recorded)
    journal_url: str

    @property
    def model_versions(self) -> list[str]:
        if self.decisions is None or "model_version" not in self.decisions:
            return []
        return sorted(set(self.decisions["model_version"].astype(str)))


def open_journal(settings: Settings) -> Any:
    """The journal the settings name, read as it is; a SQLite file that does not exist is an error, not
    created (the report must not invent an empty journal)."""
    from live_engine.journal.journal import Journal
    from quantumtrader.db import sqlite_path
    from quantumtrader.logging import redact

    url = Journal.url_for(settings)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise InputError(f"no journal at {path}: the engine has not traded with this configuration; run "
                         "`qtml engine start` first, or point stores.journal_db_url (or stores.var_dir) at its journal")
    try:
        return Journal.open(url, mode=settings.live.journal.mode)
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"cannot read the journal {redact(url)}: {type(err).__name__}: {err}") from None


def session_day_of(settings: Settings) -> Any:
    """ts_ns -> the session (local) date, the instrument's rule."""
    from features.streaming_session import SessionLocator
    from market.instruments import get_instrument

    return SessionLocator(get_instrument(settings.market.symbol)).local_day


def gather_day(settings: Settings, day: date, journal: Any, *, require_session: bool = True) -> EngineDay:
    """The session ``day``: its fills, orders and decisions. Raises :class:`InputError` when the engine
    recorded neither a decision nor an order that day (``require_session``)."""
    from live_engine.service.recording import read_decisions
    from market.instruments import get_instrument

    inst = get_instrument(settings.market.symbol)
    local_day = session_day_of(settings)
    fills = pd.DataFrame([f for f in journal.fills() if local_day(int(f["ts_ns"])) == day], columns=FILL_COLS)
    orders = pd.DataFrame([o for o in journal.orders() if local_day(int(o["ts_ns"])) == day], columns=ORDER_COLS)
    decisions = read_decisions(settings.lake_root, inst.symbol, day)
    if decisions is not None:
        decisions = decisions[decisions["traded"].astype(bool)].sort_values("ts_ns", kind="stable")
        decisions = decisions.reset_index(drop=True)
    if require_session and (decisions is None or decisions.empty) and orders.empty:
        raise InputError(f"no engine session on {day}: the journal {journal.url} has no order that day and nothing is "
                         f"recorded under {settings.lake_root / 'recorded' / inst.symbol / day.isoformat()}; "
                         "give a date the engine traded (see `qtml engine status` or that folder)")
    fills = fills.sort_values(["ts_ns", "fill_id"], kind="stable").reset_index(drop=True)
    return EngineDay(day, inst.symbol, float(inst.point_value), str(inst.timezone), fills, orders, decisions,
                     str(journal.url))
