"""Ingest pipeline: stream a source, split it into session days, gate each day, write lake and bars.

Plain functions (the Prefect flow, the CLI and the demo call them):

- :func:`ingest_path` — a trades file (Profit export, ProfitDLL recording, CSV/Parquet) or a folder
  (e.g. the simulator's ``trades/`` + ``book/``), streamed in chunks with bounded memory;
- :func:`ingest_frames` — in-memory trades and book of the simulator;
- :func:`plan_files` / :func:`ingest_file` — the per-file steps the flow runs as tasks.

Per session day (the trading day of each trade, ``market.calendar.session_days``): merge with what
the lake holds for the day (``market.append``: de-duplicated, sorted by time; ``replace=True`` / ``--replace``
replaces the day instead) -> validate with the ``trades`` suite -> quarantine failing rows ->
atomically rewrite ``trades/symbol=S/date=D`` -> ``_validation.json`` beside it -> rebuild bars
from the day's trades (``market.bars.build_bars``, book from the ``book`` dataset when present) ->
gate them with the ``bars`` suite -> write ``bars/<spec>``. Re-ingesting a file changes nothing.

Days are validated in batches (``market.ingest_run``): one check pass and one Great Expectations
run per batch, split back per day; each day is marked incomplete before its first write and
cleared after its bars, and a run repairs the days a killed run left marked before doing anything
else.

A day whose bad share crosses ``settings.market.validation.max_bad_share`` is not written (only its
quarantine and result are); the run carries on with the other days and then raises
:class:`DataValidationError` naming every rejected day, its share, the threshold and the top rules.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from market.calendar import is_trading_day, session_days
from market.ingest_report import IngestReport
from market.ingest_run import BATCH_ROWS, IngestRun, OnDay, bars_of_days, plain_index
from market.instruments import canonical_symbol
from market.schemas import BOOK_SNAPSHOT_SCHEMA, TRADE_SCHEMA, coerce
from quantumtrader.config import Settings
from quantumtrader.errors import InputError, QTError, SchemaError
from quantumtrader.logging import get_logger

if TYPE_CHECKING:
    from market.loaders.options import LoaderOptions

log = get_logger("market.ingest")

__all__ = ["BATCH_ROWS", "UNDATED_DAY", "IngestReport", "OnDay", "bars_of_days", "ingest_file", "ingest_frames",
           "ingest_path", "plan_files", "split_days"]

TRADE_SUFFIXES = (".csv", ".txt", ".parquet", ".pq", ".gz", ".zip")
# The session day of rows from a stream in which no row has a timestamp (the Unix epoch: visibly not a
# trading day). They are quarantined under this date with rule ``ts_not_null``.
UNDATED_DAY = date(1970, 1, 1)


# ---- splitting a chronological stream into session days ----------------------------------------
def _local_days(ts: pd.Series, symbol: str) -> np.ndarray:
    """Trading day (datetime64[D], :func:`market.calendar.session_days`) of each timestamp; NaT takes
    its neighbour's day."""
    days = session_days(ts, symbol)
    if not np.isnat(days).any():
        return days
    return pd.Series(days).ffill().bfill().to_numpy().astype("datetime64[D]")


