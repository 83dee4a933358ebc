"""Recording: every trade and book event the engine receives, and every decision's feature vector.

For a ProfitDLL user the engine's recording is the only book history there will ever be. Events are
buffered and written at least every ``live.service.record_flush_s`` (1 s) as a small Parquet *part*
(temp file, fsync, rename: a part is whole or absent), so a SIGKILL loses at most the last second; the
next start says so (alert ``unclean_stop``). Layout under the lake root, one folder per day in the form ``qtml ingest``
reads (``trades/`` + ``book/``), so a recorded day becomes validated, trainable history with
``qtml ingest var/lake/recorded/<SYMBOL>/<day> --symbol <SYMBOL>``::

    recorded/<SYMBOL>/<YYYY-MM-DD>/trades/part-<epoch>-<n>.parquet    (market.schemas.TRADE_SCHEMA)
    recorded/<SYMBOL>/<YYYY-MM-DD>/book/part-<epoch>-<n>.parquet      (BOOK_SNAPSHOT_SCHEMA)
    recorded/<SYMBOL>/<YYYY-MM-DD>/decisions/part-<epoch>-<n>.parquet (ts, session, 65 features, the
        decision's probabilities, direction, action, reason, model version; the drift flow reads these;
        also the decision latency, close, risk denial, signals, each agent's vote and coordinator weight,
        which the daily report reads)

:func:`read_recorded` gives one day back as the backtest's ``SessionData``-ready frames.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.spec import FEATURE_NAMES
from features.streaming_session import SessionLocator
from live_engine.feeds.events import Book, Trade
from market.instruments import get_instrument
from market.schemas import ASK_PX, ASK_QTY, BID_PX, BID_QTY
from quantumtrader.logging import get_logger

log = get_logger("live_engine.service.recording")

BOOK_COLS = [*BID_PX, *BID_QTY, *ASK_PX, *ASK_QTY]
DECISION_COLS = ("p_down", "p_flat", "p_up", "direction", "action", "reason", "state", "position")
# What the daily report reads besides: the bar's close, the risk denial, the signals, and per agent its vote
# (``vote_<agent>``, ``conf_<agent>``) and coordinator weight (``weight_<agent>``) at that bar.
REPORT_COLS = ("close", "denial", "model_signal", "agents_signal", "combined", "confidence")


def recorded_dir(lake_root: Path, dataset: str, symbol: str, day: date) -> Path:
    return lake_root / "recorded" / symbol / day.isoformat() / dataset


def _write_part(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        pq.write_table(table, fh, compression="zstd")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Recorder:
    """Buffers events and decisions; :meth:`flush_if_due` writes the parts (engine loop, every batch)."""

    def __init__(self, lake_root: Path, symbol: str, epoch: str, *, flush_s: float = 1.0) -> None:
        self.lake_root, self.symbol, self.epoch, self.flush_s = lake_root, symbol, epoch, flush_s
        inst = get_instrument(symbol)
        self.locator, self.point_value = SessionLocator(inst), inst.point_value
        self._trades: list[tuple[int, int, float, int, int, int, int]] = []
        self._books: list[tuple[int, Sequence[float]]] = []
        self._decisions: list[dict[str, Any]] = []
        self._n = 0
        self._last = time.monotonic()
        self.parts = 0
        self.events = 0
        self.errors = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._writer: threading.Thread | None = None

    def add(self, ev: Trade | Book) -> None:
        self.events += 1
        if isinstance(ev, Trade):
            self._trades.append((ev.ts_ns, ev.trade_id, ev.price, ev.qty, ev.buyer, ev.seller, ev.trade_type))
        else:
            self._books.append((ev.ts_ns, ev.levels))
        if time.monotonic() - self._last >= self.flush_s:
            self.flush()

    def decision(self, ts_ns: int, session: str, x: np.ndarray, rec: dict[str, Any] | None, model_version: str,
                 shadow: Any = None, latency_ns: int | None = None) -> None:
        row: dict[str, Any] = {"ts_ns": ts_ns, "session": session, "model_version": model_version,
                               "traded": rec is not None, "latency_ns": latency_ns}
        row.update(zip(FEATURE_NAMES, (float(v) for v in x), strict=True))
        for k in DECISION_COLS:
            row[k] = rec.get(k) if rec is not None else None
        if rec is not None:
            for k in REPORT_COLS:
                row[k] = rec.get(k)
            for name, (signal, conf) in (rec.get("votes") or {}).items():
                row[f"vote_{name}"], row[f"conf_{name}"] = float(signal), float(conf)
            for name, w in (rec.get("weights") or {}).items():
                row[f"weight_{name}"] = float(w)
        if shadow is not None:
            row["shadow_p_down"], row["shadow_p_flat"], row["shadow_p_up"] = shadow["probs"]
        self._decisions.append(row)

    def flush_if_due(self) -> None:
        if time.monotonic() - self._last >= self.flush_s:
            self.flush()

    def _part(self, dataset: str, day: date) -> Path:
        self._n += 1
        return recorded_dir(self.lake_root, dataset, self.symbol, day) / f"part-{self.epoch}-{self._n:06d}.parquet"

    def _by_day(self, ts: np.ndarray) -> list[tuple[date, np.ndarray]]:
        days = [self.locator.local_day(int(t)) for t in ts.tolist()]
        out: dict[date, list[int]] = {}
        for i, d in enumerate(days):
            out.setdefault(d, []).append(i)
        return [(d, np.asarray(ix)) for d, ix in out.items()]

    def flush(self) -> None:
        """Hand what is buffered to the writer thread (one part per dataset and day): the engine's loop
        never waits for Parquet or fsync (a write inside an event was the decision latency's p99)."""
        self._last = time.monotonic()
        if not (self._trades or self._books or self._decisions):
            return
        batch = (self._trades, self._books, self._decisions)
        self._trades, self._books, self._decisions = [], [], []
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="engine-recorder", daemon=True)
            self._writer.start()
        self._queue.put(batch)

    def _write_loop(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            try:
                self._write(*batch)
            except Exception as err:  # a full disk must not stop trading; it is logged and counted
                self.errors += 1
                log.error(f"recording failed: {type(err).__name__}: {err}")

    def _write(self, trades: list[Any], books: list[Any], decisions: list[dict[str, Any]]) -> None:
        if trades:
            rows = trades
            a = np.array([r[:1] + r[1:2] + r[3:] for r in rows], dtype=np.int64)  # ts, id, qty, buyer, seller, tt
            px = np.array([r[2] for r in rows], dtype=np.float64)
            for day, ix in self._by_day(a[:, 0]):
                t = pa.table({"ts": pa.array(a[ix, 0], pa.timestamp("ns", tz="UTC")),
                              "symbol": pa.array([self.symbol] * len(ix), pa.string()),
                              "trade_id": a[ix, 1], "price": px[ix], "qty": a[ix, 2],
                              "fin_volume": px[ix] * a[ix, 2] * self.point_value,
                              "buyer": a[ix, 3].astype(np.int32), "seller": a[ix, 4].astype(np.int32),
                              "trade_type": a[ix, 5].astype(np.int8)})
                _write_part(self._part("trades", day), t)
                self.parts += 1
        if books:
            rows_b = books
            ts = np.array([r[0] for r in rows_b], dtype=np.int64)
            lv = np.array([list(r[1]) for r in rows_b], dtype=np.float64)
            for day, ix in self._by_day(ts):
                cols: dict[str, Any] = {"ts": pa.array(ts[ix], pa.timestamp("ns", tz="UTC")),
                                        "symbol": pa.array([self.symbol] * len(ix), pa.string())}
                for j, c in enumerate(BOOK_COLS):  # sizes as the lake stores them (int64; an empty level is 0)
                    cols[c] = np.nan_to_num(lv[ix, j]).astype(np.int64) if "_qty_" in c else lv[ix, j]
                _write_part(self._part("book", day), pa.table(cols))
                self.parts += 1
        if decisions:
            rows_d = decisions
            df = pd.DataFrame(rows_d)
            for session, part in df.groupby("session", sort=False):
                _write_part(self._part("decisions", date.fromisoformat(str(session))),
                            pa.Table.from_pandas(part, preserve_index=False))
                self.parts += 1

    def close(self) -> None:
        """Write everything buffered and wait for the writer."""
        self.flush()
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None


def _read_parts(folder: Path) -> pd.DataFrame | None:
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    if not parts:
        return None
    return pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)


def read_recorded(lake_root: Path, symbol: str, day: date) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(trades, book) the engine recorded for ``day``, in arrival order (None when nothing was recorded)."""
    return _read_parts(recorded_dir(lake_root, "trades", symbol, day)), _read_parts(recorded_dir(lake_root, "book",
                                                                                                  symbol, day))


def read_decisions(lake_root: Path, symbol: str, day: date) -> pd.DataFrame | None:
    """The decisions (with their feature vectors) the engine logged for ``day``."""
    return _read_parts(recorded_dir(lake_root, "decisions", symbol, day))


def recorded_days(lake_root: Path, symbol: str, dataset: str = "trades") -> list[date]:
    root = lake_root / "recorded" / symbol
    if not root.is_dir():
        return []
    return sorted(date.fromisoformat(p.name) for p in root.iterdir() if (p / dataset).is_dir())
