"""The journal's tables (SQLAlchemy 2.0 declarative), the same on SQLite and PostgreSQL.

- ``meta``: one row: the trading mode the journal belongs to, the schema version, when it was made.
- ``starts``: one row per engine start: its epoch, the SHA-256 of its (redacted, canonical) config,
  the config itself and the readable diff against the previous start.
- ``orders``: every order, written as an ``intent`` *before* it is sent, keyed by its deterministic
  client order id; its status only moves forward (intent < sent < acked < a terminal status).
- ``fills``: every fill applied, keyed by the venue's unique fill id; a fill names a journaled order.
- ``state``: JSON values by key (positions, risk counters, coordinator weights).

JSON is kept as text written by Python's ``json`` (NaN and infinities round-trip; floats exactly).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 1

INTENT, SENT, ACKED = "intent", "sent", "acked"
FILLED, CANCELLED, REJECTED, UNSENT = "filled", "cancelled", "rejected", "unsent"
OPEN_STATUSES = (INTENT, SENT, ACKED)
TERMINAL_STATUSES = (FILLED, CANCELLED, REJECTED, UNSENT)
STATUSES = OPEN_STATUSES + TERMINAL_STATUSES
# A status only moves forward; every terminal status is final.
STATUS_RANK = {INTENT: 0, SENT: 1, ACKED: 2, **{s: 3 for s in TERMINAL_STATUSES}}

UTCDateTime = sa.DateTime(timezone=True)


class Base(DeclarativeBase):
    pass


class Meta(Base):
    __tablename__ = "meta"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)  # always 1: one row
    mode: Mapped[str] = mapped_column(sa.String(8))
    schema_version: Mapped[int] = mapped_column(sa.Integer)
    created: Mapped[datetime] = mapped_column(UTCDateTime)


class Start(Base):
    __tablename__ = "starts"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    epoch: Mapped[str] = mapped_column(sa.String(64), unique=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    config_hash: Mapped[str] = mapped_column(sa.String(64))
    config_json: Mapped[str] = mapped_column(sa.Text)
    diff_json: Mapped[str] = mapped_column(sa.Text)


class Order(Base):
    __tablename__ = "orders"

    client_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    epoch: Mapped[str] = mapped_column(sa.String(64))
    ts_ns: Mapped[int] = mapped_column(sa.BigInteger)
    side: Mapped[int] = mapped_column(sa.SmallInteger)
    qty: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(16))
    price: Mapped[float | None] = mapped_column(sa.Float(precision=53))  # NULL: none (a market order)
    tag: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    detail_json: Mapped[str] = mapped_column(sa.Text)  # the order's other fields (bracket ticks, ...)
    updated: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})",
                                         name="orders_status_known"),)


class Fill(Base):
    __tablename__ = "fills"

    fill_id: Mapped[str] = mapped_column(sa.String(160), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(128), sa.ForeignKey("orders.client_id"), index=True)
    ts_ns: Mapped[int] = mapped_column(sa.BigInteger)
    side: Mapped[int] = mapped_column(sa.SmallInteger)
    qty: Mapped[int] = mapped_column(sa.Integer)
    price: Mapped[float] = mapped_column(sa.Float(precision=53))
    fee: Mapped[float] = mapped_column(sa.Float(precision=53))
    tag: Mapped[str] = mapped_column(sa.String(32))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)


class State(Base):
    __tablename__ = "state"

    key: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    json: Mapped[str] = mapped_column(sa.Text)
    updated: Mapped[datetime] = mapped_column(UTCDateTime)


TABLES = ("meta", "starts", "orders", "fills", "state")
