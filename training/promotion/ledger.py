"""The append-only ``promotions`` table: every decision of the gate with every check, and every alias move.

One row per action (``evaluate``, ``promote``, ``rollback``, ``reconcile``). Rows are only ever
inserted: the database itself refuses ``UPDATE``, ``DELETE`` (and, on PostgreSQL, ``TRUNCATE``) with
a trigger, so a record cannot be rewritten by this code or by a hand at the SQL prompt.

A promotion writes its row *before* it moves the alias (``champion_after`` is the version the alias
is about to point at). If the process dies between the row and the move, the next locked operation
finds the registry disagreeing with the last row and appends a ``reconcile`` row that says so
(:func:`training.promotion.gate.reconcile`): the table never silently claims a move that did not happen.

Columns: ``id``, ``recorded_at`` (UTC), ``model_name``, ``action``, ``decision``, ``version`` (the
version judged or moved to), ``champion_before``, ``champion_after``, ``forced``, ``checks`` (JSON list
of ``{name, passed, value, threshold, detail}``), ``sessions`` (JSON list of dates), ``evidence``
(JSON: replay folders, MLflow run ids, PnL), ``detail`` and ``actor`` (``user@host:pid``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from quantumtrader.db import holder_id

TABLE = "promotions"

metadata = sa.MetaData()
promotions = sa.Table(
    TABLE,
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model_name", sa.String(250), nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("version", sa.String(16)),
    sa.Column("champion_before", sa.String(16)),
    sa.Column("champion_after", sa.String(16)),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("checks", sa.JSON, nullable=False),
    sa.Column("sessions", sa.JSON, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("actor", sa.String(250), nullable=False),
)

_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: rows are never updated'); END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: rows are never deleted'); END",
]
_PG_FUNCTION = (
    f"CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{TABLE} is append-only: % refused', TG_OP; END $$"
)
_PG_TRIGGER = (
    f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {TABLE} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only()"
)


def ensure(engine: Any) -> None:
    """Create the table and its append-only triggers when they are missing (idempotent).

    Call it while holding the promotion lock: two processes never create it at once.
    """
    with engine.begin() as conn:
        metadata.create_all(conn, checkfirst=True)
        if conn.dialect.name == "postgresql":
            found = conn.execute(sa.text("SELECT 1 FROM pg_trigger WHERE tgname = :n "
                                         "AND tgrelid = CAST(:t AS regclass)"),
                                 {"n": f"{TABLE}_append_only", "t": TABLE}).scalar()
            if not found:
                conn.execute(sa.text(_PG_FUNCTION))
                conn.execute(sa.text(_PG_TRIGGER))
        else:
            for ddl in _SQLITE_TRIGGERS:
                conn.execute(sa.text(ddl))


def exists(engine: Any) -> bool:
    return bool(sa.inspect(engine).has_table(TABLE))


def append(engine: Any, *, model_name: str, action: str, decision: str, version: str | None,
           champion_before: str | None, champion_after: str | None, forced: bool = False,
           checks: list[dict[str, Any]] | None = None, sessions: list[str] | None = None,
           evidence: dict[str, Any] | None = None, detail: str = "") -> int:
    """Insert one row (its own transaction, committed on return); returns its id."""
    row = {"recorded_at": datetime.now(UTC), "model_name": model_name, "action": action, "decision": decision,
           "version": version, "champion_before": champion_before, "champion_after": champion_after,
           "forced": bool(forced), "checks": list(checks or []), "sessions": list(sessions or []),
           "evidence": dict(evidence or {}), "detail": detail, "actor": holder_id()}
    with engine.begin() as conn:
        pk = conn.execute(promotions.insert().values(**row)).inserted_primary_key
    return int(pk[0])


def _as_dict(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    ts = d["recorded_at"]
    if isinstance(ts, datetime) and ts.tzinfo is None:  # SQLite keeps no zone: it was written in UTC
        d["recorded_at"] = ts.replace(tzinfo=UTC)
    return d


def rows(engine: Any, model_name: str, *, version: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of ``model_name`` in insertion order (the last ``limit``; those naming ``version`` when given)."""
    if not exists(engine):
        return []
    q = sa.select(promotions).where(promotions.c.model_name == model_name)
    if version is not None:
        q = q.where(sa.or_(promotions.c.version == version, promotions.c.champion_before == version,
                           promotions.c.champion_after == version))
    q = q.order_by(promotions.c.id.desc())
    if limit is not None:
        q = q.limit(limit)
    with engine.connect() as conn:
        out = [_as_dict(r) for r in conn.execute(q)]
    return out[::-1]


def last_champion_row(engine: Any, model_name: str) -> dict[str, Any] | None:
    """The newest row that set (or was about to set) the champion: the table's idea of who it is."""
    if not exists(engine):
        return None
    q = (sa.select(promotions).where(promotions.c.model_name == model_name,
                                     promotions.c.action.in_(("promote", "rollback", "reconcile")),
                                     promotions.c.decision.in_(("promoted", "rolled back", "noted")))
         .order_by(promotions.c.id.desc()).limit(1))
    with engine.connect() as conn:
        r = conn.execute(q).first()
    return _as_dict(r) if r is not None else None


def promotion_of(engine: Any, model_name: str, version: str) -> dict[str, Any] | None:
    """The newest ``promote`` row that made ``version`` champion (its ``champion_before`` is who it replaced)."""
    if not exists(engine):
        return None
    q = (sa.select(promotions).where(promotions.c.model_name == model_name, promotions.c.action == "promote",
                                     promotions.c.decision == "promoted", promotions.c.champion_after == version)
         .order_by(promotions.c.id.desc()).limit(1))
    with engine.connect() as conn:
        r = conn.execute(q).first()
    return _as_dict(r) if r is not None else None
