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

Days are validated in batches of about :data:`BATCH_ROWS` rows, so only a batch of days is
buffered: one check pass and one Great Expectations run per batch (split back per day), the bars
of the batch from one ``build_bars`` call (:func:`bars_of_days`, split by session), and the batch's
Parquet files written and fsynced together before each is moved into place in the per-day order
(quarantine, data, result). Each day is marked incomplete (``Lake.mark_incomplete``) before its
first write and cleared after its bars; a run repairs the days a killed run left marked before
doing anything else.

A day whose bad share crosses ``settings.market.validation.max_bad_share`` is not written (only its
quarantine and result are); the run carries on with the other days and then raises
:class:`DataValidationError` naming every rejected day, its share, the threshold and the top rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from market.append import Appended, merge_day, new_rows, pause_point
from market.calendar import is_trading_day, session_days
from market.gates import DayBatchItem, GateOutcome, gate_days, quarantine_dataset
from market.ingest_report import IngestReport
from market.instruments import canonical_symbol
from market.lake import Lake, bars_dataset
from market.schemas import BOOK_SNAPSHOT_SCHEMA, TRADE_SCHEMA, coerce
from quantumtrader.config import Settings
from quantumtrader.errors import InputError, QTError, SchemaError
from quantumtrader.logging import get_logger

if TYPE_CHECKING:
    from market.loaders.options import LoaderOptions

log = get_logger("market.ingest")

TRADE_SUFFIXES = (".csv", ".txt", ".parquet", ".pq", ".gz", ".zip")
OnDay = Callable[[GateOutcome], None]
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


