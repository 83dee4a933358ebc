"""Ingest pipeline: stream a source, split it into session days, gate each day, write lake and bars.

Plain functions (the Prefect flow, the CLI and the demo call them):

- :func:`ingest_path` — a trades file (Profit export, ProfitDLL recording, CSV/Parquet) or a folder
  (e.g. the simulator's ``trades/`` + ``book/``), streamed in chunks with bounded memory;
- :func:`ingest_frames` — in-memory trades and book of the simulator;
- :func:`plan_files` / :func:`ingest_file` — the per-file steps the flow runs as tasks.

Per session day (the ``America/Sao_Paulo`` date of each trade): validate with the ``trades`` suite
-> quarantine failing rows -> atomically replace ``trades/symbol=S/date=D`` -> ``_validation.json``
beside it -> build bars (``market.bars.build_bars``, book from the ``book`` dataset when present)
-> gate them with the ``bars`` suite -> write ``bars/<spec>``. Input is expected in time order; only
one day is buffered. A day that reappears within the same run is merged with what the run already
wrote for it; a day from an earlier run is replaced, so re-ingesting never duplicates rows.

A day whose bad share crosses ``settings.market.validation.max_bad_share`` is not written (only its
quarantine and result are); the run carries on with the other days and then raises
:class:`DataValidationError` naming every rejected day, its share, the threshold and the top rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from market.calendar import session_days
from market.gates import GateOutcome, gate_day, quarantine_dataset
from market.instruments import canonical_symbol
from market.lake import Lake, bars_dataset
from market.schemas import BOOK_SNAPSHOT_SCHEMA, TRADE_SCHEMA, coerce
from quantumtrader.config import Settings
from quantumtrader.errors import DataValidationError, InputError, QTError, SchemaError
from quantumtrader.logging import get_logger

if TYPE_CHECKING:
    from market.loaders.options import LoaderOptions

log = get_logger("market.ingest")

TRADE_SUFFIXES = (".csv", ".txt", ".parquet", ".pq", ".gz", ".zip")
OnDay = Callable[[GateOutcome], None]
# The session day of rows from a stream in which no row has a timestamp (the Unix epoch: visibly not a
# trading day). They are quarantined under this date with rule ``ts_not_null``.
UNDATED_DAY = date(1970, 1, 1)


@dataclass
class IngestReport:
    """Everything one ingest did. ``seen`` maps (dataset, day) -> passed for days touched by the run."""

    symbol: str
    lake_root: Path
    trades: list[GateOutcome] = field(default_factory=list)
    book: list[GateOutcome] = field(default_factory=list)
    bars: list[GateOutcome] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    seen: dict[tuple[str, date], bool] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # warnings for the user (e.g. an assumed time zone)

    def add(self, outcome: GateOutcome) -> None:
        kind = outcome.dataset.split("/", 1)[0]
        bucket = {"trades": self.trades, "book": self.book, "bars": self.bars}[kind]
        # a merged (reappearing) day replaces its earlier outcome
        bucket[:] = [o for o in bucket if not (o.dataset == outcome.dataset and o.day == outcome.day)]
        bucket.append(outcome)
        self.seen[(outcome.dataset, outcome.day)] = outcome.passed

    def extend(self, other: IngestReport) -> None:
        for o in [*other.book, *other.trades, *other.bars]:
            self.add(o)
        self.files += other.files
        self.seconds += other.seconds
        self.notes += other.notes

    @property
    def days(self) -> list[date]:
        """Session days written by the run (stray prints of non-trading days are no session)."""
        return sorted(o.day for o in self.trades if o.passed and o.written_rows)

    @property
    def trades_read(self) -> int:
        return sum(o.rows for o in self.trades)

    @property
    def trades_written(self) -> int:
        return sum(o.written_rows for o in self.trades)

    @property
    def quarantined(self) -> int:
        return sum(o.bad_rows for o in [*self.trades, *self.book, *self.bars])

    @property
    def failures(self) -> list[GateOutcome]:
        return [o for o in [*self.book, *self.trades, *self.bars] if not o.passed]

    def raise_for_failures(self) -> None:
        """Raise :class:`DataValidationError` when any day crossed the bad-share threshold."""
        failures = self.failures
        if failures:
            lines = "\n".join(f"  - {o.failure_message()}" for o in failures)
            raise DataValidationError(f"{len(failures)} day(s) rejected by validation gates:\n{lines}")
        stray = [o for o in self.trades if o.stray_day]
        n_stray, total = sum(o.bad_rows for o in stray), self.trades_read
        limit = min((o.max_bad_share for o in self.trades), default=1.0)
        if total and n_stray / total > limit:
            days = ", ".join(str(o.day) for o in stray[:5])
            raise DataValidationError(
                f"{n_stray} of {total} trades ({n_stray / total:.2%}) fall on days that are no session of "
                f"the calendar ({days}{', ...' if len(stray) > 5 else ''}), above max_bad_share {limit:.2%}: "
                f"check the file's time zone (--tz) and the instrument's calendar; quarantine: "
                f"{stray[0].quarantine_path}")

    def summary(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "sessions": len(self.days),
            "trades_read": self.trades_read,
            "trades_written": self.trades_written,
            "quarantined_rows": self.quarantined,
            "book_snapshots": sum(o.written_rows for o in self.book),
            "bars": sum(o.written_rows for o in self.bars),
            "rejected_days": [f"{o.dataset} {o.day}" for o in self.failures],
            "lake_root": str(self.lake_root),
            "seconds": round(self.seconds, 3),
        }


# ---- splitting a chronological stream into session days ----------------------------------------
def _local_days(ts: pd.Series, symbol: str) -> np.ndarray:
    """Trading day (datetime64[D], :func:`market.calendar.session_days`) of each timestamp; NaT takes
    its neighbour's day."""
    days = pd.Series(session_days(ts, symbol))
    return days.ffill().bfill().to_numpy()


