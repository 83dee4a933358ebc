"""The engine's write-ahead journal: what it decided, sent and was filled, and its state, one commit each.

Every public write is one committed transaction: after a SIGKILL the journal holds each call that
returned and nothing of the one that was running. Recovery reads the journal (backups are copies).

- An order is journaled as an ``intent`` before it is sent (:meth:`Journal.record_intent`), under its
  deterministic client order id; recording it again is a no-op, so a restart never duplicates it.
- A fill is applied once (:meth:`Journal.apply_fill`): its fill id is the key; the state it changes
  (position, risk counters) is written in the same transaction, or not at all.
- Paper and live never share a database: the ``meta`` row names the mode, and a journal of the other
  mode, or a file named for it, is refused (RELIABILITY 7).
- A SQLite file failing its integrity check is moved aside and :class:`JournalCorrupt` raised;
  :meth:`Journal.open_or_quarantine` then opens a fresh journal for an engine that starts HALTED.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from live_engine.journal import models as m
from live_engine.journal.sql import (
    JournalCorrupt,
    dumps,
    insert,
    loads,
    nan_to_none,
    none_to_nan,
    open_database,
    utcnow,
)
from quantumtrader.db import sqlite_path
from quantumtrader.errors import InputError
from quantumtrader.logging import redact

if TYPE_CHECKING:
    from quantumtrader.config import Settings

__all__ = ["MODES", "Journal", "JournalCorrupt", "StartRecord", "config_diff", "default_url"]

MODES = ("paper", "live")
VENUE_MARKER = "venue_meta"  # the paper venue's book: never the same database as a journal
_ORDER_FIELDS = ("client_id", "ts_ns", "side", "qty", "kind", "tag")
_FILL_FIELDS = ("fill_id", "client_id", "ts_ns", "side", "qty", "price", "fee", "tag")
_ABSENT = "(absent)"


@dataclass(frozen=True, slots=True)
class StartRecord:
    """One engine start: its epoch, the SHA-256 of its config, the previous start's hash and the diff."""

    epoch: str
    ts: datetime
    config_hash: str
    previous_hash: str | None
    diff: list[str]


def default_url(var_dir: Path, mode: str) -> str:
    """``sqlite:///<var>/journal/<mode>.db``: one file per mode."""
    return f"sqlite:///{var_dir / 'journal' / f'{mode}.db'}"


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _show(v: Any) -> str:
    return v if isinstance(v, str) else dumps(v)


