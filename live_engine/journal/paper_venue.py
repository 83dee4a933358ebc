"""The paper broker's own account book: it stands for the exchange, so it lives in its own database.

The engine's journal says what the engine believes; this book says what the (paper) exchange did.
Reconciliation compares the two, so they never share a file (the open refuses a journal's database).
Default: ``sqlite:///<var>/paper/venue.db``; same tables on PostgreSQL (a database of its own).

Tables: ``venue_meta`` (when it was made), ``venue_orders`` (by client id, upserted as the order
changes), ``venue_fills`` (by fill id, each recorded once, in arrival order) and ``venue_snapshot``
(one row: the broker's full state as JSON). Every call is one committed transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from live_engine.journal.sql import dumps, insert, loads, nan_to_none, none_to_nan, open_database, utcnow
from quantumtrader.errors import InputError

if TYPE_CHECKING:
    from quantumtrader.config import Settings

__all__ = ["PaperVenueStore", "net_position"]

_WHEN = sa.DateTime(timezone=True)


class _Base(DeclarativeBase):
    pass


class VenueMeta(_Base):
    __tablename__ = "venue_meta"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    created: Mapped[Any] = mapped_column(_WHEN)


class VenueOrder(_Base):
    __tablename__ = "venue_orders"

    client_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    ts_ns: Mapped[int] = mapped_column(sa.BigInteger)
    side: Mapped[int] = mapped_column(sa.SmallInteger)
    qty: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(16))
    price: Mapped[float | None] = mapped_column(sa.Float(precision=53))
    tag: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    detail_json: Mapped[str] = mapped_column(sa.Text)
    updated: Mapped[Any] = mapped_column(_WHEN)


class VenueFill(_Base):
    __tablename__ = "venue_fills"

    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)  # arrival order
    fill_id: Mapped[str] = mapped_column(sa.String(160), unique=True)
    client_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    ts_ns: Mapped[int] = mapped_column(sa.BigInteger)
    side: Mapped[int] = mapped_column(sa.SmallInteger)
    qty: Mapped[int] = mapped_column(sa.Integer)
    price: Mapped[float] = mapped_column(sa.Float(precision=53))
    fee: Mapped[float] = mapped_column(sa.Float(precision=53))
    tag: Mapped[str] = mapped_column(sa.String(32))
    recorded_at: Mapped[Any] = mapped_column(_WHEN)


class VenueSnapshot(_Base):
    __tablename__ = "venue_snapshot"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)  # always 1
    json: Mapped[str] = mapped_column(sa.Text)
    updated: Mapped[Any] = mapped_column(_WHEN)


_ORDER_FIELDS = ("client_id", "ts_ns", "side", "qty", "kind", "tag")
_FILL_FIELDS = ("fill_id", "client_id", "ts_ns", "side", "qty", "price", "fee", "tag")


def net_position(fills: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Net quantity, average price and realised points of ``fills`` in order (the paper broker's rule).

    Adding keeps the volume-weighted average; reducing realises points at the average; crossing zero
    opens the remainder at the fill's price; flat means average 0.
    """
    pos, avg, realized, fees, count = 0, 0.0, 0.0, 0.0, 0
    for f in fills:
        signed, price, qty = int(f["side"]) * int(f["qty"]), float(f["price"]), int(f["qty"])
        fees += float(f["fee"])
        count += 1
        if pos == 0 or (pos > 0) == (signed > 0):
            new = pos + signed
            avg = (avg * abs(pos) + price * qty) / abs(new)
            pos = new
            continue
        realized += (price - avg) * min(abs(pos), qty) * (1 if pos > 0 else -1)
        crossed = (pos > 0) != (pos + signed > 0) and pos + signed != 0
        pos += signed
        avg = 0.0 if pos == 0 else (price if crossed else avg)
    return {"qty": pos, "avg_price": avg, "realized_points": realized, "fees": fees, "fills": count}


