"""One ingest run of one symbol: days queued in batches, merged with the lake, gated, written, bars.

:class:`IngestRun` is what :mod:`market.ingest` feeds day by day. Days are validated in batches of
about :data:`BATCH_ROWS` rows: one check pass and one Great Expectations run per batch (split back
per day, :func:`market.gates.plan_days`), the bars of the batch from a few ``build_bars`` calls
(:func:`bars_of_days`) and one bars GE run; then the batch is written (:meth:`IngestRun._write`)
and released, so memory holds about one batch whatever the file size.

The writes of a batch run on one writer thread while the next batch is read, checked and validated
(Parquet encoding and fsync release the GIL; Great Expectations does not): at most one batch is in
flight, a batch that touches a day still being written waits for it, and :meth:`IngestRun.flush`
returns only when everything is written (a writer's error is raised there, or by the next batch).

The writes of a batch keep the crash-safe order of ``market.append``: every day is marked
incomplete (``Lake.mark_incomplete``) before its first file, then the trades files (quarantine
before data, validation result last), then the bars, then the marks are cleared. A run first
repairs the days a killed run left marked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date

import numpy as np
import pandas as pd

from market.append import Appended, merge_day, new_rows, pause_point
from market.gates import DayBatchItem, DayPlan, GateOutcome, commit_days, gate_days, plan_days, quarantine_dataset
from market.ingest_report import IngestReport
from market.instruments import canonical_symbol
from market.lake import Lake, bars_dataset
from market.schemas import TRADE_SCHEMA
from quantumtrader.config import Settings
from quantumtrader.logging import get_logger

log = get_logger("market.ingest")

OnDay = Callable[[GateOutcome], None]
# trades days validated by one GE run: bounds the memory (one batch of frames, checks and GE's copies,
# plus the previous batch on the writer thread, above the imports: peak RSS of a 4M-trade file 500 MiB
# at 120k rows, 526 at 150k, against 360 for one session) and still amortises GE's fixed cost (~0.1 s
# a run: 33 runs per 4M trades instead of 27 at 150k)
BATCH_ROWS = 120_000
# trades of consecutive days whose bars are built by one build_bars call (bars_of_days)
BARS_GROUP_ROWS = 50_000

_WRITER: list[ThreadPoolExecutor] = []
_WRITER_LOCK = threading.Lock()


def _writer() -> ThreadPoolExecutor:
    """The process's batch writer thread (one: batches are written in the order they were planned)."""
    with _WRITER_LOCK:
        if not _WRITER:
            _WRITER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer"))
        return _WRITER[0]


