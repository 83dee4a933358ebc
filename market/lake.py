"""The data lake: Parquet partitioned by dataset, symbol and date under the configured root.

Layout: ``{root}/{dataset}/symbol={SYMBOL}/date={YYYY-MM-DD}/part-0.parquet`` with an optional
``_validation.json`` beside the data. Datasets: ``trades``, ``book``, ``bars/<spec>`` (e.g.
``bars/time_60s``), ``features/qt65_v1``, ``quarantine/trades``, ...

Writing a day's file replaces it and is atomic: the file is written to a temporary name in the same
folder and moved into place with ``os.replace``, so a crash leaves either the old file or the new one,
never half a file. A day spans several files (trades, quarantine, bars, results): the ingest marks
the day ``_incomplete.json`` before the first and clears it after the last (see ``market.append``).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PART = "part-0.parquet"
VALIDATION = "_validation.json"
# Beside a trades day while its trades, quarantine and bars are being rewritten; removed last. A day
# that still carries it was interrupted (crash, kill -9): the next ingest repairs it (see
# ``market.append.repair_incomplete``) and readers can tell with :meth:`Lake.incomplete_days`.
INCOMPLETE = "_incomplete.json"


def bars_dataset(spec: str) -> str:
    """Dataset name of bars built with ``spec`` (``time:60s`` -> ``bars/time_60s``)."""
    return "bars/" + spec.replace(":", "_")


@dataclass(frozen=True)
class Staged:
    """A day's Parquet file written and fsynced under a temporary name, not yet visible."""

    tmp: Path
    target: Path

    def commit(self) -> Path:
        """Move the file into place (atomic ``os.replace``)."""
        os.replace(self.tmp, self.target)
        return self.target

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


# Columns of nearly unique values: dictionary-encoding them is wasted work (Parquet falls back to
# plain after building the dictionary) and makes the file larger. Half the write time of a trades day.
_NO_DICTIONARY = {"trades": ("ts", "trade_id", "fin_volume"), "quarantine/trades": ("ts", "trade_id", "fin_volume")}


def _plain_pandas(table: pa.Table) -> pa.Table:
    """The table as written from plain pandas columns: categorical columns as plain strings, Arrow list
    columns (``pd.ArrowDtype``) recorded as object columns. The lake holds values, not pandas'
    encoding: a categorical is how a column of a few repeated texts (e.g. a quarantine's rules) is
    built without a Python object per row, which Arrow converts under the GIL, and a list column
    (bars' broker lists) is built with no array per bar; read back, both are what the plain columns gave.
    """
    meta = table.schema.pandas_metadata
    changed = False
    by_field = {col.get("field_name"): col for col in (meta or {}).get("columns", [])}
    for i, field in enumerate(table.schema):
        col = by_field.get(field.name)
        if pa.types.is_dictionary(field.type) and pa.types.is_string(field.type.value_type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
            changed = True
            if col is not None:
                col.update(pandas_type="unicode", numpy_type="object", metadata=None)
        elif col is not None and str(col.get("numpy_type", "")).endswith("[pyarrow]"):
            col.update(numpy_type="object")
            changed = True
    if changed and meta is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"pandas": json.dumps(meta).encode()})
    return table