def _required(kind: str, row: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    missing = [f for f in fields if row.get(f) is None]
    if missing:
        raise InputError(f"venue {kind} {row.get(fields[0], '?')!r} lacks {', '.join(missing)}")


def _create(conn: Any) -> None:
    _Base.metadata.create_all(conn, checkfirst=True)
    conn.execute(insert(conn, VenueMeta.__table__).values(id=1, created=utcnow()).on_conflict_do_nothing())


def _check(conn: Any) -> str | None:
    return None if conn.execute(sa.select(VenueMeta.id)).first() is not None else "its venue_meta row is missing"


class PaperVenueStore:
    """The paper exchange's book of orders, fills and the broker's last full state."""

    def __init__(self, engine: Any, url: str) -> None:
        self.engine = engine
        self.url = url

    @classmethod
    def open(cls, url: str) -> PaperVenueStore:
        """Open (creating when absent) the venue's book at ``url``; a journal's database is refused."""
        return cls(open_database(url, what="paper venue book", marker="venue_meta", foreign="meta",
                                 create=_create, check=_check), url)

    @staticmethod
    def default_url(settings: Settings) -> str:
        return f"sqlite:///{settings.var_dir / 'paper' / 'venue.db'}"

    @classmethod
    def for_settings(cls, settings: Settings) -> PaperVenueStore:
        return cls.open(cls.default_url(settings))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> PaperVenueStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def record_order(self, order: Mapping[str, Any]) -> None:
        """Insert the order, or update it (status, price, ...) when its client id is known."""
        _required("order", order, _ORDER_FIELDS)
        row = {"client_id": str(order["client_id"]), "ts_ns": int(order["ts_ns"]), "side": int(order["side"]),
               "qty": int(order["qty"]), "kind": str(order["kind"]), "price": nan_to_none(order.get("price")),
               "tag": str(order["tag"]), "status": str(order.get("status") or "working")}
        detail = dumps({k: v for k, v in order.items() if k not in row})
        with self.engine.begin() as conn:
            stmt = insert(conn, VenueOrder.__table__).values(**row, detail_json=detail, updated=utcnow())
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["client_id"],
                set_={k: stmt.excluded[k] for k in (*row, "detail_json", "updated") if k != "client_id"}))

    def record_fill(self, fill: Mapping[str, Any]) -> bool:
        """Record a fill once: True when its fill id is new."""
        _required("fill", fill, _FILL_FIELDS)
        row = {"fill_id": str(fill["fill_id"]), "client_id": str(fill["client_id"]), "ts_ns": int(fill["ts_ns"]),
               "side": int(fill["side"]), "qty": int(fill["qty"]), "price": float(fill["price"]),
               "fee": float(fill["fee"]), "tag": str(fill["tag"])}
        with self.engine.begin() as conn:
            done = conn.execute(insert(conn, VenueFill.__table__).values(**row, recorded_at=utcnow())
                                .on_conflict_do_nothing(index_elements=["fill_id"]))
            return bool(done.rowcount == 1)

    def save_snapshot(self, state: Mapping[str, Any]) -> None:
        """Replace the broker's saved full state."""
        with self.engine.begin() as conn:
            now = utcnow()
            stmt = insert(conn, VenueSnapshot.__table__).values(id=1, json=dumps(dict(state)), updated=now)
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"],
                                                    set_={"json": stmt.excluded.json, "updated": now}))

    def load_snapshot(self) -> dict[str, Any] | None:
        """The broker's last saved state, or None when none was saved."""
        with self.engine.connect() as conn:
            text = conn.execute(sa.select(VenueSnapshot.json).where(VenueSnapshot.id == 1)).scalar()
        return None if text is None else dict(loads(text))

    def fills(self, since: str | None = None) -> list[dict[str, Any]]:
        """Fills in arrival order; with ``since`` (a fill id), only those recorded after it."""
        q = sa.select(VenueFill).order_by(VenueFill.seq)
        with self.engine.connect() as conn:
            if since is not None:
                seq = conn.execute(sa.select(VenueFill.seq).where(VenueFill.fill_id == since)).scalar()
                if seq is None:
                    raise InputError(f"fill {since!r} is not in the paper venue's book: ask for all fills (since=None)")
                q = q.where(VenueFill.seq > seq)
            rows = conn.execute(q).all()
        return [{"fill_id": f.fill_id, "client_id": f.client_id, "ts_ns": f.ts_ns, "side": f.side, "qty": f.qty,
                 "price": f.price, "fee": f.fee, "tag": f.tag} for f in rows]

    def orders(self) -> list[dict[str, Any]]:
        """Every order the venue saw, oldest first, with its last status."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(VenueOrder).order_by(VenueOrder.ts_ns, VenueOrder.client_id)).all()
        return [{**loads(o.detail_json), "client_id": o.client_id, "ts_ns": o.ts_ns, "side": o.side, "qty": o.qty,
                 "kind": o.kind, "price": none_to_nan(o.price), "tag": o.tag, "status": o.status} for o in rows]

    def position(self) -> dict[str, Any]:
        """Net quantity and average price computed from the recorded fills (see :func:`net_position`)."""
        return net_position(self.fills())