def plain_index(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a 0..n-1 index, sharing its data (``reset_index`` copies every column)."""
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    out = frame.copy(deep=False)  # a new frame over the same arrays, not flagged as a slice
    out.index = pd.RangeIndex(len(out))
    return out


class IngestRun:
    """Gates and writes days of one symbol: appends to (or replaces) what the lake holds.

    Use as ``trades_day(...)`` / ``book_day(...)`` per day, then :meth:`flush` for the last batch.
    """

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
        self._inflight: tuple[Future[None], set[date]] | None = None  # the batch being written, its days
        self._repair()

    # ---- feeding ----------------------------------------------------------------------------------
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
            self._batch()
        self.pending.append((day, frame))
        self.pending_rows += len(frame)
        if self.pending_rows >= BATCH_ROWS:
            self._batch()

    def flush(self) -> None:
        """Gate and write the queued days and wait until every batch of the run is written."""
        self._batch()
        self.wait()

    def wait(self) -> None:
        """Wait for the batch being written; raise its error, if any."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            inflight[0].result()

    def close(self) -> None:
        """After a failure elsewhere: let the batch being written finish (a writer's error is logged)."""
        try:
            self.wait()
        except Exception as err:  # the caller's error is the one raised
            log.error("writing an ingest batch failed", data={"symbol": self.symbol, "error": str(err)})

    def _batch(self) -> None:
        """Merge and gate the queued days, build and gate their bars, then hand the writes to the writer
        thread (marking each day incomplete meanwhile)."""
        if not self.pending:
            return
        pending, self.pending, self.pending_rows = self.pending, [], 0
        if self._inflight is not None and self._inflight[1] & {day for day, _ in pending}:
            self.wait()  # merged with what the lake holds: the previous batch's files must be there
        items, appended = [], {}
        for day, frame in pending:
            stored, quarantined = self._prior("trades", day)
            fresh, dups = new_rows(frame, stored, quarantined)
            items.append(DayBatchItem(day, merge_day(stored, fresh), quarantined))
            appended[day] = Appended(len(fresh), dups, stored is not None or quarantined is not None)
        del pending
        trades = plan_days(self.lake, "trades", self.symbol, items, max_bad_share=self.max_bad, source=self.source)
        for plan, item in zip(trades, items, strict=True):
            self._record(plan.outcome)
            self.report.add_appended(item.day, appended[item.day])
        days = [item.day for item in items]
        del items
        no_bars, bars = self._bars([(p.outcome.day, plain_index(p.good)) for p in trades if p.outcome.passed])
        marker: dict[str, object] = {"source": self.source, "started": time.time()}
        self.wait()  # one batch in flight, written in order
        self._inflight = (_writer().submit(self._write, days, marker, trades, no_bars, bars), set(days))

    # ---- computing a batch -------------------------------------------------------------------------
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

    def _bars(self, days: list[tuple[date, pd.DataFrame]]) -> tuple[list[date], list[DayPlan]]:
        """The days whose bars go (no trades left) and the gated bars of the others, built from their
        whole (merged) trades, in one GE run."""
        from market.bars import build_bars

        cfg = self.settings.market.bars
        no_bars, todo = [], []
        for day, trades in days:
            if not len(trades):
                no_bars.append(day)
                continue
            book = self.book_cache.get(day)
            if book is None and self.lake.day_path("book", self.symbol, day).exists():
                book = self.lake.read_day("book", self.symbol, day)
            todo.append((day, trades, book))
        built = bars_of_days(todo, lambda t, b: build_bars(t, b, spec=cfg.spec, symbol=self.symbol,
                                                            large_trade_qty=cfg.large_trade_qty, arrow_lists=True))
        items = [DayBatchItem(day, built.pop(day), None) for day, _, _ in todo]
        plans = plan_days(self.lake, bars_dataset(cfg.spec), self.symbol, items, max_bad_share=self.max_bad,
                          index=True, source=self.source)
        for plan in plans:
            self._record(plan.outcome)
        return no_bars, plans

    # ---- writing a batch ------------------------------------------------------------------------------
    def _write(self, days: list[date], marker: dict[str, object], trades: list[DayPlan], no_bars: list[date],
               bars: list[DayPlan]) -> None:
        dataset = bars_dataset(self.settings.market.bars.spec)

        def mark(day: date) -> None:
            self.lake.mark_incomplete(self.symbol, day, marker)
            pause_point("after_mark")

        commit_days(self.lake, self.symbol, trades, before_write=mark)
        pause_point("after_trades")
        for day in no_bars:
            self.lake.delete_day(dataset, self.symbol, day)
        commit_days(self.lake, self.symbol, bars)
        for plan in bars:
            if not plan.outcome.passed:  # no bars rather than bars of the previous trades
                self.lake.delete_day(dataset, self.symbol, plan.outcome.day)
        pause_point("after_bars")
        for day in days:
            self.lake.clear_incomplete(self.symbol, day)

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

    ``build_bars`` is vectorised over sessions: consecutive days without a book are built with one
    call per group of up to :data:`BARS_GROUP_ROWS` trades, in time order, and split by the
    ``session`` column (small days share the per-call cost; big days are built alone, which was as
    fast and held a quarter of the memory). A day is built alone when that could differ: it has a
    book, its first bar is empty (an empty bar carries the previous close, which must not come from
    the day before), or its group had trades outside every session.
    """
    out: dict[date, pd.DataFrame] = {}
    plain = sorted(((d, t) for d, t, b in days if b is None), key=lambda dt: dt[0])
    groups: list[list[tuple[date, pd.DataFrame]]] = []
    for d, t in plain:  # consecutive days up to BARS_GROUP_ROWS trades per call
        if groups and sum(len(x) for _, x in groups[-1]) + len(t) <= BARS_GROUP_ROWS:
            groups[-1].append((d, t))
        else:
            groups.append([(d, t)])
    for group in (g for g in groups if len(g) > 1):
        every = build(pd.concat([t for _, t in group], ignore_index=True), None)
        labels = every["session"].to_numpy()
        parts = {d: every[labels == d.isoformat()] for d, _ in group}
        if not every.attrs.get("n_outside_session") and sum(len(p) for p in parts.values()) == len(every):
            for d, part in parts.items():
                if len(part) and part["n_trades"].iat[0] > 0:
                    part.attrs = {"n_outside_session": 0}
                    out[d] = part
    for day, trades, book in days:
        if day not in out:
            out[day] = build(trades, book)
    return out