def split_days(chunks: Iterable[pd.DataFrame], symbol: str) -> Iterator[tuple[date, pd.DataFrame]]:
    """Regroup chronological chunks into whole days; only the current day is held in memory.

    A row without a timestamp (NaT) belongs to its neighbour's day, where the gate quarantines it
    (``ts_not_null``). A chunk with no timestamp at all joins the current day; before the first dated
    row such chunks are held and go to the first day that has one. When no row of the stream has a
    timestamp, the rows form the day :data:`UNDATED_DAY` (all of them quarantined: the threshold
    rejects that day and the run fails loudly, after the other inputs are done).
    """
    current: Any = None
    parts: list[pd.DataFrame] = []
    undated: list[pd.DataFrame] = []  # leading chunks without any timestamp
    for chunk in chunks:
        if chunk.empty:
            continue
        days = _local_days(chunk["ts"], symbol)
        if pd.isna(days).all():
            if current is None:
                undated.append(chunk)
                continue
            days = np.full(len(chunk), current, dtype="datetime64[D]")
        for d in pd.unique(days):
            rows = chunk if len(chunk) and (days == d).all() else chunk[days == d]
            if d != current:
                if parts:
                    yield pd.Timestamp(current).date(), _concat(parts)
                current, parts = d, undated
                undated = []
            parts.append(rows)
    if parts:
        yield pd.Timestamp(current).date(), _concat(parts)
    if undated:
        rows = sum(len(u) for u in undated)
        log.warning("rows without any timestamp", data={"rows": rows, "day": UNDATED_DAY.isoformat()})
        yield UNDATED_DAY, _concat(undated)


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if len(parts) > 1:
        return pd.concat(parts, ignore_index=True)
    only = parts[0]
    plain = isinstance(only.index, pd.RangeIndex) and only.index.start == 0 and only.index.step == 1
    return only if plain else only.reset_index(drop=True)


