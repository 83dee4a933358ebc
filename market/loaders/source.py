"""One trades file on its way into the lake: loader options, per-day order and sides, ``_source.json``.

The ingest (``market/ingest.py``) streams a file through :meth:`SourceFile.trades`, splits it into
session days, passes each day through :meth:`SourceFile.prepare_day` (time order, ``--side-rule``)
before the validation gate, and writes :meth:`SourceFile.record` beside every day it wrote as
``trades/symbol=S/date=D/_source.json`` (fields in ``docs/data-formats.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from market.brokers import BrokerRegistry
from market.lake import Lake
from market.loaders import iter_trades
from market.loaders.options import LoaderOptions, LoadStats
from market.loaders.sides import ASCENDING, NEWEST_FIRST, infer_sides, time_order
from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger

SOURCE = "_source.json"
log = get_logger("market.loaders")


class SourceFile:
    """The per-file state of one trades ingest (what the options and the stream said, per day)."""

    def __init__(self, path: Path, *, symbol: str, fmt: str | None, options: LoaderOptions | None,
                 earlier_days: Iterable[date] = ()) -> None:
        self.path = Path(path)
        self.symbol = symbol
        self.options = options or LoaderOptions()
        # with a column map of our names the generic loader reads the file (Profit fields need fmt="profit")
        self.fmt = fmt or ("generic" if self.options.column_map else None)
        self.stats = LoadStats()
        self.earlier_days = set(earlier_days)  # days an earlier file of this run wrote (merged, not replaced)
        self.days: dict[date, dict[str, Any]] = {}

    @property
    def notes(self) -> list[str]:
        """Warnings for the user (the assumed time zone, rows sorted into time order)."""
        return self.stats.notes

    def trades(self, *, brokers: BrokerRegistry, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The file's TRADE_SCHEMA chunks (see :func:`market.loaders.iter_trades`)."""
        cmap = dict(self.options.column_map) if self.options.column_map else None
        return iter_trades(self.path, symbol=self.symbol, fmt=self.fmt, brokers=brokers, chunk_rows=chunk_rows,
                           column_map=cmap, tz=self.options.tz, stats=self.stats)

    def prepare_day(self, day: date, frame: pd.DataFrame) -> pd.DataFrame:
        """One whole session day in time order, with sides inferred when ``side_rule`` is ``tick``.

        Raises InputError when ``day`` comes back after another day: the file is neither in time
        order nor newest first, and only one day is buffered.
        """
        if day in self.days:
            raise InputError(
                f"{self.path}: trades of {day} appear again after other days (the file is neither in time order "
                f"nor newest first): sort the file by time and ingest it again"
            )
        frame, order, behind = time_order(frame)
        if order not in (ASCENDING, NEWEST_FIRST):
            note = f"{self.path}: {behind} trades of {day} were out of time order; the day was sorted by time"
            self.stats.notes.append(note)
            log.warning(note, data={"path": str(self.path), "day": day.isoformat(), "rows_behind": behind})
        inferred = 0
        if self.options.side_rule == "tick":
            frame, inferred = infer_sides(frame)
        self.days[day] = {"order": order, "rows_behind": behind, "inferred_sides": inferred, "rows": len(frame)}
        return frame

    def record(self, day: date) -> dict[str, Any]:
        """This file's entry in the day's ``_source.json``."""
        s = self.stats
        return {
            "path": str(self.path.resolve()),
            "format": s.fmt,
            "tz": s.tz,
            "tz_assumed": s.tz_assumed,
            "naive_timestamps": s.naive_rows > 0,
            "column_map": dict(self.options.column_map) if self.options.column_map else None,
            "side_rule": self.options.side_rule,
            **self.days.get(day, {}),
        }

    def write_record(self, lake: Lake, day: date) -> Path:
        """Write (or, for a day an earlier file of this run wrote, extend) ``_source.json`` beside the day."""
        files = []
        if day in self.earlier_days:
            prior = lake.read_json("trades", self.symbol, day, SOURCE)
            files = list(prior.get("files", [])) if prior else []
        files.append(self.record(day))
        payload = {
            "version": 1,
            "symbol": self.symbol,
            "day": day.isoformat(),
            "sides_inferred": any(f.get("inferred_sides", 0) > 0 for f in files),
            "files": files,
        }
        return lake.write_json("trades", self.symbol, day, SOURCE, payload)