def plain_index(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a 0..n-1 index, sharing its data (``reset_index`` copies every column)."""
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    out = frame.copy(deep=False)  # a new frame over the same arrays, not flagged as a slice
    out.index = pd.RangeIndex(len(out))
    return out


# ---- one run ------------------------------------------------------------------------------------
# trades days validated by one GE run: bounds the memory (about 200 MiB of frames, checks and GE
# state above the imports) and still amortises GE's fixed cost (~0.1 s a run)
BATCH_ROWS = 200_000


class _Run:
    """Gates and writes days of one symbol: appends to (or replaces) what the lake holds."""

    def __init__(self, settings: Settings, symbol: str, seen: dict[tuple[str, date], bool] | None,
                 on_day: OnDay | None, *, replace: bool = False) -> None:
        self.settings = settings
        self.symbol = symbol = canonical_symbol(symbol)
        self.lake = Lake(settings.lake_root)
        self.report = IngestReport(symbol=symbol, lake_root=settings.lake_root, seen=dict(seen or {}))
        self.on_day = on_day
        self.replace = replace
        self.book_cache: dict[date, pd.DataFrame] = {}
        self.pending: list[tuple[date, pd.DataFrame]] = []
        self.pending_rows = 0
        self.source: str | None = None
        self.max_bad = settings.market.validation.max_bad_share
        self._repair()

    def _record(self, outcome: GateOutcome) -> None:
        self.report.add(outcome)
        if self.on_day is not None:
            self.on_day(outcome)

    def _prior(self, dataset: str, day: date) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        """(stored good rows, stored quarantine) of a day; (None, None) when replacing it."""
        if self.replace and (dataset, day) not in self.report.seen:
            return None, None
        path, q = self.lake.day_path(dataset, self.symbol, day), quarantine_dataset(dataset)
        stored = self.lake.read_day(dataset, self.symbol, day) if path.exists() else None
        quarantined = (self.lake.read_day(q, self.symbol, day)
                       if self.lake.day_path(q, self.symbol, day).exists() else None)
        return stored, quarantined

    def book_day(self, day: date, frame: pd.DataFrame, source: str | None = None) -> None:
        stored, quarantined = self._prior("book", day)
        if stored is not None:
            fresh = frame[~np.isin(pd.util.hash_pandas_object(frame, index=False).to_numpy(),
                                   pd.util.hash_pandas_object(stored[list(frame.columns)], index=False).to_numpy())]
            frame = merge_day(stored, fresh)
        (outcome, good), = gate_days(self.lake, "book", self.symbol, [DayBatchItem(day, frame, quarantined)],
                                     max_bad_share=self.max_bad, source=source)
        self._record(outcome)
        if outcome.passed:
            self.book_cache[day] = good

    def trades_day(self, day: date, frame: pd.DataFrame, source: str | None = None) -> None:
        """Queue one day; days are gated in batches of about :data:`BATCH_ROWS` rows."""
        self.source = source
        if any(d == day for d, _ in self.pending):
            self.flush()
        self.pending.append((day, frame))
        self.pending_rows += len(frame)
        if self.pending_rows >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Merge, gate and write the queued days, then their bars; mark each day incomplete meanwhile."""
        if not self.pending:
            return
        pending, self.pending, self.pending_rows = self.pending, [], 0
        items, appended = [], {}
        for day, frame in pending:
            stored, quarantined = self._prior("trades", day)
            fresh, dups = new_rows(frame, stored, quarantined)
            items.append(DayBatchItem(day, merge_day(stored, fresh), quarantined))
            appended[day] = Appended(len(fresh), dups, stored is not None or quarantined is not None)
        marker = {"source": self.source, "started": time.time()}

        def mark(day: date) -> None:
            self.lake.mark_incomplete(self.symbol, day, marker)
            pause_point("after_mark")

        results = gate_days(self.lake, "trades", self.symbol, items, max_bad_share=self.max_bad,
                            source=self.source, before_write=mark)
        pause_point("after_trades")
        for (outcome, _), item in zip(results, items, strict=True):
            self._record(outcome)
            self.report.add_appended(item.day, appended[item.day])
        self._bars([(o.day, plain_index(good)) for o, good in results if o.passed])
        pause_point("after_bars")
        for o, _ in results:
            self.lake.clear_incomplete(self.symbol, o.day)

    def _bars(self, days: list[tuple[date, pd.DataFrame]]) -> None:
        """Rebuild and gate the bars of ``days`` from their whole (merged) trades, in one GE run."""
        from market.bars import build_bars

        cfg = self.settings.market.bars
        dataset = bars_dataset(cfg.spec)
        todo = []
        for day, trades in days:
            if not len(trades):
                self.lake.delete_day(dataset, self.symbol, day)
                continue
            book = self.book_cache.get(day)
            if book is None and self.lake.day_path("book", self.symbol, day).exists():
                book = self.lake.read_day("book", self.symbol, day)
            todo.append((day, trades, book))
        built = bars_of_days(todo, lambda t, b: build_bars(t, b, spec=cfg.spec, symbol=self.symbol,
                                                            large_trade_qty=cfg.large_trade_qty))
        items = [DayBatchItem(day, built[day], None) for day, _, _ in todo]
        for outcome, _ in gate_days(self.lake, dataset, self.symbol, items, max_bad_share=self.max_bad, index=True,
                                    source=self.source):
            if not outcome.passed:  # no bars rather than bars of the previous trades
                self.lake.delete_day(dataset, self.symbol, outcome.day)
            self._record(outcome)

    def _repair(self) -> None:
        """Finish the days an interrupted run left marked incomplete (their trades are the truth)."""
        days = self.lake.incomplete_days(self.symbol)
        if not days:
            return
        log.warning("repairing interrupted days", data={"symbol": self.symbol, "days": [d.isoformat() for d in days]})
        real_report, real_replace, real_on_day = self.report, self.replace, self.on_day
        self.report = IngestReport(symbol=self.symbol, lake_root=self.settings.lake_root)
        self.replace, self.on_day = False, None
        try:
            for day in days:
                if self.lake.day_path("trades", self.symbol, day).exists():
                    self.trades_day(day, pd.DataFrame({c: pd.Series(dtype=t) for c, t in TRADE_SCHEMA.items()}),
                                    source="repair")
                else:
                    self.lake.delete_day(bars_dataset(self.settings.market.bars.spec), self.symbol, day)
                    self.lake.clear_incomplete(self.symbol, day)
            self.flush()
        finally:
            self.report, self.replace, self.on_day = real_report, real_replace, real_on_day


def bars_of_days(days: list[tuple[date, pd.DataFrame, pd.DataFrame | None]],
                 build: Callable[[pd.DataFrame, pd.DataFrame | None], pd.DataFrame]) -> dict[date, pd.DataFrame]:
    """The bars of each (day, trades, book), equal to ``build(trades, book)`` per day.

    ``build_bars`` is vectorised over sessions: the days without a book are built with ONE call on
    their trades in time order and split by the ``session`` column. A day is built alone when that
    could differ: it has a book, its first bar is empty (an empty bar carries the previous close,
    which must not come from the day before), or the batch had trades outside every session.
    """
    out: dict[date, pd.DataFrame] = {}
    plain = sorted(((d, t) for d, t, b in days if b is None), key=lambda dt: dt[0])
    if len(plain) > 1:
        every = build(pd.concat([t for _, t in plain], ignore_index=True), None)
        labels = every["session"].to_numpy()
        parts = {d: every[labels == d.isoformat()] for d, _ in plain}
        if not every.attrs.get("n_outside_session") and sum(len(p) for p in parts.values()) == len(every):
            for d, part in parts.items():
                if len(part) and part["n_trades"].iat[0] > 0:
                    part.attrs = {"n_outside_session": 0}
                    out[d] = part
    for day, trades, book in days:
        if day not in out:
            out[day] = build(trades, book)
    return out


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
    run = _Run(settings, symbol, seen, on_day, replace=replace)
    counter = [0]
    if kind == "book":
        chunks = _coerced(_guarded(_iter_book_file(path, chunk_rows), path, counter), BOOK_SNAPSHOT_SCHEMA,
                          f"book file {path}")
        for day, frame in split_days(chunks, run.symbol):
            run.book_day(day, frame, source=str(path))
    else:
        from expectations.runner import warm_up
        from market.brokers import BrokerRegistry
        from market.loaders.source import SourceFile

        # the calendar build and the GE import overlap with reading the file
        warm_up("trades", "bars", first=lambda: is_trading_day(date.today(), symbol))

        brokers = BrokerRegistry.for_lake(settings.lake_root)
        src = SourceFile(path, symbol=symbol, fmt=fmt, options=options,
                         earlier_days=[d for (ds, d) in run.report.seen if ds == "trades"])
        raw = src.trades(brokers=brokers, chunk_rows=chunk_rows)
        chunks = _coerced(_guarded(raw, path, counter), TRADE_SCHEMA, f"trades file {path}")
        days: list[date] = []
        for day, frame in split_days(chunks, run.symbol):
            run.trades_day(day, src.prepare_day(day, frame), source=str(path))
            days.append(day)
        run.flush()
        for day in days:
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
    run = _Run(settings, symbol, seen, on_day, replace=replace)
    if trades.empty:
        raise SchemaError("trades frame: rule 'non_empty': no rows")
    trades = _conform(trades, TRADE_SCHEMA, "trades frame")
    if book is not None and not book.empty:
        for day, frame in split_days([_conform(book, BOOK_SNAPSHOT_SCHEMA, "book frame")], run.symbol):
            run.book_day(day, frame, source="frames")
    for day, frame in split_days([trades], run.symbol):
        run.trades_day(day, frame, source="frames")
    run.flush()
    run.report.seconds = time.perf_counter() - t0
    if check:
        run.report.raise_for_failures()
    return run.report