def _write_parquet(df: pd.DataFrame, path: Path, index: bool, dataset: str) -> None:
    # nthreads=1: files are written by several threads already, and each multi-threaded call made a
    # thread pool of its own
    table = _plain_pandas(pa.Table.from_pandas(df, preserve_index=index, nthreads=1))
    plain = _NO_DICTIONARY.get(dataset)
    use_dictionary: bool | list[str] = [n for n in table.column_names if n not in plain] if plain else True
    pq.write_table(table, path, use_dictionary=use_dictionary)
    with open(path, "rb+") as fh:  # data on disk before the rename makes it visible
        os.fsync(fh.fileno())


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _writers() -> ThreadPoolExecutor:
    """The process's Parquet writer threads (kept: new threads per batch meant new allocator arenas
    and heaps, which held their memory)."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=4, thread_name_prefix="parquet"))
        return _POOL[0]


class Lake:
    """Partitioned Parquet store rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def day_dir(self, dataset: str, symbol: str, day: date) -> Path:
        return self.root / dataset / f"symbol={symbol}" / f"date={day.isoformat()}"

    def day_path(self, dataset: str, symbol: str, day: date) -> Path:
        return self.day_dir(dataset, symbol, day) / PART

    def write_day(self, dataset: str, symbol: str, day: date, df: pd.DataFrame, *, index: bool = False) -> Path:
        """Atomically replace one day's partition with ``df``."""
        staged, = self.stage_days([(dataset, symbol, day, df, index)])
        try:
            return staged.commit()
        finally:
            staged.discard()

    def stage_days(self, files: list[tuple[str, str, date, pd.DataFrame, bool]]) -> list[Staged]:
        """Write and fsync the (dataset, symbol, day, frame, index) files under temporary names.

        Several files are written by a few threads (Parquet encoding and fsync release the GIL), so
        the fsyncs of a batch overlap instead of queueing; nothing is visible until each
        :meth:`Staged.commit`. On failure every temporary file is removed.
        """
        staged = []
        for dataset, symbol, day, _, _ in files:
            target = self.day_path(dataset, symbol, day)
            target.parent.mkdir(parents=True, exist_ok=True)
            staged.append(Staged(target.with_name(f".{PART}.{uuid.uuid4().hex}.tmp"), target))
        try:
            if len(files) == 1:
                _write_parquet(files[0][3], staged[0].tmp, files[0][4], files[0][0])
            else:
                pool = _writers()
                for f in [pool.submit(_write_parquet, df, s.tmp, index, dataset)
                          for (dataset, _, _, df, index), s in zip(files, staged, strict=True)]:
                    f.result()
        except BaseException:
            for s in staged:
                s.discard()
            raise
        return staged

    def write_json(self, dataset: str, symbol: str, day: date, name: str, payload: dict[str, Any]) -> Path:
        """Atomically write a JSON document (e.g. the validation result) beside a day's data."""
        target = self.day_dir(dataset, symbol, day) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, target)
        return target

    def read_json(self, dataset: str, symbol: str, day: date, name: str) -> dict[str, Any] | None:
        path = self.day_dir(dataset, symbol, day) / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def mark_incomplete(self, symbol: str, day: date, payload: dict[str, Any]) -> None:
        """Mark the trades day of ``symbol`` as being rewritten (before its first write)."""
        self.write_json("trades", symbol, day, INCOMPLETE, payload)

    def clear_incomplete(self, symbol: str, day: date) -> None:
        """The day's trades, quarantine and bars are consistent again (after its last write)."""
        (self.day_dir("trades", symbol, day) / INCOMPLETE).unlink(missing_ok=True)

    def incomplete_days(self, symbol: str) -> list[date]:
        """Trades days of ``symbol`` whose last rewrite did not finish, sorted."""
        base = self.root / "trades" / f"symbol={symbol}"
        if not base.exists():
            return []
        marks = base.glob(f"date=*/{INCOMPLETE}")
        return sorted(date.fromisoformat(p.parent.name.removeprefix("date=")) for p in marks)

    def delete_day(self, dataset: str, symbol: str, day: date) -> None:
        self.day_path(dataset, symbol, day).unlink(missing_ok=True)

    def days(self, dataset: str, symbol: str) -> list[date]:
        """Days present for ``symbol`` in ``dataset``, sorted."""
        base = self.root / dataset / f"symbol={symbol}"
        if not base.exists():
            return []
        out = [date.fromisoformat(p.name.removeprefix("date=")) for p in base.glob("date=*") if (p / PART).exists()]
        return sorted(out)

    def symbols(self, dataset: str) -> list[str]:
        base = self.root / dataset
        if not base.exists():
            return []
        return sorted(p.name.removeprefix("symbol=") for p in base.glob("symbol=*"))

    def read_day(self, dataset: str, symbol: str, day: date) -> pd.DataFrame:
        return pq.read_table(self.day_path(dataset, symbol, day)).to_pandas()

    def read(
        self, dataset: str, symbol: str, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        """Concatenate the days of ``symbol`` in [start, end] (all days when omitted)."""
        days = [d for d in self.days(dataset, symbol) if (start is None or d >= start) and (end is None or d <= end)]
        if not days:
            return pd.DataFrame()
        frames = [self.read_day(dataset, symbol, d) for d in days]
        return pd.concat(frames, ignore_index=False) if len(frames) > 1 else frames[0]