def _day_runs(days: np.ndarray) -> list[tuple[Any, int, int]]:
    """(day, start, stop) of each run of equal days, in order of appearance, when each day is one
    run (a chronological or newest-first chunk); otherwise one (day, -1, -1) per distinct day."""
    cuts = np.flatnonzero(days[1:] != days[:-1]) + 1
    starts, stops = np.r_[0, cuts], np.r_[cuts, len(days)]
    labels = days[starts]
    if len(np.unique(labels)) == len(labels):
        return list(zip(labels.tolist(), starts.tolist(), stops.tolist(), strict=True))
    return [(d, -1, -1) for d in np.asarray(pd.unique(days), dtype="datetime64[D]").tolist()]


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
        for d, start, stop in _day_runs(days):
            if start < 0:
                rows = chunk[days == np.datetime64(d, "D")]
            else:
                rows = chunk if stop - start == len(chunk) else chunk.iloc[start:stop]
            if d != current:
                if parts:
                    yield current, _concat(parts)
                current, parts = d, undated
                undated = []
            parts.append(rows)
    if parts:
        yield current, _concat(parts)
    if undated:
        rows = sum(len(u) for u in undated)
        log.warning("rows without any timestamp", data={"rows": rows, "day": UNDATED_DAY.isoformat()})
        yield UNDATED_DAY, _concat(undated)


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if len(parts) > 1:
        return pd.concat(parts, ignore_index=True)
    return plain_index(parts[0])



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
    chunk_rows: int = 50_000,
    options: LoaderOptions | None = None,
    replace: bool = False,
) -> IngestReport:
    """Ingest one trades or book file. Never raises for rejected days: see ``report.failures``.

    ``options`` (trades only): ``--tz``, ``--column-map``, ``--side-rule`` (see
    :class:`market.loaders.options.LoaderOptions`); each written trades day gets ``_source.json``.
    Days the lake already holds are appended to (merged, de-duplicated); ``replace=True`` replaces
    them instead (a day seen earlier in the same run, i.e. in ``seen``, is still merged).
    """
    t0 = time.perf_counter()
    symbol = canonical_symbol(symbol)
    path = Path(path)
    run = IngestRun(settings, symbol, seen, on_day, replace=replace)
    counter = [0]
    if kind == "book":
        chunks = _coerced(_guarded(_iter_book_file(path, chunk_rows), path, counter), BOOK_SNAPSHOT_SCHEMA,
                          f"book file {path}")
        for day, frame in split_days(chunks, run.symbol):
            run.book_day(day, frame, source=str(path))
    else:
        _ingest_trades_file(run, path, fmt=fmt, options=options, chunk_rows=chunk_rows, counter=counter)
    if counter[0] == 0:
        raise SchemaError(f"{path}: rule 'non_empty_file': the file holds no {kind} rows")
    run.report.files.append(str(path))
    run.report.seconds = time.perf_counter() - t0
    log.info("file ingested", data={"path": str(path), "kind": kind, "rows": counter[0]})
    return run.report


def _ingest_trades_file(run: IngestRun, path: Path, *, fmt: str | None, options: LoaderOptions | None,
                        chunk_rows: int, counter: list[int]) -> None:
    from expectations.runner import warm_up
    from market.brokers import BrokerRegistry
    from market.loaders.source import SourceFile

    # the calendar build and the GE import overlap with reading the file
    symbol = run.symbol
    warm_up("trades", "bars", first=lambda: is_trading_day(date.today(), symbol))

    brokers = BrokerRegistry.for_lake(run.settings.lake_root)
    src = SourceFile(path, symbol=symbol, fmt=fmt, options=options,
                     earlier_days=[d for (ds, d) in run.report.seen if ds == "trades"])
    raw = src.trades(brokers=brokers, chunk_rows=chunk_rows)
    chunks = _coerced(_guarded(raw, path, counter), TRADE_SCHEMA, f"trades file {path}")
    days: list[date] = []
    try:
        for day, frame in split_days(chunks, symbol):
            run.trades_day(day, src.prepare_day(day, frame), source=str(path))
            days.append(day)
        run.flush()
    except BaseException:
        run.close()  # the batch being written is finished, not cut
        raise
    for day in days:
        if run.report.seen.get(("trades", day)):
            src.write_record(run.lake, day)
    brokers.save()
    run.report.notes += src.notes


def ingest_path(
    path: Path,
    *,
    symbol: str,
    settings: Settings,
    fmt: str | None = None,
    on_day: OnDay | None = None,
    check: bool = True,
    options: LoaderOptions | None = None,
    replace: bool = False,
) -> IngestReport:
    """Ingest a file or folder into the lake (see the module docstring); raise on rejected days."""
    symbol = canonical_symbol(symbol)
    report = IngestReport(symbol=symbol, lake_root=settings.lake_root)
    for kind, file in plan_files(path, symbol):
        report.extend(ingest_file(file, kind, symbol=symbol, settings=settings, fmt=fmt, seen=report.seen,
                                  on_day=on_day, options=options, replace=replace))
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
    replace: bool = False,
) -> IngestReport:
    """Ingest in-memory trades (and book snapshots) such as one simulated session (appended, or
    replacing the days with ``replace=True``, like :func:`ingest_file`)."""
    t0 = time.perf_counter()
    run = IngestRun(settings, symbol, seen, on_day, replace=replace)
    if trades.empty:
        raise SchemaError("trades frame: rule 'non_empty': no rows")
    trades = _conform(trades, TRADE_SCHEMA, "trades frame")
    if book is not None and not book.empty:
        for day, frame in split_days([_conform(book, BOOK_SNAPSHOT_SCHEMA, "book frame")], run.symbol):
            run.book_day(day, frame, source="frames")
    try:
        for day, frame in split_days([trades], run.symbol):
            run.trades_day(day, frame, source="frames")
        run.flush()
    except BaseException:
        run.close()
        raise
    run.report.seconds = time.perf_counter() - t0
    if check:
        run.report.raise_for_failures()
    return run.report