# ---- one run ------------------------------------------------------------------------------------
class _Run:
    """Gates and writes days of one symbol, remembering what this run already wrote."""

    def __init__(self, settings: Settings, symbol: str, seen: dict[tuple[str, date], bool] | None,
                 on_day: OnDay | None) -> None:
        self.settings = settings
        self.symbol = symbol = canonical_symbol(symbol)
        self.lake = Lake(settings.lake_root)
        self.report = IngestReport(symbol=symbol, lake_root=settings.lake_root, seen=dict(seen or {}))
        self.on_day = on_day
        self.book_cache: dict[date, pd.DataFrame] = {}

    def _gate(self, dataset: str, day: date, frame: pd.DataFrame, *, index: bool = False,
              source: str | None = None) -> tuple[GateOutcome, pd.DataFrame]:
        prior = self.report.seen.get((dataset, day))
        prior_quarantine = None
        if prior is not None:  # the day reappears in this run: merge with what the run wrote
            if prior and self.lake.day_path(dataset, self.symbol, day).exists():
                frame = pd.concat([self.lake.read_day(dataset, self.symbol, day), frame], ignore_index=True)
            q = quarantine_dataset(dataset)
            if self.lake.day_path(q, self.symbol, day).exists():
                prior_quarantine = self.lake.read_day(q, self.symbol, day)
        outcome, good = gate_day(
            self.lake, dataset, self.symbol, day, frame,
            max_bad_share=self.settings.market.validation.max_bad_share,
            prior_quarantine=prior_quarantine, index=index, source=source,
        )
        self.report.add(outcome)
        if self.on_day is not None:
            self.on_day(outcome)
        return outcome, good

    def book_day(self, day: date, frame: pd.DataFrame, source: str | None = None) -> None:
        outcome, good = self._gate("book", day, frame, source=source)
        if outcome.passed:
            self.book_cache = {day: good}

    def trades_day(self, day: date, frame: pd.DataFrame, source: str | None = None) -> None:
        outcome, good = self._gate("trades", day, frame, source=source)
        if outcome.passed and len(good):
            self._bars(day, good.reset_index(drop=True), source)

    def _bars(self, day: date, trades: pd.DataFrame, source: str | None) -> None:
        from market.bars import build_bars

        cfg = self.settings.market.bars
        book = self.book_cache.get(day)
        if book is None and self.lake.day_path("book", self.symbol, day).exists():
            book = self.lake.read_day("book", self.symbol, day)
        bars = build_bars(trades, book, spec=cfg.spec, symbol=self.symbol, large_trade_qty=cfg.large_trade_qty)
        self.report.seen.pop((bars_dataset(cfg.spec), day), None)  # bars are rebuilt from the whole day
        self._gate(bars_dataset(cfg.spec), day, bars, index=True, source=source)


def _conform(df: pd.DataFrame, schema: dict[str, str], what: str) -> pd.DataFrame:
    """``df`` itself when it already has the schema's columns and dtypes, else a coerced copy."""
    if list(df.columns) == list(schema) and all(t == "object" or str(df[c].dtype) == t for c, t in schema.items()):
        return df
    return coerce(df, schema, what)


def _coerced(chunks: Iterable[pd.DataFrame], schema: dict[str, str], what: str) -> Iterator[pd.DataFrame]:
    for chunk in chunks:
        yield _conform(chunk, schema, what)