def config_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Readable changes between two configs, by dotted key: ``live.risk.max_position: 1 -> 2``."""
    a, b = _flatten(before), _flatten(after)
    lines = []
    for key in sorted(a.keys() | b.keys()):
        old, new = a.get(key, _ABSENT), b.get(key, _ABSENT)
        if dumps(old) != dumps(new):
            lines.append(f"{key}: {_show(old)} -> {_show(new)}")
    return lines


def _redacted(value: Any) -> Any:
    """``value`` with every URL password in its strings masked (``scheme://user:***@host``)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)  # SQLite keeps no zone: the journal writes UTC


def _required(kind: str, row: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    missing = [f for f in fields if row.get(f) is None]
    if missing:
        raise InputError(f"{kind} {row.get(fields[0], '?')!r} lacks {', '.join(missing)}: give every field of "
                         f"{', '.join(fields)}")
    if row["side"] not in (1, -1):
        raise InputError(f"{kind} {row[fields[0]]!r} has side {row['side']!r}: use +1 (buy) or -1 (sell)")
    if int(row["qty"]) <= 0:
        raise InputError(f"{kind} {row[fields[0]]!r} has qty {row['qty']!r}: quantities are positive")


def _create(mode: str) -> Any:
    def create(conn: Any) -> None:
        m.Base.metadata.create_all(conn, checkfirst=True)
        conn.execute(insert(conn, m.Meta.__table__).values(
            id=1, mode=mode, schema_version=m.SCHEMA_VERSION, created=utcnow()).on_conflict_do_nothing())
    return create


def _check(conn: Any) -> str | None:
    row = conn.execute(sa.select(m.Meta)).first()
    if row is None:
        return "its meta row is missing"
    if row.schema_version > m.SCHEMA_VERSION:
        return (f"schema version {row.schema_version} is newer than this code's {m.SCHEMA_VERSION}: "
                "run the release that wrote it")
    return None


class Journal:
    """The journal of one trading mode. Open with :meth:`open`, :meth:`for_settings` or :meth:`open_or_quarantine`."""

    def __init__(self, engine: Any, url: str, mode: str) -> None:
        self.engine = engine
        self.url = url
        self.mode = mode
        self._epoch: str | None = None

    # ---- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str, *, mode: str) -> Journal:
        """Open the journal at ``url`` for ``mode``, creating it when absent.

        Raises :class:`InputError` for a journal of the other mode (or a SQLite file named for it) and
        :class:`JournalCorrupt` (after moving the file aside) for a damaged SQLite file.
        """
        if mode not in MODES:
            raise InputError(f"journal mode {mode!r} is unknown: use one of {', '.join(MODES)}")
        other = MODES[1 - MODES.index(mode)]
        path = sqlite_path(url)
        if path is not None and path.name == f"{other}.db":
            raise InputError(f"journal {url} is the {other} journal's file but mode is {mode}: paper and live "
                             f"state never share a database; use {path.with_name(f'{mode}.db')}")
        engine = open_database(url, what="journal", marker="meta", foreign=VENUE_MARKER, create=_create(mode),
                               check=_check)
        with engine.connect() as conn:
            stored = conn.execute(sa.select(m.Meta.mode)).scalar_one()
        if stored != mode:
            engine.dispose()
            raise InputError(f"journal {redact(url)} belongs to mode {stored!r}, not {mode!r}: paper and live state "
                             "never share a database; set live.journal.mode or stores.journal_db_url")
        journal = cls(engine, url, mode)
        last = journal.last_start()
        journal._epoch = last.epoch if last else None
        return journal

    @classmethod
    def open_or_quarantine(cls, url: str, *, mode: str) -> tuple[Journal, str | None]:
        """Open the journal; if it is corrupt, move it aside and open a fresh one.

        Returns the journal and the quarantine path (None when the journal was sound): with a path,
        the engine starts HALTED and reconciles with the broker instead of looping on the bad file.
        """
        try:
            return cls.open(url, mode=mode), None
        except JournalCorrupt as err:
            return cls.open(url, mode=mode), str(err.moved_to)

    @staticmethod
    def url_for(settings: Settings) -> str:
        """``stores.journal_db_url`` (default: the mode's file under ``var_dir``); the other mode's is refused."""
        cfg = settings.live.journal
        url = settings.stores.journal_db_url or default_url(settings.var_dir, cfg.mode)
        other = MODES[1 - MODES.index(cfg.mode)]
        if url == default_url(settings.var_dir, other):
            raise InputError(f"stores.journal_db_url {url} is the {other} journal but live.journal.mode is {cfg.mode}: "
                             "paper and live state never share a database")
        return url

    @classmethod
    def for_settings(cls, settings: Settings) -> Journal:
        """The journal the settings name (``live.journal``)."""
        return cls.open(cls.url_for(settings), mode=settings.live.journal.mode)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- starts -----------------------------------------------------------------------------
    def record_start(self, epoch: str, config: Mapping[str, Any]) -> StartRecord:
        """Record an engine start: the config's SHA-256 (of its canonical JSON, URL passwords masked) and diff."""
        canonical = dumps(_redacted(config))
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        now = utcnow()
        with self.engine.begin() as conn:
            if conn.execute(sa.select(m.Start.id).where(m.Start.epoch == epoch)).first() is not None:
                raise InputError(f"engine epoch {epoch!r} has already started once: each start needs a new epoch")
            prev = conn.execute(sa.select(m.Start).order_by(m.Start.id.desc()).limit(1)).first()
            diff = config_diff(loads(prev.config_json), loads(canonical)) if prev else []
            conn.execute(sa.insert(m.Start).values(epoch=epoch, ts=now, config_hash=digest, config_json=canonical,
                                                   diff_json=dumps(diff)))
        self._epoch = epoch
        return StartRecord(epoch, now, digest, prev.config_hash if prev else None, diff)

    def last_start(self) -> StartRecord | None:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(m.Start).order_by(m.Start.id.desc()).limit(2)).all()
        if not rows:
            return None
        s = rows[0]
        return StartRecord(s.epoch, _aware(s.ts), s.config_hash, rows[1].config_hash if len(rows) > 1 else None,
                           loads(s.diff_json))

    # ---- orders -----------------------------------------------------------------------------
    def record_intent(self, order: Mapping[str, Any]) -> bool:
        """Journal an order before it is sent (status ``intent``). True when new; False when already journaled.

        The same client id with other side, quantity, kind, price or tag is refused: ids are deterministic,
        so that is a bug, not a retry. Fields beyond the table's are kept in ``detail_json``.
        """
        _required("order", order, _ORDER_FIELDS)
        epoch = order.get("epoch") or self._epoch
        if epoch is None:
            raise InputError(f"order {order['client_id']!r} before any start: call record_start first "
                             "(each order names its engine epoch)")
        core = {"client_id": str(order["client_id"]), "epoch": str(epoch), "ts_ns": int(order["ts_ns"]),
                "side": int(order["side"]), "qty": int(order["qty"]), "kind": str(order["kind"]),
                "price": nan_to_none(order.get("price")), "tag": str(order["tag"])}
        detail = {k: v for k, v in order.items() if k not in core and k != "status"}
        with self.engine.begin() as conn:
            done = conn.execute(insert(conn, m.Order.__table__).values(
                **core, status=m.INTENT, detail_json=dumps(detail), updated=utcnow()).on_conflict_do_nothing())
            if done.rowcount == 1:
                return True
            old = conn.execute(sa.select(m.Order).where(m.Order.client_id == core["client_id"])).one()
        diffs = [f"{k} {getattr(old, k)!r} vs {core[k]!r}" for k in ("side", "qty", "kind", "price", "tag")
                 if getattr(old, k) != core[k]]
        if diffs:
            raise InputError(f"order {core['client_id']!r} is already journaled with other fields "
                             f"({', '.join(diffs)}): client ids must be unique per order")
        return False

    def set_order_status(self, client_id: str, status: str) -> bool:
        """Move an order's status forward. True when it changed; False when ``status`` is not ahead of it.

        A terminal status (filled, cancelled, rejected, unsent) is final; a late ``acked`` never undoes it.
        """
        if status not in m.STATUSES:
            raise InputError(f"order status {status!r} is unknown: use one of {', '.join(m.STATUSES)}")
        with self.engine.begin() as conn:
            return self._advance(conn, client_id, status)

    @staticmethod
    def _advance(conn: Any, client_id: str, status: str) -> bool:
        current = conn.execute(sa.select(m.Order.status).where(m.Order.client_id == client_id)).scalar()
        if current is None:
            raise InputError(f"order {client_id!r} is not in the journal: record its intent first")
        if m.STATUS_RANK[status] <= m.STATUS_RANK[current]:
            return False
        conn.execute(sa.update(m.Order).where(m.Order.client_id == client_id).values(status=status, updated=utcnow()))
        return True

    def orders(self, status: str | None = None) -> list[dict[str, Any]]:
        """Journaled orders (all, or those in ``status``), oldest first."""
        q = sa.select(m.Order).order_by(m.Order.ts_ns, m.Order.client_id)
        if status is not None:
            q = q.where(m.Order.status == status)
        return self._orders(q)

    def open_intents(self) -> list[dict[str, Any]]:
        """Orders not yet terminal (intent, sent or acked): what recovery must resolve with the broker."""
        return self._orders(sa.select(m.Order).where(m.Order.status.in_(m.OPEN_STATUSES))
                            .order_by(m.Order.ts_ns, m.Order.client_id))

    def _orders(self, query: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{**loads(o.detail_json), "client_id": o.client_id, "epoch": o.epoch, "ts_ns": o.ts_ns,
                 "side": o.side, "qty": o.qty, "kind": o.kind, "price": none_to_nan(o.price), "tag": o.tag,
                 "status": o.status, "updated": _aware(o.updated)} for o in rows]

    # ---- fills and state --------------------------------------------------------------------
    def apply_fill(self, fill: Mapping[str, Any], *, state: Mapping[str, Any] | None = None) -> bool:
        """Apply a fill once. True the first time its fill id is seen; False (and nothing written) after.

        ``state`` (key -> JSON value) is saved in the same transaction as the fill; an order whose
        filled quantity reaches its own becomes ``filled``. The fill's order must be journaled.
        """
        _required("fill", fill, _FILL_FIELDS)
        row: dict[str, Any] = {
            "fill_id": str(fill["fill_id"]), "client_id": str(fill["client_id"]), "ts_ns": int(fill["ts_ns"]),
            "side": int(fill["side"]), "qty": int(fill["qty"]), "price": float(fill["price"]),
            "fee": float(fill["fee"]), "tag": str(fill["tag"])}
        with self.engine.begin() as conn:
            qty = conn.execute(sa.select(m.Order.qty).where(m.Order.client_id == row["client_id"])).scalar()
            if qty is None:
                raise InputError(f"fill {row['fill_id']!r} is for order {row['client_id']!r}, which the journal "
                                 "has no intent for: journal the order (reconciliation adopts it) before its fill")
            done = conn.execute(insert(conn, m.Fill.__table__).values(**row, applied_at=utcnow())
                                .on_conflict_do_nothing())
            if done.rowcount != 1:
                return False
            filled = conn.execute(sa.select(sa.func.sum(m.Fill.qty))
                                  .where(m.Fill.client_id == row["client_id"])).scalar()
            if filled >= qty:
                self._advance(conn, row["client_id"], m.FILLED)
            if state:
                self._upsert(conn, state)
        return True

    def fills(self) -> list[dict[str, Any]]:
        """Every applied fill, in time order."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(m.Fill).order_by(m.Fill.ts_ns, m.Fill.applied_at, m.Fill.fill_id)
                                ).all()
        return [{"fill_id": f.fill_id, "client_id": f.client_id, "ts_ns": f.ts_ns, "side": f.side, "qty": f.qty,
                 "price": f.price, "fee": f.fee, "tag": f.tag, "applied_at": _aware(f.applied_at)} for f in rows]

    def save_state(self, key: str, value: Any) -> None:
        """Save one state value (JSON) under ``key``."""
        self.save_states({key: value})

    def save_states(self, values: Mapping[str, Any]) -> None:
        """Save several state values in one transaction: all or none."""
        with self.engine.begin() as conn:
            self._upsert(conn, values)

    @staticmethod
    def _upsert(conn: Any, values: Mapping[str, Any]) -> None:
        now = utcnow()
        for key, value in values.items():
            stmt = insert(conn, m.State.__table__).values(key=str(key), json=dumps(value), updated=now)
            conn.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                                    set_={"json": stmt.excluded.json, "updated": now}))

    def load_state(self) -> dict[str, Any]:
        """Every saved state value by key."""
        with self.engine.connect() as conn:
            return {s.key: loads(s.json) for s in conn.execute(sa.select(m.State)).all()}