def _guarded(chunks: Iterable[pd.DataFrame], path: Path, counter: list[int]) -> Iterator[pd.DataFrame]:
    """Turn reader failures into a :class:`SchemaError` naming the file and rule; count rows."""
    it = iter(chunks)
    while True:
        try:
            chunk = next(it)
        except StopIteration:
            return
        except QTError:
            raise
        except (ValueError, EOFError, OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
            raise SchemaError(
                f"{path}: rule 'readable_file': the file is truncated or unreadable after {counter[0]} rows: {err}"
            ) from None
        counter[0] += len(chunk)
        yield chunk


def _iter_book_file(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    from market.loaders.reading import ensure_not_empty, is_parquet

    ensure_not_empty(path)  # InputError "empty file: <path>" (not a parser's "0 bytes")
    if is_parquet(path):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    else:
        try:
            reader = pd.read_csv(path, chunksize=chunk_rows)
        except pd.errors.EmptyDataError:
            raise InputError(f"empty file: {path}") from None
        yield from reader


def _trade_files(folder: Path, symbol: str) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(TRADE_SUFFIXES))
    mine = [p for p in files if p.name.upper().startswith(f"{symbol.upper()}_")]
    return mine or files


def plan_files(path: Path, symbol: str) -> list[tuple[str, Path]]:
    """The (kind, file) pairs to ingest, book files first so that bars can use the book."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        return [("trades", path)]
    if (path / "trades").is_dir():
        book = _trade_files(path / "book", symbol) if (path / "book").is_dir() else []
        plan = [("book", p) for p in book] + [("trades", p) for p in _trade_files(path / "trades", symbol)]
    else:
        plan = [("trades", p) for p in _trade_files(path, symbol)]
    if not any(kind == "trades" for kind, _ in plan):
        raise InputError(f"{path}: no trade files ({', '.join(TRADE_SUFFIXES)}) found")
    return plan


def ingest_file(
    path: Path,
    kind: str = "trades",
    *,
    symbol: str,
    settings: Settings,
    fmt: str | None = None,
    seen: dict[tuple[str, date], bool] | None = None,
    on_day: OnDay | None = None,
    chunk_rows: int = 250_000,
    options: LoaderOptions | None = None,
) -> IngestReport:
    """Ingest one trades or book file. Never raises for rejected days: see ``report.failures``.

    ``options`` (trades only): ``--tz``, ``--column-map``, ``--side-rule`` (see
    :class:`market.loaders.options.LoaderOptions`); each written trades day gets ``_source.json``.
    """
    t0 = time.perf_counter()
    symbol = canonical_symbol(symbol)
    path = Path(path)
    run = _Run(settings, symbol, seen, on_day)
    counter = [0]
    if kind == "book":
        chunks = _coerced(_guarded(_iter_book_file(path, chunk_rows), path, counter), BOOK_SNAPSHOT_SCHEMA,
                          f"book file {path}")
        for day, frame in split_days(chunks, run.symbol):
            run.book_day(day, frame, source=str(path))
    else:
        from market.brokers import BrokerRegistry
        from market.loaders.source import SourceFile

        brokers = BrokerRegistry.for_lake(settings.lake_root)
        src = SourceFile(path, symbol=symbol, fmt=fmt, options=options,
                         earlier_days=[d for (ds, d) in run.report.seen if ds == "trades"])
        raw = src.trades(brokers=brokers, chunk_rows=chunk_rows)
        chunks = _coerced(_guarded(raw, path, counter), TRADE_SCHEMA, f"trades file {path}")
        for day, frame in split_days(chunks, run.symbol):
            run.trades_day(day, src.prepare_day(day, frame), source=str(path))
            if run.report.seen.get(("trades", day)):
                src.write_record(run.lake, day)
        brokers.save()
        run.report.notes += src.notes
    if counter[0] == 0:
        raise SchemaError(f"{path}: rule 'non_empty_file': the file holds no {kind} rows")
    run.report.files.append(str(path))
    run.report.seconds = time.perf_counter() - t0
    log.info("file ingested", data={"path": str(path), "kind": kind, "rows": counter[0]})
    return run.report


def ingest_path(
    path: Path,
    *,
    symbol: str,
    settings: Settings,
    fmt: str | None = None,
    on_day: OnDay | None = None,
    check: bool = True,
    options: LoaderOptions | None = None,
) -> IngestReport:
    """Ingest a file or folder into the lake (see the module docstring); raise on rejected days."""
    symbol = canonical_symbol(symbol)
    report = IngestReport(symbol=symbol, lake_root=settings.lake_root)
    for kind, file in plan_files(path, symbol):
        report.extend(ingest_file(file, kind, symbol=symbol, settings=settings, fmt=fmt, seen=report.seen,
                                  on_day=on_day, options=options))
    if check:
        report.raise_for_failures()
    return report


def ingest_frames(
    trades: pd.DataFrame,
    book: pd.DataFrame | None,
    *,
    symbol: str,
    settings: Settings,
    seen: dict[tuple[str, date], bool] | None = None,
    on_day: OnDay | None = None,
    check: bool = True,
) -> IngestReport:
    """Ingest in-memory trades (and book snapshots) such as one simulated session."""
    t0 = time.perf_counter()
    run = _Run(settings, symbol, seen, on_day)
    if trades.empty:
        raise SchemaError("trades frame: rule 'non_empty': no rows")
    trades = _conform(trades, TRADE_SCHEMA, "trades frame")
    books: dict[date, pd.DataFrame] = {}
    if book is not None and not book.empty:
        for day, frame in split_days([_conform(book, BOOK_SNAPSHOT_SCHEMA, "book frame")], run.symbol):
            run.book_day(day, frame, source="frames")
            books.update(run.book_cache)
    for day, frame in split_days([trades], run.symbol):
        run.book_cache = {day: books[day]} if day in books else {}
        run.trades_day(day, frame, source="frames")
    run.report.seconds = time.perf_counter() - t0
    if check:
        run.report.raise_for_failures()
    return run.report
